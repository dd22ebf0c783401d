#pragma once

#include <QString>

namespace ticketsync::ProtocolExample {

// The worked example of docs/protocol.md, generated from fixed keys and times so that
// anyone can reproduce every byte with `ticketsync protocol-example`.
QString markdown();

} // namespace ticketsync::ProtocolExample
