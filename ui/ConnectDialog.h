#pragma once

#include "ConsoleSession.h"

#include <QDialog>
#include <optional>

class QDialogButtonBox;
class QFormLayout;
class QLabel;
class QLineEdit;

namespace ticketsync {

class ConsoleSettings;

// Which network to watch, for a console started without arguments (from the desktop menu): the
// membership file, this person's client certificate (PEM with its key, or a PKCS#12 bundle) and
// the consortium CA. It starts from the files used last; a password is never kept.
class ConnectDialog : public QDialog
{
    Q_OBJECT

public:
    explicit ConnectDialog(ConsoleSettings &settings, QWidget *parent = nullptr);

    // After accept(): the membership's nodes and the chosen files, without a PKCS#12 password.
    const SessionProfile &profile() const { return chosen; }
    void accept() override;
    // Says what is wrong before the operator has chosen anything, e.g. why the last network's
    // files could not be used.
    void showProblem(const QString &text);

    // The network connected to last, if its files are all still there; else the reason.
    static std::optional<SessionProfile> lastProfile(const ConsoleSettings &settings, QString *error);
    static void remember(ConsoleSettings &settings, const SessionProfile &profile);
    // True for a .p12 or .pfx name: how the dialog tells a PKCS#12 bundle while it is typed.
    static bool hasBundleSuffix(const QString &path);

private:
    QLineEdit *addFileRow(QFormLayout *form, const QString &label, const QString &filter,
                          const QString &name);
    void updateButtons();
    // Looks inside the certificate file once (not per keystroke) to tell a bundle by content.
    void checkCertificateKind();

    ConsoleSettings &settings;
    QLineEdit *membership = nullptr;
    QLineEdit *certificate = nullptr;
    QLineEdit *key = nullptr;
    QLineEdit *ca = nullptr;
    QLabel *problem = nullptr;
    QDialogButtonBox *buttons = nullptr;
    SessionProfile chosen;
    // The certificate path whose kind is known by content (or from the settings), whatever its
    // suffix; any other path is judged by its suffix.
    struct
    {
        QString path;
        bool pkcs12 = false;
    } knownCertificate;
};

} // namespace ticketsync
