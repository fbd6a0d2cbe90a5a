/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ctl-metrics.c: GetMetrics' reply as Prometheus text (ctl-metrics.h).
 */
#include "ctl-metrics.h"

#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "ctl-table.h"

#define MAX_BUCKETS 64

void ctl_metric_head(FILE *f, const char *name, const char *type, const char *help)
{
        fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A non-negative integer member of o. */
static bool get_count(struct json_object *o, const char *key, uint64_t *ret)
{
        struct json_object *v;
        int64_t n;

        if (!json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, key, &v) ||
            !json_object_is_type(v, json_type_int))
                return false;
        n = json_object_get_int64(v);
        if (n < 0)
                return false;
        *ret = (uint64_t)n;
        return true;
}

static bool get_number(struct json_object *o, const char *key, double *ret)
{
        struct json_object *v;

        if (!json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, key, &v) ||
            !(json_object_is_type(v, json_type_double) || json_object_is_type(v, json_type_int)))
                return false;
        *ret = json_object_get_double(v);
        return isfinite(*ret);
}

static void counter(FILE *f, struct json_object *reply, const char *key, const char *name,
                    const char *help)
{
        uint64_t v;

        if (!get_count(reply, key, &v))
                return;
        ctl_metric_head(f, name, "counter", help);
        fprintf(f, "%s %" PRIu64 "\n", name, v);
}

/* {"buckets": [{"le", "count"}...], "sum", "count"}, printed only when its
 * bounds rise, its counts do not fall and none is over the count. */
static void histogram(FILE *f, struct json_object *reply, const char *key, const char *name,
                      const char *help)
{
        struct json_object *h, *a;
        double le[MAX_BUCKETS], sum;
        uint64_t n[MAX_BUCKETS], count;
        size_t k;

        if (!json_object_object_get_ex(reply, key, &h) || !get_number(h, "sum", &sum) ||
            !get_count(h, "count", &count) || !json_object_object_get_ex(h, "buckets", &a) ||
            !json_object_is_type(a, json_type_array))
                return;
        k = json_object_array_length(a);
        if (k > MAX_BUCKETS)
                return;
        for (size_t i = 0; i < k; i++) {
                struct json_object *b = json_object_array_get_idx(a, i);

                if (!get_number(b, "le", &le[i]) || !get_count(b, "count", &n[i]) || n[i] > count ||
                    (i > 0 && (le[i] <= le[i - 1] || n[i] < n[i - 1])))
                        return;
        }
        ctl_metric_head(f, name, "histogram", help);
        for (size_t i = 0; i < k; i++)
                fprintf(f, "%s_bucket{le=\"%g\"} %" PRIu64 "\n", name, le[i], n[i]);
        fprintf(f, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", name, count);
        fprintf(f, "%s_sum %.9g\n", name, sum);
        fprintf(f, "%s_count %" PRIu64 "\n", name, count);
}

static void failures(FILE *f, struct json_object *reply)
{
        static const char name[] = "ckptd_checkpoint_failures_total";
        struct json_object *a;

        if (!json_object_object_get_ex(reply, "failures", &a) ||
            !json_object_is_type(a, json_type_array))
                return;
        ctl_metric_head(f, name, "counter",
                        "Checkpoints that failed and Checkpoint calls refused, by error.");
        for (size_t i = 0; i < json_object_array_length(a); i++) {
                struct json_object *e = json_object_array_get_idx(a, i), *v;
                uint64_t n;

                if (!get_count(e, "count", &n) || !json_object_object_get_ex(e, "error", &v) ||
                    !json_object_is_type(v, json_type_string))
                        continue;
                fprintf(f, "%s{error=", name);
                table_print_label(f, json_object_get_string(v));
                fprintf(f, "} %" PRIu64 "\n", n);
        }
}

/* {name: {"limit": N, "hit": N}}: a gauge of the limits, a counter of hits. */
static void limits(FILE *f, struct json_object *reply)
{
        struct json_object *l;

        if (!json_object_object_get_ex(reply, "limits", &l) ||
            !json_object_is_type(l, json_type_object))
                return;
        for (int pass = 0; pass < 2; pass++) {
                const char *name = pass ? "ckptd_limit_hits_total" : "ckptd_limit";

                if (pass)
                        ctl_metric_head(f, name, "counter",
                                        "Calls and connections refused or cut off by a limit.");
                else
                        ctl_metric_head(f, name, "gauge", "Each limit of ckptd (0: none).");
                json_object_object_foreach (l, key, val) {
                        uint64_t v;

                        if (!get_count(val, pass ? "hit" : "limit", &v))
                                continue;
                        fprintf(f, "%s{limit=", name);
                        table_print_label(f, key);
                        fprintf(f, "} %" PRIu64 "\n", v);
                }
        }
}

void ctl_print_metrics(FILE *f, struct json_object *reply)
{
        if (!json_object_is_type(reply, json_type_object))
                return;
        counter(f, reply, "checkpoints", "ckptd_checkpoints_total",
                "Checkpoints stored since ckptd started, by a call or a policy.");
        counter(f, reply, "checkpoints_incremental", "ckptd_checkpoints_incremental_total",
                "Of those, the incremental ones.");
        counter(f, reply, "group_checkpoints", "ckptd_group_checkpoints_total",
                "Group checkpoints (each member also counts as a checkpoint).");
        failures(f, reply);
        counter(f, reply, "pages_read", "ckptd_checkpoint_pages_read_total",
                "Pages the checkpoints read from their process.");
        counter(f, reply, "bytes_stored", "ckptd_checkpoint_stored_bytes_total",
                "Bytes the checkpoints added to the store.");
        histogram(f, reply, "pause_seconds", "ckptd_checkpoint_pause_seconds",
                  "How long each checkpoint froze its process.");
        histogram(f, reply, "duration_seconds", "ckptd_checkpoint_duration_seconds",
                  "How long each checkpoint took, to its manifest stored.");
        uint64_t n;

        if (get_count(reply, "watchers", &n)) {
                ctl_metric_head(f, "ckptd_watchers", "gauge",
                                "Live views open (ckptctl top, io.ckptd.WatchProcesses).");
                fprintf(f, "ckptd_watchers %" PRIu64 "\n", n);
        }
        limits(f, reply);
}
