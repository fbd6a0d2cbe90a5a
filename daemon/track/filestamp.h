/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * filestamp.h: whether the file behind a private file mapping can have
 * changed since the last collect, so that the pages of the mapping that are
 * still the file's (never written by the process, so never copied on write)
 * need not be read again. This module owns the stamp of such a file (its
 * identity and times), taken through the mapping itself, and the rule that
 * says when two stamps prove the file unchanged. It keeps no state (the
 * tracker keeps the stamps of the last collect) and never reads page contents.
 *
 * Why it is sound. A page of a private file mapping that the process never
 * wrote maps the page cache's page: its bytes change only when the file's
 * do. The process's own writes copy the page on write, and those copies are
 * tracked like private memory (uffd-wp, BPF, madvise events). A stamp is
 * taken while the process is frozen, before its pages are copied:
 *   1. the clock (CLOCK_REALTIME), then fstat() of the mapped file: device,
 *      inode, size, mtime, ctime;
 *   2. then a read lease is tried and dropped at once (F_SETLEASE F_RDLCK):
 *      the kernel grants it only while no one has the file open for writing
 *      (i_writecount > 0 refuses it). Every change of a file's bytes goes
 *      through an open for writing (write(), a MAP_SHARED writable mapping,
 *      which keeps its file open, fallocate, copy_file_range, a clone), or
 *      truncate(), which changes size and ctime.
 * The stamp is kept only when the lease was granted, and the ctime is older
 * than the clock by STAMP_SETTLE_NS (more than the filesystem's timestamp
 * granularity). Then any writer that changes the bytes after the stamp
 * opened the file after step 2, so it updates ctime after step 1 (the write
 * paths update ctime and mtime before they copy data, and a shared writable
 * mapping's first write fault after its mapping does too): its ctime is
 * later than the clock of step 1 minus one granularity, hence later than
 * the stamp's ctime. A next collect whose stamp equals the kept one
 * (same file, size, mtime, ctime) therefore sees the bytes the last
 * checkpoint recorded, or read after it: its unwritten pages need no read.
 * The last checkpoint's own copy came after its stamp, so a change landing
 * between its stamp and its copy is seen by the next stamp too.
 *
 * What it cannot see, and so refuses:
 *   - filesystems whose mapped writes or write paths may not update ctime
 *     first, or whose bytes can change without this kernel knowing (tmpfs
 *     and memfds, whose shared mappings never update the times; network and
 *     FUSE filesystems; overlay and others): only ext4, XFS and btrfs are
 *     trusted, and every other file's pages are read as before;
 *   - a file open for writing by anyone, the process itself included (a
 *     shared writable mapping updates mtime only on the first write fault
 *     after writeback, and a write() in flight has set its times before
 *     copying): never trusted while so. A private mapping keeps its file
 *     open as it was opened, so one made from a descriptor opened for
 *     writing counts as a writer for as long as it lasts (ld.so, and most
 *     programs mapping data, map read-only descriptors);
 *   - a ctime within STAMP_SETTLE_NS of the clock: a write in the same
 *     timestamp tick could leave it unchanged; read until it settles;
 *   - the clock set back by root past the file's ctime, or a device written
 *     under the filesystem (which the page cache does not see until reclaim)
 *     are outside what any stamp can prove.
 * The lease lives for two system calls; an open for writing meanwhile waits
 * for it to be dropped (one with O_NONBLOCK fails with EWOULDBLOCK), and the
 * break's signal is SIGURG, which the daemon ignores by default.
 * Only the mapping itself is opened (/proc/PID/map_files, O_PATH first, a
 * regular file checked before it is opened for reading): no path is followed.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "manifest.h"

/* A ctime newer than this (before the clock) is not trusted: above the
 * coarsest granularity of the trusted filesystems (1 s, ext4 with small
 * inodes) plus a clock tick. */
#define STAMP_SETTLE_NS (2ull * 1000 * 1000 * 1000)

struct file_stamp {
        uint64_t start, end, offset; /* the mapping */
        uint64_t dev, ino, size;
        int64_t mtime_sec, ctime_sec;
        uint32_t mtime_nsec, ctime_nsec;
};

/* The stamp of the file that region rg of frozen process pid maps (rg as the
 * maps gave it: map_files names whole mappings). 1: ret is a stamp to keep
 * (the rules above hold); 0: the file cannot be trusted now (its pages must
 * be read); -ESRCH when the process is gone, other -errno when the mapping
 * cannot be opened. */
int file_stamp_take(pid_t pid, const struct ckpt_region *rg, struct file_stamp *ret);

/* Same mapping, same file, same size and times. */
bool file_stamp_equal(const struct file_stamp *a, const struct file_stamp *b);
