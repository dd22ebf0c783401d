#pragma once

#include <QByteArray>
#include <QJsonValue>
#include <optional>

namespace ticketsync {

// Readers for JSON fields that carry bytes, where one value must have exactly one spelling: a
// second spelling of the same bytes would let two documents that differ hash or sign alike.
class StrictJson
{
public:
    // Standard padded base64 that re-encodes to exactly the same text.
    static std::optional<QByteArray> base64(const QJsonValue &value);
    // Lower-case hex of exactly `bytes` bytes; nothing else.
    static std::optional<QByteArray> hex(const QJsonValue &value, qsizetype bytes);
};

} // namespace ticketsync
