// `ticketsync devnet` on a directory it made before: a clean re-run continues the ledger, and once
// the nodes keep ledgers a missing or broken file the chain needs (the membership, a signing key,
// the CA) or other options stop the run with exit 2, one line naming the file or the difference,
// and not one byte of the directory changed.
#include "DevnetLayout.h"
#include "ProcessRun.h"

#include <QCryptographicHash>
#include <QDir>
#include <QDirIterator>
#include <QFile>
#include <QFileInfo>
#include <QHostAddress>
#include <QJsonDocument>
#include <QJsonObject>
#include <QMap>
#include <QProcess>
#include <QTcpServer>
#include <QTemporaryDir>
#include <QTest>
#include <csignal>

using namespace ticketsync;

namespace {

constexpr int kNodes = 10; // DevnetOptions' defaults: 1 coordinator, 2 branches, 4 targets, 3 receivers

// Every file and directory under dir with its size, time, mode and contents' hash.
QMap<QString, QString> snapshot(const QString &dir)
{
    QMap<QString, QString> entries;
    QDirIterator it(dir, QDir::AllEntries | QDir::Hidden | QDir::System | QDir::NoDotAndDotDot,
                    QDirIterator::Subdirectories);
    while (it.hasNext()) {
        const QFileInfo info(it.next());
        QString entry = QStringLiteral("%1 bytes, modified %2, mode %3")
                            .arg(info.size())
                            .arg(info.lastModified().toMSecsSinceEpoch())
                            .arg(int(info.permissions()), 0, 16);
        if (info.isFile()) {
            QFile file(info.filePath());
            QCryptographicHash hash(QCryptographicHash::Sha256);
            if (file.open(QIODevice::ReadOnly))
                hash.addData(&file);
            entry += QStringLiteral(", sha256 ") + QString::fromLatin1(hash.result().toHex());
        }
        entries.insert(QDir(dir).relativeFilePath(info.filePath()), entry);
    }
    return entries;
}

// What changed between two snapshots, one line each; empty if nothing did.
QString differences(const QMap<QString, QString> &before, const QMap<QString, QString> &after)
{
    QStringList lines;
    for (auto it = before.cbegin(); it != before.cend(); ++it) {
        if (!after.contains(it.key()))
            lines.append(QStringLiteral("removed %1").arg(it.key()));
        else if (after.value(it.key()) != it.value())
            lines.append(
                QStringLiteral("changed %1: %2 -> %3").arg(it.key(), it.value(), after.value(it.key())));
    }
    for (auto it = after.cbegin(); it != after.cend(); ++it) {
        if (!before.contains(it.key()))
            lines.append(QStringLiteral("added %1").arg(it.key()));
    }
    return lines.join(QLatin1Char('\n'));
}

bool copyTree(const QString &from, const QString &to)
{
    if (!QDir().mkpath(to))
        return false;
    const QDir source(from);
    const QFileInfoList entries =
        source.entryInfoList(QDir::AllEntries | QDir::Hidden | QDir::System | QDir::NoDotAndDotDot);
    for (const QFileInfo &entry : entries) {
        const QString target = QDir(to).filePath(entry.fileName());
        if (entry.isDir() ? !copyTree(entry.filePath(), target)
                          : !QFile::copy(entry.filePath(), target) ||
                                !QFile::setPermissions(target, entry.permissions()))
            return false;
    }
    return true;
}

bool writeBytes(const QString &path, const QByteArray &bytes)
{
    QFile file(path);
    return file.open(QIODevice::WriteOnly | QIODevice::Truncate) && file.write(bytes) == bytes.size() &&
           file.setPermissions(QFileDevice::ReadOwner | QFileDevice::WriteOwner);
}

// Not a key, a certificate or JSON in any format the devnet reads.
const QByteArray kGarbage =
    QByteArray("\x00\x17garbage\xff\xfe not a key at all \x01\x02\x03", 36).repeated(2);

ProcessRun devnet(const QString &dir, quint16 basePort)
{
    return ProcessRun::of(QStringLiteral(TICKETSYNC_CLI),
                          {QStringLiteral("devnet"), QStringLiteral("--dir"), dir,
                           QStringLiteral("--base-port"), QString::number(basePort),
                           QStringLiteral("--no-workload"), QStringLiteral("--duration"),
                           QStringLiteral("1")},
                          120000);
}

} // namespace

class DevnetTest : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void cleanRerunChangesNothingButTheLedgers();
    void refusesWithoutWhatTheChainNeeds_data();
    void refusesWithoutWhatTheChainNeeds();
    void otherOptionsAreRefusedNamingTheDifference();
    void aBrokenKeyIsNeverReplaced();
    void portsMoveWhileNoNodeKeepsALedger();
    void runsInADirectoryGivenRelatively();
    void aNodeThatDoesNotAnswerIsNamedWithTheStep();
    void aNodeThatDiesMakesTheRunFail();
    void aSecondDevnetOnARunningDirectoryIsRefused();
    void ctrlCWhileNodesStartIsAcleanStop();
    void aClosedTerminalStopsTheNodesCleanly();
    void aConnectionLostBeforeTheAnswerIsNoRefusal();

private:
    // A copy of the seed devnet, whose nodes ran once and keep ledgers.
    QString copyOfSeed(const QString &name);

    QTemporaryDir scratch;
    QString seed;
    quint16 basePort = 0;
};

void DevnetTest::initTestCase()
{
    QVERIFY(scratch.isValid());
    // The node program `ticketsync devnet` starts; one given in the environment is kept.
    if (qEnvironmentVariableIsEmpty("TICKETSYNC_NODE"))
        qputenv("TICKETSYNC_NODE", QByteArray(TICKETSYNC_NODE));
    // A fresh directory: laid out, every node started and stopped, so each keeps a ledger.
    seed = scratch.filePath(QStringLiteral("seed"));
    ProcessRun run;
    for (int attempt = 0; attempt < 3 && run.exitCode != 0; ++attempt) {
        QDir(seed).removeRecursively();
        basePort = DevnetLayout::freeBasePort(kNodes);
        QVERIFY(basePort != 0);
        run = devnet(seed, basePort);
    }
    QVERIFY2(run.exitCode == 0, qPrintable(run.errText()));
    QVERIFY(DevnetLayout::hasLedgers(seed));
    for (const QString &id : {QStringLiteral("coordinator-1"), QStringLiteral("target-1")})
        QVERIFY(QFileInfo::exists(QDir(seed).filePath(QStringLiteral("nodes/%1/ledger.sqlite").arg(id))));
}

QString DevnetTest::copyOfSeed(const QString &name)
{
    const QString dir = scratch.filePath(name);
    QDir(dir).removeRecursively();
    if (!copyTree(seed, dir))
        qFatal("cannot copy %s to %s", qPrintable(seed), qPrintable(dir));
    return dir;
}

void DevnetTest::cleanRerunChangesNothingButTheLedgers()
{
    const QString dir = copyOfSeed(QStringLiteral("rerun"));
    const QMap<QString, QString> before = snapshot(dir);

    DevnetOptions options;
    options.dir = dir;
    options.basePort = basePort;
    QString error;
    QVERIFY2(DevnetLayout::ensure(options, &error), qPrintable(error));
    QCOMPARE(differences(before, snapshot(dir)), QString());

    const ProcessRun run = devnet(dir, basePort);
    QVERIFY2(run.exitCode == 0, qPrintable(run.errText()));
    // The nodes wrote to their stores; everything the devnet laid out stayed as it was.
    QMap<QString, QString> after = snapshot(dir);
    auto laidOut = [](const QMap<QString, QString> &entries) {
        QMap<QString, QString> kept;
        for (auto it = entries.cbegin(); it != entries.cend(); ++it) {
            if (!it.key().startsWith(u"nodes/") || it.key().endsWith(u"/node.json"))
                kept.insert(it.key(), it.value());
        }
        return kept;
    };
    QCOMPARE(differences(laidOut(before), laidOut(after)), QString());
}

void DevnetTest::refusesWithoutWhatTheChainNeeds_data()
{
    QTest::addColumn<QStringList>("removed");
    QTest::addColumn<QString>("replaced");    // this file's bytes become those of...
    QTest::addColumn<QString>("replacement"); // ...this file, or garbage if empty
    QTest::addColumn<QString>("named");

    const QString targetKey = QStringLiteral("keys/target-1.key");
    QTest::newRow("signing key missing")
        << QStringList{targetKey} << QString() << QString() << QStringLiteral("keys/target-1.key: missing");
    QTest::newRow("a receiver's key missing")
        << QStringList{QStringLiteral("keys/receiver-3.key")} << QString() << QString()
        << QStringLiteral("keys/receiver-3.key: missing");
    QTest::newRow("signing key garbled") << QStringList() << targetKey << QString()
                                         << QStringLiteral("keys/target-1.key: a raw key file must hold");
    QTest::newRow("another node's signing key")
        << QStringList() << targetKey << QStringLiteral("keys/target-2.key")
        << QStringLiteral("keys/target-1.key: another key than the one");
    QTest::newRow("membership missing") << QStringList{QStringLiteral("membership.json")} << QString()
                                        << QString() << QStringLiteral("membership.json: missing");
    QTest::newRow("membership garbled") << QStringList() << QStringLiteral("membership.json") << QString()
                                        << QStringLiteral("membership.json: ");
    QTest::newRow("CA missing") << QStringList{QStringLiteral("pki/ca.pem"), QStringLiteral("pki/ca.key")}
                                << QString() << QString() << QStringLiteral("pki/ca.pem: missing");
    QTest::newRow("CA certificate missing")
        << QStringList{QStringLiteral("pki/ca.pem")} << QString() << QString()
        << QStringLiteral("pki/ca.pem: missing, but ca.key exists");
    QTest::newRow("CA key garbled") << QStringList() << QStringLiteral("pki/ca.key") << QString()
                                    << QStringLiteral("pki/ca.key: not an unencrypted PEM private key");
}

void DevnetTest::refusesWithoutWhatTheChainNeeds()
{
    QFETCH(QStringList, removed);
    QFETCH(QString, replaced);
    QFETCH(QString, replacement);
    QFETCH(QString, named);
    const QString dir = copyOfSeed(QStringLiteral("broken"));
    for (const QString &file : std::as_const(removed))
        QVERIFY(QFile::remove(QDir(dir).filePath(file)));
    if (!replaced.isEmpty()) {
        QByteArray bytes = kGarbage;
        if (!replacement.isEmpty()) {
            QFile other(QDir(dir).filePath(replacement));
            QVERIFY(other.open(QIODevice::ReadOnly));
            bytes = other.readAll();
        }
        QVERIFY(writeBytes(QDir(dir).filePath(replaced), bytes));
    }
    const QMap<QString, QString> before = snapshot(dir);

    // The same options as the run that made it: nothing else would explain a refusal.
    const ProcessRun run = devnet(dir, basePort);
    QCOMPARE(differences(before, snapshot(dir)), QString());
    QCOMPARE(run.exitCode, 2);
    const QString err = run.errText().trimmed();
    QVERIFY2(err.contains(QDir(dir).filePath(named)), qPrintable(err));
    QVERIFY2(err.contains(QStringLiteral("ledgers (%1/nodes/").arg(dir)) &&
                 err.contains(QLatin1String(" or use a new directory")),
             qPrintable(err));
    QVERIFY2(!err.contains(QLatin1String("would change it")), qPrintable(err));
    QVERIFY2(!err.contains(QLatin1Char('\n')), qPrintable(err));

    // The library refuses the same way, with the default port too (what a run without
    // --base-port asks for when membership.json is gone).
    for (const quint16 port : {basePort, quint16(7400)}) {
        DevnetOptions options;
        options.dir = dir;
        options.basePort = port;
        QString error;
        QVERIFY(!DevnetLayout::ensure(options, &error));
        QCOMPARE(differences(before, snapshot(dir)), QString());
        QVERIFY2(err.endsWith(error), qPrintable(error));
    }
}

void DevnetTest::otherOptionsAreRefusedNamingTheDifference()
{
    const QString dir = copyOfSeed(QStringLiteral("options"));
    const QMap<QString, QString> before = snapshot(dir);
    const QString was =
        QStringLiteral("consortium 'ticketsync-devnet': 1 coordinator, 2 branches, 4 targets and "
                       "3 receivers on ports %1-%2")
            .arg(basePort)
            .arg(basePort + kNodes - 1);

    DevnetOptions options;
    options.dir = dir;
    options.basePort = basePort;
    options.targets = 5;
    QString error;
    QVERIFY(!DevnetLayout::ensure(options, &error));
    // Not even the fifth target's key or certificate.
    QCOMPARE(differences(before, snapshot(dir)), QString());
    QVERIFY2(error.contains(
                 was + QStringLiteral("; the options given would change it to consortium "
                                      "'ticketsync-devnet': 1 coordinator, 2 branches, 5 targets and 3 "
                                      "receivers on ports %1-%2. Use the same options or a new directory")
                           .arg(basePort)
                           .arg(basePort + kNodes)),
             qPrintable(error));

    options.targets = 4;
    options.basePort = quint16(basePort + 100);
    QVERIFY(!DevnetLayout::ensure(options, &error));
    QCOMPARE(differences(before, snapshot(dir)), QString());
    QVERIFY2(error.contains(
                 QStringLiteral("on ports %1-%2. Use the same").arg(basePort + 100).arg(basePort + 109)),
             qPrintable(error));

    const ProcessRun run = devnet(dir, quint16(basePort + 100));
    QCOMPARE(differences(before, snapshot(dir)), QString());
    QCOMPARE(run.exitCode, 2);
    QVERIFY2(run.errText().contains(QStringLiteral("was created with --base-port %1").arg(basePort)),
             qPrintable(run.errText()));
}

void DevnetTest::aBrokenKeyIsNeverReplaced()
{
    // Before any node ran: no ledger depends on the key, but a file that is there is still never
    // overwritten with a new key.
    const QString dir = scratch.filePath(QStringLiteral("no-ledgers"));
    DevnetOptions options;
    options.dir = dir;
    options.basePort = basePort;
    options.tickets = 100;
    QString error;
    QVERIFY2(DevnetLayout::ensure(options, &error), qPrintable(error));
    const QString key = QDir(dir).filePath(QStringLiteral("keys/branch-2.key"));
    QVERIFY(writeBytes(key, kGarbage));
    const QMap<QString, QString> before = snapshot(dir);
    QVERIFY(!DevnetLayout::ensure(options, &error));
    QCOMPARE(differences(before, snapshot(dir)), QString());
    QVERIFY2(error.startsWith(key + QStringLiteral(": a raw key file must hold exactly 32 bytes")),
             qPrintable(error));

    // Deleted, it is drawn anew: nothing depended on it yet.
    QVERIFY(QFile::remove(key));
    QVERIFY2(DevnetLayout::ensure(options, &error), qPrintable(error));
    QVERIFY(QFileInfo::exists(key));
}

void DevnetTest::portsMoveWhileNoNodeKeepsALedger()
{
    const QString dir = scratch.filePath(QStringLiteral("moving"));
    DevnetOptions options;
    options.dir = dir;
    options.basePort = quint16(basePort + 200);
    QString error;
    QVERIFY2(DevnetLayout::ensure(options, &error), qPrintable(error));
    QVERIFY(!DevnetLayout::hasLedgers(dir));

    // No chain is sealed under the membership yet, so other ports simply rewrite it.
    quint16 port = 0;
    ProcessRun run;
    for (int attempt = 0; attempt < 3 && run.exitCode != 0; ++attempt) {
        port = DevnetLayout::freeBasePort(kNodes);
        run = devnet(dir, port);
    }
    QVERIFY2(run.exitCode == 0, qPrintable(run.errText()));
    QFile membership(QDir(dir).filePath(QStringLiteral("membership.json")));
    QVERIFY(membership.open(QIODevice::ReadOnly));
    QVERIFY(membership.readAll().contains(QStringLiteral("127.0.0.1:%1").arg(port).toUtf8()));
}

void DevnetTest::runsInADirectoryGivenRelatively()
{
    // As `ticketsync devnet` runs by default: --dir devnet, relative to where it was started,
    // while each node runs in a directory of its own.
    QProcess run;
    run.setWorkingDirectory(scratch.path());
    bool ran = false;
    QByteArray err;
    for (int attempt = 0; attempt < 3 && !ran; ++attempt) {
        QDir(scratch.filePath(QStringLiteral("relative"))).removeRecursively();
        run.start(QStringLiteral(TICKETSYNC_CLI),
                  {QStringLiteral("devnet"), QStringLiteral("--dir"), QStringLiteral("relative"),
                   QStringLiteral("--base-port"), QString::number(DevnetLayout::freeBasePort(kNodes)),
                   QStringLiteral("--no-workload"), QStringLiteral("--duration"), QStringLiteral("1")});
        QVERIFY(run.waitForFinished(120000));
        ran = run.exitStatus() == QProcess::NormalExit && run.exitCode() == 0;
        err = run.readAllStandardError();
    }
    QVERIFY2(ran, err.constData());
    QVERIFY(DevnetLayout::hasLedgers(scratch.filePath(QStringLiteral("relative"))));
}

void DevnetTest::aNodeThatDoesNotAnswerIsNamedWithTheStep()
{
    const QString dir = scratch.filePath(QStringLiteral("silent"));
    DevnetOptions options;
    options.dir = dir;
    options.basePort = DevnetLayout::freeBasePort(kNodes);
    options.tickets = 100;
    QString error;
    QVERIFY2(DevnetLayout::ensure(options, &error), qPrintable(error));
    const QString address = QStringLiteral("127.0.0.1:%1").arg(options.basePort);
    auto status = [&dir] {
        return ProcessRun::of(QStringLiteral(TICKETSYNC_CLI),
                              {QStringLiteral("status"), QStringLiteral("--devnet"), dir,
                               QStringLiteral("--timeout"), QStringLiteral("1")});
    };

    // No node runs: the operator is told the TCP connect is refused, not "Unknown error".
    ProcessRun run = status();
    QCOMPARE(run.exitCode, 1);
    QCOMPARE(run.outText(), QString());
    QString err = run.errText().trimmed();
    QVERIFY2(
        err.startsWith(QStringLiteral("ticketsync status: no answer from coordinator-1 at %1 within 1 s: "
                                      "TCP connect: ")
                           .arg(address)) &&
            err.contains(QLatin1String("refused"), Qt::CaseInsensitive),
        qPrintable(err));

    // Something takes the connection (the kernel's backlog: this test does not accept it) and
    // never speaks TLS.
    QTcpServer silent;
    QVERIFY(silent.listen(QHostAddress::LocalHost, options.basePort));
    run = status();
    QCOMPARE(run.exitCode, 1);
    err = run.errText().trimmed();
    QVERIFY2(
        err.startsWith(QStringLiteral("ticketsync status: no answer from coordinator-1 at %1 within 1 s: "
                                      "TCP connects, but no TLS WebSocket to the node: ")
                           .arg(address)),
        qPrintable(err));
    QVERIFY2(!err.contains(QLatin1Char('\n')), qPrintable(err));
}

namespace {

// The pid of the node process started with this config, or 0.
qint64 nodePid(const QString &configPath)
{
    const QStringList entries = QDir(QStringLiteral("/proc")).entryList(QDir::Dirs | QDir::NoDotAndDotDot);
    for (const QString &entry : entries) {
        bool numeric = false;
        const qint64 pid = entry.toLongLong(&numeric);
        QFile cmdline(QStringLiteral("/proc/%1/cmdline").arg(entry));
        if (!numeric || !cmdline.open(QIODevice::ReadOnly))
            continue;
        const QList<QByteArray> arguments = cmdline.readAll().split('\0');
        if (arguments.contains("--config") && arguments.contains(configPath.toUtf8()))
            return pid;
    }
    return 0;
}

} // namespace

void DevnetTest::aNodeThatDiesMakesTheRunFail()
{
    const QString dir = copyOfSeed(QStringLiteral("dying"));
    QProcess run;
    run.start(QStringLiteral(TICKETSYNC_CLI),
              {QStringLiteral("devnet"), QStringLiteral("--dir"), dir, QStringLiteral("--base-port"),
               QString::number(basePort), QStringLiteral("--no-workload"), QStringLiteral("--duration"),
               QStringLiteral("5")});
    QByteArray out;
    QTRY_VERIFY_WITH_TIMEOUT((out += run.readAllStandardOutput()).contains("all 10 nodes are up") ||
                                 run.state() == QProcess::NotRunning,
                             60000);
    const qint64 pid = nodePid(QDir(dir).filePath(QStringLiteral("nodes/target-1/node.json")));
    QVERIFY2(pid > 0, out.constData());
    QCOMPARE(::kill(pid_t(pid), SIGKILL), 0);
    QVERIFY(run.waitForFinished(60000));
    out += run.readAllStandardOutput();
    const QString err = QString::fromUtf8(run.readAllStandardError());
    // Restarted and reported, and still not a clean run.
    QVERIFY2(out.contains("target-1 was killed or crashed unexpectedly"), out.constData());
    QCOMPARE(run.exitCode(), 1);
    QVERIFY2(out.contains("FAILED     target-1 exited unexpectedly 1 time(s), see "), out.constData());
    QVERIFY2(err.isEmpty() || !err.contains(QLatin1String("still running")), qPrintable(err));
}

void DevnetTest::aSecondDevnetOnARunningDirectoryIsRefused()
{
    const QString dir = copyOfSeed(QStringLiteral("twice"));
    QProcess first;
    first.start(QStringLiteral(TICKETSYNC_CLI),
                {QStringLiteral("devnet"), QStringLiteral("--dir"), dir, QStringLiteral("--base-port"),
                 QString::number(basePort), QStringLiteral("--no-workload"), QStringLiteral("--duration"),
                 QStringLiteral("4")});
    QByteArray out;
    QTRY_VERIFY_WITH_TIMEOUT((out += first.readAllStandardOutput()).contains("all 10 nodes are up") ||
                                 first.state() == QProcess::NotRunning,
                             60000);
    QVERIFY2(first.state() == QProcess::Running, out.constData());

    // Without --base-port as with it: the directory, not the ports, is what is taken.
    for (const QStringList &ports :
         {QStringList(), QStringList{QStringLiteral("--base-port"), QString::number(basePort + 300)}}) {
        const ProcessRun second = ProcessRun::of(
            QStringLiteral(TICKETSYNC_CLI),
            QStringList{QStringLiteral("devnet"), QStringLiteral("--dir"), dir,
                        QStringLiteral("--no-workload"), QStringLiteral("--duration"), QStringLiteral("1")} +
                ports);
        QCOMPARE(second.exitCode, 1);
        const QString err = second.errText().trimmed();
        QVERIFY2(err.startsWith(QStringLiteral("ticketsync devnet: %1 is in use by another ticketsync devnet "
                                               "(pid %2, ")
                                    .arg(dir)
                                    .arg(first.processId())),
                 qPrintable(err));
        QVERIFY2(!err.contains(QLatin1Char('\n')), qPrintable(err));
    }
    // Another directory whose chain is sealed to the same ports: moving it is no way out.
    const QString other = copyOfSeed(QStringLiteral("twin"));
    const ProcessRun twin = devnet(other, basePort);
    QCOMPARE(twin.exitCode, 1);
    QVERIFY2(twin.errText().contains(QLatin1String("already in use")) &&
                 twin.errText().contains(QLatin1String("its chain is sealed to these ports")) &&
                 !twin.errText().contains(QLatin1String("--base-port")),
             qPrintable(twin.errText()));
    // The first one ran on undisturbed.
    QVERIFY(first.waitForFinished(60000));
    QVERIFY2(first.exitCode() == 0, first.readAllStandardError().constData());
    QVERIFY(!QFileInfo::exists(QDir(dir).filePath(QStringLiteral("devnet.lock"))));
}

void DevnetTest::ctrlCWhileNodesStartIsAcleanStop()
{
    // Nodes still starting may die of SIGTERM's default action before their handler is in place:
    // that is how they stop then, not a fault of the run.
    const QString dir = copyOfSeed(QStringLiteral("interrupted"));
    QProcess run;
    run.start(QStringLiteral(TICKETSYNC_CLI),
              {QStringLiteral("devnet"), QStringLiteral("--dir"), dir, QStringLiteral("--base-port"),
               QString::number(basePort), QStringLiteral("--no-workload")});
    QByteArray out;
    QTRY_VERIFY_WITH_TIMEOUT((out += run.readAllStandardOutput()).contains("starting branch-1, ") ||
                                 run.state() == QProcess::NotRunning,
                             60000);
    QCOMPARE(::kill(pid_t(run.processId()), SIGINT), 0);
    QVERIFY(run.waitForFinished(60000));
    out += run.readAllStandardOutput();
    QVERIFY2(out.contains("== devnet summary (interrupted (SIGINT)"), out.constData());
    QVERIFY2(!out.contains("FAILED"), out.constData());
    QCOMPARE(run.exitCode(), 0);
}

void DevnetTest::aClosedTerminalStopsTheNodesCleanly()
{
    const QString dir = copyOfSeed(QStringLiteral("hangup"));
    QProcess run;
    // As from a terminal: this test may itself run under nohup.
    run.setChildProcessModifier([] { ::signal(SIGHUP, SIG_DFL); });
    run.start(QStringLiteral(TICKETSYNC_CLI),
              {QStringLiteral("devnet"), QStringLiteral("--dir"), dir, QStringLiteral("--base-port"),
               QString::number(basePort), QStringLiteral("--no-workload")});
    QByteArray out;
    QTRY_VERIFY_WITH_TIMEOUT((out += run.readAllStandardOutput()).contains("all 10 nodes are up") ||
                                 run.state() == QProcess::NotRunning,
                             60000);
    QVERIFY2(run.state() == QProcess::Running, out.constData());
    QCOMPARE(::kill(pid_t(run.processId()), SIGHUP), 0);
    QVERIFY(run.waitForFinished(60000));
    out += run.readAllStandardOutput();
    QCOMPARE(run.exitStatus(), QProcess::NormalExit);
    QVERIFY2(out.contains("== devnet summary (SIGHUP (the terminal closed)"), out.constData());
    QVERIFY2(out.contains("none left running") && out.contains("ports      all free again"), out.constData());
    QCOMPARE(run.exitCode(), 0);
    QVERIFY(!QFileInfo::exists(QDir(dir).filePath(QStringLiteral("devnet.lock"))));
}

void DevnetTest::aConnectionLostBeforeTheAnswerIsNoRefusal()
{
    // A real branch node that takes no message over 1024 bytes: it closes the connection on a
    // request that size instead of answering it.
    const QString dir = scratch.filePath(QStringLiteral("small-frames"));
    DevnetOptions options;
    options.dir = dir;
    options.basePort = DevnetLayout::freeBasePort(kNodes);
    options.tickets = 100;
    QString error;
    const std::optional<DevnetLayout> layout = DevnetLayout::ensure(options, &error);
    QVERIFY2(layout, qPrintable(error));
    const DevnetNode *branch = layout->node(QStringLiteral("branch-1"));
    QFile configFile(branch->configPath);
    QVERIFY(configFile.open(QIODevice::ReadOnly));
    QJsonObject config = QJsonDocument::fromJson(configFile.readAll()).object();
    configFile.close();
    QJsonObject limits = config.value(u"limits").toObject();
    limits.insert(QStringLiteral("max_frame_bytes"), 1024);
    config.insert(QStringLiteral("limits"), limits);
    QVERIFY(writeBytes(branch->configPath, QJsonDocument(config).toJson()));

    QProcess node;
    node.start(QString::fromLocal8Bit(qgetenv("TICKETSYNC_NODE")),
               {QStringLiteral("--config"), branch->configPath});
    QByteArray out;
    QTRY_VERIFY_WITH_TIMEOUT((out += node.readAllStandardOutput()).contains(" listening on port ") ||
                                 node.state() == QProcess::NotRunning,
                             30000);
    QVERIFY2(node.state() == QProcess::Running, node.readAllStandardError().constData());

    const ProcessRun run =
        ProcessRun::of(QStringLiteral(TICKETSYNC_CLI),
                       {QStringLiteral("history"), QStringLiteral("--devnet"), dir, QStringLiteral("--node"),
                        QStringLiteral("branch-1"), QStringLiteral("--ticket"),
                        QString(2000, QLatin1Char('T')), QStringLiteral("--timeout"), QStringLiteral("10")});
    node.terminate();
    node.waitForFinished(10000);
    QCOMPARE(run.exitCode, 1);
    const QString err = run.errText().trimmed();
    QVERIFY2(
        err.startsWith(QStringLiteral("ticketsync history: lost the connection to branch-1 at %1 before the "
                                      "answer to 'history': ")
                           .arg(branch->address)) &&
            !err.contains(QLatin1String("refused")),
        qPrintable(err));
}

QTEST_GUILESS_MAIN(DevnetTest)
#include "tst_devnet.moc"
