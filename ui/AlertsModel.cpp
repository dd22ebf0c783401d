#include "AlertsModel.h"

#include <QColor>
#include <QDateTime>
#include <QFont>
#include <QLocale>
#include <QLoggingCategory>

#include <algorithm>

Q_LOGGING_CATEGORY(lcAlertsModel, "ticketsync.ui.alerts", QtWarningMsg)

namespace ticketsync {

namespace {

QString timeText(qint64 ms)
{
    return QLocale().toString(QDateTime::fromMSecsSinceEpoch(ms), QLocale::ShortFormat);
}

AlertTrailEntry trailEntry(qint64 alertId, qint64 atMs, const QString &who, const QString &action,
                           const QString &note)
{
    AlertTrailEntry entry;
    entry.alertId = alertId;
    entry.atMs = atMs;
    entry.who = who;
    entry.action = action;
    entry.note = note;
    return entry;
}

AlertsModel::Alert fromRow(const AlertRow &row)
{
    AlertsModel::Alert alert;
    alert.id = row.id;
    alert.kind = row.kind;
    alert.subject = row.subject;
    alert.detail = row.detail;
    alert.raisedAtMs = row.raisedAtMs;
    alert.lastRaisedAtMs = row.raisedAtMs;
    alert.acknowledgedBy = row.acknowledgedBy;
    alert.acknowledgedAtMs = row.acknowledgedAtMs;
    return alert;
}

} // namespace

AlertsModel::AlertsModel(QObject *parent) : QAbstractTableModel(parent) {}

QStringList AlertsModel::kinds()
{
    return {QStringLiteral("undetermined"),
            QStringLiteral("receiver_lagging"),
            QStringLiteral("equivocation"),
            QStringLiteral("stale_data"),
            QStringLiteral("gap"),
            QStringLiteral("journal_behind"),
            QStringLiteral("malformed_events")};
}

QString AlertsModel::kindText(const QString &kind)
{
    if (kind == QLatin1String("undetermined"))
        //: Alert kind: a write-off (核销) whose tally ended UNDETERMINED.
        return tr("Undetermined write-off");
    if (kind == QLatin1String("receiver_lagging"))
        //: Alert kind: a receiver node (接收方节点) behind the coordinator.
        return tr("Receiver lagging");
    if (kind == QLatin1String("equivocation"))
        //: Alert kind: a target signed two different states for one write-off.
        return tr("Equivocation");
    if (kind == QLatin1String("stale_data"))
        return tr("Stale data");
    if (kind == QLatin1String("gap"))
        //: Alert kind: events the console could not fetch from a node.
        return tr("Event gap");
    if (kind == QLatin1String("journal_behind"))
        //: Alert kind: a node holds fewer events than the console has already stored from it.
        return tr("Event journal replaced");
    if (kind == QLatin1String("malformed_events"))
        //: Alert kind: events from a node the console could not read.
        return tr("Malformed events");
    return kind;
}

QString AlertsModel::key(const QString &kind, const QString &subject)
{
    return kind + QChar(u'\x1f') + subject;
}

int AlertsModel::rowOf(const QString &kind, const QString &subject) const
{
    return rowByKey.value(key(kind, subject), -1);
}

const AlertsModel::Alert *AlertsModel::alertAt(int row) const
{
    return row >= 0 && row < rows.size() ? &rows.at(row) : nullptr;
}

void AlertsModel::recountUnacknowledged()
{
    int count = 0;
    for (const Alert &alert : std::as_const(rows))
        count += alert.isAcknowledged() ? 0 : 1;
    if (count == unacknowledged)
        return;
    unacknowledged = count;
    Q_EMIT unacknowledgedCountChanged(count);
}

int AlertsModel::rowOfId(qint64 id) const
{
    if (id <= 0)
        return -1;
    for (int row = 0; row < rows.size(); ++row) {
        if (rows.at(row).id == id)
            return row;
    }
    return -1;
}

int AlertsModel::raise(const QString &kind, const QString &subject, const QString &detail, qint64 raisedAtMs)
{
    AlertRow row;
    row.kind = kind;
    row.subject = subject;
    row.detail = detail;
    row.raisedAtMs = raisedAtMs;
    return raise(row);
}

int AlertsModel::raise(const AlertRow &raised)
{
    if (raised.kind.isEmpty() || raised.subject.isEmpty()) {
        qCWarning(lcAlertsModel) << "ignoring an alert without kind or subject:" << raised.kind
                                 << raised.subject;
        return -1;
    }
    if (!kinds().contains(raised.kind))
        qCInfo(lcAlertsModel) << "alert of an unlisted kind" << raised.kind;
    const int existing = rowOf(raised.kind, raised.subject);
    if (existing >= 0) {
        Alert &alert = rows[existing];
        alert.detail = raised.detail;
        alert.lastRaisedAtMs = std::max(alert.lastRaisedAtMs, raised.raisedAtMs);
        if (raised.id > 0)
            alert.id = raised.id;
        ++alert.occurrences;
        if (alert.isAcknowledged()) {
            // The condition is back after someone acknowledged it: open again, as the cache does.
            alert.acknowledgedBy.clear();
            alert.acknowledgedAtMs = 0;
            alert.note.clear();
            alert.resolved = false;
            alert.raisedAtMs = raised.raisedAtMs;
            alert.trail.append(trailEntry(alert.id, raised.raisedAtMs, QString(), QStringLiteral("raised"),
                                          tr("raised again after it was acknowledged")));
        }
        Q_EMIT dataChanged(index(existing, 0), index(existing, ColumnCount - 1));
        recountUnacknowledged();
        return existing;
    }
    Alert alert = fromRow(raised);
    alert.acknowledgedBy.clear();
    alert.acknowledgedAtMs = 0;
    alert.trail.append(
        trailEntry(alert.id, raised.raisedAtMs, QString(), QStringLiteral("raised"), QString()));
    const int row = int(rows.size());
    beginInsertRows(QModelIndex(), row, row);
    rows.append(alert);
    rowByKey.insert(key(alert.kind, alert.subject), row);
    endInsertRows();
    recountUnacknowledged();
    Q_EMIT alertRaised(alert.kind, alert.subject, alert.detail, alert.raisedAtMs);
    trim();
    return rowOf(alert.kind, alert.subject);
}

bool AlertsModel::acknowledge(int row, const QString &who, const QString &note, qint64 atMs)
{
    if (row < 0 || row >= rows.size() || rows.at(row).isAcknowledged())
        return false;
    Alert &alert = rows[row];
    alert.acknowledgedBy = who;
    alert.acknowledgedAtMs = atMs > 0 ? atMs : QDateTime::currentMSecsSinceEpoch();
    alert.note = note;
    alert.trail.append(
        trailEntry(alert.id, alert.acknowledgedAtMs, who, QStringLiteral("acknowledged"), note));
    Q_EMIT dataChanged(index(row, 0), index(row, ColumnCount - 1));
    recountUnacknowledged();
    return true;
}

bool AlertsModel::resolve(const AlertRow &closed, const AlertTrailEntry &entry)
{
    int row = rowOfId(closed.id);
    if (row < 0)
        row = rowOf(closed.kind, closed.subject);
    if (row < 0) {
        qCInfo(lcAlertsModel) << "resolved alert not listed:" << closed.id << closed.kind << closed.subject;
        return false;
    }
    Alert &alert = rows[row];
    if (closed.id > 0)
        alert.id = closed.id;
    alert.acknowledgedBy = entry.who.isEmpty() ? closed.acknowledgedBy : entry.who;
    if (alert.acknowledgedBy.isEmpty())
        alert.acknowledgedBy = QStringLiteral("console");
    alert.acknowledgedAtMs = std::max<qint64>(1, entry.atMs > 0 ? entry.atMs : closed.acknowledgedAtMs);
    alert.note = entry.note;
    alert.resolved = true;
    AlertTrailEntry stored = entry;
    stored.alertId = alert.id;
    stored.atMs = alert.acknowledgedAtMs;
    stored.who = alert.acknowledgedBy;
    stored.action = QStringLiteral("resolved");
    alert.trail.append(stored);
    Q_EMIT dataChanged(index(row, 0), index(row, ColumnCount - 1));
    recountUnacknowledged();
    return true;
}

void AlertsModel::setAlerts(const QList<AlertRow> &alerts)
{
    QList<Alert> converted;
    converted.reserve(alerts.size());
    for (const AlertRow &row : alerts)
        converted.append(fromRow(row));
    setAlerts(converted);
}

void AlertsModel::setAlerts(const QList<Alert> &alerts)
{
    beginResetModel();
    rows.clear();
    rowByKey.clear();
    for (const Alert &alert : alerts) {
        if (alert.kind.isEmpty() || alert.subject.isEmpty() ||
            rowByKey.contains(key(alert.kind, alert.subject)))
            continue;
        rowByKey.insert(key(alert.kind, alert.subject), int(rows.size()));
        rows.append(alert);
        if (rows.last().lastRaisedAtMs == 0)
            rows.last().lastRaisedAtMs = alert.raisedAtMs;
    }
    endResetModel();
    recountUnacknowledged();
    trim();
}

bool AlertsModel::setTrail(const QString &kind, const QString &subject, const QList<AlertTrailEntry> &trail)
{
    const int row = rowOf(kind, subject);
    if (row < 0)
        return false;
    replayTrail(rows[row], trail);
    Q_EMIT dataChanged(index(row, 0), index(row, ColumnCount - 1));
    recountUnacknowledged();
    return true;
}

void AlertsModel::setTrail(const QList<AlertTrailEntry> &wholeTrail)
{
    QHash<qint64, QList<AlertTrailEntry>> byAlert;
    for (const AlertTrailEntry &entry : wholeTrail)
        byAlert[entry.alertId].append(entry);
    // One pass and one signal: the whole trail comes at startup, for up to maximumAlerts alerts.
    int first = int(rows.size()), last = -1;
    for (int row = 0; row < rows.size(); ++row) {
        const auto found = byAlert.constFind(rows.at(row).id);
        if (rows.at(row).id <= 0 || found == byAlert.cend())
            continue;
        replayTrail(rows[row], found.value());
        first = std::min(first, row);
        last = row;
    }
    if (last < 0)
        return;
    Q_EMIT dataChanged(index(first, 0), index(last, ColumnCount - 1));
    recountUnacknowledged();
}

void AlertsModel::replayTrail(Alert &alert, const QList<AlertTrailEntry> &trail)
{
    alert.trail = trail;
    // Replay the trail: an acknowledgement or a resolution closes the alert, a later raise
    // re-opens it. A trail without either leaves the alert's own state alone.
    const auto closes = [](const AlertTrailEntry &e) {
        return e.action == QLatin1String("acknowledged") || e.action == QLatin1String("resolved");
    };
    if (std::none_of(trail.cbegin(), trail.cend(), closes))
        return;
    alert.acknowledgedBy.clear();
    alert.acknowledgedAtMs = 0;
    alert.note.clear();
    alert.resolved = false;
    for (const AlertTrailEntry &entry : trail) {
        if (closes(entry)) {
            alert.acknowledgedBy = entry.who.isEmpty() ? tr("unknown") : entry.who;
            alert.acknowledgedAtMs = std::max<qint64>(1, entry.atMs);
            alert.note = entry.note;
            alert.resolved = entry.action == QLatin1String("resolved");
        } else if (entry.action == QLatin1String("raised") && alert.isAcknowledged()) {
            alert.acknowledgedBy.clear();
            alert.acknowledgedAtMs = 0;
            alert.note.clear();
            alert.resolved = false;
            alert.raisedAtMs = entry.atMs;
        }
    }
}

void AlertsModel::clear()
{
    beginResetModel();
    rows.clear();
    rowByKey.clear();
    endResetModel();
    recountUnacknowledged();
}

void AlertsModel::setMaximumAlerts(int maximum)
{
    maximumAlerts = std::max(1, maximum);
    trim();
}

void AlertsModel::trim()
{
    // Only acknowledged alerts are dropped: an open one is never lost.
    int row = 0;
    bool removed = false;
    while (rows.size() > maximumAlerts && row < rows.size()) {
        if (!rows.at(row).isAcknowledged()) {
            ++row;
            continue;
        }
        beginRemoveRows(QModelIndex(), row, row);
        rows.removeAt(row);
        removed = true;
        // Keep rowByKey consistent before anyone can look it up again.
        rowByKey.clear();
        for (int i = 0; i < rows.size(); ++i)
            rowByKey.insert(key(rows.at(i).kind, rows.at(i).subject), i);
        endRemoveRows();
    }
    if (removed)
        recountUnacknowledged();
}

QString AlertsModel::tooltip(const Alert &alert) const
{
    QStringList lines;
    lines.append(QStringLiteral("%1: %2").arg(kindText(alert.kind), alert.subject));
    if (!alert.detail.isEmpty())
        lines.append(alert.detail);
    if (alert.occurrences > 1)
        lines.append(
            tr("Raised %n times, last at %1", "", alert.occurrences).arg(timeText(alert.lastRaisedAtMs)));
    for (const AlertTrailEntry &entry : alert.trail) {
        const QString who = entry.who.isEmpty() ? tr("the console") : entry.who;
        QString line;
        if (entry.action == QLatin1String("raised"))
            line = tr("%1: raised by %2").arg(timeText(entry.atMs), who);
        else if (entry.action == QLatin1String("acknowledged"))
            line = tr("%1: acknowledged by %2").arg(timeText(entry.atMs), who);
        else if (entry.action == QLatin1String("resolved"))
            //: Trail line of an alert the console closed by itself, e.g. a write-off decided after a retry.
            line = tr("%1: resolved by %2").arg(timeText(entry.atMs), who);
        else
            line = tr("%1: %2 by %3").arg(timeText(entry.atMs), entry.action, who);
        if (!entry.note.isEmpty())
            line += QStringLiteral(" \u2014 ") + entry.note;
        lines.append(line);
    }
    return lines.join(QLatin1Char('\n'));
}

int AlertsModel::rowCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : int(rows.size());
}

int AlertsModel::columnCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : ColumnCount;
}

QVariant AlertsModel::data(const QModelIndex &index, int role) const
{
    if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid))
        return {};
    const Alert &alert = rows.at(index.row());
    switch (role) {
    case Qt::DisplayRole:
        switch (index.column()) {
        case KindColumn:
            return kindText(alert.kind);
        case SubjectColumn:
            return alert.subject;
        case DetailColumn:
            return alert.occurrences > 1 ? tr("%1 (\u00d7%2)").arg(alert.detail).arg(alert.occurrences)
                                         : alert.detail;
        case RaisedColumn:
            return timeText(alert.raisedAtMs);
        case AcknowledgedColumn:
            if (!alert.isAcknowledged())
                return QString();
            if (alert.resolved)
                //: An alert the console closed by itself (e.g. a write-off decided after a retry), and when.
                return tr("Resolved, %1").arg(timeText(alert.acknowledgedAtMs));
            //: Who acknowledged an alert, and when.
            return tr("%1, %2").arg(alert.acknowledgedBy, timeText(alert.acknowledgedAtMs));
        }
        break;
    case Qt::ToolTipRole:
        return tooltip(alert);
    case Qt::FontRole:
        if (!alert.isAcknowledged()) {
            QFont font;
            font.setBold(true);
            return font;
        }
        break;
    case Qt::ForegroundRole:
        if (alert.isAcknowledged())
            return QColor(0x75, 0x75, 0x75);
        if (index.column() == KindColumn && alert.kind == QLatin1String("equivocation"))
            return QColor(0xc6, 0x28, 0x28);
        break;
    case KindRole:
        return alert.kind;
    case SubjectRole:
        return alert.subject;
    case AcknowledgedRole:
        return alert.isAcknowledged();
    case ResolvedRole:
        return alert.resolved;
    case RaisedAtRole:
        return alert.raisedAtMs;
    case SortRole:
        switch (index.column()) {
        case KindColumn:
            return alert.kind;
        case SubjectColumn:
            return alert.subject;
        case DetailColumn:
            return alert.detail;
        case RaisedColumn:
            return alert.raisedAtMs;
        case AcknowledgedColumn:
            return alert.acknowledgedAtMs;
        }
        break;
    default:
        break;
    }
    return {};
}

QVariant AlertsModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole)
        return QAbstractTableModel::headerData(section, orientation, role);
    switch (section) {
    case KindColumn:
        return tr("Alert");
    case SubjectColumn:
        return tr("Subject");
    case DetailColumn:
        return tr("Detail");
    case RaisedColumn:
        return tr("Raised");
    case AcknowledgedColumn:
        return tr("Acknowledged");
    default:
        return {};
    }
}

} // namespace ticketsync
