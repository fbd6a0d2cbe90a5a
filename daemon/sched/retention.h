/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * retention.h: which checkpoints a retention rule lets go. One rule, one
 * clock, for both users: a policy's Keep= and MaxAge= after each of its
 * checkpoints (scheduler.c), and io.ckptd.GC's keep and max_age_sec over the
 * whole catalog (methods.c).
 *
 * A rule is judged per process (pid + start time: a reused pid is another
 * process). Of each process's checkpoints it keeps the newest `keep` (0: no
 * count) and deletes those older than max_age (0: no age), never the
 * process's newest one. Ages are measured on CLOCK_REALTIME against the
 * catalog's times, which are taken on that clock.
 *
 * This module only chooses: deleting is the caller's (it runs on a worker).
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct store_catalog_entry;

struct retention_rule {
        uint64_t keep;         /* newest N of each process kept; 0: no count */
        uint64_t max_age_usec; /* older ones deleted, never the newest; 0: no age */
};

/* The clock ages are measured on: CLOCK_REALTIME in ns. */
uint64_t retention_now_ns(void);

/* Seconds as microseconds, saturated (a huge age means "never too old"). */
uint64_t retention_usec_from_sec(uint64_t sec);

/* Of list[0..n) (catalog entries by ascending id, as store_list() gives
 * them), the ids rule deletes at now_ns, in list order, in *ret (malloc'ed;
 * NULL when none). 0, or -ENOMEM. */
int retention_select(const struct store_catalog_entry *list, size_t n,
                     const struct retention_rule *rule, uint64_t now_ns, uint64_t **ret,
                     size_t *ret_n);
