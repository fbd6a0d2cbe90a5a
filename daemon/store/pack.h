/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pack.h: the pack files under packs/ (format in include/ckpt/manifest.h):
 * their descriptors, appending to the current one and rolling to a new one,
 * undoing appends, making them durable, and reading their records back, one
 * by an index entry or all of them in a scan (rebuild, recovery, repack).
 *
 * The current pack's end (cur_pack, cur_off, unsynced*) changes under
 * put_lock and pending_lock (store-internal.h); every writer here expects
 * put_lock held. Errors are negative errno; a record that is not one is
 * -EBADMSG (decoding an indexed one) or "not a record" (a scan).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store-internal.h"

/* A read descriptor for a pack, opened on first use and kept. */
int pack_get_fd(struct ckpt_store *s, uint32_t pack);
/* Read from a pack while no one can close its descriptor. */
int pack_pread(struct ckpt_store *s, uint32_t pack, void *buf, size_t n, uint64_t off,
               size_t *ret_read);
/* Close a pack's descriptor and unlink the file. */
void pack_remove(struct ckpt_store *s, uint32_t pack);
/* The current pack, writable. Called under put_lock. */
int pack_cur_fd(struct ckpt_store *s);
/* Start pack cur_pack + 1 and append there from now on. */
int pack_roll(struct ckpt_store *s);
/* The same when the current pack has reached opts.pack_roll_size. */
int pack_roll_if_full(struct ckpt_store *s);
/* Undo appends under put_lock: remove packs started since, cut the one that
 * was current back to where it was. */
void packs_rollback(struct ckpt_store *s, uint32_t start_pack, uint64_t start_off,
                    bool start_unsynced);
/* The current pack now ends at new_end: what was written there is not yet
 * durable until the next commit's fsync (unsynced_from names the first pack
 * that commit must sync). */
void pack_appended(struct ckpt_store *s, uint64_t new_end);
/* Step 1 of making objects durable: the pack bytes reach the disk. Called
 * with put_lock held. On failure what was written may be lost whatever a
 * later fsync says: those objects are forgotten (the pending table is
 * cleared, a later put writes them again) and writing continues in a fresh
 * pack. */
int packs_sync_locked(struct ckpt_store *s);

/* The numbers of the pack files present, ascending. */
int packs_present(struct ckpt_store *s, uint32_t **ret, size_t *ret_n);
/* At open: the newest pack becomes the current one (a pack 1 is created in
 * an empty store; a header a crash left unwritten is written). */
int pack_open_current(struct ckpt_store *s);

/*
 * One pack record at p, with avail bytes after it in the file: 1 (and its
 * header, and its whole length) when it is complete and its content hashes
 * to its key, 0 when it is not a record, <0 when checking failed. page:
 * 4 KiB of scratch. Pure (for the scan and the fuzz targets).
 */
int pack_record_check(ZSTD_DCtx *d, const uint8_t *p, size_t avail, uint8_t *page,
                      struct ckpt_pack_object *ret, size_t *ret_len);

struct pack_scan {
        uint64_t records; /* valid records seen */
        uint64_t end;     /* just past the last valid record (or the header, or `from`) */
        uint64_t size;    /* of the file */
        bool header_ok;
};

typedef int (*record_fn)(struct ckpt_store *s, uint32_t pack, uint64_t offset,
                         const struct ckpt_pack_object *h, const uint8_t *record, void *userdata);

/* Every valid record of a pack from offset `from` on, stepping over damaged
 * bytes to the next record magic. cb < 0 stops the walk and is returned. */
int pack_foreach_record(struct ckpt_store *s, uint32_t pack, uint64_t from, record_fn cb,
                        void *userdata, struct pack_scan *ret);
/* The same over a pack's bytes base[0 .. size) in memory, with d (pure: for
 * the fuzz targets; s is only handed to cb). */
int pack_scan_records(struct ckpt_store *s, ZSTD_DCtx *d, const uint8_t *base, uint64_t size,
                      uint32_t pack, uint64_t from, record_fn cb, void *userdata,
                      struct pack_scan *ret);
/* Cut the pack being appended to just past its last whole record (as a scan
 * found it): what follows is a record a crash tore (never indexed, never
 * whole). *ret_cut: the bytes cut. */
int pack_cut_tail(struct ckpt_store *s, uint32_t pack, const struct pack_scan *sc,
                  uint64_t *ret_cut);
