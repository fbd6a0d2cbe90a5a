/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * inject.h: creating a userfaultfd inside another process, by ptrace syscall
 * injection, and handing a descriptor of it to the daemon. This module owns
 * the ptrace work of the injection and the check that the target's seccomp
 * filters allow it (read with PTRACE_SECCOMP_GET_FILTER, evaluated by
 * seccomp-eval.h). It keeps no state of its own: the caller owns the
 * descriptor it returns. Threads are held with the freezer module. It never
 * leaves the target traced, stopped, with a changed register, a changed byte
 * of memory or an extra mapping or fd. What is done with the userfaultfd
 * (registration, PAGEMAP_SCAN) is pagemap-scan.h's.
 *
 * Injection, step by step (uffd_inject_create):
 *   1. Refuse early, touching nothing: already traced (-EBUSY), a seccomp
 *      filter that would not allow userfaultfd/ioctl/close (-EPERM; the
 *      filters are read with PTRACE_SECCOMP_GET_FILTER and run through
 *      seccomp_eval() on the calls to be made).
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
