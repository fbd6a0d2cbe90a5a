/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * catalog.h: the catalog of checkpoints ("catalog" in the index: id ->
 * struct store_catalog_entry) and the operations that change it, in the
 * store's write order: ids (store_alloc_id()), commits (manifest file
 * first, then one transaction with the pending objects and the entry),
 * rewriting a checkpoint as FULL or detaching it, removing one (entry first,
 * then the file), and at open, manifests a crash left without an entry
 * added back (catalog_reconcile()). Their declarations are in store.h.
 */
#pragma once

#include <lmdb.h>
#include <stddef.h>
#include <stdint.h>

#include "store-internal.h"

/* An entry as stored (entries written before later fields read 0 there). */
void catalog_entry_from_val(const MDB_val *val, struct store_catalog_entry *ret);
/* At open: the next id, past the recorded one and every id in the catalog. */
int catalog_load_next_id(struct ckpt_store *s, MDB_txn *txn, void *userdata);
/* Manifest files without a catalog entry (a commit or a delete that a crash
 * interrupted, or a catalog that lost them) are added to it; catalog entries
 * without their file are named. Nothing is deleted. ret_added NULL: each
 * added one is logged. */
int catalog_reconcile(struct ckpt_store *s, size_t *ret_added, size_t *ret_unreadable);
