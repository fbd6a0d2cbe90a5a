/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * put.c: the parallel put pipeline (put.h).
 *
 * Owns: put_lock and the worker threads' buffers. Objects written here are
 * first recorded in the pending table (pending.c; visible to readers of
 * this store at once); store_sync() or a commit fsyncs the packs and only
 * then indexes them (index.c), so the index never points at bytes that are
 * not durable.
 */
#include "put.h"

#include <endian.h>
#include <inttypes.h>
#include <lz4.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>

#include "gc-guard.h"
#include "index.h"
#include "log.h"
#include "pack.h"
#include "page-check.h"
#include "sha256.h"
#include "time-util.h"

#define CHUNK_PAGES 256u /* pages hashed/compressed/written as one unit of work */

/* The codec, chosen with tests/bench/b-codec (per 4 KiB page, one core of
 * the 2-core AMD EPYC VM this is developed on; text-like pages of
 * tests/lib/pagefill.h): LZ4 ~680 MB/s for 0.41 of the bytes, zstd -1 ~370
 * MB/s for 0.35, zstd 1 ~280 MB/s for 0.27, zstd 3 no smaller than 1 and
 * slower; SHA-256 ~1700 MB/s. With zstd 1 hashing and compressing text took
 * ~3.6 CPU-seconds a GiB: a full checkpoint could not store more than ~0.55
 * GB/s on 2 cores. With LZ4 ~1.9 CPU-seconds, for 1.5x the bytes on disk
 * (still well under what the disk writes in that time). LZ4 is the default
 * (store_options.codec), for full and incremental checkpoints alike; zstd
 * stays for stores that ask (level 1, or -1 for STORE_COMPRESS_FAST). */
#define ZSTD_LEVEL 1
#define ZSTD_LEVEL_FAST (-1)
struct put_worker {
        struct sha256_ctx *sha;
        ZSTD_CCtx *zc;
        void *lz4;                     /* LZ4_sizeofState() */
        uint8_t *cbuf;                 /* CHUNK_PAGES x PAGE compressed frames */
        struct ckpt_pack_object *hdrs; /* CHUNK_PAGES */
        uint32_t *obj_page;            /* page index (in chunk) of each object */
        struct iovec *iov;             /* 2 x CHUNK_PAGES */
        MDB_txn *rtxn;
        pthread_t thread;
        struct put_job *job;
};

struct put_job {
        struct ckpt_store *s;
        uint32_t owner;
        const uint8_t *pages;        /* contiguous, or: */
        const uint8_t *const *pagev; /* one pointer per page */
        size_t n;
        struct ckpt_page *ret;
        uint8_t codec; /* CKPT_CODEC_LZ4 or CKPT_CODEC_ZSTD */
        int level;     /* zstd's */
        size_t n_chunks;
        atomic_size_t next_chunk;

        atomic_uint_fast64_t cpu_ns; /* the workers' CPU time, for the debug log */

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

/* The page compressed into dst (at most PAGE - 1 bytes); 0: it did not
 * shrink, store it raw. */
static size_t compress_page(const struct put_job *j, struct put_worker *w, const uint8_t *page,
                            uint8_t *dst)
{
        if (j->codec == CKPT_CODEC_LZ4) {
                int k = LZ4_compress_fast_extState(w->lz4, (const char *)page, (char *)dst, PAGE,
                                                   PAGE - 1, 1);

                return k > 0 ? (size_t)k : 0;
        } else {
                size_t k = ZSTD_compressCCtx(w->zc, dst, PAGE - 1, page, PAGE, j->level);

                return ZSTD_isError(k) ? 0 : k; /* dstSize_tooSmall: did not shrink */
        }
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

                if (!page_looks_incompressible(page))
                        clen = compress_page(j, w, page, w->cbuf + o * PAGE);
                *h = (struct ckpt_pack_object){
                        .magic = htole32(CKPT_PACK_OBJECT_MAGIC),
                        .owner = htole32(j->owner),
                        .ulen = htole32(PAGE),
                        .clen = htole32(clen ? (uint32_t)clen : PAGE),
                        .codec = clen ? j->codec : CKPT_CODEC_RAW,
                };
                memcpy(h->sha256, j->ret[first + k].key, 32);
        }
        *ret_n_obj = n_obj;
        return 0;
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
        r = pack_roll_if_full(s);
        if (r < 0)
                return r;
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
                        h->codec != CKPT_CODEC_RAW ? (void *)(w->cbuf + o * PAGE)
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

static uint64_t thread_cpu_ns(void)
{
        struct timespec ts;

        if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) < 0)
                return 0;
        return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* put_run(), its CPU time counted. */
static void put_run_timed(struct put_job *j, struct put_worker *w)
{
        uint64_t t0 = thread_cpu_ns();

        put_run(j, w);
        atomic_fetch_add(&j->cpu_ns, thread_cpu_ns() - t0);
}

static void *put_thread(void *userdata)
{
        struct put_worker *w = userdata;

        put_run_timed(w->job, w);
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
                .codec = s ? s->opts.codec : CKPT_CODEC_LZ4,
                .level = compress == STORE_COMPRESS_FAST ? ZSTD_LEVEL_FAST : ZSTD_LEVEL,
                .n_chunks = (n + CHUNK_PAGES - 1) / CHUNK_PAGES,
                .lock = PTHREAD_MUTEX_INITIALIZER,
                .cond = PTHREAD_COND_INITIALIZER,
        };
        unsigned started = 0;
        uint64_t t0;
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
        t0 = now_ns(CLOCK_MONOTONIC);
        put_run_timed(&j, &s->workers[0]);
        for (unsigned i = 1; i <= started; i++)
                pthread_join(s->workers[i].thread, NULL);
        log_debug("store: put %zu pages (%" PRIu64 " bytes new) on %u threads: %.1f ms, "
                  "CPU %.1f ms",
                  n, j.new_bytes, started + 1, (now_ns(CLOCK_MONOTONIC) - t0) / 1e6,
                  atomic_load(&j.cpu_ns) / 1e6);

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

int put_workers_init(struct ckpt_store *s)
{
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        unsigned n = s->opts.threads ?: (unsigned)(cpus > 0 ? cpus : 1);
        int r;

        page_check_init();
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
                w->lz4 = malloc((size_t)LZ4_sizeofState());
                w->cbuf = malloc(CHUNK_PAGES * PAGE);
                w->hdrs = calloc(CHUNK_PAGES, sizeof(*w->hdrs));
                w->obj_page = calloc(CHUNK_PAGES, sizeof(*w->obj_page));
                w->iov = calloc(2 * CHUNK_PAGES, sizeof(*w->iov));
                if (!w->zc || !w->lz4 || !w->cbuf || !w->hdrs || !w->obj_page || !w->iov)
                        return -ENOMEM;
        }
        return 0;
}

void put_workers_free(struct ckpt_store *s)
{
        for (unsigned i = 0; s->workers && i < s->n_workers; i++) {
                struct put_worker *w = &s->workers[i];

                if (w->rtxn)
                        mdb_txn_abort(w->rtxn);
                sha256_ctx_free(w->sha);
                ZSTD_freeCCtx(w->zc);
                free(w->lz4);
                free(w->cbuf);
                free(w->hdrs);
                free(w->obj_page);
                free(w->iov);
        }
        free(s->workers);
        s->workers = NULL;
        s->n_workers = 0;
}
