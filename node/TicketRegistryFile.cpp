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

struct TicketRegistryFile::Reader::State
{
    QString path;
    QFile file;
    bool json = false;
    QJsonArray rows; // JSON: the parsed array
    qsizetype index = 0;
    qsizetype line = 1; // CSV: the number of the line last read; the header is line 1

    bool fail(const QString &message, QString *error) const
    {
        if (error)
            *error = QStringLiteral("%1: %2").arg(path, message);
        return false;
    }
};

TicketRegistryFile::Reader::Reader() = default;
TicketRegistryFile::Reader::~Reader() = default;

bool TicketRegistryFile::Reader::open(const QString &path, QString *error)
{
    state = std::make_unique<State>();
    state->path = path;
    state->file.setFileName(path);
    if (!state->file.open(QIODevice::ReadOnly))
        return state->fail(
            QStringLiteral("cannot read the ticket registry: %1").arg(state->file.errorString()), error);
    if (path.endsWith(QLatin1String(".json"), Qt::CaseInsensitive)) {
        state->json = true;
        QJsonParseError parseError;
        const QJsonDocument document = QJsonDocument::fromJson(state->file.readAll(), &parseError);
        state->file.close();
        if (parseError.error != QJsonParseError::NoError)
            return state->fail(QStringLiteral("not valid JSON at offset %1: %2")
                                   .arg(parseError.offset)
                                   .arg(parseError.errorString()),
                               error);
        if (!document.isArray())
            return state->fail(QStringLiteral("the registry must be a JSON array of tickets"), error);
        state->rows = document.array();
        return true;
    }
    QByteArray header = state->file.readLine().trimmed();
    // Spreadsheets often save CSV as UTF-8 with a byte order mark in front.
    if (header.startsWith("\xEF\xBB\xBF"))
        header.remove(0, 3);
    if (header != "id,kind,face_amount_minor,currency,issuer")
        return state->fail(
            QStringLiteral("line 1: the header must be id,kind,face_amount_minor,currency,issuer"), error);
    return true;
}

bool TicketRegistryFile::Reader::next(Ticket *ticket, QString *error)
{
    if (!state)
        return false;
    if (state->json) {
        if (state->index >= state->rows.size())
            return false;
        const qsizetype i = state->index++;
        const QJsonObject row = state->rows.at(i).toObject();
        const QJsonValue amount = row.value(u"face_amount_minor");
        const QString problem =
            makeTicket(row.value(u"id").toString(), row.value(u"kind").toString(),
                       amount.isDouble() ? QString::number(amount.toInteger()) : amount.toString(),
                       row.value(u"currency").toString(), row.value(u"issuer").toString(), ticket);
        return problem.isEmpty() || state->fail(QStringLiteral("[%1]: %2").arg(i).arg(problem), error);
    }
    while (!state->file.atEnd()) {
        const QByteArray line = state->file.readLine().trimmed();
        ++state->line;
        if (line.isEmpty())
            continue;
        // The issuer is the last field, so it may contain commas.
        const QList<QByteArray> fields = line.split(',');
        if (fields.size() < 5)
            return state->fail(
                QStringLiteral("line %1: expected 5 fields, found %2").arg(state->line).arg(fields.size()),
                error);
        const QString problem = makeTicket(QString::fromUtf8(fields.at(0)), QString::fromUtf8(fields.at(1)),
                                           QString::fromUtf8(fields.at(2)), QString::fromUtf8(fields.at(3)),
                                           QString::fromUtf8(fields.mid(4).join(',')), ticket);
        return problem.isEmpty() ||
               state->fail(QStringLiteral("line %1: %2").arg(state->line).arg(problem), error);
    }
    if (state->file.error() != QFileDevice::NoError)
        return state->fail(QStringLiteral("reading the ticket registry: %1").arg(state->file.errorString()),
                           error);
    return false;
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
