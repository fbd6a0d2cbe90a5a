/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * stats.h: the daemon's counters since it started, for io.ckptd.GetMetrics
 * (and so `ckptctl metrics`): checkpoints taken, their failures by protocol
 * error name, histograms of their pauses and durations, the pages they read
 * and the bytes they stored. Kept on the loop thread by the method handlers
 * and job completions of methods.c (no locks); a fixed size whatever callers
 * do: the error names are the daemon's own (proto.h), at most
 * STATS_MAX_ERRORS of them, any beyond counted under "other".
 *
 * Histograms are Prometheus-shaped: a count per upper bound (le), non
 * cumulative here, cumulative on the wire, the +Inf bucket being the count.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#define STATS_MAX_BUCKETS 16
#define STATS_MAX_ERRORS 24

struct stats_histogram {
        const double *bounds; /* seconds, increasing; n_bounds of them */
        size_t n_bounds;
        uint64_t counts[STATS_MAX_BUCKETS + 1]; /* [n_bounds]: above every bound */
        double sum;
        uint64_t count;
};

struct stats_error {
        char name[64];
        uint64_t count;
};

struct stats {
        uint64_t checkpoints, incremental;
        uint64_t groups; /* group checkpoints (their members counted as checkpoints too) */
        uint64_t pages_read, bytes_stored;
        struct stats_histogram pause, duration;
        struct stats_error failures[STATS_MAX_ERRORS];
        size_t n_failures;
        uint64_t failures_other;
};

void stats_init(struct stats *s);
void stats_histogram_add(struct stats_histogram *h, double value);
/* A checkpoint stored (pause and duration in ns). */
void stats_checkpoint_done(struct stats *s, uint64_t pause_ns, uint64_t duration_ns,
                           uint64_t pages_read, uint64_t bytes_stored, bool incremental);
/* A checkpoint that failed, or a Checkpoint call refused, with error `name`. */
void stats_checkpoint_failed(struct stats *s, const char *name);

/* {"buckets": [{"le": bound, "count": cumulative}...], "sum": s, "count": n} */
struct json_object *stats_histogram_json(const struct stats_histogram *h);
/* The members of GetMetrics' reply, added to `o`. */
void stats_add_json(const struct stats *s, struct json_object *o);
