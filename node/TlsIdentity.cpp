#include "TlsIdentity.h"

#include "OpenSslHandles.h"

#include <QDateTime>
#include <QDir>
#include <QFile>
#include <QSslSocket>

#include <openssl/x509v3.h>
#include <sys/stat.h>

namespace ticketsync {

namespace {
std::nullopt_t fail(QString *error, const QString &path, const QString &message)
{
    if (error)
        *error = QStringLiteral("%1: %2").arg(QDir::toNativeSeparators(path), message);
    return std::nullopt;
}

// Certificates, keys and bundles are small; the cap keeps a wrong path (a disk image, a FIFO) harmless.
std::optional<QByteArray> readSmallFile(const QString &path, QString *error)
{
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly))
        return fail(error, path, QStringLiteral("cannot read: %1").arg(file.errorString()));
    return file.read(1024 * 1024);
}

QString asn1TimeText(const ASN1_TIME *time)
{
    Bio bio(BIO_new(BIO_s_mem()));
    if (!bio || ASN1_TIME_print(bio.get(), time) != 1)
        return QStringLiteral("(unreadable date)");
    return QString::fromLatin1(bioContents(bio.get()));
}

// The checks shared by load() and loadPkcs12(); certificateLabel and keyLabel are the files to name
// in errors (the same .p12 for both when the pair came from a bundle).
struct Material
{
    Certificate certificate;
    Pkey key;
    QString certificateLabel;
    QString keyLabel;
};

std::optional<QList<QSslCertificate>> readCaCertificates(const QString &caPath, Store *store, QString *error)
{
    const std::optional<QByteArray> pem = readSmallFile(caPath, error);
    if (!pem)
        return std::nullopt;
    store->reset(X509_STORE_new());
    if (!*store)
        return fail(error, caPath, QStringLiteral("out of memory"));
    QList<QSslCertificate> certificates;
    Bio bio = memoryBio(*pem);
    // Several CA certificates may be listed (a CA rollover); each one is a trust anchor.
    while (Certificate ca{PEM_read_bio_X509(bio.get(), nullptr, noPassphrase, nullptr)}) {
        if (X509_check_ca(ca.get()) != 1)
            return fail(
                error, caPath,
                QStringLiteral("certificate %1 is not a CA certificate").arg(certificates.size() + 1));
        if (X509_cmp_current_time(X509_get0_notAfter(ca.get())) <= 0)
            return fail(error, caPath,
                        QStringLiteral("the CA certificate expired on %1")
                            .arg(asn1TimeText(X509_get0_notAfter(ca.get()))));
        if (X509_STORE_add_cert(store->get(), ca.get()) != 1)
            return fail(error, caPath, QStringLiteral("cannot use the CA certificate"));
        certificates.append(QSslCertificate(certificatePem(ca.get()), QSsl::Pem));
    }
    if (certificates.isEmpty())
        return fail(error, caPath, QStringLiteral("not a PEM CA certificate"));
    return certificates;
}
} // namespace

// Builds the identity from an already parsed pair; a static member so it may use the private constructor.
class TlsIdentityBuilder
{
public:
    static std::optional<TlsIdentity> build(const Material &material, const QString &caPath, QString *error);
};

std::optional<TlsIdentity> TlsIdentityBuilder::build(const Material &material, const QString &caPath,
                                                     QString *error)
{
    X509 *certificate = material.certificate.get();
    EVP_PKEY *key = material.key.get();

    QSsl::KeyAlgorithm algorithm;
    switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_EC:
        algorithm = QSsl::Ec;
        break;
    case EVP_PKEY_RSA:
        algorithm = QSsl::Rsa;
        break;
    default:
        // Notably Ed25519, which QSslKey in Qt 6.4 cannot parse.
        return fail(error, material.keyLabel,
                    QStringLiteral("a %1 key; TLS needs an EC (P-256) or RSA key")
                        .arg(QString::fromLatin1(EVP_PKEY_get0_type_name(key))));
    }
    if (X509_check_private_key(certificate, key) != 1)
        return fail(error, material.keyLabel,
                    QStringLiteral("the private key does not match the certificate in %1")
                        .arg(QDir::toNativeSeparators(material.certificateLabel)));
    if (X509_cmp_current_time(X509_get0_notBefore(certificate)) >= 0)
        return fail(error, material.certificateLabel,
                    QStringLiteral("the certificate is not valid before %1")
                        .arg(asn1TimeText(X509_get0_notBefore(certificate))));
    if (X509_cmp_current_time(X509_get0_notAfter(certificate)) <= 0)
        return fail(error, material.certificateLabel,
                    QStringLiteral("the certificate expired on %1")
                        .arg(asn1TimeText(X509_get0_notAfter(certificate))));

    Store store;
    std::optional<QList<QSslCertificate>> caCertificates = readCaCertificates(caPath, &store, error);
    if (!caCertificates)
        return std::nullopt;
    // Peers would refuse a certificate of another CA with an obscure handshake error; say it here.
    StoreContext context(X509_STORE_CTX_new());
    if (!context || X509_STORE_CTX_init(context.get(), store.get(), certificate, nullptr) != 1)
        return fail(error, material.certificateLabel, QStringLiteral("out of memory"));
    if (X509_verify_cert(context.get()) != 1)
        return fail(error, material.certificateLabel,
                    QStringLiteral("not issued by the consortium CA in %1 (%2)")
                        .arg(QDir::toNativeSeparators(caPath),
                             QString::fromLatin1(
                                 X509_verify_cert_error_string(X509_STORE_CTX_get_error(context.get())))));

    TlsIdentity identity;
    identity.m_certificate = QSslCertificate(certificatePem(certificate), QSsl::Pem);
    if (identity.m_certificate.isNull())
        return fail(error, material.certificateLabel, QStringLiteral("Qt cannot read this certificate"));
    identity.m_privateKey = QSslKey(privateKeyPem(key), algorithm, QSsl::Pem, QSsl::PrivateKey);
    if (identity.m_privateKey.isNull())
        return fail(error, material.keyLabel, QStringLiteral("Qt cannot read this private key"));
    identity.m_caCertificates = *caCertificates;
    QString why;
    const std::optional<PeerIdentity> self = peerIdentityOf(identity.m_certificate, &why);
    if (!self)
        return fail(error, material.certificateLabel, why);
    identity.m_self = *self;
    return identity;
}

std::optional<TlsIdentity> TlsIdentity::load(const QString &certificatePath, const QString &keyPath,
                                             const QString &caPath, QString *error)
{
    const ErrorQueueGuard guard;
    Material material;
    material.certificateLabel = certificatePath;
    material.keyLabel = keyPath;

    const std::optional<QByteArray> certificatePemText = readSmallFile(certificatePath, error);
    if (!certificatePemText)
        return std::nullopt;
    Bio certificateBio = memoryBio(*certificatePemText);
    material.certificate.reset(PEM_read_bio_X509(certificateBio.get(), nullptr, noPassphrase, nullptr));
    if (!material.certificate)
        return fail(error, certificatePath, QStringLiteral("not a PEM certificate"));

    // Same rule as the signing key files: a TLS key readable by others is refused, not silently used.
    struct stat info;
    if (::stat(QFile::encodeName(keyPath).constData(), &info) == 0 && (info.st_mode & 077) != 0)
        return fail(error, keyPath,
                    QStringLiteral("permissions %1 let others read the private key; run chmod 600")
                        .arg(info.st_mode & 0777, 3, 8, QLatin1Char('0')));
    const std::optional<QByteArray> keyPemText = readSmallFile(keyPath, error);
    if (!keyPemText)
        return std::nullopt;
    if (keyPemText->contains("-----BEGIN ENCRYPTED PRIVATE KEY-----") ||
        keyPemText->contains("Proc-Type: 4,ENCRYPTED"))
        return fail(error, keyPath,
                    QStringLiteral("the private key is encrypted; an unencrypted key is needed"));
    Bio keyBio = memoryBio(*keyPemText);
    material.key.reset(PEM_read_bio_PrivateKey(keyBio.get(), nullptr, noPassphrase, nullptr));
    if (!material.key)
        return fail(error, keyPath, QStringLiteral("not a PEM private key"));

    return TlsIdentityBuilder::build(material, caPath, error);
}

std::optional<TlsIdentity> TlsIdentity::loadPkcs12(const QString &path, const QString &password,
                                                   const QString &caPath, QString *error)
{
    const ErrorQueueGuard guard;
    const std::optional<QByteArray> contents = readSmallFile(path, error);
    if (!contents)
        return std::nullopt;
    Bio bio = memoryBio(*contents);
    Pkcs12 bundle(d2i_PKCS12_bio(bio.get(), nullptr));
    if (!bundle)
        return fail(error, path, QStringLiteral("not a PKCS#12 file"));
    const QByteArray passwordUtf8 = password.toUtf8();
    if (PKCS12_mac_present(bundle.get()) &&
        PKCS12_verify_mac(bundle.get(), passwordUtf8.constData(), int(passwordUtf8.size())) != 1)
        return fail(error, path, QStringLiteral("wrong password for the PKCS#12 bundle"));
    EVP_PKEY *key = nullptr;
    X509 *certificate = nullptr;
    STACK_OF(X509) *extra = nullptr;
    const bool parsed = PKCS12_parse(bundle.get(), passwordUtf8.constData(), &key, &certificate, &extra) == 1;
    Material material{Certificate(certificate), Pkey(key), path, path};
    const CertificateStack extraCertificates(extra); // the bundled CA; the trust anchor comes from caPath
    if (!parsed)
        return fail(error, path, QStringLiteral("cannot decrypt the PKCS#12 bundle (wrong password?)"));
    if (!material.certificate)
        return fail(error, path, QStringLiteral("the PKCS#12 bundle holds no certificate"));
    if (!material.key)
        return fail(error, path, QStringLiteral("the PKCS#12 bundle holds no private key"));
    return TlsIdentityBuilder::build(material, caPath, error);
}

QSslConfiguration TlsIdentity::configuration() const
{
    QSslConfiguration configuration = QSslConfiguration::defaultConfiguration();
    configuration.setLocalCertificate(m_certificate);
    configuration.setPrivateKey(m_privateKey);
    // Replaces the system roots and turns off their on-demand loading: only the consortium CA is trusted.
    configuration.setCaCertificates(m_caCertificates);
    configuration.setPeerVerifyMode(QSslSocket::VerifyPeer);
    configuration.setProtocol(QSsl::TlsV1_2OrLater);
    return configuration;
}

QSslConfiguration TlsIdentity::serverConfiguration() const
{
    // VerifyPeer on a server means a client without a CA-issued certificate fails the handshake.
    return configuration();
}

QSslConfiguration TlsIdentity::clientConfiguration() const
{
    return configuration();
}

std::optional<PeerIdentity> peerIdentityOf(const QSslCertificate &certificate, QString *error)
{
    auto failWith = [error](const QString &message) {
        if (error)
            *error = message;
        return std::nullopt;
    };
    if (certificate.isNull())
        return failWith(QStringLiteral("the peer presented no certificate"));
    const QString subject = certificate.subjectDisplayName();
    const QStringList commonNames = certificate.subjectInfo(QSslCertificate::CommonName);
    if (commonNames.size() != 1 || commonNames.first().isEmpty())
        return failWith(QStringLiteral("certificate \"%1\": the subject needs exactly one CN, the party name")
                            .arg(subject));
    const QStringList units = certificate.subjectInfo(QSslCertificate::OrganizationalUnitName);
    if (units.size() != 1)
        return failWith(QStringLiteral("certificate \"%1\": the subject needs exactly one OU, the party kind")
                            .arg(subject));
    const std::optional<PartyKind> kind = partyKindFromName(units.first());
    if (!kind)
        return failWith(QStringLiteral("certificate \"%1\": OU \"%2\" is not node, operator or auditor")
                            .arg(subject, units.first()));
    return PeerIdentity{*kind, commonNames.first()};
}

} // namespace ticketsync
