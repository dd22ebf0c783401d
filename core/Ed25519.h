#pragma once

#include "SignatureScheme.h"

namespace ticketsync {

// Ed25519 (RFC 8032) through libsodium.
class Ed25519Sodium final : public SignatureScheme
{
public:
    Ed25519Sodium();
    QString name() const override { return QStringLiteral("ed25519"); }
    qsizetype secretKeySize() const override { return 32; }
    qsizetype publicKeySize() const override { return 32; }
    qsizetype signatureSize() const override { return 64; }
    KeyPair generate() const override;
    KeyPair fromSecret(const QByteArray &secretKey) const override;
    QByteArray sign(const KeyPair &key, const QByteArray &message) const override;
    bool verify(const QByteArray &publicKey, const QByteArray &message,
                const QByteArray &signature) const override;
};

// Ed25519 through OpenSSL 3's EVP interface. Byte-for-byte compatible with the libsodium
// implementation; kept so both can be checked against RFC 8032 and benchmarked side by side.
class Ed25519OpenSsl final : public SignatureScheme
{
public:
    QString name() const override { return QStringLiteral("ed25519"); }
    qsizetype secretKeySize() const override { return 32; }
    qsizetype publicKeySize() const override { return 32; }
    qsizetype signatureSize() const override { return 64; }
    KeyPair generate() const override;
    KeyPair fromSecret(const QByteArray &secretKey) const override;
    QByteArray sign(const KeyPair &key, const QByteArray &message) const override;
    bool verify(const QByteArray &publicKey, const QByteArray &message,
                const QByteArray &signature) const override;
};

} // namespace ticketsync
