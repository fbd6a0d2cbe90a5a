/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fuzz-pack: what the store reads back from disk. The input is an index value
 * (the first 17 bytes: pack, offset, clen, codec, as LMDB holds it) and the
 * pack record it points at (the rest: header and page: raw, zstd or LZ4). Both are
 * decoded as store_get_page() does (store_decode_index_val,
 * store_decode_object): a record is accepted only when it decodes to a page
 * whose SHA-256 is its key.
 */
#include <assert.h>
#include <endian.h>
#include <string.h>
#include <zstd.h>

#include "ckpt/manifest.h"
#include "fuzz.h"
#include "sha256.h"
#include "store.h"

#define INDEX_VAL_SIZE 17

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static ZSTD_DCtx *d;
        struct ckpt_pack_object h;
        struct store_object o = {};
        uint8_t page[4096], digest[32];
        size_t n = size < INDEX_VAL_SIZE ? size : INDEX_VAL_SIZE;

        if (!d)
                d = ZSTD_createDCtx();
        if (store_decode_index_val(data, n, &o) < 0)
                return 0;
        data += n;
        size -= n;
        if (size < sizeof(h))
                return 0;
        memcpy(&h, data, sizeof(h));
        /* The key and owner the record claims: the index entry names them. */
        if (store_decode_object(d, le32toh(h.owner), h.sha256, o.clen, o.codec, data, size, page) ==
            0) {
                assert(sha256_once(page, sizeof(page), digest) == 0);
                assert(memcmp(digest, h.sha256, 32) == 0);
        }
        return 0;
}
