/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * b-mem: the target process of the incremental, tracking and restore
 * benchmarks. `b-mem MIB [FILE_MIB]` maps MIB MiB of anonymous memory in
 * plain 4 KiB pages (region "mem"), fills every page with pseudo-random
 * bytes (no two pages alike); with FILE_MIB, also a private writable mapping
 * of a FILE_MIB MiB temp file of random bytes in $TMPDIR (region "file",
 * mapped from a read-only descriptor and none kept open, as ld.so maps a
 * library's data), the first half of its pages written (copied on write),
 * the file removed at exit. It speaks the workloads' protocol
 * (tests/lib/workload.h):
 * prints "ready pid=P start=0xS end=0xE pages=N", then obeys one command per
 * line on stdin, each answered "ok ..." or "err REASON":
 *   dirty mem PERCENT [FILE]  change N = PERCENT % of the pages, distinct
 *                         and chosen at random, one in each of N equal
 *                         strides (8 new bytes at a random offset in each);
 *                         FILE receives their addresses, one hex a line, in
 *                         address order. -> "ok dirtied=N seconds=S"
 *   touch mem             change every page -> "ok touched=N seconds=S"
 *   churn mem SECONDS     store 8 bytes in a random page, again and again,
 *                         for SECONDS -> "ok writes=N seconds=S minflt=F"
 *                         (F: the minor faults taken meanwhile)
 *   sum mem               a 64-bit digest of the whole buffer -> "ok sum=0xH"
 *   info, exit            as every workload.
 * Only the commands touch the memory; between them the process sleeps in
 * read(), so what a checkpoint sees is exactly what the commands changed.
 */
#include <errno.h>
#include <fcntl.h>
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
#include "workload.h"

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
                printf("ok dirtied=0 seconds=0\n");
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
                        printf("err '%s': %s\n", file, strerror(errno));
                        return 1;
                }
                for (size_t i = 0; i < n; i++)
                        fprintf(f, "%lx\n", (unsigned long)(p + (size_t)pick[i] * PAGE));
                if (fclose(f) != 0) {
                        printf("err '%s': %s\n", file, strerror(errno));
                        return 1;
                }
        }
        printf("ok dirtied=%zu seconds=%.6f\n", n, t1 - t0);
        return 0;
}

static void cmd_touch(char *p, size_t n_pages)
{
        double t0 = now();

        for (size_t i = 0; i < n_pages; i++)
                change_page(p + i * PAGE);
        printf("ok touched=%zu seconds=%.6f\n", n_pages, now() - t0);
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
        printf("ok writes=%" PRIu64 " seconds=%.6f minflt=%ld\n", writes, t - t0, minflt() - f0);
}

static void cmd_sum(const char *p, size_t len)
{
        const uint64_t *w = (const uint64_t *)p;
        uint64_t h = 0xcbf29ce484222325ULL;

        for (size_t i = 0; i < len / 8; i++)
                h = (h ^ w[i]) * 0x100000001b3ULL + (h >> 29);
        printf("ok sum=0x%016" PRIx64 "\n", h);
}

static uint32_t *picks;
static char file_path[4096];

/* The "file" region: FILE_MIB MiB of a temp file, mapped privately, the
 * first half of its pages written. */
static int map_file(size_t mib)
{
        const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
        size_t len = mib << 20, n_pages = len / PAGE;
        char page[PAGE];
        char *p;
        int fd;

        snprintf(file_path, sizeof(file_path), "%s/b-mem-%d.XXXXXX", dir, (int)getpid());
        fd = mkostemp(file_path, O_CLOEXEC);
        if (fd < 0)
                return -errno;
        for (size_t i = 0; i < n_pages; i++) {
                for (size_t k = 0; k < PAGE / 8; k++)
                        ((uint64_t *)page)[k] = prng_next(&rng);
                if (write(fd, page, PAGE) != PAGE) {
                        close(fd);
                        return -EIO;
                }
        }
        if (fsync(fd) < 0 || close(fd) < 0)
                return -errno;
        fd = open(file_path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
        close(fd);
        if (p == MAP_FAILED)
                return -errno;
        madvise(p, len, MADV_NOHUGEPAGE);
        for (size_t i = 0; i < n_pages / 2; i++)
                change_page(p + i * PAGE);
        region_add("file", "file", p, n_pages);
        return 0;
}

static int command(char *line)
{
        char cmd[16] = "", name[32] = "", arg[32] = "", file[4000] = "";
        int n = sscanf(line, "%15s %31s %31s %3999s", cmd, name, arg, file);
        struct region *r = n >= 2 ? region_find(name) : NULL;

        if (strcmp(cmd, "dirty") != 0 && strcmp(cmd, "touch") != 0 && strcmp(cmd, "churn") != 0 &&
            strcmp(cmd, "sum") != 0)
                return WL_UNKNOWN;
        if (!r)
                return -ENOENT;
        if (strcmp(cmd, "dirty") == 0 && n >= 3)
                return cmd_dirty(r->start, r->pages, picks, strtod(arg, NULL),
                                 n == 4 ? file : NULL);
        if (strcmp(cmd, "touch") == 0)
                cmd_touch(r->start, r->pages);
        else if (strcmp(cmd, "churn") == 0 && n >= 3)
                cmd_write(r->start, r->pages, strtod(arg, NULL));
        else if (strcmp(cmd, "sum") == 0)
                cmd_sum(r->start, r->pages * PAGE);
        else
                return -EINVAL;
        return 0;
}

int main(int argc, char **argv)
{
        size_t mib, len, n_pages, file_mib = 0;
        char *p;
        int r;

        if (argc < 2 || argc > 3 || (mib = strtoul(argv[1], NULL, 0)) == 0 ||
            (argc == 3 && (file_mib = strtoul(argv[2], NULL, 0)) == 0)) {
                fprintf(stderr, "usage: b-mem MIB [FILE_MIB]\n");
                return 2;
        }
        len = mib << 20;
        n_pages = len / PAGE;
        p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        picks = calloc(n_pages, sizeof(*picks));
        if (p == MAP_FAILED || !picks) {
                fprintf(stderr, "b-mem: cannot allocate %zu MiB: %m\n", mib);
                return 1;
        }
        madvise(p, len, MADV_NOHUGEPAGE);
        for (size_t i = 0; i < len / 8; i++)
                ((uint64_t *)p)[i] = prng_next(&rng);
        region_add("mem", "anon", p, n_pages);
        if (file_mib > 0 && (r = map_file(file_mib)) < 0) {
                fprintf(stderr, "b-mem: cannot map a %zu MiB file in '%s': %s\n", file_mib,
                        file_path, strerror(-r));
                if (file_path[0])
                        unlink(file_path);
                return 1;
        }
        workload_ready("start=%p end=%p pages=%zu", (void *)p, (void *)(p + len), n_pages);
        r = workload_loop(command, NULL);
        if (file_path[0])
                unlink(file_path);
        return r;
}
