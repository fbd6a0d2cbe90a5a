/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-sched: the scheduler alone (scheduler.h), on a real event loop with
 * real workers, a real store and real processes, its owner played by the
 * callbacks of its options: tracking a child by hand (the answer comes back
 * as a value, the list kept in <state-dir>/tracked), untracking, a tracked
 * process's exit, the runtime policy of a scheduled track and the checkpoint
 * it asks its owner for, the figures of a checkpoint reported back, and a
 * runtime policy refused for a process that is gone.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "checkpoint.h"
#include "jobs.h"
#include "macro.h"
#include "scheduler.h"
#include "scratch.h"
#include "store.h"
#include "tap.h"

static char top[] = "/tmp/test-sched-XXXXXX";

/* The owner's side: what the scheduler asked for. */
struct owner {
        unsigned status_changed, jobs_finished, deletes;
        unsigned checkpoints;
        struct checkpoint_request last;
        unsigned tracked_answers;
        struct {
                int result;
                pid_t pid;
                char tracking[32], error[256];
        } answer;
};

static int on_submit_checkpoint(const struct checkpoint_request *req, void *userdata)
{
        struct owner *o = userdata;

        o->checkpoints++;
        o->last = *req;
        o->last.ranges = NULL; /* not kept past the call */
        return 0;
}

static void on_submit_delete(uint64_t id, pid_t pid, void *userdata)
{
        ((struct owner *)userdata)->deletes++;
}

static void on_status_changed(void *userdata)
{
        ((struct owner *)userdata)->status_changed++;
}

static void on_job_finished(void *userdata)
{
        ((struct owner *)userdata)->jobs_finished++;
}

static void on_tracked(const struct scheduler_track_result *r, void *userdata)
{
        struct owner *o = userdata;

        o->tracked_answers++;
        o->answer.result = r->result;
        o->answer.pid = r->pid;
        snprintf(o->answer.tracking, sizeof(o->answer.tracking), "%s", r->tracking);
        snprintf(o->answer.error, sizeof(o->answer.error), "%s", r->error);
}

struct env {
        sd_event *e;
        struct ckpt_store *store;
        struct workers *workers;
        struct scheduler *sc;
        struct owner owner;
        char *state, *policy_dir, *runtime_dir;
};

static void env_done(struct env *v)
{
        v->workers = workers_free(v->workers);
        v->sc = scheduler_free(v->sc);
        v->store = store_free(v->store);
        v->e = sd_event_unref(v->e);
        free(v->state);
        free(v->policy_dir);
        free(v->runtime_dir);
}

static bool env_new(struct env *v)
{
        struct scheduler_options o;

        *v = (struct env){};
        v->state = scratch_new(top);
        v->policy_dir = scratch_new(top);
        v->runtime_dir = scratch_new(top);
        ASSERT(v->state && v->policy_dir && v->runtime_dir);
        ASSERT(mkdir(v->policy_dir, 0755) == 0);
        ASSERT_OK(sd_event_new(&v->e));
        ASSERT_OK(store_open(v->state, NULL, &v->store));
        ASSERT_OK(workers_new(v->e, 2, &v->workers));
        o = (struct scheduler_options){
                .event = v->e,
                .store = v->store,
                .tracker = NULL, /* no BPF here: checkpoints would scan */
                .workers = v->workers,
                .state_dir = v->state,
                .policy_dir = v->policy_dir,
                .runtime_policy_dir = v->runtime_dir,
                .submit_checkpoint = on_submit_checkpoint,
                .submit_delete = on_submit_delete,
                .status_changed = on_status_changed,
                .job_finished = on_job_finished,
                .userdata = &v->owner,
        };
        ASSERT_OK(scheduler_new(&o, &v->sc));
        ASSERT_OK(scheduler_start(v->sc));
        return true;
}

/* Run the loop until *counter passes want, for at most secs seconds. */
static bool run_until(struct env *v, const unsigned *counter, unsigned want, int secs)
{
        for (int i = 0; i < secs * 20 && *counter < want; i++)
                ASSERT_OK(sd_event_run(v->e, 50000));
        ASSERT(*counter >= want);
        return true;
}

static pid_t spawn_sleeper(void)
{
        pid_t pid = fork();

        if (pid == 0) {
                for (;;)
                        pause();
        }
        return pid;
}

static void reap(pid_t pid)
{
        if (pid > 0) {
                kill(pid, SIGKILL);
                waitpid(pid, NULL, 0);
        }
}

struct seen {
        pid_t pid;
        unsigned n;
        char tracking[32], policy[64];
        uint64_t last_id;
};

static void on_process(const struct scheduler_process *p, void *userdata)
{
        struct seen *s = userdata;

        s->n++;
        s->pid = p->pid;
        s->last_id = p->last_id;
        snprintf(s->tracking, sizeof(s->tracking), "%s", p->tracking);
        snprintf(s->policy, sizeof(s->policy), "%s", p->policy ?: "");
}

static bool file_has(const char *path, const char *needle)
{
        char buf[4096] = "";
        FILE *f = fopen(path, "re");
        size_t n;

        if (!f)
                return false;
        n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = 0;
        return strstr(buf, needle) != NULL;
}

static bool test_track_by_hand(void)
{
        struct access_caller me = access_caller_make(getuid(), getgid());
        struct scheduler_track_request req;
        struct env v;
        struct seen seen = {};
        char err[256], path[512], line[64];
        pid_t child = -1;
        bool ok = false;

        if (!env_new(&v))
                goto out;
        child = spawn_sleeper();
        if (child < 0)
                goto out;
        req = (struct scheduler_track_request){.pid = child, .uffd = -EBADF, .caller = me};
        if (scheduler_track(v.sc, &req, on_tracked, &v.owner, err, sizeof(err)) != 0 ||
            !run_until(&v, &v.owner.tracked_answers, 1, 20))
                goto out;
        /* Without a tracker: tracked, checkpoints scan, and the answer says why. */
        if (v.owner.answer.result != 1 || v.owner.answer.pid != child ||
            strcmp(v.owner.answer.tracking, "scan") != 0 ||
            !strstr(v.owner.answer.error, "no tracker")) {
                fprintf(stderr, "# answer %d pid %d '%s' '%s'\n", v.owner.answer.result,
                        (int)v.owner.answer.pid, v.owner.answer.tracking, v.owner.answer.error);
                goto out;
        }
        if (v.owner.jobs_finished != 1 || v.owner.status_changed < 1 ||
            scheduler_n_tracked(v.sc) != 1 || !scheduler_tracked_for(v.sc, child, getuid()))
                goto out;
        scheduler_foreach_process(v.sc, &me, on_process, &seen);
        if (seen.n != 1 || seen.pid != child || strcmp(seen.tracking, "scan") != 0 ||
            seen.policy[0])
                goto out;
        /* Remembered across restarts, with who asked. */
        snprintf(path, sizeof(path), "%s/tracked", v.state);
        snprintf(line, sizeof(line), "\n%d ", (int)child);
        if (!file_has(path, line))
                goto out;

        if (scheduler_untrack(v.sc, 0x7ffffff0) != -ESRCH || scheduler_untrack(v.sc, child) != 0 ||
            scheduler_n_tracked(v.sc) != 0 || file_has(path, line))
                goto out;
        ok = true;
out:
        reap(child);
        env_done(&v);
        return ok;
}

static bool test_exit(void)
{
        struct access_caller me = access_caller_make(getuid(), getgid());
        struct scheduler_track_request req;
        struct env v;
        char err[256];
        unsigned changed;
        pid_t child = -1;
        bool ok = false;

        if (!env_new(&v))
                goto out;
        child = spawn_sleeper();
        req = (struct scheduler_track_request){.pid = child, .uffd = -EBADF, .caller = me};
        if (child < 0 || scheduler_track(v.sc, &req, on_tracked, &v.owner, err, sizeof(err)) != 0 ||
            !run_until(&v, &v.owner.tracked_answers, 1, 20) || scheduler_n_tracked(v.sc) != 1)
                goto out;
        changed = v.owner.status_changed;
        reap(child);
        child = -1;
        /* Its pidfd turns readable: let go, and the owner told. */
        if (!run_until(&v, &v.owner.status_changed, changed + 1, 20) ||
            scheduler_n_tracked(v.sc) != 0)
                goto out;
        ok = true;
out:
        reap(child);
        env_done(&v);
        return ok;
}

static bool test_scheduled(void)
{
        struct access_caller me = access_caller_make(getuid(), getgid());
        struct scheduler_track_request req;
        struct checkpoint_result res = {};
        struct env v;
        struct seen seen = {};
        char err[256], path[512], name[64];
        pid_t child = -1;
        bool ok = false;

        if (!env_new(&v))
                goto out;
        child = spawn_sleeper();
        req = (struct scheduler_track_request){
                .pid = child, .uffd = -EBADF, .every_usec = 1000000, .keep = 2, .caller = me};
        if (child < 0 || scheduler_track(v.sc, &req, on_tracked, &v.owner, err, sizeof(err)) != 0)
                goto out;
        /* The runtime policy, written for this process with the caller's rights. */
        snprintf(path, sizeof(path), "%s/pid-%d.policy", v.runtime_dir, (int)child);
        snprintf(name, sizeof(name), "pid-%d", (int)child);
        if (access(path, F_OK) < 0 || !file_has(path, "Keep=2"))
                goto out;
        if (!run_until(&v, &v.owner.tracked_answers, 1, 20) || v.owner.answer.result < 0)
                goto out;
        /* Its interval ends: the scheduler asks its owner for a checkpoint. */
        if (!run_until(&v, &v.owner.checkpoints, 1, 20) || v.owner.last.pid != child ||
            v.owner.last.caller.uid != getuid())
                goto out;
        scheduler_foreach_process(v.sc, &me, on_process, &seen);
        if (seen.n != 1 || strcmp(seen.policy, name) != 0)
                goto out;
        /* The owner reports it done: the figures are the scheduler's. */
        res.id = 42;
        res.incremental = true;
        scheduler_checkpoint_done(v.sc, child, 0, &res);
        seen = (struct seen){};
        scheduler_foreach_process(v.sc, &me, on_process, &seen);
        if (seen.n != 1 || seen.last_id != 42)
                goto out;
        /* Untracked: its runtime policy goes with it. */
        if (scheduler_untrack(v.sc, child) != 0 || access(path, F_OK) == 0)
                goto out;
        ok = true;
out:
        reap(child);
        env_done(&v);
        return ok;
}

static bool test_gone(void)
{
        struct access_caller me = access_caller_make(getuid(), getgid());
        struct scheduler_track_request req;
        struct env v;
        char err[256] = "x";
        pid_t child = spawn_sleeper();
        bool ok = false;
        int r;

        reap(child);
        if (!env_new(&v))
                goto out;
        req = (struct scheduler_track_request){
                .pid = child, .uffd = -EBADF, .every_usec = 1000000, .caller = me};
        r = scheduler_track(v.sc, &req, on_tracked, &v.owner, err, sizeof(err));
        /* Refused at once, as a value: nothing runs, nobody is called back. */
        if (r != -ESRCH || strcmp(err, "cannot write a runtime policy: No such process") != 0 ||
            v.owner.tracked_answers != 0) {
                fprintf(stderr, "# r=%d '%s'\n", r, err);
                goto out;
        }
        ok = true;
out:
        env_done(&v);
        return ok;
}

int main(void)
{
        sigset_t mask;

        /* The scheduler handles SIGHUP on its loop: blocked, as in ckptd. */
        sigemptyset(&mask);
        sigaddset(&mask, SIGHUP);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        if (!mkdtemp(top))
                skip_all("cannot make a temporary directory");
        plan(4);
        ok(test_track_by_hand(), "tracked by hand: answer, status, the kept list, untrack");
        ok(test_exit(), "a tracked process's exit lets it go");
        ok(test_scheduled(), "a runtime policy, its checkpoint asked of the owner, its figures");
        ok(test_gone(), "a runtime policy for a process that is gone is refused as a value");
        rm_rf(top);
        return tap_done();
}
