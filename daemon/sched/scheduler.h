/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * scheduler.h: the tracked processes and their schedules.
 *
 * A process is tracked by hand (`ckptctl track PID`), by a policy file that
 * matches it, or by a runtime policy (`ckptctl track PID --every 30s`, which
 * writes /run/ckptd/policy.d/pid-PID.policy). For each tracked process the
 * scheduler keeps a pidfd (its exit is an event on the loop), the policy's
 * settings, a timer for the next checkpoint and the figures status shows.
 *
 *   policy files ──load/inotify/SIGHUP──► policy set ──match──► /proc scan
 *        │                                                         │
 *        ▼                                                         ▼
 *   tracked process ──timer / dirty trigger──► checkpoint job ──► retention
 *        └── pidfd readable (exit) ──► untrack, runtime policy removed
 *
 * Everything here runs on the event loop thread; the slow parts (arming,
 * checkpoints, deletes) go to the workers, keyed by pid.
 *
 * The scheduler owns struct scheduler and everything in it (the tracked
 * processes, the loaded policy set, its timers and watches). It knows no
 * protocol: it answers no call, and what it asks of its owner (start a
 * checkpoint, delete one, the status changed, a job ended) goes through the
 * callbacks of its options. Its errors are negative errno values, with a
 * message where one says more; the server turns them into protocol errors.
 *
 * Groups. A process tracked as a tree (`ckptctl track --tree PID`, or a
 * policy with Group=tree) is the root of a group: it and all its
 * descendants, present and future, are checkpointed as one (a group
 * checkpoint, checkpoint.h) whenever the root's schedule says so. Its
 * descendants are tracked entries of their own (status shows them, with
 * the root as their group), found when the tree is tracked and at every
 * group checkpoint (where those not armed yet are armed, and read whole);
 * they have no schedule of their own and leave when they exit. When the
 * root goes, the group goes.
 *
 * Across restarts: the pids tracked by hand are remembered in
 * <state-dir>/tracked (pid and start time); policy-driven ones are found
 * again by matching. Write tracking cannot survive the daemon (its
 * userfaultfd closed with it), so tracking is armed again and the next
 * checkpoint reads everything: status says so.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

#include "access.h"

struct scheduler;
struct ckpt_store;
struct tracker;
struct workers;
struct policy_set;
struct checkpoint_request;
struct checkpoint_result;
struct checkpoint_group_request;
struct checkpoint_group_result;

struct scheduler_options {
        sd_event *event;
        struct ckpt_store *store; /* retention reads its catalog */
        struct tracker *tracker;  /* NULL: no BPF, checkpoints scan */
        struct workers *workers;  /* tracking is armed on them */
        const char *state_dir;    /* <state-dir>/tracked */
        const char *policy_dir;
        const char *runtime_policy_dir;
        /* Processes one non-root uid may have tracked (by hand or by its
         * runtime policies); 0: no share. */
        unsigned max_tracked_per_uid;

        /* The owner's part, called on the loop thread with userdata. */
        /* Start a checkpoint of req->pid (req and its ranges are copied);
         * its end comes back as scheduler_checkpoint_done(). <0: not started. */
        int (*submit_checkpoint)(const struct checkpoint_request *req, void *userdata);
        /* The same for a group checkpoint (req and its pids are copied); its
         * end comes back as scheduler_group_done(). */
        int (*submit_group)(const struct checkpoint_group_request *req, void *userdata);
        /* Delete checkpoint id (of pid) on a worker: retention let it go. */
        void (*submit_delete)(uint64_t id, pid_t pid, void *userdata);
        /* The set of tracked processes changed. */
        void (*status_changed)(void *userdata);
        /* One of the scheduler's jobs (arming) ended. */
        void (*job_finished)(void *userdata);
        void *userdata;
};

int scheduler_new(const struct scheduler_options *o, struct scheduler **ret);
/* Lets every tracked process go (nothing is untracked in the tracker: it
 * goes with the daemon) and stops watching. Call after the workers are gone:
 * their jobs report here. */
struct scheduler *scheduler_free(struct scheduler *s);
static inline void scheduler_freep(struct scheduler **s)
{
        scheduler_free(*s);
}

/* Watch the policy directories, SIGHUP and the tracker's execs, load the
 * policies and track again what was tracked by hand before a restart. */
int scheduler_start(struct scheduler *s);
/* The daemon is stopping: no checkpoint is started from now on. */
void scheduler_shutdown(struct scheduler *s);

/* Reload the policy directories now (SIGHUP, inotify, io.ckptd.Reload). */
void scheduler_reload(struct scheduler *s);

/* io.ckptd.Track: track pid with the rights of caller; every_usec 0: no
 * schedule, else a runtime policy is written (keep: its Keep=). The
 * scheduler owns uffd (a userfaultfd passed by the process itself, or
 * -EBADF). */
struct scheduler_track_request {
        pid_t pid;
        int uffd;
        uint64_t every_usec;
        unsigned keep;
        bool tree;          /* pid and its descendants, as a group */
        const char *cgroup; /* not NULL: the processes of this cgroup as a group (pid: 0) */
        struct access_caller caller;
};

/* How a track request ended. result: 0 tracked, write tracking armed
 * (tracking names the mode); 1 tracked, checkpoints scan (error says why);
 * <0: not tracked: -EACCES (error: the access rule's reason), -ESRCH,
 * -EBUSY, -ECANCELED (shutting down) or another -errno (error: what failed,
 * or ""). */
struct scheduler_track_result {
        int result; /* also -E2BIG: a tree of more than CKPT_MAX_GROUP_MEMBERS */
        pid_t pid;
        size_t members; /* a tree: the processes tracked with it, itself included */
        const char *tracking;
        const char *error;
};
typedef void (*scheduler_track_done_t)(const struct scheduler_track_result *r, void *userdata);

/* 0: the request is under way and done(r, userdata) is called once, on the
 * loop thread, when it ends. <0: nothing was started and done is not
 * called; error[] says why ("" when it has nothing to add: out of memory):
 * -ESRCH when the runtime policy's process is gone, -EUSERS when a non-root
 * caller already tracks max_tracked_per_uid processes (those whose tracking
 * is still being armed count once it is). */
int scheduler_track(struct scheduler *s, const struct scheduler_track_request *req,
                    scheduler_track_done_t done, void *userdata, char *error, size_t error_size);
/* How often a track request was refused for max_tracked_per_uid. */
uint64_t scheduler_tracked_per_uid_hits(const struct scheduler *s);
/* io.ckptd.Untrack: -ESRCH when pid is not tracked. */
int scheduler_untrack(struct scheduler *s, pid_t pid);
/* pid is tracked with the rights of uid (by hand, or by a policy of uid's). */
bool scheduler_tracked_for(struct scheduler *s, pid_t pid, uid_t uid);

/* Before a group checkpoint of the tree of req->base.pid (asked for or
 * scheduled): the members known that may have left the tree, and whether
 * new members are armed (the tree is tracked). *ret_pids (malloc'ed, may be
 * NULL) backs req->pids. */
int scheduler_prepare_group(struct scheduler *s, struct checkpoint_group_request *req,
                            pid_t **ret_pids);
/* After any group checkpoint: members joined, figures, retention. */
void scheduler_group_done(struct scheduler *s, const struct checkpoint_group_request *req,
                          int result, const struct checkpoint_group_result *res);

/* After any checkpoint of pid (scheduled or asked for): figures, retention. */
void scheduler_checkpoint_done(struct scheduler *s, pid_t pid, int result,
                               const struct checkpoint_result *res);

/* What status shows of one tracked process; valid during the callback. */
struct scheduler_process {
        pid_t pid;
        const char *comm;
        uid_t uid;
        const char *tracking; /* the armed mode, or "scan" */
        const char *policy;   /* NULL: tracked by hand */
        pid_t group;          /* the root of its tree group (itself for the root); 0: none */
        /* Pages faulted since the last checkpoint plus those it left
         * writable: the next one reads them all. */
        uint64_t dirty_pages, writable_pages, write_faults;
        uint64_t last_id; /* 0: no checkpoint yet */
        double last_pause_ms;
        /* Checkpoints stored since it was tracked, and the bytes they added. */
        uint64_t checkpoints, stored_bytes;
        uint64_t next_due_ns; /* CLOCK_REALTIME; 0: none */
        uint64_t late;        /* periodic checkpoints that started after their time */
        const char *note;     /* "": none */
};
typedef void (*scheduler_process_fn_t)(const struct scheduler_process *p, void *userdata);

/* Each tracked process the caller may see: root all, others those of their
 * uid they may act on now (access.h). */
void scheduler_foreach_process(struct scheduler *s, const struct access_caller *caller,
                               scheduler_process_fn_t fn, void *userdata);
/* The policies loaded now (NULL before the first load). */
const struct policy_set *scheduler_policy_set(struct scheduler *s);
/* Processes tracked by policy `name` that caller may see (root: all,
 * others: of their uid). */
unsigned scheduler_n_tracked_by(struct scheduler *s, const char *name,
                                const struct access_caller *caller);
/* 0 for NULL. */
unsigned scheduler_n_tracked(struct scheduler *s);
