/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * tracker-internal.h: the tracker's insides, shared by its three files and
 * by nobody else (the rest of the daemon sees tracker.h only):
 *   tracker.c          per-process state (struct tproc), the event handler,
 *                      arming (tracker_track*), the public API on processes;
 *                      what a ring buffer event means for the next collect.
 *   tracker-bpf.c      the BPF skeleton (tracker.bpf.c): open, size, load,
 *                      attach, the fault and syscall hooks attached on demand,
 *                      the ring buffer read into the queue, every map access.
 *                      The only file that includes tracker.skel.h.
 *   tracker-collect.c  the dirty set (tracker_collect(), tracker_peek()) and
 *                      the pages kept writable between collects.
 * Calls go one way: tracker-collect.c uses the other two, tracker.c uses
 * tracker-bpf.c, tracker-bpf.c uses neither. This header includes nothing of
 * tracker.h (the modules that include it include that themselves).
 *
 * Locking: struct tracker's lock guards every field below; each function
 * declared here expects it held unless it says otherwise. Errors are
 * negative errno, as in tracker.h.
 */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ckpt/events.h"
#include "shmseg.h"

struct ckpt_region;     /* manifest.h */
struct file_stamp;      /* filestamp.h */
struct ring_buffer;     /* libbpf */
struct tracker_bpf;     /* tracker.skel.h */
struct tracker_options; /* tracker.h */

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
        uint64_t base_id; /* tracker_set_base() */
        /* Pages kept writable: the runs the scans leave unprotected, the
         * pages the last collect's scans reported (sorted), the collects
         * since every page was last protected, and how many pages the last
         * collect left writable. */
        struct ranges hot;
        uint64_t *written;
        size_t n_written;
        uint64_t hot_age, kept_writable;
        bool count_writes; /* keep nothing writable: every write must fault */
        /* The stamps of the files behind its writable private file mappings
         * at the last collect (filestamp.h), ascending by start: an equal
         * stamp now means the pages still the file's need no read. */
        struct file_stamp *stamps;
        size_t n_stamps;
        /* Shared segments met by the collects (shmseg.h), and the forks of
         * the process (and times events were lost) since it was armed. */
        struct shmseg *segs;
        size_t n_segs, a_segs;
        uint64_t forks;
};

struct tracker {
        pthread_mutex_t lock;
        /* The settings of struct tracker_options used after tracker_new(). */
        bool no_uffd;
        uint32_t keep_writable;
        struct shmseg_caps shm; /* probed by tracker_new() */

        /* tracker-bpf.c's. skel NULL: mode "none", every map access a no-op. */
        struct tracker_bpf *skel;
        bool batch_ok; /* the kernel has batch map operations (until one fails) */
        /* The fault and syscall programs are attached only while a process
         * is tracked or being armed (see tracker_hooks_attach()). */
        bool hooks_attached;
        struct ring_buffer *rb;
        const char *bpf_mode;
        /* events read from the ring buffer, handed to the handler unlocked */
        struct ckpt_event *queue;
        size_t n_queue, n_queue_alloc;

        /* tracker.c's. */
        unsigned arming;
        void (*handler)(const struct ckpt_event *ev, void *userdata);
        void *userdata;
        struct tproc **procs;
        size_t n_procs, n_procs_alloc;
};

/* ---- tracker.c ---- */

int tracker_ranges_add(struct ranges *r, uint64_t start, uint64_t end);
void tracker_ranges_clear(struct ranges *r);
struct tproc *tracker_find(struct tracker *t, pid_t pid);
/* Whether a region is write-protected on the process's userfaultfd: private
 * and writable. */
bool tracker_region_wants_uffd(const struct ckpt_region *r);
/* Read the ring buffer and apply what it says to the processes; the events
 * stay queued for tracker_dispatch_and_unlock(). Returns how many, or -errno. */
int tracker_drain(struct tracker *t);
/* Hand queued events to the handler. Called with the lock held, returns with
 * it released. */
void tracker_dispatch_and_unlock(struct tracker *t);

/* ---- tracker-bpf.c ---- */

/* Load and attach the programs (fentry if the kernel allows it and
 * o->no_fentry is unset, tracepoints otherwise), then detach the hooks
 * (nothing is tracked yet) and open the ring buffer. Sets t->bpf_mode. BPF
 * that cannot load is not an error (mode "none"); -ENOMEM etc. only. Lock
 * not needed: t is not shared yet. */
int tracker_bpf_setup(struct tracker *t, const struct tracker_options *o);
/* The ring buffer and the skeleton freed; NULL is fine. */
void tracker_bpf_teardown(struct tracker *t);

int tracker_hooks_attach(struct tracker *t);
void tracker_hooks_detach(struct tracker *t);

/* ring_buffer__consume() into t->queue: what it returns; 0 without BPF. */
int tracker_bpf_read_ring(struct tracker *t);

/* Map accesses; no lock needed (the maps are the kernel's). */
/* Zero the process's counters and add it to `tracked`. */
int tracker_bpf_add_proc(struct tracker *t, pid_t tgid);
/* Take it out of `tracked` (counters and bitmaps stay). */
void tracker_bpf_remove_proc(struct tracker *t, pid_t tgid);
/* Take it out of every map. */
void tracker_bpf_forget(struct tracker *t, pid_t pid);
/* Its counters: -ENOENT if it has none (or without BPF). */
int tracker_bpf_proc_stats(struct tracker *t, pid_t pid, struct ckpt_proc_stats *ret);

/* The pages of pid's write-fault bitmaps appended to *pages (unsorted), and
 * *ret_overflow set if its maps overflowed; both reset unless peek. Lock
 * held, pid frozen. */
int tracker_bpf_take(struct tracker *t, pid_t pid, uint64_t **pages, size_t *n, size_t *n_alloc,
                     bool peek, bool *ret_overflow);
