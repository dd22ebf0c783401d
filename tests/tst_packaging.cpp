// The Debian package: built with cpack from this build tree, then taken apart with dpkg-deb. Its
// programs must run from the package's own files, the service unit must pass systemd's checks
// and agree with the node it starts, and the maintainer scripts must be sound.
#include "DevnetLayout.h"
#include "ProcessRun.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QProcess>
#include <QRegularExpression>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QTest>
#include <utility>

using namespace ticketsync;

namespace {

// Both streams, for assertions that only look for a line.
struct Run
{
    int exitCode = -1;
    QString output;
};

Run run(const QString &program, const QStringList &arguments, int timeoutMs = 120000)
{
    const ProcessRun finished = ProcessRun::of(program, arguments, timeoutMs);
    return {finished.exitCode, finished.outText() + finished.errText()};
}

QString readText(const QString &path)
{
    QFile file(path);
    return file.open(QIODevice::ReadOnly) ? QString::fromUtf8(file.readAll()) : QString();
}

// The value of "Key=" in a unit or desktop file, the first one.
QString keyValue(const QString &text, const QString &key)
{
    const QRegularExpression line(QStringLiteral("^%1=(.*)$").arg(QRegularExpression::escape(key)),
                                  QRegularExpression::MultilineOption);
    return line.match(text).captured(1).trimmed();
}

} // namespace

class PackagingTest : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void holdsTheProgramsAndTheirFiles_data();
    void holdsTheProgramsAndTheirFiles();
    void dependsOnWhatTheProgramsNeed();
    void maintainerScriptsAreSound();
    void serviceUnitPassesSystemdChecks();
    void serviceUnitAgreesWithTheNode();
    void desktopEntryIsValid();
    void packagedProgramsRunANode();

private:
    QString tool(const QString &name);

    QTemporaryDir work;
    QString package; // the .deb
    QString root;    // its files, unpacked
    QString control; // its control files, unpacked
    QStringList listing;
};

QString PackagingTest::tool(const QString &name)
{
    const QString path = QStandardPaths::findExecutable(name);
    if (path.isEmpty())
        qFatal("%s is not installed; ./setup.sh installs it", qPrintable(name));
    return path;
}

void PackagingTest::initTestCase()
{
    QVERIFY(work.isValid());
    const Run cpack =
        run(QStringLiteral(TICKETSYNC_CPACK),
            {QStringLiteral("-G"), QStringLiteral("DEB"), QStringLiteral("--config"),
             QStringLiteral(TICKETSYNC_BINARY_DIR "/CPackConfig.cmake"), QStringLiteral("-B"), work.path()},
            300000);
    QVERIFY2(cpack.exitCode == 0, qPrintable(cpack.output));
    const QStringList debs = QDir(work.path()).entryList({QStringLiteral("*.deb")}, QDir::Files);
    QCOMPARE(debs.size(), 1);
    package = QDir(work.path()).filePath(debs.first());
    QVERIFY2(QFileInfo(package).fileName().startsWith(QStringLiteral("ticketsync_" TICKETSYNC_VERSION "_")),
             qPrintable(package));

    const QString dpkgDeb = tool(QStringLiteral("dpkg-deb"));
    root = work.filePath(QStringLiteral("root"));
    control = work.filePath(QStringLiteral("control"));
    const std::pair<QString, QString> unpacks[] = {{QStringLiteral("-x"), root},
                                                   {QStringLiteral("-e"), control}};
    for (const auto &[option, into] : unpacks) {
        const Run unpack = run(dpkgDeb, {option, package, into});
        QVERIFY2(unpack.exitCode == 0, qPrintable(unpack.output));
    }
    const Run contents = run(dpkgDeb, {QStringLiteral("-c"), package});
    QVERIFY2(contents.exitCode == 0, qPrintable(contents.output));
    for (const QString &line : contents.output.split(u'\n', Qt::SkipEmptyParts))
        listing.append(line.section(u' ', -1)); // "-rwxr-xr-x root/root 1234 date ./usr/bin/x"
}

void PackagingTest::holdsTheProgramsAndTheirFiles_data()
{
    QTest::addColumn<QString>("path");
    QTest::addColumn<bool>("executable");
    QTest::newRow("node") << QStringLiteral("./usr/bin/ticketsync-node") << true;
    QTest::newRow("tool") << QStringLiteral("./usr/bin/ticketsync") << true;
    QTest::newRow("console") << QStringLiteral("./usr/bin/ticketsync-console") << true;
    QTest::newRow("service") << QStringLiteral("./usr/lib/systemd/system/ticketsync-node@.service") << false;
    QTest::newRow("account") << QStringLiteral("./usr/lib/sysusers.d/ticketsync.conf") << false;
    QTest::newRow("menu entry") << QStringLiteral("./usr/share/applications/ticketsync-console.desktop")
                                << false;
    QTest::newRow("deployment guide") << QStringLiteral("./usr/share/doc/ticketsync/deployment.md") << false;
    QTest::newRow("node configuration")
        << QStringLiteral("./usr/share/doc/ticketsync/node-config.md") << false;
    QTest::newRow("protocol") << QStringLiteral("./usr/share/doc/ticketsync/protocol.md") << false;
    QTest::newRow("api") << QStringLiteral("./usr/share/doc/ticketsync/api.md") << false;
}

void PackagingTest::holdsTheProgramsAndTheirFiles()
{
    QFETCH(QString, path);
    QFETCH(bool, executable);
    QVERIFY2(
        listing.contains(path),
        qPrintable(QStringLiteral("%1 is not in the package; it holds:\n%2").arg(path, listing.join(u'\n'))));
    const QFileInfo unpacked(QDir(root).filePath(path));
    QVERIFY(unpacked.isFile());
    QCOMPARE(unpacked.isExecutable(), executable);
    // Nothing in the package is writable by anyone but its owner.
    QVERIFY(!(unpacked.permissions() & (QFileDevice::WriteGroup | QFileDevice::WriteOther)));
}

void PackagingTest::dependsOnWhatTheProgramsNeed()
{
    const Run fields =
        run(tool(QStringLiteral("dpkg-deb")), {QStringLiteral("-f"), package, QStringLiteral("Depends")});
    QVERIFY2(fields.exitCode == 0, qPrintable(fields.output));
    // Read from the programs' libraries by dpkg-shlibdeps, plus the two no library names.
    for (const char *needed : {"libsodium23", "libsqlite3-0", "libssl3", "libqt6core6", "libqt6network6",
                               "libqt6websockets6", "libqt6widgets6", "libqt6sql6-sqlite", "adduser"}) {
        QVERIFY2(fields.output.contains(QRegularExpression(
                     QStringLiteral("(^|[ ,])%1([ ,(]|$)").arg(QString::fromLatin1(needed)))),
                 qPrintable(QStringLiteral("'%1' is not among the dependencies: %2")
                                .arg(QString::fromLatin1(needed), fields.output)));
    }
}

void PackagingTest::maintainerScriptsAreSound()
{
    const QString sh = tool(QStringLiteral("sh"));
    for (const QString &name : {QStringLiteral("postinst"), QStringLiteral("postrm")}) {
        const QFileInfo script(QDir(control).filePath(name));
        QVERIFY2(script.isFile(), qPrintable(name));
        QVERIFY2(script.isExecutable(), qPrintable(name));
        const Run syntax = run(sh, {QStringLiteral("-n"), script.filePath()});
        QVERIFY2(syntax.exitCode == 0, qPrintable(syntax.output));
    }
    // The account the postinst asks systemd-sysusers for is the one the service runs as.
    const QString postinst = readText(QDir(control).filePath(QStringLiteral("postinst")));
    QVERIFY(postinst.contains(QStringLiteral("systemd-sysusers ticketsync.conf")));
    const QString sysusers =
        readText(QDir(root).filePath(QStringLiteral("usr/lib/sysusers.d/ticketsync.conf")));
    QVERIFY2(sysusers.contains(
                 QRegularExpression(QStringLiteral("^u ticketsync "), QRegularExpression::MultilineOption)),
             qPrintable(sysusers));
    // Removing the package never touches a node's ledger or keys.
    const QString postrm = readText(QDir(control).filePath(QStringLiteral("postrm")));
    QVERIFY(!postrm.contains(QStringLiteral("/var/lib/ticketsync")));
    QVERIFY(!postrm.contains(QStringLiteral("/etc/ticketsync")));
}

void PackagingTest::serviceUnitPassesSystemdChecks()
{
    // Checked as an instance, with this system's units around it, and with ExecStart pointing at
    // the unpacked program so that systemd finds it; everything else is the packaged file.
    const QString unit =
        readText(QDir(root).filePath(QStringLiteral("usr/lib/systemd/system/ticketsync-node@.service")));
    const QString packagedNode = QDir(root).filePath(QStringLiteral("usr/bin/ticketsync-node"));
    QVERIFY(unit.contains(QStringLiteral("ExecStart=/usr/bin/ticketsync-node ")));
    QDir(work.path()).mkdir(QStringLiteral("units"));
    QFile instance(work.filePath(QStringLiteral("units/ticketsync-node@target-1.service")));
    QVERIFY(instance.open(QIODevice::WriteOnly));
    instance.write(QString(unit)
                       .replace(QStringLiteral("ExecStart=/usr/bin/ticketsync-node "),
                                QStringLiteral("ExecStart=%1 ").arg(packagedNode))
                       .toUtf8());
    instance.close();
    const Run verify = run(tool(QStringLiteral("systemd-analyze")),
                           {QStringLiteral("verify"), QStringLiteral("--man=no"), instance.fileName()});
    QVERIFY2(verify.exitCode == 0, qPrintable(verify.output));
    QVERIFY2(!verify.output.contains(QStringLiteral("ticketsync-node@")), qPrintable(verify.output));
}

void PackagingTest::serviceUnitAgreesWithTheNode()
{
    const QString unit =
        readText(QDir(root).filePath(QStringLiteral("usr/lib/systemd/system/ticketsync-node@.service")));
    QCOMPARE(keyValue(unit, QStringLiteral("ExecStart")),
             QStringLiteral("/usr/bin/ticketsync-node --config /etc/ticketsync/%i/node.json"));
    QCOMPARE(keyValue(unit, QStringLiteral("User")), QStringLiteral("ticketsync"));
    QCOMPARE(keyValue(unit, QStringLiteral("StateDirectory")), QStringLiteral("ticketsync/%i"));
    // The unit does not restart a node that exits with 2: that must be what the node does, and
    // only what it does, on a bad configuration.
    QCOMPARE(keyValue(unit, QStringLiteral("RestartPreventExitStatus")), QStringLiteral("2"));
    const QString node = QDir(root).filePath(QStringLiteral("usr/bin/ticketsync-node"));
    const Run missing =
        run(node, {QStringLiteral("--config"), work.filePath(QStringLiteral("absent/node.json"))});
    QCOMPARE(missing.exitCode, 2);
    QVERIFY2(missing.output.startsWith(QStringLiteral("ticketsync-node: ")), qPrintable(missing.output));
    QVERIFY2(missing.output.contains(QStringLiteral("absent/node.json")), qPrintable(missing.output));
    QFile bad(work.filePath(QStringLiteral("bad.json")));
    QVERIFY(bad.open(QIODevice::WriteOnly));
    bad.write(R"({"format": "ticketsync-node", "node_id": "target-1", "listen": "nowhere"})");
    bad.close();
    const Run invalid = run(node, {QStringLiteral("--config"), bad.fileName()});
    QCOMPARE(invalid.exitCode, 2);
    QVERIFY2(invalid.output.contains(QStringLiteral("bad.json")), qPrintable(invalid.output));
}

void PackagingTest::desktopEntryIsValid()
{
    const QString entry =
        QDir(root).filePath(QStringLiteral("usr/share/applications/ticketsync-console.desktop"));
    const Run validate = run(tool(QStringLiteral("desktop-file-validate")), {entry});
    QVERIFY2(validate.exitCode == 0 && validate.output.trimmed().isEmpty(), qPrintable(validate.output));
    const QString exec = keyValue(readText(entry), QStringLiteral("Exec")).section(u' ', 0, 0);
    QVERIFY2(listing.contains(QStringLiteral("./usr/bin/") + exec), qPrintable(exec));
}

void PackagingTest::packagedProgramsRunANode()
{
    // The stripped programs, linked against the system's libraries only, run a real coordinator
    // over TLS and answer the packaged tool.
    const QString node = QDir(root).filePath(QStringLiteral("usr/bin/ticketsync-node"));
    const QString cli = QDir(root).filePath(QStringLiteral("usr/bin/ticketsync"));
    const Run version = run(node, {QStringLiteral("--version")});
    QCOMPARE(version.exitCode, 0);
    QVERIFY2(version.output.contains(QStringLiteral(TICKETSYNC_VERSION)), qPrintable(version.output));
    // The console starts its QApplication, and so loads its platform plugin, before it answers.
    const Run console =
        run(QDir(root).filePath(QStringLiteral("usr/bin/ticketsync-console")), {QStringLiteral("--version")});
    QCOMPARE(console.exitCode, 0);
    QVERIFY2(console.output.contains(QStringLiteral("ticketsync-console " TICKETSYNC_VERSION)),
             qPrintable(console.output));

    DevnetOptions options;
    options.dir = work.filePath(QStringLiteral("devnet"));
    options.tickets = 100;
    options.basePort = DevnetLayout::freeBasePort(10);
    QVERIFY(options.basePort != 0);
    QString error;
    const std::optional<DevnetLayout> layout = DevnetLayout::ensure(options, &error);
    QVERIFY2(layout, qPrintable(error));
    const DevnetNode *coordinator = layout->node(QStringLiteral("coordinator-1"));
    QVERIFY(coordinator);

    const Run check =
        run(node, {QStringLiteral("--check-config"), QStringLiteral("--config"), coordinator->configPath});
    QVERIFY2(check.exitCode == 0 && check.output.trimmed().endsWith(u"ok"), qPrintable(check.output));

    QProcess daemon;
    daemon.setProcessChannelMode(QProcess::MergedChannels);
    daemon.start(node, {QStringLiteral("--config"), coordinator->configPath});
    QVERIFY2(daemon.waitForStarted(10000), qPrintable(daemon.errorString()));
    QString said;
    QTRY_VERIFY_WITH_TIMEOUT(
        (said += QString::fromUtf8(daemon.readAll())).contains(QStringLiteral("listening")) ||
            daemon.state() == QProcess::NotRunning,
        30000);
    QVERIFY2(said.contains(QStringLiteral("ticketsync-node coordinator-1 listening on port")),
             qPrintable(said));

    const Run status = run(
        cli, {QStringLiteral("status"), QStringLiteral("--devnet"), options.dir, QStringLiteral("--json")});
    QVERIFY2(status.exitCode == 0, qPrintable(status.output));
    QVERIFY2(status.output.contains(QStringLiteral("coordinator-1")), qPrintable(status.output));

    daemon.terminate(); // SIGTERM, as systemd stops it
    QVERIFY(daemon.waitForFinished(30000));
    QCOMPARE(daemon.exitStatus(), QProcess::NormalExit);
    QCOMPARE(daemon.exitCode(), 0);
}

QTEST_GUILESS_MAIN(PackagingTest)
#include "tst_packaging.moc"
