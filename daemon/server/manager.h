/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * manager.h: the daemon's top-level object. It owns the sd-event loop, the
 * store, the BPF tracker, the socket server, the worker pool and the
 * scheduler, and the life cycle: start, serve, and on SIGTERM finish the job
 * in flight and stop. It never does slow work on the loop thread: that goes
 * to the workers. It knows no method: the calls go to opts.methods.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

#include "priority.h"
#include "server.h"
#include "stats.h"

struct ckpt_store;
struct tracker;
struct server;
struct workers;
struct scheduler;
struct watchers;
struct checkpoint_request;
struct checkpoint_group_request;
struct manager;

/* What the daemon serves, given by whoever builds the manager (main.c: the
 * method table of methods.c): the dispatch of every call, and the two jobs
 * the scheduler starts as the methods do, nobody to answer. */
struct manager_methods {
        server_dispatch_t dispatch; /* userdata: the manager */
        int (*submit_checkpoint)(struct manager *m, const struct checkpoint_request *req);
        int (*submit_group)(struct manager *m, const struct checkpoint_group_request *req);
        void (*submit_delete)(struct manager *m, uint64_t id, pid_t pid);
};

struct manager_options {
        const char *socket_path;
        const char *state_dir;
        const char *policy_dir;
        const char *runtime_policy_dir;
        unsigned workers;
        unsigned bitmap_entries;       /* BPF dirty-bitmap map size (2 MiB windows) */
        int store_nice;                /* nice value of the work after the thaw; 0: none */
        bool store_idle;               /* SCHED_IDLE instead of store_nice */
        unsigned store_threads;        /* store_options.threads */
        uint64_t copy_cache;           /* bytes of kept copies (lastcopy.h); 0: none */
        uint64_t copy_buffer;          /* bytes of copy buffers kept between checkpoints */
        unsigned keep_writable;        /* tracker_options.keep_writable */
        unsigned max_tracked_per_uid;  /* scheduler_options.max_tracked_per_uid */
        unsigned max_watchers_per_uid; /* WatchProcesses calls of one non-root uid (watch.h) */
        struct server_options server;  /* the control socket's limits */
        const struct manager_methods *methods;
};

struct manager {
        sd_event *event;
        struct manager_options opts;
        struct ckpt_store *store;
        struct tracker *tracker; /* NULL: no BPF, checkpoints scan */
        struct server *server;
        struct workers *workers;
        struct scheduler *scheduler;
        struct watchers *watchers; /* WatchProcesses calls open */
        sd_event_source *ring_src;
        uint64_t start_usec; /* CLOCK_MONOTONIC */
        bool shutting_down;
        volatile int cancel;              /* second SIGTERM: abandon the job in flight */
        struct priority_options priority; /* of checkpoints' work after the thaw, as probed */
        uint64_t n_checkpoints, n_failed;
        struct stats stats; /* the counters of GetMetrics */
        uint64_t last_id;   /* the newest checkpoint taken, of last_pid */
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
