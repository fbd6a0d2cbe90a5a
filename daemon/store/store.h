/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * store.h: the content-addressed page store and the catalog of checkpoints.
 *
 *   <state-dir>/
 *     lock                    flock()ed by the one daemon using this store
 *     index/                  LMDB environment
 *       db "objects"          (owner uid:u32 BE, sha256[32]) -> (pack:u32, offset:u64,
 *                              clen:u32, codec:u8)      one entry per stored page
 *       db "recent"           the same, for the newest objects: moved into
 *                              "objects" in bulk (a key is in one of the two)
 *       db "catalog"          id:u64 BE -> struct store_catalog_entry
 *       db "meta"             "next_id" -> u64, "format" -> u32, "stored_bytes" -> u64,
 *                             "end_pack", "end_off" -> u64: the packs' end at the last commit
 *     packs/pack-%08u.pack    append-only; each object: header (magic, owner,
 *                              sha256, ulen, clen, codec) + LZ4 block, zstd frame
 *                              or the raw page
 *     manifests/%020llu       one per checkpoint (include/ckpt/manifest.h)
 *
 * Write order (crash safety): pack data is fsync()ed before the index entries
 * that point at it are committed; a manifest is written to a temp file,
 * fsync()ed and renamed, and the directory fsync()ed, before its catalog entry
 * is committed (in the same transaction as the index entries of its objects). A crash at any point
 * leaves a readable store (at worst some unreferenced bytes in a pack, reclaimed by gc).
 *
 * The index and the catalog are caches: each pack record carries its owner
 * and key and verifies by its hash, each manifest its id. A missing or
 * damaged index (checked at open: LMDB's meta pages against the file, then
 * every B-tree walked in a child process) is moved aside and rebuilt from
 * them; records written after the last index commit ("end_pack"/"end_off"
 * in "meta") are indexed again at open; manifest files without a catalog
 * entry are added to it. Nothing is deleted because the index lacks it.
 *
 * Deduplication is per owner uid, never across owners. The all-zero page is
 * never stored. Every read re-hashes the object: corruption is -EBADMSG, never
 * wrong bytes.
 *
 * Thread safety: every function may be called from several threads at once.
 *
 * Modules (this header is the store's contract; each module's header says
 * what it owns; lower ones first, none includes another in a circle):
 *   keyset.c     the one (owner, sha256) hash table: sets and maps
 *   pending.c    objects written to packs but not yet indexed (on a keyset)
 *   store-internal.h  struct ckpt_store: whose fields are whose, the locks
 *   pack.c       pack files: descriptors, appending, rolling, fsync, the
 *                record format (store_decode_object(), pack_record_check())
 *                and the record scan used by rebuild, recovery and repack
 *   index.c      the LMDB environment: transactions, the objects index,
 *                "meta", committing the pending table (store_sync()), the
 *                checks at open (meta pages, the forked B-tree walk),
 *                moving a damaged index aside
 *   gc-guard.c   keys in flight that a gc must keep (store_gc_begin() ...)
 *   view.c       manifest files, store_view() and the view cache
 *   catalog.c    the catalog: ids, commits, rewrite/detach, remove, and the
 *                manifests a crash left without an entry (reconcile)
 *   put.c        the parallel put pipeline (hash, dedup, compress, append)
 *   read.c       reading objects back (store_get_page() ...)
 *   repack.c     store_repack(): live objects of one pack into the current
 *   recover.c    the index rebuilt from packs and manifests, the packs'
 *                tail indexed again after a crash
 *   open.c       store_open(), store_free(), store_stats()
 * and above them, on this header only: gc.c (delete, gc: policy, gc.h) and
 * verify.c (verify.h). manifest.c, diff.c, export*.c and sha256.c are the
 * store room's other modules (their own headers).
 *
 * Why so: every module includes this header (its types, and the part of it
 * the module implements), so there is no store.c: one calling down into the
 * modules would close a circle with them; open.c stands on top instead.
 * Rebuilding the index needs the packs' scan and the catalog, which need
 * index.c's transactions: so it is recover.c, above all three, not index.c.
 * The pending table is read by pack.c (a failed fsync forgets it), index.c
 * (commits it), read.c and put.c: so it is a module of its own below them.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "manifest.h"

struct ckpt_store;

/* Settings, given at open; a field left 0 takes its default. */
struct store_options {
        /* Threads hashing and compressing in store_put_pages(); 0: one per
         * online CPU (at most 16). */
        unsigned threads;
        /* Bytes after which the current pack is closed and a new one started
         * (default 256 MiB). */
        uint64_t pack_roll_size;
        /* Index entries the newest level holds before they move into the
         * main one in bulk (default 16384). New entries go into a small
         * B-tree ("recent"): LMDB copies every leaf a transaction changes,
         * and object keys are random: indexing a checkpoint's 2600 new
         * objects straight into the index of a 1 GiB process rewrote ~2000
         * leaves (8 MiB, ~35 ms with its fsync) at every commit; into
         * "recent" it rewrites at most its ~250 leaves. */
        uint64_t index_recent_max;
        /* Initial size of the index's memory map (default 64 GiB, sparse:
         * only what is used takes disk); it doubles whenever a transaction
         * finds it full. */
        uint64_t map_size;
        /* How long store_open() waits for the state directory's lock
         * (default 5000). */
        uint64_t lock_wait_ms;
        /* The codec of new objects: 0 or CKPT_CODEC_LZ4 (the default: per
         * 4 KiB page ~2.4x as fast as zstd level 1 on text-like memory, for
         * ~50% more bytes; tests/bench/b-codec), or CKPT_CODEC_ZSTD (what
         * stores held before LZ4, in version 1 packs). Objects of either
         * codec are read whatever this says. */
        uint8_t codec;
};
#define STORE_PACK_ROLL_SIZE_DEFAULT (256ULL << 20)
#define STORE_INDEX_RECENT_MAX_DEFAULT 16384u
#define STORE_MAP_SIZE_DEFAULT (64ULL << 30)
#define STORE_LOCK_WAIT_MS_DEFAULT 5000u

/* opts NULL: the defaults. -EBUSY: locked by another ckptd for longer than
 * opts->lock_wait_ms. A missing or damaged index is moved aside
 * (index.damaged-TIME, never deleted) and rebuilt from the packs and
 * manifests; objects a crash left unindexed at the end of the packs are
 * indexed again, and a torn record at the very end of the current pack is
 * cut off. */
int store_open(const char *state_dir, const struct store_options *opts, struct ckpt_store **ret);
struct ckpt_store *store_free(struct ckpt_store *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct ckpt_store *, store_free);

/*
 * Store n 4 KiB pages (contiguous in `pages`) for owner. For each page i,
 * ret[i].kind is set to CKPT_PAGE_ZERO (all-zero page, nothing stored) or
 * CKPT_PAGE_DATA with ret[i].key = SHA-256; ret[i].addr is left untouched.
 * New objects are appended to the current pack (hashing and compression run on
 * up to opts.threads threads); *ret_new_bytes (may be NULL) gets the bytes
 * appended. Objects are durable only after store_sync() or store_commit().
 */
int store_put_pages(struct ckpt_store *s, uint32_t owner, const void *pages, size_t n,
                    struct ckpt_page *ret, uint64_t *ret_new_bytes);

/* With the LZ4 codec both are LZ4's default; with the zstd codec: */
enum store_compress {
        STORE_COMPRESS_DEFAULT, /* zstd level 1 */
        STORE_COMPRESS_FAST,    /* zstd -1: ~1.3-1.75x quicker, ~9-27% more bytes */
};

/* The same with the pages where pagev[i] points, compressed as asked. */
int store_put_pagev(struct ckpt_store *s, uint32_t owner, const uint8_t *const *pagev, size_t n,
                    enum store_compress compress, struct ckpt_page *ret, uint64_t *ret_new_bytes);

/*
 * Keys a checkpoint takes over from its parent without storing the pages
 * again (their bytes are known to be those of the parent's objects): noted
 * like the keys store_put_pages() hands out, so that no gc drops them before
 * the checkpoint commits. -ENOENT when the parent is no longer in the
 * catalog (its objects may be gone): store the pages instead.
 */
int store_keep_keys(struct ckpt_store *s, uint32_t owner, uint64_t parent_id,
                    const struct ckpt_page *pages, size_t n);

/* Read one object: -ENOENT when absent, -EBADMSG when it fails its hash. */
int store_get_page(struct ckpt_store *s, uint32_t owner, const uint8_t key[32], void *ret_page);
int store_has_page(struct ckpt_store *s, uint32_t owner, const uint8_t key[32]);

/* fsync the packs and commit pending index entries. */
int store_sync(struct ckpt_store *s);

/* A fresh checkpoint id (monotonic; never one of a committed checkpoint,
 * even a deleted one). In memory: only a commit writes to the disk. */
int store_alloc_id(struct ckpt_store *s, uint64_t *ret_id);

/* Make a checkpoint durable: write the manifest (temp + fsync + rename + dir
 * fsync), fsync the packs, then one index transaction adds the pending
 * objects and the catalog entry. m->id must come from store_alloc_id(). */
int store_commit(struct ckpt_store *s, const struct ckpt_manifest *m);

/* The same, for a caller that already holds the checkpoint's FULL view (the
 * parent's view with m applied): the store takes it instead of resolving the
 * chain again, and keeps it for store_view(). It is freed on every return but
 * one: -ENOENT when m's parent is not (or no longer) in the catalog; the
 * caller may then commit the view itself as a FULL manifest. */
int store_commit_view(struct ckpt_store *s, const struct ckpt_manifest *m,
                      struct ckpt_manifest *view);

/* The manifest as written (FULL or DELTA). -ENOENT, -EBADMSG. */
int store_load(struct ckpt_store *s, uint64_t id, struct ckpt_manifest **ret);

/* The FULL view of checkpoint id: the complete page table, chain resolved.
 * -ENOENT: no such checkpoint; -EUCLEAN: in the catalog, but its manifest
 * file is missing; -EBADMSG: a manifest of its chain is corrupt or missing. */
int store_view(struct ckpt_store *s, uint64_t id, struct ckpt_manifest **ret);

struct store_catalog_entry {
        uint64_t id, parent;
        int32_t pid;
        uint32_t uid;
        uint64_t start_time;
        uint64_t time_ns;
        uint32_t kind, flags;
        uint64_t pages_total, pages_read, bytes_stored, pause_ns, duration_ns;
        uint64_t n_regions;
        char comm[16];
        /* Fields below were added later; entries written before them read 0. */
        uint64_t data_pages;  /* DATA pages in the checkpoint's view */
        uint32_t chain_depth; /* deltas since the last FULL manifest (0: this is FULL) */
        uint32_t reserved0;
        uint64_t group;          /* the group checkpoint it is a member of; 0: none */
        uint64_t group_pause_ns; /* that group's pause */
};

/* All catalog entries, by ascending id. Caller frees *ret. */
int store_list(struct ckpt_store *s, struct store_catalog_entry **ret, size_t *ret_n);
int store_get_entry(struct ckpt_store *s, uint64_t id, struct store_catalog_entry *ret);
/* The newest checkpoint of (pid, start_time): -ENOENT when none. */
int store_last_of(struct ckpt_store *s, int32_t pid, uint64_t start_time, uint64_t *ret_id);

/* Progress of long store work (verify, export): fn is called on the thread
 * doing it with done of total now and then, and once done reaches total. */
struct store_progress {
        void (*fn)(void *userdata, uint64_t done, uint64_t total);
        void *userdata;
};
#define STORE_PROGRESS_STEP 1024 /* units of work between two calls */

/* Count n more of total done on p (NULL: nothing), *done the count so far. */
static inline void store_progress_step(const struct store_progress *p, uint64_t *done, uint64_t n,
                                       uint64_t total)
{
        uint64_t before = *done;

        *done += n;
        if (*done > total)
                *done = total;
        if (p && p->fn &&
            (*done / STORE_PROGRESS_STEP != before / STORE_PROGRESS_STEP ||
             (*done == total && before != total)))
                p->fn(p->userdata, *done, total);
}

struct store_stats {
        uint64_t objects;        /* stored page objects */
        uint64_t objects_recent; /* of which in the index's newest level */
        uint64_t stored_bytes;   /* bytes in packs (compressed, with headers) */
        uint64_t logical_bytes;  /* 4 KiB x DATA pages referenced by all views (sum) */
        uint64_t checkpoints;
        uint64_t packs;
        unsigned threads; /* hashing and compressing one store_put_pages() call */
};
int store_stats(struct ckpt_store *s, struct store_stats *ret);

/*
 * Primitives for deleting checkpoints and reclaiming space (used by gc.c).
 * They keep the store's crash-safety order; the policy (what is live, which
 * packs to rewrite) is the caller's.
 */

/* Rewrite checkpoint id's manifest as a FULL one (its resolved view, same id,
 * temp + fsync + rename + dir fsync), and mark it FULL in the catalog: from
 * then on it no longer needs its parent. */
int store_rewrite_full(struct ckpt_store *s, uint64_t id);

/* Remove id from the catalog, then its manifest file. The caller makes sure
 * no DELTA manifest still needs it (store_rewrite_full() its children first).
 * Objects are left alone. -ENOENT when absent. */
int store_remove_checkpoint(struct ckpt_store *s, uint64_t id);

struct store_object {
        uint32_t owner;
        uint8_t key[32];
        uint32_t pack;
        uint64_t offset; /* of the object header in the pack */
        uint32_t clen;
        uint8_t codec; /* CKPT_CODEC_* */
};

/* A codec value this store reads (CKPT_CODEC_*). */
static inline bool store_codec_known(uint8_t codec)
{
        return codec == CKPT_CODEC_RAW || codec == CKPT_CODEC_ZSTD || codec == CKPT_CODEC_LZ4;
}

/*
 * Decoding, pure (no store, no I/O; for the readers and the fuzz targets):
 * an index value into ret's pack, offset, clen and codec (-EBADMSG: not the
 * size of one); and the pack record rec[0 .. size) the index entry (owner,
 * key, clen, codec) points at, checked against that entry, decompressed with
 * d into ret_page (4 KiB) and checked against key: -EBADMSG when anything
 * differs.
 */
struct ZSTD_DCtx_s;
int store_decode_index_val(const void *val, size_t size, struct store_object *ret);
int store_decode_object(struct ZSTD_DCtx_s *d, uint32_t owner, const uint8_t key[32], uint32_t clen,
                        uint8_t codec, const void *rec, size_t size, void *ret_page);

/* Every object of the index (written objects are synced first), by (owner,
 * key). cb may read the store but not write to it; cb < 0 stops the walk and
 * is returned. */
int store_foreach_object(struct ckpt_store *s,
                         int (*cb)(const struct store_object *o, void *userdata), void *userdata);

struct store_repack_result {
        uint64_t objects_kept, objects_removed;
        uint64_t bytes_removed; /* headers + payloads dropped from the index */
};

/* Copy the objects of pack `pack` for which live() is true to the current
 * pack (the pack's own records the index does not know at all included),
 * fsync them, point the index at the copies and drop the others from
 * it in one transaction, and only then unlink the pack. On failure (-ENOSPC…)
 * the store is as it was. Writers wait meanwhile; readers do not. */
int store_repack(struct ckpt_store *s, uint32_t pack,
                 bool (*live)(uint32_t owner, const uint8_t key[32], void *userdata),
                 void *userdata, struct store_repack_result *ret);

/* The numbers of the pack files present, ascending. Caller frees *ret. */
int store_list_packs(struct ckpt_store *s, uint32_t **ret, size_t *ret_n);
/* The size of a pack file in bytes (header included). */
int store_pack_size(struct ckpt_store *s, uint32_t pack, uint64_t *ret);

/* store_commit() errors beyond the obvious: -EINVAL (invalid manifest, id not
 * from store_alloc_id(), parent of another uid), -EEXIST (id committed
 * already), -ENOKEY (a DATA page that is not an object of m->uid), -ENOENT
 * (parent not in the catalog). A DELTA whose chain would reach
 * CKPT_FULL_EVERY, or one without a parent, is written as FULL. */

/* Rewrite checkpoint id as a FULL manifest without a parent (its view, same
 * id, temp + fsync + rename + dir fsync) and set its catalog entry's parent
 * to 0: done to the children of a checkpoint being deleted, so that no entry
 * names a parent that no longer exists. */
int store_detach(struct ckpt_store *s, uint64_t id);

/* Where an object is (written objects not yet in the index included):
 * -ENOENT when absent. */
int store_locate_object(struct ckpt_store *s, uint32_t owner, const uint8_t key[32],
                        struct store_object *ret);

/* The ids of the manifest files present (catalog or not), ascending. Caller
 * frees *ret. */
int store_list_manifests(struct ckpt_store *s, uint64_t **ret, size_t *ret_n);

/* Whole-store operations (delete, verify's listing) hold this: no
 * store_commit() is under way meanwhile, and none starts. */
void store_block_commits(struct ckpt_store *s);
void store_unblock_commits(struct ckpt_store *s);

/* The gc guard (gc-guard.h; the reasoning in gc.h): keys store_put_pages() returned and no
 * commit listed since (this generation and the one before), and, between
 * store_gc_begin() and store_gc_end(), every DATA key of a manifest
 * store_commit() commits: store_gc_protected() says so. store_gc_begin()
 * starts a generation and returns once every commit that started before it
 * has reached the catalog. Calls nest (several gcs at once). */
int store_gc_begin(struct ckpt_store *s);
void store_gc_end(struct ckpt_store *s);
bool store_gc_protected(struct ckpt_store *s, uint32_t owner, const uint8_t key[32]);
