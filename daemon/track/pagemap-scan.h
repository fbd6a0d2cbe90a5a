/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pagemap-scan.h: what another process's page tables say about its pages,
 * read from the daemon side through /proc/PID/pagemap, and the userfaultfd
 * write-protect registration those reads rely on. This module owns the
 * PAGEMAP_SCAN walks (written pages, re-protected in the same step), the
 * UFFDIO_REGISTER / UNREGISTER calls on a userfaultfd the caller holds (made
 * by inject.h, or handed over by the process), the soft-dirty path (pagemap
 * bit 55, clear_refs 4) and the pagemap entry reads for private file pages.
 * It keeps no state and takes no ptrace: the tracker holds the fds. The
 * functions are named uffd_*: they serve userfaultfd write-protect tracking
 * and its fallbacks.
 *
 * Page lists are growable arrays of page addresses (*pages, *n_pages,
 * *n_alloc), appended to in ascending order by each call; errors are
 * negative errno, -ESRCH when the process (or its address space) is gone.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Register [start, end) for write-protect (UFFDIO_REGISTER_MODE_WP) and
 * write-protect all of it (a first PAGEMAP_SCAN with PM_SCAN_WP_MATCHING).
 * -EINVAL/-EPERM: uffd refuses this kind of mapping. */
int uffd_register_wp(int uffd, int pagemap_fd, uint64_t start, uint64_t end);
int uffd_unregister(int uffd, uint64_t start, uint64_t end);

/*
 * Shared memory (shmem: shared anonymous, SysV) under write-protection. A
 * page of it can leave the page tables without a trace: reclaim or a zap
 * clears a written page's entry to none, while its data stays in the page
 * cache or swap. The kernel keeps a write-protected entry's state across
 * that (a marker), never a written one's. So every entry of the range is
 * write-protected, markers in the holes too (UFFDIO_WRITEPROTECT installs
 * them, page tables included), and from then on an entry found empty can
 * only be a written page that left: uffd_scan_holes() reports it.
 */
/* UFFDIO_REGISTER_MODE_WP, then UFFDIO_WRITEPROTECT of all of [start, end). */
int uffd_register_wp_all(int uffd, uint64_t start, uint64_t end);
/* The pages of [start, end) whose entry is empty (neither present nor a
 * swap entry or marker), appended like uffd_scan_written(); with rearm each
 * such run is write-protected again (a marker). -EPERM when part of the
 * range is not registered for async write-protect. */
int uffd_scan_holes(int uffd, int pagemap_fd, uint64_t start, uint64_t end, bool rearm,
                    uint64_t **pages, size_t *n_pages, size_t *n_alloc);

/* /proc/PID/pagemap, O_RDONLY|O_CLOEXEC. */
int uffd_open_pagemap(pid_t pid);

/*
 * Pages written since the last re-arm in [start, end), appended to *pages
 * (sorted, page addresses; *n_pages / *n_alloc grow), and re-protected in the
 * same atomic step when rearm is set. Loops over walk_end until the whole
 * range is done. Returns -EPERM when part of the range is not registered
 * for async write-protect (then nothing was re-protected in that part), -ESRCH
 * when the address space is gone (exec or exit).
 */
int uffd_scan_written(int pagemap_fd, uint64_t start, uint64_t end, bool rearm, uint64_t **pages,
                      size_t *n_pages, size_t *n_alloc);

/* Whether soft-dirty bits work on this kernel (probed once on ourselves). */
bool uffd_soft_dirty_supported(void);
/* Pages with the soft-dirty bit in [start, end), appended like above. */
int uffd_soft_dirty_scan(int pagemap_fd, uint64_t start, uint64_t end, uint64_t **pages,
                         size_t *n_pages, size_t *n_alloc);
/* The pages of a private file mapping in [start, end) that are still the
 * file's (mapped from the page cache, or not faulted in yet), appended like
 * above: they change when the file does, with no write by the process. */
int uffd_file_pages(int pagemap_fd, uint64_t start, uint64_t end, uint64_t **pages, size_t *n_pages,
                    size_t *n_alloc);
/* Clear soft-dirty bits of the whole process (clear_refs 4). */
int uffd_soft_dirty_clear(pid_t pid);

/* Append a page address to a growable array. */
int uffd_pages_push(uint64_t **pages, size_t *n_pages, size_t *n_alloc, uint64_t addr);
/* Sort pages[0..*n_pages) and drop duplicates. */
void uffd_pages_sort_unique(uint64_t *pages, size_t *n_pages);
