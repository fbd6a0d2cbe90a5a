/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * priority.h: the priority a checkpoint's work after the thaw runs at:
 * hashing, compressing, writing and committing. Only the pause is urgent:
 * once the process runs again, the worker drops to a nice value (1..19) or
 * to SCHED_IDLE, so that the work takes the CPU the processes leave instead
 * of taking it from them, and goes back before it takes another job, so that
 * its next freeze does not queue behind anyone. The freeze and the copy keep
 * the daemon's priority.
 *
 * The settings travel in struct priority_options: probed once at start-up
 * (priority_probe()), then handed to each checkpoint (checkpoint.h). There is
 * no state here but what the caller holds: the options, and the priority a
 * worker had before it was lowered (struct priority_saved, on its stack).
 * Everything acts on the calling thread only; the threads it then creates
 * (the store's) inherit the lowered priority.
 */
#pragma once

#include <stdbool.h>

struct priority_options {
        int nice;  /* 1..19; 0: the daemon's own priority throughout */
        bool idle; /* SCHED_IDLE instead (nice is then 0) */
};

/*
 * Checks that a worker can come back from o's priority, on a thread of its
 * own (if the way back is refused, the one left at the lower priority
 * exits): raising a nice value, or leaving SCHED_IDLE, needs CAP_SYS_NICE
 * (or an RLIMIT_NICE that allows it). Returns 0 with o as it is to be used
 * (nice 0 when idle); on failure o is turned off (the daemon's own priority
 * throughout) and the error returned: -EINVAL a nice value out of 0..19,
 * -EPERM or -EACCES the way back refused, -errno from pthread_create().
 * Call it before any worker uses o.
 */
int priority_probe(struct priority_options *o);

/* What a lowered worker goes back to. Zero-initialised: nothing lowered. */
struct priority_saved {
        bool lowered; /* the thread runs at the nice value, base_nice to go back to */
        bool idled;   /* the thread runs under SCHED_IDLE, base_policy to go back to */
        int base_nice, base_policy;
};

/* Lowers the calling thread as o says, and records in *s what it was. Does
 * nothing when o is off or the thread already runs at least that low (for
 * SCHED_IDLE: already under it, or under a real-time policy); a refusal
 * leaves it as it was, silently. */
void priority_lower(const struct priority_options *o, struct priority_saved *s);
/* Takes the calling thread back to what s recorded (nothing if nothing was
 * lowered) and clears s; a refusal is logged as a warning (its next freezes
 * wait longer for the CPU) and the thread stays low. */
void priority_restore(struct priority_saved *s);
