/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * diff.h: what changed between two checkpoints, from their FULL views.
 *
 * A page of a view is, at its address, one of:
 *   absent   outside every region
 *   zero     an unlisted page of a stored region, or a listed ZERO page
 *   data     a listed DATA page, identified by its key (SHA-256)
 *   file     an unlisted page of a region recorded by reference: the file's
 *            content at (dev, inode, offset); two such pages are the same when
 *            they name the same file and offset
 * Comparing page a (first view) with page b (second view):
 *   added    a is absent or zero, b is data or file
 *   removed  a is data or file, b is absent or zero
 *   changed  both data or file, and not the same key / file page
 * (zero against absent is no difference: the content reads the same.)
 *
 * Results are per region: every region of b, then, for the parts of a's
 * regions that no region of b covers, one "removed" entry per such part
 * (with the path and attributes of a's region). Each address of either view
 * belongs to exactly one entry, and entries are sorted by address.
 * Work is O(regions + listed pages): huge regions are never walked page by page.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "manifest.h"

enum diff_region_state {
        DIFF_REGION_SAME = 0,     /* a has a region with the same bounds and attributes */
        DIFF_REGION_MODIFIED = 1, /* overlaps a's regions, but not one identical region */
        DIFF_REGION_NEW = 2,      /* no region of a overlaps it */
        DIFF_REGION_REMOVED = 3,  /* part of a region of a that b does not map */
        _DIFF_REGION_STATE_MAX,
};

const char *diff_region_state_to_string(enum diff_region_state s);

enum diff_kind {
        DIFF_CHANGED = 1,
        DIFF_ADDED = 2,
        DIFF_REMOVED = 3,
};

const char *diff_kind_to_string(enum diff_kind k);

struct diff_region {
        uint64_t start, end;
        uint64_t offset;
        uint32_t prot, flags;             /* PROT_*, CKPT_REGION_* */
        uint32_t state;                   /* enum diff_region_state */
        char *path;                       /* NULL for anonymous memory */
        uint64_t changed, added, removed; /* pages */
};

/* Maximal runs of consecutive pages with the same kind of difference. */
struct diff_run {
        uint64_t start, end;
        uint32_t kind; /* enum diff_kind */
};

struct view_diff {
        uint64_t from, to; /* ids of a and b */
        struct diff_region *regions;
        size_t n_regions;
        struct diff_run *runs;
        size_t n_runs;
        uint64_t changed, added, removed; /* pages, over every region */
};

struct view_diff *view_diff_free(struct view_diff *d);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct view_diff *, view_diff_free);

/* a: the older view, b: the newer one (any two views work). -ENOMEM only. */
int diff_views(const struct ckpt_manifest *a, const struct ckpt_manifest *b,
               struct view_diff **ret);
