/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * export.h: writing the memory of a checkpoint out of the store.
 *
 * raw: the requested ranges laid end to end in the order given; with a single
 * range, byte (addr - start) of the file holds the byte at addr. Pages that
 * are not in the checkpoint (unmapped, never touched, zero) are holes.
 * Every object read is verified against its hash: a corrupt store gives
 * -EBADMSG, never wrong bytes.
 *
 * Files read for a caller. The pages of a region recorded by reference (an
 * unchanged read-only file mapping: path + offset, no copy) are read from the
 * file at export time. The daemon runs with more rights than its callers, so
 * the file is opened as the caller would open it, and only if it is provably
 * the file the checkpoint recorded:
 *   - with the caller's file credentials: the worker thread that runs the
 *     export takes the caller's fsuid, fsgid and supplementary groups (from
 *     SO_PEERCRED / SO_PEERGROUPS) with raw setfsuid/setfsgid/setgroups
 *     system calls, which change only the calling thread's credentials (the
 *     glibc setgroups() wrapper would change every thread's), opens, and takes
 *     its own back at once. Leaving fsuid 0 also drops the thread's
 *     CAP_DAC_OVERRIDE / CAP_DAC_READ_SEARCH, so the kernel checks the
 *     caller's rights on every directory of the path and on the file. A root
 *     caller opens as root. Other designs were weighed: the checkpointed
 *     process's /proc/PID/map_files works only while that process lives and
 *     keeps the mapping; descriptors opened and passed by the client would
 *     need a second round trip and up to one descriptor per file (past
 *     SCM_MAX_FD for large programs), and every Varlink client would have to
 *     implement it;
 *   - never through a symbolic link: openat2() with RESOLVE_NO_SYMLINKS (no
 *     link in any component; a link as the last one is opened as itself,
 *     O_PATH | O_NOFOLLOW, and refused), falling back to O_NOFOLLOW where the
 *     kernel lacks openat2. The O_PATH descriptor reads nothing and has no
 *     side effect (a FIFO, a device), and the file is opened for reading
 *     through it (/proc/thread-self/fd) only once it is proven the one:
 *   - the same device, inode, size and change time as the checkpoint
 *     recorded from the mapping itself (ckpt_region.file_id). A file
 *     replaced, rewritten, truncated or chmod'ed since fails this.
 * Where any of it fails, the region's pages are holes and the export says
 * which and why (export_result.holes): an export never writes bytes the
 * caller could not read, nor bytes of another file. Regions of a manifest
 * written before identities were recorded (version 1) cannot be proven and
 * are holes too.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "manifest.h"
#include "store.h"

struct export_extent {
        uint64_t start, end, offset;
};

struct export_run {
        uint64_t start, end; /* page runs written */
};

/* Pages of a reference region left as holes, and why. */
struct export_hole {
        uint64_t start, end;
        char *path;
        char *reason;
};

struct export_result {
        uint64_t size;
        struct export_extent *layout;
        size_t n_layout;
        struct export_run *written;
        size_t n_written, alloc_written;
        struct export_hole *holes;
        size_t n_holes, alloc_holes;
        char error[256];
};

void export_result_done(struct export_result *r);

/* Note the page at addr of region rg as a hole for `reason`: it extends the
 * last hole when it follows it with the same file and reason. */
int export_result_add_hole(struct export_result *r, const struct ckpt_region *rg, uint64_t addr,
                           const char *reason);

/* The file credentials of the caller an export reads files for. */
struct export_creds {
        uid_t uid;
        gid_t gid;
        gid_t *groups; /* supplementary groups */
        size_t n_groups;
};

/*
 * Where an export's pages come from: objects of the store, and the files of
 * reference regions opened for creds (one open file kept, reused by the next
 * region of the same file). Pages that cannot be read from their file are
 * noted in res->holes.
 */
struct export_source {
        struct ckpt_store *store;
        const struct ckpt_manifest *view;
        const struct export_creds *creds;
        struct export_result *res;
        const struct ckpt_region *rg; /* the region fd / reason is for */
        int fd;
        char reason[192];                      /* fd < 0: why rg's pages are holes */
        const struct store_progress *progress; /* pages read of total; NULL: none */
        uint64_t done, total;
};

void export_source_init(struct export_source *src, struct ckpt_store *s,
                        const struct ckpt_manifest *view, const struct export_creds *creds,
                        struct export_result *res);
void export_source_done(struct export_source *src);

/* Content of the page at addr: 1 data in buf, 0 zero or absent, -ESTALE when
 * it is a page of a reference region whose file cannot be read for the
 * caller (a hole, noted in res), other negative errno on failure. */
int export_source_read(struct export_source *src, uint64_t addr, void *buf);

/* Note the page at addr as written: it extends the last run when it follows
 * it, else starts a new one. */
int export_result_add_run(struct export_result *r, uint64_t addr);

/*
 * What an output descriptor is, for an export:
 *   EXPORT_OUTPUT_FILE      a regular file: truncated, written at offsets,
 *                           holes left sparse, fsynced
 *   EXPORT_OUTPUT_SEEKABLE  a character device that takes offsets (/dev/null):
 *                           written at offsets, never truncated
 *   EXPORT_OUTPUT_STREAM    a pipe, socket or tty: written in order, holes as
 *                           zeroes (raw only: a core file needs offsets)
 * Refused (-EBADF, why says what is wrong): not open for writing (read-only,
 * O_PATH), a regular file with O_APPEND (pwrite would append), anything
 * else (block device, directory). A regular file is written whole from its
 * start whatever its offset.
 */
enum {
        EXPORT_OUTPUT_FILE = 0,
        EXPORT_OUTPUT_SEEKABLE = 1,
        EXPORT_OUTPUT_STREAM = 2,
};
int export_output_kind(int fd, char *why, size_t why_size);

/* ranges NULL/0: the view's regions in address order. */
/* progress (NULL: none): pages read of those of the ranges. */
int export_raw(struct ckpt_store *s, const struct ckpt_manifest *view,
               const struct ckpt_range *ranges, size_t n_ranges, int fd,
               const struct export_creds *creds, const struct store_progress *progress,
               struct export_result *ret);

/* Content of one page of a view as the store has it: DATA from the store,
 * zero otherwise. Returns 1 when data was produced, 0 for zero/absent, and
 * -ENOENT for an unlisted page of a reference region (its content is the
 * file's, which this never reads: see export_source_read()). */
int export_read_page(struct ckpt_store *s, const struct ckpt_manifest *view, uint64_t addr,
                     void *buf);
