/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ctl-metrics.h: the daemon's counters (an io.ckptd.GetMetrics reply) in the
 * Prometheus text exposition format, for `ckptctl metrics`. The reply is the
 * daemon's and is taken as it comes: a member missing or of the wrong type
 * leaves its sample (or family) out, a histogram whose buckets do not rise
 * is left out whole, so whatever is printed is valid exposition text. Linked
 * into ckptctl and the fuzz targets, not into libckpt.
 */
#pragma once

#include <stdio.h>

#include <json-c/json.h>

/* # HELP and # TYPE lines of a family. */
void ctl_metric_head(FILE *f, const char *name, const char *type, const char *help);
/* The counter families of a GetMetrics reply. */
void ctl_print_metrics(FILE *f, struct json_object *reply);
