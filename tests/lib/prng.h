/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * prng.h: the tests' one pseudo-random generator, for the unit tests, the
 * workloads and the benchmark targets. A struct prng is xorshift64* (Vigna):
 * the same seed gives the same numbers on every machine, so a test that
 * prints its seed can be repeated; nothing here is fit for secrets.
 * prng_mix() is the splitmix64 finalizer, a stateless hash of one word, for
 * contents that must be a function of (seed, index) rather than of a stream.
 * Header only; every caller owns its own struct prng.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct prng {
        uint64_t state; /* never 0: xorshift would stay at 0 */
};

/* A generator seeded with SEED (0 is taken as another fixed seed). */
#define PRNG_INIT(seed)                                                                            \
        {                                                                                          \
                .state = (seed) ? (uint64_t)(seed) : 0x9e3779b97f4a7c15ULL                         \
        }

static inline void prng_seed(struct prng *p, uint64_t seed)
{
        *p = (struct prng)PRNG_INIT(seed);
}

static inline uint64_t prng_next(struct prng *p)
{
        p->state ^= p->state >> 12;
        p->state ^= p->state << 25;
        p->state ^= p->state >> 27;
        return p->state * 0x2545f4914f6cdd1dULL;
}

/* A number below n (n > 0); the modulo bias is too small to matter here. */
static inline uint64_t prng_below(struct prng *p, uint64_t n)
{
        return prng_next(p) % n;
}

/* Fills n bytes of buf (any alignment) from the stream. */
static inline void prng_fill(struct prng *p, void *buf, size_t n)
{
        uint8_t *b = buf;

        while (n > 0) {
                uint64_t v = prng_next(p);
                size_t k = n < sizeof(v) ? n : sizeof(v);

                memcpy(b, &v, k);
                b += k;
                n -= k;
        }
}

static inline uint64_t prng_mix(uint64_t x)
{
        x ^= x >> 30;
        x *= 0xbf58476d1ce4e5b9ULL;
        x ^= x >> 27;
        x *= 0x94d049bb133111ebULL;
        x ^= x >> 31;
        return x;
}
