/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * tracker.h: which pages of a tracked process were written since its last
 * checkpoint. This module owns the BPF skeleton (tracker.bpf.c: the `tracked`
 * map, the dirty bitmaps, the ring buffer of address-space events, per-process
 * counters) and the per-process arming state (the userfaultfd taken out of the
 * target, its pagemap fd, address-space changes not yet collected). It never
 * reads page contents and never freezes a process: the checkpoint engine does.
 * It is three files (tracker-internal.h says which owns what): tracker.c
 * (processes and their arming), tracker-bpf.c (the skeleton, hooks, ring
 * buffer, maps) and tracker-collect.c (the dirty set).
 *
 * Sources of truth, per region of a tracked process:
 *   UFFD_WP     the region is registered on the process's userfaultfd in
 *               async write-protect mode. PAGEMAP_SCAN(PAGE_IS_WRITTEN,
 *               PM_SCAN_WP_MATCHING) returns the written pages and protects
 *               them again in one step. Union with the BPF write-fault bitmap
 *               and with the ranges that address-space events (madvise zap,
 *               mmap, mremap, brk) touched since the last collect. Pages
 *               written in two intervals in a row are not protected again
 *               for keep_writable collects (they report WRITTEN, so they are
 *               listed every time). Of a private file mapping, the pages that
 *               are still the file's (page cache, not faulted in) are listed
 *               at every collect (the file can change under them) unless the
 *               file's stamp equals the last collect's (filestamp.h).
 *   SOFT_DIRTY  no userfaultfd, but the kernel has soft-dirty: pagemap bit 55,
 *               then clear_refs 4.
 *   SCAN        nothing can tell: read the whole region. So for shared
 *               mappings (memfd, /dev/shm, MAP_SHARED of a file): another
 *               process can write them through its own page tables, or
 *               write() the file, which no protection of this process sees.
 *               Shared anonymous memory and SysV shm whose only mapper is the
 *               process, proven (shmseg.h), are UFFD_WP like private memory,
 *               every page table entry protected (empty ones too), and an
 *               entry found empty counts as written; until proven, after a
 *               fork, or where the kernel cannot write-protect shmem (probed
 *               at start), SCAN. Also for non-writable mappings never
 *               registered.
 * Pages that madvise(MADV_FREE) handed to the kernel are listed at every
 * collect until the range is unmapped (reclaim may zero them silently).
 * Without BPF (mode "none") madvise zaps are not seen: pages zapped by
 * MADV_DONTNEED read as unchanged; the engine should treat a page that is
 * neither present nor swapped but had data in the parent as zero.
 * A region is also read whole when it is new (just registered), on the first
 * collect after tracker_track(), after the BPF maps overflowed, after an exec,
 * or after tracker_invalidate().
 *
 * The fault and syscall programs are attached only while some process is
 * tracked or being armed; the sched programs always.
 *
 * Thread safety: every call takes the tracker's lock; tracker_consume() (the
 * event loop) and tracker_collect() (a worker) may run concurrently.
 * tracker_track() does its ptrace work without the lock, on the calling
 * thread, which must not be the event loop (it may take milliseconds).
 */
#pragma once

#include <linux/types.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ckpt/events.h"
#include "manifest.h"

struct tracker;
struct freezer;

struct tracker_options {
        uint32_t max_windows;   /* dirty bitmap entries (2 MiB each); 0: 65536 */
        uint32_t max_tracked;   /* processes; 0: 4096 */
        uint32_t ringbuf_bytes; /* power of two; 0: 1 MiB */
        bool no_bpf;            /* do not load BPF (mode "none") */
        bool no_fentry;         /* do not even probe fentry/handle_mm_fault */
        bool no_uffd;           /* never inject a userfaultfd (SCAN / soft-dirty) */
        /* Pages written in two intervals in a row are left writable, and read
         * at every checkpoint, for up to this many collects before all are
         * write-protected again; 0: every page is protected at every collect. */
        uint32_t keep_writable;
};

/* Per-process figures, for status. */
struct tracker_stats {
        uint64_t write_faults, dirty_marks, events, lost_events, lost_marks;
        uint32_t overflow;      /* CKPT_PROC_OVERFLOW_* not yet collected */
        uint32_t mode;          /* enum ckpt_track_mode of the process as a whole */
        uint64_t collects;      /* tracker_collect() calls */
        uint64_t regions_armed; /* regions registered on the uffd */
        uint64_t last_dirty;    /* dirty pages in the last collect */
        uint64_t kept_writable; /* pages the last collect left writable */
};

typedef void (*tracker_event_handler_t)(const struct ckpt_event *ev, void *userdata);

/* Never fails because BPF cannot load: the tracker then runs in mode "none"
 * (scanning only). -ENOMEM etc. only. */
int tracker_new(const struct tracker_options *o, struct tracker **ret);
struct tracker *tracker_free(struct tracker *t);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct tracker *, tracker_free);

/* "fentry", "tracepoint" or "none". */
const char *tracker_bpf_mode(struct tracker *t);
/* The fault and syscall programs are attached (a process is tracked): they
 * cost every process on the machine something, so only then. */
bool tracker_hooks_attached(struct tracker *t);

/* The ring buffer's epoll fd (-EOPNOTSUPP without BPF); when it is readable,
 * call tracker_consume(), which handles every queued event (and calls the
 * handler for each) and returns how many, or -errno. */
int tracker_ring_fd(struct tracker *t);
int tracker_consume(struct tracker *t);
void tracker_set_handler(struct tracker *t, tracker_event_handler_t h, void *userdata);
/* Report the exec of every process (CKPT_EV_EXEC), not only of tracked ones:
 * for policies that match processes started later. No-op without BPF. The
 * handler may run on any thread that calls into the tracker. */
void tracker_watch_exec(struct tracker *t, bool on);

/*
 * Start tracking pid (a process, any thread id is turned into its tgid):
 * add it to the BPF filter and arm write tracking (uffd injection, register
 * every writable private mapping). frozen NULL: seizes and releases the
 * process itself; otherwise the caller's freezer holds every thread (this
 * thread is their tracer) and they stay frozen. Calling it for a tracked
 * process re-arms it (after an exec, say).
 * Returns 0 when armed with uffd, 1 when tracked without uffd (soft-dirty or
 * scanning: ret_error, if given, says why), or -errno (-ESRCH, -EPERM, -EBUSY
 * if another tracer holds it).
 */
int tracker_track(struct tracker *t, pid_t pid, struct freezer *frozen, char *ret_error,
                  size_t error_size);
/* Cooperative tracking: the process created its own userfaultfd (async
 * write-protect features, UFFDIO_API done) and handed it over; uffd is taken
 * (closed on error too). No ptrace at all. Returns like tracker_track();
 * -EBADF: not a userfaultfd, -EOPNOTSUPP: without the async features. */
int tracker_track_uffd(struct tracker *t, pid_t pid, int uffd, char *ret_error, size_t error_size);

/* Stop tracking: the userfaultfd is closed (the kernel unregisters it), the
 * process keeps running unaffected. -ENOENT if not tracked. */
int tracker_untrack(struct tracker *t, pid_t pid);
bool tracker_is_tracked(struct tracker *t, pid_t pid);

int tracker_get_stats(struct tracker *t, pid_t pid, struct tracker_stats *ret);

/* The pages the BPF write-fault bitmaps hold for pid right now (sorted,
 * malloc'ed), without resetting them: an estimate of the dirty size between
 * checkpoints (faults only; the collect is authoritative). -EOPNOTSUPP
 * without BPF. */
int tracker_bpf_pages(struct tracker *t, pid_t pid, uint64_t **ret_pages, size_t *ret_n);

/* Run-time figures of each loaded BPF program (needs
 * kernel.bpf_stats_enabled=1 to count). */
typedef void (*tracker_prog_stats_fn)(const char *name, uint64_t run_time_ns, uint64_t run_cnt,
                                      void *userdata);
int tracker_prog_stats(struct tracker *t, tracker_prog_stats_fn fn, void *userdata);

/* on: keep no page writable for pid, so that every write after a collect
 * faults and counts in write_faults (a dirty-size trigger needs that). */
int tracker_count_writes(struct tracker *t, pid_t pid, bool on);

/* Forget what the next collect would have said: it reads everything. The
 * engine calls it when a checkpoint is not committed after a collect. */
int tracker_invalidate(struct tracker *t, pid_t pid);
/* The checkpoint committed from the last collect of pid (the engine sets it
 * after each commit): the next collect's dirty set is relative to it, and to
 * no other parent (one deleted since leaves an older parent the pages
 * written in between would be missing from). 0: none known. */
int tracker_set_base(struct tracker *t, pid_t pid, uint64_t id);
uint64_t tracker_base(struct tracker *t, pid_t pid);

/*
 * The result of a collect: regions[i] answers for the i-th region passed in.
 *
 *   track    enum ckpt_track_mode used for the region (UFFD_WP, SOFT_DIRTY,
 *            SCAN); store it in the manifest's region table, with reason
 *            and reason_arg (enum ckpt_track_reason: shared memory says why
 *            it was tracked exactly or read whole).
 *   whole    read every page of [start, end); pages is NULL.
 *   pages    otherwise: the pages to read, sorted, unique, page aligned,
 *            inside [start, end). Pages not listed are unchanged since the
 *            previous collect. A listed page may read as zeroes (madvise).
 */
struct tracker_dirty_region {
        uint64_t start, end;
        uint32_t track;
        uint32_t reason;     /* enum ckpt_track_reason: why track, for the manifest */
        uint64_t reason_arg; /* the pid or count it names */
        bool whole;
        uint64_t *pages;
        size_t n_pages;
};

struct tracker_dirty {
        struct tracker_dirty_region *regions;
        size_t n_regions;
        uint64_t n_dirty; /* listed pages + pages of whole regions */
        bool rearm;       /* the address space was replaced (exec): call tracker_track()
                           * again after the process runs */
};

struct tracker_dirty *tracker_dirty_free(struct tracker_dirty *d);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct tracker_dirty *, tracker_dirty_free);

/*
 * Called by the engine while pid is frozen, with the regions it is about to
 * read (sorted, from /proc/PID/maps). Re-arms write tracking as it goes, so
 * the pages it lists must be read before the process runs again. Registers
 * newly appeared writable mappings (read whole this time), resets the BPF
 * bitmaps of the process. -ENOENT: pid is not tracked (read everything).
 */
int tracker_collect(struct tracker *t, pid_t pid, const struct ckpt_region *regions, size_t n,
                    struct tracker_dirty **ret);

/*
 * The same answer as tracker_collect() would give now, without consuming it:
 * nothing is re-protected, registered or reset, so the next collect still
 * reports every page reported here. For a restore, which must know what the
 * process wrote since its last checkpoint but leaves that to the next one.
 * Soft-dirty regions are reported whole (reading clears nothing, but there is
 * no cheaper way to look).
 */
int tracker_peek(struct tracker *t, pid_t pid, const struct ckpt_region *regions, size_t n,
                 struct tracker_dirty **ret);
