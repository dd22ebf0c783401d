#include "Ed25519.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sodium.h>

#include <cstring>
#include <memory>
#include <stdexcept>

namespace ticketsync {

namespace {
const unsigned char *bytesOf(const QByteArray &data)
{
    return reinterpret_cast<const unsigned char *>(data.constData());
}
unsigned char *bytesOf(QByteArray &data)
{
    return reinterpret_cast<unsigned char *>(data.data());
}
} // namespace

// ---- libsodium ----

Ed25519Sodium::Ed25519Sodium()
{
    if (sodium_init() < 0)
        throw std::runtime_error("libsodium failed to initialise");
}

KeyPair Ed25519Sodium::generate() const
{
    QByteArray seed(crypto_sign_SEEDBYTES, Qt::Uninitialized);
    randombytes_buf(seed.data(), size_t(seed.size()));
    return fromSecret(seed);
}

KeyPair Ed25519Sodium::fromSecret(const QByteArray &secretKey) const
{
    if (secretKey.size() != crypto_sign_SEEDBYTES)
        return {};
    QByteArray publicKey(crypto_sign_PUBLICKEYBYTES, Qt::Uninitialized);
    QByteArray expanded(crypto_sign_SECRETKEYBYTES, Qt::Uninitialized);
    crypto_sign_seed_keypair(bytesOf(publicKey), bytesOf(expanded), bytesOf(secretKey));
    sodium_memzero(expanded.data(), size_t(expanded.size()));
    return {secretKey, publicKey};
}

QByteArray Ed25519Sodium::sign(const KeyPair &key, const QByteArray &message) const
{
    if (key.secretKey.size() != crypto_sign_SEEDBYTES || key.publicKey.size() != crypto_sign_PUBLICKEYBYTES)
        return {};
    // libsodium's expanded secret key is seed || public key; building it avoids a
    // scalar multiplication per signature.
    unsigned char expanded[crypto_sign_SECRETKEYBYTES];
    memcpy(expanded, key.secretKey.constData(), crypto_sign_SEEDBYTES);
    memcpy(expanded + crypto_sign_SEEDBYTES, key.publicKey.constData(), crypto_sign_PUBLICKEYBYTES);
    QByteArray signature(crypto_sign_BYTES, Qt::Uninitialized);
    crypto_sign_detached(bytesOf(signature), nullptr, bytesOf(message), size_t(message.size()), expanded);
    sodium_memzero(expanded, sizeof expanded);
    return signature;
}

bool Ed25519Sodium::verify(const QByteArray &publicKey, const QByteArray &message,
                           const QByteArray &signature) const
{
    if (publicKey.size() != crypto_sign_PUBLICKEYBYTES || signature.size() != crypto_sign_BYTES)
        return false;
    return crypto_sign_verify_detached(bytesOf(signature), bytesOf(message), size_t(message.size()),
                                       bytesOf(publicKey)) == 0;
}

// ---- OpenSSL ----

namespace {
struct PkeyFree
{
    void operator()(EVP_PKEY *key) const { EVP_PKEY_free(key); }
};
struct MdCtxFree
{
    void operator()(EVP_MD_CTX *context) const { EVP_MD_CTX_free(context); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;
using MdCtx = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;
} // namespace

KeyPair Ed25519OpenSsl::generate() const
{
    QByteArray seed(32, Qt::Uninitialized);
    if (RAND_bytes(bytesOf(seed), int(seed.size())) != 1)
        return {};
    return fromSecret(seed);
}

KeyPair Ed25519OpenSsl::fromSecret(const QByteArray &secretKey) const
{
    if (secretKey.size() != 32)
        return {};
    Pkey key(EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, bytesOf(secretKey), 32));
    if (!key)
        return {};
    QByteArray publicKey(32, Qt::Uninitialized);
    size_t length = 32;
    if (EVP_PKEY_get_raw_public_key(key.get(), bytesOf(publicKey), &length) != 1 || length != 32)
        return {};
    return {secretKey, publicKey};
}

QByteArray Ed25519OpenSsl::sign(const KeyPair &keyPair, const QByteArray &message) const
{
    if (keyPair.secretKey.size() != 32)
        return {};
    Pkey key(EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, bytesOf(keyPair.secretKey), 32));
    MdCtx context(EVP_MD_CTX_new());
    if (!key || !context || EVP_DigestSignInit(context.get(), nullptr, nullptr, nullptr, key.get()) != 1)
        return {};
    QByteArray signature(64, Qt::Uninitialized);
    size_t length = 64;
    if (EVP_DigestSign(context.get(), bytesOf(signature), &length, bytesOf(message),
                       size_t(message.size())) != 1 ||
        length != 64)
        return {};
    return signature;
}

bool Ed25519OpenSsl::verify(const QByteArray &publicKey, const QByteArray &message,
                            const QByteArray &signature) const
{
    if (publicKey.size() != 32 || signature.size() != 64)
        return false;
    Pkey key(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, bytesOf(publicKey), 32));
    MdCtx context(EVP_MD_CTX_new());
    if (!key || !context || EVP_DigestVerifyInit(context.get(), nullptr, nullptr, nullptr, key.get()) != 1)
        return false;
    return EVP_DigestVerify(context.get(), bytesOf(signature), 64, bytesOf(message),
                            size_t(message.size())) == 1;
}

// ---- registry ----

const SignatureScheme &SignatureScheme::standard()
{
    static const Ed25519Sodium scheme;
    return scheme;
}

const SignatureScheme *SignatureScheme::byName(const QString &name)
{
    if (name == QLatin1String("ed25519"))
        return &standard();
    return nullptr;
}

} // namespace ticketsync
