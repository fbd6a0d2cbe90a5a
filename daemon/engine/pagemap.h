/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pagemap.h: which pages of a frozen process a checkpoint reads. The one
 * place where that decision is made (pagemap_select), from the region's kind,
 * /proc/PID/pagemap and, when write tracking is armed, the set of pages
 * written since the parent checkpoint.
 *
 *   region kind                      pages read (without a dirty set)
 *   private anonymous (any prot)     present or swapped (never-touched pages, and
 *                                    pages mapping the shared zero page, are zero)
 *   private file, read-only, REF     only copied-on-write pages (present, not file)
 *   private file, writable           every page (what the process sees)
 *   shared (shm, memfd, /dev/zero)   every page
 *   SPECIAL ([vdso] …)               none
 *
 * With a dirty set, a page the parent's view covered (inside one of its
 * regions) is read only when dirty; otherwise it is carried from the parent
 * (its entry copied) or stays zero. Pages the parent did not cover are
 * decided as above.
 *
 * The page flags come from the PAGEMAP_SCAN ioctl (Linux 6.7), which returns
 * runs of matching pages and walks sparse reservations of terabytes quickly;
 * where it is missing, from pread() of the 64-bit entries in large chunks
 * (bit 63 present, 62 swapped, 61 file page or shared anonymous).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "manifest.h"

/* Pages of one region written since the parent checkpoint: sorted, unique,
 * page-aligned addresses (the form tracker_collect() returns). A region the
 * tracker says to read whole is passed as no dirty set at all. */
struct pagemap_dirty {
        const uint64_t *pages;
        size_t n_pages;
};

/* A growing list of page addresses to read, and the runs of addresses whose
 * entries carry over from the parent. While the process is frozen
 * pagemap_select() only notes the runs; the parent's entries in them are
 * walked after the thaw (pagemap_carry), so the pause does not walk the
 * parent's view. */
struct pagemap_plan {
        uint64_t *read; /* sorted, page aligned */
        size_t n_read, n_read_alloc;
        struct ckpt_range *carry_runs; /* sorted, disjoint */
        size_t n_carry_runs, n_carry_runs_alloc;
};

void pagemap_plan_done(struct pagemap_plan *p);

/* The parent's entries inside the carry runs, in address order (an entry
 * whose page is read again is still listed: the reader decides). Walk with
 *   for (pagemap_carry_start(&c, plan, parent); c.cur; pagemap_carry_next(&c))
 * parent may be NULL (nothing carried). */
struct pagemap_carry {
        const struct ckpt_page *cur; /* NULL at the end */
        const struct pagemap_plan *plan;
        const struct ckpt_manifest *parent;
        size_t run, i;
};

void pagemap_carry_start(struct pagemap_carry *c, const struct pagemap_plan *plan,
                         const struct ckpt_manifest *parent);
void pagemap_carry_next(struct pagemap_carry *c);
/* How many entries the walk yields, without walking them. */
size_t pagemap_carry_count(const struct pagemap_plan *plan, const struct ckpt_manifest *parent);

struct pagemap {
        pid_t pid;
        int fd;        /* /proc/PID/pagemap */
        bool no_scan;  /* PAGEMAP_SCAN unsupported: pread fallback */
        uint64_t *buf; /* pread chunk */
        size_t buf_entries;
};

int pagemap_open(pid_t pid, struct pagemap **ret);
struct pagemap *pagemap_free(struct pagemap *pm);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct pagemap *, pagemap_free);

/*
 * Append to plan the pages of region r to read (and, with a dirty set, the
 * entries carried from parent_view). dirty may be NULL (no tracking: every
 * page is decided from pagemap); parent_view may be NULL. r->flags must
 * already say CKPT_REGION_REF when the region is recorded by reference.
 */
int pagemap_select(struct pagemap *pm, const struct ckpt_region *r,
                   const struct pagemap_dirty *dirty, const struct ckpt_manifest *parent_view,
                   struct pagemap_plan *plan);

/* Raw page flags for [start, end): for each page, a byte of PAGEMAP_PAGE_*.
 * Exposed for tests and diagnostics. */
#define PAGEMAP_PAGE_PRESENT 0x1u
#define PAGEMAP_PAGE_SWAPPED 0x2u
#define PAGEMAP_PAGE_FILE 0x4u
int pagemap_flags(struct pagemap *pm, uint64_t start, uint64_t end, uint8_t *ret_flags);
