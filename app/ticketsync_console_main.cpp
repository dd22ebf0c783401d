// ticketsync-console: the operations console for clearing staff.
#include "ConnectDialog.h"
#include "ConsoleSession.h"
#include "ConsoleSettings.h"
#include "MainWindow.h"

#include <QApplication>
#include <QCommandLineParser>
#include <QIcon>
#include <QInputDialog>
#include <QMessageBox>
#include <QPainter>
#include <QPixmap>

namespace {

// The application icon, drawn so it stays sharp at every size without an image plugin.
QIcon applicationIcon()
{
    QIcon icon;
    for (const int size : {16, 24, 32, 48, 64, 128, 256}) {
        QPixmap pixmap(size, size);
        pixmap.fill(Qt::transparent);
        QPainter painter(&pixmap);
        painter.setRenderHint(QPainter::Antialiasing);
        painter.setBrush(QColor(0x1f, 0x4e, 0x79));
        painter.setPen(Qt::NoPen);
        painter.drawRoundedRect(QRectF(0, 0, size, size), size * 0.18, size * 0.18);
        painter.setPen(QPen(Qt::white, qMax(1.5, size * 0.09), Qt::SolidLine, Qt::RoundCap, Qt::RoundJoin));
        painter.drawPolyline(QPolygonF{QPointF(size * 0.25, size * 0.52), QPointF(size * 0.43, size * 0.70),
                                       QPointF(size * 0.76, size * 0.32)});
        icon.addPixmap(pixmap);
    }
    return icon;
}

} // namespace

int main(int argc, char **argv)
{
    QApplication::setHighDpiScaleFactorRoundingPolicy(Qt::HighDpiScaleFactorRoundingPolicy::PassThrough);
    QApplication app(argc, argv);
    QApplication::setApplicationName(QStringLiteral("ticketsync-console"));
    QApplication::setOrganizationName(QStringLiteral("ticketsync"));
    QApplication::setApplicationVersion(QStringLiteral(TICKETSYNC_VERSION));
    QApplication::setWindowIcon(applicationIcon());

    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral(
        "The ticketsync operations console: live write-off confirmations, vote histograms, quorum "
        "decisions, receivers' sync state, alerts and audit reports."));
    parser.addHelpOption();
    parser.addVersionOption();
    parser.addOption({QStringLiteral("devnet"), QStringLiteral("Connect to a `ticketsync devnet` directory."),
                      QStringLiteral("DIR")});
    parser.addOption({QStringLiteral("auditor"), QStringLiteral("With --devnet: connect as the auditor.")});
    parser.addOption({QStringLiteral("membership"), QStringLiteral("The membership file (node addresses)."),
                      QStringLiteral("FILE")});
    parser.addOption({QStringLiteral("cert"), QStringLiteral("Client certificate: PEM, or PKCS#12 (.p12)."),
                      QStringLiteral("FILE")});
    parser.addOption({QStringLiteral("key"), QStringLiteral("Client private key (PEM; not with PKCS#12)."),
                      QStringLiteral("FILE")});
    parser.addOption({QStringLiteral("ca"), QStringLiteral("The consortium CA certificate (PEM)."),
                      QStringLiteral("FILE")});
    parser.addOption(
        {QStringLiteral("cache"), QStringLiteral("The history cache file."), QStringLiteral("FILE")});
    parser.addOption({QStringLiteral("language"), QStringLiteral("en or zh_CN."), QStringLiteral("LANG")});
    parser.addOption(
        {QStringLiteral("offline"), QStringLiteral("Browse the history cache without connecting.")});
    parser.process(app);

    ticketsync::ConsoleSettings settings;
    if (parser.isSet(QStringLiteral("language")))
        settings.setValue(ticketsync::ConsoleSettings::Language, parser.value(QStringLiteral("language")));

    // The network comes first: each has a history cache of its own (ConsoleSettings::cachePath).
    QString error;
    std::optional<ticketsync::SessionProfile> profile;
    bool asked = false; // the dialog already kept what it was given
    if (parser.isSet(QStringLiteral("devnet"))) {
        profile = ticketsync::SessionProfile::fromDevnet(parser.value(QStringLiteral("devnet")),
                                                         parser.isSet(QStringLiteral("auditor")), &error);
    } else if (parser.isSet(QStringLiteral("membership"))) {
        profile =
            ticketsync::SessionProfile::fromMembership(parser.value(QStringLiteral("membership")), &error);
        if (profile) {
            profile->certificatePath = parser.value(QStringLiteral("cert"));
            profile->keyPath = parser.value(QStringLiteral("key"));
            profile->caPath = parser.value(QStringLiteral("ca"));
        }
    } else {
        // Without arguments, as from the desktop menu: the network of last time, else ask.
        profile = ticketsync::ConnectDialog::lastProfile(settings, &error);
        if (!profile && !parser.isSet(QStringLiteral("offline"))) {
            ticketsync::ConnectDialog dialog(settings);
            if (!settings.value(ticketsync::ConsoleSettings::ConnectionMembership).isEmpty())
                dialog.showProblem(error); // the files of last time, and which one is gone
            if (dialog.exec() == QDialog::Accepted) {
                profile = dialog.profile();
                asked = true;
            }
        }
    }
    QString networkError;
    const std::optional<ticketsync::NetworkIdentity> network =
        profile ? profile->network(&networkError) : std::nullopt;

    // --cache names a file for this start only; a network's own cache is the default.
    const QString cachePath = parser.isSet(QStringLiteral("cache"))
                                  ? parser.value(QStringLiteral("cache"))
                                  : settings.cachePath(network ? network->shortId() : QString());
    ticketsync::MainWindow window(settings, cachePath);
    window.show();
    if (parser.isSet(QStringLiteral("offline"))) {
        // The cache's certificates and block proofs are checked against the last network's members.
        if (profile)
            window.browseWithMembership(profile->membershipPath);
        return app.exec();
    }
    if (!profile) {
        if (!error.isEmpty() &&
            (parser.isSet(QStringLiteral("devnet")) || parser.isSet(QStringLiteral("membership"))))
            QMessageBox::critical(&window, QObject::tr("Cannot connect"), error);
        return app.exec(); // the history cache only
    }
    if (ticketsync::ConsoleSession::isPkcs12(profile->certificatePath)) {
        profile->keyPath.clear();
        bool ok = false;
        profile->pkcs12Password =
            QInputDialog::getText(&window, QObject::tr("Client certificate"),
                                  QObject::tr("Password for %1:").arg(profile->certificatePath),
                                  QLineEdit::Password, QString(), &ok);
        if (!ok)
            return 1;
    }
    if (!window.connectTo(*profile, &error)) {
        QMessageBox::critical(&window, QObject::tr("Cannot connect"), error);
        return app.exec();
    }
    // The dialog keeps what it was given, and the last network is kept already.
    if (!asked && (parser.isSet(QStringLiteral("devnet")) || parser.isSet(QStringLiteral("membership"))))
        ticketsync::ConnectDialog::remember(settings, *profile);
    return app.exec();
}
