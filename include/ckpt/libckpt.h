/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libckpt.h: the public C API of libckpt, the client library of ckptd.
 *
 * It drives the daemon over its Unix socket (Varlink, see ckpt/proto.h) with
 * one typed function per method of the io.ckptd interface, and offers the
 * in-process calls a program uses to checkpoint and restore its own memory
 * (ckpt_checkpoint_self(), ckpt_checkpoint_range(), ckpt_restore_range()).
 * It owns no daemon state and never links daemon code; it exposes no json-c
 * types, so it can evolve its JSON handling without breaking callers.
 *
 * Conventions:
 *   - Every function that can fail returns an int: >= 0 on success, a negative
 *     errno on failure. After a failure, ckpt_last_error() holds a one-line
 *     explanation, e.g. "no such process 123 (io.ckptd.NoSuchProcess)", and
 *     ckpt_last_error_name() the Varlink error name (NULL for local failures
 *     such as a closed socket).
 *   - Results are allocated by the library and returned through a `ret`
 *     pointer (which may be NULL when the caller does not want them); each
 *     result type has a ckpt_*_free() function that accepts NULL. Structs are
 *     only ever allocated by the library, so later versions may append fields.
 *   - Addresses are uint64_t; checkpoint ids are uint64_t, 0 meaning "none".
 *   - A struct ckpt_client is not thread-safe: use one per thread, or lock.
 *     A call blocks until the daemon answers.
 *
 * Error numbers of daemon errors:
 *   io.ckptd.NoSuchProcess -ESRCH      io.ckptd.NoSuchCheckpoint -ENOENT
 *   io.ckptd.PermissionDenied -EPERM   io.ckptd.InvalidRange -EINVAL
 *   io.ckptd.ProcessExited -ESRCH      io.ckptd.ProcessBusy -EBUSY
 *   io.ckptd.TrackingFailed -EOPNOTSUPP io.ckptd.StoreError -EIO
 *   io.ckptd.CorruptObject -EBADMSG    io.ckptd.ShapeMismatch -EILSEQ
 *   io.ckptd.TooManyRequests -EAGAIN   io.ckptd.ShuttingDown -ESHUTDOWN
 *   io.ckptd.Failed -EIO               org.varlink.service.MethodNotFound -EOPNOTSUPP
 *   org.varlink.service.InvalidParameter -EINVAL, io.ckptd.ProtocolError -EPROTO,
 *   anything else -EREMOTEIO. Transport: -ECONNRESET (daemon closed the
 *   connection), -EMSGSIZE (reply over CKPT_MAX_MESSAGE), -EBADMSG (reply not
 *   valid JSON), -ENOTCONN (the connection broke earlier).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Version of this API. Bumped on incompatible changes; ckpt_api_version()
 * reports the version of the library actually loaded. */
#define CKPT_API_VERSION 1

#ifndef CKPT_PUBLIC
#define CKPT_PUBLIC __attribute__((visibility("default")))
#endif

struct ckpt_client;

/* [start, end) of a process's address space. */
struct ckpt_addr_range {
        uint64_t start;
        uint64_t end;
};

/* Version of the library loaded at run time (CKPT_API_VERSION it was built with). */
CKPT_PUBLIC int ckpt_api_version(void);

/*
 * Connect to ckptd. path NULL: $CKPTD_SOCKET if set, else CKPT_DEFAULT_SOCKET
 * (/run/ckptd/ckptd.sock). On failure *ret is set to NULL and the error is
 * returned (-ENOENT, -ECONNREFUSED, -EACCES, ...); there is no client to ask,
 * so callers say "cannot connect to <ckpt_socket_path(path)>: <strerror>".
 */
CKPT_PUBLIC int ckpt_connect(const char *path, struct ckpt_client **ret);

/* Wrap an already connected stream socket; the client owns fd from then on,
 * also on failure. */
CKPT_PUBLIC int ckpt_connect_fd(int fd, struct ckpt_client **ret);

/* Close the connection and free the client. Accepts NULL; returns NULL. */
CKPT_PUBLIC struct ckpt_client *ckpt_disconnect(struct ckpt_client *c);

/* The socket path used by ckpt_connect(path) (NULL: the environment/default). */
CKPT_PUBLIC const char *ckpt_socket_path(const char *path);

/* One-line explanation of the last failure on c ("" if none). Valid until the
 * next call on c. */
CKPT_PUBLIC const char *ckpt_last_error(const struct ckpt_client *c);

/* Varlink error name of the last failure on c, NULL if the failure was local
 * (transport, argument checking). */
CKPT_PUBLIC const char *ckpt_last_error_name(const struct ckpt_client *c);

/* The parameters of the last reply (or of the last error) as JSON text, as the
 * daemon sent them; NULL if there is none. Valid until the next call on c. */
CKPT_PUBLIC const char *ckpt_last_reply_json(const struct ckpt_client *c);

/* strerror()-like text for a daemon error name and its JSON parameters (may be
 * NULL), e.g. "no such process 123 (io.ckptd.NoSuchProcess)". The caller frees
 * the string. NULL on out of memory. */
CKPT_PUBLIC char *ckpt_error_string(const char *error_name, const char *params_json);

/* Negative errno for a daemon error name (table above). */
CKPT_PUBLIC int ckpt_error_to_errno(const char *error_name);

/*
 * Generic call, for methods newer than this header: params_json is a JSON
 * object text (NULL: {}), fds are passed with the call (SCM_RIGHTS) and named
 * by index in the parameters. On success *ret_reply_json (if not NULL) gets
 * the reply's parameters, which the caller frees with free().
 */
CKPT_PUBLIC int ckpt_call(struct ckpt_client *c, const char *method, const char *params_json,
                          const int *fds, size_t n_fds, char **ret_reply_json);

/* ---- io.ckptd.GetStatus ---- */

/* For a caller other than root: path NULL, objects 0, and the other figures
 * those of the caller's own checkpoints only. */
struct ckpt_store_status {
        char *path;
        uint64_t objects;
        uint64_t stored_bytes;  /* bytes in pack files */
        uint64_t logical_bytes; /* bytes the stored checkpoints stand for */
        double dedup_ratio;
        uint64_t checkpoints;
        unsigned threads; /* hashing and compressing a checkpoint's pages */
};

struct ckpt_process_status {
        pid_t pid;
        char *comm;
        uint32_t uid;
        char *tracking;          /* tracking mode, e.g. "uffd-wp", "scan" */
        char *policy;            /* NULL: tracked by hand */
        uint64_t dirty_pages;    /* the next checkpoint reads at least these */
        uint64_t writable_pages; /* of which kept writable: read whether written or not */
        uint64_t write_faults;
        uint64_t last_checkpoint; /* 0: none yet */
        double last_pause_ms;     /* < 0: none yet */
        char *next_due;           /* NULL: not scheduled */
        char *note;               /* NULL or a remark of the daemon */
        pid_t group;              /* root of its tree group (itself for the root); 0: none */
};

/* A limit of the control socket (name as in proto.h's CKPT_LIMIT_*) and how
 * often a caller ran into it since the daemon started. */
struct ckpt_limit_status {
        char *name;
        uint64_t limit;
        uint64_t hit;
};

struct ckpt_status {
        char *version;
        double uptime_sec;
        char *bpf_mode;
        bool bpf_hooks_attached; /* fault and syscall programs: only while tracking */
        char **tracking;         /* write-tracking mechanisms available */
        size_t n_tracking;
        struct ckpt_store_status store;
        struct ckpt_process_status *processes;
        size_t n_processes;
        int store_nice;  /* nice value of the work after the thaw; 0: none */
        bool store_idle; /* that work runs under SCHED_IDLE instead */
        struct ckpt_limit_status *limits;
        size_t n_limits;
};

CKPT_PUBLIC int ckpt_status(struct ckpt_client *c, struct ckpt_status **ret);
CKPT_PUBLIC struct ckpt_status *ckpt_status_free(struct ckpt_status *s);

/* ---- io.ckptd.Checkpoint ---- */

#define CKPT_CHECKPOINT_FULL (1u << 0) /* read every page, even of a tracked process */
#define CKPT_CHECKPOINT_ALL (1u << 1)  /* store file mappings too, not by reference */

struct ckpt_checkpoint_info {
        uint64_t id;
        uint64_t parent; /* 0: none (a full checkpoint starting a chain) */
        pid_t pid;
        bool incremental;
        uint64_t pages;        /* pages in the checkpoint's view */
        uint64_t pages_read;   /* pages copied out of the process */
        uint64_t bytes_stored; /* new bytes written to the store */
        double pause_ms;       /* time the process was frozen */
        double duration_ms;
        struct ckpt_addr_range *skipped; /* unmapped parts of the requested ranges */
        size_t n_skipped;
};

/*
 * Checkpoint process pid now. flags: CKPT_CHECKPOINT_*. ranges NULL / n 0:
 * the whole address space; otherwise only pages within the ranges (at most
 * CKPT_MAX_RANGES); what is not mapped is skipped and reported.
 */
CKPT_PUBLIC int ckpt_checkpoint(struct ckpt_client *c, pid_t pid, unsigned flags,
                                const struct ckpt_addr_range *ranges, size_t n_ranges,
                                struct ckpt_checkpoint_info **ret);

/* Checkpoint the calling process (getpid()). */
CKPT_PUBLIC int ckpt_checkpoint_self(struct ckpt_client *c, unsigned flags,
                                     struct ckpt_checkpoint_info **ret);

/*
 * Checkpoint the range [start, end) of the calling process's own memory
 * (cp_range()). The daemon keeps the pages within the range; the first call
 * reads them all, later ones of a tracked process only what was written since.
 */
CKPT_PUBLIC int ckpt_checkpoint_range(struct ckpt_client *c, const void *start, const void *end,
                                      unsigned flags, struct ckpt_checkpoint_info **ret);

CKPT_PUBLIC struct ckpt_checkpoint_info *ckpt_checkpoint_info_free(struct ckpt_checkpoint_info *i);

/* ---- io.ckptd.CheckpointGroup ---- */

struct ckpt_group_member {
        pid_t pid;
        uint64_t id;     /* its own checkpoint; 0: none (it exited: error says so) */
        uint64_t parent; /* 0: none */
        bool incremental;
        bool armed; /* tracking armed by this checkpoint: all its pages were read */
        uint64_t pages, pages_read, bytes_stored;
        double pause_ms, duration_ms;
        char *error; /* NULL when it has a checkpoint */
};

struct ckpt_group_info {
        uint64_t id;                              /* the group's */
        pid_t pid;                                /* the root */
        uint64_t pages, pages_read, bytes_stored; /* sums over the members */
        double pause_ms;                          /* the first freeze to the last thaw */
        double duration_ms;
        struct ckpt_group_member *members; /* [0] is the root */
        size_t n_members;
};

/*
 * One group checkpoint of the process tree of pid (it and its descendants):
 * every member frozen before any is read. flags: CKPT_CHECKPOINT_*. Errors
 * as ckpt_checkpoint(); -EAGAIN (io.ckptd.TooManyRequests) beyond the
 * daemon's bound on members.
 */
CKPT_PUBLIC int ckpt_checkpoint_group(struct ckpt_client *c, pid_t pid, unsigned flags,
                                      struct ckpt_group_info **ret);
/* The same for the processes of a cgroup (v2) and of the cgroups below it;
 * cgroup as /proc/PID/cgroup names it ("/system.slice/redis.service").
 * *ret's pid is 0. */
CKPT_PUBLIC int ckpt_checkpoint_cgroup(struct ckpt_client *c, const char *cgroup, unsigned flags,
                                       struct ckpt_group_info **ret);
CKPT_PUBLIC struct ckpt_group_info *ckpt_group_info_free(struct ckpt_group_info *i);

/* ---- io.ckptd.List / io.ckptd.Show ---- */

struct ckpt_summary {
        uint64_t id;
        uint64_t parent; /* 0: none */
        pid_t pid;
        char *comm;
        uint32_t uid;
        char *time; /* as the daemon formats it (ISO 8601) */
        char *kind; /* "full" or "delta" */
        bool incremental;
        uint64_t pages;
        uint64_t pages_read;
        uint64_t bytes_stored;
        double pause_ms;
        double duration_ms;
        uint64_t regions;
        uint64_t group;        /* the group checkpoint it is a member of; 0: none */
        double group_pause_ms; /* that group's pause */
};

struct ckpt_list {
        struct ckpt_summary *checkpoints;
        size_t n_checkpoints;
};

/* Checkpoints of pid (0: all the caller may see), oldest first as the daemon sends them. */
CKPT_PUBLIC int ckpt_list(struct ckpt_client *c, pid_t pid, struct ckpt_list **ret);
/* Checkpoints of the calling process. */
CKPT_PUBLIC int ckpt_list_self(struct ckpt_client *c, struct ckpt_list **ret);
CKPT_PUBLIC struct ckpt_list *ckpt_list_free(struct ckpt_list *l);

struct ckpt_region_info {
        uint64_t start, end;
        char *prot; /* "rw-p" style */
        char **flags;
        size_t n_flags;
        char *path; /* NULL: anonymous */
        uint64_t offset;
        char *tracking; /* how its dirty pages were found */
        uint64_t pages;
        uint64_t data_pages;
        char *tracking_reason; /* why so (shared memory, ...); NULL: nothing to add */
};

struct ckpt_thread_info {
        pid_t tid;
        uint64_t rip, rsp;
};

struct ckpt_checkpoint_detail {
        struct ckpt_summary checkpoint;
        struct ckpt_addr_range *ranges; /* requested ranges; none: whole address space */
        size_t n_ranges;
        struct ckpt_region_info *regions;
        size_t n_regions;
        struct ckpt_thread_info *threads;
        size_t n_threads;
};

CKPT_PUBLIC int ckpt_show(struct ckpt_client *c, uint64_t id, struct ckpt_checkpoint_detail **ret);
CKPT_PUBLIC struct ckpt_checkpoint_detail *
ckpt_checkpoint_detail_free(struct ckpt_checkpoint_detail *d);

/* ---- io.ckptd.Export ---- */

enum ckpt_export_format {
        CKPT_EXPORT_RAW = 0,  /* ranges laid end to end, holes for missing pages */
        CKPT_EXPORT_CORE = 1, /* ELF core file */
};

struct ckpt_extent {
        uint64_t start, end; /* addresses */
        uint64_t offset;     /* where start lies in the file */
};

struct ckpt_page_run {
        uint64_t start, end;
        uint64_t pages;
};

/* Pages of a region recorded by reference (a file mapping) that the export
 * left as holes because the file could not be read for the caller: replaced,
 * changed, removed, behind a symbolic link, or not readable by the caller. */
struct ckpt_export_hole {
        uint64_t start, end;
        uint64_t pages;
        char *path;
        char *reason;
};

struct ckpt_export_info {
        char *format;
        uint64_t size; /* bytes of the file */
        struct ckpt_extent *layout;
        size_t n_layout;
        struct ckpt_page_run *written; /* the first CKPT_MAX_REPLY_RUNS runs */
        size_t n_written;
        struct ckpt_export_hole *holes;
        size_t n_holes;
        /* Every run, and the pages in them (n_written and the sum of written's
         * pages when all are listed). */
        size_t n_runs;
        uint64_t pages_written;
};

/* Write checkpoint id's memory into fd (open for writing; the daemon writes it
 * through the passed descriptor, so the caller's permissions apply). */
CKPT_PUBLIC int ckpt_export(struct ckpt_client *c, uint64_t id, enum ckpt_export_format format,
                            int fd, const struct ckpt_addr_range *ranges, size_t n_ranges,
                            struct ckpt_export_info **ret);
CKPT_PUBLIC struct ckpt_export_info *ckpt_export_info_free(struct ckpt_export_info *e);

/* ---- io.ckptd.Track / io.ckptd.Untrack ---- */

/*
 * Track pid's dirty pages between checkpoints. uffd >= 0: a userfaultfd the
 * process created itself, passed to the daemon (cooperative tracking); -1:
 * the daemon arms tracking itself. every_sec > 0 asks for a checkpoint every
 * so many seconds, keep > 0 for keeping that many; 0 leaves them out. On
 * success *ret_tracking (if not NULL) is the tracking mode, freed with free().
 */
CKPT_PUBLIC int ckpt_track(struct ckpt_client *c, pid_t pid, int uffd, uint64_t every_sec,
                           uint64_t keep, char **ret_tracking);

/*
 * Track the calling process cooperatively: create a userfaultfd in this
 * process (write-protect, async mode) and hand it to the daemon. Falls back to
 * ckpt_track(c, getpid(), -1, ...) where the kernel or a seccomp filter refuses
 * userfaultfd, or the daemon cannot use the passed descriptor
 * (io.ckptd.TrackingFailed, InvalidParameter). Returns 1 when the daemon took
 * this process's own userfaultfd, 0 when it armed tracking itself.
 */
CKPT_PUBLIC int ckpt_track_self(struct ckpt_client *c, char **ret_tracking);

/*
 * Track pid and all its descendants, present and future, as one group:
 * every_sec > 0 takes a group checkpoint that often (keep as for
 * ckpt_track()). *ret_members (if not NULL): the processes tracked now.
 */
CKPT_PUBLIC int ckpt_track_tree(struct ckpt_client *c, pid_t pid, uint64_t every_sec, uint64_t keep,
                                char **ret_tracking, size_t *ret_members);

/*
 * The same for the processes of a cgroup (v2) and of the cgroups below it,
 * present and future; the group is named by its lowest pid then (*ret_pid,
 * if not NULL), which ckpt_untrack() takes.
 */
CKPT_PUBLIC int ckpt_track_cgroup(struct ckpt_client *c, const char *cgroup, uint64_t every_sec,
                                  uint64_t keep, pid_t *ret_pid, char **ret_tracking,
                                  size_t *ret_members);

CKPT_PUBLIC int ckpt_untrack(struct ckpt_client *c, pid_t pid);

/* ---- io.ckptd.Restore ---- */

#define CKPT_RESTORE_REGISTERS (1u << 0) /* also restore the registers of every thread */

struct ckpt_restore_info {
        uint64_t pages_written;
        uint64_t pages_compared;
        uint64_t bytes_written;
        double pause_ms;
};

/* Write checkpoint id's memory back into the live process pid (whole view, or
 * only the ranges). */
CKPT_PUBLIC int ckpt_restore(struct ckpt_client *c, uint64_t id, pid_t pid, unsigned flags,
                             const struct ckpt_addr_range *ranges, size_t n_ranges,
                             struct ckpt_restore_info **ret);

/* Reload [start, end) of the calling process's own memory from checkpoint id
 * (the daemon writes the pages back at the addresses they were saved from). */
CKPT_PUBLIC int ckpt_restore_range(struct ckpt_client *c, uint64_t id, void *start, void *end);

/*
 * Copy the range [src_start, src_end) of checkpoint id into this process's
 * memory at dst, wherever dst lies: src_* are addresses of the checkpointed
 * process (which may be gone), dst receives the byte saved at src_start + k at
 * dst + k. This is how a restarted program reloads a buffer that now lives at
 * another address. Only the pages wholly inside the source range are copied
 * (the pages a checkpoint of that range holds); bytes of partial pages at its
 * edges are left as they are. A page the checkpoint holds no data for (all
 * zeros, or not mapped when it was taken) is copied as zeros. Done within the
 * library: the range is exported (raw) into an anonymous memory file and read
 * from there, so the daemon never writes into this process and dst needs no
 * particular alignment. Errors: those of ckpt_export(); -EFAULT when dst is
 * not writable memory of this process.
 */
CKPT_PUBLIC int ckpt_restore_range_to(struct ckpt_client *c, uint64_t id, uint64_t src_start,
                                      uint64_t src_end, void *dst);

/*
 * Roll every member of group checkpoint id back into its own process at one
 * frozen moment: all members frozen, every page compared, before the first
 * write. *ret: the sums over the members, pause_ms the group's;
 * *ret_members (if not NULL): how many processes. flags:
 * CKPT_RESTORE_REGISTERS. -ENOENT: no such group checkpoint; -ESRCH: a
 * member is gone (nothing was written then).
 */
CKPT_PUBLIC int ckpt_restore_group(struct ckpt_client *c, uint64_t id, unsigned flags,
                                   struct ckpt_restore_info **ret, size_t *ret_members);

CKPT_PUBLIC struct ckpt_restore_info *ckpt_restore_info_free(struct ckpt_restore_info *r);

/* ---- io.ckptd.Diff ---- */

struct ckpt_diff {
        uint64_t changed, added, removed; /* pages */
        size_t n_regions;
        char *regions_json; /* the per-region detail, a JSON array as sent */
};

CKPT_PUBLIC int ckpt_diff(struct ckpt_client *c, uint64_t from, uint64_t to,
                          struct ckpt_diff **ret);
CKPT_PUBLIC struct ckpt_diff *ckpt_diff_free(struct ckpt_diff *d);

/* ---- io.ckptd.Verify / GC / Delete ---- */

struct ckpt_verify_info {
        bool ok;
        uint64_t checked;
        char **problems;
        size_t n_problems;
};

/* Verify checkpoint id (0: the whole store). Returns 0 also when problems were
 * found: look at ok. */
CKPT_PUBLIC int ckpt_verify(struct ckpt_client *c, uint64_t id, struct ckpt_verify_info **ret);
CKPT_PUBLIC struct ckpt_verify_info *ckpt_verify_info_free(struct ckpt_verify_info *v);

struct ckpt_gc_info {
        uint64_t *deleted; /* ids of deleted checkpoints */
        size_t n_deleted;
        uint64_t reclaimed_bytes;
};

/* Garbage-collect: keep >= 0 keeps that many newest checkpoints per process,
 * max_age_sec >= 0 deletes older ones; < 0 leaves either to the daemon. */
CKPT_PUBLIC int ckpt_gc(struct ckpt_client *c, int64_t keep, int64_t max_age_sec,
                        struct ckpt_gc_info **ret);
CKPT_PUBLIC struct ckpt_gc_info *ckpt_gc_info_free(struct ckpt_gc_info *g);

CKPT_PUBLIC int ckpt_delete(struct ckpt_client *c, uint64_t id);

#ifdef __cplusplus
}
#endif
