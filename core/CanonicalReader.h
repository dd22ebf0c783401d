#pragma once

#include <QByteArray>
#include <QByteArrayView>
#include <QString>
#include <QtGlobal>

namespace ticketsync {

// Bounds-checked reader for the canonical encoding. The first failure is sticky:
// later reads return zero values and the error keeps naming the field and the byte
// offset where decoding went wrong, so callers check ok() once at the end.
class CanonicalReader
{
public:
    explicit CanonicalReader(const QByteArray &data);

    // Checks the 4-byte tag and the version byte; what names the message in errors.
    bool expectHeader(const char (&tag)[5], const char *what);

    quint8 readU8(const char *field);
    quint16 readU16(const char *field);
    quint32 readU32(const char *field);
    quint64 readU64(const char *field);
    qint64 readI64(const char *field);
    QByteArray readFixed(qsizetype size, const char *field);
    QByteArray readBytes(const char *field, qsizetype maxSize);
    QString readString(const char *field, qsizetype maxSize);
    // A u32 element count, refused when above maxCount or when the rest of the input
    // could not possibly hold that many elements of at least minElementSize bytes.
    quint32 readCount(const char *field, quint32 maxCount, qsizetype minElementSize);

    // Fails unless every byte was consumed.
    bool expectEnd(const char *what);

    void fail(const QString &message);
    bool ok() const { return error.isEmpty(); }
    QString errorString() const { return error; }
    qsizetype offset() const { return position; }
    qsizetype remaining() const { return data.size() - position; }

private:
    bool take(qsizetype size, const char *field, const char **out);
    // A u32-length-prefixed field of at most maxSize bytes, where it lies in the input.
    bool takeSized(const char *field, qsizetype maxSize, QByteArrayView *out);

    const QByteArray &data;
    qsizetype position = 0;
    QString error;
};

} // namespace ticketsync
