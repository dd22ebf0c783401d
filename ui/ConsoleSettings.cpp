#include "ConsoleSettings.h"

#include <QDir>
#include <QStandardPaths>

namespace ticketsync {

ConsoleSettings::ConsoleSettings(QSettings *settings)
    : owned(settings ? nullptr : new QSettings), store(settings ? settings : owned.get())
{}

QString ConsoleSettings::cachePath() const
{
    const QString configured = value(CachePath);
    if (!configured.isEmpty())
        return configured;
    const QString dir = QStandardPaths::writableLocation(QStandardPaths::AppDataLocation);
    QDir().mkpath(dir);
    return QDir(dir).filePath(QStringLiteral("history-cache.sqlite"));
}

} // namespace ticketsync
