/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vmcopy: the baseline of the full-checkpoint benchmark. `vmcopy PID` copies
 * every readable mapping of the process (as /proc/PID/maps lists it, but
 * [vvar] and [vsyscall]) into a pre-faulted buffer with process_vm_readv,
 * the same system call a checkpoint reads with, and prints
 *   "bytes=N seconds=S"
 * The buffer is faulted in before the clock starts, so only the copy counts.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define MAX_MAPS 65536
#define IOV_BATCH 1024
#define CHUNK (1UL << 20)

struct map {
        uint64_t start, end;
};

static double now(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
        static struct map maps[MAX_MAPS];
        struct iovec local[IOV_BATCH], remote[IOV_BATCH];
        size_t n = 0, total = 0, copied = 0, done = 0, read_bytes = 0;
        char path[64], line[512];
        pid_t pid;
        double t0, t1;
        FILE *f;
        char *buf;

        if (argc != 2) {
                fprintf(stderr, "usage: vmcopy PID\n");
                return 2;
        }
        pid = (pid_t)atoi(argv[1]);
        snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
        f = fopen(path, "re");
        if (!f) {
                fprintf(stderr, "vmcopy: '%s': %m\n", path);
                return 1;
        }
        while (fgets(line, sizeof(line), f) && n < MAX_MAPS) {
                unsigned long long s, e;
                char perms[8];

                if (sscanf(line, "%llx-%llx %7s", &s, &e, perms) != 3 || perms[0] != 'r')
                        continue;
                if (strstr(line, "[vvar") || strstr(line, "[vsyscall]"))
                        continue;
                maps[n++] = (struct map){s, e};
                total += e - s;
        }
        fclose(f);

        buf = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE,
                   -1, 0);
        if (buf == MAP_FAILED) {
                fprintf(stderr, "vmcopy: mmap %zu: %m\n", total);
                return 1;
        }
        memset(buf, 1, total); /* populate for writing, not just mapping */

        t0 = now();
        for (size_t i = 0; i < n;) {
                size_t k = 0, want = 0;
                ssize_t got;

                /* Batch up to IOV_BATCH pieces of at most CHUNK bytes. */
                while (i < n && k < IOV_BATCH) {
                        uint64_t s = maps[i].start + done, len = maps[i].end - s;

                        if (len > CHUNK)
                                len = CHUNK;
                        remote[k] = (struct iovec){(void *)s, len};
                        local[k] = (struct iovec){buf + copied + want, len};
                        want += len;
                        k++;
                        done += len;
                        if (maps[i].start + done >= maps[i].end) {
                                i++;
                                done = 0;
                        }
                }
                got = process_vm_readv(pid, local, k, remote, k, 0);
                if (got < 0) {
                        fprintf(stderr, "vmcopy: process_vm_readv: %m\n");
                        return 1;
                }
                /* A short read stops at an unreadable page (a guard or
                 * PROT_NONE piece): count what was read and go on. */
                copied += want;
                read_bytes += (size_t)got;
        }
        t1 = now();
        printf("bytes=%zu seconds=%.6f\n", read_bytes, t1 - t0);
        return 0;
}
