/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * store-gc.h: keeping the store healthy over months of periodic checkpoints:
 * deleting checkpoints (later incremental ones stay readable), verifying
 * every object and manifest, and reclaiming unreferenced objects (repack).
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

struct store_problem {
        char *what; /* "object <owner>/<sha256> in pack-00000003.pack: corrupt", … */
};

struct store_verify_result {
        uint64_t checked_manifests, checked_objects;
        struct store_problem *problems;
        size_t n_problems;
};

/* id 0: everything reachable from every manifest. Problems are listed, not
 * returned as an error: the return value is <0 only when verification itself
 * could not run. */
int store_verify(struct ckpt_store *s, uint64_t id, struct store_verify_result *ret);
void store_verify_result_done(struct store_verify_result *r);

struct store_gc_result {
        uint64_t objects_removed, bytes_reclaimed, packs_rewritten;
};

int store_gc(struct ckpt_store *s, struct store_gc_result *ret);
