/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * checkpoint.h: the checkpoint engine. One call takes one checkpoint of one
 * process, start to finish, on the calling thread (a worker, never the event
 * loop: ptrace makes the calling thread the tracer).
 *
 *   Step 1: pidfd, access check (access.h), freeze every thread (ptrace seize
 *           + interrupt), the access check again on the frozen process
 *           [open_process, find_parent, reserve_ahead, freeze]
 *   Step 2: read the maps, decide which pages to read (dirty set / pagemap)
 *           [read_maps, collect_dirty, select_pages]
 *   Step 3: registers of every thread; process_vm_readv into a pre-faulted
 *           buffer (sized before the freeze from an unfrozen estimate; grown
 *           here only if that fell short), on several threads (copy.h)
 *           [capture_registers, reserve_exact, copy_memory]
 *   Step 4: thaw (the pause ends here); the worker drops to the request's
 *           priority (priority.h) [thaw]
 *   Step 5: pages whose bytes equal the parent's copy (lastcopy.h) keep their
 *           key; the others are hashed, compressed, stored; manifest; commit;
 *           the pages read become the process's copy (tracked processes)
 *           [store_pages, build_view, make_delta, commit, finish]
 *
 * checkpoint.c runs them in this order in checkpoint_run_one(), each a
 * function over the checkpoint's context (struct checkpoint_ctx) that fills
 * its part of it; the first failure ends the run, and checkpoint_run() frees
 * the context (thawing the process if it is still frozen), brings the worker
 * back to its priority, and tells the tracker.
 *
 * checkpoint_run_group() runs the same steps over many processes: step 1
 * for every member, steps 2 and 3 for each, step 4 for all, step 5 for each.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "access.h"
#include "manifest.h"
#include "priority.h"
#include "store.h"

struct tracker;

struct checkpoint_request {
        pid_t pid;
        struct access_caller caller;     /* checked before and once frozen (access.h) */
        bool full;                       /* read every page even if tracked */
        bool all;                        /* store read-only file mappings too, not by reference */
        const struct ckpt_range *ranges; /* NULL / 0: the whole address space */
        size_t n_ranges;
        struct tracker *tracker;          /* NULL: no dirty tracking available */
        volatile int *cancel;             /* non-zero: stop at the next step (daemon shutdown) */
        struct priority_options priority; /* of the work after the thaw; {}: the daemon's */
        uint64_t buffer_budget;           /* bytes of copy buffers all workers keep between
                                           * checkpoints; past it, this one's is given back after
                                           * use; 0: no limit */
        uint64_t urgent_ns; /* CLOCK_MONOTONIC; from then on the work after the thaw is
                             * back at the daemon's priority, so that a periodic
                             * checkpoint ends before the next is due; 0: never */
        /* Called on the worker, after the thaw, with the pages stored so far
         * of those read (0 of N first, then after each batch); NULL: none.
         * Must be quick and safe from any thread. */
        void (*progress)(void *userdata, uint64_t done, uint64_t total);
        void *progress_userdata;
};

struct checkpoint_result {
        uint64_t id, parent; /* parent 0: none */
        uint64_t pages;      /* pages in the checkpoint's view */
        uint64_t pages_read;
        uint64_t pages_unchanged; /* read, and found equal to the parent's by comparison */
        uint64_t bytes_stored;
        uint64_t pause_ns, duration_ns;
        bool incremental;
        struct ckpt_range *skipped; /* unmapped parts of the requested ranges (malloc'ed) */
        size_t n_skipped;
        char error[256]; /* a human explanation when the call fails */
};

void checkpoint_result_done(struct checkpoint_result *r);

/*
 * Errors: -ESRCH no such process (or it exited mid-checkpoint: nothing is
 * stored), -EPERM caller may not act on it, -EBUSY another tracer holds it,
 * -EINVAL bad ranges, -ENOSPC store full (nothing already stored is lost),
 * -ECANCELED shutdown. ret->error says more.
 */
int checkpoint_run(struct ckpt_store *s, const struct checkpoint_request *req,
                   struct checkpoint_result *ret);

/*
 * Arm write tracking of pid (tracker_track()) for caller: the access check,
 * the freeze, the access check again on the frozen process, the arming, the
 * thaw. Returns like tracker_track(); -EACCES when caller may not act on pid
 * (error says why).
 */
int checkpoint_track(struct tracker *t, const struct access_caller *caller, pid_t pid, char *error,
                     size_t error_size);

/*
 * A group checkpoint: the process base.pid and its descendants (found as
 * they are frozen: checkpoint.c), plus pids (members found before whose
 * parent exited since), as one frozen moment: every member frozen before
 * any is read, all thawed before any is stored. Each member gets a checkpoint
 * of its own, as checkpoint_run() would take, marked with the group's id.
 * base.ranges must be empty.
 */
struct checkpoint_group_request {
        struct checkpoint_request base; /* pid: the root of the tree; 0 for a cgroup */
        /* Not NULL: the group is the processes of this cgroup (v2) and of the
         * cgroups below it (cgroup-util.h), read again after the last one
         * found is frozen until no new one appears; base.pid is 0, or one
         * of them that names the group (the scheduler's anchor). */
        const char *cgroup;
        const pid_t *pids;
        size_t n_pids;
        size_t max_members; /* 0: CKPT_MAX_GROUP_MEMBERS */
        bool arm_new;       /* arm write tracking of members the tracker does not know */
};

struct checkpoint_member {
        pid_t pid;
        int result; /* 0, or -errno: no checkpoint of it (-ESRCH: it exited) */
        bool armed; /* write tracking was armed by this checkpoint */
        struct checkpoint_result res;
};

struct checkpoint_group_result {
        uint64_t id; /* the group's; each member's checkpoint has its own */
        uint64_t pages, pages_read, bytes_stored; /* sums over the members */
        uint64_t pause_ns;                        /* the first freeze to the last thaw */
        uint64_t duration_ns;
        struct checkpoint_member *members; /* [0] is the root */
        size_t n_members;
        char error[256];
};

/*
 * Errors as checkpoint_run()'s for the root, and -E2BIG when the group has
 * more than max_members processes. Members that exit before or while frozen
 * are left out (their result -ESRCH); any other failure of a member fails
 * the group, and every frozen member is thawed first.
 */
int checkpoint_run_group(struct ckpt_store *s, const struct checkpoint_group_request *req,
                         struct checkpoint_group_result *ret);
void checkpoint_group_result_done(struct checkpoint_group_result *r);

/* The copy buffer is kept per calling thread between checkpoints (within the
 * request's buffer_budget); a worker thread that is about to exit gives it
 * back with this. */
void checkpoint_release_buffer(void);
/* Bytes of copy buffers held by all threads now. */
uint64_t checkpoint_buffers_held(void);
