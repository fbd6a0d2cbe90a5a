/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * index.c: the LMDB environment (index.h; layout in store.h).
 *
 * Owns: the environment, its map size and env_lock, the objects index and
 * the "meta" values; committing the pending table into the index (after
 * pack.c's fsync: the index never points at bytes that are not durable);
 * checking the index at open. The catalog database is catalog.c's, through
 * the same transactions.
 */
#include "index.h"

#include <endian.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "log.h"
#include "pack.h"

#define STORE_FORMAT 1u

int mdb_to_errno(int r)
{
        if (r == 0)
                return 0;
        if (r > 0)
                return -r;
        switch (r) {
        case MDB_NOTFOUND:
                return -ENOENT;
        case MDB_KEYEXIST:
                return -EEXIST;
        case MDB_MAP_FULL:
                return -ENOSPC;
        case MDB_CORRUPTED:
        case MDB_PAGE_NOTFOUND:
        case MDB_INVALID:
        case MDB_VERSION_MISMATCH:
                return -EBADMSG;
        case MDB_READERS_FULL:
                return -EAGAIN;
        default:
                return -EIO;
        }
}

void index_key_of(uint32_t owner, const uint8_t sha[32], uint8_t ret[36])
{
        uint32_t be = htobe32(owner);

        memcpy(ret, &be, 4);
        memcpy(ret + 4, sha, 32);
}

static int store_grow_map(struct ckpt_store *s, uint64_t seen)
{
        int r = 0;

        pthread_rwlock_wrlock(&s->env_lock);
        /* Another thread may have grown it already. */
        if (s->map_size == seen) {
                r = mdb_to_errno(mdb_env_set_mapsize(s->env, (size_t)(s->map_size * 2)));
                if (r == 0)
                        s->map_size *= 2;
        }
        pthread_rwlock_unlock(&s->env_lock);
        if (r == 0)
                log_debug("store: index map grown to %llu bytes", (unsigned long long)s->map_size);
        return r;
}

int store_write_txn(struct ckpt_store *s, txn_fn fn, void *userdata)
{
        for (unsigned attempt = 0;; attempt++) {
                MDB_txn *txn = NULL;
                uint64_t seen;
                int r, m;

                pthread_rwlock_rdlock(&s->env_lock);
                seen = s->map_size;
                m = mdb_txn_begin(s->env, NULL, 0, &txn);
                if (m == 0) {
                        r = fn(s, txn, userdata);
                        if (r == -ENOSPC && attempt < 8) {
                                mdb_txn_abort(txn);
                                m = MDB_MAP_FULL;
                        } else if (r < 0) {
                                mdb_txn_abort(txn);
                                pthread_rwlock_unlock(&s->env_lock);
                                return r;
                        } else
                                m = mdb_txn_commit(txn);
                }
                pthread_rwlock_unlock(&s->env_lock);
                if (m == MDB_MAP_FULL && attempt < 8) {
                        r = store_grow_map(s, seen);
                        if (r < 0)
                                return r;
                        continue;
                }
                return mdb_to_errno(m);
        }
}

int store_read_txn(struct ckpt_store *s, txn_fn fn, void *userdata)
{
        MDB_txn *txn = NULL;
        int r;

        pthread_rwlock_rdlock(&s->env_lock);
        r = mdb_to_errno(mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn));
        if (r == 0) {
                r = fn(s, txn, userdata);
                mdb_txn_abort(txn);
        }
        pthread_rwlock_unlock(&s->env_lock);
        return r;
}

int index_get(struct ckpt_store *s, MDB_txn *txn, uint32_t owner, const uint8_t sha[32],
              struct pending_entry *ret)
{
        uint8_t k[36];
        MDB_val key = {.mv_size = sizeof(k), .mv_data = k}, val;
        int r;

        index_key_of(owner, sha, k);
        r = mdb_get(txn, s->db_objects, &key, &val);
        if (r == MDB_NOTFOUND)
                r = mdb_get(txn, s->db_recent, &key, &val);
        if (r != 0)
                return mdb_to_errno(r);
        if (ret) {
                struct store_object o;

                r = store_decode_index_val(val.mv_data, val.mv_size, &o);
                if (r < 0)
                        return r;
                ret->owner = owner;
                memcpy(ret->key, sha, 32);
                ret->pack = o.pack;
                ret->offset = o.offset;
                ret->clen = o.clen;
                ret->codec = o.codec;
        } else if (val.mv_size != sizeof(struct index_val))
                return -EBADMSG;
        return 0;
}

struct lookup_ctx {
        uint32_t owner;
        const uint8_t *key;
        struct pending_entry *e;
};

static int lookup_in_txn(struct ckpt_store *s, MDB_txn *txn, void *userdata)
{
        struct lookup_ctx *c = userdata;

        return index_get(s, txn, c->owner, c->key, c->e);
}

int index_lookup(struct ckpt_store *s, uint32_t owner, const uint8_t sha[32],
                 struct pending_entry *ret)
{
        struct lookup_ctx c = {owner, sha, ret};

        return store_read_txn(s, lookup_in_txn, &c);
}

int meta_get_u64(struct ckpt_store *s, MDB_txn *txn, const char *name, uint64_t *ret)
{
        MDB_val key = {.mv_size = strlen(name), .mv_data = (void *)name}, val;
        uint64_t v;
        int r;

        r = mdb_get(txn, s->db_meta, &key, &val);
        if (r == MDB_NOTFOUND) {
                *ret = 0;
                return 0;
        }
        if (r != 0)
                return mdb_to_errno(r);
        if (val.mv_size != sizeof(v))
                return -EBADMSG;
        memcpy(&v, val.mv_data, sizeof(v));
        *ret = le64toh(v);
        return 0;
}

int meta_put_u64(struct ckpt_store *s, MDB_txn *txn, const char *name, uint64_t v)
{
        MDB_val key = {.mv_size = strlen(name), .mv_data = (void *)name};
        uint64_t le = htole64(v);
        MDB_val val = {.mv_size = sizeof(le), .mv_data = &le};

        return mdb_to_errno(mdb_put(txn, s->db_meta, &key, &val, 0));
}

int meta_put_end(struct ckpt_store *s, MDB_txn *txn)
{
        int r;

        if (s->cur_pack == 0)
                return 0; /* at open, before the current pack is known */
        r = meta_put_u64(s, txn, META_END_PACK, s->cur_pack);
        if (r < 0)
                return r;
        return meta_put_u64(s, txn, META_END_OFF, s->cur_off);
}

int index_put_end_txn(struct ckpt_store *s, MDB_txn *txn, void *userdata)
{
        (void)userdata;
        return meta_put_end(s, txn);
}

int merge_recent(struct ckpt_store *s, MDB_txn *txn, size_t threshold)
{
        MDB_cursor *cur = NULL;
        MDB_val key, val;
        MDB_stat ms;
        int r;

        r = mdb_stat(txn, s->db_recent, &ms);
        if (r != 0)
                return mdb_to_errno(r);
        if (ms.ms_entries == 0 || ms.ms_entries < threshold)
                return 0;
        r = mdb_cursor_open(txn, s->db_recent, &cur);
        if (r != 0)
                return mdb_to_errno(r);
        for (r = mdb_cursor_get(cur, &key, &val, MDB_FIRST); r == 0;
             r = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
                int k = mdb_put(txn, s->db_objects, &key, &val, MDB_NOOVERWRITE);

                if (k != 0 && k != MDB_KEYEXIST) {
                        r = k;
                        break;
                }
        }
        mdb_cursor_close(cur);
        if (r != MDB_NOTFOUND)
                return mdb_to_errno(r);
        log_debug("store: %zu index entries merged", (size_t)ms.ms_entries);
        return mdb_to_errno(mdb_drop(txn, s->db_recent, 0));
}

/* Pending entries in the index's key order: (owner big-endian, key). */
static int pending_cmp(const void *a, const void *b, void *userdata)
{
        const struct pending_entry *v = userdata;
        const struct pending_entry *x = &v[*(const uint32_t *)a], *y = &v[*(const uint32_t *)b];

        if (x->owner != y->owner)
                return x->owner < y->owner ? -1 : 1;
        return memcmp(x->key, y->key, sizeof(x->key));
}

/* The order in which to index the pending table: by key, so that LMDB
 * fills its pages one after the other instead of touching a random leaf
 * per entry (for the 262144 objects of a full checkpoint of 1 GiB: ~570 ms
 * in the order written). NULL when there is no memory for it: then in the
 * order written. */
static uint32_t *pending_order(const struct pending *p)
{
        uint32_t *o = malloc(MAX(p->n, (size_t)1) * sizeof(*o));

        if (!o)
                return NULL;
        for (size_t i = 0; i < p->n; i++)
                o[i] = (uint32_t)i;
        qsort_r(o, p->n, sizeof(*o), pending_cmp, p->v);
        return o;
}

int commit_pending_txn(struct ckpt_store *s, MDB_txn *txn, void *userdata)
{
        _cleanup_free_ uint32_t *order = NULL;
        uint64_t bytes = 0, stored;
        MDB_dbi db = s->db_recent;
        MDB_stat ms;
        int r;

        /* A batch that would fill "recent" anyway (a full checkpoint) goes
         * straight into "objects", after what "recent" holds. */
        r = mdb_to_errno(mdb_stat(txn, s->db_recent, &ms));
        if (r < 0)
                return r;
        if (ms.ms_entries + s->pending.n >= s->opts.index_recent_max) {
                r = merge_recent(s, txn, 0);
                if (r < 0)
                        return r;
                db = s->db_objects;
        }

        /* The pending table is only changed under put_lock, which the caller
         * holds: reading it without pending_lock is safe here. */
        order = pending_order(&s->pending);
        for (size_t i = 0; i < s->pending.n; i++) {
                const struct pending_entry *e = &s->pending.v[order ? order[i] : i];
                struct index_val iv = {
                        .pack = htole32(e->pack),
                        .offset = htole64(e->offset),
                        .clen = htole32(e->clen),
                        .codec = e->codec,
                };
                uint8_t k[36];
                MDB_val key = {.mv_size = sizeof(k), .mv_data = k};
                MDB_val val = {.mv_size = sizeof(iv), .mv_data = &iv};

                index_key_of(e->owner, e->key, k);
                if (db == s->db_recent) {
                        MDB_val found;

                        r = mdb_get(txn, s->db_objects, &key, &found);
                        if (r == 0)
                                continue;
                        if (r != MDB_NOTFOUND)
                                return mdb_to_errno(r);
                }
                r = mdb_put(txn, db, &key, &val, MDB_NOOVERWRITE);
                if (r == MDB_KEYEXIST)
                        continue;
                if (r != 0)
                        return mdb_to_errno(r);
                bytes += sizeof(struct ckpt_pack_object) + e->clen;
        }
        r = meta_get_u64(s, txn, "stored_bytes", &stored);
        if (r < 0)
                return r;
        r = meta_put_u64(s, txn, "stored_bytes", stored + bytes);
        if (r < 0)
                return r;
        return meta_put_end(s, txn);
}

void pending_committed(struct ckpt_store *s)
{
        pthread_mutex_lock(&s->pending_lock);
        pending_clear(&s->pending);
        pthread_mutex_unlock(&s->pending_lock);
}

/* Called with put_lock held. */
int store_sync_locked(struct ckpt_store *s)
{
        int r;

        r = packs_sync_locked(s);
        if (r < 0)
                return r;
        /* Step 2: only now does the index point at them. */
        if (s->pending.n > 0) {
                r = store_write_txn(s, commit_pending_txn, NULL);
                if (r < 0)
                        return log_debug_errno(r, "store: committing %zu index entries failed: %m",
                                               s->pending.n);
                pending_committed(s);
        }
        return 0;
}

int store_sync(struct ckpt_store *s)
{
        int r;

        if (!s)
                return -EINVAL;
        pthread_mutex_lock(&s->put_lock);
        r = store_sync_locked(s);
        pthread_mutex_unlock(&s->put_lock);
        return r;
}

int store_decode_index_val(const void *val, size_t size, struct store_object *ret)
{
        struct index_val iv;

        if (size != sizeof(iv))
                return -EBADMSG;
        memcpy(&iv, val, sizeof(iv));
        ret->pack = le32toh(iv.pack);
        ret->offset = le64toh(iv.offset);
        ret->clen = le32toh(iv.clen);
        ret->codec = iv.codec;
        return 0;
}

static void object_from_kv(const MDB_val *key, const MDB_val *val, struct store_object *o)
{
        uint32_t be;

        memcpy(&be, key->mv_data, 4);
        (void)store_decode_index_val(val->mv_data, val->mv_size, o); /* size checked */
        o->owner = be32toh(be);
        memcpy(o->key, (const uint8_t *)key->mv_data + 4, 32);
}

static int foreach_db(struct ckpt_store *s, MDB_txn *txn, MDB_dbi db, struct foreach_ctx *c)
{
        MDB_cursor *cur = NULL;
        MDB_val key, val;
        int r, k = 0;

        r = mdb_cursor_open(txn, db, &cur);
        if (r != 0)
                return mdb_to_errno(r);
        for (r = mdb_cursor_get(cur, &key, &val, MDB_FIRST); r == 0;
             r = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
                struct store_object o;

                if (key.mv_size != 36 || val.mv_size != sizeof(struct index_val)) {
                        k = -EBADMSG;
                        break;
                }
                object_from_kv(&key, &val, &o);
                if (c->cb) {
                        k = c->cb(&o, c->userdata);
                        if (k < 0)
                                break;
                        continue;
                }
                if (o.pack != c->only_pack)
                        continue;
                if (c->n == c->cap) {
                        size_t cap = MAX((size_t)256, c->cap * 2);
                        struct store_object *v = realloc(c->v, cap * sizeof(*v));

                        if (!v) {
                                k = -ENOMEM;
                                break;
                        }
                        c->v = v;
                        c->cap = cap;
                }
                c->v[c->n++] = o;
        }
        mdb_cursor_close(cur);
        if (k < 0)
                return k;
        return r == MDB_NOTFOUND ? 0 : mdb_to_errno(r);
}

/* Both B-trees of the index (a key is in one of them). */
int index_foreach_txn(struct ckpt_store *s, MDB_txn *txn, void *userdata)
{
        int r;

        r = foreach_db(s, txn, s->db_objects, userdata);
        if (r < 0)
                return r;
        return foreach_db(s, txn, s->db_recent, userdata);
}

int store_foreach_object(struct ckpt_store *s,
                         int (*cb)(const struct store_object *o, void *userdata), void *userdata)
{
        struct foreach_ctx c = {.cb = cb, .userdata = userdata};
        int r;

        if (!s || !cb)
                return -EINVAL;
        r = store_sync(s);
        if (r < 0)
                return r;
        return store_read_txn(s, index_foreach_txn, &c);
}

int index_objects_txn(struct ckpt_store *s, MDB_txn *txn, void *userdata)
{
        uint64_t *n = userdata;
        MDB_stat a, b;
        int r;

        r = mdb_stat(txn, s->db_objects, &a);
        if (r == 0)
                r = mdb_stat(txn, s->db_recent, &b);
        if (r != 0)
                return mdb_to_errno(r);
        *n = a.ms_entries + b.ms_entries;
        return 0;
}

int index_open_env(struct ckpt_store *s, const char *path)
{
        MDB_txn *txn = NULL;
        uint64_t fmt;
        int r;

        r = mdb_to_errno(mdb_env_create(&s->env));
        if (r < 0)
                return r;
        s->map_size = MAX(s->opts.map_size, (uint64_t)1 << 20);
        r = mdb_to_errno(mdb_env_set_maxdbs(s->env, 8));
        if (r == 0)
                r = mdb_to_errno(mdb_env_set_maxreaders(s->env, 512));
        if (r == 0)
                r = mdb_to_errno(mdb_env_set_mapsize(s->env, (size_t)s->map_size));
        if (r == 0)
                r = mdb_to_errno(mdb_env_open(s->env, path, MDB_NOTLS, 0600));
        if (r < 0)
                return r;
        {
                /* A larger map another run grew to is kept. */
                MDB_envinfo info;

                if (mdb_env_info(s->env, &info) == 0 && info.me_mapsize > s->map_size)
                        s->map_size = info.me_mapsize;
        }

        r = mdb_to_errno(mdb_txn_begin(s->env, NULL, 0, &txn));
        if (r < 0)
                return r;
        r = mdb_to_errno(mdb_dbi_open(txn, "objects", MDB_CREATE, &s->db_objects));
        if (r == 0)
                r = mdb_to_errno(mdb_dbi_open(txn, "recent", MDB_CREATE, &s->db_recent));
        if (r == 0)
                r = mdb_to_errno(mdb_dbi_open(txn, "catalog", MDB_CREATE, &s->db_catalog));
        if (r == 0)
                r = mdb_to_errno(mdb_dbi_open(txn, "meta", MDB_CREATE, &s->db_meta));
        if (r == 0)
                r = meta_get_u64(s, txn, "format", &fmt);
        if (r == 0 && fmt == 0)
                r = meta_put_u64(s, txn, "format", STORE_FORMAT);
        else if (r == 0 && fmt != STORE_FORMAT)
                r = -EPROTONOSUPPORT;
        if (r < 0) {
                mdb_txn_abort(txn);
                return r;
        }
        return mdb_to_errno(mdb_txn_commit(txn));
}

/* ----------------------------------------------------- index health at open */

/* LMDB 0.9's meta page (mdb.c: MDB_page header, MDB_meta) on a 64-bit
 * build: what it reads first, and trusts, when it opens an environment. */
struct lmdb_disk_db {
        uint32_t pad; /* the page size, in the free db's */
        uint16_t flags, depth;
        uint64_t branch_pages, leaf_pages, overflow_pages, entries, root;
} __attribute__((packed));

struct lmdb_disk_meta {
        uint64_t pgno;
        uint16_t pad, flags, lower, upper;
        uint32_t magic, version;
        uint64_t address, mapsize;
        struct lmdb_disk_db dbs[2];
        uint64_t last_pg, txnid;
} __attribute__((packed));

#define LMDB_MAGIC 0xBEEFC0DEu
#define LMDB_DATA_VERSION 1u
#define LMDB_P_META 0x08u
#define LMDB_P_INVALID UINT64_MAX

/* The meta page LMDB would use, checked against the file: a page number past
 * its end is a SIGBUS inside LMDB. */
static int index_check_meta(int fd, uint64_t size, char *why, size_t why_size)
{
        struct lmdb_disk_meta m[2];
        uint64_t psize, pages;
        size_t got;
        int r, use;

        r = pread_all(fd, &m[0], sizeof(m[0]), 0, &got);
        if (r < 0)
                return r;
        if (got < sizeof(m[0])) {
                snprintf(why, why_size, "data.mdb is %" PRIu64 " bytes, shorter than its header",
                         size);
                return -EBADMSG;
        }
        psize = m[0].dbs[0].pad;
        if (psize < 512 || psize > 65536 || (psize & (psize - 1)) != 0 || size < 2 * psize) {
                snprintf(why, why_size, "data.mdb has no valid page size in its first meta page");
                return -EBADMSG;
        }
        r = pread_all(fd, &m[1], sizeof(m[1]), psize, &got);
        if (r < 0)
                return r;
        if (got < sizeof(m[1]))
                memset(&m[1], 0, sizeof(m[1]));
        for (int i = 0; i < 2; i++)
                if (!(m[i].flags & LMDB_P_META) || m[i].magic != LMDB_MAGIC ||
                    m[i].version != LMDB_DATA_VERSION || m[i].pgno != (uint64_t)i) {
                        snprintf(why, why_size, "data.mdb meta page %d is damaged", i);
                        return -EBADMSG;
                }
        use = m[1].txnid > m[0].txnid ? 1 : 0;
        pages = size / psize;
        if (m[use].last_pg >= pages) {
                snprintf(why, why_size,
                         "data.mdb is %" PRIu64 " bytes but its meta page names page %" PRIu64
                         " (of %" PRIu64 " bytes each): truncated",
                         size, m[use].last_pg, psize);
                return -EBADMSG;
        }
        for (int k = 0; k < 2; k++) {
                const struct lmdb_disk_db *db = &m[use].dbs[k];

                if ((db->root != LMDB_P_INVALID && db->root > m[use].last_pg) || db->depth > 32 ||
                    db->branch_pages + db->leaf_pages + db->overflow_pages > m[use].last_pg + 1) {
                        snprintf(why, why_size, "data.mdb meta page %d: database %d is damaged",
                                 use, k);
                        return -EBADMSG;
                }
        }
        return 0;
}

/* In a child process: every page of every B-tree of the index, through
 * LMDB's own reader. LMDB trusts its pages (an assertion or a stray
 * pointer on a damaged one): a crash here costs only the child. Exit 0:
 * sound; 1: damaged (the reason on fd). */
__attribute__((noreturn)) static void index_walk_child(const char *path, uint64_t map_size, int fd)
{
        static const struct {
                const char *name;
                size_t key_min, key_max, val_min, val_max;
        } dbs[] = {
                {"objects", 36, 36, sizeof(struct index_val), sizeof(struct index_val)},
                {"recent", 36, 36, sizeof(struct index_val), sizeof(struct index_val)},
                {"catalog", 8, 8, 8, 4096},
                {"meta", 1, 64, 1, 64},
        };
        char why[256] = "";
        MDB_env *env = NULL;
        MDB_txn *txn = NULL;
        MDB_envinfo info;
        int r;

        r = mdb_env_create(&env);
        if (r == 0)
                r = mdb_env_set_maxdbs(env, 8);
        if (r == 0)
                r = mdb_env_set_mapsize(env, (size_t)map_size);
        if (r == 0)
                r = mdb_env_open(env, path, MDB_RDONLY | MDB_NOTLS, 0600);
        if (r == 0)
                r = mdb_env_info(env, &info);
        if (r == 0)
                r = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn);
        if (r != 0) {
                snprintf(why, sizeof(why), "LMDB cannot open it: %s", mdb_strerror(r));
                goto fail;
        }
        /* The free list (db 0): page numbers, each inside the file. */
        for (size_t d = 0; d <= ELEMENTSOF(dbs); d++) {
                MDB_cursor *c = NULL;
                MDB_val k, v;
                MDB_dbi dbi = 0;
                const char *name = d == 0 ? "free list" : dbs[d - 1].name;
                size_t seen;

                if (d > 0) {
                        /* Every index ckptd wrote has all four. */
                        r = mdb_dbi_open(txn, name, 0, &dbi);
                        if (r != 0) {
                                snprintf(why, sizeof(why), "database '%s': %s", name,
                                         mdb_strerror(r));
                                goto fail;
                        }
                }
                r = mdb_cursor_open(txn, dbi, &c);
                if (r != 0) {
                        snprintf(why, sizeof(why), "database '%s': %s", name, mdb_strerror(r));
                        goto fail;
                }
                seen = 0;
                for (r = mdb_cursor_get(c, &k, &v, MDB_FIRST); r == 0;
                     r = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
                        seen++;
                        if (d == 0) {
                                uint64_t cnt, pg;

                                if (v.mv_size < 8 || v.mv_size % 8 != 0) {
                                        r = MDB_CORRUPTED;
                                        break;
                                }
                                memcpy(&cnt, v.mv_data, 8);
                                if (cnt != v.mv_size / 8 - 1) {
                                        r = MDB_CORRUPTED;
                                        break;
                                }
                                for (uint64_t i = 1; i <= cnt; i++) {
                                        memcpy(&pg, (const uint8_t *)v.mv_data + 8 * i, 8);
                                        if (pg > info.me_last_pgno)
                                                r = MDB_CORRUPTED;
                                }
                                if (r != 0)
                                        break;
                                continue;
                        }
                        if (k.mv_size < dbs[d - 1].key_min || k.mv_size > dbs[d - 1].key_max ||
                            v.mv_size < dbs[d - 1].val_min || v.mv_size > dbs[d - 1].val_max) {
                                r = MDB_CORRUPTED;
                                break;
                        }
                }
                mdb_cursor_close(c);
                if (r != MDB_NOTFOUND) {
                        snprintf(why, sizeof(why), "database '%s': %s", name, mdb_strerror(r));
                        goto fail;
                }
                /* A page that reads as empty hides what the B-tree counts. */
                if (d > 0) {
                        MDB_stat ms;

                        if (mdb_stat(txn, dbi, &ms) != 0 || ms.ms_entries != seen) {
                                snprintf(why, sizeof(why),
                                         "database '%s': %zu entries found of %zu counted", name,
                                         seen, (size_t)ms.ms_entries);
                                goto fail;
                        }
                }
        }
        _exit(0);
fail:
        (void)!write(fd, why, strlen(why));
        _exit(1);
}

/* 0: sound; -EBADMSG: damaged (why says how); other <0: cannot tell. */
static int index_check_deep(const char *path, uint64_t map_size, char *why, size_t why_size)
{
        _cleanup_close_ int rfd = -EBADF, wfd = -EBADF;
        int fds[2], status;
        ssize_t k;
        pid_t pid;

        if (pipe2(fds, O_CLOEXEC) < 0)
                return negative_errno();
        rfd = fds[0];
        wfd = fds[1];
        pid = fork();
        if (pid < 0)
                return negative_errno();
        if (pid == 0)
                index_walk_child(path, map_size, wfd);
        wfd = safe_close(wfd);
        k = read(rfd, why, why_size - 1);
        why[MAX(k, (ssize_t)0)] = 0;
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return negative_errno();
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
                return 0;
        if (WIFSIGNALED(status))
                snprintf(why, why_size, "LMDB crashed reading it (%s)",
                         strsignal(WTERMSIG(status)));
        else if (!why[0])
                snprintf(why, why_size, "its check exited with %d", WEXITSTATUS(status));
        return -EBADMSG;
}

int index_health(struct ckpt_store *s, const char *index_path, char *why, size_t why_size)
{
        _cleanup_close_ int fd = -EBADF;
        struct stat st;
        int r;

        fd = openat(s->dir_fd, "index/data.mdb", O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
                if (errno != ENOENT)
                        return negative_errno();
                snprintf(why, why_size, "missing ('index/data.mdb' does not exist)");
                return INDEX_MISSING;
        }
        if (fstat(fd, &st) < 0)
                return negative_errno();
        if (st.st_size == 0) {
                snprintf(why, why_size, "missing ('index/data.mdb' is empty)");
                return INDEX_MISSING;
        }
        r = index_check_meta(fd, (uint64_t)st.st_size, why, why_size);
        if (r == 0)
                r = index_check_deep(index_path, MAX(s->opts.map_size, (uint64_t)st.st_size), why,
                                     why_size);
        if (r == -EBADMSG)
                return INDEX_DAMAGED;
        return r < 0 ? r : INDEX_SOUND;
}

int index_move_aside(struct ckpt_store *s, const char *what)
{
        char name[64], stamp[32];
        struct tm tm;
        time_t now = time(NULL);
        int r;

        gmtime_r(&now, &tm);
        strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
        for (unsigned i = 0;; i++) {
                if (i == 0)
                        snprintf(name, sizeof(name), "index.%s-%s", what, stamp);
                else
                        snprintf(name, sizeof(name), "index.%s-%s.%u", what, stamp, i);
                if (renameat2(s->dir_fd, "index", s->dir_fd, name, RENAME_NOREPLACE) == 0)
                        break;
                if (errno == ENOENT)
                        return 0;
                if (errno != EEXIST || i >= 100)
                        return negative_errno();
        }
        if (mkdirat(s->dir_fd, "index", 0700) < 0)
                return negative_errno();
        if (fsync(s->dir_fd) < 0)
                return negative_errno();
        log_info("store: the old index was kept as '%s/%s'", s->dir, name);
        r = 0;
        return r;
}
