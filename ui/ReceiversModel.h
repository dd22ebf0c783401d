#pragma once

#include "ConsoleSettings.h"
#include "HistoryCache.h"

#include <QAbstractTableModel>
#include <QJsonArray>
#include <QJsonObject>
#include <QList>
#include <QTimer>
#include <functional>

namespace ticketsync {

// The receivers (and other chain-storing nodes) as the coordinator reports them, each row
// with the node it came from and how old the report is. The age column refreshes once a
// second; a row older than the staleness threshold is flagged (StaleRole).
class ReceiversModel : public QAbstractTableModel
{
    Q_OBJECT

public:
    enum Column
    {
        ReceiverColumn,
        StatusColumn,
        AckedHeightColumn,
        LagBlocksColumn,
        LagTimeColumn,
        LastErrorColumn,
        LastContactColumn,
        SourceColumn,
        AsOfColumn,
        ColumnCount
    };

    enum Role
    {
        StaleRole = Qt::UserRole + 1, // bool: the report is older than the staleness threshold
        StatusRole,                   // QString: in_sync, lagging or unreachable, as the API says
        SortRole,                     // the raw value to sort by
        ReceiverRole,                 // QString: the receiver's id
        AsOfRole,                     // qint64: when the report was received (ms since epoch)
    };

    struct Receiver
    {
        QString receiver;
        QStringList roles;
        QString status; // in_sync, lagging, unreachable (or whatever a newer node says)
        qint64 ackedHeight = 0;
        qint64 headHeight = 0;
        qint64 lagBlocks = 0;
        qint64 lagMs = 0;
        QString lastError;
        qint64 lastContactMs = 0;
        QString sourceNode;
        qint64 asOfMs = 0;
    };

    explicit ReceiversModel(QObject *parent = nullptr);

    // The `receivers` array of one node's full reply: rows from that node not in it are removed.
    // An entry that cannot be read keeps its receiver's row as last known; a reply whose
    // `receivers` is no array changes nothing (false).
    bool setReceivers(const QString &node, const QJsonValue &receivers, qint64 asOfMs);
    // One receiver_status event. Returns false (and changes nothing) if it is malformed.
    bool applyStatus(const QString &node, const QJsonObject &receiverStatusEvent, qint64 asOfMs);
    // Rows as the history cache last stored them (HistoryCache::receivers()), each with its own
    // node and as-of time, for offline browsing and the first paint before the node answers.
    void setCachedReceivers(const QList<ReceiverRow> &cached);
    void clear();

    void setStalenessThresholdMs(qint64 ms);
    qint64 stalenessThresholdMs() const { return staleAfterMs; }
    // For tests: the clock the ages are measured against (default: the system clock).
    void setClock(std::function<qint64()> nowMs);
    // Recomputes the age column and staleness now (the timer does this every second).
    void refreshAges();

    const Receiver *receiverAt(int row) const;
    int rowOf(const QString &receiver) const;
    const QList<Receiver> &receivers() const { return rows; }

    // "1.5 s", "42 s", "3 min", "2 h 5 min", "3 d 4 h".
    static QString formatDuration(qint64 ms);
    // "just now", "2 s ago", "3 min ago".
    static QString formatAge(qint64 ms);
    static QString statusText(const QString &status);
    static QColor statusColour(const QString &status);

    int rowCount(const QModelIndex &parent = QModelIndex()) const override;
    int columnCount(const QModelIndex &parent = QModelIndex()) const override;
    QVariant data(const QModelIndex &index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;

Q_SIGNALS:
    // A row became stale or fresh again.
    void staleChanged(const QString &receiver, bool stale);

private:
    static bool parse(const QJsonObject &object, Receiver *out);
    void upsert(const Receiver &receiver);
    bool isStale(const Receiver &receiver) const;
    qint64 now() const;

    QList<Receiver> rows;
    QList<bool> staleFlags; // per row, as last announced
    // Until told otherwise: the window applies the setting, and again whenever it changes.
    qint64 staleAfterMs = qint64(ConsoleSettings::ReceiversStaleAfterSeconds.fallback) * 1000;
    std::function<qint64()> clock;
    QTimer ageTimer;
};

} // namespace ticketsync
