#include "ReceiversModel.h"

#include <QColor>
#include <QDateTime>
#include <QFont>
#include <QLocale>
#include <QLoggingCategory>

#include <algorithm>

Q_LOGGING_CATEGORY(lcReceiversModel, "ticketsync.ui.receivers", QtWarningMsg)

namespace ticketsync {

ReceiversModel::ReceiversModel(QObject *parent) : QAbstractTableModel(parent)
{
    ageTimer.setInterval(1000);
    connect(&ageTimer, &QTimer::timeout, this, &ReceiversModel::refreshAges);
    ageTimer.start();
}

qint64 ReceiversModel::now() const
{
    return clock ? clock() : QDateTime::currentMSecsSinceEpoch();
}

void ReceiversModel::setClock(std::function<qint64()> nowMs)
{
    clock = std::move(nowMs);
    refreshAges();
}

void ReceiversModel::setStalenessThresholdMs(qint64 ms)
{
    staleAfterMs = std::max<qint64>(1, ms);
    refreshAges();
}

bool ReceiversModel::isStale(const Receiver &receiver) const
{
    return now() - receiver.asOfMs > staleAfterMs;
}

QString ReceiversModel::formatDuration(qint64 ms)
{
    ms = std::max<qint64>(0, ms);
    const QLocale locale;
    if (ms < 10000) {
        if (ms == 0)
            return tr("0 s");
        //: A short duration in seconds with one decimal, e.g. "1.5 s".
        return tr("%1 s").arg(locale.toString(ms / 1000.0, 'f', 1));
    }
    const qint64 seconds = ms / 1000;
    if (seconds < 60)
        return tr("%1 s").arg(seconds);
    const qint64 minutes = seconds / 60;
    if (minutes < 60)
        return tr("%1 min").arg(minutes);
    const qint64 hours = minutes / 60;
    if (hours < 24) {
        if (minutes % 60 == 0)
            return tr("%1 h").arg(hours);
        return tr("%1 h %2 min").arg(hours).arg(minutes % 60);
    }
    if (hours % 24 == 0)
        return tr("%1 d").arg(hours / 24);
    return tr("%1 d %2 h").arg(hours / 24).arg(hours % 24);
}

QString ReceiversModel::formatAge(qint64 ms)
{
    if (ms < 1000)
        return tr("just now");
    if (ms < 60000)
        //: How old a report is, in whole seconds.
        return tr("%1 s ago").arg(ms / 1000);
    //: How old a report is, e.g. "3 min ago".
    return tr("%1 ago").arg(formatDuration(ms));
}

QString ReceiversModel::statusText(const QString &status)
{
    if (status == QLatin1String("in_sync"))
        return tr("In sync");
    if (status == QLatin1String("lagging"))
        return tr("Lagging");
    if (status == QLatin1String("unreachable"))
        return tr("Unreachable");
    return status; // a status this console does not know: shown as the node sent it
}

QColor ReceiversModel::statusColour(const QString &status)
{
    if (status == QLatin1String("in_sync"))
        return QColor(0x2e, 0x7d, 0x32);
    if (status == QLatin1String("lagging"))
        return QColor(0xb2, 0x6a, 0x00);
    if (status == QLatin1String("unreachable"))
        return QColor(0xc6, 0x28, 0x28);
    return QColor(0x75, 0x75, 0x75);
}

bool ReceiversModel::parse(const QJsonObject &object, Receiver *out)
{
    const QString receiver = object.value(u"receiver").toString();
    const QString status = object.value(u"status").toString();
    if (receiver.isEmpty() || status.isEmpty())
        return false;
    for (const char *key : {"acked_height", "head_height", "lag_blocks"}) {
        const QJsonValue value = object.value(QLatin1String(key));
        if (!value.isUndefined() && !value.isDouble())
            return false;
    }
    Receiver parsed;
    parsed.receiver = receiver;
    parsed.status = status;
    for (const QJsonValue &role : object.value(u"roles").toArray())
        parsed.roles.append(role.toString());
    parsed.ackedHeight = object.value(u"acked_height").toInteger(0);
    parsed.headHeight = object.value(u"head_height").toInteger(0);
    parsed.lagBlocks =
        object.value(u"lag_blocks").toInteger(std::max<qint64>(0, parsed.headHeight - parsed.ackedHeight));
    parsed.lagMs = object.value(u"lag_ms").toInteger(0);
    parsed.lastError = object.value(u"last_error").toString();
    parsed.lastContactMs = object.value(u"last_contact_ms").toInteger(0);
    *out = parsed;
    return true;
}

void ReceiversModel::upsert(const Receiver &receiver)
{
    const int row = rowOf(receiver.receiver);
    if (row >= 0) {
        rows[row] = receiver;
        staleFlags[row] = isStale(receiver);
        Q_EMIT dataChanged(index(row, 0), index(row, ColumnCount - 1));
        return;
    }
    // Sorted by id, so rows keep their place when reports arrive in another order.
    const auto at = std::lower_bound(rows.cbegin(), rows.cend(), receiver.receiver,
                                     [](const Receiver &r, const QString &id) { return r.receiver < id; });
    const int position = int(at - rows.cbegin());
    beginInsertRows(QModelIndex(), position, position);
    rows.insert(position, receiver);
    staleFlags.insert(position, isStale(receiver));
    endInsertRows();
}

bool ReceiversModel::setReceivers(const QString &node, const QJsonValue &receivers, qint64 asOfMs)
{
    if (!receivers.isArray()) {
        qCWarning(lcReceiversModel) << "ignoring a receivers reply from" << node
                                    << "without an array of receivers";
        return false;
    }
    QStringList seen;
    for (const QJsonValue &value : receivers.toArray()) {
        Receiver receiver;
        if (!value.isObject() || !parse(value.toObject(), &receiver)) {
            qCWarning(lcReceiversModel) << "ignoring a malformed receivers entry from" << node;
            // Still reported: its row stays as last known rather than vanish.
            if (const QString named = value.toObject().value(u"receiver").toString(); !named.isEmpty())
                seen.append(named);
            continue;
        }
        receiver.sourceNode = node;
        receiver.asOfMs = asOfMs;
        seen.append(receiver.receiver);
        upsert(receiver);
    }
    // The reply is complete: what this node no longer reports is gone.
    for (int row = int(rows.size()) - 1; row >= 0; --row) {
        if (rows.at(row).sourceNode == node && !seen.contains(rows.at(row).receiver)) {
            beginRemoveRows(QModelIndex(), row, row);
            rows.removeAt(row);
            staleFlags.removeAt(row);
            endRemoveRows();
        }
    }
    return true;
}

bool ReceiversModel::applyStatus(const QString &node, const QJsonObject &event, qint64 asOfMs)
{
    Receiver receiver;
    if (!parse(event, &receiver)) {
        qCWarning(lcReceiversModel) << "ignoring a malformed receiver_status event from" << node << "seq"
                                    << event.value(u"seq").toInteger(-1);
        return false;
    }
    receiver.sourceNode = node;
    receiver.asOfMs = asOfMs;
    upsert(receiver);
    return true;
}

void ReceiversModel::setCachedReceivers(const QList<ReceiverRow> &cached)
{
    for (const ReceiverRow &row : cached) {
        if (row.receiver.isEmpty())
            continue;
        const int existing = rowOf(row.receiver);
        // Never let an older cached row replace a fresher live one.
        if (existing >= 0 && rows.at(existing).asOfMs >= row.asOfMs)
            continue;
        Receiver receiver;
        receiver.receiver = row.receiver;
        receiver.status = row.status;
        receiver.ackedHeight = row.ackedHeight;
        receiver.headHeight = row.headHeight;
        receiver.lagBlocks = row.lagBlocks;
        receiver.lagMs = row.lagMs;
        receiver.lastError = row.lastError;
        receiver.lastContactMs = row.lastContactMs;
        receiver.sourceNode = row.node;
        receiver.asOfMs = row.asOfMs;
        upsert(receiver);
    }
}

void ReceiversModel::clear()
{
    if (rows.isEmpty())
        return;
    beginResetModel();
    rows.clear();
    staleFlags.clear();
    endResetModel();
}

void ReceiversModel::refreshAges()
{
    if (rows.isEmpty())
        return;
    // Only the age column moves every second; whole rows change only when staleness flips.
    for (int row = 0; row < rows.size(); ++row) {
        const bool stale = isStale(rows.at(row));
        if (stale == staleFlags.at(row))
            continue;
        staleFlags[row] = stale;
        Q_EMIT dataChanged(index(row, 0), index(row, ColumnCount - 1));
        Q_EMIT staleChanged(rows.at(row).receiver, stale);
    }
    Q_EMIT dataChanged(index(0, AsOfColumn), index(int(rows.size()) - 1, AsOfColumn),
                       {Qt::DisplayRole, Qt::ToolTipRole});
}

const ReceiversModel::Receiver *ReceiversModel::receiverAt(int row) const
{
    return row >= 0 && row < rows.size() ? &rows.at(row) : nullptr;
}

int ReceiversModel::rowOf(const QString &receiver) const
{
    for (int row = 0; row < rows.size(); ++row) {
        if (rows.at(row).receiver == receiver)
            return row;
    }
    return -1;
}

int ReceiversModel::rowCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : int(rows.size());
}

int ReceiversModel::columnCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : ColumnCount;
}

QVariant ReceiversModel::data(const QModelIndex &index, int role) const
{
    if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid))
        return {};
    const Receiver &r = rows.at(index.row());
    const bool stale = staleFlags.at(index.row());
    const qint64 age = now() - r.asOfMs;

    switch (role) {
    case Qt::DisplayRole:
        switch (index.column()) {
        case ReceiverColumn:
            return r.receiver;
        case StatusColumn:
            return statusText(r.status);
        case AckedHeightColumn:
            return r.ackedHeight;
        case LagBlocksColumn:
            return r.lagBlocks;
        case LagTimeColumn:
            return r.lagBlocks == 0 && r.lagMs == 0 ? QStringLiteral("\u2014") : formatDuration(r.lagMs);
        case LastErrorColumn:
            return r.lastError;
        case LastContactColumn:
            return r.lastContactMs > 0 ? QLocale().toString(QDateTime::fromMSecsSinceEpoch(r.lastContactMs),
                                                            QLocale::ShortFormat)
                                       : tr("never");
        case SourceColumn:
            return r.sourceNode;
        case AsOfColumn:
            return stale ? tr("%1 (stale)").arg(formatAge(age)) : formatAge(age);
        }
        break;
    case Qt::ToolTipRole:
        switch (index.column()) {
        case StatusColumn:
            return tr("Acknowledged %1 of %2 blocks").arg(r.ackedHeight).arg(r.headHeight);
        case LastErrorColumn:
            return r.lastError.isEmpty() ? QVariant() : QVariant(r.lastError);
        case LastContactColumn:
            return r.lastContactMs > 0
                       ? QVariant(QDateTime::fromMSecsSinceEpoch(r.lastContactMs).toString(Qt::ISODateWithMs))
                       : QVariant();
        default:
            //: Freshness of a receivers row: who reported it and when.
            return tr("Reported by %1 at %2 (%3)")
                .arg(r.sourceNode, QDateTime::fromMSecsSinceEpoch(r.asOfMs).toString(Qt::ISODate),
                     formatAge(age));
        }
    case Qt::ForegroundRole:
        if (stale)
            return QColor(0x75, 0x75, 0x75);
        if (index.column() == StatusColumn)
            return statusColour(r.status);
        break;
    case Qt::BackgroundRole:
        if (r.status == QLatin1String("unreachable"))
            return QColor(0xff, 0xeb, 0xee);
        if (r.status == QLatin1String("lagging"))
            return QColor(0xff, 0xf8, 0xe1);
        break;
    case Qt::FontRole:
        if (stale || index.column() == StatusColumn) {
            QFont font;
            font.setItalic(stale);
            font.setBold(index.column() == StatusColumn && !stale);
            return font;
        }
        break;
    case Qt::TextAlignmentRole:
        switch (index.column()) {
        case AckedHeightColumn:
        case LagBlocksColumn:
        case LagTimeColumn:
            return int(Qt::AlignRight | Qt::AlignVCenter);
        default:
            break;
        }
        break;
    case StaleRole:
        return stale;
    case StatusRole:
        return r.status;
    case ReceiverRole:
        return r.receiver;
    case AsOfRole:
        return r.asOfMs;
    case SortRole:
        switch (index.column()) {
        case ReceiverColumn:
            return r.receiver;
        case StatusColumn:
            return r.status;
        case AckedHeightColumn:
            return r.ackedHeight;
        case LagBlocksColumn:
            return r.lagBlocks;
        case LagTimeColumn:
            return r.lagMs;
        case LastErrorColumn:
            return r.lastError;
        case LastContactColumn:
            return r.lastContactMs;
        case SourceColumn:
            return r.sourceNode;
        case AsOfColumn:
            return r.asOfMs;
        }
        break;
    default:
        break;
    }
    return {};
}

QVariant ReceiversModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole)
        return QAbstractTableModel::headerData(section, orientation, role);
    switch (section) {
    case ReceiverColumn:
        //: A receiver node (接收方节点).
        return tr("Receiver");
    case StatusColumn:
        return tr("Status");
    case AckedHeightColumn:
        return tr("Acknowledged height");
    case LagBlocksColumn:
        return tr("Lag (blocks)");
    case LagTimeColumn:
        return tr("Lag (time)");
    case LastErrorColumn:
        return tr("Last error");
    case LastContactColumn:
        return tr("Last contact");
    case SourceColumn:
        return tr("Source node");
    case AsOfColumn:
        return tr("As of");
    default:
        return {};
    }
}

} // namespace ticketsync
