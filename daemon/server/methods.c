/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * methods.c: the Varlink method table of io.ckptd and org.varlink.service.
 *
 * Every handler runs its parameters through their parse step (params.h:
 * types, unknown keys, limits) and checks the caller's rights (SO_PEERCRED:
 * root may act on anything, others on their own processes and checkpoints)
 * before anything is done, and answers with a qualified error otherwise.
 * Slow work goes to a worker (jobs.h); the reply is sent from the job's
 * done() on the loop thread, and the scheduler's outcomes (scheduler.h)
 * come back as values. This is the only place where internal errors
 * (-errno) become protocol error names.
 */
#include <inttypes.h>
#include <sys/user.h>
#include <fcntl.h>

#include "access.h"
#include "checkpoint.h"
#include "ckpt/proto.h"
#include "server.h"
#include "export.h"
#include "jobs.h"
#include "json-util.h"
#include "lastcopy.h"
#include "log.h"
#include "macro.h"
#include "manager.h"
#include "methods.h"
#include "params.h"
#include "restore.h"
#include "retention.h"
#include "diff.h"
#include "export-core.h"
#include "policy.h"
#include "progress.h"
#include "scheduler.h"
#include "stats.h"
#include "gc.h"
#include "verify.h"
#include "watch.h"
#include "tracker.h"
#include "store.h"
#include "time-util.h"

static const char interface_description[] =
#include "varlink-interface.h"
        ;

static const char varlink_service_description[] =
        "# The Varlink Service Interface is provided by every varlink service.\n"
        "interface org.varlink.service\n\n"
        "method GetInfo() -> (\n  vendor: string,\n  product: string,\n  version: string,\n"
        "  url: string,\n  interfaces: []string\n)\n\n"
        "method GetInterfaceDescription(interface: string) -> (description: string)\n\n"
        "error InterfaceNotFound (interface: string)\n"
        "error MethodNotFound (method: string)\n"
        "error MethodNotImplemented (method: string)\n"
        "error InvalidParameter (parameter: string)\n";

/* ---- replies ---------------------------------------------------------------- */

/* {"start": hex, "end": hex}, for the caller to add more to. */
static struct json_object *range_to_json(uint64_t start, uint64_t end)
{
        struct json_object *o = json_object_new_object();

        json_object_object_add(o, "start", json_hex(start));
        json_object_object_add(o, "end", json_hex(end));
        return o;
}

static struct json_object *ranges_to_json(const struct ckpt_range *r, size_t n)
{
        struct json_object *a = json_object_new_array();

        for (size_t i = 0; i < n; i++)
                json_object_array_add(a, range_to_json(r[i].start, r[i].end));
        return a;
}

/* ---- errors ---------------------------------------------------------------- */

/* "DETAIL: system message", once: a detail that already ends with the
 * system message (most of the engine's do) is taken as it is. */
static const char *error_reason(char *buf, size_t size, const char *detail, int r)
{
        const char *sys = strerror(-r);
        size_t ld = detail ? strlen(detail) : 0, ls = strlen(sys);

        if (ld == 0)
                snprintf(buf, size, "%s", sys);
        else if (ld >= ls && strcmp(detail + ld - ls, sys) == 0)
                snprintf(buf, size, "%s", detail);
        else
                snprintf(buf, size, "%s: %s", detail, sys);
        return buf;
}

/* The one place where an internal error becomes a protocol error: its name,
 * and its parameters added to p. */
static const char *error_of(int r, pid_t pid, uint64_t id, const char *reason,
                            struct json_object *p)
{
        const char *name;

        switch (r) {
        case -ESRCH:
                name = CKPT_ERR_NO_SUCH_PROCESS;
                json_object_object_add(p, "pid", json_object_new_int(pid));
                break;
        case -ECHILD:
                name = CKPT_ERR_PROCESS_EXITED;
                json_object_object_add(p, "pid", json_object_new_int(pid));
                break;
        case -EPERM:
        case -EACCES:
                name = CKPT_ERR_PERMISSION_DENIED;
                break;
        case -EBUSY:
                name = CKPT_ERR_PROCESS_BUSY;
                json_object_object_add(p, "pid", json_object_new_int(pid));
                break;
        case -ENOENT:
                if (id) {
                        name = CKPT_ERR_NO_SUCH_CHECKPOINT;
                        json_object_object_add(p, "id", json_uint(id));
                } else
                        name = CKPT_ERR_FAILED;
                break;
        case -EBADMSG:
        case -EUCLEAN: /* in the catalog, its manifest file missing */
                name = CKPT_ERR_CORRUPT;
                json_object_object_add(p, "what", json_object_new_string(reason));
                break;
        case -ENOSPC:
        case -EDQUOT:
        case -EIO:
        case -EROFS:
        case -ENOMEM:
                name = CKPT_ERR_STORE;
                break;
        case -ECANCELED:
                name = CKPT_ERR_SHUTTING_DOWN;
                break;
        case -EINVAL:
        case -ERANGE:
                name = CKPT_ERR_INVALID_RANGE;
                json_object_object_add(p, "range", json_object_new_string(""));
                break;
        case -ENOTRECOVERABLE:
                name = CKPT_ERR_SHAPE;
                break;
        case -ESTALE:
                name = CKPT_ERR_FAILED;
                break;
        default:
                name = CKPT_ERR_FAILED;
        }
        json_object_object_add(p, "reason", json_object_new_string(reason));
        return name;
}

static void reply_errno(struct call *c, int r, pid_t pid, uint64_t id, const char *detail)
{
        struct json_object *p = json_object_new_object();
        char reason[512];

        error_reason(reason, sizeof(reason), detail, r);
        call_error(c, error_of(r, pid, id, reason, p), p);
}

/* The protocol error name of r, for the counters (stats.h). */
static const char *error_name(int r)
{
        _cleanup_(json_object_putp) struct json_object *p = json_object_new_object();

        return error_of(r, 0, 0, "", p);
}

/* A parse step's refusal (params.h), answered with its protocol error. */
static void reply_params_error(struct call *c, int r, const struct params_error *err)
{
        struct json_object *p;

        if (r == -ENOMEM) {
                reply_errno(c, r, 0, 0, "");
                return;
        }
        switch (err->fault) {
        case PARAMS_INVALID_PARAMETER:
                p = json_object_new_object();
                json_object_object_add(p, "parameter", json_object_new_string(err->parameter));
                call_error(c, VARLINK_ERR_INVALID_PARAMETER, p);
                break;
        case PARAMS_INVALID_RANGE:
                p = json_object_new_object();
                json_object_object_add(p, "range", json_object_new_string(err->range));
                json_object_object_add(p, "reason", json_object_new_string(err->reason));
                call_error(c, CKPT_ERR_INVALID_RANGE, p);
                break;
        case PARAMS_TOO_MANY_RANGES:
                call_errorf(c, CKPT_ERR_INVALID_RANGE, "reason", "at most %d ranges",
                            CKPT_MAX_RANGES);
                break;
        }
}

/* Run the parse step fn(params..., &error) (params.h): on a refusal, answer
 * it and return from the method. */
#define PARSE(c, fn, ...)                                                                          \
        do {                                                                                       \
                struct params_error _err_;                                                         \
                int _r_ = fn(__VA_ARGS__, &_err_);                                                 \
                if (_r_ < 0) {                                                                     \
                        reply_params_error(c, _r_, &_err_);                                        \
                        return;                                                                    \
                }                                                                                  \
        } while (0)

/* ---- rights ---------------------------------------------------------------- */

static bool may_access_uid(struct call *c, uid_t owner)
{
        return call_uid(c) == 0 || call_uid(c) == owner;
}

/* Look up a checkpoint the caller may see: replies and returns <0 otherwise.
 * Another user's checkpoint is reported as absent, not as forbidden. */
static int get_entry(struct manager *m, struct call *c, uint64_t id, struct store_catalog_entry *e)
{
        int r = store_get_entry(m->store, id, e);

        if (r == 0 && !may_access_uid(c, e->uid))
                r = -ENOENT;
        if (r < 0)
                reply_errno(c, r, 0, id, "");
        return r;
}

static struct access_caller caller_of(const struct call *c)
{
        return access_caller_make(call_uid(c), call_gid(c));
}

/* May the caller act on live process pid (access.h)? Replies and returns <0
 * otherwise. The engine checks again once the process is frozen. */
static int check_process(struct call *c, pid_t pid)
{
        struct access_caller who = caller_of(c);
        char reason[256];
        int r = access_check_process(&who, -EBADF, pid, NULL, reason, sizeof(reason));

        if (r == -EPERM)
                call_errorf(c, CKPT_ERR_PERMISSION_DENIED, "reason", "%s", reason);
        else if (r < 0)
                reply_errno(c, r, pid, 0, r == -ESRCH ? "" : reason);
        return r;
}

/* ---- org.varlink.service -------------------------------------------------- */

static void method_get_info(struct manager *m, struct call *c, struct json_object *params)
{
        struct json_object *p, *ifs;

        PARSE(c, params_none, params);
        p = json_object_new_object();
        ifs = json_object_new_array();
        json_object_array_add(ifs, json_object_new_string("org.varlink.service"));
        json_object_array_add(ifs, json_object_new_string(CKPT_INTERFACE));
        json_object_object_add(p, "vendor", json_object_new_string("ckptd"));
        json_object_object_add(p, "product", json_object_new_string("ckptd"));
        json_object_object_add(p, "version", json_object_new_string(CKPT_VERSION));
        json_object_object_add(p, "url", json_object_new_string(""));
        json_object_object_add(p, "interfaces", ifs);
        call_reply(c, p);
}

static void method_get_interface_description(struct manager *m, struct call *c,
                                             struct json_object *params)
{
        struct json_object *p;
        const char *name;

        PARSE(c, params_interface, params, &name);
        if (strcmp(name, CKPT_INTERFACE) != 0 && strcmp(name, "org.varlink.service") != 0) {
                p = json_object_new_object();
                json_object_object_add(p, "interface", json_object_new_string(name));
                call_error(c, VARLINK_ERR_INTERFACE_NOT_FOUND, p);
                return;
        }
        p = json_object_new_object();
        json_object_object_add(p, "description",
                               json_object_new_string(strcmp(name, CKPT_INTERFACE) == 0
                                                              ? interface_description
                                                              : varlink_service_description));
        call_reply(c, p);
}

/* ---- io.ckptd: status and catalog ------------------------------------------ */

static double ns_to_ms(uint64_t ns)
{
        return ns / 1e6;
}

static struct json_object *summary_to_json(const struct store_catalog_entry *e)
{
        struct json_object *o = json_object_new_object();

        json_object_object_add(o, "id", json_uint(e->id));
        json_object_object_add(o, "parent", e->parent ? json_uint(e->parent) : NULL);
        json_object_object_add(o, "pid", json_object_new_int(e->pid));
        json_object_object_add(
                o, "comm", json_object_new_string_len(e->comm, strnlen(e->comm, sizeof(e->comm))));
        json_object_object_add(o, "uid", json_object_new_int64(e->uid));
        json_object_object_add(o, "time", json_time_ns(e->time_ns));
        json_object_object_add(
                o, "kind",
                json_object_new_string(e->kind == CKPT_MANIFEST_FULL ? "full" : "delta"));
        json_object_object_add(o, "incremental",
                               json_object_new_boolean(!(e->flags & CKPT_MF_FULL_READ)));
        json_object_object_add(o, "pages", json_uint(e->pages_total));
        json_object_object_add(o, "pages_read", json_uint(e->pages_read));
        json_object_object_add(o, "bytes_stored", json_uint(e->bytes_stored));
        json_object_object_add(o, "pause_ms", json_object_new_double(ns_to_ms(e->pause_ns)));
        json_object_object_add(o, "duration_ms", json_object_new_double(ns_to_ms(e->duration_ns)));
        json_object_object_add(o, "regions", json_uint(e->n_regions));
        json_object_object_add(o, "group", e->group ? json_uint(e->group) : NULL);
        json_object_object_add(o, "group_pause_ms",
                               e->group ? json_object_new_double(ns_to_ms(e->group_pause_ns))
                                        : NULL);
        return o;
}

/* The store's figures for a caller other than root: those of its own
 * checkpoints only (objects are shared between checkpoints: not counted). */
static void own_store_stats(struct manager *m, uid_t uid, struct store_stats *ret)
{
        _cleanup_free_ struct store_catalog_entry *list = NULL;
        size_t n = 0;

        if (store_list(m->store, &list, &n) < 0)
                return;
        for (size_t i = 0; i < n; i++)
                if (list[i].uid == uid) {
                        ret->checkpoints++;
                        ret->stored_bytes += list[i].bytes_stored;
                        ret->logical_bytes += list[i].data_pages * PAGE_SIZE_4K;
                }
}

static void add_process_json(const struct scheduler_process *sp, void *userdata)
{
        struct json_object *a = userdata, *o = json_object_new_object();

        json_object_object_add(o, "pid", json_object_new_int(sp->pid));
        json_object_object_add(o, "comm", json_object_new_string(sp->comm));
        json_object_object_add(o, "uid", json_object_new_int64(sp->uid));
        json_object_object_add(o, "tracking", json_object_new_string(sp->tracking));
        json_object_object_add(o, "policy", sp->policy ? json_object_new_string(sp->policy) : NULL);
        json_object_object_add(o, "group", sp->group ? json_object_new_int(sp->group) : NULL);
        json_object_object_add(o, "dirty_pages", json_uint(sp->dirty_pages));
        json_object_object_add(o, "writable_pages", json_uint(sp->writable_pages));
        json_object_object_add(o, "write_faults", json_uint(sp->write_faults));
        json_object_object_add(o, "last_checkpoint", sp->last_id ? json_uint(sp->last_id) : NULL);
        json_object_object_add(o, "last_pause_ms",
                               sp->last_id ? json_object_new_double(sp->last_pause_ms) : NULL);
        json_object_object_add(o, "next_due",
                               sp->next_due_ns ? json_time_ns(sp->next_due_ns) : NULL);
        json_object_object_add(o, "late", json_uint(sp->late));
        json_object_object_add(o, "note", sp->note[0] ? json_object_new_string(sp->note) : NULL);
        json_object_array_add(a, o);
}

/* Status: one object per tracked process the caller may see (scheduler.h). */
static struct json_object *processes_json(struct manager *m, const struct access_caller *caller)
{
        struct json_object *a = json_object_new_array();

        scheduler_foreach_process(m->scheduler, caller, add_process_json, a);
        return a;
}

/* The server's limits, and the scheduler's share of tracked processes. */
static struct json_object *limits_json(struct manager *m)
{
        struct json_object *a = server_limits_json(m->server), *l = json_object_new_object();

        json_object_object_add(l, "limit", json_object_new_int64(m->opts.max_tracked_per_uid));
        json_object_object_add(
                l, "hit",
                json_object_new_int64((int64_t)scheduler_tracked_per_uid_hits(m->scheduler)));
        json_object_object_add(a, CKPT_LIMIT_TRACKED_PER_UID, l);
        l = json_object_new_object();
        json_object_object_add(l, "limit", json_object_new_int64(m->opts.max_watchers_per_uid));
        json_object_object_add(l, "hit",
                               json_object_new_int64((int64_t)watchers_refused(m->watchers)));
        json_object_object_add(a, CKPT_LIMIT_WATCHERS_PER_UID, l);
        return a;
}

/* What the daemon keeps in memory between checkpoints, against its budgets. */
static struct json_object *memory_json(struct manager *m)
{
        struct json_object *o = json_object_new_object();
        uint64_t cache = 0;
        size_t n = 0;

        lastcopy_usage(&cache, &n);
        json_object_object_add(o, "copy_buffers", json_uint(checkpoint_buffers_held()));
        json_object_object_add(o, "copy_buffer_budget", json_uint(m->opts.copy_buffer));
        json_object_object_add(o, "copy_cache", json_uint(cache));
        json_object_object_add(o, "copy_cache_budget", json_uint(m->opts.copy_cache));
        return o;
}

static void method_get_status(struct manager *m, struct call *c, struct json_object *params)
{
        struct json_object *p, *st, *tr;
        struct access_caller who = caller_of(c);
        struct store_stats ss = {};
        uint64_t now;

        /* Checked before anything is built: a refused call leaks nothing. */
        PARSE(c, params_none, params);
        p = json_object_new_object();
        st = json_object_new_object();
        tr = json_object_new_array();
        now = now_usec(CLOCK_MONOTONIC);

        /* The whole store is root's to see; others see their own part. */
        if (who.uid == 0)
                (void)store_stats(m->store, &ss);
        else {
                struct store_stats all = {};

                (void)store_stats(m->store, &all);
                ss.threads = all.threads;
                own_store_stats(m, who.uid, &ss);
        }
        json_object_object_add(st, "path",
                               who.uid == 0 ? json_object_new_string(m->opts.state_dir) : NULL);
        json_object_object_add(st, "objects", json_uint(ss.objects));
        json_object_object_add(st, "stored_bytes", json_uint(ss.stored_bytes));
        json_object_object_add(st, "logical_bytes", json_uint(ss.logical_bytes));
        json_object_object_add(
                st, "dedup_ratio",
                json_object_new_double(ss.stored_bytes ? (double)ss.logical_bytes / ss.stored_bytes
                                                       : 0.0));
        json_object_object_add(st, "checkpoints", json_uint(ss.checkpoints));
        json_object_object_add(st, "threads", json_uint(ss.threads));

        if (m->tracker && tracker_bpf_mode(m->tracker) &&
            strcmp(tracker_bpf_mode(m->tracker), "none") != 0)
                json_object_array_add(tr, json_object_new_string("bpf"));
        json_object_array_add(tr, json_object_new_string("uffd-wp"));
        json_object_array_add(tr, json_object_new_string("scan"));

        json_object_object_add(p, "version", json_object_new_string(CKPT_VERSION));
        json_object_object_add(p, "uptime_sec",
                               json_object_new_double((now - m->start_usec) / 1e6));
        json_object_object_add(
                p, "bpf_mode",
                json_object_new_string(m->tracker ? tracker_bpf_mode(m->tracker) : "none"));
        json_object_object_add(
                p, "bpf_hooks_attached",
                json_object_new_boolean(m->tracker && tracker_hooks_attached(m->tracker)));
        json_object_object_add(p, "tracking", tr);
        json_object_object_add(p, "store_nice", json_object_new_int(m->priority.nice));
        json_object_object_add(p, "store_idle", json_object_new_boolean(m->priority.idle));
        json_object_object_add(p, "store", st);
        json_object_object_add(p, "memory", memory_json(m));
        json_object_object_add(p, "processes", processes_json(m, &who));
        json_object_object_add(p, "limits", limits_json(m));
        call_reply(c, p);
}

/* The daemon's counters since it started (stats.h) and the limits: root's
 * to read, as they count every caller's checkpoints. */
static void method_get_metrics(struct manager *m, struct call *c, struct json_object *params)
{
        struct json_object *p;

        PARSE(c, params_none, params);
        if (call_uid(c) != 0) {
                call_errorf(c, CKPT_ERR_PERMISSION_DENIED, "reason",
                            "the daemon's counters are root's to read");
                return;
        }
        p = json_object_new_object();
        json_object_object_add(
                p, "uptime_sec",
                json_object_new_double((now_usec(CLOCK_MONOTONIC) - m->start_usec) / 1e6));
        stats_add_json(&m->stats, p);
        json_object_object_add(p, "tracked_processes",
                               json_uint(scheduler_n_tracked(m->scheduler)));
        json_object_object_add(p, "watchers", json_uint(watchers_count(m->watchers)));
        json_object_object_add(p, "limits", limits_json(m));
        call_reply(c, p);
}

/* ---- io.ckptd.WatchProcesses --------------------------------------------- */

static void add_watched_json(const struct scheduler_process *sp, void *userdata)
{
        struct json_object *a = userdata, *o = json_object_new_object();
        uint64_t rt = now_ns(CLOCK_REALTIME);

        json_object_object_add(o, "pid", json_object_new_int(sp->pid));
        json_object_object_add(o, "comm", json_object_new_string(sp->comm));
        json_object_object_add(o, "uid", json_object_new_int64(sp->uid));
        json_object_object_add(o, "tracking", json_object_new_string(sp->tracking));
        json_object_object_add(o, "policy", sp->policy ? json_object_new_string(sp->policy) : NULL);
        json_object_object_add(o, "dirty_pages", json_uint(sp->dirty_pages));
        json_object_object_add(o, "writable_pages", json_uint(sp->writable_pages));
        json_object_object_add(o, "write_faults", json_uint(sp->write_faults));
        json_object_object_add(o, "group", sp->group ? json_object_new_int(sp->group) : NULL);
        json_object_object_add(o, "checkpoints", json_uint(sp->checkpoints));
        json_object_object_add(o, "stored_bytes", json_uint(sp->stored_bytes));
        json_object_object_add(o, "last_checkpoint", sp->last_id ? json_uint(sp->last_id) : NULL);
        json_object_object_add(o, "last_pause_ms",
                               sp->last_id ? json_object_new_double(sp->last_pause_ms) : NULL);
        json_object_object_add(
                o, "next_due_sec",
                sp->next_due_ns ? json_object_new_double(
                                          sp->next_due_ns > rt ? (sp->next_due_ns - rt) / 1e9 : 0.0)
                                : NULL);
        json_object_object_add(o, "note", sp->note[0] ? json_object_new_string(sp->note) : NULL);
        json_object_array_add(a, o);
}

/* One reply of WatchProcesses: what the caller may see now. */
static struct json_object *watch_frame(struct call *c, void *userdata)
{
        struct manager *m = userdata;
        struct access_caller who = caller_of(c);
        struct json_object *p = json_object_new_object(), *a = json_object_new_array(), *st = NULL;

        if (who.uid == 0) {
                struct store_stats ss = {};

                (void)store_stats(m->store, &ss);
                st = json_object_new_object();
                json_object_object_add(st, "checkpoints", json_uint(ss.checkpoints));
                json_object_object_add(st, "objects", json_uint(ss.objects));
                json_object_object_add(st, "stored_bytes", json_uint(ss.stored_bytes));
        }
        scheduler_foreach_process(m->scheduler, &who, add_watched_json, a);
        json_object_object_add(
                p, "uptime_sec",
                json_object_new_double((now_usec(CLOCK_MONOTONIC) - m->start_usec) / 1e6));
        json_object_object_add(p, "store", st);
        json_object_object_add(p, "processes", a);
        return p;
}

static void method_watch_processes(struct manager *m, struct call *c, struct json_object *params)
{
        uint64_t ms;
        int r;

        PARSE(c, params_watch, params, &ms);
        r = watchers_add(m->watchers, c, ms * 1000, watch_frame, m);
        if (r < 0 && r != -EUSERS)
                reply_errno(c, r, 0, 0, "cannot watch");
}

static void method_list(struct manager *m, struct call *c, struct json_object *params)
{
        _cleanup_free_ struct store_catalog_entry *list = NULL;
        struct json_object *a, *p;
        pid_t pid;
        size_t n = 0;
        int r;

        PARSE(c, params_list, params, &pid);

        r = store_list(m->store, &list, &n);
        if (r < 0) {
                reply_errno(c, r, 0, 0, "cannot read the catalog");
                return;
        }
        a = json_object_new_array();
        for (size_t i = 0; i < n; i++) {
                if (!may_access_uid(c, list[i].uid) || (pid && list[i].pid != pid))
                        continue;
                json_object_array_add(a, summary_to_json(&list[i]));
        }
        p = json_object_new_object();
        json_object_object_add(p, "checkpoints", a);
        call_reply(c, p);
}

static const char *prot_string(uint32_t prot, char buf[4])
{
        buf[0] = prot & 1 ? 'r' : '-';
        buf[1] = prot & 2 ? 'w' : '-';
        buf[2] = prot & 4 ? 'x' : '-';
        buf[3] = '\0';
        return buf;
}

static struct json_object *region_flags_json(uint32_t f)
{
        static const struct {
                uint32_t bit;
                const char *name;
        } names[] = {
                {CKPT_REGION_PRIVATE, "private"},       {CKPT_REGION_SHARED, "shared"},
                {CKPT_REGION_ANON, "anonymous"},        {CKPT_REGION_FILE, "file"},
                {CKPT_REGION_REF, "reference"},         {CKPT_REGION_HEAP, "heap"},
                {CKPT_REGION_STACK, "stack"},           {CKPT_REGION_SPECIAL, "special"},
                {CKPT_REGION_UNREADABLE, "unreadable"},
        };
        struct json_object *a = json_object_new_array();

        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                if (f & names[i].bit)
                        json_object_array_add(a, json_object_new_string(names[i].name));
        return a;
}

static void method_show(struct manager *m, struct call *c, struct json_object *params)
{
        _cleanup_(manifest_freep) struct ckpt_manifest *view = NULL;
        struct json_object *p, *regions, *threads;
        struct store_catalog_entry e;
        uint64_t id;
        size_t pi = 0;
        int r;

        PARSE(c, params_id, params, &id);
        if (get_entry(m, c, id, &e) < 0)
                return;
        r = store_view(m->store, id, &view);
        if (r < 0) {
                char what[128];

                snprintf(what, sizeof(what),
                         r == -EUCLEAN ? "checkpoint %llu is damaged: its manifest file "
                                         "'manifests/%020llu' is missing"
                                       : "cannot read the checkpoint",
                         (unsigned long long)id, (unsigned long long)id);
                reply_errno(c, r, 0, id, what);
                return;
        }

        regions = json_object_new_array();
        for (size_t i = 0; i < view->n_regions; i++) {
                const struct ckpt_region *rg = &view->regions[i];
                struct json_object *o = json_object_new_object();
                uint64_t data = 0;
                char prot[4], why[96];

                /* pages[] and regions[] are both sorted: one pass. */
                while (pi < view->n_pages && view->pages[pi].addr < rg->start)
                        pi++;
                for (; pi < view->n_pages && view->pages[pi].addr < rg->end; pi++)
                        if (view->pages[pi].kind == CKPT_PAGE_DATA)
                                data++;

                json_object_object_add(o, "start", json_hex(rg->start));
                json_object_object_add(o, "end", json_hex(rg->end));
                json_object_object_add(o, "prot",
                                       json_object_new_string(prot_string(rg->prot, prot)));
                json_object_object_add(o, "flags", region_flags_json(rg->flags));
                json_object_object_add(o, "path",
                                       rg->path ? json_object_new_string(rg->path) : NULL);
                json_object_object_add(o, "offset", json_hex(rg->offset));
                json_object_object_add(
                        o, "tracking",
                        json_object_new_string(ckpt_track_mode_to_string(rg->track)));
                json_object_object_add(
                        o, "tracking_reason",
                        rg->reason ? json_object_new_string(ckpt_track_reason_format(
                                             rg->reason, rg->reason_arg, why, sizeof(why)))
                                   : NULL);
                json_object_object_add(o, "pages", json_uint((rg->end - rg->start) / 4096));
                json_object_object_add(o, "data_pages", json_uint(data));
                json_object_array_add(regions, o);
        }

        threads = json_object_new_array();
        for (size_t i = 0; i < view->n_threads; i++) {
                const struct ckpt_thread *t = &view->threads[i];
                struct json_object *o = json_object_new_object();
                struct user_regs_struct regs = {};

                memcpy(&regs, t->regs, MIN((size_t)t->regs_size, sizeof(regs)));
                json_object_object_add(o, "tid", json_object_new_int(t->tid));
                json_object_object_add(o, "rip", json_hex(regs.rip));
                json_object_object_add(o, "rsp", json_hex(regs.rsp));
                json_object_array_add(threads, o);
        }

        p = json_object_new_object();
        json_object_object_add(p, "checkpoint", summary_to_json(&e));
        json_object_object_add(p, "ranges", ranges_to_json(view->ranges, view->n_ranges));
        json_object_object_add(p, "regions", regions);
        json_object_object_add(p, "threads", threads);
        call_reply(c, p);
}

/* ---- io.ckptd.Checkpoint --------------------------------------------------- */

struct checkpoint_job {
        struct job job;
        struct manager *m;
        struct call *call;
        struct checkpoint_request req;
        struct ckpt_range *ranges;
        struct checkpoint_result res;
        struct progress progress; /* of the pages stored, for a call with more */
};

static void checkpoint_job_run(struct job *j)
{
        struct checkpoint_job *cj = (struct checkpoint_job *)j;

        log_set_fields(cj->req.pid, 0);
        j->result = checkpoint_run(cj->m->store, &cj->req, &cj->res);
        log_set_fields(0, 0);
}

static void checkpoint_job_done(struct job *j)
{
        struct checkpoint_job *cj = (struct checkpoint_job *)j;
        struct checkpoint_result *res = &cj->res;
        struct manager *m = cj->m;

        progress_stop(&cj->progress);

        if (j->result < 0) {
                int r = j->result;
                char reason[512];

                m->n_failed++;
                /* It was there when the call came: it went away meanwhile. */
                if (r == -ESRCH)
                        r = -ECHILD;
                stats_checkpoint_failed(&m->stats, error_name(r));
                log_set_fields(cj->req.pid, 0);
                log_warning_errno(j->result, "Checkpoint of pid %d failed: %s", cj->req.pid,
                                  error_reason(reason, sizeof(reason), res->error, j->result));
                log_set_fields(0, 0);
                if (cj->call)
                        reply_errno(cj->call, r, cj->req.pid, 0, res->error);
        } else {
                struct json_object *p = json_object_new_object();

                m->n_checkpoints++;
                stats_checkpoint_done(&m->stats, res->pause_ns, res->duration_ns, res->pages_read,
                                      res->bytes_stored, res->incremental);
                m->last_id = res->id;
                m->last_pid = cj->req.pid;
                log_set_fields(cj->req.pid, res->id);
                log_info("Checkpoint %llu of pid %d: %llu pages, %llu read, %llu bytes stored, "
                         "pause %.2f ms",
                         (unsigned long long)res->id, cj->req.pid, (unsigned long long)res->pages,
                         (unsigned long long)res->pages_read, (unsigned long long)res->bytes_stored,
                         ns_to_ms(res->pause_ns));
                log_set_fields(0, 0);
                json_object_object_add(p, "id", json_uint(res->id));
                json_object_object_add(p, "pid", json_object_new_int(cj->req.pid));
                json_object_object_add(p, "parent", res->parent ? json_uint(res->parent) : NULL);
                json_object_object_add(p, "incremental", json_object_new_boolean(res->incremental));
                json_object_object_add(p, "pages", json_uint(res->pages));
                json_object_object_add(p, "pages_read", json_uint(res->pages_read));
                json_object_object_add(p, "pages_unchanged", json_uint(res->pages_unchanged));
                json_object_object_add(p, "bytes_stored", json_uint(res->bytes_stored));
                json_object_object_add(p, "pause_ms",
                                       json_object_new_double(ns_to_ms(res->pause_ns)));
                json_object_object_add(p, "duration_ms",
                                       json_object_new_double(ns_to_ms(res->duration_ns)));
                json_object_object_add(p, "skipped", ranges_to_json(res->skipped, res->n_skipped));
                if (cj->call)
                        call_reply(cj->call, p);
                else
                        json_object_put(p);
        }
        scheduler_checkpoint_done(m->scheduler, cj->req.pid, j->result, res);
        checkpoint_result_done(res);
        call_unref(cj->call);
        free(cj->ranges);
        free(cj);
        manager_job_finished(m);
}

int methods_submit_checkpoint(struct manager *m, struct call *c,
                              const struct checkpoint_request *req)
{
        struct checkpoint_job *cj = calloc(1, sizeof(*cj));

        if (!cj)
                return -ENOMEM;
        cj->m = m;
        cj->call = c ? call_ref(c) : NULL;
        cj->req = *req;
        if (req->n_ranges) {
                cj->ranges = calloc(req->n_ranges, sizeof(*cj->ranges));
                if (!cj->ranges) {
                        call_unref(cj->call);
                        free(cj);
                        return -ENOMEM;
                }
                memcpy(cj->ranges, req->ranges, req->n_ranges * sizeof(*cj->ranges));
        }
        cj->req.ranges = cj->ranges;
        cj->req.tracker = m->tracker;
        cj->req.cancel = &m->cancel;
        cj->req.priority = m->priority;
        cj->req.buffer_budget = m->opts.copy_buffer ?: 1; /* --copy-buffer 0: keep none */
        progress_start(&cj->progress, m->event, cj->call, "store");
        if (cj->progress.call) {
                cj->req.progress = progress_update;
                cj->req.progress_userdata = &cj->progress;
        }
        cj->job = (struct job){
                .run = checkpoint_job_run, .done = checkpoint_job_done, .key = req->pid};
        workers_submit(m->workers, &cj->job);
        return 0;
}

static void method_checkpoint(struct manager *m, struct call *c, struct json_object *params)
{
        struct params_checkpoint pc;
        struct checkpoint_request req;
        int r;

        PARSE(c, params_checkpoint, params, &pc);
        _cleanup_free_ struct ckpt_range *ranges = pc.ranges;
        r = check_process(c, pc.pid);
        if (r < 0) {
                stats_checkpoint_failed(&m->stats, error_name(r));
                return;
        }

        req = (struct checkpoint_request){
                .pid = pc.pid,
                .caller = caller_of(c),
                .full = pc.full,
                .all = pc.all,
                .ranges = ranges,
                .n_ranges = pc.n_ranges,
        };
        r = methods_submit_checkpoint(m, c, &req);
        if (r < 0) {
                stats_checkpoint_failed(&m->stats, error_name(r));
                reply_errno(c, r, pc.pid, 0, "");
        }
}

/* ---- io.ckptd.CheckpointGroup ---------------------------------------------- */

struct group_job {
        struct job job;
        struct manager *m;
        struct call *call;
        struct checkpoint_group_request req;
        pid_t *pids;
        char *cgroup;
        struct checkpoint_group_result res;
};

static void group_job_run(struct job *j)
{
        struct group_job *gj = (struct group_job *)j;

        log_set_fields(gj->req.base.pid, 0);
        j->result = checkpoint_run_group(gj->m->store, &gj->req, &gj->res);
        log_set_fields(0, 0);
}

static struct json_object *member_json(const struct checkpoint_member *mb)
{
        const struct checkpoint_result *res = &mb->res;
        struct json_object *o = json_object_new_object();
        bool done = mb->result >= 0;

        json_object_object_add(o, "pid", json_object_new_int(mb->pid));
        json_object_object_add(o, "id", done ? json_uint(res->id) : NULL);
        json_object_object_add(o, "parent", done && res->parent ? json_uint(res->parent) : NULL);
        json_object_object_add(o, "incremental", json_object_new_boolean(done && res->incremental));
        json_object_object_add(o, "armed", json_object_new_boolean(mb->armed));
        json_object_object_add(o, "pages", json_uint(done ? res->pages : 0));
        json_object_object_add(o, "pages_read", json_uint(done ? res->pages_read : 0));
        json_object_object_add(o, "pages_unchanged", json_uint(done ? res->pages_unchanged : 0));
        json_object_object_add(o, "bytes_stored", json_uint(done ? res->bytes_stored : 0));
        json_object_object_add(o, "pause_ms", json_object_new_double(ns_to_ms(res->pause_ns)));
        json_object_object_add(o, "duration_ms",
                               json_object_new_double(ns_to_ms(res->duration_ns)));
        json_object_object_add(
                o, "error",
                done ? NULL
                     : json_object_new_string(res->error[0] ? res->error : strerror(-mb->result)));
        return o;
}

static struct json_object *group_json(pid_t root, const char *cgroup,
                                      const struct checkpoint_group_result *res)
{
        struct json_object *p = json_object_new_object(), *a = json_object_new_array();

        for (size_t i = 0; i < res->n_members; i++)
                json_object_array_add(a, member_json(&res->members[i]));
        json_object_object_add(p, "id", json_uint(res->id));
        json_object_object_add(p, "pid", root ? json_object_new_int(root) : NULL);
        json_object_object_add(p, "cgroup", cgroup ? json_object_new_string(cgroup) : NULL);
        json_object_object_add(p, "pages", json_uint(res->pages));
        json_object_object_add(p, "pages_read", json_uint(res->pages_read));
        json_object_object_add(p, "bytes_stored", json_uint(res->bytes_stored));
        json_object_object_add(p, "pause_ms", json_object_new_double(ns_to_ms(res->pause_ns)));
        json_object_object_add(p, "duration_ms",
                               json_object_new_double(ns_to_ms(res->duration_ns)));
        json_object_object_add(p, "members", a);
        return p;
}

static void group_job_done(struct job *j)
{
        struct group_job *gj = (struct group_job *)j;
        struct checkpoint_group_result *res = &gj->res;
        struct manager *m = gj->m;
        pid_t root = gj->req.base.pid;
        char reason[512];

        log_set_fields(root, 0);
        if (j->result < 0) {
                m->n_failed++;
                stats_checkpoint_failed(
                        &m->stats, j->result == -E2BIG
                                           ? CKPT_ERR_TOO_MANY
                                           : error_name(j->result == -ESRCH ? -ECHILD : j->result));
                log_warning_errno(j->result, "Group checkpoint of %s%.0d failed: %s",
                                  gj->cgroup ? gj->cgroup : "the tree of ",
                                  gj->cgroup ? 0 : (int)root,
                                  error_reason(reason, sizeof(reason), res->error, j->result));
                if (gj->call && j->result == -E2BIG)
                        call_error(gj->call, CKPT_ERR_TOO_MANY,
                                   server_limit_params(CKPT_LIMIT_GROUP_MEMBERS,
                                                       gj->req.max_members ? gj->req.max_members
                                                                           : CKPT_MAX_GROUP_MEMBERS,
                                                       res->error));
                else if (gj->call)
                        reply_errno(gj->call,
                                    j->result == -ESRCH && !gj->cgroup ? -ECHILD : j->result, root,
                                    0, res->error);
        } else {
                m->stats.groups++;
                for (size_t i = 0; i < res->n_members; i++)
                        if (res->members[i].result >= 0) {
                                const struct checkpoint_result *mr = &res->members[i].res;

                                stats_checkpoint_done(&m->stats, mr->pause_ns, mr->duration_ns,
                                                      mr->pages_read, mr->bytes_stored,
                                                      mr->incremental);
                                m->n_checkpoints++;
                                m->last_id = res->members[i].res.id;
                                m->last_pid = res->members[i].pid;
                        }
                log_info("Group checkpoint %llu of %s%.0d: %zu processes, %llu pages read, "
                         "%llu bytes stored, pause %.2f ms",
                         (unsigned long long)res->id, gj->cgroup ? gj->cgroup : "the tree of ",
                         gj->cgroup ? 0 : (int)root, res->n_members,
                         (unsigned long long)res->pages_read, (unsigned long long)res->bytes_stored,
                         ns_to_ms(res->pause_ns));
                if (gj->call)
                        call_reply(gj->call, group_json(root, gj->cgroup, res));
        }
        log_set_fields(0, 0);
        scheduler_group_done(m->scheduler, &gj->req, j->result, res);
        checkpoint_group_result_done(res);
        call_unref(gj->call);
        free(gj->pids);
        free(gj->cgroup);
        free(gj);
        manager_job_finished(m);
}

int methods_submit_group(struct manager *m, struct call *c,
                         const struct checkpoint_group_request *req)
{
        struct group_job *gj = calloc(1, sizeof(*gj));

        if (!gj)
                return -ENOMEM;
        gj->req = *req;
        if (req->n_pids) {
                gj->pids = calloc(req->n_pids, sizeof(*gj->pids));
                if (!gj->pids) {
                        free(gj);
                        return -ENOMEM;
                }
                memcpy(gj->pids, req->pids, req->n_pids * sizeof(*gj->pids));
        }
        if (req->cgroup) {
                gj->cgroup = strdup(req->cgroup);
                if (!gj->cgroup) {
                        free(gj->pids);
                        free(gj);
                        return -ENOMEM;
                }
        }
        gj->m = m;
        gj->call = c ? call_ref(c) : NULL;
        gj->req.pids = gj->pids;
        gj->req.cgroup = gj->cgroup;
        gj->req.base.ranges = NULL;
        gj->req.base.n_ranges = 0;
        gj->req.base.tracker = m->tracker;
        gj->req.base.cancel = &m->cancel;
        gj->req.base.priority = m->priority;
        gj->req.base.buffer_budget = m->opts.copy_buffer ?: 1;
        gj->job = (struct job){.run = group_job_run, .done = group_job_done, .key = req->base.pid};
        workers_submit(m->workers, &gj->job);
        return 0;
}

static void method_checkpoint_group(struct manager *m, struct call *c, struct json_object *params)
{
        struct params_checkpoint_group pg;
        struct checkpoint_group_request req;
        _cleanup_free_ pid_t *pids = NULL;
        int r;

        PARSE(c, params_checkpoint_group, params, &pg);
        /* A cgroup's members are checked one by one by the engine. */
        if (!pg.cgroup && check_process(c, pg.tree) < 0)
                return;
        req = (struct checkpoint_group_request){
                .base = {.pid = pg.tree, .caller = caller_of(c), .full = pg.full, .all = pg.all},
                .cgroup = pg.cgroup,
        };
        r = scheduler_prepare_group(m->scheduler, &req, &pids);
        if (r >= 0)
                r = methods_submit_group(m, c, &req);
        if (r < 0)
                reply_errno(c, r, pg.tree, 0, "");
}

/* ---- io.ckptd.Export ------------------------------------------------------- */

struct export_job {
        struct job job;
        struct manager *m;
        struct call *call;
        uint64_t id;
        int fd;
        struct ckpt_range *ranges;
        size_t n_ranges;
        bool core;
        struct export_creds creds;
        struct export_result res;
        struct progress progress; /* pages read, for a call with more */
        struct store_progress sp;
};

static void export_job_run(struct job *j)
{
        struct export_job *ej = (struct export_job *)j;
        _cleanup_(manifest_freep) struct ckpt_manifest *view = NULL;

        j->result = store_view(ej->m->store, ej->id, &view);
        if (j->result == -EUCLEAN) {
                snprintf(ej->res.error, sizeof(ej->res.error),
                         "checkpoint %llu is damaged: its manifest file 'manifests/%020llu' is "
                         "missing",
                         (unsigned long long)ej->id, (unsigned long long)ej->id);
                return;
        }
        if (j->result < 0) {
                snprintf(ej->res.error, sizeof(ej->res.error), "cannot read checkpoint %llu",
                         (unsigned long long)ej->id);
                return;
        }
        if (ej->core)
                j->result = export_core(ej->m->store, view, ej->fd, &ej->creds,
                                        ej->sp.fn ? &ej->sp : NULL, &ej->res);
        else
                j->result = export_raw(ej->m->store, view, ej->ranges, ej->n_ranges, ej->fd,
                                       &ej->creds, ej->sp.fn ? &ej->sp : NULL, &ej->res);
}

static void export_job_done(struct job *j)
{
        struct export_job *ej = (struct export_job *)j;
        struct manager *m = ej->m;

        progress_stop(&ej->progress);
        if (j->result < 0)
                reply_errno(ej->call, j->result, 0, ej->id, ej->res.error);
        else {
                struct json_object *p = json_object_new_object();
                struct json_object *layout = json_object_new_array();
                struct json_object *written = json_object_new_array();
                struct json_object *holes = json_object_new_array();

                for (size_t i = 0; i < ej->res.n_layout; i++) {
                        const struct export_extent *x = &ej->res.layout[i];
                        struct json_object *o = range_to_json(x->start, x->end);

                        json_object_object_add(o, "offset", json_uint(x->offset));
                        json_object_array_add(layout, o);
                }
                uint64_t pages = 0;

                for (size_t i = 0; i < ej->res.n_written; i++) {
                        const struct export_run *w = &ej->res.written[i];
                        struct json_object *o;

                        pages += (w->end - w->start) / 4096;
                        if (i >= CKPT_MAX_REPLY_RUNS)
                                continue;
                        o = range_to_json(w->start, w->end);
                        json_object_object_add(o, "pages", json_uint((w->end - w->start) / 4096));
                        json_object_array_add(written, o);
                }
                json_object_object_add(p, "pages_written", json_uint(pages));
                json_object_object_add(p, "runs", json_uint(ej->res.n_written));
                json_object_object_add(p, "format",
                                       json_object_new_string(ej->core ? "core" : "raw"));
                json_object_object_add(p, "size", json_uint(ej->res.size));
                /* Pages of reference regions whose file could not be read
                 * for the caller, and why. */
                for (size_t i = 0; i < ej->res.n_holes; i++) {
                        const struct export_hole *h = &ej->res.holes[i];
                        struct json_object *o = range_to_json(h->start, h->end);

                        json_object_object_add(o, "pages", json_uint((h->end - h->start) / 4096));
                        json_object_object_add(o, "path", json_object_new_string(h->path));
                        json_object_object_add(o, "reason", json_object_new_string(h->reason));
                        json_object_array_add(holes, o);
                }
                json_object_object_add(p, "layout", layout);
                json_object_object_add(p, "written", written);
                json_object_object_add(p, "holes", holes);
                call_reply(ej->call, p);
        }
        export_result_done(&ej->res);
        free(ej->creds.groups);
        safe_close(ej->fd);
        call_unref(ej->call);
        free(ej->ranges);
        free(ej);
        manager_job_finished(m);
}

static void method_export(struct manager *m, struct call *c, struct json_object *params)
{
        _cleanup_close_ int fd = -EBADF;
        struct store_catalog_entry e;
        struct params_export pe;
        struct export_job *ej;
        char why[256];
        int kind, r;

        PARSE(c, params_export, params, &pe);
        _cleanup_free_ struct ckpt_range *ranges = pe.ranges;
        fd = call_take_fd(c, (int)pe.fd_index);
        if (fd < 0) {
                call_errorf(c, VARLINK_ERR_INVALID_PARAMETER, "parameter", "fd");
                return;
        }
        /* Only descriptors an export can write as promised: see export.h. */
        kind = export_output_kind(fd, why, sizeof(why));
        if (kind < 0) {
                call_errorf(c, CKPT_ERR_FAILED, "reason", "%s", why);
                return;
        }
        if (kind == EXPORT_OUTPUT_STREAM && pe.core) {
                call_errorf(c, CKPT_ERR_FAILED, "reason",
                            "a core file is written at offsets: it cannot go to a pipe or "
                            "another stream (raw exports can)");
                return;
        }
        if (get_entry(m, c, pe.id, &e) < 0)
                return;

        ej = calloc(1, sizeof(*ej));
        if (!ej) {
                reply_errno(c, -ENOMEM, 0, 0, "");
                return;
        }
        /* Files are read for the caller with its own credentials. */
        ej->creds.uid = call_uid(c);
        r = call_peer_groups(c, &ej->creds.gid, &ej->creds.groups, &ej->creds.n_groups);
        if (r < 0) {
                free(ej);
                reply_errno(c, r, 0, 0, "cannot read the caller's groups");
                return;
        }
        ej->m = m;
        ej->call = call_ref(c);
        ej->id = pe.id;
        ej->fd = TAKE_FD(fd);
        ej->ranges = TAKE_PTR(ranges);
        ej->n_ranges = pe.n_ranges;
        ej->core = pe.core;
        progress_start(&ej->progress, m->event, ej->call, "export");
        if (ej->progress.call)
                ej->sp = (struct store_progress){progress_update, &ej->progress};
        ej->job = (struct job){.run = export_job_run, .done = export_job_done};
        workers_submit(m->workers, &ej->job);
}

/* ---- io.ckptd.Restore ------------------------------------------------------ */

struct restore_job {
        struct job job;
        struct manager *m;
        struct call *call;
        struct restore_request req;
        struct ckpt_range *ranges;
        struct restore_result res;
        struct progress progress; /* pages of the regions compared, for a call with more */
};

static void restore_job_run(struct job *j)
{
        struct restore_job *rj = (struct restore_job *)j;

        j->result = restore_run(rj->m->store, &rj->req, &rj->res);
}

static void restore_job_done(struct job *j)
{
        struct restore_job *rj = (struct restore_job *)j;
        struct manager *m = rj->m;

        progress_stop(&rj->progress);
        if (j->result < 0) {
                char reason[512];

                log_warning_errno(j->result, "Restore of checkpoint %llu into pid %d failed: %s",
                                  (unsigned long long)rj->req.id, rj->req.pid,
                                  error_reason(reason, sizeof(reason), rj->res.error, j->result));
                reply_errno(rj->call, j->result, rj->req.pid, rj->req.id, rj->res.error);
        } else {
                struct json_object *p = json_object_new_object();

                log_info("Restored checkpoint %llu into pid %d: %llu of %llu pages compared "
                         "written, pause %.2f ms",
                         (unsigned long long)rj->req.id, rj->req.pid,
                         (unsigned long long)rj->res.pages_written,
                         (unsigned long long)rj->res.pages_compared, ns_to_ms(rj->res.pause_ns));
                json_object_object_add(p, "pages_written", json_uint(rj->res.pages_written));
                json_object_object_add(p, "pages_compared", json_uint(rj->res.pages_compared));
                json_object_object_add(p, "bytes_written", json_uint(rj->res.bytes_written));
                json_object_object_add(p, "tracked",
                                       json_object_new_boolean(rj->res.used_tracking));
                json_object_object_add(p, "pause_ms",
                                       json_object_new_double(ns_to_ms(rj->res.pause_ns)));
                call_reply(rj->call, p);
        }
        call_unref(rj->call);
        free(rj->ranges);
        free(rj);
        manager_job_finished(m);
}

static void method_restore(struct manager *m, struct call *c, struct json_object *params)
{
        struct store_catalog_entry e;
        struct params_restore pr;
        struct restore_job *rj;

        PARSE(c, params_restore, params, &pr);
        _cleanup_free_ struct ckpt_range *ranges = pr.ranges;
        if (get_entry(m, c, pr.id, &e) < 0 || check_process(c, pr.pid) < 0)
                return;

        rj = calloc(1, sizeof(*rj));
        if (!rj) {
                reply_errno(c, -ENOMEM, pr.pid, 0, "");
                return;
        }
        rj->m = m;
        rj->call = call_ref(c);
        rj->ranges = TAKE_PTR(ranges);
        rj->req = (struct restore_request){
                .id = pr.id,
                .pid = pr.pid,
                .caller = caller_of(c),
                .ranges = rj->ranges,
                .n_ranges = pr.n_ranges,
                .registers = pr.registers,
                .tracker = m->tracker,
                .cancel = &m->cancel,
        };
        progress_start(&rj->progress, m->event, rj->call, "restore");
        if (rj->progress.call) {
                rj->req.progress = progress_update;
                rj->req.progress_userdata = &rj->progress;
        }
        rj->job = (struct job){.run = restore_job_run, .done = restore_job_done, .key = pr.pid};
        workers_submit(m->workers, &rj->job);
}

/* ---- io.ckptd.RestoreGroup ------------------------------------------------- */

struct restore_group_job {
        struct job job;
        struct manager *m;
        struct call *call;
        uint64_t id;
        size_t n, failed;
        struct restore_request *reqs;
        struct restore_result *res;
};

static void restore_group_job_run(struct job *j)
{
        struct restore_group_job *rj = (struct restore_group_job *)j;

        j->result = restore_run_group(rj->m->store, rj->reqs, rj->n, rj->res, &rj->failed);
}

static void restore_group_job_done(struct job *j)
{
        struct restore_group_job *rj = (struct restore_group_job *)j;
        struct manager *m = rj->m;
        uint64_t written = 0, compared = 0, bytes = 0;
        struct json_object *p, *a;

        if (j->result < 0) {
                const struct restore_result *f = &rj->res[rj->failed];

                log_warning_errno(j->result,
                                  "Restore of group checkpoint %llu failed at pid %d: %s",
                                  (unsigned long long)rj->id, (int)rj->reqs[rj->failed].pid,
                                  f->error[0] ? f->error : "");
                if (rj->call)
                        reply_errno(rj->call, j->result, rj->reqs[rj->failed].pid, 0, f->error);
                goto out;
        }
        a = json_object_new_array();
        for (size_t i = 0; i < rj->n; i++) {
                struct json_object *o = json_object_new_object();

                json_object_object_add(o, "pid", json_object_new_int(rj->reqs[i].pid));
                json_object_object_add(o, "id", json_uint(rj->reqs[i].id));
                json_object_object_add(o, "pages_written", json_uint(rj->res[i].pages_written));
                json_object_object_add(o, "pages_compared", json_uint(rj->res[i].pages_compared));
                json_object_object_add(o, "bytes_written", json_uint(rj->res[i].bytes_written));
                json_object_array_add(a, o);
                written += rj->res[i].pages_written;
                compared += rj->res[i].pages_compared;
                bytes += rj->res[i].bytes_written;
        }
        log_info("Restored group checkpoint %llu: %zu processes, %llu of %llu pages compared "
                 "written, pause %.2f ms",
                 (unsigned long long)rj->id, rj->n, (unsigned long long)written,
                 (unsigned long long)compared, ns_to_ms(rj->res[0].pause_ns));
        p = json_object_new_object();
        json_object_object_add(p, "id", json_uint(rj->id));
        json_object_object_add(p, "pages_written", json_uint(written));
        json_object_object_add(p, "pages_compared", json_uint(compared));
        json_object_object_add(p, "bytes_written", json_uint(bytes));
        json_object_object_add(p, "pause_ms",
                               json_object_new_double(ns_to_ms(rj->res[0].pause_ns)));
        json_object_object_add(p, "members", a);
        call_reply(rj->call, p);
out:
        call_unref(rj->call);
        free(rj->reqs);
        free(rj->res);
        free(rj);
        manager_job_finished(m);
}

static void method_restore_group(struct manager *m, struct call *c, struct json_object *params)
{
        _cleanup_free_ struct store_catalog_entry *list = NULL;
        struct params_restore_group pr;
        struct restore_group_job *rj;
        size_t n = 0, k = 0;
        int r;

        PARSE(c, params_restore_group, params, &pr);
        r = store_list(m->store, &list, &n);
        if (r < 0) {
                reply_errno(c, r, 0, 0, "cannot read the catalog");
                return;
        }
        /* The members the caller may see: another user's group is absent. */
        for (size_t i = 0; i < n; i++)
                if (list[i].group == pr.id && may_access_uid(c, list[i].uid))
                        list[k++] = list[i];
        if (k == 0) {
                reply_errno(c, -ENOENT, 0, pr.id, "no such group checkpoint");
                return;
        }
        for (size_t i = 0; i < k; i++)
                if (check_process(c, list[i].pid) < 0)
                        return;
        rj = calloc(1, sizeof(*rj));
        if (rj) {
                rj->reqs = calloc(k, sizeof(*rj->reqs));
                rj->res = calloc(k, sizeof(*rj->res));
        }
        if (!rj || !rj->reqs || !rj->res) {
                if (rj) {
                        free(rj->reqs);
                        free(rj->res);
                }
                free(rj);
                reply_errno(c, -ENOMEM, 0, 0, "");
                return;
        }
        rj->m = m;
        rj->call = call_ref(c);
        rj->id = pr.id;
        rj->n = k;
        for (size_t i = 0; i < k; i++)
                rj->reqs[i] = (struct restore_request){
                        .id = list[i].id,
                        .pid = list[i].pid,
                        .caller = caller_of(c),
                        .registers = pr.registers,
                        .tracker = m->tracker,
                        .cancel = &m->cancel,
                };
        rj->job = (struct job){
                .run = restore_group_job_run, .done = restore_group_job_done, .key = list[0].pid};
        workers_submit(m->workers, &rj->job);
}

/* ---- io.ckptd.Track / Untrack ---------------------------------------------- */

/* How a Track call ended (scheduler.h): its answer. */
static void track_done(const struct scheduler_track_result *res, void *userdata)
{
        struct call *c = userdata;
        struct json_object *p;
        char reason[400];

        if (res->result == -EACCES)
                /* Refused by the access rule (access.h). */
                call_errorf(c, CKPT_ERR_PERMISSION_DENIED, "reason", "%s", res->error);
        else if (res->result == -E2BIG)
                call_error(c, CKPT_ERR_TOO_MANY,
                           server_limit_params(CKPT_LIMIT_GROUP_MEMBERS, CKPT_MAX_GROUP_MEMBERS,
                                               res->error));
        else if (res->result < 0) {
                p = json_object_new_object();
                snprintf(reason, sizeof(reason), "%s%s%s", res->error, res->error[0] ? ": " : "",
                         strerror(-res->result));
                json_object_object_add(p, "pid", json_object_new_int(res->pid));
                json_object_object_add(p, "reason", json_object_new_string(reason));
                call_error(c,
                           res->result == -ESRCH       ? CKPT_ERR_NO_SUCH_PROCESS
                           : res->result == -EBUSY     ? CKPT_ERR_PROCESS_BUSY
                           : res->result == -ECANCELED ? CKPT_ERR_SHUTTING_DOWN
                                                       : CKPT_ERR_TRACKING_FAILED,
                           p);
        } else {
                p = json_object_new_object();
                json_object_object_add(p, "pid", json_object_new_int(res->pid));
                json_object_object_add(p, "tracking", json_object_new_string(res->tracking));
                if (res->result == 1 && res->error[0])
                        json_object_object_add(p, "note", json_object_new_string(res->error));
                if (res->members)
                        json_object_object_add(p, "members", json_uint(res->members));
                call_reply(c, p);
        }
        call_unref(c);
}

static void method_track(struct manager *m, struct call *c, struct json_object *params)
{
        struct scheduler_track_request req;
        char err[POLICY_ERROR_MAX];
        struct params_track pt;
        int uffd = -EBADF, r;

        PARSE(c, params_track, params, &pt);
        /* A cgroup's processes are checked one by one as they are armed. */
        if (!pt.cgroup && check_process(c, pt.pid) < 0)
                return;
        if (pt.uffd_index >= 0) {
                uffd = call_take_fd(c, (int)pt.uffd_index);
                if (uffd < 0) {
                        call_errorf(c, VARLINK_ERR_INVALID_PARAMETER, "parameter", "uffd");
                        return;
                }
                /* Only the process itself may hand over its userfaultfd. */
                if (call_peer_pid(c) != pt.pid && call_uid(c) != 0) {
                        safe_close(uffd);
                        call_errorf(
                                c, CKPT_ERR_PERMISSION_DENIED, "reason",
                                "a userfaultfd may only be passed by the process it belongs to");
                        return;
                }
        }
        req = (struct scheduler_track_request){
                .pid = pt.pid,
                .uffd = uffd,
                .every_usec = pt.every_usec,
                .keep = pt.keep,
                .tree = pt.tree,
                .cgroup = pt.cgroup,
                .caller = caller_of(c),
        };
        r = scheduler_track(m->scheduler, &req, track_done, call_ref(c), err, sizeof(err));
        if (r == -EUSERS) {
                call_error(c, CKPT_ERR_TOO_MANY,
                           server_limit_params(CKPT_LIMIT_TRACKED_PER_UID,
                                               m->opts.max_tracked_per_uid, err));
                call_unref(c);
        } else if (r < 0) {
                if (!err[0])
                        call_error(c, CKPT_ERR_FAILED, NULL);
                else
                        call_errorf(c, r == -ESRCH ? CKPT_ERR_NO_SUCH_PROCESS : CKPT_ERR_FAILED,
                                    "reason", "%s", err);
                call_unref(c);
        }
}

static void method_untrack(struct manager *m, struct call *c, struct json_object *params)
{
        pid_t pid;

        PARSE(c, params_untrack, params, &pid);
        /* Whoever tracked it may let it go, even once it is out of their reach. */
        if (call_uid(c) != 0 && !scheduler_tracked_for(m->scheduler, pid, call_uid(c)) &&
            check_process(c, pid) < 0)
                return;
        if (scheduler_untrack(m->scheduler, pid) < 0) {
                struct json_object *p = json_object_new_object();

                json_object_object_add(p, "pid", json_object_new_int(pid));
                json_object_object_add(p, "reason", json_object_new_string("not tracked"));
                call_error(c, CKPT_ERR_NO_SUCH_PROCESS, p);
                return;
        }
        call_reply(c, NULL);
}

/* ---- io.ckptd.Delete / Verify / GC ------------------------------------------- */

struct store_job {
        struct job job;
        struct manager *m;
        struct call *call;
        uint64_t id;
        struct store_verify_result verify;
        struct store_gc_result gc;
        int64_t keep, max_age;
        struct json_object *deleted;
        struct progress progress; /* verify's, for a call with more */
        struct store_progress sp;
};

static void store_job_free(struct store_job *sj)
{
        struct manager *m = sj->m;

        call_unref(sj->call);
        store_verify_result_done(&sj->verify);
        json_object_put(sj->deleted);
        free(sj);
        manager_job_finished(m);
}

/* A store job answering call c (none when NULL), keyed by key; NULL when out
 * of memory, after c got the error. */
static struct store_job *store_job_new(struct manager *m, struct call *c, job_fn_t run,
                                       job_fn_t done, uint64_t key)
{
        struct store_job *sj = calloc(1, sizeof(*sj));

        if (!sj) {
                if (c)
                        reply_errno(c, -ENOMEM, 0, 0, "");
                return NULL;
        }
        sj->m = m;
        sj->call = c ? call_ref(c) : NULL;
        sj->job = (struct job){.run = run, .done = done, .key = key};
        return sj;
}

static void delete_job_run(struct job *j)
{
        struct store_job *sj = (struct store_job *)j;

        j->result = store_delete(sj->m->store, sj->id);
}

static void delete_job_done(struct job *j)
{
        struct store_job *sj = (struct store_job *)j;

        if (j->result < 0)
                log_warning_errno(j->result, "Cannot delete checkpoint %llu: %m",
                                  (unsigned long long)sj->id);
        else
                log_info("Deleted checkpoint %llu", (unsigned long long)sj->id);
        if (sj->call) {
                if (j->result < 0)
                        reply_errno(sj->call, j->result, 0, sj->id, "cannot delete");
                else
                        call_reply(sj->call, NULL);
        }
        store_job_free(sj);
}

void methods_submit_delete(struct manager *m, struct call *c, uint64_t id, pid_t pid)
{
        struct store_job *sj = store_job_new(m, c, delete_job_run, delete_job_done, pid);

        if (!sj)
                return;
        sj->id = id;
        workers_submit(m->workers, &sj->job);
}

static void method_delete(struct manager *m, struct call *c, struct json_object *params)
{
        struct store_catalog_entry e;
        uint64_t id;

        PARSE(c, params_id, params, &id);
        if (get_entry(m, c, id, &e) < 0)
                return;
        methods_submit_delete(m, c, id, e.pid);
}

static void verify_job_run(struct job *j)
{
        struct store_job *sj = (struct store_job *)j;

        j->result = store_verify_progress(sj->m->store, sj->id, sj->sp.fn ? &sj->sp : NULL,
                                          &sj->verify);
}

static void verify_job_done(struct job *j)
{
        struct store_job *sj = (struct store_job *)j;

        progress_stop(&sj->progress);
        if (j->result < 0)
                reply_errno(sj->call, j->result, 0, sj->id, "cannot verify");
        else {
                struct json_object *p = json_object_new_object(), *a = json_object_new_array();

                for (size_t i = 0; i < sj->verify.n_problems; i++)
                        json_object_array_add(a,
                                              json_object_new_string(sj->verify.problems[i].what));
                json_object_object_add(p, "ok",
                                       json_object_new_boolean(sj->verify.n_problems == 0));
                json_object_object_add(p, "checked", json_uint(sj->verify.checked_objects));
                json_object_object_add(p, "manifests", json_uint(sj->verify.checked_manifests));
                json_object_object_add(p, "problems", a);
                if (sj->verify.n_problems)
                        log_error("Verify found %zu problems in the store", sj->verify.n_problems);
                call_reply(sj->call, p);
        }
        store_job_free(sj);
}

static void method_verify(struct manager *m, struct call *c, struct json_object *params)
{
        struct store_catalog_entry e;
        struct store_job *sj;
        uint64_t id;

        PARSE(c, params_verify, params, &id);
        if (id) {
                if (get_entry(m, c, id, &e) < 0)
                        return;
        } else if (call_uid(c) != 0) {
                call_errorf(c, CKPT_ERR_PERMISSION_DENIED, "reason",
                            "only root may verify the whole store; name a checkpoint");
                return;
        }
        sj = store_job_new(m, c, verify_job_run, verify_job_done, 0);
        if (!sj)
                return;
        sj->id = id;
        progress_start(&sj->progress, m->event, sj->call, "verify");
        if (sj->progress.call)
                sj->sp = (struct store_progress){progress_update, &sj->progress};
        workers_submit(m->workers, &sj->job);
}

static void gc_job_run(struct job *j)
{
        struct store_job *sj = (struct store_job *)j;
        _cleanup_free_ struct store_catalog_entry *list = NULL;
        _cleanup_free_ uint64_t *ids = NULL;
        struct retention_rule rule = {
                .keep = (uint64_t)sj->keep,
                .max_age_usec = retention_usec_from_sec((uint64_t)sj->max_age),
        };
        size_t n = 0, n_ids = 0;
        int r;

        /* Retention first (keep N per process, max age), then reclaim. */
        sj->deleted = json_object_new_array();
        if (sj->keep > 0 || sj->max_age > 0) {
                r = store_list(sj->m->store, &list, &n);
                if (r >= 0)
                        r = retention_select(list, n, &rule, retention_now_ns(), &ids, &n_ids);
                if (r < 0) {
                        j->result = r;
                        return;
                }
                for (size_t i = 0; i < n_ids; i++) {
                        r = store_delete(sj->m->store, ids[i]);
                        if (r < 0 && r != -ENOENT) {
                                j->result = r;
                                return;
                        }
                        json_object_array_add(sj->deleted, json_uint(ids[i]));
                }
        }
        j->result = store_gc_progress(sj->m->store, sj->sp.fn ? &sj->sp : NULL, &sj->gc);
}

static void gc_job_done(struct job *j)
{
        struct store_job *sj = (struct store_job *)j;

        progress_stop(&sj->progress);
        if (j->result < 0)
                reply_errno(sj->call, j->result, 0, 0, "gc failed");
        else {
                struct json_object *p = json_object_new_object();

                log_info("gc: %llu objects removed, %llu bytes reclaimed",
                         (unsigned long long)sj->gc.objects_removed,
                         (unsigned long long)sj->gc.bytes_reclaimed);
                json_object_object_add(p, "deleted", TAKE_PTR(sj->deleted));
                json_object_object_add(p, "objects_removed", json_uint(sj->gc.objects_removed));
                json_object_object_add(p, "reclaimed_bytes", json_uint(sj->gc.bytes_reclaimed));
                json_object_object_add(p, "packs_rewritten", json_uint(sj->gc.packs_rewritten));
                call_reply(sj->call, p);
        }
        store_job_free(sj);
}

static void method_gc(struct manager *m, struct call *c, struct json_object *params)
{
        static const char *const keys[] = {"keep", "max_age_sec", NULL};
        struct store_job *sj;
        struct params_gc pg;

        /* Unknown keys first, then who asks, then the values. */
        PARSE(c, params_check_keys, params, keys);
        if (call_uid(c) != 0) {
                call_errorf(c, CKPT_ERR_PERMISSION_DENIED, "reason", "only root may run gc");
                return;
        }
        PARSE(c, params_gc, params, &pg);
        sj = store_job_new(m, c, gc_job_run, gc_job_done, 0);
        if (!sj)
                return;
        sj->keep = pg.keep;
        sj->max_age = pg.max_age_sec;
        progress_start(&sj->progress, m->event, sj->call, "gc");
        if (sj->progress.call)
                sj->sp = (struct store_progress){progress_update, &sj->progress};
        workers_submit(m->workers, &sj->job);
}

/* ---- io.ckptd.Diff ------------------------------------------------------------ */

static void method_diff(struct manager *m, struct call *c, struct json_object *params)
{
        _cleanup_(manifest_freep) struct ckpt_manifest *a = NULL, *b = NULL;
        _cleanup_(view_diff_freep) struct view_diff *d = NULL;
        struct store_catalog_entry ea, eb;
        struct json_object *p, *regions, *runs;
        struct params_diff pd;
        uint64_t from, to;
        int r;

        PARSE(c, params_diff, params, &pd);
        from = pd.from;
        to = pd.to;
        if (get_entry(m, c, from, &ea) < 0 || get_entry(m, c, to, &eb) < 0)
                return;
        r = store_view(m->store, from, &a);
        if (r >= 0)
                r = store_view(m->store, to, &b);
        if (r >= 0)
                r = diff_views(a, b, &d);
        if (r < 0) {
                reply_errno(c, r, 0, b ? to : from, "cannot compare");
                return;
        }
        regions = json_object_new_array();
        for (size_t i = 0; i < d->n_regions; i++) {
                const struct diff_region *dr = &d->regions[i];
                struct json_object *o = range_to_json(dr->start, dr->end);

                json_object_object_add(o, "path",
                                       dr->path ? json_object_new_string(dr->path) : NULL);
                json_object_object_add(
                        o, "state", json_object_new_string(diff_region_state_to_string(dr->state)));
                json_object_object_add(o, "changed", json_uint(dr->changed));
                json_object_object_add(o, "added", json_uint(dr->added));
                json_object_object_add(o, "removed", json_uint(dr->removed));
                json_object_array_add(regions, o);
        }
        runs = json_object_new_array();
        for (size_t i = 0; i < d->n_runs && i < 100000; i++) {
                struct json_object *o = range_to_json(d->runs[i].start, d->runs[i].end);

                json_object_object_add(
                        o, "kind", json_object_new_string(diff_kind_to_string(d->runs[i].kind)));
                json_object_array_add(runs, o);
        }
        p = json_object_new_object();
        json_object_object_add(p, "from", json_uint(from));
        json_object_object_add(p, "to", json_uint(to));
        json_object_object_add(p, "regions", regions);
        json_object_object_add(p, "runs", runs);
        json_object_object_add(p, "changed", json_uint(d->changed));
        json_object_object_add(p, "added", json_uint(d->added));
        json_object_object_add(p, "removed", json_uint(d->removed));
        call_reply(c, p);
}

/* ---- policies ------------------------------------------------------------------ */

/* "PATH:LINE: ..." without what follows the line number, which may quote
 * the file: for callers who may not read it. */
static struct json_object *redacted_error(const struct policy_error *e)
{
        const char *msg = e->message, *rest;
        size_t n = strlen(e->path);
        unsigned line = 0;
        char buf[POLICY_ERROR_MAX + 64];

        rest = strncmp(msg, e->path, n) == 0 && msg[n] == ':' ? msg + n + 1 : NULL;
        if (rest && sscanf(rest, "%u:", &line) != 1)
                line = 0;
        if (line)
                snprintf(buf, sizeof(buf), "%s:%u: ", e->path, line);
        else
                snprintf(buf, sizeof(buf), "%s: ", e->path);
        strncat(buf, "cannot be used (why is shown to root and to users who may read the file)",
                sizeof(buf) - strlen(buf) - 1);
        return json_object_new_string(buf);
}

static struct json_object *policy_json(struct manager *m, const struct policy *pol,
                                       const struct access_caller *caller)
{
        struct json_object *o = json_object_new_object();

        json_object_object_add(o, "name", json_object_new_string(pol->name));
        json_object_object_add(o, "path", json_object_new_string(pol->path));
        json_object_object_add(o, "runtime", json_object_new_boolean(pol->runtime));
        json_object_object_add(o, "interval_sec", json_object_new_double(pol->interval_usec / 1e6));
        json_object_object_add(o, "dirty_trigger_bytes", json_uint(pol->dirty_trigger_bytes));
        json_object_object_add(o, "keep", json_object_new_int(pol->keep));
        json_object_object_add(o, "max_age_sec", json_object_new_double(pol->max_age_usec / 1e6));
        json_object_object_add(o, "full_every", json_object_new_int(pol->full_every));
        json_object_object_add(
                o, "processes",
                json_object_new_int(scheduler_n_tracked_by(m->scheduler, pol->name, caller)));
        return o;
}

/* io.ckptd.ListPolicies: root sees every policy and error; others the
 * policies that act with their rights (policy.h), and errors quoted only
 * from files they may read (otherwise "PATH:LINE:" and no more). */
static struct json_object *policies_json(struct manager *m, const struct access_caller *caller)
{
        struct json_object *p = json_object_new_object(), *a = json_object_new_array(),
                           *errs = json_object_new_array();
        const struct policy_set *set = scheduler_policy_set(m->scheduler);
        const struct policy *pol;
        size_t i;

        if (set) {
                POLICY_SET_FOREACH (pol, set, i)
                        /* Only the caller's own: those that act with its rights. */
                        if (caller->uid == 0 || pol->run_as_uid == caller->uid)
                                json_object_array_add(a, policy_json(m, pol, caller));
                for (i = 0; i < policy_set_n_errors(set); i++) {
                        const struct policy_error *e = policy_set_error(set, i);
                        struct json_object *o = json_object_new_object();

                        json_object_object_add(o, "path", json_object_new_string(e->path));
                        json_object_object_add(o, "error",
                                               access_may_read_file(caller, e->path)
                                                       ? json_object_new_string(e->message)
                                                       : redacted_error(e));
                        json_object_array_add(errs, o);
                }
        }
        json_object_object_add(p, "policies", a);
        json_object_object_add(p, "errors", errs);
        return p;
}

static void method_list_policies(struct manager *m, struct call *c, struct json_object *params)
{
        struct access_caller who = caller_of(c);

        PARSE(c, params_none, params);
        call_reply(c, policies_json(m, &who));
}

static void method_check_policy(struct manager *m, struct call *c, struct json_object *params)
{
        _cleanup_(policy_freep) struct policy *pol = NULL;
        struct params_check_policy pp;
        char err[POLICY_ERROR_MAX] = "";
        struct json_object *p;
        int r;

        PARSE(c, params_check_policy, params, &pp);
        p = json_object_new_object();
        r = policy_parse(pp.path, pp.content, strlen(pp.content), &pol, err, sizeof(err));
        json_object_object_add(p, "ok", json_object_new_boolean(r >= 0));
        json_object_object_add(p, "error", r < 0 ? json_object_new_string(err) : NULL);
        if (r >= 0) {
                json_object_object_add(p, "name", json_object_new_string(pol->name));
                json_object_object_add(p, "interval_sec",
                                       json_object_new_double(pol->interval_usec / 1e6));
        }
        call_reply(c, p);
}

static void method_reload(struct manager *m, struct call *c, struct json_object *params)
{
        struct access_caller who = caller_of(c);

        PARSE(c, params_none, params);
        if (call_uid(c) != 0) {
                call_errorf(c, CKPT_ERR_PERMISSION_DENIED, "reason", "only root may reload");
                return;
        }
        scheduler_reload(m->scheduler);
        call_reply(c, policies_json(m, &who));
}

/* ---- the table -------------------------------------------------------------- */

typedef void (*method_fn_t)(struct manager *m, struct call *c, struct json_object *params);

/* slow: the method hands work to a worker and answers later; such calls of
 * one uid under way are bounded (call_check_requests). */
static const struct {
        const char *name;
        method_fn_t fn;
        bool slow;
} methods[] = {
        {"org.varlink.service.GetInfo", method_get_info, false},
        {"org.varlink.service.GetInterfaceDescription", method_get_interface_description, false},
        {"io.ckptd.GetStatus", method_get_status, false},
        {"io.ckptd.GetMetrics", method_get_metrics, false},
        {"io.ckptd.WatchProcesses", method_watch_processes, false},
        {"io.ckptd.Checkpoint", method_checkpoint, true},
        {"io.ckptd.CheckpointGroup", method_checkpoint_group, true},
        {"io.ckptd.List", method_list, false},
        {"io.ckptd.Show", method_show, false},
        {"io.ckptd.Export", method_export, true},
        {"io.ckptd.Restore", method_restore, true},
        {"io.ckptd.RestoreGroup", method_restore_group, true},
        {"io.ckptd.Track", method_track, true},
        {"io.ckptd.Untrack", method_untrack, false},
        {"io.ckptd.Delete", method_delete, true},
        {"io.ckptd.Verify", method_verify, true},
        {"io.ckptd.GC", method_gc, true},
        {"io.ckptd.Diff", method_diff, false},
        {"io.ckptd.ListPolicies", method_list_policies, false},
        {"io.ckptd.CheckPolicy", method_check_policy, false},
        {"io.ckptd.Reload", method_reload, false},
};

void methods_dispatch(struct call *c, const char *method, struct json_object *params,
                      void *userdata)
{
        struct manager *m = userdata;
        const char *dot;
        size_t len;

        for (size_t i = 0; i < ELEMENTSOF(methods); i++)
                if (strcmp(methods[i].name, method) == 0) {
                        if (m->shutting_down && strncmp(method, "org.varlink.", 12) != 0) {
                                call_error(c, CKPT_ERR_SHUTTING_DOWN, NULL);
                                return;
                        }
                        if (methods[i].slow && call_check_requests(c) < 0)
                                return;
                        methods[i].fn(m, c, params);
                        return;
                }

        dot = strrchr(method, '.');
        len = dot ? (size_t)(dot - method) : strlen(method);
        if (!((len == 8 && strncmp(method, CKPT_INTERFACE, 8) == 0) ||
              (len == 19 && strncmp(method, "org.varlink.service", 19) == 0))) {
                struct json_object *p = json_object_new_object();

                json_object_object_add(p, "interface", json_object_new_string_len(method, len));
                call_error(c, VARLINK_ERR_INTERFACE_NOT_FOUND, p);
                return;
        }
        call_errorf(c, VARLINK_ERR_METHOD_NOT_FOUND, "method", "%s", method);
}

static int submit_checkpoint_hook(struct manager *m, const struct checkpoint_request *req)
{
        return methods_submit_checkpoint(m, NULL, req);
}

static int submit_group_hook(struct manager *m, const struct checkpoint_group_request *req)
{
        return methods_submit_group(m, NULL, req);
}

static void submit_delete_hook(struct manager *m, uint64_t id, pid_t pid)
{
        methods_submit_delete(m, NULL, id, pid);
}

const struct manager_methods methods_table = {
        .dispatch = methods_dispatch,
        .submit_checkpoint = submit_checkpoint_hook,
        .submit_group = submit_group_hook,
        .submit_delete = submit_delete_hook,
};
