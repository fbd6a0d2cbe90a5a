/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ctl-parse.c: ckptctl's parsers of command-line values and of the daemon's
 * timestamps (see ctl-parse.h).
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl-parse.h"
#include "ckpt/macro-fundamental.h"

int ctl_parse_pid(const char *s, pid_t *ret)
{
        char *end;
        long v;

        errno = 0;
        v = strtol(s, &end, 10);
        if (errno || end == s || *end || v <= 0 || v > INT_MAX)
                return -EINVAL;
        *ret = (pid_t)v;
        return 0;
}

int ctl_parse_uint(const char *s, uint64_t *ret)
{
        char *end;
        unsigned long long v;

        if (!*s || *s == '-' || *s == '+')
                return -EINVAL;
        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno || end == s || *end)
                return -EINVAL;
        *ret = v;
        return 0;
}

int ctl_parse_id(const char *s, uint64_t *ret)
{
        uint64_t v;

        /* Ids travel as JSON integers: 1 .. 2^63-1. */
        if (ctl_parse_uint(s, &v) < 0 || v == 0 || v > INT64_MAX)
                return -EINVAL;
        *ret = v;
        return 0;
}

int ctl_parse_addr(const char *s, uint64_t *ret)
{
        const char *p = s;
        unsigned long long v;
        int base = 10;
        char *end;

        if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
                base = 16;
                p += 2;
        } else if ((p[0] == '0' && p[1]) || strpbrk(p, "abcdefABCDEF"))
                base = 16;
        if (!*p || *p == '-' || *p == '+' || *p == ' ')
                return -EINVAL;
        errno = 0;
        v = strtoull(p, &end, base);
        if (errno || *end)
                return -EINVAL;
        *ret = v;
        return 0;
}

int ctl_parse_range(const char *s, struct ckpt_addr_range *ret)
{
        _cleanup_free_ char *a = strdup(s);
        char *dash;

        if (!a)
                return -ENOMEM;
        dash = strchr(a, '-');
        if (!dash)
                return -EINVAL;
        *dash = 0;
        if (ctl_parse_addr(a, &ret->start) < 0 || ctl_parse_addr(dash + 1, &ret->end) < 0)
                return -EDOM;
        if (ret->start >= ret->end)
                return -ERANGE;
        return 0;
}

int ctl_parse_duration(const char *s, uint64_t *ret)
{
        uint64_t total = 0;
        const char *p = s;

        if (!*s)
                return -EINVAL;
        while (*p) {
                unsigned long long v;
                uint64_t mul;
                char *end;

                if (*p < '0' || *p > '9')
                        return -EINVAL;
                errno = 0;
                v = strtoull(p, &end, 10);
                if (errno)
                        return -EINVAL;
                switch (*end) {
                case 0:
                        mul = 1;
                        break;
                case 's':
                        mul = 1, end++;
                        break;
                case 'm':
                        mul = 60, end++;
                        break;
                case 'h':
                        mul = 3600, end++;
                        break;
                case 'd':
                        mul = 86400, end++;
                        break;
                default:
                        return -EINVAL;
                }
                if (v > (UINT64_MAX - total) / mul)
                        return -ERANGE;
                total += v * mul;
                p = end;
        }
        *ret = total;
        return 0;
}

const char *ctl_fmt_time(char buf[static 32], const char *iso)
{
        struct tm tm = {0};
        const char *end;
        time_t t;

        if (!iso)
                return "-";
        end = strptime(iso, "%Y-%m-%dT%H:%M:%S", &tm);
        if (!end) {
                snprintf(buf, 32, "%s", iso);
                return buf;
        }
        t = timegm(&tm);
        if (!localtime_r(&t, &tm) || strftime(buf, 32, "%Y-%m-%d %H:%M:%S", &tm) == 0)
                snprintf(buf, 32, "%s", iso);
        return buf;
}
