/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * catalog.c: the catalog of checkpoints and committing them (catalog.h).
 *
 * Owns: the "catalog" database and "next_id", id_lock and commit_lock.
 * Writes manifest files only through view.c, objects only through the
 * pending table (index.c commits it in the same transaction as the entry).
 */
#include "catalog.h"

#include <endian.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "gc-guard.h"
#include "index.h"
#include "log.h"
#include "pack.h"
#include "time-util.h"
#include "view.h"

void store_block_commits(struct ckpt_store *s)
{
        pthread_rwlock_wrlock(&s->commit_lock);
}

void store_unblock_commits(struct ckpt_store *s)
{
        pthread_rwlock_unlock(&s->commit_lock);
}

int store_alloc_id(struct ckpt_store *s, uint64_t *ret_id)
{
        if (!s || !ret_id)
                return -EINVAL;
        pthread_mutex_lock(&s->id_lock);
        *ret_id = s->next_id++;
        pthread_mutex_unlock(&s->id_lock);
        return 0;
}

int catalog_load_next_id(struct ckpt_store *s, MDB_txn *txn, void *userdata)
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

void catalog_entry_from_val(const MDB_val *val, struct store_catalog_entry *ret)
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
        catalog_entry_from_val(&val, c->e);
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
                catalog_entry_from_val(&val, &c->v[c->n++]);
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

                catalog_entry_from_val(&val, &e);
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
                .group = m->group,
                .group_pause_ns = m->group_pause_ns,
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

/* Every DATA key a manifest lists must be an object of its owner. Called
 * under put_lock, after commit_pending_txn() indexed the pending objects in
 * the same transaction: a key of the pending table is one (found in memory,
 * not looked up twice in the index). */
static int keys_present(struct ckpt_store *s, MDB_txn *txn, const struct ckpt_manifest *m)
{
        for (size_t i = 0; i < m->n_pages; i++) {
                int r;

                if (m->pages[i].kind != CKPT_PAGE_DATA ||
                    pending_find(&s->pending, m->uid, m->pages[i].key))
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
        struct manifest_write *mw;
};

/* One transaction makes a checkpoint live: the index entries of the objects
 * written since the last commit, the check that every object the manifest
 * lists is there, its catalog entry and the next id; it commits only once
 * the manifest file is durable (mw joined last). */
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
        if (next <= c->e->id) {
                r = meta_put_u64(s, txn, "next_id", c->e->id + 1);
                if (r < 0)
                        return r;
        }
        return view_write_manifest_join(c->mw);
}

static int commit_locked(struct ckpt_store *s, const struct ckpt_manifest *m,
                         struct ckpt_manifest *given_view)
{
        _cleanup_(manifest_freep) struct ckpt_manifest *view = given_view;
        _cleanup_free_ void *buf = NULL;
        struct store_catalog_entry e = {}, pe;
        const struct ckpt_manifest *to_write = m;
        struct manifest_write mw;
        uint64_t next_id;
        uint32_t depth = 0;
        uint64_t t[4];
        char name[32];
        size_t size, n_new;
        int r, k;

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

        /* Step 2: the manifest file, durably, on a thread of its own while
         * step 3 goes on. Until its catalog entry exists nothing refers to
         * it (a crash leaves an orphan, removed at open). */
        t[0] = now_ns(CLOCK_MONOTONIC);
        r = manifest_serialize(to_write, &buf, &size);
        if (r < 0)
                return r;
        view_write_manifest_start(s, m->id, buf, size, &mw);

        /* Step 3: the objects it points at are durable, then one transaction
         * indexes them and adds the catalog entry, committed once the
         * manifest is durable too. A gc under way keeps them: put_lock
         * orders this against a repack as a whole (what it found live up to
         * its index commit). */
        entry_of(m, to_write->kind, manifest_data_pages(view), depth, &e);
        pthread_mutex_lock(&s->put_lock);
        t[1] = now_ns(CLOCK_MONOTONIC);
        n_new = s->pending.n;
        r = packs_sync_locked(s);
        t[2] = now_ns(CLOCK_MONOTONIC);
        if (r == 0) {
                gc_note_commit(s, m);
                r = store_write_txn(s, commit_txn, &(struct commit_ctx){m, &e, &mw});
                if (r == 0)
                        pending_committed(s);
        }
        pthread_mutex_unlock(&s->put_lock);
        k = view_write_manifest_join(&mw);
        if (r == 0)
                r = k;
        t[3] = now_ns(CLOCK_MONOTONIC);
        log_debug("store: commit of %" PRIu64 " (ms): manifest serialized %.1f (%zu bytes), "
                  "packs' fsync %.1f, index and the manifest's fsync %.1f (%zu new objects)",
                  m->id, (t[1] - t[0]) / 1e6, size, (t[2] - t[1]) / 1e6, (t[3] - t[2]) / 1e6,
                  n_new);
        if (r < 0) {
                view_manifest_name(m->id, name);
                (void)unlinkat(s->manifests_fd, name, 0);
                return r;
        }
        view_cache_put(s, m->id, TAKE_PTR(view));
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
        r = view_write_manifest(s, id, buf, size);
        if (r < 0)
                return r;
        if (detach)
                view_cache_drop(s, id); /* the cached view names the parent */
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
        view_cache_drop(s, id);
        view_manifest_name(id, name);
        if (unlinkat(s->manifests_fd, name, 0) < 0 && errno != ENOENT)
                return negative_errno();
        if (fsync(s->manifests_fd) < 0)
                return negative_errno();
        return 0;
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

int catalog_reconcile(struct ckpt_store *s, size_t *ret_added, size_t *ret_unreadable)
{
        _cleanup_free_ struct store_catalog_entry *list = NULL;
        _cleanup_free_ uint64_t *ids = NULL;
        size_t n = 0, n_list = 0, added = 0, unreadable = 0;
        int r;

        r = view_manifests_present(s, &ids, &n);
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
                view_manifest_name(ids[i], name);
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
                view_manifest_name(list[i].id, name);
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
