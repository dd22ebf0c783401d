#include "EventKind.h"

namespace ticketsync {

QString eventKindName(EventKind kind)
{
    switch (kind) {
    case EventKind::WriteOffIssued:
        return QStringLiteral("write_off_issued");
    case EventKind::ConfirmationReceived:
        return QStringLiteral("confirmation_received");
    case EventKind::ConfirmationSent:
        return QStringLiteral("confirmation_sent");
    case EventKind::ConfirmationRejected:
        return QStringLiteral("confirmation_rejected");
    case EventKind::Equivocation:
        return QStringLiteral("equivocation");
    case EventKind::DecisionMade:
        return QStringLiteral("decision_made");
    case EventKind::BlockAppended:
        return QStringLiteral("block_appended");
    case EventKind::BlockRefused:
        return QStringLiteral("block_refused");
    case EventKind::DecisionSetAside:
        return QStringLiteral("decision_set_aside");
    case EventKind::ReceiverStatus:
        return QStringLiteral("receiver_status");
    case EventKind::SyncError:
        return QStringLiteral("sync_error");
    case EventKind::OperatorCommand:
        return QStringLiteral("operator_command");
    }
    Q_UNREACHABLE();
    return {};
}

const QSet<QString> &eventKindNames()
{
    static const QSet<QString> names = [] {
        QSet<QString> all;
        for (int kind = 0; kind <= int(EventKind::OperatorCommand); ++kind)
            all.insert(eventKindName(EventKind(kind)));
        return all;
    }();
    return names;
}

} // namespace ticketsync
