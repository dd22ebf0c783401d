#pragma once

// RAII owners for OpenSSL objects, shared by the devnet PKI and the TLS identity loader, so that
// every early return frees what it allocated. Private to the node library (OpenSSL links PRIVATE):
// include it from .cpp files only, never from a public header.

#include <QByteArray>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <memory>

namespace ticketsync {

template<auto Free> struct Deleter
{
    template<typename T> void operator()(T *pointer) const { Free(pointer); }
};
using Bio = std::unique_ptr<BIO, Deleter<BIO_free>>;
using Pkey = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY_free>>;
using Certificate = std::unique_ptr<X509, Deleter<X509_free>>;
using Pkcs12 = std::unique_ptr<PKCS12, Deleter<PKCS12_free>>;
using Bignum = std::unique_ptr<BIGNUM, Deleter<BN_free>>;
using Store = std::unique_ptr<X509_STORE, Deleter<X509_STORE_free>>;
using StoreContext = std::unique_ptr<X509_STORE_CTX, Deleter<X509_STORE_CTX_free>>;
// A stack owns its certificates too: popping frees each one, then the stack.
struct CertificateStackFree
{
    void operator()(STACK_OF(X509) * stack) const { sk_X509_pop_free(stack, X509_free); }
};
using CertificateStack = std::unique_ptr<STACK_OF(X509), CertificateStackFree>;

// Failed parses leave entries in OpenSSL's per-thread error queue; Qt's TLS backend reads that
// queue after a handshake error and would report ours as its reason, so nothing of ours may stay there.
struct ErrorQueueGuard
{
    ~ErrorQueueGuard() { ERR_clear_error(); }
};

// A password callback that never lets OpenSSL prompt on the terminal for a passphrase.
inline int noPassphrase(char *, int, int, void *)
{
    return -1;
}

// A read-only BIO over contents, which must outlive it.
inline Bio memoryBio(const QByteArray &contents)
{
    return Bio(BIO_new_mem_buf(contents.constData(), int(contents.size())));
}

inline QByteArray bioContents(BIO *bio)
{
    char *data = nullptr;
    const long size = BIO_get_mem_data(bio, &data);
    return QByteArray(data, qsizetype(size));
}

// Empty on failure.
inline QByteArray certificatePem(X509 *certificate)
{
    Bio bio(BIO_new(BIO_s_mem()));
    if (!bio || PEM_write_bio_X509(bio.get(), certificate) != 1)
        return {};
    return bioContents(bio.get());
}

// Unencrypted PKCS#8 ("BEGIN PRIVATE KEY"): what QSslKey and `openssl pkey` read. Empty on failure.
inline QByteArray privateKeyPem(EVP_PKEY *key)
{
    Bio bio(BIO_new(BIO_s_mem()));
    if (!bio || PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1)
        return {};
    return bioContents(bio.get());
}

} // namespace ticketsync
