/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * tracker-collect.c: the dirty set of a tracked process (tracker_collect(),
 * tracker_peek(); see tracker.h for what it promises and tracker-internal.h
 * for the state it reads): the scans of its tracking mode, united with the
 * BPF bitmaps and the ranges address-space events touched, and the pages
 * kept writable between collects. It never reads page contents.
 */
#include "tracker.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "ckpt/uapi.h"
#include "filestamp.h"
#include "log.h"
#include "macro.h"
#include "manifest.h"
#include "pagemap-scan.h"
#include "tracker-internal.h"

/* A region whose forced pages exceed this is read whole rather than listed. */
#define FORCED_PAGES_MAX (1u << 20)
/* Pages kept writable (see "Pages kept writable" below): runs closer than
 * this merge into one (fewer scans); past so many runs, or so many pages
 * written in one interval, every page is protected again. */
#define HOT_GAP_PAGES 8
#define HOT_RANGES_MAX 4096
#define HOT_WRITTEN_MAX (1u << 20)
/* Private file mappings smaller than this have their file's pages read at
 * every collect: a stamp (filestamp.h) costs more than reading a few pages.
 * Past so many stamps in one process, the other mappings are read too. */
#define STAMP_MIN_PAGES 16
#define STAMPS_MAX 1024

struct tracker_dirty *tracker_dirty_free(struct tracker_dirty *d)
{
        if (!d)
                return NULL;
        for (size_t i = 0; i < d->n_regions; i++)
                free(d->regions[i].pages);
        free(d->regions);
        free(d);
        return NULL;
}

/* Add the pages of ranges[] inside [start, end) to the region's list.
 * Returns 1 when there are too many to list: read the region whole. */
static int add_ranges(const struct ranges *rs, struct tracker_dirty_region *out, size_t *n_alloc)
{
        uint64_t total = 0;

        for (size_t i = 0; i < rs->n; i++) {
                uint64_t s = MAX(rs->v[i].start, out->start), e = MIN(rs->v[i].end, out->end);

                if (s >= e)
                        continue;
                total += (e - s) / PAGE_SIZE_4K;
                if (total > FORCED_PAGES_MAX || total * 2 > (out->end - out->start) / PAGE_SIZE_4K)
                        return 1;
                for (uint64_t a = s; a < e; a += PAGE_SIZE_4K) {
                        int r = uffd_pages_push(&out->pages, &out->n_pages, n_alloc, a);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

/* Drop the ranges that the collected regions (sorted) cover entirely; the
 * others still have pages nobody has reported. */
static void keep_uncovered(struct ranges *rs, const struct ckpt_region *regions, size_t n)
{
        size_t k = 0;

        for (size_t i = 0; i < rs->n; i++) {
                uint64_t cur = rs->v[i].start;

                for (size_t j = 0; j < n && cur < rs->v[i].end; j++)
                        if (regions[j].start <= cur && cur < regions[j].end)
                                cur = regions[j].end;
                if (cur < rs->v[i].end)
                        rs->v[k++] = rs->v[i];
        }
        rs->n = k;
}

/* ---- pages kept writable -------------------------------------------------
 *
 * Under userfaultfd write-protection every page written after a collect
 * costs the process one write-protect fault, and the next collect protects
 * it again. A page written in two intervals in a row is likely written in
 * the next one too (the working set of a server), so the scans leave such
 * pages writable: over a "hot" run they only report. That can never hide a
 * write: a page without the write-protect bit always reads WRITTEN, so a
 * page kept writable is read at every checkpoint, written or not. Keeping
 * a page writable trades its fault for a read (a copy, and with a kept copy
 * a comparison instead of a hash). Every keep_writable collects all pages
 * are protected again, so pages no longer written stop being read.
 */

static int cmp_range(const void *a, const void *b)
{
        const struct range *x = a, *y = b;

        return x->start < y->start ? -1 : x->start > y->start;
}

/* The first run of rs (sorted, disjoint) that ends above addr. */
static size_t hot_lower_bound(const struct ranges *rs, uint64_t addr)
{
        size_t lo = 0, hi = rs->n;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;

                if (rs->v[mid].end <= addr)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo;
}

/* PAGEMAP_SCAN over [start, end): the written pages, appended in order.
 * Re-protects them (rearm), except over the runs of hot, which only report;
 * *ret_kept counts the pages those leave writable. */
static int scan_uffd(struct tproc *p, uint64_t start, uint64_t end, bool rearm,
                     const struct ranges *hot, uint64_t **pages, size_t *n_pages, size_t *n_alloc,
                     uint64_t *ret_kept)
{
        uint64_t cur = start;
        int r;

        if (rearm && hot)
                for (size_t i = hot_lower_bound(hot, start); i < hot->n && hot->v[i].start < end;
                     i++) {
                        uint64_t s = MAX(hot->v[i].start, start), e = MIN(hot->v[i].end, end);
                        size_t before;

                        if (cur < s) {
                                r = uffd_scan_written(p->pagemap_fd, cur, s, true, pages, n_pages,
                                                      n_alloc);
                                if (r < 0)
                                        return r;
                        }
                        before = *n_pages;
                        r = uffd_scan_written(p->pagemap_fd, s, e, false, pages, n_pages, n_alloc);
                        if (r < 0)
                                return r;
                        *ret_kept += *n_pages - before;
                        cur = e;
                }
        if (cur >= end)
                return 0;
        return uffd_scan_written(p->pagemap_fd, cur, end, rearm, pages, n_pages, n_alloc);
}

struct hot_next {
        struct ranges hot;
        uint64_t *written;
        size_t n_written, a_written;
        size_t prev_cursor; /* in p->written: regions come in ascending order */
        bool overflow;
};

static void hot_next_done(struct hot_next *h)
{
        tracker_ranges_clear(&h->hot);
        free(h->written);
        *h = (struct hot_next){};
}

/* After the scan of [start, end) reported pages[0..n): remember them, keep
 * the runs of p->hot inside (when still in use), and make hot the pages
 * written in this interval and the last while protected (in p->written,
 * outside p->hot: a page kept writable reports WRITTEN whatever happens). */
static int hot_note_region(const struct tproc *p, struct hot_next *h, uint64_t start, uint64_t end,
                           const uint64_t *pages, size_t n, bool keep_old)
{
        uint64_t run_start = 0, run_end = 0;
        size_t hi, wi = h->prev_cursor;
        int r;

        if (h->overflow)
                return 0;
        if (h->n_written + n > HOT_WRITTEN_MAX) {
                h->overflow = true;
                return 0;
        }
        if (n > 0 && h->n_written + n > h->a_written) {
                size_t k = MAX(h->n_written + n, h->a_written * 2);
                uint64_t *v = reallocarray(h->written, k, sizeof(*v));

                if (!v)
                        return -ENOMEM;
                h->written = v;
                h->a_written = k;
        }
        if (n > 0)
                memcpy(h->written + h->n_written, pages, n * sizeof(*pages));
        h->n_written += n;

        if (keep_old)
                for (size_t i = hot_lower_bound(&p->hot, start);
                     i < p->hot.n && p->hot.v[i].start < end; i++) {
                        r = tracker_ranges_add(&h->hot, MAX(p->hot.v[i].start, start),
                                               MIN(p->hot.v[i].end, end));
                        if (r < 0)
                                return r;
                }
        /* pages, p->hot and p->written all ascend: one pass with cursors. */
        hi = hot_lower_bound(&p->hot, start);
        for (size_t i = 0; i < n; i++) {
                uint64_t a = pages[i];

                while (hi < p->hot.n && p->hot.v[hi].end <= a)
                        hi++;
                while (wi < p->n_written && p->written[wi] < a)
                        wi++;
                if ((hi < p->hot.n && p->hot.v[hi].start <= a) || wi == p->n_written ||
                    p->written[wi] != a)
                        continue;
                if (run_end != 0 && a <= run_end + HOT_GAP_PAGES * PAGE_SIZE_4K) {
                        run_end = a + PAGE_SIZE_4K;
                        continue;
                }
                if (run_end != 0) {
                        r = tracker_ranges_add(&h->hot, run_start, run_end);
                        if (r < 0)
                                return r;
                }
                run_start = a;
                run_end = a + PAGE_SIZE_4K;
        }
        h->prev_cursor = wi;
        if (run_end != 0)
                return tracker_ranges_add(&h->hot, run_start, run_end);
        return 0;
}

/* The runs sorted, merged where they overlap or nearly touch. */
static void hot_coalesce(struct ranges *rs)
{
        size_t k = 0;

        if (rs->n == 0)
                return;
        qsort(rs->v, rs->n, sizeof(*rs->v), cmp_range);
        for (size_t i = 1; i < rs->n; i++) {
                if (rs->v[i].start <= rs->v[k].end + HOT_GAP_PAGES * PAGE_SIZE_4K)
                        rs->v[k].end = MAX(rs->v[k].end, rs->v[i].end);
                else
                        rs->v[++k] = rs->v[i];
        }
        rs->n = k + 1;
}

/* The state the next collect starts from. */
static void hot_commit(struct tproc *p, struct hot_next *h, bool epoch_end)
{
        tracker_ranges_clear(&p->hot);
        free(p->written);
        p->written = NULL;
        p->n_written = 0;
        if (!h->overflow) {
                hot_coalesce(&h->hot);
                if (h->hot.n <= HOT_RANGES_MAX)
                        p->hot = h->hot;
                else
                        tracker_ranges_clear(&h->hot);
                p->written = h->written;
                p->n_written = h->n_written;
        } else
                hot_next_done(h);
        *h = (struct hot_next){};
        p->hot_age = epoch_end ? 0 : p->hot_age + 1;
}

/* Forget the pages listed for a region: it is read whole. */
static void region_whole(struct tracker_dirty_region *out)
{
        free(out->pages);
        out->pages = NULL;
        out->n_pages = 0;
}

/* ---- the collect, step by step ---------------------------------------------
 *
 * 1. every event up to now, and the BPF bitmaps (collect_begin);
 * 2. per region, what its tracking says was written: PAGEMAP_SCAN (re-arming)
 *    or registration, or soft-dirty bits (region_written);
 * 3. per region, the union with the file's pages of a private file mapping
 *    (unless its file's stamp says it is unchanged: stamp_region), the BPF
 *    bitmap and the event ranges (region_union);
 * 4. the state the next collect starts from (collect_commit).
 * peek: report without consuming anything: nothing is re-protected,
 * registered, reset or forgotten, so the next collect still sees it all. */

struct collect {
        struct tracker *t;
        struct tproc *p;
        bool peek;
        bool full;           /* every region is read whole */
        bool gone;           /* the address space armed is gone (exec) */
        bool track_hot;      /* note the pages for the next collect's hot runs */
        bool use_hot;        /* leave this collect's hot runs writable */
        uint64_t *bpf_pages; /* sorted */
        size_t n_bpf, a_bpf;
        size_t bpf_cursor; /* in bpf_pages: regions come in ascending order */
        struct hot_next hn;
        uint64_t kept;
        struct file_stamp *stamps; /* this collect's, for the next one */
        size_t n_stamps, a_stamps;
        uint64_t files_unchanged; /* regions whose file's pages were not listed */
        uint64_t forks;           /* the process's, lost events counted as one */
        struct seg_look *looks;
        size_t n_looks, a_looks;
};

/* The verdict of the rule on a shared segment, taken once per collect. */
struct seg_look {
        uint32_t kind;
        uint64_t dev, ino;
        struct shmseg_verdict v;
};

static void collect_done(struct collect *c)
{
        free(c->bpf_pages);
        free(c->stamps);
        free(c->looks);
        hot_next_done(&c->hn);
}

static int dirty_new(size_t n, struct tracker_dirty **ret)
{
        struct tracker_dirty *d;

        d = calloc(1, sizeof(*d));
        if (!d)
                return -ENOMEM;
        d->regions = calloc(n ? n : 1, sizeof(*d->regions));
        if (!d->regions) {
                free(d);
                return -ENOMEM;
        }
        d->n_regions = n;
        *ret = d;
        return 0;
}

/* Step 1. Lock held. */
static int collect_begin(struct collect *c, pid_t pid)
{
        struct tracker *t = c->t;
        bool overflow = false;
        struct tproc *p;
        int r;

        tracker_drain(t);
        p = c->p = tracker_find(t, pid);
        if (!p)
                return -ENOENT;
        if (p->exited)
                return -ESRCH;
        r = tracker_bpf_take(t, pid, &c->bpf_pages, &c->n_bpf, &c->a_bpf, c->peek, &overflow);
        if (r < 0)
                return r;
        uffd_pages_sort_unique(c->bpf_pages, &c->n_bpf);
        c->full = p->need_full || overflow || p->rearm;
        /* Lost events may have been forks. */
        if (overflow && !c->peek)
                p->forks++;
        c->forks = p->forks + (overflow && c->peek);
        c->track_hot = !c->peek && t->keep_writable > 0 && !p->count_writes && !p->rearm;
        c->use_hot = c->track_hot && p->hot_age < t->keep_writable;
        if (overflow)
                log_debug("tracker: process %d: BPF maps overflowed, reading everything", (int)pid);
        return 0;
}

/* Step 2 under userfaultfd write-protection. */
static int region_written_uffd(struct collect *c, const struct ckpt_region *rg,
                               struct tracker_dirty_region *out, size_t *a_pages)
{
        struct tproc *p = c->p;
        int r;

        r = scan_uffd(p, rg->start, rg->end, !c->peek, c->use_hot ? &p->hot : NULL, &out->pages,
                      &out->n_pages, a_pages, &c->kept);
        if (r == -ESRCH) {
                /* The address space we armed is gone (exec). */
                p->rearm = true;
                c->gone = true;
                return 1;
        }
        if (r == -EPERM || r == -EINVAL) {
                /* Not registered (new, remapped, or made writable):
                 * arm it now and read it whole this time. */
                region_whole(out);
                if (c->peek || !tracker_region_wants_uffd(rg))
                        return 1;
                r = uffd_register_wp(p->uffd, p->pagemap_fd, rg->start, rg->end);
                if (r >= 0) {
                        out->track = CKPT_TRACK_UFFD_WP;
                        p->regions_armed++;
                }
                return 1;
        }
        if (r < 0)
                return r;
        out->track = CKPT_TRACK_UFFD_WP;
        if (c->track_hot) {
                r = hot_note_region(p, &c->hn, rg->start, rg->end, out->pages, out->n_pages,
                                    c->use_hot);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Step 2 by soft-dirty bits. */
static int region_written_soft_dirty(struct collect *c, const struct ckpt_region *rg,
                                     struct tracker_dirty_region *out, size_t *a_pages)
{
        int r;

        if (c->peek)
                return 1; /* no way to look without clearing */
        if (!(rg->prot & PROT_WRITE) && !c->full)
                return 1;
        r = uffd_soft_dirty_scan(c->p->pagemap_fd, rg->start, rg->end, &out->pages, &out->n_pages,
                                 a_pages);
        if (r < 0) {
                region_whole(out);
                return 1;
        }
        out->track = CKPT_TRACK_SOFT_DIRTY;
        return 0;
}

/* Step 2: 0 go on to step 3, 1 the region's answer is final, or -errno. */
static int region_written(struct collect *c, const struct ckpt_region *rg,
                          struct tracker_dirty_region *out, size_t *a_pages)
{
        if (c->p->mode == CKPT_TRACK_UFFD_WP && c->p->uffd >= 0)
                return region_written_uffd(c, rg, out, a_pages);
        if (c->p->mode == CKPT_TRACK_SOFT_DIRTY)
                return region_written_soft_dirty(c, rg, out, a_pages);
        return 1;
}

static bool is_private_file(const struct ckpt_region *rg)
{
        return (rg->flags & (CKPT_REGION_FILE | CKPT_REGION_PRIVATE)) ==
               (CKPT_REGION_FILE | CKPT_REGION_PRIVATE);
}

static const struct file_stamp *stamp_find(const struct tproc *p, uint64_t start)
{
        size_t lo = 0, hi = p->n_stamps;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;

                if (p->stamps[mid].start < start)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo < p->n_stamps && p->stamps[lo].start == start ? &p->stamps[lo] : NULL;
}

/* Before steps 2 and 3 of a writable private file mapping: the stamp of its
 * file, kept for the next collect when it can be trusted; *ret_unchanged
 * when it equals the last collect's, so that the pages still the file's are
 * as the last checkpoint read them (filestamp.h says why). Taken while the
 * process is frozen and before any page is copied; never when peeking. */
static int stamp_region(struct collect *c, const struct ckpt_region *rg, bool *ret_unchanged)
{
        const struct file_stamp *old;
        struct file_stamp st;
        int r;

        *ret_unchanged = false;
        if (c->peek || c->gone || !is_private_file(rg) || !tracker_region_wants_uffd(rg) ||
            (rg->end - rg->start) / PAGE_SIZE_4K < STAMP_MIN_PAGES || c->n_stamps >= STAMPS_MAX)
                return 0;
        r = file_stamp_take(c->p->pid, rg, &st);
        if (r <= 0) {
                if (r < 0 && r != -ESRCH)
                        log_debug("tracker: process %d: no stamp of %#llx-%#llx: %s",
                                  (int)c->p->pid, (unsigned long long)rg->start,
                                  (unsigned long long)rg->end, strerror(-r));
                return 0;
        }
        old = stamp_find(c->p, rg->start);
        *ret_unchanged = old && file_stamp_equal(old, &st);
        if (c->n_stamps == c->a_stamps) {
                size_t k = c->a_stamps ? c->a_stamps * 2 : 16;
                struct file_stamp *v = reallocarray(c->stamps, k, sizeof(*v));

                if (!v)
                        return -ENOMEM;
                c->stamps = v;
                c->a_stamps = k;
        }
        c->stamps[c->n_stamps++] = st;
        return 0;
}

/* Step 3: the region listed, or read whole when the list would be too long
 * or is not to be had. */
static int region_union(struct collect *c, const struct ckpt_region *rg, bool file_unchanged,
                        struct tracker_dirty_region *out, size_t *a_pages)
{
        struct tproc *p = c->p;
        int r;

        /* A page of a private file mapping that the process never
         * wrote is the file's page: it changes with the file, and no
         * write fault or soft-dirty bit says so. Those pages are read
         * at every checkpoint unless the file's stamp says it did not
         * change; the process's own copies only when written. */
        if (is_private_file(rg) && file_unchanged)
                c->files_unchanged++;
        else if (is_private_file(rg)) {
                r = uffd_file_pages(p->pagemap_fd, rg->start, rg->end, &out->pages, &out->n_pages,
                                    a_pages);
                if (r < 0) {
                        region_whole(out);
                        return 0;
                }
        }

        /* The BPF bitmap and the event ranges. */
        while (c->bpf_cursor < c->n_bpf && c->bpf_pages[c->bpf_cursor] < rg->start)
                c->bpf_cursor++;
        for (size_t k = c->bpf_cursor; k < c->n_bpf && c->bpf_pages[k] < rg->end; k++) {
                r = uffd_pages_push(&out->pages, &out->n_pages, a_pages, c->bpf_pages[k]);
                if (r < 0)
                        return r;
        }
        r = add_ranges(&p->forced, out, a_pages);
        if (r == 0)
                r = add_ranges(&p->lazy, out, a_pages);
        if (r < 0)
                return r;
        if (r > 0) {
                region_whole(out);
                return 0;
        }
        uffd_pages_sort_unique(out->pages, &out->n_pages);
        out->whole = false;
        return 0;
}

/* ---- shared segments (shmseg.h) ------------------------------------------ */

/* The process's memory of a segment, added when new (not when peeking:
 * NULL then). */
static struct shmseg *segment_find(struct collect *c, uint32_t kind, const struct ckpt_region *rg)
{
        struct tproc *p = c->p;

        for (size_t i = 0; i < p->n_segs; i++)
                if (p->segs[i].kind == kind && p->segs[i].dev == rg->dev &&
                    p->segs[i].ino == rg->inode)
                        return &p->segs[i];
        if (c->peek)
                return NULL;
        if (p->n_segs == p->a_segs) {
                size_t k = p->a_segs ? p->a_segs * 2 : 4;
                struct shmseg *v = reallocarray(p->segs, k, sizeof(*v));

                if (!v)
                        return NULL;
                p->segs = v;
                p->a_segs = k;
        }
        p->segs[p->n_segs] =
                (struct shmseg){.kind = kind, .dev = rg->dev, .ino = rg->inode, .forks = p->forks};
        return &p->segs[p->n_segs++];
}

/* Step 2a for a shared segment: the rule's verdict, taken at the segment's
 * first region in this collect, before any of its regions is re-armed. */
static int segment_verdict(struct collect *c, uint32_t kind, const struct ckpt_region *rg,
                           struct shmseg_verdict *ret)
{
        struct seg_look *l;
        struct shmseg *seg;
        int r;

        for (size_t i = 0; i < c->n_looks; i++)
                if (c->looks[i].kind == kind && c->looks[i].dev == rg->dev &&
                    c->looks[i].ino == rg->inode) {
                        *ret = c->looks[i].v;
                        return 0;
                }
        if (c->n_looks == c->a_looks) {
                size_t k = c->a_looks ? c->a_looks * 2 : 4;
                struct seg_look *v = reallocarray(c->looks, k, sizeof(*v));

                if (!v)
                        return -ENOMEM;
                c->looks = v;
                c->a_looks = k;
        }
        l = &c->looks[c->n_looks];
        *l = (struct seg_look){.kind = kind,
                               .dev = rg->dev,
                               .ino = rg->inode,
                               .v = {.reason = CKPT_REASON_SHARED_PROVING}};
        seg = segment_find(c, kind, rg);
        if (!seg && !c->peek)
                return -ENOMEM;
        if (seg) {
                seg->seen = c->p->collects + 1;
                seg->vma_start = rg->start;
                seg->vma_end = rg->end;
                r = shmseg_rule(&c->t->shm, seg, &c->p->pid, 1, c->forks, c->t->rb != NULL, c->peek,
                                &l->v);
                if (r < 0)
                        return r;
                if (seg->armed_fail)
                        l->v = (struct shmseg_verdict){.reason = CKPT_REASON_NO_SHMEM_WP};
        }
        c->n_looks++;
        *ret = l->v;
        return 0;
}

/* Step 2 for a shared segment's region: the written pages and the entries
 * found empty (written pages that left the page tables), every entry
 * protected again; registered (read whole) when it is not yet. 0 go on,
 * 1 the region is read whole, or -errno. */
static int region_written_shared(struct collect *c, const struct ckpt_region *rg, uint32_t kind,
                                 struct tracker_dirty_region *out, size_t *a_pages)
{
        struct tproc *p = c->p;
        int r;

        r = scan_uffd(p, rg->start, rg->end, !c->peek, c->use_hot ? &p->hot : NULL, &out->pages,
                      &out->n_pages, a_pages, &c->kept);
        if (r == 0 && c->track_hot)
                r = hot_note_region(p, &c->hn, rg->start, rg->end, out->pages, out->n_pages,
                                    c->use_hot);
        if (r == 0)
                r = uffd_scan_holes(p->uffd, p->pagemap_fd, rg->start, rg->end, !c->peek,
                                    &out->pages, &out->n_pages, a_pages);
        if (r == -ESRCH) {
                p->rearm = true;
                c->gone = true;
                return 1;
        }
        if (r == -EPERM || r == -EINVAL) {
                struct shmseg *seg = segment_find(c, kind, rg);

                region_whole(out);
                if (c->peek)
                        return 1;
                r = uffd_register_wp_all(p->uffd, rg->start, rg->end);
                if (r >= 0)
                        p->regions_armed++;
                else {
                        log_debug_errno(r,
                                        "tracker: process %d: uffd refuses shared %#llx-%#llx: %m",
                                        (int)p->pid, (unsigned long long)rg->start,
                                        (unsigned long long)rg->end);
                        out->reason = CKPT_REASON_NO_SHMEM_WP;
                        if (seg)
                                seg->armed_fail = true;
                }
                return 1;
        }
        return r < 0 ? r : 0;
}

/* Steps 2 and 3 for a shared region: exact where the rule proves it, else
 * whole (still re-armed, so that the next collect can be exact). */
static int collect_shared(struct collect *c, const struct ckpt_region *rg,
                          struct tracker_dirty_region *out)
{
        struct shmseg_verdict v;
        size_t a_pages = 0;
        uint32_t kind;
        int r;

        kind = shmseg_classify(&c->t->shm, rg, &out->reason);
        if (kind == SHMSEG_NONE)
                return 0;
        if (c->p->mode != CKPT_TRACK_UFFD_WP || c->p->uffd < 0) {
                out->reason = CKPT_REASON_NOT_ARMED;
                return 0;
        }
        if (!c->t->shm.wp) {
                out->reason = CKPT_REASON_NO_SHMEM_WP;
                return 0;
        }
        r = segment_verdict(c, kind, rg, &v);
        if (r < 0)
                return r;
        out->reason = v.reason;
        out->reason_arg = v.arg;
        r = region_written_shared(c, rg, kind, out, &a_pages);
        if (r != 0)
                return MIN(r, 0);
        if (!v.exact || c->full) {
                region_whole(out);
                return 0;
        }
        out->track = CKPT_TRACK_UFFD_WP;
        return region_union(c, rg, false, out, &a_pages);
}

/* Steps 2 and 3 for one region. */
static int collect_region(struct collect *c, const struct ckpt_region *rg,
                          struct tracker_dirty_region *out)
{
        bool file_unchanged;
        size_t a_pages = 0;
        int r;

        out->start = rg->start;
        out->end = rg->end;
        out->track = CKPT_TRACK_SCAN;
        out->whole = true;

        if (c->gone || (rg->flags & CKPT_REGION_SPECIAL))
                return 0;
        if (rg->flags & CKPT_REGION_SHARED)
                return collect_shared(c, rg, out);
        r = stamp_region(c, rg, &file_unchanged);
        if (r < 0)
                return r;
        r = region_written(c, rg, out, &a_pages);
        if (r != 0)
                return MIN(r, 0);
        if (c->full) {
                region_whole(out);
                return 0;
        }
        return region_union(c, rg, file_unchanged, out, &a_pages);
}

/* Step 4. */
static void collect_commit(struct collect *c, const struct ckpt_region *regions, size_t n,
                           const struct tracker_dirty *d)
{
        struct tproc *p = c->p;

        if (c->track_hot && !c->gone)
                hot_commit(p, &c->hn, !c->use_hot);
        else {
                tracker_ranges_clear(&p->hot);
                free(p->written);
                p->written = NULL;
                p->n_written = 0;
                p->hot_age = 0;
        }
        p->kept_writable = c->gone ? 0 : c->kept;
        free(p->stamps);
        p->stamps = TAKE_PTR(c->stamps);
        p->n_stamps = c->n_stamps;
        c->n_stamps = c->a_stamps = 0;
        log_debug("tracker: process %d: %llu pages dirty, %llu of them kept writable; "
                  "%zu hot runs next; %llu file mappings unchanged, %zu stamps next",
                  (int)p->pid, (unsigned long long)d->n_dirty, (unsigned long long)c->kept,
                  p->hot.n, (unsigned long long)c->files_unchanged, p->n_stamps);
        p->need_full = p->rearm; /* after an exec, until re-armed */
        /* Segments this collect did not meet are forgotten: unmapped, or
         * outside its ranges (then proven again when met again). */
        for (size_t i = 0; i < p->n_segs;)
                if (p->segs[i].seen != p->collects + 1)
                        p->segs[i] = p->segs[--p->n_segs];
                else
                        i++;
        keep_uncovered(&p->forced, regions, n);
        p->collects++;
        p->last_dirty = d->n_dirty;
}

static int collect(struct tracker *t, pid_t pid, const struct ckpt_region *regions, size_t n,
                   bool peek, struct tracker_dirty **ret)
{
        _cleanup_(collect_done) struct collect c = {.t = t, .peek = peek};
        struct tracker_dirty *d = NULL;
        int r;

        r = dirty_new(n, &d);
        if (r < 0)
                return r;

        pthread_mutex_lock(&t->lock);
        r = collect_begin(&c, pid);
        for (size_t i = 0; r >= 0 && i < n; i++)
                r = collect_region(&c, &regions[i], &d->regions[i]);
        if (r >= 0) {
                if (c.p->mode == CKPT_TRACK_SOFT_DIRTY && !c.gone && !peek)
                        uffd_soft_dirty_clear(pid);
                for (size_t i = 0; i < n; i++)
                        d->n_dirty +=
                                d->regions[i].whole
                                        ? (d->regions[i].end - d->regions[i].start) / PAGE_SIZE_4K
                                        : d->regions[i].n_pages;
                d->rearm = c.p->rearm;
                if (!peek)
                        collect_commit(&c, regions, n, d);
        }
        tracker_dispatch_and_unlock(t);
        if (r < 0) {
                if (c.p && !peek)
                        tracker_invalidate(t, pid);
                tracker_dirty_free(d);
                return r;
        }
        *ret = d;
        return 0;
}

int tracker_collect(struct tracker *t, pid_t pid, const struct ckpt_region *regions, size_t n,
                    struct tracker_dirty **ret)
{
        return collect(t, pid, regions, n, false, ret);
}

int tracker_peek(struct tracker *t, pid_t pid, const struct ckpt_region *regions, size_t n,
                 struct tracker_dirty **ret)
{
        return collect(t, pid, regions, n, true, ret);
}
