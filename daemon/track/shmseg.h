/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * shmseg.h: shared memory segments that no file descriptor reaches, and the
 * rule that says when their dirty set is exactly what the write-protect
 * scans of the tracked processes mapping them report (the tracker's
 * business; tracker-collect.c applies it).
 *
 * A page of a shared segment changes only through a page table that maps
 * it, or through a system call on a file behind it. Two kinds of segment
 * have no file anyone can open or inherit as a descriptor:
 *   anon   MAP_SHARED|MAP_ANONYMOUS (and MAP_SHARED of /dev/zero): maps
 *          says "/dev/zero (deleted)" or "[anon_shmem:NAME]", on the
 *          kernel's internal shmem mount, with an inode of its own;
 *   sysv   SysV shm: "/SYSV%08x (deleted)" (the key), the inode being the
 *          shmid, on the same mount.
 * memfds (their fd is passed around and written), /dev/shm and other files
 * (anyone may open and write() them), hugetlb segments (huge pages) are
 * read whole. The device check (the mount our own probe mapping lives on)
 * tells the kernel's names from a file someone named "/dev/zero" in a
 * mount namespace of their own.
 *
 * The rule (shmseg_rule): a segment is tracked exactly from a look at
 * which nothing but the tracked mappers mapped it, for as long as nothing
 * could have added a mapper unseen:
 *   anon   another process can only get the mapping by fork from one that
 *          has it (or through /proc/PID/map_files, which needs
 *          CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE over the process: a
 *          privilege outside this model, as writing its memory through the
 *          kernel is). So one look at the maps of every process (/proc/PID/maps,
 *          again until no new process appears) that finds no other mapper,
 *          then no fork of a mapper since (BPF fork events, none lost),
 *          proves every later write went through a tracked page table. The
 *          look costs a read of every process's maps, once, and again only
 *          after a fork or lost events. A process whose maps the daemon may
 *          not read (an LSM says no) is no mapper only when it and the
 *          mapper both started before the segment was born (the btime of
 *          its inode, through /proc/PID/map_files, which needs
 *          CAP_CHECKPOINT_RESTORE or CAP_SYS_ADMIN): the mapper then made it
 *          and no fork gave it to the other. The birth is a CLOCK_REALTIME
 *          stamp, taken to CLOCK_BOOTTIME with today's offset less a second:
 *          sound unless the clock was set back by more since.
 *   sysv   any process with the permission may attach it at any time, but
 *          every attach and detach (fork and exit included) bumps the
 *          segment's nattch, atime or dtime (seconds) and lpid: nattch equal
 *          to the mappers' attachments (their maps lines of the shmid), and
 *          a stamp (nattch, atime, dtime, lpid) unchanged since a look whose
 *          atime and dtime were older than its own second, prove no one else
 *          attached in between. Read from /proc/sysvipc/shm, of the daemon's
 *          IPC namespace: a mapper in another is never proven.
 * The rule takes the set of tracked mappers; today that is one process.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct ckpt_region; /* manifest.h */

enum shmseg_kind {
        SHMSEG_NONE = 0, /* not a segment the rule applies to */
        SHMSEG_ANON = 1,
        SHMSEG_SYSV = 2,
};

/* What the kernel can do, probed once on the daemon's own mappings. */
struct shmseg_caps {
        bool wp;      /* async write-protect works on shmem, markers and all */
        uint64_t dev; /* the kernel's internal shmem mount (maps' device) */
};

/* Map a shared anonymous region and a SysV segment, write-protect them on a
 * userfaultfd of our own and check that written pages, untouched holes and
 * written pages that left the page tables are told apart. Sets caps->wp only
 * when all of it holds; caps->dev whenever it could be read. -errno says why
 * not (for the log). */
int shmseg_probe(struct shmseg_caps *caps);

/* The kind of a shared region; for SHMSEG_NONE, *ret_reason (enum
 * ckpt_track_reason) says why it is read whole. */
enum shmseg_kind shmseg_classify(const struct shmseg_caps *caps, const struct ckpt_region *rg,
                                 uint32_t *ret_reason);

/* SysV: what /proc/sysvipc/shm says of a segment. */
struct shmseg_stamp {
        uint64_t nattch;
        int64_t atime, dtime;
        int32_t lpid;
};

/* The tracker's memory of one segment between collects. */
struct shmseg {
        uint32_t kind; /* enum shmseg_kind */
        uint64_t dev, ino;
        uint64_t vma_start, vma_end; /* a mapping of it, as the collect met it */
        bool base;                   /* at the last look only the mappers mapped it */
        uint64_t forks;              /* the mappers' fork count at that look */
        struct shmseg_stamp stamp;
        pid_t other;     /* the last other mapper found: looked at first */
        uint64_t seen;   /* the collect that last met it */
        bool armed_fail; /* registration was refused */
};

struct shmseg_verdict {
        bool exact;      /* what the scans report since the last look is all that changed */
        uint32_t reason; /* enum ckpt_track_reason */
        uint64_t arg;
};

/*
 * The rule for seg, mapped by the tracked processes mappers[0..n) (their
 * tgids), whose forks (and lost events) number forks now; have_events: fork
 * events are seen at all. Says whether the interval since seg's last look is
 * exact, and unless peek looks again for the next one (seg updated). Call it
 * before the segment's regions are scanned and re-armed in this collect,
 * with the mappers frozen. -ENOMEM etc. only: what cannot be proven is a
 * verdict.
 */
int shmseg_rule(const struct shmseg_caps *caps, struct shmseg *seg, const pid_t *mappers, size_t n,
                uint64_t forks, bool have_events, bool peek, struct shmseg_verdict *ret);
