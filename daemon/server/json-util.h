/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * json-util.h: json-c helpers for the method handlers: cleanup, typed and
 * checked access to call parameters (64-bit addresses as hex strings), and
 * builders for the shapes the interface returns.
 */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

#include "macro.h"

static inline void json_object_putp(struct json_object **o)
{
        if (*o)
                json_object_put(*o);
}

/* Parameter access. Each returns 0 and sets *ret, -ENOENT when the key is
 * absent or null (and leaves *ret alone), -EINVAL when it has the wrong type
 * or value. */
int json_get_int64(struct json_object *o, const char *key, int64_t *ret);
int json_get_bool(struct json_object *o, const char *key, bool *ret);
int json_get_string(struct json_object *o, const char *key, const char **ret);
/* "0x1000" / "4096": base 0, the whole string, no sign, fits 64 bits. */
int parse_u64(const char *s, uint64_t *ret);

struct json_object *json_hex(uint64_t v);
struct json_object *json_uint(uint64_t v);
/* Time as RFC 3339 UTC with milliseconds. */
struct json_object *json_time_ns(uint64_t ns);
