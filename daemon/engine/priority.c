/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * priority.c: the priority of a checkpoint's work after the thaw (see
 * priority.h). Holds no state of its own: the settings are the caller's
 * options, the way back is the caller's struct priority_saved.
 *
 * Once the process runs again, nothing waits for the hashing, compressing and
 * writing but the caller: the worker drops to the nice value so that the work
 * takes the CPU the processes leave, instead of taking it from them (the
 * store's threads, created per call, inherit it). The next freeze must not
 * queue behind them, so the worker goes back before it takes another job:
 * raising a nice value needs CAP_SYS_NICE, probed at start-up. A nice value
 * ranks threads within a scheduling group (cgroup with the cpu controller,
 * or autogroup): it counts against the processes that share ckptd's.
 * SCHED_IDLE goes further: such a thread runs when its CPU has nothing else
 * to run, any other thread waking there preempts it at once, and the kernel
 * counts its CPU as idle when it places waking threads, so that a process
 * waking does not queue behind the store's work. Leaving it for SCHED_OTHER
 * needs CAP_SYS_NICE too (or an RLIMIT_NICE that allows the nice value).
 */
#include "priority.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include "log.h"
#include "macro.h"

static int thread_nice(int *ret)
{
        int n;

        errno = 0;
        n = getpriority(PRIO_PROCESS, (id_t)gettid());
        if (n == -1 && errno != 0)
                return negative_errno();
        *ret = n;
        return 0;
}

static int thread_set_nice(int n)
{
        return setpriority(PRIO_PROCESS, (id_t)gettid(), n) < 0 ? negative_errno() : 0;
}

/* sched_setscheduler() with pid 0 acts on the calling thread. */
static int thread_set_policy(int policy)
{
        struct sched_param sp = {.sched_priority = 0};

        return sched_setscheduler(0, policy, &sp) < 0 ? negative_errno() : 0;
}

void priority_lower(const struct priority_options *o, struct priority_saved *s)
{
        int base;

        if (o->idle) {
                base = sched_getscheduler(0);
                if (base < 0 || base == SCHED_IDLE || base == SCHED_FIFO || base == SCHED_RR)
                        return;
                if (thread_set_policy(SCHED_IDLE) < 0)
                        return;
                s->base_policy = base;
                s->idled = true;
                return;
        }
        if (o->nice <= 0 || thread_nice(&base) < 0 || base >= o->nice)
                return;
        if (thread_set_nice(o->nice) < 0)
                return;
        s->base_nice = base;
        s->lowered = true;
}

void priority_restore(struct priority_saved *s)
{
        int r;

        if (s->idled) {
                r = thread_set_policy(s->base_policy);
                if (r < 0)
                        log_warning_errno(r,
                                          "checkpoint: cannot take the worker out of SCHED_IDLE, "
                                          "its next freezes wait longer for the CPU: %m");
                s->idled = false;
        }
        if (!s->lowered)
                return;
        r = thread_set_nice(s->base_nice);
        if (r < 0)
                log_warning_errno(r,
                                  "checkpoint: cannot raise the worker back to nice %d, its "
                                  "next freezes wait longer for the CPU: %m",
                                  s->base_nice);
        s->lowered = false;
}

/* arg[0]: the nice value to try, or -1 for SCHED_IDLE; arg[1]: the result. */
static void *probe_thread(void *userdata)
{
        int *arg = userdata, base, r;

        if (arg[0] < 0) {
                base = sched_getscheduler(0);
                r = base < 0 ? negative_errno() : thread_set_policy(SCHED_IDLE);
                if (r >= 0)
                        r = thread_set_policy(base);
        } else {
                r = thread_nice(&base);
                if (r >= 0)
                        r = thread_set_nice(MAX(base, arg[0]));
                if (r >= 0)
                        r = thread_set_nice(base);
        }
        arg[1] = r;
        return NULL;
}

int priority_probe(struct priority_options *o)
{
        struct priority_options want = *o;
        int arg[2] = {want.idle ? -1 : want.nice, 0};
        pthread_t t;
        int r;

        *o = (struct priority_options){};
        if (want.nice < 0 || want.nice > 19)
                return -EINVAL;
        if (want.nice == 0 && !want.idle)
                return 0;
        /* On a thread of its own: if the way back is refused, the one left
         * at the lower priority exits. */
        r = -pthread_create(&t, NULL, probe_thread, arg);
        if (r < 0)
                return r;
        pthread_join(t, NULL);
        if (arg[1] < 0)
                return arg[1];
        *o = (struct priority_options){.nice = want.idle ? 0 : want.nice, .idle = want.idle};
        return 0;
}
