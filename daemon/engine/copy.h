/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * copy.h: copying the pages a checkpoint reads out of a frozen process, on
 * several threads. While the process is frozen the CPUs it ran on are idle,
 * and the copy is most of the pause: a large copy is split by pages among up
 * to one thread per online CPU (at most 4), each process_vm_readv()ing its
 * own span into its own part of the buffer; below 2048 pages a thread more
 * does not pay for its creation.
 *
 * A page process_vm_readv() cannot read (a short read: PROT_NONE, a file
 * page beyond EOF, a PFN mapping) is read again through /proc/PID/mem,
 * which ptrace lets reach it; a page no way can read is recorded as zero.
 * Regions marked CKPT_REGION_UNREADABLE go through /proc/PID/mem at once.
 *
 * The caller owns the buffer and the descriptors, and must hold the process
 * frozen (freezer.h) for the length of the call. The threads started are
 * joined before it returns and inherit the caller's priority (the daemon's,
 * in the pause). Nothing here logs.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "manifest.h"

struct copy_stats {
        uint64_t unreadable; /* pages that could not be read: recorded as zero */
        uint64_t fallback;   /* pages read through /proc/PID/mem after a short read */
};

/*
 * Copies the n pages at addrs (ascending; region i's pages are
 * [region_first[i], region_first[i + 1]) of them) of process pid into buf,
 * page k at buf + k * 4096. mem_fd: /proc/PID/mem, open for reading.
 * *ret_threads: the threads the copy ran on (the caller's included); st
 * counts the pages read through /proc/PID/mem and those recorded as zero.
 * Returns 0, or -ESRCH when the process is gone (whichever thread saw it),
 * or else the first other -errno.
 */
int copy_pages(pid_t pid, int mem_fd, const struct ckpt_region *regions, size_t n_regions,
               const size_t *region_first, const uint64_t *addrs, size_t n, uint8_t *buf,
               size_t *ret_threads, struct copy_stats *st);
