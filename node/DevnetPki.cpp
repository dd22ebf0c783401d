#include "DevnetPki.h"

#include "OpenSslHandles.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QLoggingCategory>
#include <QRegularExpression>
#include <QSaveFile>
#include <QSet>

#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include <ctime>

namespace ticketsync {

namespace {
Q_LOGGING_CATEGORY(lcPki, "ticketsync.node.pki", QtWarningMsg)

constexpr int kCaDays = 3650;
constexpr int kPartyDays = 825;
// A pair with less than this left is re-issued, so a long-lived devnet never hits an expiry.
constexpr int kRenewDays = 30;
// notBefore lies a little in the past so machines with slightly slow clocks accept fresh certificates.
constexpr long kBackdateSeconds = 300;
// X.509 upper bound for CN, O and OU (RFC 5280, ub-common-name and friends).
constexpr int kMaxNameLength = 64;

bool fail(QString *error, const QString &path, const QString &message)
{
    if (error)
        *error = QStringLiteral("%1: %2").arg(QDir::toNativeSeparators(path), message);
    return false;
}

std::optional<QByteArray> readSmallFile(const QString &path)
{
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly))
        return std::nullopt;
    return file.read(1024 * 1024);
}

constexpr QFileDevice::Permissions kSecretPermissions = QFileDevice::ReadOwner | QFileDevice::WriteOwner;
constexpr QFileDevice::Permissions kPublicPermissions =
    QFileDevice::ReadOwner | QFileDevice::WriteOwner | QFileDevice::ReadGroup | QFileDevice::ReadOther;

bool writeFileAtomically(const QString &path, const QByteArray &contents,
                         QFileDevice::Permissions permissions, QString *error)
{
    QSaveFile file(path);
    // Permissions go on the temporary file before any secret byte is written to it.
    if (!file.open(QIODevice::WriteOnly) || !file.setPermissions(permissions) ||
        file.write(contents) != contents.size() || !file.commit())
        return fail(error, path, QStringLiteral("cannot write: %1").arg(file.errorString()));
    return true;
}

Certificate readCertificate(const QString &path)
{
    const std::optional<QByteArray> pem = readSmallFile(path);
    if (!pem)
        return nullptr;
    Bio bio = memoryBio(*pem);
    return Certificate(PEM_read_bio_X509(bio.get(), nullptr, noPassphrase, nullptr));
}

Pkey readPrivateKey(const QString &path)
{
    const std::optional<QByteArray> pem = readSmallFile(path);
    if (!pem)
        return nullptr;
    Bio bio = memoryBio(*pem);
    return Pkey(PEM_read_bio_PrivateKey(bio.get(), nullptr, noPassphrase, nullptr));
}

// The single entry of this type in a name; empty if there is none or more than one.
QString nameEntry(const X509_NAME *name, int nid)
{
    const int index = X509_NAME_get_index_by_NID(name, nid, -1);
    if (index < 0 || X509_NAME_get_index_by_NID(name, nid, index) >= 0)
        return {};
    unsigned char *utf8 = nullptr;
    const int length = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, index)));
    if (length < 0)
        return {};
    QString result = QString::fromUtf8(reinterpret_cast<const char *>(utf8), length);
    OPENSSL_free(utf8);
    return result;
}

bool addNameEntry(X509_NAME *name, const char *field, const QString &value)
{
    const QByteArray utf8 = value.toUtf8();
    return X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8,
                                      reinterpret_cast<const unsigned char *>(utf8.constData()),
                                      int(utf8.size()), -1, 0) == 1;
}

bool addExtension(X509 *certificate, X509V3_CTX *context, int nid, const char *value)
{
    X509_EXTENSION *extension = X509V3_EXT_conf_nid(nullptr, context, nid, value);
    if (!extension)
        return false;
    const bool added = X509_add_ext(certificate, extension, -1) == 1;
    X509_EXTENSION_free(extension);
    return added;
}

bool setRandomSerial(X509 *certificate)
{
    unsigned char bytes[16];
    if (RAND_bytes(bytes, sizeof bytes) != 1)
        return false;
    bytes[0] |= 0x01; // never zero; the serial is positive since BN_bin2bn reads it unsigned
    Bignum serial(BN_bin2bn(bytes, sizeof bytes, nullptr));
    return serial && BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(certificate));
}

Pkey generateP256Key()
{
    return Pkey(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
}

struct CertificateRequest
{
    QString organization;
    QString organizationalUnit; // empty for the CA
    QString commonName;
    int days = 0;
    bool isCa = false;
};

// Builds and signs a certificate for subjectKey; a null issuer makes it self-signed.
Certificate buildCertificate(EVP_PKEY *subjectKey, const CertificateRequest &request, X509 *issuer,
                             EVP_PKEY *issuerKey)
{
    Certificate certificate(X509_new());
    if (!certificate || X509_set_version(certificate.get(), X509_VERSION_3) != 1 ||
        !setRandomSerial(certificate.get()) || X509_set_pubkey(certificate.get(), subjectKey) != 1)
        return nullptr;
    if (!X509_gmtime_adj(X509_getm_notBefore(certificate.get()), -kBackdateSeconds) ||
        !X509_time_adj_ex(X509_getm_notAfter(certificate.get()), request.days, 0, nullptr))
        return nullptr;

    X509_NAME *subject = X509_get_subject_name(certificate.get());
    if (!addNameEntry(subject, "O", request.organization) ||
        (!request.organizationalUnit.isEmpty() && !addNameEntry(subject, "OU", request.organizationalUnit)) ||
        !addNameEntry(subject, "CN", request.commonName))
        return nullptr;
    X509 *signer = issuer ? issuer : certificate.get();
    if (X509_set_issuer_name(certificate.get(), X509_get_subject_name(signer)) != 1)
        return nullptr;

    X509V3_CTX context;
    X509V3_set_ctx(&context, signer, certificate.get(), nullptr, nullptr, 0);
    // The subject key identifier comes first: a self-signed CA's authority key identifier reads it.
    bool added = addExtension(certificate.get(), &context, NID_subject_key_identifier, "hash") &&
                 addExtension(certificate.get(), &context, NID_authority_key_identifier, "keyid:always");
    if (request.isCa) {
        added =
            added &&
            addExtension(certificate.get(), &context, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") &&
            addExtension(certificate.get(), &context, NID_key_usage, "critical,keyCertSign,cRLSign");
    } else {
        added = added &&
                addExtension(certificate.get(), &context, NID_basic_constraints, "critical,CA:FALSE") &&
                addExtension(certificate.get(), &context, NID_key_usage, "critical,digitalSignature") &&
                addExtension(certificate.get(), &context, NID_ext_key_usage, "serverAuth,clientAuth") &&
                addExtension(certificate.get(), &context, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1");
    }
    if (!added || X509_sign(certificate.get(), issuerKey ? issuerKey : subjectKey, EVP_sha256()) <= 0)
        return nullptr;
    return certificate;
}

bool expiresWithin(X509 *certificate, int days)
{
    time_t limit = time(nullptr) + time_t(days) * 24 * 3600;
    return X509_cmp_time(X509_get0_notAfter(certificate), &limit) <= 0;
}

bool notYetValid(X509 *certificate)
{
    return X509_cmp_current_time(X509_get0_notBefore(certificate)) >= 0;
}

struct Ca
{
    Certificate certificate;
    Pkey key;
    QString consortium;
};

QString caCertificatePath(const QString &dir)
{
    return QDir(dir).filePath(QStringLiteral("ca.pem"));
}

QString caKeyPath(const QString &dir)
{
    return QDir(dir).filePath(QStringLiteral("ca.key"));
}

enum class CaState
{
    Missing,
    Invalid,
    Valid
};

// Loads dir/ca.pem and dir/ca.key; on Invalid, *problem is one line naming the file.
CaState loadCa(const QString &dir, Ca *ca, QString *problem)
{
    const QString certificatePath = caCertificatePath(dir);
    const QString keyPath = caKeyPath(dir);
    auto invalid = [problem](const QString &path, const QString &message) {
        fail(problem, path, message);
        return CaState::Invalid;
    };
    const bool haveCertificate = QFileInfo::exists(certificatePath);
    const bool haveKey = QFileInfo::exists(keyPath);
    if (!haveCertificate && !haveKey)
        return CaState::Missing;
    if (!haveCertificate)
        return invalid(certificatePath, QStringLiteral("missing, but ca.key exists"));
    if (!haveKey)
        return invalid(keyPath, QStringLiteral("missing, but ca.pem exists"));
    ca->certificate = readCertificate(certificatePath);
    if (!ca->certificate)
        return invalid(certificatePath, QStringLiteral("not a PEM certificate"));
    ca->key = readPrivateKey(keyPath);
    if (!ca->key)
        return invalid(keyPath, QStringLiteral("not an unencrypted PEM private key"));
    if (X509_check_private_key(ca->certificate.get(), ca->key.get()) != 1)
        return invalid(keyPath, QStringLiteral("does not match the certificate in ca.pem"));
    if (X509_check_ca(ca->certificate.get()) != 1)
        return invalid(certificatePath, QStringLiteral("not a CA certificate"));
    if (expiresWithin(ca->certificate.get(), 0))
        return invalid(certificatePath, QStringLiteral("the CA certificate has expired"));
    ca->consortium = nameEntry(X509_get_subject_name(ca->certificate.get()), NID_organizationName);
    if (ca->consortium.isEmpty())
        return invalid(certificatePath, QStringLiteral("the CA names no consortium (subject O)"));
    return CaState::Valid;
}

bool createCa(const QString &dir, const QString &consortium, Ca *ca, QString *error)
{
    ca->key = generateP256Key();
    if (!ca->key)
        return fail(error, caKeyPath(dir), QStringLiteral("cannot generate a P-256 key"));
    const CertificateRequest request{consortium, QString(), QStringLiteral("ticketsync devnet CA"), kCaDays,
                                     true};
    ca->certificate = buildCertificate(ca->key.get(), request, nullptr, nullptr);
    if (!ca->certificate)
        return fail(error, caCertificatePath(dir), QStringLiteral("cannot build the CA certificate"));
    ca->consortium = consortium;
    // The key goes first: a crash in between leaves a mismatched pair, which the next run replaces.
    return writeFileAtomically(caKeyPath(dir), privateKeyPem(ca->key.get()), kSecretPermissions, error) &&
           writeFileAtomically(caCertificatePath(dir), certificatePem(ca->certificate.get()),
                               kPublicPermissions, error);
}

QString partyPath(const QString &dir, const QString &name, const char *suffix)
{
    return QDir(dir).filePath(name + QLatin1String(suffix));
}

bool validPartyName(const QString &name)
{
    static const QRegularExpression pattern(QStringLiteral("^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"));
    return pattern.match(name).hasMatch() && name != QLatin1String("ca");
}

// Whether dir/<name>.pem and .key form a pair this CA issued for exactly this party, with time left.
bool partyIsValid(const QString &dir, const Ca &ca, const PartySpec &party)
{
    Certificate certificate = readCertificate(partyPath(dir, party.name, ".pem"));
    Pkey key = readPrivateKey(partyPath(dir, party.name, ".key"));
    if (!certificate || !key || X509_check_private_key(certificate.get(), key.get()) != 1)
        return false;
    Pkey caPublicKey(X509_get_pubkey(ca.certificate.get()));
    if (X509_check_issued(ca.certificate.get(), certificate.get()) != X509_V_OK ||
        X509_verify(certificate.get(), caPublicKey.get()) != 1)
        return false;
    if (notYetValid(certificate.get()) || expiresWithin(certificate.get(), kRenewDays))
        return false;
    const X509_NAME *subject = X509_get_subject_name(certificate.get());
    return nameEntry(subject, NID_commonName) == party.name &&
           nameEntry(subject, NID_organizationalUnitName) == partyKindName(party.kind) &&
           nameEntry(subject, NID_organizationName) == ca.consortium;
}

bool issueParty(const QString &dir, const Ca &ca, const PartySpec &party, QString *error)
{
    const QString keyPath = partyPath(dir, party.name, ".key");
    const QString certificatePath = partyPath(dir, party.name, ".pem");
    Pkey key = generateP256Key();
    if (!key)
        return fail(error, keyPath, QStringLiteral("cannot generate a P-256 key"));
    const CertificateRequest request{ca.consortium, partyKindName(party.kind), party.name, kPartyDays, false};
    Certificate certificate = buildCertificate(key.get(), request, ca.certificate.get(), ca.key.get());
    if (!certificate)
        return fail(error, certificatePath, QStringLiteral("cannot build the certificate"));
    return writeFileAtomically(keyPath, privateKeyPem(key.get()), kSecretPermissions, error) &&
           writeFileAtomically(certificatePath, certificatePem(certificate.get()), kPublicPermissions, error);
}

// Writes dir/<name>.p12 unless it already opens with this password and holds the current pair;
// PKCS#12 files carry a random salt, so rewriting an unchanged one would break idempotence.
bool ensurePkcs12(const QString &dir, const Ca &ca, const PartySpec &party, const QString &password,
                  QString *error)
{
    const QString path = partyPath(dir, party.name, ".p12");
    const QString certificatePath = partyPath(dir, party.name, ".pem");
    const QString keyPath = partyPath(dir, party.name, ".key");
    Certificate certificate = readCertificate(certificatePath);
    if (!certificate)
        return fail(error, certificatePath, QStringLiteral("cannot read the certificate back"));
    Pkey key = readPrivateKey(keyPath);
    if (!key)
        return fail(error, keyPath, QStringLiteral("cannot read the private key back"));
    const QByteArray passwordUtf8 = password.toUtf8();

    if (const std::optional<QByteArray> existing = readSmallFile(path)) {
        Bio bio = memoryBio(*existing);
        Pkcs12 bundle(d2i_PKCS12_bio(bio.get(), nullptr));
        EVP_PKEY *bundledKey = nullptr;
        X509 *bundledCertificate = nullptr;
        STACK_OF(X509) *bundledCas = nullptr;
        if (bundle &&
            PKCS12_verify_mac(bundle.get(), passwordUtf8.constData(), int(passwordUtf8.size())) == 1 &&
            PKCS12_parse(bundle.get(), passwordUtf8.constData(), &bundledKey, &bundledCertificate,
                         &bundledCas) == 1) {
            Pkey keptKey(bundledKey);
            Certificate keptCertificate(bundledCertificate);
            CertificateStack keptCas(bundledCas);
            if (keptKey && keptCertificate && EVP_PKEY_eq(keptKey.get(), key.get()) == 1 &&
                X509_cmp(keptCertificate.get(), certificate.get()) == 0)
                return true;
        }
    }

    CertificateStack cas(sk_X509_new_null());
    if (!cas || sk_X509_push(cas.get(), ca.certificate.get()) <= 0)
        return fail(error, path, QStringLiteral("out of memory"));
    X509_up_ref(ca.certificate.get()); // the stack now owns one reference
    const QByteArray friendlyName = party.name.toUtf8();
    // OpenSSL 3 defaults: AES-256-CBC with PBKDF2 and an HMAC-SHA256 MAC.
    Pkcs12 bundle(PKCS12_create(passwordUtf8.constData(), friendlyName.constData(), key.get(),
                                certificate.get(), cas.get(), 0, 0, 0, 0, 0));
    Bio bio(BIO_new(BIO_s_mem()));
    if (!bundle || !bio || i2d_PKCS12_bio(bio.get(), bundle.get()) != 1)
        return fail(error, path, QStringLiteral("cannot build the PKCS#12 bundle"));
    return writeFileAtomically(path, bioContents(bio.get()), kSecretPermissions, error);
}

bool validConsortiumName(const QString &consortium)
{
    if (consortium.trimmed().isEmpty() || consortium.size() > kMaxNameLength)
        return false;
    for (const QChar c : consortium) {
        if (c.category() == QChar::Other_Control)
            return false;
    }
    return true;
}
} // namespace

QString partyKindName(PartyKind kind)
{
    switch (kind) {
    case PartyKind::Node:
        return QStringLiteral("node");
    case PartyKind::Operator:
        return QStringLiteral("operator");
    case PartyKind::Auditor:
        return QStringLiteral("auditor");
    }
    return {};
}

std::optional<PartyKind> partyKindFromName(QStringView name)
{
    for (const PartyKind kind : {PartyKind::Node, PartyKind::Operator, PartyKind::Auditor}) {
        if (name == partyKindName(kind))
            return kind;
    }
    return std::nullopt;
}

bool DevnetPki::ensure(const QString &dir, const QString &consortium, const QList<PartySpec> &parties,
                       const QString &p12Password, QString *error)
{
    const ErrorQueueGuard guard;
    if (!validConsortiumName(consortium))
        return fail(error, dir,
                    QStringLiteral("the consortium name \"%1\" must be 1 to %2 printable characters")
                        .arg(consortium)
                        .arg(kMaxNameLength));
    QSet<QString> names;
    for (const PartySpec &party : parties) {
        if (!validPartyName(party.name))
            return fail(error, dir,
                        QStringLiteral("the party name \"%1\" must be 1 to 64 of A-Z a-z 0-9 . _ -, "
                                       "start with a letter or digit and not be \"ca\"")
                            .arg(party.name));
        if (names.contains(party.name))
            return fail(error, dir, QStringLiteral("the party name \"%1\" appears twice").arg(party.name));
        names.insert(party.name);
        if (party.kind != PartyKind::Node && p12Password.isEmpty())
            return fail(error, dir,
                        QStringLiteral("the PKCS#12 password for %1 \"%2\" is empty")
                            .arg(partyKindName(party.kind), party.name));
    }
    if (!QDir().mkpath(dir))
        return fail(error, dir, QStringLiteral("cannot create the directory"));

    Ca ca;
    QString problem;
    switch (loadCa(dir, &ca, &problem)) {
    case CaState::Valid:
        if (ca.consortium != consortium)
            return fail(
                error, caCertificatePath(dir),
                QStringLiteral("the CA belongs to consortium \"%1\", not \"%2\"; use another directory")
                    .arg(ca.consortium, consortium));
        break;
    case CaState::Invalid:
        // Unusable anyway (nothing can be issued or verified with it): start a new consortium CA.
        qCWarning(lcPki, "replacing the devnet CA: %s", qUtf8Printable(problem));
        Q_FALLTHROUGH();
    case CaState::Missing:
        if (!createCa(dir, consortium, &ca, error))
            return false;
        break;
    }

    for (const PartySpec &party : parties) {
        if (!partyIsValid(dir, ca, party) && !issueParty(dir, ca, party, error))
            return false;
        if (party.kind != PartyKind::Node && !ensurePkcs12(dir, ca, party, p12Password, error))
            return false;
    }
    return true;
}

bool DevnetPki::checkCa(const QString &dir, const QString &consortium, QString *error)
{
    const ErrorQueueGuard guard;
    Ca ca;
    switch (loadCa(dir, &ca, error)) {
    case CaState::Missing:
        return fail(error, caCertificatePath(dir), QStringLiteral("missing, and so is ca.key"));
    case CaState::Invalid:
        return false;
    case CaState::Valid:
        break;
    }
    if (ca.consortium != consortium)
        return fail(
            error, caCertificatePath(dir),
            QStringLiteral("the CA belongs to consortium \"%1\", not \"%2\"").arg(ca.consortium, consortium));
    return true;
}

bool DevnetPki::issue(const QString &dir, const PartySpec &party, QString *error)
{
    const ErrorQueueGuard guard;
    if (!validPartyName(party.name))
        return fail(error, dir,
                    QStringLiteral("the party name \"%1\" must be 1 to 64 of A-Z a-z 0-9 . _ -, "
                                   "start with a letter or digit and not be \"ca\"")
                        .arg(party.name));
    Ca ca;
    QString problem;
    switch (loadCa(dir, &ca, &problem)) {
    case CaState::Missing:
        return fail(error, caCertificatePath(dir), QStringLiteral("no CA here; run ensure() first"));
    case CaState::Invalid:
        if (error)
            *error = problem;
        return false;
    case CaState::Valid:
        break;
    }
    return issueParty(dir, ca, party, error);
}

} // namespace ticketsync
