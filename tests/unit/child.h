/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * child.h: a forked child process that a test drives over two pipes, for the
 * tests that need a real process to track (test-tracker, test-uffd). It owns
 * the pipes and the fork; what the child does with a command is the test's.
 *
 *   parent  --- struct cmd [+ uint32_t page indexes] --->  child (cmd pipe)
 *   parent  <-------------- fixed-size reply ------------  child (reply pipe)
 */
#pragma once

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

struct child {
        pid_t pid;
        int cmd, reply; /* the parent's ends */
        uint64_t addr;  /* the region the child reports at start, if it does */
        size_t pages;
};

static inline bool read_full(int fd, void *buf, size_t n)
{
        for (size_t d = 0; d < n;) {
                ssize_t k = read(fd, (char *)buf + d, n - d);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        return false;
                d += k;
        }
        return true;
}

/*
 * Fork c. Returns 0 in the parent, -errno on failure, and 1 in the child,
 * with *ret_cfd (commands in) and *ret_rfd (replies out) its ends: the
 * child then runs its command loop and never returns.
 */
static inline int child_fork(struct child *c, int *ret_cfd, int *ret_rfd)
{
        int cp[2], rp[2];

        if (pipe2(cp, O_CLOEXEC) < 0 || pipe2(rp, O_CLOEXEC) < 0)
                return -errno;
        c->pid = fork();
        if (c->pid < 0)
                return -errno;
        if (c->pid == 0) {
                close(cp[1]);
                close(rp[0]);
                *ret_cfd = cp[0];
                *ret_rfd = rp[1];
                return 1;
        }
        close(cp[0]);
        close(rp[1]);
        c->cmd = cp[1];
        c->reply = rp[0];
        return 0;
}

/* Send a command of size bytes followed by n page indexes. */
static inline bool child_send(struct child *c, const void *cmd, size_t size, const uint32_t *idx,
                              uint32_t n)
{
        if (write(c->cmd, cmd, size) != (ssize_t)size)
                return false;
        if (n && write(c->cmd, idx, n * sizeof(*idx)) != (ssize_t)(n * sizeof(*idx)))
                return false;
        return true;
}

static inline void child_stop(struct child *c)
{
        if (c->pid <= 0)
                return;
        kill(c->pid, SIGKILL);
        waitpid(c->pid, NULL, 0);
        close(c->cmd);
        close(c->reply);
        c->pid = 0;
}
