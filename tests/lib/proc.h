/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * proc.h: a program a unit test runs as a real process and talks to by lines
 * (the workloads' protocol, workload.h): its stdin and stdout are pipes the
 * test holds, its stderr is the test's. A struct proc owns the child and both
 * pipe ends; proc_stop() kills and reaps it. Functions return 0 or -errno.
 */
#pragma once

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

struct proc {
        pid_t pid;
        int in;    /* the child's stdin: what the test writes */
        FILE *out; /* the child's stdout: what the test reads */
};

/* Run argv[0] (a path) with argv. */
static inline int proc_start(struct proc *p, char *const argv[])
{
        int to[2], from[2];

        *p = (struct proc){.in = -1};
        if (pipe2(to, O_CLOEXEC) < 0)
                return -errno;
        if (pipe2(from, O_CLOEXEC) < 0) {
                int e = errno;

                close(to[0]);
                close(to[1]);
                return -e;
        }
        p->pid = fork();
        if (p->pid < 0) {
                int e = errno;

                close(to[0]);
                close(to[1]);
                close(from[0]);
                close(from[1]);
                return -e;
        }
        if (p->pid == 0) {
                if (dup2(to[0], STDIN_FILENO) < 0 || dup2(from[1], STDOUT_FILENO) < 0)
                        _exit(127);
                execv(argv[0], argv);
                _exit(127);
        }
        close(to[0]);
        close(from[1]);
        p->in = to[1];
        p->out = fdopen(from[0], "r");
        if (!p->out) {
                close(from[0]);
                return -errno;
        }
        return 0;
}

/* The next line of its stdout, without the newline; -EPIPE at its end. */
static inline int proc_line(struct proc *p, char *buf, size_t size)
{
        if (!p->out || !fgets(buf, (int)size, p->out))
                return -EPIPE;
        buf[strcspn(buf, "\n")] = 0;
        return 0;
}

/* One line (a newline is added) to its stdin. */
static inline int proc_send(struct proc *p, const char *line)
{
        if (dprintf(p->in, "%s\n", line) < 0)
                return -EIO;
        return 0;
}

/* Kill and reap it, close the pipes; nothing for a proc never started
 * (all zero, or after a failed proc_start()). */
static inline void proc_stop(struct proc *p)
{
        if (p->pid <= 0)
                return;
        kill(p->pid, SIGKILL);
        waitpid(p->pid, NULL, 0);
        if (p->in >= 0)
                close(p->in);
        if (p->out)
                fclose(p->out);
        *p = (struct proc){.in = -1};
}
