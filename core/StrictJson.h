#pragma once

#include <QByteArray>
#include <QJsonValue>
#include <QString>
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

    // A key given twice in one object, which QJsonDocument resolves by keeping the last: a reader
    // of the file may well believe the first.
    struct RepeatedKey
    {
        QString name; // through the objects and arrays it is in: "members[2].public_key"
        int line = 0; // of the second one
    };
    // The first repeated key in text, which must be JSON that QJsonDocument parsed without error.
    static std::optional<RepeatedKey> repeatedKey(const QByteArray &text);
};

} // namespace ticketsync
