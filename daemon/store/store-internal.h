/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * store-internal.h: struct ckpt_store, shared by the modules of the store
 * (store.h names them) and by no one else. Each group of fields says which
 * module owns it: only that module writes it, and under the lock named.
 *
 * Locks, outer to inner: commit_lock (read-held by every store_commit(),
 * write-held by whole-store operations: delete, the start of a gc, verify's
 * listing) -> put_lock (one writer of packs) -> env_lock (read-held around
 * every LMDB transaction, write-held only to grow the map) -> pending_lock /
 * packs_lock / cache_lock / dctx_lock / gc_lock / id_lock (leaves).
 */
#pragma once

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <unistd.h>
#include <zstd.h>

#include "fd-util.h"
#include "macro.h"
#include "keyset.h"
#include "pending.h"
#include "store.h"

#define MAX_THREADS 16u
#define VIEW_CACHE_SIZE 4u

struct put_worker;

struct view_slot {
        uint64_t id;
        uint64_t stamp;
        struct ckpt_manifest *view;
};

struct ckpt_store {
        /* open.c: the state directory, its lock, the options (defaults
         * filled in). Set at open, read-only after. */
        char *dir;
        int dir_fd, lock_fd, packs_fd, manifests_fd;
        struct store_options opts;

        /* index.c: the LMDB environment and its databases. */
        MDB_env *env;
        MDB_dbi db_objects, db_recent, db_catalog, db_meta;
        uint64_t map_size;
        pthread_rwlock_t env_lock;

        /* put.c: the writer (put_lock) and its threads. */
        pthread_mutex_t put_lock;
        struct put_worker *workers;
        unsigned n_workers;

        /* pending.c's table, and pack.c's end of the current pack: changed
         * under put_lock and pending_lock, read under either. */
        pthread_mutex_t pending_lock;
        struct pending pending;
        uint32_t cur_pack;
        uint64_t cur_off;
        /* Oldest pack holding bytes not yet fsynced, and whether a pack was
         * created since the packs directory was last fsynced. */
        uint32_t unsynced_from;
        bool unsynced;
        bool packs_dir_dirty;

        /* pack.c: read descriptors of the packs. */
        pthread_rwlock_t packs_lock; /* write-held to open or close a pack fd */
        int *pack_fds;               /* by pack number, -EBADF when not open */
        size_t n_pack_fds;

        /* read.c: decompression contexts for readers. */
        pthread_mutex_t dctx_lock;
        ZSTD_DCtx *dctx[MAX_THREADS];
        size_t n_dctx;

        /* view.c: resolved views. */
        pthread_mutex_t cache_lock;
        struct view_slot cache[VIEW_CACHE_SIZE];
        uint64_t cache_stamp;

        /* catalog.c: commits against whole-store operations. */
        pthread_rwlock_t commit_lock;

        /* catalog.c: ids are handed out here; "next_id" in the index follows
         * at each commit. An id given to a checkpoint that was never
         * committed may be given again after a restart: no one has seen it. */
        pthread_mutex_t id_lock;
        uint64_t next_id;

        /* gc-guard.c: the keys a gc must keep beyond its mark. */
        pthread_mutex_t gc_lock;
        unsigned gc_active;           /* gcs under way */
        struct store_keyset *gc_keys; /* keys committed since the gc began */
        struct store_keyset *fresh;   /* keys stored since the last gc began, not committed */
        struct store_keyset *stale;   /* the same, from the gc before */
        bool gc_keys_failed, fresh_failed, stale_failed; /* out of memory: all is live */
};

/* Small helpers of several modules. */

static inline int pread_all(int fd, void *buf, size_t n, uint64_t off, size_t *ret_read)
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

/* A directory stream over the directory dir_fd refers to; dir_fd stays open. */
static inline int dir_open(int dir_fd, DIR **ret)
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
