/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pagemap.c: the read-set decision of a checkpoint (see pagemap.h), from
 * PAGEMAP_SCAN or /proc/PID/pagemap. Reads page flags only, never page
 * content; logs at debug level only.
 */
#include "pagemap.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "ckpt/uapi.h" /* PAGEMAP_SCAN where <linux/fs.h> lacks it */
#include "log.h"
#include "macro.h"

#define PM_PRESENT (1ULL << 63)
#define PM_SWAPPED (1ULL << 62)
#define PM_FILE (1ULL << 61)

#define PREAD_CHUNK_ENTRIES 65536 /* 512 KiB of pagemap entries per pread */
#define SCAN_VEC 1024

enum select_mode {
        SELECT_NONE,
        SELECT_PRESENT, /* present or swapped */
        SELECT_COW,     /* present anonymous (copied on write) or swapped */
        SELECT_ALL,
};

void pagemap_plan_done(struct pagemap_plan *p)
{
        if (!p)
                return;
        free(p->read);
        free(p->carry_runs);
        *p = (struct pagemap_plan){};
}

int pagemap_open(pid_t pid, struct pagemap **ret)
{
        struct pagemap *pm;
        char path[64];

        pm = calloc(1, sizeof(*pm));
        if (!pm)
                return -ENOMEM;
        pm->pid = pid;
        snprintf(path, sizeof(path), "/proc/%d/pagemap", (int)pid);
        pm->fd = open(path, O_RDONLY | O_CLOEXEC);
        if (pm->fd < 0) {
                int r = errno == ENOENT ? -ESRCH : negative_errno();
                free(pm);
                return r;
        }
        *ret = pm;
        return 0;
}

struct pagemap *pagemap_free(struct pagemap *pm)
{
        if (!pm)
                return NULL;
        safe_close(pm->fd);
        free(pm->buf);
        free(pm);
        return NULL;
}

static int plan_add_read(struct pagemap_plan *p, uint64_t start, uint64_t end)
{
        size_t n = (end - start) / PAGE_SIZE_4K;

        if (p->n_read + n > p->n_read_alloc) {
                size_t k = MAX(p->n_read_alloc * 2, p->n_read + n);
                uint64_t *t;

                k = MAX(k, (size_t)1024);
                t = reallocarray(p->read, k, sizeof(*t));
                if (!t)
                        return -ENOMEM;
                p->read = t;
                p->n_read_alloc = k;
        }
        for (uint64_t a = start; a < end; a += PAGE_SIZE_4K)
                p->read[p->n_read++] = a;
        return 0;
}

static int plan_add_carry_run(struct pagemap_plan *p, uint64_t start, uint64_t end)
{
        if (p->n_carry_runs > 0 && p->carry_runs[p->n_carry_runs - 1].end == start) {
                p->carry_runs[p->n_carry_runs - 1].end = end;
                return 0;
        }
        if (p->n_carry_runs == p->n_carry_runs_alloc) {
                size_t k = p->n_carry_runs_alloc ? p->n_carry_runs_alloc * 2 : 64;
                struct ckpt_range *t = reallocarray(p->carry_runs, k, sizeof(*t));

                if (!t)
                        return -ENOMEM;
                p->carry_runs = t;
                p->n_carry_runs_alloc = k;
        }
        p->carry_runs[p->n_carry_runs++] = (struct ckpt_range){start, end};
        return 0;
}

static bool flags_match(enum select_mode mode, unsigned f)
{
        switch (mode) {
        case SELECT_PRESENT:
                return f & (PAGEMAP_PAGE_PRESENT | PAGEMAP_PAGE_SWAPPED);
        case SELECT_COW:
                return (f & PAGEMAP_PAGE_SWAPPED) ||
                       ((f & PAGEMAP_PAGE_PRESENT) && !(f & PAGEMAP_PAGE_FILE));
        case SELECT_ALL:
                return true;
        default:
                return false;
        }
}

static int pagemap_pread_flags(struct pagemap *pm, uint64_t start, uint64_t *ret_entries, size_t n)
{
        size_t want = n * sizeof(uint64_t), got = 0;
        off_t off = (off_t)(start / PAGE_SIZE_4K * sizeof(uint64_t));

        while (got < want) {
                ssize_t k = pread(pm->fd, (char *)ret_entries + got, want - got, off + got);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return errno == ESRCH ? -ESRCH : negative_errno();
                }
                if (k == 0)
                        return -ESRCH; /* the process lost its mm */
                got += k;
        }
        return 0;
}

static unsigned entry_flags(uint64_t e)
{
        return ((e & PM_PRESENT) ? PAGEMAP_PAGE_PRESENT : 0) |
               ((e & PM_SWAPPED) ? PAGEMAP_PAGE_SWAPPED : 0) |
               ((e & PM_FILE) ? PAGEMAP_PAGE_FILE : 0);
}

int pagemap_flags(struct pagemap *pm, uint64_t start, uint64_t end, uint8_t *ret_flags)
{
        size_t total = (end - start) / PAGE_SIZE_4K, done = 0;
        int r;

        if (!pm->buf) {
                pm->buf = malloc(PREAD_CHUNK_ENTRIES * sizeof(uint64_t));
                if (!pm->buf)
                        return -ENOMEM;
        }
        while (done < total) {
                size_t n = MIN(total - done, (size_t)PREAD_CHUNK_ENTRIES);

                r = pagemap_pread_flags(pm, start + done * PAGE_SIZE_4K, pm->buf, n);
                if (r < 0)
                        return r;
                for (size_t i = 0; i < n; i++)
                        ret_flags[done + i] = entry_flags(pm->buf[i]);
                done += n;
        }
        return 0;
}

/* Fallback: pread the 64-bit entries in large chunks. */
static int select_pread(struct pagemap *pm, uint64_t start, uint64_t end, enum select_mode mode,
                        struct pagemap_plan *plan)
{
        int r;

        if (!pm->buf) {
                pm->buf = malloc(PREAD_CHUNK_ENTRIES * sizeof(uint64_t));
                if (!pm->buf)
                        return -ENOMEM;
        }
        for (uint64_t a = start; a < end;) {
                size_t n = MIN((end - a) / PAGE_SIZE_4K, (uint64_t)PREAD_CHUNK_ENTRIES);

                r = pagemap_pread_flags(pm, a, pm->buf, n);
                if (r < 0)
                        return r;
                for (size_t i = 0; i < n; i++)
                        if (flags_match(mode, entry_flags(pm->buf[i]))) {
                                r = plan_add_read(plan, a + i * PAGE_SIZE_4K,
                                                  a + (i + 1) * PAGE_SIZE_4K);
                                if (r < 0)
                                        return r;
                        }
                a += n * PAGE_SIZE_4K;
        }
        return 0;
}

/* PAGEMAP_SCAN: runs of present or swapped pages, skipping holes quickly. */
static int select_scan(struct pagemap *pm, uint64_t start, uint64_t end, enum select_mode mode,
                       struct pagemap_plan *plan)
{
        struct page_region vec[SCAN_VEC];
        uint64_t a = start;
        int r;

        while (a < end) {
                struct pm_scan_arg arg = {
                        .size = sizeof(arg),
                        .start = a,
                        .end = end,
                        .vec = (uint64_t)(uintptr_t)vec,
                        .vec_len = SCAN_VEC,
                        .category_anyof_mask = PAGE_IS_PRESENT | PAGE_IS_SWAPPED,
                        .return_mask =
                                PAGE_IS_PRESENT | PAGE_IS_SWAPPED | PAGE_IS_FILE | PAGE_IS_PFNZERO,
                };
                int n = ioctl(pm->fd, PAGEMAP_SCAN, &arg);

                if (n < 0)
                        return negative_errno();
                for (int i = 0; i < n; i++) {
                        unsigned f =
                                ((vec[i].categories & PAGE_IS_PRESENT) ? PAGEMAP_PAGE_PRESENT : 0) |
                                ((vec[i].categories & PAGE_IS_SWAPPED) ? PAGEMAP_PAGE_SWAPPED : 0) |
                                ((vec[i].categories & PAGE_IS_FILE) ? PAGEMAP_PAGE_FILE : 0);
                        /* Mapped to the shared zero page (a read fault on
                         * never-written anonymous memory): zero, not read. */
                        if (vec[i].categories & PAGE_IS_PFNZERO)
                                continue;
                        if (!flags_match(mode, f))
                                continue;
                        r = plan_add_read(plan, vec[i].start, vec[i].end);
                        if (r < 0)
                                return r;
                }
                if (arg.walk_end <= a)
                        return -EIO; /* no progress: never loop forever */
                a = arg.walk_end;
        }
        return 0;
}

static int select_base(struct pagemap *pm, uint64_t start, uint64_t end, enum select_mode mode,
                       struct pagemap_plan *plan)
{
        int r;

        switch (mode) {
        case SELECT_NONE:
                return 0;
        case SELECT_ALL:
                return plan_add_read(plan, start, end);
        default:
                break;
        }
        if (!pm->no_scan) {
                size_t mark = plan->n_read;

                r = select_scan(pm, start, end, mode, plan);
                if (r != -ENOTTY && r != -EINVAL && r != -EOPNOTSUPP)
                        return r;
                /* Kernel without PAGEMAP_SCAN (before 6.7). */
                log_debug("pagemap: PAGEMAP_SCAN unavailable, reading entries: %s", strerror(-r));
                plan->n_read = mark;
                pm->no_scan = true;
        }
        return select_pread(pm, start, end, mode, plan);
}

static enum select_mode region_mode(const struct ckpt_region *r)
{
        if (r->flags & CKPT_REGION_SPECIAL)
                return SELECT_NONE;
        if (r->flags & CKPT_REGION_REF)
                return SELECT_COW;
        if ((r->flags & CKPT_REGION_PRIVATE) && (r->flags & CKPT_REGION_ANON) &&
            !(r->flags & CKPT_REGION_FILE))
                return SELECT_PRESENT;
        /* Writable private file mappings, deleted files, every shared
         * mapping: what the process sees, page by page. */
        return SELECT_ALL;
}

int pagemap_select(struct pagemap *pm, const struct ckpt_region *r,
                   const struct pagemap_dirty *dirty, const struct ckpt_manifest *parent_view,
                   struct pagemap_plan *plan)
{
        enum select_mode mode = region_mode(r);
        size_t di = 0; /* cursor in dirty->pages, which ascends with a */
        uint64_t a;
        int k;

        if (mode == SELECT_NONE)
                return 0;
        if (!dirty || !parent_view)
                return select_base(pm, r->start, r->end, mode, plan);

        /* With a dirty set: walk the region in runs that the parent's view
         * covered or not. Uncovered runs are decided from pagemap; covered
         * ones read only dirty pages and carry the parent's entries. */
        a = r->start;
        while (a < r->end) {
                const struct ckpt_region *pr = manifest_find_region(parent_view, a);
                uint64_t b;

                if (!pr) {
                        /* Up to the next parent region, or the region's end. */
                        b = r->end;
                        for (size_t i = 0; i < parent_view->n_regions; i++)
                                if (parent_view->regions[i].start > a &&
                                    parent_view->regions[i].start < b)
                                        b = parent_view->regions[i].start;
                        k = select_base(pm, a, b, mode, plan);
                        if (k < 0)
                                return k;
                        a = b;
                        continue;
                }
                b = MIN(pr->end, r->end);
                /* Covered by the parent: read what was written, carry the rest
                 * (resolved after the thaw). */
                while (di < dirty->n_pages && dirty->pages[di] < a)
                        di++;
                for (; di < dirty->n_pages && dirty->pages[di] < b; di++) {
                        k = plan_add_read(plan, dirty->pages[di], dirty->pages[di] + PAGE_SIZE_4K);
                        if (k < 0)
                                return k;
                }
                k = plan_add_carry_run(plan, a, b);
                if (k < 0)
                        return k;
                a = b;
        }
        return 0;
}

/* Settle on the next entry at or after (run, i) inside a run. */
static void carry_settle(struct pagemap_carry *c)
{
        const struct ckpt_manifest *p = c->parent;

        c->cur = NULL;
        if (!p)
                return;
        for (; c->run < c->plan->n_carry_runs; c->run++) {
                const struct ckpt_range *r = &c->plan->carry_runs[c->run];

                if (c->i == SIZE_MAX)
                        c->i = manifest_page_lower_bound(p, r->start);
                if (c->i < p->n_pages && p->pages[c->i].addr < r->end) {
                        c->cur = &p->pages[c->i];
                        return;
                }
                c->i = SIZE_MAX; /* the next run starts with a search */
        }
}

void pagemap_carry_start(struct pagemap_carry *c, const struct pagemap_plan *plan,
                         const struct ckpt_manifest *parent)
{
        *c = (struct pagemap_carry){.plan = plan, .parent = parent, .i = SIZE_MAX};
        carry_settle(c);
}

void pagemap_carry_next(struct pagemap_carry *c)
{
        if (!c->cur)
                return;
        c->i++;
        carry_settle(c);
}

size_t pagemap_carry_count(const struct pagemap_plan *plan, const struct ckpt_manifest *parent)
{
        size_t n = 0;

        if (!parent)
                return 0;
        for (size_t k = 0; k < plan->n_carry_runs; k++)
                n += manifest_page_lower_bound(parent, plan->carry_runs[k].end) -
                     manifest_page_lower_bound(parent, plan->carry_runs[k].start);
        return n;
}
