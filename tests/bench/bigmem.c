/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bigmem: a benchmark target. `bigmem MIB random|text` maps MIB MiB of
 * anonymous memory (region "mem"), fills every page, and speaks the
 * workloads' protocol (tests/lib/workload.h) with only its common
 * commands (info, exit): prints "ready pid=P start=0xS end=0xE", then
 * answers commands on stdin without touching the memory again.
 *   random: incompressible pseudo-random bytes, no two pages alike.
 *   text:   what a typical heap holds: log-like text lines and small records
 *           with repeats, and one page in eight left all zero.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "prng.h"
#include "workload.h"

static struct prng rng = PRNG_INIT(0x2545f4914f6cdd1dULL);

static void fill_random(char *p, size_t len)
{
        uint64_t *w = (uint64_t *)p;

        for (size_t i = 0; i < len / 8; i++)
                w[i] = prng_next(&rng);
}

static void fill_text(char *p, size_t len)
{
        static const char *words[] = {
                "GET", "POST", "/api/v1/items", "/static/app.js", "200",
                "404", "user", "session",       "timeout",        "connected",
                "id",  "ok",   "request",       "cache",          "miss",
                "hit", "db",   "query",
        };
        const size_t nw = sizeof(words) / sizeof(words[0]);

        for (size_t off = 0; off < len; off += PAGE) {
                char *page = p + off;
                size_t n = 0;

                if ((off / PAGE) % 8 == 7) {
                        page[0] = 0; /* touched, stays zero */
                        continue;
                }
                while (n < PAGE) {
                        char line[160];
                        int l;

                        if (prng_next(&rng) % 4 == 0) /* a small binary record */
                                l = snprintf(line, sizeof(line), "%c%c%c%c%08x", 1, 0,
                                             (int)(prng_next(&rng) % 3), 0,
                                             (unsigned)(prng_next(&rng) % 1000));
                        else
                                l = snprintf(line, sizeof(line),
                                             "2026-11-22T02:%02u:%02u %s %s %s %u %s\n",
                                             (unsigned)(prng_next(&rng) % 60),
                                             (unsigned)(prng_next(&rng) % 60),
                                             words[prng_next(&rng) % nw],
                                             words[prng_next(&rng) % nw],
                                             words[prng_next(&rng) % nw],
                                             (unsigned)(prng_next(&rng) % 10000),
                                             words[prng_next(&rng) % nw]);
                        if (l <= 0)
                                break;
                        if ((size_t)l > PAGE - n)
                                l = (int)(PAGE - n);
                        memcpy(page + n, line, (size_t)l);
                        n += (size_t)l;
                }
        }
}

int main(int argc, char **argv)
{
        size_t mib, len;
        char *p;

        if (argc != 3 || (strcmp(argv[2], "random") != 0 && strcmp(argv[2], "text") != 0)) {
                fprintf(stderr, "usage: bigmem MIB random|text\n");
                return 2;
        }
        mib = strtoul(argv[1], NULL, 0);
        len = mib << 20;
        p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) {
                fprintf(stderr, "bigmem: mmap: %m\n");
                return 1;
        }
        /* Plain 4 KiB pages, as most heaps hold. */
        madvise(p, len, MADV_NOHUGEPAGE);
        if (strcmp(argv[2], "random") == 0)
                fill_random(p, len);
        else
                fill_text(p, len);
        region_add("mem", "anon", p, len / PAGE);
        workload_ready("start=%p end=%p", (void *)p, (void *)(p + len));
        return workload_loop(NULL, NULL);
}
