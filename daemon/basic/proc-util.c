/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * proc-util.c: the daemon's readers of /proc/PID files; see proc-util.h.
 */
#include "proc-util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "macro.h"

int read_file_at(const char *path, char *buf, size_t size)
{
        return read_file_atfd(AT_FDCWD, path, buf, size);
}

int read_file_atfd(int dir_fd, const char *name, char *buf, size_t size)
{
        _cleanup_close_ int fd = -EBADF;
        size_t n = 0;

        fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return errno == ENOENT || errno == ESRCH ? -ESRCH : negative_errno();
        while (n < size - 1) {
                ssize_t k = read(fd, buf + n, size - 1 - n);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        /* A task that died between open and read. */
                        return errno == ESRCH ? -ESRCH : negative_errno();
                }
                if (k == 0)
                        break;
                n += k;
        }
        buf[n] = 0;
        return (int)n;
}

int proc_stat_read(pid_t pid, char *ret_state, uint64_t *ret_start_time, char ret_comm[16])
{
        char path[64], buf[2048];
        const char *open_paren, *close_paren, *p;
        unsigned long long start_time = 0;
        char state;
        int r;

        snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
        r = read_file_at(path, buf, sizeof(buf));
        if (r < 0)
                return r;

        /* comm may hold spaces and parentheses: it ends at the last ')'. */
        open_paren = strchr(buf, '(');
        close_paren = strrchr(buf, ')');
        if (!open_paren || !close_paren || close_paren < open_paren || close_paren[1] != ' ')
                return -EBADMSG;
        p = close_paren + 2;
        state = *p;
        /* Field 3 is the state; the start time is field 22, 19 fields on. */
        for (int field = 3; field < 22; field++) {
                p = strchr(p, ' ');
                if (!p)
                        return -EBADMSG;
                p++;
        }
        if (sscanf(p, "%llu", &start_time) != 1)
                return -EBADMSG;

        if (ret_state)
                *ret_state = state;
        if (ret_start_time)
                *ret_start_time = start_time;
        if (ret_comm) {
                size_t len = MIN((size_t)(close_paren - open_paren - 1), (size_t)15);
                memcpy(ret_comm, open_paren + 1, len);
                ret_comm[len] = 0;
        }
        return 0;
}

int status_field(const char *status_path, const char *key, char *ret, size_t size)
{
        char buf[8192];
        size_t klen = strlen(key);
        const char *p;
        int r;

        r = read_file_at(status_path, buf, sizeof(buf));
        if (r < 0)
                return r;
        for (p = buf; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
                if (strncmp(p, key, klen) == 0 && p[klen] == ':') {
                        const char *v = p + klen + 1;
                        size_t n;

                        v += strspn(v, " \t");
                        n = strcspn(v, "\n");
                        n = MIN(n, size - 1);
                        memcpy(ret, v, n);
                        ret[n] = 0;
                        return 0;
                }
        }
        return -ENOENT;
}

int read_status_field(pid_t pid, pid_t tid, const char *field, char *buf, size_t size)
{
        _cleanup_fclose_ FILE *f = NULL;
        char path[96], line[256];
        size_t l = strlen(field);

        snprintf(path, sizeof(path), "/proc/%d/task/%d/status", (int)pid, (int)tid);
        f = fopen(path, "re");
        if (!f)
                return errno == ENOENT ? -ESRCH : negative_errno();
        while (fgets(line, sizeof(line), f)) {
                if (strncmp(line, field, l) == 0 && line[l] == ':') {
                        const char *v = line + l + 1;

                        v += strspn(v, " \t");
                        snprintf(buf, size, "%.*s", (int)strcspn(v, "\n"), v);
                        return 0;
                }
        }
        return -ENOENT;
}

int read_tgid(pid_t pid, pid_t *ret)
{
        _cleanup_fclose_ FILE *f = NULL;
        char path[64], line[128];

        snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
        f = fopen(path, "re");
        if (!f)
                return errno == ENOENT ? -ESRCH : negative_errno();
        while (fgets(line, sizeof(line), f))
                if (strncmp(line, "Tgid:", 5) == 0) {
                        *ret = (pid_t)atoi(line + 5);
                        return 0;
                }
        return -EIO;
}

static bool pid_in(const pid_t *v, size_t n, pid_t pid)
{
        for (size_t i = 0; i < n; i++)
                if (v[i] == pid)
                        return true;
        return false;
}

/* The pids of one children file, appended to *pids unless there. */
static int add_children(const char *text, size_t max, pid_t **pids, size_t *n)
{
        const char *p = text;

        while (*p) {
                char *end;
                long v;

                while (*p == ' ' || *p == '\n')
                        p++;
                if (!*p)
                        break;
                errno = 0;
                v = strtol(p, &end, 10);
                if (end == p || errno != 0 || v <= 0 || v > INT32_MAX)
                        return -EBADMSG;
                p = end;
                if (pid_in(*pids, *n, (pid_t)v))
                        continue;
                if (*n >= max)
                        return -E2BIG;
                if (*n % 16 == 0) {
                        pid_t *q = realloc(*pids, (*n + 16) * sizeof(**pids));
                        if (!q)
                                return -ENOMEM;
                        *pids = q;
                }
                (*pids)[(*n)++] = (pid_t)v;
        }
        return 0;
}

int proc_children(pid_t pid, size_t max, pid_t **pids, size_t *n)
{
        _cleanup_free_ char *buf = NULL;
        char path[64];
        struct dirent *de;
        DIR *d;
        int r = 0;

        snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
        d = opendir(path);
        if (!d)
                return errno == ENOENT ? -ESRCH : negative_errno();
        /* Each child is "PID " (at most 12 bytes): room for 5000 per thread. */
        buf = malloc(65536);
        if (!buf) {
                closedir(d);
                return -ENOMEM;
        }
        while (r >= 0 && (de = readdir(d))) {
                char name[96];
                int k;

                if (de->d_name[0] == '.')
                        continue;
                snprintf(name, sizeof(name), "%s/%.20s/children", path, de->d_name);
                k = read_file_at(name, buf, 65536);
                if (k == -ESRCH)
                        continue; /* the thread exited */
                if (k < 0)
                        r = k;
                else
                        r = add_children(buf, max, pids, n);
        }
        closedir(d);
        return r;
}

int proc_ppid(pid_t pid, pid_t *ret)
{
        char path[64], buf[2048];
        const char *close_paren;
        int ppid, r;

        snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
        r = read_file_at(path, buf, sizeof(buf));
        if (r < 0)
                return r;
        close_paren = strrchr(buf, ')');
        if (!close_paren || sscanf(close_paren + 1, " %*c %d", &ppid) != 1 || ppid < 0)
                return -EBADMSG;
        *ret = ppid;
        return 0;
}
