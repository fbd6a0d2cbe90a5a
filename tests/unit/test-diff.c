/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-diff: diff_views() (daemon/store/diff.c) against a page-by-page comparison
 * written from the definition in diff.h, over hand-made cases and thousands
 * of random pairs of views (regions stored or by reference, different files
 * and offsets, DATA and ZERO pages, pages outside every region), plus a view
 * with huge regions that must not be walked page by page.
 */
#include <stdint.h>
#include <sys/mman.h>
#include <time.h>

#include "diff.h"
#include "macro.h"
#include "manifest.h"
#include "prng.h"
#include "tap.h"

#define P 4096ull
#define SPACE 48 /* pages of address space in the random cases */

static struct prng rng;

/* ---- the reference: one page at a time, straight from diff.h ---- */

enum { ST_NONE, ST_DATA, ST_FILE };

struct value {
        int state;
        uint8_t key[32];
        const struct ckpt_region *file;
        uint64_t file_off;
};

static struct value page_value(const struct ckpt_manifest *m, uint64_t addr)
{
        const struct ckpt_region *rg = manifest_find_region(m, addr);
        const struct ckpt_page *p;
        struct value v = {.state = ST_NONE};

        if (!rg)
                return v;
        p = manifest_find_page(m, addr);
        if (p && p->kind == CKPT_PAGE_DATA) {
                v.state = ST_DATA;
                memcpy(v.key, p->key, 32);
                return v;
        }
        if (p && p->kind == CKPT_PAGE_ZERO)
                return v;
        if (rg->flags & CKPT_REGION_REF) {
                v.state = ST_FILE;
                v.file = rg;
                v.file_off = rg->offset + addr - rg->start;
        }
        return v;
}

static int ref_compare(const struct value *a, const struct value *b)
{
        if (a->state == ST_NONE)
                return b->state == ST_NONE ? 0 : DIFF_ADDED;
        if (b->state == ST_NONE)
                return DIFF_REMOVED;
        if (a->state != b->state)
                return DIFF_CHANGED;
        if (a->state == ST_DATA)
                return memcmp(a->key, b->key, 32) ? DIFF_CHANGED : 0;
        if (a->file->dev != b->file->dev || a->file->inode != b->file->inode ||
            strcmp(a->file->path, b->file->path) != 0 || a->file_off != b->file_off)
                return DIFF_CHANGED;
        return 0;
}

static bool same_region(const struct ckpt_region *x, const struct ckpt_region *y)
{
        return x->start == y->start && x->end == y->end && x->prot == y->prot &&
               x->flags == y->flags && x->offset == y->offset &&
               ((!x->path && !y->path) || (x->path && y->path && !strcmp(x->path, y->path)));
}

/* The kind of difference diff d reports for addr (from its runs), 0 if none. */
static int run_kind(const struct view_diff *d, uint64_t addr)
{
        for (size_t i = 0; i < d->n_runs; i++)
                if (addr >= d->runs[i].start && addr < d->runs[i].end)
                        return (int)d->runs[i].kind;
        return 0;
}

static const struct diff_region *entry_at(const struct view_diff *d, uint64_t addr)
{
        for (size_t i = 0; i < d->n_regions; i++)
                if (addr >= d->regions[i].start && addr < d->regions[i].end)
                        return &d->regions[i];
        return NULL;
}

/* Everything diff_views() returned, checked against the reference over
 * [0, limit). */
static bool check_diff(const struct ckpt_manifest *a, const struct ckpt_manifest *b,
                       const struct view_diff *d, uint64_t limit)
{
        uint64_t tot[4] = {}, per[4096][4];
        size_t n_b = 0;

        ASSERT(d->n_regions <= ELEMENTSOF(per));
        memset(per, 0, sizeof(per[0]) * d->n_regions);

        /* Entries sorted, not overlapping, page aligned; runs sorted, not
         * overlapping, maximal (no two adjacent runs of the same kind). */
        for (size_t i = 0; i < d->n_regions; i++) {
                ASSERT(d->regions[i].start < d->regions[i].end);
                ASSERT(i == 0 || d->regions[i - 1].end <= d->regions[i].start);
        }
        for (size_t i = 0; i < d->n_runs; i++) {
                ASSERT(d->runs[i].start < d->runs[i].end);
                ASSERT(d->runs[i].start % P == 0 && d->runs[i].end % P == 0);
                ASSERT(d->runs[i].kind >= DIFF_CHANGED && d->runs[i].kind <= DIFF_REMOVED);
                if (i > 0) {
                        ASSERT(d->runs[i - 1].end <= d->runs[i].start);
                        ASSERT(d->runs[i - 1].end < d->runs[i].start ||
                               d->runs[i - 1].kind != d->runs[i].kind);
                }
        }

        /* Every region of b is an entry, with its state. */
        for (size_t i = 0; i < b->n_regions; i++) {
                const struct ckpt_region *rg = &b->regions[i];
                const struct diff_region *e = entry_at(d, rg->start);
                int want = DIFF_REGION_NEW;

                ASSERT(e);
                ASSERT_EQ(e->start, rg->start);
                ASSERT_EQ(e->end, rg->end);
                ASSERT(e->state != DIFF_REGION_REMOVED);
                for (size_t k = 0; k < a->n_regions; k++) {
                        const struct ckpt_region *ar = &a->regions[k];
                        if (ar->start < rg->end && ar->end > rg->start) {
                                want = same_region(ar, rg) ? DIFF_REGION_SAME
                                                           : DIFF_REGION_MODIFIED;
                                break;
                        }
                }
                ASSERT_EQ(e->state, want);
                ASSERT((!e->path && !rg->path) ||
                       (e->path && rg->path && !strcmp(e->path, rg->path)));
                n_b++;
        }

        for (uint64_t addr = 0; addr < limit; addr += P) {
                const struct ckpt_region *ra = manifest_find_region(a, addr);
                const struct ckpt_region *rb = manifest_find_region(b, addr);
                const struct diff_region *e = entry_at(d, addr);
                struct value va = page_value(a, addr), vb = page_value(b, addr);
                int want = ref_compare(&va, &vb);

                if (run_kind(d, addr) != want) {
                        fprintf(stderr, "# page 0x%llx: diff says %d, reference %d\n",
                                (unsigned long long)addr, run_kind(d, addr), want);
                        return false;
                }
                tot[want]++;
                /* Entries cover exactly the pages of either view. */
                ASSERT((e != NULL) == (ra || rb));
                if (!e)
                        continue;
                per[e - d->regions][want]++;
                if (!rb) {
                        /* A removed entry is a piece of a's region, maximal. */
                        ASSERT_EQ(e->state, DIFF_REGION_REMOVED);
                        ASSERT(e->start >= ra->start && e->end <= ra->end);
                        ASSERT_EQ(e->prot, ra->prot);
                        ASSERT_EQ(e->offset, ra->offset + (e->start - ra->start));
                        ASSERT(e->start == ra->start || manifest_find_region(b, e->start - P));
                        ASSERT(e->end == ra->end || manifest_find_region(b, e->end));
                }
        }
        ASSERT_EQ(d->changed, tot[DIFF_CHANGED]);
        ASSERT_EQ(d->added, tot[DIFF_ADDED]);
        ASSERT_EQ(d->removed, tot[DIFF_REMOVED]);
        for (size_t i = 0; i < d->n_regions; i++) {
                ASSERT_EQ(d->regions[i].changed, per[i][DIFF_CHANGED]);
                ASSERT_EQ(d->regions[i].added, per[i][DIFF_ADDED]);
                ASSERT_EQ(d->regions[i].removed, per[i][DIFF_REMOVED]);
        }
        ASSERT_EQ(d->from, a->id);
        ASSERT_EQ(d->to, b->id);
        (void)n_b;
        return true;
}

/* ---- building views ---- */

static const char *const paths[] = {"/usr/lib/libA.so", "/usr/lib/libB.so", "/bin/prog"};

static void key_of(uint8_t key[32], unsigned v)
{
        memset(key, 0, 32);
        key[0] = (uint8_t)v;
        key[31] = 0x5a;
}

static bool add_region(struct ckpt_manifest *m, uint64_t start, uint64_t end, uint32_t flags,
                       const char *path, uint64_t offset, uint32_t prot)
{
        struct ckpt_region rg = {.start = start,
                                 .end = end,
                                 .offset = offset,
                                 .prot = prot,
                                 .flags = flags,
                                 .path = (char *)path};
        if (flags & CKPT_REGION_REF) {
                rg.track = CKPT_TRACK_REF;
                rg.dev = 8;
                for (size_t i = 0; i < ELEMENTSOF(paths); i++)
                        if (strcmp(paths[i], path) == 0)
                                rg.inode = 100 + i;
        }
        ASSERT_OK(manifest_add_region(m, &rg));
        return true;
}

static bool add_data(struct ckpt_manifest *m, uint64_t addr, unsigned v)
{
        uint8_t key[32];

        key_of(key, v);
        ASSERT_OK(manifest_add_page(m, addr, CKPT_PAGE_DATA, key));
        return true;
}

/* A random view: regions cut from [0, SPACE) pages at random, a third of the
 * file ones by reference, pages listed at random (some outside regions). */
static bool random_view(struct ckpt_manifest *m, uint64_t id)
{
        uint64_t at = prng_below(&rng, 3);

        m->id = id;
        m->kind = CKPT_MANIFEST_FULL;
        while (at < SPACE) {
                uint64_t len = 1 + prng_below(&rng, 8);
                unsigned kind = prng_below(&rng, 4);

                if (at + len > SPACE)
                        len = SPACE - at;
                if (kind == 0) {
                        if (!add_region(m, at * P, (at + len) * P,
                                        CKPT_REGION_PRIVATE | CKPT_REGION_ANON, NULL, 0,
                                        PROT_READ | PROT_WRITE))
                                return false;
                } else if (kind == 1) {
                        if (!add_region(m, at * P, (at + len) * P,
                                        CKPT_REGION_PRIVATE | CKPT_REGION_FILE,
                                        paths[prng_below(&rng, 3)], prng_below(&rng, 3) * P,
                                        PROT_READ | PROT_WRITE))
                                return false;
                } else if (kind == 2) {
                        /* Offsets chosen so that two views often agree. */
                        if (!add_region(m, at * P, (at + len) * P,
                                        CKPT_REGION_PRIVATE | CKPT_REGION_FILE | CKPT_REGION_REF,
                                        paths[prng_below(&rng, 2)],
                                        prng_below(&rng, 2) ? at * P : prng_below(&rng, 4) * P,
                                        PROT_READ | (prng_below(&rng, 2) ? PROT_EXEC : 0)))
                                return false;
                }
                /* kind 3: a hole */
                at += len + prng_below(&rng, 2);
        }
        for (uint64_t pg = 0; pg < SPACE + 2; pg++) {
                unsigned what = prng_below(&rng, 6);
                if (what == 0 || what == 1) {
                        if (!add_data(m, pg * P, prng_below(&rng, 3)))
                                return false;
                } else if (what == 2) {
                        ASSERT_OK(manifest_add_page(m, pg * P, CKPT_PAGE_ZERO, NULL));
                }
        }
        return true;
}

static struct ckpt_manifest *new_view(uint64_t id)
{
        struct ckpt_manifest *m = calloc(1, sizeof(*m));

        if (m) {
                m->id = id;
                m->kind = CKPT_MANIFEST_FULL;
        }
        return m;
}

/* ---- tests ---- */

static bool test_identical(void)
{
        _cleanup_(manifest_freep) struct ckpt_manifest *a = new_view(1);
        _cleanup_(view_diff_freep) struct view_diff *d = NULL;

        ASSERT(a);
        if (!add_region(a, 0x1000, 0x5000, CKPT_REGION_PRIVATE | CKPT_REGION_ANON, NULL, 0, 3) ||
            !add_region(a, 0x8000, 0xa000, CKPT_REGION_PRIVATE | CKPT_REGION_FILE | CKPT_REGION_REF,
                        paths[0], 0, 5) ||
            !add_data(a, 0x2000, 1) || !add_data(a, 0x9000, 2))
                return false;
        ASSERT_OK(diff_views(a, a, &d));
        ASSERT_EQ(d->changed + d->added + d->removed, 0);
        ASSERT_EQ(d->n_runs, 0);
        ASSERT_EQ(d->n_regions, 2);
        ASSERT_EQ(d->regions[0].state, DIFF_REGION_SAME);
        ASSERT_EQ(d->regions[1].state, DIFF_REGION_SAME);
        ASSERT_STREQ(d->regions[1].path, paths[0]);
        return check_diff(a, a, d, 0x10000);
}

/* The cases by name: a page changed, added, removed (ZERO and by unmapping),
 * a reference page copied on write, a region grown, a file mapped at another
 * offset. */
static bool test_cases(void)
{
        _cleanup_(manifest_freep) struct ckpt_manifest *a = new_view(3), *b = new_view(4);
        _cleanup_(view_diff_freep) struct view_diff *d = NULL;
        const uint32_t anon = CKPT_REGION_PRIVATE | CKPT_REGION_ANON;
        const uint32_t ref = CKPT_REGION_PRIVATE | CKPT_REGION_FILE | CKPT_REGION_REF;

        ASSERT(a && b);
        /* a: anon [0x10000, 0x18000) with data at +0 (k1), +1 (k1), +2 (k2);
         *    ref  [0x20000, 0x24000) libA at 0;
         *    anon [0x30000, 0x34000) with data at +0;
         *    ref  [0x40000, 0x42000) libB at 0. */
        if (!add_region(a, 0x10000, 0x18000, anon, NULL, 0, 3) ||
            !add_region(a, 0x20000, 0x24000, ref, paths[0], 0, 5) ||
            !add_region(a, 0x30000, 0x34000, anon, NULL, 0, 3) ||
            !add_region(a, 0x40000, 0x42000, ref, paths[1], 0, 1) || !add_data(a, 0x10000, 1) ||
            !add_data(a, 0x11000, 1) || !add_data(a, 0x12000, 2) || !add_data(a, 0x30000, 1))
                return false;
        /* b: anon grown to 0x1a000: +0 changed (k2), +1 same, +2 ZERO (removed),
         *    +3 new data (added), +9 in the grown part (added);
         *    ref libA with page +1 copied on write (changed);
         *    [0x30000...) unmapped (its data page removed);
         *    ref libB now at file offset 0x1000 (both pages changed). */
        if (!add_region(b, 0x10000, 0x1a000, anon, NULL, 0, 3) ||
            !add_region(b, 0x20000, 0x24000, ref, paths[0], 0, 5) ||
            !add_region(b, 0x40000, 0x42000, ref, paths[1], 0x1000, 1) ||
            !add_data(b, 0x10000, 2) || !add_data(b, 0x11000, 1) || !add_data(b, 0x13000, 1) ||
            !add_data(b, 0x19000, 3) || !add_data(b, 0x21000, 1))
                return false;
        ASSERT_OK(manifest_add_page(b, 0x12000, CKPT_PAGE_ZERO, NULL));

        ASSERT_OK(diff_views(a, b, &d));
        ASSERT_EQ(d->n_regions, 4);
        ASSERT_EQ(d->regions[0].state, DIFF_REGION_MODIFIED);
        ASSERT_EQ(d->regions[0].changed, 1);
        ASSERT_EQ(d->regions[0].added, 2);
        ASSERT_EQ(d->regions[0].removed, 1);
        ASSERT_EQ(d->regions[1].state, DIFF_REGION_SAME);
        ASSERT_EQ(d->regions[1].changed, 1);
        ASSERT_EQ(d->regions[2].state, DIFF_REGION_REMOVED);
        ASSERT_EQ(d->regions[2].start, 0x30000);
        ASSERT_EQ(d->regions[2].end, 0x34000);
        ASSERT_EQ(d->regions[2].removed, 1);
        ASSERT_EQ(d->regions[3].state, DIFF_REGION_MODIFIED);
        ASSERT_EQ(d->regions[3].changed, 2);
        ASSERT_EQ(d->changed, 4);
        ASSERT_EQ(d->added, 2);
        ASSERT_EQ(d->removed, 2);
        /* runs: 0x10000 changed, 0x12000 removed, 0x13000 added, 0x19000 added,
         * 0x21000 changed, 0x30000 removed, [0x40000, 0x42000) changed */
        ASSERT_EQ(d->n_runs, 7);
        ASSERT_EQ(d->runs[0].start, 0x10000);
        ASSERT_EQ(d->runs[0].kind, DIFF_CHANGED);
        ASSERT_EQ(d->runs[6].start, 0x40000);
        ASSERT_EQ(d->runs[6].end, 0x42000);
        ASSERT_STREQ(diff_kind_to_string(d->runs[1].kind), "removed");
        ASSERT_STREQ(diff_region_state_to_string(d->regions[2].state), "removed");
        if (!check_diff(a, b, d, 0x50000))
                return false;

        /* The other way round, added and removed trade places. */
        d = view_diff_free(d);
        ASSERT_OK(diff_views(b, a, &d));
        ASSERT_EQ(d->added, 2);
        ASSERT_EQ(d->removed, 2);
        ASSERT_EQ(d->changed, 4);
        return check_diff(b, a, d, 0x50000);
}

static bool test_random(void)
{
        for (int round = 0; round < 3000; round++) {
                _cleanup_(manifest_freep) struct ckpt_manifest *a = new_view(10), *b = NULL;
                _cleanup_(view_diff_freep) struct view_diff *d = NULL, *back = NULL;

                ASSERT(a);
                if (!random_view(a, 10))
                        return false;
                if (prng_below(&rng, 3) == 0) {
                        /* b derived from a: fewer differences, more SAME regions. */
                        ASSERT_OK(manifest_dup(a, &b));
                        b->id = 11;
                        for (int k = 0; k < 4; k++)
                                if (!add_data(b, prng_below(&rng, SPACE) * P, prng_below(&rng, 3)))
                                        return false;
                } else {
                        b = new_view(11);
                        ASSERT(b);
                        if (!random_view(b, 11))
                                return false;
                }
                ASSERT_OK(diff_views(a, b, &d));
                if (!check_diff(a, b, d, (SPACE + 4) * P)) {
                        fprintf(stderr, "# round %d\n", round);
                        return false;
                }
                ASSERT_OK(diff_views(b, a, &back));
                ASSERT_EQ(back->added, d->removed);
                ASSERT_EQ(back->removed, d->added);
                ASSERT_EQ(back->changed, d->changed);
        }
        return true;
}

/* Regions of terabytes with a handful of pages: the diff must not walk them
 * page by page (this would take minutes). */
static bool test_huge(void)
{
        _cleanup_(manifest_freep) struct ckpt_manifest *a = new_view(1), *b = new_view(2);
        _cleanup_(view_diff_freep) struct view_diff *d = NULL;
        const uint64_t T = 1ull << 40;
        const uint32_t anon = CKPT_REGION_PRIVATE | CKPT_REGION_ANON;
        const uint32_t ref = CKPT_REGION_PRIVATE | CKPT_REGION_FILE | CKPT_REGION_REF;
        struct timespec t0, t1;

        ASSERT(a && b);
        if (!add_region(a, T, 3 * T, anon, NULL, 0, 3) ||
            !add_region(a, 4 * T, 5 * T, ref, paths[0], 0, 1) || !add_data(a, T + P, 1) ||
            !add_region(b, T, 2 * T, anon, NULL, 0, 3) ||
            !add_region(b, 4 * T, 5 * T, ref, paths[1], 0, 1) || !add_data(b, 2 * T - P, 1))
                return false;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        ASSERT_OK(diff_views(a, b, &d));
        clock_gettime(CLOCK_MONOTONIC, &t1);
        ASSERT(t1.tv_sec - t0.tv_sec < 2);
        ASSERT_EQ(d->removed, 1);
        ASSERT_EQ(d->added, 1);
        ASSERT_EQ(d->changed, T / P); /* a whole terabyte now maps another file */
        ASSERT_EQ(d->n_regions, 3);
        ASSERT_EQ(d->regions[1].state, DIFF_REGION_REMOVED);
        ASSERT_EQ(d->regions[1].start, 2 * T);
        ASSERT_EQ(d->regions[1].end, 3 * T);
        ASSERT_EQ(d->n_runs, 3);
        return true;
}

int main(void)
{
        const char *seed = getenv("TEST_SEED");

        prng_seed(&rng, seed ? strtoull(seed, NULL, 0) : (uint64_t)time(NULL) * 2654435761u);
        printf("# seed %llu (TEST_SEED= to repeat)\n", (unsigned long long)rng.state);
        plan(4);
        RUN(test_identical);
        RUN(test_cases);
        RUN(test_random);
        RUN(test_huge);
        return tap_done();
}
