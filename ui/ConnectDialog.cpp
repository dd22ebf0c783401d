#include "ConnectDialog.h"

#include "ConsoleSettings.h"

#include <QDialogButtonBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QVBoxLayout>

namespace ticketsync {

namespace {

// Whether the certificate file is a PKCS#12 bundle, by its content; nothing if it is no regular
// file (opening a FIFO or a device to look inside could wait forever).
std::optional<bool> bundleByContent(const QString &certificatePath)
{
    if (!QFileInfo(certificatePath).isFile())
        return std::nullopt;
    return ConsoleSession::isPkcs12(certificatePath);
}

// The profile for these files, or why there is none; the membership must load. *pkcs12: what
// bundleByContent() said of the certificate.
std::optional<SessionProfile> profileFor(const QString &membershipPath, const QString &certificatePath,
                                         const QString &keyPath, const QString &caPath, QString *error,
                                         std::optional<bool> *pkcs12 = nullptr)
{
    const std::optional<bool> byContent = bundleByContent(certificatePath);
    if (pkcs12)
        *pkcs12 = byContent;
    const bool isBundle = byContent.value_or(false);
    struct Required
    {
        QString path;
        QString what;
    };
    QList<Required> required{{certificatePath, ConnectDialog::tr("client certificate")},
                             {caPath, ConnectDialog::tr("CA certificate")}};
    if (!isBundle)
        required.insert(1, {keyPath, ConnectDialog::tr("private key")});
    for (const Required &file : std::as_const(required)) {
        if (!QFileInfo(file.path).isFile()) {
            *error = file.path.isEmpty()
                         ? ConnectDialog::tr("No %1 chosen.").arg(file.what)
                         : ConnectDialog::tr("The %1 %2 is not a readable file.").arg(file.what, file.path);
            return std::nullopt;
        }
    }
    std::optional<SessionProfile> profile = SessionProfile::fromMembership(membershipPath, error);
    if (!profile)
        return std::nullopt;
    profile->certificatePath = certificatePath;
    profile->keyPath = isBundle ? QString() : keyPath;
    profile->caPath = caPath;
    return profile;
}

} // namespace

ConnectDialog::ConnectDialog(ConsoleSettings &settings, QWidget *parent) : QDialog(parent), settings(settings)
{
    setWindowTitle(tr("Connect to the network"));
    auto *form = new QFormLayout;
    const QString json = tr("Membership (*.json);;All files (*)");
    const QString pem = tr("PEM (*.pem *.crt *.cer);;All files (*)");
    membership = addFileRow(form, tr("&Membership file:"), json, QStringLiteral("membership"));
    certificate = addFileRow(form, tr("Client &certificate:"),
                             tr("Certificates (*.pem *.crt *.cer *.p12 *.pfx);;All files (*)"),
                             QStringLiteral("certificate"));
    key = addFileRow(form, tr("Private &key:"), tr("PEM key (*.key *.pem);;All files (*)"),
                     QStringLiteral("key"));
    ca = addFileRow(form, tr("Consortium C&A:"), pem, QStringLiteral("ca"));
    // Only a PKCS#12 profile is remembered without a key (remember()): known without a read.
    if (!settings.value(ConsoleSettings::ConnectionCertificate).isEmpty() &&
        settings.value(ConsoleSettings::ConnectionKey).isEmpty())
        knownCertificate = {settings.value(ConsoleSettings::ConnectionCertificate), true};
    membership->setText(settings.value(ConsoleSettings::ConnectionMembership));
    certificate->setText(settings.value(ConsoleSettings::ConnectionCertificate));
    key->setText(settings.value(ConsoleSettings::ConnectionKey));
    ca->setText(settings.value(ConsoleSettings::ConnectionCa));
    // Once the path is typed in full (Return or focus leaves), not on every keystroke.
    connect(certificate, &QLineEdit::editingFinished, this, &ConnectDialog::checkCertificateKind);

    auto *hint = new QLabel(tr("A PKCS#12 bundle (.p12, .pfx) holds its key; its password is asked for "
                               "when connecting and never stored."));
    hint->setWordWrap(true);
    problem = new QLabel;
    problem->setObjectName(QStringLiteral("problem"));
    problem->setWordWrap(true);
    problem->setStyleSheet(QStringLiteral("color: #b00020"));
    problem->hide();
    buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel);
    buttons->button(QDialogButtonBox::Ok)->setText(tr("C&onnect"));
    buttons->button(QDialogButtonBox::Cancel)->setText(tr("Browse the &history only"));
    connect(buttons, &QDialogButtonBox::accepted, this, &ConnectDialog::accept);
    connect(buttons, &QDialogButtonBox::rejected, this, &ConnectDialog::reject);

    auto *layout = new QVBoxLayout(this);
    layout->addLayout(form);
    layout->addWidget(hint);
    layout->addWidget(problem);
    layout->addWidget(buttons);
    updateButtons();
}

QLineEdit *ConnectDialog::addFileRow(QFormLayout *form, const QString &label, const QString &filter,
                                     const QString &name)
{
    auto *edit = new QLineEdit;
    edit->setObjectName(name);
    edit->setMinimumWidth(360);
    auto *browse = new QPushButton(tr("Browse…"));
    browse->setObjectName(name + QStringLiteral("Browse"));
    connect(browse, &QPushButton::clicked, this, [this, edit, filter] {
        const QString chosenFile = QFileDialog::getOpenFileName(this, windowTitle(), edit->text(), filter);
        if (chosenFile.isEmpty())
            return;
        edit->setText(chosenFile);
        if (edit == certificate)
            checkCertificateKind();
    });
    connect(edit, &QLineEdit::textChanged, this, &ConnectDialog::updateButtons);
    auto *row = new QHBoxLayout;
    row->addWidget(edit, 1);
    row->addWidget(browse);
    form->addRow(label, row);
    if (auto *buddy = qobject_cast<QLabel *>(form->labelForField(row)))
        buddy->setBuddy(edit);
    return edit;
}

bool ConnectDialog::hasBundleSuffix(const QString &path)
{
    return path.endsWith(QLatin1String(".p12"), Qt::CaseInsensitive) ||
           path.endsWith(QLatin1String(".pfx"), Qt::CaseInsensitive);
}

void ConnectDialog::checkCertificateKind()
{
    const QString path = certificate->text();
    if (const std::optional<bool> pkcs12 = bundleByContent(path))
        knownCertificate = {path, *pkcs12};
    updateButtons();
}

void ConnectDialog::updateButtons()
{
    // Runs on every keystroke, so it reads no file: a PKCS#12 bundle (which brings its own key)
    // is told by its suffix, unless its content was looked at once already.
    const QString path = certificate->text();
    const bool pkcs12 = path == knownCertificate.path ? knownCertificate.pkcs12 : hasBundleSuffix(path);
    key->setEnabled(!pkcs12);
    if (buttons)
        buttons->button(QDialogButtonBox::Ok)
            ->setEnabled(!membership->text().isEmpty() && !certificate->text().isEmpty() &&
                         (pkcs12 || !key->text().isEmpty()) && !ca->text().isEmpty());
}

void ConnectDialog::accept()
{
    // The real checks, once: each file is there, the certificate's kind by its content, and the
    // membership loads.
    QString error;
    std::optional<bool> pkcs12;
    std::optional<SessionProfile> profile =
        profileFor(membership->text(), certificate->text(), key->text(), ca->text(), &error, &pkcs12);
    if (pkcs12) {
        knownCertificate = {certificate->text(), *pkcs12};
        updateButtons();
    }
    if (!profile) {
        showProblem(error);
        return;
    }
    chosen = std::move(*profile);
    remember(settings, chosen);
    QDialog::accept();
}

std::optional<SessionProfile> ConnectDialog::lastProfile(const ConsoleSettings &settings, QString *error)
{
    const QString membershipPath = settings.value(ConsoleSettings::ConnectionMembership);
    if (membershipPath.isEmpty()) {
        *error = tr("No network was connected to before.");
        return std::nullopt;
    }
    return profileFor(membershipPath, settings.value(ConsoleSettings::ConnectionCertificate),
                      settings.value(ConsoleSettings::ConnectionKey),
                      settings.value(ConsoleSettings::ConnectionCa), error);
}

void ConnectDialog::remember(ConsoleSettings &settings, const SessionProfile &profile)
{
    settings.setValue(ConsoleSettings::ConnectionMembership,
                      QFileInfo(profile.membershipPath).absoluteFilePath());
    settings.setValue(ConsoleSettings::ConnectionCertificate,
                      QFileInfo(profile.certificatePath).absoluteFilePath());
    settings.setValue(ConsoleSettings::ConnectionKey,
                      profile.keyPath.isEmpty() ? QString() : QFileInfo(profile.keyPath).absoluteFilePath());
    settings.setValue(ConsoleSettings::ConnectionCa, QFileInfo(profile.caPath).absoluteFilePath());
    settings.sync();
}

void ConnectDialog::showProblem(const QString &text)
{
    problem->setText(text);
    problem->setVisible(!text.isEmpty());
}

} // namespace ticketsync
