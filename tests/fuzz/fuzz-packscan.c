/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fuzz-packscan: the record scan the store runs over a whole pack file when
 * it rebuilds the index, indexes again what a crash left unindexed, or
 * rescues unindexed records in a repack (pack_scan_records(), with
 * pack_record_check() on every candidate). The input is a pack file as it
 * lies on disk: header, records, and whatever damage. Every record the scan
 * reports must lie inside the file, after the previous one, and be one that
 * the reader accepts too (store_decode_object(): its content hashes to its
 * key); the scan's end and count must agree with what it reported.
 */
#include <assert.h>
#include <endian.h>
#include <string.h>
#include <zstd.h>

#include "ckpt/manifest.h"
#include "fuzz.h"
#include "pack.h"
#include "store.h"

struct seen {
        const uint8_t *base;
        uint64_t size, end, records;
        ZSTD_DCtx *d;
};

static int on_record(struct ckpt_store *s, uint32_t pack, uint64_t offset,
                     const struct ckpt_pack_object *h, const uint8_t *record, void *userdata)
{
        struct seen *c = userdata;
        uint32_t clen = le32toh(h->clen);
        uint64_t len = sizeof(*h) + clen;
        uint8_t page[4096];
        int r;

        assert(offset >= sizeof(struct ckpt_pack_header) && offset >= c->end);
        assert(record == c->base + offset && offset + len <= c->size);
        assert(memcmp(record, h, sizeof(*h)) == 0);
        /* What the scan indexes, a read accepts. */
        r = store_decode_object(c->d, le32toh(h->owner), h->sha256, clen, h->codec, record, len,
                                page);
        assert(r == 0);
        c->end = offset + len;
        c->records++;
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static ZSTD_DCtx *d, *d2;
        struct ckpt_pack_header h = {};
        struct seen c = {.base = data, .size = size};
        struct pack_scan sc;
        int r;

        if (!d)
                d = ZSTD_createDCtx();
        if (!d2)
                d2 = ZSTD_createDCtx();
        c.d = d2;
        if (size >= sizeof(h))
                memcpy(&h, data, sizeof(h));
        r = pack_scan_records(NULL, d, data, size, le32toh(h.number), 0, on_record, &c, &sc);
        assert(r == 0);
        assert(sc.size == size && sc.records == c.records);
        if (size < sizeof(h)) {
                assert(sc.records == 0 && !sc.header_ok);
                return 0;
        }
        assert(sc.end <= size && sc.end >= sizeof(h) && sc.end >= c.end);
        if (sc.records > 0)
                assert(sc.end == c.end);
        return 0;
}
