/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * recover.h: the index rebuilt from what is on disk, at open. The index and
 * the catalog are caches of what the packs and the manifests hold: every
 * pack record carries its owner and key and verifies by its hash, every
 * manifest names its id. So nothing is ever deleted because the index does
 * not know it: an index that is missing or damaged is moved aside
 * (index.c) and rebuilt here, records written after the last index commit
 * are indexed again, and manifests without a catalog entry are added to it
 * (catalog.c).
 *
 * "end_pack"/"end_off" in "meta": where the packs ended at the last index
 * commit. Every record before it is indexed or dead; records after it were
 * written by a run that crashed before it committed them.
 *
 * Only at open, before any other thread has the store: these use the pending
 * table as a batch without its lock.
 */
#pragma once

#include "store-internal.h"

/* Records written after the last index commit (a run that crashed in the
 * middle of a checkpoint or a gc): indexed again; a torn one at the very end
 * is cut off. */
int recover_tail(struct ckpt_store *s);
/* A fresh index from what is on disk: every valid record of every pack,
 * every manifest. why: how the old one was ("missing (...)",
 * "damaged (...)"), for the log line. */
int rebuild_index(struct ckpt_store *s, const char *why);
