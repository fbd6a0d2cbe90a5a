/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fuzz-manifest: manifest files as read from the store (manifest_parse). What
 * the parser accepts must hold the invariants manifest_validate() checks, and
 * serialise to bytes that parse back to the same manifest.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct ckpt_manifest *m = NULL, *m2 = NULL;
        void *buf = NULL, *buf2 = NULL;
        size_t len = 0, len2 = 0;

        if (manifest_parse(data, size, &m) < 0)
                return 0;
        assert(manifest_validate(m) == 0);
        assert(manifest_serialize(m, &buf, &len) == 0);
        assert(manifest_parse(buf, len, &m2) == 0);
        assert(manifest_serialize(m2, &buf2, &len2) == 0);
        assert(len == len2 && memcmp(buf, buf2, len) == 0);
        free(buf);
        free(buf2);
        manifest_free(m);
        manifest_free(m2);
        return 0;
}
