#include "CanonicalWriter.h"

#include <QtEndian>

namespace ticketsync {

CanonicalWriter::CanonicalWriter(const char (&tag)[5], qsizetype reserveBytes)
{
    buffer.reserve(reserveBytes);
    buffer.append(tag, 4);
    writeU8(kFormatVersion);
}

void CanonicalWriter::writeU8(quint8 value)
{
    buffer.append(char(value));
}

void CanonicalWriter::writeU16(quint16 value)
{
    char raw[2];
    qToBigEndian(value, raw);
    buffer.append(raw, 2);
}

void CanonicalWriter::writeU32(quint32 value)
{
    char raw[4];
    qToBigEndian(value, raw);
    buffer.append(raw, 4);
}

void CanonicalWriter::writeU64(quint64 value)
{
    char raw[8];
    qToBigEndian(value, raw);
    buffer.append(raw, 8);
}

void CanonicalWriter::writeI64(qint64 value)
{
    writeU64(quint64(value));
}

void CanonicalWriter::writeFixed(const QByteArray &bytes)
{
    buffer.append(bytes);
}

void CanonicalWriter::writeBytes(const QByteArray &bytes)
{
    writeU32(quint32(bytes.size()));
    buffer.append(bytes);
}

void CanonicalWriter::writeString(const QString &text)
{
    // Ids, currencies and most references are ASCII, which is its own UTF-8: written straight
    // into the buffer without a converted copy.
    const qsizetype size = text.size();
    const QChar *utf16 = text.constData();
    for (qsizetype i = 0; i < size; ++i) {
        if (utf16[i].unicode() >= 0x80) {
            Q_ASSERT_X(QStringView(text).isValidUtf16(), "CanonicalWriter::writeString",
                       "not valid UTF-16: check the input with checkCanonicalString() where it is read");
            writeBytes(text.toUtf8());
            return;
        }
    }
    writeU32(quint32(size));
    const qsizetype at = buffer.size();
    buffer.resize(at + size);
    char *out = buffer.data() + at;
    for (qsizetype i = 0; i < size; ++i)
        out[i] = char(utf16[i].unicode());
}

QString checkCanonicalString(QStringView text, QStringView field)
{
    if (text.isValidUtf16())
        return {};
    qsizetype at = 0;
    while (at < text.size()) {
        const QChar c = text.at(at);
        if (c.isHighSurrogate() && at + 1 < text.size() && text.at(at + 1).isLowSurrogate())
            at += 2;
        else if (c.isSurrogate())
            break;
        else
            ++at;
    }
    return QStringLiteral("%1 is not valid text: a lone UTF-16 surrogate (U+%2) at position %3, which has "
                          "no UTF-8 form")
        .arg(field)
        .arg(QString::number(at < text.size() ? text.at(at).unicode() : 0, 16)
                 .toUpper()
                 .rightJustified(4, u'0'))
        .arg(at);
}

} // namespace ticketsync
