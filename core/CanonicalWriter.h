#pragma once

#include <QByteArray>
#include <QString>
#include <QStringView>
#include <QtGlobal>

namespace ticketsync {

// Canonical binary encoding: big-endian integers, u32-length-prefixed byte strings,
// and a 4-byte domain-separation tag plus a version byte at the start of every message.
// Everything that is signed or hashed goes through this writer, so one object always
// has exactly one byte representation. docs/protocol.md describes the layout.
class CanonicalWriter
{
public:
    static constexpr quint8 kFormatVersion = 1;

    CanonicalWriter() = default;
    // Room for reserveBytes up front: most messages fit, so appending never reallocates.
    explicit CanonicalWriter(const char (&tag)[5], qsizetype reserveBytes = 256);

    void writeU8(quint8 value);
    void writeU16(quint16 value);
    void writeU32(quint32 value);
    void writeU64(quint64 value);
    void writeI64(qint64 value);
    void writeFixed(const QByteArray &bytes); // length is implied by the message layout
    void writeBytes(const QByteArray &bytes); // u32 length, then the bytes
    // UTF-8, length-prefixed like bytes. text must be valid UTF-16 (see checkCanonicalString):
    // a debug build asserts it.
    void writeString(const QString &text);

    const QByteArray &bytes() const { return buffer; }

private:
    QByteArray buffer;
};

// Empty if text can be written as a canonical string; otherwise a sentence naming field.
// Text that is not valid UTF-16 (a lone surrogate) has no UTF-8 form: toUtf8() writes '?' for
// it, so two different strings would share one encoding and one hash. Every input that ends up
// signed or hashed is checked with this where it is read.
QString checkCanonicalString(QStringView text, QStringView field);

} // namespace ticketsync
