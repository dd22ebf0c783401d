#pragma once

#include "Ticket.h"

#include <QList>
#include <memory>

namespace ticketsync {

// The ticket registry a target node imports (docs/node-config.md): CSV with the header
// "id,kind,face_amount_minor,currency,issuer", or a JSON array of objects with those keys.
namespace TicketRegistryFile {

// Reads a registry one ticket at a time, so a registry of millions of tickets is never held in
// memory whole: a CSV file is read line by line, a JSON file one object at a time.
class Reader
{
public:
    Reader();
    ~Reader();
    Reader(const Reader &) = delete;
    Reader &operator=(const Reader &) = delete;

    // Opens the file and checks its header (CSV) or its top level (JSON).
    bool open(const QString &path, QString *error);
    // The next ticket: true with *ticket filled in, or false at the end (error left empty) or
    // at a bad row (error names the file, the line or index, and the field).
    bool next(Ticket *ticket, QString *error);

private:
    // next() without the check for a ticket listed twice.
    bool readNext(Ticket *ticket, QString *error);

    struct State;
    std::unique_ptr<State> state;
};

bool writeCsv(const QString &path, const QList<Ticket> &tickets, QString *error);
} // namespace TicketRegistryFile

} // namespace ticketsync
