/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sha256.c: the SHA-256 wrapper over libcrypto's EVP interface. Owns the one
 * fetched EVP_MD (fetched once per process); never keeps per-thread state.
 */
#include "sha256.h"

#include <errno.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>

struct sha256_ctx {
        EVP_MD_CTX *ctx;
};

static EVP_MD *sha256_md;
static pthread_once_t sha256_md_once = PTHREAD_ONCE_INIT;

static void sha256_md_fetch(void)
{
        /* Kept for the life of the process, like the library's own tables. */
        sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

static const EVP_MD *sha256_get_md(void)
{
        pthread_once(&sha256_md_once, sha256_md_fetch);
        return sha256_md;
}

int sha256_ctx_new(struct sha256_ctx **ret)
{
        struct sha256_ctx *c;

        if (!sha256_get_md())
                return -ENOPKG;
        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->ctx = EVP_MD_CTX_new();
        if (!c->ctx) {
                free(c);
                return -ENOMEM;
        }
        *ret = c;
        return 0;
}

struct sha256_ctx *sha256_ctx_free(struct sha256_ctx *c)
{
        if (!c)
                return NULL;
        EVP_MD_CTX_free(c->ctx);
        free(c);
        return NULL;
}

int sha256_digest(struct sha256_ctx *c, const void *p, size_t n,
                  uint8_t ret[static SHA256_DIGEST_SIZE])
{
        unsigned len = 0;

        if (EVP_DigestInit_ex2(c->ctx, sha256_get_md(), NULL) != 1 ||
            EVP_DigestUpdate(c->ctx, p, n) != 1 || EVP_DigestFinal_ex(c->ctx, ret, &len) != 1 ||
            len != SHA256_DIGEST_SIZE)
                return -EIO;
        return 0;
}

int sha256_once(const void *p, size_t n, uint8_t ret[static SHA256_DIGEST_SIZE])
{
        unsigned len = 0;
        const EVP_MD *md = sha256_get_md();

        if (!md)
                return -ENOPKG;
        if (EVP_Digest(p, n, ret, &len, md, NULL) != 1 || len != SHA256_DIGEST_SIZE)
                return -EIO;
        return 0;
}
