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
// vote's signature check, and the quorum certificate verified locally through core. The
// signature checks run on a worker thread; a result is applied only if the pane still shows
// the decision it was computed for.
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

    explicit DecisionDetailPane(QWidget *parent = nullptr);
    ~DecisionDetailPane() override;

    // summary: the `decision` reply's summary or a decision_made event (docs/api.md), or a
    // cache row in that shape; `node` (or `source_node`) names where it came from and
    // `height` the block holding it. confirmations: canonical StateConfirmation bytes, every
    // one received for this write-off (the certificate's own are added to them).
    void showDecision(const QJsonObject &summary, const QByteArray &certificateBytes,
                      const QList<QByteArray> &confirmations, std::shared_ptr<const Membership> membership);
    void clear();

    QString currentDigest() const { return digest; }
    bool isVerifying() const { return check == CertificateCheck::Pending; }
    CertificateCheck certificateCheck() const { return check; }
    // "Certificate verified locally: valid", or the exact failure.
    QString certificateStatus() const;
    QStandardItemModel *votesModel() const { return votes; }
    // The value shown for a header field: ticket, version, branch, amount, outcome, state,
    // count, quorum, time, height, source, digest.
    QString headerValue(const QString &field) const;

Q_SIGNALS:
    void verificationFinished(const QString &digest, bool certificateValid, const QString &status);

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
        QJsonObject decoded; // header fields recovered from the certificate itself
    };

private:
    void applyResult(const Result &result);
    void setHeader(const QJsonObject &summary);
    void showPendingRows();
    void updateCertificateLabel();
    void retranslate();

    QLabel *title;
    QList<QPair<QString, QLabel *>> fields; // field key -> value label
    QList<QLabel *> fieldNames;
    QLabel *certificateLabel;
    QProgressBar *busy;
    QStandardItemModel *votes;
    QTableView *votesView;

    QString digest;
    QJsonObject shownSummary;
    std::shared_ptr<const Membership> shownMembership;
    CertificateCheck check = CertificateCheck::None;
    QString certificateProblem;
    quint64 generation = 0;
    // The newest request; a worker skips a job that is no longer wanted.
    std::shared_ptr<std::atomic<quint64>> latest;
};

} // namespace ticketsync
