/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * cgroup-util.h: the processes of a cgroup (v2), for group checkpoints of a
 * cgroup or a systemd unit. A cgroup is named as /proc/PID/cgroup names it
 * ("/system.slice/redis.service"), relative to the cgroup2 mount.
 *
 * The path comes from a caller: it is checked for its shape (absolute, no
 * "." or ".." component, no empty one, not "/" itself, at most 4095 bytes)
 * and opened beneath the cgroup2 mount without following any symbolic link
 * or leaving the mount. Only cgroup.procs files are read; nothing is written.
 * Errors: -EINVAL a path of the wrong shape, -ENOENT no such cgroup,
 * -EOPNOTSUPP no cgroup2 mount, -E2BIG more than max processes.
 */
#pragma once

#include <stddef.h>
#include <sys/types.h>

/* 0 when path has the shape of a cgroup path (see above), else -EINVAL. */
int cgroup_path_valid(const char *path);

/* The cgroup's directory (O_DIRECTORY), opened as said above. */
int cgroup_open(const char *path, int *ret_fd);

/* The processes of the cgroup dir_fd and of every cgroup below it, each once,
 * appended to *pids (n, malloc'ed, grown as needed) unless already there. */
int cgroup_procs(int dir_fd, size_t max, pid_t **pids, size_t *n);
