/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * manager.c: owns the event loop and the long-lived parts (store, tracker,
 * server, workers, scheduler) and the daemon's life cycle. Method handlers
 * live in methods.c (given as opts.methods); they reach everything through
 * struct manager.
 */
#include "manager.h"

#include <signal.h>
#include <systemd/sd-daemon.h>
#include <time.h>

#include "ckpt/proto.h"
#include "server.h"
#include "jobs.h"
#include "checkpoint.h"
#include "lastcopy.h"
#include "log.h"
#include "macro.h"
#include "scheduler.h"
#include "store.h"
#include "time-util.h"
#include "tracker.h"
#include "watch.h"

int manager_new(const struct manager_options *o, struct manager **ret)
{
        _cleanup_(manager_freep) struct manager *m = NULL;
        int r;

        m = calloc(1, sizeof(*m));
        if (!m)
                return -ENOMEM;
        m->opts = *o;
        m->start_usec = now_usec(CLOCK_MONOTONIC);
        stats_init(&m->stats);

        r = sd_event_default(&m->event);
        if (r < 0)
                return r;
        r = sd_event_set_watchdog(m->event, true);
        if (r < 0)
                log_warning_errno(r, "Failed to enable the watchdog, ignoring: %m");

        *ret = TAKE_PTR(m);
        return 0;
}

struct manager *manager_free(struct manager *m)
{
        if (!m)
                return NULL;
        /* Workers first: a running job still uses the store. */
        m->workers = workers_free(m->workers);
        m->scheduler = scheduler_free(m->scheduler);
        m->watchers = watchers_free(m->watchers);
        m->server = server_free(m->server);
        m->ring_src = sd_event_source_disable_unref(m->ring_src);
        m->tracker = tracker_free(m->tracker);
        m->store = store_free(m->store);
        lastcopy_clear();
        sd_event_unref(m->event);
        free(m);
        return NULL;
}

static void manager_maybe_exit(struct manager *m)
{
        if (m->shutting_down && workers_pending(m->workers) == 0)
                sd_event_exit(m->event, 0);
}

void manager_job_finished(struct manager *m)
{
        manager_notify_status(m);
        manager_maybe_exit(m);
}

static int on_terminate(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
        struct manager *m = userdata;

        if (m->shutting_down) {
                /* Asked twice: abandon the job in flight at its next step. */
                log_notice("Signal %s again, cancelling the job in flight",
                           strsignal(si->ssi_signo));
                m->cancel = 1;
                return 0;
        }
        log_info("Signal %s, finishing the jobs in flight, then exiting", strsignal(si->ssi_signo));
        m->shutting_down = true;
        watchers_stop(m->watchers, CKPT_ERR_SHUTTING_DOWN);
        if (m->scheduler)
                scheduler_shutdown(m->scheduler);
        (void)sd_notify(false, "STOPPING=1\nSTATUS=Finishing the checkpoint in flight");
        workers_cancel_queued(m->workers);
        manager_maybe_exit(m);
        return 0;
}

void manager_notify_status(struct manager *m)
{
        char buf[256];

        if (!getenv("NOTIFY_SOCKET"))
                return;
        if (m->last_id)
                snprintf(buf, sizeof(buf),
                         "STATUS=Tracking %u processes; %llu checkpoints taken (%llu failed), the "
                         "last %llu of pid %d",
                         scheduler_n_tracked(m->scheduler), (unsigned long long)m->n_checkpoints,
                         (unsigned long long)m->n_failed, (unsigned long long)m->last_id,
                         (int)m->last_pid);
        else
                snprintf(buf, sizeof(buf), "STATUS=Tracking %u processes; no checkpoint taken yet",
                         scheduler_n_tracked(m->scheduler));
        (void)sd_notify(false, buf);
}

static int on_ring(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
        struct manager *m = userdata;
        int r = tracker_consume(m->tracker);

        if (r < 0)
                log_warning_errno(r, "tracker: cannot read events, ignoring: %m");
        return 0;
}

/* BPF is an accelerator, not a requirement: without it every checkpoint
 * scans (the tracker still arms userfaultfd write-protection if it can). */
static int manager_load_bpf(struct manager *m)
{
        struct tracker_options to = {
                .max_windows = m->opts.bitmap_entries,
                .keep_writable = m->opts.keep_writable,
        };
        int fd, r;

        r = tracker_new(&to, &m->tracker);
        if (r < 0)
                return log_error_errno(r, "Failed to set up the tracker: %m");
        log_info("tracker: BPF mode %s", tracker_bpf_mode(m->tracker));
        fd = tracker_ring_fd(m->tracker);
        if (fd >= 0) {
                r = sd_event_add_io(m->event, &m->ring_src, fd, EPOLLIN, on_ring, m);
                if (r < 0)
                        return log_error_errno(r, "Failed to watch the BPF ring buffer: %m");
        }
        return 0;
}

/* The scheduler's requests, on the loop thread. */
static int sched_submit_checkpoint(const struct checkpoint_request *req, void *userdata)
{
        struct manager *m = userdata;

        return m->opts.methods->submit_checkpoint(m, req);
}

static int sched_submit_group(const struct checkpoint_group_request *req, void *userdata)
{
        struct manager *m = userdata;

        return m->opts.methods->submit_group(m, req);
}

static void sched_submit_delete(uint64_t id, pid_t pid, void *userdata)
{
        struct manager *m = userdata;

        m->opts.methods->submit_delete(m, id, pid);
}

static void sched_status_changed(void *userdata)
{
        manager_notify_status(userdata);
}

static void sched_job_finished(void *userdata)
{
        manager_job_finished(userdata);
}

static int manager_start_scheduler(struct manager *m)
{
        struct scheduler_options so = {
                .event = m->event,
                .store = m->store,
                .tracker = m->tracker,
                .workers = m->workers,
                .state_dir = m->opts.state_dir,
                .policy_dir = m->opts.policy_dir,
                .runtime_policy_dir = m->opts.runtime_policy_dir,
                .max_tracked_per_uid = m->opts.max_tracked_per_uid,
                .submit_checkpoint = sched_submit_checkpoint,
                .submit_group = sched_submit_group,
                .submit_delete = sched_submit_delete,
                .status_changed = sched_status_changed,
                .job_finished = sched_job_finished,
                .userdata = m,
        };
        int r;

        r = scheduler_new(&so, &m->scheduler);
        if (r < 0)
                return log_error_errno(r, "Failed to set up the scheduler: %m");
        return scheduler_start(m->scheduler);
}

int manager_start(struct manager *m)
{
        int listen_fd = -EBADF, r, n;
        sigset_t mask;

        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        signal(SIGPIPE, SIG_IGN);

        r = sd_event_add_signal(m->event, NULL, SIGTERM, on_terminate, m);
        if (r >= 0)
                r = sd_event_add_signal(m->event, NULL, SIGINT, on_terminate, m);
        if (r < 0)
                return log_error_errno(r, "Failed to set up signal handling: %m");

        r = store_open(m->opts.state_dir, &(struct store_options){.threads = m->opts.store_threads},
                       &m->store);
        if (r == -EBUSY)
                return log_error_errno(r, "State directory '%s' is in use by another ckptd",
                                       m->opts.state_dir);
        if (r < 0)
                return log_error_errno(r, "Failed to open the store in '%s': %m",
                                       m->opts.state_dir);

        r = manager_load_bpf(m);
        if (r < 0)
                return r;

        lastcopy_set_budget(m->opts.copy_cache);
        m->priority =
                (struct priority_options){.nice = m->opts.store_nice, .idle = m->opts.store_idle};
        r = priority_probe(&m->priority);
        if (r < 0)
                log_notice_errno(r, "Cannot raise a worker's priority back after lowering it "
                                    "(CAP_SYS_NICE): the work after the thaw runs at the "
                                    "daemon's own priority: %m");

        r = workers_new(m->event, m->opts.workers, &m->workers);
        if (r < 0)
                return log_error_errno(r, "Failed to start worker threads: %m");

        n = sd_listen_fds(true);
        if (n < 0)
                return log_error_errno(n, "Failed to read passed sockets: %m");
        if (n == 1)
                listen_fd = SD_LISTEN_FDS_START;
        else if (n > 1)
                return log_error_errno(-EINVAL, "Expected one socket from systemd, got %d", n);

        r = watchers_new(m->event, m->opts.max_watchers_per_uid, &m->watchers);
        if (r < 0)
                return log_error_errno(r, "Failed to set up watchers: %m");

        r = server_new(m->event, listen_fd, m->opts.socket_path, &m->opts.server,
                       m->opts.methods->dispatch, m, &m->server);
        if (r < 0)
                return log_error_errno(r, "Failed to listen on '%s': %m",
                                       listen_fd >= 0 ? "(passed socket)" : m->opts.socket_path);

        r = manager_start_scheduler(m);
        if (r < 0)
                return r;

        log_info("ckptd %s ready: socket %s, store %s", CKPT_VERSION,
                 listen_fd >= 0 ? "(passed by systemd)" : m->opts.socket_path, m->opts.state_dir);
        return 0;
}

int manager_run(struct manager *m)
{
        int r;

        (void)sd_notify(false, "READY=1\nSTATUS=Ready");
        manager_notify_status(m);
        r = sd_event_loop(m->event);
        (void)sd_notify(false, "STOPPING=1");
        if (r < 0)
                return log_error_errno(r, "Event loop failed: %m");
        log_info("Stopped");
        return 0;
}
