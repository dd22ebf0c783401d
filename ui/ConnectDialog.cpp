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

// The profile for these files, or why there is none; the membership must load.
std::optional<SessionProfile> profileFor(const QString &membershipPath, const QString &certificatePath,
                                         const QString &keyPath, const QString &caPath, QString *error)
{
    const bool pkcs12 = ConsoleSession::isPkcs12(certificatePath);
    struct Required
    {
        QString path;
        QString what;
    };
    QList<Required> required{{certificatePath, ConnectDialog::tr("client certificate")},
                             {caPath, ConnectDialog::tr("CA certificate")}};
    if (!pkcs12)
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
    profile->keyPath = pkcs12 ? QString() : keyPath;
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
    membership->setText(settings.value(ConsoleSettings::ConnectionMembership));
    certificate->setText(settings.value(ConsoleSettings::ConnectionCertificate));
    key->setText(settings.value(ConsoleSettings::ConnectionKey));
    ca->setText(settings.value(ConsoleSettings::ConnectionCa));

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
        if (!chosenFile.isEmpty())
            edit->setText(chosenFile);
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

void ConnectDialog::updateButtons()
{
    // A PKCS#12 bundle brings its own key.
    const bool pkcs12 = ConsoleSession::isPkcs12(certificate->text());
    key->setEnabled(!pkcs12);
    if (buttons)
        buttons->button(QDialogButtonBox::Ok)
            ->setEnabled(!membership->text().isEmpty() && !certificate->text().isEmpty() &&
                         (pkcs12 || !key->text().isEmpty()) && !ca->text().isEmpty());
}

void ConnectDialog::accept()
{
    QString error;
    std::optional<SessionProfile> profile =
        profileFor(membership->text(), certificate->text(), key->text(), ca->text(), &error);
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
