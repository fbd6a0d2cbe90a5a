/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ctl-cgroup.h: the cgroup of a systemd unit, for `ckptctl checkpoint
 * --unit NAME`: the one directory named NAME in the cgroup2 hierarchy
 * (systemd gives each unit's cgroup its name: system.slice/NAME, or deeper
 * under slices and user managers), as a path from the cgroup root.
 */
#pragma once

#include <stddef.h>

/* 0 and ret set; -ENOENT no such unit's cgroup, -ENOTUNIQ more than one,
 * -EOPNOTSUPP no cgroup2 mount, -EINVAL a name with '/' or empty. */
int ctl_unit_cgroup(const char *unit, char *ret, size_t size);
