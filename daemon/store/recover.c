/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * recover.c: rebuilding and catching up the index at open (recover.h).
 *
 * Owns: nothing beyond open. Reads packs through pack.c's scan, writes the
 * index through index.c, the catalog through catalog.c.
 */
#include "recover.h"

#include <endian.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "index.h"
#include "log.h"
#include "pack.h"

#define RECOVER_BATCH 65536u

static int recover_flush(struct ckpt_store *s)
{
        int r;

        if (s->pending.n == 0)
                return 0;
        r = store_write_txn(s, commit_pending_txn, NULL);
        pending_clear(&s->pending);
        return r;
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

int recover_tail(struct ckpt_store *s)
{
        _cleanup_free_ uint32_t *packs = NULL;
        uint64_t end_pack = 0, end_off = 0, cut = 0, before = 0, after = 0;
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

int rebuild_index(struct ckpt_store *s, const char *why)
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
