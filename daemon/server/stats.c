/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * stats.c: the daemon's counters (stats.h). Plain arithmetic on the loop
 * thread; nothing here allocates except the JSON of a GetMetrics reply.
 */
#include "stats.h"

#include <stdio.h>
#include <string.h>

#include "json-util.h"
#include "macro.h"

/* Pauses are short by design (the frozen copy of dirty pages only); a full
 * checkpoint of a large process takes seconds to store. */
static const double pause_bounds[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                      0.025,  0.05,    0.1,    0.25,  0.5,    1,     2.5};
static const double duration_bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                         0.25,  0.5,    1,     2.5,  5,     10,   30};

void stats_init(struct stats *s)
{
        *s = (struct stats){
                .pause = {.bounds = pause_bounds, .n_bounds = ELEMENTSOF(pause_bounds)},
                .duration = {.bounds = duration_bounds, .n_bounds = ELEMENTSOF(duration_bounds)},
        };
}

void stats_histogram_add(struct stats_histogram *h, double value)
{
        size_t i = 0;

        while (i < h->n_bounds && value > h->bounds[i])
                i++;
        h->counts[i]++;
        h->sum += value;
        h->count++;
}

void stats_checkpoint_done(struct stats *s, uint64_t pause_ns, uint64_t duration_ns,
                           uint64_t pages_read, uint64_t bytes_stored, bool incremental)
{
        s->checkpoints++;
        if (incremental)
                s->incremental++;
        s->pages_read += pages_read;
        s->bytes_stored += bytes_stored;
        stats_histogram_add(&s->pause, pause_ns / 1e9);
        stats_histogram_add(&s->duration, duration_ns / 1e9);
}

void stats_checkpoint_failed(struct stats *s, const char *name)
{
        for (size_t i = 0; i < s->n_failures; i++)
                if (strcmp(s->failures[i].name, name) == 0) {
                        s->failures[i].count++;
                        return;
                }
        if (s->n_failures == ELEMENTSOF(s->failures) ||
            strlen(name) >= sizeof(s->failures[0].name)) {
                s->failures_other++;
                return;
        }
        snprintf(s->failures[s->n_failures].name, sizeof(s->failures[0].name), "%s", name);
        s->failures[s->n_failures++].count = 1;
}

/* Bounds and sums of pauses are far below the daemon's %.3f (main.c). */
static struct json_object *json_double_precise(double v)
{
        char buf[32];

        snprintf(buf, sizeof(buf), "%.9g", v);
        return json_object_new_double_s(v, buf);
}

struct json_object *stats_histogram_json(const struct stats_histogram *h)
{
        struct json_object *o = json_object_new_object(), *a = json_object_new_array();
        uint64_t cum = 0;

        for (size_t i = 0; i < h->n_bounds; i++) {
                struct json_object *b = json_object_new_object();

                cum += h->counts[i];
                json_object_object_add(b, "le", json_double_precise(h->bounds[i]));
                json_object_object_add(b, "count", json_uint(cum));
                json_object_array_add(a, b);
        }
        json_object_object_add(o, "buckets", a);
        json_object_object_add(o, "sum", json_double_precise(h->sum));
        json_object_object_add(o, "count", json_uint(h->count));
        return o;
}

void stats_add_json(const struct stats *s, struct json_object *o)
{
        struct json_object *f = json_object_new_array();

        for (size_t i = 0; i < s->n_failures; i++) {
                struct json_object *e = json_object_new_object();

                json_object_object_add(e, "error", json_object_new_string(s->failures[i].name));
                json_object_object_add(e, "count", json_uint(s->failures[i].count));
                json_object_array_add(f, e);
        }
        if (s->failures_other) {
                struct json_object *e = json_object_new_object();

                json_object_object_add(e, "error", json_object_new_string("other"));
                json_object_object_add(e, "count", json_uint(s->failures_other));
                json_object_array_add(f, e);
        }
        json_object_object_add(o, "checkpoints", json_uint(s->checkpoints));
        json_object_object_add(o, "checkpoints_incremental", json_uint(s->incremental));
        json_object_object_add(o, "group_checkpoints", json_uint(s->groups));
        json_object_object_add(o, "pages_read", json_uint(s->pages_read));
        json_object_object_add(o, "bytes_stored", json_uint(s->bytes_stored));
        json_object_object_add(o, "failures", f);
        json_object_object_add(o, "pause_seconds", stats_histogram_json(&s->pause));
        json_object_object_add(o, "duration_seconds", stats_histogram_json(&s->duration));
}
