/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * put.h: storing pages (store_put_pages(), store_put_pagev(),
 * store_keep_keys() in store.h) through a pipeline of worker threads: each
 * takes a chunk of CHUNK_PAGES pages, hashes them, looks them up (pending
 * table, index), compresses the new ones; the chunks are then appended to
 * the current pack in order, one at a time, under put_lock, each new object
 * into the pending table. A failed call leaves the store as it was.
 */
#pragma once

#include "store-internal.h"

/* opts.threads workers (0: one per online CPU, at most MAX_THREADS). */
int put_workers_init(struct ckpt_store *s);
void put_workers_free(struct ckpt_store *s);
