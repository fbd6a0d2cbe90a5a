/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * gc-guard.h: what a gc keeps beyond its mark (the reasoning in gc.h):
 * store_put_pages() and store_keep_keys() note every key they hand out in
 * `fresh` until a commit lists it; store_gc_begin() turns `fresh` into
 * `stale` (dropping the previous `stale`); while a gc is under way the keys
 * of every manifest committed are also noted in gc_keys. The notes are
 * taken under put_lock, which store_repack() holds from its live() calls to
 * its index commit. Out of memory, a set is given up and every key counts
 * as protected. store_gc_begin(), store_gc_end() and store_gc_protected()
 * are in store.h.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "store-internal.h"

/* Under put_lock: keys store_put_pages() hands out. */
void gc_note_put(struct ckpt_store *s, uint32_t owner, const struct ckpt_page *v, size_t n);
/* Under put_lock: the keys of a manifest being committed. A gc under way
 * keeps them; they are no longer only in flight. */
void gc_note_commit(struct ckpt_store *s, const struct ckpt_manifest *m);
