/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ckptctl.c: the command-line front end of ckptd. Owns argument parsing,
 * human output (aligned tables, sizes, times) and --json output; every call
 * goes through libckpt (typed calls) or varlink_call() via libckpt's generic
 * call, never a second protocol implementation. Exit status: 0 success, 1
 * failure (one "ckptctl: ..." line on stderr), 2 usage error.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ckpt/libckpt.h"
#include "ckpt/proto.h"
#include "ctl-cgroup.h"
#include "ctl-metrics.h"
#include "ctl-parse.h"
#include "ctl-table.h"
#include "ctl-top.h"
#include "libckpt-internal.h"
#include "ckpt/macro-fundamental.h"
#include "varlink.h"

#ifndef CKPT_VERSION
#define CKPT_VERSION "unknown"
#endif

#define EXIT_USAGE 2
#define MAX_POLICY_FILE (512u * 1024u)

static const char *arg_socket;
static bool arg_json;

static const char *program = "ckptctl";

_printf_(1, 2) static int error(const char *fmt, ...)
{
        va_list ap;

        fprintf(stderr, "%s: ", program);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        return EXIT_FAILURE;
}

_printf_(1, 2) static int usage_error(const char *fmt, ...)
{
        va_list ap;

        fprintf(stderr, "%s: ", program);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        return EXIT_USAGE;
}

static int client_error(struct ckpt_client *c, int r)
{
        const char *m = ckpt_last_error(c);
        return error("%s", *m ? m : strerror(-r));
}

static void ckpt_disconnectp(struct ckpt_client **c)
{
        ckpt_disconnect(*c);
}
#define _cleanup_client_ __attribute__((cleanup(ckpt_disconnectp)))

static int open_client(struct ckpt_client **ret)
{
        const char *path = ckpt_socket_path(arg_socket);
        int r;

        r = ckpt_connect(arg_socket, ret);
        if (r < 0) {
                if (r == -ENOENT || r == -ECONNREFUSED)
                        return error("cannot connect to %s: %s (is ckptd running?)", path,
                                     strerror(-r));
                return error("cannot connect to %s: %s", path, strerror(-r));
        }
        return 0;
}

static int print_json(struct ckpt_client *c)
{
        struct json_object *o = ckpt_client_last_reply(c);
        const char *t;

        t = o ? json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
                                                          JSON_C_TO_STRING_SPACED |
                                                          JSON_C_TO_STRING_NOSLASHESCAPE)
              : "{}";
        puts(t ? t : "{}");
        return 0;
}

/* ---- parsing ---- */

static int add_range(struct ckpt_addr_range **ranges, size_t *n, const char *s)
{
        struct ckpt_addr_range r, *p;
        int k;

        k = ctl_parse_range(s, &r);
        if (k == -ENOMEM)
                return error("out of memory");
        if (k == -EINVAL)
                return usage_error("invalid range '%s': expected START-END", s);
        if (k == -EDOM)
                return usage_error("invalid range '%s': START and END must be addresses", s);
        if (k < 0)
                return usage_error("invalid range '%s': start must be below end", s);
        if (*n >= CKPT_MAX_RANGES)
                return usage_error("too many ranges (at most %u)", CKPT_MAX_RANGES);
        p = realloc(*ranges, (*n + 1) * sizeof(*p));
        if (!p)
                return error("out of memory");
        p[(*n)++] = r;
        *ranges = p;
        return 0;
}

/* ---- formatting ---- */

static const char *fmt_size(char buf[static 32], uint64_t b)
{
        static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
        double v = (double)b;
        size_t u = 0;

        if (b < 1024) {
                snprintf(buf, 32, "%" PRIu64 " B", b);
                return buf;
        }
        v /= 1024;
        while (v >= 1024 && u + 1 < ELEMENTSOF(units)) {
                v /= 1024;
                u++;
        }
        snprintf(buf, 32, "%.1f %s", v, units[u]);
        return buf;
}

static const char *fmt_ms(char buf[static 32], double ms)
{
        if (ms < 0)
                snprintf(buf, 32, "-");
        else if (ms < 1)
                snprintf(buf, 32, "%.2f ms", ms);
        else if (ms < 10000)
                snprintf(buf, 32, "%.1f ms", ms);
        else
                snprintf(buf, 32, "%.1f s", ms / 1000);
        return buf;
}

static const char *fmt_uptime(char buf[static 32], double sec)
{
        uint64_t s = sec > 0 ? (uint64_t)sec : 0;

        if (s < 60)
                snprintf(buf, 32, "%" PRIu64 "s", s);
        else if (s < 3600)
                snprintf(buf, 32, "%" PRIu64 "min %" PRIu64 "s", s / 60, s % 60);
        else if (s < 86400)
                snprintf(buf, 32, "%" PRIu64 "h %" PRIu64 "min", s / 3600, s / 60 % 60);
        else
                snprintf(buf, 32, "%" PRIu64 "d %" PRIu64 "h", s / 86400, s / 3600 % 24);
        return buf;
}

static const char *fmt_u64(char buf[static 32], uint64_t v)
{
        snprintf(buf, 32, "%" PRIu64, v);
        return buf;
}

static const char *fmt_id(char buf[static 32], uint64_t v)
{
        return v ? fmt_u64(buf, v) : "-";
}

/* ---- options shared by the verbs ---- */

enum {
        OPT_FULL = 0x100,
        OPT_ALL,
        OPT_RANGE,
        OPT_OUT,
        OPT_FORMAT,
        OPT_EVERY,
        OPT_KEEP,
        OPT_PID,
        OPT_REGISTERS,
        OPT_MAX_AGE,
        OPT_INTERVAL,
        OPT_COUNT,
        OPT_SORT,
        OPT_TREE,
        OPT_CGROUP,
        OPT_UNIT,
};

struct verb;
static const struct verb *current_verb;
static void verb_help(const struct verb *v);

/* Common getopt loop step: -h/--help and unknown options. Returns -1 to go on
 * with the verb's own handling, else an exit status. */
static int common_option(int opt, char **argv)
{
        if (opt == 'h') {
                verb_help(current_verb);
                return EXIT_SUCCESS;
        }
        if (opt == '?') {
                if (optopt && optopt < 0x100)
                        return usage_error("unknown option '-%c'", optopt);
                return usage_error("unknown option or missing value '%s'", argv[optind - 1]);
        }
        if (opt == ':')
                return usage_error("option '%s' needs a value", argv[optind - 1]);
        return -1;
}

#define HELP_OPT                                                                                   \
        {                                                                                          \
                "help", no_argument, NULL, 'h'                                                     \
        }

static int want_args(int argc, char **argv, int min, int max)
{
        int n = argc - optind;

        if (n < min)
                return usage_error("%s: missing argument", argv[0]);
        if (n > max)
                return usage_error("%s: unexpected argument '%s'", argv[0], argv[optind + max]);
        return -1;
}

/* A verb with no option but --help, and min to max arguments: an exit status,
 * or -1 to go on. */
static int only_args(int argc, char **argv, int min, int max)
{
        static const struct option opts[] = {HELP_OPT, {}};
        int opt, r;

        while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) >= 0)
                if ((r = common_option(opt, argv)) >= 0)
                        return r;
        return want_args(argc, argv, min, max);
}

/* ---- progress of slow calls: a line on a terminal ---- */

struct progress_line {
        bool shown;
        uint64_t t0_usec, done0;
};

static uint64_t mono_usec(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* "storing: 131072 of 262171 pages (50%), 812 MiB/s, 1 s left"; what the
 * daemon names is shown only when it is one of ours (nothing it sends
 * reaches the terminal as it is). */
static void progress_show(const char *what, uint64_t done, uint64_t total, void *userdata)
{
        static const struct {
                const char *what, *doing, *unit;
        } words[] = {
                {"store", "storing", "pages"},      {"export", "exporting", "pages"},
                {"verify", "verifying", "objects"}, {"restore", "comparing", "pages"},
                {"gc", "collecting", "packs"},
        };
        const char *doing = "working", *unit = "";
        struct progress_line *pl = userdata;
        uint64_t now = mono_usec();
        char rate[64] = "";
        double s;

        for (size_t i = 0; i < ELEMENTSOF(words); i++)
                if (strcmp(what, words[i].what) == 0) {
                        doing = words[i].doing;
                        unit = words[i].unit;
                }
        if (!pl->t0_usec) {
                pl->t0_usec = now;
                pl->done0 = done;
        }
        s = (now - pl->t0_usec) / 1e6;
        if (s > 0.1 && done > pl->done0) {
                double per_s = (done - pl->done0) / s;

                /* Pages and objects are 4 KiB each. */
                if (strcmp(unit, "packs") == 0)
                        snprintf(rate, sizeof(rate), ", %.0f s left", (total - done) / per_s);
                else
                        snprintf(rate, sizeof(rate), ", %.0f MiB/s, %.0f s left",
                                 per_s * 4096 / (1 << 20), (total - done) / per_s);
        }
        fprintf(stderr, "\r%s: %" PRIu64 " of %" PRIu64 " %s (%.0f%%)%s\033[K", doing, done, total,
                unit, total ? 100.0 * done / total : 100.0, rate);
        pl->shown = true;
}

/* Progress lines for c's slow calls: on a terminal (stderr), never with --json. */
static void progress_on(struct ckpt_client *c, struct progress_line *pl)
{
        if (!arg_json && isatty(STDERR_FILENO))
                ckpt_client_set_progress(c, progress_show, pl);
}

/* The line erased once the call is answered. */
static void progress_off(struct ckpt_client *c, struct progress_line *pl)
{
        ckpt_client_set_progress(c, NULL, NULL);
        if (pl->shown)
                fputs("\r\033[K", stderr);
        pl->shown = false;
}

/* ---- verbs ---- */

static int verb_status(int argc, char **argv)
{
        _cleanup_client_ struct ckpt_client *c = NULL;
        struct ckpt_status *s = NULL;
        char b1[32], b2[32], b3[32];
        int r;

        if ((r = only_args(argc, argv, 0, 0)) >= 0)
                return r;
        if (open_client(&c) != 0)
                return EXIT_FAILURE;
        r = ckpt_status(c, &s);
        if (r < 0)
                return client_error(c, r);
        if (arg_json) {
                ckpt_status_free(s);
                return print_json(c);
        }

        printf("ckptd %s, up %s\n", s->version ? s->version : "?", fmt_uptime(b1, s->uptime_sec));
        printf("bpf:      %s%s\n", s->bpf_mode ? s->bpf_mode : "-",
               s->bpf_mode && strcmp(s->bpf_mode, "none") != 0 && !s->bpf_hooks_attached
                       ? " (fault and syscall programs detached: nothing tracked)"
                       : "");
        printf("tracking: ");
        for (size_t i = 0; i < s->n_tracking; i++)
                printf("%s%s", i ? ", " : "", s->tracking[i]);
        printf("%s\n", s->n_tracking ? "" : "-");
        if (s->store_idle)
                printf("storing:  at idle priority (SCHED_IDLE) once the process is thawed");
        else if (s->store_nice > 0)
                printf("storing:  at nice %d once the process is thawed", s->store_nice);
        else
                printf("storing:  at the daemon's priority");
        printf(", %u thread%s\n", s->store.threads, s->store.threads == 1 ? "" : "s");
        if (s->store.path)
                printf("store:    %s: %" PRIu64 " checkpoints, %" PRIu64 " objects, %s stored "
                       "(%s logical, dedup %.2fx)\n",
                       s->store.path, s->store.checkpoints, s->store.objects,
                       fmt_size(b2, s->store.stored_bytes), fmt_size(b3, s->store.logical_bytes),
                       s->store.dedup_ratio);
        else /* not root: the daemon gives the figures of our own checkpoints */
                printf("store:    yours: %" PRIu64 " checkpoints, %s stored (%s logical)\n",
                       s->store.checkpoints, fmt_size(b2, s->store.stored_bytes),
                       fmt_size(b3, s->store.logical_bytes));
        for (size_t i = 0; i < s->n_limits; i++)
                printf("%-10s%-22s %10" PRIu64 "   hit %" PRIu64 "\n",
                       i ? "" : "limits:", s->limits[i].name, s->limits[i].limit, s->limits[i].hit);

        if (s->n_processes == 0) {
                printf("\nno tracked processes\n");
                ckpt_status_free(s);
                return 0;
        }
        static const char *const h[] = {"PID",   "COMM",   "UID",  "TRACKING", "POLICY", "GROUP",
                                        "DIRTY", "FAULTS", "LAST", "PAUSE",    "NEXT"};
        static const bool right[] = {true, false, true, false, false, true,
                                     true, true,  true, true,  false};
        _cleanup_table_ struct table t = {.n_cols = ELEMENTSOF(h), .headers = h, .right = right};
        for (size_t i = 0; i < s->n_processes; i++) {
                const struct ckpt_process_status *p = &s->processes[i];
                if (table_addf(&t, "%d", (int)p->pid) < 0 || table_add(&t, p->comm) < 0 ||
                    table_addf(&t, "%u", p->uid) < 0 || table_add(&t, p->tracking) < 0 ||
                    table_add(&t, p->policy) < 0 ||
                    table_add(&t, p->group ? fmt_u64(b1, (uint64_t)p->group) : NULL) < 0 ||
                    table_add(&t, fmt_size(b1, p->dirty_pages * 4096)) < 0 ||
                    table_add(&t, fmt_u64(b1, p->write_faults)) < 0 ||
                    table_add(&t, fmt_id(b1, p->last_checkpoint)) < 0 ||
                    table_add(&t, fmt_ms(b1, p->last_pause_ms)) < 0 ||
                    table_add(&t, p->next_due ? p->next_due : p->note) < 0) {
                        ckpt_status_free(s);
                        return error("out of memory");
                }
        }
        putchar('\n');
        table_print(&t, stdout);
        ckpt_status_free(s);
        return 0;
}

static void print_ranges_inline(const struct ckpt_addr_range *r, size_t n)
{
        for (size_t i = 0; i < n; i++)
                printf("%s0x%" PRIx64 "-0x%" PRIx64, i ? ", " : "", r[i].start, r[i].end);
}

/* --unit NAME: its cgroup's path into buf, and *cgroup pointed at it;
 * EXIT_FAILURE (said why) when no single cgroup has that name. */
static int unit_cgroup(const char *unit, char *buf, size_t size, const char **cgroup)
{
        int r = ctl_unit_cgroup(unit, buf, size);

        if (r < 0)
                return error("unit '%s': %s", unit,
                             r == -ENOENT     ? "no cgroup of that name"
                             : r == -ENOTUNIQ ? "more than one cgroup of that name"
                                              : strerror(-r));
        *cgroup = buf;
        return 0;
}

/* One group checkpoint of the tree of pid (checkpoint --tree), or of a
 * cgroup (--cgroup, --unit). */
static int checkpoint_group(pid_t pid, const char *cgroup, unsigned flags)
{
        _cleanup_client_ struct ckpt_client *c = NULL;
        struct ckpt_group_info *g = NULL;
        char b1[32], b2[32], b3[32];
        int r;

        if (open_client(&c) != 0)
                return EXIT_FAILURE;
        r = cgroup ? ckpt_checkpoint_cgroup(c, cgroup, flags, &g)
                   : ckpt_checkpoint_group(c, pid, flags, &g);
        if (r < 0)
                return client_error(c, r);
        if (arg_json) {
                ckpt_group_info_free(g);
                return print_json(c);
        }
        printf("group checkpoint %" PRIu64 " of ", g->id);
        if (cgroup)
                printf("cgroup %s", cgroup);
        else
                printf("the tree of pid %d", (int)g->pid);
        printf(": %zu process%s, %" PRIu64 " pages, %" PRIu64
               " read, %s stored, pause %s, took %s\n",
               g->n_members, g->n_members == 1 ? "" : "es", g->pages, g->pages_read,
               fmt_size(b1, g->bytes_stored), fmt_ms(b2, g->pause_ms), fmt_ms(b3, g->duration_ms));
        for (size_t k = 0; k < g->n_members; k++) {
                const struct ckpt_group_member *m = &g->members[k];

                if (!m->id) {
                        printf("  pid %d: no checkpoint: %s\n", (int)m->pid,
                               m->error ? m->error : "?");
                        continue;
                }
                printf("  checkpoint %" PRIu64 " of pid %d (", m->id, (int)m->pid);
                if (m->incremental)
                        printf("incremental, parent %s", fmt_id(b1, m->parent));
                else
                        printf("full%s", m->armed ? ", tracking armed now" : "");
                printf("): %" PRIu64 " pages, %" PRIu64 " read, %s stored, pause %s\n", m->pages,
                       m->pages_read, fmt_size(b1, m->bytes_stored), fmt_ms(b2, m->pause_ms));
        }
        ckpt_group_info_free(g);
        return 0;
}

static int verb_checkpoint(int argc, char **argv)
{
        static const struct option opts[] = {HELP_OPT,
                                             {"full", no_argument, NULL, OPT_FULL},
                                             {"all", no_argument, NULL, OPT_ALL},
                                             {"range", required_argument, NULL, OPT_RANGE},
                                             {"tree", no_argument, NULL, OPT_TREE},
                                             {"cgroup", required_argument, NULL, OPT_CGROUP},
                                             {"unit", required_argument, NULL, OPT_UNIT},
                                             {}};
        const char *cgroup = NULL, *unit = NULL;
        char unit_cg[4096];
        bool tree = false;
        _cleanup_client_ struct ckpt_client *c = NULL;
        _cleanup_free_ struct ckpt_addr_range *ranges = NULL;
        struct ckpt_checkpoint_info *i = NULL;
        size_t n_ranges = 0;
        unsigned flags = 0;
        char b1[32], b2[32], b3[32];
        pid_t pid;
        int opt, r;

        while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) >= 0) {
                if ((r = common_option(opt, argv)) >= 0)
                        return r;
                if (opt == OPT_FULL)
                        flags |= CKPT_CHECKPOINT_FULL;
                else if (opt == OPT_ALL)
                        flags |= CKPT_CHECKPOINT_ALL;
                else if (opt == OPT_TREE)
                        tree = true;
                else if (opt == OPT_CGROUP)
                        cgroup = optarg;
                else if (opt == OPT_UNIT)
                        unit = optarg;
                else if (opt == OPT_RANGE && (r = add_range(&ranges, &n_ranges, optarg)) != 0)
                        return r;
        }
        if ((cgroup || unit) && (tree || n_ranges || (cgroup && unit)))
                return usage_error(
                        "--cgroup and --unit take no PID, --tree, --range or each other");
        if (unit && (r = unit_cgroup(unit, unit_cg, sizeof(unit_cg), &cgroup)) != 0)
                return r;
        if (cgroup) {
                if ((r = want_args(argc, argv, 0, 0)) >= 0)
                        return r;
                return checkpoint_group(0, cgroup, flags);
        }
        if ((r = want_args(argc, argv, 1, 1)) >= 0)
                return r;
        if (ctl_parse_pid(argv[optind], &pid) < 0)
                return usage_error("invalid process id '%s'", argv[optind]);
        if (tree && n_ranges)
                return usage_error("--tree checkpoints whole processes: no --range");
        if (tree)
                return checkpoint_group(pid, NULL, flags);
        if (open_client(&c) != 0)
                return EXIT_FAILURE;
        struct progress_line pl = {};
        progress_on(c, &pl);
        r = ckpt_checkpoint(c, pid, flags, ranges, n_ranges, &i);
        progress_off(c, &pl);
        if (r < 0)
                return client_error(c, r);
        if (arg_json) {
                ckpt_checkpoint_info_free(i);
                return print_json(c);
        }
        printf("checkpoint %" PRIu64 " of pid %d (", i->id, (int)i->pid);
        if (i->incremental)
                printf("incremental, parent %s", fmt_id(b1, i->parent));
        else if (i->parent)
                printf("full, parent %" PRIu64, i->parent);
        else
                printf("full");
        printf("): %" PRIu64 " pages, %" PRIu64 " read, %s stored, pause %s, took %s\n", i->pages,
               i->pages_read, fmt_size(b1, i->bytes_stored), fmt_ms(b2, i->pause_ms),
               fmt_ms(b3, i->duration_ms));
        for (size_t k = 0; k < i->n_skipped; k++)
                printf("skipped 0x%" PRIx64 "-0x%" PRIx64 " (not mapped)\n", i->skipped[k].start,
                       i->skipped[k].end);
        ckpt_checkpoint_info_free(i);
        return 0;
}

/* One row of list: a checkpoint; member: shown under its group's row. */
static int list_row(struct table *t, const struct ckpt_summary *s, bool member)
{
        char b1[32], kind[16];

        snprintf(kind, sizeof(kind), "%s%s", member ? "+ " : "", s->kind);
        if (table_add(t, fmt_u64(b1, s->id)) < 0 || table_add(t, fmt_id(b1, s->parent)) < 0 ||
            table_addf(t, "%d", (int)s->pid) < 0 || table_add(t, s->comm) < 0 ||
            table_add(t, ctl_fmt_time(b1, s->time)) < 0 || table_add(t, kind) < 0 ||
            table_add(t, fmt_u64(b1, s->pages)) < 0 ||
            table_add(t, fmt_u64(b1, s->pages_read)) < 0 ||
            table_add(t, fmt_size(b1, s->bytes_stored)) < 0 ||
            table_add(t, fmt_ms(b1, s->pause_ms)) < 0)
                return -ENOMEM;
        return 0;
}

/* A group checkpoint as one row (its figures summed, its pause the
 * group's), then its members, from the first of them (l->checkpoints[at]). */
static int list_group(struct table *t, const struct ckpt_list *l, size_t at, bool *shown)
{
        const struct ckpt_summary *first = &l->checkpoints[at];
        uint64_t pages = 0, read = 0, stored = 0;
        size_t n = 0;
        char b1[32], kind[32];

        for (size_t i = at; i < l->n_checkpoints; i++)
                if (l->checkpoints[i].group == first->group) {
                        pages += l->checkpoints[i].pages;
                        read += l->checkpoints[i].pages_read;
                        stored += l->checkpoints[i].bytes_stored;
                        n++;
                }
        snprintf(kind, sizeof(kind), "group(%zu)", n);
        if (table_add(t, fmt_u64(b1, first->group)) < 0 || table_add(t, NULL) < 0 ||
            table_addf(t, "%d", (int)first->pid) < 0 || table_add(t, first->comm) < 0 ||
            table_add(t, ctl_fmt_time(b1, first->time)) < 0 || table_add(t, kind) < 0 ||
            table_add(t, fmt_u64(b1, pages)) < 0 || table_add(t, fmt_u64(b1, read)) < 0 ||
            table_add(t, fmt_size(b1, stored)) < 0 ||
            table_add(t, fmt_ms(b1, first->group_pause_ms)) < 0)
                return -ENOMEM;
        for (size_t i = at; i < l->n_checkpoints; i++)
                if (l->checkpoints[i].group == first->group) {
                        shown[i] = true;
                        if (list_row(t, &l->checkpoints[i], true) < 0)
                                return -ENOMEM;
                }
        return 0;
}

static int verb_list(int argc, char **argv)
{
        static const char *const h[] = {"ID",   "PARENT", "PID",  "COMM",   "TIME",
                                        "KIND", "PAGES",  "READ", "STORED", "PAUSE"};
        static const bool right[] = {true, true, true, false, false, false, true, true, true, true};
        _cleanup_client_ struct ckpt_client *c = NULL;
        _cleanup_table_ struct table t = {.n_cols = ELEMENTSOF(h), .headers = h, .right = right};
        struct ckpt_list *l = NULL;
        _cleanup_free_ bool *shown = NULL;
        pid_t pid = 0;
        int r;

        if ((r = only_args(argc, argv, 0, 1)) >= 0)
                return r;
        if (optind < argc && ctl_parse_pid(argv[optind], &pid) < 0)
                return usage_error("invalid process id '%s'", argv[optind]);
        if (open_client(&c) != 0)
                return EXIT_FAILURE;
        r = ckpt_list(c, pid, &l);
        if (r < 0)
                return client_error(c, r);
        if (arg_json) {
                ckpt_list_free(l);
                return print_json(c);
        }
        if (l->n_checkpoints == 0) {
                printf("no checkpoints\n");
                ckpt_list_free(l);
                return 0;
        }
        shown = calloc(l->n_checkpoints, sizeof(*shown));
        if (!shown) {
                ckpt_list_free(l);
                return error("out of memory");
        }
        for (size_t i = 0; i < l->n_checkpoints; i++) {
                const struct ckpt_summary *s = &l->checkpoints[i];

                if (shown[i])
                        continue;
                r = s->group ? list_group(&t, l, i, shown) : list_row(&t, s, false);
                if (r < 0) {
                        ckpt_list_free(l);
                        return error("out of memory");
                }
        }
        table_print(&t, stdout);
        ckpt_list_free(l);
        return 0;
}

/* show ID where ID is a group checkpoint's: the group and its members, from
 * the list (a group is its members' checkpoints). 1: no such group. */
static int show_group(struct ckpt_client *c, uint64_t id)
{
        static const char *const h[] = {"ID",   "PARENT", "PID",  "COMM",   "TIME",
                                        "KIND", "PAGES",  "READ", "STORED", "PAUSE"};
        static const bool right[] = {true, true, true, false, false, false, true, true, true, true};
        _cleanup_table_ struct table t = {.n_cols = ELEMENTSOF(h), .headers = h, .right = right};
        struct json_object *o, *a, *list, *cps;
        struct ckpt_list *l = NULL;
        _cleanup_free_ bool *shown = NULL;
        size_t first = SIZE_MAX;
        int r;

        r = ckpt_list(c, 0, &l);
        if (r < 0)
                return client_error(c, r);
        for (size_t i = 0; i < l->n_checkpoints && first == SIZE_MAX; i++)
                if (l->checkpoints[i].group == id)
                        first = i;
        if (first == SIZE_MAX) {
                ckpt_list_free(l);
                return 1;
        }
        if (arg_json) {
                /* The group's members, as List gives them. */
                list = ckpt_client_last_reply(c);
                o = json_object_new_object();
                a = json_object_new_array();
                if (json_object_object_get_ex(list, "checkpoints", &cps))
                        for (size_t i = 0; i < json_object_array_length(cps); i++) {
                                struct json_object *e = json_object_array_get_idx(cps, i), *g;

                                if (json_object_object_get_ex(e, "group", &g) &&
                                    (uint64_t)json_object_get_int64(g) == id)
                                        json_object_array_add(a, json_object_get(e));
                        }
                json_object_object_add(o, "group", json_object_new_int64((int64_t)id));
                json_object_object_add(o, "members", a);
                printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
                                                                         JSON_C_TO_STRING_SPACED));
                json_object_put(o);
                ckpt_list_free(l);
                return 0;
        }
        shown = calloc(l->n_checkpoints, sizeof(*shown));
        if (!shown || list_group(&t, l, first, shown) < 0) {
                ckpt_list_free(l);
                return error("out of memory");
        }
        printf("group checkpoint %" PRIu64 " (its members are checkpoints of their own: show, "
               "export, diff, verify and restore take their ids)\n\n",
               id);
        table_print(&t, stdout);
        ckpt_list_free(l);
        return 0;
}

static int verb_show(int argc, char **argv)
{
        static const char *const h[] = {"START-END", "PROT", "PATH", "TRACKING", "PAGES"};
        static const bool right[] = {false, false, false, false, true};
        _cleanup_client_ struct ckpt_client *c = NULL;
        _cleanup_table_ struct table t = {.n_cols = ELEMENTSOF(h), .headers = h, .right = right};
        struct ckpt_checkpoint_detail *d = NULL;
        char b1[32], b2[32], b3[32];
        uint64_t id;
        int r;

        if ((r = only_args(argc, argv, 1, 1)) >= 0)
                return r;
        if (ctl_parse_id(argv[optind], &id) < 0)
                return usage_error("invalid checkpoint id '%s'", argv[optind]);
        if (open_client(&c) != 0)
                return EXIT_FAILURE;
        r = ckpt_show(c, id, &d);
        if (r == -ENOENT) {
                /* Perhaps a group checkpoint's id. */
                char msg[512];
                int k;

                snprintf(msg, sizeof(msg), "%s", ckpt_last_error(c));
                k = show_group(c, id);
                if (k != 1)
                        return k;
                return error("%s", msg[0] ? msg : strerror(-r));
        }
        if (r < 0)
                return client_error(c, r);
        if (arg_json) {
                ckpt_checkpoint_detail_free(d);
                return print_json(c);
        }

        const struct ckpt_summary *s = &d->checkpoint;
        printf("checkpoint %" PRIu64 " of pid %d (%s), uid %u\n", s->id, (int)s->pid,
               s->comm ? s->comm : "?", s->uid);
        printf("time:     %s\n", ctl_fmt_time(b1, s->time));
        printf("kind:     %s%s", s->kind ? s->kind : "?", s->incremental ? ", incremental" : "");
        if (s->parent)
                printf(", parent %" PRIu64, s->parent);
        printf("\npages:    %" PRIu64 " in view, %" PRIu64 " read, %s stored\n", s->pages,
               s->pages_read, fmt_size(b1, s->bytes_stored));
        printf("pause:    %s, took %s\n", fmt_ms(b2, s->pause_ms), fmt_ms(b3, s->duration_ms));
        printf("ranges:   ");
        if (d->n_ranges)
                print_ranges_inline(d->ranges, d->n_ranges);
        else
                printf("whole address space");
        printf("\nthreads:  ");
        for (size_t i = 0; i < d->n_threads; i++)
                printf("%s%d (rip 0x%" PRIx64 ", rsp 0x%" PRIx64 ")", i ? ", " : "",
                       (int)d->threads[i].tid, d->threads[i].rip, d->threads[i].rsp);
        printf("%s\n", d->n_threads ? "" : "-");

        for (size_t i = 0; i < d->n_regions; i++) {
                const struct ckpt_region_info *g = &d->regions[i];
                if (table_addf(&t, "%012" PRIx64 "-%012" PRIx64, g->start, g->end) < 0 ||
                    table_add(&t, g->prot) < 0 || table_add(&t, g->path ? g->path : "[anon]") < 0 ||
                    table_addf(&t, "%s%s%s%s", g->tracking ? g->tracking : "?",
                               g->tracking_reason ? " (" : "",
                               g->tracking_reason ? g->tracking_reason : "",
                               g->tracking_reason ? ")" : "") < 0 ||
                    table_add(&t, fmt_u64(b1, g->pages)) < 0) {
                        ckpt_checkpoint_detail_free(d);
                        return error("out of memory");
                }
        }
        putchar('\n');
        table_print(&t, stdout);
        ckpt_checkpoint_detail_free(d);
        return 0;
}

static int verb_export(int argc, char **argv)
{
        static const struct option opts[] = {HELP_OPT,
                                             {"out", required_argument, NULL, OPT_OUT},
                                             {"range", required_argument, NULL, OPT_RANGE},
                                             {"format", required_argument, NULL, OPT_FORMAT},
                                             {}};
        _cleanup_client_ struct ckpt_client *c = NULL;
        _cleanup_free_ struct ckpt_addr_range *ranges = NULL;
        _cleanup_close_ int fd = -EBADF;
        enum ckpt_export_format format = CKPT_EXPORT_RAW;
        struct ckpt_export_info *e = NULL;
        const char *out = NULL;
        size_t n_ranges = 0;
        char b1[32];
        uint64_t id;
        int opt, r;

        while ((opt = getopt_long(argc, argv, ":ho:", opts, NULL)) >= 0) {
                if ((r = common_option(opt, argv)) >= 0)
                        return r;
                if (opt == OPT_OUT || opt == 'o')
                        out = optarg;
                else if (opt == OPT_RANGE && (r = add_range(&ranges, &n_ranges, optarg)) != 0)
                        return r;
                else if (opt == OPT_FORMAT) {
                        if (strcmp(optarg, "raw") == 0)
                                format = CKPT_EXPORT_RAW;
                        else if (strcmp(optarg, "core") == 0)
                                format = CKPT_EXPORT_CORE;
                        else
                                return usage_error("unknown format '%s' (raw or core)", optarg);
                }
        }
        if ((r = want_args(argc, argv, 1, 1)) >= 0)
                return r;
        if (ctl_parse_id(argv[optind], &id) < 0)
                return usage_error("invalid checkpoint id '%s'", argv[optind]);
        if (!out)
                return usage_error("export: --out FILE (or - for standard output) is required");
        if (open_client(&c) != 0)
                return EXIT_FAILURE;

        /* Opened here, as the calling user: the daemon only writes through it.
         * "-" is standard output as it is (a file, a pipe, /dev/null); what
         * ckptctl says then goes to standard error, out of the data's way. */
        bool to_stdout = strcmp(out, "-") == 0, created = false;
        FILE *say = to_stdout ? stderr : stdout;
        if (to_stdout)
                fd = STDOUT_FILENO;
        else {
                struct stat st;
                created = stat(out, &st) < 0 && errno == ENOENT;
                fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOCTTY, 0600);
                if (fd < 0)
                        return error("cannot open '%s': %m", out);
        }
        struct progress_line pl = {};
        progress_on(c, &pl);
        r = ckpt_export(c, id, format, fd, ranges, n_ranges, &e);
        progress_off(c, &pl);
        if (to_stdout)
                fd = -EBADF; /* not ours to close */
        if (r < 0) {
                /* Do not leave an empty file behind that looks like a result. */
                if (created)
                        (void)unlink(out);
                return client_error(c, r);
        }
        if (arg_json) {
                struct json_object *o = ckpt_client_last_reply(c);
                const char *t = o ? json_object_to_json_string_ext(
                                            o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                                                       JSON_C_TO_STRING_NOSLASHESCAPE)
                                  : "{}";

                ckpt_export_info_free(e);
                fprintf(say, "%s\n", t ? t : "{}");
                return 0;
        }
        fprintf(say,
                "exported checkpoint %" PRIu64 " to %s (%s): %s, %" PRIu64 " pages in %zu runs\n",
                id, to_stdout ? "standard output" : out,
                e->format ? e->format : (format == CKPT_EXPORT_CORE ? "core" : "raw"),
                fmt_size(b1, e->size), e->pages_written, e->n_runs);
        /* Where each requested range landed; without ranges it is the region list. */
        if (n_ranges > 1 && format == CKPT_EXPORT_RAW)
                for (size_t i = 0; i < e->n_layout; i++)
                        fprintf(say, "  0x%" PRIx64 "-0x%" PRIx64 " at offset %" PRIu64 "\n",
                                e->layout[i].start, e->layout[i].end, e->layout[i].offset);
        /* File pages the daemon would not read for us: zeroes in the output. */
        for (size_t i = 0; i < e->n_holes; i++)
                fprintf(say,
                        "  holes 0x%" PRIx64 "-0x%" PRIx64 " (%" PRIu64 " pages of '%s'): %s\n",
                        e->holes[i].start, e->holes[i].end, e->holes[i].pages,
                        e->holes[i].path ? e->holes[i].path : "", e->holes[i].reason);
        if (e->n_holes > 0)
                fprintf(say,
                        "  (pages of file mappings are recorded by reference; checkpoint --all "
                        "stores them)\n");
        ckpt_export_info_free(e);
        return 0;
}

static int verb_track(int argc, char **argv)
{
        static const struct option opts[] = {HELP_OPT,
                                             {"every", required_argument, NULL, OPT_EVERY},
                                             {"keep", required_argument, NULL, OPT_KEEP},
                                             {"tree", no_argument, NULL, OPT_TREE},
                                             {"cgroup", required_argument, NULL, OPT_CGROUP},
                                             {"unit", required_argument, NULL, OPT_UNIT},
                                             {}};
        _cleanup_client_ struct ckpt_client *c = NULL;
        _cleanup_free_ char *mode = NULL;
        uint64_t every = 0, keep = 0;
        const char *cgroup = NULL, *unit = NULL;
        char unit_cg[4096];
        size_t members = 0;
        bool tree = false;
        pid_t anchor = 0;
        pid_t pid;
        int opt, r;

        while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) >= 0) {
                if ((r = common_option(opt, argv)) >= 0)
                        return r;
                if (opt == OPT_EVERY && (ctl_parse_duration(optarg, &every) < 0 || every == 0))
                        return usage_error("invalid duration '%s' (e.g. 30s, 5m, 1h)", optarg);
                if (opt == OPT_KEEP && (ctl_parse_uint(optarg, &keep) < 0 || keep == 0))
                        return usage_error("invalid --keep '%s': a positive number", optarg);
                if (opt == OPT_TREE)
                        tree = true;
                if (opt == OPT_CGROUP)
                        cgroup = optarg;
                if (opt == OPT_UNIT)
                        unit = optarg;
        }
        if ((cgroup || unit) && (tree || (cgroup && unit)))
                return usage_error("--cgroup and --unit take no PID, --tree or each other");
        if (unit && (r = unit_cgroup(unit, unit_cg, sizeof(unit_cg), &cgroup)) != 0)
                return r;
        if (cgroup) {
                if ((r = want_args(argc, argv, 0, 0)) >= 0)
                        return r;
                if (open_client(&c) != 0)
                        return EXIT_FAILURE;
                r = ckpt_track_cgroup(c, cgroup, every, keep, &anchor, &mode, &members);
                if (r < 0)
                        return client_error(c, r);
                if (arg_json)
                        return print_json(c);
                printf("tracking cgroup %s as pid %d's group (%s): %zu process%s now", cgroup,
                       (int)anchor, mode ? mode : "?", members, members == 1 ? "" : "es");
                if (every)
                        printf(", checkpoint every %" PRIu64 "s", every);
                putchar('\n');
                return 0;
        }
        if ((r = want_args(argc, argv, 1, 1)) >= 0)
                return r;
        if (ctl_parse_pid(argv[optind], &pid) < 0)
                return usage_error("invalid process id '%s'", argv[optind]);
        if (open_client(&c) != 0)
                return EXIT_FAILURE;
        r = tree ? ckpt_track_tree(c, pid, every, keep, &mode, &members)
                 : ckpt_track(c, pid, -1, every, keep, &mode);
        if (r < 0)
                return client_error(c, r);
        if (arg_json)
                return print_json(c);
        printf("tracking pid %d (%s)", (int)pid, mode ? mode : "?");
        if (tree)
                printf(" and its descendants: %zu process%s now", members,
                       members == 1 ? "" : "es");
        if (every)
                printf(", checkpoint every %" PRIu64 "s", every);
        if (keep)
                printf(", keeping %" PRIu64, keep);
        putchar('\n');
        return 0;
}

static int verb_untrack(int argc, char **argv)
{
        _cleanup_client_ struct ckpt_client *c = NULL;
        pid_t pid;
        int r;

        if ((r = only_args(argc, argv, 1, 1)) >= 0)
                return r;
        if (ctl_parse_pid(argv[optind], &pid) < 0)
                return usage_error("invalid process id '%s'", argv[optind]);
        if (open_client(&c) != 0)
                return EXIT_FAILURE;
        r = ckpt_untrack(c, pid);
        if (r < 0)
                return client_error(c, r);
        if (arg_json)
                return print_json(c);
        printf("pid %d no longer tracked\n", (int)pid);
        return 0;
}

static int verb_restore(int argc, char **argv)
{
        static const struct option opts[] = {HELP_OPT,
                                             {"pid", required_argument, NULL, OPT_PID},
                                             {"range", required_argument, NULL, OPT_RANGE},
                                             {"registers", no_argument, NULL, OPT_REGISTERS},
                                             {}};
        _cleanup_client_ struct ckpt_client *c = NULL;
        _cleanup_free_ struct ckpt_addr_range *ranges = NULL;
        struct ckpt_restore_info *i = NULL;
        size_t n_ranges = 0;
        unsigned flags = 0;
        char b1[32], b2[32];
        pid_t pid = 0;
        uint64_t id;
        int opt, r;

        while ((opt = getopt_long(argc, argv, ":hp:", opts, NULL)) >= 0) {
                if ((r = common_option(opt, argv)) >= 0)
                        return r;
                if ((opt == OPT_PID || opt == 'p') && ctl_parse_pid(optarg, &pid) < 0)
                        return usage_error("invalid process id '%s'", optarg);
                if (opt == OPT_REGISTERS)
                        flags |= CKPT_RESTORE_REGISTERS;
                if (opt == OPT_RANGE && (r = add_range(&ranges, &n_ranges, optarg)) != 0)
                        return r;
        }
        if ((r = want_args(argc, argv, 1, 1)) >= 0)
                return r;
        if (ctl_parse_id(argv[optind], &id) < 0)
                return usage_error("invalid checkpoint id '%s'", argv[optind]);
        if (pid == 0 && n_ranges)
                return usage_error("restore: --range needs --pid PID");
        if (open_client(&c) != 0)
                return EXIT_FAILURE;
        if (pid == 0) {
                /* ID is a group checkpoint's: each member into its own process. */
                size_t n = 0;

                r = ckpt_restore_group(c, id, flags, &i, &n);
                if (r < 0)
                        return client_error(c, r);
                if (arg_json) {
                        ckpt_restore_info_free(i);
                        return print_json(c);
                }
                printf("restored group checkpoint %" PRIu64 " into its %zu process%s: %" PRIu64
                       " pages written (%s), %" PRIu64 " compared, pause %s\n",
                       id, n, n == 1 ? "" : "es", i->pages_written, fmt_size(b1, i->bytes_written),
                       i->pages_compared, fmt_ms(b2, i->pause_ms));
                ckpt_restore_info_free(i);
                return 0;
        }
        struct progress_line pl = {};
        progress_on(c, &pl);
        r = ckpt_restore(c, id, pid, flags, ranges, n_ranges, &i);
        progress_off(c, &pl);
        if (r < 0)
                return client_error(c, r);
        if (arg_json) {
                ckpt_restore_info_free(i);
                return print_json(c);
        }
        printf("restored checkpoint %" PRIu64 " into pid %d: %" PRIu64 " pages written (%s), "
               "%" PRIu64 " compared, pause %s\n",
               id, (int)pid, i->pages_written, fmt_size(b1, i->bytes_written), i->pages_compared,
               fmt_ms(b2, i->pause_ms));
        ckpt_restore_info_free(i);
        return 0;
}

static int verb_diff(int argc, char **argv)
{
        _cleanup_client_ struct ckpt_client *c = NULL;
        struct ckpt_diff *d = NULL;
        uint64_t from, to;
        int r;

        if ((r = only_args(argc, argv, 2, 2)) >= 0)
                return r;
        if (ctl_parse_id(argv[optind], &from) < 0)
                return usage_error("invalid checkpoint id '%s'", argv[optind]);
        if (ctl_parse_id(argv[optind + 1], &to) < 0)
                return usage_error("invalid checkpoint id '%s'", argv[optind + 1]);
        if (open_client(&c) != 0)
                return EXIT_FAILURE;
        r = ckpt_diff(c, from, to, &d);
        if (r < 0)
                return client_error(c, r);
        if (arg_json) {
                ckpt_diff_free(d);
                return print_json(c);
        }
        printf("checkpoint %" PRIu64 " -> %" PRIu64 ": %" PRIu64 " pages changed, %" PRIu64
               " added, %" PRIu64 " removed\n",
               from, to, d->changed, d->added, d->removed);
        ckpt_diff_free(d);

        struct json_object *regions;
        if (json_object_object_get_ex(ckpt_client_last_reply(c), "regions", &regions) && regions &&
            json_object_is_type(regions, json_type_array)) {
                size_t shown = 0, n = json_object_array_length(regions);
                for (size_t i = 0; i < n; i++)
                        shown += !table_diff_row_unchanged(json_object_array_get_idx(regions, i));
                if (shown > 0) {
                        putchar('\n');
                        if (table_print_array(stdout, regions, table_diff_row_unchanged) < 0)
                                return error("out of memory");
                }
        }
        return 0;
}

static int verb_verify(int argc, char **argv)
{
        _cleanup_client_ struct ckpt_client *c = NULL;
        struct ckpt_verify_info *v = NULL;
        uint64_t id = 0;
        int r;

        if ((r = only_args(argc, argv, 0, 1)) >= 0)
                return r;
        if (optind < argc && ctl_parse_id(argv[optind], &id) < 0)
                return usage_error("invalid checkpoint id '%s'", argv[optind]);
        if (open_client(&c) != 0)
                return EXIT_FAILURE;
        struct progress_line pl = {};
        progress_on(c, &pl);
        r = ckpt_verify(c, id, &v);
        progress_off(c, &pl);
        if (r < 0)
                return client_error(c, r);
        bool good = v->ok;
        size_t n = v->n_problems;
        if (arg_json)
                print_json(c);
        else {
                if (id)
                        printf("checkpoint %" PRIu64 ": ", id);
                else
                        printf("store: ");
                printf("%s, %" PRIu64 " checked\n", good ? "ok" : "PROBLEMS", v->checked);
                for (size_t i = 0; i < n; i++)
                        printf("  %s\n", v->problems[i]);
        }
        ckpt_verify_info_free(v);
        if (!good)
                return error("verification found %zu problem%s", n, n == 1 ? "" : "s");
        return 0;
}

static int verb_gc(int argc, char **argv)
{
        static const struct option opts[] = {HELP_OPT,
                                             {"keep", required_argument, NULL, OPT_KEEP},
                                             {"max-age", required_argument, NULL, OPT_MAX_AGE},
                                             {}};
        _cleanup_client_ struct ckpt_client *c = NULL;
        struct ckpt_gc_info *g = NULL;
        int64_t keep = -1, max_age = -1;
        char b1[32];
        uint64_t v;
        int opt, r;

        while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) >= 0) {
                if ((r = common_option(opt, argv)) >= 0)
                        return r;
                if (opt == OPT_KEEP) {
                        if (ctl_parse_uint(optarg, &v) < 0 || v > INT64_MAX)
                                return usage_error("invalid --keep '%s'", optarg);
                        keep = (int64_t)v;
                } else if (opt == OPT_MAX_AGE) {
                        if (ctl_parse_duration(optarg, &v) < 0 || v > INT64_MAX)
                                return usage_error("invalid duration '%s' (e.g. 30s, 5m, 1h)",
                                                   optarg);
                        max_age = (int64_t)v;
                }
        }
        if ((r = want_args(argc, argv, 0, 0)) >= 0)
                return r;
        if (open_client(&c) != 0)
                return EXIT_FAILURE;
        struct progress_line pl = {};
        progress_on(c, &pl);
        r = ckpt_gc(c, keep, max_age, &g);
        progress_off(c, &pl);
        if (r < 0)
                return client_error(c, r);
        if (arg_json) {
                ckpt_gc_info_free(g);
                return print_json(c);
        }
        if (g->n_deleted == 0)
                printf("nothing to delete");
        else {
                printf("deleted %zu checkpoint%s (", g->n_deleted, g->n_deleted == 1 ? "" : "s");
                for (size_t i = 0; i < g->n_deleted; i++)
                        printf("%s%" PRIu64, i ? ", " : "", g->deleted[i]);
                printf(")");
        }
        printf(", reclaimed %s\n", fmt_size(b1, g->reclaimed_bytes));
        ckpt_gc_info_free(g);
        return 0;
}

static int verb_delete(int argc, char **argv)
{
        _cleanup_client_ struct ckpt_client *c = NULL;
        uint64_t id;
        int r;

        if ((r = only_args(argc, argv, 1, 1)) >= 0)
                return r;
        if (ctl_parse_id(argv[optind], &id) < 0)
                return usage_error("invalid checkpoint id '%s'", argv[optind]);
        if (open_client(&c) != 0)
                return EXIT_FAILURE;
        r = ckpt_delete(c, id);
        if (r < 0)
                return client_error(c, r);
        if (arg_json)
                return print_json(c);
        printf("deleted checkpoint %" PRIu64 "\n", id);
        return 0;
}

/* Read a policy file whole (bounded: it travels in one message). */
static int read_policy_file(const char *path, char **ret)
{
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *buf = NULL;
        size_t len = 0;
        struct stat st;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return error("cannot open '%s': %m", path);
        if (fstat(fd, &st) < 0)
                return error("cannot stat '%s': %m", path);
        if (!S_ISREG(st.st_mode))
                return error("'%s' is not a regular file", path);
        buf = malloc(MAX_POLICY_FILE + 1);
        if (!buf)
                return error("out of memory");
        for (;;) {
                ssize_t n = read(fd, buf + len, MAX_POLICY_FILE + 1 - len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return error("cannot read '%s': %m", path);
                }
                if (n == 0)
                        break;
                len += (size_t)n;
                if (len > MAX_POLICY_FILE)
                        return error("'%s' is too large (more than %u bytes)", path,
                                     MAX_POLICY_FILE);
        }
        if (memchr(buf, 0, len))
                return error("'%s' is not a text file", path);
        buf[len] = 0;
        *ret = TAKE_PTR(buf);
        return 0;
}

static int verb_policy(int argc, char **argv)
{
        _cleanup_client_ struct ckpt_client *c = NULL;
        _cleanup_json_ struct json_object *params = NULL, *reply = NULL;
        _cleanup_free_ char *content = NULL;
        const char *sub, *method;
        int r;

        if ((r = only_args(argc, argv, 0, INT_MAX)) >= 0)
                return r;
        if (optind >= argc)
                return usage_error("policy: missing subcommand (list, check FILE, reload)");
        sub = argv[optind];
        params = json_object_new_object();
        if (!params)
                return error("out of memory");

        if (strcmp(sub, "list") == 0) {
                if ((r = want_args(argc, argv, 1, 1)) >= 0)
                        return r;
                method = "io.ckptd.ListPolicies";
        } else if (strcmp(sub, "reload") == 0) {
                if ((r = want_args(argc, argv, 1, 1)) >= 0)
                        return r;
                method = "io.ckptd.Reload";
        } else if (strcmp(sub, "check") == 0) {
                if ((r = want_args(argc, argv, 2, 2)) >= 0)
                        return r;
                const char *path = argv[optind + 1];
                _cleanup_free_ char *abs = realpath(path, NULL);
                if (read_policy_file(path, &content) != 0)
                        return EXIT_FAILURE;
                if (json_object_object_add(params, "path",
                                           json_object_new_string(abs ? abs : path)) < 0 ||
                    json_object_object_add(params, "content", json_object_new_string(content)) < 0)
                        return error("out of memory");
                method = "io.ckptd.CheckPolicy";
        } else
                return usage_error("policy: unknown subcommand '%s' (list, check FILE, reload)",
                                   sub);

        if (open_client(&c) != 0)
                return EXIT_FAILURE;
        r = ckpt_client_call(c, method, params, NULL, 0, &reply);
        if (r < 0)
                return client_error(c, r);
        if (arg_json)
                return print_json(c);

        struct json_object *a;
        /* Policies refused by the daemon, as "errors": one line each. */
        struct json_object *errors = NULL;
        size_t n_errors = 0;
        if (json_object_object_get_ex(reply, "errors", &errors) && errors &&
            json_object_is_type(errors, json_type_array))
                n_errors = json_object_array_length(errors);

        if (strcmp(sub, "check") == 0) {
                struct json_object *okv = NULL, *msg = NULL;
                bool good = !json_object_object_get_ex(reply, "ok", &okv) || !okv ||
                            json_object_get_boolean(okv);
                if (good && n_errors == 0) {
                        printf("%s: ok\n", argv[optind + 1]);
                        return 0;
                }
                for (size_t i = 0; i < n_errors; i++)
                        fprintf(stderr, "%s\n",
                                table_json_cell(json_object_array_get_idx(errors, i), "error"));
                if (json_object_object_get_ex(reply, "error", &msg) && msg)
                        return error("%s", json_object_get_string(msg));
                return error("%s: invalid policy", argv[optind + 1]);
        }

        if (json_object_object_get_ex(reply, "policies", &a) && a &&
            json_object_is_type(a, json_type_array)) {
                size_t n = json_object_array_length(a);
                if (strcmp(sub, "reload") == 0)
                        printf("policies reloaded: %zu loaded, %zu refused\n", n, n_errors);
                else if (n == 0)
                        printf("no policies\n");
                else if (table_print_array(stdout, a, NULL) < 0)
                        return error("out of memory");
                for (size_t i = 0; i < n_errors; i++) {
                        struct json_object *e = json_object_array_get_idx(errors, i);
                        printf("refused: %s\n", json_object_is_type(e, json_type_object)
                                                        ? table_json_cell(e, "error")
                                                        : json_object_get_string(e));
                }
                return 0;
        }
        if (json_object_object_length(reply) == 0) {
                printf("%s\n", strcmp(sub, "reload") == 0 ? "policies reloaded" : "no policies");
                return 0;
        }
        if (table_print_object(stdout, reply) < 0)
                return error("out of memory");
        return 0;
}

/* The daemon's status in the Prometheus text exposition format, for
 * node_exporter's textfile collector: ckptd itself opens no network port. */
static int verb_metrics(int argc, char **argv)
{
        _cleanup_client_ struct ckpt_client *c = NULL;
        struct ckpt_status *s = NULL;
        int r;

        if ((r = only_args(argc, argv, 0, 0)) >= 0)
                return r;
        ctl_metric_head(stdout, "ckptd_up", "gauge", "Whether ckptd answered (1) or not (0).");
        r = ckpt_connect(arg_socket, &c);
        if (r >= 0)
                r = ckpt_status(c, &s);
        if (r < 0) {
                printf("ckptd_up 0\n");
                if (c)
                        return client_error(c, r);
                return error("cannot connect to %s: %s", ckpt_socket_path(arg_socket),
                             strerror(-r));
        }
        printf("ckptd_up 1\n");
        ctl_metric_head(stdout, "ckptd_uptime_seconds", "gauge", "Seconds since ckptd started.");
        printf("ckptd_uptime_seconds %.3f\n", s->uptime_sec);
        ctl_metric_head(stdout, "ckptd_store_checkpoints", "gauge", "Checkpoints in the store.");
        printf("ckptd_store_checkpoints %" PRIu64 "\n", s->store.checkpoints);
        ctl_metric_head(stdout, "ckptd_store_objects", "gauge", "Distinct pages in the store.");
        printf("ckptd_store_objects %" PRIu64 "\n", s->store.objects);
        ctl_metric_head(stdout, "ckptd_store_stored_bytes", "gauge", "Bytes in the pack files.");
        printf("ckptd_store_stored_bytes %" PRIu64 "\n", s->store.stored_bytes);
        ctl_metric_head(stdout, "ckptd_store_logical_bytes", "gauge",
                        "Bytes the stored checkpoints stand for.");
        printf("ckptd_store_logical_bytes %" PRIu64 "\n", s->store.logical_bytes);
        ctl_metric_head(stdout, "ckptd_store_dedup_ratio", "gauge",
                        "Logical bytes per stored byte.");
        printf("ckptd_store_dedup_ratio %.3f\n", s->store.dedup_ratio);
        ctl_metric_head(stdout, "ckptd_tracked_processes", "gauge",
                        "Processes tracked, that the caller sees.");
        printf("ckptd_tracked_processes %zu\n", s->n_processes);

        static const struct {
                const char *name, *type, *help;
        } per[] = {
                {"ckptd_process_dirty_pages", "gauge",
                 "Pages the next checkpoint of the process reads at least."},
                {"ckptd_process_writable_pages", "gauge",
                 "Pages kept writable, read at every checkpoint."},
                {"ckptd_process_write_faults_total", "counter",
                 "Write-protect faults the process took."},
                {"ckptd_process_last_checkpoint", "gauge", "Id of the last checkpoint."},
                {"ckptd_process_last_pause_seconds", "gauge",
                 "How long the last checkpoint froze the process."},
        };
        for (size_t k = 0; k < ELEMENTSOF(per); k++) {
                if (s->n_processes == 0)
                        break;
                ctl_metric_head(stdout, per[k].name, per[k].type, per[k].help);
                for (size_t i = 0; i < s->n_processes; i++) {
                        const struct ckpt_process_status *p = &s->processes[i];

                        if (k == 4 && p->last_pause_ms < 0)
                                continue;
                        printf("%s{pid=\"%d\",comm=", per[k].name, (int)p->pid);
                        table_print_label(stdout, p->comm);
                        printf(",tracking=");
                        table_print_label(stdout, p->tracking);
                        printf(",policy=");
                        table_print_label(stdout, p->policy ? p->policy : "");
                        if (k == 0)
                                printf("} %" PRIu64 "\n", p->dirty_pages);
                        else if (k == 1)
                                printf("} %" PRIu64 "\n", p->writable_pages);
                        else if (k == 2)
                                printf("} %" PRIu64 "\n", p->write_faults);
                        else if (k == 3)
                                printf("} %" PRIu64 "\n", p->last_checkpoint);
                        else
                                printf("} %.6f\n", p->last_pause_ms / 1000.0);
                }
        }
        ckpt_status_free(s);

        /* The daemon's counters: root's to read; a daemon without them
         * (an older one) or a caller other than root gets the above only. */
        _cleanup_json_ struct json_object *counters = NULL;
        r = ckpt_client_call(c, "io.ckptd.GetMetrics", NULL, NULL, 0, &counters);
        if (r < 0 && ckpt_last_error_name(c)) {
                printf("# ckptd's counters: %s\n", ckpt_last_error(c));
                return 0;
        }
        if (r < 0)
                return client_error(c, r);
        ctl_print_metrics(stdout, counters);
        return 0;
}

/* ---- top ---- */

/* A live view of the tracked processes: io.ckptd.WatchProcesses with more,
 * one reply per interval for as long as we stay connected. On a terminal the
 * screen is redrawn (ANSI: no curses), keys read unbuffered; otherwise, or
 * with --json, each reply is printed as lines (or as one JSON line). */
struct top_state {
        struct ckpt_client *client;
        struct top_view view;
        bool screen; /* stdout is a terminal */
        bool keys;   /* stdin is a terminal: read keys */
        unsigned count;
};

static volatile sig_atomic_t top_quit, top_resized;

static void top_signal(int sig)
{
        if (sig == SIGWINCH)
                top_resized = 1;
        else
                top_quit = 1;
}

static struct termios top_saved_tio;
static bool top_tio_saved;

static void top_terminal_restore(bool screen)
{
        if (top_tio_saved)
                (void)tcsetattr(STDIN_FILENO, TCSANOW, &top_saved_tio);
        top_tio_saved = false;
        if (screen) {
                fputs("\033[?25h\033[?1049l", stdout);
                fflush(stdout);
        }
}

static void top_terminal_setup(struct top_state *st)
{
        struct sigaction sa = {.sa_handler = top_signal}; /* no SA_RESTART: poll() wakes */
        struct termios tio;

        sigemptyset(&sa.sa_mask);
        (void)sigaction(SIGINT, &sa, NULL);
        (void)sigaction(SIGTERM, &sa, NULL);
        (void)sigaction(SIGHUP, &sa, NULL);
        (void)sigaction(SIGWINCH, &sa, NULL);
        if (st->keys && tcgetattr(STDIN_FILENO, &top_saved_tio) == 0) {
                top_tio_saved = true;
                tio = top_saved_tio;
                tio.c_lflag &= ~(ICANON | ECHO);
                tio.c_cc[VMIN] = 1;
                tio.c_cc[VTIME] = 0;
                if (tcsetattr(STDIN_FILENO, TCSANOW, &tio) < 0)
                        st->keys = top_tio_saved = false;
        }
        /* The alternate screen, as top and less use: the shell's comes back. */
        fputs("\033[?1049h\033[?25l\033[H\033[2J", stdout);
}

static void top_draw(struct top_state *st)
{
        struct winsize ws = {};
        unsigned w = 80, h = 24;

        if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 && ws.ws_row > 0) {
                w = ws.ws_col;
                h = ws.ws_row;
        }
        top_view_print_screen(&st->view, stdout, w, h);
}

/* Keys waiting on the terminal: 1 to quit, 0 otherwise. */
static int top_keys(struct top_state *st)
{
        char buf[64];
        ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));

        if (n <= 0) {
                st->keys = false; /* end of input: no more keys, the view goes on */
                return 0;
        }
        for (ssize_t i = 0; i < n; i++) {
                int s = top_sort_from_key(buf[i]);

                if (buf[i] == 'q' || buf[i] == 'Q')
                        return 1;
                if (buf[i] == 'R')
                        st->view.reverse = !st->view.reverse;
                else if (s >= 0) {
                        st->view.reverse = st->view.sort == (enum top_sort)s && !st->view.reverse;
                        st->view.sort = s;
                }
        }
        top_view_sort(&st->view);
        return 0;
}

/* Until the next reply can be read: keys and signals meanwhile. */
static int top_wait(struct top_state *st)
{
        for (;;) {
                struct pollfd p[2] = {{.fd = ckpt_client_fd(st->client), .events = POLLIN},
                                      {.fd = STDIN_FILENO, .events = POLLIN}};

                if (top_quit)
                        return -ECANCELED;
                if (ckpt_client_has_message(st->client))
                        return 0;
                if (poll(p, st->keys ? 2 : 1, -1) < 0) {
                        if (errno != EINTR)
                                return -errno;
                        if (top_resized && st->screen) {
                                top_resized = 0;
                                top_draw(st);
                        }
                        continue;
                }
                if (st->keys && (p[1].revents & (POLLIN | POLLHUP | POLLERR))) {
                        if (top_keys(st))
                                return -ECANCELED;
                        if (st->screen)
                                top_draw(st);
                }
                if (p[0].revents)
                        return 0;
        }
}

static int top_reply(struct json_object *params, void *userdata)
{
        struct top_state *st = userdata;
        int r;

        if (arg_json) {
                const char *t = json_object_to_json_string_ext(
                        params, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);

                printf("%s\n", t ? t : "{}");
                fflush(stdout);
                st->view.frames++;
        } else {
                r = top_view_update(&st->view, params);
                if (r < 0)
                        return r;
                if (st->screen)
                        top_draw(st);
                else {
                        if (st->view.frames > 1)
                                putchar('\n');
                        top_view_print_plain(&st->view, stdout, true);
                }
        }
        if (st->count && st->view.frames >= st->count)
                return -ECANCELED;
        return top_wait(st);
}

/* "2", "0.5", "1.5s" or "500ms": milliseconds, or -1. */
static int64_t parse_interval_ms(const char *s)
{
        char *end;
        double v;

        errno = 0;
        v = strtod(s, &end);
        if (errno || end == s || !isfinite(v) || v < 0)
                return -1;
        if (strcmp(end, "ms") == 0)
                ;
        else if (*end == 0 || strcmp(end, "s") == 0)
                v *= 1000;
        else
                return -1;
        return v > CKPT_WATCH_MAX_INTERVAL_MS ? -1 : (int64_t)(v + 0.5);
}

static int verb_top(int argc, char **argv)
{
        static const struct option opts[] = {HELP_OPT,
                                             {"interval", required_argument, NULL, 'd'},
                                             {"count", required_argument, NULL, 'n'},
                                             {"sort", required_argument, NULL, 's'},
                                             {}};
        _cleanup_client_ struct ckpt_client *c = NULL;
        _cleanup_json_ struct json_object *params = NULL;
        struct top_state st = {.view.sort = TOP_SORT_DIRTY};
        int64_t interval = CKPT_WATCH_DEFAULT_INTERVAL_MS;
        int opt, r;
        uint64_t v;

        while ((opt = getopt_long(argc, argv, ":hd:n:s:", opts, NULL)) >= 0) {
                if ((r = common_option(opt, argv)) >= 0)
                        return r;
                if (opt == 'd') {
                        interval = parse_interval_ms(optarg);
                        if (interval < CKPT_WATCH_MIN_INTERVAL_MS)
                                return usage_error("invalid --interval '%s' (%g s to %d s, e.g. "
                                                   "2, 0.5, 500ms)",
                                                   optarg, CKPT_WATCH_MIN_INTERVAL_MS / 1000.0,
                                                   CKPT_WATCH_MAX_INTERVAL_MS / 1000);
                } else if (opt == 'n') {
                        if (ctl_parse_uint(optarg, &v) < 0 || v == 0 || v > UINT_MAX)
                                return usage_error("invalid --count '%s'", optarg);
                        st.count = (unsigned)v;
                } else if (opt == 's') {
                        r = top_sort_from_name(optarg);
                        if (r < 0)
                                return usage_error("invalid --sort '%s' (pid, comm, dirty, rate, "
                                                   "faults, pause, next, store)",
                                                   optarg);
                        st.view.sort = r;
                }
        }
        if ((r = want_args(argc, argv, 0, 0)) >= 0)
                return r;
        params = json_object_new_object();
        if (!params ||
            json_object_object_add(params, "interval_ms", json_object_new_int64(interval)) < 0)
                return error("out of memory");
        if (open_client(&c) != 0)
                return EXIT_FAILURE;
        st.client = c;
        st.screen = !arg_json && isatty(STDOUT_FILENO);
        st.keys = st.screen && isatty(STDIN_FILENO);
        if (st.screen)
                top_terminal_setup(&st);
        r = ckpt_client_call_more(c, "io.ckptd.WatchProcesses", params, top_reply, &st, NULL);
        top_terminal_restore(st.screen);
        top_view_done(&st.view);
        if (r == -ECANCELED)
                return 0;
        if (r < 0)
                return client_error(c, r);
        /* The daemon ended the watch (without more: it answers once). */
        return 0;
}

static int verb_inspect(int argc, char **argv)
{
        int r;

        if ((r = only_args(argc, argv, 1, 1)) >= 0)
                return r;
        return error("inspect: not supported yet");
}

struct verb {
        const char *name;
        int (*run)(int argc, char **argv);
        const char *args;
        const char *summary;
        const char *options;
};

static const struct verb verbs[] = {
        {"status", verb_status, "", "Show the daemon, its store and the tracked processes", NULL},
        {"checkpoint", verb_checkpoint,
         "PID [--full] [--all] [--range START-END]... [--tree] | --cgroup PATH | --unit NAME",
         "Take a checkpoint of a process now",
         "  --full               Read every page, even of a tracked process\n"
         "  --tree               The process and its descendants, as one group checkpoint\n"
         "  --cgroup PATH        The processes of a cgroup, as one group checkpoint\n"
         "  --unit NAME          The processes of a systemd unit's cgroup, likewise\n"
         "  --all                Store file mappings too, not by reference\n"
         "  --range START-END    Only pages within [START, END); may be repeated\n"},
        {"list", verb_list, "[PID]", "List checkpoints (of one process)", NULL},
        {"show", verb_show, "ID", "Show a checkpoint and its regions", NULL},
        {"export", verb_export, "ID --out FILE|- [--range START-END]... [--format raw|core]",
         "Write the memory of a checkpoint into a file",
         "  -o, --out FILE       File to write (created mode 0600, truncated)\n"
         "  --range START-END    Only this range; may be repeated (laid end to end)\n"
         "  --format raw|core    Raw memory image (default) or ELF core file\n"},
        {"track", verb_track, "PID [--every DUR] [--keep N] [--tree] | --cgroup PATH | --unit NAME",
         "Track a process's dirty pages between checkpoints",
         "  --every DUR          Checkpoint every DUR (e.g. 30s, 5m, 1h)\n"
         "  --tree               The process and its descendants, present and future, as one "
         "group\n"
         "  --cgroup PATH        The processes of a cgroup, present and future, as one group\n"
         "  --unit NAME          The processes of a systemd unit's cgroup, likewise\n"
         "  --keep N             Keep the N newest checkpoints\n"},
        {"untrack", verb_untrack, "PID", "Stop tracking a process", NULL},
        {"restore", verb_restore, "ID --pid PID [--range START-END]... [--registers] | GROUP-ID",
         "Write a checkpoint's memory back into a live process",
         "  -p, --pid PID        Process to restore into (none: ID is a group checkpoint's)\n"
         "  --range START-END    Only this range; may be repeated\n"
         "  --registers          Also restore the registers of every thread\n"},
        {"diff", verb_diff, "ID1 ID2", "Compare two checkpoints page by page", NULL},
        {"verify", verb_verify, "[ID]", "Check a checkpoint (or the whole store)", NULL},
        {"gc", verb_gc, "[--keep N] [--max-age DUR]", "Delete old checkpoints, reclaim space",
         "  --keep N             Keep the N newest checkpoints per process\n"
         "  --max-age DUR        Delete checkpoints older than DUR (e.g. 7d)\n"},
        {"delete", verb_delete, "ID", "Delete a checkpoint", NULL},
        {"policy", verb_policy, "list | check FILE | reload",
         "List, check or reload checkpoint policies", NULL},
        {"inspect", verb_inspect, "PATH", "Decode a store file offline", NULL},
        {"metrics", verb_metrics, "", "Print the daemon's status for Prometheus", NULL},
        {"top", verb_top, "[--interval SEC] [--count N] [--sort KEY]",
         "Watch the tracked processes live",
         "  -d, --interval SEC   Seconds between updates (default 1; 0.25 to 3600)\n"
         "  -n, --count N        Stop after N updates (default: until q or a signal)\n"
         "  -s, --sort KEY       pid, comm, dirty (default), rate, faults, pause, next\n"
         "                       or store\n"},
};

static void verb_help(const struct verb *v)
{
        printf("Usage: %s [--socket PATH] [--json] %s%s%s\n\n%s.\n", program, v->name,
               *v->args ? " " : "", v->args, v->summary);
        printf("\nOptions:\n");
        if (v->options)
                fputs(v->options, stdout);
        printf("  -h, --help           Show this help\n");
        if (strstr(v->args, "START-END"))
                printf("\nSTART and END are addresses: 0x-prefixed hex, or hex as in "
                       "/proc/PID/maps\n(with a digit a-f, or zero-padded), else decimal.\n");
}

static void help(void)
{
        printf("Usage: %s [--socket PATH] [--json] COMMAND ...\n\n"
               "Drive ckptd, the incremental checkpoint daemon.\n\nCommands:\n",
               program);
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                printf("  %-11s %s\n", verbs[i].name, verbs[i].summary);
        printf("\nOptions:\n"
               "  --socket PATH   Daemon socket (default $%s, else %s)\n"
               "  --json          Print the daemon's reply as JSON\n"
               "  -h, --help      Show this help (COMMAND --help: the command's)\n"
               "  --version       Show the version\n",
               CKPT_SOCKET_ENV, CKPT_DEFAULT_SOCKET);
}

int main(int argc, char **argv)
{
        _cleanup_free_ char **args = NULL;
        int n = 0;
        bool want_help = false, want_version = false, dashdash = false;

        /* Global options may come before or after the command: take them out first. */
        args = calloc((size_t)argc + 1, sizeof(char *));
        if (!args)
                return error("out of memory");
        for (int i = 1; i < argc; i++) {
                const char *a = argv[i];

                if (dashdash) {
                        args[n++] = argv[i];
                        continue;
                }
                if (strcmp(a, "--") == 0) {
                        dashdash = true;
                        args[n++] = argv[i];
                } else if (strcmp(a, "--json") == 0)
                        arg_json = true;
                else if (strcmp(a, "--socket") == 0) {
                        if (i + 1 >= argc)
                                return usage_error("option '--socket' needs a value");
                        arg_socket = argv[++i];
                } else if (strncmp(a, "--socket=", 9) == 0)
                        arg_socket = a + 9;
                else if (n == 0 && (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0))
                        want_help = true;
                else if (n == 0 && strcmp(a, "--version") == 0)
                        want_version = true;
                else
                        args[n++] = argv[i];
        }
        if (arg_socket && !*arg_socket)
                return usage_error("--socket needs a path");

        if (want_version) {
                printf("ckptctl %s (libckpt API %d)\n", CKPT_VERSION, ckpt_api_version());
                return 0;
        }
        if (want_help && n == 0) {
                help();
                return 0;
        }
        if (n == 0)
                return usage_error("missing command");
        if (args[0][0] == '-')
                return usage_error("unknown option '%s'", args[0]);

        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                if (strcmp(verbs[i].name, args[0]) == 0) {
                        current_verb = &verbs[i];
                        if (want_help) {
                                verb_help(current_verb);
                                return 0;
                        }
                        opterr = 0;
                        optind = 0;
                        return verbs[i].run(n, args);
                }
        return usage_error("unknown command '%s'", args[0]);
}
