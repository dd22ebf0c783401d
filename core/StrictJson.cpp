#include "StrictJson.h"

#include <QString>

namespace ticketsync {

std::optional<QByteArray> StrictJson::base64(const QJsonValue &value)
{
    if (!value.isString())
        return std::nullopt;
    const QByteArray text = value.toString().toLatin1();
    auto decoded = QByteArray::fromBase64Encoding(text, QByteArray::AbortOnBase64DecodingErrors);
    if (!decoded || decoded.decoded.toBase64() != text)
        return std::nullopt;
    return *decoded;
}

std::optional<QByteArray> StrictJson::hex(const QJsonValue &value, qsizetype bytes)
{
    if (!value.isString())
        return std::nullopt;
    const QString text = value.toString();
    if (text.size() != bytes * 2)
        return std::nullopt;
    for (const QChar c : text) {
        if (!((c >= QLatin1Char('0') && c <= QLatin1Char('9')) ||
              (c >= QLatin1Char('a') && c <= QLatin1Char('f'))))
            return std::nullopt;
    }
    return QByteArray::fromHex(text.toLatin1());
}

} // namespace ticketsync
