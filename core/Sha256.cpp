#include "Sha256.h"

#include <openssl/evp.h>
#include <openssl/sha.h>

namespace ticketsync {

namespace {

// One context per thread, reused, and the algorithm fetched once for the process. OpenSSL 3's
// one-shot SHA256() fetches the implementation and allocates a context on every call, which
// costs several times more than hashing a ~150-byte write-off; digests are taken several times
// per decision on every node.
struct DigestContext
{
    DigestContext() : context(EVP_MD_CTX_new()) {}
    ~DigestContext() { EVP_MD_CTX_free(context); }
    DigestContext(const DigestContext &) = delete;
    DigestContext &operator=(const DigestContext &) = delete;
    EVP_MD_CTX *context;
};

} // namespace

QByteArray sha256(const QByteArray &data)
{
    static EVP_MD *const algorithm = EVP_MD_fetch(nullptr, "SHA256", nullptr); // kept for the process
    thread_local DigestContext reused;
    QByteArray digest(kDigestSize, Qt::Uninitialized);
    auto *out = reinterpret_cast<unsigned char *>(digest.data());
    unsigned int size = 0;
    if (algorithm && reused.context && EVP_DigestInit_ex(reused.context, algorithm, nullptr) == 1 &&
        EVP_DigestUpdate(reused.context, data.constData(), size_t(data.size())) == 1 &&
        EVP_DigestFinal_ex(reused.context, out, &size) == 1 && size == unsigned(kDigestSize))
        return digest;
    // The library's own path, so the value never differs.
    SHA256(reinterpret_cast<const unsigned char *>(data.constData()), size_t(data.size()), out);
    return digest;
}

} // namespace ticketsync
