#pragma once
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <openssl/err.h>
#include <string.h>

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
