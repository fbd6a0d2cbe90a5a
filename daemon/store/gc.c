/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * gc.c: deleting checkpoints without breaking later ones, and reclaiming
 * objects no manifest refers to (gc.h).
 *
 * Owns: the policy only (which checkpoints to rewrite before a delete, what
 * is live, which packs are worth rewriting). Every change on disk goes
 * through the primitives of store.h, which keep the crash-safety order; this
 * module never writes a file itself.
 */
#include "gc.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "keyset.h"
#include "log.h"
#include "macro.h"

#define PACK_OBJECT_HEADER sizeof(struct ckpt_pack_object)

/* ------------------------------------------------------------------- delete */

int store_delete(struct ckpt_store *s, uint64_t id)
{
        _cleanup_free_ struct store_catalog_entry *list = NULL;
        _cleanup_(manifest_freep) struct ckpt_manifest *view = NULL;
        struct store_catalog_entry e;
        bool broken;
        size_t n = 0;
        int r;

        if (!s || id == 0)
                return -EINVAL;

        /* No commit may pick id as its parent while its children are being
         * rewritten, nor a delete run beside this one. */
        store_block_commits(s);
        r = store_get_entry(s, id, &e);
        if (r < 0)
                goto out;
        r = store_list(s, &list, &n);
        if (r < 0)
                goto out;
        /* A checkpoint whose own view is damaged can still be deleted (that
         * is how a store is cleaned up); its DELTA children were unreadable
         * already and stay so. */
        r = store_view(s, id, &view);
        if (r == -ENOMEM)
                goto out;
        broken = r == -EBADMSG || r == -ENOENT || r == -EUCLEAN;

        /* Step 1: every child stands alone (a DELTA becomes its FULL view);
         * a crash after any of them leaves both readable. */
        for (size_t i = 0; i < n; i++) {
                if (list[i].parent != id || list[i].id == id)
                        continue;
                r = store_detach(s, list[i].id);
                if (r == -EBADMSG && broken) {
                        log_debug("store: checkpoint %" PRIu64 " stays unreadable: its parent "
                                  "%" PRIu64 " is damaged",
                                  list[i].id, id);
                        continue;
                }
                if (r < 0) {
                        log_debug_errno(
                                r, "store: cannot rewrite checkpoint %" PRIu64 " on its own: %m",
                                list[i].id);
                        goto out;
                }
        }

        /* Step 2: the catalog entry, then the manifest file. */
        r = store_remove_checkpoint(s, id);
out:
        store_unblock_commits(s);
        return r;
}

/* ----------------------------------------------------------------------- gc */

/* One gc at a time: two would only repack the same packs twice. */
static pthread_mutex_t gc_serial = PTHREAD_MUTEX_INITIALIZER;

struct gc_ctx {
        struct ckpt_store *s;
        struct store_keyset *marked;
};

static bool gc_live(uint32_t owner, const uint8_t key[32], void *userdata)
{
        struct gc_ctx *c = userdata;

        return store_keyset_contains(c->marked, owner, key) || store_gc_protected(c->s, owner, key);
}

/* Mark: every DATA key of every manifest, per owner. The catalog's
 * checkpoints must all be readable: gc does not reclaim what a damaged
 * manifest might still refer to. Manifest files without an entry are
 * marked too when they parse (cheap caution). */
static int gc_mark(struct ckpt_store *s, struct store_keyset *marked)
{
        _cleanup_free_ struct store_catalog_entry *list = NULL;
        _cleanup_free_ uint64_t *files = NULL;
        size_t n = 0, n_files = 0;
        int r;

        r = store_list(s, &list, &n);
        if (r < 0)
                return r;
        r = store_list_manifests(s, &files, &n_files);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n + n_files; i++) {
                _cleanup_(manifest_freep) struct ckpt_manifest *m = NULL;
                bool in_catalog = i < n;
                uint64_t id = in_catalog ? list[i].id : files[i - n];
                struct store_catalog_entry e;

                r = store_load(s, id, &m);
                if (r == -ENOMEM)
                        return r;
                if (r < 0) {
                        if (!in_catalog || store_get_entry(s, id, &e) == -ENOENT)
                                continue; /* an orphan, or deleted meanwhile */
                        return log_debug_errno(r,
                                               "store: gc: checkpoint %" PRIu64
                                               " cannot be read, not reclaiming: %m",
                                               id);
                }
                for (size_t k = 0; k < m->n_pages; k++) {
                        if (m->pages[k].kind != CKPT_PAGE_DATA)
                                continue;
                        r = store_keyset_add(marked, m->uid, m->pages[k].key);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

struct pack_usage {
        uint64_t objects, bytes, dead_objects, dead_bytes;
};

struct usage_ctx {
        struct gc_ctx *gc;
        struct pack_usage *v;
        size_t n;
};

static int count_usage(const struct store_object *o, void *userdata)
{
        struct usage_ctx *u = userdata;
        uint64_t len = PACK_OBJECT_HEADER + o->clen;
        struct pack_usage *p;

        if (o->pack >= u->n) {
                size_t n = MAX((size_t)o->pack + 1, u->n * 2);
                struct pack_usage *v = realloc(u->v, n * sizeof(*v));

                if (!v)
                        return -ENOMEM;
                memset(v + u->n, 0, (n - u->n) * sizeof(*v));
                u->v = v;
                u->n = n;
        }
        p = &u->v[o->pack];
        p->objects++;
        p->bytes += len;
        if (!gc_live(o->owner, o->key, u->gc)) {
                p->dead_objects++;
                p->dead_bytes += len;
        }
        return 0;
}

static int gc_locked(struct ckpt_store *s, const struct store_progress *progress,
                     struct store_gc_result *ret)
{
        _cleanup_(store_keyset_freep) struct store_keyset *marked = NULL;
        _cleanup_free_ uint32_t *packs = NULL;
        struct store_gc_result res = {};
        struct gc_ctx c = {.s = s};
        struct usage_ctx u = {.gc = &c};
        size_t n_packs = 0;
        uint32_t current;
        int r;

        /* Step 1: mark. */
        r = store_keyset_new(&marked);
        if (r < 0)
                return r;
        c.marked = marked;
        r = gc_mark(s, marked);
        if (r < 0)
                return r;

        /* Step 2: how much of each pack is dead. The packs are listed first:
         * a pack older than the newest one then receives no more objects, and
         * the walk (which syncs) sees all of its objects. */
        r = store_list_packs(s, &packs, &n_packs);
        if (r < 0)
                return r;
        if (n_packs == 0)
                goto done;
        current = packs[n_packs - 1];
        r = store_foreach_object(s, count_usage, &u);
        if (r < 0)
                goto out;

        /* Step 3: sweep. store_repack() decides again, object by object and
         * under the store's write lock, with the same live(): the figures
         * above only choose the packs. */
        for (size_t i = 0; i < n_packs; i++) {
                struct pack_usage pu = packs[i] < u.n ? u.v[packs[i]] : (struct pack_usage){};
                struct store_repack_result rr = {};
                uint64_t size = 0, data, live, dead;

                if (progress && progress->fn)
                        progress->fn(progress->userdata, i, n_packs);

                /* Dead: every byte no live indexed object uses, records a
                 * crash left unindexed included. */
                r = store_pack_size(s, packs[i], &size);
                if (r == -ENOENT)
                        continue;
                if (r < 0)
                        goto out;
                data = size > sizeof(struct ckpt_pack_header)
                               ? size - sizeof(struct ckpt_pack_header)
                               : 0;
                live = pu.bytes - pu.dead_bytes;
                dead = data > live ? data - live : 0;
                if (packs[i] == current) {
                        /* Rewriting the pack being appended to pays only when
                         * much of it is dead. */
                        if (dead == 0 || dead * 4 < data)
                                continue;
                } else if (pu.objects > 0 && dead == 0)
                        continue;
                /* (An older pack without objects is only removed.) */
                r = store_repack(s, packs[i], gc_live, &c, &rr);
                if (r == -ENOENT)
                        continue; /* gone meanwhile */
                if (r < 0) {
                        log_debug_errno(r, "store: gc: repacking pack %" PRIu32 " failed: %m",
                                        packs[i]);
                        goto out;
                }
                res.objects_removed += rr.objects_removed;
                res.bytes_reclaimed += rr.bytes_removed;
                res.packs_rewritten++;
        }
        if (progress && progress->fn)
                progress->fn(progress->userdata, n_packs, n_packs);
done:
        if (ret)
                *ret = res;
        r = 0;
out:
        free(u.v);
        return r;
}

int store_gc(struct ckpt_store *s, struct store_gc_result *ret)
{
        return store_gc_progress(s, NULL, ret);
}

int store_gc_progress(struct ckpt_store *s, const struct store_progress *progress,
                      struct store_gc_result *ret)
{
        int r;

        if (!s)
                return -EINVAL;
        pthread_mutex_lock(&gc_serial);
        r = store_gc_begin(s);
        if (r == 0) {
                r = gc_locked(s, progress, ret);
                store_gc_end(s);
        }
        pthread_mutex_unlock(&gc_serial);
        if (r == 0 && ret)
                log_debug("store: gc: %" PRIu64 " objects removed, %" PRIu64
                          " bytes reclaimed, %" PRIu64 " packs rewritten",
                          ret->objects_removed, ret->bytes_reclaimed, ret->packs_rewritten);
        return r;
}
