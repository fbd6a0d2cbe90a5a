/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * time-util.h: the clocks, read in the units the daemon counts in. Header
 * only, no state.
 *
 * Which clock: CLOCK_MONOTONIC for durations, deadlines and sd-event timers
 * (it never jumps); CLOCK_REALTIME for what is recorded or shown as a date (a
 * manifest's time_ns, the age of a checkpoint). Each helper takes the clock,
 * so that the call says which one it reads. clock_gettime() of these clocks
 * does not fail: the helpers return the time, never an error.
 */
#pragma once

#include <stdint.h>
#include <time.h>

#define NSEC_PER_SEC 1000000000ULL
#define NSEC_PER_USEC 1000ULL
#define NSEC_PER_MSEC 1000000ULL

static inline uint64_t timespec_to_ns(const struct timespec *ts)
{
        return (uint64_t)ts->tv_sec * NSEC_PER_SEC + (uint64_t)ts->tv_nsec;
}

/* Nanoseconds of clock (CLOCK_MONOTONIC, CLOCK_REALTIME...). */
static inline uint64_t now_ns(clockid_t clock)
{
        struct timespec ts;

        clock_gettime(clock, &ts);
        return timespec_to_ns(&ts);
}

/* Microseconds of clock: sd-event's unit. */
static inline uint64_t now_usec(clockid_t clock)
{
        return now_ns(clock) / NSEC_PER_USEC;
}

/* Milliseconds of clock. */
static inline uint64_t now_msec(clockid_t clock)
{
        return now_ns(clock) / NSEC_PER_MSEC;
}
