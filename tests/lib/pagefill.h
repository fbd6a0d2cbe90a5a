/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pagefill.h: the benchmarks' two kinds of page contents (tests/bench/bigmem,
 * tests/bench/b-codec), from a struct prng (prng.h), so that the same seed
 * gives the same bytes everywhere. Header only.
 *   pagefill_random: incompressible pseudo-random bytes, no two pages alike.
 *   pagefill_text:   what a typical heap holds: log-like text lines and small
 *                    records with repeats, and one page in eight left all zero.
 * LEN is a multiple of PAGEFILL_PAGE.
 */
#pragma once

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "prng.h"

#define PAGEFILL_PAGE 4096u

static inline void pagefill_random(struct prng *rng, char *p, size_t len)
{
        uint64_t *w = (uint64_t *)p;

        for (size_t i = 0; i < len / 8; i++)
                w[i] = prng_next(rng);
}

/* One text line or binary record into LINE; its length. */
static inline int pagefill_line(struct prng *rng, char *line, size_t size)
{
        static const char *words[] = {
                "GET", "POST", "/api/v1/items", "/static/app.js", "200",
                "404", "user", "session",       "timeout",        "connected",
                "id",  "ok",   "request",       "cache",          "miss",
                "hit", "db",   "query",
        };
        const size_t nw = sizeof(words) / sizeof(words[0]);

        if (prng_next(rng) % 4 == 0) /* a small binary record */
                return snprintf(line, size, "%c%c%c%c%08x", 1, 0, (int)(prng_next(rng) % 3), 0,
                                (unsigned)(prng_next(rng) % 1000));
        return snprintf(line, size, "2026-11-22T02:%02u:%02u %s %s %s %u %s\n",
                        (unsigned)(prng_next(rng) % 60), (unsigned)(prng_next(rng) % 60),
                        words[prng_next(rng) % nw], words[prng_next(rng) % nw],
                        words[prng_next(rng) % nw], (unsigned)(prng_next(rng) % 10000),
                        words[prng_next(rng) % nw]);
}

static inline void pagefill_text(struct prng *rng, char *p, size_t len)
{
        for (size_t off = 0; off < len; off += PAGEFILL_PAGE) {
                char *page = p + off;
                size_t n = 0;

                if ((off / PAGEFILL_PAGE) % 8 == 7) {
                        page[0] = 0; /* touched, stays zero */
                        continue;
                }
                while (n < PAGEFILL_PAGE) {
                        char line[160];
                        int l = pagefill_line(rng, line, sizeof(line));

                        if (l <= 0)
                                break;
                        if ((size_t)l > PAGEFILL_PAGE - n)
                                l = (int)(PAGEFILL_PAGE - n);
                        memcpy(page + n, line, (size_t)l);
                        n += (size_t)l;
                }
        }
}
