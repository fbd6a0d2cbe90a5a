/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * events.h: the data shared by the BPF programs (bpf/tracker.bpf.c) and the
 * daemon (daemon/track/tracker-bpf.c reads the maps and the ring buffer):
 * map keys and values, ring buffer events. Fixed
 * width only, and no includes: the BPF side gets __u32/__u64 from vmlinux.h,
 * the daemon from <linux/types.h>, included before this header.
 *
 * Dirty bitmaps: one hash map entry per (tgid, 2 MiB window of the address
 * space) holding 512 bits, one per 4 KiB page, bit i of word w standing for
 * page (window << 21) + ((w * 64 + i) << 12). The daemon reads and deletes
 * (lookup-and-delete, atomic) the entries of a process at each collect.
 */
#ifndef CKPT_EVENTS_H
#define CKPT_EVENTS_H

#define CKPT_WINDOW_SHIFT 21
#define CKPT_WINDOW_PAGES 512
#define CKPT_WINDOW_WORDS (CKPT_WINDOW_PAGES / 64)

struct ckpt_dirty_key {
        __u32 tgid;
        __u32 pad;    /* always 0 */
        __u64 window; /* address >> CKPT_WINDOW_SHIFT */
};

struct ckpt_dirty_bits {
        __u64 bits[CKPT_WINDOW_WORDS];
};

/* Per-process counters, in the `stats` map (key: tgid). */
#define CKPT_PROC_OVERFLOW_BITMAP 0x1u /* the dirty map was full: bits were lost */
#define CKPT_PROC_OVERFLOW_EVENTS 0x2u /* the ring buffer was full: events were lost */

struct ckpt_proc_stats {
        __u64 write_faults; /* write faults seen (user and kernel mode) */
        __u64 dirty_marks;  /* bits newly set in the bitmaps */
        __u64 events;       /* address-space and lifecycle events sent */
        __u64 lost_events;  /* events that did not fit in the ring buffer */
        __u64 lost_marks;   /* bits that did not fit in the dirty map */
        __u64 overflow;     /* CKPT_PROC_OVERFLOW_*, cleared by the daemon */
};

enum ckpt_event_type {
        CKPT_EV_MMAP = 1,     /* start = returned address, len */
        CKPT_EV_MUNMAP = 2,   /* start, len */
        CKPT_EV_MREMAP = 3,   /* start/len = old range, new_start/new_len = new range */
        CKPT_EV_MPROTECT = 4, /* start, len, arg = prot */
        CKPT_EV_MADVISE = 5,  /* start, len, arg = advice (only zapping advice) */
        CKPT_EV_BRK = 6,      /* start = old break, new_start = new break */
        CKPT_EV_FORK = 7,     /* child = the new process (not a thread) */
        CKPT_EV_EXEC = 8,     /* a new address space: every tracking state is stale */
        CKPT_EV_EXIT = 9,     /* arg: 1 when the whole thread group is dead */
};

struct ckpt_event {
        __u32 type; /* enum ckpt_event_type */
        __u32 tgid;
        __u32 tid;
        __u32 child; /* CKPT_EV_FORK: tgid of the child */
        __u64 start, len;
        __u64 new_start, new_len;
        __u64 arg;     /* prot, advice, mmap flags, exit: group dead */
        __s64 ret;     /* the syscall's return value */
        __u64 time_ns; /* bpf_ktime_get_ns() */
};

/* Zapping madvise() advice values (uapi/asm-generic/mman-common.h). */
#define CKPT_MADV_DONTNEED 4
#define CKPT_MADV_FREE 8
#define CKPT_MADV_REMOVE 9
#define CKPT_MADV_DONTNEED_LOCKED 24
#define CKPT_MADV_GUARD_INSTALL 102

#endif
