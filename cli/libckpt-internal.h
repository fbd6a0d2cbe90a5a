/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libckpt-internal.h: what ckptctl needs of libckpt beyond the public API:
 * the JSON of the last reply (for --json) and a generic call that records the
 * last error the same way the typed calls do. Hidden symbols, not part of the
 * shared library's ABI.
 */
#pragma once

#include <json-c/json.h>

#include "ckpt/libckpt.h"

/* Call method; on success *ret (may be NULL) gets a new reference to the
 * reply's parameters. The reply (or error parameters) is kept as the last
 * reply; failures set ckpt_last_error(). */
int ckpt_client_call(struct ckpt_client *c, const char *method, struct json_object *params,
                     const int *fds, size_t n_fds, struct json_object **ret);

/* Parameters of the last reply or error (borrowed; NULL if none). */
struct json_object *ckpt_client_last_reply(struct ckpt_client *c);
