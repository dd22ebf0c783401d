#include "TicketRegistryFile.h"

#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QSaveFile>

namespace ticketsync {

namespace {

// Checks one row's fields; empty when valid.
QString makeTicket(const QString &id, const QString &kindName, const QString &amount, const QString &currency,
                   const QString &issuer, Ticket *ticket)
{
    if (const QString problem = checkTicketId(id); !problem.isEmpty())
        return QStringLiteral("'id': %1").arg(problem);
    if (!ticketKindFromName(kindName, &ticket->kind))
        return QStringLiteral("'kind': unknown ticket kind '%1'").arg(kindName);
    bool ok = false;
    ticket->faceAmountMinor = amount.toLongLong(&ok);
    if (!ok || ticket->faceAmountMinor <= 0)
        return QStringLiteral("'face_amount_minor': '%1' is not a positive whole number").arg(amount);
    if (const QString problem = checkCurrencyCode(currency); !problem.isEmpty())
        return QStringLiteral("'currency': %1").arg(problem);
    ticket->id = id;
    ticket->currency = currency;
    ticket->issuer = issuer;
    return {};
}

} // namespace

std::optional<QList<Ticket>> TicketRegistryFile::read(const QString &path, QString *error)
{
    auto failWith = [&](const QString &message) -> std::optional<QList<Ticket>> {
        if (error)
            *error = QStringLiteral("%1: %2").arg(path, message);
        return std::nullopt;
    };
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly))
        return failWith(QStringLiteral("cannot read the ticket registry: %1").arg(file.errorString()));
    const QByteArray content = file.readAll();
    QList<Ticket> tickets;
    if (path.endsWith(QLatin1String(".json"), Qt::CaseInsensitive)) {
        QJsonParseError parseError;
        const QJsonDocument document = QJsonDocument::fromJson(content, &parseError);
        if (parseError.error != QJsonParseError::NoError)
            return failWith(QStringLiteral("not valid JSON at offset %1: %2")
                                .arg(parseError.offset)
                                .arg(parseError.errorString()));
        if (!document.isArray())
            return failWith(QStringLiteral("the registry must be a JSON array of tickets"));
        const QJsonArray rows = document.array();
        for (qsizetype i = 0; i < rows.size(); ++i) {
            const QJsonObject row = rows.at(i).toObject();
            const QJsonValue amount = row.value(u"face_amount_minor");
            Ticket ticket;
            const QString problem =
                makeTicket(row.value(u"id").toString(), row.value(u"kind").toString(),
                           amount.isDouble() ? QString::number(amount.toInteger()) : amount.toString(),
                           row.value(u"currency").toString(), row.value(u"issuer").toString(), &ticket);
            if (!problem.isEmpty())
                return failWith(QStringLiteral("[%1]: %2").arg(i).arg(problem));
            tickets.append(ticket);
        }
        return tickets;
    }
    const QList<QByteArray> lines = content.split('\n');
    if (lines.isEmpty() || lines.first().trimmed() != "id,kind,face_amount_minor,currency,issuer")
        return failWith(
            QStringLiteral("line 1: the header must be id,kind,face_amount_minor,currency,issuer"));
    for (qsizetype i = 1; i < lines.size(); ++i) {
        const QByteArray line = lines.at(i).trimmed();
        if (line.isEmpty())
            continue;
        // The issuer is the last field, so it may contain commas.
        const QList<QByteArray> fields = line.split(',');
        if (fields.size() < 5)
            return failWith(
                QStringLiteral("line %1: expected 5 fields, found %2").arg(i + 1).arg(fields.size()));
        Ticket ticket;
        const QString problem = makeTicket(QString::fromUtf8(fields.at(0)), QString::fromUtf8(fields.at(1)),
                                           QString::fromUtf8(fields.at(2)), QString::fromUtf8(fields.at(3)),
                                           QString::fromUtf8(fields.mid(4).join(',')), &ticket);
        if (!problem.isEmpty())
            return failWith(QStringLiteral("line %1: %2").arg(i + 1).arg(problem));
        tickets.append(ticket);
    }
    return tickets;
}

bool TicketRegistryFile::writeCsv(const QString &path, const QList<Ticket> &tickets, QString *error)
{
    QSaveFile file(path);
    if (!file.open(QIODevice::WriteOnly)) {
        if (error)
            *error = QStringLiteral("%1: %2").arg(path, file.errorString());
        return false;
    }
    file.write("id,kind,face_amount_minor,currency,issuer\n");
    for (const Ticket &ticket : tickets) {
        file.write(QStringLiteral("%1,%2,%3,%4,%5\n")
                       .arg(ticket.id, ticketKindName(ticket.kind))
                       .arg(ticket.faceAmountMinor)
                       .arg(ticket.currency, ticket.issuer)
                       .toUtf8());
    }
    if (!file.commit()) {
        if (error)
            *error = QStringLiteral("%1: %2").arg(path, file.errorString());
        return false;
    }
    return true;
}

} // namespace ticketsync
