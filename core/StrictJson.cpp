#include "StrictJson.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QList>
#include <QSet>
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

namespace {

QString decodedJsonString(QByteArrayView token)
{
    const QByteArrayView inner = token.sliced(1, token.size() - 2);
    if (!inner.contains('\\'))
        return QString::fromUtf8(inner);
    return QJsonDocument::fromJson("[" + token.toByteArray() + "]").array().at(0).toString();
}

} // namespace

std::optional<StrictJson::RepeatedKey> StrictJson::repeatedKey(const QByteArray &text)
{
    struct Level
    {
        bool isObject = false;
        QString name; // "" for the top level, "key" in an object, "[i]" in an array
        QSet<QString> keys;
        QString lastKey;
        bool expectKey = false;
        qsizetype index = 0; // an array's element
    };
    QList<Level> levels;
    int line = 1;
    for (qsizetype i = 0; i < text.size(); ++i) {
        const char c = text.at(i);
        if (c == '\n') {
            ++line;
        } else if (c == '"') {
            // Well formed: the string ends at the first quote that no backslash escapes.
            const qsizetype start = i;
            for (++i; i < text.size() && text.at(i) != '"'; ++i) {
                if (text.at(i) == '\\')
                    ++i;
            }
            if (levels.isEmpty() || !levels.last().isObject || !levels.last().expectKey)
                continue;
            Level &level = levels.last();
            const QString key = decodedJsonString(QByteArrayView(text).sliced(start, i - start + 1));
            if (level.keys.contains(key)) {
                QString name;
                for (const Level &outer : std::as_const(levels)) {
                    if (!name.isEmpty() && !outer.name.startsWith(u'['))
                        name += u'.';
                    name += outer.name;
                }
                return RepeatedKey{name.isEmpty() ? key : name + u'.' + key, line};
            }
            level.keys.insert(key);
            level.lastKey = key;
            level.expectKey = false;
        } else if (c == '{' || c == '[') {
            QString name;
            if (!levels.isEmpty())
                name = levels.last().isObject ? levels.last().lastKey
                                              : QStringLiteral("[%1]").arg(levels.last().index);
            levels.append({c == '{', name, {}, {}, c == '{', 0});
        } else if (c == '}' || c == ']') {
            if (!levels.isEmpty())
                levels.removeLast();
        } else if (c == ',' && !levels.isEmpty()) {
            if (levels.last().isObject)
                levels.last().expectKey = true;
            else
                ++levels.last().index;
        }
    }
    return std::nullopt;
}

} // namespace ticketsync
