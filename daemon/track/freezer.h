/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * freezer.h: stopping every thread of a process with ptrace and letting it go
 * again. The freezer owns the ptrace relationship for the length of a
 * checkpoint and nothing else: it never reads memory, and it never leaves a
 * process traced or stopped behind it (freezer_free() thaws).
 *
 * How threads are caught. Every thread listed in /proc/PID/task is seized
 * (PTRACE_SEIZE, no options) and interrupted (PTRACE_INTERRUPT), and we wait
 * for each stop with waitpid(tid, __WALL). Then the task directory is listed
 * again; the loop ends when a pass finds no thread it has not seized yet. A
 * thread stopped under ptrace cannot create threads, and a clone() that was
 * under way when its caller stopped has already put the child in the task
 * list, so the pass that finds nothing new proves every thread is held.
 * PTRACE_O_TRACECLONE is not used: it would add clone event stops to handle
 * and would still need the listing loop for threads that existed before the
 * seize.
 *
 * Group-stop. A process already stopped by SIGSTOP (state 'T') is seized like
 * any other; the kernel moves it from group-stop to a ptrace stop, and on
 * PTRACE_DETACH it goes back to group-stop (the stop is still in effect), so
 * it is left stopped as it was. freezer->was_stopped records it.
 *
 * Signals. A thread that reports a signal-delivery-stop instead of our
 * interrupt is stopped just as well; the signal is given back on detach.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct freezer_thread {
        pid_t tid;
        int pending_signal; /* re-injected on detach (0: none) */
        bool attached;
        bool stopped; /* its stop was reported to us */
};

struct freezer {
        pid_t pid;
        bool frozen;
        bool was_stopped; /* in group-stop before we came; left so */
        struct freezer_thread *threads;
        size_t n_threads, n_alloc;
        char error[160]; /* why freezer_freeze() failed */
};

/*
 * Stop every thread of pid. Errors: -ESRCH the process is gone (or exits while
 * we attach), -EBUSY another tracer holds it, -EPERM not allowed to trace,
 * others from the kernel. On failure nothing stays attached.
 */
int freezer_freeze(pid_t pid, struct freezer **ret);

/*
 * Detach from every thread: the process runs again (or stays in group-stop if
 * it was stopped before). Returns -ESRCH when the process turned out to be
 * dead (killed while frozen), 0 otherwise. Idempotent.
 */
int freezer_thaw(struct freezer *f);

/* Whether the frozen process is still alive and not being killed: -ESRCH if
 * a fatal signal is pending or it has become a zombie. */
int freezer_check_alive(struct freezer *f);

/* Thaws if still frozen, then frees. Accepts NULL, returns NULL. */
struct freezer *freezer_free(struct freezer *f);
static inline void freezer_freep(struct freezer **f)
{
        freezer_free(*f);
}
