#pragma once

#include <QByteArray>
#include <QList>
#include <QString>
#include <optional>

namespace ticketsync {

// The binary frame ledger nodes exchange for their high-volume messages: a write-off handed
// to the coordinator, a check sent to a target, a target's confirmation, and pushed blocks.
// The items are the canonical bytes that are signed, carried as they are: no JSON, no
// base64. Clients never see these; the API stays JSON (docs/api.md, "Between nodes").
struct NodeFrame
{
    enum class Kind : quint8
    {
        SubmitWriteOff = 1, // header: the first item's request id; item i has header + i
        Check = 2,
        Confirmation = 3,
        Blocks = 4,    // header: the coordinator's head height
        Submitted = 5, // coordinator to branch: SubmittedReply items, after the journal commit
    };

    Kind kind = Kind::Check;
    quint64 header = 0;
    QList<QByteArray> items;

    QByteArray encode() const;
    // Fails with the field and offset when the frame is malformed.
    static std::optional<NodeFrame> decode(const QByteArray &bytes, QString *error);
    // The JSON message type the frame stands for, for authorization and logs.
    static QString typeName(Kind kind);
};

// One item of a Submitted frame: the coordinator's answer to one write-off a branch handed it.
struct SubmittedReply
{
    enum class Status : quint8
    {
        Accepted = 1,        // durably accepted; its tally is running
        AlreadyAccepted = 2, // the same signed write-off was accepted before
        Decided = 3,         // already in the ledger, with state
    };

    qint64 requestId = -1;
    Status status = Status::Accepted;
    quint16 state = 0; // the decided state when status is Decided
    QByteArray digest; // the write-off's, 32 bytes

    QByteArray encode() const;
    static std::optional<SubmittedReply> decode(const QByteArray &bytes, QString *error);
    static QString statusName(Status status);
};

} // namespace ticketsync
