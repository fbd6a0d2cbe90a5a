/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* scheduler.c: tracked processes, policies and schedules; see scheduler.h. */
#include "scheduler.h"

#include <assert.h>
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>

#include "access.h"
#include "cgroup-util.h"
#include "checkpoint.h"
#include "ckpt/proto.h"
#include "freezer.h"
#include "jobs.h"
#include "lastcopy.h"
#include "log.h"
#include "macro.h"
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

struct scheduler {
        struct scheduler_options opts;
        sd_event *event;
        struct ckpt_store *store;
        struct tracker *tracker; /* NULL: no BPF */
        struct workers *workers;
        struct policy_set *policy_set;
        struct tracked *tracked;
        int inotify_fd;
        sd_event_source *inotify_src, *scan_timer, *dirty_timer, *reload_timer;
        struct refused_proc {
                pid_t pid;
                uint64_t start_time;
        } refused[256]; /* matched a policy, tracking tried once */
        size_t n_refused;
        /* Processes that exec'd, reported by the tracker on any thread and
         * handled on the loop. */
        pthread_mutex_t exec_lock;
        pid_t exec_pids[256];
        size_t n_exec_pids;
        int exec_efd;
        sd_event_source *exec_src;
        bool shutting_down;
        uint64_t tracked_per_uid_hits;
};

struct tracked {
        struct scheduler *sc;
        struct tracked *next;
        pid_t pid;
        int pidfd;
        sd_event_source *exit_src, *timer;
        uint64_t start_time;
        uid_t uid;
        char comm[16];
        char *policy;                /* name in the policy set; NULL: tracked by hand */
        bool tree;                   /* the root of a group (group == pid): its tree, or */
        char *cgroup;                /* not NULL: the cgroup whose processes are the group */
        pid_t group;                 /* the root of its tree group; 0: none */
        struct access_caller caller; /* who asked (by hand), or the policy's rights then */
        bool armed;                  /* write tracking armed (uffd or soft-dirty) */
        bool busy;                   /* a checkpoint job is under way */
        uint64_t next_due_usec;      /* CLOCK_MONOTONIC; 0: none */
        uint64_t started_usec;       /* CLOCK_MONOTONIC start of the last checkpoint */
        uint64_t late;               /* checkpoints started later than their interval said */
        uint64_t last_id;
        double last_pause_ms;
        uint64_t checkpoints, stored_bytes; /* since tracked */
        uint64_t faults_at_last;
        unsigned since_full;
        char note[320];
};

static void closedirp(DIR **d)
{
        if (*d)
                closedir(*d);
}

static struct tracked *find(struct scheduler *sc, pid_t pid)
{
        for (struct tracked *t = sc->tracked; t; t = t->next)
                if (t->pid == pid)
                        return t;
        return NULL;
}

static const struct policy *policy_of(struct scheduler *sc, const struct tracked *t)
{
        if (!t->policy || !sc->policy_set)
                return NULL;
        return policy_set_find(sc->policy_set, t->policy);
}

/* Whose rights a policy's checkpoints use (policy.h). */
static struct access_caller policy_caller(const struct policy *p)
{
        return access_caller_make(p->run_as_uid, p->run_as_gid);
}

/* Whose rights the checkpoints of t use: its policy's as loaded now, or
 * those of whoever tracked it by hand. */
static struct access_caller caller_of_tracked(struct scheduler *sc, const struct tracked *t)
{
        const struct policy *p = policy_of(sc, t);

        return p ? policy_caller(p) : t->caller;
}

unsigned scheduler_n_tracked(struct scheduler *sc)
{
        unsigned n = 0;

        if (!sc)
                return 0;
        for (struct tracked *t = sc->tracked; t; t = t->next)
                n++;
        return n;
}

/* ---- the list of processes tracked by hand, kept across restarts ---------- */

static void save_manual(struct scheduler *sc)
{
        _cleanup_free_ char *path = NULL, *tmp = NULL;
        _cleanup_fclose_ FILE *f = NULL;

        if (asprintf(&path, "%s/tracked", sc->opts.state_dir) < 0 ||
            asprintf(&tmp, "%s/.tracked.tmp", sc->opts.state_dir) < 0)
                return;
        f = fopen(tmp, "we");
        if (!f)
                goto fail;
        fprintf(f, "# pid start-time uid gid [tree|cgroup:PATH]: processes tracked by hand, and "
                   "who asked (ckptd re-arms them at start with that uid's rights)\n");
        for (struct tracked *t = sc->tracked; t; t = t->next)
                if (!t->policy && (t->group == 0 || t->tree))
                        fprintf(f, "%d %" PRIu64 " %u %u%s%s\n", (int)t->pid, t->start_time,
                                (unsigned)t->caller.uid, (unsigned)t->caller.gid,
                                !t->tree    ? ""
                                : t->cgroup ? " cgroup:"
                                            : " tree",
                                t->tree && t->cgroup ? t->cgroup : "");
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
        free(t->cgroup);
        free(t);
}

static void remove_tracked(struct scheduler *sc, struct tracked *t, const char *why)
{
        for (struct tracked **p = &sc->tracked; *p; p = &(*p)->next)
                if (*p == t) {
                        *p = t->next;
                        break;
                }
        log_info("scheduler: pid %d (%s) no longer tracked: %s", (int)t->pid, t->comm, why);
        if (sc->tracker)
                (void)tracker_untrack(sc->tracker, t->pid);
        lastcopy_forget(t->pid);
        /* A runtime policy made for this very process goes with it. */
        if (strcmp(why, "exited") == 0 || (t->policy && strncmp(t->policy, "pid-", 4) == 0))
                (void)policy_remove_runtime(sc->opts.runtime_policy_dir, t->pid);
        if (!t->policy)
                save_manual(sc);
        if (t->tree)
                /* The group goes with its root. */
                for (struct tracked *m = sc->tracked, *next; m; m = next) {
                        next = m->next;
                        if (m->group == t->pid && m != t) {
                                remove_tracked(sc, m, "the root of its group is no longer tracked");
                                next = sc->tracked; /* the list changed */
                        }
                }
        tracked_free(t);
        sc->opts.status_changed(sc->opts.userdata);
}

static int on_exit_event(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
        struct tracked *t = userdata;
        struct scheduler *sc = t->sc;

        if (t->busy) {
                /* The job in flight reports the exit; drop the entry afterwards. */
                sd_event_source_set_enabled(s, SD_EVENT_OFF);
                t->next_due_usec = 0;
                snprintf(t->note, sizeof(t->note), "exited");
                return 0;
        }
        remove_tracked(sc, t, "exited");
        if (sc->policy_set)
                scheduler_reload(sc); /* its runtime policy may have gone */
        return 0;
}

static void schedule(struct tracked *t, bool after_checkpoint);
static void start_checkpoint(struct tracked *t, const char *why);

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
        struct tracked *t = userdata;

        start_checkpoint(t, "interval");
        return 0;
}

/* (Re)arm the timer from the policy's interval. An interval runs from the
 * start of one checkpoint to the start of the next (after_checkpoint: the
 * one that just ended); one that took longer than its interval is followed
 * at once by the next, counted late. Otherwise (tracking starts, policies
 * reloaded) the interval runs from now. */
static void schedule(struct tracked *t, bool after_checkpoint)
{
        struct scheduler *sc = t->sc;
        const struct policy *p = policy_of(sc, t);
        uint64_t now = now_usec(CLOCK_MONOTONIC);
        int r;

        if (!p || p->interval_usec == 0 || sc->shutting_down) {
                t->next_due_usec = 0;
                if (t->timer)
                        sd_event_source_set_enabled(t->timer, SD_EVENT_OFF);
                return;
        }
        t->next_due_usec = now + p->interval_usec;
        if (after_checkpoint && t->started_usec != 0) {
                t->next_due_usec = t->started_usec + p->interval_usec;
                if (t->next_due_usec <= now) {
                        log_debug("scheduler: checkpoint of pid %d late by %" PRIu64
                                  " ms: the last one took longer than its interval",
                                  (int)t->pid, (now - t->next_due_usec) / 1000);
                        t->next_due_usec = now;
                        t->late++;
                }
        }
        if (!t->timer) {
                r = sd_event_add_time(sc->event, &t->timer, CLOCK_MONOTONIC, t->next_due_usec,
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

static struct tracked *add_tracked(struct scheduler *sc, pid_t pid, const char *policy, bool armed,
                                   const char *note, const struct access_caller *caller)
{
        struct tracked *t = find(sc, pid);
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
                                save_manual(sc);
                }
                t->armed = armed;
                schedule(t, false);
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
        t->sc = sc;
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
            sd_event_add_io(sc->event, &t->exit_src, t->pidfd, EPOLLIN, on_exit_event, t) < 0) {
                tracked_free(t);
                return NULL;
        }
        t->next = sc->tracked;
        sc->tracked = t;
        if (sc->tracker) {
                struct tracker_stats st;
                if (tracker_get_stats(sc->tracker, pid, &st) >= 0)
                        t->faults_at_last = st.write_faults;
        }
        schedule(t, false);
        if (!t->policy)
                save_manual(sc);
        log_info("scheduler: tracking pid %d (%s)%s%s", (int)pid, t->comm,
                 policy ? " by policy " : "", policy ? policy : "");
        sc->opts.status_changed(sc->opts.userdata);
        return t;
}

/* pid joins the group of root (tracked already, or armed: armed says). A
 * process tracked on its own already is left so. */
static void add_member(struct scheduler *sc, struct tracked *root, pid_t pid, bool armed)
{
        struct tracked *t = find(sc, pid);

        if (t) {
                if (t->group == 0 && !t->policy)
                        t->group = root->pid;
                return;
        }
        t = add_tracked(sc, pid, NULL, armed, NULL, &root->caller);
        if (!t) {
                if (sc->tracker && armed)
                        (void)tracker_untrack(sc->tracker, pid);
                return;
        }
        t->group = root->pid;
        save_manual(sc); /* without it: members are found again, not remembered */
}

struct track_job {
        struct job job;
        struct scheduler *sc;
        scheduler_track_done_t done; /* NULL: a policy or a restart asked */
        void *userdata;
        pid_t pid;
        uint64_t start_time; /* 0: any */
        char *policy;
        char *note;
        int uffd; /* passed by the process itself, or -EBADF */
        bool cooperative;
        bool tree;      /* and its descendants */
        char *cgroup;   /* not NULL: the processes of this cgroup instead */
        pid_t *members; /* tree: the descendants armed (n_members) */
        size_t n_members;
        struct access_caller caller; /* whose rights: the call's, or the policy's */
        char error[256];
};

/* The processes of cgroup, appended to *pids (n) unless there. */
static int cgroup_members(const char *cgroup, pid_t **pids, size_t *n)
{
        _cleanup_close_ int fd = -EBADF;
        int r = cgroup_open(cgroup, &fd);

        return r < 0 ? r : cgroup_procs(fd, CKPT_MAX_GROUP_MEMBERS, pids, n);
}

/* The descendants of tj->pid (or the other processes of its cgroup), each
 * armed with the caller's rights (checked
 * for each, as for the root). A descendant that exits meanwhile is left out;
 * one the caller may not act on, or too many, fail the whole request. */
static int track_descendants(struct track_job *tj)
{
        _cleanup_free_ pid_t *pids = NULL;
        size_t n = 1;
        int r;

        pids = calloc(16, sizeof(*pids));
        if (!pids)
                return -ENOMEM;
        pids[0] = tj->pid;
        for (size_t i = 0; i < n; i++) {
                char error[256] = "";

                r = tj->cgroup ? (i == 0 ? cgroup_members(tj->cgroup, &pids, &n) : 0)
                               : proc_children(pids[i], CKPT_MAX_GROUP_MEMBERS, &pids, &n);
                if (r == -E2BIG) {
                        snprintf(tj->error, sizeof(tj->error),
                                 "%s%s%.0d has more than %d processes",
                                 tj->cgroup ? "cgroup " : "the tree of ",
                                 tj->cgroup ? tj->cgroup : "", tj->cgroup ? 0 : (int)tj->pid,
                                 CKPT_MAX_GROUP_MEMBERS);
                        return r;
                }
                if (r < 0 && r != -ESRCH)
                        return r;
                if (i == 0)
                        continue;
                r = checkpoint_track(tj->sc->tracker, &tj->caller, pids[i], error, sizeof(error));
                if (r == -ESRCH)
                        continue;
                if (r < 0) {
                        snprintf(tj->error, sizeof(tj->error), "pid %d of the tree of %d: %s",
                                 (int)pids[i], (int)tj->pid, error[0] ? error : strerror(-r));
                        return r;
                }
                tj->members[tj->n_members++] = pids[i];
        }
        return 0;
}

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
        if (tj->uffd >= 0 || !tj->sc->tracker) {
                /* No ptrace on these paths: the check alone decides. */
                int r = access_check_process(&tj->caller, -EBADF, tj->pid, NULL, tj->error,
                                             sizeof(tj->error));
                if (r < 0) {
                        j->result = r == -EPERM ? -EACCES : r;
                        return;
                }
        }
        if (!tj->sc->tracker) {
                snprintf(tj->error, sizeof(tj->error), "no tracker: checkpoints read everything");
                j->result = 1;
                return;
        }
        if (tj->uffd >= 0)
                /* Cooperative: the process armed its own userfaultfd; no ptrace. */
                j->result = tracker_track_uffd(tj->sc->tracker, tj->pid, TAKE_FD(tj->uffd),
                                               tj->error, sizeof(tj->error));
        else
                /* Checked again once frozen, before anything is injected. */
                j->result = checkpoint_track(tj->sc->tracker, &tj->caller, tj->pid, tj->error,
                                             sizeof(tj->error));
        if (j->result >= 0 && tj->tree) {
                int r;

                tj->members = calloc(CKPT_MAX_GROUP_MEMBERS, sizeof(*tj->members));
                r = tj->members ? track_descendants(tj) : -ENOMEM;
                if (r < 0) {
                        /* Nothing of the tree stays tracked. */
                        for (size_t i = 0; i < tj->n_members; i++)
                                (void)tracker_untrack(tj->sc->tracker, tj->members[i]);
                        (void)tracker_untrack(tj->sc->tracker, tj->pid);
                        tj->n_members = 0;
                        j->result = r;
                }
        }
}

/* The tracked root of the group of cgroup, other than self. */
static struct tracked *cgroup_root(struct scheduler *sc, const char *cgroup,
                                   const struct tracked *self)
{
        for (struct tracked *t = sc->tracked; t; t = t->next)
                if (t != self && t->tree && t->cgroup && strcmp(t->cgroup, cgroup) == 0)
                        return t;
        return NULL;
}

static void track_job_done(struct job *j)
{
        struct track_job *tj = (struct track_job *)j;
        struct scheduler *sc = tj->sc;
        struct tracked *t = NULL, *owner;

        if (j->result >= 0)
                t = add_tracked(sc, tj->pid, tj->policy, j->result == 0,
                                tj->note          ? tj->note
                                : j->result == 1  ? tj->error
                                : tj->cooperative ? "userfaultfd passed by the process"
                                                  : NULL,
                                &tj->caller);
        if (j->result >= 0 && !t) {
                j->result = -ESRCH;
                if (sc->tracker)
                        (void)tracker_untrack(sc->tracker, tj->pid);
        }
        owner = t && tj->cgroup ? cgroup_root(sc, tj->cgroup, t) : NULL;
        if (owner) {
                /* Its cgroup's group was tracked meanwhile (two of its
                 * processes matched one scan): it and its finds join it. */
                t->group = owner->pid;
                for (size_t i = 0; i < tj->n_members; i++)
                        add_member(sc, owner, tj->members[i], true);
        } else if (t && tj->tree) {
                t->tree = true;
                t->group = t->pid;
                free(t->cgroup);
                t->cgroup = tj->cgroup ? strdup(tj->cgroup) : NULL;
                if (!t->policy)
                        save_manual(sc);
                for (size_t i = 0; i < tj->n_members; i++)
                        add_member(sc, t, tj->members[i], true);
        }
        if (j->result == -EACCES && tj->done && tj->policy && strncmp(tj->policy, "pid-", 4) == 0) {
                /* The runtime policy this call wrote would only be refused
                 * again: its process is out of the caller's reach. */
                (void)policy_remove_runtime(sc->opts.runtime_policy_dir, tj->pid);
                scheduler_reload(sc);
        }
        if (j->result < 0 && !tj->done && j->result != -ECANCELED)
                log_warning_errno(j->result, "scheduler: cannot track pid %d%s%s: %s%s%m",
                                  (int)tj->pid, tj->policy ? " for policy " : "",
                                  tj->policy ? tj->policy : "", tj->error,
                                  tj->error[0] ? ": " : "");
        if (tj->done) {
                struct scheduler_track_result res = {
                        .result = j->result,
                        .pid = tj->pid,
                        .tracking = "scan",
                        .error = tj->error,
                };
                struct tracker_stats st = {};

                res.members = t && tj->tree ? 1 + tj->n_members : 0;
                if (j->result == 0) {
                        if (sc->tracker)
                                (void)tracker_get_stats(sc->tracker, tj->pid, &st);
                        res.tracking = ckpt_track_mode_to_string(st.mode);
                }
                tj->done(&res, tj->userdata);
        }
        safe_close(tj->uffd);
        free(tj->members);
        free(tj->cgroup);
        free(tj->policy);
        free(tj->note);
        free(tj);
        sc->opts.job_finished(sc->opts.userdata);
}

/* Arm tracking of pid on a worker; done (NULL: nobody asked) hears how it
 * ended. -ENOMEM when nothing was started (uffd closed). */
static int submit_track(struct scheduler *sc, pid_t pid, uint64_t start_time, const char *policy,
                        const char *note, int uffd, bool tree, const char *cgroup,
                        const struct access_caller *caller, scheduler_track_done_t done,
                        void *userdata)
{
        struct track_job *tj = calloc(1, sizeof(*tj));

        if (!tj) {
                safe_close(uffd);
                return -ENOMEM;
        }
        tj->uffd = uffd;
        tj->cooperative = uffd >= 0;
        tj->tree = tree || cgroup;
        tj->cgroup = cgroup ? strdup(cgroup) : NULL;
        tj->caller = *caller;
        tj->sc = sc;
        tj->done = done;
        tj->userdata = userdata;
        tj->pid = pid;
        tj->start_time = start_time;
        tj->policy = policy ? strdup(policy) : NULL;
        tj->note = note ? strdup(note) : NULL;
        tj->job = (struct job){.run = track_job_run, .done = track_job_done, .key = pid};
        workers_submit(sc->workers, &tj->job);
        return 0;
}

/* The share of tracked processes of a non-root caller: -EUSERS when it is
 * full and pid is not one of them already. */
static int check_tracked_share(struct scheduler *sc, pid_t pid, uid_t uid, char *error,
                               size_t error_size)
{
        unsigned n = 0;

        if (uid == 0 || sc->opts.max_tracked_per_uid == 0)
                return 0;
        for (struct tracked *t = sc->tracked; t; t = t->next) {
                if (caller_of_tracked(sc, t).uid != uid)
                        continue;
                if (t->pid == pid)
                        return 0;
                n++;
        }
        if (n < sc->opts.max_tracked_per_uid)
                return 0;
        sc->tracked_per_uid_hits++;
        log_notice("scheduler: uid %u tracks %u processes, refusing pid %d (%" PRIu64 " times)",
                   (unsigned)uid, n, (int)pid, sc->tracked_per_uid_hits);
        snprintf(error, error_size,
                 "uid %u tracks %u processes, the most one uid may (--max-tracked-per-uid)",
                 (unsigned)uid, n);
        return -EUSERS;
}

uint64_t scheduler_tracked_per_uid_hits(const struct scheduler *sc)
{
        return sc->tracked_per_uid_hits;
}

/* The process that names a cgroup's group: its lowest pid (a service's
 * main process, usually). -ESRCH: the cgroup holds none. */
static int cgroup_anchor(const char *cgroup, pid_t *ret)
{
        _cleanup_free_ pid_t *pids = NULL;
        size_t n = 0;
        int r = cgroup_members(cgroup, &pids, &n);

        if (r < 0)
                return r;
        if (n == 0)
                return -ESRCH;
        *ret = pids[0];
        for (size_t i = 1; i < n; i++)
                *ret = MIN(*ret, pids[i]);
        return 0;
}

int scheduler_track(struct scheduler *sc, const struct scheduler_track_request *req,
                    scheduler_track_done_t done, void *userdata, char *error, size_t error_size)
{
        char path[512], name[32];
        pid_t pid = req->pid;
        int r;

        error[0] = '\0';
        if (req->cgroup) {
                r = cgroup_anchor(req->cgroup, &pid);
                if (r < 0) {
                        snprintf(error, error_size, "cgroup '%s': %s", req->cgroup,
                                 r == -ESRCH ? "no process in it" : strerror(-r));
                        return r;
                }
        }
        r = check_tracked_share(sc, pid, req->caller.uid, error, error_size);
        if (r < 0) {
                safe_close(req->uffd);
                return r;
        }
        if (req->every_usec) {
                /* The policy remembers who asked: its checkpoints are taken
                 * with that caller's rights, checked at each one. */
                r = policy_write_runtime_as(sc->opts.runtime_policy_dir, pid, req->every_usec,
                                            req->keep, req->caller.uid, req->caller.gid, path,
                                            sizeof(path));
                if (r < 0) {
                        safe_close(req->uffd);
                        snprintf(error, error_size, "cannot write a runtime policy: %s",
                                 strerror(-r));
                        return r;
                }
                scheduler_reload(sc);
                snprintf(name, sizeof(name), "pid-%d", (int)pid);
                return submit_track(sc, pid, 0, name, NULL, req->uffd, req->tree, req->cgroup,
                                    &req->caller, done, userdata);
        }
        return submit_track(sc, pid, 0, NULL, NULL, req->uffd, req->tree, req->cgroup, &req->caller,
                            done, userdata);
}

bool scheduler_tracked_for(struct scheduler *sc, pid_t pid, uid_t uid)
{
        struct tracked *t = find(sc, pid);

        return t && caller_of_tracked(sc, t).uid == uid;
}

int scheduler_untrack(struct scheduler *sc, pid_t pid)
{
        struct tracked *t = find(sc, pid);

        if (!t)
                return -ESRCH;
        remove_tracked(sc, t, "untracked");
        return 0;
}

/* ---- scheduled checkpoints ------------------------------------------------- */

/* The members of the group of root (not root itself), in a malloc'ed array. */
static int group_members(struct scheduler *sc, pid_t root, pid_t **ret, size_t *ret_n)
{
        size_t n = 0, k = 0;
        pid_t *v;

        for (struct tracked *t = sc->tracked; t; t = t->next)
                if (t->group == root && t->pid != root)
                        n++;
        v = calloc(MAX(n, (size_t)1), sizeof(*v));
        if (!v)
                return -ENOMEM;
        for (struct tracked *t = sc->tracked; t && k < n; t = t->next)
                if (t->group == root && t->pid != root)
                        v[k++] = t->pid;
        *ret = v;
        *ret_n = k;
        return 0;
}

int scheduler_prepare_group(struct scheduler *sc, struct checkpoint_group_request *req,
                            pid_t **ret_pids)
{
        struct tracked *t = find(sc, req->base.pid);
        size_t n = 0;
        int r;

        *ret_pids = NULL;
        req->pids = NULL;
        req->n_pids = 0;
        req->arm_new = t && t->tree;
        if (!req->arm_new)
                return 0;
        r = group_members(sc, t->pid, ret_pids, &n);
        if (r < 0)
                return r;
        req->pids = *ret_pids;
        req->n_pids = n;
        return 0;
}

/* A scheduled checkpoint of the group of root t. */
static int start_group(struct tracked *t, const struct checkpoint_request *base)
{
        struct scheduler *sc = t->sc;
        struct checkpoint_group_request req = {.base = *base};
        _cleanup_free_ pid_t *pids = NULL;
        int r;

        req.base.ranges = NULL; /* a group is checkpointed whole */
        req.base.n_ranges = 0;
        req.cgroup = t->cgroup;
        if (!sc->opts.submit_group)
                return -EOPNOTSUPP;
        r = scheduler_prepare_group(sc, &req, &pids);
        if (r < 0)
                return r;
        return sc->opts.submit_group(&req, sc->opts.userdata);
}

static void start_checkpoint(struct tracked *t, const char *why)
{
        struct scheduler *sc = t->sc;
        const struct policy *p = policy_of(sc, t);
        struct checkpoint_request req = {};
        int r;

        if (t->busy || sc->shutting_down || (t->group && !t->tree))
                return;
        req.pid = t->pid;
        req.caller = caller_of_tracked(sc, t);
        if (p) {
                req.full = p->full_every > 0 && t->since_full + 1 >= p->full_every;
                req.all = p->all;
                req.ranges = p->ranges;
                req.n_ranges = p->n_ranges;
                /* Half the interval at the lowered priority at most: the
                 * next checkpoint must not find this one still storing. */
                if (p->interval_usec > 0)
                        req.urgent_ns = now_ns(CLOCK_MONOTONIC) + p->interval_usec * 1000 / 2;
        }
        log_debug("scheduler: checkpoint of pid %d%s (%s)", (int)t->pid, t->tree ? "'s tree" : "",
                  why);
        r = t->tree ? start_group(t, &req) : sc->opts.submit_checkpoint(&req, sc->opts.userdata);
        if (r < 0) {
                log_warning_errno(r, "scheduler: cannot start a checkpoint of pid %d: %m",
                                  (int)t->pid);
                schedule(t, false);
                return;
        }
        t->busy = true;
        t->next_due_usec = 0;
        t->started_usec = now_usec(CLOCK_MONOTONIC);
}

/* Keep N / max age, for one process (pid + start time). */
static void apply_retention(struct scheduler *sc, struct tracked *t, const struct policy *p)
{
        _cleanup_free_ struct store_catalog_entry *list = NULL;
        _cleanup_free_ uint64_t *ids = NULL;
        struct retention_rule rule;
        size_t n = 0, k = 0, n_ids = 0;

        if (!p || (p->keep == 0 && p->max_age_usec == 0))
                return;
        if (store_list(sc->store, &list, &n) < 0)
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
                sc->opts.submit_delete(ids[i], t->pid, sc->opts.userdata);
}

/* The figures of a checkpoint of t that was committed. */
static void record_checkpoint(struct scheduler *sc, struct tracked *t,
                              const struct checkpoint_result *res)
{
        t->last_id = res->id;
        t->last_pause_ms = res->pause_ns / 1e6;
        t->checkpoints++;
        t->stored_bytes += res->bytes_stored;
        t->since_full = res->incremental ? t->since_full + 1 : 0;
        t->note[0] = '\0';
        if (sc->tracker) {
                struct tracker_stats st;
                if (tracker_get_stats(sc->tracker, t->pid, &st) >= 0)
                        t->faults_at_last = st.write_faults;
        }
}

void scheduler_group_done(struct scheduler *sc, const struct checkpoint_group_request *req,
                          int result, const struct checkpoint_group_result *res)
{
        struct tracked *root = find(sc, req->base.pid);

        for (size_t i = 1; result >= 0 && i < res->n_members; i++) {
                const struct checkpoint_member *m = &res->members[i];
                struct tracked *t;

                if (m->result < 0)
                        continue; /* it exited: its exit event lets it go */
                if (root && root->tree)
                        /* Found in the tree: it joins, armed or read whole. */
                        add_member(sc, root, m->pid,
                                   m->armed || (sc->tracker &&
                                                tracker_is_tracked(sc->tracker, m->pid)));
                t = find(sc, m->pid);
                if (!t)
                        continue;
                record_checkpoint(sc, t, &m->res);
                /* A member keeps as many as its root's policy says. */
                apply_retention(sc, t,
                                t->group && root && t->group == root->pid ? policy_of(sc, root)
                                                                          : policy_of(sc, t));
        }
        scheduler_checkpoint_done(sc, req->base.pid, result,
                                  result >= 0 ? &res->members[0].res : NULL);
}

void scheduler_checkpoint_done(struct scheduler *sc, pid_t pid, int result,
                               const struct checkpoint_result *res)
{
        struct tracked *t = find(sc, pid);
        const struct policy *p;

        if (!t)
                return;
        t->busy = false;
        if (result >= 0) {
                record_checkpoint(sc, t, res);
        } else if (result == -ESRCH || result == -ECHILD) {
                remove_tracked(sc, t, "exited");
                return;
        } else if (result == -EPERM) {
                /* Refused by the access rule: if its own rights no longer
                 * reach it (it ran a setuid program, say), it is let go;
                 * a refusal that came from someone else's call is not its. */
                struct access_caller who = caller_of_tracked(sc, t);
                char reason[256], why[320];

                if (access_check_process(&who, t->pidfd, t->pid, NULL, reason, sizeof(reason)) ==
                    -EPERM) {
                        bool runtime = t->policy && strncmp(t->policy, "pid-", 4) == 0;

                        snprintf(why, sizeof(why), "uid %u may no longer act on it: %s",
                                 (unsigned)who.uid, reason);
                        if (t->policy && sc->n_refused < ELEMENTSOF(sc->refused))
                                /* Not matched again until the policies change. */
                                sc->refused[sc->n_refused++] =
                                        (struct refused_proc){t->pid, t->start_time};
                        /* Logged here, once; its runtime policy goes with it. */
                        remove_tracked(sc, t, why);
                        if (runtime && sc->policy_set)
                                scheduler_reload(sc);
                        return;
                }
        }
        if (t->exit_src && sd_event_source_get_enabled(t->exit_src, NULL) == 0) {
                remove_tracked(sc, t, "exited");
                return;
        }
        p = policy_of(sc, t);
        apply_retention(sc, t, p);
        schedule(t, true);
}

/* Write faults since the last checkpoint of t, and of its members for the
 * root of a tree (what a group checkpoint will read). */
static uint64_t faults_since_last(struct scheduler *sc, const struct tracked *t)
{
        uint64_t n = 0;

        for (struct tracked *m = sc->tracked; m; m = m->next) {
                struct tracker_stats st;

                if (m != t && !(t->tree && m->group == t->pid))
                        continue;
                if (tracker_get_stats(sc->tracker, m->pid, &st) >= 0 &&
                    st.write_faults >= m->faults_at_last)
                        n += st.write_faults - m->faults_at_last;
        }
        return n;
}

static int on_dirty_poll(sd_event_source *s, uint64_t usec, void *userdata)
{
        struct scheduler *sc = userdata;

        for (struct tracked *t = sc->tracked; t; t = t->next) {
                /* A member of a tree counts under its root's policy. */
                struct tracked *root = t->group && !t->tree ? find(sc, t->group) : NULL;
                const struct policy *p = policy_of(sc, root ? root : t);

                if (sc->tracker)
                        (void)tracker_count_writes(sc->tracker, t->pid,
                                                   p && p->dirty_trigger_bytes);
                if (!p || !p->dirty_trigger_bytes || t->busy || !sc->tracker || root)
                        continue;
                if (faults_since_last(sc, t) * 4096ULL > p->dirty_trigger_bytes)
                        start_checkpoint(t, "dirty trigger");
        }
        sd_event_source_set_time(s, now_usec(CLOCK_MONOTONIC) + DIRTY_POLL_USEC);
        return 0;
}

/* ---- policies ---------------------------------------------------------------- */

static bool is_tracked_or_self(struct scheduler *sc, pid_t pid)
{
        return pid == getpid() || find(sc, pid) != NULL;
}

/* For a Group=tree policy p that matches pid: one of pid's ancestors is
 * in a tracked tree, or matches p too (and is the root, then): pid joins
 * that group at its next checkpoint instead of starting a group of its own. */
static bool under_group_root(struct scheduler *sc, const struct policy *p, pid_t pid)
{
        pid_t a = pid;

        for (unsigned depth = 0; depth < 64; depth++) {
                struct proc_info info = {};
                struct tracked *t;
                bool match;

                if (proc_ppid(a, &a) < 0 || a <= 1)
                        return false;
                t = find(sc, a);
                if (t && t->group)
                        return true;
                if (proc_info_read(a, &info) < 0)
                        return false;
                match = info.exe && policy_matches(p, a, &info);
                proc_info_done(&info);
                if (match)
                        return true;
        }
        return false;
}

/* A group of the processes of cgroup is tracked already. */
static bool cgroup_tracked(struct scheduler *sc, const char *cgroup)
{
        for (struct tracked *t = sc->tracked; t; t = t->next)
                if (t->cgroup && strcmp(t->cgroup, cgroup) == 0)
                        return true;
        return false;
}

/* Track pid if a policy matches it and it is not tracked yet. */
static void consider_process(struct scheduler *sc, pid_t pid, const char *how)
{
        struct proc_info info = {};
        const struct policy *p;

        if (is_tracked_or_self(sc, pid) || proc_info_read(pid, &info) < 0)
                return;
        if (!info.exe) { /* kernel thread or zombie */
                proc_info_done(&info);
                return;
        }
        p = policy_set_match(sc->policy_set, pid, &info);
        if (p && p->group_tree && under_group_root(sc, p, pid))
                p = NULL;
        if (p && p->group_cgroup && (!info.cgroup || cgroup_tracked(sc, info.cgroup)))
                p = NULL; /* it joins its cgroup's group at the next checkpoint */
        if (p) {
                struct access_caller caller = policy_caller(p);
                bool refused = false;

                for (size_t i = 0; i < sc->n_refused; i++)
                        if (sc->refused[i].pid == pid &&
                            sc->refused[i].start_time == info.start_time)
                                refused = true;
                if (!refused && sc->n_refused < ELEMENTSOF(sc->refused)) {
                        /* Remember it until it is tracked, so a process that
                         * cannot be tracked is not tried at every scan. */
                        sc->refused[sc->n_refused++] = (struct refused_proc){pid, info.start_time};
                        log_debug("scheduler: pid %d (%s) matches policy %s (%s)", (int)pid,
                                  info.comm, p->name, how);
                        (void)submit_track(sc, pid, info.start_time, p->name, NULL, -EBADF,
                                           p->group_tree, p->group_cgroup ? info.cgroup : NULL,
                                           &caller, NULL, NULL);
                }
        }
        proc_info_done(&info);
}

/* Track every running process a policy matches and is not tracked yet. */
static void scan_processes(struct scheduler *sc)
{
        _cleanup_(closedirp) DIR *d = NULL;
        struct dirent *de;

        if (!sc->policy_set || policy_set_count(sc->policy_set) == 0)
                return;
        d = opendir("/proc");
        if (!d)
                return;
        while ((de = readdir(d))) {
                char *end;
                long pid = strtol(de->d_name, &end, 10);

                if (*end || pid <= 0)
                        continue;
                consider_process(sc, pid, "found by a scan");
        }
}

/* The tracker's event handler: any thread. Execs are queued for the loop. */
static void on_tracker_event(const struct ckpt_event *ev, void *userdata)
{
        struct scheduler *sc = userdata;
        uint64_t one = 1;

        if (ev->type != CKPT_EV_EXEC)
                return;
        pthread_mutex_lock(&sc->exec_lock);
        if (sc->n_exec_pids < ELEMENTSOF(sc->exec_pids))
                sc->exec_pids[sc->n_exec_pids++] = (pid_t)ev->tgid;
        pthread_mutex_unlock(&sc->exec_lock);
        if (write(sc->exec_efd, &one, sizeof(one)) < 0) {
                /* the loop is woken already */
        }
}

static int on_exec_queue(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
        struct scheduler *sc = userdata;
        pid_t pids[ELEMENTSOF(sc->exec_pids)];
        size_t n;
        uint64_t v;

        (void)!read(fd, &v, sizeof(v));
        pthread_mutex_lock(&sc->exec_lock);
        n = sc->n_exec_pids;
        memcpy(pids, sc->exec_pids, n * sizeof(pids[0]));
        sc->n_exec_pids = 0;
        pthread_mutex_unlock(&sc->exec_lock);
        if (!sc->policy_set || policy_set_count(sc->policy_set) == 0)
                return 0;
        for (size_t i = 0; i < n; i++)
                consider_process(sc, pids[i], "found at its exec");
        return 0;
}

static int on_scan(sd_event_source *s, uint64_t usec, void *userdata)
{
        struct scheduler *sc = userdata;

        scan_processes(sc);
        sd_event_source_set_time(s, now_usec(CLOCK_MONOTONIC) + SCAN_INTERVAL_USEC);
        return 0;
}

void scheduler_reload(struct scheduler *sc)
{
        const char *dirs[] = {sc->opts.policy_dir, sc->opts.runtime_policy_dir};
        struct policy_set *set = NULL;
        int r;

        r = policy_set_load(dirs, ELEMENTSOF(dirs), &set);
        if (r < 0) {
                log_error_errno(r, "scheduler: cannot load policies: %m");
                return;
        }
        for (size_t i = 0; i < policy_set_n_errors(set); i++)
                log_error("scheduler: policy ignored: %s", policy_set_error(set, i)->message);
        policy_set_free(sc->policy_set);
        sc->policy_set = set;
        sc->n_refused = 0;
        log_info("scheduler: %zu policies loaded, %zu refused", policy_set_count(set),
                 policy_set_n_errors(set));
        /* Processes started later are found at their exec (BPF), and by the
         * periodic scan where BPF is not loaded. */
        if (sc->tracker)
                tracker_watch_exec(sc->tracker, policy_set_count(set) > 0);

        /* Policies that went away let their processes go. */
        for (struct tracked *t = sc->tracked, *next; t; t = next) {
                next = t->next;
                if (t->policy && !policy_set_find(set, t->policy))
                        remove_tracked(sc, t, "its policy was removed");
                else
                        schedule(t, false);
        }
        scan_processes(sc);
}

static int on_reload_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
        scheduler_reload(userdata);
        return 0;
}

static void reload_soon(struct scheduler *sc)
{
        if (sc->reload_timer) {
                sd_event_source_set_time(sc->reload_timer,
                                         now_usec(CLOCK_MONOTONIC) + RELOAD_DELAY_USEC);
                sd_event_source_set_enabled(sc->reload_timer, SD_EVENT_ONESHOT);
                return;
        }
        (void)sd_event_add_time(sc->event, &sc->reload_timer, CLOCK_MONOTONIC,
                                now_usec(CLOCK_MONOTONIC) + RELOAD_DELAY_USEC, 10000,
                                on_reload_timer, sc);
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

static void watch_dir(struct scheduler *sc, const char *dir)
{
        if (inotify_add_watch(sc->inotify_fd, dir,
                              IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_CREATE |
                                      IN_ONLYDIR) < 0)
                log_debug_errno(-errno, "scheduler: not watching '%s': %m", dir);
}

/* Processes tracked by hand before a restart. */
static void restore_manual(struct scheduler *sc)
{
        _cleanup_free_ char *path = NULL;
        _cleanup_fclose_ FILE *f = NULL;
        char line[4096 + 128];

        if (asprintf(&path, "%s/tracked", sc->opts.state_dir) < 0)
                return;
        f = fopen(path, "re");
        if (!f)
                return;
        while (fgets(line, sizeof(line), f)) {
                struct access_caller caller;
                unsigned uid, gid;
                char tree[4096 + 8] = ""; /* "tree" or "cgroup:PATH" */
                uint64_t st;
                int pid, k;

                if (line[0] == '#')
                        continue;
                k = sscanf(line, "%d %" SCNu64 " %u %u %4103s", &pid, &st, &uid, &gid, tree);
                if (k == 5)
                        k = 4;
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
                (void)submit_track(sc, pid, st, NULL,
                                   "tracking re-armed after a restart of ckptd: the next "
                                   "checkpoint reads everything",
                                   -EBADF, strcmp(tree, "tree") == 0,
                                   strncmp(tree, "cgroup:", 7) == 0 ? tree + 7 : NULL, &caller,
                                   NULL, NULL);
        }
}

int scheduler_new(const struct scheduler_options *o, struct scheduler **ret)
{
        struct scheduler *sc;

        assert(o->submit_checkpoint && o->submit_delete && o->status_changed && o->job_finished);
        sc = calloc(1, sizeof(*sc));
        if (!sc)
                return -ENOMEM;
        sc->opts = *o;
        sc->event = sd_event_ref(o->event);
        sc->store = o->store;
        sc->tracker = o->tracker;
        sc->workers = o->workers;
        sc->inotify_fd = -EBADF;
        sc->exec_efd = -EBADF;
        pthread_mutex_init(&sc->exec_lock, NULL);
        *ret = sc;
        return 0;
}

int scheduler_start(struct scheduler *sc)
{
        int r;

        (void)mkdir(sc->opts.runtime_policy_dir, 0755);
        sc->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (sc->inotify_fd >= 0) {
                watch_dir(sc, sc->opts.policy_dir);
                watch_dir(sc, sc->opts.runtime_policy_dir);
                r = sd_event_add_io(sc->event, &sc->inotify_src, sc->inotify_fd, EPOLLIN,
                                    on_inotify, sc);
                if (r < 0)
                        log_warning_errno(r, "scheduler: no inotify, ignoring: %m");
        }
        sc->exec_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (sc->exec_efd < 0)
                return log_error_errno(-errno, "scheduler: cannot create an eventfd: %m");
        r = sd_event_add_io(sc->event, &sc->exec_src, sc->exec_efd, EPOLLIN, on_exec_queue, sc);
        if (r < 0)
                return log_error_errno(r, "scheduler: cannot watch the exec queue: %m");
        if (sc->tracker)
                tracker_set_handler(sc->tracker, on_tracker_event, sc);

        r = sd_event_add_signal(sc->event, NULL, SIGHUP, on_sighup, sc);
        if (r < 0)
                return log_error_errno(r, "scheduler: cannot handle SIGHUP: %m");
        r = sd_event_add_time(sc->event, &sc->scan_timer, CLOCK_MONOTONIC,
                              now_usec(CLOCK_MONOTONIC) + SCAN_INTERVAL_USEC, 100000, on_scan, sc);
        if (r >= 0)
                r = sd_event_source_set_enabled(sc->scan_timer, SD_EVENT_ON);
        if (r >= 0)
                r = sd_event_add_time(sc->event, &sc->dirty_timer, CLOCK_MONOTONIC,
                                      now_usec(CLOCK_MONOTONIC) + DIRTY_POLL_USEC, 10000,
                                      on_dirty_poll, sc);
        if (r >= 0)
                r = sd_event_source_set_enabled(sc->dirty_timer, SD_EVENT_ON);
        if (r < 0)
                return log_error_errno(r, "scheduler: cannot arm timers: %m");

        scheduler_reload(sc);
        restore_manual(sc);
        return 0;
}

void scheduler_shutdown(struct scheduler *sc)
{
        sc->shutting_down = true;
}

struct scheduler *scheduler_free(struct scheduler *sc)
{
        if (!sc)
                return NULL;
        while (sc->tracked) {
                struct tracked *t = sc->tracked;
                sc->tracked = t->next;
                tracked_free(t);
        }
        sd_event_source_disable_unref(sc->scan_timer);
        sd_event_source_disable_unref(sc->dirty_timer);
        sd_event_source_disable_unref(sc->reload_timer);
        sd_event_source_disable_unref(sc->inotify_src);
        if (sc->tracker) {
                tracker_watch_exec(sc->tracker, false);
                tracker_set_handler(sc->tracker, NULL, NULL);
        }
        sd_event_source_disable_unref(sc->exec_src);
        safe_close(sc->exec_efd);
        safe_close(sc->inotify_fd);
        policy_set_free(sc->policy_set);
        pthread_mutex_destroy(&sc->exec_lock);
        sd_event_unref(sc->event);
        free(sc);
        return NULL;
}

/* ---- status ------------------------------------------------------------------ */

void scheduler_foreach_process(struct scheduler *sc, const struct access_caller *caller,
                               scheduler_process_fn_t fn, void *userdata)
{
        uint64_t now = now_usec(CLOCK_MONOTONIC), rt = now_ns(CLOCK_REALTIME);

        for (struct tracked *t = sc->tracked; t; t = t->next) {
                struct tracker_stats st = {};
                bool have = sc->tracker && tracker_get_stats(sc->tracker, t->pid, &st) >= 0;
                struct scheduler_process p;

                /* Not even the counters of a process the caller may not act on. */
                if (caller->uid != 0 &&
                    (caller->uid != t->uid ||
                     access_check_process(caller, t->pidfd, t->pid, NULL, NULL, 0) < 0))
                        continue;
                p = (struct scheduler_process){
                        .pid = t->pid,
                        .comm = t->comm,
                        .uid = t->uid,
                        .tracking = have && t->armed ? ckpt_track_mode_to_string(st.mode) : "scan",
                        .policy = t->policy,
                        .group = t->group,
                        .dirty_pages =
                                have && st.write_faults >= t->faults_at_last
                                        ? st.write_faults - t->faults_at_last + st.kept_writable
                                        : 0,
                        .writable_pages = have ? st.kept_writable : 0,
                        .write_faults = have ? st.write_faults : 0,
                        .last_id = t->last_id,
                        .last_pause_ms = t->last_pause_ms,
                        .checkpoints = t->checkpoints,
                        .stored_bytes = t->stored_bytes,
                        .late = t->late,
                        .note = t->note,
                };
                if (t->next_due_usec) {
                        uint64_t in = t->next_due_usec > now ? t->next_due_usec - now : 0;
                        p.next_due_ns = rt + in * 1000ULL;
                }
                fn(&p, userdata);
        }
}

const struct policy_set *scheduler_policy_set(struct scheduler *sc)
{
        return sc->policy_set;
}

unsigned scheduler_n_tracked_by(struct scheduler *sc, const char *name,
                                const struct access_caller *caller)
{
        unsigned n = 0;

        for (struct tracked *t = sc->tracked; t; t = t->next)
                if (t->policy && strcmp(t->policy, name) == 0 &&
                    (caller->uid == 0 || t->uid == caller->uid))
                        n++;
        return n;
}
