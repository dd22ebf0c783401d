#include "KeyFile.h"

#include <QFile>
#include <QSaveFile>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sys/stat.h>

#include <memory>

namespace ticketsync::KeyFile {

namespace {
struct BioFree
{
    void operator()(BIO *bio) const { BIO_free(bio); }
};
struct PkeyFree
{
    void operator()(EVP_PKEY *key) const { EVP_PKEY_free(key); }
};
using Bio = std::unique_ptr<BIO, BioFree>;
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;

QByteArray bioContents(BIO *bio)
{
    char *data = nullptr;
    const long size = BIO_get_mem_data(bio, &data);
    return QByteArray(data, int(size));
}

bool writeFile(const QString &path, const QByteArray &contents, QFileDevice::Permissions permissions,
               QString *error)
{
    QSaveFile file(path);
    if (!file.open(QIODevice::WriteOnly) || !file.setPermissions(permissions) ||
        file.write(contents) != contents.size() || !file.commit()) {
        if (error)
            *error = QStringLiteral("%1: cannot write: %2").arg(path, file.errorString());
        return false;
    }
    return true;
}

Pkey pkeyOf(const KeyPair &key)
{
    return Pkey(EVP_PKEY_new_raw_private_key(
        EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char *>(key.secretKey.constData()),
        size_t(key.secretKey.size())));
}
} // namespace

bool writeSecretKey(const QString &path, const KeyPair &key, Format format, QString *error)
{
    QByteArray contents;
    if (format == Format::Raw) {
        contents = key.secretKey;
    } else {
        Pkey pkey = pkeyOf(key);
        Bio bio(BIO_new(BIO_s_mem()));
        if (!pkey || !bio ||
            PEM_write_bio_PrivateKey(bio.get(), pkey.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1) {
            if (error)
                *error = QStringLiteral("%1: cannot encode the key as PEM").arg(path);
            return false;
        }
        contents = bioContents(bio.get());
    }
    return writeFile(path, contents, QFileDevice::ReadOwner | QFileDevice::WriteOwner, error);
}

bool writePublicKeyPem(const QString &path, const KeyPair &key, QString *error)
{
    Pkey pkey = pkeyOf(key);
    Bio bio(BIO_new(BIO_s_mem()));
    if (!pkey || !bio || PEM_write_bio_PUBKEY(bio.get(), pkey.get()) != 1) {
        if (error)
            *error = QStringLiteral("%1: cannot encode the public key as PEM").arg(path);
        return false;
    }
    return writeFile(path, bioContents(bio.get()),
                     QFileDevice::ReadOwner | QFileDevice::WriteOwner | QFileDevice::ReadGroup |
                         QFileDevice::ReadOther,
                     error);
}

std::optional<KeyPair> readSecretKey(const QString &path, QString *error)
{
    auto failWith = [&](const QString &message) {
        if (error)
            *error = QStringLiteral("%1: %2").arg(path, message);
        return std::nullopt;
    };
    struct stat info;
    if (::stat(QFile::encodeName(path).constData(), &info) != 0)
        return failWith(QStringLiteral("cannot read the key file"));
    // Before the mode: a directory's 755 is not a key that others can read.
    if (!S_ISREG(info.st_mode))
        return failWith(QStringLiteral("not a regular file; the key file must be one"));
    if ((info.st_mode & 077) != 0)
        return failWith(QStringLiteral("permissions %1 let others read the secret key; run chmod 600")
                            .arg(info.st_mode & 0777, 3, 8, QLatin1Char('0')));
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly))
        return failWith(file.errorString());
    const QByteArray contents = file.read(64 * 1024);
    const SignatureScheme &scheme = SignatureScheme::standard();
    if (contents.startsWith("-----BEGIN")) {
        Bio bio(BIO_new_mem_buf(contents.constData(), int(contents.size())));
        Pkey pkey(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
        if (!pkey)
            return failWith(QStringLiteral("not a PEM private key"));
        if (EVP_PKEY_get_id(pkey.get()) != EVP_PKEY_ED25519)
            return failWith(QStringLiteral("the PEM key is not an Ed25519 key"));
        QByteArray seed(32, Qt::Uninitialized);
        size_t length = 32;
        if (EVP_PKEY_get_raw_private_key(pkey.get(), reinterpret_cast<unsigned char *>(seed.data()),
                                         &length) != 1 ||
            length != 32)
            return failWith(QStringLiteral("cannot read the Ed25519 seed from the PEM key"));
        return scheme.fromSecret(seed);
    }
    if (contents.size() != scheme.secretKeySize())
        return failWith(QStringLiteral("a raw key file must hold exactly %1 bytes, this one holds %2")
                            .arg(scheme.secretKeySize())
                            .arg(qint64(info.st_size))); // the file's, not the 64 KiB read of it
    return scheme.fromSecret(contents);
}

} // namespace ticketsync::KeyFile
