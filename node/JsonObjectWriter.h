#pragma once

#include <QByteArray>
#include <QLatin1StringView>
#include <QList>
#include <QString>

namespace ticketsync {

// Writes one flat JSON object straight to compact UTF-8, for the events a node emits for every
// write-off and vote: building a QJsonObject and serializing it cost the coordinator more than
// tallying the vote. Keys are plain ASCII literals; string values are escaped.
class JsonObjectWriter
{
public:
    JsonObjectWriter() { text.reserve(512); } // most events fit, so appending never reallocates

    JsonObjectWriter &add(QLatin1StringView key, const QString &value);
    JsonObjectWriter &addAscii(QLatin1StringView key, const QByteArray &value); // hex, base64, names
    JsonObjectWriter &add(QLatin1StringView key, qint64 value);
    JsonObjectWriter &addAsciiArray(QLatin1StringView key, const QList<QByteArray> &values);
    // A value that is JSON already, such as another writer's finished object.
    JsonObjectWriter &addJson(QLatin1StringView key, const QByteArray &json);
    // The object, closed; the writer is left empty.
    QByteArray finish();

private:
    void key(QLatin1StringView name);
    void string(const QByteArray &utf8);

    QByteArray text = QByteArrayLiteral("{");
};

} // namespace ticketsync
