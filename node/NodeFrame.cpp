#include "NodeFrame.h"

#include "CanonicalReader.h"
#include "CanonicalWriter.h"
#include "Sha256.h"

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
        if (reader.ok() && (kind < quint8(Kind::SubmitWriteOff) || kind > quint8(Kind::Submitted)))
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
    case Kind::Submitted:
        return QStringLiteral("submitted");
    }
    return QString();
}

QByteArray SubmittedReply::encode() const
{
    QByteArray bytes;
    bytes.reserve(8 + 1 + 2 + kDigestSize);
    for (int shift = 56; shift >= 0; shift -= 8)
        bytes.append(char(quint64(requestId) >> shift));
    bytes.append(char(status));
    bytes.append(char(state >> 8));
    bytes.append(char(state));
    bytes.append(digest);
    return bytes;
}

std::optional<SubmittedReply> SubmittedReply::decode(const QByteArray &bytes, QString *error)
{
    constexpr qsizetype kSize = 8 + 1 + 2 + kDigestSize;
    const auto fail = [&](const QString &why) -> std::optional<SubmittedReply> {
        if (error)
            *error = QStringLiteral("malformed submitted item: %1").arg(why);
        return std::nullopt;
    };
    if (bytes.size() != kSize)
        return fail(QStringLiteral("%1 bytes, expected %2").arg(bytes.size()).arg(kSize));
    const auto *data = reinterpret_cast<const uchar *>(bytes.constData());
    quint64 id = 0;
    for (int i = 0; i < 8; ++i)
        id = (id << 8) | data[i];
    SubmittedReply reply;
    reply.requestId = qint64(id);
    if (data[8] < quint8(Status::Accepted) || data[8] > quint8(Status::Decided))
        return fail(QStringLiteral("unknown status %1 at offset 8").arg(data[8]));
    reply.status = Status(data[8]);
    reply.state = quint16((data[9] << 8) | data[10]);
    reply.digest = bytes.mid(11);
    return reply;
}

QString SubmittedReply::statusName(Status status)
{
    switch (status) {
    case Status::Accepted:
        return QStringLiteral("accepted");
    case Status::AlreadyAccepted:
        return QStringLiteral("already accepted");
    case Status::Decided:
        return QStringLiteral("decided");
    }
    return QString();
}

} // namespace ticketsync
