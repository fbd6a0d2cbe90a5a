/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * b-vmread: the baseline of the incremental-checkpoint pause. `b-vmread PID
 * FILE` reads the page addresses in FILE (hex, one a line, as `b-mem dirty`
 * writes them) and copies those pages out of process PID with
 * process_vm_readv, one 4 KiB remote iovec per page, in batches of IOV_MAX,
 * into a buffer faulted in before the clock starts. Prints
 *   "pages=N bytes=B seconds=S"
 * Exits 1 if any page could not be read.
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096UL
#define BATCH 1024 /* IOV_MAX */

static double now(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
        static struct iovec remote[BATCH];
        size_t n = 0, alloc = 0, got_total = 0;
        unsigned long long a;
        uint64_t *addr = NULL;
        double t0, t1;
        pid_t pid;
        char *buf;
        FILE *f;

        if (argc != 3) {
                fprintf(stderr, "usage: b-vmread PID FILE\n");
                return 2;
        }
        pid = (pid_t)atoi(argv[1]);
        f = fopen(argv[2], "re");
        if (!f) {
                fprintf(stderr, "b-vmread: '%s': %m\n", argv[2]);
                return 1;
        }
        while (fscanf(f, "%llx", &a) == 1) {
                if (n == alloc) {
                        alloc = alloc ? alloc * 2 : 4096;
                        addr = realloc(addr, alloc * sizeof(*addr));
                        if (!addr) {
                                fprintf(stderr, "b-vmread: out of memory\n");
                                return 1;
                        }
                }
                addr[n++] = a;
        }
        fclose(f);
        if (n == 0) {
                fprintf(stderr, "b-vmread: no addresses in '%s'\n", argv[2]);
                return 1;
        }

        buf = mmap(NULL, n * PAGE, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
        if (buf == MAP_FAILED) {
                fprintf(stderr, "b-vmread: mmap: %m\n");
                return 1;
        }
        memset(buf, 1, n * PAGE); /* faulted in for writing */

        t0 = now();
        for (size_t i = 0; i < n; i += BATCH) {
                size_t k = n - i < BATCH ? n - i : BATCH;
                struct iovec local = {buf + i * PAGE, k * PAGE};
                ssize_t got;

                for (size_t j = 0; j < k; j++)
                        remote[j] = (struct iovec){(void *)(uintptr_t)addr[i + j], PAGE};
                got = process_vm_readv(pid, &local, 1, remote, k, 0);
                if (got < 0) {
                        fprintf(stderr, "b-vmread: process_vm_readv: %m\n");
                        return 1;
                }
                got_total += (size_t)got;
        }
        t1 = now();
        if (got_total != n * PAGE) {
                fprintf(stderr, "b-vmread: read %zu bytes of %zu\n", got_total, n * PAGE);
                return 1;
        }
        printf("pages=%zu bytes=%zu seconds=%.6f\n", n, got_total, t1 - t0);
        return 0;
}
