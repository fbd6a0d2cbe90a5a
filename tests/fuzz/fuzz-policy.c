/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fuzz-policy: policy files (policy_parse) and the duration and size values
 * they hold. A parsed policy must name an interval within the limits the
 * format states, and its error text must be a terminated string.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct policy *p = NULL;
        char err[POLICY_ERROR_MAX];
        char *s;
        uint64_t v;
        int r;

        if (size > POLICY_FILE_MAX + 16)
                return 0;
        r = policy_parse("fuzz.policy", (const char *)data, size, &p, err, sizeof(err));
        if (r >= 0) {
                assert(p);
                assert(p->interval_usec >= POLICY_INTERVAL_MIN_USEC);
                for (size_t i = 0; i < p->n_ranges; i++)
                        assert(p->ranges[i].start < p->ranges[i].end);
                policy_free(p);
        } else
                assert(memchr(err, 0, sizeof(err)));

        /* The same bytes as one value. */
        s = strndup((const char *)data, size > 256 ? 256 : size);
        if (!s)
                return 0;
        if (parse_duration_usec(s, &v) >= 0) {
                char buf[128];
                uint64_t back;

                format_duration_usec(buf, sizeof(buf), v);
                assert(parse_duration_usec(buf, &back) >= 0 && back == v);
        }
        (void)parse_size_bytes(s, &v);
        free(s);
        return 0;
}
