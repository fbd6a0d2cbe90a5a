/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * manager.h: the daemon's top-level object. It owns the sd-event loop, the
 * store, the BPF tracker, the socket server and the worker pool, and the
 * life cycle: start, serve, and on SIGTERM finish the job in flight and stop.
 * It never does slow work on the loop thread: that goes to the workers.
 */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "control.h"
#include "priority.h"

struct ckpt_store;
struct tracker;
struct server;
struct workers;
struct policy_set;
struct tracked;
struct checkpoint_request;
struct call;
struct json_object;

struct manager_options {
        const char *socket_path;
        const char *state_dir;
        const char *policy_dir;
        const char *runtime_policy_dir;
        unsigned workers;
        unsigned bitmap_entries;      /* BPF dirty-bitmap map size (2 MiB windows) */
        int store_nice;               /* nice value of the work after the thaw; 0: none */
        bool store_idle;              /* SCHED_IDLE instead of store_nice */
        unsigned store_threads;       /* store_options.threads */
        uint64_t copy_cache;          /* bytes of kept copies (lastcopy.h); 0: none */
        unsigned keep_writable;       /* tracker_options.keep_writable */
        struct server_options server; /* the control socket's limits */
};

struct manager {
        sd_event *event;
        struct manager_options opts;
        struct ckpt_store *store;
        struct tracker *tracker; /* NULL: no BPF, checkpoints scan */
        struct server *server;
        struct workers *workers;
        struct policy_set *policy_set;
        struct tracked *tracked; /* scheduler.c */
        int inotify_fd;
        sd_event_source *inotify_src, *scan_timer, *dirty_timer, *reload_timer, *ring_src;
        struct refused_proc {
                pid_t pid;
                uint64_t start_time;
        } refused[256]; /* matched a policy, tracking tried once */
        size_t n_refused;
        /* Processes that exec'd, reported by the tracker on any thread and
         * handled on the loop (scheduler.c). */
        pthread_mutex_t exec_lock;
        pid_t exec_pids[256];
        size_t n_exec_pids;
        int exec_efd;
        sd_event_source *exec_src;
        uint64_t start_usec; /* CLOCK_MONOTONIC */
        bool shutting_down;
        volatile int cancel;              /* second SIGTERM: abandon the job in flight */
        struct priority_options priority; /* of checkpoints' work after the thaw, as probed */
        uint64_t n_checkpoints, n_failed;
        uint64_t last_id; /* the newest checkpoint taken, of last_pid */
        pid_t last_pid;
};

int manager_new(const struct manager_options *o, struct manager **ret);
struct manager *manager_free(struct manager *m);
static inline void manager_freep(struct manager **m)
{
        manager_free(*m);
}

/* Open the store (takes the state-dir lock), load BPF (failure is a warning:
 * checkpoints then scan), listen (an inherited socket if exactly one was
 * passed, else bind opts.socket_path). */
int manager_start(struct manager *m);
int manager_run(struct manager *m);

/* Called by every job's done() on the loop thread: during shutdown the loop
 * exits once nothing is left running. */
void manager_job_finished(struct manager *m);
/* Update sd_notify STATUS= (no-op when not under systemd). */
void manager_notify_status(struct manager *m);

/* methods.c: the Varlink method table, and the jobs the scheduler starts
 * too. call may be NULL (nobody to answer). */
int methods_submit_checkpoint(struct manager *m, struct call *c,
                              const struct checkpoint_request *req);
void methods_submit_delete(struct manager *m, struct call *c, uint64_t id, pid_t pid);

void methods_dispatch(struct call *c, const char *method, struct json_object *params,
                      void *userdata);
