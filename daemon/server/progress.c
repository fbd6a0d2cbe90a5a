/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * progress.c: a job's progress as "more" replies (progress.h).
 */
#include "progress.h"

#include <string.h>

#include "json-util.h"
#include "log.h"

void progress_update(void *userdata, uint64_t done, uint64_t total)
{
        struct progress *p = userdata;

        atomic_store_explicit(&p->total, total, memory_order_relaxed);
        atomic_store_explicit(&p->done, done, memory_order_relaxed);
        atomic_store_explicit(&p->reported, true, memory_order_release);
}

/* force: even past replies unsent (the last, when none was sent yet). */
static void progress_send(struct progress *p, bool force)
{
        struct json_object *o, *params;
        uint64_t done, total;

        if (!atomic_load_explicit(&p->reported, memory_order_acquire))
                return;
        total = atomic_load_explicit(&p->total, memory_order_relaxed);
        done = atomic_load_explicit(&p->done, memory_order_relaxed);
        if (done > total)
                done = total; /* read between the two stores */
        if (p->sent && done == p->sent_done && total == p->sent_total)
                return;
        /* A peer that has not read the last one gets no new one. */
        if (!call_connected(p->call) || (!force && call_unsent(p->call) > 0))
                return;
        o = json_object_new_object();
        params = json_object_new_object();
        json_object_object_add(o, "what", json_object_new_string(p->what));
        json_object_object_add(o, "done", json_uint(done));
        json_object_object_add(o, "total", json_uint(total));
        json_object_object_add(params, "progress", o);
        (void)call_notify(p->call, params);
        p->sent = true;
        p->sent_done = done;
        p->sent_total = total;
}

static int progress_tick(sd_event_source *src, uint64_t usec, void *userdata)
{
        struct progress *p = userdata;

        progress_send(p, false);
        (void)sd_event_source_set_time(src, usec + PROGRESS_INTERVAL_USEC);
        (void)sd_event_source_set_enabled(src, SD_EVENT_ONESHOT);
        return 0;
}

void progress_start(struct progress *p, sd_event *e, struct call *c, const char *what)
{
        int r;

        memset(p, 0, sizeof(*p));
        if (!c || !call_wants_more(c))
                return;
        p->call = c;
        p->what = what;
        r = sd_event_add_time_relative(e, &p->timer, CLOCK_MONOTONIC, PROGRESS_INTERVAL_USEC,
                                       PROGRESS_INTERVAL_USEC / 10, progress_tick, p);
        if (r < 0)
                log_debug_errno(r, "progress: no timer, only the last is sent: %m");
}

void progress_stop(struct progress *p)
{
        if (!p->call)
                return;
        progress_send(p, !p->sent);
        p->timer = sd_event_source_disable_unref(p->timer);
        p->call = NULL;
}
