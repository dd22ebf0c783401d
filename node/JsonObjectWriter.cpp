#include "JsonObjectWriter.h"

#include <utility>

namespace ticketsync {

void JsonObjectWriter::key(QLatin1StringView name)
{
    if (text.size() > 1)
        text.append(',');
    text.append('"').append(name.data(), name.size()).append("\":", 2);
}

void JsonObjectWriter::string(const QByteArray &utf8)
{
    static constexpr char kHex[] = "0123456789abcdef";
    text.append('"');
    // Runs that need no escaping (nearly all of it: hex, base64, ids) go in one append each.
    const char *run = utf8.constData();
    const char *const end = run + utf8.size();
    for (const char *at = run; at != end; ++at) {
        const uchar c = uchar(*at);
        if (c >= 0x20 && c != '"' && c != '\\')
            continue; // UTF-8 multi-byte sequences pass through as they are
        text.append(run, at - run);
        run = at + 1;
        switch (c) {
        case '"':
            text.append("\\\"", 2);
            break;
        case '\\':
            text.append("\\\\", 2);
            break;
        case '\n':
            text.append("\\n", 2);
            break;
        case '\r':
            text.append("\\r", 2);
            break;
        case '\t':
            text.append("\\t", 2);
            break;
        default: {
            const char escape[] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xf]};
            text.append(escape, sizeof escape);
        }
        }
    }
    text.append(run, end - run);
    text.append('"');
}

JsonObjectWriter &JsonObjectWriter::add(QLatin1StringView name, const QString &value)
{
    key(name);
    string(value.toUtf8());
    return *this;
}

JsonObjectWriter &JsonObjectWriter::addAscii(QLatin1StringView name, const QByteArray &value)
{
    key(name);
    string(value);
    return *this;
}

JsonObjectWriter &JsonObjectWriter::add(QLatin1StringView name, qint64 value)
{
    key(name);
    text.append(QByteArray::number(value));
    return *this;
}

JsonObjectWriter &JsonObjectWriter::addJson(QLatin1StringView name, const QByteArray &json)
{
    key(name);
    text.append(json);
    return *this;
}

JsonObjectWriter &JsonObjectWriter::addAsciiArray(QLatin1StringView name, const QList<QByteArray> &values)
{
    key(name);
    text.append('[');
    for (qsizetype i = 0; i < values.size(); ++i) {
        if (i > 0)
            text.append(',');
        string(values.at(i));
    }
    text.append(']');
    return *this;
}

QByteArray JsonObjectWriter::finish()
{
    text.append('}');
    return std::exchange(text, QByteArray());
}

} // namespace ticketsync
