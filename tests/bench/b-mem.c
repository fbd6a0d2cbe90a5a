/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * b-mem: the target process of the incremental, tracking and restore
 * benchmarks. `b-mem MIB` maps MIB MiB of anonymous memory in plain 4 KiB
 * pages, fills every page with pseudo-random bytes (no two pages alike),
 * prints "ready pid=P start=0xS end=0xE pages=N" and then obeys one command
 * per line on stdin, answering one line on stdout each:
 *   dirty PERCENT [FILE]  change N = PERCENT % of the pages, distinct and
 *                         chosen at random, one in each of N equal strides
 *                         (8 new bytes at a random offset in each);
 *                         FILE receives their addresses, one hex a line, in
 *                         address order. -> "dirtied N seconds=S"
 *   touch                 change every page -> "touched N seconds=S"
 *   write SECONDS         store 8 bytes in a random page, again and again,
 *                         for SECONDS -> "writes=N seconds=S minflt=F"
 *                         (F: the minor faults taken meanwhile)
 *   sum                   a 64-bit digest of the whole buffer -> "sum=0xH"
 *   exit                  leave.
 * Only the commands touch the memory; between them the process sleeps in
 * read(), so what a checkpoint sees is exactly what the commands changed.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "prng.h"

#define PAGE 4096UL

static struct prng rng = PRNG_INIT(0x9e3779b97f4a7c15ULL);

static double now(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long minflt(void)
{
        struct rusage ru;

        if (getrusage(RUSAGE_SELF, &ru) < 0)
                return -1;
        return ru.ru_minflt;
}

/* Changes one word of the page at a random aligned offset to a new value. */
static void change_page(char *page)
{
        uint64_t *w = (uint64_t *)(page + (prng_next(&rng) % (PAGE / 8)) * 8);

        *w ^= prng_next(&rng) | 1;
}

static int cmd_dirty(char *p, size_t n_pages, uint32_t *pick, double percent, const char *file)
{
        size_t n = (size_t)((double)n_pages * percent / 100.0 + 0.5);
        FILE *f = NULL;
        double t0, t1;

        if (n > n_pages)
                n = n_pages;
        if (n == 0) {
                printf("dirtied 0 seconds=0\n");
                return 0;
        }
        /* Stratified sampling: one page at random in each of n equal
         * strides. The pages are distinct and in address order, and picking
         * them writes nothing but the first n entries of `pick` (a page
         * shuffle over the whole buffer would dirty its own index array). */
        for (size_t i = 0; i < n; i++) {
                size_t lo = n_pages * i / n, hi = n_pages * (i + 1) / n;

                pick[i] = (uint32_t)(lo + prng_next(&rng) % (hi - lo));
        }
        t0 = now();
        for (size_t i = 0; i < n; i++)
                change_page(p + (size_t)pick[i] * PAGE);
        t1 = now();
        if (file) {
                f = fopen(file, "we");
                if (!f) {
                        printf("error: '%s': %s\n", file, strerror(errno));
                        return -1;
                }
                for (size_t i = 0; i < n; i++)
                        fprintf(f, "%lx\n", (unsigned long)(p + (size_t)pick[i] * PAGE));
                if (fclose(f) != 0) {
                        printf("error: '%s': %s\n", file, strerror(errno));
                        return -1;
                }
        }
        printf("dirtied %zu seconds=%.6f\n", n, t1 - t0);
        return 0;
}

static void cmd_touch(char *p, size_t n_pages)
{
        double t0 = now();

        for (size_t i = 0; i < n_pages; i++)
                change_page(p + i * PAGE);
        printf("touched %zu seconds=%.6f\n", n_pages, now() - t0);
}

static void cmd_write(char *p, size_t n_pages, double seconds)
{
        uint64_t writes = 0;
        long f0 = minflt();
        double t0 = now(), t;

        for (;;) {
                for (int k = 0; k < 4096; k++) {
                        uint64_t r = prng_next(&rng);
                        uint64_t *w = (uint64_t *)(p + (r % n_pages) * PAGE +
                                                   ((r >> 40) % (PAGE / 8)) * 8);
                        *w = r;
                }
                writes += 4096;
                t = now();
                if (t - t0 >= seconds)
                        break;
        }
        printf("writes=%" PRIu64 " seconds=%.6f minflt=%ld\n", writes, t - t0, minflt() - f0);
}

static void cmd_sum(const char *p, size_t len)
{
        const uint64_t *w = (const uint64_t *)p;
        uint64_t h = 0xcbf29ce484222325ULL;

        for (size_t i = 0; i < len / 8; i++)
                h = (h ^ w[i]) * 0x100000001b3ULL + (h >> 29);
        printf("sum=0x%016" PRIx64 "\n", h);
}

int main(int argc, char **argv)
{
        size_t mib, len, n_pages;
        uint32_t *pick;
        char line[4096], *p;

        if (argc != 2 || (mib = strtoul(argv[1], NULL, 0)) == 0) {
                fprintf(stderr, "usage: b-mem MIB\n");
                return 2;
        }
        len = mib << 20;
        n_pages = len / PAGE;
        p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        pick = calloc(n_pages, sizeof(*pick));
        if (p == MAP_FAILED || !pick) {
                fprintf(stderr, "b-mem: cannot allocate %zu MiB: %m\n", mib);
                return 1;
        }
        madvise(p, len, MADV_NOHUGEPAGE);
        for (size_t i = 0; i < len / 8; i++)
                ((uint64_t *)p)[i] = prng_next(&rng);

        setvbuf(stdout, NULL, _IOLBF, 0);
        printf("ready pid=%d start=%p end=%p pages=%zu\n", (int)getpid(), (void *)p,
               (void *)(p + len), n_pages);
        while (fgets(line, sizeof(line), stdin)) {
                char cmd[16] = "", arg[32] = "", file[4000] = "";
                int n = sscanf(line, "%15s %31s %3999s", cmd, arg, file);

                if (n < 1)
                        continue;
                if (strcmp(cmd, "exit") == 0)
                        break;
                if (strcmp(cmd, "dirty") == 0 && n >= 2) {
                        if (cmd_dirty(p, n_pages, pick, strtod(arg, NULL), n == 3 ? file : NULL) <
                            0)
                                continue;
                } else if (strcmp(cmd, "touch") == 0)
                        cmd_touch(p, n_pages);
                else if (strcmp(cmd, "write") == 0 && n >= 2)
                        cmd_write(p, n_pages, strtod(arg, NULL));
                else if (strcmp(cmd, "sum") == 0)
                        cmd_sum(p, len);
                else
                        printf("error: unknown command '%s'\n", cmd);
        }
        return 0;
}
