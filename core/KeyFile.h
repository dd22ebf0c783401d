#pragma once

#include "SignatureScheme.h"

#include <QString>
#include <optional>

namespace ticketsync {

// Signing keys on disk. Two formats:
//  - PEM: PKCS#8 "PRIVATE KEY" (OpenSSL-compatible, `openssl pkey -in FILE` reads it);
//  - raw: the 32-byte Ed25519 seed, nothing else.
// Secret key files are written atomically and with mode 0600; a key file readable by
// group or others is refused on load.
namespace KeyFile {

enum class Format
{
    Pem,
    Raw
};

bool writeSecretKey(const QString &path, const KeyPair &key, Format format, QString *error);
bool writePublicKeyPem(const QString &path, const KeyPair &key, QString *error);
// Reads either format (PEM is recognised by its header).
std::optional<KeyPair> readSecretKey(const QString &path, QString *error);

} // namespace KeyFile

} // namespace ticketsync
