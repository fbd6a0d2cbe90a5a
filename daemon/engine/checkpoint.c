/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * checkpoint.c: the checkpoint engine (see checkpoint.h for the steps). Owns
 * the order of a checkpoint: nothing is hashed, compressed or written while
 * the process is frozen, and nothing reaches the catalog unless the process
 * lived through the frozen phase. The copy buffer is per worker thread and
 * kept between checkpoints, pre-faulted, so the pause does not pay for page
 * faults in the daemon.
 */
#include "checkpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <time.h>
#include <unistd.h>

#include "access.h"
#include "ckpt/proto.h"
#include "freezer.h"
#include "lastcopy.h"
#include "log.h"
#include "macro.h"
#include "pagemap.h"
#include "procmaps.h"
#include "time-util.h"
#include "tracker.h"

#define STORE_BATCH_PAGES 16384u        /* 64 MiB per store_put_pages() call */
#define COPY_MAX_BYTES (256ull << 20)   /* per process_vm_readv() call */
#define BUFFER_GRAIN (2ull << 20)       /* the copy buffer grows in 2 MiB steps */
#define BUFFER_SHRINK_MIN (64ull << 20) /* never shrink below this */
#define BUFFER_SHRINK_AFTER 8           /* checkpoints needing < 1/4 of it */

/* The nice value of a checkpoint's work after the thaw; 0: none. idle:
 * SCHED_IDLE instead. Set once at start-up, before any worker exists. */
static int store_nice = 0;
static bool store_idle = false;

/* ---- helpers ---------------------------------------------------------------- */

_printf_(3, 4) static int fail(struct checkpoint_result *ret, int r, const char *fmt, ...)
{
        va_list ap;

        if (ret->error[0] == 0) {
                va_start(ap, fmt);
                vsnprintf(ret->error, sizeof(ret->error), fmt, ap);
                va_end(ap);
        }
        return r;
}

static int pidfd_open_pid(pid_t pid)
{
        int fd = (int)syscall(SYS_pidfd_open, pid, 0);
        return fd < 0 ? negative_errno() : fd;
}

/* 0 while the process behind pidfd lives (a zombie counts as gone). */
static int pidfd_check(int pidfd)
{
        if (syscall(SYS_pidfd_send_signal, pidfd, 0, NULL, 0) < 0)
                return negative_errno();
        return 0;
}

void checkpoint_result_done(struct checkpoint_result *r)
{
        if (!r)
                return;
        free(r->skipped);
        r->skipped = NULL;
        r->n_skipped = 0;
}

/* ---- the copy buffer ------------------------------------------------------ */

/* Reserved ahead of an incremental checkpoint. */
#define BUFFER_INCREMENTAL_MIN (64u << 20)

static __thread uint8_t *copy_buf;
static __thread size_t copy_buf_size;
static __thread unsigned copy_buf_small_runs;

void checkpoint_release_buffer(void)
{
        if (copy_buf)
                munmap(copy_buf, copy_buf_size);
        copy_buf = NULL;
        copy_buf_size = 0;
        copy_buf_small_runs = 0;
}

/* A pre-faulted buffer of at least `bytes`, reused between checkpoints.
 * may_shrink: this is the real need of a checkpoint, not an estimate. */
static int buffer_reserve(size_t bytes, bool may_shrink)
{
        size_t size;
        void *p;

        bytes = MAX(bytes, (size_t)PAGE_SIZE_4K);
        if (copy_buf && copy_buf_size >= bytes) {
                if (!may_shrink)
                        return 0;
                if (copy_buf_size <= BUFFER_SHRINK_MIN || copy_buf_size / 4 < bytes) {
                        copy_buf_small_runs = 0;
                        return 0;
                }
                /* Much larger than needed, several times in a row: give it back. */
                if (++copy_buf_small_runs < BUFFER_SHRINK_AFTER)
                        return 0;
                size = MAX((size_t)BUFFER_SHRINK_MIN, bytes * 2);
        } else
                size = MAX(bytes, copy_buf_size + copy_buf_size / 2);
        size = (size + BUFFER_GRAIN - 1) / BUFFER_GRAIN * BUFFER_GRAIN;

        checkpoint_release_buffer();
        p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1,
                 0);
        if (p == MAP_FAILED)
                return -ENOMEM;
        copy_buf = p;
        copy_buf_size = size;
        return 0;
}

/* What a checkpoint of the whole process will probably read: its resident
 * anonymous and shared memory and its swap, from /proc/PID/status. Used to
 * grow the buffer before freezing, so that the pause does not pay for it. */
static uint64_t estimate_read_bytes(pid_t pid)
{
        _cleanup_fclose_ FILE *f = NULL;
        char path[64], line[256];
        uint64_t total = 0;

        snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
        f = fopen(path, "re");
        if (!f)
                return 0;
        while (fgets(line, sizeof(line), f)) {
                unsigned long long kb;

                if ((sscanf(line, "RssAnon: %llu kB", &kb) == 1 ||
                     sscanf(line, "RssShmem: %llu kB", &kb) == 1 ||
                     sscanf(line, "VmSwap: %llu kB", &kb) == 1))
                        total += kb * 1024;
        }
        return total + total / 8;
}

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

struct copy_stats {
        uint64_t unreadable; /* pages that could not be read: recorded as zero */
        uint64_t fallback;   /* pages read through /proc/PID/mem after a short read */
};

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

/* Copy the n pages at addrs (region i's from region_first[i]) into buf. The
 * threads started inherit the caller's priority (the daemon's, in the
 * pause). -ESRCH when the process is gone; then any other error. */
static int copy_pages(pid_t pid, int mem_fd, const struct ckpt_region *regions, size_t n_regions,
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

/* ---- registers -------------------------------------------------------------- */

static int capture_threads(const struct freezer *fz, struct ckpt_thread **ret, size_t *ret_n)
{
        _cleanup_free_ struct ckpt_thread *v = NULL;
        size_t n = 0;

        v = calloc(MAX(fz->n_threads, (size_t)1), sizeof(*v));
        if (!v)
                return -ENOMEM;
        for (size_t i = 0; i < fz->n_threads; i++) {
                const struct freezer_thread *t = &fz->threads[i];
                struct user_regs_struct regs;
                struct user_fpregs_struct fpregs;
                struct ckpt_thread *ct = &v[n];

                if (!t->attached)
                        continue;
                if (ptrace(PTRACE_GETREGS, t->tid, NULL, &regs) < 0 ||
                    ptrace(PTRACE_GETFPREGS, t->tid, NULL, &fpregs) < 0) {
                        if (errno == ESRCH)
                                continue; /* this thread died; the process check follows */
                        return negative_errno();
                }
                ct->tid = t->tid;
                ct->regs_size = sizeof(regs);
                ct->fpregs_size = sizeof(fpregs);
                memcpy(ct->regs, &regs, sizeof(regs));
                memcpy(ct->fpregs, &fpregs, sizeof(fpregs));
                n++;
        }
        *ret = TAKE_PTR(v);
        *ret_n = n;
        return 0;
}

/* ---- the engine ------------------------------------------------------------- */

struct region_set {
        struct ckpt_region *v;
        size_t n;
};

static void region_set_done(struct region_set *s)
{
        procmaps_free(s->v, s->n);
        s->v = NULL;
        s->n = 0;
}

static void pages_freep(struct ckpt_page **p)
{
        free(*p);
}

static bool cancelled(const struct checkpoint_request *req)
{
        return req->cancel && *req->cancel;
}

/* Read-only private file mappings are recorded by reference (their file is
 * the content) unless the caller wants everything stored. */
static void mark_references(struct ckpt_region *regions, size_t n, bool all)
{
        for (size_t i = 0; i < n; i++) {
                struct ckpt_region *r = &regions[i];

                if (r->flags & CKPT_REGION_SPECIAL) {
                        r->track = CKPT_TRACK_SCAN;
                        continue;
                }
                if (!all && (r->flags & CKPT_REGION_PRIVATE) && (r->flags & CKPT_REGION_FILE) &&
                    !(r->flags & CKPT_REGION_ANON) && !(r->prot & PROT_WRITE)) {
                        r->flags |= CKPT_REGION_REF;
                        r->track = CKPT_TRACK_REF;
                } else
                        r->track = CKPT_TRACK_SCAN;
        }
}

/* The identity of the file of each reference region, from its mapping (maps
 * is the unclipped list the regions were cut from). Taken after the thaw, not
 * in the pause: the mapping pins its inode, and procmaps_file_identity()
 * checks that what it stats is that inode. A region whose file cannot be
 * identified stays without identity: its pages export as holes. */
static void record_identities(pid_t pid, struct ckpt_region *regions, size_t n,
                              const struct ckpt_region *maps, size_t n_maps)
{
        size_t k = 0;

        for (size_t i = 0; i < n; i++) {
                struct ckpt_region *r = &regions[i];
                int q;

                if (!(r->flags & CKPT_REGION_REF))
                        continue;
                while (k < n_maps && maps[k].end <= r->start)
                        k++;
                if (k >= n_maps || maps[k].start > r->start)
                        continue;
                q = procmaps_file_identity(pid, &maps[k], &r->file_id);
                if (q < 0)
                        log_debug("checkpoint: process %d: cannot identify the file of "
                                  "0x%llx-0x%llx '%s', its pages will export as holes: %s",
                                  (int)pid, (unsigned long long)r->start,
                                  (unsigned long long)r->end, r->path ? r->path : "", strerror(-q));
                r->has_identity = q >= 0;
        }
}

/*
 * The view's page table in one pass: the pages read (their store results)
 * merged with the parent's entries the plan carries over, both sorted; a
 * page read again wins. ZERO entries are kept only in REF regions, where
 * they override the file.
 */
static int build_view_pages(struct ckpt_manifest *view, const struct ckpt_page *read, size_t n_read,
                            const struct pagemap_plan *plan, const struct ckpt_manifest *parent)
{
        struct pagemap_carry c;
        struct ckpt_page *out;
        size_t i = 0, n = 0, ri = 0;

        out = malloc(MAX(n_read + pagemap_carry_count(plan, parent), (size_t)1) * sizeof(*out));
        if (!out)
                return -ENOMEM;
        pagemap_carry_start(&c, plan, parent);
        while (i < n_read || c.cur) {
                const struct ckpt_page *p;

                if (!c.cur || (i < n_read && read[i].addr <= c.cur->addr)) {
                        p = &read[i++];
                        if (c.cur && c.cur->addr == p->addr)
                                pagemap_carry_next(&c); /* read wins */
                } else {
                        p = c.cur;
                        pagemap_carry_next(&c);
                }

                while (ri < view->n_regions && view->regions[ri].end <= p->addr)
                        ri++;
                if (ri >= view->n_regions || view->regions[ri].start > p->addr)
                        continue;
                if (p->kind == CKPT_PAGE_ZERO && !(view->regions[ri].flags & CKPT_REGION_REF))
                        continue;
                if (p->kind != CKPT_PAGE_ZERO && p->kind != CKPT_PAGE_DATA)
                        continue;
                out[n++] = *p;
        }
        free(view->pages);
        view->pages = out;
        view->n_pages = n;
        return 0;
}

static uint64_t view_pages_total(const struct ckpt_manifest *view)
{
        uint64_t total = 0;

        for (size_t i = 0; i < view->n_regions; i++) {
                const struct ckpt_region *r = &view->regions[i];

                if (!(r->flags & (CKPT_REGION_REF | CKPT_REGION_SPECIAL)))
                        total += (r->end - r->start) / PAGE_SIZE_4K;
        }
        /* Pages copied on write in REF regions are part of the view too. */
        for (size_t i = 0, ri = 0; i < view->n_pages; i++) {
                uint64_t a = view->pages[i].addr;

                while (ri < view->n_regions && view->regions[ri].end <= a)
                        ri++;
                if (ri < view->n_regions && view->regions[ri].start <= a &&
                    (view->regions[ri].flags & CKPT_REGION_REF))
                        total++;
        }
        return total;
}

struct run_state {
        bool collected; /* the tracker was asked: it must hear of a failure */
        bool rearm;     /* the tracker wants the process armed again */
        bool frozen;    /* the freeze succeeded: -ESRCH means it died meanwhile */
        bool lowered;   /* the worker runs at store_nice, base_nice to go back to */
        bool idled;     /* the worker runs under SCHED_IDLE, base_policy to go back to */
        int base_nice, base_policy;
};

/* ---- priority after the thaw -------------------------------------------------
 * Once the process runs again, nothing waits for the hashing, compressing and
 * writing but the caller: the worker drops to store_nice so that the work
 * takes the CPU the processes leave, instead of taking it from them (the
 * store's threads, created per call, inherit it). The next freeze must not
 * queue behind them, so the worker goes back before it takes another job:
 * raising a nice value needs CAP_SYS_NICE, probed at start-up. A nice value
 * ranks threads within a scheduling group (cgroup with the cpu controller,
 * or autogroup): it counts against the processes that share ckptd's.
 * SCHED_IDLE goes further: such a thread runs when its CPU has nothing else
 * to run, any other thread waking there preempts it at once, and the kernel
 * counts its CPU as idle when it places waking threads, so that a process
 * waking does not queue behind the store's work. Leaving it for SCHED_OTHER
 * needs CAP_SYS_NICE too (or an RLIMIT_NICE that allows the nice value). */

static int thread_nice(int *ret)
{
        int n;

        errno = 0;
        n = getpriority(PRIO_PROCESS, (id_t)gettid());
        if (n == -1 && errno != 0)
                return negative_errno();
        *ret = n;
        return 0;
}

static int thread_set_nice(int n)
{
        return setpriority(PRIO_PROCESS, (id_t)gettid(), n) < 0 ? negative_errno() : 0;
}

/* sched_setscheduler() with pid 0 acts on the calling thread. */
static int thread_set_policy(int policy)
{
        struct sched_param sp = {.sched_priority = 0};

        return sched_setscheduler(0, policy, &sp) < 0 ? negative_errno() : 0;
}

static void priority_lower(struct run_state *st)
{
        int base;

        if (store_idle) {
                base = sched_getscheduler(0);
                if (base < 0 || base == SCHED_IDLE || base == SCHED_FIFO || base == SCHED_RR)
                        return;
                if (thread_set_policy(SCHED_IDLE) < 0)
                        return;
                st->base_policy = base;
                st->idled = true;
                return;
        }
        if (store_nice <= 0 || thread_nice(&base) < 0 || base >= store_nice)
                return;
        if (thread_set_nice(store_nice) < 0)
                return;
        st->base_nice = base;
        st->lowered = true;
}

static void priority_restore(struct run_state *st)
{
        int r;

        if (st->idled) {
                r = thread_set_policy(st->base_policy);
                if (r < 0)
                        log_warning_errno(r,
                                          "checkpoint: cannot take the worker out of SCHED_IDLE, "
                                          "its next freezes wait longer for the CPU: %m");
                st->idled = false;
        }
        if (!st->lowered)
                return;
        r = thread_set_nice(st->base_nice);
        if (r < 0)
                log_warning_errno(r,
                                  "checkpoint: cannot raise the worker back to nice %d, its "
                                  "next freezes wait longer for the CPU: %m",
                                  st->base_nice);
        st->lowered = false;
}

/* arg[0]: the nice value to try, or -1 for SCHED_IDLE; arg[1]: the result. */
static void *probe_thread(void *userdata)
{
        int *arg = userdata, base, r;

        if (arg[0] < 0) {
                base = sched_getscheduler(0);
                r = base < 0 ? negative_errno() : thread_set_policy(SCHED_IDLE);
                if (r >= 0)
                        r = thread_set_policy(base);
        } else {
                r = thread_nice(&base);
                if (r >= 0)
                        r = thread_set_nice(MAX(base, arg[0]));
                if (r >= 0)
                        r = thread_set_nice(base);
        }
        arg[1] = r;
        return NULL;
}

int checkpoint_set_store_priority(int nice, bool idle)
{
        int arg[2] = {idle ? -1 : nice, 0};
        pthread_t t;
        int r;

        if (nice < 0 || nice > 19)
                return -EINVAL;
        store_nice = 0;
        store_idle = false;
        if (nice == 0 && !idle)
                return 0;
        /* On a thread of its own: if the way back is refused, the one left
         * at the lower priority exits. */
        r = -pthread_create(&t, NULL, probe_thread, arg);
        if (r < 0)
                return r;
        pthread_join(t, NULL);
        if (arg[1] < 0)
                return arg[1];
        store_nice = idle ? 0 : nice;
        store_idle = idle;
        return 0;
}

int checkpoint_store_nice(void)
{
        return store_nice;
}

bool checkpoint_store_idle(void)
{
        return store_idle;
}

/* A DELTA manifest against parent_view: the header, regions, ranges and
 * threads of view, and only the pages that changed. */
static int delta_of(const struct ckpt_manifest *parent_view, const struct ckpt_manifest *view,
                    uint64_t parent_id, struct ckpt_manifest **ret)
{
        _cleanup_(manifest_freep) struct ckpt_manifest *d = NULL;
        int r;

        d = calloc(1, sizeof(*d));
        if (!d)
                return -ENOMEM;
        *d = *view;
        d->ranges = NULL;
        d->regions = NULL;
        d->threads = NULL;
        d->pages = NULL;
        d->n_ranges = d->n_regions = d->n_threads = d->n_pages = 0;
        if (view->n_ranges) {
                d->ranges = calloc(view->n_ranges, sizeof(*d->ranges));
                if (!d->ranges)
                        return -ENOMEM;
                memcpy(d->ranges, view->ranges, view->n_ranges * sizeof(*d->ranges));
                d->n_ranges = view->n_ranges;
        }
        for (size_t i = 0; i < view->n_regions; i++) {
                r = manifest_add_region(d, &view->regions[i]);
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; i < view->n_threads; i++) {
                r = manifest_add_thread(d, &view->threads[i]);
                if (r < 0)
                        return r;
        }
        r = manifest_compute_delta(parent_view, view, d);
        if (r < 0)
                return r;
        d->kind = CKPT_MANIFEST_DELTA;
        d->parent = parent_id;
        *ret = TAKE_PTR(d);
        return 0;
}

/* Where the time of a checkpoint goes, for the debug log; half of the marks
 * fall inside the pause, so nothing is timed or formatted below debug. */
struct phases {
        uint64_t last;
        char text[384];
        size_t len;
};

static void phase_mark(struct phases *ph, const char *name)
{
        uint64_t now;
        int n;

        if (log_max_level < LOG_DEBUG)
                return;
        now = now_ns(CLOCK_MONOTONIC);
        n = snprintf(ph->text + ph->len, sizeof(ph->text) - ph->len, "%s%s %.1f",
                     ph->len ? ", " : "", name, (now - ph->last) / 1e6);
        if (n > 0 && ph->len + n < sizeof(ph->text))
                ph->len += n;
        ph->last = now;
}

/* Step 5a: the pages read (copy_buf, at addrs), into the store; results[i]
 * gets the kind and key of page i. A page whose bytes equal those the
 * parent checkpoint read at the same address (the process's kept copy lc,
 * when it is the parent's) takes the parent's key, exactly, without being
 * hashed; the others are hashed, looked up and compressed (at zstd's fast
 * level for an incremental checkpoint: see store.c). */
static int store_read_pages(struct ckpt_store *s, const struct checkpoint_request *req,
                            uint32_t owner, uint64_t parent_id, const struct lastcopy *lc,
                            bool incremental, const uint64_t *addrs, size_t n,
                            struct ckpt_page *results, uint64_t *ret_bytes, size_t *ret_same)
{
        _cleanup_free_ bool *same = NULL;
        _cleanup_free_ struct ckpt_page *kept = NULL, *batch = NULL;
        _cleanup_free_ const uint8_t **pagev = NULL;
        _cleanup_free_ size_t *idx = NULL;
        size_t n_same = 0, cap = MIN(MAX(n, (size_t)1), (size_t)STORE_BATCH_PAGES);
        uint64_t bytes = 0;
        int r;

        for (size_t i = 0; i < n; i++)
                results[i].addr = addrs[i];
        if (lc && lc->id == parent_id && lc->owner == owner && n > 0) {
                same = calloc(n, sizeof(*same));
                if (!same)
                        return -ENOMEM;
                n_same = lastcopy_match(lc, addrs, copy_buf, n, results, same);
        }
        if (n_same > 0) {
                size_t k = 0;

                kept = calloc(n_same, sizeof(*kept));
                if (!kept)
                        return -ENOMEM;
                for (size_t i = 0; i < n; i++)
                        if (same[i])
                                kept[k++] = results[i];
                r = store_keep_keys(s, owner, parent_id, kept, n_same);
                if (r == -ENOENT) {
                        /* The parent was deleted meanwhile: store them all. */
                        memset(same, 0, n * sizeof(*same));
                        n_same = 0;
                } else if (r < 0)
                        return r;
        }

        pagev = calloc(cap, sizeof(*pagev));
        batch = calloc(cap, sizeof(*batch));
        idx = calloc(cap, sizeof(*idx));
        if (!pagev || !batch || !idx)
                return -ENOMEM;
        for (size_t i = 0; i < n;) {
                uint64_t nbytes = 0;
                size_t nb = 0;

                for (; i < n && nb < cap; i++)
                        if (!same || !same[i]) {
                                idx[nb] = i;
                                pagev[nb++] = copy_buf + i * PAGE_SIZE_4K;
                        }
                if (nb == 0)
                        break;
                if (cancelled(req))
                        return -ECANCELED;
                r = store_put_pagev(s, owner, pagev, nb,
                                    incremental ? STORE_COMPRESS_FAST : STORE_COMPRESS_DEFAULT,
                                    batch, &nbytes);
                if (r < 0)
                        return r;
                bytes += nbytes;
                for (size_t k = 0; k < nb; k++) {
                        results[idx[k]].kind = batch[k].kind;
                        memcpy(results[idx[k]].key, batch[k].key, sizeof(batch[k].key));
                }
        }
        *ret_bytes = bytes;
        *ret_same = n_same;
        return 0;
}

/* After a commit: the pages just read (results, ascending, their bytes in
 * copy_buf) become the process's kept copy, and the thread takes over the
 * buffer of the copy they replace, so that both stay pre-faulted. */
static void keep_copy(pid_t pid, uint64_t start_time, uint32_t owner, uint64_t id,
                      struct ckpt_page **results, size_t n, struct lastcopy **prev)
{
        _cleanup_(lastcopy_freep) struct lastcopy *old = TAKE_PTR(*prev);
        struct lastcopy *c;

        if (n == 0 || !copy_buf || !lastcopy_fits(copy_buf_size))
                return;
        for (size_t i = 1; i < n; i++)
                if ((*results)[i - 1].addr >= (*results)[i].addr)
                        return;
        c = calloc(1, sizeof(*c));
        if (!c)
                return;
        *c = (struct lastcopy){
                .pid = pid,
                .start_time = start_time,
                .owner = owner,
                .id = id,
                .pages = TAKE_PTR(*results),
                .n = n,
                .data = copy_buf,
                .data_size = copy_buf_size,
        };
        copy_buf = NULL;
        copy_buf_size = 0;
        copy_buf_small_runs = 0;
        if (old && old->data) {
                copy_buf = TAKE_PTR(old->data);
                copy_buf_size = old->data_size;
        }
        lastcopy_put(c);
}

static int checkpoint_run_one(struct ckpt_store *s, const struct checkpoint_request *req,
                              struct checkpoint_result *ret, struct run_state *st)
{
        _cleanup_close_ int pidfd = -EBADF, mem_fd = -EBADF;
        _cleanup_(freezer_freep) struct freezer *fz = NULL;
        _cleanup_(pagemap_freep) struct pagemap *pm = NULL;
        _cleanup_(manifest_freep) struct ckpt_manifest *view = NULL, *parent_view = NULL,
                                                       *delta = NULL;
        _cleanup_(region_set_done) struct region_set maps = {}, regions = {};
        _cleanup_(pagemap_plan_done) struct pagemap_plan plan = {};
        _cleanup_(pages_freep) struct ckpt_page *results = NULL;
        _cleanup_free_ struct ckpt_range *ranges = NULL, *skipped = NULL;
        _cleanup_free_ struct ckpt_thread *threads = NULL;
        _cleanup_free_ size_t *region_first = NULL;
        _cleanup_(tracker_dirty_freep) struct tracker_dirty *dirty = NULL;
        _cleanup_(lastcopy_freep) struct lastcopy *lc = NULL;
        bool incremental = false;
        size_t n_ranges = 0, n_skipped = 0, n_threads = 0, copy_threads = 0;
        struct copy_stats cst = {};
        struct phases ph = {};
        uint64_t t_start, t_frozen = 0, start_time = 0, start_time2 = 0, time_ns = 0;
        uint64_t parent_id = 0, bytes_stored = 0, id = 0;
        size_t n_same = 0;
        bool was_stopped;
        char state, comm[16] = "", reason[256];
        pid_t pid = req->pid;
        uid_t owner = 0, owner_frozen = 0;
        int r;

        *ret = (struct checkpoint_result){};
        t_start = now_ns(CLOCK_MONOTONIC);
        ph.last = t_start;

        if (pid <= 0)
                return fail(ret, -ESRCH, "no such process %d", (int)pid);
        if (req->n_ranges > 0) {
                if (!req->ranges)
                        return fail(ret, -EINVAL, "ranges missing");
                r = procmaps_normalize_ranges(req->ranges, req->n_ranges, &ranges, &n_ranges);
                if (r == -E2BIG)
                        return fail(ret, -EINVAL, "too many ranges (at most %d)", CKPT_MAX_RANGES);
                if (r < 0)
                        return fail(ret, r, "invalid range: start must be below end");
        }

        /* Step 1: pidfd, owner check, freeze. */
        phase_mark(&ph, "start");
        if (access_is_self(pid))
                return fail(ret, -EPERM, "pid %d is ckptd itself", (int)pid);
        pidfd = pidfd_open_pid(pid);
        if (pidfd == -EINVAL)
                return fail(ret, -ESRCH, "%d is a thread, not a process", (int)pid);
        if (pidfd < 0)
                return fail(ret, pidfd, "no such process %d", (int)pid);
        r = proc_stat_read(pid, &state, &start_time, comm);
        if (r >= 0)
                r = pidfd_check(pidfd);
        if (r < 0 || state == 'Z' || state == 'X')
                return fail(ret, -ESRCH, "no such process %d", (int)pid);
        /* Early, so that nobody freezes what they may not touch; the check
         * that counts comes once the process is frozen. */
        r = access_check_process(&req->caller, pidfd, pid, &owner, reason, sizeof(reason));
        if (r == -ESRCH)
                return fail(ret, r, "no such process %d", (int)pid);
        if (r < 0)
                return fail(ret, r, "%s", reason);
        if (cancelled(req))
                return fail(ret, -ECANCELED, "cancelled");

        /* The parent is looked up before freezing: it costs no pause. */
        r = store_last_of(s, pid, start_time, &parent_id);
        if (r == -ENOENT)
                parent_id = 0;
        else if (r < 0)
                return fail(ret, r, "cannot look up earlier checkpoints: %s", strerror(-r));
        if (parent_id != 0) {
                r = store_view(s, parent_id, &parent_view);
                if (r < 0) {
                        log_debug("checkpoint: view of parent %llu unreadable, taking a full "
                                  "checkpoint: %s",
                                  (unsigned long long)parent_id, strerror(-r));
                        parent_id = 0;
                } else if (parent_view->uid != owner) {
                        /* The process changed owner (setuid): deduplication
                         * and chains never cross owners, so start afresh. */
                        parent_view = manifest_free(parent_view);
                        parent_id = 0;
                }
        }

        /* Grow the copy buffer before freezing, so that the pause does not
         * pay for faulting it in: to the resident size for a checkpoint that
         * reads everything; for an incremental one the dirty set is small and
         * the buffer kept from the last checkpoint is usually enough (if not,
         * it grows during the pause). */
        if (n_ranges == 0) {
                bool incremental_expected = req->tracker && parent_id != 0 && !req->full &&
                                            tracker_is_tracked(req->tracker, pid);

                r = buffer_reserve(incremental_expected ? BUFFER_INCREMENTAL_MIN
                                                        : estimate_read_bytes(pid),
                                   false);
                if (r < 0)
                        log_debug("checkpoint: cannot grow the copy buffer ahead, later then");
        }

        r = freezer_freeze(pid, &fz);
        if (r < 0) {
                if (r == -ESRCH)
                        return fail(ret, r, "process %d exited during the checkpoint", (int)pid);
                return fail(ret, r, "%s", fz ? fz->error : strerror(-r));
        }
        st->frozen = true;
        t_frozen = now_ns(CLOCK_MONOTONIC);
        time_ns = now_ns(CLOCK_REALTIME);
        was_stopped = fz->was_stopped;

        r = proc_stat_read(pid, NULL, &start_time2, NULL);
        if (r < 0 || start_time2 != start_time || pidfd_check(pidfd) < 0)
                return fail(ret, -ESRCH, "process %d exited during the checkpoint", (int)pid);
        /* Its credentials may have changed since the request (an exec of a
         * setuid program, a set*id() call); stopped, it can change them no
         * more: this is the check that counts. On failure the cleanup thaws
         * it and nothing is stored. */
        r = access_check_process(&req->caller, pidfd, pid, &owner_frozen, reason, sizeof(reason));
        if (r == -ESRCH)
                return fail(ret, r, "process %d exited during the checkpoint", (int)pid);
        if (r < 0) {
                log_debug("checkpoint: process %d refused once frozen: %s", (int)pid, reason);
                return fail(ret, r, "%s (checked again once the process was frozen)", reason);
        }
        if (owner_frozen != owner) {
                /* Deduplication and chains never cross owners. */
                parent_view = manifest_free(parent_view);
                parent_id = 0;
                owner = owner_frozen;
        }

        phase_mark(&ph, "parent+freeze");
        /* Step 2: the maps, and which pages to read. */
        r = procmaps_read(pid, &maps.v, &maps.n);
        if (r == -ESRCH)
                return fail(ret, r, "process %d exited during the checkpoint", (int)pid);
        if (r < 0)
                return fail(ret, r, "cannot read the maps of process %d: %s", (int)pid,
                            strerror(-r));
        r = procmaps_clip(maps.v, maps.n, ranges, n_ranges, &regions.v, &regions.n, &skipped,
                          &n_skipped);
        if (r < 0)
                return fail(ret, r, "cannot clip regions: %s", strerror(-r));
        mark_references(regions.v, regions.n, req->all);
        phase_mark(&ph, "maps");

        r = pagemap_open(pid, &pm);
        if (r < 0)
                return fail(ret, r, "cannot open the pagemap of process %d: %s", (int)pid,
                            strerror(-r));
        region_first = calloc(regions.n + 1, sizeof(size_t));
        if (!region_first)
                return fail(ret, -ENOMEM, "out of memory");
        /* Written pages since the last collect (which re-arms tracking as
         * it answers). A full checkpoint still collects, so that tracking
         * restarts from it, but reads everything. */
        if (req->tracker) {
                r = tracker_collect(req->tracker, pid, regions.v, regions.n, &dirty);
                if (r >= 0 && dirty->n_regions != regions.n) {
                        dirty = tracker_dirty_free(dirty);
                        r = -EBADMSG;
                }
                if (r >= 0)
                        st->collected = true;
                else if (r != -ENOENT)
                        log_debug("checkpoint: process %d: no dirty set, reading everything: %s",
                                  (int)pid, strerror(-r));
        }
        phase_mark(&ph, "collect");
        for (size_t i = 0; i < regions.n; i++) {
                struct pagemap_dirty d = {}, *dp = NULL;

                region_first[i] = plan.n_read;
                if (dirty) {
                        const struct tracker_dirty_region *dr = &dirty->regions[i];

                        if (!(regions.v[i].flags & CKPT_REGION_REF))
                                regions.v[i].track = dr->track;
                        if (!dr->whole && !req->full && parent_view) {
                                d = (struct pagemap_dirty){dr->pages, dr->n_pages};
                                dp = &d;
                                incremental = true;
                        }
                }
                r = pagemap_select(pm, &regions.v[i], dp, parent_view, &plan);
                if (r == -ESRCH)
                        return fail(ret, r, "process %d exited during the checkpoint", (int)pid);
                if (r < 0)
                        return fail(ret, r, "cannot read the pagemap of process %d: %s", (int)pid,
                                    strerror(-r));
        }
        region_first[regions.n] = plan.n_read;
        if (cancelled(req))
                return fail(ret, -ECANCELED, "cancelled");
        phase_mark(&ph, "select");

        /* Step 3: registers, then the pages. */
        r = capture_threads(fz, &threads, &n_threads);
        if (r < 0)
                return fail(ret, r, "cannot read the registers of process %d: %s", (int)pid,
                            strerror(-r));
        r = buffer_reserve(plan.n_read * PAGE_SIZE_4K, true);
        if (r < 0)
                return fail(ret, r, "cannot allocate %llu MiB to copy pages into",
                            (unsigned long long)(plan.n_read * PAGE_SIZE_4K >> 20));
        phase_mark(&ph, "registers");
        {
                char path[64];

                snprintf(path, sizeof(path), "/proc/%d/mem", (int)pid);
                mem_fd = open(path, O_RDONLY | O_CLOEXEC);
                if (mem_fd < 0) {
                        r = errno == ENOENT ? -ESRCH : negative_errno();
                        return fail(ret, r, "cannot open the memory of process %d: %s", (int)pid,
                                    strerror(-r));
                }
        }
        r = copy_pages(pid, mem_fd, regions.v, regions.n, region_first, plan.read, plan.n_read,
                       copy_buf, &copy_threads, &cst);
        if (r == -ESRCH)
                return fail(ret, r, "process %d exited during the checkpoint", (int)pid);
        if (r < 0)
                return fail(ret, r, "cannot read the memory of process %d: %s", (int)pid,
                            strerror(-r));

        st->rearm = dirty && dirty->rearm;

        phase_mark(&ph, "copy");
        /* Step 4: thaw. A process killed while frozen is not checkpointed. */
        r = freezer_check_alive(fz);
        if (r >= 0)
                r = freezer_thaw(fz);
        ret->pause_ns = now_ns(CLOCK_MONOTONIC) - t_frozen;
        if (r < 0)
                return fail(ret, -ESRCH, "process %d exited during the checkpoint", (int)pid);
        fz = freezer_free(fz);
        if (cst.unreadable > 0 || cst.fallback > 0)
                log_debug("checkpoint: process %d: %llu pages read through /proc/PID/mem, %llu "
                          "unreadable pages recorded as zero",
                          (int)pid, (unsigned long long)cst.fallback,
                          (unsigned long long)cst.unreadable);

        phase_mark(&ph, "thaw");
        record_identities(pid, regions.v, regions.n, maps.v, maps.n);
        priority_lower(st);
        /* Step 5: hash, compress, store; the manifest; commit. */
        results = calloc(MAX(plan.n_read, (size_t)1), sizeof(*results));
        if (!results)
                return fail(ret, -ENOMEM, "out of memory");
        lc = lastcopy_take(pid, start_time);
        r = store_read_pages(s, req, owner, parent_id, lc, incremental, plan.read, plan.n_read,
                             results, &bytes_stored, &n_same);
        if (r == -ECANCELED)
                return fail(ret, r, "cancelled");
        if (r < 0)
                return fail(ret, r, "cannot store pages: %s", strerror(-r));

        phase_mark(&ph, "store");
        view = calloc(1, sizeof(*view));
        if (!view)
                return fail(ret, -ENOMEM, "out of memory");
        view->kind = CKPT_MANIFEST_FULL;
        view->flags = (incremental ? 0 : CKPT_MF_FULL_READ) | (n_ranges ? CKPT_MF_RANGES : 0) |
                      (req->all ? CKPT_MF_ALL : 0) | (was_stopped ? CKPT_MF_STOPPED : 0);
        view->pid = pid;
        view->uid = owner;
        view->start_time = start_time;
        view->time_ns = time_ns;
        memcpy(view->comm, comm, sizeof(view->comm));
        view->arch = CKPT_ARCH_X86_64;
        if (n_ranges) {
                view->ranges = TAKE_PTR(ranges);
                view->n_ranges = n_ranges;
        }
        for (size_t i = 0; i < regions.n; i++) {
                r = manifest_add_region(view, &regions.v[i]);
                if (r < 0)
                        return fail(ret, r, "cannot build the manifest: %s", strerror(-r));
        }
        for (size_t i = 0; i < n_threads; i++) {
                r = manifest_add_thread(view, &threads[i]);
                if (r < 0)
                        return fail(ret, r, "cannot build the manifest: %s", strerror(-r));
        }
        r = build_view_pages(view, results, plan.n_read, &plan, parent_view);
        if (r < 0)
                return fail(ret, r, "cannot build the manifest: %s", strerror(-r));
        view->pages_total = view_pages_total(view);
        view->pages_read = plan.n_read;
        view->bytes_stored = bytes_stored;
        view->pause_ns = ret->pause_ns;
        phase_mark(&ph, "view");

        if (cancelled(req))
                return fail(ret, -ECANCELED, "cancelled");
        r = store_alloc_id(s, &id);
        if (r < 0)
                return fail(ret, r, "cannot allocate a checkpoint id: %s", strerror(-r));
        view->id = id;
        view->duration_ns = now_ns(CLOCK_MONOTONIC) - t_start;

        if (parent_id != 0) {
                r = delta_of(parent_view, view, parent_id, &delta);
                if (r < 0)
                        return fail(ret, r, "cannot compute the delta: %s", strerror(-r));
        }
        phase_mark(&ph, "delta");
        ret->pages = view->pages_total;
        if (delta) {
                /* The store keeps the view we built (no chain to resolve again). */
                r = store_commit_view(s, delta, view);
                if (r == -ENOENT) {
                        /* The parent was deleted meanwhile (retention, gc): the
                         * full view stands on its own. */
                        log_debug("checkpoint: parent %llu deleted meanwhile, committing a full "
                                  "manifest",
                                  (unsigned long long)parent_id);
                        parent_id = 0;
                        r = store_commit(s, view);
                } else
                        view = NULL; /* taken */
        } else
                r = store_commit(s, view);
        if (r < 0)
                return fail(ret, r, "cannot commit the checkpoint: %s", strerror(-r));
        phase_mark(&ph, "commit");
        log_debug("checkpoint: process %d phases (ms): %s; copied on %zu thread%s", (int)pid,
                  ph.text, copy_threads, copy_threads == 1 ? "" : "s");
        /* Kept for the next checkpoint of a tracked process. */
        if (st->collected && n_ranges == 0)
                keep_copy(pid, start_time, owner, id, &results, plan.n_read, &lc);

        ret->id = id;
        ret->parent = parent_id;
        ret->pages_read = plan.n_read;
        ret->pages_unchanged = n_same;
        ret->bytes_stored = bytes_stored;
        ret->incremental = incremental;
        ret->skipped = TAKE_PTR(skipped);
        ret->n_skipped = n_skipped;
        ret->duration_ns = now_ns(CLOCK_MONOTONIC) - t_start;
        log_debug("checkpoint: process %d: checkpoint %llu (parent %llu), %llu pages read "
                  "(%llu unchanged), %llu bytes stored, pause %llu us",
                  (int)pid, (unsigned long long)id, (unsigned long long)parent_id,
                  (unsigned long long)plan.n_read, (unsigned long long)n_same,
                  (unsigned long long)bytes_stored, (unsigned long long)(ret->pause_ns / 1000));
        return 0;
}

int checkpoint_run(struct ckpt_store *s, const struct checkpoint_request *req,
                   struct checkpoint_result *ret)
{
        struct run_state st = {};
        int r;

        r = checkpoint_run_one(s, req, ret, &st);
        priority_restore(&st);
        if (r == -ESRCH && st.frozen)
                /* Whichever step noticed it: say what happened. */
                snprintf(ret->error, sizeof(ret->error), "process %d exited during the checkpoint",
                         (int)req->pid);
        if (r < 0 && st.collected) {
                /* The tracker re-armed for a checkpoint that does not exist:
                 * the next one must not trust its dirty set. */
                int k = tracker_invalidate(req->tracker, req->pid);
                if (k < 0)
                        log_debug_errno(k, "checkpoint: cannot invalidate tracking of %d: %m",
                                        (int)req->pid);
        }
        if (r >= 0 && st.rearm) {
                char error[256] = "";
                int k = checkpoint_track(req->tracker, &req->caller, req->pid, error,
                                         sizeof(error));
                if (k < 0)
                        log_debug_errno(k, "checkpoint: cannot re-arm tracking of %d: %s%s%m",
                                        (int)req->pid, error, error[0] ? ": " : "");
        }
        return r;
}

int checkpoint_track(struct tracker *t, const struct access_caller *caller, pid_t pid, char *error,
                     size_t error_size)
{
        _cleanup_(freezer_freep) struct freezer *fz = NULL;
        _cleanup_close_ int pidfd = -EBADF;
        char reason[256];
        int r;

        if (error && error_size)
                error[0] = 0;
        r = access_check_process(caller, -EBADF, pid, NULL, reason, sizeof(reason));
        if (r < 0)
                goto refused;
        pidfd = pidfd_open_pid(pid);
        if (pidfd < 0)
                return pidfd == -EINVAL ? -ESRCH : pidfd;
        r = freezer_freeze(pid, &fz);
        if (r < 0) {
                if (error && error_size)
                        snprintf(error, error_size, "%s", fz ? fz->error : strerror(-r));
                return r;
        }
        if (pidfd_check(pidfd) < 0)
                return -ESRCH;
        /* Frozen: the check that counts (see access.h). */
        r = access_check_process(caller, pidfd, pid, NULL, reason, sizeof(reason));
        if (r < 0)
                goto refused;
        return tracker_track(t, pid, fz, error, error_size);
refused:
        if (error && error_size)
                snprintf(error, error_size, "%s", reason);
        /* Told apart from a ptrace -EPERM of the tracker. */
        return r == -EPERM ? -EACCES : r;
}
