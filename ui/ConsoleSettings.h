#pragma once

#include <QByteArray>
#include <QSettings>
#include <QString>
#include <QVariant>

namespace ticketsync {

// Every console setting with its type and default in one place. QSettings writes its file
// through a temporary file and a rename, so a crash never leaves a half-written file.
class ConsoleSettings
{
public:
    template<typename T> struct Key
    {
        const char *name;
        T fallback;
    };

    static inline const Key<QString> Language{"ui/language", QStringLiteral("en")};
    static inline const Key<QString> CachePath{"cache/path", QString()}; // empty: the default location
    static inline const Key<int> StaleAfterSeconds{"alerts/staleAfterSeconds", 10};
    static inline const Key<int> LagAlertBlocks{"alerts/lagBlocks", 5};
    static inline const Key<bool> FollowNewest{"feed/followNewest", true};
    static inline const Key<QByteArray> Geometry{"window/geometry", QByteArray()};
    static inline const Key<QByteArray> WindowState{"window/state", QByteArray()};
    static inline const Key<QByteArray> DecisionsSplitter{"window/decisionsSplitter", QByteArray()};
    static inline const Key<int> CurrentTab{"window/currentTab", 0};
    static inline const Key<QString> LastExportDir{"export/lastDir", QString()};
    // The network connected to last (paths only, never a password): a console started without
    // arguments, as from the desktop menu, connects to it again.
    static inline const Key<QString> ConnectionMembership{"connection/membership", QString()};
    static inline const Key<QString> ConnectionCertificate{"connection/certificate", QString()};
    static inline const Key<QString> ConnectionKey{"connection/key", QString()}; // empty with PKCS#12
    static inline const Key<QString> ConnectionCa{"connection/ca", QString()};

    explicit ConsoleSettings(QSettings *settings = nullptr);

    template<typename T> T value(const Key<T> &key) const
    {
        return store->value(QLatin1String(key.name), QVariant::fromValue(key.fallback)).template value<T>();
    }
    template<typename T> void setValue(const Key<T> &key, const T &value)
    {
        store->setValue(QLatin1String(key.name), QVariant::fromValue(value));
    }
    void sync() { store->sync(); }
    QSettings &raw() { return *store; }

    // The history cache of a network (NetworkIdentity::shortId()): the CachePath setting if
    // set, else networks/<network>/history-cache.sqlite in the application's data directory, so
    // two networks never share one. Without a network, the directory's history-cache.sqlite:
    // the single cache of earlier consoles, which the first network asking for its own takes
    // over (moved, not copied).
    QString cachePath(const QString &network = QString()) const;

private:
    std::unique_ptr<QSettings> owned;
    QSettings *store;
};

} // namespace ticketsync
