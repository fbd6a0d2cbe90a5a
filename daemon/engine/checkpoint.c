/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * checkpoint.c: the checkpoint engine (see checkpoint.h for the steps). Owns
 * the order of a checkpoint: nothing is hashed, compressed or written while
 * the process is frozen, and nothing reaches the catalog unless the process
 * lived through the frozen phase. The copy buffer is per worker thread and
 * kept between checkpoints, pre-faulted, so the pause does not pay for page
 * faults in the daemon. The copy into it is copy.c's (its threads), the
 * priority of the work after the thaw priority.c's.
 */
#include "checkpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/user.h>
#include <time.h>
#include <unistd.h>

#include "access.h"
#include "cgroup-util.h"
#include "ckpt/proto.h"
#include "copy.h"
#include "freezer.h"
#include "lastcopy.h"
#include "log.h"
#include "macro.h"
#include "pagemap.h"
#include "priority.h"
#include "proc-util.h"
#include "procmaps.h"
#include "time-util.h"
#include "tracker.h"

#define STORE_BATCH_PAGES 16384u        /* 64 MiB per store_put_pages() call */
#define BUFFER_GRAIN (2ull << 20)       /* the copy buffer grows in 2 MiB steps */
#define BUFFER_SHRINK_MIN (64ull << 20) /* never shrink below this */
#define BUFFER_SHRINK_AFTER 8           /* checkpoints needing < 1/4 of it */

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

/*
 * A copy buffer: pre-faulted memory the pages are copied into during the
 * pause, kept between checkpoints. A checkpoint of one process uses the
 * worker thread's own; the members of a group checkpoint, all copied before
 * any is stored, one each (member_bufs, kept for the next group checkpoint,
 * smaller by default since a group has many).
 */
struct copy_buffer {
        uint8_t *p;
        size_t size;
        unsigned small_runs;
        size_t shrink_to; /* decided in a pause, done before the next freeze; 0: none */
        size_t floor;     /* never shrunk below; also what an incremental one reserves ahead */
};

#define BUFFER_MEMBER_FLOOR (4ull << 20)

static __thread struct copy_buffer thread_buf = {.floor = BUFFER_SHRINK_MIN};
static __thread struct copy_buffer *member_bufs;
static __thread size_t n_member_bufs;

/* Bytes of copy buffers all threads hold (the kept copies of lastcopy.h are
 * counted there, not here). */
static _Atomic uint64_t buffers_held;

uint64_t checkpoint_buffers_held(void)
{
        return buffers_held;
}

static void buffer_release(struct copy_buffer *b)
{
        if (b->p) {
                munmap(b->p, b->size);
                buffers_held -= b->size;
        }
        b->p = NULL;
        b->size = 0;
        b->small_runs = 0;
        b->shrink_to = 0;
}

void checkpoint_release_buffer(void)
{
        buffer_release(&thread_buf);
        for (size_t i = 0; i < n_member_bufs; i++)
                buffer_release(&member_bufs[i]);
        free(member_bufs);
        member_bufs = NULL;
        n_member_bufs = 0;
}

/* Room for the buffers of n group members (member i: member_bufs[i]), kept
 * by this thread; grown only, so that pointers into it stay valid during a
 * group checkpoint. */
static int member_buffers(size_t n)
{
        struct copy_buffer *v;

        if (n <= n_member_bufs)
                return 0;
        v = realloc(member_bufs, n * sizeof(*v));
        if (!v)
                return -ENOMEM;
        for (size_t i = n_member_bufs; i < n; i++)
                v[i] = (struct copy_buffer){.floor = BUFFER_MEMBER_FLOOR};
        member_bufs = v;
        n_member_bufs = n;
        return 0;
}

/* After a checkpoint: past the budget of the request, this thread's buffers
 * go back (a large checkpoint fills its own before its next freeze). */
static void buffers_within(const struct checkpoint_request *req)
{
        if (req->buffer_budget != 0 && buffers_held > req->buffer_budget) {
                log_debug("checkpoint: %" PRIu64 " MiB of copy buffers held, over the "
                          "budget of %" PRIu64 " MiB: this worker's go back",
                          buffers_held >> 20, req->buffer_budget >> 20);
                checkpoint_release_buffer();
        }
}

/* After a group checkpoint of n members: the buffers beyond them go back. */
static void member_buffers_trim(size_t n)
{
        for (size_t i = n; i < n_member_bufs; i++)
                buffer_release(&member_bufs[i]);
}

/* A pre-faulted buffer of at least `bytes`, reused between checkpoints.
 * may_shrink: this is the real need of a checkpoint, not an estimate (and
 * it comes in the pause: a buffer much larger than needed several times in
 * a row is given back by the next call without may_shrink, before the next
 * freeze, never by unmapping and faulting in memory while frozen). */
static int buffer_reserve(struct copy_buffer *b, size_t bytes, bool may_shrink)
{
        size_t size;
        void *p;

        bytes = MAX(bytes, (size_t)PAGE_SIZE_4K);
        if (b->p && b->size >= bytes) {
                if (!may_shrink) {
                        if (b->shrink_to == 0 || b->shrink_to < bytes)
                                return 0;
                        size = b->shrink_to;
                } else if (b->size <= b->floor || b->size / 4 < bytes) {
                        b->small_runs = 0;
                        b->shrink_to = 0;
                        return 0;
                } else {
                        if (++b->small_runs >= BUFFER_SHRINK_AFTER)
                                b->shrink_to = MAX(b->floor, bytes * 2);
                        return 0;
                }
        } else
                size = MAX(bytes, b->size + b->size / 2);
        size = (size + BUFFER_GRAIN - 1) / BUFFER_GRAIN * BUFFER_GRAIN;

        buffer_release(b);
        p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1,
                 0);
        if (p == MAP_FAILED)
                return -ENOMEM;
        b->p = p;
        b->size = size;
        buffers_held += size;
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

/* Past the request's urgent time, the rest of the work goes back to the
 * daemon's priority (a store at nice 10 behind a busy runtime would fall
 * behind its interval); checked between batches. */
static void maybe_urgent(const struct checkpoint_request *req, struct priority_saved *prio)
{
        if (req->urgent_ns == 0 || !(prio->lowered || prio->idled) ||
            now_ns(CLOCK_MONOTONIC) < req->urgent_ns)
                return;
        log_debug("checkpoint: process %d: half its interval gone, storing at the daemon's "
                  "priority",
                  (int)req->pid);
        priority_restore(prio);
}

/* Step 5a: the pages read (data, at addrs), into the store; results[i]
 * gets the kind and key of page i. A page whose bytes equal those the
 * parent checkpoint read at the same address (the process's kept copy lc,
 * when it is the parent's) takes the parent's key, exactly, without being
 * hashed; the others are hashed, looked up and compressed (an incremental
 * checkpoint asks for the fast setting, which only the zstd codec tells
 * from the default: store.h). */
static int store_read_pages(struct ckpt_store *s, const struct checkpoint_request *req,
                            struct priority_saved *prio, uint32_t owner, uint64_t parent_id,
                            const struct lastcopy *lc, bool incremental, const uint8_t *data,
                            const uint64_t *addrs, size_t n, struct ckpt_page *results,
                            uint64_t *ret_bytes, size_t *ret_same)
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
                n_same = lastcopy_match(lc, addrs, data, n, results, same);
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
        if (req->progress)
                req->progress(req->progress_userdata, 0, n);
        for (size_t i = 0; i < n;) {
                uint64_t nbytes = 0;
                size_t nb = 0;

                for (; i < n && nb < cap; i++)
                        if (!same || !same[i]) {
                                idx[nb] = i;
                                pagev[nb++] = data + i * PAGE_SIZE_4K;
                        }
                if (nb == 0)
                        break;
                if (cancelled(req))
                        return -ECANCELED;
                maybe_urgent(req, prio);
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
                if (req->progress)
                        req->progress(req->progress_userdata, i, n);
        }
        *ret_bytes = bytes;
        *ret_same = n_same;
        return 0;
}

/* After a commit: the pages just read (results, ascending, their bytes in
 * buffer b) become the process's kept copy, and b takes over the buffer of
 * the copy they replace, so that both stay pre-faulted. */
static void keep_copy(struct copy_buffer *b, pid_t pid, uint64_t start_time, uint32_t owner,
                      uint64_t id, struct ckpt_page **results, size_t n, struct lastcopy **prev)
{
        _cleanup_(lastcopy_freep) struct lastcopy *old = TAKE_PTR(*prev);
        struct lastcopy *c;

        if (n == 0 || !b->p || !lastcopy_fits(b->size))
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
                .data = b->p,
                .data_size = b->size,
        };
        buffers_held -= b->size;
        b->p = NULL;
        b->size = 0;
        b->small_runs = 0;
        b->shrink_to = 0;
        if (old && old->data) {
                b->p = TAKE_PTR(old->data);
                b->size = old->data_size;
                buffers_held += b->size;
        }
        lastcopy_put(c);
}

/* ---- the flow ----------------------------------------------------------------
 * What the steps of one checkpoint share. Each step fills its part and
 * returns 0 or a negative errno, with ret->error set (fail()); nothing is
 * freed before checkpoint_ctx_done(), which frees whatever was filled and
 * thaws the process if a step left it frozen. */

struct checkpoint_ctx {
        struct ckpt_store *s;
        const struct checkpoint_request *req;
        struct checkpoint_result *ret;
        pid_t pid;
        uint64_t t_start;
        struct phases ph;
        struct copy_buffer *buf;           /* the pages are copied into it */
        uint64_t group_id, group_pause_ns; /* of the group checkpoint it is a member of */
        struct ckpt_range *ranges;         /* the request's, normalized; n_ranges 0: all */
        size_t n_ranges;

        /* Step 1 */
        int pidfd;
        uint64_t start_time; /* with pid: the process */
        char comm[16];
        uid_t owner;
        uint64_t parent_id; /* 0: a checkpoint of its own */
        struct ckpt_manifest *parent_view;
        struct freezer *fz;
        bool frozen; /* the freeze succeeded: -ESRCH means it died meanwhile */
        bool was_stopped;
        uint64_t t_frozen, time_ns;

        /* Step 2 */
        struct region_set maps, regions; /* maps unclipped; regions clipped to the ranges */
        struct ckpt_range *skipped;      /* parts of the ranges nothing maps */
        size_t n_skipped;
        struct pagemap *pm;
        struct tracker_dirty *dirty; /* NULL: everything is read */
        bool collected;              /* the tracker was asked: it must hear of a failure */
        bool rearm;                  /* the tracker wants the process armed again */
        bool incremental;
        size_t *region_first; /* region i's pages in plan: [region_first[i], region_first[i + 1]) */
        struct pagemap_plan plan;

        /* Step 3 */
        struct ckpt_thread *threads;
        size_t n_threads;
        int mem_fd;
        size_t copy_threads;
        struct copy_stats cst;

        /* Steps 4 and 5 */
        struct priority_saved prio; /* what the worker goes back to */
        struct ckpt_page *results;  /* the store's answer for each page of plan.read */
        struct lastcopy *lc;
        uint64_t bytes_stored;
        size_t n_same;
        struct ckpt_manifest *view, *delta;
        uint64_t id;
};

static void checkpoint_ctx_done(struct checkpoint_ctx *c)
{
        c->lc = lastcopy_free(c->lc);
        c->dirty = tracker_dirty_free(c->dirty);
        free(c->region_first);
        free(c->threads);
        free(c->skipped);
        free(c->ranges);
        free(c->results);
        pagemap_plan_done(&c->plan);
        region_set_done(&c->regions);
        region_set_done(&c->maps);
        c->delta = manifest_free(c->delta);
        c->parent_view = manifest_free(c->parent_view);
        c->view = manifest_free(c->view);
        c->pm = pagemap_free(c->pm);
        c->fz = freezer_free(c->fz);
        c->mem_fd = safe_close(c->mem_fd);
        c->pidfd = safe_close(c->pidfd);
}

static int exited(struct checkpoint_ctx *c, int r)
{
        return fail(c->ret, r, "process %d exited during the checkpoint", (int)c->pid);
}

/* The request itself: a pid, and ranges that make sense. */
static int check_request(struct checkpoint_ctx *c)
{
        const struct checkpoint_request *req = c->req;
        int r;

        if (c->pid <= 0)
                return fail(c->ret, -ESRCH, "no such process %d", (int)c->pid);
        if (req->n_ranges > 0) {
                if (!req->ranges)
                        return fail(c->ret, -EINVAL, "ranges missing");
                r = procmaps_normalize_ranges(req->ranges, req->n_ranges, &c->ranges, &c->n_ranges);
                if (r == -E2BIG)
                        return fail(c->ret, -EINVAL, "too many ranges (at most %d)",
                                    CKPT_MAX_RANGES);
                if (r < 0)
                        return fail(c->ret, r, "invalid range: start must be below end");
        }
        return 0;
}

/* Step 1a: the pidfd, and the access check. Early, so that nobody freezes
 * what they may not touch; the check that counts comes once the process is
 * frozen. */
static int open_process(struct checkpoint_ctx *c)
{
        char state, reason[256];
        int r;

        if (access_is_self(c->pid))
                return fail(c->ret, -EPERM, "pid %d is ckptd itself", (int)c->pid);
        c->pidfd = pidfd_open_pid(c->pid);
        if (c->pidfd == -EINVAL)
                return fail(c->ret, -ESRCH, "%d is a thread, not a process", (int)c->pid);
        if (c->pidfd < 0)
                return fail(c->ret, c->pidfd, "no such process %d", (int)c->pid);
        r = proc_stat_read(c->pid, &state, &c->start_time, c->comm);
        if (r >= 0)
                r = pidfd_check(c->pidfd);
        if (r < 0 || state == 'Z' || state == 'X')
                return fail(c->ret, -ESRCH, "no such process %d", (int)c->pid);
        r = access_check_process(&c->req->caller, c->pidfd, c->pid, &c->owner, reason,
                                 sizeof(reason));
        if (r == -ESRCH)
                return fail(c->ret, r, "no such process %d", (int)c->pid);
        if (r < 0)
                return fail(c->ret, r, "%s", reason);
        if (cancelled(c->req))
                return fail(c->ret, -ECANCELED, "cancelled");
        return 0;
}

/* Step 1b: the parent, looked up before freezing: it costs no pause. */
static int find_parent(struct checkpoint_ctx *c)
{
        int r;

        r = store_last_of(c->s, c->pid, c->start_time, &c->parent_id);
        if (r == -ENOENT)
                c->parent_id = 0;
        else if (r < 0)
                return fail(c->ret, r, "cannot look up earlier checkpoints: %s", strerror(-r));
        if (c->parent_id == 0)
                return 0;
        r = store_view(c->s, c->parent_id, &c->parent_view);
        if (r < 0) {
                log_debug("checkpoint: view of parent %llu unreadable, taking a full "
                          "checkpoint: %s",
                          (unsigned long long)c->parent_id, strerror(-r));
                c->parent_id = 0;
        } else if (c->parent_view->uid != c->owner) {
                /* The process changed owner (setuid): deduplication
                 * and chains never cross owners, so start afresh. */
                c->parent_view = manifest_free(c->parent_view);
                c->parent_id = 0;
        }
        return 0;
}

/* What an incremental checkpoint of a tracked process will probably read,
 * looked at without freezing it: at least what the last collect found (a
 * periodic checkpoint of a steady writer reads about as much each time), at
 * least the pages the BPF write-fault bitmaps hold now plus those the last
 * collect left writable (they fault no more but are read), and never less
 * than floor (that of the buffer it is for). */
static uint64_t estimate_incremental_bytes(struct tracker *t, pid_t pid, size_t floor)
{
        _cleanup_free_ uint64_t *pages = NULL;
        struct tracker_stats st = {};
        size_t n_bpf = 0;
        uint64_t n;

        (void)tracker_get_stats(t, pid, &st);
        if (tracker_bpf_pages(t, pid, &pages, &n_bpf) < 0)
                n_bpf = 0;
        n = MAX(st.last_dirty, (uint64_t)n_bpf + st.kept_writable);
        return MAX((uint64_t)floor, (n + n / 8) * PAGE_SIZE_4K);
}

/* What a checkpoint that reads everything will read, counted on the running
 * process as select_pages() will count it frozen: the present and swapped
 * pages of every region it reads, by pagemap. Memory the process maps or
 * faults in between is what the slack of the caller is for. 0 when the look
 * fails (the freeze then says why). */
static uint64_t estimate_full_bytes(const struct checkpoint_ctx *c)
{
        _cleanup_(region_set_done) struct region_set maps = {};
        _cleanup_(pagemap_freep) struct pagemap *pm = NULL;
        _cleanup_(pagemap_plan_done) struct pagemap_plan plan = {};

        if (procmaps_read(c->pid, &maps.v, &maps.n) < 0 || pagemap_open(c->pid, &pm) < 0)
                return 0;
        mark_references(maps.v, maps.n, c->req->all);
        for (size_t i = 0; i < maps.n; i++)
                if (pagemap_select(pm, &maps.v[i], NULL, NULL, &plan) < 0)
                        return 0;
        return (uint64_t)plan.n_read * PAGE_SIZE_4K;
}

/* Step 1c: grow the copy buffer before freezing, so that the pause does not
 * pay for faulting it in: to an unfrozen count of what it will read for a
 * checkpoint that reads everything, to the estimate above for an incremental
 * one; both with 1/16 to spare (if that falls short, reserve_exact() grows
 * it during the pause). */
static void reserve_ahead(struct checkpoint_ctx *c)
{
        const struct checkpoint_request *req = c->req;
        bool incremental_expected;
        uint64_t whole;

        if (c->n_ranges != 0)
                return;
        incremental_expected = req->tracker && c->parent_id != 0 && !req->full &&
                               tracker_is_tracked(req->tracker, c->pid);
        whole = incremental_expected ? 0 : estimate_full_bytes(c);
        if (whole == 0)
                whole = estimate_read_bytes(c->pid);
        if (incremental_expected)
                whole = MIN(whole, estimate_incremental_bytes(req->tracker, c->pid, c->buf->floor));
        if (buffer_reserve(c->buf, whole + whole / 16, false) < 0)
                log_debug("checkpoint: cannot grow the copy buffer ahead, later then");
}

/* Step 1d: freeze, and the access check again on the frozen process. */
static int freeze(struct checkpoint_ctx *c)
{
        uint64_t start_time2 = 0;
        char reason[256];
        uid_t owner_frozen = 0;
        int r;

        r = freezer_freeze(c->pid, &c->fz);
        if (r < 0) {
                if (r == -ESRCH)
                        return exited(c, r);
                return fail(c->ret, r, "%s", c->fz ? c->fz->error : strerror(-r));
        }
        c->frozen = true;
        c->t_frozen = now_ns(CLOCK_MONOTONIC);
        c->time_ns = now_ns(CLOCK_REALTIME);
        c->was_stopped = c->fz->was_stopped;

        r = proc_stat_read(c->pid, NULL, &start_time2, NULL);
        if (r < 0 || start_time2 != c->start_time || pidfd_check(c->pidfd) < 0)
                return exited(c, -ESRCH);
        /* Its credentials may have changed since the request (an exec of a
         * setuid program, a set*id() call); stopped, it can change them no
         * more: this is the check that counts. On failure the cleanup thaws
         * it and nothing is stored. */
        r = access_check_process(&c->req->caller, c->pidfd, c->pid, &owner_frozen, reason,
                                 sizeof(reason));
        if (r == -ESRCH)
                return exited(c, r);
        if (r < 0) {
                log_debug("checkpoint: process %d refused once frozen: %s", (int)c->pid, reason);
                return fail(c->ret, r, "%s (checked again once the process was frozen)", reason);
        }
        if (owner_frozen != c->owner) {
                /* Deduplication and chains never cross owners. */
                c->parent_view = manifest_free(c->parent_view);
                c->parent_id = 0;
                c->owner = owner_frozen;
        }
        return 0;
}

/* Step 2a: the maps, clipped to the ranges. */
static int read_maps(struct checkpoint_ctx *c)
{
        int r;

        r = procmaps_read(c->pid, &c->maps.v, &c->maps.n);
        if (r == -ESRCH)
                return exited(c, r);
        if (r < 0)
                return fail(c->ret, r, "cannot read the maps of process %d: %s", (int)c->pid,
                            strerror(-r));
        r = procmaps_clip(c->maps.v, c->maps.n, c->ranges, c->n_ranges, &c->regions.v,
                          &c->regions.n, &c->skipped, &c->n_skipped);
        if (r < 0)
                return fail(c->ret, r, "cannot clip regions: %s", strerror(-r));
        mark_references(c->regions.v, c->regions.n, c->req->all);
        return 0;
}

/* Step 2b: the pagemap, and the pages written since the last collect (which
 * re-arms tracking as it answers). A full checkpoint still collects, so that
 * tracking restarts from it, but reads everything. */
static int collect_dirty(struct checkpoint_ctx *c)
{
        int r;

        r = pagemap_open(c->pid, &c->pm);
        if (r < 0)
                return fail(c->ret, r, "cannot open the pagemap of process %d: %s", (int)c->pid,
                            strerror(-r));
        c->region_first = calloc(c->regions.n + 1, sizeof(size_t));
        if (!c->region_first)
                return fail(c->ret, -ENOMEM, "out of memory");
        if (!c->req->tracker)
                return 0;
        r = tracker_collect(c->req->tracker, c->pid, c->regions.v, c->regions.n, &c->dirty);
        if (r >= 0 && c->dirty->n_regions != c->regions.n) {
                c->dirty = tracker_dirty_free(c->dirty);
                r = -EBADMSG;
        }
        if (r >= 0)
                c->collected = true;
        else if (r != -ENOENT)
                log_debug("checkpoint: process %d: no dirty set, reading everything: %s",
                          (int)c->pid, strerror(-r));
        if (c->collected && c->parent_id != 0 &&
            tracker_base(c->req->tracker, c->pid) != c->parent_id) {
                /* What was written since another checkpoint than the parent
                 * (the newest deleted since, say): read everything. */
                log_debug("checkpoint: process %d: the dirty set is not against parent %llu, "
                          "reading everything",
                          (int)c->pid, (unsigned long long)c->parent_id);
                for (size_t i = 0; i < c->dirty->n_regions; i++)
                        c->dirty->regions[i].whole = true;
        }
        return 0;
}

/* Step 2c: which pages to read, region by region: the dirty ones of a
 * region the tracker vouches for (against the parent), else all present. */
static int select_pages(struct checkpoint_ctx *c)
{
        struct ckpt_region *regions = c->regions.v;
        int r;

        for (size_t i = 0; i < c->regions.n; i++) {
                struct pagemap_dirty d = {}, *dp = NULL;

                c->region_first[i] = c->plan.n_read;
                if (c->dirty) {
                        const struct tracker_dirty_region *dr = &c->dirty->regions[i];

                        if (!(regions[i].flags & CKPT_REGION_REF)) {
                                regions[i].track = dr->track;
                                regions[i].reason = dr->reason;
                                regions[i].reason_arg = dr->reason_arg;
                        }
                        if (!dr->whole && !c->req->full && c->parent_view) {
                                d = (struct pagemap_dirty){dr->pages, dr->n_pages};
                                dp = &d;
                                c->incremental = true;
                        }
                }
                r = pagemap_select(c->pm, &regions[i], dp, c->parent_view, &c->plan);
                if (r == -ESRCH)
                        return exited(c, r);
                if (r < 0)
                        return fail(c->ret, r, "cannot read the pagemap of process %d: %s",
                                    (int)c->pid, strerror(-r));
        }
        c->region_first[c->regions.n] = c->plan.n_read;
        if (cancelled(c->req))
                return fail(c->ret, -ECANCELED, "cancelled");
        return 0;
}

/* Step 3a: the registers of every thread. */
static int capture_registers(struct checkpoint_ctx *c)
{
        int r;

        r = capture_threads(c->fz, &c->threads, &c->n_threads);
        if (r < 0)
                return fail(c->ret, r, "cannot read the registers of process %d: %s", (int)c->pid,
                            strerror(-r));
        return 0;
}

/* Step 3b: the copy buffer, to the exact need. Nothing happens here when
 * reserve_ahead() guessed high enough; otherwise the pause pays for faulting
 * in the difference ("buffer" in the phases). */
static int reserve_exact(struct checkpoint_ctx *c)
{
        int r;

        r = buffer_reserve(c->buf, c->plan.n_read * PAGE_SIZE_4K, true);
        if (r < 0)
                return fail(c->ret, r, "cannot allocate %llu MiB to copy pages into",
                            (unsigned long long)(c->plan.n_read * PAGE_SIZE_4K >> 20));
        return 0;
}

/* Step 3c: the pages, into the copy buffer (copy.h). */
static int copy_memory(struct checkpoint_ctx *c)
{
        char path[64];
        int r;

        snprintf(path, sizeof(path), "/proc/%d/mem", (int)c->pid);
        c->mem_fd = open(path, O_RDONLY | O_CLOEXEC);
        if (c->mem_fd < 0) {
                r = errno == ENOENT ? -ESRCH : negative_errno();
                return fail(c->ret, r, "cannot open the memory of process %d: %s", (int)c->pid,
                            strerror(-r));
        }
        r = copy_pages(c->pid, c->mem_fd, c->regions.v, c->regions.n, c->region_first, c->plan.read,
                       c->plan.n_read, c->buf->p, &c->copy_threads, &c->cst);
        if (r == -ESRCH)
                return exited(c, r);
        if (r < 0)
                return fail(c->ret, r, "cannot read the memory of process %d: %s", (int)c->pid,
                            strerror(-r));
        c->rearm = c->dirty && c->dirty->rearm;
        return 0;
}

/* Step 4: thaw; the pause ends here. A process killed while frozen is not
 * checkpointed. */
static int thaw(struct checkpoint_ctx *c)
{
        int r;

        r = freezer_check_alive(c->fz);
        if (r >= 0)
                r = freezer_thaw(c->fz);
        c->ret->pause_ns = now_ns(CLOCK_MONOTONIC) - c->t_frozen;
        if (r < 0)
                return exited(c, -ESRCH);
        c->fz = freezer_free(c->fz);
        if (c->cst.unreadable > 0 || c->cst.fallback > 0)
                log_debug("checkpoint: process %d: %llu pages read through /proc/PID/mem, %llu "
                          "unreadable pages recorded as zero",
                          (int)c->pid, (unsigned long long)c->cst.fallback,
                          (unsigned long long)c->cst.unreadable);
        return 0;
}

/* Step 5a: the pages read, hashed, compressed, stored (store_read_pages()). */
static int store_pages(struct checkpoint_ctx *c)
{
        int r;

        c->results = calloc(MAX(c->plan.n_read, (size_t)1), sizeof(*c->results));
        if (!c->results)
                return fail(c->ret, -ENOMEM, "out of memory");
        c->lc = lastcopy_take(c->pid, c->start_time);
        r = store_read_pages(c->s, c->req, &c->prio, c->owner, c->parent_id, c->lc, c->incremental,
                             c->buf->p, c->plan.read, c->plan.n_read, c->results, &c->bytes_stored,
                             &c->n_same);
        if (r == -ECANCELED)
                return fail(c->ret, r, "cancelled");
        if (r < 0)
                return fail(c->ret, r, "cannot store pages: %s", strerror(-r));
        return 0;
}

/* Step 5b: the checkpoint's view: what it holds, whatever its parent. */
static int build_view(struct checkpoint_ctx *c)
{
        const struct checkpoint_request *req = c->req;
        struct ckpt_manifest *view;
        int r;

        view = c->view = calloc(1, sizeof(*view));
        if (!view)
                return fail(c->ret, -ENOMEM, "out of memory");
        view->kind = CKPT_MANIFEST_FULL;
        view->flags = (c->incremental ? 0 : CKPT_MF_FULL_READ) |
                      (c->n_ranges ? CKPT_MF_RANGES : 0) | (req->all ? CKPT_MF_ALL : 0) |
                      (c->was_stopped ? CKPT_MF_STOPPED : 0);
        view->pid = c->pid;
        view->uid = c->owner;
        view->start_time = c->start_time;
        view->time_ns = c->time_ns;
        memcpy(view->comm, c->comm, sizeof(view->comm));
        view->arch = CKPT_ARCH_X86_64;
        if (c->n_ranges) {
                view->ranges = TAKE_PTR(c->ranges);
                view->n_ranges = c->n_ranges;
        }
        for (size_t i = 0; i < c->regions.n; i++) {
                r = manifest_add_region(view, &c->regions.v[i]);
                if (r < 0)
                        return fail(c->ret, r, "cannot build the manifest: %s", strerror(-r));
        }
        for (size_t i = 0; i < c->n_threads; i++) {
                r = manifest_add_thread(view, &c->threads[i]);
                if (r < 0)
                        return fail(c->ret, r, "cannot build the manifest: %s", strerror(-r));
        }
        r = build_view_pages(view, c->results, c->plan.n_read, &c->plan, c->parent_view);
        if (r < 0)
                return fail(c->ret, r, "cannot build the manifest: %s", strerror(-r));
        view->pages_total = view_pages_total(view);
        view->pages_read = c->plan.n_read;
        view->bytes_stored = c->bytes_stored;
        view->pause_ns = c->ret->pause_ns;
        view->group = c->group_id;
        view->group_pause_ns = c->group_pause_ns;
        return 0;
}

/* Step 5c: an id, and the delta against the parent, if there is one. */
static int make_delta(struct checkpoint_ctx *c)
{
        int r;

        if (cancelled(c->req))
                return fail(c->ret, -ECANCELED, "cancelled");
        r = store_alloc_id(c->s, &c->id);
        if (r < 0)
                return fail(c->ret, r, "cannot allocate a checkpoint id: %s", strerror(-r));
        c->view->id = c->id;
        c->view->duration_ns = now_ns(CLOCK_MONOTONIC) - c->t_start;
        if (c->parent_id == 0)
                return 0;
        r = delta_of(c->parent_view, c->view, c->parent_id, &c->delta);
        if (r < 0)
                return fail(c->ret, r, "cannot compute the delta: %s", strerror(-r));
        return 0;
}

/* Step 5d: commit, as a delta when there is one. */
static int commit(struct checkpoint_ctx *c)
{
        int r;

        maybe_urgent(c->req, &c->prio);
        c->ret->pages = c->view->pages_total;
        if (c->delta) {
                /* The store keeps the view we built (no chain to resolve again). */
                r = store_commit_view(c->s, c->delta, c->view);
                if (r == -ENOENT) {
                        /* The parent was deleted meanwhile (retention, gc): the
                         * full view stands on its own. */
                        log_debug("checkpoint: parent %llu deleted meanwhile, committing a full "
                                  "manifest",
                                  (unsigned long long)c->parent_id);
                        c->parent_id = 0;
                        r = store_commit(c->s, c->view);
                } else
                        c->view = NULL; /* taken */
        } else
                r = store_commit(c->s, c->view);
        if (r < 0)
                return fail(c->ret, r, "cannot commit the checkpoint: %s", strerror(-r));
        return 0;
}

/* Step 5e: the pages read become the process's kept copy (tracked processes,
 * whole address space), and the result. */
static void finish(struct checkpoint_ctx *c)
{
        struct checkpoint_result *ret = c->ret;

        log_debug("checkpoint: process %d phases (ms): %s; copied on %zu thread%s", (int)c->pid,
                  c->ph.text, c->copy_threads, c->copy_threads == 1 ? "" : "s");
        if (c->collected && c->n_ranges == 0)
                keep_copy(c->buf, c->pid, c->start_time, c->owner, c->id, &c->results,
                          c->plan.n_read, &c->lc);

        ret->id = c->id;
        ret->parent = c->parent_id;
        ret->pages_read = c->plan.n_read;
        ret->pages_unchanged = c->n_same;
        ret->bytes_stored = c->bytes_stored;
        ret->incremental = c->incremental;
        ret->skipped = TAKE_PTR(c->skipped);
        ret->n_skipped = c->n_skipped;
        ret->duration_ns = now_ns(CLOCK_MONOTONIC) - c->t_start;
        log_debug("checkpoint: process %d: checkpoint %llu (parent %llu), %llu pages read "
                  "(%llu unchanged), %llu bytes stored, pause %llu us",
                  (int)c->pid, (unsigned long long)c->id, (unsigned long long)c->parent_id,
                  (unsigned long long)c->plan.n_read, (unsigned long long)c->n_same,
                  (unsigned long long)c->bytes_stored, (unsigned long long)(ret->pause_ns / 1000));
}

/* Step 1 of checkpoint.h: pidfd, access check, parent, freeze, access check
 * again. */
static int run_prepare(struct checkpoint_ctx *c)
{
        int r;

        r = check_request(c);
        if (r < 0)
                return r;
        phase_mark(&c->ph, "start");
        r = open_process(c);
        if (r < 0)
                return r;
        r = find_parent(c);
        if (r < 0)
                return r;
        phase_mark(&c->ph, "parent");
        reserve_ahead(c);
        phase_mark(&c->ph, "reserve");
        return 0;
}

static int run_freeze(struct checkpoint_ctx *c)
{
        int r;

        r = run_prepare(c);
        if (r < 0)
                return r;
        r = freeze(c);
        if (r < 0)
                return r;
        phase_mark(&c->ph, "freeze");
        return 0;
}

/* Steps 2 and 3: the maps, which pages to read, registers, the buffer, the
 * pages. */
static int run_frozen(struct checkpoint_ctx *c)
{
        int r;

        r = read_maps(c);
        if (r < 0)
                return r;
        phase_mark(&c->ph, "maps");
        r = collect_dirty(c);
        if (r < 0)
                return r;
        phase_mark(&c->ph, "collect");
        r = select_pages(c);
        if (r < 0)
                return r;
        phase_mark(&c->ph, "select");
        r = capture_registers(c);
        if (r < 0)
                return r;
        phase_mark(&c->ph, "registers");
        r = reserve_exact(c);
        if (r < 0)
                return r;
        phase_mark(&c->ph, "buffer");
        r = copy_memory(c);
        if (r < 0)
                return r;
        phase_mark(&c->ph, "copy");
        return 0;
}

/* Step 4: thaw, and what needs no pause (the files of reference regions). */
static int run_thaw(struct checkpoint_ctx *c)
{
        int r;

        r = thaw(c);
        if (r < 0)
                return r;
        phase_mark(&c->ph, "thaw");
        record_identities(c->pid, c->regions.v, c->regions.n, c->maps.v, c->maps.n);
        return 0;
}

/* Step 5: hash, compress, store; the manifest; commit. */
static int run_store(struct checkpoint_ctx *c)
{
        int r;

        r = store_pages(c);
        if (r < 0)
                return r;
        phase_mark(&c->ph, "store");
        r = build_view(c);
        if (r < 0)
                return r;
        phase_mark(&c->ph, "view");
        r = make_delta(c);
        if (r < 0)
                return r;
        phase_mark(&c->ph, "delta");
        r = commit(c);
        if (r < 0)
                return r;
        phase_mark(&c->ph, "commit");
        finish(c);
        return 0;
}

/* The steps of checkpoint.h, in order; the first failure ends the run, and
 * checkpoint_run() cleans up after it. */
static int checkpoint_run_one(struct checkpoint_ctx *c)
{
        int r;

        r = run_freeze(c);
        if (r < 0)
                return r;
        r = run_frozen(c);
        if (r < 0)
                return r;
        r = run_thaw(c);
        if (r < 0)
                return r;
        /* The rest runs at the lower priority (priority.h). */
        priority_lower(&c->req->priority, &c->prio);
        return run_store(c);
}

static void ctx_init(struct checkpoint_ctx *c, struct ckpt_store *s,
                     const struct checkpoint_request *req, pid_t pid, struct copy_buffer *buf,
                     struct checkpoint_result *ret)
{
        *c = (struct checkpoint_ctx){
                .s = s,
                .req = req,
                .ret = ret,
                .pid = pid,
                .buf = buf,
                .pidfd = -EBADF,
                .mem_fd = -EBADF,
        };
        *ret = (struct checkpoint_result){};
        c->t_start = now_ns(CLOCK_MONOTONIC);
        c->ph.last = c->t_start;
}

/* After a run that ended with r, its context freed: the error said plainly,
 * and the tracker told (a dirty set collected for nothing, an exec). */
static void ctx_after(struct checkpoint_ctx *c, int r)
{
        const struct checkpoint_request *req = c->req;

        if (r == -ESRCH && c->frozen)
                /* Whichever step noticed it: say what happened. */
                snprintf(c->ret->error, sizeof(c->ret->error),
                         "process %d exited during the checkpoint", (int)c->pid);
        if (r < 0 && c->collected) {
                /* The tracker re-armed for a checkpoint that does not exist:
                 * the next one must not trust its dirty set. */
                int k = tracker_invalidate(req->tracker, c->pid);
                if (k < 0)
                        log_debug_errno(k, "checkpoint: cannot invalidate tracking of %d: %m",
                                        (int)c->pid);
        }
        if (r >= 0 && c->collected)
                (void)tracker_set_base(req->tracker, c->pid, c->id);
        if (r >= 0 && c->rearm) {
                char error[256] = "";
                int k = checkpoint_track(req->tracker, &req->caller, c->pid, error, sizeof(error));
                if (k < 0)
                        log_debug_errno(k, "checkpoint: cannot re-arm tracking of %d: %s%s%m",
                                        (int)c->pid, error, error[0] ? ": " : "");
        }
}

int checkpoint_run(struct ckpt_store *s, const struct checkpoint_request *req,
                   struct checkpoint_result *ret)
{
        struct checkpoint_ctx c;
        int r;

        ctx_init(&c, s, req, req->pid, &thread_buf, ret);
        r = checkpoint_run_one(&c);
        checkpoint_ctx_done(&c);
        priority_restore(&c.prio);
        ctx_after(&c, r);
        buffers_within(req);
        return r;
}

/* ---- group checkpoints ------------------------------------------------------
 * Every member is frozen (step 1) before any is read; then steps 2 and 3 for
 * each, all are thawed, and step 5 runs for each. Members are found while
 * freezing: the children of each frozen member (every thread's children
 * file) join the list, so a process forked before its parent stopped is
 * found once that parent is frozen, and a frozen process forks no more. */

struct group_run {
        struct ckpt_store *s;
        const struct checkpoint_group_request *req;
        struct checkpoint_group_result *ret;
        struct checkpoint_ctx *ctx; /* [max] */
        pid_t *pids;                /* the members found, in order; ctx[i] is pids[i] */
        size_t n, max;
        int cg_fd; /* a cgroup's members: its directory */
        uint64_t t_first_frozen;
        struct priority_saved prio;
};

_printf_(3, 4) static int group_fail(struct group_run *g, int r, const char *fmt, ...)
{
        va_list ap;

        if (g->ret->error[0] == 0) {
                va_start(ap, fmt);
                vsnprintf(g->ret->error, sizeof(g->ret->error), fmt, ap);
                va_end(ap);
        }
        return r;
}

/* A member's failure that leaves the rest of the group a checkpoint: it
 * exited (before it was frozen, or while). */
static bool member_gone(const struct group_run *g, const struct checkpoint_ctx *c, int r)
{
        /* A cgroup has no root: any member may go (base.pid, if set, only
         * names the group for its owner). */
        return r == -ESRCH && (g->req->cgroup || c->pid != c->req->pid);
}

/* What the group is, for messages. */
static const char *group_name(const struct group_run *g, char *buf, size_t size)
{
        if (g->req->cgroup)
                snprintf(buf, size, "cgroup '%s'", g->req->cgroup);
        else
                snprintf(buf, size, "the tree of %d", (int)g->req->base.pid);
        return buf;
}

/* A cgroup's members, read again once the last one found is frozen: a
 * process forked or moved in meanwhile joins the list (its own turn to be
 * frozen comes after), until a reading finds no one new. */
static int group_rescan_cgroup(struct group_run *g, size_t i)
{
        char name[300];
        int r;

        if (i + 1 != g->n)
                return 0;
        r = cgroup_procs(g->cg_fd, g->max, &g->pids, &g->n);
        if (r == -E2BIG)
                return group_fail(g, -E2BIG, "%s has more than %zu processes",
                                  group_name(g, name, sizeof(name)), g->max);
        if (r < 0 && r != -ENOENT)
                return group_fail(g, r, "cannot list the processes of %s: %s",
                                  group_name(g, name, sizeof(name)), strerror(-r));
        return 0;
}

/* The children of frozen member i join the list (the limit checked). */
static int group_add_children(struct group_run *g, size_t i)
{
        int r;

        if (g->req->cgroup)
                return 0; /* their cgroup.procs says: group_rescan_cgroup() */
        r = proc_children(g->pids[i], g->max, &g->pids, &g->n);
        if (r == -E2BIG)
                return group_fail(g, -E2BIG, "the group of %d has more than %zu processes",
                                  (int)g->req->base.pid, g->max);
        if (r == -ESRCH)
                return 0; /* it exits: its freeze said so, or its check will */
        if (r < 0)
                return group_fail(g, r, "cannot list the children of %d: %s", (int)g->pids[i],
                                  strerror(-r));
        return 0;
}

/* Arm write tracking of a frozen member the tracker does not know yet; its
 * first collect then reads every page, so no write before it is missed. */
static void group_arm(struct group_run *g, size_t i)
{
        struct checkpoint_ctx *c = &g->ctx[i];
        char error[256] = "";
        int r;

        if (!g->req->arm_new || !g->req->base.tracker ||
            tracker_is_tracked(g->req->base.tracker, c->pid))
                return;
        r = tracker_track(g->req->base.tracker, c->pid, c->fz, error, sizeof(error));
        if (r < 0)
                log_debug_errno(r, "checkpoint: cannot arm tracking of group member %d: %s%s%m",
                                (int)c->pid, error, error[0] ? ": " : "");
        else
                g->ret->members[i].armed = true;
}

/* Step 1 up to the freeze for member i (its context set up): pidfd, access
 * check, parent, copy buffer. 0 also when it is gone (its result says so). */
static int group_prepare(struct group_run *g, size_t i)
{
        struct checkpoint_ctx *c = &g->ctx[i];
        struct checkpoint_member *m = &g->ret->members[i];
        int r;

        m->pid = g->pids[i];
        ctx_init(c, g->s, &g->req->base, g->pids[i], &member_bufs[i], &m->res);
        g->ret->n_members = i + 1; /* the contexts to clean up */
        r = run_prepare(c);
        if (r < 0) {
                m->result = r;
                if (!member_gone(g, c, r))
                        return group_fail(g, r, "%s", c->ret->error);
        }
        return 0;
}

/* Step 1 for every member. First, unfrozen, the tree as it is now, each
 * member prepared (the parent's view read, the buffer faulted in): none of
 * that in the pause. Then each is frozen in turn, its children listed again
 * once it is, and one found only then is prepared in the pause. On a
 * failure that is not a member's exit, the caller thaws every frozen one. */
static int group_freeze(struct group_run *g)
{
        int r;

        for (size_t i = 0; i < g->n; i++) {
                r = group_prepare(g, i);
                if (r >= 0 && g->ret->members[i].result >= 0)
                        r = group_add_children(g, i);
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; i < g->n; i++) {
                struct checkpoint_ctx *c = &g->ctx[i];
                struct checkpoint_member *m = &g->ret->members[i];

                if (i >= g->ret->n_members && (r = group_prepare(g, i)) < 0)
                        return r;
                if (g->req->cgroup && (r = group_rescan_cgroup(g, i)) < 0)
                        return r;
                if (m->result < 0)
                        continue;
                r = freeze(c);
                if (r < 0) {
                        m->result = r;
                        if (member_gone(g, c, r))
                                continue;
                        return group_fail(g, r, "%s", c->ret->error);
                }
                phase_mark(&c->ph, "freeze");
                if (g->t_first_frozen == 0)
                        g->t_first_frozen = c->t_frozen;
                group_arm(g, i);
                r = group_add_children(g, i);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Steps 2 and 3 for each frozen member, then step 4 for all: the group's
 * pause ends with the last thaw. */
static int group_copy_thaw(struct group_run *g)
{
        int r, k = 0;

        for (size_t i = 0; i < g->n; i++) {
                struct checkpoint_member *m = &g->ret->members[i];

                if (m->result < 0)
                        continue;
                r = run_frozen(&g->ctx[i]);
                if (r < 0) {
                        m->result = r;
                        if (!member_gone(g, &g->ctx[i], r)) {
                                k = group_fail(g, r, "%s", g->ctx[i].ret->error);
                                break;
                        }
                }
        }
        for (size_t i = 0; i < g->n; i++) {
                struct checkpoint_member *m = &g->ret->members[i];

                if (m->result < 0 || k < 0)
                        continue;
                r = run_thaw(&g->ctx[i]);
                if (r < 0)
                        m->result = r;
        }
        /* On failure the cleanup thaws them (freezer_free()). */
        g->ret->pause_ns = now_ns(CLOCK_MONOTONIC) - g->t_first_frozen;
        return k;
}

/* Step 5 for each member that lived through the pause, under the group's id. */
static int group_store(struct group_run *g)
{
        size_t n_done = 0;
        int r;

        r = store_alloc_id(g->s, &g->ret->id);
        if (r < 0)
                return group_fail(g, r, "cannot allocate a group id: %s", strerror(-r));
        for (size_t i = 0; i < g->n; i++) {
                struct checkpoint_ctx *c = &g->ctx[i];
                struct checkpoint_member *m = &g->ret->members[i];

                if (m->result < 0)
                        continue;
                c->group_id = g->ret->id;
                c->group_pause_ns = g->ret->pause_ns;
                m->result = run_store(c);
                if (m->result == -ECANCELED || m->result == -ENOSPC)
                        return group_fail(g, m->result, "%s", c->ret->error);
                if (m->result < 0)
                        continue;
                n_done++;
                g->ret->pages += m->res.pages;
                g->ret->pages_read += m->res.pages_read;
                g->ret->bytes_stored += m->res.bytes_stored;
        }
        if (n_done == 0)
                return group_fail(g, -ESRCH, "every process of the group exited");
        return 0;
}

static int group_run_steps(struct group_run *g)
{
        int r;

        if (g->req->base.n_ranges > 0)
                return group_fail(g, -EINVAL, "a group checkpoint takes no ranges");
        r = member_buffers(g->max);
        if (r < 0)
                return group_fail(g, r, "out of memory");
        r = group_freeze(g);
        if (r < 0)
                return r;
        if (!g->req->cgroup && g->ret->members[0].result < 0)
                return group_fail(g, g->ret->members[0].result, "%s", g->ret->members[0].res.error);
        r = group_copy_thaw(g);
        if (r < 0)
                return r;
        priority_lower(&g->req->base.priority, &g->prio);
        return group_store(g);
}

/* The members known before anything is frozen: the root and the members
 * found before that no longer descend from it (their parent exited: still
 * the group's while they live); or the processes of the cgroup. */
static int group_first_members(struct group_run *g)
{
        const struct checkpoint_group_request *req = g->req;
        char name[300];
        int r;

        if (req->cgroup) {
                r = cgroup_open(req->cgroup, &g->cg_fd);
                if (r < 0)
                        return group_fail(g, r, "cannot open cgroup '%s': %s", req->cgroup,
                                          strerror(-r));
                r = group_rescan_cgroup(g, (size_t)-1); /* -1: "after" an empty list */
                if (r >= 0 && g->n == 0)
                        r = group_fail(g, -ESRCH, "%s holds no process",
                                       group_name(g, name, sizeof(name)));
                return r;
        }
        g->pids = calloc(16, sizeof(*g->pids));
        if (!g->pids)
                return group_fail(g, -ENOMEM, "out of memory");
        g->pids[g->n++] = req->base.pid;
        for (size_t i = 0; i < req->n_pids && g->n < g->max; i++) {
                bool known = false;

                for (size_t k = 0; k < g->n && !known; k++)
                        known = g->pids[k] == req->pids[i];
                if (known || req->pids[i] <= 0)
                        continue;
                if (g->n % 16 == 0) {
                        pid_t *q = realloc(g->pids, (g->n + 16) * sizeof(*q));
                        if (!q)
                                return group_fail(g, -ENOMEM, "out of memory");
                        g->pids = q;
                }
                g->pids[g->n++] = req->pids[i];
        }
        return 0;
}

int checkpoint_run_group(struct ckpt_store *s, const struct checkpoint_group_request *req,
                         struct checkpoint_group_result *ret)
{
        struct group_run g = {.s = s, .req = req, .ret = ret};
        uint64_t t_start = now_ns(CLOCK_MONOTONIC);
        int r;

        *ret = (struct checkpoint_group_result){};
        g.max = req->max_members ? req->max_members : CKPT_MAX_GROUP_MEMBERS;
        g.ctx = calloc(g.max, sizeof(*g.ctx));
        ret->members = calloc(g.max, sizeof(*ret->members));
        g.cg_fd = -EBADF;
        if (!g.ctx || !ret->members) {
                r = group_fail(&g, -ENOMEM, "out of memory");
                goto out;
        }
        r = group_first_members(&g);
        if (r >= 0)
                r = group_run_steps(&g);
out:
        for (size_t i = 0; i < ret->n_members; i++)
                checkpoint_ctx_done(&g.ctx[i]);
        priority_restore(&g.prio);
        for (size_t i = 0; i < ret->n_members; i++)
                ctx_after(&g.ctx[i], r < 0 ? r : ret->members[i].result);
        member_buffers_trim(ret->n_members);
        buffers_within(&req->base);
        ret->duration_ns = now_ns(CLOCK_MONOTONIC) - t_start;
        free(g.ctx);
        free(g.pids);
        safe_close(g.cg_fd);
        return r;
}

void checkpoint_group_result_done(struct checkpoint_group_result *r)
{
        if (!r)
                return;
        for (size_t i = 0; i < r->n_members; i++)
                checkpoint_result_done(&r->members[i].res);
        free(r->members);
        r->members = NULL;
        r->n_members = 0;
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
