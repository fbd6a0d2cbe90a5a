/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* scheduler.c: tracked processes, policies and schedules; see scheduler.h. */
#include "scheduler.h"

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>

#include "access.h"
#include "checkpoint.h"
#include "freezer.h"
#include "control.h"
#include "jobs.h"
#include "json-util.h"
#include "lastcopy.h"
#include "log.h"
#include "macro.h"
#include "manager.h"
#include "policy.h"
#include "gc.h"
#include "proc-util.h"
#include "retention.h"
#include "store.h"
#include "time-util.h"
#include "tracker.h"

#define SCAN_INTERVAL_USEC (2 * 1000000ULL)
#define DIRTY_POLL_USEC (250 * 1000ULL)
#define RELOAD_DELAY_USEC (100 * 1000ULL)

struct tracked {
        struct manager *m;
        struct tracked *next;
        pid_t pid;
        int pidfd;
        sd_event_source *exit_src, *timer;
        uint64_t start_time;
        uid_t uid;
        char comm[16];
        char *policy;                /* name in the policy set; NULL: tracked by hand */
        struct access_caller caller; /* who asked (by hand), or the policy's rights then */
        bool armed;                  /* write tracking armed (uffd or soft-dirty) */
        bool busy;                   /* a checkpoint job is under way */
        uint64_t next_due_usec;      /* CLOCK_MONOTONIC; 0: none */
        uint64_t last_id;
        double last_pause_ms;
        uint64_t faults_at_last;
        unsigned since_full;
        char note[320];
};

static void closedirp(DIR **d)
{
        if (*d)
                closedir(*d);
}

static struct tracked *find(struct manager *m, pid_t pid)
{
        for (struct tracked *t = m->tracked; t; t = t->next)
                if (t->pid == pid)
                        return t;
        return NULL;
}

static const struct policy *policy_of(struct manager *m, const struct tracked *t)
{
        if (!t->policy || !m->policy_set)
                return NULL;
        return policy_set_find(m->policy_set, t->policy);
}

/* Whose rights a policy's checkpoints use (policy.h). */
static struct access_caller policy_caller(const struct policy *p)
{
        return access_caller_make(p->run_as_uid, p->run_as_gid);
}

/* Whose rights the checkpoints of t use: its policy's as loaded now, or
 * those of whoever tracked it by hand. */
static struct access_caller caller_of_tracked(struct manager *m, const struct tracked *t)
{
        const struct policy *p = policy_of(m, t);

        return p ? policy_caller(p) : t->caller;
}

unsigned scheduler_n_tracked(struct manager *m)
{
        unsigned n = 0;

        for (struct tracked *t = m->tracked; t; t = t->next)
                n++;
        return n;
}

/* ---- the list of processes tracked by hand, kept across restarts ---------- */

static void save_manual(struct manager *m)
{
        _cleanup_free_ char *path = NULL, *tmp = NULL;
        _cleanup_fclose_ FILE *f = NULL;

        if (asprintf(&path, "%s/tracked", m->opts.state_dir) < 0 ||
            asprintf(&tmp, "%s/.tracked.tmp", m->opts.state_dir) < 0)
                return;
        f = fopen(tmp, "we");
        if (!f)
                goto fail;
        fprintf(f, "# pid start-time uid gid: processes tracked by hand, and who asked (ckptd "
                   "re-arms them at start with that uid's rights)\n");
        for (struct tracked *t = m->tracked; t; t = t->next)
                if (!t->policy)
                        fprintf(f, "%d %" PRIu64 " %u %u\n", (int)t->pid, t->start_time,
                                (unsigned)t->caller.uid, (unsigned)t->caller.gid);
        if (fflush(f) != 0 || fsync(fileno(f)) < 0)
                goto fail;
        if (rename(tmp, path) < 0)
                goto fail;
        return;
fail:
        log_warning_errno(-errno, "scheduler: cannot save '%s', ignoring: %m", path);
        (void)unlink(tmp);
}

/* ---- tracking --------------------------------------------------------------- */

static void tracked_free(struct tracked *t)
{
        if (!t)
                return;
        sd_event_source_disable_unref(t->exit_src);
        sd_event_source_disable_unref(t->timer);
        safe_close(t->pidfd);
        free(t->policy);
        free(t);
}

static void remove_tracked(struct manager *m, struct tracked *t, const char *why)
{
        for (struct tracked **p = &m->tracked; *p; p = &(*p)->next)
                if (*p == t) {
                        *p = t->next;
                        break;
                }
        log_info("scheduler: pid %d (%s) no longer tracked: %s", (int)t->pid, t->comm, why);
        if (m->tracker)
                (void)tracker_untrack(m->tracker, t->pid);
        lastcopy_forget(t->pid);
        /* A runtime policy made for this very process goes with it. */
        if (strcmp(why, "exited") == 0 || (t->policy && strncmp(t->policy, "pid-", 4) == 0))
                (void)policy_remove_runtime(m->opts.runtime_policy_dir, t->pid);
        if (!t->policy)
                save_manual(m);
        tracked_free(t);
        manager_notify_status(m);
}

static int on_exit_event(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
        struct tracked *t = userdata;
        struct manager *m = t->m;

        if (t->busy) {
                /* The job in flight reports the exit; drop the entry afterwards. */
                sd_event_source_set_enabled(s, SD_EVENT_OFF);
                t->next_due_usec = 0;
                snprintf(t->note, sizeof(t->note), "exited");
                return 0;
        }
        remove_tracked(m, t, "exited");
        if (m->policy_set)
                scheduler_reload(m); /* its runtime policy may have gone */
        return 0;
}

static void schedule(struct tracked *t);
static void start_checkpoint(struct tracked *t, const char *why);

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
        struct tracked *t = userdata;

        start_checkpoint(t, "interval");
        return 0;
}

/* (Re)arm the timer from the policy's interval. */
static void schedule(struct tracked *t)
{
        struct manager *m = t->m;
        const struct policy *p = policy_of(m, t);
        int r;

        if (!p || p->interval_usec == 0 || m->shutting_down) {
                t->next_due_usec = 0;
                if (t->timer)
                        sd_event_source_set_enabled(t->timer, SD_EVENT_OFF);
                return;
        }
        t->next_due_usec = now_usec(CLOCK_MONOTONIC) + p->interval_usec;
        if (!t->timer) {
                r = sd_event_add_time(m->event, &t->timer, CLOCK_MONOTONIC, t->next_due_usec,
                                      10 * 1000, on_timer, t);
                if (r < 0) {
                        log_warning_errno(r, "scheduler: cannot arm a timer for pid %d: %m",
                                          (int)t->pid);
                        t->next_due_usec = 0;
                        return;
                }
        } else {
                sd_event_source_set_time(t->timer, t->next_due_usec);
        }
        sd_event_source_set_enabled(t->timer, SD_EVENT_ONESHOT);
}

static struct tracked *add_tracked(struct manager *m, pid_t pid, const char *policy, bool armed,
                                   const char *note, const struct access_caller *caller)
{
        struct tracked *t = find(m, pid);
        struct proc_info info = {};
        int r;

        if (t) {
                /* Known already: the policy asked for now wins (a runtime
                 * policy made for this pid over one that matched its comm). */
                if (policy && (!t->policy || strcmp(t->policy, policy) != 0)) {
                        bool was_manual = !t->policy;
                        free(t->policy);
                        t->policy = strdup(policy);
                        t->caller = *caller;
                        if (was_manual)
                                save_manual(m);
                }
                t->armed = armed;
                schedule(t);
                return t;
        }
        r = proc_info_read(pid, &info);
        if (r < 0)
                return NULL;

        t = calloc(1, sizeof(*t));
        if (!t) {
                proc_info_done(&info);
                return NULL;
        }
        t->m = m;
        t->pid = pid;
        t->caller = *caller;
        t->uid = info.uid;
        t->start_time = info.start_time;
        memcpy(t->comm, info.comm, sizeof(t->comm));
        proc_info_done(&info);
        t->armed = armed;
        t->policy = policy ? strdup(policy) : NULL;
        if (note)
                snprintf(t->note, sizeof(t->note), "%s", note);
        t->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
        if (t->pidfd < 0 ||
            sd_event_add_io(m->event, &t->exit_src, t->pidfd, EPOLLIN, on_exit_event, t) < 0) {
                tracked_free(t);
                return NULL;
        }
        t->next = m->tracked;
        m->tracked = t;
        if (m->tracker) {
                struct tracker_stats st;
                if (tracker_get_stats(m->tracker, pid, &st) >= 0)
                        t->faults_at_last = st.write_faults;
        }
        schedule(t);
        if (!t->policy)
                save_manual(m);
        log_info("scheduler: tracking pid %d (%s)%s%s", (int)pid, t->comm,
                 policy ? " by policy " : "", policy ? policy : "");
        manager_notify_status(m);
        return t;
}

struct track_job {
        struct job job;
        struct manager *m;
        struct call *call; /* NULL: a policy or a restart asked */
        pid_t pid;
        uint64_t start_time; /* 0: any */
        char *policy;
        char *note;
        int uffd; /* passed by the process itself, or -EBADF */
        bool cooperative;
        struct access_caller caller; /* whose rights: the call's, or the policy's */
        char error[256];
};

static void track_job_run(struct job *j)
{
        struct track_job *tj = (struct track_job *)j;
        uint64_t st = 0;
        char state;

        if (tj->start_time &&
            (proc_stat_read(tj->pid, &state, &st, NULL) < 0 || st != tj->start_time)) {
                j->result = -ESRCH; /* the pid was reused: not ours */
                return;
        }
        if (tj->uffd >= 0 || !tj->m->tracker) {
                /* No ptrace on these paths: the check alone decides. */
                int r = access_check_process(&tj->caller, -EBADF, tj->pid, NULL, tj->error,
                                             sizeof(tj->error));
                if (r < 0) {
                        j->result = r == -EPERM ? -EACCES : r;
                        return;
                }
        }
        if (!tj->m->tracker) {
                snprintf(tj->error, sizeof(tj->error), "no tracker: checkpoints read everything");
                j->result = 1;
                return;
        }
        if (tj->uffd >= 0)
                /* Cooperative: the process armed its own userfaultfd; no ptrace. */
                j->result = tracker_track_uffd(tj->m->tracker, tj->pid, TAKE_FD(tj->uffd),
                                               tj->error, sizeof(tj->error));
        else
                /* Checked again once frozen, before anything is injected. */
                j->result = checkpoint_track(tj->m->tracker, &tj->caller, tj->pid, tj->error,
                                             sizeof(tj->error));
}

static void track_job_done(struct job *j)
{
        struct track_job *tj = (struct track_job *)j;
        struct manager *m = tj->m;
        struct tracked *t = NULL;

        if (j->result >= 0)
                t = add_tracked(m, tj->pid, tj->policy, j->result == 0,
                                tj->note          ? tj->note
                                : j->result == 1  ? tj->error
                                : tj->cooperative ? "userfaultfd passed by the process"
                                                  : NULL,
                                &tj->caller);
        if (j->result >= 0 && !t) {
                j->result = -ESRCH;
                if (m->tracker)
                        (void)tracker_untrack(m->tracker, tj->pid);
        }
        if (j->result == -EACCES && tj->call && tj->policy && strncmp(tj->policy, "pid-", 4) == 0) {
                /* The runtime policy this call wrote would only be refused
                 * again: its process is out of the caller's reach. */
                (void)policy_remove_runtime(m->opts.runtime_policy_dir, tj->pid);
                scheduler_reload(m);
        }
        if (j->result < 0 && !tj->call && j->result != -ECANCELED)
                log_warning_errno(j->result, "scheduler: cannot track pid %d%s%s: %s%s%m",
                                  (int)tj->pid, tj->policy ? " for policy " : "",
                                  tj->policy ? tj->policy : "", tj->error,
                                  tj->error[0] ? ": " : "");
        if (tj->call) {
                if (j->result < 0) {
                        struct json_object *p = json_object_new_object();
                        char reason[400];

                        if (j->result == -EACCES) {
                                /* Refused by the access rule (access.h). */
                                json_object_put(p);
                                call_errorf(tj->call, "io.ckptd.PermissionDenied", "reason", "%s",
                                            tj->error);
                                goto done;
                        }
                        snprintf(reason, sizeof(reason), "%s%s%s", tj->error,
                                 tj->error[0] ? ": " : "", strerror(-j->result));
                        json_object_object_add(p, "pid", json_object_new_int(tj->pid));
                        json_object_object_add(p, "reason", json_object_new_string(reason));
                        call_error(tj->call,
                                   j->result == -ESRCH       ? "io.ckptd.NoSuchProcess"
                                   : j->result == -EBUSY     ? "io.ckptd.ProcessBusy"
                                   : j->result == -ECANCELED ? "io.ckptd.ShuttingDown"
                                                             : "io.ckptd.TrackingFailed",
                                   p);
                } else {
                        struct json_object *p = json_object_new_object();
                        struct tracker_stats st = {};

                        if (m->tracker)
                                (void)tracker_get_stats(m->tracker, tj->pid, &st);
                        json_object_object_add(p, "pid", json_object_new_int(tj->pid));
                        json_object_object_add(
                                p, "tracking",
                                json_object_new_string(j->result == 0
                                                               ? ckpt_track_mode_to_string(st.mode)
                                                               : "scan"));
                        if (j->result == 1 && tj->error[0])
                                json_object_object_add(p, "note",
                                                       json_object_new_string(tj->error));
                        call_reply(tj->call, p);
                }
        done:
                call_unref(tj->call);
        }
        safe_close(tj->uffd);
        free(tj->policy);
        free(tj->note);
        free(tj);
        manager_job_finished(m);
}

static void submit_track(struct manager *m, struct call *c, pid_t pid, uint64_t start_time,
                         const char *policy, const char *note, int uffd,
                         const struct access_caller *caller)
{
        struct track_job *tj = calloc(1, sizeof(*tj));

        if (!tj) {
                safe_close(uffd);
                if (c)
                        call_error(c, "io.ckptd.Failed", NULL);
                return;
        }
        tj->uffd = uffd;
        tj->cooperative = uffd >= 0;
        tj->caller = *caller;
        tj->m = m;
        tj->call = c ? call_ref(c) : NULL;
        tj->pid = pid;
        tj->start_time = start_time;
        tj->policy = policy ? strdup(policy) : NULL;
        tj->note = note ? strdup(note) : NULL;
        tj->job = (struct job){.run = track_job_run, .done = track_job_done, .key = pid};
        workers_submit(m->workers, &tj->job);
}

void scheduler_track_call(struct manager *m, struct call *c, pid_t pid, int uffd,
                          uint64_t every_usec, unsigned keep)
{
        struct access_caller caller = access_caller_make(call_uid(c), call_gid(c));
        char path[512], err[POLICY_ERROR_MAX];
        int r;

        if (every_usec) {
                /* The policy remembers who asked: its checkpoints are taken
                 * with that caller's rights, checked at each one. */
                r = policy_write_runtime_as(m->opts.runtime_policy_dir, pid, every_usec, keep,
                                            caller.uid, caller.gid, path, sizeof(path));
                if (r < 0) {
                        safe_close(uffd);
                        call_errorf(c, r == -ESRCH ? "io.ckptd.NoSuchProcess" : "io.ckptd.Failed",
                                    "reason", "cannot write a runtime policy: %s", strerror(-r));
                        return;
                }
                scheduler_reload(m);
                snprintf(err, sizeof(err), "pid-%d", (int)pid);
                submit_track(m, c, pid, 0, err, NULL, uffd, &caller);
                return;
        }
        submit_track(m, c, pid, 0, NULL, NULL, uffd, &caller);
}

bool scheduler_tracked_for(struct manager *m, pid_t pid, uid_t uid)
{
        struct tracked *t = find(m, pid);

        return t && caller_of_tracked(m, t).uid == uid;
}

void scheduler_untrack_call(struct manager *m, struct call *c, pid_t pid)
{
        struct tracked *t = find(m, pid);

        if (!t) {
                struct json_object *p = json_object_new_object();
                json_object_object_add(p, "pid", json_object_new_int(pid));
                json_object_object_add(p, "reason", json_object_new_string("not tracked"));
                call_error(c, "io.ckptd.NoSuchProcess", p);
                return;
        }
        remove_tracked(m, t, "untracked");
        call_reply(c, NULL);
}

/* ---- scheduled checkpoints ------------------------------------------------- */

static void start_checkpoint(struct tracked *t, const char *why)
{
        struct manager *m = t->m;
        const struct policy *p = policy_of(m, t);
        struct checkpoint_request req = {};
        int r;

        if (t->busy || m->shutting_down)
                return;
        req.pid = t->pid;
        req.caller = caller_of_tracked(m, t);
        if (p) {
                req.full = p->full_every > 0 && t->since_full + 1 >= p->full_every;
                req.all = p->all;
                req.ranges = p->ranges;
                req.n_ranges = p->n_ranges;
        }
        log_debug("scheduler: checkpoint of pid %d (%s)", (int)t->pid, why);
        r = methods_submit_checkpoint(m, NULL, &req);
        if (r < 0) {
                log_warning_errno(r, "scheduler: cannot start a checkpoint of pid %d: %m",
                                  (int)t->pid);
                schedule(t);
                return;
        }
        t->busy = true;
        t->next_due_usec = 0;
}

/* Keep N / max age, for one process (pid + start time). */
static void apply_retention(struct manager *m, struct tracked *t, const struct policy *p)
{
        _cleanup_free_ struct store_catalog_entry *list = NULL;
        _cleanup_free_ uint64_t *ids = NULL;
        struct retention_rule rule;
        size_t n = 0, k = 0, n_ids = 0;

        if (!p || (p->keep == 0 && p->max_age_usec == 0))
                return;
        if (store_list(m->store, &list, &n) < 0)
                return;
        for (size_t i = 0; i < n; i++)
                if (list[i].pid == t->pid && list[i].start_time == t->start_time)
                        list[k++] = list[i];
        rule = (struct retention_rule){.keep = p->keep, .max_age_usec = p->max_age_usec};
        if (retention_select(list, k, &rule, retention_now_ns(), &ids, &n_ids) < 0)
                return;
        for (size_t i = 0; i < n_ids; i++)
                /* Deleting rewrites the child if needed: quick enough for the
                 * loop thread only for small manifests, so go through a job. */
                methods_submit_delete(m, NULL, ids[i], t->pid);
}

void scheduler_checkpoint_done(struct manager *m, pid_t pid, int result,
                               const struct checkpoint_result *res)
{
        struct tracked *t = find(m, pid);
        const struct policy *p;

        if (!t)
                return;
        t->busy = false;
        if (result >= 0) {
                t->last_id = res->id;
                t->last_pause_ms = res->pause_ns / 1e6;
                t->since_full = res->incremental ? t->since_full + 1 : 0;
                t->note[0] = '\0';
                if (m->tracker) {
                        struct tracker_stats st;
                        if (tracker_get_stats(m->tracker, pid, &st) >= 0)
                                t->faults_at_last = st.write_faults;
                }
        } else if (result == -ESRCH || result == -ECHILD) {
                remove_tracked(m, t, "exited");
                return;
        } else if (result == -EPERM) {
                /* Refused by the access rule: if its own rights no longer
                 * reach it (it ran a setuid program, say), it is let go;
                 * a refusal that came from someone else's call is not its. */
                struct access_caller who = caller_of_tracked(m, t);
                char reason[256], why[320];

                if (access_check_process(&who, t->pidfd, t->pid, NULL, reason, sizeof(reason)) ==
                    -EPERM) {
                        bool runtime = t->policy && strncmp(t->policy, "pid-", 4) == 0;

                        snprintf(why, sizeof(why), "uid %u may no longer act on it: %s",
                                 (unsigned)who.uid, reason);
                        if (t->policy && m->n_refused < ELEMENTSOF(m->refused))
                                /* Not matched again until the policies change. */
                                m->refused[m->n_refused++] =
                                        (struct refused_proc){t->pid, t->start_time};
                        /* Logged here, once; its runtime policy goes with it. */
                        remove_tracked(m, t, why);
                        if (runtime && m->policy_set)
                                scheduler_reload(m);
                        return;
                }
        }
        if (t->exit_src && sd_event_source_get_enabled(t->exit_src, NULL) == 0) {
                remove_tracked(m, t, "exited");
                return;
        }
        p = policy_of(m, t);
        apply_retention(m, t, p);
        schedule(t);
}

static int on_dirty_poll(sd_event_source *s, uint64_t usec, void *userdata)
{
        struct manager *m = userdata;

        for (struct tracked *t = m->tracked; t; t = t->next) {
                const struct policy *p = policy_of(m, t);
                struct tracker_stats st;

                if (m->tracker)
                        (void)tracker_count_writes(m->tracker, t->pid, p && p->dirty_trigger_bytes);
                if (!p || !p->dirty_trigger_bytes || t->busy || !m->tracker)
                        continue;
                if (tracker_get_stats(m->tracker, t->pid, &st) < 0)
                        continue;
                if ((st.write_faults - t->faults_at_last) * 4096ULL > p->dirty_trigger_bytes)
                        start_checkpoint(t, "dirty trigger");
        }
        sd_event_source_set_time(s, now_usec(CLOCK_MONOTONIC) + DIRTY_POLL_USEC);
        return 0;
}

/* ---- policies ---------------------------------------------------------------- */

static bool is_tracked_or_self(struct manager *m, pid_t pid)
{
        return pid == getpid() || find(m, pid) != NULL;
}

/* Track pid if a policy matches it and it is not tracked yet. */
static void consider_process(struct manager *m, pid_t pid, const char *how)
{
        struct proc_info info = {};
        const struct policy *p;

        if (is_tracked_or_self(m, pid) || proc_info_read(pid, &info) < 0)
                return;
        if (!info.exe) { /* kernel thread or zombie */
                proc_info_done(&info);
                return;
        }
        p = policy_set_match(m->policy_set, pid, &info);
        if (p) {
                struct access_caller caller = policy_caller(p);
                bool refused = false;

                for (size_t i = 0; i < m->n_refused; i++)
                        if (m->refused[i].pid == pid && m->refused[i].start_time == info.start_time)
                                refused = true;
                if (!refused && m->n_refused < ELEMENTSOF(m->refused)) {
                        /* Remember it until it is tracked, so a process that
                         * cannot be tracked is not tried at every scan. */
                        m->refused[m->n_refused++] = (struct refused_proc){pid, info.start_time};
                        log_debug("scheduler: pid %d (%s) matches policy %s (%s)", (int)pid,
                                  info.comm, p->name, how);
                        submit_track(m, NULL, pid, info.start_time, p->name, NULL, -EBADF, &caller);
                }
        }
        proc_info_done(&info);
}

/* Track every running process a policy matches and is not tracked yet. */
static void scan_processes(struct manager *m)
{
        _cleanup_(closedirp) DIR *d = NULL;
        struct dirent *de;

        if (!m->policy_set || policy_set_count(m->policy_set) == 0)
                return;
        d = opendir("/proc");
        if (!d)
                return;
        while ((de = readdir(d))) {
                char *end;
                long pid = strtol(de->d_name, &end, 10);

                if (*end || pid <= 0)
                        continue;
                consider_process(m, pid, "found by a scan");
        }
}

/* The tracker's event handler: any thread. Execs are queued for the loop. */
static void on_tracker_event(const struct ckpt_event *ev, void *userdata)
{
        struct manager *m = userdata;
        uint64_t one = 1;

        if (ev->type != CKPT_EV_EXEC)
                return;
        pthread_mutex_lock(&m->exec_lock);
        if (m->n_exec_pids < ELEMENTSOF(m->exec_pids))
                m->exec_pids[m->n_exec_pids++] = (pid_t)ev->tgid;
        pthread_mutex_unlock(&m->exec_lock);
        if (write(m->exec_efd, &one, sizeof(one)) < 0) {
                /* the loop is woken already */
        }
}

static int on_exec_queue(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
        struct manager *m = userdata;
        pid_t pids[ELEMENTSOF(m->exec_pids)];
        size_t n;
        uint64_t v;

        (void)!read(fd, &v, sizeof(v));
        pthread_mutex_lock(&m->exec_lock);
        n = m->n_exec_pids;
        memcpy(pids, m->exec_pids, n * sizeof(pids[0]));
        m->n_exec_pids = 0;
        pthread_mutex_unlock(&m->exec_lock);
        if (!m->policy_set || policy_set_count(m->policy_set) == 0)
                return 0;
        for (size_t i = 0; i < n; i++)
                consider_process(m, pids[i], "found at its exec");
        return 0;
}

static int on_scan(sd_event_source *s, uint64_t usec, void *userdata)
{
        struct manager *m = userdata;

        scan_processes(m);
        sd_event_source_set_time(s, now_usec(CLOCK_MONOTONIC) + SCAN_INTERVAL_USEC);
        return 0;
}

void scheduler_reload(struct manager *m)
{
        const char *dirs[] = {m->opts.policy_dir, m->opts.runtime_policy_dir};
        struct policy_set *set = NULL;
        int r;

        r = policy_set_load(dirs, ELEMENTSOF(dirs), &set);
        if (r < 0) {
                log_error_errno(r, "scheduler: cannot load policies: %m");
                return;
        }
        for (size_t i = 0; i < policy_set_n_errors(set); i++)
                log_error("scheduler: policy ignored: %s", policy_set_error(set, i)->message);
        policy_set_free(m->policy_set);
        m->policy_set = set;
        m->n_refused = 0;
        log_info("scheduler: %zu policies loaded, %zu refused", policy_set_count(set),
                 policy_set_n_errors(set));
        /* Processes started later are found at their exec (BPF), and by the
         * periodic scan where BPF is not loaded. */
        if (m->tracker)
                tracker_watch_exec(m->tracker, policy_set_count(set) > 0);

        /* Policies that went away let their processes go. */
        for (struct tracked *t = m->tracked, *next; t; t = next) {
                next = t->next;
                if (t->policy && !policy_set_find(set, t->policy))
                        remove_tracked(m, t, "its policy was removed");
                else
                        schedule(t);
        }
        scan_processes(m);
}

static int on_reload_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
        scheduler_reload(userdata);
        return 0;
}

static void reload_soon(struct manager *m)
{
        if (m->reload_timer) {
                sd_event_source_set_time(m->reload_timer,
                                         now_usec(CLOCK_MONOTONIC) + RELOAD_DELAY_USEC);
                sd_event_source_set_enabled(m->reload_timer, SD_EVENT_ONESHOT);
                return;
        }
        (void)sd_event_add_time(m->event, &m->reload_timer, CLOCK_MONOTONIC,
                                now_usec(CLOCK_MONOTONIC) + RELOAD_DELAY_USEC, 10000,
                                on_reload_timer, m);
}

static int on_inotify(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
        char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));

        while (read(fd, buf, sizeof(buf)) > 0)
                ;
        reload_soon(userdata);
        return 0;
}

static int on_sighup(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
        log_info("scheduler: SIGHUP, reloading policies");
        scheduler_reload(userdata);
        return 0;
}

static void watch_dir(struct manager *m, const char *dir)
{
        if (inotify_add_watch(m->inotify_fd, dir,
                              IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_CREATE |
                                      IN_ONLYDIR) < 0)
                log_debug_errno(-errno, "scheduler: not watching '%s': %m", dir);
}

/* Processes tracked by hand before a restart. */
static void restore_manual(struct manager *m)
{
        _cleanup_free_ char *path = NULL;
        _cleanup_fclose_ FILE *f = NULL;
        char line[128];

        if (asprintf(&path, "%s/tracked", m->opts.state_dir) < 0)
                return;
        f = fopen(path, "re");
        if (!f)
                return;
        while (fgets(line, sizeof(line), f)) {
                struct access_caller caller;
                unsigned uid, gid;
                uint64_t st;
                int pid, k;

                if (line[0] == '#')
                        continue;
                k = sscanf(line, "%d %" SCNu64 " %u %u", &pid, &st, &uid, &gid);
                if (k < 2 || pid <= 0)
                        continue;
                if (k != 4) {
                        /* Who asked is not known: nobody's rights can be
                         * assumed, so it is not tracked again. */
                        log_warning("scheduler: pid %d was tracked by hand, but '%s' does not say "
                                    "who asked; not tracking it again",
                                    pid, path);
                        continue;
                }
                caller = access_caller_make((uid_t)uid, (gid_t)gid);
                submit_track(m, NULL, pid, st, NULL,
                             "tracking re-armed after a restart of ckptd: the next checkpoint "
                             "reads everything",
                             -EBADF, &caller);
        }
}

int scheduler_start(struct manager *m)
{
        int r;

        (void)mkdir(m->opts.runtime_policy_dir, 0755);
        m->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (m->inotify_fd >= 0) {
                watch_dir(m, m->opts.policy_dir);
                watch_dir(m, m->opts.runtime_policy_dir);
                r = sd_event_add_io(m->event, &m->inotify_src, m->inotify_fd, EPOLLIN, on_inotify,
                                    m);
                if (r < 0)
                        log_warning_errno(r, "scheduler: no inotify, ignoring: %m");
        }
        m->exec_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (m->exec_efd < 0)
                return log_error_errno(-errno, "scheduler: cannot create an eventfd: %m");
        r = sd_event_add_io(m->event, &m->exec_src, m->exec_efd, EPOLLIN, on_exec_queue, m);
        if (r < 0)
                return log_error_errno(r, "scheduler: cannot watch the exec queue: %m");
        if (m->tracker)
                tracker_set_handler(m->tracker, on_tracker_event, m);

        r = sd_event_add_signal(m->event, NULL, SIGHUP, on_sighup, m);
        if (r < 0)
                return log_error_errno(r, "scheduler: cannot handle SIGHUP: %m");
        r = sd_event_add_time(m->event, &m->scan_timer, CLOCK_MONOTONIC,
                              now_usec(CLOCK_MONOTONIC) + SCAN_INTERVAL_USEC, 100000, on_scan, m);
        if (r >= 0)
                r = sd_event_source_set_enabled(m->scan_timer, SD_EVENT_ON);
        if (r >= 0)
                r = sd_event_add_time(m->event, &m->dirty_timer, CLOCK_MONOTONIC,
                                      now_usec(CLOCK_MONOTONIC) + DIRTY_POLL_USEC, 10000,
                                      on_dirty_poll, m);
        if (r >= 0)
                r = sd_event_source_set_enabled(m->dirty_timer, SD_EVENT_ON);
        if (r < 0)
                return log_error_errno(r, "scheduler: cannot arm timers: %m");

        scheduler_reload(m);
        restore_manual(m);
        return 0;
}

void scheduler_stop(struct manager *m)
{
        while (m->tracked) {
                struct tracked *t = m->tracked;
                m->tracked = t->next;
                tracked_free(t);
        }
        m->scan_timer = sd_event_source_disable_unref(m->scan_timer);
        m->dirty_timer = sd_event_source_disable_unref(m->dirty_timer);
        m->reload_timer = sd_event_source_disable_unref(m->reload_timer);
        m->inotify_src = sd_event_source_disable_unref(m->inotify_src);
        if (m->tracker) {
                tracker_watch_exec(m->tracker, false);
                tracker_set_handler(m->tracker, NULL, NULL);
        }
        m->exec_src = sd_event_source_disable_unref(m->exec_src);
        m->exec_efd = safe_close(m->exec_efd);
        m->inotify_fd = safe_close(m->inotify_fd);
        m->policy_set = policy_set_free(m->policy_set);
}

/* ---- status ------------------------------------------------------------------ */

struct json_object *scheduler_status_json(struct manager *m, const struct access_caller *caller)
{
        struct json_object *a = json_object_new_array();
        struct timespec rt;
        uint64_t now = now_usec(CLOCK_MONOTONIC);

        clock_gettime(CLOCK_REALTIME, &rt);
        for (struct tracked *t = m->tracked; t; t = t->next) {
                struct json_object *o;
                struct tracker_stats st = {};
                bool have = m->tracker && tracker_get_stats(m->tracker, t->pid, &st) >= 0;

                /* Not even the counters of a process the caller may not act on. */
                if (caller->uid != 0 &&
                    (caller->uid != t->uid ||
                     access_check_process(caller, t->pidfd, t->pid, NULL, NULL, 0) < 0))
                        continue;
                o = json_object_new_object();
                json_object_object_add(o, "pid", json_object_new_int(t->pid));
                json_object_object_add(o, "comm", json_object_new_string(t->comm));
                json_object_object_add(o, "uid", json_object_new_int64(t->uid));
                json_object_object_add(
                        o, "tracking",
                        json_object_new_string(have && t->armed ? ckpt_track_mode_to_string(st.mode)
                                                                : "scan"));
                json_object_object_add(o, "policy",
                                       t->policy ? json_object_new_string(t->policy) : NULL);
                /* Pages faulted since the last checkpoint, and those it left
                 * writable: the next one reads them all. */
                json_object_object_add(
                        o, "dirty_pages",
                        json_uint(have && st.write_faults >= t->faults_at_last
                                          ? st.write_faults - t->faults_at_last + st.kept_writable
                                          : 0));
                json_object_object_add(o, "writable_pages", json_uint(have ? st.kept_writable : 0));
                json_object_object_add(o, "write_faults", json_uint(have ? st.write_faults : 0));
                json_object_object_add(o, "last_checkpoint",
                                       t->last_id ? json_uint(t->last_id) : NULL);
                json_object_object_add(o, "last_pause_ms",
                                       t->last_id ? json_object_new_double(t->last_pause_ms)
                                                  : NULL);
                if (t->next_due_usec) {
                        uint64_t in = t->next_due_usec > now ? t->next_due_usec - now : 0;
                        uint64_t due = rt.tv_sec * 1000000000ULL + rt.tv_nsec + in * 1000ULL;
                        json_object_object_add(o, "next_due", json_time_ns(due));
                } else
                        json_object_object_add(o, "next_due", NULL);
                json_object_object_add(o, "note",
                                       t->note[0] ? json_object_new_string(t->note) : NULL);
                json_object_array_add(a, o);
        }
        return a;
}

/* "PATH:LINE: ..." without what follows the line number, which may quote
 * the file: for callers who may not read it. */
static struct json_object *redacted_error(const struct policy_error *e)
{
        const char *msg = e->message, *rest;
        size_t n = strlen(e->path);
        unsigned line = 0;
        char buf[POLICY_ERROR_MAX + 64];

        rest = strncmp(msg, e->path, n) == 0 && msg[n] == ':' ? msg + n + 1 : NULL;
        if (rest && sscanf(rest, "%u:", &line) != 1)
                line = 0;
        if (line)
                snprintf(buf, sizeof(buf), "%s:%u: ", e->path, line);
        else
                snprintf(buf, sizeof(buf), "%s: ", e->path);
        strncat(buf, "cannot be used (why is shown to root and to users who may read the file)",
                sizeof(buf) - strlen(buf) - 1);
        return json_object_new_string(buf);
}

struct json_object *scheduler_policies_json(struct manager *m, const struct access_caller *caller)
{
        struct json_object *p = json_object_new_object(), *a = json_object_new_array(),
                           *errs = json_object_new_array();
        const struct policy *pol;
        size_t i;

        if (m->policy_set) {
                POLICY_SET_FOREACH (pol, m->policy_set, i) {
                        struct json_object *o;
                        unsigned n = 0;

                        /* Only the caller's own: those that act with its rights. */
                        if (caller->uid != 0 && pol->run_as_uid != caller->uid)
                                continue;
                        for (struct tracked *t = m->tracked; t; t = t->next)
                                if (t->policy && strcmp(t->policy, pol->name) == 0 &&
                                    (caller->uid == 0 || t->uid == caller->uid))
                                        n++;
                        o = json_object_new_object();
                        json_object_object_add(o, "name", json_object_new_string(pol->name));
                        json_object_object_add(o, "path", json_object_new_string(pol->path));
                        json_object_object_add(o, "runtime", json_object_new_boolean(pol->runtime));
                        json_object_object_add(o, "interval_sec",
                                               json_object_new_double(pol->interval_usec / 1e6));
                        json_object_object_add(o, "dirty_trigger_bytes",
                                               json_uint(pol->dirty_trigger_bytes));
                        json_object_object_add(o, "keep", json_object_new_int(pol->keep));
                        json_object_object_add(o, "max_age_sec",
                                               json_object_new_double(pol->max_age_usec / 1e6));
                        json_object_object_add(o, "full_every",
                                               json_object_new_int(pol->full_every));
                        json_object_object_add(o, "processes", json_object_new_int(n));
                        json_object_array_add(a, o);
                }
                for (i = 0; i < policy_set_n_errors(m->policy_set); i++) {
                        const struct policy_error *e = policy_set_error(m->policy_set, i);
                        struct json_object *o = json_object_new_object();

                        json_object_object_add(o, "path", json_object_new_string(e->path));
                        json_object_object_add(o, "error",
                                               access_may_read_file(caller, e->path)
                                                       ? json_object_new_string(e->message)
                                                       : redacted_error(e));
                        json_object_array_add(errs, o);
                }
        }
        json_object_object_add(p, "policies", a);
        json_object_object_add(p, "errors", errs);
        return p;
}
