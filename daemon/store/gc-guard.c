/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * gc-guard.c: the keys in flight a gc must keep (gc-guard.h).
 *
 * Owns: gc_lock and the three keysets under it. Decides nothing about what
 * lives: store_gc_protected() answers for gc.c's live().
 */
#include "gc-guard.h"

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

void gc_note_put(struct ckpt_store *s, uint32_t owner, const struct ckpt_page *v, size_t n)
{
        pthread_mutex_lock(&s->gc_lock);
        keys_add(&s->fresh, &s->fresh_failed, owner, v, n);
        pthread_mutex_unlock(&s->gc_lock);
}

void gc_note_commit(struct ckpt_store *s, const struct ckpt_manifest *m)
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
