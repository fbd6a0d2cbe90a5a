/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * tracker.c: the daemon half of dirty-page tracking (see tracker.h): loads
 * and attaches tracker.bpf.c (fentry where the kernel allows tracing
 * programs, tracepoints otherwise, nothing when BPF is unavailable), keeps
 * per-process arming state, applies the ring buffer's address-space events
 * and answers tracker_collect(). It never reads page contents.
 */
#include "tracker.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ckpt/uapi.h"
#include "log.h"
#include "macro.h"
#include "proc-util.h"
#include "procmaps.h"
#include "tracker.skel.h"
#include "inject.h"
#include "pagemap-scan.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

/* Past this many uncollected forced ranges a process is simply read whole. */
#define FORCED_MAX 4096
/* A region whose forced pages exceed this is read whole rather than listed. */
#define FORCED_PAGES_MAX (1u << 20)
/* Pages kept writable (see "Pages kept writable" below): runs closer than
 * this merge into one (fewer scans); past so many runs, or so many pages
 * written in one interval, every page is protected again. */
#define HOT_GAP_PAGES 8
#define HOT_RANGES_MAX 4096
#define HOT_WRITTEN_MAX (1u << 20)

struct range {
        uint64_t start, end;
};

struct ranges {
        struct range *v;
        size_t n, n_alloc;
};

struct tproc {
        pid_t pid; /* tgid */
        int pidfd, uffd, pagemap_fd;
        uint32_t mode;  /* enum ckpt_track_mode of the process */
        bool need_full; /* next collect reads everything */
        bool rearm;     /* the address space was replaced */
        bool exited;
        struct ranges forced; /* touched by events since the last collect */
        struct ranges lazy;   /* MADV_FREE: may turn to zero at any time */
        uint64_t collects, regions_armed, last_dirty;
        /* Pages kept writable: the runs the scans leave unprotected, the
         * pages the last collect's scans reported (sorted), the collects
         * since every page was last protected, and how many pages the last
         * collect left writable. */
        struct ranges hot;
        uint64_t *written;
        size_t n_written;
        uint64_t hot_age, kept_writable;
        bool count_writes; /* keep nothing writable: every write must fault */
};

struct tracker {
        pthread_mutex_t lock;
        struct tracker_options opts;
        struct tracker_bpf *skel;
        bool batch_ok; /* the kernel has batch map operations (until one fails) */
        /* The fault and syscall programs are attached only while a process
         * is tracked or being armed (see hooks_attach()). */
        bool hooks_attached;
        unsigned arming;
        struct ring_buffer *rb;
        const char *bpf_mode;
        tracker_event_handler_t handler;
        void *userdata;
        struct tproc **procs;
        size_t n_procs, n_procs_alloc;
        /* events read from the ring buffer, handed to the handler unlocked */
        struct ckpt_event *queue;
        size_t n_queue, n_queue_alloc;
};

static int ranges_add(struct ranges *r, uint64_t start, uint64_t end)
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
                        k = ranges_add(&out, v.start, v.end);
                } else {
                        if (v.start < start)
                                k = ranges_add(&out, v.start, start);
                        if (k >= 0 && v.end > end)
                                k = ranges_add(&out, end, v.end);
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

static void ranges_clear(struct ranges *r)
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
        ranges_clear(&p->forced);
        ranges_clear(&p->lazy);
        ranges_clear(&p->hot);
        free(p->written);
        free(p);
        return NULL;
}

static struct tproc *tracker_find(struct tracker *t, pid_t pid)
{
        for (size_t i = 0; i < t->n_procs; i++)
                if (t->procs[i]->pid == pid)
                        return t->procs[i];
        return NULL;
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
        char buf[512];

        if (log_max_level < LOG_DEBUG)
                return 0;
        vsnprintf(buf, sizeof(buf), fmt, ap);
        buf[strcspn(buf, "\n")] = 0;
        log_debug("tracker: libbpf: %s", buf);
        return 0;
}

/* Tracepoint attachment looks tracepoint ids up in tracefs. */
static void ensure_tracefs(void)
{
        if (access("/sys/kernel/tracing/events", F_OK) == 0 ||
            access("/sys/kernel/debug/tracing/events", F_OK) == 0)
                return;
        if (mount("tracefs", "/sys/kernel/tracing", "tracefs", 0, NULL) < 0)
                log_debug("tracker: cannot mount tracefs, ignoring: %m");
}

static int on_ring_event(void *ctx, void *data, size_t size)
{
        struct tracker *t = ctx;

        if (size < sizeof(struct ckpt_event))
                return 0;
        if (t->n_queue == t->n_queue_alloc) {
                size_t k = t->n_queue_alloc ? t->n_queue_alloc * 2 : 64;
                struct ckpt_event *q = reallocarray(t->queue, k, sizeof(*q));

                if (!q)
                        return -ENOMEM;
                t->queue = q;
                t->n_queue_alloc = k;
        }
        memcpy(&t->queue[t->n_queue++], data, sizeof(struct ckpt_event));
        return 0;
}

/* ---- attaching on demand -------------------------------------------------
 *
 * Any syscall tracepoint in use sends every system call of every process on
 * the machine through the kernel's slow path (~70 ns each here), and the
 * page-fault tracepoints run a program at every fault of every process: a
 * cost to all, even with nothing tracked. So those programs are attached
 * only while a process is tracked or being armed; the sched programs (fork,
 * exec, exit: rare events, needed to find processes policies match at their
 * exec) stay attached. Lock held for both. */

static bool prog_always_attached(const char *name)
{
        return strncmp(name, "handle_sched_", 13) == 0;
}

static void hooks_detach(struct tracker *t)
{
        const struct bpf_object_skeleton *sk;
        __u64 key, next;

        if (!t->skel || !t->hooks_attached)
                return;
        sk = t->skel->skeleton;
        for (int i = 0; i < sk->prog_cnt; i++) {
                struct bpf_link **link = sk->progs[i].link;

                if (prog_always_attached(sk->progs[i].name) || !*link)
                        continue;
                bpf_link__destroy(*link);
                *link = NULL;
        }
        t->hooks_attached = false;
        /* A system call caught between its entry and its exit would be
         * matched with the wrong exit once attached again. */
        while (bpf_map_get_next_key(bpf_map__fd(t->skel->maps.pending), NULL, &next) == 0) {
                key = next;
                if (bpf_map_delete_elem(bpf_map__fd(t->skel->maps.pending), &key) < 0)
                        break;
        }
        log_debug("tracker: nothing tracked, fault and syscall programs detached");
}

static int hooks_attach(struct tracker *t)
{
        const struct bpf_object_skeleton *sk;

        if (!t->skel || t->hooks_attached)
                return 0;
        sk = t->skel->skeleton;
        for (int i = 0; i < sk->prog_cnt; i++) {
                struct bpf_program *prog = *sk->progs[i].prog;
                struct bpf_link **link = sk->progs[i].link;
                int r;

                if (prog_always_attached(sk->progs[i].name) || *link ||
                    !bpf_program__autoload(prog))
                        continue;
                *link = bpf_program__attach(prog);
                if (!*link) {
                        r = negative_errno();
                        *link = NULL;
                        t->hooks_attached = true; /* so that detach undoes the others */
                        hooks_detach(t);
                        return log_warning_errno(r, "tracker: cannot attach %s: %m",
                                                 sk->progs[i].name);
                }
        }
        t->hooks_attached = true;
        log_debug("tracker: fault and syscall programs attached");
        return 0;
}

static void hooks_release(struct tracker *t)
{
        if (t->n_procs == 0 && t->arming == 0)
                hooks_detach(t);
}

bool tracker_hooks_attached(struct tracker *t)
{
        bool b;

        pthread_mutex_lock(&t->lock);
        b = t->hooks_attached;
        pthread_mutex_unlock(&t->lock);
        return b;
}

/* Open, size, load and attach; fentry selects the write-fault hook. */
static int tracker_load(struct tracker *t, bool fentry)
{
        struct tracker_bpf *skel;
        int r;

        skel = tracker_bpf__open();
        if (!skel)
                return negative_errno();
        bpf_map__set_max_entries(skel->maps.dirty, t->opts.max_windows);
        bpf_map__set_max_entries(skel->maps.tracked, t->opts.max_tracked);
        bpf_map__set_max_entries(skel->maps.stats, t->opts.max_tracked);
        bpf_map__set_max_entries(skel->maps.events, t->opts.ringbuf_bytes);
        bpf_program__set_autoload(skel->progs.handle_mm_fault_entry, fentry);
        bpf_program__set_autoload(skel->progs.handle_page_fault_user, !fentry);
        bpf_program__set_autoload(skel->progs.handle_page_fault_kernel, !fentry);

        r = tracker_bpf__load(skel);
        if (r == 0)
                r = tracker_bpf__attach(skel);
        if (r < 0) {
                r = r == -1 ? negative_errno() : r;
                tracker_bpf__destroy(skel);
                return r;
        }
        t->skel = skel;
        return 0;
}

int tracker_new(const struct tracker_options *o, struct tracker **ret)
{
        struct tracker *t;
        int r;

        t = calloc(1, sizeof(*t));
        if (!t)
                return -ENOMEM;
        t->batch_ok = true;
        pthread_mutex_init(&t->lock, NULL);
        if (o)
                t->opts = *o;
        if (t->opts.max_windows == 0)
                t->opts.max_windows = 65536;
        if (t->opts.max_tracked == 0)
                t->opts.max_tracked = 4096;
        if (t->opts.ringbuf_bytes == 0)
                t->opts.ringbuf_bytes = 1u << 20;
        t->bpf_mode = "none";

        if (!t->opts.no_bpf) {
                libbpf_set_print(libbpf_print);
                ensure_tracefs();
                r = -EOPNOTSUPP;
                if (!t->opts.no_fentry) {
                        r = tracker_load(t, true);
                        if (r == 0)
                                t->bpf_mode = "fentry";
                        else
                                log_debug("tracker: fentry/handle_mm_fault unavailable (%s), "
                                          "using tracepoints",
                                          strerror(-r));
                }
                if (r < 0) {
                        r = tracker_load(t, false);
                        if (r == 0)
                                t->bpf_mode = "tracepoint";
                        else
                                log_warning_errno(r, "tracker: cannot load BPF programs, "
                                                     "falling back to scanning: %m");
                }
                /* Attached by the load (which is how fentry is probed);
                 * nothing is tracked yet. */
                t->hooks_attached = t->skel != NULL;
                hooks_detach(t);
                if (t->skel) {
                        t->rb = ring_buffer__new(bpf_map__fd(t->skel->maps.events), on_ring_event,
                                                 t, NULL);
                        if (!t->rb) {
                                r = negative_errno();
                                tracker_free(t);
                                return r;
                        }
                }
        }
        log_debug("tracker: BPF mode %s", t->bpf_mode);
        *ret = t;
        return 0;
}

static void bpf_forget(struct tracker *t, pid_t pid)
{
        struct ckpt_dirty_key key, next;
        __u32 tgid = pid;
        bool first = true;

        if (!t->skel)
                return;
        bpf_map_delete_elem(bpf_map__fd(t->skel->maps.tracked), &tgid);
        bpf_map_delete_elem(bpf_map__fd(t->skel->maps.stats), &tgid);
        /* Delete this process's bitmaps; restart the walk after each delete. */
        for (;;) {
                bool found = false;

                first = true;
                while (bpf_map_get_next_key(bpf_map__fd(t->skel->maps.dirty), first ? NULL : &key,
                                            &next) == 0) {
                        first = false;
                        key = next;
                        if (key.tgid == tgid) {
                                bpf_map_delete_elem(bpf_map__fd(t->skel->maps.dirty), &key);
                                found = true;
                                break;
                        }
                }
                if (!found)
                        break;
        }
}

struct tracker *tracker_free(struct tracker *t)
{
        if (!t)
                return NULL;
        for (size_t i = 0; i < t->n_procs; i++)
                tproc_free(t->procs[i]);
        free(t->procs);
        free(t->queue);
        ring_buffer__free(t->rb);
        tracker_bpf__destroy(t->skel);
        pthread_mutex_destroy(&t->lock);
        free(t);
        return NULL;
}

const char *tracker_bpf_mode(struct tracker *t)
{
        return t->bpf_mode;
}

int tracker_ring_fd(struct tracker *t)
{
        if (!t->rb)
                return -EOPNOTSUPP;
        return ring_buffer__epoll_fd(t->rb);
}

void tracker_watch_exec(struct tracker *t, bool on)
{
        if (t->skel && t->skel->bss)
                t->skel->bss->watch_exec = on;
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
                r = ranges_add(&p->forced, e->start, e->start + e->len);
                if (r >= 0 && e->type == CKPT_EV_MADVISE && e->arg == CKPT_MADV_FREE)
                        r = ranges_add(&p->lazy, e->start, e->start + e->len);
                break;
        case CKPT_EV_MREMAP:
                r = ranges_add(&p->forced, e->new_start, e->new_start + e->new_len);
                break;
        case CKPT_EV_BRK:
                if (e->new_start > e->start)
                        r = ranges_add(&p->forced, e->start, e->new_start);
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
        case CKPT_EV_EXEC:
                p->rearm = true;
                p->need_full = true;
                break;
        case CKPT_EV_EXIT:
                if (e->arg) {
                        __u32 key = e->tgid;

                        /* The pid may be reused: stop recording it now. */
                        p->exited = true;
                        if (t->skel)
                                bpf_map_delete_elem(bpf_map__fd(t->skel->maps.tracked), &key);
                }
                break;
        default:
                break;
        }
        if (r < 0 || p->forced.n > FORCED_MAX) {
                p->need_full = true;
                ranges_clear(&p->forced);
        }
}

/* Read the ring buffer and apply what it says; queued events are handed out
 * by dispatch() once the lock is dropped. Lock held. */
static int drain(struct tracker *t)
{
        int r;

        if (!t->rb)
                return 0;
        size_t first = t->n_queue;
        r = ring_buffer__consume(t->rb);
        for (size_t i = first; i < t->n_queue; i++)
                apply_event(t, &t->queue[i]);
        return r < 0 ? r : (int)(t->n_queue - first);
}

/* Hand queued events to the handler. Called with the lock held, returns with
 * it released. */
static void dispatch_and_unlock(struct tracker *t)
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
        r = drain(t);
        dispatch_and_unlock(t);
        return r;
}

static bool region_wants_uffd(const struct ckpt_region *r)
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

static int track_arm(struct tracker *t, pid_t pid, struct freezer *frozen, int passed_uffd,
                     char *ret_error, size_t error_size);

/* The hooks go on before the process is marked tracked, so that nothing it
 * does from then on is missed. */
static int track_internal(struct tracker *t, pid_t pid, struct freezer *frozen, int passed_uffd,
                          char *ret_error, size_t error_size)
{
        int r;

        pthread_mutex_lock(&t->lock);
        t->arming++;
        (void)hooks_attach(t); /* without them: uffd and scans alone, still exact */
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

static int track_arm(struct tracker *t, pid_t pid, struct freezer *frozen, int passed_uffd,
                     char *ret_error, size_t error_size)
{
        struct tproc *p = NULL, *old;
        struct ckpt_region *regions = NULL;
        size_t n_regions = 0;
        char why[256] = "";
        pid_t tgid;
        int r, result = 0;

        r = read_tgid(pid, &tgid);
        if (r < 0) {
                safe_close(passed_uffd);
                set_error(ret_error, error_size, "process %d: %s", (int)pid, strerror(-r));
                return r;
        }

        /* Re-arming: let go of the old userfaultfd first, or its
         * registrations would make the new one's fail with EBUSY. */
        pthread_mutex_lock(&t->lock);
        old = tracker_find(t, tgid);
        if (old) {
                old->uffd = safe_close(old->uffd);
                old->need_full = true;
        }
        pthread_mutex_unlock(&t->lock);

        p = calloc(1, sizeof(*p));
        if (!p) {
                safe_close(passed_uffd);
                return -ENOMEM;
        }
        p->pid = tgid;
        p->uffd = p->pagemap_fd = -EBADF;
        p->need_full = true;
        p->uffd = passed_uffd; /* ours now, closed with p */
        p->pidfd = (int)syscall(SYS_pidfd_open, tgid, 0);
        if (p->pidfd < 0) {
                r = negative_errno();
                set_error(ret_error, error_size, "process %d: %s", (int)pid, strerror(-r));
                goto fail;
        }

        /* From here on, faults and address-space changes are recorded. */
        if (t->skel) {
                __u32 key = tgid, one = 1;
                struct ckpt_proc_stats zero = {};

                bpf_map_update_elem(bpf_map__fd(t->skel->maps.stats), &key, &zero, BPF_ANY);
                if (bpf_map_update_elem(bpf_map__fd(t->skel->maps.tracked), &key, &one, BPF_ANY) <
                    0) {
                        r = negative_errno();
                        set_error(ret_error, error_size, "cannot add process %d to BPF map: %s",
                                  (int)tgid, strerror(-r));
                        goto fail;
                }
        }

        p->pagemap_fd = uffd_open_pagemap(tgid);
        if (p->pagemap_fd < 0) {
                r = p->pagemap_fd;
                set_error(ret_error, error_size, "cannot open pagemap of %d: %s", (int)tgid,
                          strerror(-r));
                goto fail;
        }

        if (p->uffd >= 0)
                r = 0; /* handed over by the process itself */
        else if (t->opts.no_uffd) {
                r = -EOPNOTSUPP;
                snprintf(why, sizeof(why), "userfaultfd disabled");
        } else
                r = uffd_inject_create(tgid, frozen, &p->uffd, NULL, why, sizeof(why));
        if (r == -ESRCH || r == -EBUSY) {
                set_error(ret_error, error_size, "%s", why);
                goto fail;
        }
        if (r < 0) {
                p->uffd = -EBADF;
                p->mode = uffd_soft_dirty_supported() ? CKPT_TRACK_SOFT_DIRTY : CKPT_TRACK_SCAN;
                set_error(ret_error, error_size, "%s; tracking by %s", why,
                          ckpt_track_mode_to_string(p->mode));
                log_debug("tracker: process %d: %s", (int)tgid, ret_error ? ret_error : why);
                result = 1;
        } else {
                p->mode = CKPT_TRACK_UFFD_WP;
                r = procmaps_read(tgid, &regions, &n_regions);
                if (r < 0) {
                        set_error(ret_error, error_size, "cannot read maps of %d: %s", (int)tgid,
                                  strerror(-r));
                        goto fail;
                }
                for (size_t i = 0; i < n_regions; i++) {
                        if (!region_wants_uffd(&regions[i]))
                                continue;
                        r = uffd_register_wp(p->uffd, p->pagemap_fd, regions[i].start,
                                             regions[i].end);
                        if (r < 0)
                                log_debug("tracker: process %d: uffd refuses %#llx-%#llx: %s",
                                          (int)tgid, (unsigned long long)regions[i].start,
                                          (unsigned long long)regions[i].end, strerror(-r));
                        else
                                p->regions_armed++;
                }
                procmaps_free(regions, n_regions);
        }
        if (p->mode == CKPT_TRACK_SOFT_DIRTY)
                uffd_soft_dirty_clear(tgid);

        pthread_mutex_lock(&t->lock);
        drain(t); /* events of the old state, if re-arming, are moot now */
        old = tracker_find(t, tgid);
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
                                dispatch_and_unlock(t);
                                r = -ENOMEM;
                                goto fail;
                        }
                        t->procs = v;
                        t->n_procs_alloc = k;
                }
                t->procs[t->n_procs++] = p;
        }
        dispatch_and_unlock(t);
        return result;

fail:
        if (t->skel && !tracker_is_tracked(t, tgid)) {
                __u32 key = tgid;

                bpf_map_delete_elem(bpf_map__fd(t->skel->maps.tracked), &key);
        }
        tproc_free(p);
        return r;
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
                bpf_forget(t, pid);
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
        if (t->skel) {
                struct ckpt_proc_stats s;
                __u32 key = pid;

                if (bpf_map_lookup_elem(bpf_map__fd(t->skel->maps.stats), &key, &s) == 0) {
                        ret->write_faults = s.write_faults;
                        ret->dirty_marks = s.dirty_marks;
                        ret->events = s.events;
                        ret->lost_events = s.lost_events;
                        ret->lost_marks = s.lost_marks;
                        ret->overflow = (uint32_t)s.overflow;
                }
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

struct tracker_dirty *tracker_dirty_free(struct tracker_dirty *d)
{
        if (!d)
                return NULL;
        for (size_t i = 0; i < d->n_regions; i++)
                free(d->regions[i].pages);
        free(d->regions);
        free(d);
        return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
        uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

        return x < y ? -1 : x > y;
}

static void sort_unique(uint64_t *v, size_t *n)
{
        size_t k = 0;

        if (*n == 0)
                return;
        qsort(v, *n, sizeof(*v), cmp_u64);
        for (size_t i = 1; i < *n; i++)
                if (v[i] != v[k])
                        v[++k] = v[i];
        *n = k + 1;
}

/* Take (and reset) the BPF bitmaps and the overflow flags of a process.
 * Lock held. Pages go to *pages (unsorted). */
/* The bits of one window, as page addresses. */
static int push_window(const struct ckpt_dirty_key *k, const struct ckpt_dirty_bits *b,
                       uint64_t **pages, size_t *n, size_t *n_alloc)
{
        for (unsigned w = 0; w < CKPT_WINDOW_WORDS; w++)
                for (uint64_t bits = b->bits[w]; bits; bits &= bits - 1) {
                        unsigned bit = (unsigned)__builtin_ctzll(bits);
                        uint64_t addr =
                                (k->window << CKPT_WINDOW_SHIFT) + ((uint64_t)(w * 64 + bit) << 12);
                        int r = uffd_pages_push(pages, n, n_alloc, addr);

                        if (r < 0)
                                return r;
                }
        return 0;
}

#define BATCH_ENTRIES 4096u

/*
 * Read the dirty windows of tgid with the batch operations: a few system
 * calls for the whole map instead of two per window. Only while the process
 * is frozen (its threads cannot fault, so nothing is set between the read and
 * the delete). -EOPNOTSUPP: the kernel has no batch operations for this map;
 * the caller walks it key by key.
 */
static int bpf_take_batch(int dfd, __u32 tgid, bool peek, uint64_t **pages, size_t *n,
                          size_t *n_alloc)
{
        _cleanup_free_ struct ckpt_dirty_key *keys = NULL, *mine = NULL;
        _cleanup_free_ struct ckpt_dirty_bits *vals = NULL;
        size_t n_mine = 0, a_mine = 0;
        __u64 in_batch = 0, out_batch = 0;
        bool first = true, done = false;
        LIBBPF_OPTS(bpf_map_batch_opts, opts);
        int r;

        keys = calloc(BATCH_ENTRIES, sizeof(*keys));
        vals = calloc(BATCH_ENTRIES, sizeof(*vals));
        if (!keys || !vals)
                return -ENOMEM;
        while (!done) {
                __u32 count = BATCH_ENTRIES;

                r = bpf_map_lookup_batch(dfd, first ? NULL : &in_batch, &out_batch, keys, vals,
                                         &count, &opts);
                if (r < 0 && errno != ENOENT)
                        return errno == EINVAL || errno == 524 /* ENOTSUPP */ || errno == EOPNOTSUPP
                                       ? -EOPNOTSUPP
                                       : -errno;
                done = r < 0; /* ENOENT: this was the last batch */
                first = false;
                in_batch = out_batch;
                for (__u32 i = 0; i < count; i++) {
                        if (keys[i].tgid != tgid)
                                continue;
                        r = push_window(&keys[i], &vals[i], pages, n, n_alloc);
                        if (r < 0)
                                return r;
                        if (peek)
                                continue;
                        if (n_mine == a_mine) {
                                size_t k = a_mine ? a_mine * 2 : 64;
                                struct ckpt_dirty_key *v = reallocarray(mine, k, sizeof(*v));

                                if (!v)
                                        return -ENOMEM;
                                mine = v;
                                a_mine = k;
                        }
                        mine[n_mine++] = keys[i];
                }
        }
        for (size_t i = 0; i < n_mine; i += BATCH_ENTRIES) {
                __u32 count = (__u32)MIN((size_t)BATCH_ENTRIES, n_mine - i);

                if (bpf_map_delete_batch(dfd, mine + i, &count, &opts) < 0 && errno != ENOENT)
                        return -errno;
        }
        return 0;
}

static int bpf_take(struct tracker *t, pid_t pid, uint64_t **pages, size_t *n, size_t *n_alloc,
                    bool peek, bool *ret_overflow)
{
        int dfd, sfd, r;
        struct ckpt_dirty_key key, next, *keys = NULL;
        size_t n_keys = 0, a_keys = 0;
        struct ckpt_proc_stats s;
        __u32 tgid = pid;
        bool first = true;

        *ret_overflow = false;
        if (!t->skel)
                return 0;
        dfd = bpf_map__fd(t->skel->maps.dirty);
        sfd = bpf_map__fd(t->skel->maps.stats);

        if (bpf_map_lookup_elem(sfd, &tgid, &s) == 0 && s.overflow) {
                *ret_overflow = true;
                if (!peek) {
                        s.overflow = 0;
                        bpf_map_update_elem(sfd, &tgid, &s, BPF_EXIST);
                }
        }

        if (t->batch_ok) {
                r = bpf_take_batch(dfd, tgid, peek, pages, n, n_alloc);
                if (r != -EOPNOTSUPP)
                        return r;
                t->batch_ok = false;
                *n = 0;
        }

        while (bpf_map_get_next_key(dfd, first ? NULL : &key, &next) == 0) {
                first = false;
                key = next;
                if (key.tgid != tgid)
                        continue;
                if (n_keys == a_keys) {
                        size_t k = a_keys ? a_keys * 2 : 64;
                        struct ckpt_dirty_key *v = reallocarray(keys, k, sizeof(*v));

                        if (!v) {
                                free(keys);
                                return -ENOMEM;
                        }
                        keys = v;
                        a_keys = k;
                }
                keys[n_keys++] = key;
        }
        for (size_t i = 0; i < n_keys; i++) {
                struct ckpt_dirty_bits b;

                if ((peek ? bpf_map_lookup_elem(dfd, &keys[i], &b)
                          : bpf_map_lookup_and_delete_elem(dfd, &keys[i], &b)) < 0)
                        continue;
                for (unsigned w = 0; w < CKPT_WINDOW_WORDS; w++)
                        for (uint64_t bits = b.bits[w]; bits; bits &= bits - 1) {
                                unsigned bit = (unsigned)__builtin_ctzll(bits);
                                uint64_t addr = (keys[i].window << CKPT_WINDOW_SHIFT) +
                                                ((uint64_t)(w * 64 + bit) << 12);

                                r = uffd_pages_push(pages, n, n_alloc, addr);
                                if (r < 0) {
                                        free(keys);
                                        return r;
                                }
                        }
        }
        free(keys);
        return 0;
}

int tracker_bpf_pages(struct tracker *t, pid_t pid, uint64_t **ret_pages, size_t *ret_n)
{
        _cleanup_free_ uint64_t *pages = NULL;
        struct ckpt_dirty_key key, next;
        size_t n = 0, n_alloc = 0;
        bool first = true;
        int dfd, r = 0;

        if (!t->skel)
                return -EOPNOTSUPP;
        pthread_mutex_lock(&t->lock);
        dfd = bpf_map__fd(t->skel->maps.dirty);
        while (r >= 0 && bpf_map_get_next_key(dfd, first ? NULL : &key, &next) == 0) {
                struct ckpt_dirty_bits b;

                first = false;
                key = next;
                if (key.tgid != (__u32)pid || bpf_map_lookup_elem(dfd, &key, &b) < 0)
                        continue;
                for (unsigned w = 0; r >= 0 && w < CKPT_WINDOW_WORDS; w++)
                        for (uint64_t bits = b.bits[w]; r >= 0 && bits; bits &= bits - 1)
                                r = uffd_pages_push(
                                        &pages, &n, &n_alloc,
                                        (key.window << CKPT_WINDOW_SHIFT) +
                                                ((uint64_t)(w * 64 + __builtin_ctzll(bits)) << 12));
        }
        pthread_mutex_unlock(&t->lock);
        if (r < 0)
                return r;
        sort_unique(pages, &n);
        *ret_pages = TAKE_PTR(pages);
        *ret_n = n;
        return 0;
}

int tracker_prog_stats(struct tracker *t, tracker_prog_stats_fn fn, void *userdata)
{
        struct bpf_program *prog;

        if (!t->skel)
                return -EOPNOTSUPP;
        bpf_object__for_each_program(prog, t->skel->obj)
        {
                struct bpf_prog_info info = {};
                __u32 len = sizeof(info);
                int fd = bpf_program__fd(prog);

                if (fd < 0 || bpf_obj_get_info_by_fd(fd, &info, &len) < 0)
                        continue;
                fn(bpf_program__name(prog), info.run_time_ns, info.run_cnt, userdata);
        }
        return 0;
}

/* Add the pages of ranges[] inside [start, end) to the region's list.
 * Returns 1 when there are too many to list: read the region whole. */
static int add_ranges(const struct ranges *rs, struct tracker_dirty_region *out, size_t *n_alloc)
{
        uint64_t total = 0;

        for (size_t i = 0; i < rs->n; i++) {
                uint64_t s = MAX(rs->v[i].start, out->start), e = MIN(rs->v[i].end, out->end);

                if (s >= e)
                        continue;
                total += (e - s) / PAGE_SIZE_4K;
                if (total > FORCED_PAGES_MAX || total * 2 > (out->end - out->start) / PAGE_SIZE_4K)
                        return 1;
                for (uint64_t a = s; a < e; a += PAGE_SIZE_4K) {
                        int r = uffd_pages_push(&out->pages, &out->n_pages, n_alloc, a);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

/* Drop the ranges that the collected regions (sorted) cover entirely; the
 * others still have pages nobody has reported. */
static void keep_uncovered(struct ranges *rs, const struct ckpt_region *regions, size_t n)
{
        size_t k = 0;

        for (size_t i = 0; i < rs->n; i++) {
                uint64_t cur = rs->v[i].start;

                for (size_t j = 0; j < n && cur < rs->v[i].end; j++)
                        if (regions[j].start <= cur && cur < regions[j].end)
                                cur = regions[j].end;
                if (cur < rs->v[i].end)
                        rs->v[k++] = rs->v[i];
        }
        rs->n = k;
}

/* ---- pages kept writable -------------------------------------------------
 *
 * Under userfaultfd write-protection every page written after a collect
 * costs the process one write-protect fault, and the next collect protects
 * it again. A page written in two intervals in a row is likely written in
 * the next one too (the working set of a server), so the scans leave such
 * pages writable: over a "hot" run they only report. That can never hide a
 * write: a page without the write-protect bit always reads WRITTEN, so a
 * page kept writable is read at every checkpoint, written or not. Keeping
 * a page writable trades its fault for a read (a copy, and with a kept copy
 * a comparison instead of a hash). Every keep_writable collects all pages
 * are protected again, so pages no longer written stop being read.
 */

static int cmp_range(const void *a, const void *b)
{
        const struct range *x = a, *y = b;

        return x->start < y->start ? -1 : x->start > y->start;
}

/* The first run of rs (sorted, disjoint) that ends above addr. */
static size_t hot_lower_bound(const struct ranges *rs, uint64_t addr)
{
        size_t lo = 0, hi = rs->n;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;

                if (rs->v[mid].end <= addr)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo;
}

/* PAGEMAP_SCAN over [start, end): the written pages, appended in order.
 * Re-protects them (rearm), except over the runs of hot, which only report;
 * *ret_kept counts the pages those leave writable. */
static int scan_uffd(struct tproc *p, uint64_t start, uint64_t end, bool rearm,
                     const struct ranges *hot, uint64_t **pages, size_t *n_pages, size_t *n_alloc,
                     uint64_t *ret_kept)
{
        uint64_t cur = start;
        int r;

        if (rearm && hot)
                for (size_t i = hot_lower_bound(hot, start); i < hot->n && hot->v[i].start < end;
                     i++) {
                        uint64_t s = MAX(hot->v[i].start, start), e = MIN(hot->v[i].end, end);
                        size_t before;

                        if (cur < s) {
                                r = uffd_scan_written(p->pagemap_fd, cur, s, true, pages, n_pages,
                                                      n_alloc);
                                if (r < 0)
                                        return r;
                        }
                        before = *n_pages;
                        r = uffd_scan_written(p->pagemap_fd, s, e, false, pages, n_pages, n_alloc);
                        if (r < 0)
                                return r;
                        *ret_kept += *n_pages - before;
                        cur = e;
                }
        if (cur >= end)
                return 0;
        return uffd_scan_written(p->pagemap_fd, cur, end, rearm, pages, n_pages, n_alloc);
}

struct hot_next {
        struct ranges hot;
        uint64_t *written;
        size_t n_written, a_written;
        size_t prev_cursor; /* in p->written: regions come in ascending order */
        bool overflow;
};

static void hot_next_done(struct hot_next *h)
{
        ranges_clear(&h->hot);
        free(h->written);
        *h = (struct hot_next){};
}

/* After the scan of [start, end) reported pages[0..n): remember them, keep
 * the runs of p->hot inside (when still in use), and make hot the pages
 * written in this interval and the last while protected (in p->written,
 * outside p->hot: a page kept writable reports WRITTEN whatever happens). */
static int hot_note_region(const struct tproc *p, struct hot_next *h, uint64_t start, uint64_t end,
                           const uint64_t *pages, size_t n, bool keep_old)
{
        uint64_t run_start = 0, run_end = 0;
        size_t hi, wi = h->prev_cursor;
        int r;

        if (h->overflow)
                return 0;
        if (h->n_written + n > HOT_WRITTEN_MAX) {
                h->overflow = true;
                return 0;
        }
        if (n > 0 && h->n_written + n > h->a_written) {
                size_t k = MAX(h->n_written + n, h->a_written * 2);
                uint64_t *v = reallocarray(h->written, k, sizeof(*v));

                if (!v)
                        return -ENOMEM;
                h->written = v;
                h->a_written = k;
        }
        if (n > 0)
                memcpy(h->written + h->n_written, pages, n * sizeof(*pages));
        h->n_written += n;

        if (keep_old)
                for (size_t i = hot_lower_bound(&p->hot, start);
                     i < p->hot.n && p->hot.v[i].start < end; i++) {
                        r = ranges_add(&h->hot, MAX(p->hot.v[i].start, start),
                                       MIN(p->hot.v[i].end, end));
                        if (r < 0)
                                return r;
                }
        /* pages, p->hot and p->written all ascend: one pass with cursors. */
        hi = hot_lower_bound(&p->hot, start);
        for (size_t i = 0; i < n; i++) {
                uint64_t a = pages[i];

                while (hi < p->hot.n && p->hot.v[hi].end <= a)
                        hi++;
                while (wi < p->n_written && p->written[wi] < a)
                        wi++;
                if ((hi < p->hot.n && p->hot.v[hi].start <= a) || wi == p->n_written ||
                    p->written[wi] != a)
                        continue;
                if (run_end != 0 && a <= run_end + HOT_GAP_PAGES * PAGE_SIZE_4K) {
                        run_end = a + PAGE_SIZE_4K;
                        continue;
                }
                if (run_end != 0) {
                        r = ranges_add(&h->hot, run_start, run_end);
                        if (r < 0)
                                return r;
                }
                run_start = a;
                run_end = a + PAGE_SIZE_4K;
        }
        h->prev_cursor = wi;
        if (run_end != 0)
                return ranges_add(&h->hot, run_start, run_end);
        return 0;
}

/* The runs sorted, merged where they overlap or nearly touch. */
static void hot_coalesce(struct ranges *rs)
{
        size_t k = 0;

        if (rs->n == 0)
                return;
        qsort(rs->v, rs->n, sizeof(*rs->v), cmp_range);
        for (size_t i = 1; i < rs->n; i++) {
                if (rs->v[i].start <= rs->v[k].end + HOT_GAP_PAGES * PAGE_SIZE_4K)
                        rs->v[k].end = MAX(rs->v[k].end, rs->v[i].end);
                else
                        rs->v[++k] = rs->v[i];
        }
        rs->n = k + 1;
}

/* The state the next collect starts from. */
static void hot_commit(struct tproc *p, struct hot_next *h, bool epoch_end)
{
        ranges_clear(&p->hot);
        free(p->written);
        p->written = NULL;
        p->n_written = 0;
        if (!h->overflow) {
                hot_coalesce(&h->hot);
                if (h->hot.n <= HOT_RANGES_MAX)
                        p->hot = h->hot;
                else
                        ranges_clear(&h->hot);
                p->written = h->written;
                p->n_written = h->n_written;
        } else
                hot_next_done(h);
        *h = (struct hot_next){};
        p->hot_age = epoch_end ? 0 : p->hot_age + 1;
}

/* Forget the pages listed for a region: it is read whole. */
static void region_whole(struct tracker_dirty_region *out)
{
        free(out->pages);
        out->pages = NULL;
        out->n_pages = 0;
}

/* peek: report without consuming anything: nothing is re-protected,
 * registered, reset or forgotten, so the next collect still sees it all. */
static int collect(struct tracker *t, pid_t pid, const struct ckpt_region *regions, size_t n,
                   bool peek, struct tracker_dirty **ret)
{
        _cleanup_free_ uint64_t *bpf_pages = NULL;
        _cleanup_(hot_next_done) struct hot_next hn = {};
        size_t n_bpf = 0, a_bpf = 0, j = 0;
        struct tracker_dirty *d = NULL;
        struct tproc *p;
        bool overflow = false, full, gone = false, track_hot, use_hot;
        uint64_t kept = 0;
        int r;

        d = calloc(1, sizeof(*d));
        if (!d)
                return -ENOMEM;
        d->regions = calloc(n ? n : 1, sizeof(*d->regions));
        if (!d->regions) {
                free(d);
                return -ENOMEM;
        }
        d->n_regions = n;

        pthread_mutex_lock(&t->lock);
        /* Step 1: every event up to now, and the BPF bitmaps. */
        drain(t);
        p = tracker_find(t, pid);
        if (!p) {
                r = -ENOENT;
                goto out;
        }
        if (p->exited) {
                r = -ESRCH;
                goto out;
        }
        r = bpf_take(t, pid, &bpf_pages, &n_bpf, &a_bpf, peek, &overflow);
        if (r < 0)
                goto out;
        sort_unique(bpf_pages, &n_bpf);
        full = p->need_full || overflow || p->rearm;
        track_hot = !peek && t->opts.keep_writable > 0 && !p->count_writes && !p->rearm;
        use_hot = track_hot && p->hot_age < t->opts.keep_writable;
        if (overflow)
                log_debug("tracker: process %d: BPF maps overflowed, reading everything", (int)pid);

        /* Step 2: per region, PAGEMAP_SCAN (re-arming) or registration. */
        for (size_t i = 0; i < n; i++) {
                const struct ckpt_region *rg = &regions[i];
                struct tracker_dirty_region *out = &d->regions[i];
                size_t a_pages = 0;

                out->start = rg->start;
                out->end = rg->end;
                out->track = CKPT_TRACK_SCAN;
                out->whole = true;

                if (gone || (rg->flags & (CKPT_REGION_SHARED | CKPT_REGION_SPECIAL)))
                        continue;

                if (p->mode == CKPT_TRACK_UFFD_WP && p->uffd >= 0) {
                        r = scan_uffd(p, rg->start, rg->end, !peek, use_hot ? &p->hot : NULL,
                                      &out->pages, &out->n_pages, &a_pages, &kept);
                        if (r == -ESRCH) {
                                /* The address space we armed is gone (exec). */
                                p->rearm = true;
                                gone = true;
                                continue;
                        }
                        if (r == -EPERM || r == -EINVAL) {
                                /* Not registered (new, remapped, or made writable):
                                 * arm it now and read it whole this time. */
                                region_whole(out);
                                if (peek || !region_wants_uffd(rg))
                                        continue;
                                r = uffd_register_wp(p->uffd, p->pagemap_fd, rg->start, rg->end);
                                if (r >= 0) {
                                        out->track = CKPT_TRACK_UFFD_WP;
                                        p->regions_armed++;
                                }
                                continue;
                        }
                        if (r < 0)
                                goto out;
                        out->track = CKPT_TRACK_UFFD_WP;
                        if (track_hot) {
                                r = hot_note_region(p, &hn, rg->start, rg->end, out->pages,
                                                    out->n_pages, use_hot);
                                if (r < 0)
                                        goto out;
                        }
                } else if (p->mode == CKPT_TRACK_SOFT_DIRTY) {
                        if (peek)
                                continue; /* no way to look without clearing */
                        if (!(rg->prot & PROT_WRITE) && !full)
                                continue;
                        r = uffd_soft_dirty_scan(p->pagemap_fd, rg->start, rg->end, &out->pages,
                                                 &out->n_pages, &a_pages);
                        if (r < 0) {
                                region_whole(out);
                                continue;
                        }
                        out->track = CKPT_TRACK_SOFT_DIRTY;
                } else
                        continue;

                if (full) {
                        region_whole(out);
                        continue;
                }
                /* A page of a private file mapping that the process never
                 * wrote is the file's page: it changes with the file, and no
                 * write fault or soft-dirty bit says so. Those pages are read
                 * at every checkpoint; the process's own copies only when
                 * written. */
                if ((rg->flags & (CKPT_REGION_FILE | CKPT_REGION_PRIVATE)) ==
                    (CKPT_REGION_FILE | CKPT_REGION_PRIVATE)) {
                        r = uffd_file_pages(p->pagemap_fd, rg->start, rg->end, &out->pages,
                                            &out->n_pages, &a_pages);
                        if (r < 0) {
                                region_whole(out);
                                continue;
                        }
                }

                /* Step 3: union with the BPF bitmap and the event ranges. */
                while (j < n_bpf && bpf_pages[j] < rg->start)
                        j++;
                for (size_t k = j; k < n_bpf && bpf_pages[k] < rg->end; k++) {
                        r = uffd_pages_push(&out->pages, &out->n_pages, &a_pages, bpf_pages[k]);
                        if (r < 0)
                                goto out;
                }
                r = add_ranges(&p->forced, out, &a_pages);
                if (r == 0)
                        r = add_ranges(&p->lazy, out, &a_pages);
                if (r < 0)
                        goto out;
                if (r > 0) {
                        region_whole(out);
                        continue;
                }
                sort_unique(out->pages, &out->n_pages);
                out->whole = false;
        }
        if (p->mode == CKPT_TRACK_SOFT_DIRTY && !gone && !peek)
                uffd_soft_dirty_clear(pid);

        for (size_t i = 0; i < n; i++)
                d->n_dirty += d->regions[i].whole
                                      ? (d->regions[i].end - d->regions[i].start) / PAGE_SIZE_4K
                                      : d->regions[i].n_pages;
        d->rearm = p->rearm;
        if (!peek) {
                if (track_hot && !gone)
                        hot_commit(p, &hn, !use_hot);
                else {
                        ranges_clear(&p->hot);
                        free(p->written);
                        p->written = NULL;
                        p->n_written = 0;
                        p->hot_age = 0;
                }
                p->kept_writable = gone ? 0 : kept;
                log_debug("tracker: process %d: %llu pages dirty, %llu of them kept writable; "
                          "%zu hot runs next",
                          (int)pid, (unsigned long long)d->n_dirty, (unsigned long long)kept,
                          p->hot.n);
                p->need_full = p->rearm; /* after an exec, until re-armed */
                keep_uncovered(&p->forced, regions, n);
                p->collects++;
                p->last_dirty = d->n_dirty;
        }
        r = 0;
out:
        dispatch_and_unlock(t);
        if (r < 0) {
                if (p && !peek)
                        tracker_invalidate(t, pid);
                tracker_dirty_free(d);
                return r;
        }
        *ret = d;
        return 0;
}

int tracker_collect(struct tracker *t, pid_t pid, const struct ckpt_region *regions, size_t n,
                    struct tracker_dirty **ret)
{
        return collect(t, pid, regions, n, false, ret);
}

int tracker_peek(struct tracker *t, pid_t pid, const struct ckpt_region *regions, size_t n,
                 struct tracker_dirty **ret)
{
        return collect(t, pid, regions, n, true, ret);
}
