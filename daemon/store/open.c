/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * open.c: opening and closing the store (store_open(), store_free()) and
 * its figures (store_stats()).
 *
 * Owns: the state directory and its lock, the options, and the order of
 * things at open: the lock, the index checked (index.c) and rebuilt or
 * caught up (recover.c, catalog.c), the next id, the current pack (pack.c),
 * the workers (put.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "catalog.h"
#include "index.h"
#include "log.h"
#include "pack.h"
#include "put.h"
#include "recover.h"
#include "view.h"

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

/* Whether the state directory holds anything an index would point at. */
static int store_has_data(struct ckpt_store *s)
{
        _cleanup_free_ uint64_t *ids = NULL;
        _cleanup_free_ uint32_t *packs = NULL;
        size_t n = 0, n_packs = 0;
        int r;

        r = view_manifests_present(s, &ids, &n);
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

                catalog_entry_from_val(&val, &e);
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
        put_workers_free(s);
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

/* The store's memory and locks, nothing opened yet. */
static int store_new(const char *state_dir, const struct store_options *opts,
                     struct ckpt_store **ret)
{
        _cleanup_(store_freep) struct ckpt_store *s = NULL;
        pthread_rwlockattr_t a;

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
        /* A delete or a gc waiting to start must not starve behind a stream
         * of commits. */
        pthread_rwlockattr_init(&a);
        pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
        pthread_rwlock_init(&s->commit_lock, &a);
        pthread_rwlockattr_destroy(&a);
        pthread_mutex_init(&s->gc_lock, NULL);
        pthread_mutex_init(&s->id_lock, NULL);
        s->opts = opts ? *opts : (struct store_options){};
        if (s->opts.pack_roll_size == 0)
                s->opts.pack_roll_size = STORE_PACK_ROLL_SIZE_DEFAULT;
        if (s->opts.index_recent_max == 0)
                s->opts.index_recent_max = STORE_INDEX_RECENT_MAX_DEFAULT;
        if (s->opts.map_size == 0)
                s->opts.map_size = STORE_MAP_SIZE_DEFAULT;
        if (s->opts.lock_wait_ms == 0)
                s->opts.lock_wait_ms = STORE_LOCK_WAIT_MS_DEFAULT;
        if (s->opts.codec != CKPT_CODEC_ZSTD)
                s->opts.codec = CKPT_CODEC_LZ4;
        s->dir = strdup(state_dir);
        if (!s->dir)
                return -ENOMEM;
        *ret = TAKE_PTR(s);
        return 0;
}

/* Step 1: the state directory, its lock, its subdirectories. */
static int open_state_dir(struct ckpt_store *s)
{
        int index_fd = -EBADF, r;

        r = open_dir_at(AT_FDCWD, s->dir, &s->dir_fd);
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
                if (waited >= s->opts.lock_wait_ms)
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
        return view_remove_stale_temps(s);
}

/* Step 2: the index, checked, opened, and rebuilt or caught up. */
static int open_index(struct ckpt_store *s)
{
        _cleanup_free_ char *index_path = NULL;
        bool rebuild = false;
        char why[320] = "";
        int r;

        if (asprintf(&index_path, "%s/index", s->dir) < 0)
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
                r = index_open_env(s, index_path);
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
                return 0;
        }
        r = recover_tail(s);
        if (r < 0)
                return log_debug_errno(r, "store: cannot recover the packs' tail: %m");
        r = catalog_reconcile(s, NULL, NULL);
        if (r < 0)
                return log_debug_errno(r, "store: cannot reconcile the catalog: %m");
        return 0;
}

int store_open(const char *state_dir, const struct store_options *opts, struct ckpt_store **ret)
{
        _cleanup_(store_freep) struct ckpt_store *s = NULL;
        int r;

        if (!state_dir || !ret)
                return -EINVAL;
        r = store_new(state_dir, opts, &s);
        if (r < 0)
                return r;
        r = open_state_dir(s);
        if (r < 0)
                return r;
        r = open_index(s);
        if (r < 0)
                return r;

        /* Step 3: ids, the current pack, the workers. */
        r = store_read_txn(s, catalog_load_next_id, NULL);
        if (r < 0)
                return log_debug_errno(r, "store: cannot read the next checkpoint id: %m");
        r = pack_open_current(s);
        if (r < 0)
                return log_debug_errno(r, "store: cannot open the current pack: %m");
        r = store_write_txn(s, index_put_end_txn, NULL);
        if (r < 0)
                return log_debug_errno(r, "store: cannot write to the index: %m");
        r = put_workers_init(s);
        if (r < 0)
                return r;
        /* New directories and a new pack must survive a crash too. */
        if (fsync(s->dir_fd) < 0)
                return negative_errno();

        *ret = TAKE_PTR(s);
        return 0;
}
