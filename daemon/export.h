/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * export.h: writing the memory of a checkpoint out of the store.
 *
 * raw: the requested ranges laid end to end in the order given; with a single
 * range, byte (addr - start) of the file holds the byte at addr. Pages that
 * are not in the checkpoint (unmapped, never touched, zero) are holes. Pages
 * of a region recorded by reference are read from their file, and only if it
 * is still the same file (device and inode): otherwise -ESTALE.
 * Every object read is verified against its hash: a corrupt store gives
 * -EBADMSG, never wrong bytes.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "manifest.h"
#include "store.h"

struct export_extent {
        uint64_t start, end, offset;
};

struct export_run {
        uint64_t start, end; /* page runs written */
};

struct export_result {
        uint64_t size;
        struct export_extent *layout;
        size_t n_layout;
        struct export_run *written;
        size_t n_written, alloc_written;
        char error[256];
};

void export_result_done(struct export_result *r);

/* Note the page at addr as written: it extends the last run when it follows
 * it, else starts a new one. */
int export_result_add_run(struct export_result *r, uint64_t addr);

/* ranges NULL/0: the view's regions in address order. */
int export_raw(struct ckpt_store *s, const struct ckpt_manifest *view,
               const struct ckpt_range *ranges, size_t n_ranges, int fd, struct export_result *ret);

/* Content of one page of a view: DATA from the store, REF from the file,
 * zero otherwise. Returns 1 when data was produced, 0 for zero/absent. */
int export_read_page(struct ckpt_store *s, const struct ckpt_manifest *view, uint64_t addr,
                     void *buf);
