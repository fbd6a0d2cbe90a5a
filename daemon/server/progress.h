/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * progress.h: progress of a slow job as Varlink "more" replies. The job's
 * worker reports "done of total" through progress_update() (the callback
 * given to the engine or the store: atomics, any thread, no lock); on the
 * loop thread a timer sends {"progress": {"what", "done", "total"}} marked
 * "continues" every PROGRESS_INTERVAL_USEC while it changed, and
 * progress_stop() sends the last unsent one before the job's final reply,
 * so a call with more that had work reported sees at least one. Nothing is
 * set up for a call without more: it costs nothing then.
 */
#pragma once

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "server.h"

#define PROGRESS_INTERVAL_USEC (250 * 1000ULL)

struct progress {
        _Atomic uint64_t done, total;
        _Atomic bool reported;
        /* The loop thread's. */
        struct call *call; /* borrowed: the job holds it */
        const char *what;  /* "store", "export", "verify": a constant */
        sd_event_source *timer;
        uint64_t sent_done, sent_total;
        bool sent;
};

/* The callback for the worker: userdata is the struct progress. */
void progress_update(void *userdata, uint64_t done, uint64_t total);
/* Start sending progress to c if it asked for more; p is zeroed first. */
void progress_start(struct progress *p, sd_event *e, struct call *c, const char *what);
/* Send what is unsent and stop (before the final reply). */
void progress_stop(struct progress *p);
