/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * restore.h: writing the memory of a checkpoint back into a live process
 * (a rollback). Runs on a worker thread: the calling thread becomes the
 * process's tracer for the length of the restore.
 *
 *   Step 1: the checkpoint's view; rights (the caller's own checkpoint, and a
 *           process the caller may act on by the rule of access.h)
 *           [open_checkpoint, choose_regions]
 *   Step 2: freeze; the rights again on the frozen process, before anything
 *           is written; read the process's maps; shape check
 *           [freeze, check_shape]
 *   Step 3: for each page of the chosen regions, the content it must have;
 *           compare with what the process holds now, write only what differs
 *           [open_memory, compare_regions, write_all]
 *   Step 4: registers (single-threaded only, on request); thaw [thaw]
 *
 * restore.c runs them in this order in restore_run_one(), each a function
 * over the restore's context (struct restore_ctx); the first failure ends
 * the run, and restore_run() frees the context, thawing the process if it
 * is still frozen.
 *
 * Which pages are compared: every page of the regions (clipped to the
 * ranges), except pages of a region recorded by reference that the
 * checkpoint did not list (they are the file's content and were never
 * written). When the process is tracked and the checkpoint is in its current
 * chain, only the pages that differ between the checkpoint and the newest one
 * plus the pages written since are compared: the cost follows the change.
 *
 * Writes go through /proc/PID/mem, which reaches read-only and PROT_NONE
 * mappings too. A page that must be zero and is not present in the process
 * (never touched) is left alone.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "access.h"
#include "manifest.h"
#include "store.h"

struct tracker;

struct restore_request {
        uint64_t id;
        pid_t pid;
        struct access_caller caller;
        const struct ckpt_range *ranges; /* NULL/0: every region of the checkpoint */
        size_t n_ranges;
        bool registers;
        struct tracker *tracker;
        volatile int *cancel;
        /* Called on the worker (while the process is frozen: quick, any
         * thread) with the pages of the regions compared so far of theirs,
         * region by region; NULL: none. */
        void (*progress)(void *userdata, uint64_t done, uint64_t total);
        void *progress_userdata;
};

struct restore_result {
        uint64_t pages_written, pages_compared, bytes_written;
        uint64_t pause_ns, duration_ns;
        bool used_tracking;
        char error[384];
};

/* Errors: -ENOENT no such checkpoint, -ESRCH no such process, -EPERM, -EBUSY,
 * -ENOTRECOVERABLE a region changed shape (see ret->error), -EBADMSG a
 * corrupt object (nothing has been written then: every page is read and
 * verified before the first write). */
int restore_run(struct ckpt_store *s, const struct restore_request *req,
                struct restore_result *ret);

/*
 * The members of a group checkpoint (reqs[i]: member i's checkpoint and its
 * own pid, no ranges) rolled back at one frozen moment: every member frozen
 * and every page read and verified before the first write, all thawed last.
 * A member whose pid is no longer the process checkpointed fails the group
 * (-ESRCH). Errors as restore_run()'s; *ret_failed: the member that failed.
 * rets[0].pause_ns is the group's pause (first freeze to last thaw).
 */
int restore_run_group(struct ckpt_store *s, const struct restore_request *reqs, size_t n,
                      struct restore_result *rets, size_t *ret_failed);
