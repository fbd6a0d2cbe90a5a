/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ctl-top.c: `ckptctl top`'s rows, rates, order and output (ctl-top.h).
 */
#include "ctl-top.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ckpt/macro-fundamental.h"

#define PAGE_BYTES 4096.0
#define MIB (1024.0 * 1024.0)

static const char *const sort_names[_TOP_SORT_MAX] = {
        [TOP_SORT_PID] = "pid",   [TOP_SORT_COMM] = "comm",     [TOP_SORT_DIRTY] = "dirty",
        [TOP_SORT_RATE] = "rate", [TOP_SORT_FAULTS] = "faults", [TOP_SORT_PAUSE] = "pause",
        [TOP_SORT_NEXT] = "next", [TOP_SORT_STORE] = "store",
};
static const char sort_keys[_TOP_SORT_MAX] = {
        [TOP_SORT_PID] = 'p',  [TOP_SORT_COMM] = 'c',   [TOP_SORT_DIRTY] = 'd',
        [TOP_SORT_RATE] = 'r', [TOP_SORT_FAULTS] = 'f', [TOP_SORT_PAUSE] = 'l',
        [TOP_SORT_NEXT] = 'n', [TOP_SORT_STORE] = 's',
};

int top_sort_from_name(const char *name)
{
        for (int i = 0; i < _TOP_SORT_MAX; i++)
                if (strcmp(name, sort_names[i]) == 0)
                        return i;
        return -1;
}

int top_sort_from_key(int key)
{
        for (int i = 0; i < _TOP_SORT_MAX; i++)
                if (key == sort_keys[i])
                        return i;
        return -1;
}

const char *top_sort_name(enum top_sort s)
{
        return s < _TOP_SORT_MAX ? sort_names[s] : "?";
}

/* ---- a reply into rows ------------------------------------------------------ */

static bool get_u64(struct json_object *o, const char *key, uint64_t *ret)
{
        struct json_object *v;
        int64_t n;

        if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int))
                return false;
        n = json_object_get_int64(v);
        if (n < 0)
                return false;
        *ret = (uint64_t)n;
        return true;
}

/* A number, or -1 when null or absent or not a finite number >= 0. */
static double get_opt_number(struct json_object *o, const char *key)
{
        struct json_object *v;
        double d;

        if (!json_object_object_get_ex(o, key, &v) ||
            !(json_object_is_type(v, json_type_double) || json_object_is_type(v, json_type_int)))
                return -1;
        d = json_object_get_double(v);
        return isfinite(d) && d >= 0 ? d : -1;
}

/* Text shown as it is, but for control characters (a process names itself). */
static void copy_text(char *dst, size_t size, struct json_object *o, const char *key)
{
        struct json_object *v;
        const char *s = "-";
        size_t i;

        if (json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string))
                s = json_object_get_string(v);
        for (i = 0; i + 1 < size && s[i]; i++)
                dst[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
        dst[i] = 0;
}

static bool row_from_json(struct json_object *o, struct top_row *r)
{
        struct json_object *v;
        int64_t pid;

        *r = (struct top_row){};
        if (!json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, "pid", &v) ||
            !json_object_is_type(v, json_type_int))
                return false;
        pid = json_object_get_int64(v);
        if (pid <= 0 || pid > INT32_MAX)
                return false;
        r->pid = (pid_t)pid;
        if (!get_u64(o, "dirty_pages", &r->dirty_pages) ||
            !get_u64(o, "write_faults", &r->write_faults))
                return false;
        (void)get_u64(o, "stored_bytes", &r->stored_bytes);
        if (json_object_object_get_ex(o, "group", &v) && json_object_is_type(v, json_type_int) &&
            json_object_get_int64(v) > 0 && json_object_get_int64(v) <= INT32_MAX)
                r->group = (pid_t)json_object_get_int64(v);
        (void)get_u64(o, "checkpoints", &r->checkpoints);
        copy_text(r->comm, sizeof(r->comm), o, "comm");
        copy_text(r->tracking, sizeof(r->tracking), o, "tracking");
        r->pause_ms = get_opt_number(o, "last_pause_ms");
        r->next_sec = get_opt_number(o, "next_due_sec");
        return true;
}

static const struct top_row *find_row(const struct top_view *v, pid_t pid)
{
        for (size_t i = 0; i < v->n; i++)
                if (v->rows[i].pid == pid)
                        return &v->rows[i];
        return NULL;
}

/* Rates against the same process in the reply before, dt seconds ago. A
 * counter that went back (a pid reused) gives no rate. */
static void row_rates(struct top_row *r, const struct top_row *old, double dt)
{
        if (!old || dt <= 0 || r->write_faults < old->write_faults ||
            r->stored_bytes < old->stored_bytes)
                return;
        r->have_rate = true;
        r->faults_s = (r->write_faults - old->write_faults) / dt;
        /* Every write fault dirties a page the checkpoint before had
         * write-protected: the dirty set grows by one page each. */
        r->dirty_mib_s = r->faults_s * PAGE_BYTES / MIB;
        r->store_bytes_s = (r->stored_bytes - old->stored_bytes) / dt;
}

static void store_from_json(struct top_view *v, struct json_object *st, double dt)
{
        uint64_t bytes = 0, n = 0;
        bool had = v->have_store;
        uint64_t old = v->store_bytes;

        v->have_store = json_object_is_type(st, json_type_object) &&
                        get_u64(st, "stored_bytes", &bytes) && get_u64(st, "checkpoints", &n);
        v->have_store_rate = false;
        if (!v->have_store)
                return;
        v->store_bytes = bytes;
        v->store_checkpoints = n;
        /* gc shrinks the store: growth is only shown when it grew. */
        if (had && dt > 0 && bytes >= old) {
                v->have_store_rate = true;
                v->store_bytes_s = (bytes - old) / dt;
        }
}

int top_view_update(struct top_view *v, struct json_object *reply)
{
        struct json_object *a, *st = NULL;
        struct top_row *rows;
        double uptime, dt;
        size_t n, k = 0;

        if (!json_object_is_type(reply, json_type_object) ||
            !json_object_object_get_ex(reply, "processes", &a) ||
            !json_object_is_type(a, json_type_array))
                return -EBADMSG;
        uptime = get_opt_number(reply, "uptime_sec");
        dt = v->frames > 0 && uptime >= 0 && v->uptime >= 0 ? uptime - v->uptime : -1;
        n = MIN(json_object_array_length(a), (size_t)TOP_MAX_ROWS);
        rows = calloc(n ? n : 1, sizeof(*rows));
        if (!rows)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                if (!row_from_json(json_object_array_get_idx(a, i), &rows[k]))
                        continue;
                row_rates(&rows[k], find_row(v, rows[k].pid), dt);
                k++;
        }
        (void)json_object_object_get_ex(reply, "store", &st);
        store_from_json(v, st, dt);
        free(v->rows);
        v->rows = rows;
        v->n = k;
        v->n_groups = 0;
        for (size_t i = 0; i < k; i++)
                v->n_groups += rows[i].group == rows[i].pid;
        v->uptime = uptime;
        v->frames++;
        top_view_sort(v);
        return 0;
}

/* ---- order -------------------------------------------------------------------- */

static int cmp_num(double a, double b)
{
        return a < b ? -1 : a > b ? 1 : 0;
}

static int row_cmp(const struct top_row *a, const struct top_row *b, enum top_sort s)
{
        switch (s) {
        case TOP_SORT_COMM:
                return strcmp(a->comm, b->comm);
        case TOP_SORT_DIRTY:
                return cmp_num(b->dirty_pages, a->dirty_pages);
        case TOP_SORT_RATE:
                return cmp_num(b->have_rate ? b->dirty_mib_s : -1,
                               a->have_rate ? a->dirty_mib_s : -1);
        case TOP_SORT_FAULTS:
                return cmp_num(b->have_rate ? b->faults_s : -1, a->have_rate ? a->faults_s : -1);
        case TOP_SORT_PAUSE:
                return cmp_num(b->pause_ms, a->pause_ms);
        case TOP_SORT_NEXT:
                /* The soonest first, none due last. */
                return cmp_num(a->next_sec < 0 ? INFINITY : a->next_sec,
                               b->next_sec < 0 ? INFINITY : b->next_sec);
        case TOP_SORT_STORE:
                return cmp_num(b->have_rate ? b->store_bytes_s : -1,
                               a->have_rate ? a->store_bytes_s : -1);
        default:
                return 0;
        }
}

static int qsort_cmp(const void *x, const void *y, void *userdata)
{
        const struct top_view *v = userdata;
        const struct top_row *a = x, *b = y;
        int c = row_cmp(a, b, v->sort < _TOP_SORT_MAX ? v->sort : TOP_SORT_PID);

        if (c == 0)
                c = cmp_num(a->pid, b->pid);
        return v->reverse ? -c : c;
}

void top_view_sort(struct top_view *v)
{
        if (v->n > 1)
                qsort_r(v->rows, v->n, sizeof(*v->rows), qsort_cmp, v);
}

/* ---- output ------------------------------------------------------------------- */

/* Bytes as 4 significant characters and a unit: 512B, 1.5K, 12M, 3.0G. */
static const char *fmt_bytes(char buf[static 16], double b)
{
        static const char units[] = "BKMGTP";
        size_t u = 0;

        while (b >= 1024 && u + 1 < sizeof(units) - 1) {
                b /= 1024;
                u++;
        }
        if (u == 0)
                snprintf(buf, 16, "%.0f%c", b, units[u]);
        else
                snprintf(buf, 16, b < 10 ? "%.1f%c" : "%.0f%c", b, units[u]);
        return buf;
}

/* The columns a narrow terminal cuts come last. */
static const char header[] = "    PID COMM            DIRTY_MIB  MIB/S FAULTS/S PAUSE_MS  NEXT "
                             "STORE/S CKPTS STORED TRACKING  GROUP";

static const char *fmt_seconds(char buf[static 16], double sec)
{
        if (sec < 600)
                snprintf(buf, 16, "%.0fs", sec);
        else if (sec < 36000)
                snprintf(buf, 16, "%.0fm", sec / 60);
        else
                snprintf(buf, 16, "%.0fh", MIN(sec / 3600, 99999.0));
        return buf;
}

static void format_row(char *buf, size_t size, const struct top_row *r)
{
        char rate[16] = "-", faults[16] = "-", pause[16] = "-", next[16] = "-", growth[16] = "-",
             stored[16], group[16] = "-";

        if (r->group)
                snprintf(group, sizeof(group), "%d", (int)r->group);
        if (r->have_rate) {
                snprintf(rate, sizeof(rate), r->dirty_mib_s < 100 ? "%.2f" : "%.0f",
                         MIN(r->dirty_mib_s, 1e9));
                snprintf(faults, sizeof(faults), "%.0f", MIN(r->faults_s, 1e12));
                fmt_bytes(growth, r->store_bytes_s);
                strcat(growth, "/s");
        }
        if (r->pause_ms >= 0)
                snprintf(pause, sizeof(pause), "%.2f", MIN(r->pause_ms, 1e9));
        if (r->next_sec >= 0)
                fmt_seconds(next, r->next_sec);
        snprintf(buf, size, "%7d %-15s %9.1f %6s %8s %8s %5s %7s %5" PRIu64 " %6s %-8s %6s",
                 (int)r->pid, r->comm, r->dirty_pages * PAGE_BYTES / MIB, rate, faults, pause, next,
                 growth, r->checkpoints, fmt_bytes(stored, r->stored_bytes), r->tracking, group);
}

/* A line cut to width columns (every byte printed is one column: the text
 * was made printable ASCII or is a process name, shown byte by byte). */
static void screen_line(FILE *f, const char *s, unsigned width)
{
        fprintf(f, "%.*s\033[K\n", (int)MIN(strlen(s), (size_t)width), s);
}

void top_view_print_screen(const struct top_view *v, FILE *f, unsigned width, unsigned height)
{
        char line[512], b1[16], b2[16];
        unsigned shown;

        fputs("\033[H", f);
        if (v->have_store)
                snprintf(line, sizeof(line),
                         "ckptd: up %.0fs, %zu tracked (%zu groups), store %s in %" PRIu64
                         " checkpoints%s%s%s",
                         v->uptime, v->n, v->n_groups, fmt_bytes(b1, v->store_bytes),
                         v->store_checkpoints, v->have_store_rate ? " (+" : "",
                         v->have_store_rate ? fmt_bytes(b2, v->store_bytes_s) : "",
                         v->have_store_rate ? "/s)" : "");
        else
                snprintf(line, sizeof(line),
                         "ckptd: up %.0fs, %zu tracked that you may see (%zu groups)", v->uptime,
                         v->n, v->n_groups);
        screen_line(f, line, width);
        snprintf(line, sizeof(line), "sort: %s%s   keys: p c d r f l n s sort, R reverse, q quit",
                 top_sort_name(v->sort), v->reverse ? " (reversed)" : "");
        screen_line(f, line, width);
        fprintf(f, "\033[7m");
        snprintf(line, sizeof(line), "%-*s", (int)MIN(width, sizeof(line) - 1), header);
        fprintf(f, "%.*s\033[0m\033[K\n", (int)MIN(strlen(line), (size_t)width), line);
        shown = height > 4 ? height - 4 : 1;
        for (size_t i = 0; i < v->n && i < shown; i++) {
                format_row(line, sizeof(line), &v->rows[i]);
                screen_line(f, line, width);
        }
        if (v->n == 0)
                screen_line(f, "  no tracked processes", width);
        fputs("\033[J", f);
        fflush(f);
}

void top_view_print_plain(const struct top_view *v, FILE *f, bool header_line)
{
        char line[512];

        if (header_line)
                fprintf(f, "%s\n", header);
        for (size_t i = 0; i < v->n; i++) {
                format_row(line, sizeof(line), &v->rows[i]);
                fprintf(f, "%s\n", line);
        }
        fflush(f);
}

void top_view_done(struct top_view *v)
{
        free(v->rows);
        v->rows = NULL;
        v->n = 0;
}
