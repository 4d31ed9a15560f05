#pragma once
// SHA-256 and HMAC-SHA256 go through the low-level SHA256_* functions, deprecated in OpenSSL 3 but kept in
// every 3.x: they compute in place, while any EVP call (EVP_Digest, HMAC(), EVP_MAC) first loads OpenSSL's
// provider tables, ≈ 2 MB of libcrypto paged into the daemon, and fetches the algorithm on every call.
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <openssl/err.h>
#include <string.h>
// The kernel CSPRNG, beside libcrypto: WPWithinCrypto draws random bytes from getrandom(2) (Crypto.randomBytes).
#include <sys/random.h>

static inline void wpw_openssl_free(void *p) { OPENSSL_free(p); }

// Macros Swift cannot import (they expand to *_ctrl calls), as functions.

static inline int wpw_ssl_ctx_set_min_proto_version(SSL_CTX *ctx, int version) {
    return (int)SSL_CTX_set_min_proto_version(ctx, version);
}

/// No compression (CRIME), no renegotiation.
static inline void wpw_ssl_ctx_set_safe_options(SSL_CTX *ctx) {
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
}

static inline int wpw_ssl_set_tlsext_host_name(SSL *ssl, const char *name) {
    return (int)SSL_set_tlsext_host_name(ssl, name);
}

/// An empty memory BIO asks to retry (WANT_READ) instead of reporting end of file.
static inline void wpw_bio_set_mem_retry_when_empty(BIO *bio) {
    (void)BIO_set_mem_eof_return(bio, -1);
}

/// Server side: select `http/1.1` when the client offers it; no ALPN otherwise (the handshake goes on).
static inline int wpw_alpn_select_http11(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                                         const unsigned char *in, unsigned int inlen, void *arg) {
    (void)ssl; (void)arg;
    static const unsigned char http11[] = "\x08http/1.1";
    unsigned char *selected = NULL;
    if (SSL_select_next_proto(&selected, outlen, http11, sizeof(http11) - 1, in, inlen) == OPENSSL_NPN_NEGOTIATED) {
        *out = selected;
        return SSL_TLSEXT_ERR_OK;
    }
    return SSL_TLSEXT_ERR_NOACK;
}

static inline void wpw_ssl_ctx_select_alpn_http11(SSL_CTX *ctx) {
    SSL_CTX_set_alpn_select_cb(ctx, wpw_alpn_select_http11, NULL);
}

// HMAC-SHA256 (RFC 2104) with the key's inner and outer states computed once (wpw_hmac_sha256_key_init),
// so each MAC is two SHA-256 passes over the message and the inner hash, from copies of those states.
typedef struct {
    SHA256_CTX inner;
    SHA256_CTX outer;
} wpw_hmac_sha256_key;

static inline void wpw_hmac_sha256_key_init(wpw_hmac_sha256_key *k, const unsigned char *key, size_t length) {
    unsigned char block[SHA256_CBLOCK];
    unsigned char pad[SHA256_CBLOCK];
    memset(block, 0, sizeof block);
    if (length > SHA256_CBLOCK) {
        SHA256(key, length, block);  // a key longer than a block is hashed first
    } else if (length > 0) {
        memcpy(block, key, length);
    }
    for (size_t i = 0; i < SHA256_CBLOCK; i++) pad[i] = block[i] ^ 0x36;
    SHA256_Init(&k->inner);
    SHA256_Update(&k->inner, pad, sizeof pad);
    for (size_t i = 0; i < SHA256_CBLOCK; i++) pad[i] = block[i] ^ 0x5c;
    SHA256_Init(&k->outer);
    SHA256_Update(&k->outer, pad, sizeof pad);
    OPENSSL_cleanse(block, sizeof block);
    OPENSSL_cleanse(pad, sizeof pad);
}

static inline void wpw_hmac_sha256(const wpw_hmac_sha256_key *k, const unsigned char *data, size_t length,
                                   unsigned char out[SHA256_DIGEST_LENGTH]) {
    SHA256_CTX context = k->inner;
    unsigned char inner[SHA256_DIGEST_LENGTH];
    SHA256_Update(&context, data, length);
    SHA256_Final(inner, &context);
    context = k->outer;
    SHA256_Update(&context, inner, sizeof inner);
    SHA256_Final(out, &context);
    OPENSSL_cleanse(&context, sizeof context);
    OPENSSL_cleanse(inner, sizeof inner);
}

static inline void wpw_hmac_sha256_key_clear(wpw_hmac_sha256_key *k) { OPENSSL_cleanse(k, sizeof *k); }

static inline void wpw_sha256(const unsigned char *data, size_t length, unsigned char out[SHA256_DIGEST_LENGTH]) {
    SHA256(data, length, out);
}
