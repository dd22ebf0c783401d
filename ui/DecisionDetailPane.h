#pragma once

#include <QJsonObject>
#include <QList>
#include <QWidget>
#include <atomic>
#include <memory>

class QLabel;
class QProgressBar;
class QStandardItemModel;
class QTableView;

namespace ticketsync {

class Membership;

// One decision in detail: its header, every target of the membership with its vote and that
// vote's signature check, the quorum certificate verified locally through core, and whether the
// coordinator signed the decision into a block (its inclusion proof, verified the same way). The
// checks run on a worker thread; a result is applied only if the pane still shows the decision
// it was computed for.
class DecisionDetailPane : public QWidget
{
    Q_OBJECT

public:
    enum VoteColumn
    {
        TargetColumn,
        VoteColumn,
        ReasonColumn,
        SignatureColumn,
        CertificateColumn,
        VoteColumnCount
    };

    // The outcome of the local certificate check.
    enum class CertificateCheck
    {
        None,     // nothing shown
        Pending,  // the worker is checking
        Missing,  // no certificate bytes (not fetched yet)
        Valid,    // Decision::verifyCertificate passed
        Invalid,  // it failed; certificateStatus() names why
        Unchecked // no membership to check against
    };

    // Whether the coordinator sealed the decision into a block, as its inclusion proof shows.
    enum class BlockCheck
    {
        None,        // nothing shown
        Fetching,    // the node is being asked for the proof
        Pending,     // the worker is checking the proof
        Proven,      // InclusionProof::verify passed: in blockHeight(), signed by blockSigner()
        NotSealed,   // the node holds the decision in no block yet
        NotSealable, // UNDETERMINED: only decided write-offs are sealed
        Invalid,     // the proof does not hold; blockStatus() names why
        Unavailable, // no proof cached and none could be fetched; blockStatus() says why
        Unchecked    // a proof, but no membership to check it against
    };
    Q_ENUM(BlockCheck)

    explicit DecisionDetailPane(QWidget *parent = nullptr);
    ~DecisionDetailPane() override;

    // summary: the `decision` reply's summary or a decision_made event (docs/api.md), or a
    // cache row in that shape; `node` (or `source_node`) names where it came from and
    // `height` the block holding it. confirmations: canonical StateConfirmation bytes, every
    // one received for this write-off (the certificate's own are added to them).
    // proof: the compact InclusionProof JSON (as the cache keeps it and the `decisions` reply
    // carries it), checked against certificateBytes; empty when none is at hand.
    void showDecision(const QJsonObject &summary, const QByteArray &certificateBytes,
                      const QList<QByteArray> &confirmations, std::shared_ptr<const Membership> membership,
                      const QByteArray &proof = {});
    // While the decision shown has no proof: node is being asked for it.
    void showBlockFetching(const QString &node);
    // While digest is shown without a proof: why there is none (NotSealed or Unavailable).
    void showBlockUnproven(const QString &digestHex, BlockCheck why, const QString &reason);
    void clear();

    QString currentDigest() const { return digest; }
    bool isVerifying() const { return check == CertificateCheck::Pending; }
    CertificateCheck certificateCheck() const { return check; }
    // "Certificate verified locally: valid", or the exact failure.
    QString certificateStatus() const;
    BlockCheck blockCheck() const { return block; }
    // "In block 17, signed by the coordinator coordinator-1: …", or why not.
    QString blockStatus() const;
    quint64 blockHeight() const { return provenHeight; }
    QString blockSigner() const { return provenSigner; }
    QStandardItemModel *votesModel() const { return votes; }
    // The value shown for a header field: ticket, version, branch, amount, outcome, state,
    // count, quorum, time, height, source, digest.
    QString headerValue(const QString &field) const;

Q_SIGNALS:
    void verificationFinished(const QString &digest, bool certificateValid, const QString &status);
    // The block line settled (anything but Fetching or Pending).
    void blockCheckFinished(const QString &digest, ticketsync::DecisionDetailPane::BlockCheck check,
                            const QString &status);

protected:
    void changeEvent(QEvent *event) override;

public:
    // What the worker computed (public only so the worker lambda can build it).
    struct VoteRow
    {
        QString target;
        QString state; // name; empty for "no vote"
        QString reason;
        bool hasVote = false;
        bool signatureValid = false;
        QString problem;
        bool inCertificate = false;
    };
    struct Result
    {
        quint64 generation = 0;
        QString digest;
        QList<VoteRow> rows;
        CertificateCheck check = CertificateCheck::None;
        QString certificateProblem;
        QJsonObject decoded;                 // header fields recovered from the certificate itself
        BlockCheck block = BlockCheck::None; // None: no proof was given
        QString blockProblem;
        quint64 blockHeight = 0;
        QString blockSigner;
    };

private:
    void applyResult(const Result &result);
    void setHeader(const QJsonObject &summary);
    void showPendingRows();
    void updateCertificateLabel();
    void updateBlockLabel();
    void setBlock(BlockCheck check, const QString &reason);
    void retranslate();

    QLabel *title;
    QList<QPair<QString, QLabel *>> fields; // field key -> value label
    QList<QLabel *> fieldNames;
    QLabel *certificateLabel;
    QLabel *blockLabel;
    QProgressBar *busy;
    QStandardItemModel *votes;
    QTableView *votesView;

    QString digest;
    QJsonObject shownSummary;
    std::shared_ptr<const Membership> shownMembership;
    CertificateCheck check = CertificateCheck::None;
    QString certificateProblem;
    BlockCheck block = BlockCheck::None;
    QString blockProblem; // Invalid: what failed; NotSealed/Unavailable: why there is none
    QString blockNode;    // Fetching: whom the pane waits for
    quint64 provenHeight = 0;
    QString provenSigner;
    qint64 claimedHeight = 0; // the summary's height, to compare with the proof's
    quint64 generation = 0;
    // The newest request; a worker skips a job that is no longer wanted.
    std::shared_ptr<std::atomic<quint64>> latest;
};

} // namespace ticketsync
