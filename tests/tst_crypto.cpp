// Ed25519 against RFC 8032 on both implementations, SHA-256 known answers, and key files.
#include "Ed25519.h"
#include "KeyFile.h"
#include "Sha256.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QTemporaryDir>
#include <QTest>

#include <sys/stat.h>

using namespace ticketsync;

namespace {

const Ed25519Sodium &sodium()
{
    static const Ed25519Sodium scheme;
    return scheme;
}

const Ed25519OpenSsl &openSsl()
{
    static const Ed25519OpenSsl scheme;
    return scheme;
}

const SignatureScheme &schemeNamed(const QByteArray &name)
{
    if (name == "sodium")
        return sodium();
    return openSsl();
}

QByteArray hex(const char *text)
{
    return QByteArray::fromHex(QByteArray(text));
}

// RFC 8032 section 7.1, TEST 1024: a 1023-byte message.
const char kTest1024Message[] = "08b8b2b733424243760fe426a4b54908632110a66c2f6591eabd3345e3e4eb98fa6e264bf09e"
                                "fe12ee50f8f54e9f77b1e355f6c50544e2"
                                "3fb1433ddf73be84d879de7c0046dc4996d9e773f4bc9efe5738829adb26c81b37c93a1b270b"
                                "20329d658675fc6ea534e0810a4432826b"
                                "f58c941efb65d57a338bbd2e26640f89ffbc1a858efcb8550ee3a5e1998bd177e93a7363c344"
                                "fe6b199ee5d02e82d522c4feba15452f80"
                                "288a821a579116ec6dad2b3b310da903401aa62100ab5d1a36553e06203b33890cc9b832f79e"
                                "f80560ccb9a39ce767967ed628c6ad573c"
                                "b116dbefefd75499da96bd68a8a97b928a8bbc103b6621fcde2beca1231d206be6cd9ec7aff6"
                                "f6c94fcd7204ed3455c68c83f4a41da4af"
                                "2b74ef5c53f1d8ac70bdcb7ed185ce81bd84359d44254d95629e9855a94a7c1958d1f8ada5d0"
                                "532ed8a5aa3fb2d17ba70eb6248e594e1a"
                                "2297acbbb39d502f1a8c6eb6f1ce22b3de1a1f40cc24554119a831a9aad6079cad88425de6bd"
                                "e1a9187ebb6092cf67bf2b13fd65f27088"
                                "d78b7e883c8759d2c4f5c65adb7553878ad575f9fad878e80a0c9ba63bcbcc2732e69485bbc9"
                                "c90bfbd62481d9089beccf80cfe2df16a"
                                "2cf65bd92dd597b0707e0917af48bbb75fed413d238f5555a7a569d80c3414a8d0859dc65a46"
                                "128bab27af87a71314f318c782b23ebfe8"
                                "08b82b0ce26401d2e22f04d83d1255dc51addd3b75a2b1ae0784504df543af8969be3ea7082f"
                                "f7fc9888c144da2af58429ec96031dbcad"
                                "3dad9af0dcbaaaf268cb8fcffead94f3c7ca495e056a9b47acdb751fb73e666c6c655ade8297"
                                "297d07ad1ba5e43f1bca32301651339e22"
                                "904cc8c42f58c30c04aafdb038dda0847dd988dcda6f3bfd15c4b4c4525004aa06eeff8ca617"
                                "83aacec57fb3d1f92b0fe2fd1a85f67245"
                                "17b65e614ad6808d6f6ee34dff7310fdc82aebfd904b01e1dc54b2927094b2db68d6f903b684"
                                "01adebf5a7e08d78ff4ef5d63653a65040"
                                "cf9bfd4aca7984a74d37145986780fc0b16ac451649de6188a7dbdf191f64b5fc5e2ab47b57f"
                                "7f7276cd419c17a3ca8e1b939ae49e488a"
                                "cba6b965610b5480109c8b17b80e1b7b750dfc7598d5d5011fd2dcc5600a32ef5b52a1ecc820"
                                "e308aa342721aac0943bf6686b64b25793"
                                "76504ccc493d97e6aed3fb0f9cd71a43dd497f01f17c0e2cb3797aa2a2f256656168e6c496af"
                                "c5fb93246f6b1116398a346f1a641f3b04"
                                "1e989f7914f90cc2c7fff357876e506b50d334ba77c225bc307ba537152f3f1610e4eafe595f"
                                "6d9d90d11faa933a15ef1369546868a7f3"
                                "a45a96768d40fd9d03412c091c6315cf4fde7cb68606937380db2eaaa707b4c4185c32eddcdd"
                                "306705e4dc1ffc872eeee475a64dfac86a"
                                "ba41c0618983f8741c5ef68d3a101e8a3b8cac60c905c15fc910840b94c00a0b9d0";

// DER prefixes of an Ed25519 SubjectPublicKeyInfo and a PKCS#8 PrivateKeyInfo (RFC 8410).
const char kSpkiPrefix[] = "302a300506032b6570032100";
const char kPkcs8Prefix[] = "302e020100300506032b657004220420";

QByteArray pemBody(const QByteArray &pem, const QByteArray &label)
{
    const QByteArray begin = "-----BEGIN " + label + "-----";
    const QByteArray end = "-----END " + label + "-----";
    const qsizetype from = pem.indexOf(begin);
    const qsizetype to = pem.indexOf(end);
    if (from != 0 || to < 0)
        return {};
    return QByteArray::fromBase64(pem.mid(begin.size(), to - begin.size()).trimmed());
}

QByteArray readAll(const QString &path)
{
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly))
        return {};
    return file.readAll();
}

int modeOf(const QString &path)
{
    struct stat info;
    if (::stat(QFile::encodeName(path).constData(), &info) != 0)
        return -1;
    return int(info.st_mode & 07777);
}

bool writeWithMode(const QString &path, const QByteArray &contents, QFileDevice::Permissions permissions)
{
    QFile file(path);
    if (!file.open(QIODevice::WriteOnly | QIODevice::Truncate) || file.write(contents) != contents.size())
        return false;
    file.close();
    return QFile::setPermissions(path, permissions);
}

constexpr QFileDevice::Permissions kOwnerOnly = QFileDevice::ReadOwner | QFileDevice::WriteOwner;

} // namespace

class TestCrypto : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void rfc8032_data();
    void rfc8032();
    void tamperedInputsFail_data();
    void tamperedInputsFail();
    void wrongLengthsRejected_data();
    void wrongLengthsRejected();
    void implementationsInteroperate();
    void schemeRegistry();
    void sha256KnownAnswers_data();
    void sha256KnownAnswers();

    void keyFileRoundTrip_data();
    void keyFileRoundTrip();
    void keyFileRefusesOpenPermissions();
    void keyFileBadContents_data();
    void keyFileBadContents();
    void keyFileMissing();
    void publicKeyPem();
};

void TestCrypto::rfc8032_data()
{
    QTest::addColumn<QByteArray>("scheme");
    QTest::addColumn<QByteArray>("secretKey");
    QTest::addColumn<QByteArray>("publicKey");
    QTest::addColumn<QByteArray>("message");
    QTest::addColumn<QByteArray>("signature");

    struct Vector
    {
        const char *name;
        const char *secretKey;
        const char *publicKey;
        const char *message;
        const char *signature;
    };
    const Vector vectors[] = {
        {"TEST 1", "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
         "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
         "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
         "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"},
        {"TEST 2", "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
         "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
         "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
         "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"},
        {"TEST 3", "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
         "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
         "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac"
         "18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a"},
        {"TEST 1024", "f5e5767cf153319517630f226876b86c8160cc583bc013744c6bf255f5cc0ee5",
         "278117fc144c72340f67d0f2316e8386ceffbf2b2428c9c51fef7c597f1d426e", kTest1024Message,
         "0aab4c900501b3e24d7cdf4663326a3a87df5e4843b2cbdb67cbf6e460fec350"
         "aa5371b1508f9f4528ecea23c436d94b5e8fcd4f681e30a6ac00a9704a188a03"},
        {"TEST SHA(abc)", "833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42",
         "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf",
         "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
         "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
         "dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b589"
         "09351fc9ac90b3ecfdfbc7c66431e0303dca179c138ac17ad9bef1177331a704"},
    };
    for (const char *scheme : {"sodium", "openssl"}) {
        for (const Vector &v : vectors) {
            QTest::addRow("%s %s", scheme, v.name) << QByteArray(scheme) << hex(v.secretKey)
                                                   << hex(v.publicKey) << hex(v.message) << hex(v.signature);
        }
    }
}

void TestCrypto::rfc8032()
{
    QFETCH(QByteArray, scheme);
    QFETCH(QByteArray, secretKey);
    QFETCH(QByteArray, publicKey);
    QFETCH(QByteArray, message);
    QFETCH(QByteArray, signature);
    // Guard against a mistyped vector: every field has its documented size.
    QCOMPARE(secretKey.size(), 32);
    QCOMPARE(publicKey.size(), 32);
    QCOMPARE(signature.size(), 64);

    const SignatureScheme &impl = schemeNamed(scheme);
    const KeyPair key = impl.fromSecret(secretKey);
    QCOMPARE(key.secretKey.toHex(), secretKey.toHex());
    QCOMPARE(key.publicKey.toHex(), publicKey.toHex());
    QCOMPARE(impl.sign(key, message).toHex(), signature.toHex());
    QVERIFY(impl.verify(publicKey, message, signature));
}

void TestCrypto::tamperedInputsFail_data()
{
    QTest::addColumn<QByteArray>("scheme");
    QTest::newRow("sodium") << QByteArray("sodium");
    QTest::newRow("openssl") << QByteArray("openssl");
}

void TestCrypto::tamperedInputsFail()
{
    QFETCH(QByteArray, scheme);
    const SignatureScheme &impl = schemeNamed(scheme);
    const KeyPair key =
        impl.fromSecret(hex("c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7"));
    const QByteArray message = QByteArrayLiteral("write off ticket T-000001 version 1");
    const QByteArray signature = impl.sign(key, message);
    QVERIFY(impl.verify(key.publicKey, message, signature));

    for (qsizetype bit = 0; bit < message.size() * 8; ++bit) {
        QByteArray changed = message;
        changed[bit / 8] = char(changed.at(bit / 8) ^ (1 << (bit % 8)));
        QVERIFY2(!impl.verify(key.publicKey, changed, signature),
                 qPrintable(QStringLiteral("message bit %1").arg(bit)));
    }
    QVERIFY(!impl.verify(key.publicKey, message + '\0', signature));
    QVERIFY(!impl.verify(key.publicKey, message.chopped(1), signature));
    QVERIFY(!impl.verify(key.publicKey, QByteArray(), signature));

    for (qsizetype bit = 0; bit < signature.size() * 8; ++bit) {
        QByteArray changed = signature;
        changed[bit / 8] = char(changed.at(bit / 8) ^ (1 << (bit % 8)));
        QVERIFY2(!impl.verify(key.publicKey, message, changed),
                 qPrintable(QStringLiteral("signature bit %1").arg(bit)));
    }
    for (qsizetype bit = 0; bit < key.publicKey.size() * 8; ++bit) {
        QByteArray changed = key.publicKey;
        changed[bit / 8] = char(changed.at(bit / 8) ^ (1 << (bit % 8)));
        QVERIFY2(!impl.verify(changed, message, signature),
                 qPrintable(QStringLiteral("key bit %1").arg(bit)));
    }
    // Another key's valid signature over the same message.
    const KeyPair other = impl.fromSecret(sha256(QByteArrayLiteral("another key")));
    QVERIFY(!impl.verify(key.publicKey, message, impl.sign(other, message)));
}

void TestCrypto::wrongLengthsRejected_data()
{
    tamperedInputsFail_data();
}

void TestCrypto::wrongLengthsRejected()
{
    QFETCH(QByteArray, scheme);
    const SignatureScheme &impl = schemeNamed(scheme);
    QCOMPARE(impl.secretKeySize(), 32);
    QCOMPARE(impl.publicKeySize(), 32);
    QCOMPARE(impl.signatureSize(), 64);

    const KeyPair key = impl.fromSecret(sha256(QByteArrayLiteral("length checks")));
    const QByteArray message = QByteArrayLiteral("message");
    const QByteArray signature = impl.sign(key, message);
    QVERIFY(impl.verify(key.publicKey, message, signature));

    for (const qsizetype size : {0, 1, 31, 33, 64}) {
        const QByteArray publicKey = key.publicKey.leftJustified(size, '\x01', true);
        QVERIFY2(!impl.verify(publicKey, message, signature),
                 qPrintable(QStringLiteral("key size %1").arg(size)));
    }
    for (const qsizetype size : {0, 1, 32, 63, 65, 128}) {
        const QByteArray changed = signature.leftJustified(size, '\0', true);
        QVERIFY2(!impl.verify(key.publicKey, message, changed),
                 qPrintable(QStringLiteral("signature size %1").arg(size)));
    }
    for (const qsizetype size : {0, 16, 31, 33, 64}) {
        const KeyPair derived = impl.fromSecret(QByteArray(size, '\x07'));
        QVERIFY2(derived.secretKey.isEmpty() && derived.publicKey.isEmpty(),
                 qPrintable(QStringLiteral("secret size %1").arg(size)));
        QVERIFY(impl.sign(KeyPair{QByteArray(size, '\x07'), key.publicKey}, message).isEmpty());
    }
    QVERIFY(impl.sign(KeyPair{}, message).isEmpty());
}

void TestCrypto::implementationsInteroperate()
{
    for (int i = 0; i < 16; ++i) {
        const KeyPair fromSodium = sodium().generate();
        const KeyPair fromOpenSsl = openSsl().generate();
        QCOMPARE(fromSodium.secretKey.size(), 32);
        QCOMPARE(fromOpenSsl.publicKey.size(), 32);
        QCOMPARE(openSsl().fromSecret(fromSodium.secretKey).publicKey, fromSodium.publicKey);
        QCOMPARE(sodium().fromSecret(fromOpenSsl.secretKey).publicKey, fromOpenSsl.publicKey);

        const QByteArray message = QByteArray::number(i).repeated(i * 7);
        const QByteArray bySodium = sodium().sign(fromSodium, message);
        QCOMPARE(openSsl().sign(fromSodium, message), bySodium); // Ed25519 is deterministic
        QVERIFY(openSsl().verify(fromSodium.publicKey, message, bySodium));
        QVERIFY(sodium().verify(fromOpenSsl.publicKey, message, openSsl().sign(fromOpenSsl, message)));
    }
    QVERIFY(sodium().generate().secretKey != sodium().generate().secretKey);
}

void TestCrypto::schemeRegistry()
{
    QCOMPARE(SignatureScheme::standard().name(), QStringLiteral("ed25519"));
    QCOMPARE(SignatureScheme::byName(QStringLiteral("ed25519")), &SignatureScheme::standard());
    QVERIFY(SignatureScheme::byName(QStringLiteral("sm2")) == nullptr);
    QVERIFY(SignatureScheme::byName(QStringLiteral("Ed25519")) == nullptr);
    QVERIFY(SignatureScheme::byName(QString()) == nullptr);
}

void TestCrypto::sha256KnownAnswers_data()
{
    QTest::addColumn<QByteArray>("input");
    QTest::addColumn<QByteArray>("digest");
    // FIPS 180-2 appendix B examples.
    QTest::newRow("abc") << QByteArray("abc")
                         << QByteArray("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    QTest::newRow("empty") << QByteArray()
                           << QByteArray("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    QTest::newRow("two blocks") << QByteArray("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")
                                << QByteArray(
                                       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    QTest::newRow("million a") << QByteArray(1000000, 'a')
                               << QByteArray(
                                      "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

void TestCrypto::sha256KnownAnswers()
{
    QFETCH(QByteArray, input);
    QFETCH(QByteArray, digest);
    const QByteArray result = sha256(input);
    QCOMPARE(result.size(), kDigestSize);
    QCOMPARE(result.toHex(), digest);
}

void TestCrypto::keyFileRoundTrip_data()
{
    QTest::addColumn<int>("format");
    QTest::newRow("pem") << int(KeyFile::Format::Pem);
    QTest::newRow("raw") << int(KeyFile::Format::Raw);
}

void TestCrypto::keyFileRoundTrip()
{
    QFETCH(int, format);
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString path = dir.filePath(QStringLiteral("node.key"));
    const KeyPair key =
        sodium().fromSecret(hex("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb"));

    QString error;
    QVERIFY2(KeyFile::writeSecretKey(path, key, KeyFile::Format(format), &error), qPrintable(error));
    QCOMPARE(modeOf(path), 0600);
    QCOMPARE((QFileInfo(path).permissions() & ~(QFileDevice::ReadUser | QFileDevice::WriteUser)).toInt(),
             kOwnerOnly.toInt());

    const QByteArray contents = readAll(path);
    if (KeyFile::Format(format) == KeyFile::Format::Raw) {
        QCOMPARE(contents, key.secretKey);
    } else {
        QVERIFY(contents.startsWith("-----BEGIN PRIVATE KEY-----"));
        QCOMPARE(pemBody(contents, "PRIVATE KEY").toHex(), QByteArray(kPkcs8Prefix) + key.secretKey.toHex());
    }

    error.clear();
    const std::optional<KeyPair> loaded = KeyFile::readSecretKey(path, &error);
    QVERIFY2(loaded.has_value(), qPrintable(error));
    QVERIFY(error.isEmpty());
    QCOMPARE(loaded->secretKey, key.secretKey);
    QCOMPARE(loaded->publicKey, key.publicKey);

    // Overwriting an existing file keeps it private.
    const KeyPair other = sodium().fromSecret(sha256(QByteArrayLiteral("second key")));
    QVERIFY2(KeyFile::writeSecretKey(path, other, KeyFile::Format(format), &error), qPrintable(error));
    QCOMPARE(modeOf(path), 0600);
    QCOMPARE(KeyFile::readSecretKey(path, &error)->publicKey, other.publicKey);
}

void TestCrypto::keyFileRefusesOpenPermissions()
{
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const KeyPair key = sodium().fromSecret(sha256(QByteArrayLiteral("permissions")));
    for (const auto format : {KeyFile::Format::Raw, KeyFile::Format::Pem}) {
        const QString path = dir.filePath(format == KeyFile::Format::Raw ? QStringLiteral("raw.key")
                                                                         : QStringLiteral("pem.key"));
        QString error;
        QVERIFY2(KeyFile::writeSecretKey(path, key, format, &error), qPrintable(error));
        QVERIFY(QFile::setPermissions(path, kOwnerOnly | QFileDevice::ReadGroup | QFileDevice::ReadOther));
        QCOMPARE(modeOf(path), 0644);

        QVERIFY(!KeyFile::readSecretKey(path, &error).has_value());
        QVERIFY2(error.contains(QLatin1String("permissions")), qPrintable(error));
        QVERIFY2(error.contains(QLatin1String("644")), qPrintable(error));
        QVERIFY2(error.contains(path), qPrintable(error));

        // Group-readable alone is refused too; owner-only is accepted again.
        QVERIFY(QFile::setPermissions(path, kOwnerOnly | QFileDevice::ReadGroup));
        QVERIFY(!KeyFile::readSecretKey(path, &error).has_value());
        QVERIFY2(error.contains(QLatin1String("640")), qPrintable(error));
        QVERIFY(QFile::setPermissions(path, kOwnerOnly));
        QVERIFY(KeyFile::readSecretKey(path, &error).has_value());
    }
}

void TestCrypto::keyFileBadContents_data()
{
    QTest::addColumn<QByteArray>("contents");
    QTest::addColumn<QStringList>("keywords");
    QTest::newRow("garbage text") << QByteArray("this is not a key at all\n")
                                  << QStringList{QStringLiteral("exactly 32 bytes"),
                                                 QStringLiteral("holds 25")};
    QTest::newRow("raw 31 bytes") << QByteArray(31, '\x11')
                                  << QStringList{QStringLiteral("exactly 32 bytes"),
                                                 QStringLiteral("holds 31")};
    QTest::newRow("raw 33 bytes") << QByteArray(33, '\x11')
                                  << QStringList{QStringLiteral("exactly 32 bytes"),
                                                 QStringLiteral("holds 33")};
    QTest::newRow("empty") << QByteArray() << QStringList{QStringLiteral("holds 0")};
    QTest::newRow("raw 100000 bytes")
        << QByteArray(100000, '\x11')
        << QStringList{QStringLiteral("exactly 32 bytes"), QStringLiteral("holds 100000")};
    QTest::newRow("bad pem") << QByteArray(
                                    "-----BEGIN PRIVATE KEY-----\nAAAAAAAA\n-----END PRIVATE KEY-----\n")
                             << QStringList{QStringLiteral("not a PEM private key")};
    QTest::newRow("pem header only") << QByteArray("-----BEGIN garbage")
                                     << QStringList{QStringLiteral("not a PEM private key")};
}

void TestCrypto::keyFileBadContents()
{
    QFETCH(QByteArray, contents);
    QFETCH(QStringList, keywords);
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString path = dir.filePath(QStringLiteral("bad.key"));
    QVERIFY(writeWithMode(path, contents, kOwnerOnly));
    QCOMPARE(modeOf(path), 0600);

    QString error;
    QVERIFY(!KeyFile::readSecretKey(path, &error).has_value());
    QVERIFY2(error.startsWith(path), qPrintable(error));
    for (const QString &keyword : keywords)
        QVERIFY2(error.contains(keyword), qPrintable(error));
}

void TestCrypto::keyFileMissing()
{
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString path = dir.filePath(QStringLiteral("absent.key"));
    QString error;
    QVERIFY(!KeyFile::readSecretKey(path, &error).has_value());
    QVERIFY2(error.contains(path) && error.contains(QLatin1String("cannot read")), qPrintable(error));

    // A directory where the key should be: named as what it is, not as a key others can read.
    QVERIFY(QDir(dir.path()).mkdir(QStringLiteral("node.key")));
    const QString directory = dir.filePath(QStringLiteral("node.key"));
    QVERIFY(QFile::setPermissions(directory, QFileDevice::ReadOwner | QFileDevice::WriteOwner |
                                                 QFileDevice::ExeOwner | QFileDevice::ReadOther |
                                                 QFileDevice::ExeOther));
    error.clear();
    QVERIFY(!KeyFile::readSecretKey(directory, &error).has_value());
    QVERIFY2(error.startsWith(directory) && error.contains(QLatin1String("not a regular file")),
             qPrintable(error));

    // Writing into a directory that does not exist fails with the path named.
    const QString nowhere = dir.filePath(QStringLiteral("no/such/dir/node.key"));
    QVERIFY(!KeyFile::writeSecretKey(nowhere, sodium().generate(), KeyFile::Format::Raw, &error));
    QVERIFY2(error.contains(nowhere), qPrintable(error));
}

void TestCrypto::publicKeyPem()
{
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString path = dir.filePath(QStringLiteral("node.pub"));
    const KeyPair key =
        sodium().fromSecret(hex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"));
    QString error;
    QVERIFY2(KeyFile::writePublicKeyPem(path, key, &error), qPrintable(error));
    QCOMPARE(modeOf(path), 0644);

    const QByteArray contents = readAll(path);
    QVERIFY(contents.startsWith("-----BEGIN PUBLIC KEY-----\n"));
    QVERIFY(contents.trimmed().endsWith("-----END PUBLIC KEY-----"));
    QCOMPARE(pemBody(contents, "PUBLIC KEY").toHex(),
             QByteArray(kSpkiPrefix) + "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
    QVERIFY(!contents.contains(key.secretKey.toBase64()));

    // A public key file is no secret key.
    QVERIFY(QFile::setPermissions(path, kOwnerOnly));
    QVERIFY(!KeyFile::readSecretKey(path, &error).has_value());
    QVERIFY2(error.contains(QLatin1String("not a PEM private key")), qPrintable(error));
}

QTEST_GUILESS_MAIN(TestCrypto)
#include "tst_crypto.moc"
