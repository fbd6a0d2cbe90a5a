/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * policy.c: policy files (format in policy.h): the parser, duration and size
 * values, matching against /proc facts, loading the policy directories with
 * their override rule, and writing runtime policies atomically. It must never
 * act on a process, and never stop at one bad file: errors go back as text.
 */
#include "policy.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "ckpt/proto.h"
#include "macro.h"
#include "proc-util.h"

/* ---- values ---------------------------------------------------------- */

static bool mul_overflows(uint64_t a, uint64_t b, uint64_t *ret)
{
        return __builtin_mul_overflow(a, b, ret);
}

/* Decimal digits only (no sign, no spaces); *end points after them. */
static int parse_digits(const char *s, const char **end, uint64_t *ret)
{
        uint64_t v = 0;

        if (!isdigit((unsigned char)*s))
                return -EINVAL;
        for (; isdigit((unsigned char)*s); s++) {
                if (mul_overflows(v, 10, &v) || __builtin_add_overflow(v, (uint64_t)(*s - '0'), &v))
                        return -ERANGE;
        }
        *end = s;
        *ret = v;
        return 0;
}

static int parse_u64(const char *s, uint64_t *ret)
{
        const char *end;
        int r;

        r = parse_digits(s, &end, ret);
        if (r < 0)
                return r;
        return *end ? -EINVAL : 0;
}

static int parse_unsigned(const char *s, unsigned *ret)
{
        uint64_t v;
        int r;

        r = parse_u64(s, &v);
        if (r < 0)
                return r;
        if (v > UINT_MAX)
                return -ERANGE;
        *ret = (unsigned)v;
        return 0;
}

/* An address: 0x-prefixed hex or decimal, nothing else. */
static int parse_address(const char *s, uint64_t *ret)
{
        uint64_t v = 0;

        if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
                s += 2;
                if (!isxdigit((unsigned char)*s))
                        return -EINVAL;
                for (; isxdigit((unsigned char)*s); s++) {
                        unsigned d = isdigit((unsigned char)*s)
                                             ? (unsigned)(*s - '0')
                                             : (unsigned)(tolower(*s) - 'a' + 10);
                        if (v >> 60)
                                return -ERANGE;
                        v = v << 4 | d;
                }
                if (*s)
                        return -EINVAL;
                *ret = v;
                return 0;
        }
        return parse_u64(s, ret);
}

static const struct {
        const char *suffix;
        uint64_t usec;
} duration_units[] = {
        {"us", 1ULL},         {"usec", 1ULL},        {"ms", 1000ULL},       {"msec", 1000ULL},
        {"s", 1000000ULL},    {"sec", 1000000ULL},   {"m", 60000000ULL},    {"min", 60000000ULL},
        {"h", 3600000000ULL}, {"hr", 3600000000ULL}, {"d", 86400000000ULL}, {"w", 604800000000ULL},
};

int parse_duration_usec(const char *s, uint64_t *ret)
{
        uint64_t total = 0;
        bool any = false;

        if (!s)
                return -EINVAL;
        for (;;) {
                uint64_t n, mult = 0, term;
                const char *unit;
                size_t ulen;
                int r;

                while (isspace((unsigned char)*s))
                        s++;
                if (!*s)
                        break;
                r = parse_digits(s, &s, &n);
                if (r < 0)
                        return r;
                unit = s;
                while (isalpha((unsigned char)*s))
                        s++;
                ulen = (size_t)(s - unit);
                if (ulen == 0)
                        mult = 1000000ULL; /* a bare number is seconds */
                else
                        for (size_t i = 0; i < ELEMENTSOF(duration_units); i++)
                                if (strlen(duration_units[i].suffix) == ulen &&
                                    memcmp(duration_units[i].suffix, unit, ulen) == 0) {
                                        mult = duration_units[i].usec;
                                        break;
                                }
                if (mult == 0)
                        return -EINVAL;
                if (*s && !isspace((unsigned char)*s) && !isdigit((unsigned char)*s))
                        return -EINVAL;
                if (mul_overflows(n, mult, &term) || __builtin_add_overflow(total, term, &total))
                        return -ERANGE;
                any = true;
        }
        if (!any)
                return -EINVAL;
        *ret = total;
        return 0;
}

int parse_size_bytes(const char *s, uint64_t *ret)
{
        static const char prefixes[] = "KMGTPE";
        uint64_t n, mult = 1;
        const char *end, *p;
        int r;

        if (!s)
                return -EINVAL;
        r = parse_digits(s, &end, &n);
        if (r < 0)
                return r;
        if (*end) {
                p = strchr(prefixes, toupper((unsigned char)*end));
                if (p) {
                        for (const char *q = prefixes; q <= p; q++)
                                mult *= 1024;
                        end++;
                        if (*end == 'i' && end[1] == 'B')
                                end += 2;
                        else if (*end == 'B')
                                end++;
                } else if (*end == 'B') {
                        end++;
                }
                if (*end)
                        return -EINVAL;
        }
        if (mul_overflows(n, mult, &n))
                return -ERANGE;
        *ret = n;
        return 0;
}

char *format_duration_usec(char *buf, size_t len, uint64_t usec)
{
        static const struct {
                const char *suffix;
                uint64_t usec;
        } units[] = {
                {"w", 604800000000ULL}, {"d", 86400000000ULL}, {"h", 3600000000ULL},
                {"m", 60000000ULL},     {"s", 1000000ULL},     {"ms", 1000ULL},
                {"us", 1ULL},
        };
        size_t used = 0;

        if (!buf || len == 0)
                return buf;
        buf[0] = 0;
        if (usec == 0) {
                snprintf(buf, len, "0");
                return buf;
        }
        for (size_t i = 0; i < ELEMENTSOF(units) && usec > 0; i++) {
                uint64_t n = usec / units[i].usec;
                int k;

                if (n == 0)
                        continue;
                usec -= n * units[i].usec;
                k = snprintf(buf + used, len - used, "%s%llu%s", used ? " " : "",
                             (unsigned long long)n, units[i].suffix);
                if (k < 0 || (size_t)k >= len - used)
                        break; /* truncated, still NUL-terminated */
                used += (size_t)k;
        }
        return buf;
}

static int parse_boolean(const char *s)
{
        static const char *const yes[] = {"1", "yes", "y", "true", "t", "on"};
        static const char *const no[] = {"0", "no", "n", "false", "f", "off"};

        for (size_t i = 0; i < ELEMENTSOF(yes); i++)
                if (strcasecmp(s, yes[i]) == 0)
                        return 1;
        for (size_t i = 0; i < ELEMENTSOF(no); i++)
                if (strcasecmp(s, no[i]) == 0)
                        return 0;
        return -EINVAL;
}

/* ---- the policy object ----------------------------------------------- */

struct policy *policy_free(struct policy *p)
{
        if (!p)
                return NULL;
        free(p->name);
        free(p->path);
        free(p->match_comm);
        free(p->match_exe);
        free(p->match_cgroup);
        free(p->match_unit);
        free(p->match_user);
        free(p->ranges);
        free(p);
        return NULL;
}

/* ---- the parser ------------------------------------------------------ */

enum section {
        SECTION_NONE,
        SECTION_MATCH,
        SECTION_CHECKPOINT,
        SECTION_RETENTION,
        _SECTION_MAX,
};

static const char *const section_names[_SECTION_MAX] = {
        [SECTION_MATCH] = "Match",
        [SECTION_CHECKPOINT] = "Checkpoint",
        [SECTION_RETENTION] = "Retention",
};

/* A key handler: 0, or a negative errno with a reason in why. */
typedef int (*key_parser)(struct policy *p, const char *v, char *why, size_t wlen);

#define WHY(r, ...)                                                                                \
        ({                                                                                         \
                snprintf(why, wlen, __VA_ARGS__);                                                  \
                (r);                                                                               \
        })

static int strdup_to(char **dst, const char *v)
{
        *dst = strdup(v);
        return *dst ? 0 : -ENOMEM;
}

static int key_pid(struct policy *p, const char *v, char *why, size_t wlen)
{
        uint64_t n;

        if (parse_u64(v, &n) < 0 || n == 0 || n > INT_MAX)
                return WHY(-EINVAL, "Pid= takes a process id, not '%s'", v);
        p->match_pid = (pid_t)n;
        return 0;
}

static int key_start_time(struct policy *p, const char *v, char *why, size_t wlen)
{
        if (parse_u64(v, &p->match_start_time) < 0 || p->match_start_time == 0)
                return WHY(-EINVAL, "StartTime= takes clock ticks since boot, not '%s'", v);
        return 0;
}

static int key_comm(struct policy *p, const char *v, char *why, size_t wlen)
{
        return strdup_to(&p->match_comm, v);
}

static int key_exe(struct policy *p, const char *v, char *why, size_t wlen)
{
        if (v[0] != '/' && v[0] != '*')
                return WHY(-EINVAL,
                           "Exe= takes an absolute path or a glob starting with '*', "
                           "not '%s'",
                           v);
        return strdup_to(&p->match_exe, v);
}

static int key_cgroup(struct policy *p, const char *v, char *why, size_t wlen)
{
        size_t n = strlen(v);

        if (v[0] != '/')
                return WHY(-EINVAL, "Cgroup= takes a cgroup path starting with '/', not '%s'", v);
        while (n > 1 && v[n - 1] == '/')
                n--;
        p->match_cgroup = strndup(v, n);
        return p->match_cgroup ? 0 : -ENOMEM;
}

static bool is_unit_name(const char *s)
{
        size_t n = strlen(s);

        if (strchr(s, '/'))
                return false;
        return (n > strlen(".service") && strcmp(s + n - strlen(".service"), ".service") == 0) ||
               (n > strlen(".scope") && strcmp(s + n - strlen(".scope"), ".scope") == 0);
}

static int key_unit(struct policy *p, const char *v, char *why, size_t wlen)
{
        if (!is_unit_name(v))
                return WHY(-EINVAL,
                           "Unit= takes a unit name ending in .service or .scope, "
                           "not '%s'",
                           v);
        return strdup_to(&p->match_unit, v);
}

static int key_user(struct policy *p, const char *v, char *why, size_t wlen)
{
        uint64_t n;

        if (isdigit((unsigned char)v[0])) {
                if (parse_u64(v, &n) < 0 || n >= (uid_t)-1)
                        return WHY(-EINVAL, "User= takes a user name or uid, not '%s'", v);
                p->match_uid = (uid_t)n;
        } else {
                struct passwd pw, *res = NULL;
                char buf[4096];
                int r;

                r = getpwnam_r(v, &pw, buf, sizeof(buf), &res);
                if (r != 0)
                        return WHY(-r, "User=%s: cannot look up the user: %s", v, strerror(r));
                if (!res)
                        return WHY(-ENOENT, "User=%s: no such user", v);
                p->match_uid = pw.pw_uid;
        }
        p->match_has_uid = true;
        return strdup_to(&p->match_user, v);
}

static int key_interval(struct policy *p, const char *v, char *why, size_t wlen)
{
        uint64_t u;

        if (parse_duration_usec(v, &u) < 0)
                return WHY(-EINVAL,
                           "Interval= takes a duration (500ms, 30s, 5m, 1h, 1d), "
                           "not '%s'",
                           v);
        if (u < POLICY_INTERVAL_MIN_USEC)
                return WHY(-EINVAL, "Interval=%s is below the minimum of 100ms", v);
        p->interval_usec = u;
        return 0;
}

static int key_dirty_trigger(struct policy *p, const char *v, char *why, size_t wlen)
{
        if (parse_size_bytes(v, &p->dirty_trigger_bytes) < 0)
                return WHY(-EINVAL, "DirtyTrigger= takes a size (4096, 512K, 64M, 1G), not '%s'",
                           v);
        return 0;
}

static int key_range(struct policy *p, const char *v, char *why, size_t wlen)
{
        _cleanup_free_ char *copy = NULL;
        struct ckpt_range *a;
        uint64_t start, end;
        char *dash;

        if (!*v) { /* an empty assignment drops the ranges given so far */
                free(p->ranges);
                p->ranges = NULL;
                p->n_ranges = 0;
                return 0;
        }
        copy = strdup(v);
        if (!copy)
                return -ENOMEM;
        dash = strchr(copy, '-');
        if (!dash)
                return WHY(-EINVAL, "Range= takes START-END, not '%s'", v);
        *dash = 0;
        /* "A - B" reads as well as "A-B" */
        for (char *c = dash; c > copy && isspace((unsigned char)c[-1]); c--)
                c[-1] = 0;
        dash++;
        while (isspace((unsigned char)*dash))
                dash++;
        if (parse_address(copy, &start) < 0 || parse_address(dash, &end) < 0)
                return WHY(-EINVAL, "Range= takes START-END (0x1000-0x2000), not '%s'", v);
        if (start >= end)
                return WHY(-EINVAL, "Range=%s: the start must be below the end", v);
        if (p->n_ranges >= CKPT_MAX_RANGES)
                return WHY(-E2BIG, "more than %u Range= lines", (unsigned)CKPT_MAX_RANGES);
        a = reallocarray(p->ranges, p->n_ranges + 1, sizeof(*a));
        if (!a)
                return -ENOMEM;
        p->ranges = a;
        p->ranges[p->n_ranges++] = (struct ckpt_range){.start = start, .end = end};
        return 0;
}

static int key_full_every(struct policy *p, const char *v, char *why, size_t wlen)
{
        if (parse_unsigned(v, &p->full_every) < 0)
                return WHY(-EINVAL, "FullEvery= takes a count (0 = never), not '%s'", v);
        return 0;
}

static int key_all(struct policy *p, const char *v, char *why, size_t wlen)
{
        int b = parse_boolean(v);

        if (b < 0)
                return WHY(-EINVAL, "All= takes a boolean (yes/no), not '%s'", v);
        p->all = b;
        return 0;
}

static int key_group(struct policy *p, const char *v, char *why, size_t wlen)
{
        p->group_tree = strcmp(v, "tree") == 0;
        p->group_cgroup = strcmp(v, "cgroup") == 0;
        if (!p->group_tree && !p->group_cgroup && strcmp(v, "none") != 0)
                return WHY(-EINVAL, "Group= takes tree, cgroup or none, not '%s'", v);
        return 0;
}

static int key_run_as(struct policy *p, const char *v, char *why, size_t wlen)
{
        const char *colon = strchr(v, ':');
        _cleanup_free_ char *u = NULL;
        uint64_t uid, gid;

        if (!colon)
                goto invalid;
        u = strndup(v, (size_t)(colon - v));
        if (!u)
                return -ENOMEM;
        if (parse_u64(u, &uid) < 0 || parse_u64(colon + 1, &gid) < 0 || uid >= (uid_t)-1 ||
            gid >= (gid_t)-1)
                goto invalid;
        p->has_run_as = true;
        p->run_as_uid = (uid_t)uid;
        p->run_as_gid = (gid_t)gid;
        return 0;
invalid:
        return WHY(-EINVAL, "RunAs= takes UID:GID in decimal (1000:1000), not '%s'", v);
}

static int key_keep(struct policy *p, const char *v, char *why, size_t wlen)
{
        if (parse_unsigned(v, &p->keep) < 0)
                return WHY(-EINVAL, "Keep= takes a count (0 = unlimited), not '%s'", v);
        return 0;
}

static int key_max_age(struct policy *p, const char *v, char *why, size_t wlen)
{
        if (parse_duration_usec(v, &p->max_age_usec) < 0)
                return WHY(-EINVAL, "MaxAge= takes a duration (1h, 7d, 2w), not '%s'", v);
        return 0;
}

static const struct policy_key {
        enum section section;
        const char *name;
        key_parser parse;
        bool repeatable;
        bool match; /* counts as a [Match] condition */
} policy_keys[] = {
        {SECTION_MATCH, "Pid", key_pid, false, true},
        {SECTION_MATCH, "StartTime", key_start_time, false, false},
        {SECTION_MATCH, "Comm", key_comm, false, true},
        {SECTION_MATCH, "Exe", key_exe, false, true},
        {SECTION_MATCH, "Cgroup", key_cgroup, false, true},
        {SECTION_MATCH, "Unit", key_unit, false, true},
        {SECTION_MATCH, "User", key_user, false, true},
        {SECTION_CHECKPOINT, "Interval", key_interval, false, false},
        {SECTION_CHECKPOINT, "DirtyTrigger", key_dirty_trigger, false, false},
        {SECTION_CHECKPOINT, "Range", key_range, true, false},
        {SECTION_CHECKPOINT, "FullEvery", key_full_every, false, false},
        {SECTION_CHECKPOINT, "All", key_all, false, false},
        {SECTION_CHECKPOINT, "Group", key_group, false, false},
        {SECTION_CHECKPOINT, "RunAs", key_run_as, false, false},
        {SECTION_RETENTION, "Keep", key_keep, false, false},
        {SECTION_RETENTION, "MaxAge", key_max_age, false, false},
};

_printf_(6, 7) static int fail(int r, char *err, size_t err_len, const char *path, unsigned line,
                               const char *fmt, ...)
{
        char reason[POLICY_ERROR_MAX];
        va_list ap;

        if (!err || err_len == 0)
                return r;
        va_start(ap, fmt);
        vsnprintf(reason, sizeof(reason), fmt, ap);
        va_end(ap);
        if (line > 0)
                snprintf(err, err_len, "%s:%u: %s", path, line, reason);
        else
                snprintf(err, err_len, "%s: %s", path, reason);
        return r;
}

static const char *path_basename(const char *path)
{
        const char *s = strrchr(path, '/');
        return s ? s + 1 : path;
}

static char *policy_name_from_path(const char *path)
{
        const char *b = path_basename(path);
        size_t n = strlen(b), sl = strlen(POLICY_SUFFIX);

        if (n > sl && strcmp(b + n - sl, POLICY_SUFFIX) == 0)
                n -= sl;
        return strndup(b, n);
}

static void trim(const char **s, const char **e)
{
        while (*s < *e && isspace((unsigned char)**s))
                (*s)++;
        while (*e > *s && isspace((unsigned char)(*e)[-1]))
                (*e)--;
}

/* The section of header s..e ("[Name]", trimmed). */
static int parse_section_header(const char *s, const char *e, enum section *ret, char *err,
                                size_t err_len, const char *path, unsigned line)
{
        enum section sec = SECTION_NONE;
        size_t n;

        if (e[-1] != ']' || e - s < 3)
                return fail(-EINVAL, err, err_len, path, line, "bad section header '%.*s'",
                            (int)MIN(e - s, 80), s);
        n = (size_t)(e - s - 2);
        for (int i = SECTION_MATCH; i < _SECTION_MAX; i++)
                if (strlen(section_names[i]) == n && memcmp(section_names[i], s + 1, n) == 0)
                        sec = (enum section)i;
        if (sec == SECTION_NONE)
                return fail(-EINVAL, err, err_len, path, line,
                            "unknown section [%.*s] (known: [Match], [Checkpoint], [Retention])",
                            (int)MIN(n, 80), s + 1);
        *ret = sec;
        return 0;
}

/* KEY=VALUE of s..e (eq: its '='), both trimmed, into key[64] and value
 * (at most e - s + 1 bytes). */
static int split_assignment(const char *s, const char *eq, const char *e, char key[static 64],
                            char *value, size_t *ret_vlen, char *err, size_t err_len,
                            const char *path, unsigned line)
{
        const char *ks = s, *ke = eq, *vs = eq + 1, *ve = e;
        size_t klen, vlen;

        trim(&ks, &ke);
        trim(&vs, &ve);
        klen = (size_t)(ke - ks);
        vlen = (size_t)(ve - vs);
        if (klen == 0)
                return fail(-EINVAL, err, err_len, path, line, "missing key before '='");
        if (klen >= 64)
                return fail(-EINVAL, err, err_len, path, line, "unknown key '%.*s'", 40, ks);
        memcpy(key, ks, klen);
        key[klen] = 0;
        memcpy(value, vs, vlen);
        value[vlen] = 0;
        *ret_vlen = vlen;
        return 0;
}

/* Whole-file rules, reported at the section they concern (or at the last
 * line when the section is missing). */
static int check_whole_file(const struct policy *p, bool any_match, const unsigned *header_line,
                            unsigned last_line, char *err, size_t err_len, const char *path)
{
        if (!any_match)
                return fail(-EINVAL, err, err_len, path, header_line[SECTION_MATCH] ?: last_line,
                            "[Match] needs at least one of Pid=, Comm=, Exe=, Cgroup=, Unit=, "
                            "User=");
        if (p->match_start_time && !p->match_pid)
                return fail(-EINVAL, err, err_len, path, header_line[SECTION_MATCH],
                            "StartTime= needs Pid=");
        if ((p->group_tree || p->group_cgroup) && p->n_ranges)
                return fail(-EINVAL, err, err_len, path, header_line[SECTION_CHECKPOINT],
                            "Group=%s checkpoints whole processes: it takes no Range=",
                            p->group_tree ? "tree" : "cgroup");
        if (!p->interval_usec)
                return fail(-EINVAL, err, err_len, path,
                            header_line[SECTION_CHECKPOINT] ?: last_line,
                            "[Checkpoint] Interval= is required");
        return 0;
}

int policy_parse(const char *path, const char *content, size_t len, struct policy **ret, char *err,
                 size_t err_len)
{
        _cleanup_(policy_freep) struct policy *p = NULL;
        unsigned seen[ELEMENTSOF(policy_keys)] = {}; /* line of the first assignment */
        unsigned header_line[_SECTION_MAX] = {};
        enum section section = SECTION_NONE;
        const char *pos = content, *end = content + len, *nul;
        unsigned line = 0;
        bool any_match = false;
        int r;

        if (!path)
                path = "(policy)";
        if (err && err_len)
                err[0] = 0;
        if (!content && len > 0)
                return -EINVAL;
        /* A NUL byte is refused up front, with its line. */
        nul = len ? memchr(content, 0, len) : NULL;
        if (nul) {
                unsigned l = 1;
                for (const char *c = content; c < nul; c++)
                        l += *c == '\n';
                return fail(-EINVAL, err, err_len, path, l, "NUL byte in the file");
        }

        p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        p->path = strdup(path);
        p->name = policy_name_from_path(path);
        if (!p->path || !p->name)
                return -ENOMEM;

        while (pos < end) {
                const char *eol = memchr(pos, '\n', (size_t)(end - pos));
                const char *s = pos, *e = eol ? eol : end, *eq;
                char key[64], value[POLICY_LINE_MAX + 1], why[POLICY_ERROR_MAX];
                const struct policy_key *k = NULL;
                size_t vlen = 0, ki;

                line++;
                pos = eol ? eol + 1 : end;
                if ((size_t)(e - s) > POLICY_LINE_MAX)
                        return fail(-EINVAL, err, err_len, path, line, "line longer than %u bytes",
                                    POLICY_LINE_MAX);
                if ((size_t)(e - content) > POLICY_FILE_MAX)
                        return fail(-E2BIG, err, err_len, path, line, "file larger than %u bytes",
                                    POLICY_FILE_MAX);
                trim(&s, &e);
                if (s == e || *s == '#' || *s == ';')
                        continue;

                if (*s == '[') {
                        r = parse_section_header(s, e, &section, err, err_len, path, line);
                        if (r < 0)
                                return r;
                        if (!header_line[section])
                                header_line[section] = line;
                        continue;
                }

                eq = memchr(s, '=', (size_t)(e - s));
                if (!eq)
                        return fail(-EINVAL, err, err_len, path, line,
                                    "expected KEY=VALUE or [Section], got '%.*s'",
                                    (int)MIN(e - s, 80), s);
                r = split_assignment(s, eq, e, key, value, &vlen, err, err_len, path, line);
                if (r < 0)
                        return r;
                if (section == SECTION_NONE)
                        return fail(-EINVAL, err, err_len, path, line,
                                    "%s= outside of a section (start with [Match])", key);
                for (ki = 0; ki < ELEMENTSOF(policy_keys); ki++)
                        if (policy_keys[ki].section == section &&
                            strcmp(policy_keys[ki].name, key) == 0) {
                                k = &policy_keys[ki];
                                break;
                        }
                if (!k)
                        return fail(-EINVAL, err, err_len, path, line, "unknown key '%s' in [%s]",
                                    key, section_names[section]);
                if (seen[ki] && !k->repeatable)
                        return fail(-EINVAL, err, err_len, path, line,
                                    "%s= given twice (first on line %u)", key, seen[ki]);
                if (vlen == 0 && !k->repeatable)
                        return fail(-EINVAL, err, err_len, path, line, "%s= needs a value", key);
                why[0] = 0;
                r = k->parse(p, value, why, sizeof(why));
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        return fail(r, err, err_len, path, line, "%s", why[0] ? why : strerror(-r));
                if (!seen[ki])
                        seen[ki] = line;
                if (k->match)
                        any_match = true;
        }

        r = check_whole_file(p, any_match, header_line, line ? line : 1, err, err_len, path);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(p);
        return 0;
}

int policy_load_file(const char *path, struct policy **ret, char *err, size_t err_len)
{
        _cleanup_(policy_freep) struct policy *p = NULL;
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *buf = NULL;
        size_t n = 0;
        struct stat st;
        int r;

        if (err && err_len)
                err[0] = 0;
        /* O_NONBLOCK: a FIFO named *.policy must not hang the loader. */
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return fail(negative_errno(), err, err_len, path, 0, "cannot open: %s",
                            strerror(errno));
        if (fstat(fd, &st) < 0)
                return fail(negative_errno(), err, err_len, path, 0, "cannot stat: %s",
                            strerror(errno));
        if (S_ISDIR(st.st_mode))
                return fail(-EISDIR, err, err_len, path, 0, "is a directory");
        if (!S_ISREG(st.st_mode))
                return fail(-EBADFD, err, err_len, path, 0, "not a regular file");

        /* Read up to one byte more than allowed: the file may grow. */
        buf = malloc(POLICY_FILE_MAX + 1);
        if (!buf)
                return -ENOMEM;
        while (n < POLICY_FILE_MAX + 1) {
                ssize_t k = read(fd, buf + n, POLICY_FILE_MAX + 1 - n);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return fail(negative_errno(), err, err_len, path, 0, "cannot read: %s",
                                    strerror(errno));
                }
                if (k == 0)
                        break;
                n += (size_t)k;
        }
        if (n > POLICY_FILE_MAX) {
                /* Name the line where the limit is crossed, as the parser would. */
                unsigned line = 1;
                for (size_t i = 0; i < POLICY_FILE_MAX; i++)
                        line += buf[i] == '\n';
                return fail(-E2BIG, err, err_len, path, line, "file larger than %u bytes",
                            POLICY_FILE_MAX);
        }
        r = policy_parse(path, buf, n, &p, err, err_len);
        if (r < 0)
                return r;
        /* Whose rights it uses: see policy.h. */
        if (st.st_uid != 0) {
                if (p->has_run_as && (p->run_as_uid != st.st_uid || p->run_as_gid != st.st_gid))
                        return fail(-EPERM, err, err_len, path, 0,
                                    "RunAs=%u:%u in a file owned by %u:%u (only a file owned by "
                                    "root may name other rights than its owner's)",
                                    (unsigned)p->run_as_uid, (unsigned)p->run_as_gid,
                                    (unsigned)st.st_uid, (unsigned)st.st_gid);
                p->run_as_uid = st.st_uid;
                p->run_as_gid = st.st_gid;
        } else if (!p->has_run_as) {
                p->run_as_uid = 0;
                p->run_as_gid = 0;
        }
        *ret = TAKE_PTR(p);
        return 0;
}

/* ---- /proc facts ----------------------------------------------------- */

static int stat_start_time(int dir_fd, uint64_t *ret)
{
        char buf[2048];
        const char *p;
        int r;

        r = read_file_atfd(dir_fd, "stat", buf, sizeof(buf));
        if (r < 0)
                return r;
        /* comm may hold spaces and ')': fields resume after the last ')'. */
        p = strrchr(buf, ')');
        if (!p)
                return -EBADMSG;
        p++;
        for (int field = 2; field < 22; field++) {
                p = strchr(p, ' ');
                if (!p)
                        return -EBADMSG;
                p++;
        }
        if (parse_digits(p, &p, ret) < 0)
                return -EBADMSG;
        return 0;
}

/* The last path component ending in .service or .scope. */
static char *unit_from_cgroup(const char *cg)
{
        const char *best = NULL;
        size_t best_len = 0;

        for (const char *c = cg; *c;) {
                const char *e;
                size_t n;
                char comp[256];

                while (*c == '/')
                        c++;
                e = strchrnul(c, '/');
                n = (size_t)(e - c);
                if (n > 0 && n < sizeof(comp)) {
                        memcpy(comp, c, n);
                        comp[n] = 0;
                        if (is_unit_name(comp)) {
                                best = c;
                                best_len = n;
                        }
                }
                c = e;
        }
        return best ? strndup(best, best_len) : NULL;
}

int proc_info_read(pid_t pid, struct proc_info *ret)
{
        _cleanup_close_ int dir_fd = -EBADF;
        struct proc_info info = {.pid = pid};
        char path[64], buf[8192], *line;
        uint64_t again;
        ssize_t k;
        int r;

        if (pid <= 0)
                return -EINVAL;
        snprintf(path, sizeof(path), "/proc/%d", (int)pid);
        /* Reads through this directory fd fail once the process is gone,
         * even if its pid is reused meanwhile. */
        dir_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dir_fd < 0)
                return errno == ENOENT ? -ESRCH : negative_errno();

        r = stat_start_time(dir_fd, &info.start_time);
        if (r < 0)
                goto fail;

        r = read_file_atfd(dir_fd, "comm", buf, sizeof(info.comm) + 1);
        if (r < 0)
                goto fail;
        buf[strcspn(buf, "\n")] = 0;
        memcpy(info.comm, buf, strnlen(buf, sizeof(info.comm) - 1));

        r = read_file_atfd(dir_fd, "status", buf, sizeof(buf));
        if (r < 0)
                goto fail;
        line = strstr(buf, "\nUid:");
        if (!line || sscanf(line + 5, "%u", &info.uid) != 1) {
                r = -EBADMSG;
                goto fail;
        }

        /* Kernel threads and zombies have no exe; other users' processes need
         * CAP_SYS_PTRACE (or DAC_READ_SEARCH): all leave exe unknown. */
        k = readlinkat(dir_fd, "exe", buf, sizeof(buf) - 1);
        if (k > 0) {
                static const char deleted[] = " (deleted)";
                size_t dl = sizeof(deleted) - 1;

                buf[k] = 0;
                if ((size_t)k > dl && strcmp(buf + k - dl, deleted) == 0)
                        buf[k - dl] = 0;
                info.exe = strdup(buf);
                if (!info.exe) {
                        r = -ENOMEM;
                        goto fail;
                }
        } else if (k < 0 && errno == ESRCH) {
                r = -ESRCH;
                goto fail;
        }

        r = read_file_atfd(dir_fd, "cgroup", buf, sizeof(buf));
        if (r < 0)
                goto fail;
        for (char *l = buf; l && *l;) {
                char *nl = strchr(l, '\n');
                if (nl)
                        *nl = 0;
                if (strncmp(l, "0::", 3) == 0) {
                        info.cgroup = strdup(l + 3);
                        if (!info.cgroup) {
                                r = -ENOMEM;
                                goto fail;
                        }
                        info.unit = unit_from_cgroup(l + 3);
                        break;
                }
                l = nl ? nl + 1 : NULL;
        }

        /* Still the same process (the fd would fail otherwise, but be sure). */
        r = stat_start_time(dir_fd, &again);
        if (r < 0)
                goto fail;
        if (again != info.start_time) {
                r = -ESRCH;
                goto fail;
        }
        *ret = info;
        return 0;
fail:
        proc_info_done(&info);
        return r;
}

void proc_info_done(struct proc_info *info)
{
        if (!info)
                return;
        free(info->exe);
        free(info->cgroup);
        free(info->unit);
        info->exe = info->cgroup = info->unit = NULL;
}

static bool cgroup_has_prefix(const char *cg, const char *prefix)
{
        size_t n = strlen(prefix);

        if (strcmp(prefix, "/") == 0)
                return cg[0] == '/';
        return strncmp(cg, prefix, n) == 0 && (cg[n] == 0 || cg[n] == '/');
}

bool policy_matches(const struct policy *p, pid_t pid, const struct proc_info *info)
{
        struct proc_info own = {};
        bool m = false;

        if (!p)
                return false;
        if (p->match_pid && p->match_pid != pid)
                return false;
        if (!info) {
                if (proc_info_read(pid, &own) < 0)
                        return false;
                info = &own;
        }
        if (p->match_start_time && p->match_start_time != info->start_time)
                goto out;
        if (p->match_comm && fnmatch(p->match_comm, info->comm, 0) != 0)
                goto out;
        if (p->match_exe && (!info->exe || fnmatch(p->match_exe, info->exe, 0) != 0))
                goto out;
        if (p->match_cgroup && (!info->cgroup || !cgroup_has_prefix(info->cgroup, p->match_cgroup)))
                goto out;
        if (p->match_unit && (!info->unit || strcmp(p->match_unit, info->unit) != 0))
                goto out;
        if (p->match_has_uid && p->match_uid != info->uid)
                goto out;
        m = true;
out:
        proc_info_done(&own);
        return m;
}

/* ---- policy directories ---------------------------------------------- */

struct policy_set {
        struct policy **policies; /* sorted by name */
        size_t n_policies;
        struct policy_error *errors;
        size_t n_errors;
};

struct policy_entry {
        char *name; /* file name */
        char *path;
        size_t dir_index;
};

static int policy_set_add_error(struct policy_set *s, const char *path, int error,
                                const char *message)
{
        struct policy_error *a;

        a = reallocarray(s->errors, s->n_errors + 1, sizeof(*a));
        if (!a)
                return -ENOMEM;
        s->errors = a;
        a[s->n_errors] = (struct policy_error){
                .path = strdup(path),
                .message = strdup(message),
                .error = error,
        };
        if (!a[s->n_errors].path || !a[s->n_errors].message) {
                free(a[s->n_errors].path);
                free(a[s->n_errors].message);
                return -ENOMEM;
        }
        s->n_errors++;
        return 0;
}

struct policy_set *policy_set_free(struct policy_set *s)
{
        if (!s)
                return NULL;
        for (size_t i = 0; i < s->n_policies; i++)
                policy_free(s->policies[i]);
        free(s->policies);
        for (size_t i = 0; i < s->n_errors; i++) {
                free(s->errors[i].path);
                free(s->errors[i].message);
        }
        free(s->errors);
        free(s);
        return NULL;
}

static bool is_policy_file_name(const char *n)
{
        size_t len = strlen(n), sl = strlen(POLICY_SUFFIX);

        return n[0] != '.' && len > sl && strcmp(n + len - sl, POLICY_SUFFIX) == 0;
}

static int entry_cmp(const void *a, const void *b)
{
        return strcmp(((const struct policy_entry *)a)->name,
                      ((const struct policy_entry *)b)->name);
}

static void entries_free(struct policy_entry *e, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                free(e[i].name);
                free(e[i].path);
        }
        free(e);
}

/* Collect NAME.policy files of one directory into entries, replacing the
 * same name from an earlier directory. */
static int collect_dir(struct policy_set *s, const char *dir, size_t dir_index,
                       struct policy_entry **entries, size_t *n_entries)
{
        DIR *d;
        struct dirent *de;
        int r = 0;

        d = opendir(dir);
        if (!d) {
                char msg[POLICY_ERROR_MAX];

                if (errno == ENOENT)
                        return 0;
                r = negative_errno();
                snprintf(msg, sizeof(msg), "%s: cannot read the directory: %s", dir, strerror(-r));
                return policy_set_add_error(s, dir, r, msg);
        }
        while ((errno = 0, de = readdir(d))) {
                struct policy_entry *e = NULL;
                char *path;

                if (!is_policy_file_name(de->d_name))
                        continue;
                if (asprintf(&path, "%s/%s", dir, de->d_name) < 0) {
                        r = -ENOMEM;
                        break;
                }
                for (size_t i = 0; i < *n_entries; i++)
                        if (strcmp((*entries)[i].name, de->d_name) == 0)
                                e = &(*entries)[i];
                if (e) {
                        free(e->path);
                } else {
                        struct policy_entry *a;

                        a = reallocarray(*entries, *n_entries + 1, sizeof(*a));
                        if (!a) {
                                free(path);
                                r = -ENOMEM;
                                break;
                        }
                        *entries = a;
                        e = &a[(*n_entries)++];
                        *e = (struct policy_entry){.name = strdup(de->d_name)};
                        if (!e->name) {
                                free(path);
                                (*n_entries)--;
                                r = -ENOMEM;
                                break;
                        }
                }
                e->path = path;
                e->dir_index = dir_index;
        }
        if (r == 0 && errno != 0) {
                char msg[POLICY_ERROR_MAX];

                r = negative_errno();
                snprintf(msg, sizeof(msg), "%s: cannot read the directory: %s", dir, strerror(-r));
                r = policy_set_add_error(s, dir, r, msg);
        }
        closedir(d);
        return r;
}

static bool is_masked(const char *path)
{
        struct stat st;

        return stat(path, &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3);
}

int policy_set_load(const char *const *dirs, size_t n_dirs, struct policy_set **ret)
{
        _cleanup_(policy_set_freep) struct policy_set *s = NULL;
        struct policy_entry *entries = NULL;
        size_t n_entries = 0;
        int r = 0;

        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        for (size_t i = 0; i < n_dirs && r >= 0; i++)
                if (dirs[i])
                        r = collect_dir(s, dirs[i], i, &entries, &n_entries);
        if (r < 0)
                goto out;
        if (n_entries > 0)
                qsort(entries, n_entries, sizeof(*entries), entry_cmp);

        s->policies = calloc(n_entries ?: 1, sizeof(*s->policies));
        if (!s->policies) {
                r = -ENOMEM;
                goto out;
        }
        for (size_t i = 0; i < n_entries; i++) {
                struct policy *p = NULL;
                char err[POLICY_ERROR_MAX];

                if (is_masked(entries[i].path))
                        continue;
                r = policy_load_file(entries[i].path, &p, err, sizeof(err));
                if (r == -ENOMEM)
                        goto out;
                if (r < 0) {
                        r = policy_set_add_error(s, entries[i].path, r, err);
                        if (r < 0)
                                goto out;
                        continue;
                }
                p->runtime = n_dirs > 1 && entries[i].dir_index == n_dirs - 1;
                s->policies[s->n_policies++] = p;
        }
        r = 0;
        *ret = TAKE_PTR(s);
out:
        entries_free(entries, n_entries);
        return r;
}

size_t policy_set_count(const struct policy_set *s)
{
        return s ? s->n_policies : 0;
}

const struct policy *policy_set_get(const struct policy_set *s, size_t i)
{
        return s && i < s->n_policies ? s->policies[i] : NULL;
}

const struct policy *policy_set_find(const struct policy_set *s, const char *name)
{
        for (size_t i = 0; s && name && i < s->n_policies; i++)
                if (strcmp(s->policies[i]->name, name) == 0)
                        return s->policies[i];
        return NULL;
}

const struct policy *policy_set_match(const struct policy_set *s, pid_t pid,
                                      const struct proc_info *info)
{
        struct proc_info own = {};
        const struct policy *found = NULL;

        if (!s || s->n_policies == 0)
                return NULL;
        if (!info) {
                if (proc_info_read(pid, &own) < 0)
                        return NULL;
                info = &own;
        }
        for (size_t i = 0; i < s->n_policies && !found; i++)
                if (policy_matches(s->policies[i], pid, info))
                        found = s->policies[i];
        proc_info_done(&own);
        return found;
}

size_t policy_set_n_errors(const struct policy_set *s)
{
        return s ? s->n_errors : 0;
}

const struct policy_error *policy_set_error(const struct policy_set *s, size_t i)
{
        return s && i < s->n_errors ? &s->errors[i] : NULL;
}

/* ---- runtime policies ------------------------------------------------ */

static int mkdir_parents(const char *dir, mode_t mode)
{
        _cleanup_free_ char *p = strdup(dir);

        if (!p)
                return -ENOMEM;
        for (char *c = p + 1;; c++) {
                if (*c == '/' || *c == 0) {
                        char saved = *c;

                        *c = 0;
                        if (mkdir(p, mode) < 0 && errno != EEXIST)
                                return negative_errno();
                        *c = saved;
                        if (!saved)
                                break;
                }
        }
        return 0;
}

static int write_all(int fd, const char *buf, size_t n)
{
        while (n > 0) {
                ssize_t k = write(fd, buf, n);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                buf += k;
                n -= (size_t)k;
        }
        return 0;
}

static int runtime_path(const char *dir, pid_t pid, char *buf, size_t len)
{
        int k = snprintf(buf, len, "%s/pid-%d" POLICY_SUFFIX, dir, (int)pid);
        return k < 0 || (size_t)k >= len ? -ENAMETOOLONG : 0;
}

int policy_write_runtime(const char *dir, pid_t pid, uint64_t interval_usec, unsigned keep,
                         char *ret_path, size_t len)
{
        return policy_write_runtime_as(dir, pid, interval_usec, keep, 0, 0, ret_path, len);
}

int policy_write_runtime_as(const char *dir, pid_t pid, uint64_t interval_usec, unsigned keep,
                            uid_t uid, gid_t gid, char *ret_path, size_t len)
{
        _cleanup_close_ int fd = -EBADF, dir_fd = -EBADF;
        char path[PATH_MAX], tmp[PATH_MAX + 32], content[1024], dur[64], run_as[64] = "";
        struct proc_info info = {};
        int r, k;

        if (!dir || pid <= 0 || interval_usec < POLICY_INTERVAL_MIN_USEC)
                return -EINVAL;
        r = runtime_path(dir, pid, path, sizeof(path));
        if (r < 0)
                return r;
        if (ret_path && (size_t)snprintf(ret_path, len, "%s", path) >= len)
                return -ENAMETOOLONG;

        r = proc_info_read(pid, &info);
        if (r < 0)
                return r;
        if (uid != 0)
                snprintf(run_as, sizeof(run_as), "RunAs=%u:%u\n", (unsigned)uid, (unsigned)gid);
        /* The process names itself (prctl PR_SET_NAME): a newline in its comm
         * must not become a line of this file. */
        for (char *c = info.comm; *c; c++)
                if ((unsigned char)*c < 0x20 || *c == 0x7f)
                        *c = '?';
        k = snprintf(content, sizeof(content),
                     "# Written by ckptd for `ckptctl track %d --every %s` (%s);\n"
                     "# `ckptctl untrack %d` removes it.\n"
                     "[Match]\n"
                     "Pid=%d\n"
                     "StartTime=%llu\n"
                     "\n"
                     "[Checkpoint]\n"
                     "Interval=%s\n"
                     "%s"
                     "\n"
                     "[Retention]\n"
                     "Keep=%u\n",
                     (int)pid, format_duration_usec(dur, sizeof(dur), interval_usec), info.comm,
                     (int)pid, (int)pid, (unsigned long long)info.start_time, dur, run_as, keep);
        proc_info_done(&info);
        if (k < 0 || (size_t)k >= sizeof(content))
                return -ENOBUFS;

        r = mkdir_parents(dir, 0755);
        if (r < 0)
                return r;
        snprintf(tmp, sizeof(tmp), "%s/.pid-%d.policy.XXXXXX", dir, (int)pid);
        fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        if (fchmod(fd, 0600) < 0 || (r = write_all(fd, content, (size_t)k)) < 0 || fsync(fd) < 0) {
                r = r < 0 ? r : negative_errno();
                unlink(tmp);
                return r;
        }
        fd = safe_close(fd);
        if (rename(tmp, path) < 0) {
                r = negative_errno();
                unlink(tmp);
                return r;
        }
        /* The rename itself is durable once the directory is synced. */
        dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dir_fd >= 0)
                (void)fsync(dir_fd);
        return 0;
}

int policy_remove_runtime(const char *dir, pid_t pid)
{
        char path[PATH_MAX];
        int r;

        if (!dir || pid <= 0)
                return -EINVAL;
        r = runtime_path(dir, pid, path, sizeof(path));
        if (r < 0)
                return r;
        if (unlink(path) < 0)
                return negative_errno();
        return 0;
}
