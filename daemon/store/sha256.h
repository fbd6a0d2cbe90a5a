/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sha256.h: SHA-256 through OpenSSL libcrypto (which uses the SHA-NI / AVX2
 * code paths of the CPU by itself). A struct sha256_ctx is for one thread at
 * a time and is meant to be kept: fetching the algorithm and allocating a
 * context per 4 KiB page would cost more than hashing it.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define SHA256_DIGEST_SIZE 32

struct sha256_ctx;

int sha256_ctx_new(struct sha256_ctx **ret);
struct sha256_ctx *sha256_ctx_free(struct sha256_ctx *c);
static inline void sha256_ctx_freep(struct sha256_ctx **c)
{
        sha256_ctx_free(*c);
}

/* One digest with a kept context. */
int sha256_digest(struct sha256_ctx *c, const void *p, size_t n,
                  uint8_t ret[static SHA256_DIGEST_SIZE]);
/* One digest without a context (manifests, tests): slower per call. */
int sha256_once(const void *p, size_t n, uint8_t ret[static SHA256_DIGEST_SIZE]);
