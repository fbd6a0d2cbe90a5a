/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * b-disk: the disk's durable write speed, the limit of a store that writes
 * incompressible pages. `b-disk FILE MIB` creates FILE (which must not
 * exist), writes MIB MiB of pseudo-random bytes to it in 1 MiB writes,
 * fdatasyncs it, removes it and prints
 *   "bytes=N seconds=S"
 * timed from the first write to the end of fdatasync: what the store does to
 * a pack (pwritev, then fsync before the commit). The bytes are made before
 * the clock starts (a 64 MiB pattern, written again and again: no file system
 * here compresses or deduplicates).
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "prng.h"

#define CHUNK (1u << 20)
#define PATTERN (64u << 20)

static double now(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
        struct prng rng = PRNG_INIT(0x853c49e6748fea9bULL);
        size_t mib, total;
        uint8_t *buf;
        double t0, t;
        int fd;

        if (argc != 3 || (mib = strtoul(argv[2], NULL, 0)) == 0) {
                fprintf(stderr, "usage: b-disk FILE MIB\n");
                return 2;
        }
        total = mib << 20;
        buf = malloc(PATTERN);
        if (!buf) {
                fprintf(stderr, "b-disk: out of memory\n");
                return 1;
        }
        prng_fill(&rng, buf, PATTERN);
        fd = open(argv[1], O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0) {
                fprintf(stderr, "b-disk: %s: %m\n", argv[1]);
                return 1;
        }
        t0 = now();
        for (size_t off = 0; off < total; off += CHUNK) {
                const uint8_t *p = buf + off % PATTERN;
                size_t done = 0;

                while (done < CHUNK) {
                        ssize_t k = pwrite(fd, p + done, CHUNK - done, (off_t)(off + done));

                        if (k <= 0) {
                                fprintf(stderr, "b-disk: write: %m\n");
                                unlink(argv[1]);
                                return 1;
                        }
                        done += (size_t)k;
                }
        }
        if (fdatasync(fd) < 0) {
                fprintf(stderr, "b-disk: fdatasync: %m\n");
                unlink(argv[1]);
                return 1;
        }
        t = now() - t0;
        close(fd);
        unlink(argv[1]);
        printf("bytes=%zu seconds=%.6f\n", total, t);
        return 0;
}
