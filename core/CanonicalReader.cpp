#include "CanonicalReader.h"

#include "CanonicalWriter.h"

#include <QStringDecoder>
#include <QtEndian>

namespace ticketsync {

CanonicalReader::CanonicalReader(const QByteArray &data) : data(data) {}

void CanonicalReader::fail(const QString &message)
{
    if (error.isEmpty())
        error = message;
}

bool CanonicalReader::take(qsizetype size, const char *field, const char **out)
{
    if (!ok())
        return false;
    if (size < 0 || remaining() < size) {
        fail(QStringLiteral("truncated input: field '%1' needs %2 bytes at offset %3, only %4 left")
                 .arg(QLatin1String(field))
                 .arg(size)
                 .arg(position)
                 .arg(remaining()));
        return false;
    }
    *out = data.constData() + position;
    position += size;
    return true;
}

bool CanonicalReader::expectHeader(const char (&tag)[5], const char *what)
{
    const char *raw = nullptr;
    if (!take(4, "tag", &raw))
        return false;
    if (QByteArray::fromRawData(raw, 4) != QByteArray::fromRawData(tag, 4)) {
        fail(QStringLiteral("not a %1: expected tag '%2' at offset 0, found %3")
                 .arg(QLatin1String(what), QLatin1String(tag),
                      QString::fromLatin1(QByteArray(raw, 4).toHex())));
        return false;
    }
    const quint8 version = readU8("version");
    if (ok() && version != CanonicalWriter::kFormatVersion) {
        fail(QStringLiteral("unsupported %1 format version %2 at offset 4 (this build reads version %3)")
                 .arg(QLatin1String(what))
                 .arg(version)
                 .arg(CanonicalWriter::kFormatVersion));
        return false;
    }
    return ok();
}

quint8 CanonicalReader::readU8(const char *field)
{
    const char *raw = nullptr;
    return take(1, field, &raw) ? quint8(raw[0]) : 0;
}

quint16 CanonicalReader::readU16(const char *field)
{
    const char *raw = nullptr;
    return take(2, field, &raw) ? qFromBigEndian<quint16>(raw) : 0;
}

quint32 CanonicalReader::readU32(const char *field)
{
    const char *raw = nullptr;
    return take(4, field, &raw) ? qFromBigEndian<quint32>(raw) : 0;
}

quint64 CanonicalReader::readU64(const char *field)
{
    const char *raw = nullptr;
    return take(8, field, &raw) ? qFromBigEndian<quint64>(raw) : 0;
}

qint64 CanonicalReader::readI64(const char *field)
{
    return qint64(readU64(field));
}

QByteArray CanonicalReader::readFixed(qsizetype size, const char *field)
{
    const char *raw = nullptr;
    return take(size, field, &raw) ? QByteArray(raw, size) : QByteArray();
}

bool CanonicalReader::takeSized(const char *field, qsizetype maxSize, QByteArrayView *out)
{
    const qsizetype at = position;
    const quint32 size = readU32(field);
    if (!ok())
        return false;
    if (size > maxSize) {
        fail(QStringLiteral("oversized field '%1' at offset %2: %3 bytes, the limit is %4")
                 .arg(QLatin1String(field))
                 .arg(at)
                 .arg(size)
                 .arg(maxSize));
        return false;
    }
    const char *raw = nullptr;
    if (!take(qsizetype(size), field, &raw))
        return false;
    *out = QByteArrayView(raw, qsizetype(size));
    return true;
}

QByteArray CanonicalReader::readBytes(const char *field, qsizetype maxSize)
{
    QByteArrayView bytes;
    return takeSized(field, maxSize, &bytes) ? QByteArray(bytes.data(), bytes.size()) : QByteArray();
}

QString CanonicalReader::readString(const char *field, qsizetype maxSize)
{
    const qsizetype at = position;
    // Decoded where it lies: no copy of the bytes on the way to the string.
    QByteArrayView bytes;
    if (!takeSized(field, maxSize, &bytes))
        return {};
    // ConvertInitialBom: by default Qt drops a leading U+FEFF, which would make two byte
    // strings decode to one value and break the signature over the original bytes.
    QStringDecoder decoder(QStringDecoder::Utf8,
                           QStringDecoder::Flag::Stateless | QStringDecoder::Flag::ConvertInitialBom);
    QString text = decoder(bytes);
    if (decoder.hasError()) {
        fail(QStringLiteral("field '%1' at offset %2 is not valid UTF-8").arg(QLatin1String(field)).arg(at));
        return {};
    }
    return text;
}

quint32 CanonicalReader::readCount(const char *field, quint32 maxCount, qsizetype minElementSize)
{
    const qsizetype at = position;
    const quint32 count = readU32(field);
    if (!ok())
        return 0;
    if (count > maxCount) {
        fail(QStringLiteral("oversized list '%1' at offset %2: %3 elements, the limit is %4")
                 .arg(QLatin1String(field))
                 .arg(at)
                 .arg(count)
                 .arg(maxCount));
        return 0;
    }
    if (minElementSize > 0 && qsizetype(count) > remaining() / minElementSize) {
        fail(QStringLiteral(
                 "truncated input: list '%1' at offset %2 claims %3 elements but only %4 bytes follow")
                 .arg(QLatin1String(field))
                 .arg(at)
                 .arg(count)
                 .arg(remaining()));
        return 0;
    }
    return count;
}

bool CanonicalReader::expectEnd(const char *what)
{
    if (ok() && remaining() != 0)
        fail(QStringLiteral("trailing garbage: %1 unexpected bytes after the %2, at offset %3")
                 .arg(remaining())
                 .arg(QLatin1String(what))
                 .arg(position));
    return ok();
}

} // namespace ticketsync
