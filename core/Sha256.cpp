#include "Sha256.h"

#include <openssl/sha.h>

namespace ticketsync {

QByteArray sha256(const QByteArray &data)
{
    QByteArray digest(kDigestSize, Qt::Uninitialized);
    SHA256(reinterpret_cast<const unsigned char *>(data.constData()), size_t(data.size()),
           reinterpret_cast<unsigned char *>(digest.data()));
    return digest;
}

} // namespace ticketsync
