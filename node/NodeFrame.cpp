#include "NodeFrame.h"

#include "CanonicalReader.h"
#include "CanonicalWriter.h"

namespace ticketsync {

namespace {

constexpr char kTag[5] = "TSNF";
constexpr quint32 kMaxItems = 100000;

} // namespace

QByteArray NodeFrame::encode() const
{
    CanonicalWriter writer(kTag);
    writer.writeU8(quint8(kind));
    writer.writeU64(header);
    writer.writeU32(quint32(items.size()));
    for (const QByteArray &item : items)
        writer.writeBytes(item);
    return writer.bytes();
}

std::optional<NodeFrame> NodeFrame::decode(const QByteArray &bytes, QString *error)
{
    CanonicalReader reader(bytes);
    NodeFrame frame;
    if (reader.expectHeader(kTag, "node frame")) {
        const quint8 kind = reader.readU8("kind");
        if (reader.ok() && (kind < quint8(Kind::SubmitWriteOff) || kind > quint8(Kind::Blocks)))
            reader.fail(QStringLiteral("unknown node frame kind %1 at offset 5").arg(kind));
        frame.kind = Kind(kind);
        frame.header = reader.readU64("header");
        const quint32 count = reader.readCount("items", kMaxItems, 4);
        for (quint32 i = 0; i < count && reader.ok(); ++i)
            frame.items.append(reader.readBytes("item", bytes.size()));
        reader.expectEnd("node frame");
    }
    if (!reader.ok()) {
        if (error)
            *error = QStringLiteral("malformed node frame: %1").arg(reader.errorString());
        return std::nullopt;
    }
    return frame;
}

QString NodeFrame::typeName(Kind kind)
{
    switch (kind) {
    case Kind::SubmitWriteOff:
        return QStringLiteral("submit_write_off");
    case Kind::Check:
        return QStringLiteral("check");
    case Kind::Confirmation:
        return QStringLiteral("confirmation");
    case Kind::Blocks:
        return QStringLiteral("blocks");
    }
    return QString();
}

} // namespace ticketsync
