#pragma once

#include "ConsoleSession.h"

#include <QAbstractTableModel>
#include <QTimer>

namespace ticketsync {

// The console's connections: one row per node with its TLS session, the role it grants this
// console, its height and how fresh that is.
class NodesModel : public QAbstractTableModel
{
    Q_OBJECT

public:
    enum Column
    {
        Node,
        State,
        Role,
        Tls,
        Height,
        LastSeq,
        Freshness,
        Error,
        ColumnCount
    };

    explicit NodesModel(QObject *parent = nullptr);

    void update(const NodeLinkState &state);
    void setStaleAfterSeconds(int seconds) { staleAfterMs = qint64(seconds) * 1000; }
    bool isStale(int row) const;

    int rowCount(const QModelIndex &parent = {}) const override;
    int columnCount(const QModelIndex &parent = {}) const override;
    QVariant data(const QModelIndex &index, int role) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role) const override;

    static QString age(qint64 ms); // "2 s", "3 min", "1 h"

private:
    QList<NodeLinkState> rows;
    QTimer ageTimer;
    qint64 staleAfterMs = 10000;
};

} // namespace ticketsync
