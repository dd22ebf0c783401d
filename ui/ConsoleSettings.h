#pragma once

#include <QByteArray>
#include <QObject>
#include <QSettings>
#include <QString>
#include <QVariant>
#include <concepts>
#include <memory>

namespace ticketsync {

// Every console setting with its type and default in one place. QSettings writes its file
// through a temporary file and a rename, so a crash never leaves a half-written file.
// valueChanged() lets the window apply a changed threshold at once, not at the next start.
class ConsoleSettings : public QObject
{
    Q_OBJECT

public:
    template<typename T> struct Key
    {
        const char *name;
        T fallback;
    };
    // A number that is only meaningful within [minimum, maximum]. A stored value outside it, or
    // not a number at all (a hand-edited file), reads as the fallback, with a warning.
    template<std::integral T> struct BoundedKey
    {
        const char *name;
        T fallback;
        T minimum;
        T maximum;
    };

    static inline const Key<QString> Language{"ui/language", QStringLiteral("en")};
    static inline const Key<QString> CachePath{"cache/path", QString()}; // empty: the default location
    // The event source silent this long: its node row turns stale and a stale_data alert is
    // raised. The status poll runs every 2 s, so less than 3 s would call a healthy link stale.
    static inline const BoundedKey<int> StaleAfterSeconds{"alerts/staleAfterSeconds", 10, 3, 86400};
    // A receiver's report this old is shown stale in the Receivers view. Longer than the event
    // source's: the coordinator reports a receiver when its status changes, not on a clock.
    static inline const BoundedKey<int> ReceiversStaleAfterSeconds{"receivers/staleAfterSeconds", 30, 5,
                                                                   86400};
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
        Q_EMIT valueChanged(QLatin1String(key.name));
    }
    template<std::integral T> T value(const BoundedKey<T> &key) const
    {
        const QVariant stored = store->value(QLatin1String(key.name));
        if (!stored.isValid())
            return key.fallback;
        // Compared in 64 bits before narrowing, so 4294967306 is not taken for 10.
        bool ok = false;
        const qlonglong number = stored.toLongLong(&ok);
        if (ok && number >= qlonglong(key.minimum) && number <= qlonglong(key.maximum))
            return T(number);
        warnOutOfRange(key.name, stored, qlonglong(key.minimum), qlonglong(key.maximum),
                       qlonglong(key.fallback));
        return key.fallback;
    }
    // False (and nothing stored) for a value outside the key's range.
    template<std::integral T> bool setValue(const BoundedKey<T> &key, T value)
    {
        if (value < key.minimum || value > key.maximum) {
            warnRefused(key.name, qlonglong(value), qlonglong(key.minimum), qlonglong(key.maximum));
            return false;
        }
        store->setValue(QLatin1String(key.name), QVariant::fromValue(value));
        Q_EMIT valueChanged(QLatin1String(key.name));
        return true;
    }
    void sync() { store->sync(); }
    QSettings &raw() { return *store; }

    // The history cache of a network (NetworkIdentity::shortId()): the CachePath setting if
    // set, else networks/<network>/history-cache.sqlite in the application's data directory, so
    // two networks never share one. Without a network, the directory's history-cache.sqlite:
    // the single cache of earlier consoles, which the first network asking for its own takes
    // over (moved, not copied).
    QString cachePath(const QString &network = QString()) const;

Q_SIGNALS:
    // A key was set through this object (its name, as in the file).
    void valueChanged(const QString &key);

private:
    static void warnOutOfRange(const char *key, const QVariant &value, qlonglong minimum, qlonglong maximum,
                               qlonglong fallback);
    static void warnRefused(const char *key, qlonglong value, qlonglong minimum, qlonglong maximum);

    std::unique_ptr<QSettings> owned;
    QSettings *store;
};

} // namespace ticketsync
