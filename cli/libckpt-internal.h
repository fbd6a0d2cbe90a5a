/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libckpt-internal.h: what ckptctl needs of libckpt beyond the public API:
 * the JSON of the last reply (for --json) and a generic call that records the
 * last error the same way the typed calls do. Hidden symbols, not part of the
 * shared library's ABI.
 */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

#include "ckpt/libckpt.h"

/* Call method; on success *ret (may be NULL) gets a new reference to the
 * reply's parameters. The reply (or error parameters) is kept as the last
 * reply; failures set ckpt_last_error(). */
int ckpt_client_call(struct ckpt_client *c, const char *method, struct json_object *params,
                     const int *fds, size_t n_fds, struct json_object **ret);

/* Parameters of the last reply or error (borrowed; NULL if none). */
struct json_object *ckpt_client_last_reply(struct ckpt_client *c);

/* While fn is set (NULL: unset), every call is made with "more": true and
 * the progress replies of slow calls (io.ckptd.Checkpoint's: what "store",
 * done of total pages) go to fn; other replies marked "continues" are
 * passed over. */
typedef void (*ckpt_client_progress_fn)(const char *what, uint64_t done, uint64_t total,
                                        void *userdata);
void ckpt_client_set_progress(struct ckpt_client *c, ckpt_client_progress_fn fn, void *userdata);

/* As ckpt_client_call() with "more": true: cb sees the parameters of every
 * reply marked "continues" (borrowed); a negative return from it ends the
 * call with that error, and the connection with it. */
int ckpt_client_call_more(struct ckpt_client *c, const char *method, struct json_object *params,
                          int (*cb)(struct json_object *params, void *userdata), void *userdata,
                          struct json_object **ret);
/* The connection's socket and whether a reply waits already read
 * (varlink.h), for a caller that polls it beside its terminal. */
int ckpt_client_fd(struct ckpt_client *c);
bool ckpt_client_has_message(struct ckpt_client *c);
