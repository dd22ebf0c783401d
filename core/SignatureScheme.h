#pragma once

#include <QByteArray>
#include <QString>

namespace ticketsync {

// A keypair in the scheme's raw form: for Ed25519 the 32-byte seed and 32-byte public key.
struct KeyPair
{
    QByteArray secretKey;
    QByteArray publicKey;
};

// The one seam between ticketsync and a signature algorithm. Ed25519 is the scheme in
// use; SM2 with SM3 (OpenSSL 3) can be added as another implementation and named in the
// membership file without touching the encoding, tally or ledger code.
class SignatureScheme
{
public:
    virtual ~SignatureScheme() = default;

    virtual QString name() const = 0;
    virtual qsizetype secretKeySize() const = 0;
    virtual qsizetype publicKeySize() const = 0;
    virtual qsizetype signatureSize() const = 0;

    virtual KeyPair generate() const = 0;
    virtual KeyPair fromSecret(const QByteArray &secretKey) const = 0;
    virtual QByteArray sign(const KeyPair &key, const QByteArray &message) const = 0;
    virtual bool verify(const QByteArray &publicKey, const QByteArray &message,
                        const QByteArray &signature) const = 0;

    // The scheme ticketsync signs with: Ed25519 through libsodium, which measured
    // faster than OpenSSL 3 here (docs/performance.md).
    static const SignatureScheme &standard();
    // Looks a scheme up by the name used in membership and key files; nullptr if unknown.
    static const SignatureScheme *byName(const QString &name);
};

} // namespace ticketsync
