/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * access.h: who may act on a live process. This module owns the one rule by
 * which every request that reads, tracks or writes the memory of a process is
 * decided, and the owner a checkpoint is recorded under. It reads /proc and
 * decides; it never freezes, traces, reads memory or replies to anyone.
 *
 * The rule, modelled on the kernel's ptrace_may_access() with
 * PTRACE_MODE_ATTACH_REALCREDS (what a debugger attaching would need):
 *
 *   - pid is never ckptd itself, nor any of its threads (for anyone, root
 *     included): "pid N is ckptd itself".
 *   - A caller of uid 0 may act on any other process.
 *   - Any other caller (uid U, gid G, from SO_PEERCRED) may act on a process
 *     only if all of these hold:
 *       1. its real, effective, saved and filesystem uids are all U;
 *       2. its real, effective, saved and filesystem gids are all G (the
 *          caller's supplementary groups do not count, as for ptrace);
 *       3. it is dumpable (not after an exec of a setuid, setgid or
 *          file-capability program, not after a change of credentials, not
 *          after prctl(PR_SET_DUMPABLE, 0));
 *       4. it holds no capability the caller lacks: a caller other than root
 *          is taken to hold none (SO_PEERCRED carries no capabilities, and
 *          what /proc says of the peer later may already be the
 *          capabilities of a program it executed since), so the target's
 *          permitted and effective sets must be empty;
 *       5. it lives in ckptd's user namespace (capabilities and ids of
 *          another namespace are not compared here; the kernel would let the
 *          namespace's owner in, this rule does not).
 *
 * How it is read. Uid:, Gid:, CapPrm:, CapEff: and Tgid: come from
 * /proc/PID/status. Dumpability comes from the owner of that same file: the
 * kernel gives the files of /proc/PID of a non-dumpable process to root (the
 * directory /proc/PID itself always shows the effective ids, whatever the
 * dumpability, so it cannot tell). The file is opened relative to a
 * directory fd of /proc/PID, and the pidfd is checked to be alive after the
 * directory was opened: then the pid still named the pidfd's process when it
 * was opened, and every read through it concerns that process (or fails with
 * -ESRCH once it is gone).
 *
 * When it holds. Credentials change with exec and set*id() at any time, so a
 * check made before a process is frozen is advisory: it refuses early and
 * keeps a caller from freezing what it may not touch. A check made while
 * every thread is held in a ptrace stop is the one that counts: a stopped
 * thread runs no exec and no set*id(), so what it reads stays true until the
 * thaw. The checkpoint engine and restore run it again then.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Who asks: a caller on the socket, or the owner of a policy. */
struct access_caller {
        uid_t uid;
        gid_t gid;
        uint64_t cap_permitted; /* taken to hold: all for uid 0, none otherwise */
};

/* The caller with these ids (capabilities as the rule above says). A
 * zero-initialised struct access_caller is root. */
struct access_caller access_caller_make(uid_t uid, gid_t gid);

/* What the rule looks at, as read from /proc. */
struct access_process {
        pid_t pid;
        uid_t uid[4]; /* real, effective, saved, filesystem */
        gid_t gid[4];
        uint64_t cap_permitted, cap_effective;
        bool dumpable;
        bool same_userns; /* as ckptd's */
};

/* Whether pid is ckptd's own process or one of its threads. */
bool access_is_self(pid_t pid);

/*
 * Read what the rule needs of pid. pidfd: a pidfd of pid, or -1 to open one
 * here; either way the answer is of the pidfd's process. -ESRCH: gone, or a
 * thread id that is not a process (unless it is one of ckptd's threads:
 * -EPERM then), -errno otherwise.
 */
int access_read_process(int pidfd, pid_t pid, struct access_process *ret);

/*
 * The rule above, on facts already read. 0: allowed; -EPERM: refused, with
 * a reason naming what is wrong in reason (may be NULL).
 */
int access_check(const struct access_caller *c, const struct access_process *p, char *reason,
                 size_t reason_size);

/*
 * Read and decide in one go: 0, -EPERM (reason says why, ckptd itself
 * included), -ESRCH (no such process), other -errno. ret_owner (may be NULL)
 * gets access_owner() of what was read.
 */
int access_check_process(const struct access_caller *c, int pidfd, pid_t pid, uid_t *ret_owner,
                         char *reason, size_t reason_size);

/*
 * The uid a checkpoint of this process belongs to: its uid when that uid
 * (with its gid) may act on it by the rule above, else 0. A setuid program
 * started by uid 1000, or a process of uid 1000 that made itself
 * non-dumpable, belongs to root: uid 1000 could not read its memory itself.
 */
uid_t access_owner(const struct access_process *p);

/*
 * Whether caller could read the file at path by its mode bits: search
 * permission on every directory of its resolved path, read permission on the
 * file (owner, then group against the caller's gid only, then others; ACLs
 * and supplementary groups are not looked at). Root: always. For deciding
 * what to show a caller of a file ckptd read as root.
 */
bool access_may_read_file(const struct access_caller *c, const char *path);
