/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* retention.c: keep N / max age; see retention.h. */
#include "retention.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "store.h"
#include "time-util.h"

uint64_t retention_now_ns(void)
{
        return now_ns(CLOCK_REALTIME);
}

uint64_t retention_usec_from_sec(uint64_t sec)
{
        return sec > UINT64_MAX / 1000000ULL ? UINT64_MAX : sec * 1000000ULL;
}

static bool same_process(const struct store_catalog_entry *a, const struct store_catalog_entry *b)
{
        return a->pid == b->pid && a->start_time == b->start_time;
}

/* Older than max_age_usec at now_ns; an age past the clock's range never is. */
static bool too_old(const struct store_catalog_entry *e, uint64_t max_age_usec, uint64_t now_ns)
{
        if (max_age_usec == 0 || max_age_usec > UINT64_MAX / 1000ULL || e->time_ns >= now_ns)
                return false;
        return now_ns - e->time_ns > max_age_usec * 1000ULL;
}

int retention_select(const struct store_catalog_entry *list, size_t n,
                     const struct retention_rule *rule, uint64_t now_ns, uint64_t **ret,
                     size_t *ret_n)
{
        uint64_t *ids = NULL;
        size_t k = 0;

        *ret = NULL;
        *ret_n = 0;
        if (rule->keep == 0 && rule->max_age_usec == 0)
                return 0;
        for (size_t i = 0; i < n; i++) {
                uint64_t newer = 0;

                for (size_t j = 0; j < n; j++)
                        if (same_process(&list[j], &list[i]) && list[j].id > list[i].id)
                                newer++;
                if (!(rule->keep > 0 && newer >= rule->keep) &&
                    !(newer > 0 && too_old(&list[i], rule->max_age_usec, now_ns)))
                        continue;
                if (!ids) {
                        ids = calloc(n, sizeof(*ids));
                        if (!ids)
                                return -ENOMEM;
                }
                ids[k++] = list[i].id;
        }
        *ret = ids;
        *ret_n = k;
        return 0;
}
