/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * read.c: reading objects back (store_get_page(), store_has_page(),
 * store_locate_object() in store.h): the pending table first (written, not
 * yet committed), then the index; every read re-hashes the object.
 *
 * Owns: the pool of decompression contexts (dctx_lock). Never writes.
 */
#include <string.h>

#include "index.h"
#include "pack.h"
#include "store-internal.h"

/* Where an object lives: the pending table first (written, not committed),
 * then the index. */
static int store_locate(struct ckpt_store *s, uint32_t owner, const uint8_t key[32],
                        struct pending_entry *ret)
{
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
        return index_lookup(s, owner, key, ret);
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
                if (e.clen > PAGE || !store_codec_known(e.codec))
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
