#pragma once

#include "HistoryCache.h"

#include <QAbstractTableModel>
#include <QHash>
#include <QList>
#include <QStringList>

namespace ticketsync {

// Alerts, one per (kind, subject), as the history cache keeps them (AlertRow and its
// AlertTrailEntry list, ui/HistoryCache.h). Raising an open alert again updates its detail and
// count; raising an acknowledged one re-opens it, as the cache does. Acknowledgements are kept
// with who, when and a note. An alert the cache closed by itself (an 'undetermined' write-off
// decided after a retry) is resolved: closed like an acknowledged one, and kept for the audit.
class AlertsModel : public QAbstractTableModel
{
    Q_OBJECT

public:
    struct Alert
    {
        qint64 id = 0; // the cache's alerts.id, when known; 0 otherwise
        QString kind;  // undetermined, receiver_lagging, equivocation, stale_data, gap
        QString subject;
        QString detail;
        qint64 raisedAtMs = 0;
        qint64 lastRaisedAtMs = 0;
        int occurrences = 1;
        QString acknowledgedBy;
        qint64 acknowledgedAtMs = 0;
        QString note;
        bool resolved = false; // closed by the console itself, not by an operator
        QList<AlertTrailEntry> trail;

        // Closed: acknowledged by an operator, or resolved.
        bool isAcknowledged() const { return !acknowledgedBy.isEmpty() || acknowledgedAtMs > 0; }
    };

    enum Column
    {
        KindColumn,
        SubjectColumn,
        DetailColumn,
        RaisedColumn,
        AcknowledgedColumn,
        ColumnCount
    };

    enum Role
    {
        KindRole = Qt::UserRole + 1, // QString: the kind as raised, e.g. receiver_lagging
        SubjectRole,                 // QString
        AcknowledgedRole,            // bool: closed (acknowledged or resolved)
        RaisedAtRole,                // qint64: first raised, ms since epoch
        SortRole,                    // the raw value to sort by
        ResolvedRole,                // bool: closed by the console itself (see resolve())
    };

    explicit AlertsModel(QObject *parent = nullptr);

    static QStringList kinds();
    static QString kindText(const QString &kind);

    // Returns the alert's row, or -1 if kind or subject is empty.
    int raise(const QString &kind, const QString &subject, const QString &detail, qint64 raisedAtMs);
    // The same for an alert the cache raised (IngestReport::alerts), keeping its id.
    int raise(const AlertRow &row);
    // False if the row does not exist or is already acknowledged.
    bool acknowledge(int row, const QString &who, const QString &note, qint64 atMs = 0);
    // An alert the cache closed by itself (CacheWorker::alertResolved): the cache's word wins,
    // so a local acknowledgement the cache has not stored yet (and will refuse) is replaced.
    // The entry joins the trail. False if the model does not hold the alert.
    bool resolve(const AlertRow &closed, const AlertTrailEntry &entry);
    // Replaces every alert, e.g. with HistoryCache::alerts() at startup.
    void setAlerts(const QList<AlertRow> &alerts);
    void setAlerts(const QList<Alert> &alerts);
    // The trail of one alert, as loaded from the cache; the latest acknowledgement in it
    // becomes the alert's acknowledgement.
    bool setTrail(const QString &kind, const QString &subject, const QList<AlertTrailEntry> &trail);
    // HistoryCache::alertTrail(0): the whole trail, spread over the alerts by alertId.
    void setTrail(const QList<AlertTrailEntry> &wholeTrail);
    void clear();

    // The oldest acknowledged alerts are dropped past this many.
    void setMaximumAlerts(int maximum);

    int unacknowledgedCount() const { return unacknowledged; }
    int rowOf(const QString &kind, const QString &subject) const;
    int rowOfId(qint64 id) const;
    const Alert *alertAt(int row) const;

    int rowCount(const QModelIndex &parent = QModelIndex()) const override;
    int columnCount(const QModelIndex &parent = QModelIndex()) const override;
    QVariant data(const QModelIndex &index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;

Q_SIGNALS:
    void unacknowledgedCountChanged(int count);
    // A new (kind, subject) alert, for notifications and persistence.
    void alertRaised(const QString &kind, const QString &subject, const QString &detail, qint64 raisedAtMs);

private:
    static QString key(const QString &kind, const QString &subject);
    void recountUnacknowledged();
    void replayTrail(Alert &alert, const QList<AlertTrailEntry> &trail);
    void trim();
    QString tooltip(const Alert &alert) const;

    QList<Alert> rows;
    QHash<QString, int> rowByKey;
    int unacknowledged = 0;
    int maximumAlerts = 10000;
};

} // namespace ticketsync
