#pragma once
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

static inline void wpw_openssl_free(void *p) { OPENSSL_free(p); }
