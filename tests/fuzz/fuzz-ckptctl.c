/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fuzz-ckptctl: ckptctl's parsers of the text it is given (cli/ctl-parse.c:
 * process and checkpoint ids, addresses, ranges, --every durations, the
 * daemon's timestamps), its generic output of the daemon's JSON replies
 * (cli/ctl-table.c) and its Prometheus text of GetMetrics replies
 * (cli/ctl-metrics.c), the same bytes fed to all. A value a parser accepts
 * must be within its stated limits and read back the same once printed;
 * output of any reply must not crash, leak or overrun (it goes to
 * /dev/null).
 */
#include <assert.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "ctl-metrics.h"
#include "ctl-parse.h"
#include "ctl-table.h"
#include "ctl-top.h"
#include "fuzz.h"

#define MAX_VALUE 256
#define MAX_DEPTH 8

static FILE *out;

static void values(const char *s)
{
        struct ckpt_addr_range range;
        uint64_t v, back;
        char buf[64];
        pid_t pid;

        if (ctl_parse_pid(s, &pid) == 0)
                assert(pid > 0);
        if (ctl_parse_uint(s, &v) == 0) {
                snprintf(buf, sizeof(buf), "%" PRIu64, v);
                assert(ctl_parse_uint(buf, &back) == 0 && back == v);
        }
        if (ctl_parse_id(s, &v) == 0)
                assert(v > 0 && v <= INT64_MAX);
        if (ctl_parse_addr(s, &v) == 0) {
                snprintf(buf, sizeof(buf), "0x%" PRIx64, v);
                assert(ctl_parse_addr(buf, &back) == 0 && back == v);
        }
        if (ctl_parse_range(s, &range) == 0)
                assert(range.start < range.end);
        if (ctl_parse_duration(s, &v) == 0) {
                snprintf(buf, sizeof(buf), "%" PRIu64 "s", v);
                assert(ctl_parse_duration(buf, &back) == 0 && back == v);
        }
        assert(strlen(ctl_fmt_time(buf, s)) < 32);
}

/* A WatchProcesses reply as `ckptctl top` shows it, twice (the rates), in
 * every order. */
static void top(struct json_object *o)
{
        struct top_view v = {};

        for (int i = 0; i < 2; i++)
                if (top_view_update(&v, o) < 0)
                        break;
        for (int s = 0; s < _TOP_SORT_MAX; s++) {
                v.sort = s;
                v.reverse = s & 1;
                top_view_sort(&v);
                for (size_t i = 1; i < v.n; i++)
                        assert(s != TOP_SORT_PID || v.reverse ||
                               v.rows[i - 1].pid <= v.rows[i].pid);
        }
        top_view_print_screen(&v, out, 80, 24);
        top_view_print_plain(&v, out, true);
        top_view_done(&v);
}

/* Every value of a reply shown as ckptctl shows it. */
static void reply(struct json_object *o, int depth)
{
        char buf[32];

        if (depth > MAX_DEPTH)
                return;
        switch (json_object_get_type(o)) {
        case json_type_object:
                assert(table_print_object(out, o) == 0);
                ctl_print_metrics(out, o);
                top(o);
                json_object_object_foreach (o, k, v) {
                        assert(table_json_cell(o, k));
                        reply(v, depth + 1);
                }
                break;
        case json_type_array:
                assert(table_print_array(out, o, NULL) == 0);
                assert(table_print_array(out, o, table_diff_row_unchanged) == 0);
                for (size_t i = 0; i < json_object_array_length(o); i++)
                        reply(json_object_array_get_idx(o, i), depth + 1);
                break;
        case json_type_string:
                ctl_fmt_time(buf, json_object_get_string(o));
                table_print_label(out, json_object_get_string(o));
                break;
        default:
                break;
        }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        out = fopen("/dev/null", "we");
        return out ? 0 : -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct json_tokener *tok;
        struct json_object *o;
        char *s;

        if (!out && LLVMFuzzerInitialize(NULL, NULL) < 0)
                abort();
        s = strndup((const char *)data, size > MAX_VALUE ? MAX_VALUE : size);
        if (s) {
                values(s);
                free(s);
        }
        tok = json_tokener_new_ex(MAX_DEPTH * 4);
        if (!tok)
                return 0;
        o = json_tokener_parse_ex(tok, (const char *)data, (int)size);
        if (o) {
                reply(o, 0);
                json_object_put(o);
        }
        json_tokener_free(tok);
        return 0;
}
