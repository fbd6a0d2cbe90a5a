/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* access.c: who may act on a live process; see access.h for the rule. */
#include "access.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "macro.h"

struct access_caller access_caller_make(uid_t uid, gid_t gid)
{
        return (struct access_caller){
                .uid = uid,
                .gid = gid,
                .cap_permitted = uid == 0 ? UINT64_MAX : 0,
        };
}

bool access_is_self(pid_t pid)
{
        char path[64];

        if (pid <= 0)
                return false;
        if (pid == getpid())
                return true;
        /* /proc/self/task lists only the threads of this process. */
        snprintf(path, sizeof(path), "/proc/self/task/%d", (int)pid);
        return access(path, F_OK) == 0;
}

static int pidfd_alive(int pidfd)
{
        if (syscall(SYS_pidfd_send_signal, pidfd, 0, NULL, 0) < 0)
                return negative_errno();
        return 0;
}

static int gone(int r)
{
        return r == -ENOENT || r == -ESRCH ? -ESRCH : r;
}

/* "Uid:\t1000\t1000\t1000\t1000" */
static int parse_ids(const char *line, unsigned v[4])
{
        return sscanf(line, "%u %u %u %u", &v[0], &v[1], &v[2], &v[3]) == 4 ? 0 : -EBADMSG;
}

static int parse_status(char *buf, struct access_process *p, pid_t *ret_tgid)
{
        unsigned have = 0;

        for (char *line = buf, *next; line && *line; line = next) {
                unsigned v[4];

                next = strchr(line, '\n');
                if (next)
                        *next++ = 0;
                if (strncmp(line, "Tgid:", 5) == 0) {
                        if (sscanf(line + 5, "%d", ret_tgid) != 1)
                                return -EBADMSG;
                        have |= 1;
                } else if (strncmp(line, "Uid:", 4) == 0) {
                        if (parse_ids(line + 4, v) < 0)
                                return -EBADMSG;
                        for (size_t i = 0; i < 4; i++)
                                p->uid[i] = (uid_t)v[i];
                        have |= 2;
                } else if (strncmp(line, "Gid:", 4) == 0) {
                        if (parse_ids(line + 4, v) < 0)
                                return -EBADMSG;
                        for (size_t i = 0; i < 4; i++)
                                p->gid[i] = (gid_t)v[i];
                        have |= 4;
                } else if (strncmp(line, "CapPrm:", 7) == 0) {
                        if (sscanf(line + 7, "%" SCNx64, &p->cap_permitted) != 1)
                                return -EBADMSG;
                        have |= 8;
                } else if (strncmp(line, "CapEff:", 7) == 0) {
                        if (sscanf(line + 7, "%" SCNx64, &p->cap_effective) != 1)
                                return -EBADMSG;
                        have |= 16;
                }
        }
        return have == 31 ? 0 : -EBADMSG;
}

int access_read_process(int pidfd, pid_t pid, struct access_process *ret)
{
        _cleanup_close_ int own_pidfd = -EBADF, dir_fd = -EBADF, fd = -EBADF;
        struct access_process p = {.pid = pid};
        struct stat st, ns, self_ns;
        char path[64], buf[8192];
        size_t n = 0;
        pid_t tgid = 0;
        int r;

        if (pid <= 0)
                return -ESRCH;
        if (pidfd < 0) {
                own_pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
                if (own_pidfd < 0)
                        /* EINVAL: a thread id, not a process. */
                        return errno == EINVAL ? -ESRCH : gone(negative_errno());
                pidfd = own_pidfd;
        }
        snprintf(path, sizeof(path), "/proc/%d", (int)pid);
        dir_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dir_fd < 0)
                return gone(negative_errno());
        /* Alive now: the directory opened above was the pidfd's process. */
        r = pidfd_alive(pidfd);
        if (r < 0)
                return gone(r);

        fd = openat(dir_fd, "status", O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return gone(negative_errno());
        /* Opening revalidated the entry: its owner follows dumpability now. */
        if (fstat(fd, &st) < 0)
                return negative_errno();
        while (n < sizeof(buf) - 1) {
                ssize_t k = read(fd, buf + n, sizeof(buf) - 1 - n);

                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return gone(negative_errno());
                }
                if (k == 0)
                        break;
                n += (size_t)k;
        }
        buf[n] = 0;
        if (n == 0)
                return -ESRCH;
        /* And still alive once read: what was read is of a live process. */
        r = pidfd_alive(pidfd);
        if (r < 0)
                return gone(r);
        r = parse_status(buf, &p, &tgid);
        if (r < 0)
                return r;
        if (tgid != pid)
                return -ESRCH;

        /* Non-dumpable: the kernel gives the files of /proc/PID to root
         * (of the process's user namespace), not to its effective ids. */
        p.dumpable = st.st_uid == p.uid[1] && st.st_gid == p.gid[1];
        /* Unreadable: taken as another namespace. */
        p.same_userns = fstatat(dir_fd, "ns/user", &ns, 0) == 0 &&
                        stat("/proc/self/ns/user", &self_ns) == 0 && ns.st_dev == self_ns.st_dev &&
                        ns.st_ino == self_ns.st_ino;
        *ret = p;
        return 0;
}

int access_check(const struct access_caller *c, const struct access_process *p, char *reason,
                 size_t reason_size)
{
        char buf[1];

        if (!reason || reason_size == 0) {
                reason = buf;
                reason_size = sizeof(buf);
        }
        reason[0] = 0;

        if (p->pid == getpid()) {
                snprintf(reason, reason_size, "pid %d is ckptd itself", (int)p->pid);
                return -EPERM;
        }
        if (c->uid == 0)
                return 0;

        if (p->uid[0] != c->uid) {
                snprintf(reason, reason_size, "process %d belongs to uid %u, not to uid %u",
                         (int)p->pid, (unsigned)p->uid[0], (unsigned)c->uid);
                return -EPERM;
        }
        for (size_t i = 1; i < 4; i++)
                if (p->uid[i] != c->uid) {
                        snprintf(reason, reason_size,
                                 "process %d runs with other user ids than uid %u (real %u, "
                                 "effective %u, saved %u, fs %u): only root may act on it",
                                 (int)p->pid, (unsigned)c->uid, (unsigned)p->uid[0],
                                 (unsigned)p->uid[1], (unsigned)p->uid[2], (unsigned)p->uid[3]);
                        return -EPERM;
                }
        for (size_t i = 0; i < 4; i++)
                if (p->gid[i] != c->gid) {
                        snprintf(reason, reason_size,
                                 "process %d runs with other group ids than gid %u of the caller "
                                 "(real %u, effective %u, saved %u, fs %u)",
                                 (int)p->pid, (unsigned)c->gid, (unsigned)p->gid[0],
                                 (unsigned)p->gid[1], (unsigned)p->gid[2], (unsigned)p->gid[3]);
                        return -EPERM;
                }
        if (!p->dumpable) {
                snprintf(reason, reason_size,
                         "process %d is not dumpable (it ran a setuid, setgid or file-capability "
                         "program, changed its ids, or made itself so): only root may act on it",
                         (int)p->pid);
                return -EPERM;
        }
        if ((p->cap_permitted & ~c->cap_permitted) || (p->cap_effective & ~c->cap_permitted)) {
                snprintf(reason, reason_size,
                         "process %d holds capabilities (permitted %#" PRIx64
                         ", effective %#" PRIx64 ") the caller does not: only root may act on it",
                         (int)p->pid, p->cap_permitted, p->cap_effective);
                return -EPERM;
        }
        if (!p->same_userns) {
                snprintf(reason, reason_size,
                         "process %d is in another user namespace: only root may act on it",
                         (int)p->pid);
                return -EPERM;
        }
        return 0;
}

int access_check_process(const struct access_caller *c, int pidfd, pid_t pid, uid_t *ret_owner,
                         char *reason, size_t reason_size)
{
        struct access_process p;
        int r;

        if (reason && reason_size)
                reason[0] = 0;
        if (access_is_self(pid)) {
                if (reason && reason_size)
                        snprintf(reason, reason_size, "pid %d is ckptd itself", (int)pid);
                return -EPERM;
        }
        r = access_read_process(pidfd, pid, &p);
        if (r < 0) {
                if (reason && reason_size)
                        snprintf(reason, reason_size,
                                 r == -ESRCH ? "no such process %d"
                                             : "cannot read the credentials of process %d",
                                 (int)pid);
                return r;
        }
        r = access_check(c, &p, reason, reason_size);
        if (r < 0)
                return r;
        if (ret_owner)
                *ret_owner = access_owner(&p);
        return 0;
}

uid_t access_owner(const struct access_process *p)
{
        struct access_caller c;

        if (p->uid[0] == 0)
                return 0;
        c = access_caller_make(p->uid[0], p->gid[0]);
        return access_check(&c, p, NULL, 0) == 0 ? p->uid[0] : 0;
}

static bool mode_allows(const struct access_caller *c, const struct stat *st, unsigned bit)
{
        unsigned bits;

        if (st->st_uid == c->uid)
                bits = (st->st_mode >> 6) & 7;
        else if (st->st_gid == c->gid)
                bits = (st->st_mode >> 3) & 7;
        else
                bits = st->st_mode & 7;
        return (bits & bit) != 0;
}

bool access_may_read_file(const struct access_caller *c, const char *path)
{
        _cleanup_free_ char *real = NULL;
        struct stat st;

        if (c->uid == 0)
                return true;
        real = realpath(path, NULL);
        if (!real || real[0] != '/')
                return false;
        /* Every directory on the way, "/" first, must let the caller search it. */
        if (stat("/", &st) < 0 || !mode_allows(c, &st, 1))
                return false;
        for (char *s = strchr(real + 1, '/'); s; s = strchr(s + 1, '/')) {
                bool ok;

                *s = 0;
                ok = stat(real, &st) == 0 && mode_allows(c, &st, 1);
                *s = '/';
                if (!ok)
                        return false;
        }
        return stat(real, &st) == 0 && mode_allows(c, &st, 4);
}
