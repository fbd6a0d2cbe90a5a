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
 * Across restarts: the pids tracked by hand are remembered in
 * <state-dir>/tracked (pid and start time); policy-driven ones are found
 * again by matching. Write tracking cannot survive the daemon (its
 * userfaultfd closed with it), so tracking is armed again and the next
 * checkpoint reads everything: status says so.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct manager;
struct call;
struct json_object;
struct checkpoint_result;
struct access_caller;

int scheduler_start(struct manager *m);
void scheduler_stop(struct manager *m);

/* Reload the policy directories now (SIGHUP, inotify, io.ckptd.Reload). */
void scheduler_reload(struct manager *m);

/* io.ckptd.Track / Untrack (they answer the call). every_usec 0: no schedule. */
void scheduler_track_call(struct manager *m, struct call *c, pid_t pid, int uffd,
                          uint64_t every_usec, unsigned keep);
void scheduler_untrack_call(struct manager *m, struct call *c, pid_t pid);
/* pid is tracked with the rights of uid (by hand, or by a policy of uid's). */
bool scheduler_tracked_for(struct manager *m, pid_t pid, uid_t uid);

/* After any checkpoint of pid (scheduled or asked for): figures, retention. */
void scheduler_checkpoint_done(struct manager *m, pid_t pid, int result,
                               const struct checkpoint_result *res);

/* Status: one object per tracked process the caller may see: root all,
 * others those of their uid they may act on now (access.h). */
struct json_object *scheduler_status_json(struct manager *m, const struct access_caller *caller);
/* io.ckptd.ListPolicies: root sees every policy and error; others the
 * policies that act with their rights (policy.h), and errors quoted only
 * from files they may read (otherwise "PATH:LINE:" and no more). */
struct json_object *scheduler_policies_json(struct manager *m, const struct access_caller *caller);
unsigned scheduler_n_tracked(struct manager *m);
