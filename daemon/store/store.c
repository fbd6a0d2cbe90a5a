/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * store.c: the content-addressed page store (layout and write order in
 * store.h, pack format in include/ckpt/manifest.h).
 *
 * Owns: the state directory and its lock, pack files, the LMDB environment
 * (objects index, catalog, meta), the in-memory table of objects written but
 * not yet committed to the index, and a small cache of resolved views. It
 * never interprets process state: it stores pages and manifests it is given.
 *
 * Objects written by store_put_pages() are first recorded in the pending
 * table (in memory, visible to readers of this store at once); store_sync()
 * fsyncs the packs and only then commits the pending entries to LMDB in one
 * write transaction, so the index never points at bytes that are not durable.
 *
 * Locks, outer to inner: commit_lock (read-held by every store_commit(),
 * write-held by whole-store operations: delete, the start of a gc, verify's
 * listing) -> put_lock (one writer of packs) -> env_lock (read-held around
 * every LMDB transaction, write-held only to grow the map) -> pending_lock /
 * packs_lock / cache_lock / dctx_lock / gc_lock (leaves).
 *
 * The gc guard (store-gc.h): store_put_pages() records every key it returns
 * in `fresh` until a commit lists it; store_gc_begin() turns `fresh` into
 * `stale` (dropping the previous `stale`); while a gc is under way the keys of
 * every manifest committed are also recorded in gc_keys. All under put_lock,
 * which store_repack() holds from its live() calls to its index commit.
 */
#include "store.h"

#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <inttypes.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#include "fd-util.h"
#include "log.h"
#include "macro.h"
#include "sha256.h"
#include "store-gc.h"

#define CHUNK_PAGES 256u /* pages hashed/compressed/written as one unit of work */
#define MAX_THREADS 16u
#define VIEW_CACHE_SIZE 4u
#define CHAIN_MAX 100000u
#define STORE_FORMAT 1u

/* zstd level 1: compression is most of what a full checkpoint of
 * compressible memory costs. On 4 KiB pages level 3 compresses no better and
 * costs ~30% more CPU; the fast level -1 is ~25% quicker but stores ~27% more
 * on text-like memory (measured on tests/bench/bigmem's text), and the store
 * keeps every checkpoint, so level 1 by default. STORE_COMPRESS_FAST (-1) is
 * for the pages of incremental checkpoints, taken every few seconds while the
 * process competes for the same CPUs: on a redis heap it compresses 1.75x
 * faster for 9% more bytes. */
#define ZSTD_LEVEL 1
#define ZSTD_LEVEL_FAST (-1)
/* Estimated entropy (bits per byte, from a sample) above which zstd is not
 * even tried: such pages do not shrink and compressing them costs more than
 * hashing them. Random data estimates ~7.6 here (512 samples). */
#define ENTROPY_RAW_THRESHOLD 7.2

unsigned store_threads = 0;
uint64_t store_pack_roll_size = 256ULL << 20;
/* New index entries go into a small B-tree ("recent") and move into
 * "objects" in bulk once it holds this many. LMDB copies every leaf a
 * transaction changes, and object keys are random: indexing a checkpoint's
 * 2600 new objects straight into the index of a 1 GiB process rewrote ~2000
 * leaves (8 MiB, ~35 ms with its fsync) at every commit; into "recent" it
 * rewrites at most its ~250 leaves. */
uint64_t store_index_recent_max = 16384;
uint64_t store_map_size = 64ULL << 30; /* sparse: only what is used takes disk */
uint64_t store_lock_wait_ms = 5000;

/* Index value, as stored in LMDB (little-endian, packed). */
struct index_val {
        uint32_t pack;
        uint64_t offset;
        uint32_t clen;
        uint8_t codec;
} __attribute__((packed));

struct pending_entry {
        uint32_t owner;
        uint8_t key[32];
        uint32_t pack;
        uint64_t offset;
        uint32_t clen;
        uint8_t codec;
};

/* Objects written to packs but not yet in the index: a vector plus an open
 * addressing hash of indices (slot value = index + 1, 0 = empty). */
struct pending {
        struct pending_entry *v;
        size_t n, cap;
        uint32_t *slots;
        size_t n_slots; /* power of two, >= 2 * cap */
        uint64_t bytes;
};

struct put_worker {
        struct sha256_ctx *sha;
        ZSTD_CCtx *zc;
        uint8_t *cbuf;                 /* CHUNK_PAGES x PAGE compressed frames */
        struct ckpt_pack_object *hdrs; /* CHUNK_PAGES */
        uint32_t *obj_page;            /* page index (in chunk) of each object */
        struct iovec *iov;             /* 2 x CHUNK_PAGES */
        MDB_txn *rtxn;
        pthread_t thread;
        struct put_job *job;
};

struct view_slot {
        uint64_t id;
        uint64_t stamp;
        struct ckpt_manifest *view;
};

struct ckpt_store {
        char *dir;
        int dir_fd, lock_fd, packs_fd, manifests_fd;

        MDB_env *env;
        MDB_dbi db_objects, db_recent, db_catalog, db_meta;
        uint64_t map_size;
        pthread_rwlock_t env_lock;

        pthread_mutex_t put_lock;
        struct put_worker *workers;
        unsigned n_workers;

        pthread_mutex_t pending_lock;
        struct pending pending;
        /* Written up to here in the current pack (under pending_lock too). */
        uint32_t cur_pack;
        uint64_t cur_off;
        /* Oldest pack holding bytes not yet fsynced, and whether a pack was
         * created since the packs directory was last fsynced. */
        uint32_t unsynced_from;
        bool unsynced;
        bool packs_dir_dirty;

        pthread_rwlock_t packs_lock; /* write-held to open or close a pack fd */
        int *pack_fds;               /* by pack number, -EBADF when not open */
        size_t n_pack_fds;

        pthread_mutex_t dctx_lock;
        ZSTD_DCtx *dctx[MAX_THREADS];
        size_t n_dctx;

        pthread_mutex_t cache_lock;
        struct view_slot cache[VIEW_CACHE_SIZE];
        uint64_t cache_stamp;

        pthread_rwlock_t commit_lock;

        /* Ids are handed out here; "next_id" in the index follows at each
         * commit. An id given to a checkpoint that was never committed may
         * be given again after a restart: no one has seen it. */
        pthread_mutex_t id_lock;
        uint64_t next_id;

        pthread_mutex_t gc_lock;
        unsigned gc_active;           /* gcs under way */
        struct store_keyset *gc_keys; /* keys committed since the gc began */
        struct store_keyset *fresh;   /* keys stored since the last gc began, not committed */
        struct store_keyset *stale;   /* the same, from the gc before */
        bool gc_keys_failed, fresh_failed, stale_failed; /* out of memory: all is live */
};

/* ------------------------------------------------------------------ helpers */

static int mdb_to_errno(int r)
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

static void key_of(uint32_t owner, const uint8_t sha[32], uint8_t ret[36])
{
        uint32_t be = htobe32(owner);

        memcpy(ret, &be, 4);
        memcpy(ret + 4, sha, 32);
}

static bool page_is_zero(const uint8_t *p)
{
        uint64_t acc = 0, w;

        memcpy(&w, p, sizeof(w));
        if (w)
                return false;
        for (size_t i = 0; i < PAGE; i += sizeof(w)) {
                memcpy(&w, p + i, sizeof(w));
                acc |= w;
        }
        return acc == 0;
}

static float entropy_table[513]; /* c * log2(c) */
static pthread_once_t entropy_once = PTHREAD_ONCE_INIT;

/* log2 without libm (the table is built once): exponent, then the mantissa
 * m in [1, 2) through ln(m) = 2 atanh((m - 1) / (m + 1)). */
static double log2_small(double x)
{
        double z, z2, sum = 0, term;
        int e = 0;

        while (x >= 2.0) {
                x /= 2.0;
                e++;
        }
        z = (x - 1.0) / (x + 1.0);
        z2 = z * z;
        term = z;
        for (int k = 1; k < 40; k += 2) {
                sum += term / k;
                term *= z2;
        }
        return e + 2.0 * sum / 0.69314718055994530942;
}

static void entropy_init(void)
{
        for (unsigned c = 1; c < ELEMENTSOF(entropy_table); c++)
                entropy_table[c] = (float)(c * log2_small(c));
}

/* Sample 8 consecutive bytes every 64 (512 bytes): whole 64-bit words, so
 * arrays of small integers or pointers show their zero high bytes. Two
 * histograms halve the store-to-load dependencies on repeated bytes. */
static bool page_looks_incompressible(const uint8_t *p)
{
        uint16_t h0[256] = {}, h1[256] = {};
        float sum = 0;

        for (size_t i = 0; i < PAGE; i += 64) {
                h0[p[i]]++;
                h1[p[i + 1]]++;
                h0[p[i + 2]]++;
                h1[p[i + 3]]++;
                h0[p[i + 4]]++;
                h1[p[i + 5]]++;
                h0[p[i + 6]]++;
                h1[p[i + 7]]++;
        }
        for (size_t b = 0; b < 256; b++)
                sum += entropy_table[h0[b] + h1[b]];
        return 9.0f - sum / 512.0f > ENTROPY_RAW_THRESHOLD;
}

static int pread_all(int fd, void *buf, size_t n, uint64_t off, size_t *ret_read)
{
        uint8_t *p = buf;
        size_t done = 0;

        while (done < n) {
                ssize_t k = pread(fd, p + done, n - done, (off_t)(off + done));
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                if (k == 0)
                        break;
                done += k;
        }
        *ret_read = done;
        return 0;
}

/* ------------------------------------------------------------ pending table */

static uint64_t pending_hash(uint32_t owner, const uint8_t key[32])
{
        uint64_t h;

        memcpy(&h, key, sizeof(h));
        return h ^ ((uint64_t)owner * 0x9e3779b97f4a7c15ULL);
}

static struct pending_entry *pending_find(struct pending *p, uint32_t owner, const uint8_t key[32])
{
        size_t mask, i;

        if (p->n_slots == 0)
                return NULL;
        mask = p->n_slots - 1;
        for (i = pending_hash(owner, key) & mask; p->slots[i]; i = (i + 1) & mask) {
                struct pending_entry *e = &p->v[p->slots[i] - 1];
                if (e->owner == owner && memcmp(e->key, key, 32) == 0)
                        return e;
        }
        return NULL;
}

static void pending_slot_insert(struct pending *p, size_t idx)
{
        size_t mask = p->n_slots - 1, i;

        for (i = pending_hash(p->v[idx].owner, p->v[idx].key) & mask; p->slots[i];
             i = (i + 1) & mask)
                ;
        p->slots[i] = (uint32_t)(idx + 1);
}

static int pending_rehash(struct pending *p, size_t n_slots)
{
        uint32_t *slots = calloc(n_slots, sizeof(*slots));

        if (!slots)
                return -ENOMEM;
        free(p->slots);
        p->slots = slots;
        p->n_slots = n_slots;
        for (size_t i = 0; i < p->n; i++)
                pending_slot_insert(p, i);
        return 0;
}

static int pending_add(struct pending *p, const struct pending_entry *e)
{
        int r;

        if (p->n >= UINT32_MAX - 1)
                return -E2BIG;
        if (p->n == p->cap) {
                size_t cap = MAX((size_t)1024, p->cap * 2);
                struct pending_entry *v = realloc(p->v, cap * sizeof(*v));

                if (!v)
                        return -ENOMEM;
                p->v = v;
                p->cap = cap;
        }
        if (p->n_slots < 2 * p->cap) {
                p->v[p->n] = *e; /* not yet counted: rehash covers [0, n) */
                r = pending_rehash(p, 4 * p->cap);
                if (r < 0)
                        return r;
        }
        p->v[p->n] = *e;
        pending_slot_insert(p, p->n);
        p->n++;
        p->bytes += sizeof(struct ckpt_pack_object) + e->clen;
        return 0;
}

/* Back to the first n entries (a failed write). */
static void pending_truncate(struct pending *p, size_t n)
{
        if (n >= p->n)
                return;
        for (size_t i = n; i < p->n; i++)
                p->bytes -= sizeof(struct ckpt_pack_object) + p->v[i].clen;
        p->n = n;
        if (p->n_slots > 0) {
                memset(p->slots, 0, p->n_slots * sizeof(*p->slots));
                for (size_t i = 0; i < p->n; i++)
                        pending_slot_insert(p, i);
        }
}

static void pending_clear(struct pending *p)
{
        pending_truncate(p, 0);
        p->bytes = 0;
}

static void pending_done(struct pending *p)
{
        free(p->v);
        free(p->slots);
        *p = (struct pending){};
}

/* ------------------------------------------------------------------- LMDB */

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

typedef int (*txn_fn)(struct ckpt_store *s, MDB_txn *txn, void *userdata);

/* Runs fn in a write transaction and commits it, growing the map and
 * retrying when it is full. */
static int store_write_txn(struct ckpt_store *s, txn_fn fn, void *userdata)
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

typedef int (*rtxn_fn)(struct ckpt_store *s, MDB_txn *txn, void *userdata);

static int store_read_txn(struct ckpt_store *s, rtxn_fn fn, void *userdata)
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

static int index_get(struct ckpt_store *s, MDB_txn *txn, uint32_t owner, const uint8_t sha[32],
                     struct pending_entry *ret)
{
        uint8_t k[36];
        MDB_val key = {.mv_size = sizeof(k), .mv_data = k}, val;
        int r;

        key_of(owner, sha, k);
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

/* ------------------------------------------------------------------- packs */

static int pack_fd_slot(struct ckpt_store *s, uint32_t pack)
{
        if (pack >= s->n_pack_fds) {
                size_t n = MAX((size_t)pack + 1, s->n_pack_fds * 2);
                int *v = realloc(s->pack_fds, n * sizeof(*v));

                if (!v)
                        return -ENOMEM;
                for (size_t i = s->n_pack_fds; i < n; i++)
                        v[i] = -EBADF;
                s->pack_fds = v;
                s->n_pack_fds = n;
        }
        return 0;
}

/* A read descriptor for a pack, opened on first use and kept. */
static int pack_get_fd(struct ckpt_store *s, uint32_t pack)
{
        char name[32];
        int r, fd;

        pthread_rwlock_wrlock(&s->packs_lock);
        r = pack_fd_slot(s, pack);
        if (r < 0)
                goto out;
        if (s->pack_fds[pack] < 0) {
                snprintf(name, sizeof(name), "pack-%08u.pack", pack);
                fd = openat(s->packs_fd, name, O_RDONLY | O_CLOEXEC);
                if (fd < 0) {
                        r = negative_errno();
                        goto out;
                }
                s->pack_fds[pack] = fd;
        }
        r = s->pack_fds[pack];
out:
        pthread_rwlock_unlock(&s->packs_lock);
        return r;
}

/* Read from a pack while no one can close its descriptor. */
static int pack_pread(struct ckpt_store *s, uint32_t pack, void *buf, size_t n, uint64_t off,
                      size_t *ret_read)
{
        for (unsigned attempt = 0; attempt < 2; attempt++) {
                int fd = -EBADF, r;

                pthread_rwlock_rdlock(&s->packs_lock);
                if (pack < s->n_pack_fds)
                        fd = s->pack_fds[pack];
                if (fd >= 0) {
                        r = pread_all(fd, buf, n, off, ret_read);
                        pthread_rwlock_unlock(&s->packs_lock);
                        return r;
                }
                pthread_rwlock_unlock(&s->packs_lock);
                r = pack_get_fd(s, pack);
                if (r < 0)
                        return r;
        }
        return -EBADF;
}

static int pack_create(struct ckpt_store *s, uint32_t pack)
{
        struct ckpt_pack_header h = {};
        _cleanup_close_ int fd = -EBADF;
        char name[32];
        int r;

        snprintf(name, sizeof(name), "pack-%08u.pack", pack);
        fd = openat(s->packs_fd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0)
                return negative_errno();
        memcpy(h.magic, CKPT_PACK_MAGIC, sizeof(h.magic));
        h.version = htole32(CKPT_PACK_VERSION);
        h.number = htole32(pack);
        r = pwrite_all(fd, &h, sizeof(h), 0);
        if (r < 0) {
                (void)unlinkat(s->packs_fd, name, 0);
                return r;
        }
        pthread_rwlock_wrlock(&s->packs_lock);
        r = pack_fd_slot(s, pack);
        if (r == 0) {
                safe_close(s->pack_fds[pack]);
                s->pack_fds[pack] = TAKE_FD(fd);
        }
        pthread_rwlock_unlock(&s->packs_lock);
        if (r < 0) {
                (void)unlinkat(s->packs_fd, name, 0);
                return r;
        }
        s->packs_dir_dirty = true;
        return 0;
}

static void pack_remove(struct ckpt_store *s, uint32_t pack)
{
        char name[32];

        snprintf(name, sizeof(name), "pack-%08u.pack", pack);
        pthread_rwlock_wrlock(&s->packs_lock);
        if (pack < s->n_pack_fds)
                s->pack_fds[pack] = safe_close(s->pack_fds[pack]);
        pthread_rwlock_unlock(&s->packs_lock);
        (void)unlinkat(s->packs_fd, name, 0);
}

/* The current pack, writable. Called under put_lock. */
static int pack_cur_fd(struct ckpt_store *s)
{
        int fd;

        pthread_rwlock_wrlock(&s->packs_lock);
        fd = s->cur_pack < s->n_pack_fds ? s->pack_fds[s->cur_pack] : -EBADF;
        pthread_rwlock_unlock(&s->packs_lock);
        return fd;
}

static int pack_roll(struct ckpt_store *s)
{
        int r = pack_create(s, s->cur_pack + 1);

        if (r < 0)
                return r;
        pthread_mutex_lock(&s->pending_lock);
        if (!s->unsynced) {
                s->unsynced_from = s->cur_pack + 1;
                s->unsynced = true;
        }
        s->cur_pack++;
        s->cur_off = sizeof(struct ckpt_pack_header);
        pthread_mutex_unlock(&s->pending_lock);
        log_debug("store: started pack %u", s->cur_pack);
        return 0;
}

/* Undo appends under put_lock: remove packs started since, cut the one that
 * was current back to where it was. */
static void packs_rollback(struct ckpt_store *s, uint32_t start_pack, uint64_t start_off,
                           bool start_unsynced)
{
        int fd;

        for (uint32_t p = s->cur_pack; p > start_pack; p--)
                pack_remove(s, p);
        pthread_mutex_lock(&s->pending_lock);
        s->cur_pack = start_pack;
        s->cur_off = start_off;
        s->unsynced = start_unsynced;
        pthread_mutex_unlock(&s->pending_lock);
        fd = pack_cur_fd(s);
        if (fd >= 0 && ftruncate(fd, (off_t)start_off) < 0)
                log_debug_errno(negative_errno(),
                                "store: cannot truncate pack %u back, ignoring: %m", start_pack);
}

/* ---------------------------------------------------------------- gc guard */

static void keys_add(struct store_keyset **k, bool *failed, uint32_t owner,
                     const struct ckpt_page *v, size_t n)
{
        if (*failed)
                return;
        if (!*k && store_keyset_new(k) < 0) {
                *failed = true;
                return;
        }
        for (size_t i = 0; i < n; i++)
                if (v[i].kind == CKPT_PAGE_DATA && store_keyset_add(*k, owner, v[i].key) < 0) {
                        *failed = true;
                        return;
                }
}

/* Under put_lock: keys store_put_pages() hands out. */
static void gc_note_put(struct ckpt_store *s, uint32_t owner, const struct ckpt_page *v, size_t n)
{
        pthread_mutex_lock(&s->gc_lock);
        keys_add(&s->fresh, &s->fresh_failed, owner, v, n);
        pthread_mutex_unlock(&s->gc_lock);
}

/* Under put_lock: the keys of a manifest being committed. A gc under way
 * keeps them; they are no longer only in flight. */
static void gc_note_commit(struct ckpt_store *s, const struct ckpt_manifest *m)
{
        pthread_mutex_lock(&s->gc_lock);
        if (s->gc_active > 0)
                keys_add(&s->gc_keys, &s->gc_keys_failed, m->uid, m->pages, m->n_pages);
        for (size_t i = 0; i < m->n_pages; i++) {
                if (m->pages[i].kind != CKPT_PAGE_DATA)
                        continue;
                store_keyset_remove(s->fresh, m->uid, m->pages[i].key);
                store_keyset_remove(s->stale, m->uid, m->pages[i].key);
        }
        pthread_mutex_unlock(&s->gc_lock);
}

int store_gc_begin(struct ckpt_store *s)
{
        if (!s)
                return -EINVAL;
        pthread_mutex_lock(&s->gc_lock);
        if (s->gc_active++ == 0) {
                s->gc_keys_failed = false;
                if (store_keyset_new(&s->gc_keys) < 0)
                        s->gc_keys_failed = true;
                /* Stored before the previous gc began and still not
                 * committed: given up on. */
                store_keyset_free(s->stale);
                s->stale = TAKE_PTR(s->fresh);
                s->stale_failed = s->fresh_failed;
                s->fresh_failed = false;
        }
        pthread_mutex_unlock(&s->gc_lock);
        /* Commits that started before saw no gc: let them reach the catalog,
         * where the mark finds them. Later ones record their keys. */
        pthread_rwlock_wrlock(&s->commit_lock);
        pthread_rwlock_unlock(&s->commit_lock);
        return 0;
}

void store_gc_end(struct ckpt_store *s)
{
        if (!s)
                return;
        pthread_mutex_lock(&s->gc_lock);
        if (s->gc_active > 0 && --s->gc_active == 0) {
                s->gc_keys = store_keyset_free(s->gc_keys);
                s->gc_keys_failed = false;
        }
        pthread_mutex_unlock(&s->gc_lock);
}

bool store_gc_protected(struct ckpt_store *s, uint32_t owner, const uint8_t key[32])
{
        bool r;

        pthread_mutex_lock(&s->gc_lock);
        r = s->gc_keys_failed || s->fresh_failed || s->stale_failed ||
            store_keyset_contains(s->gc_keys, owner, key) ||
            store_keyset_contains(s->fresh, owner, key) ||
            store_keyset_contains(s->stale, owner, key);
        pthread_mutex_unlock(&s->gc_lock);
        return r;
}

void store_block_commits(struct ckpt_store *s)
{
        pthread_rwlock_wrlock(&s->commit_lock);
}

void store_unblock_commits(struct ckpt_store *s)
{
        pthread_rwlock_unlock(&s->commit_lock);
}

/* ---------------------------------------------------------------- put path */

struct put_job {
        struct ckpt_store *s;
        uint32_t owner;
        const uint8_t *pages;        /* contiguous, or: */
        const uint8_t *const *pagev; /* one pointer per page */
        size_t n;
        struct ckpt_page *ret;
        int level; /* zstd's */
        size_t n_chunks;
        atomic_size_t next_chunk;

        pthread_mutex_t lock;
        pthread_cond_t cond;
        size_t next_write; /* chunks are appended in order */
        int error;
        uint64_t new_bytes;
};

static const uint8_t *job_page(const struct put_job *j, size_t i)
{
        return j->pagev ? j->pagev[i] : j->pages + i * PAGE;
}

static void put_job_fail(struct put_job *j, int r)
{
        pthread_mutex_lock(&j->lock);
        if (j->error == 0)
                j->error = r;
        pthread_cond_broadcast(&j->cond);
        pthread_mutex_unlock(&j->lock);
}

/* Hash, look up, compress: everything that can run in parallel. */
static int put_chunk_prepare(struct put_job *j, struct put_worker *w, size_t first, size_t cnt,
                             size_t *ret_n_obj)
{
        struct ckpt_store *s = j->s;
        size_t n_obj = 0;
        bool any = false;
        int r;

        for (size_t k = 0; k < cnt; k++) {
                const uint8_t *page = job_page(j, first + k);
                struct ckpt_page *out = &j->ret[first + k];

                if (page_is_zero(page)) {
                        out->kind = CKPT_PAGE_ZERO;
                        memset(out->key, 0, sizeof(out->key));
                        continue;
                }
                r = sha256_digest(w->sha, page, PAGE, out->key);
                if (r < 0)
                        return r;
                out->kind = CKPT_PAGE_DATA;
                w->obj_page[n_obj++] = (uint32_t)k;
                any = true;
        }
        if (!any) {
                *ret_n_obj = 0;
                return 0;
        }

        /* Dedup against the index and the pending table; keep the new ones. */
        pthread_rwlock_rdlock(&s->env_lock);
        r = w->rtxn ? mdb_txn_renew(w->rtxn) : mdb_txn_begin(s->env, NULL, MDB_RDONLY, &w->rtxn);
        if (r != 0) {
                pthread_rwlock_unlock(&s->env_lock);
                return mdb_to_errno(r);
        }
        /* The pending table under its lock, the index without it (LMDB
         * readers do not block each other). An object that moves from the
         * pending table to the index in between is found in the index; one
         * that another thread adds meanwhile is caught again when written. */
        {
                size_t keep = 0;

                pthread_mutex_lock(&s->pending_lock);
                for (size_t o = 0; o < n_obj; o++)
                        if (!pending_find(&s->pending, j->owner,
                                          j->ret[first + w->obj_page[o]].key))
                                w->obj_page[keep++] = w->obj_page[o];
                pthread_mutex_unlock(&s->pending_lock);
                n_obj = keep;

                keep = 0;
                for (size_t o = 0; o < n_obj; o++) {
                        const uint8_t *key = j->ret[first + w->obj_page[o]].key;

                        r = index_get(s, w->rtxn, j->owner, key, NULL);
                        if (r == 0)
                                continue;
                        if (r != -ENOENT) {
                                mdb_txn_reset(w->rtxn);
                                pthread_rwlock_unlock(&s->env_lock);
                                return r;
                        }
                        w->obj_page[keep++] = w->obj_page[o];
                }
                n_obj = keep;
        }
        mdb_txn_reset(w->rtxn);
        pthread_rwlock_unlock(&s->env_lock);

        for (size_t o = 0; o < n_obj; o++) {
                size_t k = w->obj_page[o];
                const uint8_t *page = job_page(j, first + k);
                struct ckpt_pack_object *h = &w->hdrs[o];
                size_t clen = 0;

                if (!page_looks_incompressible(page)) {
                        clen = ZSTD_compressCCtx(w->zc, w->cbuf + o * PAGE, PAGE - 1, page, PAGE,
                                                 j->level);
                        if (ZSTD_isError(clen))
                                clen = 0; /* did not shrink (dstSize_tooSmall) */
                }
                *h = (struct ckpt_pack_object){
                        .magic = htole32(CKPT_PACK_OBJECT_MAGIC),
                        .owner = htole32(j->owner),
                        .ulen = htole32(PAGE),
                        .clen = htole32(clen ? (uint32_t)clen : PAGE),
                        .codec = clen ? CKPT_CODEC_ZSTD : CKPT_CODEC_RAW,
                };
                memcpy(h->sha256, j->ret[first + k].key, 32);
        }
        *ret_n_obj = n_obj;
        return 0;
}

/* The current pack now ends at new_end: what was written there is not yet
 * durable until the next commit's fsync (unsynced_from names the first pack
 * that commit must sync). */
static void pack_appended(struct ckpt_store *s, uint64_t new_end)
{
        pthread_mutex_lock(&s->pending_lock);
        s->cur_off = new_end;
        if (!s->unsynced) {
                s->unsynced_from = s->cur_pack;
                s->unsynced = true;
        }
        pthread_mutex_unlock(&s->pending_lock);
}

/* Append the chunk's new objects to the pack. Runs in chunk order, one at a
 * time (the job's turn), under put_lock. */
static int put_chunk_write(struct put_job *j, struct put_worker *w, size_t first, size_t n_obj)
{
        struct ckpt_store *s = j->s;
        size_t n_iov = 0;
        uint64_t off, bytes = 0;
        int fd, r = 0;

        if (n_obj == 0)
                return 0;
        if (s->cur_off >= store_pack_roll_size) {
                r = pack_roll(s);
                if (r < 0)
                        return r;
        }
        fd = pack_cur_fd(s);
        if (fd < 0)
                return -EBADF;

        pthread_mutex_lock(&s->pending_lock);
        off = s->cur_off;
        for (size_t o = 0; o < n_obj; o++) {
                size_t k = w->obj_page[o];
                const struct ckpt_pack_object *h = &w->hdrs[o];
                uint32_t clen = le32toh(h->clen);
                struct pending_entry e = {
                        .owner = j->owner,
                        .pack = s->cur_pack,
                        .offset = off + bytes,
                        .clen = clen,
                        .codec = h->codec,
                };

                /* The same page earlier in this call. */
                if (pending_find(&s->pending, j->owner, h->sha256))
                        continue;
                memcpy(e.key, h->sha256, 32);
                r = pending_add(&s->pending, &e);
                if (r < 0)
                        break;
                w->iov[n_iov++] = (struct iovec){(void *)h, sizeof(*h)};
                w->iov[n_iov++] = (struct iovec){
                        h->codec == CKPT_CODEC_ZSTD ? (void *)(w->cbuf + o * PAGE)
                                                    : (void *)(job_page(j, first + k)),
                        clen,
                };
                bytes += sizeof(*h) + clen;
        }
        pthread_mutex_unlock(&s->pending_lock);
        if (r < 0)
                return r;
        if (n_iov == 0)
                return 0;

        r = pwritev_all(fd, w->iov, n_iov, off);
        if (r < 0)
                return r;
        /* Start the write-back now, so that the fsync before the commit
         * finds most of it done: the disk works while we hash. */
        (void)sync_file_range(fd, (off64_t)off, (off64_t)bytes, SYNC_FILE_RANGE_WRITE);

        pack_appended(s, off + bytes);
        j->new_bytes += bytes;
        return 0;
}

static void put_run(struct put_job *j, struct put_worker *w)
{
        for (;;) {
                size_t c = atomic_fetch_add(&j->next_chunk, 1), first, cnt, n_obj = 0;
                int r;

                if (c >= j->n_chunks)
                        return;
                first = c * CHUNK_PAGES;
                cnt = MIN((size_t)CHUNK_PAGES, j->n - first);

                pthread_mutex_lock(&j->lock);
                r = j->error;
                pthread_mutex_unlock(&j->lock);
                if (r < 0)
                        return;

                r = put_chunk_prepare(j, w, first, cnt, &n_obj);
                if (r < 0) {
                        put_job_fail(j, r);
                        return;
                }

                pthread_mutex_lock(&j->lock);
                while (j->next_write != c && j->error == 0)
                        pthread_cond_wait(&j->cond, &j->lock);
                r = j->error;
                pthread_mutex_unlock(&j->lock);
                if (r < 0)
                        return;

                r = put_chunk_write(j, w, first, n_obj);
                pthread_mutex_lock(&j->lock);
                if (r < 0 && j->error == 0)
                        j->error = r;
                j->next_write++;
                pthread_cond_broadcast(&j->cond);
                pthread_mutex_unlock(&j->lock);
                if (r < 0)
                        return;
        }
}

static void *put_thread(void *userdata)
{
        struct put_worker *w = userdata;

        put_run(w->job, w);
        return NULL;
}

static int put_pages(struct ckpt_store *s, uint32_t owner, const void *pages,
                     const uint8_t *const *pagev, size_t n, enum store_compress compress,
                     struct ckpt_page *ret, uint64_t *ret_new_bytes)
{
        struct put_job j = {
                .s = s,
                .owner = owner,
                .pages = pages,
                .pagev = pagev,
                .n = n,
                .ret = ret,
                .level = compress == STORE_COMPRESS_FAST ? ZSTD_LEVEL_FAST : ZSTD_LEVEL,
                .n_chunks = (n + CHUNK_PAGES - 1) / CHUNK_PAGES,
                .lock = PTHREAD_MUTEX_INITIALIZER,
                .cond = PTHREAD_COND_INITIALIZER,
        };
        unsigned started = 0;
        uint32_t start_pack;
        uint64_t start_off;
        size_t start_pending;
        bool start_unsynced;
        int r;

        if (!s || (!pages && !pagev && n > 0) || (!ret && n > 0))
                return -EINVAL;
        if (n == 0) {
                if (ret_new_bytes)
                        *ret_new_bytes = 0;
                return 0;
        }

        pthread_mutex_lock(&s->put_lock);
        pthread_mutex_lock(&s->pending_lock);
        start_pack = s->cur_pack;
        start_off = s->cur_off;
        start_pending = s->pending.n;
        start_unsynced = s->unsynced;
        pthread_mutex_unlock(&s->pending_lock);

        for (unsigned i = 1; i < s->n_workers && i < j.n_chunks; i++) {
                s->workers[i].job = &j;
                if (pthread_create(&s->workers[i].thread, NULL, put_thread, &s->workers[i]) != 0)
                        break;
                started++;
        }
        put_run(&j, &s->workers[0]);
        for (unsigned i = 1; i <= started; i++)
                pthread_join(s->workers[i].thread, NULL);

        r = j.error;
        if (r < 0) {
                /* Leave the store as it was: drop what this call added to the
                 * pending table, then the bytes it appended. */
                pthread_mutex_lock(&s->pending_lock);
                pending_truncate(&s->pending, start_pending);
                pthread_mutex_unlock(&s->pending_lock);
                packs_rollback(s, start_pack, start_off, start_unsynced);
                log_debug_errno(r, "store: writing %zu pages failed: %m", n);
        } else {
                /* Still under put_lock: a repack deciding what lives either
                 * ran before this call (and an object it dropped was written
                 * again) or sees these keys. */
                gc_note_put(s, owner, ret, n);
                if (ret_new_bytes)
                        *ret_new_bytes = j.new_bytes;
        }
        pthread_mutex_unlock(&s->put_lock);
        pthread_mutex_destroy(&j.lock);
        pthread_cond_destroy(&j.cond);
        return r < 0 ? r : 0;
}

int store_put_pages(struct ckpt_store *s, uint32_t owner, const void *pages, size_t n,
                    struct ckpt_page *ret, uint64_t *ret_new_bytes)
{
        return put_pages(s, owner, pages, NULL, n, STORE_COMPRESS_DEFAULT, ret, ret_new_bytes);
}

int store_put_pagev(struct ckpt_store *s, uint32_t owner, const uint8_t *const *pagev, size_t n,
                    enum store_compress compress, struct ckpt_page *ret, uint64_t *ret_new_bytes)
{
        return put_pages(s, owner, NULL, pagev, n, compress, ret, ret_new_bytes);
}

int store_keep_keys(struct ckpt_store *s, uint32_t owner, uint64_t parent_id,
                    const struct ckpt_page *pages, size_t n)
{
        struct store_catalog_entry e;
        int r;

        if (!s || (!pages && n > 0))
                return -EINVAL;
        /* Under put_lock, as store_put_pages() notes the keys it finds: a
         * repack deciding what lives either ran before (while the parent,
         * checked here, still held these objects) or sees the keys. */
        pthread_mutex_lock(&s->put_lock);
        r = store_get_entry(s, parent_id, &e);
        if (r >= 0 && e.uid != owner)
                r = -ENOENT;
        if (r >= 0)
                gc_note_put(s, owner, pages, n);
        pthread_mutex_unlock(&s->put_lock);
        return r < 0 ? r : 0;
}

/* --------------------------------------------------------------- read path */

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

/* Where an object lives: the pending table first (written, not committed),
 * then the index. */
static int store_locate(struct ckpt_store *s, uint32_t owner, const uint8_t key[32],
                        struct pending_entry *ret)
{
        struct lookup_ctx c = {owner, key, ret};
        const struct pending_entry *e;

        pthread_mutex_lock(&s->pending_lock);
        e = pending_find(&s->pending, owner, key);
        if (e) {
                /* Being appended right now and not fully written yet. */
                bool written =
                        !(e->pack == s->cur_pack &&
                          e->offset + sizeof(struct ckpt_pack_object) + e->clen > s->cur_off);
                if (written)
                        *ret = *e;
                pthread_mutex_unlock(&s->pending_lock);
                return written ? 0 : -ENOENT;
        }
        pthread_mutex_unlock(&s->pending_lock);
        return store_read_txn(s, lookup_in_txn, &c);
}

int store_locate_object(struct ckpt_store *s, uint32_t owner, const uint8_t key[32],
                        struct store_object *ret)
{
        struct pending_entry e;
        int r;

        if (!s || !key || !ret)
                return -EINVAL;
        r = store_locate(s, owner, key, &e);
        if (r < 0)
                return r;
        *ret = (struct store_object){
                .owner = owner,
                .pack = e.pack,
                .offset = e.offset,
                .clen = e.clen,
                .codec = e.codec,
        };
        memcpy(ret->key, key, 32);
        return 0;
}

int store_has_page(struct ckpt_store *s, uint32_t owner, const uint8_t key[32])
{
        struct pending_entry e;
        int r;

        if (!s || !key)
                return -EINVAL;
        r = store_locate(s, owner, key, &e);
        if (r == -ENOENT)
                return 0;
        return r < 0 ? r : 1;
}

static ZSTD_DCtx *dctx_get(struct ckpt_store *s)
{
        ZSTD_DCtx *d = NULL;

        pthread_mutex_lock(&s->dctx_lock);
        if (s->n_dctx > 0)
                d = s->dctx[--s->n_dctx];
        pthread_mutex_unlock(&s->dctx_lock);
        return d ?: ZSTD_createDCtx();
}

static void dctx_put(struct ckpt_store *s, ZSTD_DCtx *d)
{
        pthread_mutex_lock(&s->dctx_lock);
        if (s->n_dctx < ELEMENTSOF(s->dctx)) {
                s->dctx[s->n_dctx++] = d;
                d = NULL;
        }
        pthread_mutex_unlock(&s->dctx_lock);
        ZSTD_freeDCtx(d);
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

int store_decode_object(ZSTD_DCtx *d, uint32_t owner, const uint8_t key[32], uint32_t clen,
                        uint8_t codec, const void *rec, size_t size, void *ret_page)
{
        const uint8_t *p = rec;
        struct ckpt_pack_object h;
        uint8_t digest[32];
        int r;

        if (clen > PAGE || (codec != CKPT_CODEC_RAW && codec != CKPT_CODEC_ZSTD) ||
            size != sizeof(h) + clen)
                return -EBADMSG;
        memcpy(&h, p, sizeof(h));
        if (le32toh(h.magic) != CKPT_PACK_OBJECT_MAGIC || le32toh(h.owner) != owner ||
            memcmp(h.sha256, key, 32) != 0 || le32toh(h.ulen) != PAGE || le32toh(h.clen) != clen ||
            h.codec != codec)
                return -EBADMSG;

        if (codec == CKPT_CODEC_RAW) {
                if (clen != PAGE)
                        return -EBADMSG;
                memcpy(ret_page, p + sizeof(h), PAGE);
        } else {
                size_t k = ZSTD_decompressDCtx(d, ret_page, PAGE, p + sizeof(h), clen);

                if (ZSTD_isError(k) || k != PAGE)
                        return -EBADMSG;
        }
        r = sha256_once(ret_page, PAGE, digest);
        if (r < 0)
                return r;
        if (memcmp(digest, key, 32) != 0)
                return -EBADMSG;
        return 0;
}

int store_get_page(struct ckpt_store *s, uint32_t owner, const uint8_t key[32], void *ret_page)
{
        uint8_t buf[sizeof(struct ckpt_pack_object) + PAGE];
        struct ckpt_pack_object h;
        struct pending_entry e;
        ZSTD_DCtx *d;
        size_t got;
        int r;

        if (!s || !key || !ret_page)
                return -EINVAL;
        for (unsigned attempt = 0;; attempt++) {
                r = store_locate(s, owner, key, &e);
                if (r < 0)
                        return r;
                if (e.clen > PAGE || (e.codec != CKPT_CODEC_RAW && e.codec != CKPT_CODEC_ZSTD))
                        return -EBADMSG;
                r = pack_pread(s, e.pack, buf, sizeof(h) + e.clen, e.offset, &got);
                /* A repack moved it between the lookup and the read. */
                if (r == -ENOENT && attempt == 0)
                        continue;
                if (r == -ENOENT)
                        return -EBADMSG;
                if (r < 0)
                        return r;
                break;
        }
        if (got != sizeof(h) + e.clen)
                return -EBADMSG; /* truncated pack */

        d = dctx_get(s);
        if (!d)
                return -ENOMEM;
        r = store_decode_object(d, owner, key, e.clen, e.codec, buf, got, ret_page);
        dctx_put(s, d);
        return r;
}

/* -------------------------------------------------------------------- sync */

static int meta_get_u64(struct ckpt_store *s, MDB_txn *txn, const char *name, uint64_t *ret)
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

static int meta_put_u64(struct ckpt_store *s, MDB_txn *txn, const char *name, uint64_t v)
{
        MDB_val key = {.mv_size = strlen(name), .mv_data = (void *)name};
        uint64_t le = htole64(v);
        MDB_val val = {.mv_size = sizeof(le), .mv_data = &le};

        return mdb_to_errno(mdb_put(txn, s->db_meta, &key, &val, 0));
}

static int meta_put_end(struct ckpt_store *s, MDB_txn *txn);

/* Move the entries of "recent" into "objects" once it holds at least
 * `threshold` (0: always). */
static int merge_recent(struct ckpt_store *s, MDB_txn *txn, size_t threshold)
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

static int commit_pending_txn(struct ckpt_store *s, MDB_txn *txn, void *userdata)
{
        uint64_t bytes = 0, stored;
        MDB_dbi db = s->db_recent;
        MDB_stat ms;
        int r;

        /* A batch that would fill "recent" anyway (a full checkpoint) goes
         * straight into "objects", after what "recent" holds. */
        r = mdb_to_errno(mdb_stat(txn, s->db_recent, &ms));
        if (r < 0)
                return r;
        if (ms.ms_entries + s->pending.n >= store_index_recent_max) {
                r = merge_recent(s, txn, 0);
                if (r < 0)
                        return r;
                db = s->db_objects;
        }

        /* The pending table is only changed under put_lock, which the caller
         * holds: reading it without pending_lock is safe here. */
        for (size_t i = 0; i < s->pending.n; i++) {
                const struct pending_entry *e = &s->pending.v[i];
                struct index_val iv = {
                        .pack = htole32(e->pack),
                        .offset = htole64(e->offset),
                        .clen = htole32(e->clen),
                        .codec = e->codec,
                };
                uint8_t k[36];
                MDB_val key = {.mv_size = sizeof(k), .mv_data = k};
                MDB_val val = {.mv_size = sizeof(iv), .mv_data = &iv};

                key_of(e->owner, e->key, k);
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

/* Step 1 of making objects durable: the pack bytes reach the disk. Called
 * with put_lock held. On failure what was written may be lost whatever a
 * later fsync says: those objects are forgotten (a later put writes them
 * again) and writing continues in a fresh pack. */
static int packs_sync_locked(struct ckpt_store *s)
{
        int r = 0;

        if (s->unsynced) {
                for (uint32_t p = s->unsynced_from; p <= s->cur_pack && r == 0; p++) {
                        int fd = pack_get_fd(s, p);

                        if (fd < 0)
                                r = fd;
                        else if (fdatasync(fd) < 0)
                                r = negative_errno();
                }
                if (r < 0) {
                        log_debug_errno(r, "store: fsync of packs failed: %m");
                        pthread_mutex_lock(&s->pending_lock);
                        pending_clear(&s->pending);
                        pthread_mutex_unlock(&s->pending_lock);
                        if (pack_roll(s) == 0)
                                s->unsynced = false;
                        return r;
                }
        }
        if (s->packs_dir_dirty) {
                if (fsync(s->packs_fd) < 0)
                        return negative_errno();
                s->packs_dir_dirty = false;
        }
        s->unsynced = false;
        return 0;
}

/* The pending table went into the index (the transaction committed). */
static void pending_committed(struct ckpt_store *s)
{
        pthread_mutex_lock(&s->pending_lock);
        pending_clear(&s->pending);
        pthread_mutex_unlock(&s->pending_lock);
}

/* Called with put_lock held. */
static int store_sync_locked(struct ckpt_store *s)
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

/* ----------------------------------------------------------------- catalog */

int store_alloc_id(struct ckpt_store *s, uint64_t *ret_id)
{
        if (!s || !ret_id)
                return -EINVAL;
        pthread_mutex_lock(&s->id_lock);
        *ret_id = s->next_id++;
        pthread_mutex_unlock(&s->id_lock);
        return 0;
}

/* At open: past the recorded next id and past every id in the catalog. */
static int load_next_id(struct ckpt_store *s, MDB_txn *txn, void *userdata)
{
        MDB_cursor *c = NULL;
        MDB_val key, val;
        uint64_t next, be;
        int r;

        (void)userdata;
        r = meta_get_u64(s, txn, "next_id", &next);
        if (r < 0)
                return r;
        r = mdb_to_errno(mdb_cursor_open(txn, s->db_catalog, &c));
        if (r < 0)
                return r;
        r = mdb_to_errno(mdb_cursor_get(c, &key, &val, MDB_LAST));
        mdb_cursor_close(c);
        if (r == 0 && key.mv_size == sizeof(be)) {
                memcpy(&be, key.mv_data, sizeof(be));
                next = MAX(next, be64toh(be) + 1);
        } else if (r < 0 && r != -ENOENT)
                return r;
        s->next_id = MAX(next, (uint64_t)1);
        return 0;
}

static void id_key(uint64_t id, uint64_t *be, MDB_val *key)
{
        *be = htobe64(id);
        key->mv_size = sizeof(*be);
        key->mv_data = be;
}

static void entry_from_val(const MDB_val *val, struct store_catalog_entry *ret)
{
        memset(ret, 0, sizeof(*ret));
        memcpy(ret, val->mv_data, MIN(val->mv_size, sizeof(*ret)));
}

struct entry_ctx {
        uint64_t id;
        struct store_catalog_entry *e;
};

static int get_entry_txn(struct ckpt_store *s, MDB_txn *txn, void *userdata)
{
        struct entry_ctx *c = userdata;
        MDB_val key, val;
        uint64_t be;
        int r;

        id_key(c->id, &be, &key);
        r = mdb_get(txn, s->db_catalog, &key, &val);
        if (r != 0)
                return mdb_to_errno(r);
        entry_from_val(&val, c->e);
        return 0;
}

int store_get_entry(struct ckpt_store *s, uint64_t id, struct store_catalog_entry *ret)
{
        struct entry_ctx c = {id, ret};

        if (!s || !ret)
                return -EINVAL;
        return store_read_txn(s, get_entry_txn, &c);
}

struct list_ctx {
        struct store_catalog_entry *v;
        size_t n;
};

static int list_txn(struct ckpt_store *s, MDB_txn *txn, void *userdata)
{
        struct list_ctx *c = userdata;
        MDB_cursor *cur = NULL;
        MDB_val key, val;
        MDB_stat st;
        int r;

        r = mdb_stat(txn, s->db_catalog, &st);
        if (r != 0)
                return mdb_to_errno(r);
        c->v = calloc(MAX(st.ms_entries, (size_t)1), sizeof(*c->v));
        if (!c->v)
                return -ENOMEM;
        r = mdb_cursor_open(txn, s->db_catalog, &cur);
        if (r != 0)
                return mdb_to_errno(r);
        for (r = mdb_cursor_get(cur, &key, &val, MDB_FIRST); r == 0 && c->n < st.ms_entries;
             r = mdb_cursor_get(cur, &key, &val, MDB_NEXT))
                entry_from_val(&val, &c->v[c->n++]);
        mdb_cursor_close(cur);
        return r == 0 || r == MDB_NOTFOUND ? 0 : mdb_to_errno(r);
}

int store_list(struct ckpt_store *s, struct store_catalog_entry **ret, size_t *ret_n)
{
        struct list_ctx c = {};
        int r;

        if (!s || !ret || !ret_n)
                return -EINVAL;
        r = store_read_txn(s, list_txn, &c);
        if (r < 0) {
                free(c.v);
                return r;
        }
        *ret = c.v;
        *ret_n = c.n;
        return 0;
}

struct last_ctx {
        int32_t pid;
        uint64_t start_time;
        uint64_t id;
};

static int last_of_txn(struct ckpt_store *s, MDB_txn *txn, void *userdata)
{
        struct last_ctx *c = userdata;
        MDB_cursor *cur = NULL;
        MDB_val key, val;
        int r;

        r = mdb_cursor_open(txn, s->db_catalog, &cur);
        if (r != 0)
                return mdb_to_errno(r);
        for (r = mdb_cursor_get(cur, &key, &val, MDB_LAST); r == 0;
             r = mdb_cursor_get(cur, &key, &val, MDB_PREV)) {
                struct store_catalog_entry e;

                entry_from_val(&val, &e);
                if (e.pid == c->pid && e.start_time == c->start_time) {
                        c->id = e.id;
                        break;
                }
        }
        mdb_cursor_close(cur);
        return mdb_to_errno(r);
}

int store_last_of(struct ckpt_store *s, int32_t pid, uint64_t start_time, uint64_t *ret_id)
{
        struct last_ctx c = {pid, start_time, 0};
        int r;

        if (!s || !ret_id)
                return -EINVAL;
        r = store_read_txn(s, last_of_txn, &c);
        if (r < 0)
                return r;
        *ret_id = c.id;
        return 0;
}

/* ------------------------------------------------------------- manifests */

static void manifest_name(uint64_t id, char buf[static 32])
{
        snprintf(buf, 32, "%020llu", (unsigned long long)id);
}

int store_load(struct ckpt_store *s, uint64_t id, struct ckpt_manifest **ret)
{
        _cleanup_free_ uint8_t *buf = NULL;
        _cleanup_close_ int fd = -EBADF;
        struct ckpt_manifest *m = NULL;
        char name[32];
        struct stat st;
        size_t got;
        int r;

        if (!s || !ret)
                return -EINVAL;
        manifest_name(id, name);
        fd = openat(s->manifests_fd, name, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        if (fstat(fd, &st) < 0)
                return negative_errno();
        if (st.st_size <= 0 || (uint64_t)st.st_size > (1ULL << 34))
                return -EBADMSG;
        buf = malloc((size_t)st.st_size);
        if (!buf)
                return -ENOMEM;
        r = pread_all(fd, buf, (size_t)st.st_size, 0, &got);
        if (r < 0)
                return r;
        if (got != (size_t)st.st_size)
                return -EBADMSG;
        r = manifest_parse(buf, got, &m);
        if (r < 0)
                return r;
        if (m->id != id) {
                manifest_free(m);
                return -EBADMSG;
        }
        *ret = m;
        return 0;
}

/* The cache holds views the store owns; callers get copies. */
static int cache_get(struct ckpt_store *s, uint64_t id, struct ckpt_manifest **ret)
{
        int r = -ENOENT;

        pthread_mutex_lock(&s->cache_lock);
        for (size_t i = 0; i < VIEW_CACHE_SIZE; i++)
                if (s->cache[i].view && s->cache[i].id == id) {
                        s->cache[i].stamp = ++s->cache_stamp;
                        r = manifest_dup(s->cache[i].view, ret);
                        break;
                }
        pthread_mutex_unlock(&s->cache_lock);
        return r;
}

/* Takes ownership of view. */
static void cache_put(struct ckpt_store *s, uint64_t id, struct ckpt_manifest *view)
{
        size_t victim = 0;

        pthread_mutex_lock(&s->cache_lock);
        for (size_t i = 0; i < VIEW_CACHE_SIZE; i++) {
                if (s->cache[i].view && s->cache[i].id == id) {
                        victim = i;
                        break;
                }
                if (!s->cache[i].view || s->cache[i].stamp < s->cache[victim].stamp)
                        victim = i;
                if (!s->cache[victim].view)
                        break;
        }
        manifest_free(s->cache[victim].view);
        s->cache[victim] = (struct view_slot){.id = id, .stamp = ++s->cache_stamp, .view = view};
        pthread_mutex_unlock(&s->cache_lock);
}

int store_view(struct ckpt_store *s, uint64_t id, struct ckpt_manifest **ret)
{
        _cleanup_(manifest_freep) struct ckpt_manifest *view = NULL;
        struct ckpt_manifest **chain = NULL;
        struct ckpt_manifest *copy = NULL;
        size_t n = 0, cap = 0;
        uint64_t cur = id;
        int r;

        if (!s || !ret)
                return -EINVAL;
        r = cache_get(s, id, ret);
        if (r != -ENOENT)
                return r;

        /* Walk back to a FULL manifest (or a cached view), then forward. */
        for (;;) {
                struct ckpt_manifest *m = NULL;

                if (n > 0) {
                        r = cache_get(s, cur, &view);
                        if (r == 0)
                                break;
                        if (r != -ENOENT)
                                goto out;
                }
                r = store_load(s, cur, &m);
                if (r < 0) {
                        struct store_catalog_entry e;

                        /* A parent that is missing means a broken chain; a
                         * checkpoint of the catalog without its file is
                         * damaged, not absent. */
                        if (r == -ENOENT && (n > 0 || store_get_entry(s, id, &e) == 0))
                                r = n > 0 ? -EBADMSG : -EUCLEAN;
                        goto out;
                }
                if (m->kind == CKPT_MANIFEST_FULL) {
                        view = m;
                        r = manifest_canonicalize(view);
                        if (r < 0)
                                goto out;
                        break;
                }
                if (m->parent == 0 || m->parent >= cur || n >= CHAIN_MAX) {
                        manifest_free(m);
                        r = -EBADMSG;
                        goto out;
                }
                if (n == cap) {
                        size_t c2 = MAX((size_t)16, cap * 2);
                        struct ckpt_manifest **v = realloc(chain, c2 * sizeof(*v));
                        if (!v) {
                                manifest_free(m);
                                r = -ENOMEM;
                                goto out;
                        }
                        chain = v;
                        cap = c2;
                }
                chain[n++] = m;
                cur = m->parent;
        }
        while (n > 0) {
                r = manifest_apply_delta(view, chain[n - 1]);
                if (r < 0)
                        goto out;
                manifest_free(chain[--n]);
        }
        r = manifest_dup(view, &copy);
        if (r < 0)
                goto out;
        cache_put(s, id, TAKE_PTR(view));
        *ret = copy;
out:
        while (n > 0)
                manifest_free(chain[--n]);
        free(chain);
        return r;
}

static int write_manifest_file(struct ckpt_store *s, uint64_t id, const void *buf, size_t size)
{
        char name[32], tmp[40];
        _cleanup_close_ int fd = -EBADF;
        int r;

        manifest_name(id, name);
        snprintf(tmp, sizeof(tmp), ".tmp-%s", name);
        (void)unlinkat(s->manifests_fd, tmp, 0);
        fd = openat(s->manifests_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0)
                return negative_errno();
        r = pwrite_all(fd, buf, size, 0);
        if (r == 0 && fsync(fd) < 0)
                r = negative_errno();
        if (r == 0 && renameat(s->manifests_fd, tmp, s->manifests_fd, name) < 0)
                r = negative_errno();
        if (r < 0) {
                (void)unlinkat(s->manifests_fd, tmp, 0);
                return r;
        }
        if (fsync(s->manifests_fd) < 0)
                return negative_errno();
        return 0;
}

/* Every DATA key a manifest lists must be an object of its owner. */
static int keys_present(struct ckpt_store *s, MDB_txn *txn, const struct ckpt_manifest *m)
{
        for (size_t i = 0; i < m->n_pages; i++) {
                int r;

                if (m->pages[i].kind != CKPT_PAGE_DATA)
                        continue;
                r = index_get(s, txn, m->uid, m->pages[i].key, NULL);
                if (r == -ENOENT)
                        return log_debug_errno(-ENOKEY,
                                               "store: manifest %llu lists page %#llx, which is "
                                               "not an object of uid %u",
                                               (unsigned long long)m->id,
                                               (unsigned long long)m->pages[i].addr, m->uid);
                if (r < 0)
                        return r;
        }
        return 0;
}

struct commit_ctx {
        const struct ckpt_manifest *m;
        const struct store_catalog_entry *e;
};

/* One transaction makes a checkpoint live: the index entries of the objects
 * written since the last commit, the check that every object the manifest
 * lists is there, its catalog entry and the next id. */
static int commit_txn(struct ckpt_store *s, MDB_txn *txn, void *userdata)
{
        struct commit_ctx *c = userdata;
        MDB_val key, val = {.mv_size = sizeof(*c->e), .mv_data = (void *)c->e};
        uint64_t be, next;
        int r;

        r = commit_pending_txn(s, txn, NULL);
        if (r < 0)
                return r;
        r = keys_present(s, txn, c->m);
        if (r < 0)
                return r;
        id_key(c->e->id, &be, &key);
        r = mdb_to_errno(mdb_put(txn, s->db_catalog, &key, &val, MDB_NOOVERWRITE));
        if (r < 0)
                return r;
        r = meta_get_u64(s, txn, "next_id", &next);
        if (r < 0)
                return r;
        if (next > c->e->id)
                return 0;
        return meta_put_u64(s, txn, "next_id", c->e->id + 1);
}

static void entry_of(const struct ckpt_manifest *m, uint32_t kind, uint64_t data_pages,
                     uint32_t depth, struct store_catalog_entry *e);

static int commit_locked(struct ckpt_store *s, const struct ckpt_manifest *m,
                         struct ckpt_manifest *given_view)
{
        _cleanup_(manifest_freep) struct ckpt_manifest *view = given_view;
        _cleanup_free_ void *buf = NULL;
        struct store_catalog_entry e = {}, pe;
        const struct ckpt_manifest *to_write = m;
        uint64_t next_id;
        uint32_t depth = 0;
        char name[32];
        size_t size;
        int r;

        if (!s || !m)
                return -EINVAL;
        r = manifest_validate(m);
        if (r < 0)
                return r;
        pthread_mutex_lock(&s->id_lock);
        next_id = s->next_id;
        pthread_mutex_unlock(&s->id_lock);
        if (m->id == 0 || m->id >= next_id || m->parent >= m->id)
                return -EINVAL;
        r = store_get_entry(s, m->id, &pe);
        if (r == 0)
                return -EEXIST;
        if (r != -ENOENT)
                return r;

        /* Step 1: the view of this checkpoint, and which kind to write. */
        if (m->kind == CKPT_MANIFEST_DELTA && m->parent != 0) {
                r = store_get_entry(s, m->parent, &pe);
                if (r < 0)
                        return r;
                if (pe.uid != m->uid)
                        return -EINVAL;
                if (!view) {
                        r = store_view(s, m->parent, &view);
                        if (r < 0)
                                return r;
                        r = manifest_apply_delta(view, m);
                        if (r < 0)
                                return r;
                }
                depth = pe.chain_depth + 1;
                if (depth >= CKPT_FULL_EVERY) {
                        /* A complete table bounds the chain for readers. */
                        depth = 0;
                        to_write = view;
                }
        } else {
                view = manifest_free(view);
                r = manifest_dup(m, &view);
                if (r < 0)
                        return r;
                view->kind = CKPT_MANIFEST_FULL;
                r = manifest_canonicalize(view);
                if (r < 0)
                        return r;
                if (m->kind != CKPT_MANIFEST_FULL)
                        to_write = view; /* a DELTA without a parent is complete */
        }

        /* Step 2: the manifest file, durably. Until its catalog entry exists
         * nothing refers to it (a crash leaves an orphan, removed at open). */
        r = manifest_serialize(to_write, &buf, &size);
        if (r < 0)
                return r;
        r = write_manifest_file(s, m->id, buf, size);
        if (r < 0)
                return r;

        /* Step 3: the objects it points at are durable, then one transaction
         * indexes them and adds the catalog entry. A gc under way keeps
         * them: put_lock orders this against a repack as a whole (what it
         * found live up to its index commit). */
        entry_of(m, to_write->kind, manifest_data_pages(view), depth, &e);
        pthread_mutex_lock(&s->put_lock);
        r = packs_sync_locked(s);
        if (r == 0) {
                gc_note_commit(s, m);
                r = store_write_txn(s, commit_txn, &(struct commit_ctx){m, &e});
                if (r == 0)
                        pending_committed(s);
        }
        pthread_mutex_unlock(&s->put_lock);
        if (r < 0) {
                manifest_name(m->id, name);
                (void)unlinkat(s->manifests_fd, name, 0);
                return r;
        }
        cache_put(s, m->id, TAKE_PTR(view));
        return 0;
}

int store_commit(struct ckpt_store *s, const struct ckpt_manifest *m)
{
        int r;

        if (!s || !m)
                return -EINVAL;
        pthread_rwlock_rdlock(&s->commit_lock);
        r = commit_locked(s, m, NULL);
        pthread_rwlock_unlock(&s->commit_lock);
        return r;
}

int store_commit_view(struct ckpt_store *s, const struct ckpt_manifest *m,
                      struct ckpt_manifest *view)
{
        int r;

        if (!s || !m || !view) {
                manifest_free(view);
                return -EINVAL;
        }
        view->id = m->id;
        view->parent = m->parent;
        view->kind = CKPT_MANIFEST_FULL;
        pthread_rwlock_rdlock(&s->commit_lock);
        if (m->parent != 0) {
                struct store_catalog_entry pe;

                /* Deleted meanwhile: say so and leave the view to the caller,
                 * which can commit it on its own. Deletes wait for commit_lock,
                 * so it cannot go between here and the commit. */
                r = store_get_entry(s, m->parent, &pe);
                if (r < 0) {
                        pthread_rwlock_unlock(&s->commit_lock);
                        return r;
                }
        }
        r = commit_locked(s, m, view);
        pthread_rwlock_unlock(&s->commit_lock);
        return r;
}

/* ---------------------------------------------------- delete and reclaim */

static void cache_drop(struct ckpt_store *s, uint64_t id)
{
        pthread_mutex_lock(&s->cache_lock);
        for (size_t i = 0; i < VIEW_CACHE_SIZE; i++)
                if (s->cache[i].view && s->cache[i].id == id) {
                        s->cache[i].view = manifest_free(s->cache[i].view);
                        s->cache[i].id = 0;
                }
        pthread_mutex_unlock(&s->cache_lock);
}

struct set_full_ctx {
        uint64_t id;
        bool detach;
};

static int catalog_set_full_txn(struct ckpt_store *s, MDB_txn *txn, void *userdata)
{
        struct set_full_ctx *f = userdata;
        struct store_catalog_entry e;
        struct entry_ctx c = {f->id, &e};
        MDB_val key, val = {.mv_size = sizeof(e), .mv_data = &e};
        uint64_t be;
        int r;

        r = get_entry_txn(s, txn, &c);
        if (r < 0)
                return r;
        e.kind = CKPT_MANIFEST_FULL;
        e.chain_depth = 0;
        if (f->detach)
                e.parent = 0;
        id_key(e.id, &be, &key);
        return mdb_to_errno(mdb_put(txn, s->db_catalog, &key, &val, 0));
}

static int rewrite_full(struct ckpt_store *s, uint64_t id, bool detach)
{
        _cleanup_(manifest_freep) struct ckpt_manifest *view = NULL;
        _cleanup_free_ void *buf = NULL;
        struct store_catalog_entry e;
        size_t size;
        int r;

        if (!s)
                return -EINVAL;
        r = store_get_entry(s, id, &e);
        if (r < 0)
                return r;
        r = store_view(s, id, &view);
        if (r < 0)
                return r;
        view->kind = CKPT_MANIFEST_FULL;
        if (detach)
                view->parent = 0;
        r = manifest_serialize(view, &buf, &size);
        if (r < 0)
                return r;
        /* rename() replaces the DELTA atomically: readers see one or the other. */
        r = write_manifest_file(s, id, buf, size);
        if (r < 0)
                return r;
        if (detach)
                cache_drop(s, id); /* the cached view names the parent */
        return store_write_txn(s, catalog_set_full_txn, &(struct set_full_ctx){id, detach});
}

int store_rewrite_full(struct ckpt_store *s, uint64_t id)
{
        return rewrite_full(s, id, false);
}

int store_detach(struct ckpt_store *s, uint64_t id)
{
        return rewrite_full(s, id, true);
}

static int catalog_del_txn(struct ckpt_store *s, MDB_txn *txn, void *userdata)
{
        MDB_val key;
        uint64_t be;

        id_key(*(uint64_t *)userdata, &be, &key);
        return mdb_to_errno(mdb_del(txn, s->db_catalog, &key, NULL));
}

int store_remove_checkpoint(struct ckpt_store *s, uint64_t id)
{
        char name[32];
        int r;

        if (!s)
                return -EINVAL;
        /* The catalog first: a crash in between leaves an orphaned file,
         * never an entry without its manifest. */
        r = store_write_txn(s, catalog_del_txn, &id);
        if (r < 0)
                return r;
        cache_drop(s, id);
        manifest_name(id, name);
        if (unlinkat(s->manifests_fd, name, 0) < 0 && errno != ENOENT)
                return negative_errno();
        if (fsync(s->manifests_fd) < 0)
                return negative_errno();
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

struct foreach_ctx {
        int (*cb)(const struct store_object *o, void *userdata);
        void *userdata;
        uint32_t only_pack; /* 0: all */
        struct store_object *v;
        size_t n, cap;
};

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
static int foreach_txn(struct ckpt_store *s, MDB_txn *txn, void *userdata)
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
        return store_read_txn(s, foreach_txn, &c);
}

struct pack_scan {
        uint64_t records; /* valid records seen */
        uint64_t end;     /* just past the last valid record (or the header, or `from`) */
        uint64_t size;    /* of the file */
        bool header_ok;
};

typedef int (*record_fn)(struct ckpt_store *s, uint32_t pack, uint64_t offset,
                         const struct ckpt_pack_object *h, const uint8_t *record, void *userdata);

static int pack_foreach_record(struct ckpt_store *s, uint32_t pack, uint64_t from, record_fn cb,
                               void *userdata, struct pack_scan *ret);

struct repack_commit {
        const struct store_object *v;
        const uint64_t *new_off; /* UINT64_MAX: dropped */
        const uint32_t *new_pack;
        size_t n;
        uint64_t removed_bytes, added_bytes;
};

static int repack_txn(struct ckpt_store *s, MDB_txn *txn, void *userdata)
{
        struct repack_commit *c = userdata;
        uint64_t stored;
        int r;

        /* Everything in one B-tree, where the updates go. */
        r = merge_recent(s, txn, 0);
        if (r < 0)
                return r;
        for (size_t i = 0; i < c->n; i++) {
                const struct store_object *o = &c->v[i];
                uint8_t k[36];
                MDB_val key = {.mv_size = sizeof(k), .mv_data = k};

                key_of(o->owner, o->key, k);
                if (c->new_off[i] == UINT64_MAX) {
                        r = mdb_del(txn, s->db_objects, &key, NULL);
                        if (r != 0 && r != MDB_NOTFOUND)
                                return mdb_to_errno(r);
                } else {
                        struct index_val iv = {
                                .pack = htole32(c->new_pack[i]),
                                .offset = htole64(c->new_off[i]),
                                .clen = htole32(o->clen),
                                .codec = o->codec,
                        };
                        MDB_val val = {.mv_size = sizeof(iv), .mv_data = &iv};

                        r = mdb_put(txn, s->db_objects, &key, &val, 0);
                        if (r != 0)
                                return mdb_to_errno(r);
                }
        }
        r = meta_get_u64(s, txn, "stored_bytes", &stored);
        if (r < 0)
                return r;
        stored += c->added_bytes;
        r = meta_put_u64(s, txn, "stored_bytes",
                         stored > c->removed_bytes ? stored - c->removed_bytes : 0);
        if (r < 0)
                return r;
        return meta_put_end(s, txn);
}

struct rescue_ctx {
        bool (*live)(uint32_t owner, const uint8_t key[32], void *userdata);
        void *userdata;
        struct foreach_ctx *c;
        uint64_t **new_off;
        uint32_t **new_pack;
        struct store_keyset *seen;
        struct store_repack_result *res;
        size_t cap; /* of *new_off and *new_pack */
        uint64_t added_bytes;
};

/* Under put_lock, in a repack: copy a valid record of the pack being
 * rewritten that is live but not in the index at all. */
static int rescue_record(struct ckpt_store *s, uint32_t pack, uint64_t offset,
                         const struct ckpt_pack_object *h, const uint8_t *record, void *userdata)
{
        struct rescue_ctx *rc = userdata;
        struct foreach_ctx *c = rc->c;
        uint32_t owner = le32toh(h->owner), clen = le32toh(h->clen);
        size_t len = sizeof(*h) + clen;
        struct lookup_ctx lc = {owner, h->sha256, NULL};
        struct pending_entry e;
        int fd, r;

        (void)offset;
        if (!rc->live(owner, h->sha256, rc->userdata))
                return 0;
        lc.e = &e;
        r = store_read_txn(s, lookup_in_txn, &lc);
        if (r == 0)
                return 0; /* indexed: copied above if it lives here */
        if (r != -ENOENT)
                return r;
        r = store_keyset_add(rc->seen, owner, h->sha256);
        if (r <= 0)
                return r; /* a second copy in the same pack */
        if (c->n >= c->cap || c->n >= rc->cap) {
                size_t cap = MAX((size_t)256, MAX(c->cap, rc->cap) * 2);
                struct store_object *v = realloc(c->v, cap * sizeof(*v));
                uint64_t *no;
                uint32_t *np;

                if (!v)
                        return -ENOMEM;
                c->v = v;
                c->cap = cap;
                no = realloc(*rc->new_off, cap * sizeof(*no));
                if (!no)
                        return -ENOMEM;
                *rc->new_off = no;
                np = realloc(*rc->new_pack, cap * sizeof(*np));
                if (!np)
                        return -ENOMEM;
                *rc->new_pack = np;
                rc->cap = cap;
        }
        if (s->cur_off >= store_pack_roll_size) {
                r = pack_roll(s);
                if (r < 0)
                        return r;
        }
        fd = pack_cur_fd(s);
        r = fd < 0 ? -EBADF : pwrite_all(fd, record, len, s->cur_off);
        if (r < 0)
                return r;
        c->v[c->n] = (struct store_object){
                .owner = owner,
                .pack = pack,
                .offset = offset,
                .clen = clen,
                .codec = h->codec,
        };
        memcpy(c->v[c->n].key, h->sha256, 32);
        (*rc->new_off)[c->n] = s->cur_off;
        (*rc->new_pack)[c->n] = s->cur_pack;
        c->n++;
        pack_appended(s, s->cur_off + len);
        rc->res->objects_kept++;
        rc->added_bytes += len;
        log_debug("store: repack: object %u at offset %" PRIu64 " of pack %u was not indexed, "
                  "kept",
                  owner, offset, pack);
        return 0;
}

int store_repack(struct ckpt_store *s, uint32_t pack,
                 bool (*live)(uint32_t owner, const uint8_t key[32], void *userdata),
                 void *userdata, struct store_repack_result *ret)
{
        struct foreach_ctx c = {.only_pack = pack};
        struct store_repack_result res = {};
        uint8_t buf[sizeof(struct ckpt_pack_object) + PAGE];
        _cleanup_free_ uint64_t *new_off = NULL;
        _cleanup_free_ uint32_t *new_pack = NULL;
        uint32_t start_pack;
        uint64_t start_off;
        bool start_unsynced, wrote = false;
        uint64_t added_bytes = 0;
        int r;

        if (!s || !live || pack == 0)
                return -EINVAL;
        pthread_mutex_lock(&s->put_lock);

        /* Step 1: a clean state: everything written is in the index, and the
         * pack to rewrite is not the one being appended to. */
        r = store_sync_locked(s);
        if (r < 0)
                goto out;
        if (pack > s->cur_pack) {
                r = -ENOENT;
                goto out;
        }
        if (pack == s->cur_pack) {
                r = pack_roll(s);
                if (r < 0)
                        goto out;
                s->unsynced = false; /* only a header so far; the dir fsync covers the name */
        }
        r = store_read_txn(s, foreach_txn, &c);
        if (r < 0)
                goto out;
        new_off = calloc(MAX(c.n, (size_t)1), sizeof(*new_off));
        new_pack = calloc(MAX(c.n, (size_t)1), sizeof(*new_pack));
        if (!new_off || !new_pack) {
                r = -ENOMEM;
                goto out;
        }

        /* Step 2: copy the live objects, bytes as they are (a damaged one
         * stays detectably damaged). */
        start_pack = s->cur_pack;
        start_off = s->cur_off;
        start_unsynced = s->unsynced;
        for (size_t i = 0; i < c.n; i++) {
                const struct store_object *o = &c.v[i];
                size_t len = sizeof(struct ckpt_pack_object) + o->clen, got = 0;
                int fd;

                new_off[i] = UINT64_MAX;
                if (!live(o->owner, o->key, userdata) || o->clen > PAGE) {
                        res.objects_removed++;
                        res.bytes_removed += len;
                        continue;
                }
                r = pack_pread(s, pack, buf, len, o->offset, &got);
                if (r < 0)
                        break;
                if (got != len) { /* unreadable already: nothing to keep */
                        res.objects_removed++;
                        res.bytes_removed += len;
                        continue;
                }
                if (s->cur_off >= store_pack_roll_size) {
                        r = pack_roll(s);
                        if (r < 0)
                                break;
                }
                fd = pack_cur_fd(s);
                r = fd < 0 ? -EBADF : pwrite_all(fd, buf, len, s->cur_off);
                if (r < 0)
                        break;
                new_off[i] = s->cur_off;
                new_pack[i] = s->cur_pack;
                pack_appended(s, s->cur_off + len);
                res.objects_kept++;
                wrote = true;
        }

        /* Step 2b: records of the pack the index does not know at all (a
         * crash before their commit, an index rebuilt from an old copy): the
         * live ones are copied too. Nothing a manifest lists leaves with the
         * pack. */
        if (r == 0) {
                struct rescue_ctx rc = {
                        .live = live,
                        .userdata = userdata,
                        .c = &c,
                        .new_off = &new_off,
                        .new_pack = &new_pack,
                        .res = &res,
                        .cap = MAX(c.n, (size_t)1),
                };

                r = store_keyset_new(&rc.seen);
                if (r == 0) {
                        size_t before = c.n;

                        r = pack_foreach_record(s, pack, 0, rescue_record, &rc, NULL);
                        store_keyset_free(rc.seen);
                        if (c.n > before)
                                wrote = true;
                        added_bytes = rc.added_bytes;
                }
        }

        /* Step 3: the copies are durable before the index points at them. */
        if (r == 0 && wrote)
                r = store_sync_locked(s);
        if (r == 0) {
                struct repack_commit rc = {c.v, new_off,           new_pack,
                                           c.n, res.bytes_removed, added_bytes};
                r = store_write_txn(s, repack_txn, &rc);
        }
        if (r < 0) {
                packs_rollback(s, start_pack, start_off, start_unsynced);
                goto out;
        }

        /* Step 4: nothing points into the old pack any more. */
        pack_remove(s, pack);
        if (fsync(s->packs_fd) < 0)
                log_debug_errno(negative_errno(), "store: fsync of packs/ failed, ignoring: %m");
        log_debug("store: repacked pack %u: %llu kept, %llu removed", pack,
                  (unsigned long long)res.objects_kept, (unsigned long long)res.objects_removed);
        if (ret)
                *ret = res;
out:
        pthread_mutex_unlock(&s->put_lock);
        free(c.v);
        return r;
}

/* A directory stream over the directory dir_fd refers to; dir_fd stays open. */
static int dir_open(int dir_fd, DIR **ret)
{
        DIR *d;
        int fd;

        fd = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        d = fdopendir(fd);
        if (!d) {
                safe_close(fd);
                return negative_errno();
        }
        *ret = d;
        return 0;
}

/* N of a pack file named "pack-N.pack"; 0 for any other name. */
static uint32_t pack_number(const char *name)
{
        unsigned num;
        char tail[8];

        if (sscanf(name, "pack-%8u.%7s", &num, tail) != 2 || strcmp(tail, "pack") != 0)
                return 0;
        return num;
}

static int packs_present(struct ckpt_store *s, uint32_t **ret, size_t *ret_n)
{
        _cleanup_free_ uint32_t *v = NULL;
        size_t n = 0, cap = 0;
        struct dirent *de;
        DIR *d;
        int r;

        r = dir_open(s->packs_fd, &d);
        if (r < 0)
                return r;
        while ((de = readdir(d))) {
                uint32_t num = pack_number(de->d_name);

                if (num == 0)
                        continue;
                if (n == cap) {
                        size_t c2 = MAX((size_t)16, cap * 2);
                        uint32_t *v2 = realloc(v, c2 * sizeof(*v2));
                        if (!v2) {
                                closedir(d);
                                return -ENOMEM;
                        }
                        v = v2;
                        cap = c2;
                }
                v[n++] = num;
        }
        closedir(d);
        /* Few packs: insertion sort. */
        for (size_t i = 1; i < n; i++)
                for (size_t k = i; k > 0 && v[k - 1] > v[k]; k--) {
                        uint32_t t = v[k];
                        v[k] = v[k - 1];
                        v[k - 1] = t;
                }
        *ret = TAKE_PTR(v);
        *ret_n = n;
        return 0;
}

int store_pack_size(struct ckpt_store *s, uint32_t pack, uint64_t *ret)
{
        struct stat st;
        char name[32];

        if (!s || !ret)
                return -EINVAL;
        snprintf(name, sizeof(name), "pack-%08u.pack", pack);
        if (fstatat(s->packs_fd, name, &st, 0) < 0)
                return negative_errno();
        *ret = (uint64_t)st.st_size;
        return 0;
}

int store_list_packs(struct ckpt_store *s, uint32_t **ret, size_t *ret_n)
{
        if (!s || !ret || !ret_n)
                return -EINVAL;
        return packs_present(s, ret, ret_n);
}

/* -------------------------------------------------------------------- stats */

static int stats_txn(struct ckpt_store *s, MDB_txn *txn, void *userdata)
{
        struct store_stats *st = userdata;
        MDB_cursor *cur = NULL;
        MDB_val key, val;
        MDB_stat ms;
        int r;

        r = mdb_stat(txn, s->db_objects, &ms);
        if (r != 0)
                return mdb_to_errno(r);
        st->objects = ms.ms_entries;
        r = mdb_stat(txn, s->db_recent, &ms);
        if (r != 0)
                return mdb_to_errno(r);
        st->objects += ms.ms_entries;
        st->objects_recent = ms.ms_entries;
        r = meta_get_u64(s, txn, "stored_bytes", &st->stored_bytes);
        if (r < 0)
                return r;
        r = mdb_cursor_open(txn, s->db_catalog, &cur);
        if (r != 0)
                return mdb_to_errno(r);
        for (r = mdb_cursor_get(cur, &key, &val, MDB_FIRST); r == 0;
             r = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
                struct store_catalog_entry e;

                entry_from_val(&val, &e);
                st->checkpoints++;
                st->logical_bytes += e.data_pages * PAGE;
        }
        mdb_cursor_close(cur);
        return r == MDB_NOTFOUND ? 0 : mdb_to_errno(r);
}

int store_stats(struct ckpt_store *s, struct store_stats *ret)
{
        struct store_stats st = {};
        int r;

        if (!s || !ret)
                return -EINVAL;
        r = store_read_txn(s, stats_txn, &st);
        if (r < 0)
                return r;
        {
                _cleanup_free_ uint32_t *packs = NULL;
                size_t n_packs = 0;

                r = packs_present(s, &packs, &n_packs);
                if (r < 0)
                        return r;
                st.packs = n_packs;
        }
        pthread_mutex_lock(&s->pending_lock);
        st.objects += s->pending.n;
        st.stored_bytes += s->pending.bytes;
        pthread_mutex_unlock(&s->pending_lock);
        st.threads = s->n_workers;
        *ret = st;
        return 0;
}

/* ------------------------------------------------------------ open / close */

static int open_dir_at(int at, const char *name, int *ret)
{
        int fd;

        if (mkdirat(at, name, 0700) < 0 && errno != EEXIST)
                return negative_errno();
        fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        *ret = fd;
        return 0;
}

static int remove_stale_temps(struct ckpt_store *s)
{
        DIR *d;
        struct dirent *de;
        int r;

        r = dir_open(s->manifests_fd, &d);
        if (r < 0)
                return r;
        while ((de = readdir(d)))
                if (strncmp(de->d_name, ".tmp-", 5) == 0) {
                        log_debug("store: removing stale '%s'", de->d_name);
                        (void)unlinkat(s->manifests_fd, de->d_name, 0);
                }
        closedir(d);
        return 0;
}

static int cmp_u64(const void *a, const void *b)
{
        uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

        return x < y ? -1 : x > y;
}

/* The ids of the manifest files present, ascending. */
static int manifests_present(struct ckpt_store *s, uint64_t **ret, size_t *ret_n)
{
        _cleanup_free_ uint64_t *v = NULL;
        size_t n = 0, cap = 0;
        struct dirent *de;
        DIR *d;
        int r;

        r = dir_open(s->manifests_fd, &d);
        if (r < 0)
                return r;
        while ((de = readdir(d))) {
                unsigned long long id;
                char *end;

                if (strlen(de->d_name) != 20 || strspn(de->d_name, "0123456789") != 20)
                        continue;
                id = strtoull(de->d_name, &end, 10);
                if (*end || id == 0)
                        continue;
                if (n == cap) {
                        size_t c2 = MAX((size_t)64, cap * 2);
                        uint64_t *v2 = realloc(v, c2 * sizeof(*v2));
                        if (!v2) {
                                closedir(d);
                                return -ENOMEM;
                        }
                        v = v2;
                        cap = c2;
                }
                v[n++] = id;
        }
        closedir(d);
        if (n > 1)
                qsort(v, n, sizeof(*v), cmp_u64);
        *ret = TAKE_PTR(v);
        *ret_n = n;
        return 0;
}

int store_list_manifests(struct ckpt_store *s, uint64_t **ret, size_t *ret_n)
{
        if (!s || !ret || !ret_n)
                return -EINVAL;
        return manifests_present(s, ret, ret_n);
}

/* The highest pack number present (0: none). */
static int find_last_pack(struct ckpt_store *s, uint32_t *ret)
{
        DIR *d;
        struct dirent *de;
        uint32_t max = 0;
        int r;

        r = dir_open(s->packs_fd, &d);
        if (r < 0)
                return r;
        while ((de = readdir(d)))
                max = MAX(max, pack_number(de->d_name));
        closedir(d);
        *ret = max;
        return 0;
}

/* ----------------------------------------------------------------- recovery */

/*
 * The index and the catalog are caches of what the packs and the manifests
 * hold: every pack record carries its owner and key and verifies by its
 * hash, every manifest names its id. So nothing is ever deleted because the
 * index does not know it: an index that is missing or damaged is moved aside
 * and rebuilt, records written after the last index commit are indexed again
 * at open, and manifests without a catalog entry are added to it.
 *
 * "end_pack"/"end_off" in "meta": where the packs ended at the last index
 * commit. Every record before it is indexed or dead; records after it were
 * written by a run that crashed before it committed them.
 */
#define META_END_PACK "end_pack"
#define META_END_OFF "end_off"
#define RECOVER_BATCH 65536u

static int meta_put_end(struct ckpt_store *s, MDB_txn *txn)
{
        int r;

        if (s->cur_pack == 0)
                return 0; /* at open, before the current pack is known */
        r = meta_put_u64(s, txn, META_END_PACK, s->cur_pack);
        if (r < 0)
                return r;
        return meta_put_u64(s, txn, META_END_OFF, s->cur_off);
}

static int put_end_txn(struct ckpt_store *s, MDB_txn *txn, void *userdata)
{
        (void)userdata;
        return meta_put_end(s, txn);
}

/*
 * One pack record at p, with avail bytes after it in the file: 1 (and its
 * header, and its whole length) when it is complete and its content hashes
 * to its key, 0 when it is not a record, <0 when checking failed.
 */
static int pack_record_check(ZSTD_DCtx *d, const uint8_t *p, size_t avail, uint8_t *page,
                             struct ckpt_pack_object *ret, size_t *ret_len)
{
        struct ckpt_pack_object h;
        uint8_t digest[32];
        uint32_t clen;
        int r;

        if (avail < sizeof(h))
                return 0;
        memcpy(&h, p, sizeof(h));
        clen = le32toh(h.clen);
        if (le32toh(h.magic) != CKPT_PACK_OBJECT_MAGIC || le32toh(h.ulen) != PAGE || clen == 0 ||
            clen > PAGE || avail - sizeof(h) < clen)
                return 0;
        if (h.codec == CKPT_CODEC_RAW) {
                if (clen != PAGE)
                        return 0;
                memcpy(page, p + sizeof(h), PAGE);
        } else if (h.codec == CKPT_CODEC_ZSTD) {
                size_t k = ZSTD_decompressDCtx(d, page, PAGE, p + sizeof(h), clen);

                if (ZSTD_isError(k) || k != PAGE)
                        return 0;
        } else
                return 0;
        r = sha256_once(page, PAGE, digest);
        if (r < 0)
                return r;
        if (memcmp(digest, h.sha256, 32) != 0)
                return 0;
        *ret = h;
        *ret_len = sizeof(h) + clen;
        return 1;
}

static int recover_flush(struct ckpt_store *s)
{
        int r;

        if (s->pending.n == 0)
                return 0;
        r = store_write_txn(s, commit_pending_txn, NULL);
        pending_clear(&s->pending);
        return r;
}

/* Every valid record of a pack from offset `from` on, stepping over damaged
 * bytes to the next record magic. cb < 0 stops the walk and is returned. */
static int pack_foreach_record(struct ckpt_store *s, uint32_t pack, uint64_t from, record_fn cb,
                               void *userdata, struct pack_scan *ret)
{
        static const uint8_t magic[4] = {0x43, 0x4b, 0x50, 0x4f}; /* CKPT_PACK_OBJECT_MAGIC, LE */
        struct pack_scan sc = {};
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ uint8_t *page = NULL;
        struct ckpt_pack_header h;
        ZSTD_DCtx *d = NULL;
        const uint8_t *base;
        struct stat st;
        char name[32];
        uint64_t off;
        int r = 0;

        snprintf(name, sizeof(name), "pack-%08u.pack", pack);
        fd = openat(s->packs_fd, name, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        if (fstat(fd, &st) < 0)
                return negative_errno();
        sc.size = (uint64_t)st.st_size;
        if (sc.size < sizeof(h)) {
                if (ret)
                        *ret = sc;
                return 0;
        }
        base = mmap(NULL, sc.size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (base == MAP_FAILED)
                return negative_errno();
        memcpy(&h, base, sizeof(h));
        sc.header_ok = memcmp(h.magic, CKPT_PACK_MAGIC, sizeof(h.magic)) == 0 &&
                       le32toh(h.version) == CKPT_PACK_VERSION && le32toh(h.number) == pack;
        page = malloc(PAGE);
        d = ZSTD_createDCtx();
        if (!page || !d) {
                r = -ENOMEM;
                goto out;
        }
        off = MAX(from, (uint64_t)sizeof(h));
        sc.end = off;
        while (off < sc.size) {
                struct ckpt_pack_object o;
                const uint8_t *q;
                size_t len;

                r = pack_record_check(d, base + off, sc.size - off, page, &o, &len);
                if (r < 0)
                        goto out;
                if (r > 0) {
                        r = cb(s, pack, off, &o, base + off, userdata);
                        if (r < 0)
                                goto out;
                        sc.records++;
                        off += len;
                        sc.end = off;
                        continue;
                }
                q = memmem(base + off + 1, sc.size - off - 1, magic, sizeof(magic));
                if (!q)
                        break;
                off = (uint64_t)(q - base);
        }
        r = 0;
out:
        ZSTD_freeDCtx(d);
        munmap((void *)base, sc.size);
        if (r < 0)
                return log_debug_errno(r, "store: cannot scan '%s': %m", name);
        if (ret)
                *ret = sc;
        return 0;
}

static int scan_index_record(struct ckpt_store *s, uint32_t pack, uint64_t offset,
                             const struct ckpt_pack_object *h, const uint8_t *record,
                             void *userdata)
{
        struct pending_entry e = {
                .owner = le32toh(h->owner),
                .pack = pack,
                .offset = offset,
                .clen = le32toh(h->clen),
                .codec = h->codec,
        };
        int r;

        (void)record;
        (void)userdata;
        memcpy(e.key, h->sha256, 32);
        if (!pending_find(&s->pending, e.owner, e.key)) {
                r = pending_add(&s->pending, &e);
                if (r < 0)
                        return r;
        }
        if (s->pending.n >= RECOVER_BATCH)
                return recover_flush(s);
        return 0;
}

/* Index every valid record of a pack from offset `from` on that the index
 * does not hold yet. Only at open: uses the pending table. */
static int pack_scan_index(struct ckpt_store *s, uint32_t pack, uint64_t from,
                           struct pack_scan *ret)
{
        int r;

        r = pack_foreach_record(s, pack, from, scan_index_record, NULL, ret);
        if (r == 0)
                r = recover_flush(s);
        pending_clear(&s->pending);
        return r;
}

/* Cut the pack being appended to just past its last whole record: what
 * follows is a record a crash tore (never indexed, never whole). */
static int pack_cut_tail(struct ckpt_store *s, uint32_t pack, const struct pack_scan *sc,
                         uint64_t *ret_cut)
{
        _cleanup_close_ int fd = -EBADF;
        char name[32];

        *ret_cut = 0;
        if (!sc->header_ok || sc->end >= sc->size)
                return 0;
        snprintf(name, sizeof(name), "pack-%08u.pack", pack);
        fd = openat(s->packs_fd, name, O_RDWR | O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        if (ftruncate(fd, (off_t)sc->end) < 0 || fdatasync(fd) < 0)
                return negative_errno();
        *ret_cut = sc->size - sc->end;
        return 0;
}

static int index_objects_txn(struct ckpt_store *s, MDB_txn *txn, void *userdata)
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

/* Records written after the last index commit (a run that crashed in the
 * middle of a checkpoint or a gc): indexed again; a torn one at the very end
 * is cut off. */
static int recover_tail(struct ckpt_store *s)
{
        _cleanup_free_ uint32_t *packs = NULL;
        uint64_t end_pack = 0, end_off = 0, records = 0, cut = 0, before = 0, after = 0;
        size_t n = 0;
        MDB_txn *txn = NULL;
        int r;

        r = packs_present(s, &packs, &n);
        if (r < 0 || n == 0)
                return r;
        r = mdb_to_errno(mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn));
        if (r < 0)
                return r;
        r = meta_get_u64(s, txn, META_END_PACK, &end_pack);
        if (r == 0)
                r = meta_get_u64(s, txn, META_END_OFF, &end_off);
        if (r == 0)
                r = index_objects_txn(s, txn, &before);
        mdb_txn_abort(txn);
        if (r < 0)
                return r;
        if (end_pack == 0) /* written before the mark existed: the current pack */
                end_pack = packs[n - 1];

        for (size_t i = 0; i < n; i++) {
                struct pack_scan sc;

                if (packs[i] < end_pack)
                        continue;
                r = pack_scan_index(s, packs[i], packs[i] == end_pack ? end_off : 0, &sc);
                if (r < 0)
                        return r;
                records += sc.records;
                if (i == n - 1) {
                        r = pack_cut_tail(s, packs[i], &sc, &cut);
                        if (r < 0)
                                return log_debug_errno(r, "store: cannot cut pack %u: %m",
                                                       packs[i]);
                }
        }
        r = store_read_txn(s, index_objects_txn, &after);
        if (r < 0)
                return r;
        if (after > before || cut > 0)
                log_info("store: %" PRIu64 " objects written before a crash indexed again, %" PRIu64
                         " bytes of a torn record cut off pack-%08u.pack",
                         after - before, cut, packs[n - 1]);
        return 0;
}

static void entry_of(const struct ckpt_manifest *m, uint32_t kind, uint64_t data_pages,
                     uint32_t depth, struct store_catalog_entry *e)
{
        *e = (struct store_catalog_entry){
                .id = m->id,
                .parent = m->parent,
                .pid = m->pid,
                .uid = m->uid,
                .start_time = m->start_time,
                .time_ns = m->time_ns,
                .kind = kind,
                .flags = m->flags,
                .pages_total = m->pages_total,
                .pages_read = m->pages_read,
                .bytes_stored = m->bytes_stored,
                .pause_ns = m->pause_ns,
                .duration_ns = m->duration_ns,
                .n_regions = m->n_regions,
                .data_pages = data_pages,
                .chain_depth = depth,
        };
        memcpy(e->comm, m->comm, sizeof(e->comm) - 1);
}

static int catalog_put_txn(struct ckpt_store *s, MDB_txn *txn, void *userdata)
{
        const struct store_catalog_entry *e = userdata;
        MDB_val key, val = {.mv_size = sizeof(*e), .mv_data = (void *)e};
        uint64_t be, next;
        int r;

        id_key(e->id, &be, &key);
        r = mdb_put(txn, s->db_catalog, &key, &val, MDB_NOOVERWRITE);
        if (r != 0 && r != MDB_KEYEXIST)
                return mdb_to_errno(r);
        r = meta_get_u64(s, txn, "next_id", &next);
        if (r < 0 || next > e->id)
                return r;
        return meta_put_u64(s, txn, "next_id", e->id + 1);
}

/* A manifest file into the catalog, its entry as its commit would have
 * made it. A view that cannot be resolved (a broken chain) still gets its
 * entry: verify names it, and it can be deleted. */
static int catalog_add_manifest(struct ckpt_store *s, uint64_t id)
{
        _cleanup_(manifest_freep) struct ckpt_manifest *m = NULL, *view = NULL;
        struct store_catalog_entry e, pe;
        uint32_t depth = 0;
        int r;

        r = store_load(s, id, &m);
        if (r < 0)
                return r;
        if (m->kind == CKPT_MANIFEST_DELTA && m->parent != 0 &&
            store_get_entry(s, m->parent, &pe) == 0)
                depth = pe.chain_depth + 1;
        if (store_view(s, id, &view) < 0)
                view = NULL;
        entry_of(m, m->kind, view ? manifest_data_pages(view) : 0, depth, &e);
        r = store_write_txn(s, catalog_put_txn, &e);
        if (r < 0)
                return r;
        pthread_mutex_lock(&s->id_lock);
        s->next_id = MAX(s->next_id, id + 1);
        pthread_mutex_unlock(&s->id_lock);
        return 0;
}

/* Manifest files without a catalog entry (a commit or a delete that a crash
 * interrupted, or a catalog that lost them) are added to it; catalog entries
 * without their file are named. Nothing is deleted. */
static int catalog_reconcile(struct ckpt_store *s, size_t *ret_added, size_t *ret_unreadable)
{
        _cleanup_free_ struct store_catalog_entry *list = NULL;
        _cleanup_free_ uint64_t *ids = NULL;
        size_t n = 0, n_list = 0, added = 0, unreadable = 0;
        int r;

        r = manifests_present(s, &ids, &n);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                struct store_catalog_entry e;
                char name[32];

                r = store_get_entry(s, ids[i], &e);
                if (r == 0)
                        continue;
                if (r != -ENOENT)
                        return r;
                manifest_name(ids[i], name);
                r = catalog_add_manifest(s, ids[i]);
                if (r == -ENOMEM || r == -ENOSPC || r == -EIO)
                        return r;
                if (r < 0) {
                        log_warning_errno(r,
                                          "store: manifest 'manifests/%s' is not in the catalog "
                                          "and cannot be read: left as it is (verify names it): "
                                          "%m",
                                          name);
                        unreadable++;
                        continue;
                }
                if (!ret_added)
                        log_info("store: manifest 'manifests/%s' was not in the catalog (a commit "
                                 "or delete a crash interrupted): checkpoint %" PRIu64
                                 " added back",
                                 name, ids[i]);
                added++;
        }
        r = store_list(s, &list, &n_list);
        if (r < 0)
                return r;
        for (size_t i = 0, k = 0; i < n_list; i++) {
                char name[32];

                while (k < n && ids[k] < list[i].id)
                        k++;
                if (k < n && ids[k] == list[i].id)
                        continue;
                manifest_name(list[i].id, name);
                log_warning("store: checkpoint %" PRIu64 " is in the catalog but its manifest "
                            "'manifests/%s' is missing: it cannot be read (verify names it)",
                            list[i].id, name);
        }
        if (ret_added)
                *ret_added = added;
        if (ret_unreadable)
                *ret_unreadable = unreadable;
        return 0;
}

/* A fresh index from what is on disk: every valid record of every pack,
 * every manifest. */
static int rebuild_index(struct ckpt_store *s, const char *why)
{
        _cleanup_free_ uint32_t *packs = NULL;
        uint64_t records = 0, objects = 0, cut = 0;
        size_t n = 0, added = 0, unreadable = 0;
        int r;

        r = packs_present(s, &packs, &n);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                struct pack_scan sc;

                r = pack_scan_index(s, packs[i], 0, &sc);
                if (r < 0)
                        return r;
                if (!sc.header_ok && sc.size > 0)
                        log_warning("store: pack-%08u.pack has a damaged header: its records "
                                    "were indexed all the same",
                                    packs[i]);
                records += sc.records;
                if (i == n - 1) {
                        r = pack_cut_tail(s, packs[i], &sc, &cut);
                        if (r < 0)
                                return r;
                }
        }
        r = catalog_reconcile(s, &added, &unreadable);
        if (r < 0)
                return r;
        r = store_read_txn(s, index_objects_txn, &objects);
        if (r < 0)
                return r;
        log_info("store: index %s, rebuilt from %zu manifests and %zu packs: %" PRIu64 " objects%s",
                 why, added, n, objects,
                 unreadable > 0 ? " (some manifests cannot be read: see the warnings above)" : "");
        (void)records;
        (void)cut;
        return 0;
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

enum index_health {
        INDEX_SOUND,
        INDEX_MISSING, /* no data.mdb, or an empty one */
        INDEX_DAMAGED,
};

static int index_health(struct ckpt_store *s, const char *index_path, char *why, size_t why_size)
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
                r = index_check_deep(index_path, MAX(store_map_size, (uint64_t)st.st_size), why,
                                     why_size);
        if (r == -EBADMSG)
                return INDEX_DAMAGED;
        return r < 0 ? r : INDEX_SOUND;
}

/* Whether the state directory holds anything an index would point at. */
static int store_has_data(struct ckpt_store *s)
{
        _cleanup_free_ uint64_t *ids = NULL;
        _cleanup_free_ uint32_t *packs = NULL;
        size_t n = 0, n_packs = 0;
        int r;

        r = manifests_present(s, &ids, &n);
        if (r < 0 || n > 0)
                return r < 0 ? r : 1;
        r = packs_present(s, &packs, &n_packs);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n_packs; i++) {
                struct stat st;
                char name[32];

                snprintf(name, sizeof(name), "pack-%08u.pack", packs[i]);
                if (fstatat(s->packs_fd, name, &st, 0) == 0 &&
                    (uint64_t)st.st_size > sizeof(struct ckpt_pack_header))
                        return 1;
        }
        return 0;
}

/* index/ -> index.damaged-TIME (kept for inspection), and a new index/. */
static int index_move_aside(struct ckpt_store *s, const char *what)
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

static int open_current_pack(struct ckpt_store *s)
{
        struct ckpt_pack_header h;
        struct stat st;
        uint32_t last = 0;
        char name[32];
        size_t got;
        int fd, r;

        r = find_last_pack(s, &last);
        if (r < 0)
                return r;
        if (last == 0) {
                r = pack_create(s, 1);
                if (r < 0)
                        return r;
                s->cur_pack = 1;
                s->cur_off = sizeof(h);
                s->unsynced_from = 1;
                s->unsynced = true;
                return 0;
        }
        snprintf(name, sizeof(name), "pack-%08u.pack", last);
        fd = openat(s->packs_fd, name, O_RDWR | O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        r = pack_fd_slot(s, last);
        if (r < 0) {
                safe_close(fd);
                return r;
        }
        s->pack_fds[last] = fd;
        s->cur_pack = last;
        if (fstat(fd, &st) < 0)
                return negative_errno();
        r = pread_all(fd, &h, sizeof(h), 0, &got);
        if (r < 0)
                return r;
        if (got < sizeof(h)) {
                /* Created by a run that crashed before the header was durable:
                 * nothing can point into it yet. */
                struct ckpt_pack_header nh = {};

                memcpy(nh.magic, CKPT_PACK_MAGIC, sizeof(nh.magic));
                nh.version = htole32(CKPT_PACK_VERSION);
                nh.number = htole32(last);
                if (ftruncate(fd, 0) < 0)
                        return negative_errno();
                r = pwrite_all(fd, &nh, sizeof(nh), 0);
                if (r < 0)
                        return r;
                s->cur_off = sizeof(nh);
                s->unsynced_from = last;
                s->unsynced = true;
                return 0;
        }
        if (memcmp(h.magic, CKPT_PACK_MAGIC, sizeof(h.magic)) != 0 ||
            le32toh(h.version) != CKPT_PACK_VERSION || le32toh(h.number) != last)
                return -EBADMSG;
        s->cur_off = (uint64_t)st.st_size;
        return 0;
}

static int open_env(struct ckpt_store *s, const char *path)
{
        MDB_txn *txn = NULL;
        uint64_t fmt;
        int r;

        r = mdb_to_errno(mdb_env_create(&s->env));
        if (r < 0)
                return r;
        s->map_size = MAX(store_map_size, (uint64_t)1 << 20);
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

static int workers_init(struct ckpt_store *s)
{
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        unsigned n = store_threads ?: (unsigned)(cpus > 0 ? cpus : 1);
        int r;

        n = MIN(MAX(n, 1u), MAX_THREADS);
        s->workers = calloc(n, sizeof(*s->workers));
        if (!s->workers)
                return -ENOMEM;
        s->n_workers = n;
        for (unsigned i = 0; i < n; i++) {
                struct put_worker *w = &s->workers[i];

                r = sha256_ctx_new(&w->sha);
                if (r < 0)
                        return r;
                w->zc = ZSTD_createCCtx();
                w->cbuf = malloc(CHUNK_PAGES * PAGE);
                w->hdrs = calloc(CHUNK_PAGES, sizeof(*w->hdrs));
                w->obj_page = calloc(CHUNK_PAGES, sizeof(*w->obj_page));
                w->iov = calloc(2 * CHUNK_PAGES, sizeof(*w->iov));
                if (!w->zc || !w->cbuf || !w->hdrs || !w->obj_page || !w->iov)
                        return -ENOMEM;
        }
        return 0;
}

struct ckpt_store *store_free(struct ckpt_store *s)
{
        int r;

        if (!s)
                return NULL;
        if (s->env && s->workers && s->cur_pack > 0) {
                r = store_sync(s);
                if (r < 0)
                        log_debug_errno(r, "store: final sync failed, ignoring: %m");
        }
        for (unsigned i = 0; s->workers && i < s->n_workers; i++) {
                struct put_worker *w = &s->workers[i];

                if (w->rtxn)
                        mdb_txn_abort(w->rtxn);
                sha256_ctx_free(w->sha);
                ZSTD_freeCCtx(w->zc);
                free(w->cbuf);
                free(w->hdrs);
                free(w->obj_page);
                free(w->iov);
        }
        free(s->workers);
        if (s->env)
                mdb_env_close(s->env);
        for (size_t i = 0; i < s->n_pack_fds; i++)
                safe_close(s->pack_fds[i]);
        free(s->pack_fds);
        for (size_t i = 0; i < s->n_dctx; i++)
                ZSTD_freeDCtx(s->dctx[i]);
        for (size_t i = 0; i < VIEW_CACHE_SIZE; i++)
                manifest_free(s->cache[i].view);
        pending_done(&s->pending);
        safe_close(s->packs_fd);
        safe_close(s->manifests_fd);
        safe_close(s->dir_fd);
        safe_close(s->lock_fd); /* drops the flock */
        pthread_rwlock_destroy(&s->env_lock);
        pthread_mutex_destroy(&s->put_lock);
        pthread_mutex_destroy(&s->pending_lock);
        pthread_rwlock_destroy(&s->packs_lock);
        pthread_mutex_destroy(&s->dctx_lock);
        pthread_mutex_destroy(&s->cache_lock);
        pthread_rwlock_destroy(&s->commit_lock);
        pthread_mutex_destroy(&s->gc_lock);
        pthread_mutex_destroy(&s->id_lock);
        store_keyset_free(s->gc_keys);
        store_keyset_free(s->fresh);
        store_keyset_free(s->stale);
        free(s->dir);
        free(s);
        return NULL;
}

int store_open(const char *state_dir, struct ckpt_store **ret)
{
        _cleanup_(store_freep) struct ckpt_store *s = NULL;
        _cleanup_free_ char *index_path = NULL;
        int index_fd = -EBADF, r;
        bool rebuild = false;
        char why[320] = "";

        if (!state_dir || !ret)
                return -EINVAL;
        pthread_once(&entropy_once, entropy_init);

        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->dir_fd = s->lock_fd = s->packs_fd = s->manifests_fd = -EBADF;
        pthread_rwlock_init(&s->env_lock, NULL);
        pthread_mutex_init(&s->put_lock, NULL);
        pthread_mutex_init(&s->pending_lock, NULL);
        pthread_rwlock_init(&s->packs_lock, NULL);
        pthread_mutex_init(&s->dctx_lock, NULL);
        pthread_mutex_init(&s->cache_lock, NULL);
        {
                pthread_rwlockattr_t a;

                /* A delete or a gc waiting to start must not starve behind a
                 * stream of commits. */
                pthread_rwlockattr_init(&a);
                pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
                pthread_rwlock_init(&s->commit_lock, &a);
                pthread_rwlockattr_destroy(&a);
        }
        pthread_mutex_init(&s->gc_lock, NULL);
        pthread_mutex_init(&s->id_lock, NULL);
        s->dir = strdup(state_dir);
        if (!s->dir)
                return -ENOMEM;

        r = open_dir_at(AT_FDCWD, state_dir, &s->dir_fd);
        if (r < 0)
                return r;
        s->lock_fd = openat(s->dir_fd, "lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (s->lock_fd < 0)
                return negative_errno();
        /* A ckptd killed a moment ago may still hold it while the kernel
         * tears the process down (systemd restarts at once): wait a little. */
        for (uint64_t waited = 0;; waited += 20) {
                if (flock(s->lock_fd, LOCK_EX | LOCK_NB) == 0)
                        break;
                if (errno != EWOULDBLOCK)
                        return negative_errno();
                if (waited >= store_lock_wait_ms)
                        return -EBUSY;
                (void)usleep(20 * 1000);
        }

        r = open_dir_at(s->dir_fd, "packs", &s->packs_fd);
        if (r < 0)
                return r;
        r = open_dir_at(s->dir_fd, "manifests", &s->manifests_fd);
        if (r < 0)
                return r;
        r = open_dir_at(s->dir_fd, "index", &index_fd);
        if (r < 0)
                return r;
        safe_close(index_fd);
        r = remove_stale_temps(s);
        if (r < 0)
                return r;

        if (asprintf(&index_path, "%s/index", state_dir) < 0)
                return -ENOMEM;
        r = index_health(s, index_path, why, sizeof(why));
        if (r < 0)
                return log_debug_errno(r, "store: cannot check index '%s': %m", index_path);
        if (r == INDEX_DAMAGED) {
                log_warning("store: index '%s' is damaged: %s", index_path, why);
                rebuild = true;
        } else if (r == INDEX_MISSING) {
                r = store_has_data(s);
                if (r < 0)
                        return r;
                rebuild = r > 0;
        }
        for (unsigned attempt = 0;; attempt++) {
                if (rebuild && faccessat(s->dir_fd, "index/data.mdb", F_OK, 0) == 0) {
                        r = index_move_aside(s, "damaged");
                        if (r < 0)
                                return log_debug_errno(r, "store: cannot move index '%s' aside: %m",
                                                       index_path);
                }
                r = open_env(s, index_path);
                if (r != -EBADMSG || attempt > 0)
                        break;
                /* Damage LMDB itself found. */
                snprintf(why, sizeof(why), "LMDB refuses it: %s", strerror(EBADMSG));
                log_warning("store: index '%s' is damaged: %s", index_path, why);
                mdb_env_close(s->env);
                s->env = NULL;
                rebuild = true;
        }
        if (r < 0)
                return log_debug_errno(r, "store: cannot open index '%s': %m", index_path);
        if (rebuild) {
                char what[sizeof(why) + 16];

                snprintf(what, sizeof(what), "%s%s", why[0] == 'm' ? "" : "damaged (", why);
                if (why[0] != 'm')
                        strcat(what, ")");
                r = rebuild_index(s, what);
                if (r < 0)
                        return log_debug_errno(r, "store: cannot rebuild the index: %m");
        } else {
                r = recover_tail(s);
                if (r < 0)
                        return log_debug_errno(r, "store: cannot recover the packs' tail: %m");
                r = catalog_reconcile(s, NULL, NULL);
                if (r < 0)
                        return log_debug_errno(r, "store: cannot reconcile the catalog: %m");
        }
        r = store_read_txn(s, load_next_id, NULL);
        if (r < 0)
                return log_debug_errno(r, "store: cannot read the next checkpoint id: %m");
        r = open_current_pack(s);
        if (r < 0)
                return log_debug_errno(r, "store: cannot open the current pack: %m");
        r = store_write_txn(s, put_end_txn, NULL);
        if (r < 0)
                return log_debug_errno(r, "store: cannot write to the index: %m");
        r = workers_init(s);
        if (r < 0)
                return r;
        /* New directories and a new pack must survive a crash too. */
        if (fsync(s->dir_fd) < 0)
                return negative_errno();

        *ret = TAKE_PTR(s);
        return 0;
}
