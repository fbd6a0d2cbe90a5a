/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-sched-retention: the retention rule (retention.h) both a policy's
 * Keep=/MaxAge= and io.ckptd.GC apply: keep N per process (pid + start time,
 * so a reused pid is another process), max age never taking a process's
 * newest checkpoint, ages past the clock's range, and the order of what goes.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "macro.h"
#include "retention.h"
#include "store.h"
#include "tap.h"

#define SEC 1000000000ULL
#define NOW (1700000000ULL * SEC)

/* Checkpoint id of pid (start time st), taken age_sec before NOW. */
static struct store_catalog_entry entry(uint64_t id, int32_t pid, uint64_t st, uint64_t age_sec)
{
        return (struct store_catalog_entry){
                .id = id, .pid = pid, .start_time = st, .time_ns = NOW - age_sec * SEC};
}

static bool selected(const struct store_catalog_entry *list, size_t n, uint64_t keep,
                     uint64_t max_age_sec, const uint64_t *want, size_t n_want)
{
        struct retention_rule rule = {.keep = keep,
                                      .max_age_usec = retention_usec_from_sec(max_age_sec)};
        _cleanup_free_ uint64_t *ids = NULL;
        size_t n_ids = 99;

        ASSERT_OK(retention_select(list, n, &rule, NOW, &ids, &n_ids));
        ASSERT_EQ(n_ids, n_want);
        for (size_t i = 0; i < n_want; i++)
                ASSERT_EQ(ids[i], want[i]);
        return true;
}

static const struct store_catalog_entry catalog[] = {
        /* pid 10, and pid 10 again after a reuse (another start time). */
        {.id = 1, .pid = 10, .start_time = 5, .time_ns = NOW - 500 * SEC},
        {.id = 2, .pid = 10, .start_time = 5, .time_ns = NOW - 400 * SEC},
        {.id = 3, .pid = 20, .start_time = 7, .time_ns = NOW - 300 * SEC},
        {.id = 4, .pid = 10, .start_time = 5, .time_ns = NOW - 200 * SEC},
        {.id = 5, .pid = 10, .start_time = 9, .time_ns = NOW - 100 * SEC},
        {.id = 6, .pid = 20, .start_time = 7, .time_ns = NOW - 50 * SEC},
        {.id = 7, .pid = 10, .start_time = 5, .time_ns = NOW - 10 * SEC},
};
#define N_CATALOG (sizeof(catalog) / sizeof(catalog[0]))

static bool test_keep(void)
{
        /* Of (10, 5): 1 2 4 7; of (20, 7): 3 6; of (10, 9): 5. */
        ASSERT(selected(catalog, N_CATALOG, 1, 0, (const uint64_t[]){1, 2, 3, 4}, 4));
        ASSERT(selected(catalog, N_CATALOG, 2, 0, (const uint64_t[]){1, 2}, 2));
        ASSERT(selected(catalog, N_CATALOG, 4, 0, NULL, 0));
        ASSERT(selected(catalog, N_CATALOG, 0, 0, NULL, 0));
        return true;
}

static bool test_max_age(void)
{
        /* Older than 150 s: 1 2 3 4, and 5 is old enough but alone. */
        ASSERT(selected(catalog, N_CATALOG, 0, 150, (const uint64_t[]){1, 2, 3, 4}, 4));
        /* The newest of a process is never too old: 7, 6 and 5 stay. */
        ASSERT(selected(catalog, N_CATALOG, 0, 1, (const uint64_t[]){1, 2, 3, 4}, 4));
        /* Exactly max_age old is not older than it. */
        ASSERT(selected(catalog, N_CATALOG, 0, 400, (const uint64_t[]){1}, 1));
        /* Ages past the clock's range: nothing is that old. */
        ASSERT(selected(catalog, N_CATALOG, 0, UINT64_MAX / 1000, NULL, 0));
        ASSERT(selected(catalog, N_CATALOG, 0, UINT64_MAX, NULL, 0));
        return true;
}

static bool test_both(void)
{
        /* keep 3 drops 1; age 300 drops 1 2 (3 is exactly 300 s old). */
        ASSERT(selected(catalog, N_CATALOG, 3, 300, (const uint64_t[]){1, 2}, 2));
        return true;
}

static bool test_one_process(void)
{
        struct store_catalog_entry one[] = {entry(11, 42, 1, 30), entry(12, 42, 1, 20),
                                            entry(13, 42, 1, 10)};

        ASSERT(selected(one, 3, 2, 0, (const uint64_t[]){11}, 1));
        ASSERT(selected(one, 3, 0, 15, (const uint64_t[]){11, 12}, 2));
        ASSERT(selected(NULL, 0, 2, 15, NULL, 0));
        return true;
}

static bool test_clock(void)
{
        uint64_t a = retention_now_ns(), b = retention_now_ns();

        /* The catalog's clock: wall time, after 2023, not going back. */
        ASSERT(a > NOW);
        ASSERT(b >= a);
        ASSERT_EQ(retention_usec_from_sec(3), 3000000);
        return true;
}

int main(void)
{
        plan(5);
        ok(test_keep(), "keep N per process, a reused pid apart");
        ok(test_max_age(), "max age never takes a process's newest");
        ok(test_both(), "keep and max age together");
        ok(test_one_process(), "one process's list");
        ok(test_clock(), "ages on CLOCK_REALTIME");
        return tap_done();
}
