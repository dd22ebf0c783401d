#pragma once

#include "Ticket.h"

#include <QList>
#include <optional>

namespace ticketsync {

// The ticket registry a target node imports (docs/node-config.md): CSV with the header
// "id,kind,face_amount_minor,currency,issuer", or a JSON array of objects with those keys.
namespace TicketRegistryFile {
// On failure returns nothing and names the file, the line (or index) and the field.
std::optional<QList<Ticket>> read(const QString &path, QString *error);
bool writeCsv(const QString &path, const QList<Ticket> &tickets, QString *error);
} // namespace TicketRegistryFile

} // namespace ticketsync
