/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * index.h: the LMDB environment under index/ (layout in store.h): the
 * transactions every module runs, the objects index ("objects" and
 * "recent"), the "meta" values, committing the pending table, and the
 * index's health at open (its meta pages, then every B-tree walked in a
 * forked child, and moving a damaged one aside).
 *
 * Errors are negative errno: mdb_to_errno() maps LMDB's (MDB_NOTFOUND
 * -ENOENT, MDB_KEYEXIST -EEXIST, MDB_MAP_FULL -ENOSPC, damage -EBADMSG).
 * Functions taking a txn run inside store_write_txn()/store_read_txn() and
 * never commit or abort it. Only store_write_txn() grows the map.
 */
#pragma once

#include <lmdb.h>
#include <stddef.h>
#include <stdint.h>

#include "store-internal.h"

/* Index value, as stored in LMDB (little-endian, packed). */
struct index_val {
        uint32_t pack;
        uint64_t offset;
        uint32_t clen;
        uint8_t codec;
} __attribute__((packed));

/* "end_pack"/"end_off" in "meta": where the packs ended at the last index
 * commit (recover.c). */
#define META_END_PACK "end_pack"
#define META_END_OFF "end_off"

int mdb_to_errno(int r);
/* The 36-byte LMDB key of an object: owner (big-endian) + sha256. */
void index_key_of(uint32_t owner, const uint8_t sha[32], uint8_t ret[36]);

typedef int (*txn_fn)(struct ckpt_store *s, MDB_txn *txn, void *userdata);
/* Runs fn in a write transaction and commits it (fn < 0: aborted, returned),
 * growing the map and retrying when it is full. */
int store_write_txn(struct ckpt_store *s, txn_fn fn, void *userdata);
/* Runs fn in a read transaction. */
int store_read_txn(struct ckpt_store *s, txn_fn fn, void *userdata);

/* An object's index entry (ret may be NULL): -ENOENT when absent,
 * -EBADMSG when the value is not one. */
int index_get(struct ckpt_store *s, MDB_txn *txn, uint32_t owner, const uint8_t sha[32],
              struct pending_entry *ret);
/* The same in a read transaction of its own. */
int index_lookup(struct ckpt_store *s, uint32_t owner, const uint8_t sha[32],
                 struct pending_entry *ret);

/* "meta" values: a missing one reads 0. */
int meta_get_u64(struct ckpt_store *s, MDB_txn *txn, const char *name, uint64_t *ret);
int meta_put_u64(struct ckpt_store *s, MDB_txn *txn, const char *name, uint64_t v);
/* "end_pack"/"end_off" := the current end of the packs (nothing before the
 * current pack is known). */
int meta_put_end(struct ckpt_store *s, MDB_txn *txn);
int index_put_end_txn(struct ckpt_store *s, MDB_txn *txn, void *userdata);

/* Move the entries of "recent" into "objects" once it holds at least
 * `threshold` (0: always). */
int merge_recent(struct ckpt_store *s, MDB_txn *txn, size_t threshold);
/* The pending table into the index (caller holds put_lock), with
 * "stored_bytes" and the packs' end. */
int commit_pending_txn(struct ckpt_store *s, MDB_txn *txn, void *userdata);
/* The pending table went into the index (the transaction committed). */
void pending_committed(struct ckpt_store *s);
/* fsync the packs, then commit the pending table. Called with put_lock held. */
int store_sync_locked(struct ckpt_store *s);

/* A walk over both B-trees of the objects index (a key is in one of them):
 * cb for each, or (cb NULL) every object of only_pack collected into v. */
struct foreach_ctx {
        int (*cb)(const struct store_object *o, void *userdata);
        void *userdata;
        uint32_t only_pack; /* with cb NULL */
        struct store_object *v;
        size_t n, cap;
};
int index_foreach_txn(struct ckpt_store *s, MDB_txn *txn, void *userdata);
/* Entries of the objects index (userdata: uint64_t *). */
int index_objects_txn(struct ckpt_store *s, MDB_txn *txn, void *userdata);

/* Open the environment at path and its four databases, writing "format"
 * into a new one: -EPROTONOSUPPORT for another format, -EBADMSG when LMDB
 * finds it damaged. */
int index_open_env(struct ckpt_store *s, const char *path);

enum index_health {
        INDEX_SOUND,
        INDEX_MISSING, /* no data.mdb, or an empty one */
        INDEX_DAMAGED,
};
/* enum index_health (why says what is missing or damaged), <0: cannot tell. */
int index_health(struct ckpt_store *s, const char *index_path, char *why, size_t why_size);
/* index/ -> index.WHAT-TIME (kept for inspection), and a new index/. */
int index_move_aside(struct ckpt_store *s, const char *what);
