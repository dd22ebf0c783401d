// Mutual TLS between consortium parties: the devnet PKI on disk, loading identities, and real
// handshakes through QSslServer and QSslSocket on 127.0.0.1.

#include "DevnetPki.h"
#include "TlsIdentity.h"

#include <QDateTime>
#include <QDir>
#include <QFile>
#include <QMap>
#include <QRegularExpression>
#include <QSignalSpy>
#include <QSslServer>
#include <QSslSocket>
#include <QTemporaryDir>
#include <QTest>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/stat.h>

#include <memory>

using namespace ticketsync;

namespace {

const char kConsortium[] = "Test Bank Consortium";
const char kPassword[] = "correct horse battery staple";

QString consortium()
{
    return QString::fromLatin1(kConsortium);
}

QString password()
{
    return QString::fromLatin1(kPassword);
}

QList<PartySpec> ourParties()
{
    return {{QStringLiteral("coordinator-1"), PartyKind::Node},
            {QStringLiteral("target-1"), PartyKind::Node},
            {QStringLiteral("operator-1"), PartyKind::Operator},
            {QStringLiteral("auditor-1"), PartyKind::Auditor}};
}

// Every file in dir with its bytes, to prove a re-run wrote nothing.
QMap<QString, QByteArray> snapshot(const QString &dir)
{
    QMap<QString, QByteArray> files;
    const QStringList names = QDir(dir).entryList(QDir::Files, QDir::Name);
    for (const QString &name : names) {
        QFile file(QDir(dir).filePath(name));
        if (file.open(QIODevice::ReadOnly))
            files.insert(name, file.readAll());
    }
    return files;
}

unsigned modeOf(const QString &path)
{
    struct stat info;
    if (::stat(QFile::encodeName(path).constData(), &info) != 0)
        return 0;
    return info.st_mode & 0777;
}

bool writeFile(const QString &path, const QByteArray &contents, QFileDevice::Permissions permissions)
{
    QFile file(path);
    return file.open(QIODevice::WriteOnly | QIODevice::Truncate) && file.write(contents) == contents.size() &&
           file.setPermissions(permissions);
}

constexpr QFileDevice::Permissions kOwnerOnly = QFileDevice::ReadOwner | QFileDevice::WriteOwner;

// OpenSSL directly, for inputs DevnetPki never produces: an expired certificate and an Ed25519 key.
struct PkeyFree
{
    void operator()(EVP_PKEY *key) const { EVP_PKEY_free(key); }
};
struct X509Free
{
    void operator()(X509 *certificate) const { X509_free(certificate); }
};
struct BioFree
{
    void operator()(BIO *bio) const { BIO_free(bio); }
};

QByteArray readBytes(const QString &path)
{
    QFile file(path);
    return file.open(QIODevice::ReadOnly) ? file.readAll() : QByteArray();
}

// A copy of certificatePath valid from 10 days ago to 1 day ago, signed again by the CA.
QByteArray expiredCopy(const QString &certificatePath, const QString &caKeyPath)
{
    const QByteArray certificatePem = readBytes(certificatePath);
    const QByteArray caKeyPem = readBytes(caKeyPath);
    std::unique_ptr<BIO, BioFree> certificateBio(
        BIO_new_mem_buf(certificatePem.constData(), int(certificatePem.size())));
    std::unique_ptr<BIO, BioFree> keyBio(BIO_new_mem_buf(caKeyPem.constData(), int(caKeyPem.size())));
    std::unique_ptr<X509, X509Free> certificate(
        PEM_read_bio_X509(certificateBio.get(), nullptr, nullptr, nullptr));
    std::unique_ptr<EVP_PKEY, PkeyFree> caKey(
        PEM_read_bio_PrivateKey(keyBio.get(), nullptr, nullptr, nullptr));
    if (!certificate || !caKey ||
        !X509_gmtime_adj(X509_getm_notBefore(certificate.get()), -10L * 24 * 3600) ||
        !X509_gmtime_adj(X509_getm_notAfter(certificate.get()), -1L * 24 * 3600) ||
        X509_sign(certificate.get(), caKey.get(), EVP_sha256()) <= 0)
        return {};
    std::unique_ptr<BIO, BioFree> out(BIO_new(BIO_s_mem()));
    PEM_write_bio_X509(out.get(), certificate.get());
    char *data = nullptr;
    const long size = BIO_get_mem_data(out.get(), &data);
    return QByteArray(data, qsizetype(size));
}

QByteArray ed25519KeyPem()
{
    std::unique_ptr<EVP_PKEY, PkeyFree> key(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
    std::unique_ptr<BIO, BioFree> out(BIO_new(BIO_s_mem()));
    if (!key || PEM_write_bio_PrivateKey(out.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1)
        return {};
    char *data = nullptr;
    const long size = BIO_get_mem_data(out.get(), &data);
    return QByteArray(data, qsizetype(size));
}

// A listening QSslServer set up as the node transport uses it: low delay on each accepted socket
// before its handshake (PLATFORM.md: Nagle plus delayed ACK cost ~40 ms per TLS 1.3 handshake).
struct Listener
{
    explicit Listener(const QSslConfiguration &configuration)
    {
        server.setSslConfiguration(configuration);
        QObject::connect(&server, &QSslServer::startedEncryptionHandshake, &server, [](QSslSocket *socket) {
            socket->setSocketOption(QAbstractSocket::LowDelayOption, 1);
        });
    }

    QSslServer server;
};

// A client connection with spies on everything the tests look at.
struct Client
{
    explicit Client(const QSslConfiguration &configuration)
        : encrypted(&socket, &QSslSocket::encrypted),
          sslErrors(&socket, QOverload<const QList<QSslError> &>::of(&QSslSocket::sslErrors)),
          errors(&socket, &QAbstractSocket::errorOccurred)
    {
        socket.setSslConfiguration(configuration);
        // Socket options only take once the socket exists, i.e. when TCP is connected.
        QObject::connect(&socket, &QAbstractSocket::connected, &socket,
                         [this] { socket.setSocketOption(QAbstractSocket::LowDelayOption, 1); });
    }

    void connectTo(const QSslServer &server)
    {
        socket.connectToHostEncrypted(QStringLiteral("127.0.0.1"), server.serverPort());
    }

    QSslSocket socket;
    QSignalSpy encrypted;
    QSignalSpy sslErrors;
    QSignalSpy errors;
};

} // namespace

class TestTls : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();

    void handshakeBetweenParties_data();
    void handshakeBetweenParties();
    void clientWithoutCertificateIsRefused();
    void clientOfForeignCaIsRefused();
    void clientTrustingForeignCaRefusesServer();

    void ensureIsIdempotent();
    void keyFilesAreOwnerOnly();
    void certificatesCarryTheParty();
    void ensureReissuesABrokenPair();
    void ensureRefusesBadInput();

    void loadErrorsNameTheFile_data();
    void loadErrorsNameTheFile();
    void pkcs12();
    void peerIdentityOfRejectsNonParties();

private:
    QString ours(const QString &file) const { return QDir(m_dir.path()).filePath(file); }
    QString foreign(const QString &file) const { return QDir(m_foreignDir.path()).filePath(file); }
    TlsIdentity load(const QString &name) const;
    // Expects the server to refuse this client: no connection reaches the application.
    void expectRefusedByServer(Client &client, Listener &listener);

    QTemporaryDir m_dir;
    QTemporaryDir m_foreignDir;
};

TlsIdentity TestTls::load(const QString &name) const
{
    QString error;
    std::optional<TlsIdentity> identity =
        TlsIdentity::load(ours(name + QStringLiteral(".pem")), ours(name + QStringLiteral(".key")),
                          ours(QStringLiteral("ca.pem")), &error);
    if (!identity)
        qFatal("cannot load %s: %s", qPrintable(name), qPrintable(error));
    return *identity;
}

void TestTls::initTestCase()
{
    QVERIFY(m_dir.isValid());
    QVERIFY(m_foreignDir.isValid());
    QString error;
    QVERIFY2(DevnetPki::ensure(m_dir.path(), consortium(), ourParties(), password(), &error),
             qPrintable(error));
    // Another consortium's CA with a party of the same name and kind as one of ours.
    QVERIFY2(
        DevnetPki::ensure(m_foreignDir.path(), QStringLiteral("Foreign Consortium"), {}, QString(), &error),
        qPrintable(error));
    QVERIFY2(DevnetPki::issue(m_foreignDir.path(), {QStringLiteral("target-1"), PartyKind::Node}, &error),
             qPrintable(error));
}

void TestTls::handshakeBetweenParties_data()
{
    QTest::addColumn<QString>("clientName");
    QTest::addColumn<int>("clientKind");
    QTest::addColumn<bool>("fromPkcs12");
    QTest::newRow("node") << QStringLiteral("coordinator-1") << int(PartyKind::Node) << false;
    QTest::newRow("operator") << QStringLiteral("operator-1") << int(PartyKind::Operator) << true;
    QTest::newRow("auditor") << QStringLiteral("auditor-1") << int(PartyKind::Auditor) << true;
}

void TestTls::handshakeBetweenParties()
{
    QFETCH(QString, clientName);
    QFETCH(int, clientKind);
    QFETCH(bool, fromPkcs12);

    const TlsIdentity serverIdentity = load(QStringLiteral("target-1"));
    QString error;
    const std::optional<TlsIdentity> clientIdentity =
        fromPkcs12 ? TlsIdentity::loadPkcs12(ours(clientName + QStringLiteral(".p12")), password(),
                                             ours(QStringLiteral("ca.pem")), &error)
                   : std::optional<TlsIdentity>(load(clientName));
    QVERIFY2(clientIdentity, qPrintable(error));

    Listener listener(serverIdentity.serverConfiguration());
    QSignalSpy serverErrors(&listener.server, &QSslServer::errorOccurred);
    QSignalSpy admitted(&listener.server, &QTcpServer::pendingConnectionAvailable);
    QVERIFY(listener.server.listen(QHostAddress::LocalHost, 0));
    Client client(clientIdentity->clientConfiguration());
    client.connectTo(listener.server);

    QTRY_COMPARE(client.encrypted.count(), 1);
    QTRY_COMPARE(admitted.count(), 1);
    QVERIFY(listener.server.hasPendingConnections());
    std::unique_ptr<QSslSocket> accepted(qobject_cast<QSslSocket *>(listener.server.nextPendingConnection()));
    QVERIFY(accepted);
    QVERIFY(accepted->isEncrypted());
    QCOMPARE(accepted->socketOption(QAbstractSocket::LowDelayOption).toInt(), 1);
    QCOMPARE(client.sslErrors.count(), 0);
    QCOMPARE(serverErrors.count(), 0);

    QCOMPARE(client.socket.sessionProtocol(), QSsl::TlsV1_3);
    QCOMPARE(accepted->sessionProtocol(), QSsl::TlsV1_3);

    const std::optional<PeerIdentity> seenByServer = peerIdentityOf(accepted->peerCertificate(), &error);
    QVERIFY2(seenByServer, qPrintable(error));
    QCOMPARE(seenByServer->name, clientName);
    QCOMPARE(int(seenByServer->kind), clientKind);
    QVERIFY(*seenByServer == clientIdentity->self());

    const std::optional<PeerIdentity> seenByClient = peerIdentityOf(client.socket.peerCertificate(), &error);
    QVERIFY2(seenByClient, qPrintable(error));
    QCOMPARE(seenByClient->name, QStringLiteral("target-1"));
    QCOMPARE(seenByClient->kind, PartyKind::Node);

    // The channel carries data both ways.
    client.socket.write("ping");
    QTRY_COMPARE(accepted->bytesAvailable(), qint64(4));
    QCOMPARE(accepted->readAll(), QByteArray("ping"));
    accepted->write("pong");
    QTRY_COMPARE(client.socket.bytesAvailable(), qint64(4));
    QCOMPARE(client.socket.readAll(), QByteArray("pong"));
}

void TestTls::expectRefusedByServer(Client &client, Listener &listener)
{
    QSignalSpy serverErrors(&listener.server, &QSslServer::errorOccurred);
    // Not newConnection: Qt 6.4 emits that for every accepted TCP connection, before the handshake.
    QSignalSpy admitted(&listener.server, &QTcpServer::pendingConnectionAvailable);
    client.connectTo(listener.server);
    // With TLS 1.3 the client finishes its side before the server has judged its certificate, so
    // the refusal shows as the server's error and the connection closing, not as a client error.
    QTRY_VERIFY(!serverErrors.isEmpty());
    QTRY_COMPARE(client.socket.state(), QAbstractSocket::UnconnectedState);
    QCOMPARE(admitted.count(), 0);
    QVERIFY(!listener.server.hasPendingConnections());
}

void TestTls::clientWithoutCertificateIsRefused()
{
    const TlsIdentity serverIdentity = load(QStringLiteral("target-1"));
    Listener listener(serverIdentity.serverConfiguration());
    QVERIFY(listener.server.listen(QHostAddress::LocalHost, 0));

    // Trusts the right CA, but has nothing to show.
    QSslConfiguration anonymous = QSslConfiguration::defaultConfiguration();
    anonymous.setCaCertificates(serverIdentity.caCertificates());
    anonymous.setPeerVerifyMode(QSslSocket::VerifyPeer);
    anonymous.setProtocol(QSsl::TlsV1_2OrLater);
    Client client(anonymous);
    expectRefusedByServer(client, listener);
}

void TestTls::clientOfForeignCaIsRefused()
{
    const TlsIdentity serverIdentity = load(QStringLiteral("target-1"));
    Listener listener(serverIdentity.serverConfiguration());
    QVERIFY(listener.server.listen(QHostAddress::LocalHost, 0));

    QString error;
    const std::optional<TlsIdentity> stranger =
        TlsIdentity::load(foreign(QStringLiteral("target-1.pem")), foreign(QStringLiteral("target-1.key")),
                          foreign(QStringLiteral("ca.pem")), &error);
    QVERIFY2(stranger, qPrintable(error));
    QCOMPARE(stranger->self().name, QStringLiteral("target-1")); // the same name as a member: not enough
    // The stranger trusts our CA, so the refusal can only come from the server.
    QSslConfiguration configuration = stranger->clientConfiguration();
    configuration.setCaCertificates(serverIdentity.caCertificates());
    Client client(configuration);
    expectRefusedByServer(client, listener);
}

void TestTls::clientTrustingForeignCaRefusesServer()
{
    const TlsIdentity serverIdentity = load(QStringLiteral("target-1"));
    Listener listener(serverIdentity.serverConfiguration());
    QSignalSpy admitted(&listener.server, &QTcpServer::pendingConnectionAvailable);
    QVERIFY(listener.server.listen(QHostAddress::LocalHost, 0));

    // A valid member certificate, but the foreign CA as the only trust anchor.
    const TlsIdentity member = load(QStringLiteral("coordinator-1"));
    QSslConfiguration configuration = member.clientConfiguration();
    QString error;
    const std::optional<TlsIdentity> foreignParty =
        TlsIdentity::load(foreign(QStringLiteral("target-1.pem")), foreign(QStringLiteral("target-1.key")),
                          foreign(QStringLiteral("ca.pem")), &error);
    QVERIFY2(foreignParty, qPrintable(error));
    configuration.setCaCertificates(foreignParty->caCertificates());
    Client client(configuration);
    client.connectTo(listener.server);

    QTRY_VERIFY(!client.sslErrors.isEmpty());
    QTRY_COMPARE(client.socket.state(), QAbstractSocket::UnconnectedState);
    QCOMPARE(client.encrypted.count(), 0);
    QVERIFY(!client.errors.isEmpty());
    QCOMPARE(client.errors.first().first().value<QAbstractSocket::SocketError>(),
             QAbstractSocket::SslHandshakeFailedError);
    const QList<QSslError> sslErrors = client.sslErrors.first().first().value<QList<QSslError>>();
    bool untrusted = false;
    for (const QSslError &sslError : sslErrors) {
        untrusted = untrusted || sslError.error() == QSslError::UnableToGetLocalIssuerCertificate ||
                    sslError.error() == QSslError::CertificateUntrusted ||
                    sslError.error() == QSslError::UnableToVerifyFirstCertificate ||
                    // OpenSSL sends the issuing CA along with the leaf, so this is what usually shows.
                    sslError.error() == QSslError::SelfSignedCertificateInChain;
    }
    QVERIFY2(untrusted, qPrintable(sslErrors.first().errorString()));
    QCOMPARE(admitted.count(), 0);
    QVERIFY(!listener.server.hasPendingConnections());
}

void TestTls::ensureIsIdempotent()
{
    const QMap<QString, QByteArray> before = snapshot(m_dir.path());
    const QStringList expected = {QStringLiteral("auditor-1.key"),
                                  QStringLiteral("auditor-1.p12"),
                                  QStringLiteral("auditor-1.pem"),
                                  QStringLiteral("ca.key"),
                                  QStringLiteral("ca.pem"),
                                  QStringLiteral("coordinator-1.key"),
                                  QStringLiteral("coordinator-1.pem"),
                                  QStringLiteral("operator-1.key"),
                                  QStringLiteral("operator-1.p12"),
                                  QStringLiteral("operator-1.pem"),
                                  QStringLiteral("target-1.key"),
                                  QStringLiteral("target-1.pem")};
    QCOMPARE(before.keys(), expected);

    QString error;
    QVERIFY2(DevnetPki::ensure(m_dir.path(), consortium(), ourParties(), password(), &error),
             qPrintable(error));
    QVERIFY(snapshot(m_dir.path()) == before);

    // A party added later gets its files; nothing that existed changes.
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    QVERIFY2(DevnetPki::ensure(dir.path(), consortium(), ourParties().mid(0, 2), password(), &error),
             qPrintable(error));
    const QMap<QString, QByteArray> two = snapshot(dir.path());
    QVERIFY2(DevnetPki::ensure(dir.path(), consortium(), ourParties(), password(), &error),
             qPrintable(error));
    const QMap<QString, QByteArray> four = snapshot(dir.path());
    QCOMPARE(four.size(), 12);
    for (auto it = two.cbegin(); it != two.cend(); ++it)
        QVERIFY2(four.value(it.key()) == it.value(), qPrintable(it.key()));
}

void TestTls::keyFilesAreOwnerOnly()
{
    const QStringList names = QDir(m_dir.path()).entryList(QDir::Files);
    for (const QString &name : names) {
        const bool secret = name.endsWith(QLatin1String(".key")) || name.endsWith(QLatin1String(".p12"));
        QCOMPARE(modeOf(ours(name)), secret ? 0600u : 0644u);
    }
}

void TestTls::certificatesCarryTheParty()
{
    const QSslCertificate ca = QSslCertificate::fromPath(ours(QStringLiteral("ca.pem"))).value(0);
    QVERIFY(!ca.isNull());
    QCOMPARE(ca.subjectInfo(QSslCertificate::Organization), QStringList{consortium()});
    QVERIFY(ca.expiryDate() > QDateTime::currentDateTimeUtc().addDays(3640));

    const TlsIdentity operatorIdentity = load(QStringLiteral("operator-1"));
    const QSslCertificate &certificate = operatorIdentity.certificate();
    QCOMPARE(certificate.subjectInfo(QSslCertificate::CommonName), QStringList{QStringLiteral("operator-1")});
    QCOMPARE(certificate.subjectInfo(QSslCertificate::OrganizationalUnitName),
             QStringList{QStringLiteral("operator")});
    QCOMPARE(certificate.subjectInfo(QSslCertificate::Organization), QStringList{consortium()});
    QCOMPARE(certificate.issuerInfo(QSslCertificate::Organization), QStringList{consortium()});
    QCOMPARE(certificate.serialNumber().size(),
             QByteArray("00:").size() * 16 - 1); // 16 bytes, hex with colons
    const auto sans = certificate.subjectAlternativeNames();
    QCOMPARE(sans.values(QSsl::DnsEntry), QStringList{QStringLiteral("localhost")});
    QCOMPARE(sans.values(QSsl::IpAddressEntry), QStringList{QStringLiteral("127.0.0.1")});
    const qint64 days = certificate.effectiveDate().daysTo(certificate.expiryDate());
    QVERIFY2(days == 825 || days == 826,
             qPrintable(QString::number(days))); // notBefore is backdated 5 minutes
    QCOMPARE(operatorIdentity.privateKey().algorithm(), QSsl::Ec);
    QCOMPARE(operatorIdentity.privateKey().length(), 256);
    QVERIFY(operatorIdentity.self() == (PeerIdentity{PartyKind::Operator, QStringLiteral("operator-1")}));
    QCOMPARE(operatorIdentity.caCertificates(), QList<QSslCertificate>{ca});

    const QSslConfiguration configuration = operatorIdentity.clientConfiguration();
    QCOMPARE(configuration.peerVerifyMode(), QSslSocket::VerifyPeer);
    QCOMPARE(configuration.protocol(), QSsl::TlsV1_2OrLater);
    QCOMPARE(configuration.caCertificates(), QList<QSslCertificate>{ca});
    QCOMPARE(configuration.localCertificate(), certificate);
    QCOMPARE(operatorIdentity.serverConfiguration().caCertificates(), QList<QSslCertificate>{ca});
}

void TestTls::ensureReissuesABrokenPair()
{
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    QString error;
    QVERIFY2(DevnetPki::ensure(dir.path(), consortium(), ourParties(), password(), &error),
             qPrintable(error));
    const QMap<QString, QByteArray> before = snapshot(dir.path());

    // target-1's key replaced by another party's: the pair no longer matches and is issued anew.
    const QString targetKey = QDir(dir.path()).filePath(QStringLiteral("target-1.key"));
    QVERIFY(QFile::remove(targetKey));
    QVERIFY(QFile::copy(QDir(dir.path()).filePath(QStringLiteral("coordinator-1.key")), targetKey));
    QVERIFY2(DevnetPki::ensure(dir.path(), consortium(), ourParties(), password(), &error),
             qPrintable(error));
    const QMap<QString, QByteArray> after = snapshot(dir.path());
    QVERIFY(after.value(QStringLiteral("target-1.pem")) != before.value(QStringLiteral("target-1.pem")));
    QVERIFY(after.value(QStringLiteral("target-1.key")) != before.value(QStringLiteral("coordinator-1.key")));
    for (const QString &unchanged : {QStringLiteral("ca.pem"), QStringLiteral("ca.key"),
                                     QStringLiteral("coordinator-1.pem"), QStringLiteral("operator-1.p12")})
        QVERIFY2(after.value(unchanged) == before.value(unchanged), qPrintable(unchanged));
    QVERIFY2(TlsIdentity::load(QDir(dir.path()).filePath(QStringLiteral("target-1.pem")), targetKey,
                               QDir(dir.path()).filePath(QStringLiteral("ca.pem")), &error),
             qPrintable(error));

    // A new .p12 password rewrites the bundles and nothing else.
    QVERIFY2(
        DevnetPki::ensure(dir.path(), consortium(), ourParties(), QStringLiteral("another password"), &error),
        qPrintable(error));
    const QMap<QString, QByteArray> rewrapped = snapshot(dir.path());
    QVERIFY(rewrapped.value(QStringLiteral("operator-1.p12")) !=
            after.value(QStringLiteral("operator-1.p12")));
    QVERIFY(rewrapped.value(QStringLiteral("operator-1.pem")) ==
            after.value(QStringLiteral("operator-1.pem")));
    QVERIFY2(TlsIdentity::loadPkcs12(QDir(dir.path()).filePath(QStringLiteral("operator-1.p12")),
                                     QStringLiteral("another password"),
                                     QDir(dir.path()).filePath(QStringLiteral("ca.pem")), &error),
             qPrintable(error));

    // An unusable CA key means a new CA, and every party is issued again under it.
    QVERIFY(writeFile(QDir(dir.path()).filePath(QStringLiteral("ca.key")), "damaged", kOwnerOnly));
    QTest::ignoreMessage(QtWarningMsg,
                         QRegularExpression(QStringLiteral("replacing the devnet CA: .*ca.key")));
    QVERIFY2(DevnetPki::ensure(dir.path(), consortium(), ourParties(), password(), &error),
             qPrintable(error));
    const QMap<QString, QByteArray> renewed = snapshot(dir.path());
    for (auto it = renewed.cbegin(); it != renewed.cend(); ++it)
        QVERIFY2(it.value() != rewrapped.value(it.key()), qPrintable(it.key()));
    QVERIFY2(TlsIdentity::load(QDir(dir.path()).filePath(QStringLiteral("target-1.pem")), targetKey,
                               QDir(dir.path()).filePath(QStringLiteral("ca.pem")), &error),
             qPrintable(error));
}

void TestTls::ensureRefusesBadInput()
{
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    QString error;
    QVERIFY(!DevnetPki::ensure(dir.path(), consortium(), {{QStringLiteral("../escape"), PartyKind::Node}},
                               password(), &error));
    QVERIFY2(error.contains(QStringLiteral("../escape")), qPrintable(error));
    QVERIFY(!DevnetPki::ensure(dir.path(), consortium(), {{QStringLiteral("ca"), PartyKind::Node}},
                               password(), &error));
    QVERIFY(!DevnetPki::ensure(
        dir.path(), consortium(),
        {{QStringLiteral("n1"), PartyKind::Node}, {QStringLiteral("n1"), PartyKind::Auditor}}, password(),
        &error));
    QVERIFY2(error.contains(QStringLiteral("twice")), qPrintable(error));
    QVERIFY(!DevnetPki::ensure(dir.path(), consortium(), {{QStringLiteral("op"), PartyKind::Operator}},
                               QString(), &error));
    QVERIFY2(error.contains(QStringLiteral("password")), qPrintable(error));
    QVERIFY(!DevnetPki::ensure(dir.path(), QString(), {}, password(), &error));
    QVERIFY(QDir(dir.path()).isEmpty());

    // issue() needs a CA.
    QVERIFY(!DevnetPki::issue(dir.path(), {QStringLiteral("n1"), PartyKind::Node}, &error));
    QVERIFY2(error.contains(QStringLiteral("ca.pem")), qPrintable(error));

    // An existing, valid CA of another consortium is neither reused nor overwritten.
    const QMap<QString, QByteArray> before = snapshot(m_foreignDir.path());
    QVERIFY(!DevnetPki::ensure(m_foreignDir.path(), consortium(), {}, password(), &error));
    QVERIFY2(error.contains(foreign(QStringLiteral("ca.pem"))) &&
                 error.contains(QStringLiteral("Foreign Consortium")),
             qPrintable(error));
    QVERIFY(snapshot(m_foreignDir.path()) == before);
}

void TestTls::loadErrorsNameTheFile_data()
{
    QTest::addColumn<QString>("certificate");
    QTest::addColumn<QString>("key");
    QTest::addColumn<QString>("ca");
    QTest::addColumn<QString>("namedFile");
    QTest::addColumn<QString>("problem");

    const QString pem = QStringLiteral("coordinator-1.pem");
    const QString key = QStringLiteral("coordinator-1.key");
    const QString ca = QStringLiteral("ca.pem");
    QTest::newRow("missing certificate") << QStringLiteral("missing.pem") << key << ca
                                         << QStringLiteral("missing.pem") << QStringLiteral("cannot read");
    QTest::newRow("missing key") << pem << QStringLiteral("missing.key") << ca
                                 << QStringLiteral("missing.key") << QStringLiteral("cannot read");
    QTest::newRow("missing CA") << pem << key << QStringLiteral("missing-ca.pem")
                                << QStringLiteral("missing-ca.pem") << QStringLiteral("cannot read");
    QTest::newRow("garbage certificate")
        << QStringLiteral("garbage.pem") << key << ca << QStringLiteral("garbage.pem")
        << QStringLiteral("not a PEM certificate");
    QTest::newRow("garbage key") << pem << QStringLiteral("garbage.key") << ca
                                 << QStringLiteral("garbage.key") << QStringLiteral("not a PEM private key");
    QTest::newRow("garbage CA") << pem << key << QStringLiteral("garbage.pem")
                                << QStringLiteral("garbage.pem")
                                << QStringLiteral("not a PEM CA certificate");
    QTest::newRow("mismatched pair") << pem << QStringLiteral("target-1.key") << ca
                                     << QStringLiteral("target-1.key") << QStringLiteral("does not match");
    QTest::newRow("ed25519 key") << pem << QStringLiteral("ed25519.key") << ca
                                 << QStringLiteral("ed25519.key") << QStringLiteral("ED25519");
    QTest::newRow("key readable by others") << pem << QStringLiteral("open.key") << ca
                                            << QStringLiteral("open.key") << QStringLiteral("chmod 600");
    QTest::newRow("expired certificate") << QStringLiteral("expired.pem") << key << ca
                                         << QStringLiteral("expired.pem") << QStringLiteral("expired");
    QTest::newRow("CA is a party") << pem << key << QStringLiteral("target-1.pem")
                                   << QStringLiteral("target-1.pem")
                                   << QStringLiteral("not a CA certificate");
}

void TestTls::loadErrorsNameTheFile()
{
    QFETCH(QString, certificate);
    QFETCH(QString, key);
    QFETCH(QString, ca);
    QFETCH(QString, namedFile);
    QFETCH(QString, problem);

    QTemporaryDir scratch;
    QVERIFY(scratch.isValid());
    auto inScratchOrOurs = [&](const QString &name) {
        return QFile::exists(ours(name)) ? ours(name) : QDir(scratch.path()).filePath(name);
    };
    const QString garbage = QStringLiteral("-----BEGIN CERTIFICATE-----\nnot base64 at all\n");
    QVERIFY(writeFile(QDir(scratch.path()).filePath(QStringLiteral("garbage.pem")), garbage.toLatin1(),
                      kOwnerOnly));
    QVERIFY(
        writeFile(QDir(scratch.path()).filePath(QStringLiteral("garbage.key")), "\x01\x02 junk", kOwnerOnly));
    QVERIFY(
        writeFile(QDir(scratch.path()).filePath(QStringLiteral("ed25519.key")), ed25519KeyPem(), kOwnerOnly));
    QVERIFY(writeFile(QDir(scratch.path()).filePath(QStringLiteral("open.key")),
                      readBytes(ours(QStringLiteral("coordinator-1.key"))),
                      kOwnerOnly | QFileDevice::ReadGroup | QFileDevice::ReadOther));
    const QByteArray expired =
        expiredCopy(ours(QStringLiteral("coordinator-1.pem")), ours(QStringLiteral("ca.key")));
    QVERIFY(!expired.isEmpty());
    QVERIFY(writeFile(QDir(scratch.path()).filePath(QStringLiteral("expired.pem")), expired, kOwnerOnly));

    QString error;
    const std::optional<TlsIdentity> identity =
        TlsIdentity::load(inScratchOrOurs(certificate), inScratchOrOurs(key), inScratchOrOurs(ca), &error);
    QVERIFY(!identity);
    QVERIFY2(error.startsWith(inScratchOrOurs(namedFile) + QStringLiteral(": ")), qPrintable(error));
    QVERIFY2(error.contains(problem), qPrintable(error));
    QVERIFY2(!error.contains(QLatin1Char('\n')), qPrintable(error));
}

void TestTls::pkcs12()
{
    const QString path = ours(QStringLiteral("operator-1.p12"));
    const QString ca = ours(QStringLiteral("ca.pem"));
    QString error;
    const std::optional<TlsIdentity> bundled = TlsIdentity::loadPkcs12(path, password(), ca, &error);
    QVERIFY2(bundled, qPrintable(error));
    QVERIFY(bundled->self() == (PeerIdentity{PartyKind::Operator, QStringLiteral("operator-1")}));
    const TlsIdentity fromPem = load(QStringLiteral("operator-1"));
    QCOMPARE(bundled->certificate(), fromPem.certificate());
    QCOMPARE(bundled->privateKey().toPem(), fromPem.privateKey().toPem());

    QVERIFY(!TlsIdentity::loadPkcs12(path, QStringLiteral("wrong password"), ca, &error));
    QVERIFY2(error.startsWith(path + QStringLiteral(": ")) &&
                 error.contains(QStringLiteral("wrong password")),
             qPrintable(error));
    QVERIFY(!TlsIdentity::loadPkcs12(ours(QStringLiteral("operator-1.pem")), password(), ca, &error));
    QVERIFY2(error.contains(QStringLiteral("not a PKCS#12 file")), qPrintable(error));
    QVERIFY(!TlsIdentity::loadPkcs12(path, password(), foreign(QStringLiteral("ca.pem")), &error));
    QVERIFY2(error.contains(QStringLiteral("not issued by the consortium CA")), qPrintable(error));

    // Qt's own importer reads the bundle too (the desktop console may use it directly).
    QFile file(path);
    QVERIFY(file.open(QIODevice::ReadOnly));
    QSslKey key;
    QSslCertificate certificate;
    QList<QSslCertificate> chain;
    QVERIFY(QSslCertificate::importPkcs12(&file, &key, &certificate, &chain, QByteArray(kPassword)));
    QCOMPARE(certificate, fromPem.certificate());
    QCOMPARE(chain, fromPem.caCertificates());

    // Nodes get no bundle.
    QVERIFY(!QFile::exists(ours(QStringLiteral("target-1.p12"))));
}

void TestTls::peerIdentityOfRejectsNonParties()
{
    QString error;
    QVERIFY(!peerIdentityOf(QSslCertificate(), &error));
    QVERIFY2(error.contains(QStringLiteral("no certificate")), qPrintable(error));
    // The CA certificate names no party kind.
    const QSslCertificate ca = QSslCertificate::fromPath(ours(QStringLiteral("ca.pem"))).value(0);
    QVERIFY(!peerIdentityOf(ca, &error));
    QVERIFY2(error.contains(QStringLiteral("OU")), qPrintable(error));
}

QTEST_GUILESS_MAIN(TestTls)
#include "tst_tls.moc"
