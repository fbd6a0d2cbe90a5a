/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * diff.c: see diff.h. Owns the comparison of two views; reads nothing but the
 * two manifests it is given (no store, no files).
 *
 * One sweep in address order over the "elementary intervals" that the region
 * boundaries of both views cut the address space into. Inside one interval
 * the region of a and the region of b are fixed, so every page that neither
 * view lists compares the same way (zero against zero, file page against the
 * same file page, ...): such pages are counted by subtraction and emitted as
 * runs between the listed pages, which are compared one by one.
 */
#include "diff.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"

static const char *const region_state_names[_DIFF_REGION_STATE_MAX] = {
        [DIFF_REGION_SAME] = "same",
        [DIFF_REGION_MODIFIED] = "modified",
        [DIFF_REGION_NEW] = "new",
        [DIFF_REGION_REMOVED] = "removed",
};

const char *diff_region_state_to_string(enum diff_region_state s)
{
        if ((unsigned)s >= _DIFF_REGION_STATE_MAX)
                return NULL;
        return region_state_names[s];
}

const char *diff_kind_to_string(enum diff_kind k)
{
        switch (k) {
        case DIFF_CHANGED:
                return "changed";
        case DIFF_ADDED:
                return "added";
        case DIFF_REMOVED:
                return "removed";
        }
        return NULL;
}

struct view_diff *view_diff_free(struct view_diff *d)
{
        if (!d)
                return NULL;
        for (size_t i = 0; i < d->n_regions; i++)
                free(d->regions[i].path);
        free(d->regions);
        free(d->runs);
        free(d);
        return NULL;
}

/* What a page is, in one view (see diff.h). */
enum page_state {
        PS_NONE, /* absent or zero: no content */
        PS_DATA, /* key */
        PS_FILE, /* region's file at a file offset */
};

struct page_value {
        enum page_state state;
        const uint8_t *key;             /* PS_DATA */
        const struct ckpt_region *file; /* PS_FILE */
        uint64_t file_off;              /* PS_FILE */
};

static bool same_file(const struct ckpt_region *x, const struct ckpt_region *y)
{
        if (x->dev != y->dev || x->inode != y->inode)
                return false;
        if (!x->path || !y->path)
                return x->path == y->path;
        return strcmp(x->path, y->path) == 0;
}

/* 0: no difference, else enum diff_kind. */
static int compare(const struct page_value *a, const struct page_value *b)
{
        if (a->state == PS_NONE)
                return b->state == PS_NONE ? 0 : DIFF_ADDED;
        if (b->state == PS_NONE)
                return DIFF_REMOVED;
        if (a->state != b->state)
                return DIFF_CHANGED;
        if (a->state == PS_DATA)
                return memcmp(a->key, b->key, 32) == 0 ? 0 : DIFF_CHANGED;
        return same_file(a->file, b->file) && a->file_off == b->file_off ? 0 : DIFF_CHANGED;
}

/* The value of an unlisted page at addr inside region rg (NULL: none). */
static struct page_value default_value(const struct ckpt_region *rg, uint64_t addr)
{
        if (!rg || !(rg->flags & CKPT_REGION_REF))
                return (struct page_value){.state = PS_NONE};
        return (struct page_value){
                .state = PS_FILE, .file = rg, .file_off = rg->offset + (addr - rg->start)};
}

static struct page_value listed_value(const struct ckpt_region *rg, const struct ckpt_page *p)
{
        if (p->kind == CKPT_PAGE_DATA)
                return (struct page_value){.state = PS_DATA, .key = p->key};
        if (p->kind == CKPT_PAGE_ZERO)
                return (struct page_value){.state = PS_NONE};
        /* Any other kind does not occur in a view; it reads as the default. */
        return default_value(rg, p->addr);
}

struct diff_builder {
        struct view_diff *d;
        size_t alloc_regions, alloc_runs;
};

static int add_entry(struct diff_builder *b, const struct ckpt_region *rg, uint64_t start,
                     uint64_t end, enum diff_region_state state)
{
        struct view_diff *d = b->d;
        struct diff_region *e;

        if (d->n_regions == b->alloc_regions) {
                size_t n = MAX(16u, b->alloc_regions * 2);
                struct diff_region *p = realloc(d->regions, n * sizeof(*p));
                if (!p)
                        return -ENOMEM;
                d->regions = p;
                b->alloc_regions = n;
        }
        e = &d->regions[d->n_regions];
        *e = (struct diff_region){.start = start,
                                  .end = end,
                                  .offset = rg->offset + (start - rg->start),
                                  .prot = rg->prot,
                                  .flags = rg->flags,
                                  .state = state};
        if (rg->path) {
                e->path = strdup(rg->path);
                if (!e->path)
                        return -ENOMEM;
        }
        d->n_regions++;
        return 0;
}

/* Pages [start, end) differ as `kind`: count them against the current (last)
 * entry and extend or add a run. */
static int emit(struct diff_builder *b, uint64_t start, uint64_t end, int kind)
{
        struct view_diff *d = b->d;
        struct diff_region *e = &d->regions[d->n_regions - 1];
        uint64_t n = (end - start) / PAGE_SIZE_4K;

        if (kind == 0 || start >= end)
                return 0;
        switch (kind) {
        case DIFF_CHANGED:
                e->changed += n;
                d->changed += n;
                break;
        case DIFF_ADDED:
                e->added += n;
                d->added += n;
                break;
        case DIFF_REMOVED:
                e->removed += n;
                d->removed += n;
                break;
        }
        if (d->n_runs > 0 && d->runs[d->n_runs - 1].end == start &&
            d->runs[d->n_runs - 1].kind == (uint32_t)kind) {
                d->runs[d->n_runs - 1].end = end;
                return 0;
        }
        if (d->n_runs == b->alloc_runs) {
                size_t na = MAX(16u, b->alloc_runs * 2);
                struct diff_run *p = realloc(d->runs, na * sizeof(*p));
                if (!p)
                        return -ENOMEM;
                d->runs = p;
                b->alloc_runs = na;
        }
        d->runs[d->n_runs++] = (struct diff_run){start, end, (uint32_t)kind};
        return 0;
}

static bool same_region(const struct ckpt_region *x, const struct ckpt_region *y)
{
        if (x->start != y->start || x->end != y->end || x->prot != y->prot ||
            x->flags != y->flags || x->offset != y->offset)
                return false;
        if (!x->path || !y->path)
                return x->path == y->path;
        return strcmp(x->path, y->path) == 0;
}

/* How region rg of b relates to the regions of a. */
static enum diff_region_state region_state(const struct ckpt_manifest *a,
                                           const struct ckpt_region *rg)
{
        size_t lo = 0, hi = a->n_regions;

        /* The first region of a that ends after rg starts. */
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (a->regions[mid].end <= rg->start)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        if (lo == a->n_regions || a->regions[lo].start >= rg->end)
                return DIFF_REGION_NEW;
        return same_region(&a->regions[lo], rg) ? DIFF_REGION_SAME : DIFF_REGION_MODIFIED;
}

static int cmp_u64(const void *x, const void *y)
{
        uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
        return a < b ? -1 : a > b;
}

/* Step 1: every region boundary of both views, sorted, unique. */
static int collect_cuts(const struct ckpt_manifest *a, const struct ckpt_manifest *b,
                        uint64_t **ret, size_t *ret_n)
{
        uint64_t *cuts;
        size_t n_cuts = 0, u = 0;

        cuts = malloc(MAX(2 * (a->n_regions + b->n_regions), 1u) * sizeof(*cuts));
        if (!cuts)
                return -ENOMEM;
        for (size_t i = 0; i < a->n_regions; i++) {
                cuts[n_cuts++] = a->regions[i].start;
                cuts[n_cuts++] = a->regions[i].end;
        }
        for (size_t i = 0; i < b->n_regions; i++) {
                cuts[n_cuts++] = b->regions[i].start;
                cuts[n_cuts++] = b->regions[i].end;
        }
        qsort(cuts, n_cuts, sizeof(*cuts), cmp_u64);
        for (size_t i = 0; i < n_cuts; i++)
                if (u == 0 || cuts[u - 1] != cuts[i])
                        cuts[u++] = cuts[i];
        *ret = cuts;
        *ret_n = u;
        return 0;
}

/* Where the sweep of step 2 stands in both views. */
struct diff_sweep {
        size_t ia, ib, pa, pb;                /* next region and listed page of a, of b */
        const struct ckpt_region *removed_of; /* a's region of the last removed entry */
        const struct ckpt_region *entry_of;   /* b's region of the last entry */
};

/* The entry interval [x, y) counts against: b's region rb's own, or, where
 * only a has a region (ra), a removed one, grown while it goes on. */
static int sweep_entry(struct diff_builder *bld, struct diff_sweep *sw,
                       const struct ckpt_manifest *a, const struct ckpt_region *ra,
                       const struct ckpt_region *rb, uint64_t x, uint64_t y)
{
        struct view_diff *d = bld->d;
        int r;

        if (rb) {
                if (sw->entry_of != rb) {
                        r = add_entry(bld, rb, rb->start, rb->end, region_state(a, rb));
                        if (r < 0)
                                return r;
                        sw->entry_of = rb;
                }
                sw->removed_of = NULL;
        } else {
                struct diff_region *last = d->n_regions > 0 ? &d->regions[d->n_regions - 1] : NULL;
                if (sw->removed_of == ra && last && last->end == x) {
                        last->end = y;
                } else {
                        r = add_entry(bld, ra, x, y, DIFF_REGION_REMOVED);
                        if (r < 0)
                                return r;
                        sw->removed_of = ra;
                }
                sw->entry_of = NULL;
        }
        return 0;
}

/* The pages of interval [x, y): each listed page (of either side) compared
 * on its own, the stretches between them alike. */
static int sweep_pages(struct diff_builder *bld, struct diff_sweep *sw,
                       const struct ckpt_manifest *a, const struct ckpt_manifest *b,
                       const struct ckpt_region *ra, const struct ckpt_region *rb, uint64_t x,
                       uint64_t y)
{
        struct page_value va, vb;
        uint64_t cur;
        int gap, r;

        /* Unlisted pages compare alike throughout the interval: file
         * offsets of both sides advance together. */
        va = default_value(ra, x);
        vb = default_value(rb, x);
        gap = compare(&va, &vb);

        cur = x;
        for (;;) {
                const struct ckpt_page *la = NULL, *lb = NULL;
                uint64_t p;

                if (ra && sw->pa < a->n_pages && a->pages[sw->pa].addr < y)
                        la = &a->pages[sw->pa];
                if (rb && sw->pb < b->n_pages && b->pages[sw->pb].addr < y)
                        lb = &b->pages[sw->pb];
                if (!la && !lb)
                        break;
                p = la && lb ? MIN(la->addr, lb->addr) : la ? la->addr : lb->addr;
                if (la && la->addr != p)
                        la = NULL;
                if (lb && lb->addr != p)
                        lb = NULL;

                r = emit(bld, cur, p, gap);
                if (r < 0)
                        return r;
                va = la ? listed_value(ra, la) : default_value(ra, p);
                vb = lb ? listed_value(rb, lb) : default_value(rb, p);
                r = emit(bld, p, p + PAGE_SIZE_4K, compare(&va, &vb));
                if (r < 0)
                        return r;
                cur = p + PAGE_SIZE_4K;
                if (la)
                        sw->pa++;
                if (lb)
                        sw->pb++;
        }
        return emit(bld, cur, y, gap);
}

/* Step 2 for one elementary interval [x, y): the regions of a and b over it,
 * the entry it counts against, its pages. */
static int sweep_interval(struct diff_builder *bld, struct diff_sweep *sw,
                          const struct ckpt_manifest *a, const struct ckpt_manifest *b, uint64_t x,
                          uint64_t y)
{
        const struct ckpt_region *ra = NULL, *rb = NULL;
        int r;

        while (sw->ia < a->n_regions && a->regions[sw->ia].end <= x)
                sw->ia++;
        while (sw->ib < b->n_regions && b->regions[sw->ib].end <= x)
                sw->ib++;
        if (sw->ia < a->n_regions && a->regions[sw->ia].start <= x)
                ra = &a->regions[sw->ia];
        if (sw->ib < b->n_regions && b->regions[sw->ib].start <= x)
                rb = &b->regions[sw->ib];
        /* Listed pages before x are outside every region (or done). */
        while (sw->pa < a->n_pages && a->pages[sw->pa].addr < x)
                sw->pa++;
        while (sw->pb < b->n_pages && b->pages[sw->pb].addr < x)
                sw->pb++;
        if (!ra && !rb)
                return 0;

        r = sweep_entry(bld, sw, a, ra, rb, x, y);
        if (r < 0)
                return r;
        return sweep_pages(bld, sw, a, b, ra, rb, x, y);
}

int diff_views(const struct ckpt_manifest *a, const struct ckpt_manifest *b, struct view_diff **ret)
{
        _cleanup_(view_diff_freep) struct view_diff *d = NULL;
        _cleanup_free_ uint64_t *cuts = NULL;
        struct diff_builder bld;
        struct diff_sweep sw = {};
        size_t n_cuts = 0;
        int r;

        d = calloc(1, sizeof(*d));
        if (!d)
                return -ENOMEM;
        d->from = a->id;
        d->to = b->id;
        bld = (struct diff_builder){.d = d};

        r = collect_cuts(a, b, &cuts, &n_cuts);
        if (r < 0)
                return r;

        /* Step 2: sweep the elementary intervals [cuts[i], cuts[i+1]). */
        for (size_t i = 0; i + 1 < n_cuts; i++) {
                r = sweep_interval(&bld, &sw, a, b, cuts[i], cuts[i + 1]);
                if (r < 0)
                        return r;
        }

        *ret = TAKE_PTR(d);
        return 0;
}
