/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * params.h: the parse step of the Varlink methods: from a call's
 * "parameters" object to a request struct, or to why it was refused.
 *
 * Pure functions of the JSON: no call, no socket, no store, no process is
 * looked at (methods.c checks rights and existence afterwards), so each can
 * be fuzzed alone (tests/fuzz/fuzz-params.c). Every parser refuses keys the
 * method does not know (a typo must not be silently ignored), then reads
 * each parameter in the order the method documents it; the first fault is
 * reported.
 *
 * Errors: 0 and *ret filled; -EINVAL or -E2BIG with *err saying which
 * protocol error to answer (methods.c names it); -ENOMEM. Ranges in *ret
 * are malloc'ed (NULL when none): the caller frees them. Strings in *ret and
 * err->parameter point into params: valid while it is.
 */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "manifest.h"

enum params_fault {
        PARAMS_INVALID_PARAMETER, /* org.varlink.service.InvalidParameter {parameter} */
        PARAMS_INVALID_RANGE,     /* io.ckptd.InvalidRange {range, reason} */
        PARAMS_TOO_MANY_RANGES,   /* io.ckptd.InvalidRange {reason}: over CKPT_MAX_RANGES */
};

struct params_error {
        enum params_fault fault;
        const char *parameter; /* INVALID_PARAMETER: the key */
        char range[128];       /* INVALID_RANGE: "START-END" as given */
        const char *reason;    /* INVALID_RANGE */
};

/* A method without parameters: any key is a mistake. */
int params_none(struct json_object *params, struct params_error *err);
/* Keys outside allowed (NULL-terminated) are refused. */
int params_check_keys(struct json_object *params, const char *const *allowed,
                      struct params_error *err);

struct params_checkpoint {
        pid_t pid;
        bool full, all;
        struct ckpt_range *ranges;
        size_t n_ranges;
};
int params_checkpoint(struct json_object *params, struct params_checkpoint *ret,
                      struct params_error *err);

/* CheckpointGroup {tree? | cgroup?, full?, all?}: exactly one of tree (the
 * root's pid; 0 when not given) and cgroup (a cgroup path of the shape
 * cgroup-util.h asks; NULL when not given). */
struct params_checkpoint_group {
        pid_t tree;
        const char *cgroup;
        bool full, all;
};
int params_checkpoint_group(struct json_object *params, struct params_checkpoint_group *ret,
                            struct params_error *err);

struct params_restore {
        uint64_t id;
        pid_t pid;
        bool registers;
        struct ckpt_range *ranges;
        size_t n_ranges;
};
/* RestoreGroup {id, registers?}: id is a group checkpoint's. */
struct params_restore_group {
        uint64_t id;
        bool registers;
};
int params_restore_group(struct json_object *params, struct params_restore_group *ret,
                         struct params_error *err);

int params_restore(struct json_object *params, struct params_restore *ret,
                   struct params_error *err);

struct params_export {
        uint64_t id;
        bool core;        /* format "core"; "raw" otherwise */
        int64_t fd_index; /* of the descriptors passed with the call */
        struct ckpt_range *ranges;
        size_t n_ranges;
};
int params_export(struct json_object *params, struct params_export *ret, struct params_error *err);

struct params_track {
        pid_t pid;
        int64_t uffd_index;  /* -1: none passed */
        uint64_t every_usec; /* 0: no schedule */
        unsigned keep;
        bool tree;          /* the process and its descendants, present and future */
        const char *cgroup; /* not NULL: the processes of this cgroup (pid 0 then) */
};
int params_track(struct json_object *params, struct params_track *ret, struct params_error *err);

/* Untrack {pid}; List {pid?} (0: every process). */
int params_untrack(struct json_object *params, pid_t *ret, struct params_error *err);
int params_list(struct json_object *params, pid_t *ret, struct params_error *err);
/* Delete and Show {id}; Verify {id?} (0: the whole store). */
int params_id(struct json_object *params, uint64_t *ret, struct params_error *err);
int params_verify(struct json_object *params, uint64_t *ret, struct params_error *err);

struct params_diff {
        uint64_t from, to;
};
int params_diff(struct json_object *params, struct params_diff *ret, struct params_error *err);

struct params_gc {
        int64_t keep, max_age_sec; /* 0: none */
};
int params_gc(struct json_object *params, struct params_gc *ret, struct params_error *err);

/* GetInterfaceDescription {interface}. */
/* WatchProcesses: interval_ms within CKPT_WATCH_MIN/MAX_INTERVAL_MS, default
 * CKPT_WATCH_DEFAULT_INTERVAL_MS. */
int params_watch(struct json_object *params, uint64_t *ret_interval_ms, struct params_error *err);

int params_interface(struct json_object *params, const char **ret, struct params_error *err);

struct params_check_policy {
        const char *path; /* "policy" when not given */
        const char *content;
};
int params_check_policy(struct json_object *params, struct params_check_policy *ret,
                        struct params_error *err);
