/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * uffd.h: write-protect arming of another process's memory. This module owns
 * the ptrace syscall injection that creates a userfaultfd inside the target,
 * the UFFDIO_REGISTER / write-protect calls made on it from the daemon side,
 * and PAGEMAP_SCAN walks of /proc/PID/pagemap. It keeps no state of its own;
 * the tracker holds the fds. Threads are held with the freezer module. It never leaves the target
 * traced, stopped, with a changed register, a changed byte of memory or an extra mapping or fd.
 *
 * Injection, step by step (uffd_inject_create):
 *   1. Refuse early, touching nothing: already traced (-EBUSY), a seccomp
 *      filter that would not allow userfaultfd/ioctl/close (-EPERM; the
 *      filters are read with PTRACE_SECCOMP_GET_FILTER and evaluated here).
 *   2. Seize and interrupt every thread (unless the caller holds them frozen
 *      already), pick one (preferably not inside a syscall), save its registers.
 *   3. Run, through a `syscall` instruction of the vDSO (or one poked at rip
 *      and restored): userfaultfd(O_CLOEXEC|O_NONBLOCK|UFFD_USER_MODE_ONLY),
 *      ioctl(fd, UFFDIO_API) with the struct placed on the thread's stack
 *      below the red zone (the bytes are saved and restored), then close(fd)
 *      once pidfd_getfd() has given us our own copy.
 *   4. Restore the registers (a thread interrupted in a blocking syscall keeps
 *      its restart state, so read()/nanosleep() restart as if nothing
 *      happened), give back any signal that arrived meanwhile, detach.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct freezer;

/*
 * frozen: NULL to seize and release the process here, or the caller's
 * freezer (this thread is the tracer of every thread, all stopped): then the
 * process stays frozen, and a signal caught meanwhile is left in the
 * freezer's thread entry for its detach.
 *
 * Create a userfaultfd in pid with write-protect async features and return a
 * descriptor of it in this process (*ret_fd, O_CLOEXEC) and the features the
 * kernel granted (*ret_features, may be NULL). Errors: -ESRCH gone, -EBUSY
 * traced by someone else, -EPERM seccomp forbids it or not allowed to trace,
 * -EOPNOTSUPP the kernel lacks the features, others from the kernel. error
 * (may be NULL) receives a human explanation.
 */
int uffd_inject_create(pid_t pid, struct freezer *frozen, int *ret_fd, uint64_t *ret_features,
                       char *error, size_t error_size);

/* Register [start, end) for write-protect (UFFDIO_REGISTER_MODE_WP) and
 * write-protect all of it (a first PAGEMAP_SCAN with PM_SCAN_WP_MATCHING).
 * -EINVAL/-EPERM: uffd refuses this kind of mapping. */
int uffd_register_wp(int uffd, int pagemap_fd, uint64_t start, uint64_t end);
int uffd_unregister(int uffd, uint64_t start, uint64_t end);

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
