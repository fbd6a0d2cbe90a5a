/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * varlink.h: the client side of the Varlink framing (ckpt/proto.h) over a
 * Unix stream socket, private to libckpt and ckptctl. It owns the socket, the
 * receive buffer and the descriptors passed with a call; it knows nothing of
 * the io.ckptd methods (libckpt.c does) and never exposes partial messages.
 *
 * Messages are one JSON object and a NUL byte. A reply larger than
 * CKPT_MAX_MESSAGE, a reply that is not a JSON object, or a peer closing in
 * the middle of a reply breaks the connection: every later call fails with
 * -ENOTCONN, since the stream can no longer be resynchronised.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include <json-c/json.h>

struct varlink_client;

/* Connect to the socket at path. */
int varlink_client_connect(const char *path, struct varlink_client **ret);
/* Take over an already connected socket (also on failure). */
int varlink_client_new_fd(int fd, struct varlink_client **ret);
struct varlink_client *varlink_client_free(struct varlink_client *c);

/*
 * Whether the daemon has closed the connection (or it broke) while no call was
 * in flight, as ckptd does with a connection idle longer than --idle-timeout
 * and at a restart. Never blocks; false when unsure.
 */
bool varlink_client_peer_closed(const struct varlink_client *c);

/* The socket, for poll() beside other descriptors while a call with more
 * waits for its next reply; never read or written by the caller. */
int varlink_client_fd(const struct varlink_client *c);
/* Whether a whole message was received already and waits to be read (poll()
 * on the socket cannot tell). */
bool varlink_client_has_message(const struct varlink_client *c);

/* Text explaining the last transport failure ("" if none). */
const char *varlink_client_error(const struct varlink_client *c);

/* Called with each reply marked "continues": true of a call made with more. */
typedef int (*varlink_reply_cb)(struct json_object *params, void *userdata);

/*
 * Call method with params (NULL: {}; not consumed). fds (n_fds at most
 * CKPT_MAX_FDS) travel with SCM_RIGHTS on the call and stay owned by the
 * caller. Waits for the final reply (replies with "continues": true are
 * skipped, or given to varlink_call_more()'s callback).
 *
 * Returns 0 with *ret_params (a new reference, {} when the reply had none) on
 * a reply. On an error reply returns ckpt_error_to_errno(name) (< 0), with
 * *ret_error_name (caller frees) and *ret_params holding the error's
 * parameters. On a transport failure returns a negative errno with
 * *ret_error_name NULL and *ret_params NULL; varlink_client_error() says why.
 * ret_params and ret_error_name may be NULL.
 */
int varlink_call(struct varlink_client *c, const char *method, struct json_object *params,
                 const int *fds, size_t n_fds, struct json_object **ret_params,
                 char **ret_error_name);

/* As varlink_call() with "more": true; cb (may be NULL) sees every
 * intermediate reply, and a negative return from it aborts with that error
 * (the connection is then broken). */
int varlink_call_more(struct varlink_client *c, const char *method, struct json_object *params,
                      const int *fds, size_t n_fds, varlink_reply_cb cb, void *userdata,
                      struct json_object **ret_params, char **ret_error_name);

/* Error name -> negative errno, and the one-line message for an error reply. */
int varlink_error_to_errno(const char *name);
char *varlink_error_message(const char *name, struct json_object *params);

static inline void json_object_putp(struct json_object **o)
{
        if (*o)
                json_object_put(*o);
}
#define _cleanup_json_ __attribute__((cleanup(json_object_putp)))
