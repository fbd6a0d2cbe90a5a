/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fuzz-params: the parse step of the Varlink methods (params.h), alone. The
 * first byte picks the method, the rest is its "parameters" object as a
 * client sends it. Whatever the input, a parser returns 0, -EINVAL, -E2BIG
 * or -ENOMEM; on success the request holds only what the method allows (a
 * pid in 1..INT32_MAX, ids above 0, at most CKPT_MAX_RANGES ranges with
 * START < END, each holding a whole page where the method works on pages);
 * on a refusal the error names a parameter, or a range and why; the same
 * input gives the same answer twice; nothing leaks.
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cgroup-util.h"
#include "ckpt/proto.h"
#include "fuzz.h"
#include "macro.h"
#include "params.h"

enum {
        P_CHECKPOINT,
        P_RESTORE,
        P_EXPORT,
        P_TRACK,
        P_UNTRACK,
        P_LIST,
        P_ID,
        P_VERIFY,
        P_DIFF,
        P_GC,
        P_INTERFACE,
        P_CHECK_POLICY,
        P_NONE,
        P_WATCH,
        P_CHECKPOINT_GROUP,
        P_RESTORE_GROUP,
        _P_MAX
};

struct outcome {
        int r;
        struct params_error err;
        union {
                struct params_checkpoint checkpoint;
                struct params_checkpoint_group group;
                struct params_restore_group restore_group;
                struct params_restore restore;
                struct params_export export;
                struct params_track track;
                struct params_diff diff;
                struct params_gc gc;
                struct params_check_policy check_policy;
                const char *interface;
                uint64_t id;
                pid_t pid;
        } u;
};

static void check_ranges(const struct ckpt_range *r, size_t n, bool whole_pages)
{
        assert((r == NULL) == (n == 0));
        assert(n <= CKPT_MAX_RANGES);
        for (size_t i = 0; i < n; i++) {
                assert(r[i].start < r[i].end);
                if (whole_pages)
                        assert(PAGE_ALIGN_UP(r[i].start) < PAGE_ALIGN_DOWN(r[i].end));
        }
}

static void check_pid(pid_t pid)
{
        assert(pid > 0 && pid <= INT32_MAX);
}

static void parse(int which, struct json_object *params, struct outcome *o)
{
        memset(o, 0, sizeof(*o));
        switch (which) {
        case P_CHECKPOINT:
                o->r = params_checkpoint(params, &o->u.checkpoint, &o->err);
                break;
        case P_RESTORE:
                o->r = params_restore(params, &o->u.restore, &o->err);
                break;
        case P_EXPORT:
                o->r = params_export(params, &o->u.export, &o->err);
                break;
        case P_TRACK:
                o->r = params_track(params, &o->u.track, &o->err);
                break;
        case P_UNTRACK:
                o->r = params_untrack(params, &o->u.pid, &o->err);
                break;
        case P_LIST:
                o->r = params_list(params, &o->u.pid, &o->err);
                break;
        case P_ID:
                o->r = params_id(params, &o->u.id, &o->err);
                break;
        case P_VERIFY:
                o->r = params_verify(params, &o->u.id, &o->err);
                break;
        case P_DIFF:
                o->r = params_diff(params, &o->u.diff, &o->err);
                break;
        case P_GC:
                o->r = params_gc(params, &o->u.gc, &o->err);
                break;
        case P_INTERFACE:
                o->r = params_interface(params, &o->u.interface, &o->err);
                break;
        case P_CHECK_POLICY:
                o->r = params_check_policy(params, &o->u.check_policy, &o->err);
                break;
        case P_WATCH:
                o->r = params_watch(params, &o->u.id, &o->err);
                break;
        case P_CHECKPOINT_GROUP:
                o->r = params_checkpoint_group(params, &o->u.group, &o->err);
                break;
        case P_RESTORE_GROUP:
                o->r = params_restore_group(params, &o->u.restore_group, &o->err);
                break;
        default:
                o->r = params_none(params, &o->err);
        }
}

/* What a successful parse may hold. */
static void check_request(int which, const struct outcome *o)
{
        const struct params_track *t = &o->u.track;

        switch (which) {
        case P_CHECKPOINT:
                check_pid(o->u.checkpoint.pid);
                check_ranges(o->u.checkpoint.ranges, o->u.checkpoint.n_ranges, true);
                break;
        case P_RESTORE:
                assert(o->u.restore.id > 0);
                check_pid(o->u.restore.pid);
                check_ranges(o->u.restore.ranges, o->u.restore.n_ranges, true);
                break;
        case P_EXPORT:
                assert(o->u.export.id > 0);
                check_ranges(o->u.export.ranges, o->u.export.n_ranges, false);
                break;
        case P_TRACK:
                if (t->cgroup)
                        assert(t->pid == 0 && cgroup_path_valid(t->cgroup) == 0);
                else
                        check_pid(t->pid);
                assert(t->uffd_index >= -1);
                assert(t->every_usec <= 366ULL * 86400 * 1000000 && t->every_usec % 1000000 == 0);
                assert(t->keep <= 1000000);
                assert(!t->tree || t->uffd_index == -1); /* a userfaultfd is one process's */
                break;
        case P_RESTORE_GROUP:
                assert(o->u.restore_group.id > 0);
                break;
        case P_CHECKPOINT_GROUP: /* one group: a tree or a cgroup of a sane shape */
                if (o->u.group.cgroup)
                        assert(o->u.group.tree == 0 && cgroup_path_valid(o->u.group.cgroup) == 0);
                else
                        check_pid(o->u.group.tree);
                break;
        case P_UNTRACK:
                check_pid(o->u.pid);
                break;
        case P_LIST:
                assert(o->u.pid == 0 || o->u.pid > 0);
                break;
        case P_ID:
                assert(o->u.id > 0);
                break;
        case P_DIFF:
                assert(o->u.diff.from > 0 && o->u.diff.to > 0);
                break;
        case P_GC:
                assert(o->u.gc.keep >= 0 && o->u.gc.max_age_sec >= 0);
                break;
        case P_INTERFACE:
                assert(o->u.interface);
                break;
        case P_CHECK_POLICY:
                assert(o->u.check_policy.path && o->u.check_policy.content);
                break;
        case P_WATCH: /* the interval between replies, in ms: the rate bound */
                assert(o->u.id >= CKPT_WATCH_MIN_INTERVAL_MS &&
                       o->u.id <= CKPT_WATCH_MAX_INTERVAL_MS);
                break;
        }
}

/* What a refusal must say. */
static void check_error(const struct outcome *o)
{
        assert(o->r == -EINVAL || o->r == -E2BIG || o->r == -ENOMEM);
        if (o->r == -ENOMEM)
                return;
        switch (o->err.fault) {
        case PARAMS_INVALID_PARAMETER:
                assert(o->r == -EINVAL && o->err.parameter);
                break;
        case PARAMS_INVALID_RANGE:
                /* "START-END" as given, cut at 127 bytes: a long START
                 * leaves no '-' in it, but never nothing. */
                assert(o->r == -EINVAL && o->err.reason && o->err.range[0]);
                break;
        case PARAMS_TOO_MANY_RANGES:
                assert(o->r == -E2BIG);
                break;
        default:
                assert(!"unknown fault");
        }
}

static void release(int which, struct outcome *o)
{
        if (o->r < 0)
                return;
        if (which == P_CHECKPOINT)
                free(o->u.checkpoint.ranges);
        else if (which == P_RESTORE)
                free(o->u.restore.ranges);
        else if (which == P_EXPORT)
                free(o->u.export.ranges);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct json_tokener *tok;
        struct json_object *params;
        struct outcome a, b;
        int which;

        if (size < 1 || size > 256 * 1024)
                return 0;
        which = data[0] % _P_MAX;
        tok = json_tokener_new_ex(64);
        assert(tok);
        params = json_tokener_parse_ex(tok, (const char *)data + 1, (int)(size - 1));
        json_tokener_free(tok);
        if (!params)
                return 0;
        if (!json_object_is_type(params, json_type_object)) {
                /* The server refuses such a message before any method. */
                json_object_put(params);
                return 0;
        }

        parse(which, params, &a);
        if (a.r >= 0) {
                assert(a.r == 0);
                check_request(which, &a);
        } else
                check_error(&a);

        parse(which, params, &b);
        assert(a.r == b.r);
        if (a.r < 0 && a.r != -ENOMEM) {
                assert(a.err.fault == b.err.fault);
                assert(!a.err.parameter == !b.err.parameter);
                assert(!a.err.parameter || strcmp(a.err.parameter, b.err.parameter) == 0);
                assert(strcmp(a.err.range, b.err.range) == 0);
        }
        release(which, &a);
        release(which, &b);
        json_object_put(params);
        return 0;
}
