/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * gc.h: keeping the store healthy over months of periodic checkpoints:
 * deleting checkpoints (later incremental ones stay readable) and
 * reclaiming unreferenced objects (repack). Verifying is verify.h's.
 *
 * Deleting checkpoint X whose child Y is a DELTA on top of X first rewrites Y
 * as a FULL manifest (same id, temp + rename), then removes X from the
 * catalog and its manifest file. Objects are never removed by delete; gc
 * does that: mark every key listed by any manifest, then copy the live
 * objects of packs that hold garbage into a new pack, fsync it, point the
 * index at the new copies in one transaction, and only then unlink the old
 * pack. A crash at any step leaves a store that verify passes. gc takes the
 * store's write lock per pack, so checkpoints may run meanwhile.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

int store_delete(struct ckpt_store *s, uint64_t id);

struct store_gc_result {
        uint64_t objects_removed, bytes_reclaimed, packs_rewritten;
};

int store_gc(struct ckpt_store *s, struct store_gc_result *ret);
/* The same, with progress (NULL: none): packs looked at of the packs. */
int store_gc_progress(struct ckpt_store *s, const struct store_progress *progress,
                      struct store_gc_result *ret);

/*
 * Parents. When a checkpoint is deleted, every child (DELTA or FULL) is
 * rewritten as a FULL manifest with parent 0 (store_detach()): the catalog
 * never names a parent that does not exist, so `list` shows none, and verify
 * can require that every DELTA's parent is in the catalog.
 *
 * gc and checkpoints at the same time. The mark (every DATA key of every
 * manifest, per owner) is a snapshot, and a checkpoint stores its pages
 * before it commits its manifest: a page may be new, or a dedup hit on an
 * object the mark finds dead (a page of a deleted checkpoint). So (store.h):
 *   - store_put_pages() records every key it returns, new or dedup hit, in a
 *     set of keys in flight (gc-guard.c), before it releases put_lock; store_commit()
 *     takes the keys its manifest lists out of it. Each gc start turns that
 *     set into the previous generation and drops the one before: a key stored
 *     and never committed is kept through one more gc, then given up on.
 *   - while a gc is under way, store_commit() records its manifest's keys
 *     and checks they are in the index, under put_lock;
 *   - store_gc_begin() waits for commits that started before it, so the mark
 *     finds them in the catalog;
 *   - store_repack() holds put_lock from its live() calls to its index
 *     commit, and live() is "marked, in flight, or committed meanwhile".
 * A key handed out before a repack is recorded before that repack decides,
 * so it is kept; one handed out after it was dropped is written again (the
 * dedup lookup no longer finds it). What remains is a checkpoint whose pages
 * were stored before the gc before last began and that commits only now: its
 * store_commit() fails with -ENOKEY (the keys are checked under put_lock), so
 * no committed manifest ever names a missing object.
 *
 * Sweep: a pack older than the one being appended to is rewritten when it
 * holds any dead object (or removed when it holds none at all); the current
 * one only when a quarter of its bytes are dead. One gc runs at a time, and
 * it refuses (-EBADMSG) while a catalog entry's manifest cannot be read: it
 * cannot know what that one refers to (verify names it; delete it first).
 *
 * Crash safety: gc writes nothing itself; store_repack() orders copy, fsync,
 * index commit, unlink. store_open() adds manifest files without a catalog
 * entry back to it (a commit or delete a crash interrupted; verify names
 * them until then).
 */
