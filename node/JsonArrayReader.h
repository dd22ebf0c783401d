#pragma once

#include <QByteArray>
#include <QHash>
#include <QString>

class QIODevice;

namespace ticketsync {

// Reads a JSON array of objects from a device one object at a time, through a fixed-size
// buffer, so a ticket registry of millions of rows is never held in memory whole (QJsonDocument
// parses the whole text into a tree first). Values nested inside an object are checked and
// skipped, not kept. Errors name the byte offset in the input, as QJsonParseError does.
class JsonArrayReader
{
public:
    struct Value
    {
        enum class Type
        {
            String,
            Number,
            Boolean,
            Null,
            Nested
        };
        Type type = Type::Null;
        QString text; // the decoded string, or the literal of a number or boolean
    };
    using Object = QHash<QString, Value>;

    static constexpr qsizetype kMaxStringBytes = 64 * 1024; // per key or value
    static constexpr int kMaxDepth = 64;                    // of nested values
    static constexpr qsizetype kMaxKeys = 256;              // per object

    explicit JsonArrayReader(QIODevice *device);

    // Reads up to the array's opening bracket, after an optional UTF-8 byte order mark.
    bool start(QString *error);
    // The next element: true with *object filled in, false at the end of the array (error left
    // empty) or at bad input (error says what and where). An element that is not an object is
    // an error naming its index, and so is a key given twice in one element (naming the key, the
    // index and the line).
    bool next(Object *object, QString *error);

private:
    int peek();
    int get();
    void skipWhitespace();
    bool fail(const QString &message, QString *error) const;
    bool failAt(qint64 offset, const QString &message, QString *error) const;
    bool readString(QString *text, QString *error);
    bool readNumber(QByteArray *literal, QString *error);
    bool readWord(const char *word, QString *error);
    bool readValue(Value *value, QString *error);
    bool skipNested(QString *error);

    QIODevice *device;
    QByteArray buffer;
    qsizetype position = 0; // in buffer
    qint64 consumed = 0;    // bytes of the input before buffer
    qint64 elements = 0;
    qint64 line = 1; // of the input, at position
    bool ended = false;
    bool failed = false;
};

} // namespace ticketsync
