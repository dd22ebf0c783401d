#include "ConsoleSettings.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QLoggingCategory>
#include <QStandardPaths>

Q_LOGGING_CATEGORY(lcSettings, "ticketsync.ui.settings", QtInfoMsg)

namespace ticketsync {

ConsoleSettings::ConsoleSettings(QSettings *settings)
    : owned(settings ? nullptr : new QSettings), store(settings ? settings : owned.get())
{}

void ConsoleSettings::warnOutOfRange(const char *key, const QVariant &value, qlonglong minimum,
                                     qlonglong maximum, qlonglong fallback)
{
    qCWarning(lcSettings).noquote() << "the setting" << key << "=" << value.toString()
                                    << "is not a number from" << minimum << "to" << maximum << "; using"
                                    << fallback;
}

void ConsoleSettings::warnRefused(const char *key, qlonglong value, qlonglong minimum, qlonglong maximum)
{
    qCWarning(lcSettings) << "not setting" << key << "to" << value << ": it must be from" << minimum << "to"
                          << maximum;
}

QString ConsoleSettings::cachePath(const QString &network) const
{
    const QString configured = value(CachePath);
    if (!configured.isEmpty())
        return configured;
    const QDir dir(QStandardPaths::writableLocation(QStandardPaths::AppDataLocation));
    const QString shared = dir.filePath(QStringLiteral("history-cache.sqlite"));
    if (network.isEmpty()) {
        dir.mkpath(QStringLiteral("."));
        return shared;
    }
    const QString own = dir.filePath(QStringLiteral("networks/%1/history-cache.sqlite").arg(network));
    QDir().mkpath(QFileInfo(own).absolutePath());
    if (!QFileInfo::exists(own) && QFileInfo::exists(shared)) {
        // The file, then its WAL and shared memory, so no committed page is left behind.
        bool moved = QFile::rename(shared, own);
        for (const char *suffix : {"-wal", "-shm"}) {
            if (moved && QFileInfo::exists(shared + QLatin1String(suffix)))
                moved = QFile::rename(shared + QLatin1String(suffix), own + QLatin1String(suffix));
        }
        if (moved)
            qCInfo(lcSettings) << "the history cache" << shared << "now belongs to network" << network << "as"
                               << own;
        else
            qCWarning(lcSettings) << "cannot move the history cache" << shared << "to" << own
                                  << "; the network starts a cache of its own";
    }
    return own;
}

} // namespace ticketsync
