/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * server.h: the Varlink socket server. It owns the listening socket, the
 * connections, message framing (JSON + NUL, CKPT_MAX_MESSAGE enforced before
 * parsing), SO_PEERCRED and descriptors passed with SCM_RIGHTS. It knows
 * nothing of methods: every complete call goes to the dispatch callback, which
 * answers now or later (a call outlives its connection safely: replies to a
 * closed connection are dropped).
 */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

struct server;
struct call;

typedef void (*server_dispatch_t)(struct call *c, const char *method, struct json_object *params,
                                  void *userdata);

/*
 * Limits on what one peer may hold. Connections: at most max_clients, of which
 * the last root_reserve only for uid 0, and at most max_clients_per_uid of one
 * non-root uid (0: no share); a connection over them gets a TooManyRequests
 * error naming the limit and is closed. A connection that holds nothing under
 * way and sends nothing for idle_timeout_usec, or holds a partial message or
 * unread replies that long, is closed (0: never). Once max_unsent bytes of
 * replies wait for a peer, its requests are no longer read until they drain.
 * max_requests_per_uid bounds the calls under way of one non-root uid that
 * call_check_requests() admits (0: none).
 */
struct server_options {
        unsigned max_clients;
        unsigned max_clients_per_uid;
        unsigned root_reserve;
        unsigned max_requests_per_uid;
        uint64_t idle_timeout_usec;
        size_t max_unsent;
};

/* The defaults of proto.h. */
void server_options_default(struct server_options *o);

/* listen_fd >= 0: an inherited (socket-activated) listening socket; otherwise
 * bind `path` (a stale socket file is replaced, the directory created).
 * o NULL: server_options_default(). */
int server_new(sd_event *e, int listen_fd, const char *path, const struct server_options *o,
               server_dispatch_t dispatch, void *userdata, struct server **ret);
struct server *server_free(struct server *s);
unsigned server_n_clients(struct server *s);
/* {name: {"limit": N, "hit": count}} for every limit (GetStatus). */
struct json_object *server_limits_json(struct server *s);

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
/* Whether the caller's connection is still open (a call outlives it). */
bool call_connected(const struct call *c);
/* Bytes of replies queued on the caller's connection, not yet sent. */
size_t call_unsent(const struct call *c);
/* For a call that starts work outliving the dispatch (a job): 0 if its uid
 * may have one more such call under way; otherwise the call is answered with
 * TooManyRequests (requests_per_uid) and -EUSERS returned. Root is exempt. */
int call_check_requests(struct call *c);
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
/* The parameters of an io.ckptd.TooManyRequests error: the limit's name
 * (CKPT_LIMIT_*), its value and why this call or connection is over it. */
struct json_object *server_limit_params(const char *name, uint64_t limit, const char *reason);
/* Convenience: error with a single string parameter. */
int call_errorf(struct call *c, const char *error, const char *key, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
