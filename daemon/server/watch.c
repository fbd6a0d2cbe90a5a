/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * watch.c: periodic "more" replies (watch.h). Every watcher holds its call
 * (and so its connection's slot for calls under way) and a timer of its own;
 * dropping one frees both.
 */
#include "watch.h"

#include <inttypes.h>
#include <stdlib.h>

#include "ckpt/proto.h"
#include "log.h"
#include "macro.h"

struct watcher {
        struct watchers *w;
        struct watcher *next, *prev;
        struct call *call;
        uid_t uid;
        uint64_t interval_usec;
        sd_event_source *timer;
        watch_frame_fn frame;
        void *userdata;
};

struct watchers {
        sd_event *event;
        unsigned max_per_uid;
        struct watcher *list;
        unsigned n;
        uint64_t refused;
};

int watchers_new(sd_event *e, unsigned max_per_uid, struct watchers **ret)
{
        struct watchers *w = calloc(1, sizeof(*w));

        if (!w)
                return -ENOMEM;
        w->event = sd_event_ref(e);
        w->max_per_uid = max_per_uid;
        *ret = w;
        return 0;
}

static void watcher_free(struct watcher *x)
{
        struct watchers *w = x->w;

        if (x->prev)
                x->prev->next = x->next;
        else
                w->list = x->next;
        if (x->next)
                x->next->prev = x->prev;
        w->n--;
        sd_event_source_disable_unref(x->timer);
        call_unref(x->call);
        free(x);
}

struct watchers *watchers_free(struct watchers *w)
{
        if (!w)
                return NULL;
        while (w->list)
                watcher_free(w->list);
        sd_event_unref(w->event);
        free(w);
        return NULL;
}

static int watcher_tick(sd_event_source *src, uint64_t usec, void *userdata)
{
        struct watcher *x = userdata;
        struct json_object *p;

        if (!call_connected(x->call)) {
                log_debug("watch: uid %u went away", (unsigned)x->uid);
                watcher_free(x);
                return 0;
        }
        /* A peer that has not read the last reply yet gets no new one. */
        if (call_unsent(x->call) == 0) {
                p = x->frame(x->call, x->userdata);
                if (p && call_notify(x->call, p) < 0) {
                        watcher_free(x);
                        return 0;
                }
        }
        (void)sd_event_source_set_time(src, usec + x->interval_usec);
        (void)sd_event_source_set_enabled(src, SD_EVENT_ONESHOT);
        return 0;
}

static unsigned watchers_of(const struct watchers *w, uid_t uid)
{
        unsigned n = 0;

        for (const struct watcher *x = w->list; x; x = x->next)
                n += x->uid == uid;
        return n;
}

int watchers_add(struct watchers *w, struct call *c, uint64_t interval_usec, watch_frame_fn frame,
                 void *userdata)
{
        uid_t uid = call_uid(c);
        struct json_object *p;
        struct watcher *x;
        int r;

        if (!call_wants_more(c)) {
                p = frame(c, userdata);
                if (!p)
                        return -ENOMEM;
                call_reply(c, p);
                return 0;
        }
        if (uid != 0 && w->max_per_uid > 0 && watchers_of(w, uid) >= w->max_per_uid) {
                char reason[160];

                w->refused++;
                snprintf(reason, sizeof(reason),
                         "uid %u watches %u times already, the most one uid may (%u)",
                         (unsigned)uid, watchers_of(w, uid), w->max_per_uid);
                call_error(
                        c, CKPT_ERR_TOO_MANY,
                        server_limit_params(CKPT_LIMIT_WATCHERS_PER_UID, w->max_per_uid, reason));
                return -EUSERS;
        }
        p = frame(c, userdata);
        if (!p)
                return -ENOMEM;
        x = calloc(1, sizeof(*x));
        if (!x) {
                json_object_put(p);
                return -ENOMEM;
        }
        *x = (struct watcher){.w = w,
                              .call = call_ref(c),
                              .uid = uid,
                              .interval_usec = interval_usec,
                              .frame = frame,
                              .userdata = userdata};
        r = sd_event_add_time_relative(w->event, &x->timer, CLOCK_MONOTONIC, interval_usec,
                                       interval_usec / 20, watcher_tick, x);
        if (r < 0) {
                call_unref(x->call);
                free(x);
                json_object_put(p);
                return r;
        }
        x->next = w->list;
        if (w->list)
                w->list->prev = x;
        w->list = x;
        w->n++;
        /* The call stays ours, answered by call_notify() until it goes. */
        (void)call_notify(c, p);
        call_unref(c);
        return 0;
}

void watchers_stop(struct watchers *w, const char *error)
{
        if (!w)
                return;
        while (w->list) {
                struct watcher *x = w->list;

                call_error(call_ref(x->call), error, NULL);
                watcher_free(x);
        }
}

unsigned watchers_count(const struct watchers *w)
{
        return w ? w->n : 0;
}

uint64_t watchers_refused(const struct watchers *w)
{
        return w ? w->refused : 0;
}
