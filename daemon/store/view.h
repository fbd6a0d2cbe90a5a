/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * view.h: the manifest files under manifests/ (store_load(),
 * store_list_manifests() in store.h) and checkpoints' views: store_view()
 * walks a DELTA chain back to a FULL manifest (or a cached view) and applies
 * the deltas forward; the last VIEW_CACHE_SIZE views resolved or committed
 * are kept (the cache owns them, callers get copies).
 *
 * A manifest file is written to a temp file, fsync()ed, renamed and the
 * directory fsync()ed: readers see the old file or the new one.
 */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store-internal.h"

/* "%020llu": the name of checkpoint id's manifest file. */
void view_manifest_name(uint64_t id, char buf[static 32]);
/* Write manifest id durably (temp + fsync + rename + dir fsync). */
int view_write_manifest(struct ckpt_store *s, uint64_t id, const void *buf, size_t size);
/* The same on a thread of its own, so that a commit fsyncs the packs and
 * fills its transaction meanwhile: view_write_manifest_join() returns what
 * view_write_manifest() returned (and may be called again); buf must live
 * until then. Where no thread can be made the write is done at once. */
struct manifest_write {
        pthread_t thread;
        struct ckpt_store *s;
        uint64_t id;
        const void *buf;
        size_t size;
        int result;
        bool running;
};
void view_write_manifest_start(struct ckpt_store *s, uint64_t id, const void *buf, size_t size,
                               struct manifest_write *w);
int view_write_manifest_join(struct manifest_write *w);
/* The ids of the manifest files present, ascending. */
int view_manifests_present(struct ckpt_store *s, uint64_t **ret, size_t *ret_n);
/* At open: temp files of writes a crash interrupted. */
int view_remove_stale_temps(struct ckpt_store *s);

/* Takes ownership of view (checkpoint id's FULL view). */
void view_cache_put(struct ckpt_store *s, uint64_t id, struct ckpt_manifest *view);
void view_cache_drop(struct ckpt_store *s, uint64_t id);
