/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libckpt.c: the typed client API of ckptd (include/ckpt/libckpt.h). Owns the
 * translation between C structs and the JSON parameters of io.ckptd methods,
 * the client's last error, and the in-process calls (a program checkpointing
 * itself). It never frames messages itself (varlink.c does) and never returns
 * json-c types through the public API.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/userfaultfd.h>

#include "ckpt/libckpt.h"
#include "ckpt/proto.h"
#include "libckpt-internal.h"
#include "ckpt/macro-fundamental.h"
#include "varlink.h"

/* FIXME: Debian 12's linux-libc-dev is 6.1; drop these once it has 6.7's uapi. */
#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif
#ifndef UFFD_FEATURE_WP_UNPOPULATED
#define UFFD_FEATURE_WP_UNPOPULATED (1 << 13)
#endif
#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC (1 << 15)
#endif

struct ckpt_client {
        struct varlink_client *link;
        char *path;       /* the socket connected to; NULL for ckpt_connect_fd() */
        char *error;      /* last error message */
        char *error_name; /* last Varlink error name */
        struct json_object *last_reply;
        ckpt_client_progress_fn progress; /* calls are made with more while set */
        void *progress_userdata;
};

#define PUBLIC CKPT_PUBLIC

PUBLIC int ckpt_api_version(void)
{
        return CKPT_API_VERSION;
}

PUBLIC const char *ckpt_socket_path(const char *path)
{
        const char *e;

        if (path && *path)
                return path;
        e = getenv(CKPT_SOCKET_ENV);
        if (e && *e)
                return e;
        return CKPT_DEFAULT_SOCKET;
}

static int client_new(struct varlink_client *link, struct ckpt_client **ret)
{
        struct ckpt_client *c = calloc(1, sizeof(*c));

        if (!c) {
                varlink_client_free(link);
                return -ENOMEM;
        }
        c->link = link;
        *ret = c;
        return 0;
}

PUBLIC int ckpt_connect(const char *path, struct ckpt_client **ret)
{
        struct varlink_client *link;
        int r;

        if (!ret)
                return -EINVAL;
        *ret = NULL;
        path = ckpt_socket_path(path);
        r = varlink_client_connect(path, &link);
        if (r < 0)
                return r;
        r = client_new(link, ret);
        if (r < 0)
                return r;
        (*ret)->path = strdup(path);
        if (!(*ret)->path) {
                *ret = ckpt_disconnect(*ret);
                return -ENOMEM;
        }
        return 0;
}

PUBLIC int ckpt_connect_fd(int fd, struct ckpt_client **ret)
{
        struct varlink_client *link;
        int r;

        if (!ret) {
                safe_close(fd);
                return -EINVAL;
        }
        *ret = NULL;
        r = varlink_client_new_fd(fd, &link);
        if (r < 0)
                return r;
        return client_new(link, ret);
}

PUBLIC struct ckpt_client *ckpt_disconnect(struct ckpt_client *c)
{
        if (!c)
                return NULL;
        varlink_client_free(c->link);
        free(c->path);
        free(c->error);
        free(c->error_name);
        json_object_put(c->last_reply);
        free(c);
        return NULL;
}

PUBLIC const char *ckpt_last_error(const struct ckpt_client *c)
{
        return c && c->error ? c->error : "";
}

PUBLIC const char *ckpt_last_error_name(const struct ckpt_client *c)
{
        return c ? c->error_name : NULL;
}

PUBLIC const char *ckpt_last_reply_json(const struct ckpt_client *c)
{
        if (!c || !c->last_reply)
                return NULL;
        return json_object_to_json_string_ext(
                c->last_reply, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
}

struct json_object *ckpt_client_last_reply(struct ckpt_client *c)
{
        return c ? c->last_reply : NULL;
}

static char *mfree_str(char *p)
{
        free(p);
        return NULL;
}

static void clear_error(struct ckpt_client *c)
{
        c->error = mfree_str(c->error);
        c->error_name = mfree_str(c->error_name);
}

/* Record a local failure; returns r. */
_printf_(3, 4) static int fail(struct ckpt_client *c, int r, const char *fmt, ...)
{
        va_list ap;
        char *m = NULL;

        clear_error(c);
        va_start(ap, fmt);
        if (vasprintf(&m, fmt, ap) < 0)
                m = NULL;
        va_end(ap);
        c->error = m;
        return r;
}

PUBLIC int ckpt_error_to_errno(const char *error_name)
{
        return varlink_error_to_errno(error_name);
}

PUBLIC char *ckpt_error_string(const char *error_name, const char *params_json)
{
        _cleanup_json_ struct json_object *p = NULL;

        if (params_json) {
                p = json_tokener_parse(params_json);
                if (p && !json_object_is_type(p, json_type_object))
                        p = (json_object_put(p), NULL);
        }
        return varlink_error_message(error_name, p);
}

/*
 * A connection the daemon closed while it was idle (--idle-timeout) or by a
 * restart is made again before the next call, to the same socket: nothing was
 * in flight, so no call is sent twice. A connection given by descriptor
 * cannot be made again; its call fails as the transport says.
 */
static int reconnect_if_closed(struct ckpt_client *c)
{
        struct varlink_client *link;
        int r;

        if (!c->path || !varlink_client_peer_closed(c->link))
                return 0;
        r = varlink_client_connect(c->path, &link);
        if (r < 0)
                return fail(c, r,
                            "ckptd closed the connection, and connecting to %s again failed: %s",
                            c->path, strerror(-r));
        varlink_client_free(c->link);
        c->link = link;
        return 0;
}

static int client_call(struct ckpt_client *c, const char *method, struct json_object *params,
                       const int *fds, size_t n_fds, varlink_reply_cb cb, void *userdata, bool more,
                       struct json_object **ret)
{
        _cleanup_json_ struct json_object *reply = NULL;
        _cleanup_free_ char *name = NULL;
        int r;

        if (ret)
                *ret = NULL;
        if (!c)
                return -EINVAL;
        clear_error(c);
        c->last_reply = (json_object_put(c->last_reply), NULL);
        r = reconnect_if_closed(c);
        if (r < 0)
                return r;

        if (more)
                r = varlink_call_more(c->link, method, params, fds, n_fds, cb, userdata, &reply,
                                      &name);
        else
                r = varlink_call(c->link, method, params, fds, n_fds, &reply, &name);
        if (reply)
                c->last_reply = json_object_get(reply);
        if (r < 0) {
                if (name) {
                        c->error = varlink_error_message(name, reply);
                        c->error_name = TAKE_PTR(name);
                } else {
                        const char *m = varlink_client_error(c->link);
                        c->error = strdup(*m ? m : strerror(-r));
                }
                return r;
        }
        if (ret)
                *ret = TAKE_PTR(reply);
        return 0;
}

/* A reply marked continues of a slow call: {"progress": {"what", "done",
 * "total"}}, anything else (or of another shape) passed over. */
static int progress_reply(struct json_object *params, void *userdata)
{
        struct ckpt_client *c = userdata;
        struct json_object *p, *what, *done, *total;

        if (!json_object_object_get_ex(params, "progress", &p) ||
            !json_object_is_type(p, json_type_object) ||
            !json_object_object_get_ex(p, "what", &what) ||
            !json_object_is_type(what, json_type_string) ||
            !json_object_object_get_ex(p, "done", &done) ||
            !json_object_is_type(done, json_type_int) ||
            !json_object_object_get_ex(p, "total", &total) ||
            !json_object_is_type(total, json_type_int) || json_object_get_int64(done) < 0 ||
            json_object_get_int64(total) < json_object_get_int64(done))
                return 0;
        c->progress(json_object_get_string(what), (uint64_t)json_object_get_int64(done),
                    (uint64_t)json_object_get_int64(total), c->progress_userdata);
        return 0;
}

void ckpt_client_set_progress(struct ckpt_client *c, ckpt_client_progress_fn fn, void *userdata)
{
        c->progress = fn;
        c->progress_userdata = userdata;
}

int ckpt_client_call(struct ckpt_client *c, const char *method, struct json_object *params,
                     const int *fds, size_t n_fds, struct json_object **ret)
{
        if (c && c->progress)
                return client_call(c, method, params, fds, n_fds, progress_reply, c, true, ret);
        return client_call(c, method, params, fds, n_fds, NULL, NULL, false, ret);
}

int ckpt_client_call_more(struct ckpt_client *c, const char *method, struct json_object *params,
                          int (*cb)(struct json_object *params, void *userdata), void *userdata,
                          struct json_object **ret)
{
        return client_call(c, method, params, NULL, 0, cb, userdata, true, ret);
}

int ckpt_client_fd(struct ckpt_client *c)
{
        return varlink_client_fd(c->link);
}

bool ckpt_client_has_message(struct ckpt_client *c)
{
        return varlink_client_has_message(c->link);
}

PUBLIC int ckpt_call(struct ckpt_client *c, const char *method, const char *params_json,
                     const int *fds, size_t n_fds, char **ret_reply_json)
{
        _cleanup_json_ struct json_object *params = NULL, *reply = NULL;
        int r;

        if (ret_reply_json)
                *ret_reply_json = NULL;
        if (!c || !method)
                return -EINVAL;
        if (params_json) {
                params = json_tokener_parse(params_json);
                if (!params || !json_object_is_type(params, json_type_object))
                        return fail(c, -EINVAL, "parameters of %s are not a JSON object", method);
        }
        r = ckpt_client_call(c, method, params, fds, n_fds, &reply);
        if (r < 0)
                return r;
        if (ret_reply_json) {
                const char *t = json_object_to_json_string_ext(
                        reply, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
                *ret_reply_json = strdup(t ? t : "{}");
                if (!*ret_reply_json)
                        return fail(c, -ENOMEM, "out of memory");
        }
        return 0;
}

/* ---- JSON <-> C conversion (lenient: a missing optional field reads as 0/NULL) ---- */

static struct json_object *field(struct json_object *o, const char *key)
{
        struct json_object *v = NULL;

        if (!o || !json_object_object_get_ex(o, key, &v))
                return NULL;
        return v; /* NULL also for JSON null */
}

/* Integers, or strings in base 0 ("0x7f…"), as 64-bit unsigned. */
static int to_u64(struct json_object *v, uint64_t *ret)
{
        if (!v) {
                *ret = 0;
                return 0;
        }
        if (json_object_is_type(v, json_type_int)) {
                *ret = json_object_get_uint64(v);
                return 0;
        }
        if (json_object_is_type(v, json_type_double)) {
                double d = json_object_get_double(v);
                *ret = d > 0 ? (uint64_t)d : 0;
                return 0;
        }
        if (json_object_is_type(v, json_type_string)) {
                const char *s = json_object_get_string(v);
                char *end;

                if (!*s || *s == '-' || *s == '+')
                        return -EBADMSG;
                errno = 0;
                unsigned long long x = strtoull(s, &end, 0);
                if (errno != 0 || *end)
                        return -EBADMSG;
                *ret = x;
                return 0;
        }
        return -EBADMSG;
}

static uint64_t get_u64(struct json_object *o, const char *key)
{
        uint64_t x = 0;

        (void)to_u64(field(o, key), &x);
        return x;
}

static int64_t get_i64(struct json_object *o, const char *key)
{
        struct json_object *v = field(o, key);
        return v ? json_object_get_int64(v) : 0;
}

static double get_double(struct json_object *o, const char *key, double dflt)
{
        struct json_object *v = field(o, key);
        return v ? json_object_get_double(v) : dflt;
}

static bool get_bool(struct json_object *o, const char *key)
{
        struct json_object *v = field(o, key);
        return v ? json_object_get_boolean(v) : false;
}

/* strdup of a string field; *ret NULL if absent. */
static int get_str(struct json_object *o, const char *key, char **ret)
{
        struct json_object *v = field(o, key);

        *ret = NULL;
        if (!v)
                return 0;
        *ret = strdup(json_object_get_string(v));
        return *ret ? 0 : -ENOMEM;
}

static struct json_object *get_array(struct json_object *o, const char *key, size_t *ret_n)
{
        struct json_object *v = field(o, key);

        if (!v || !json_object_is_type(v, json_type_array)) {
                *ret_n = 0;
                return NULL;
        }
        *ret_n = json_object_array_length(v);
        return v;
}

/* calloc for n elements, non-NULL even for n == 0. */
static void *new_array(size_t n, size_t size)
{
        return calloc(n ? n : 1, size);
}

static int get_ranges(struct json_object *o, const char *key, struct ckpt_addr_range **ret,
                      size_t *ret_n)
{
        size_t n;
        struct json_object *a = get_array(o, key, &n);
        struct ckpt_addr_range *r;

        *ret = NULL;
        *ret_n = 0;
        if (!a)
                return 0;
        r = new_array(n, sizeof(*r));
        if (!r)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                struct json_object *e = json_object_array_get_idx(a, i);
                r[i].start = get_u64(e, "start");
                r[i].end = get_u64(e, "end");
        }
        *ret = r;
        *ret_n = n;
        return 0;
}

static int get_strv(struct json_object *o, const char *key, char ***ret, size_t *ret_n)
{
        size_t n;
        struct json_object *a = get_array(o, key, &n);
        char **v;

        *ret = NULL;
        *ret_n = 0;
        if (!a)
                return 0;
        v = new_array(n + 1, sizeof(char *));
        if (!v)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                v[i] = strdup(json_object_get_string(json_object_array_get_idx(a, i)));
                if (!v[i]) {
                        for (size_t j = 0; j < i; j++)
                                free(v[j]);
                        free(v);
                        return -ENOMEM;
                }
        }
        *ret = v;
        *ret_n = n;
        return 0;
}

static void strv_free(char **v, size_t n)
{
        if (!v)
                return;
        for (size_t i = 0; i < n; i++)
                free(v[i]);
        free(v);
}

static struct json_object *json_hex(uint64_t v)
{
        char buf[32];

        snprintf(buf, sizeof(buf), "0x%" PRIx64, v);
        return json_object_new_string(buf);
}

static int add(struct json_object *o, const char *key, struct json_object *v)
{
        if (!v)
                return -ENOMEM;
        if (json_object_object_add(o, key, v) < 0) {
                json_object_put(v);
                return -ENOMEM;
        }
        return 0;
}

static int add_ranges(struct ckpt_client *c, struct json_object *o,
                      const struct ckpt_addr_range *ranges, size_t n)
{
        struct json_object *a;

        if (n == 0)
                return 0;
        if (!ranges)
                return fail(c, -EINVAL, "ranges missing");
        if (n > CKPT_MAX_RANGES)
                return fail(c, -E2BIG, "too many ranges (%zu > %u)", n, CKPT_MAX_RANGES);
        a = json_object_new_array_ext((int)n);
        if (!a || add(o, "ranges", a) < 0)
                return fail(c, -ENOMEM, "out of memory");
        for (size_t i = 0; i < n; i++) {
                struct json_object *e;

                if (ranges[i].start >= ranges[i].end)
                        return fail(c, -EINVAL,
                                    "invalid range 0x%" PRIx64 "-0x%" PRIx64
                                    ": start must be below end",
                                    ranges[i].start, ranges[i].end);
                e = json_object_new_object();
                if (!e || json_object_array_add(a, e) < 0) {
                        json_object_put(e);
                        return fail(c, -ENOMEM, "out of memory");
                }
                if (add(e, "start", json_hex(ranges[i].start)) < 0 ||
                    add(e, "end", json_hex(ranges[i].end)) < 0)
                        return fail(c, -ENOMEM, "out of memory");
        }
        return 0;
}

#define OOM(c) fail(c, -ENOMEM, "out of memory")

/* Call method with the one parameter {key: value}, or with none when key is
 * NULL (value is then NULL too). Takes value. */
static int call_with(struct ckpt_client *c, const char *method, const char *key,
                     struct json_object *value, struct json_object **ret_reply)
{
        _cleanup_json_ struct json_object *params = NULL;

        params = json_object_new_object();
        if (!params) {
                json_object_put(value);
                return OOM(c);
        }
        if (key && add(params, key, value) < 0)
                return OOM(c);
        return ckpt_client_call(c, method, params, NULL, 0, ret_reply);
}

/* ---- GetStatus ---- */

PUBLIC struct ckpt_status *ckpt_status_free(struct ckpt_status *s)
{
        if (!s)
                return NULL;
        free(s->version);
        free(s->bpf_mode);
        strv_free(s->tracking, s->n_tracking);
        free(s->store.path);
        for (size_t i = 0; s->processes && i < s->n_processes; i++) {
                struct ckpt_process_status *p = &s->processes[i];
                free(p->comm);
                free(p->tracking);
                free(p->policy);
                free(p->next_due);
                free(p->note);
        }
        free(s->processes);
        for (size_t i = 0; s->limits && i < s->n_limits; i++)
                free(s->limits[i].name);
        free(s->limits);
        free(s);
        return NULL;
}

PUBLIC int ckpt_status(struct ckpt_client *c, struct ckpt_status **ret)
{
        _cleanup_json_ struct json_object *reply = NULL;
        struct ckpt_status *s;
        struct json_object *st, *a;
        size_t n;
        int r;

        if (ret)
                *ret = NULL;
        r = ckpt_client_call(c, "io.ckptd.GetStatus", NULL, NULL, 0, &reply);
        if (r < 0 || !ret)
                return r;

        s = calloc(1, sizeof(*s));
        if (!s)
                return OOM(c);
        s->uptime_sec = get_double(reply, "uptime_sec", 0);
        s->store_nice = (int)get_i64(reply, "store_nice");
        s->store_idle = get_bool(reply, "store_idle");
        s->bpf_hooks_attached = get_bool(reply, "bpf_hooks_attached");
        if (get_str(reply, "version", &s->version) < 0 ||
            get_str(reply, "bpf_mode", &s->bpf_mode) < 0 ||
            get_strv(reply, "tracking", &s->tracking, &s->n_tracking) < 0)
                goto oom;

        st = field(reply, "store");
        if (get_str(st, "path", &s->store.path) < 0)
                goto oom;
        s->store.objects = get_u64(st, "objects");
        s->store.stored_bytes = get_u64(st, "stored_bytes");
        s->store.logical_bytes = get_u64(st, "logical_bytes");
        s->store.dedup_ratio = get_double(st, "dedup_ratio", 0);
        s->store.checkpoints = get_u64(st, "checkpoints");
        s->store.threads = (unsigned)get_u64(st, "threads");

        a = get_array(reply, "processes", &n);
        s->processes = new_array(n, sizeof(*s->processes));
        if (!s->processes)
                goto oom;
        for (size_t i = 0; a && i < n; i++) {
                struct json_object *e = json_object_array_get_idx(a, i);
                struct ckpt_process_status *p = &s->processes[i];

                s->n_processes = i + 1;
                p->pid = (pid_t)get_i64(e, "pid");
                p->uid = (uint32_t)get_u64(e, "uid");
                p->dirty_pages = get_u64(e, "dirty_pages");
                p->writable_pages = get_u64(e, "writable_pages");
                p->write_faults = get_u64(e, "write_faults");
                p->last_checkpoint = get_u64(e, "last_checkpoint");
                p->last_pause_ms = get_double(e, "last_pause_ms", -1);
                p->group = (pid_t)get_i64(e, "group");
                if (get_str(e, "comm", &p->comm) < 0 || get_str(e, "tracking", &p->tracking) < 0 ||
                    get_str(e, "policy", &p->policy) < 0 ||
                    get_str(e, "next_due", &p->next_due) < 0 || get_str(e, "note", &p->note) < 0)
                        goto oom;
        }

        st = field(reply, "limits");
        if (st && json_object_is_type(st, json_type_object)) {
                s->limits = new_array(json_object_object_length(st), sizeof(*s->limits));
                if (!s->limits)
                        goto oom;
                json_object_object_foreach (st, name, l) {
                        struct ckpt_limit_status *ls = &s->limits[s->n_limits];

                        ls->name = strdup(name);
                        if (!ls->name)
                                goto oom;
                        s->n_limits++;
                        ls->limit = get_u64(l, "limit");
                        ls->hit = get_u64(l, "hit");
                }
        }
        *ret = s;
        return 0;
oom:
        ckpt_status_free(s);
        return OOM(c);
}

/* ---- Checkpoint ---- */

PUBLIC struct ckpt_checkpoint_info *ckpt_checkpoint_info_free(struct ckpt_checkpoint_info *i)
{
        if (!i)
                return NULL;
        free(i->skipped);
        free(i);
        return NULL;
}

PUBLIC int ckpt_checkpoint(struct ckpt_client *c, pid_t pid, unsigned flags,
                           const struct ckpt_addr_range *ranges, size_t n_ranges,
                           struct ckpt_checkpoint_info **ret)
{
        _cleanup_json_ struct json_object *params = NULL, *reply = NULL;
        struct ckpt_checkpoint_info *i;
        int r;

        if (ret)
                *ret = NULL;
        if (!c)
                return -EINVAL;
        if (pid <= 0)
                return fail(c, -EINVAL, "invalid process id %d", (int)pid);
        if (flags & ~(CKPT_CHECKPOINT_FULL | CKPT_CHECKPOINT_ALL))
                return fail(c, -EINVAL, "unknown checkpoint flags 0x%x", flags);

        params = json_object_new_object();
        if (!params || add(params, "pid", json_object_new_int64(pid)) < 0)
                return OOM(c);
        if ((flags & CKPT_CHECKPOINT_FULL) &&
            add(params, "full", json_object_new_boolean(true)) < 0)
                return OOM(c);
        if ((flags & CKPT_CHECKPOINT_ALL) && add(params, "all", json_object_new_boolean(true)) < 0)
                return OOM(c);
        r = add_ranges(c, params, ranges, n_ranges);
        if (r < 0)
                return r;

        r = ckpt_client_call(c, "io.ckptd.Checkpoint", params, NULL, 0, &reply);
        if (r < 0 || !ret)
                return r;

        i = calloc(1, sizeof(*i));
        if (!i)
                return OOM(c);
        i->id = get_u64(reply, "id");
        i->parent = get_u64(reply, "parent");
        i->pid = field(reply, "pid") ? (pid_t)get_i64(reply, "pid") : pid;
        i->incremental = get_bool(reply, "incremental");
        i->pages = get_u64(reply, "pages");
        i->pages_read = get_u64(reply, "pages_read");
        i->bytes_stored = get_u64(reply, "bytes_stored");
        i->pause_ms = get_double(reply, "pause_ms", 0);
        i->duration_ms = get_double(reply, "duration_ms", 0);
        if (get_ranges(reply, "skipped", &i->skipped, &i->n_skipped) < 0) {
                ckpt_checkpoint_info_free(i);
                return OOM(c);
        }
        *ret = i;
        return 0;
}

PUBLIC int ckpt_checkpoint_self(struct ckpt_client *c, unsigned flags,
                                struct ckpt_checkpoint_info **ret)
{
        return ckpt_checkpoint(c, getpid(), flags, NULL, 0, ret);
}

PUBLIC int ckpt_checkpoint_range(struct ckpt_client *c, const void *start, const void *end,
                                 unsigned flags, struct ckpt_checkpoint_info **ret)
{
        struct ckpt_addr_range r = {(uint64_t)(uintptr_t)start, (uint64_t)(uintptr_t)end};

        return ckpt_checkpoint(c, getpid(), flags, &r, 1, ret);
}

/* ---- CheckpointGroup ---- */

PUBLIC struct ckpt_group_info *ckpt_group_info_free(struct ckpt_group_info *i)
{
        if (!i)
                return NULL;
        for (size_t k = 0; i->members && k < i->n_members; k++)
                free(i->members[k].error);
        free(i->members);
        free(i);
        return NULL;
}

static int group_from_json(struct json_object *reply, struct ckpt_group_info *i)
{
        struct json_object *a;
        size_t n = 0;

        i->id = get_u64(reply, "id");
        i->pid = (pid_t)get_i64(reply, "pid");
        i->pages = get_u64(reply, "pages");
        i->pages_read = get_u64(reply, "pages_read");
        i->bytes_stored = get_u64(reply, "bytes_stored");
        i->pause_ms = get_double(reply, "pause_ms", 0);
        i->duration_ms = get_double(reply, "duration_ms", 0);
        a = get_array(reply, "members", &n);
        i->members = new_array(n, sizeof(*i->members));
        if (!i->members)
                return -ENOMEM;
        for (size_t k = 0; a && k < n; k++) {
                struct json_object *e = json_object_array_get_idx(a, k);
                struct ckpt_group_member *m = &i->members[k];

                i->n_members = k + 1;
                m->pid = (pid_t)get_i64(e, "pid");
                m->id = get_u64(e, "id");
                m->parent = get_u64(e, "parent");
                m->incremental = get_bool(e, "incremental");
                m->armed = get_bool(e, "armed");
                m->pages = get_u64(e, "pages");
                m->pages_read = get_u64(e, "pages_read");
                m->bytes_stored = get_u64(e, "bytes_stored");
                m->pause_ms = get_double(e, "pause_ms", 0);
                m->duration_ms = get_double(e, "duration_ms", 0);
                if (get_str(e, "error", &m->error) < 0)
                        return -ENOMEM;
        }
        return 0;
}

static int checkpoint_group(struct ckpt_client *c, pid_t pid, const char *cgroup, unsigned flags,
                            struct ckpt_group_info **ret)
{
        _cleanup_json_ struct json_object *params = NULL, *reply = NULL;
        struct ckpt_group_info *i;
        int r;

        if (ret)
                *ret = NULL;
        if (!c)
                return -EINVAL;
        if (!cgroup && pid <= 0)
                return fail(c, -EINVAL, "invalid process id %d", (int)pid);
        if (cgroup && cgroup[0] != '/')
                return fail(c, -EINVAL, "invalid cgroup '%s': a path from the cgroup root", cgroup);
        if (flags & ~(CKPT_CHECKPOINT_FULL | CKPT_CHECKPOINT_ALL))
                return fail(c, -EINVAL, "unknown checkpoint flags 0x%x", flags);
        params = json_object_new_object();
        if (!params || (cgroup ? add(params, "cgroup", json_object_new_string(cgroup))
                               : add(params, "tree", json_object_new_int64(pid))) < 0)
                return OOM(c);
        if ((flags & CKPT_CHECKPOINT_FULL) &&
            add(params, "full", json_object_new_boolean(true)) < 0)
                return OOM(c);
        if ((flags & CKPT_CHECKPOINT_ALL) && add(params, "all", json_object_new_boolean(true)) < 0)
                return OOM(c);
        r = ckpt_client_call(c, "io.ckptd.CheckpointGroup", params, NULL, 0, &reply);
        if (r < 0 || !ret)
                return r;
        i = calloc(1, sizeof(*i));
        if (!i)
                return OOM(c);
        if (group_from_json(reply, i) < 0) {
                ckpt_group_info_free(i);
                return OOM(c);
        }
        *ret = i;
        return 0;
}

PUBLIC int ckpt_checkpoint_group(struct ckpt_client *c, pid_t pid, unsigned flags,
                                 struct ckpt_group_info **ret)
{
        return checkpoint_group(c, pid, NULL, flags, ret);
}

PUBLIC int ckpt_checkpoint_cgroup(struct ckpt_client *c, const char *cgroup, unsigned flags,
                                  struct ckpt_group_info **ret)
{
        if (!cgroup)
                return c ? fail(c, -EINVAL, "no cgroup") : -EINVAL;
        return checkpoint_group(c, 0, cgroup, flags, ret);
}

/* ---- List / Show ---- */

static void summary_done(struct ckpt_summary *s)
{
        free(s->comm);
        free(s->time);
        free(s->kind);
}

static int summary_from_json(struct json_object *o, struct ckpt_summary *s)
{
        s->id = get_u64(o, "id");
        s->parent = get_u64(o, "parent");
        s->pid = (pid_t)get_i64(o, "pid");
        s->uid = (uint32_t)get_u64(o, "uid");
        s->incremental = get_bool(o, "incremental");
        s->pages = get_u64(o, "pages");
        s->pages_read = get_u64(o, "pages_read");
        s->bytes_stored = get_u64(o, "bytes_stored");
        s->pause_ms = get_double(o, "pause_ms", 0);
        s->duration_ms = get_double(o, "duration_ms", 0);
        s->regions = get_u64(o, "regions");
        s->group = get_u64(o, "group");
        s->group_pause_ms = get_double(o, "group_pause_ms", 0);
        if (get_str(o, "comm", &s->comm) < 0 || get_str(o, "time", &s->time) < 0 ||
            get_str(o, "kind", &s->kind) < 0)
                return -ENOMEM;
        return 0;
}

PUBLIC struct ckpt_list *ckpt_list_free(struct ckpt_list *l)
{
        if (!l)
                return NULL;
        for (size_t i = 0; l->checkpoints && i < l->n_checkpoints; i++)
                summary_done(&l->checkpoints[i]);
        free(l->checkpoints);
        free(l);
        return NULL;
}

PUBLIC int ckpt_list(struct ckpt_client *c, pid_t pid, struct ckpt_list **ret)
{
        _cleanup_json_ struct json_object *reply = NULL;
        struct ckpt_list *l;
        struct json_object *a;
        size_t n;
        int r;

        if (ret)
                *ret = NULL;
        if (!c)
                return -EINVAL;
        if (pid < 0)
                return fail(c, -EINVAL, "invalid process id %d", (int)pid);
        r = call_with(c, "io.ckptd.List", pid > 0 ? "pid" : NULL,
                      pid > 0 ? json_object_new_int64(pid) : NULL, &reply);
        if (r < 0 || !ret)
                return r;

        l = calloc(1, sizeof(*l));
        if (!l)
                return OOM(c);
        a = get_array(reply, "checkpoints", &n);
        l->checkpoints = new_array(n, sizeof(*l->checkpoints));
        if (!l->checkpoints)
                goto oom;
        for (size_t i = 0; a && i < n; i++) {
                l->n_checkpoints = i + 1;
                if (summary_from_json(json_object_array_get_idx(a, i), &l->checkpoints[i]) < 0)
                        goto oom;
        }
        *ret = l;
        return 0;
oom:
        ckpt_list_free(l);
        return OOM(c);
}

PUBLIC int ckpt_list_self(struct ckpt_client *c, struct ckpt_list **ret)
{
        return ckpt_list(c, getpid(), ret);
}

PUBLIC struct ckpt_checkpoint_detail *ckpt_checkpoint_detail_free(struct ckpt_checkpoint_detail *d)
{
        if (!d)
                return NULL;
        summary_done(&d->checkpoint);
        free(d->ranges);
        for (size_t i = 0; d->regions && i < d->n_regions; i++) {
                struct ckpt_region_info *g = &d->regions[i];
                free(g->prot);
                strv_free(g->flags, g->n_flags);
                free(g->path);
                free(g->tracking);
                free(g->tracking_reason);
        }
        free(d->regions);
        free(d->threads);
        free(d);
        return NULL;
}

PUBLIC int ckpt_show(struct ckpt_client *c, uint64_t id, struct ckpt_checkpoint_detail **ret)
{
        _cleanup_json_ struct json_object *reply = NULL;
        struct ckpt_checkpoint_detail *d;
        struct json_object *a;
        size_t n;
        int r;

        if (ret)
                *ret = NULL;
        if (!c)
                return -EINVAL;
        r = call_with(c, "io.ckptd.Show", "id", json_object_new_uint64(id), &reply);
        if (r < 0 || !ret)
                return r;

        d = calloc(1, sizeof(*d));
        if (!d)
                return OOM(c);
        if (summary_from_json(field(reply, "checkpoint"), &d->checkpoint) < 0 ||
            get_ranges(reply, "ranges", &d->ranges, &d->n_ranges) < 0)
                goto oom;

        a = get_array(reply, "regions", &n);
        d->regions = new_array(n, sizeof(*d->regions));
        if (!d->regions)
                goto oom;
        for (size_t i = 0; a && i < n; i++) {
                struct json_object *e = json_object_array_get_idx(a, i);
                struct ckpt_region_info *g = &d->regions[i];

                d->n_regions = i + 1;
                g->start = get_u64(e, "start");
                g->end = get_u64(e, "end");
                g->offset = get_u64(e, "offset");
                g->pages = get_u64(e, "pages");
                g->data_pages = get_u64(e, "data_pages");
                if (get_str(e, "prot", &g->prot) < 0 || get_str(e, "path", &g->path) < 0 ||
                    get_str(e, "tracking", &g->tracking) < 0 ||
                    get_str(e, "tracking_reason", &g->tracking_reason) < 0 ||
                    get_strv(e, "flags", &g->flags, &g->n_flags) < 0)
                        goto oom;
        }

        a = get_array(reply, "threads", &n);
        d->threads = new_array(n, sizeof(*d->threads));
        if (!d->threads)
                goto oom;
        for (size_t i = 0; a && i < n; i++) {
                struct json_object *e = json_object_array_get_idx(a, i);

                d->threads[i].tid = (pid_t)get_i64(e, "tid");
                d->threads[i].rip = get_u64(e, "rip");
                d->threads[i].rsp = get_u64(e, "rsp");
                d->n_threads = i + 1;
        }
        *ret = d;
        return 0;
oom:
        ckpt_checkpoint_detail_free(d);
        return OOM(c);
}

/* ---- Export ---- */

PUBLIC struct ckpt_export_info *ckpt_export_info_free(struct ckpt_export_info *e)
{
        if (!e)
                return NULL;
        free(e->format);
        free(e->layout);
        free(e->written);
        for (size_t i = 0; i < e->n_holes; i++) {
                free(e->holes[i].path);
                free(e->holes[i].reason);
        }
        free(e->holes);
        free(e);
        return NULL;
}

PUBLIC int ckpt_export(struct ckpt_client *c, uint64_t id, enum ckpt_export_format format, int fd,
                       const struct ckpt_addr_range *ranges, size_t n_ranges,
                       struct ckpt_export_info **ret)
{
        _cleanup_json_ struct json_object *params = NULL, *reply = NULL;
        struct ckpt_export_info *e;
        struct json_object *a;
        const char *fmt;
        size_t n;
        int r;

        if (ret)
                *ret = NULL;
        if (!c)
                return -EINVAL;
        if (format == CKPT_EXPORT_RAW)
                fmt = "raw";
        else if (format == CKPT_EXPORT_CORE)
                fmt = "core";
        else
                return fail(c, -EINVAL, "unknown export format %d", (int)format);
        if (fd < 0)
                return fail(c, -EBADF, "no file descriptor to export into");

        params = json_object_new_object();
        if (!params || add(params, "id", json_object_new_uint64(id)) < 0 ||
            add(params, "format", json_object_new_string(fmt)) < 0 ||
            add(params, "fd", json_object_new_int(0)) < 0)
                return OOM(c);
        r = add_ranges(c, params, ranges, n_ranges);
        if (r < 0)
                return r;

        r = ckpt_client_call(c, "io.ckptd.Export", params, &fd, 1, &reply);
        if (r < 0 || !ret)
                return r;

        e = calloc(1, sizeof(*e));
        if (!e)
                return OOM(c);
        e->size = get_u64(reply, "size");
        if (get_str(reply, "format", &e->format) < 0)
                goto oom;
        a = get_array(reply, "layout", &n);
        e->layout = new_array(n, sizeof(*e->layout));
        if (!e->layout)
                goto oom;
        for (size_t i = 0; a && i < n; i++) {
                struct json_object *x = json_object_array_get_idx(a, i);
                e->layout[i] = (struct ckpt_extent){get_u64(x, "start"), get_u64(x, "end"),
                                                    get_u64(x, "offset")};
                e->n_layout = i + 1;
        }
        a = get_array(reply, "written", &n);
        e->written = new_array(n, sizeof(*e->written));
        if (!e->written)
                goto oom;
        for (size_t i = 0; a && i < n; i++) {
                struct json_object *x = json_object_array_get_idx(a, i);
                e->written[i] = (struct ckpt_page_run){get_u64(x, "start"), get_u64(x, "end"),
                                                       get_u64(x, "pages")};
                e->n_written = i + 1;
                e->pages_written += e->written[i].pages;
        }
        /* A daemon without the counts listed every run. */
        e->n_runs = field(reply, "runs") ? (size_t)get_u64(reply, "runs") : e->n_written;
        if (field(reply, "pages_written"))
                e->pages_written = get_u64(reply, "pages_written");
        a = get_array(reply, "holes", &n);
        e->holes = new_array(n, sizeof(*e->holes));
        if (!e->holes)
                goto oom;
        for (size_t i = 0; a && i < n; i++) {
                struct json_object *x = json_object_array_get_idx(a, i);
                struct ckpt_export_hole *h = &e->holes[i];

                *h = (struct ckpt_export_hole){.start = get_u64(x, "start"),
                                               .end = get_u64(x, "end"),
                                               .pages = get_u64(x, "pages")};
                e->n_holes = i + 1;
                if (get_str(x, "path", &h->path) < 0 || get_str(x, "reason", &h->reason) < 0)
                        goto oom;
        }
        *ret = e;
        return 0;
oom:
        ckpt_export_info_free(e);
        return OOM(c);
}

/* ---- Track / Untrack ---- */

static int track_group(struct ckpt_client *c, pid_t pid, const char *cgroup, uint64_t every_sec,
                       uint64_t keep, pid_t *ret_pid, char **ret_tracking, size_t *ret_members)
{
        _cleanup_json_ struct json_object *params = NULL, *reply = NULL;
        int r;

        if (ret_tracking)
                *ret_tracking = NULL;
        if (ret_members)
                *ret_members = 0;
        if (ret_pid)
                *ret_pid = 0;
        if (!c)
                return -EINVAL;
        if (!cgroup && pid <= 0)
                return fail(c, -EINVAL, "invalid process id %d", (int)pid);
        if (cgroup && cgroup[0] != '/')
                return fail(c, -EINVAL, "invalid cgroup '%s': a path from the cgroup root", cgroup);
        params = json_object_new_object();
        if (!params)
                return OOM(c);
        if (cgroup ? add(params, "cgroup", json_object_new_string(cgroup)) < 0
                   : (add(params, "pid", json_object_new_int64(pid)) < 0 ||
                      add(params, "tree", json_object_new_boolean(true)) < 0))
                return OOM(c);
        if (every_sec > 0 && add(params, "every_sec", json_object_new_uint64(every_sec)) < 0)
                return OOM(c);
        if (keep > 0 && add(params, "keep", json_object_new_uint64(keep)) < 0)
                return OOM(c);
        r = ckpt_client_call(c, "io.ckptd.Track", params, NULL, 0, &reply);
        if (r < 0)
                return r;
        if (ret_members)
                *ret_members = (size_t)get_u64(reply, "members");
        if (ret_pid)
                *ret_pid = (pid_t)get_i64(reply, "pid");
        if (ret_tracking && get_str(reply, "tracking", ret_tracking) < 0)
                return OOM(c);
        return 0;
}

PUBLIC int ckpt_track_tree(struct ckpt_client *c, pid_t pid, uint64_t every_sec, uint64_t keep,
                           char **ret_tracking, size_t *ret_members)
{
        return track_group(c, pid, NULL, every_sec, keep, NULL, ret_tracking, ret_members);
}

PUBLIC int ckpt_track_cgroup(struct ckpt_client *c, const char *cgroup, uint64_t every_sec,
                             uint64_t keep, pid_t *ret_pid, char **ret_tracking,
                             size_t *ret_members)
{
        if (!cgroup)
                return c ? fail(c, -EINVAL, "no cgroup") : -EINVAL;
        return track_group(c, 0, cgroup, every_sec, keep, ret_pid, ret_tracking, ret_members);
}

PUBLIC int ckpt_track(struct ckpt_client *c, pid_t pid, int uffd, uint64_t every_sec, uint64_t keep,
                      char **ret_tracking)
{
        _cleanup_json_ struct json_object *params = NULL, *reply = NULL;
        int r;

        if (ret_tracking)
                *ret_tracking = NULL;
        if (!c)
                return -EINVAL;
        if (pid <= 0)
                return fail(c, -EINVAL, "invalid process id %d", (int)pid);

        params = json_object_new_object();
        if (!params || add(params, "pid", json_object_new_int64(pid)) < 0)
                return OOM(c);
        if (uffd >= 0 && add(params, "uffd", json_object_new_int(0)) < 0)
                return OOM(c);
        if (every_sec > 0 && add(params, "every_sec", json_object_new_uint64(every_sec)) < 0)
                return OOM(c);
        if (keep > 0 && add(params, "keep", json_object_new_uint64(keep)) < 0)
                return OOM(c);

        r = ckpt_client_call(c, "io.ckptd.Track", params, uffd >= 0 ? &uffd : NULL,
                             uffd >= 0 ? 1 : 0, &reply);
        if (r < 0 || !ret_tracking)
                return r;
        if (get_str(reply, "tracking", ret_tracking) < 0)
                return OOM(c);
        return 0;
}

/* A userfaultfd of this process in async write-protect mode, or a negative errno. */
static int self_uffd(void)
{
        struct uffdio_api api = {
                .api = UFFD_API,
                .features = UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED,
        };
        _cleanup_close_ int fd = -EBADF;

        fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
        if (fd < 0)
                return negative_errno();
        if (ioctl(fd, UFFDIO_API, &api) < 0)
                return negative_errno();
        return TAKE_FD(fd);
}

PUBLIC int ckpt_track_self(struct ckpt_client *c, char **ret_tracking)
{
        _cleanup_close_ int uffd = -EBADF;
        int r;

        if (ret_tracking)
                *ret_tracking = NULL;
        if (!c)
                return -EINVAL;
        uffd = self_uffd();
        if (uffd >= 0) {
                r = ckpt_track(c, getpid(), uffd, 0, 0, ret_tracking);
                if (r >= 0)
                        return 1;
                /* A daemon that cannot use our descriptor can still arm
                 * tracking itself; any other refusal is final. */
                if (!c->error_name || (strcmp(c->error_name, CKPT_ERR_TRACKING_FAILED) != 0 &&
                                       strcmp(c->error_name, VARLINK_ERR_INVALID_PARAMETER) != 0))
                        return r;
        }
        r = ckpt_track(c, getpid(), -1, 0, 0, ret_tracking);
        return r < 0 ? r : 0;
}

PUBLIC int ckpt_untrack(struct ckpt_client *c, pid_t pid)
{
        if (!c)
                return -EINVAL;
        if (pid <= 0)
                return fail(c, -EINVAL, "invalid process id %d", (int)pid);
        return call_with(c, "io.ckptd.Untrack", "pid", json_object_new_int64(pid), NULL);
}

/* ---- Restore ---- */

PUBLIC struct ckpt_restore_info *ckpt_restore_info_free(struct ckpt_restore_info *r)
{
        free(r);
        return NULL;
}

PUBLIC int ckpt_restore(struct ckpt_client *c, uint64_t id, pid_t pid, unsigned flags,
                        const struct ckpt_addr_range *ranges, size_t n_ranges,
                        struct ckpt_restore_info **ret)
{
        _cleanup_json_ struct json_object *params = NULL, *reply = NULL;
        struct ckpt_restore_info *i;
        int r;

        if (ret)
                *ret = NULL;
        if (!c)
                return -EINVAL;
        if (pid <= 0)
                return fail(c, -EINVAL, "invalid process id %d", (int)pid);
        if (flags & ~CKPT_RESTORE_REGISTERS)
                return fail(c, -EINVAL, "unknown restore flags 0x%x", flags);
        params = json_object_new_object();
        if (!params || add(params, "id", json_object_new_uint64(id)) < 0 ||
            add(params, "pid", json_object_new_int64(pid)) < 0)
                return OOM(c);
        if ((flags & CKPT_RESTORE_REGISTERS) &&
            add(params, "registers", json_object_new_boolean(true)) < 0)
                return OOM(c);
        r = add_ranges(c, params, ranges, n_ranges);
        if (r < 0)
                return r;

        r = ckpt_client_call(c, "io.ckptd.Restore", params, NULL, 0, &reply);
        if (r < 0 || !ret)
                return r;
        i = calloc(1, sizeof(*i));
        if (!i)
                return OOM(c);
        i->pages_written = get_u64(reply, "pages_written");
        i->pages_compared = get_u64(reply, "pages_compared");
        i->bytes_written = get_u64(reply, "bytes_written");
        i->pause_ms = get_double(reply, "pause_ms", 0);
        *ret = i;
        return 0;
}

PUBLIC int ckpt_restore_group(struct ckpt_client *c, uint64_t id, unsigned flags,
                              struct ckpt_restore_info **ret, size_t *ret_members)
{
        _cleanup_json_ struct json_object *params = NULL, *reply = NULL;
        struct ckpt_restore_info *i;
        size_t n = 0;
        int r;

        if (ret)
                *ret = NULL;
        if (ret_members)
                *ret_members = 0;
        if (!c)
                return -EINVAL;
        if (flags & ~CKPT_RESTORE_REGISTERS)
                return fail(c, -EINVAL, "unknown restore flags 0x%x", flags);
        params = json_object_new_object();
        if (!params || add(params, "id", json_object_new_uint64(id)) < 0)
                return OOM(c);
        if ((flags & CKPT_RESTORE_REGISTERS) &&
            add(params, "registers", json_object_new_boolean(true)) < 0)
                return OOM(c);
        r = ckpt_client_call(c, "io.ckptd.RestoreGroup", params, NULL, 0, &reply);
        if (r < 0)
                return r;
        (void)get_array(reply, "members", &n);
        if (ret_members)
                *ret_members = n;
        if (!ret)
                return 0;
        i = calloc(1, sizeof(*i));
        if (!i)
                return OOM(c);
        i->pages_written = get_u64(reply, "pages_written");
        i->pages_compared = get_u64(reply, "pages_compared");
        i->bytes_written = get_u64(reply, "bytes_written");
        i->pause_ms = get_double(reply, "pause_ms", 0);
        *ret = i;
        return 0;
}

PUBLIC int ckpt_restore_range(struct ckpt_client *c, uint64_t id, void *start, void *end)
{
        struct ckpt_addr_range r = {(uint64_t)(uintptr_t)start, (uint64_t)(uintptr_t)end};

        return ckpt_restore(c, id, getpid(), 0, &r, 1, NULL);
}

PUBLIC int ckpt_restore_range_to(struct ckpt_client *c, uint64_t id, uint64_t src_start,
                                 uint64_t src_end, void *dst)
{
        _cleanup_close_ int fd = -EBADF;
        struct ckpt_addr_range r;
        uint64_t skip, len, done = 0;
        int k;

        if (!c)
                return -EINVAL;
        if (src_start >= src_end)
                return fail(c, -EINVAL,
                            "invalid range 0x%" PRIx64 "-0x%" PRIx64 ": start must be below end",
                            src_start, src_end);
        if (!dst)
                return fail(c, -EFAULT, "no destination");
        r.start = PAGE_ALIGN_UP(src_start);
        r.end = PAGE_ALIGN_DOWN(src_end);
        if (r.start >= r.end || r.start < src_start)
                return 0; /* no whole page in the range: nothing was checkpointed */
        skip = r.start - src_start;
        len = r.end - r.start;

        fd = memfd_create("ckpt-restore", MFD_CLOEXEC);
        if (fd < 0) {
                k = negative_errno();
                return fail(c, k, "cannot create a memory file: %s", strerror(-k));
        }
        /* One range: byte (addr - r.start) of the file holds the byte at addr;
         * pages the checkpoint has no data for are holes, which read as zeros. */
        k = ckpt_export(c, id, CKPT_EXPORT_RAW, fd, &r, 1, NULL);
        if (k < 0)
                return k;
        while (done < len) {
                size_t n = (size_t)MIN(len - done, (uint64_t)(1u << 30));
                ssize_t got = pread(fd, (char *)dst + skip + done, n, (off_t)done);

                if (got < 0 && errno == EINTR)
                        continue;
                if (got < 0) {
                        k = negative_errno();
                        return fail(c, k, "cannot copy checkpoint %" PRIu64 " into %p: %s", id,
                                    (void *)((char *)dst + skip + done), strerror(-k));
                }
                if (got == 0) {
                        /* The file ended early: the rest are holes. */
                        memset((char *)dst + skip + done, 0, (size_t)(len - done));
                        break;
                }
                done += (uint64_t)got;
        }
        return 0;
}

/* ---- Diff ---- */

PUBLIC struct ckpt_diff *ckpt_diff_free(struct ckpt_diff *d)
{
        if (!d)
                return NULL;
        free(d->regions_json);
        free(d);
        return NULL;
}

PUBLIC int ckpt_diff(struct ckpt_client *c, uint64_t from, uint64_t to, struct ckpt_diff **ret)
{
        _cleanup_json_ struct json_object *params = NULL, *reply = NULL;
        struct ckpt_diff *d;
        struct json_object *a;
        int r;

        if (ret)
                *ret = NULL;
        if (!c)
                return -EINVAL;
        params = json_object_new_object();
        if (!params || add(params, "from", json_object_new_uint64(from)) < 0 ||
            add(params, "to", json_object_new_uint64(to)) < 0)
                return OOM(c);
        r = ckpt_client_call(c, "io.ckptd.Diff", params, NULL, 0, &reply);
        if (r < 0 || !ret)
                return r;
        d = calloc(1, sizeof(*d));
        if (!d)
                return OOM(c);
        d->changed = get_u64(reply, "changed");
        d->added = get_u64(reply, "added");
        d->removed = get_u64(reply, "removed");
        a = get_array(reply, "regions", &d->n_regions);
        d->regions_json =
                strdup(a ? json_object_to_json_string_ext(a, JSON_C_TO_STRING_PLAIN) : "[]");
        if (!d->regions_json) {
                ckpt_diff_free(d);
                return OOM(c);
        }
        *ret = d;
        return 0;
}

/* ---- Verify / GC / Delete ---- */

PUBLIC struct ckpt_verify_info *ckpt_verify_info_free(struct ckpt_verify_info *v)
{
        if (!v)
                return NULL;
        strv_free(v->problems, v->n_problems);
        free(v);
        return NULL;
}

PUBLIC int ckpt_verify(struct ckpt_client *c, uint64_t id, struct ckpt_verify_info **ret)
{
        _cleanup_json_ struct json_object *reply = NULL;
        struct ckpt_verify_info *v;
        int r;

        if (ret)
                *ret = NULL;
        if (!c)
                return -EINVAL;
        r = call_with(c, "io.ckptd.Verify", id > 0 ? "id" : NULL,
                      id > 0 ? json_object_new_uint64(id) : NULL, &reply);
        if (r < 0 || !ret)
                return r;
        v = calloc(1, sizeof(*v));
        if (!v)
                return OOM(c);
        v->ok = get_bool(reply, "ok");
        v->checked = get_u64(reply, "checked");
        if (get_strv(reply, "problems", &v->problems, &v->n_problems) < 0) {
                ckpt_verify_info_free(v);
                return OOM(c);
        }
        *ret = v;
        return 0;
}

PUBLIC struct ckpt_gc_info *ckpt_gc_info_free(struct ckpt_gc_info *g)
{
        if (!g)
                return NULL;
        free(g->deleted);
        free(g);
        return NULL;
}

PUBLIC int ckpt_gc(struct ckpt_client *c, int64_t keep, int64_t max_age_sec,
                   struct ckpt_gc_info **ret)
{
        _cleanup_json_ struct json_object *params = NULL, *reply = NULL;
        struct ckpt_gc_info *g;
        struct json_object *a;
        size_t n;
        int r;

        if (ret)
                *ret = NULL;
        if (!c)
                return -EINVAL;
        params = json_object_new_object();
        if (!params || (keep >= 0 && add(params, "keep", json_object_new_int64(keep)) < 0) ||
            (max_age_sec >= 0 &&
             add(params, "max_age_sec", json_object_new_int64(max_age_sec)) < 0))
                return OOM(c);
        r = ckpt_client_call(c, "io.ckptd.GC", params, NULL, 0, &reply);
        if (r < 0 || !ret)
                return r;
        g = calloc(1, sizeof(*g));
        if (!g)
                return OOM(c);
        g->reclaimed_bytes = get_u64(reply, "reclaimed_bytes");
        a = get_array(reply, "deleted", &n);
        g->deleted = new_array(n, sizeof(*g->deleted));
        if (!g->deleted) {
                ckpt_gc_info_free(g);
                return OOM(c);
        }
        for (size_t i = 0; a && i < n; i++)
                (void)to_u64(json_object_array_get_idx(a, i), &g->deleted[i]);
        g->n_deleted = n;
        *ret = g;
        return 0;
}

PUBLIC int ckpt_delete(struct ckpt_client *c, uint64_t id)
{
        if (!c)
                return -EINVAL;
        return call_with(c, "io.ckptd.Delete", "id", json_object_new_uint64(id), NULL);
}
