/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* cgroup-util.c: the processes of a cgroup (v2); see cgroup-util.h. */
#include "cgroup-util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "macro.h"

#define CGROUP_PATH_MAX 4095
#define CGROUP_DEPTH_MAX 32

int cgroup_path_valid(const char *path)
{
        size_t len;

        if (!path || path[0] != '/' || path[1] == 0)
                return -EINVAL;
        len = strlen(path);
        if (len > CGROUP_PATH_MAX)
                return -EINVAL;
        for (const char *p = path; *p;) {
                const char *c = p + 1, *e = strchrnul(c, '/');
                size_t n = (size_t)(e - c);

                /* "/a//b", "/a/", "/./", "/../" */
                if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
                        return -EINVAL;
                for (const char *q = c; q < e; q++)
                        if ((unsigned char)*q < 0x20 || *q == 0x7f)
                                return -EINVAL;
                p = e;
        }
        return 0;
}

/* Where cgroup2 is mounted: the first cgroup2 line of /proc/self/mountinfo. */
static int cgroup2_mount(char *ret, size_t size)
{
        _cleanup_fclose_ FILE *f = fopen("/proc/self/mountinfo", "re");
        char line[4096];

        if (!f)
                return negative_errno();
        while (fgets(line, sizeof(line), f)) {
                char mnt[4096], *sep = strstr(line, " - ");

                if (!sep || strncmp(sep, " - cgroup2 ", 11) != 0)
                        continue;
                /* id parent major:minor root mountpoint ... */
                if (sscanf(line, "%*s %*s %*s %*s %4095s", mnt) != 1 || strchr(mnt, '\\'))
                        continue;
                snprintf(ret, size, "%s", mnt);
                return 0;
        }
        return -EOPNOTSUPP;
}

int cgroup_open(const char *path, int *ret_fd)
{
        struct open_how how = {
                .flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC,
                .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS |
                           RESOLVE_NO_XDEV,
        };
        _cleanup_close_ int root = -EBADF;
        char mnt[4096];
        int fd, r;

        r = cgroup_path_valid(path);
        if (r < 0)
                return r;
        r = cgroup2_mount(mnt, sizeof(mnt));
        if (r < 0)
                return r;
        root = open(mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (root < 0)
                return negative_errno();
        fd = (int)syscall(SYS_openat2, root, path + 1, &how, sizeof(how));
        if (fd < 0)
                return errno == ENOTDIR ? -ENOENT : negative_errno();
        *ret_fd = fd;
        return 0;
}

static int add_pid(pid_t pid, size_t max, pid_t **pids, size_t *n)
{
        for (size_t i = 0; i < *n; i++)
                if ((*pids)[i] == pid)
                        return 0;
        if (*n >= max)
                return -E2BIG;
        if (*n % 16 == 0) {
                pid_t *q = realloc(*pids, (*n + 16) * sizeof(**pids));
                if (!q)
                        return -ENOMEM;
                *pids = q;
        }
        (*pids)[(*n)++] = pid;
        return 0;
}

static int procs_of(int dir_fd, size_t max, pid_t **pids, size_t *n, unsigned depth)
{
        _cleanup_fclose_ FILE *f = NULL;
        struct dirent *de;
        DIR *d;
        int fd, r = 0;
        long v;

        if (depth > CGROUP_DEPTH_MAX)
                return -ELOOP;
        fd = openat(dir_fd, "cgroup.procs", O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return errno == ENOENT ? -ENOENT : negative_errno(); /* removed meanwhile */
        f = fdopen(fd, "re");
        if (!f) {
                safe_close(fd);
                return -ENOMEM;
        }
        while (fscanf(f, "%ld", &v) == 1) {
                if (v <= 0 || v > INT32_MAX)
                        return -EBADMSG;
                r = add_pid((pid_t)v, max, pids, n);
                if (r < 0)
                        return r;
        }
        /* The cgroups below it. */
        fd = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        d = fdopendir(fd);
        if (!d) {
                safe_close(fd);
                return -ENOMEM;
        }
        while (r >= 0 && (de = readdir(d))) {
                int sub;

                if (de->d_type != DT_DIR || de->d_name[0] == '.')
                        continue;
                sub = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (sub < 0)
                        continue; /* removed meanwhile */
                r = procs_of(sub, max, pids, n, depth + 1);
                if (r == -ENOENT)
                        r = 0;
                safe_close(sub);
        }
        closedir(d);
        return r;
}

int cgroup_procs(int dir_fd, size_t max, pid_t **pids, size_t *n)
{
        return procs_of(dir_fd, max, pids, n, 0);
}
