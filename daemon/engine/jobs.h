/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * jobs.h: a small pool of worker threads for the long operations
 * (checkpoints, exports, restores, gc), so the event loop — and every other
 * client — never waits for them.
 *
 *   event loop ──submit──► queue ──► worker: job->run()   (may block, ptrace, I/O)
 *   event loop ◄─eventfd── done list ◄──┘  then job->done() on the loop thread
 *
 * Jobs with the same non-zero key (a pid) never run at the same time: a
 * process is checkpointed, restored or armed by one worker at a time.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

struct job;
typedef void (*job_fn_t)(struct job *j);

struct job {
        job_fn_t run;  /* on a worker thread */
        job_fn_t done; /* on the event loop thread; must free the job */
        uint64_t key;  /* serialisation key (0: none) */
        int result;    /* set by run(); -ECANCELED if never run */
        void *userdata;
        struct job *next;
};

struct workers;

int workers_new(sd_event *e, unsigned n_threads, struct workers **ret);
/* Joins the threads after the running jobs finish; queued jobs complete with
 * -ECANCELED (their done() still runs, on this thread). */
struct workers *workers_free(struct workers *w);
void workers_submit(struct workers *w, struct job *j);
/* Queued + running. */
unsigned workers_pending(struct workers *w);
/* Complete every queued (not yet running) job with -ECANCELED. */
void workers_cancel_queued(struct workers *w);
