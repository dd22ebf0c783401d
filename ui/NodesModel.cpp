#include "NodesModel.h"

#include <QBrush>
#include <QColor>
#include <QDateTime>

namespace ticketsync {

NodesModel::NodesModel(QObject *parent) : QAbstractTableModel(parent)
{
    // Only the freshness column changes with time.
    connect(&ageTimer, &QTimer::timeout, this, [this] {
        if (!rows.isEmpty())
            Q_EMIT dataChanged(index(0, Freshness), index(int(rows.size()) - 1, Freshness));
    });
    ageTimer.start(1000);
}

QString NodesModel::age(qint64 ms)
{
    if (ms < 0)
        return QString();
    if (ms < 60000)
        return tr("%1 s").arg(ms / 1000);
    if (ms < 3600000)
        return tr("%1 min").arg(ms / 60000);
    return tr("%1 h").arg(ms / 3600000);
}

void NodesModel::update(const NodeLinkState &state)
{
    for (int row = 0; row < rows.size(); ++row) {
        if (rows.at(row).nodeId == state.nodeId) {
            rows[row] = state;
            Q_EMIT dataChanged(index(row, 0), index(row, ColumnCount - 1));
            return;
        }
    }
    beginInsertRows({}, int(rows.size()), int(rows.size()));
    rows.append(state);
    endInsertRows();
}

bool NodesModel::isStale(int row) const
{
    const NodeLinkState &state = rows.at(row);
    return !state.connected || state.lastContactMs == 0 ||
           QDateTime::currentMSecsSinceEpoch() - state.lastContactMs > staleAfterMs;
}

int NodesModel::rowCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : int(rows.size());
}

int NodesModel::columnCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : ColumnCount;
}

QVariant NodesModel::data(const QModelIndex &index, int role) const
{
    if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid))
        return {};
    const NodeLinkState &state = rows.at(index.row());
    if (role == Qt::DisplayRole) {
        switch (index.column()) {
        case Node:
            return state.nodeId;
        case State:
            return state.connected ? tr("Connected") : tr("Disconnected");
        case Role:
            return state.role;
        case Tls:
            return state.tls;
        case Height:
            return qulonglong(state.height);
        case LastSeq:
            return state.lastSeq;
        case Freshness:
            return state.lastContactMs
                       ? tr("%1 ago").arg(age(QDateTime::currentMSecsSinceEpoch() - state.lastContactMs))
                       : tr("never");
        case Error:
            return state.lastError;
        }
    } else if (role == Qt::ForegroundRole && index.column() == State) {
        return QBrush(state.connected ? QColor(0x1b, 0x7f, 0x3b) : QColor(0xb0, 0x1e, 0x1e));
    } else if (role == Qt::ForegroundRole && index.column() == Freshness && isStale(index.row())) {
        return QBrush(QColor(0xb0, 0x1e, 0x1e));
    } else if (role == Qt::ToolTipRole) {
        return tr("%1 at %2").arg(state.nodeId, state.address);
    }
    return {};
}

QVariant NodesModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole)
        return {};
    switch (section) {
    case Node:
        return tr("Node");
    case State:
        return tr("Connection");
    case Role:
        return tr("Our role");
    case Tls:
        return tr("TLS");
    case Height:
        return tr("Height");
    case LastSeq:
        return tr("Last event");
    case Freshness:
        return tr("Last heard");
    case Error:
        return tr("Last error");
    }
    return {};
}

} // namespace ticketsync
