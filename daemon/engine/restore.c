/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* restore.c: see restore.h. */
#include "restore.h"

#include <fcntl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/user.h>
#include <time.h>

#include "access.h"
#include "export.h"
#include "freezer.h"
#include "log.h"
#include "macro.h"
#include "pagemap.h"
#include "proc-util.h"
#include "procmaps.h"
#include "time-util.h"
#include "tracker.h"

#define CHUNK_PAGES 256u

/* The pages to write, gathered while comparing, written only once every one
 * of them has been read and verified. */
struct write_set {
        uint64_t *addr;
        uint8_t *data;
        size_t n, alloc;
};

static void write_set_done(struct write_set *w)
{
        free(w->addr);
        free(w->data);
}

static int write_set_add(struct write_set *w, uint64_t addr, const void *page)
{
        if (w->n == w->alloc) {
                size_t na = MAX(256u, w->alloc * 2);
                uint64_t *a = realloc(w->addr, na * sizeof(*a));
                if (!a)
                        return -ENOMEM;
                w->addr = a;
                uint8_t *d = realloc(w->data, na * PAGE_SIZE_4K);
                if (!d)
                        return -ENOMEM;
                w->data = d;
                w->alloc = na;
        }
        w->addr[w->n] = addr;
        memcpy(w->data + w->n * PAGE_SIZE_4K, page, PAGE_SIZE_4K);
        w->n++;
        return 0;
}

static bool page_is_zero(const void *p)
{
        const uint64_t *q = p;

        for (size_t i = 0; i < PAGE_SIZE_4K / 8; i++)
                if (q[i])
                        return false;
        return true;
}

/* Every part of [start, end) is mapped in the process; with `exact`, by one
 * mapping with exactly these bounds. */
static bool shape_ok(const struct ckpt_region *cur, size_t n, uint64_t start, uint64_t end,
                     bool exact)
{
        uint64_t a = start;

        for (size_t i = 0; i < n && a < end; i++) {
                if (cur[i].end <= a)
                        continue;
                if (cur[i].start > a)
                        return false;
                if (exact)
                        return cur[i].start == start && cur[i].end == end;
                a = cur[i].end;
        }
        return a >= end;
}

static const char *region_name(const struct ckpt_region *r)
{
        return r->path ? r->path : "anonymous";
}

/* Compare one run [start, end) of a checkpoint region with the process. */
static int compare_run(struct ckpt_store *s, const struct ckpt_manifest *view,
                       const struct ckpt_region *rg, struct pagemap *pm, int mem_fd, uint64_t start,
                       uint64_t end, struct write_set *ws, struct restore_result *ret)
{
        _cleanup_free_ uint8_t *cur = NULL, *want = NULL, *flags = NULL;
        int r;

        cur = malloc(CHUNK_PAGES * PAGE_SIZE_4K);
        want = malloc(PAGE_SIZE_4K);
        flags = malloc(CHUNK_PAGES);
        if (!cur || !want || !flags)
                return -ENOMEM;

        for (uint64_t a = start; a < end; a += CHUNK_PAGES * PAGE_SIZE_4K) {
                uint64_t e = MIN(end, a + CHUNK_PAGES * PAGE_SIZE_4K);
                size_t n = (e - a) / PAGE_SIZE_4K;
                bool have_cur = false;

                r = pagemap_flags(pm, a, e, flags);
                if (r < 0)
                        return r;

                for (size_t i = 0; i < n; i++) {
                        uint64_t addr = a + i * PAGE_SIZE_4K;
                        bool present = flags[i] & (PAGEMAP_PAGE_PRESENT | PAGEMAP_PAGE_SWAPPED);
                        const struct ckpt_page *p = manifest_find_page(view, addr);

                        /* A page of a reference region that the checkpoint did
                         * not list is the file's content: never written. */
                        if ((rg->flags & CKPT_REGION_REF) && !p)
                                continue;

                        r = export_read_page(s, view, addr, want);
                        if (r < 0) {
                                snprintf(ret->error, sizeof(ret->error),
                                         "cannot read page 0x%llx of checkpoint %llu: %s",
                                         (unsigned long long)addr, (unsigned long long)view->id,
                                         r == -EBADMSG ? "object is corrupt" : strerror(-r));
                                return r;
                        }
                        if (r == 0) {
                                /* Must be zero: an absent anonymous page already is. */
                                if (!present && !(rg->flags & CKPT_REGION_SHARED) &&
                                    !(rg->flags & CKPT_REGION_FILE))
                                        continue;
                                memset(want, 0, PAGE_SIZE_4K);
                        }

                        if (!have_cur) {
                                ssize_t k = pread(mem_fd, cur, n * PAGE_SIZE_4K, (off_t)a);
                                if (k != (ssize_t)(n * PAGE_SIZE_4K)) {
                                        r = k < 0 ? -errno : -EIO;
                                        snprintf(ret->error, sizeof(ret->error),
                                                 "cannot read the process's memory at 0x%llx: %s",
                                                 (unsigned long long)a, strerror(-r));
                                        return r;
                                }
                                have_cur = true;
                        }
                        ret->pages_compared++;
                        if (memcmp(cur + i * PAGE_SIZE_4K, want, PAGE_SIZE_4K) == 0)
                                continue;
                        if (r == 0 && page_is_zero(cur + i * PAGE_SIZE_4K))
                                continue;
                        r = write_set_add(ws, addr, want);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

/* The content a page must have, read and verified; 0 zero, 1 data. */
static int want_page(struct ckpt_store *s, const struct ckpt_manifest *view, uint64_t addr,
                     void *want, struct restore_result *ret)
{
        int r = export_read_page(s, view, addr, want);

        if (r < 0)
                snprintf(ret->error, sizeof(ret->error),
                         "cannot read page 0x%llx of checkpoint %llu: %s", (unsigned long long)addr,
                         (unsigned long long)view->id,
                         r == -EBADMSG ? "object is corrupt" : strerror(-r));
        else if (r == 0)
                memset(want, 0, PAGE_SIZE_4K);
        return r;
}

/* Compare only the candidate pages (sorted) of a region with the process. */
static int compare_pages(struct ckpt_store *s, const struct ckpt_manifest *view,
                         const struct ckpt_region *rg, int mem_fd, const uint64_t *cand, size_t n,
                         struct write_set *ws, struct restore_result *ret)
{
        uint8_t cur[PAGE_SIZE_4K], want[PAGE_SIZE_4K];
        int r;

        for (size_t i = 0; i < n; i++) {
                uint64_t addr = cand[i];

                if ((rg->flags & CKPT_REGION_REF) && !manifest_find_page(view, addr))
                        continue;
                r = want_page(s, view, addr, want, ret);
                if (r < 0)
                        return r;
                if (pread(mem_fd, cur, PAGE_SIZE_4K, (off_t)addr) != (ssize_t)PAGE_SIZE_4K) {
                        r = errno ? -errno : -EIO;
                        snprintf(ret->error, sizeof(ret->error),
                                 "cannot read the process's memory at 0x%llx: %s",
                                 (unsigned long long)addr, strerror(-r));
                        return r;
                }
                ret->pages_compared++;
                if (memcmp(cur, want, PAGE_SIZE_4K) == 0)
                        continue;
                r = write_set_add(ws, addr, want);
                if (r < 0)
                        return r;
        }
        return 0;
}

static bool same_entry(const struct ckpt_page *a, const struct ckpt_page *b)
{
        bool za = !a || a->kind == CKPT_PAGE_ZERO, zb = !b || b->kind == CKPT_PAGE_ZERO;

        if (za || zb)
                return za && zb;
        return a->kind == b->kind && memcmp(a->key, b->key, sizeof(a->key)) == 0;
}

static int push_addr(uint64_t **v, size_t *n, size_t *alloc, uint64_t addr)
{
        if (*n == *alloc) {
                size_t na = MAX(64u, *alloc * 2);
                uint64_t *p = realloc(*v, na * sizeof(*p));
                if (!p)
                        return -ENOMEM;
                *v = p;
                *alloc = na;
        }
        (*v)[(*n)++] = addr;
        return 0;
}

static int cmp_addr(const void *a, const void *b)
{
        uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
        return x < y ? -1 : x > y;
}

/*
 * The pages of [start, end) that can differ between the process and the
 * checkpoint `view`, given `latest` (the newest checkpoint of the process,
 * whose content the process held at its end) and the pages written since
 * (`dirty`, sorted): where view and latest differ, and what was written.
 * Returns 1 when the whole range must be compared instead.
 */
static int candidates(const struct ckpt_manifest *view, const struct ckpt_manifest *latest,
                      const struct tracker_dirty_region *dirty, uint64_t start, uint64_t end,
                      uint64_t **ret, size_t *ret_n)
{
        _cleanup_free_ uint64_t *v = NULL;
        size_t n = 0, alloc = 0, i, j;
        uint64_t covered = start;
        int r;

        if (!dirty || dirty->whole)
                return 1;
        /* latest must cover the range: otherwise its content there is unknown. */
        for (size_t k = 0; k < latest->n_regions && covered < end; k++)
                if (latest->regions[k].start <= covered && latest->regions[k].end > covered)
                        covered = latest->regions[k].end;
        if (covered < end)
                return 1;

        i = manifest_page_lower_bound(view, start);
        j = manifest_page_lower_bound(latest, start);
        while ((i < view->n_pages && view->pages[i].addr < end) ||
               (j < latest->n_pages && latest->pages[j].addr < end)) {
                uint64_t a = i < view->n_pages && view->pages[i].addr < end ? view->pages[i].addr
                                                                            : UINT64_MAX;
                uint64_t b = j < latest->n_pages && latest->pages[j].addr < end
                                     ? latest->pages[j].addr
                                     : UINT64_MAX;
                const struct ckpt_page *pa = a <= b ? &view->pages[i] : NULL;
                const struct ckpt_page *pb = b <= a ? &latest->pages[j] : NULL;
                uint64_t addr = MIN(a, b);

                if (!same_entry(pa, pb)) {
                        r = push_addr(&v, &n, &alloc, addr);
                        if (r < 0)
                                return r;
                }
                if (pa)
                        i++;
                if (pb)
                        j++;
        }
        for (size_t k = 0; k < dirty->n_pages; k++)
                if (dirty->pages[k] >= start && dirty->pages[k] < end) {
                        r = push_addr(&v, &n, &alloc, dirty->pages[k]);
                        if (r < 0)
                                return r;
                }
        if (n > 1) {
                size_t w = 1;
                qsort(v, n, sizeof(*v), cmp_addr);
                for (size_t k = 1; k < n; k++)
                        if (v[k] != v[w - 1])
                                v[w++] = v[k];
                n = w;
        }
        *ret = TAKE_PTR(v);
        *ret_n = n;
        return 0;
}

static int write_all(int mem_fd, const struct write_set *ws, struct restore_result *ret)
{
        for (size_t i = 0; i < ws->n;) {
                size_t j = i + 1;

                /* Coalesce neighbouring pages into one write. */
                while (j < ws->n && ws->addr[j] == ws->addr[j - 1] + PAGE_SIZE_4K)
                        j++;
                size_t len = (j - i) * PAGE_SIZE_4K;
                ssize_t k = pwrite(mem_fd, ws->data + i * PAGE_SIZE_4K, len, (off_t)ws->addr[i]);
                if (k != (ssize_t)len) {
                        int r = k < 0 ? -errno : -EIO;
                        snprintf(ret->error, sizeof(ret->error),
                                 "cannot write the process's memory at 0x%llx: %s",
                                 (unsigned long long)ws->addr[i], strerror(-r));
                        return r;
                }
                ret->pages_written += j - i;
                ret->bytes_written += len;
                i = j;
        }
        return 0;
}

static int restore_registers(struct freezer *f, const struct ckpt_manifest *view,
                             struct restore_result *ret)
{
        struct user_regs_struct regs;
        struct user_fpregs_struct fpregs;

        if (f->n_threads != 1 || view->n_threads != 1) {
                snprintf(
                        ret->error, sizeof(ret->error),
                        "registers can be restored into a single-threaded process from a "
                        "single-threaded checkpoint only (process has %zu threads, checkpoint %zu)",
                        f->n_threads, view->n_threads);
                return -EINVAL;
        }
        if (view->threads[0].regs_size != sizeof(regs) ||
            view->threads[0].fpregs_size != sizeof(fpregs)) {
                snprintf(ret->error, sizeof(ret->error), "checkpoint has no usable registers");
                return -EINVAL;
        }
        memcpy(&regs, view->threads[0].regs, sizeof(regs));
        memcpy(&fpregs, view->threads[0].fpregs, sizeof(fpregs));
        /* All of them, orig_rax too: a thread that was stopped inside a
         * system call (rax -ERESTART*, orig_rax its number) restarts that
         * call when it runs again, as it would have from the checkpoint. */
        if (ptrace(PTRACE_SETREGS, f->threads[0].tid, NULL, &regs) < 0 ||
            ptrace(PTRACE_SETFPREGS, f->threads[0].tid, NULL, &fpregs) < 0) {
                int r = -errno;
                snprintf(ret->error, sizeof(ret->error), "cannot set registers: %s", strerror(-r));
                return r;
        }
        return 0;
}

/* ---- the flow ----------------------------------------------------------------
 * What the steps of one restore share. Each step fills its part and returns
 * 0 or a negative errno (ret->error says why where there is more to say);
 * restore_ctx_done() frees whatever was filled and thaws the process if a
 * step left it frozen. */

struct restore_ctx {
        struct ckpt_store *s;
        const struct restore_request *req;
        struct restore_result *ret;
        uint64_t t0, t_freeze;
        bool timed; /* from the freeze on, the result says how long it took */

        /* Step 1 */
        struct ckpt_manifest *view;
        int pidfd;
        struct ckpt_range *norm, *skipped;
        size_t n_norm, n_skipped;
        struct ckpt_region *chosen; /* the view's regions, clipped to the ranges */
        size_t n_chosen;

        /* Step 2 */
        struct freezer *f;
        struct ckpt_region *cur; /* the process's maps now */
        size_t n_cur;

        /* Step 3 */
        struct pagemap *pm;
        int mem_fd;
        struct ckpt_manifest *latest; /* with tracking: the newest checkpoint */
        struct tracker_dirty *dirty;  /* with tracking: written since */
        struct write_set ws;
};

static void restore_ctx_done(struct restore_ctx *c)
{
        write_set_done(&c->ws);
        procmaps_free(c->cur, c->n_cur);
        procmaps_free(c->chosen, c->n_chosen);
        c->pidfd = safe_close(c->pidfd);
        c->mem_fd = safe_close(c->mem_fd);
        free(c->skipped);
        free(c->norm);
        c->pm = pagemap_free(c->pm);
        c->f = freezer_free(c->f);
        c->dirty = tracker_dirty_free(c->dirty);
        c->latest = manifest_free(c->latest);
        c->view = manifest_free(c->view);
}

/* Step 1a: the checkpoint, and the rights: the caller's own checkpoint, and
 * a process the caller may act on (access.h). */
static int open_checkpoint(struct restore_ctx *c)
{
        const struct restore_request *req = c->req;
        struct restore_result *ret = c->ret;
        int r;

        r = store_view(c->s, req->id, &c->view);
        if (r < 0) {
                snprintf(ret->error, sizeof(ret->error), "cannot read checkpoint %llu",
                         (unsigned long long)req->id);
                return r;
        }
        if (req->caller.uid != 0 && req->caller.uid != c->view->uid) {
                snprintf(ret->error, sizeof(ret->error),
                         "uid %u may restore its own checkpoints only", (unsigned)req->caller.uid);
                return -EPERM;
        }
        if (access_is_self(req->pid)) {
                snprintf(ret->error, sizeof(ret->error), "pid %d is ckptd itself", (int)req->pid);
                return -EPERM;
        }
        c->pidfd = (int)syscall(SYS_pidfd_open, req->pid, 0);
        if (c->pidfd < 0)
                return errno == EINVAL || errno == ENOENT ? -ESRCH : negative_errno();
        return access_check_process(&req->caller, c->pidfd, req->pid, NULL, ret->error,
                                    sizeof(ret->error));
}

/* Step 1b: the checkpoint's regions the restore covers. */
static int choose_regions(struct restore_ctx *c)
{
        const struct restore_request *req = c->req;
        int r;

        r = procmaps_normalize_ranges(req->ranges, req->n_ranges, &c->norm, &c->n_norm);
        if (r < 0)
                return r;
        return procmaps_clip(c->view->regions, c->view->n_regions, req->n_ranges ? c->norm : NULL,
                             c->n_norm, &c->chosen, &c->n_chosen, &c->skipped, &c->n_skipped);
}

/* Step 2a: freeze, and the rights again. The process the freezer holds is
 * the pidfd's while that lives. Its credentials may have changed since the
 * check above; frozen, they can change no more: check again before anything
 * is written. */
static int freeze(struct restore_ctx *c)
{
        const struct restore_request *req = c->req;
        char reason[256];
        int r;

        r = freezer_freeze(req->pid, &c->f);
        if (r < 0) {
                snprintf(c->ret->error, sizeof(c->ret->error), "%s", c->f ? c->f->error : "");
                return r;
        }
        c->t_freeze = now_ns(CLOCK_MONOTONIC);
        if (syscall(SYS_pidfd_send_signal, c->pidfd, 0, NULL, 0) < 0)
                return -ESRCH;
        r = access_check_process(&req->caller, c->pidfd, req->pid, NULL, reason, sizeof(reason));
        if (r < 0) {
                snprintf(c->ret->error, sizeof(c->ret->error),
                         "%s (checked again once the process was frozen)", reason);
                return r;
        }
        return 0;
}

/* Step 2b: the process's maps, and the shape check. A checkpoint of the
 * whole address space must find each region exactly as it was; one taken of
 * ranges (its regions clipped to them) or a restore of ranges needs them
 * mapped only. */
static int check_shape(struct restore_ctx *c)
{
        const struct restore_request *req = c->req;
        bool exact;
        int r;

        r = procmaps_read(req->pid, &c->cur, &c->n_cur);
        if (r < 0)
                return r;
        exact = req->n_ranges == 0 && !(c->view->flags & CKPT_MF_RANGES);
        for (size_t i = 0; i < c->n_chosen; i++) {
                const struct ckpt_region *rg = &c->chosen[i];

                if (rg->flags & CKPT_REGION_SPECIAL)
                        continue;
                if (shape_ok(c->cur, c->n_cur, rg->start, rg->end, exact))
                        continue;
                snprintf(c->ret->error, sizeof(c->ret->error),
                         "region 0x%llx-0x%llx (%s) of checkpoint %llu %s in process %d; "
                         "restrict the restore with --range to what exists",
                         (unsigned long long)rg->start, (unsigned long long)rg->end,
                         region_name(rg), (unsigned long long)req->id,
                         shape_ok(c->cur, c->n_cur, rg->start, rg->end, false) ? "has changed shape"
                                                                               : "is not mapped",
                         (int)req->pid);
                return -ENOTRECOVERABLE;
        }
        return 0;
}

/* Step 3a: the process's pagemap and memory, and what tracking knows. With
 * tracking, only what differs between the checkpoint and the newest one of
 * this process, plus what was written since, can differ now: the cost
 * follows the change. The tracker is only peeked at: what it reports stays
 * for the next checkpoint, and the pages written here become dirty through
 * the write itself. */
static int open_memory(struct restore_ctx *c)
{
        const struct restore_request *req = c->req;
        uint64_t start_time = 0, latest_id = 0;
        char path[64], state;
        int r;

        r = pagemap_open(req->pid, &c->pm);
        if (r < 0)
                return r;
        snprintf(path, sizeof(path), "/proc/%d/mem", (int)req->pid);
        c->mem_fd = open(path, O_RDWR | O_CLOEXEC);
        if (c->mem_fd < 0)
                return -errno;
        if (req->tracker && tracker_is_tracked(req->tracker, req->pid) &&
            proc_stat_read(req->pid, &state, &start_time, NULL) >= 0 && c->view->pid == req->pid &&
            c->view->start_time == start_time &&
            store_last_of(c->s, req->pid, start_time, &latest_id) >= 0 &&
            store_view(c->s, latest_id, &c->latest) >= 0 &&
            tracker_peek(req->tracker, req->pid, c->chosen, c->n_chosen, &c->dirty) >= 0)
                c->ret->used_tracking = true;
        return 0;
}

/* Step 3b: compare each chosen region with the process (only the candidate
 * pages when tracking knows them), gathering what differs into the write
 * set. */
static int compare_regions(struct restore_ctx *c)
{
        const struct ckpt_region *chosen = c->chosen;
        uint64_t done = 0, total = 0;
        int r;

        for (size_t i = 0; i < c->n_chosen; i++)
                if (!(chosen[i].flags & CKPT_REGION_SPECIAL))
                        total += (chosen[i].end - chosen[i].start) / PAGE_SIZE_4K;
        for (size_t i = 0; i < c->n_chosen; i++) {
                _cleanup_free_ uint64_t *cand = NULL;
                size_t n_cand = 0;

                if (chosen[i].flags & CKPT_REGION_SPECIAL)
                        continue;
                if (c->req->progress)
                        c->req->progress(c->req->progress_userdata, done, total);
                done += (chosen[i].end - chosen[i].start) / PAGE_SIZE_4K;
                if (c->req->cancel && *c->req->cancel)
                        return -ECANCELED;
                r = c->ret->used_tracking
                            ? candidates(c->view, c->latest, &c->dirty->regions[i], chosen[i].start,
                                         chosen[i].end, &cand, &n_cand)
                            : 1;
                if (r < 0)
                        return r;
                if (r == 0)
                        r = compare_pages(c->s, c->view, &chosen[i], c->mem_fd, cand, n_cand,
                                          &c->ws, c->ret);
                else
                        r = compare_run(c->s, c->view, &chosen[i], c->pm, c->mem_fd,
                                        chosen[i].start, chosen[i].end, &c->ws, c->ret);
                if (r < 0)
                        return r;
        }
        if (c->req->progress)
                c->req->progress(c->req->progress_userdata, done, total);
        return 0;
}

/* Step 4: registers, on request; thaw (the pause ends here). */
static int thaw(struct restore_ctx *c)
{
        int r;

        if (c->req->registers) {
                r = restore_registers(c->f, c->view, c->ret);
                if (r < 0)
                        return r;
        }
        r = freezer_thaw(c->f);
        c->ret->pause_ns = now_ns(CLOCK_MONOTONIC) - c->t_freeze;
        if (r < 0)
                snprintf(c->ret->error, sizeof(c->ret->error), "process %d died during the restore",
                         (int)c->req->pid);
        return r;
}

/* The steps of restore.h, in order; the first failure ends the run, and
 * restore_run() cleans up after it. */
static int restore_run_one(struct restore_ctx *c)
{
        int r;

        /* Step 1: the checkpoint and the rights. */
        r = open_checkpoint(c);
        if (r < 0)
                return r;
        r = choose_regions(c);
        if (r < 0)
                return r;

        /* Step 2: freeze, and check the shape of the address space. */
        c->timed = true;
        r = freeze(c);
        if (r < 0)
                return r;
        r = check_shape(c);
        if (r < 0)
                return r;

        /* Step 3: compare, then write. */
        r = open_memory(c);
        if (r < 0)
                return r;
        r = compare_regions(c);
        if (r < 0)
                return r;
        r = write_all(c->mem_fd, &c->ws, c->ret);
        if (r < 0)
                return r;

        /* Step 4: registers, thaw. */
        return thaw(c);
}

/* ---- group restores ----------------------------------------------------------
 * The members of a group checkpoint back at one frozen moment: steps 1 and 2
 * for every member (all frozen, every shape checked), step 3's comparisons
 * for all (every page read and verified) before the first write, then the
 * writes of each, then step 4 for all. A failure before the writes leaves
 * every member as it was; the cleanup thaws them. */

/* Step 3 for member c, less the write: the process is its checkpoint's. */
static int group_compare(struct restore_ctx *c)
{
        uint64_t start_time = 0;
        int r;

        r = proc_stat_read(c->req->pid, NULL, &start_time, NULL);
        if (r < 0)
                return r;
        if (start_time != c->view->start_time) {
                snprintf(c->ret->error, sizeof(c->ret->error),
                         "pid %d is not the process of checkpoint %llu (it was reused)",
                         (int)c->req->pid, (unsigned long long)c->req->id);
                return -ESRCH;
        }
        r = open_memory(c);
        if (r < 0)
                return r;
        return compare_regions(c);
}

static int group_steps(struct restore_ctx *v, size_t n, size_t *ret_failed)
{
        int r;

        for (size_t i = 0; i < n; i++) {
                *ret_failed = i;
                r = open_checkpoint(&v[i]);
                if (r >= 0)
                        r = choose_regions(&v[i]);
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; i < n; i++) {
                *ret_failed = i;
                v[i].timed = true;
                r = freeze(&v[i]);
                if (r >= 0)
                        r = check_shape(&v[i]);
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; i < n; i++) {
                *ret_failed = i;
                r = group_compare(&v[i]);
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; i < n; i++) {
                *ret_failed = i;
                r = write_all(v[i].mem_fd, &v[i].ws, v[i].ret);
                if (r < 0)
                        return r;
        }
        r = 0;
        for (size_t i = 0; i < n; i++) {
                int k = thaw(&v[i]);
                if (k < 0 && r >= 0) {
                        *ret_failed = i;
                        r = k;
                }
        }
        return r;
}

int restore_run_group(struct ckpt_store *s, const struct restore_request *reqs, size_t n,
                      struct restore_result *rets, size_t *ret_failed)
{
        _cleanup_free_ struct restore_ctx *v = calloc(MAX(n, (size_t)1), sizeof(*v));
        uint64_t t0 = now_ns(CLOCK_MONOTONIC), first = 0, last = 0;
        int r;

        *ret_failed = 0;
        if (!v)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                rets[i] = (struct restore_result){};
                v[i] = (struct restore_ctx){
                        .s = s,
                        .req = &reqs[i],
                        .ret = &rets[i],
                        .t0 = t0,
                        .pidfd = -EBADF,
                        .mem_fd = -EBADF,
                };
        }
        r = group_steps(v, n, ret_failed);
        for (size_t i = 0; i < n; i++) {
                if (v[i].timed)
                        rets[i].duration_ns = now_ns(CLOCK_MONOTONIC) - t0;
                if (v[i].t_freeze && (first == 0 || v[i].t_freeze < first))
                        first = v[i].t_freeze;
                restore_ctx_done(&v[i]);
        }
        last = now_ns(CLOCK_MONOTONIC);
        /* The group's pause, from its first freeze to its last thaw, in [0]. */
        if (n > 0 && first)
                rets[0].pause_ns = MAX(rets[0].pause_ns, last - first);
        return r;
}

int restore_run(struct ckpt_store *s, const struct restore_request *req, struct restore_result *ret)
{
        struct restore_ctx c = {
                .s = s,
                .req = req,
                .ret = ret,
                .t0 = now_ns(CLOCK_MONOTONIC),
                .pidfd = -EBADF,
                .mem_fd = -EBADF,
        };
        int r;

        r = restore_run_one(&c);
        if (c.timed)
                ret->duration_ns = now_ns(CLOCK_MONOTONIC) - c.t0;
        restore_ctx_done(&c);
        return r;
}
