/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * b-codec: what the store's per-page work costs on one core. `b-codec [MIB
 * [REPS]]` fills MIB MiB (default 1024) of random pages and as much of
 * text-like pages (tests/lib/pagefill.h, as tests/bench/bigmem), then times,
 * REPS times (default 3), each method in turn over every page, on one
 * thread pinned to one CPU: SHA-256 through the store's own wrapper
 * (daemon/store/sha256.c: OpenSSL EVP, which uses SHA-NI where the CPU has
 * it), the store's zero and incompressibility checks
 * (daemon/store/page-check.c), zstd per 4 KiB page at levels -1, 1 and 3,
 * zstd on runs of 16 pages, LZ4 per page and on runs, and the store's whole
 * per-page path (zero check, hash, check, codec) with each codec.
 * Zero pages are skipped by every codec and hash row, as the store skips
 * them: their MB/s count the bytes of the pages they worked on, their
 * stored/raw every page (a zero page stores nothing); a page that does not
 * shrink is stored raw (4096 bytes), as the store does. The path rows count
 * every page. LZ4 with a kept stream (no table clear per page) uses a
 * 32-bit table for every input and is slower on pages than the default. MB/s are 10^6 bytes per
 * second of the thread's CPU time (what one core does, whatever else the machine runs); the wall
 * column says how much the machine's other load took from it. Min and median of REPS runs, the
 * methods alternating within each run.
 */
#include <lz4.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <zstd.h>

#include "page-check.h"
#include "pagefill.h"
#include "prng.h"
#include "sha256.h"

#define PG PAGEFILL_PAGE
#define RUN_PAGES 16u
#define MAX_REPS 64

struct ctx {
        const uint8_t *buf;
        size_t n; /* pages */
        const bool *zero;
        struct sha256_ctx *sha;
        ZSTD_CCtx *zc;
        LZ4_stream_t *lz4;
        uint8_t *dst; /* RUN_PAGES * PG + slack */
        size_t dst_cap;
        size_t done_bytes; /* bytes worked on, for MB/s */
};

typedef uint64_t (*method_fn)(struct ctx *c, int arg); /* -> bytes stored */

static uint64_t zstd_page(struct ctx *c, const uint8_t *p, int level)
{
        size_t k = ZSTD_compressCCtx(c->zc, c->dst, PG - 1, p, PG, level);

        return ZSTD_isError(k) ? PG : k;
}

static uint64_t lz4_page(struct ctx *c, const uint8_t *p)
{
        int k = LZ4_compress_default((const char *)p, (char *)c->dst, PG, PG - 1);

        return k <= 0 ? PG : (uint64_t)k;
}

/* LZ4 with a kept stream, reset cheaply per page (no 16 KiB table clear),
 * at ACCEL (1: LZ4's default). */
static uint64_t lz4_page_kept(struct ctx *c, const uint8_t *p, int accel)
{
        int k;

        LZ4_resetStream_fast(c->lz4);
        k = LZ4_compress_fast_continue(c->lz4, (const char *)p, (char *)c->dst, PG, PG - 1, accel);
        return k <= 0 ? PG : (uint64_t)k;
}

static uint64_t m_lz4_kept(struct ctx *c, int arg)
{
        uint64_t stored = 0;

        for (size_t i = 0; i < c->n; i++)
                if (!c->zero[i]) {
                        stored += lz4_page_kept(c, c->buf + i * PG, arg);
                        c->done_bytes += PG;
                }
        return stored;
}

static uint64_t m_sha(struct ctx *c, int arg)
{
        uint8_t d[32];

        for (size_t i = 0; i < c->n; i++)
                if (!c->zero[i]) {
                        if (sha256_digest(c->sha, c->buf + i * PG, PG, d) < 0)
                                abort();
                        c->done_bytes += PG;
                }
        return 0;
}

static uint64_t m_zero(struct ctx *c, int arg)
{
        uint64_t nz = 0;

        for (size_t i = 0; i < c->n; i++)
                nz += !page_is_zero(c->buf + i * PG);
        c->done_bytes = c->n * PG;
        return nz * PG;
}

static uint64_t m_check(struct ctx *c, int arg)
{
        uint64_t flagged = 0;

        for (size_t i = 0; i < c->n; i++)
                if (!c->zero[i]) {
                        flagged += page_looks_incompressible(c->buf + i * PG);
                        c->done_bytes += PG;
                }
        return flagged * PG; /* the share of pages it would store raw */
}

/* arg: zstd level; ZSTD_LZ4 for LZ4. CHECK: the store's pre-check first. */
#define CODEC_LZ4 100
static uint64_t page_codec(struct ctx *c, int arg, bool check)
{
        uint64_t stored = 0;

        for (size_t i = 0; i < c->n; i++) {
                const uint8_t *p = c->buf + i * PG;

                if (c->zero[i])
                        continue;
                c->done_bytes += PG;
                if (check && page_looks_incompressible(p))
                        stored += PG;
                else
                        stored += arg == CODEC_LZ4 ? lz4_page(c, p) : zstd_page(c, p, arg);
        }
        return stored;
}

static uint64_t m_page(struct ctx *c, int arg)
{
        return page_codec(c, arg, false);
}

static uint64_t m_page_check(struct ctx *c, int arg)
{
        return page_codec(c, arg, true);
}

/* Runs of RUN_PAGES consecutive pages, zero pages included, one frame each. */
static uint64_t m_run(struct ctx *c, int arg)
{
        uint64_t stored = 0;
        const size_t len = RUN_PAGES * PG;

        for (size_t i = 0; i + RUN_PAGES <= c->n; i += RUN_PAGES) {
                const uint8_t *p = c->buf + i * PG;
                uint64_t k;

                if (arg == CODEC_LZ4) {
                        int r = LZ4_compress_default((const char *)p, (char *)c->dst, (int)len,
                                                     (int)len - 1);
                        k = r <= 0 ? len : (uint64_t)r;
                } else {
                        size_t r = ZSTD_compressCCtx(c->zc, c->dst, len - 1, p, len, arg);
                        k = ZSTD_isError(r) ? len : r;
                }
                stored += k;
                c->done_bytes += len;
        }
        return stored;
}

/* The store's per-page path (put.c): zero check, hash, pre-check (but with
 * arg CODEC_LZ4_NOCHECK), codec. */
#define CODEC_LZ4_NOCHECK 101
static uint64_t m_path(struct ctx *c, int arg)
{
        uint64_t stored = 0;
        uint8_t d[32];

        for (size_t i = 0; i < c->n; i++) {
                const uint8_t *p = c->buf + i * PG;

                if (page_is_zero(p))
                        continue;
                if (sha256_digest(c->sha, p, PG, d) < 0)
                        abort();
                if (arg == CODEC_LZ4_NOCHECK)
                        stored += lz4_page(c, p);
                else if (page_looks_incompressible(p))
                        stored += PG;
                else
                        stored += arg == CODEC_LZ4 ? lz4_page(c, p) : zstd_page(c, p, arg);
        }
        c->done_bytes = c->n * PG;
        return stored;
}

static const struct method {
        const char *name;
        method_fn fn;
        int arg;
} methods[] = {
        {"zero check (all pages)", m_zero, 0},
        {"SHA-256 per page (EVP)", m_sha, 0},
        {"incompressible pre-check", m_check, 0},
        {"zstd -1 per page", m_page, -1},
        {"zstd 1 per page", m_page, 1},
        {"zstd 3 per page", m_page, 3},
        {"zstd -1 per page, pre-check", m_page_check, -1},
        {"zstd 1 per page, pre-check", m_page_check, 1},
        {"zstd -1 runs of 16 pages", m_run, -1},
        {"zstd 1 runs of 16 pages", m_run, 1},
        {"LZ4 per page", m_page, CODEC_LZ4},
        {"LZ4 per page, pre-check", m_page_check, CODEC_LZ4},
        {"LZ4 runs of 16 pages", m_run, CODEC_LZ4},
        {"LZ4 per page, kept stream", m_lz4_kept, 1},
        {"LZ4 per page, kept, accel 4", m_lz4_kept, 4},
        {"path: zero+SHA+check+zstd 1", m_path, 1},
        {"path: zero+SHA+check+zstd -1", m_path, -1},
        {"path: zero+SHA+check+LZ4", m_path, CODEC_LZ4},
        {"path: zero+SHA+LZ4 (no check)", m_path, CODEC_LZ4_NOCHECK},
};
#define N_METHODS (sizeof(methods) / sizeof(methods[0]))

static double clock_s(clockid_t id)
{
        struct timespec ts;

        clock_gettime(id, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;

        return (x > y) - (x < y);
}

static double median(double *v, int n)
{
        qsort(v, (size_t)n, sizeof(*v), cmp_double);
        return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static double minimum(double *v, int n)
{
        qsort(v, (size_t)n, sizeof(*v), cmp_double);
        return v[0];
}

int main(int argc, char **argv)
{
        static const char *kinds[] = {"random", "text"};
        size_t mib = argc > 1 ? strtoul(argv[1], NULL, 0) : 1024;
        int reps = argc > 2 ? atoi(argv[2]) : 3;
        size_t len = mib << 20, n = len / PG;
        static double cpu_mbs[2][N_METHODS][MAX_REPS], wall_mbs[2][N_METHODS][MAX_REPS];
        static double ratio[2][N_METHODS];
        struct ctx c[2] = {};
        cpu_set_t cpus;
        int cpu;

        if (mib == 0 || reps < 1 || reps > MAX_REPS) {
                fprintf(stderr, "usage: b-codec [MIB [REPS]] (REPS 1-%d)\n", MAX_REPS);
                return 2;
        }
        /* One core: stay on the one we started on. */
        cpu = sched_getcpu();
        CPU_ZERO(&cpus);
        CPU_SET(cpu < 0 ? 0 : cpu, &cpus);
        (void)sched_setaffinity(0, sizeof(cpus), &cpus);
        page_check_init();

        for (int k = 0; k < 2; k++) {
                struct prng rng = PRNG_INIT(0x2545f4914f6cdd1dULL + (uint64_t)k);
                uint8_t *b =
                        mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
                bool *z = calloc(n, sizeof(*z));

                if (b == MAP_FAILED || !z) {
                        fprintf(stderr, "b-codec: out of memory\n");
                        return 1;
                }
                madvise(b, len, MADV_NOHUGEPAGE);
                fprintf(stderr, "b-codec: filling %zu MiB of %s pages\n", mib, kinds[k]);
                if (k == 0)
                        pagefill_random(&rng, (char *)b, len);
                else
                        pagefill_text(&rng, (char *)b, len);
                for (size_t i = 0; i < n; i++)
                        z[i] = page_is_zero(b + i * PG);
                c[k] = (struct ctx){.buf = b,
                                    .n = n,
                                    .zero = z,
                                    .zc = ZSTD_createCCtx(),
                                    .lz4 = LZ4_createStream()};
                c[k].dst_cap = RUN_PAGES * PG + 4096;
                c[k].dst = malloc(c[k].dst_cap);
                if (!c[k].zc || !c[k].lz4 || !c[k].dst || sha256_ctx_new(&c[k].sha) < 0) {
                        fprintf(stderr, "b-codec: cannot set up the codecs\n");
                        return 1;
                }
        }

        for (int r = 0; r < reps; r++) {
                fprintf(stderr, "b-codec: run %d of %d\n", r + 1, reps);
                for (size_t m = 0; m < N_METHODS; m++)
                        for (int k = 0; k < 2; k++) {
                                double t0 = clock_s(CLOCK_THREAD_CPUTIME_ID);
                                double w0 = clock_s(CLOCK_MONOTONIC), t, w;
                                uint64_t stored;

                                c[k].done_bytes = 0;
                                stored = methods[m].fn(&c[k], methods[m].arg);
                                t = clock_s(CLOCK_THREAD_CPUTIME_ID) - t0;
                                w = clock_s(CLOCK_MONOTONIC) - w0;
                                cpu_mbs[k][m][r] = (double)c[k].done_bytes / t / 1e6;
                                wall_mbs[k][m][r] = (double)c[k].done_bytes / w / 1e6;
                                ratio[k][m] = (double)stored / (double)len;
                        }
        }

        printf("Per-page store work on one core (CPU %d), %zu MiB of each content, %d runs,\n"
               "methods alternating; MB/s of the thread's CPU time, min / median; wall:\n"
               "median MB/s of elapsed time. stored/raw: bytes a codec stores over every\n"
               "page's bytes (the pre-check's row: the share it sends raw).\n\n",
               cpu, mib, reps);
        printf("%-7s %-32s %9s %9s %9s %11s\n", "content", "method", "min MB/s", "med MB/s",
               "wall med", "stored/raw");
        for (int k = 0; k < 2; k++)
                for (size_t m = 0; m < N_METHODS; m++) {
                        double mn = minimum(cpu_mbs[k][m], reps), md = median(cpu_mbs[k][m], reps);
                        double wm = median(wall_mbs[k][m], reps);

                        if (methods[m].fn == m_sha)
                                printf("%-7s %-32s %9.0f %9.0f %9.0f %11s\n", kinds[k],
                                       methods[m].name, mn, md, wm, "-");
                        else
                                printf("%-7s %-32s %9.0f %9.0f %9.0f %11.3f\n", kinds[k],
                                       methods[m].name, mn, md, wm, ratio[k][m]);
                }
        return 0;
}
