/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ctl-cgroup.c: a unit's cgroup; see ctl-cgroup.h. */
#include "ctl-cgroup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define UNIT_DEPTH_MAX 8

static int cgroup2_mount(char *ret, size_t size)
{
        FILE *f = fopen("/proc/self/mountinfo", "re");
        char line[4096], mnt[4096];
        int r = -EOPNOTSUPP;

        if (!f)
                return -errno;
        while (fgets(line, sizeof(line), f)) {
                char *sep = strstr(line, " - ");

                if (!sep || strncmp(sep, " - cgroup2 ", 11) != 0 ||
                    sscanf(line, "%*s %*s %*s %*s %4095s", mnt) != 1)
                        continue;
                snprintf(ret, size, "%s", mnt);
                r = 0;
                break;
        }
        fclose(f);
        return r;
}

/* Below dir (path rel, from the cgroup root), the directories named unit. */
static void search(int dir_fd, const char *rel, const char *unit, unsigned depth, char *ret,
                   size_t size, int *found)
{
        DIR *d;
        struct dirent *de;

        if (depth > UNIT_DEPTH_MAX || *found > 1)
                return;
        d = fdopendir(dir_fd);
        if (!d) {
                close(dir_fd);
                return;
        }
        while ((de = readdir(d)) && *found <= 1) {
                char sub[4096];
                int fd;

                if (de->d_type != DT_DIR || de->d_name[0] == '.')
                        continue;
                if (snprintf(sub, sizeof(sub), "%s/%s", rel, de->d_name) >= (int)sizeof(sub))
                        continue;
                if (strcmp(de->d_name, unit) == 0) {
                        if ((*found)++ == 0)
                                snprintf(ret, size, "%s", sub);
                        continue;
                }
                fd = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (fd >= 0)
                        search(fd, sub, unit, depth + 1, ret, size, found);
        }
        closedir(d);
}

int ctl_unit_cgroup(const char *unit, char *ret, size_t size)
{
        char mnt[4096];
        int fd, found = 0, r;

        if (!unit[0] || strchr(unit, '/') || strcmp(unit, ".") == 0 || strcmp(unit, "..") == 0)
                return -EINVAL;
        r = cgroup2_mount(mnt, sizeof(mnt));
        if (r < 0)
                return r;
        fd = open(mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        search(fd, "", unit, 0, ret, size, &found);
        return found == 0 ? -ENOENT : found > 1 ? -ENOTUNIQ : 0;
}
