/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-priority: the priority of a checkpoint's work after the thaw
 * (priority.h), on the real scheduler. priority_probe() refuses a nice value
 * out of 0..19 and turns the options off, keeps them off for nice 0, and as
 * root accepts a nice value or SCHED_IDLE (nice then 0). priority_lower()
 * lowers the calling thread only, to the nice value or to SCHED_IDLE, and
 * records what it was; priority_restore() takes the thread back and clears
 * the record; a thread already lower, or options off, are left alone. Each
 * check runs on a thread of its own, so that the test's own priority never
 * changes. Raising a thread back needs CAP_SYS_NICE: those checks need root.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include "priority.h"
#include "tap.h"

static int nice_now(void)
{
        return getpriority(PRIO_PROCESS, (id_t)gettid());
}

static bool other_thread_nice(void)
{
        return nice_now() == 0 && sched_getscheduler(0) == SCHED_OTHER;
}

static bool check_probe(void)
{
        struct priority_options o;

        o = (struct priority_options){.nice = 20};
        ASSERT_EQ(priority_probe(&o), -EINVAL);
        ASSERT(o.nice == 0 && !o.idle);
        o = (struct priority_options){.nice = -1, .idle = true};
        ASSERT_EQ(priority_probe(&o), -EINVAL);
        ASSERT(o.nice == 0 && !o.idle);
        o = (struct priority_options){};
        ASSERT_EQ(priority_probe(&o), 0);
        ASSERT(o.nice == 0 && !o.idle);
        o = (struct priority_options){.nice = 7};
        ASSERT_EQ(priority_probe(&o), 0);
        ASSERT(o.nice == 7 && !o.idle);
        o = (struct priority_options){.nice = 7, .idle = true};
        ASSERT_EQ(priority_probe(&o), 0);
        ASSERT(o.nice == 0 && o.idle);
        /* The probe ran on a thread of its own: this one is untouched. */
        ASSERT(other_thread_nice());
        return true;
}

static bool check_nice(void)
{
        struct priority_saved s = {};

        ASSERT(other_thread_nice());
        priority_lower(&(struct priority_options){.nice = 7}, &s);
        ASSERT_EQ(nice_now(), 7);
        ASSERT(s.lowered && !s.idled && s.base_nice == 0);
        priority_restore(&s);
        ASSERT_EQ(nice_now(), 0);
        ASSERT(!s.lowered && !s.idled);

        /* Options off: nothing happens, nothing to restore. */
        priority_lower(&(struct priority_options){}, &s);
        ASSERT(other_thread_nice() && !s.lowered && !s.idled);
        priority_restore(&s);
        ASSERT(other_thread_nice());

        /* Already lower than asked: left alone, and left there. */
        ASSERT_EQ(setpriority(PRIO_PROCESS, (id_t)gettid(), 12), 0);
        priority_lower(&(struct priority_options){.nice = 7}, &s);
        ASSERT_EQ(nice_now(), 12);
        ASSERT(!s.lowered);
        priority_restore(&s);
        ASSERT_EQ(nice_now(), 12);
        return true;
}

static bool check_idle(void)
{
        struct priority_saved s = {};

        ASSERT(other_thread_nice());
        priority_lower(&(struct priority_options){.idle = true}, &s);
        ASSERT_EQ(sched_getscheduler(0), SCHED_IDLE);
        ASSERT(s.idled && !s.lowered && s.base_policy == SCHED_OTHER);
        ASSERT_EQ(nice_now(), 0);
        priority_restore(&s);
        ASSERT_EQ(sched_getscheduler(0), SCHED_OTHER);
        ASSERT(!s.idled && !s.lowered);

        /* Already under SCHED_IDLE: left alone. */
        ASSERT_EQ(sched_setscheduler(0, SCHED_IDLE, &(struct sched_param){}), 0);
        priority_lower(&(struct priority_options){.idle = true}, &s);
        ASSERT(!s.idled);
        priority_restore(&s);
        ASSERT_EQ(sched_getscheduler(0), SCHED_IDLE);
        return true;
}

static void *run_check(void *userdata)
{
        bool (*check)(void) = (bool (*)(void))userdata;

        return check() ? (void *)1 : NULL;
}

/* check() on a thread of its own, started at this thread's priority. */
static bool on_thread(bool (*check)(void))
{
        pthread_t t;
        void *res = NULL;

        if (pthread_create(&t, NULL, run_check, (void *)check) != 0)
                return false;
        pthread_join(t, &res);
        return res != NULL;
}

int main(void)
{
        if (!other_thread_nice())
                skip_all("the test must start at nice 0 under SCHED_OTHER");
        plan(4);
        if (geteuid() != 0) {
                skip("probe: range, off, a nice value, SCHED_IDLE", "needs root (CAP_SYS_NICE)");
                skip("lower and restore a nice value", "needs root (CAP_SYS_NICE)");
                skip("lower and restore SCHED_IDLE", "needs root (CAP_SYS_NICE)");
                skip("the main thread is untouched", "needs root (CAP_SYS_NICE)");
                return tap_done();
        }
        ok(on_thread(check_probe), "probe: range, off, a nice value, SCHED_IDLE");
        ok(on_thread(check_nice), "lower and restore a nice value");
        ok(on_thread(check_idle), "lower and restore SCHED_IDLE");
        ok(other_thread_nice(), "the main thread is untouched");
        return tap_done();
}
