/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * repack.c: store_repack() (store.h): copying the live objects of one pack
 * into the current one and dropping the pack.
 *
 * Owns: nothing beyond one call. Holds put_lock from its live() calls to its
 * index commit (the gc guard's reasoning, gc.h), orders copy, fsync, index
 * commit, unlink, and undoes its appends on failure: the store is then as it
 * was. What lives is the caller's live().
 */
#include <endian.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "index.h"
#include "log.h"
#include "pack.h"
#include "store-internal.h"

struct repack {
        struct ckpt_store *s;
        uint32_t pack;
        bool (*live)(uint32_t owner, const uint8_t key[32], void *userdata);
        void *userdata;
        struct foreach_ctx c;      /* the pack's objects, then the rescued ones */
        uint64_t *new_off;         /* per object of c; UINT64_MAX: dropped */
        uint32_t *new_pack;        /* ditto */
        size_t cap;                /* of new_off and new_pack */
        struct store_keyset *seen; /* records rescued */
        struct store_repack_result res;
        uint64_t added_bytes; /* of records rescued */
        bool wrote;
        /* Where the packs ended before the copies, to undo them. */
        uint32_t start_pack;
        uint64_t start_off;
        bool start_unsynced;
};

static int repack_txn(struct ckpt_store *s, MDB_txn *txn, void *userdata)
{
        struct repack *rp = userdata;
        uint64_t stored;
        int r;

        /* Everything in one B-tree, where the updates go. */
        r = merge_recent(s, txn, 0);
        if (r < 0)
                return r;
        for (size_t i = 0; i < rp->c.n; i++) {
                const struct store_object *o = &rp->c.v[i];
                uint8_t k[36];
                MDB_val key = {.mv_size = sizeof(k), .mv_data = k};

                index_key_of(o->owner, o->key, k);
                if (rp->new_off[i] == UINT64_MAX) {
                        r = mdb_del(txn, s->db_objects, &key, NULL);
                        if (r != 0 && r != MDB_NOTFOUND)
                                return mdb_to_errno(r);
                } else {
                        struct index_val iv = {
                                .pack = htole32(rp->new_pack[i]),
                                .offset = htole64(rp->new_off[i]),
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
        stored += rp->added_bytes;
        r = meta_put_u64(s, txn, "stored_bytes",
                         stored > rp->res.bytes_removed ? stored - rp->res.bytes_removed : 0);
        if (r < 0)
                return r;
        return meta_put_end(s, txn);
}

/* Room for one more object in c and the new places. */
static int repack_reserve(struct repack *rp)
{
        struct foreach_ctx *c = &rp->c;
        size_t cap;
        struct store_object *v;
        uint64_t *no;
        uint32_t *np;

        if (c->n < c->cap && c->n < rp->cap)
                return 0;
        cap = MAX((size_t)256, MAX(c->cap, rp->cap) * 2);
        v = realloc(c->v, cap * sizeof(*v));
        if (!v)
                return -ENOMEM;
        c->v = v;
        c->cap = cap;
        no = realloc(rp->new_off, cap * sizeof(*no));
        if (!no)
                return -ENOMEM;
        rp->new_off = no;
        np = realloc(rp->new_pack, cap * sizeof(*np));
        if (!np)
                return -ENOMEM;
        rp->new_pack = np;
        rp->cap = cap;
        return 0;
}

/* Under put_lock, in a repack: copy a valid record of the pack being
 * rewritten that is live but not in the index at all. */
static int rescue_record(struct ckpt_store *s, uint32_t pack, uint64_t offset,
                         const struct ckpt_pack_object *h, const uint8_t *record, void *userdata)
{
        struct repack *rp = userdata;
        struct foreach_ctx *c = &rp->c;
        uint32_t owner = le32toh(h->owner), clen = le32toh(h->clen);
        size_t len = sizeof(*h) + clen;
        struct pending_entry e;
        int fd, r;

        if (!rp->live(owner, h->sha256, rp->userdata))
                return 0;
        r = index_lookup(s, owner, h->sha256, &e);
        if (r == 0)
                return 0; /* indexed: copied above if it lives here */
        if (r != -ENOENT)
                return r;
        r = store_keyset_add(rp->seen, owner, h->sha256);
        if (r <= 0)
                return r; /* a second copy in the same pack */
        r = repack_reserve(rp);
        if (r < 0)
                return r;
        r = pack_roll_if_full(s);
        if (r < 0)
                return r;
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
        rp->new_off[c->n] = s->cur_off;
        rp->new_pack[c->n] = s->cur_pack;
        c->n++;
        pack_appended(s, s->cur_off + len);
        rp->res.objects_kept++;
        rp->added_bytes += len;
        log_debug("store: repack: object %u at offset %" PRIu64 " of pack %u was not indexed, "
                  "kept",
                  owner, offset, pack);
        return 0;
}

/* Step 1: a clean state: everything written is in the index, and the pack
 * to rewrite is not the one being appended to; then its indexed objects. */
static int repack_prepare(struct repack *rp)
{
        struct ckpt_store *s = rp->s;
        int r;

        r = store_sync_locked(s);
        if (r < 0)
                return r;
        if (rp->pack > s->cur_pack)
                return -ENOENT;
        if (rp->pack == s->cur_pack) {
                r = pack_roll(s);
                if (r < 0)
                        return r;
                s->unsynced = false; /* only a header so far; the dir fsync covers the name */
        }
        r = store_read_txn(s, index_foreach_txn, &rp->c);
        if (r < 0)
                return r;
        rp->cap = MAX(rp->c.n, (size_t)1);
        rp->new_off = calloc(rp->cap, sizeof(*rp->new_off));
        rp->new_pack = calloc(rp->cap, sizeof(*rp->new_pack));
        if (!rp->new_off || !rp->new_pack)
                return -ENOMEM;
        return 0;
}

/* Step 2: copy the live objects, bytes as they are (a damaged one stays
 * detectably damaged). */
static int repack_copy(struct repack *rp)
{
        uint8_t buf[sizeof(struct ckpt_pack_object) + PAGE];
        struct ckpt_store *s = rp->s;
        int r = 0;

        for (size_t i = 0; i < rp->c.n; i++) {
                const struct store_object *o = &rp->c.v[i];
                size_t len = sizeof(struct ckpt_pack_object) + o->clen, got = 0;
                int fd;

                rp->new_off[i] = UINT64_MAX;
                if (!rp->live(o->owner, o->key, rp->userdata) || o->clen > PAGE) {
                        rp->res.objects_removed++;
                        rp->res.bytes_removed += len;
                        continue;
                }
                r = pack_pread(s, rp->pack, buf, len, o->offset, &got);
                if (r < 0)
                        break;
                if (got != len) { /* unreadable already: nothing to keep */
                        rp->res.objects_removed++;
                        rp->res.bytes_removed += len;
                        continue;
                }
                r = pack_roll_if_full(s);
                if (r < 0)
                        break;
                fd = pack_cur_fd(s);
                r = fd < 0 ? -EBADF : pwrite_all(fd, buf, len, s->cur_off);
                if (r < 0)
                        break;
                rp->new_off[i] = s->cur_off;
                rp->new_pack[i] = s->cur_pack;
                pack_appended(s, s->cur_off + len);
                rp->res.objects_kept++;
                rp->wrote = true;
        }
        return r;
}

/* Step 2b: records of the pack the index does not know at all (a crash
 * before their commit, an index rebuilt from an old copy): the live ones are
 * copied too. Nothing a manifest lists leaves with the pack. */
static int repack_rescue(struct repack *rp)
{
        size_t before = rp->c.n;
        int r;

        r = store_keyset_new(&rp->seen);
        if (r < 0)
                return r;
        r = pack_foreach_record(rp->s, rp->pack, 0, rescue_record, rp, NULL);
        rp->seen = store_keyset_free(rp->seen);
        if (rp->c.n > before)
                rp->wrote = true;
        return r;
}

int store_repack(struct ckpt_store *s, uint32_t pack,
                 bool (*live)(uint32_t owner, const uint8_t key[32], void *userdata),
                 void *userdata, struct store_repack_result *ret)
{
        struct repack rp = {
                .s = s,
                .pack = pack,
                .live = live,
                .userdata = userdata,
                .c = {.only_pack = pack},
        };
        int r;

        if (!s || !live || pack == 0)
                return -EINVAL;
        pthread_mutex_lock(&s->put_lock);
        r = repack_prepare(&rp);
        if (r < 0)
                goto out;
        rp.start_pack = s->cur_pack;
        rp.start_off = s->cur_off;
        rp.start_unsynced = s->unsynced;
        r = repack_copy(&rp);
        if (r == 0)
                r = repack_rescue(&rp);

        /* Step 3: the copies are durable before the index points at them. */
        if (r == 0 && rp.wrote)
                r = store_sync_locked(s);
        if (r == 0)
                r = store_write_txn(s, repack_txn, &rp);
        if (r < 0) {
                packs_rollback(s, rp.start_pack, rp.start_off, rp.start_unsynced);
                goto out;
        }

        /* Step 4: nothing points into the old pack any more. */
        pack_remove(s, pack);
        if (fsync(s->packs_fd) < 0)
                log_debug_errno(negative_errno(), "store: fsync of packs/ failed, ignoring: %m");
        log_debug("store: repacked pack %u: %llu kept, %llu removed", pack,
                  (unsigned long long)rp.res.objects_kept,
                  (unsigned long long)rp.res.objects_removed);
        if (ret)
                *ret = rp.res;
out:
        pthread_mutex_unlock(&s->put_lock);
        free(rp.c.v);
        free(rp.new_off);
        free(rp.new_pack);
        return r;
}
