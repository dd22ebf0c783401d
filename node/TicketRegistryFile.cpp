#include "TicketRegistryFile.h"

#include "JsonArrayReader.h"

#include <QFile>
#include <QHash>
#include <QSaveFile>
#include <QStringDecoder>
#include <algorithm>
#include <cmath>
#include <vector>

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

// Up to five fields of a CSV line; empty when it splits. Any field may be quoted as spreadsheets
// write one ("Bank, Ltd", with "" for a quote), so that the quotes are not stored as part of it;
// the issuer, last, may also hold bare commas.
QString splitCsvLine(const QString &line, QStringList *fields)
{
    fields->clear();
    qsizetype at = 0;
    for (;;) {
        const bool last = fields->size() == 4;
        if (at < line.size() && line.at(at) == u'"') {
            QString value;
            qsizetype i = at + 1;
            for (;; ++i) {
                if (i >= line.size())
                    return QStringLiteral("field %1: a quote is not closed").arg(fields->size() + 1);
                if (line.at(i) == u'"') {
                    if (i + 1 < line.size() && line.at(i + 1) == u'"') {
                        value += u'"';
                        ++i;
                        continue;
                    }
                    break;
                }
                value += line.at(i);
            }
            fields->append(value);
            at = i + 1;
            if (at == line.size())
                return {};
            if (last || line.at(at) != u',')
                return QStringLiteral("field %1: text after its closing quote").arg(fields->size());
            ++at;
            continue;
        }
        const qsizetype comma = last ? -1 : line.indexOf(u',', at);
        if (comma < 0) {
            fields->append(line.mid(at));
            return {};
        }
        fields->append(line.mid(at, comma - at));
        at = comma + 1;
    }
}

// A JSON value of a text field; a missing key reads as empty.
QString textField(const JsonArrayReader::Object &row, const QString &key, QString *value)
{
    const auto found = row.constFind(key);
    if (found == row.cend()) {
        value->clear();
        return {};
    }
    if (found->type != JsonArrayReader::Value::Type::String)
        return QStringLiteral("'%1': must be a string").arg(key);
    *value = found->text;
    return {};
}

// The amount may be a JSON number or a string of digits. A number written with a point or an
// exponent counts when it is whole (1000.0, 1e3), as QJsonValue::toInteger() reads it.
QString amountField(const JsonArrayReader::Object &row, QString *value)
{
    const auto found = row.constFind(QStringLiteral("face_amount_minor"));
    if (found == row.cend() || found->type != JsonArrayReader::Value::Type::Number)
        return textField(row, QStringLiteral("face_amount_minor"), value);
    *value = found->text;
    if (value->contains(QLatin1Char('.')) || value->contains(QLatin1Char('e')) ||
        value->contains(QLatin1Char('E'))) {
        bool ok = false;
        const double number = value->toDouble(&ok);
        if (ok && std::isfinite(number) && number == std::floor(number) &&
            std::fabs(number) < 9007199254740992.0)
            *value = QString::number(qint64(number));
    }
    return {};
}

} // namespace

// Far above any real row; a file with no line breaks (a disk image, a zip) is not read whole.
constexpr qint64 kMaxLineBytes = 64 * 1024;

struct TicketRegistryFile::Reader::State
{
    QString path;
    QFile file;

    // The next line, or false with *line empty if it runs past kMaxLineBytes.
    bool readLine(QByteArray *line)
    {
        *line = file.readLine(kMaxLineBytes + 1); // Qt reads one byte fewer than it is given
        if (line->endsWith('\n') || file.atEnd())
            return true;
        line->clear();
        return false;
    }
    std::unique_ptr<JsonArrayReader> json; // JSON: read one object at a time
    qsizetype index = 0;
    qsizetype line = 1; // CSV: the number of the line last read; the header is line 1
    // A hash of every ticket id read, to find one listed twice, which the import would otherwise
    // store as whichever row came last. 8 bytes a row, in one block the allocator hands back.
    bool checkRepeats = true;
    std::vector<size_t> idHashes;

    // The row last read, as errors name it: its line (CSV) or its index (JSON).
    QString lastPlace() const
    {
        return json ? QStringLiteral("[%1]").arg(index - 1) : QStringLiteral("line %1").arg(line);
    }

    // At the end of the file: fails naming the second row of the first ticket listed twice, if any.
    bool failOnRepeat(QString *error)
    {
        std::vector<size_t> sorted = std::move(idHashes);
        std::sort(sorted.begin(), sorted.end());
        std::vector<size_t> repeated;
        for (auto it = std::adjacent_find(sorted.begin(), sorted.end()); it != sorted.end();
             it = std::adjacent_find(it + 1, sorted.end())) {
            if (repeated.empty() || repeated.back() != *it)
                repeated.push_back(*it);
        }
        sorted = {};
        if (repeated.empty())
            return false;
        // Which rows those are: read again, keeping only the ids whose hash repeats.
        Reader again;
        QString problem;
        if (!again.open(path, &problem))
            return fail(QStringLiteral("reading the ticket registry again: %1").arg(problem), error);
        again.state->checkRepeats = false;
        QHash<QString, QString> firstPlace;
        Ticket ticket;
        while (again.readNext(&ticket, &problem)) {
            if (!std::binary_search(repeated.begin(), repeated.end(), qHash(ticket.id, 0)))
                continue;
            const auto first = firstPlace.constFind(ticket.id);
            if (first != firstPlace.cend())
                return fail(QStringLiteral("%1: ticket %2 is listed again (first at %3); a registry lists "
                                           "each ticket once")
                                .arg(again.state->lastPlace(), ticket.id, *first),
                            error);
            firstPlace.insert(ticket.id, again.state->lastPlace());
        }
        return false; // ids whose hashes collide, or a file changed under the reader
    }

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
        state->json = std::make_unique<JsonArrayReader>(&state->file);
        QString problem;
        if (!state->json->start(&problem))
            return state->fail(
                QStringLiteral("the registry must be a JSON array of tickets (%1)").arg(problem), error);
        return true;
    }
    QByteArray header;
    if (!state->readLine(&header))
        return state->fail(
            QStringLiteral("line 1: longer than %1 bytes; not a CSV ticket registry").arg(kMaxLineBytes),
            error);
    header = header.trimmed();
    // Spreadsheets also offer "Unicode text", which is UTF-16: say so rather than blame the header.
    if (header.startsWith("\xFF\xFE") || header.startsWith("\xFE\xFF"))
        return state->fail(QStringLiteral("line 1: the file is UTF-16; save the registry as UTF-8"), error);
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
    QString problem;
    if (readNext(ticket, &problem)) {
        if (state->checkRepeats)
            state->idHashes.push_back(qHash(ticket->id, 0));
        return true;
    }
    if (problem.isEmpty() && state->checkRepeats)
        state->failOnRepeat(&problem);
    if (!problem.isEmpty() && error)
        *error = problem;
    return false;
}

bool TicketRegistryFile::Reader::readNext(Ticket *ticket, QString *error)
{
    if (state->json) {
        JsonArrayReader::Object row;
        QString problem;
        if (!state->json->next(&row, &problem)) {
            // A read error looks like the end of the input to the reader: it is the cause.
            if (state->file.error() != QFileDevice::NoError)
                problem = QStringLiteral("reading the ticket registry: %1").arg(state->file.errorString());
            return !problem.isEmpty() && state->fail(problem, error);
        }
        const qsizetype i = state->index++;
        QString id, kind, amount, currency, issuer;
        for (const QString &fieldProblem :
             {textField(row, QStringLiteral("id"), &id), textField(row, QStringLiteral("kind"), &kind),
              amountField(row, &amount), textField(row, QStringLiteral("currency"), &currency),
              textField(row, QStringLiteral("issuer"), &issuer)}) {
            if (problem.isEmpty())
                problem = fieldProblem;
        }
        if (problem.isEmpty())
            problem = makeTicket(id, kind, amount, currency, issuer, ticket);
        return problem.isEmpty() || state->fail(QStringLiteral("[%1]: %2").arg(i).arg(problem), error);
    }
    while (!state->file.atEnd()) {
        QByteArray line;
        ++state->line;
        if (!state->readLine(&line))
            return state->fail(
                QStringLiteral("line %1: longer than %2 bytes").arg(state->line).arg(kMaxLineBytes), error);
        line = line.trimmed();
        if (line.isEmpty())
            continue;
        // Checked, not replaced: an issuer saved as GBK or Latin-1 would otherwise be stored as
        // U+FFFD where its name was, without a word.
        QStringDecoder utf8(QStringDecoder::Utf8, QStringDecoder::Flag::Stateless);
        const QString text = utf8(line);
        if (utf8.hasError())
            return state->fail(
                QStringLiteral("line %1: not valid UTF-8; save the registry as UTF-8").arg(state->line),
                error);
        QStringList fields;
        if (const QString problem = splitCsvLine(text, &fields); !problem.isEmpty())
            return state->fail(QStringLiteral("line %1: %2").arg(state->line).arg(problem), error);
        if (fields.size() < 5)
            return state->fail(
                QStringLiteral("line %1: expected 5 fields, found %2").arg(state->line).arg(fields.size()),
                error);
        const QString problem =
            makeTicket(fields.at(0), fields.at(1), fields.at(2), fields.at(3), fields.at(4), ticket);
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
        // Quoted only where it must be, so that it reads back as it was.
        QString issuer = ticket.issuer;
        if (issuer.startsWith(u'"'))
            issuer = u'"' + issuer.replace(u'"', QStringLiteral("\"\"")) + u'"';
        file.write(QStringLiteral("%1,%2,%3,%4,%5\n")
                       .arg(ticket.id, ticketKindName(ticket.kind))
                       .arg(ticket.faceAmountMinor)
                       .arg(ticket.currency, issuer)
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
