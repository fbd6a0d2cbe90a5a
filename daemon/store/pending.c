/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pending.c: the table of objects written but not yet indexed (pending.h).
 *
 * Owns: its vector and its keyset. Never locks, never logs, no I/O.
 */
#include "pending.h"

#include <errno.h>
#include <stdlib.h>

#include "macro.h"
#include "ckpt/manifest.h"

struct pending_entry *pending_find(struct pending *p, uint32_t owner, const uint8_t key[32])
{
        const uint32_t *i = store_keyset_get(p->index, owner, key);

        return i ? &p->v[*i] : NULL;
}

int pending_add(struct pending *p, const struct pending_entry *e)
{
        void *slot;
        int r;

        if (p->n >= UINT32_MAX - 1)
                return -E2BIG;
        if (!p->index) {
                r = store_keyset_new_map(sizeof(uint32_t), &p->index);
                if (r < 0)
                        return r;
        }
        if (p->n == p->cap) {
                size_t cap = MAX((size_t)1024, p->cap * 2);
                struct pending_entry *v = realloc(p->v, cap * sizeof(*v));

                if (!v)
                        return -ENOMEM;
                p->v = v;
                p->cap = cap;
        }
        r = store_keyset_put(p->index, e->owner, e->key, &slot);
        if (r < 0)
                return r;
        *(uint32_t *)slot = (uint32_t)p->n;
        p->v[p->n++] = *e;
        p->bytes += sizeof(struct ckpt_pack_object) + e->clen;
        return 0;
}

void pending_truncate(struct pending *p, size_t n)
{
        if (n >= p->n)
                return;
        if (n == 0)
                store_keyset_clear(p->index);
        for (size_t i = n; i < p->n; i++) {
                p->bytes -= sizeof(struct ckpt_pack_object) + p->v[i].clen;
                if (n > 0)
                        store_keyset_remove(p->index, p->v[i].owner, p->v[i].key);
        }
        p->n = n;
}

void pending_clear(struct pending *p)
{
        pending_truncate(p, 0);
        p->bytes = 0;
}

void pending_done(struct pending *p)
{
        free(p->v);
        store_keyset_free(p->index);
        *p = (struct pending){};
}
