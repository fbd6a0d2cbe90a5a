/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * eng-mem: a process whose address space holds every kind of region the
 * checkpoint engine must handle, filled with known patterns, for the engine's
 * unit test. It prints one line per region ("NAME 0xSTART 0xEND"), then
 * speaks the workloads' protocol (workload.h): "ready pid=P", and only the
 * loop's commands (info: its regions; exit), its main thread waiting in
 * read() on stdin meanwhile (its other threads sleep; nothing changes memory
 * afterwards unless "churn" asks for thread churn).
 *
 *   eng-mem regions FILE   heap array, sparse anon mmap, PROT_NONE-after-write,
 *                          read-only anon, MAP_SHARED anon, memfd (shared and
 *                          private), private file mapping of FILE written to,
 *                          read-only private mapping of FILE, 4 threads
 *   eng-mem threads N      N sleeping threads
 *   eng-mem churn N        N threads that keep creating short-lived threads
 *   eng-mem vfork SEC      a sleeping thread, and one in vfork() (state D)
 *                          while its child sleeps SEC seconds
 *   eng-mem huge MIB       MIB of anonymous memory, every page written
 *   eng-mem readfault MIB  MIB of anonymous memory, every page read, none
 *                          written (zero pages, or zeroed pages the kernel
 *                          allocated on the read fault)
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "workload.h"

static void fill(void *p, size_t len, uint32_t seed)
{
        uint32_t *w = p;

        for (size_t i = 0; i < len / 4; i++)
                w[i] = seed * 2654435761u + (uint32_t)i;
}

static void report(const char *name, void *p, size_t len)
{
        printf("%s 0x%llx 0x%llx\n", name, (unsigned long long)(uintptr_t)p,
               (unsigned long long)((uintptr_t)p + len));
        region_add(name, "eng-mem", p, len / PAGE);
}

static void *mapping(size_t len, int prot, int flags, int fd)
{
        void *p = mmap(NULL, len, prot, flags, fd, 0);
        if (p == MAP_FAILED) {
                perror("eng-mem: mmap");
                exit(1);
        }
        return p;
}

static void *sleeper(void *arg)
{
        /* Something on this thread's stack to find. */
        volatile char marker[256];

        memset((char *)marker, 0x5a, sizeof(marker));
        for (;;)
                pause();
        return arg;
}

static void *short_lived(void *arg)
{
        return arg;
}

static void *churner(void *arg)
{
        for (;;) {
                pthread_t t;

                if (pthread_create(&t, NULL, short_lived, NULL) == 0)
                        pthread_join(t, NULL);
        }
        return arg;
}

/* A thread that vfork()s: it waits in uninterruptible sleep (state D) for
 * as long as its child sleeps before it exits. */
static unsigned vfork_child_sec;

static void *vforker(void *arg)
{
        pid_t child = vfork();

        if (child == 0) {
                sleep(vfork_child_sec);
                _exit(0);
        }
        for (;;)
                pause();
        return arg;
}

static void start_threads(int n, void *(*fn)(void *))
{
        for (int i = 0; i < n; i++) {
                pthread_t t;
                if (pthread_create(&t, NULL, fn, NULL) != 0) {
                        fprintf(stderr, "eng-mem: pthread_create failed\n");
                        exit(1);
                }
        }
}

static int regions(const char *file)
{
        size_t heap_len = 64 * PAGE;
        char *heap, *sparse, *none, *ro, *shared, *memshared, *memprivate, *fpriv, *fro, *untouched;
        int fd, mfd;

        heap = malloc(heap_len);
        fill(heap, heap_len, 1);
        report("heap", heap, heap_len);

        /* 256 pages, every 8th touched: the rest are never read. */
        sparse = mapping(256 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1);
        for (int i = 0; i < 256; i += 8)
                fill(sparse + i * PAGE, PAGE, 100 + i);
        report("sparse", sparse, 256 * PAGE);

        none = mapping(8 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1);
        fill(none, 8 * PAGE, 2);
        mprotect(none, 8 * PAGE, PROT_NONE);
        report("protnone", none, 8 * PAGE);

        ro = mapping(8 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1);
        fill(ro, 8 * PAGE, 3);
        mprotect(ro, 8 * PAGE, PROT_READ);
        report("readonly", ro, 8 * PAGE);

        shared = mapping(16 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1);
        fill(shared, 8 * PAGE, 4); /* the other half stays zero */
        report("shared", shared, 16 * PAGE);

        mfd = memfd_create("eng mem", 0);
        if (mfd < 0 || ftruncate(mfd, 16 * PAGE) < 0) {
                perror("eng-mem: memfd");
                return 1;
        }
        memshared = mapping(16 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, mfd);
        fill(memshared, 16 * PAGE, 5);
        report("memfd", memshared, 16 * PAGE);
        memprivate = mapping(16 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, mfd);
        fill(memprivate + 4 * PAGE, PAGE, 6); /* one page copied on write */
        report("memfd-private", memprivate, 16 * PAGE);

        fd = open(file, O_RDWR | O_CLOEXEC);
        if (fd < 0) {
                perror("eng-mem: open");
                return 1;
        }
        fpriv = mapping(16 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd);
        fill(fpriv + 2 * PAGE, 2 * PAGE, 7);        /* pages 2,3 copied on write */
        (void)*(volatile char *)(fpriv + 9 * PAGE); /* page 9 only read */
        report("file-private", fpriv, 16 * PAGE);
        fro = mapping(16 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd);
        fill(fro + 5 * PAGE, PAGE, 8); /* a copied-on-write page, as RELRO has */
        mprotect(fro, 16 * PAGE, PROT_READ);
        report("file-readonly", fro, 16 * PAGE);

        /* Never touched: an oracle must leave it so. */
        untouched = mapping(16 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1);
        report("untouched", untouched, 16 << 20);

        start_threads(4, sleeper);
        return 0;
}

int main(int argc, char **argv)
{
        const char *mode = argc > 1 ? argv[1] : "";
        int r = 0;

        setvbuf(stdout, NULL, _IOLBF, 0);
        if (strcmp(mode, "regions") == 0 && argc > 2)
                r = regions(argv[2]);
        else if (strcmp(mode, "threads") == 0 && argc > 2)
                start_threads(atoi(argv[2]), sleeper);
        else if (strcmp(mode, "churn") == 0 && argc > 2)
                start_threads(atoi(argv[2]), churner);
        else if (strcmp(mode, "vfork") == 0 && argc > 2) {
                vfork_child_sec = (unsigned)atoi(argv[2]);
                start_threads(1, sleeper);
                start_threads(1, vforker);
        } else if (strcmp(mode, "huge") == 0 && argc > 2) {
                size_t len = (size_t)atoi(argv[2]) << 20;
                char *p = mapping(len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1);

                /* Distinct pages (no dedup), cheaply. */
                for (size_t i = 0; i < len; i += PAGE) {
                        memset(p + i, (int)(i / PAGE), 64);
                        memcpy(p + i + 64, &i, sizeof(i));
                }
                report("huge", p, len);
        } else if (strcmp(mode, "readfault") == 0 && argc > 2) {
                size_t len = (size_t)atoi(argv[2]) << 20;
                char *p = mapping(len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1);
                volatile char sum = 0;

                for (size_t i = 0; i < len; i += PAGE)
                        sum += ((volatile char *)p)[i];
                report("readfault", p, len);
        } else {
                fprintf(stderr, "usage: eng-mem regions FILE | threads N | churn N | vfork SEC | "
                                "huge MIB | readfault MIB\n");
                return 2;
        }
        if (r != 0)
                return r;
        workload_ready(NULL);
        return workload_loop(NULL, NULL);
}
