/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * tracker.c: the daemon half of dirty-page tracking (see tracker.h), the
 * part that knows processes: per-process arming state (tracker_track*(),
 * with the userfaultfd injected by inject.c or handed over), what the ring
 * buffer's address-space events mean for the next collect, and the public
 * API on tracked processes. The BPF side is tracker-bpf.c's, the dirty set
 * tracker-collect.c's (see tracker-internal.h). It never reads page contents.
 */
#include "tracker.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ckpt/uapi.h"
#include "inject.h"
#include "log.h"
#include "macro.h"
#include "manifest.h"
#include "pagemap-scan.h"
#include "proc-util.h"
#include "procmaps.h"
#include "tracker-internal.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

/* Past this many uncollected forced ranges a process is simply read whole. */
#define FORCED_MAX 4096

int tracker_ranges_add(struct ranges *r, uint64_t start, uint64_t end)
{
        if (end <= start)
                return 0;
        if (r->n == r->n_alloc) {
                size_t k = r->n_alloc ? r->n_alloc * 2 : 16;
                struct range *v = reallocarray(r->v, k, sizeof(*v));

                if (!v)
                        return -ENOMEM;
                r->v = v;
                r->n_alloc = k;
        }
        r->v[r->n++] = (struct range){PAGE_ALIGN_DOWN(start), PAGE_ALIGN_UP(end)};
        return 0;
}

/* Take [start, end) out of every range, splitting one that it cuts in two. */
static int ranges_subtract(struct ranges *r, uint64_t start, uint64_t end)
{
        struct ranges out = {};

        for (size_t i = 0; i < r->n; i++) {
                struct range v = r->v[i];
                int k = 0;

                if (v.end <= start || v.start >= end) {
                        k = tracker_ranges_add(&out, v.start, v.end);
                } else {
                        if (v.start < start)
                                k = tracker_ranges_add(&out, v.start, start);
                        if (k >= 0 && v.end > end)
                                k = tracker_ranges_add(&out, end, v.end);
                }
                if (k < 0) {
                        free(out.v);
                        return k;
                }
        }
        free(r->v);
        *r = out;
        return 0;
}

void tracker_ranges_clear(struct ranges *r)
{
        free(r->v);
        *r = (struct ranges){};
}

static struct tproc *tproc_free(struct tproc *p)
{
        if (!p)
                return NULL;
        safe_close(p->pidfd);
        safe_close(p->uffd);
        safe_close(p->pagemap_fd);
        tracker_ranges_clear(&p->forced);
        tracker_ranges_clear(&p->lazy);
        tracker_ranges_clear(&p->hot);
        free(p->written);
        free(p->stamps);
        free(p->segs);
        free(p);
        return NULL;
}

struct tproc *tracker_find(struct tracker *t, pid_t pid)
{
        for (size_t i = 0; i < t->n_procs; i++)
                if (t->procs[i]->pid == pid)
                        return t->procs[i];
        return NULL;
}

static void hooks_release(struct tracker *t)
{
        if (t->n_procs == 0 && t->arming == 0)
                tracker_hooks_detach(t);
}

int tracker_new(const struct tracker_options *o, struct tracker **ret)
{
        struct tracker_options opts = o ? *o : (struct tracker_options){};
        struct tracker *t;
        int r;

        t = calloc(1, sizeof(*t));
        if (!t)
                return -ENOMEM;
        t->batch_ok = true;
        pthread_mutex_init(&t->lock, NULL);
        if (opts.max_windows == 0)
                opts.max_windows = 65536;
        if (opts.max_tracked == 0)
                opts.max_tracked = 4096;
        if (opts.ringbuf_bytes == 0)
                opts.ringbuf_bytes = 1u << 20;
        t->no_uffd = opts.no_uffd;
        t->keep_writable = opts.keep_writable;
        t->bpf_mode = "none";

        if (!opts.no_bpf) {
                r = tracker_bpf_setup(t, &opts);
                if (r < 0) {
                        tracker_free(t);
                        return r;
                }
        }
        log_debug("tracker: BPF mode %s", t->bpf_mode);
        r = shmseg_probe(&t->shm);
        if (r < 0)
                log_debug_errno(r, "tracker: shared memory cannot be write-protected, "
                                   "it is read whole: %m");
        *ret = t;
        return 0;
}

struct tracker *tracker_free(struct tracker *t)
{
        if (!t)
                return NULL;
        for (size_t i = 0; i < t->n_procs; i++)
                tproc_free(t->procs[i]);
        free(t->procs);
        free(t->queue);
        tracker_bpf_teardown(t);
        pthread_mutex_destroy(&t->lock);
        free(t);
        return NULL;
}

void tracker_set_handler(struct tracker *t, tracker_event_handler_t h, void *userdata)
{
        pthread_mutex_lock(&t->lock);
        t->handler = h;
        t->userdata = userdata;
        pthread_mutex_unlock(&t->lock);
}

/* What an event means for the next collect. Called with the lock held. */
static void apply_event(struct tracker *t, const struct ckpt_event *e)
{
        struct tproc *p = tracker_find(t, (pid_t)e->tgid);
        int r = 0;

        if (!p)
                return;
        switch (e->type) {
        case CKPT_EV_MMAP:
        case CKPT_EV_MADVISE:
                r = tracker_ranges_add(&p->forced, e->start, e->start + e->len);
                if (r >= 0 && e->type == CKPT_EV_MADVISE && e->arg == CKPT_MADV_FREE)
                        r = tracker_ranges_add(&p->lazy, e->start, e->start + e->len);
                break;
        case CKPT_EV_MREMAP:
                r = tracker_ranges_add(&p->forced, e->new_start, e->new_start + e->new_len);
                break;
        case CKPT_EV_BRK:
                if (e->new_start > e->start)
                        r = tracker_ranges_add(&p->forced, e->start, e->new_start);
                break;
        case CKPT_EV_MUNMAP:
                /* What is unmapped needs no more care; a range cut by the
                 * unmap (an aligned allocation trimming its head and tail,
                 * as malloc arenas are made) keeps only what is still
                 * mapped, or it would force its region whole forever. */
                r = ranges_subtract(&p->lazy, e->start, PAGE_ALIGN_UP(e->start + e->len));
                if (r >= 0)
                        r = ranges_subtract(&p->forced, e->start, PAGE_ALIGN_UP(e->start + e->len));
                break;
        case CKPT_EV_FORK:
                p->forks++; /* a child may map its shared segments */
                break;
        case CKPT_EV_EXEC:
                p->rearm = true;
                p->need_full = true;
                break;
        case CKPT_EV_EXIT:
                if (e->arg) {
                        /* The pid may be reused: stop recording it now. */
                        p->exited = true;
                        tracker_bpf_remove_proc(t, (pid_t)e->tgid);
                }
                break;
        default:
                break;
        }
        if (r < 0 || p->forced.n > FORCED_MAX) {
                p->need_full = true;
                tracker_ranges_clear(&p->forced);
        }
}

int tracker_drain(struct tracker *t)
{
        int r;

        if (!t->rb)
                return 0;
        size_t first = t->n_queue;
        r = tracker_bpf_read_ring(t);
        for (size_t i = first; i < t->n_queue; i++)
                apply_event(t, &t->queue[i]);
        return r < 0 ? r : (int)(t->n_queue - first);
}

void tracker_dispatch_and_unlock(struct tracker *t)
{
        tracker_event_handler_t h = t->handler;
        void *userdata = t->userdata;
        struct ckpt_event *q = TAKE_PTR(t->queue);
        size_t n = t->n_queue;

        t->n_queue = t->n_queue_alloc = 0;
        pthread_mutex_unlock(&t->lock);
        for (size_t i = 0; h && i < n; i++)
                h(&q[i], userdata);
        free(q);
}

int tracker_consume(struct tracker *t)
{
        int r;

        if (!t->rb)
                return -EOPNOTSUPP;
        pthread_mutex_lock(&t->lock);
        r = tracker_drain(t);
        tracker_dispatch_and_unlock(t);
        return r;
}

bool tracker_region_wants_uffd(const struct ckpt_region *r)
{
        /* Shared memory can be written through another process's page
         * tables, which this process's write protection never sees. */
        if (r->flags & (CKPT_REGION_SHARED | CKPT_REGION_SPECIAL))
                return false;
        return (r->prot & PROT_WRITE) != 0;
}

_printf_(3, 4) static void set_error(char *error, size_t size, const char *fmt, ...)
{
        va_list ap;

        if (!error || size == 0)
                return;
        va_start(ap, fmt);
        vsnprintf(error, size, fmt, ap);
        va_end(ap);
}

/* A descriptor handed over by a process: a userfaultfd with async write-protect? */
static int check_passed_uffd(int fd)
{
        _cleanup_fclose_ FILE *f = NULL;
        char path[64], link[64], line[128];
        unsigned long long features = 0;
        ssize_t k;

        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        k = readlink(path, link, sizeof(link) - 1);
        if (k < 0)
                return negative_errno();
        link[k] = 0;
        if (strcmp(link, "anon_inode:[userfaultfd]") != 0)
                return -EBADF;
        snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
        f = fopen(path, "re");
        if (!f)
                return negative_errno();
        /* "API:\t<api>:<features>:<ioctls>" in hex */
        while (fgets(line, sizeof(line), f)) {
                unsigned long long api;

                if (sscanf(line, "API: %llx:%llx", &api, &features) == 2)
                        break;
        }
        if (!(features & UFFD_FEATURE_WP_ASYNC) || !(features & UFFD_FEATURE_WP_UNPOPULATED))
                return -EOPNOTSUPP;
        return 0;
}

/* ---- arming, step by step (track_arm) ------------------------------------
 *
 * 1. the tgid, and the old userfaultfd of a process re-armed let go of;
 * 2. the new state: a pidfd, the process in the BPF maps (from then on its
 *    faults and address-space changes are recorded), its pagemap;
 * 3. write protection: a userfaultfd (handed over, or injected), every
 *    writable private mapping registered on it; without one, soft-dirty or
 *    scanning;
 * 4. the state installed in place of the old one (or added).
 * The ptrace work runs without the lock. */

/* Step 1: re-arming lets go of the old userfaultfd first, or its
 * registrations would make the new one's fail with EBUSY. */
static void track_release_old(struct tracker *t, pid_t tgid)
{
        struct tproc *old;

        pthread_mutex_lock(&t->lock);
        old = tracker_find(t, tgid);
        if (old) {
                old->uffd = safe_close(old->uffd);
                old->need_full = true;
        }
        pthread_mutex_unlock(&t->lock);
}

/* Step 2: passed_uffd is taken (closed on error too). */
static int track_open_state(struct tracker *t, pid_t pid, pid_t tgid, int passed_uffd,
                            struct tproc **ret, char *ret_error, size_t error_size)
{
        struct tproc *p;
        int r;

        p = calloc(1, sizeof(*p));
        if (!p) {
                safe_close(passed_uffd);
                return -ENOMEM;
        }
        *ret = p; /* the caller frees it, on error too */
        p->pid = tgid;
        p->uffd = p->pagemap_fd = -EBADF;
        p->need_full = true;
        p->uffd = passed_uffd; /* ours now, closed with p */
        p->pidfd = (int)syscall(SYS_pidfd_open, tgid, 0);
        if (p->pidfd < 0) {
                r = negative_errno();
                set_error(ret_error, error_size, "process %d: %s", (int)pid, strerror(-r));
                return r;
        }

        /* From here on, faults and address-space changes are recorded. */
        r = tracker_bpf_add_proc(t, tgid);
        if (r < 0) {
                set_error(ret_error, error_size, "cannot add process %d to BPF map: %s", (int)tgid,
                          strerror(-r));
                return r;
        }

        p->pagemap_fd = uffd_open_pagemap(tgid);
        if (p->pagemap_fd < 0) {
                r = p->pagemap_fd;
                set_error(ret_error, error_size, "cannot open pagemap of %d: %s", (int)tgid,
                          strerror(-r));
                return r;
        }
        return 0;
}

/* Step 3, with a userfaultfd: register every writable private mapping. */
static int track_register_regions(struct tproc *p, char *ret_error, size_t error_size)
{
        struct ckpt_region *regions = NULL;
        size_t n_regions = 0;
        int r;

        r = procmaps_read(p->pid, &regions, &n_regions);
        if (r < 0) {
                set_error(ret_error, error_size, "cannot read maps of %d: %s", (int)p->pid,
                          strerror(-r));
                return r;
        }
        for (size_t i = 0; i < n_regions; i++) {
                if (!tracker_region_wants_uffd(&regions[i]))
                        continue;
                r = uffd_register_wp(p->uffd, p->pagemap_fd, regions[i].start, regions[i].end);
                if (r < 0)
                        log_debug("tracker: process %d: uffd refuses %#llx-%#llx: %s", (int)p->pid,
                                  (unsigned long long)regions[i].start,
                                  (unsigned long long)regions[i].end, strerror(-r));
                else
                        p->regions_armed++;
        }
        procmaps_free(regions, n_regions);
        return 0;
}

/* Step 3: 0 armed with a userfaultfd, 1 tracked by soft-dirty or scanning
 * (ret_error says why), or -errno. */
static int track_write_protect(struct tracker *t, struct tproc *p, struct freezer *frozen,
                               char *ret_error, size_t error_size)
{
        char why[256] = "";
        int r, result = 0;

        if (p->uffd >= 0)
                r = 0; /* handed over by the process itself */
        else if (t->no_uffd) {
                r = -EOPNOTSUPP;
                snprintf(why, sizeof(why), "userfaultfd disabled");
        } else
                r = uffd_inject_create(p->pid, frozen, &p->uffd, NULL, why, sizeof(why));
        if (r == -ESRCH || r == -EBUSY) {
                set_error(ret_error, error_size, "%s", why);
                return r;
        }
        if (r < 0) {
                p->uffd = -EBADF;
                p->mode = uffd_soft_dirty_supported() ? CKPT_TRACK_SOFT_DIRTY : CKPT_TRACK_SCAN;
                set_error(ret_error, error_size, "%s; tracking by %s", why,
                          ckpt_track_mode_to_string(p->mode));
                log_debug("tracker: process %d: %s", (int)p->pid, ret_error ? ret_error : why);
                result = 1;
        } else {
                p->mode = CKPT_TRACK_UFFD_WP;
                r = track_register_regions(p, ret_error, error_size);
                if (r < 0)
                        return r;
        }
        if (p->mode == CKPT_TRACK_SOFT_DIRTY)
                uffd_soft_dirty_clear(p->pid);
        return result;
}

/* Step 4: p in place of the process's old state, or added; p is taken
 * unless -ENOMEM. */
static int track_install(struct tracker *t, struct tproc *p)
{
        struct tproc *old;

        pthread_mutex_lock(&t->lock);
        tracker_drain(t); /* events of the old state, if re-arming, are moot now */
        old = tracker_find(t, p->pid);
        if (old) {
                for (size_t i = 0; i < t->n_procs; i++)
                        if (t->procs[i] == old)
                                t->procs[i] = p;
                tproc_free(old);
        } else {
                if (t->n_procs == t->n_procs_alloc) {
                        size_t k = t->n_procs_alloc ? t->n_procs_alloc * 2 : 16;
                        struct tproc **v = reallocarray(t->procs, k, sizeof(*v));

                        if (!v) {
                                tracker_dispatch_and_unlock(t);
                                return -ENOMEM;
                        }
                        t->procs = v;
                        t->n_procs_alloc = k;
                }
                t->procs[t->n_procs++] = p;
        }
        tracker_dispatch_and_unlock(t);
        return 0;
}

static int track_arm(struct tracker *t, pid_t pid, struct freezer *frozen, int passed_uffd,
                     char *ret_error, size_t error_size)
{
        struct tproc *p = NULL;
        pid_t tgid;
        int r, result;

        r = read_tgid(pid, &tgid);
        if (r < 0) {
                safe_close(passed_uffd);
                set_error(ret_error, error_size, "process %d: %s", (int)pid, strerror(-r));
                return r;
        }
        track_release_old(t, tgid);

        r = track_open_state(t, pid, tgid, passed_uffd, &p, ret_error, error_size);
        if (r < 0 && !p)
                return r; /* -ENOMEM, nothing done */
        if (r < 0)
                goto fail;
        r = result = track_write_protect(t, p, frozen, ret_error, error_size);
        if (r < 0)
                goto fail;
        r = track_install(t, p);
        if (r < 0)
                goto fail;
        return result;

fail:
        if (!tracker_is_tracked(t, tgid))
                tracker_bpf_remove_proc(t, tgid);
        tproc_free(p);
        return r;
}

/* The hooks go on before the process is marked tracked, so that nothing it
 * does from then on is missed. */
static int track_internal(struct tracker *t, pid_t pid, struct freezer *frozen, int passed_uffd,
                          char *ret_error, size_t error_size)
{
        int r;

        pthread_mutex_lock(&t->lock);
        t->arming++;
        (void)tracker_hooks_attach(t); /* without them: uffd and scans alone, still exact */
        pthread_mutex_unlock(&t->lock);

        r = track_arm(t, pid, frozen, passed_uffd, ret_error, error_size);

        pthread_mutex_lock(&t->lock);
        t->arming--;
        hooks_release(t);
        pthread_mutex_unlock(&t->lock);
        return r;
}

int tracker_track(struct tracker *t, pid_t pid, struct freezer *frozen, char *ret_error,
                  size_t error_size)
{
        return track_internal(t, pid, frozen, -EBADF, ret_error, error_size);
}

int tracker_track_uffd(struct tracker *t, pid_t pid, int uffd, char *ret_error, size_t error_size)
{
        int r = check_passed_uffd(uffd);

        if (r < 0) {
                set_error(ret_error, error_size,
                          r == -EOPNOTSUPP ? "the userfaultfd lacks async write-protect features"
                                           : "the descriptor is not a userfaultfd");
                safe_close(uffd);
                return r;
        }
        return track_internal(t, pid, NULL, uffd, ret_error, error_size);
}

bool tracker_is_tracked(struct tracker *t, pid_t pid)
{
        bool b;

        pthread_mutex_lock(&t->lock);
        b = tracker_find(t, pid) != NULL;
        pthread_mutex_unlock(&t->lock);
        return b;
}

int tracker_untrack(struct tracker *t, pid_t pid)
{
        struct tproc *p = NULL;

        pthread_mutex_lock(&t->lock);
        for (size_t i = 0; i < t->n_procs; i++)
                if (t->procs[i]->pid == pid) {
                        p = t->procs[i];
                        t->procs[i] = t->procs[--t->n_procs];
                        break;
                }
        if (p)
                tracker_bpf_forget(t, pid);
        hooks_release(t);
        pthread_mutex_unlock(&t->lock);
        if (!p)
                return -ENOENT;
        /* Closing the userfaultfd unregisters every range: the process runs on. */
        tproc_free(p);
        return 0;
}

int tracker_get_stats(struct tracker *t, pid_t pid, struct tracker_stats *ret)
{
        struct ckpt_proc_stats s;
        struct tproc *p;
        int r = 0;

        pthread_mutex_lock(&t->lock);
        p = tracker_find(t, pid);
        if (!p) {
                r = -ENOENT;
                goto out;
        }
        *ret = (struct tracker_stats){
                .mode = p->mode,
                .collects = p->collects,
                .regions_armed = p->regions_armed,
                .last_dirty = p->last_dirty,
                .kept_writable = p->kept_writable,
        };
        if (tracker_bpf_proc_stats(t, pid, &s) == 0) {
                ret->write_faults = s.write_faults;
                ret->dirty_marks = s.dirty_marks;
                ret->events = s.events;
                ret->lost_events = s.lost_events;
                ret->lost_marks = s.lost_marks;
                ret->overflow = (uint32_t)s.overflow;
        }
out:
        pthread_mutex_unlock(&t->lock);
        return r;
}

/* Set one flag of pid's state: offset is offsetof(struct tproc, FLAG). */
static int set_flag(struct tracker *t, pid_t pid, size_t offset, bool on)
{
        struct tproc *p;

        pthread_mutex_lock(&t->lock);
        p = tracker_find(t, pid);
        if (p)
                *(bool *)((char *)p + offset) = on;
        pthread_mutex_unlock(&t->lock);
        return p ? 0 : -ENOENT;
}

int tracker_count_writes(struct tracker *t, pid_t pid, bool on)
{
        return set_flag(t, pid, offsetof(struct tproc, count_writes), on);
}

int tracker_invalidate(struct tracker *t, pid_t pid)
{
        return set_flag(t, pid, offsetof(struct tproc, need_full), true);
}

int tracker_set_base(struct tracker *t, pid_t pid, uint64_t id)
{
        struct tproc *p;

        pthread_mutex_lock(&t->lock);
        p = tracker_find(t, pid);
        if (p)
                p->base_id = id;
        pthread_mutex_unlock(&t->lock);
        return p ? 0 : -ENOENT;
}

uint64_t tracker_base(struct tracker *t, pid_t pid)
{
        struct tproc *p;
        uint64_t id;

        pthread_mutex_lock(&t->lock);
        p = tracker_find(t, pid);
        id = p ? p->base_id : 0;
        pthread_mutex_unlock(&t->lock);
        return id;
}
