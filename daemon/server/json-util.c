/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* json-util.c: see json-util.h. */
#include "json-util.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static struct json_object *get(struct json_object *o, const char *key)
{
        struct json_object *v;

        if (!o || !json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null))
                return NULL;
        return v;
}

int json_get_int64(struct json_object *o, const char *key, int64_t *ret)
{
        struct json_object *v = get(o, key);

        if (!v)
                return -ENOENT;
        if (!json_object_is_type(v, json_type_int))
                return -EINVAL;
        errno = 0;
        *ret = json_object_get_int64(v);
        if (errno != 0)
                return -EINVAL;
        /* json-c keeps integers above INT64_MAX as unsigned and clamps them
         * here: 2^64-1 must not quietly become 2^63-1. */
        if (*ret == INT64_MAX && json_object_get_uint64(v) != (uint64_t)INT64_MAX)
                return -EINVAL;
        return 0;
}

int json_get_bool(struct json_object *o, const char *key, bool *ret)
{
        struct json_object *v = get(o, key);

        if (!v)
                return -ENOENT;
        if (!json_object_is_type(v, json_type_boolean))
                return -EINVAL;
        *ret = json_object_get_boolean(v);
        return 0;
}

int json_get_string(struct json_object *o, const char *key, const char **ret)
{
        struct json_object *v = get(o, key);

        if (!v)
                return -ENOENT;
        if (!json_object_is_type(v, json_type_string))
                return -EINVAL;
        *ret = json_object_get_string(v);
        return 0;
}

int parse_u64(const char *s, uint64_t *ret)
{
        unsigned long long v;
        char *end;

        if (!s || !*s || *s == '-' || *s == '+' || *s == ' ')
                return -EINVAL;
        errno = 0;
        v = strtoull(s, &end, 0);
        if (errno != 0 || *end != '\0')
                return -EINVAL;
        *ret = v;
        return 0;
}

struct json_object *json_hex(uint64_t v)
{
        char buf[24];

        snprintf(buf, sizeof(buf), "0x%" PRIx64, v);
        return json_object_new_string(buf);
}

struct json_object *json_uint(uint64_t v)
{
        return json_object_new_int64(v > INT64_MAX ? INT64_MAX : (int64_t)v);
}

struct json_object *json_time_ns(uint64_t ns)
{
        time_t t = ns / 1000000000ULL;
        struct tm tm;
        char buf[64];

        gmtime_r(&t, &tm);
        snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                 (unsigned)(ns % 1000000000ULL / 1000000));
        return json_object_new_string(buf);
}
