/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * watch.h: calls that get a reply now and then another every interval for as
 * long as the caller stays connected (Varlink "more" replies marked
 * "continues": true), as io.ckptd.WatchProcesses does for `ckptctl top`.
 *
 * What a watcher costs is paid only while it watches: one timer per watcher,
 * no work at all when nobody watches. Bounds: at most max_per_uid watchers
 * of one non-root uid (TooManyRequests naming watchers_per_uid otherwise),
 * an interval the caller cannot make shorter than the method allows, and no
 * new reply while an earlier one is still unsent to the peer (the frame is
 * skipped, not queued). A watcher whose connection closed is dropped at its
 * next tick. watchers_stop() ends every watcher with an error (shutdown).
 */
#pragma once

#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

#include "server.h"

struct watchers;

/* One reply's parameters for call c (a new object; NULL: out of memory). */
typedef struct json_object *(*watch_frame_fn)(struct call *c, void *userdata);

int watchers_new(sd_event *e, unsigned max_per_uid, struct watchers **ret);
struct watchers *watchers_free(struct watchers *w);

/*
 * Answer c with frame(c) now; if it asked for more, again every
 * interval_usec until it goes away. Returns 0, or -EUSERS when its uid holds
 * max_per_uid watchers already (c answered with TooManyRequests), or -ENOMEM
 * (c not answered).
 */
int watchers_add(struct watchers *w, struct call *c, uint64_t interval_usec, watch_frame_fn frame,
                 void *userdata);
/* End every watcher with error (a protocol error name) and no parameters. */
void watchers_stop(struct watchers *w, const char *error);
/* Watchers open now, and calls refused for the per-uid bound since start. */
unsigned watchers_count(const struct watchers *w);
uint64_t watchers_refused(const struct watchers *w);
