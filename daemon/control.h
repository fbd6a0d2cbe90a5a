/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * control.h: the Varlink socket server. It owns the listening socket, the
 * connections, message framing (JSON + NUL, CKPT_MAX_MESSAGE enforced before
 * parsing), SO_PEERCRED and descriptors passed with SCM_RIGHTS. It knows
 * nothing of methods: every complete call goes to the dispatch callback, which
 * answers now or later (a call outlives its connection safely: replies to a
 * closed connection are dropped).
 */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

struct server;
struct call;

typedef void (*server_dispatch_t)(struct call *c, const char *method, struct json_object *params,
                                  void *userdata);

/* listen_fd >= 0: an inherited (socket-activated) listening socket; otherwise
 * bind `path` (a stale socket file is replaced, the directory created). */
int server_new(sd_event *e, int listen_fd, const char *path, server_dispatch_t dispatch,
               void *userdata, struct server **ret);
struct server *server_free(struct server *s);
unsigned server_n_clients(struct server *s);

/* Per-call accessors. */
/* The caller's effective uid and gid when it connected (SO_PEERCRED). */
uid_t call_uid(const struct call *c);
gid_t call_gid(const struct call *c);
pid_t call_peer_pid(const struct call *c);
/* The caller's gid and supplementary groups (SO_PEERCRED, SO_PEERGROUPS: as
 * they were when it connected). *ret_groups is malloc'ed. -ENOTCONN when the
 * connection is gone. */
int call_peer_groups(const struct call *c, gid_t *ret_gid, gid_t **ret_groups, size_t *ret_n);
bool call_wants_more(const struct call *c);
/* Take a passed descriptor by index (ownership moves to the caller): -EBADF
 * when there is no such index. */
int call_take_fd(struct call *c, int index);

struct call *call_ref(struct call *c);
struct call *call_unref(struct call *c);

/* Answer. reply/error consume `params` (may be NULL) and end the call (they
 * drop the call's reference held by the server); call_notify sends a
 * "continues": true reply and keeps it open. */
int call_reply(struct call *c, struct json_object *params);
int call_notify(struct call *c, struct json_object *params);
int call_error(struct call *c, const char *error, struct json_object *params);
/* Convenience: error with a single string parameter. */
int call_errorf(struct call *c, const char *error, const char *key, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
