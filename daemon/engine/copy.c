/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * copy.c: the copy of a checkpoint's pages out of the frozen process (see
 * copy.h). Owns only the threads it starts, for the length of one call; it
 * never allocates the buffer, never thaws, never logs.
 */
#include "copy.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "macro.h"

#define COPY_MAX_BYTES (256ull << 20) /* per process_vm_readv() call */

/* ---- copying pages out of the frozen process ------------------------------ */

/* One page through /proc/PID/mem (works without PROT_READ under ptrace).
 * 0: read, 1: unreadable (zero-filled), -ESRCH: the process is gone. */
static int read_page_mem(int mem_fd, uint64_t addr, uint8_t *dst)
{
        size_t got = 0;

        while (got < PAGE_SIZE_4K) {
                ssize_t k = pread(mem_fd, dst + got, PAGE_SIZE_4K - got, (off_t)(addr + got));
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == ESRCH)
                                return -ESRCH;
                        /* EIO: nothing behind it (a file page beyond EOF, a
                         * truncated shared file, a PFN mapping). */
                        memset(dst, 0, PAGE_SIZE_4K);
                        return 1;
                }
                if (k == 0)
                        return -ESRCH; /* no mm any more */
                got += k;
        }
        return 0;
}

static int copy_region_mem(int mem_fd, const uint64_t *addrs, size_t n, uint8_t *dst,
                           struct copy_stats *st)
{
        for (size_t i = 0; i < n;) {
                size_t j = i + 1;
                size_t len;
                ssize_t k;

                while (j < n && addrs[j] == addrs[j - 1] + PAGE_SIZE_4K &&
                       (j - i) * PAGE_SIZE_4K < COPY_MAX_BYTES)
                        j++;
                len = (j - i) * PAGE_SIZE_4K;
                k = pread(mem_fd, dst + i * PAGE_SIZE_4K, len, (off_t)addrs[i]);
                if (k == (ssize_t)len) {
                        i = j;
                        continue;
                }
                if (k < 0 && errno == ESRCH)
                        return -ESRCH;
                /* Short: go page by page from the first page not read whole. */
                for (size_t p = i + (k > 0 ? (size_t)k / PAGE_SIZE_4K : 0); p < j; p++) {
                        int r = read_page_mem(mem_fd, addrs[p], dst + p * PAGE_SIZE_4K);
                        if (r < 0)
                                return r;
                        st->unreadable += r;
                }
                i = j;
        }
        return 0;
}

/* process_vm_readv with up to IOV_MAX remote iovecs per call, adjacent pages
 * coalesced, into one contiguous local span. */
static int copy_region_vm(pid_t pid, int mem_fd, const uint64_t *addrs, size_t n, uint8_t *dst,
                          struct copy_stats *st)
{
        static __thread struct iovec remote[IOV_MAX];

        for (size_t i = 0; i < n;) {
                struct iovec local;
                size_t j = i, nr = 0, done;
                uint64_t bytes = 0;
                ssize_t k;

                while (j < n && nr < IOV_MAX && bytes < COPY_MAX_BYTES) {
                        uint64_t start = addrs[j];
                        size_t len = PAGE_SIZE_4K;

                        j++;
                        while (j < n && addrs[j] == start + len && bytes + len < COPY_MAX_BYTES) {
                                len += PAGE_SIZE_4K;
                                j++;
                        }
                        remote[nr++] = (struct iovec){(void *)(uintptr_t)start, len};
                        bytes += len;
                }
                local = (struct iovec){dst + i * PAGE_SIZE_4K, bytes};
                k = process_vm_readv(pid, &local, 1, remote, nr, 0);
                if (k < 0) {
                        if (errno == ESRCH)
                                return -ESRCH;
                        if (errno != EFAULT && errno != EIO)
                                return negative_errno();
                        k = 0;
                }
                done = i + (size_t)k / PAGE_SIZE_4K;
                if (done >= j) {
                        i = j;
                        continue;
                }
                /* Short read: this page vanished or cannot be read this way. */
                {
                        int r = read_page_mem(mem_fd, addrs[done], dst + done * PAGE_SIZE_4K);
                        if (r < 0)
                                return r;
                        st->unreadable += r;
                        st->fallback++;
                }
                i = done + 1;
        }
        return 0;
}

/* ---- the copy, on several threads --------------------------------------------
 * While the process is frozen the CPUs it ran on are idle, and the copy is
 * most of the pause: a large one is split by pages among up to
 * COPY_THREADS_MAX threads (one per online CPU), each process_vm_readv()ing
 * its own span into its own part of the buffer. Below COPY_THREAD_PAGES
 * pages a thread more does not pay for its creation (~50 us). */

#define COPY_THREADS_MAX 4u
#define COPY_THREAD_PAGES 2048u /* 8 MiB a thread at least */

struct copy_span {
        pid_t pid;
        int mem_fd;
        const struct ckpt_region *regions;
        const size_t *region_first; /* region i's pages: [region_first[i], region_first[i + 1]) */
        size_t n_regions;
        const uint64_t *addrs;
        uint8_t *buf;
        size_t from, to; /* the pages of the plan this span copies */
        struct copy_stats st;
        int r;
};

static int copy_span_run(struct copy_span *c)
{
        for (size_t i = 0; i < c->n_regions; i++) {
                size_t a = MAX(c->region_first[i], c->from);
                size_t b = MIN(c->region_first[i + 1], c->to);
                uint8_t *dst = c->buf + a * PAGE_SIZE_4K;
                int r;

                if (a >= b)
                        continue;
                if (c->regions[i].flags & CKPT_REGION_UNREADABLE)
                        r = copy_region_mem(c->mem_fd, c->addrs + a, b - a, dst, &c->st);
                else
                        r = copy_region_vm(c->pid, c->mem_fd, c->addrs + a, b - a, dst, &c->st);
                if (r < 0)
                        return r;
        }
        return 0;
}

static void *copy_span_thread(void *userdata)
{
        struct copy_span *c = userdata;

        c->r = copy_span_run(c);
        return NULL;
}

/* See copy.h. This thread takes the first span itself. */
int copy_pages(pid_t pid, int mem_fd, const struct ckpt_region *regions, size_t n_regions,
               const size_t *region_first, const uint64_t *addrs, size_t n, uint8_t *buf,
               size_t *ret_threads, struct copy_stats *st)
{
        struct copy_span spans[COPY_THREADS_MAX];
        pthread_t threads[COPY_THREADS_MAX];
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        size_t k = MIN(n / COPY_THREAD_PAGES, MIN((size_t)MAX(cpus, 1L), (size_t)COPY_THREADS_MAX));
        size_t started = 0;
        int r = 0;

        k = MAX(k, (size_t)1);
        for (size_t t = 0; t < k; t++)
                spans[t] = (struct copy_span){
                        .pid = pid,
                        .mem_fd = mem_fd,
                        .regions = regions,
                        .region_first = region_first,
                        .n_regions = n_regions,
                        .addrs = addrs,
                        .buf = buf,
                        .from = n * t / k,
                        .to = n * (t + 1) / k,
                };
        while (started + 1 < k && pthread_create(&threads[started + 1], NULL, copy_span_thread,
                                                 &spans[started + 1]) == 0)
                started++;
        /* This thread takes the first span and any no thread could be started for. */
        spans[0].r = copy_span_run(&spans[0]);
        for (size_t t = started + 1; t < k; t++)
                spans[t].r = copy_span_run(&spans[t]);
        for (size_t t = 1; t <= started; t++)
                pthread_join(threads[t], NULL);

        for (size_t t = 0; t < k; t++) {
                st->unreadable += spans[t].st.unreadable;
                st->fallback += spans[t].st.fallback;
                if (r != -ESRCH && spans[t].r < 0 && (r == 0 || spans[t].r == -ESRCH))
                        r = spans[t].r;
        }
        *ret_threads = started + 1;
        return r;
}
