/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* params.c: method parameters to request structs; see params.h. */
#include "params.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cgroup-util.h"
#include "ckpt/proto.h"
#include "json-util.h"
#include "macro.h"

static int invalid(struct params_error *err, const char *parameter)
{
        *err = (struct params_error){.fault = PARAMS_INVALID_PARAMETER, .parameter = parameter};
        return -EINVAL;
}

static int invalid_range(struct params_error *err, const char *start, const char *end,
                         const char *reason)
{
        *err = (struct params_error){.fault = PARAMS_INVALID_RANGE, .reason = reason};
        snprintf(err->range, sizeof(err->range), "%s-%s", start, end);
        return -EINVAL;
}

int params_check_keys(struct json_object *params, const char *const *allowed,
                      struct params_error *err)
{
        json_object_object_foreach (params, key, val) {
                bool ok = false;

                (void)val;
                for (size_t i = 0; allowed[i]; i++)
                        if (strcmp(allowed[i], key) == 0)
                                ok = true;
                if (!ok)
                        return invalid(err, key);
        }
        return 0;
}

#define CHECK_KEYS(params, err, ...)                                                               \
        do {                                                                                       \
                static const char *const _allowed_[] = {__VA_ARGS__, NULL};                        \
                int _r_ = params_check_keys(params, _allowed_, err);                               \
                if (_r_ < 0)                                                                       \
                        return _r_;                                                                \
        } while (0)

int params_none(struct json_object *params, struct params_error *err)
{
        static const char *const none[] = {NULL};

        return params_check_keys(params, none, err);
}

/* A pid: 1 to INT32_MAX, required. */
static int get_pid(struct json_object *params, const char *key, pid_t *ret,
                   struct params_error *err)
{
        int64_t v;
        int r = json_get_int64(params, key, &v);

        if (r < 0 || v <= 0 || v > INT32_MAX)
                return invalid(err, key);
        *ret = (pid_t)v;
        return 0;
}

/* A checkpoint id: positive, required. */
static int get_id(struct json_object *params, const char *key, uint64_t *ret,
                  struct params_error *err)
{
        int64_t v;
        int r = json_get_int64(params, key, &v);

        if (r < 0 || v <= 0)
                return invalid(err, key);
        *ret = (uint64_t)v;
        return 0;
}

/* Absent or null: *ret left alone. */
static int get_opt_bool(struct json_object *params, const char *key, bool *ret,
                        struct params_error *err)
{
        if (json_get_bool(params, key, ret) == -EINVAL)
                return invalid(err, key);
        return 0;
}

static bool is_given(struct json_object *params, const char *key)
{
        struct json_object *v;

        return json_object_object_get_ex(params, key, &v) &&
               !json_object_is_type(v, json_type_null);
}

/* "ranges": [{start, end}...], absent or null: none. whole_pages: a range
 * must hold at least one whole page (checkpoint and restore work on pages;
 * export lays out bytes). */
static int get_ranges(struct json_object *params, bool whole_pages, struct ckpt_range **ret,
                      size_t *ret_n, struct params_error *err)
{
        _cleanup_free_ struct ckpt_range *ranges = NULL;
        struct json_object *a;
        size_t n;

        *ret = NULL;
        *ret_n = 0;
        if (!json_object_object_get_ex(params, "ranges", &a) ||
            json_object_is_type(a, json_type_null))
                return 0;
        if (!json_object_is_type(a, json_type_array))
                return invalid(err, "ranges");
        n = json_object_array_length(a);
        if (n > CKPT_MAX_RANGES) {
                *err = (struct params_error){.fault = PARAMS_TOO_MANY_RANGES};
                return -E2BIG;
        }
        if (n == 0)
                return 0;
        ranges = calloc(n, sizeof(*ranges));
        if (!ranges)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                struct json_object *o = json_object_array_get_idx(a, i);
                const char *s, *e;

                if (!json_object_is_type(o, json_type_object) ||
                    json_get_string(o, "start", &s) < 0 || json_get_string(o, "end", &e) < 0)
                        return invalid(err, "ranges");
                if (parse_u64(s, &ranges[i].start) < 0 || parse_u64(e, &ranges[i].end) < 0 ||
                    ranges[i].start >= ranges[i].end)
                        return invalid_range(err, s, e,
                                             "a range is START-END in hex or decimal with "
                                             "START < END");
                if (whole_pages &&
                    (ranges[i].start > UINT64_MAX - (PAGE_SIZE_4K - 1) ||
                     PAGE_ALIGN_UP(ranges[i].start) >= PAGE_ALIGN_DOWN(ranges[i].end)))
                        return invalid_range(err, s, e,
                                             "the range holds no whole page: pages are 4 KiB, "
                                             "aligned to 4 KiB");
        }
        *ret = TAKE_PTR(ranges);
        *ret_n = n;
        return 0;
}

int params_checkpoint(struct json_object *params, struct params_checkpoint *ret,
                      struct params_error *err)
{
        int r;

        *ret = (struct params_checkpoint){};
        CHECK_KEYS(params, err, "pid", "full", "all", "ranges");
        r = get_pid(params, "pid", &ret->pid, err);
        if (r >= 0)
                r = get_opt_bool(params, "full", &ret->full, err);
        if (r >= 0)
                r = get_opt_bool(params, "all", &ret->all, err);
        if (r >= 0)
                r = get_ranges(params, true, &ret->ranges, &ret->n_ranges, err);
        return r;
}

int params_checkpoint_group(struct json_object *params, struct params_checkpoint_group *ret,
                            struct params_error *err)
{
        int r;

        *ret = (struct params_checkpoint_group){};
        CHECK_KEYS(params, err, "tree", "cgroup", "full", "all");
        if (is_given(params, "cgroup")) {
                if (is_given(params, "tree"))
                        return invalid(err, "tree"); /* one group at a time */
                if (json_get_string(params, "cgroup", &ret->cgroup) < 0 ||
                    cgroup_path_valid(ret->cgroup) < 0)
                        return invalid(err, "cgroup");
                r = 0;
        } else
                r = get_pid(params, "tree", &ret->tree, err);
        if (r >= 0)
                r = get_opt_bool(params, "full", &ret->full, err);
        if (r >= 0)
                r = get_opt_bool(params, "all", &ret->all, err);
        return r;
}

int params_restore_group(struct json_object *params, struct params_restore_group *ret,
                         struct params_error *err)
{
        int r;

        *ret = (struct params_restore_group){};
        CHECK_KEYS(params, err, "id", "registers");
        r = get_id(params, "id", &ret->id, err);
        if (r >= 0)
                r = get_opt_bool(params, "registers", &ret->registers, err);
        return r;
}

int params_restore(struct json_object *params, struct params_restore *ret, struct params_error *err)
{
        int r;

        *ret = (struct params_restore){};
        CHECK_KEYS(params, err, "id", "pid", "ranges", "registers");
        r = get_id(params, "id", &ret->id, err);
        if (r >= 0)
                r = get_pid(params, "pid", &ret->pid, err);
        if (r >= 0)
                r = get_opt_bool(params, "registers", &ret->registers, err);
        if (r >= 0)
                r = get_ranges(params, true, &ret->ranges, &ret->n_ranges, err);
        return r;
}

int params_export(struct json_object *params, struct params_export *ret, struct params_error *err)
{
        const char *format = "raw";
        int r;

        *ret = (struct params_export){};
        CHECK_KEYS(params, err, "id", "format", "fd", "ranges");
        r = get_id(params, "id", &ret->id, err);
        if (r < 0)
                return r;
        if (json_get_string(params, "format", &format) == -EINVAL ||
            (strcmp(format, "raw") != 0 && strcmp(format, "core") != 0))
                return invalid(err, "format");
        ret->core = strcmp(format, "core") == 0;
        if (json_get_int64(params, "fd", &ret->fd_index) < 0)
                return invalid(err, "fd");
        return get_ranges(params, false, &ret->ranges, &ret->n_ranges, err);
}

int params_track(struct json_object *params, struct params_track *ret, struct params_error *err)
{
        int64_t every = 0, keep = 0;
        int r;

        *ret = (struct params_track){.uffd_index = -1};
        CHECK_KEYS(params, err, "pid", "uffd", "every_sec", "keep", "tree", "cgroup");
        if (is_given(params, "cgroup")) {
                if (is_given(params, "pid") || is_given(params, "tree") || is_given(params, "uffd"))
                        return invalid(err, "cgroup"); /* one group, no process of its own */
                if (json_get_string(params, "cgroup", &ret->cgroup) < 0 ||
                    cgroup_path_valid(ret->cgroup) < 0)
                        return invalid(err, "cgroup");
        } else {
                r = get_pid(params, "pid", &ret->pid, err);
                if (r < 0)
                        return r;
        }
        r = json_get_int64(params, "uffd", &ret->uffd_index);
        if (r == -EINVAL || (r == 0 && ret->uffd_index < 0))
                return invalid(err, "uffd");
        r = json_get_int64(params, "every_sec", &every);
        if (r == -EINVAL || (r == 0 && (every <= 0 || every > 366 * 86400)))
                return invalid(err, "every_sec");
        r = json_get_int64(params, "keep", &keep);
        if (r == -EINVAL || (r == 0 && (keep < 0 || keep > 1000000)))
                return invalid(err, "keep");
        ret->every_usec = (uint64_t)every * 1000000ULL;
        ret->keep = (unsigned)keep;
        r = get_opt_bool(params, "tree", &ret->tree, err);
        if (r < 0)
                return r;
        if (ret->tree && ret->uffd_index >= 0)
                return invalid(err, "tree"); /* a userfaultfd is one process's */
        return 0;
}

int params_untrack(struct json_object *params, pid_t *ret, struct params_error *err)
{
        CHECK_KEYS(params, err, "pid");
        return get_pid(params, "pid", ret, err);
}

int params_list(struct json_object *params, pid_t *ret, struct params_error *err)
{
        *ret = 0;
        CHECK_KEYS(params, err, "pid");
        return is_given(params, "pid") ? get_pid(params, "pid", ret, err) : 0;
}

int params_id(struct json_object *params, uint64_t *ret, struct params_error *err)
{
        CHECK_KEYS(params, err, "id");
        return get_id(params, "id", ret, err);
}

int params_verify(struct json_object *params, uint64_t *ret, struct params_error *err)
{
        *ret = 0;
        CHECK_KEYS(params, err, "id");
        return is_given(params, "id") ? get_id(params, "id", ret, err) : 0;
}

int params_diff(struct json_object *params, struct params_diff *ret, struct params_error *err)
{
        int r;

        CHECK_KEYS(params, err, "from", "to");
        r = get_id(params, "from", &ret->from, err);
        return r < 0 ? r : get_id(params, "to", &ret->to, err);
}

int params_gc(struct json_object *params, struct params_gc *ret, struct params_error *err)
{
        int r;

        *ret = (struct params_gc){};
        CHECK_KEYS(params, err, "keep", "max_age_sec");
        r = json_get_int64(params, "keep", &ret->keep);
        if (r == -EINVAL || ret->keep < 0)
                return invalid(err, "keep");
        r = json_get_int64(params, "max_age_sec", &ret->max_age_sec);
        if (r == -EINVAL || ret->max_age_sec < 0)
                return invalid(err, "max_age_sec");
        return 0;
}

int params_watch(struct json_object *params, uint64_t *ret_interval_ms, struct params_error *err)
{
        int64_t ms = CKPT_WATCH_DEFAULT_INTERVAL_MS;

        CHECK_KEYS(params, err, "interval_ms");
        if (json_get_int64(params, "interval_ms", &ms) == -EINVAL ||
            ms < CKPT_WATCH_MIN_INTERVAL_MS || ms > CKPT_WATCH_MAX_INTERVAL_MS)
                return invalid(err, "interval_ms");
        *ret_interval_ms = (uint64_t)ms;
        return 0;
}

int params_interface(struct json_object *params, const char **ret, struct params_error *err)
{
        CHECK_KEYS(params, err, "interface");
        if (json_get_string(params, "interface", ret) < 0)
                return invalid(err, "interface");
        return 0;
}

int params_check_policy(struct json_object *params, struct params_check_policy *ret,
                        struct params_error *err)
{
        *ret = (struct params_check_policy){.path = "policy"};
        CHECK_KEYS(params, err, "path", "content");
        if (json_get_string(params, "path", &ret->path) == -EINVAL ||
            json_get_string(params, "content", &ret->content) < 0)
                return invalid(err, "content");
        return 0;
}
