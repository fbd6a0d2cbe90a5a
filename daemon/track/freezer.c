/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * freezer.c: ptrace-based freezing of every thread of a process (see
 * freezer.h for how new threads and group-stop are handled). Owns the
 * seize/interrupt/wait/detach sequence; must never leave a thread traced,
 * and never resumes a thread before freezer_thaw().
 */
#include "freezer.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "macro.h"
#include "proc-util.h"
#include "time-util.h"

#ifndef PTRACE_EVENT_STOP
#define PTRACE_EVENT_STOP 128
#endif

_printf_(2, 3) static void freezer_set_error(struct freezer *f, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(f->error, sizeof(f->error), fmt, ap);
        va_end(ap);
}

static struct freezer_thread *freezer_find(struct freezer *f, pid_t tid)
{
        for (size_t i = 0; i < f->n_threads; i++)
                if (f->threads[i].tid == tid)
                        return &f->threads[i];
        return NULL;
}

/* Room for one more thread, made before seizing it: once seized, a thread
 * must be recorded, or it would stay traced. */
static int freezer_reserve(struct freezer *f)
{
        if (f->n_threads == f->n_alloc) {
                size_t n = f->n_alloc ? f->n_alloc * 2 : 16;
                struct freezer_thread *t = reallocarray(f->threads, n, sizeof(*t));
                if (!t)
                        return -ENOMEM;
                f->threads = t;
                f->n_alloc = n;
        }
        return 0;
}

/* Reap a traced thread that is on its way out (killed or exited). */
static void freezer_reap(pid_t tid)
{
        int status;

        for (;;) {
                pid_t w = waitpid(tid, &status, __WALL);
                if (w < 0) {
                        if (errno == EINTR)
                                continue;
                        return; /* ECHILD: already reaped */
                }
                if (WIFEXITED(status) || WIFSIGNALED(status))
                        return;
                /* It stopped instead (our interrupt came first): let it
                 * go, the pending kill then takes it. */
                if (WIFSTOPPED(status) && ptrace(PTRACE_DETACH, tid, NULL, NULL) == 0)
                        return;
        }
}

/* Wait until tid reports a stop. 1: stopped, 0: the thread is gone. */
static int freezer_wait_stop(struct freezer *f, struct freezer_thread *t)
{
        int status;

        for (;;) {
                pid_t w = waitpid(t->tid, &status, __WALL);
                if (w < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == ECHILD) {
                                t->attached = false;
                                return 0;
                        }
                        return negative_errno();
                }
                if (WIFEXITED(status) || WIFSIGNALED(status)) {
                        t->attached = false;
                        return 0;
                }
                if (!WIFSTOPPED(status))
                        continue;
                /* PTRACE_EVENT_STOP: our interrupt, or group-stop (WSTOPSIG
                 * is then the stop signal). Event 0: a signal-delivery-stop,
                 * stopped as well; the signal goes back on detach. Other
                 * events are not enabled. */
                if ((status >> 16) == 0)
                        t->pending_signal = WSTOPSIG(status);
                t->stopped = true;
                return 1;
        }
}

/* Seize and interrupt one thread. 1: attached, 0: thread gone, <0 error. */
static int freezer_seize(struct freezer *f, pid_t tid)
{
        char path[96], value[64];
        char state;
        int r;

        r = freezer_reserve(f);
        if (r < 0)
                return r;
        if (ptrace(PTRACE_SEIZE, tid, NULL, NULL) < 0) {
                int e = errno;

                if (e == ESRCH)
                        return 0;
                if (e != EPERM)
                        return -e;
                snprintf(path, sizeof(path), "/proc/%d/task/%d/status", (int)f->pid, (int)tid);
                r = status_field(path, "TracerPid", value, sizeof(value));
                if (r == -ESRCH)
                        return 0;
                if (r >= 0 && atoi(value) != 0) {
                        freezer_set_error(f, "process %d is already traced by process %s",
                                          (int)f->pid, value);
                        return -EBUSY;
                }
                /* A zombie thread (exited, not yet reaped) cannot be seized. */
                r = proc_stat_read(tid, &state, NULL, NULL);
                if (r == -ESRCH || (r >= 0 && (state == 'Z' || state == 'X')))
                        return 0;
                freezer_set_error(f, "not allowed to trace process %d", (int)f->pid);
                return -EPERM;
        }

        f->threads[f->n_threads++] = (struct freezer_thread){.tid = tid, .attached = true};
        if (ptrace(PTRACE_INTERRUPT, tid, NULL, NULL) < 0 && errno != ESRCH)
                return negative_errno();
        return 1;
}

/*
 * A thread in uninterruptible sleep (state D: a vfork() parent waiting for
 * its child, a read from a hung NFS or FUSE mount) stops only once it leaves
 * it, and every thread already stopped would wait with it. So before a pass
 * seizes anything, each thread not yet held must be out of D, which it is
 * given FREEZER_D_WAIT_MS to be (a fault on a slow disk lasts that long);
 * then the freeze is refused, nothing held. A thread entering D between
 * this look and the interrupt still delays the freeze until it leaves.
 */
#define FREEZER_D_WAIT_MS 1000

static int freezer_wait_not_uninterruptible(struct freezer *f, const pid_t *tids, size_t n)
{
        uint64_t deadline = 0;

        for (size_t i = 0; i < n; i++) {
                char path[96], wchan[64] = "";
                char state;
                int r;

                if (freezer_find(f, tids[i]))
                        continue;
                for (;;) {
                        r = proc_stat_read(tids[i], &state, NULL, NULL);
                        if (r == -ESRCH || (r >= 0 && state != 'D'))
                                break; /* gone: freezer_seize() sees to it */
                        if (r < 0)
                                return r;
                        if (deadline == 0)
                                deadline = now_msec(CLOCK_MONOTONIC) + FREEZER_D_WAIT_MS;
                        if (now_msec(CLOCK_MONOTONIC) >= deadline)
                                break;
                        usleep(2000);
                }
                if (r < 0 || state != 'D')
                        continue;
                snprintf(path, sizeof(path), "/proc/%d/task/%d/wchan", (int)f->pid, (int)tids[i]);
                if (read_file_at(path, wchan, sizeof(wchan)) < 0 || strcmp(wchan, "0") == 0)
                        wchan[0] = '\0';
                freezer_set_error(f,
                                  "thread %d of process %d is in uninterruptible sleep (D%s%s) "
                                  "for over %d ms: it cannot be stopped now",
                                  (int)tids[i], (int)f->pid, wchan[0] ? ", in " : "", wchan,
                                  FREEZER_D_WAIT_MS);
                return -EBUSY;
        }
        return 0;
}

static int freezer_list(pid_t pid, pid_t **ret, size_t *ret_n)
{
        _cleanup_free_ pid_t *tids = NULL;
        size_t n = 0, n_alloc = 0;
        char path[64];
        struct dirent *de;
        DIR *d;

        snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
        d = opendir(path);
        if (!d)
                return errno == ENOENT ? -ESRCH : negative_errno();
        while ((errno = 0, de = readdir(d))) {
                char *end;
                long tid = strtol(de->d_name, &end, 10);

                if (de->d_name[0] == '.' || *end || tid <= 0)
                        continue;
                if (n == n_alloc) {
                        size_t k = n_alloc ? n_alloc * 2 : 64;
                        pid_t *t = reallocarray(tids, k, sizeof(*t));
                        if (!t) {
                                closedir(d);
                                return -ENOMEM;
                        }
                        tids = t;
                        n_alloc = k;
                }
                tids[n++] = (pid_t)tid;
        }
        closedir(d);
        *ret = TAKE_PTR(tids);
        *ret_n = n;
        return 0;
}

int freezer_freeze(pid_t pid, struct freezer **ret)
{
        struct freezer *f;
        char state;
        int r;

        f = calloc(1, sizeof(*f));
        if (!f)
                return -ENOMEM;
        f->pid = pid;
        f->frozen = true; /* from here on, freezer_free() detaches what is attached */

        r = proc_stat_read(pid, &state, NULL, NULL);
        if (r < 0)
                goto fail;
        f->was_stopped = state == 'T';

        for (;;) {
                _cleanup_free_ pid_t *tids = NULL;
                size_t n_tids = 0, first_new = f->n_threads;

                r = freezer_list(pid, &tids, &n_tids);
                if (r < 0)
                        goto fail;
                r = freezer_wait_not_uninterruptible(f, tids, n_tids);
                if (r < 0)
                        goto fail;
                for (size_t i = 0; i < n_tids; i++) {
                        if (freezer_find(f, tids[i]))
                                continue;
                        r = freezer_seize(f, tids[i]);
                        if (r < 0)
                                goto fail;
                }
                if (f->n_threads == first_new)
                        break; /* a pass with nothing new: every thread is held */
                for (size_t i = first_new; i < f->n_threads; i++) {
                        r = freezer_wait_stop(f, &f->threads[i]);
                        if (r < 0)
                                goto fail;
                }
        }

        r = freezer_check_alive(f);
        if (r < 0)
                goto fail;

        log_debug("freezer: process %d frozen, %zu threads%s", (int)pid, f->n_threads,
                  f->was_stopped ? " (was stopped)" : "");
        *ret = f;
        return 0;

fail:
        if (r == -ESRCH && !f->error[0])
                freezer_set_error(f, "process %d exited", (int)pid);
        if (!f->error[0])
                freezer_set_error(f, "cannot freeze process %d: %s", (int)pid, strerror(-r));
        log_debug("freezer: %s", f->error);
        /* The caller wants the message: hand it back through a thawed freezer. */
        freezer_thaw(f);
        *ret = f;
        return r;
}

int freezer_check_alive(struct freezer *f)
{
        char path[64], value[64];
        size_t alive = 0;
        int r;

        for (size_t i = 0; i < f->n_threads; i++)
                if (f->threads[i].attached)
                        alive++;
        if (alive == 0)
                return -ESRCH;

        snprintf(path, sizeof(path), "/proc/%d/status", (int)f->pid);
        r = status_field(path, "State", value, sizeof(value));
        if (r < 0)
                return r == -ENOENT ? -EBADMSG : r;
        if (value[0] == 'Z' || value[0] == 'X')
                return -ESRCH;
        /* SIGKILL (bit 9, mask 0x100) pending: the process is being killed. */
        for (int k = 0; k < 2; k++) {
                unsigned long long mask;

                r = status_field(path, k == 0 ? "SigPnd" : "ShdPnd", value, sizeof(value));
                if (r < 0)
                        continue;
                mask = strtoull(value, NULL, 16);
                if (mask & (1ULL << (SIGKILL - 1)))
                        return -ESRCH;
        }
        return 0;
}

int freezer_thaw(struct freezer *f)
{
        size_t detached = 0, attached = 0;
        bool reap_leader = false;

        if (!f || !f->frozen)
                return 0;
        f->frozen = false;

        for (size_t i = 0; i < f->n_threads; i++) {
                struct freezer_thread *t = &f->threads[i];

                if (!t->attached)
                        continue;
                /* Seized and interrupted, but a failure came before we
                 * waited for its stop: only a stopped tracee can be detached. */
                if (!t->stopped && freezer_wait_stop(f, t) <= 0)
                        continue;
                attached++;
                t->attached = false;
                if (ptrace(PTRACE_DETACH, t->tid, NULL, (void *)(long)t->pending_signal) == 0) {
                        detached++;
                        continue;
                }
                if (errno != ESRCH)
                        continue;
                /* Not in a ptrace stop although we never resumed it: it was
                 * woken by SIGKILL. Reap its exit so no zombie stays tied to
                 * us; the leader last, as its exit is reported only once
                 * every other thread is reaped. */
                if (t->tid == f->pid)
                        reap_leader = true;
                else
                        freezer_reap(t->tid);
        }
        if (reap_leader)
                freezer_reap(f->pid);
        if (attached > 0 && detached == 0)
                return -ESRCH;
        return 0;
}

struct freezer *freezer_free(struct freezer *f)
{
        if (!f)
                return NULL;
        freezer_thaw(f);
        free(f->threads);
        free(f);
        return NULL;
}
