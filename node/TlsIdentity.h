#pragma once

#include "DevnetPki.h"

#include <QList>
#include <QSslCertificate>
#include <QSslConfiguration>
#include <QSslKey>
#include <QString>
#include <optional>

namespace ticketsync {

// Who is on the other end of a connection, from a CA-verified peer certificate: kind = subject OU,
// name = subject CN.
struct PeerIdentity
{
    PartyKind kind;
    QString name;
    friend bool operator==(const PeerIdentity &, const PeerIdentity &) = default;
};

// This party's TLS credentials: certificate, private key and the consortium CA as the only trust anchor.
// Loading checks that the key matches the certificate, that the certificate is within its validity
// period, that the consortium CA issued it and that it names a party (CN, and OU node/operator/auditor).
class TlsIdentity
{
public:
    // A PEM certificate, an unencrypted PEM private key (EC, e.g. P-256, or RSA; mode 0600 or
    // stricter, like every secret key file) and the consortium CA certificate(s) in PEM.
    static std::optional<TlsIdentity> load(const QString &certificatePath, const QString &keyPath,
                                           const QString &caPath, QString *error);
    // A PKCS#12 bundle (as DevnetPki writes for operators and auditors) and the CA in PEM.
    static std::optional<TlsIdentity> loadPkcs12(const QString &path, const QString &password,
                                                 const QString &caPath, QString *error);

    const QSslCertificate &certificate() const { return m_certificate; }
    const QSslKey &privateKey() const { return m_privateKey; }
    const QList<QSslCertificate> &caCertificates() const { return m_caCertificates; }
    PeerIdentity self() const { return m_self; }

    // Mutual TLS, TLS 1.2 or later, VerifyPeer, the consortium CA as the only trust anchor (no
    // system roots). The client side also checks the server's name against its SAN as usual.
    QSslConfiguration serverConfiguration() const;
    QSslConfiguration clientConfiguration() const;

private:
    friend class TlsIdentityBuilder; // TlsIdentity.cpp: fills in a loaded identity
    TlsIdentity() = default;
    QSslConfiguration configuration() const;

    QSslCertificate m_certificate;
    QSslKey m_privateKey;
    QList<QSslCertificate> m_caCertificates;
    PeerIdentity m_self{PartyKind::Node, QString()};
};

// Reads CN and OU of a peer certificate that the TLS layer already verified against the CA
// (QSslSocket::peerCertificate() after encrypted()). Does not verify anything itself.
std::optional<PeerIdentity> peerIdentityOf(const QSslCertificate &certificate, QString *error);

} // namespace ticketsync
