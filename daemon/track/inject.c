/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * inject.c: creating a userfaultfd inside another process by ptrace syscall
 * injection. See inject.h for the steps and the promises (nothing of the
 * target changes but the new userfaultfd's effect); the seccomp filters are
 * evaluated by seccomp-eval.c.
 */
#include "inject.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ckpt/uapi.h"
#include "freezer.h"
#include "macro.h"
#include "proc-util.h"
#include "seccomp-eval.h"

#ifndef PTRACE_SECCOMP_GET_FILTER
#define PTRACE_SECCOMP_GET_FILTER 0x420c
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif

/* Kernel-internal restart codes, visible in rax of a thread interrupted in a
 * blocking syscall (include/linux/errno.h). */
#define ERESTARTSYS 512
#define ERESTARTNOINTR 513
#define ERESTARTNOHAND 514
#define ERESTART_RESTARTBLOCK 516

#define UFFD_WANTED_FEATURES (UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED)

_printf_(3, 4) static int set_error(char *error, size_t size, const char *fmt, ...)
{
        va_list ap;

        if (!error || size == 0)
                return 0;
        va_start(ap, fmt);
        vsnprintf(error, size, fmt, ap);
        va_end(ap);
        return 0;
}

/* 0: every filter of tid allows each call in calls[], -EPERM: one does not. */
static int seccomp_check(pid_t pid, pid_t tid, const struct seccomp_data *calls, size_t n_calls,
                         char *error, size_t error_size)
{
        char value[32];
        int r;

        r = read_status_field(pid, tid, "Seccomp", value, sizeof(value));
        if (r < 0)
                return r == -ENOENT ? 0 : r; /* no seccomp support at all */
        if (value[0] == '0')
                return 0;
        if (value[0] == '1') {
                set_error(error, error_size, "process %d runs in strict seccomp mode", (int)pid);
                return -EPERM;
        }

        for (unsigned long idx = 0;; idx++) {
                _cleanup_free_ struct sock_filter *prog = NULL;
                long len = ptrace(PTRACE_SECCOMP_GET_FILTER, tid, (void *)idx, NULL);

                if (len < 0) {
                        if (errno == ENOENT)
                                return 0; /* every filter passed */
                        set_error(error, error_size,
                                  "cannot read the seccomp filters of process %d: %m", (int)pid);
                        return -EPERM;
                }
                prog = calloc(len, sizeof(*prog));
                if (!prog)
                        return -ENOMEM;
                if (ptrace(PTRACE_SECCOMP_GET_FILTER, tid, (void *)idx, prog) != len)
                        return -EPERM;
                for (size_t c = 0; c < n_calls; c++) {
                        uint32_t action = 0;

                        r = seccomp_eval(prog, len, &calls[c], &action);
                        if (r < 0 || ((action & SECCOMP_RET_ACTION_FULL) != SECCOMP_RET_ALLOW &&
                                      (action & SECCOMP_RET_ACTION_FULL) != SECCOMP_RET_LOG)) {
                                set_error(error, error_size,
                                          "seccomp filter of process %d forbids syscall %d "
                                          "(action 0x%x)",
                                          (int)pid, calls[c].nr, action);
                                return -EPERM;
                        }
                }
        }
}

/* Step 3: run one syscall in a stopped thread. */
struct injector {
        pid_t pid, tid;
        struct freezer_thread *thread;
        uint64_t syscall_ip;
        struct user_regs_struct saved;
        int extra_signals[8];
        size_t n_extra;
};

static void injector_note_signal(struct injector *in, int sig)
{
        if (in->thread && in->thread->pending_signal == 0) {
                in->thread->pending_signal = sig;
                return;
        }
        if (in->n_extra < ELEMENTSOF(in->extra_signals))
                in->extra_signals[in->n_extra++] = sig;
}

/* Resume with PTRACE_SYSCALL until the next syscall stop. Signals arriving
 * meanwhile are held back and given back at the end. */
static int injector_step(struct injector *in)
{
        int status;

        if (ptrace(PTRACE_SYSCALL, in->tid, NULL, NULL) < 0)
                return negative_errno();
        for (;;) {
                pid_t w = waitpid(in->tid, &status, __WALL);

                if (w < 0) {
                        if (errno == EINTR)
                                continue;
                        return errno == ECHILD ? -ESRCH : negative_errno();
                }
                if (WIFEXITED(status) || WIFSIGNALED(status))
                        return -ESRCH;
                if (!WIFSTOPPED(status))
                        continue;
                if (WSTOPSIG(status) == (SIGTRAP | 0x80))
                        return 0;
                if ((status >> 16) == 0)
                        /* signal-delivery-stop: hold it back */
                        injector_note_signal(in, WSTOPSIG(status));
                /* group-stop or another stop: go on */
                if (ptrace(PTRACE_SYSCALL, in->tid, NULL, NULL) < 0)
                        return negative_errno();
        }
}

static int injector_syscall(struct injector *in, long nr, long a0, long a1, long a2, long *ret)
{
        struct user_regs_struct regs = in->saved;
        int r;

        regs.rax = nr;
        regs.orig_rax = (unsigned long long)-1;
        regs.rip = in->syscall_ip;
        regs.rdi = a0;
        regs.rsi = a1;
        regs.rdx = a2;
        regs.r10 = regs.r8 = regs.r9 = 0;
        if (ptrace(PTRACE_SETREGS, in->tid, NULL, &regs) < 0)
                return negative_errno();
        r = injector_step(in); /* syscall-enter-stop */
        if (r < 0)
                return r;
        r = injector_step(in); /* syscall-exit-stop */
        if (r < 0)
                return r;
        if (ptrace(PTRACE_GETREGS, in->tid, NULL, &regs) < 0)
                return negative_errno();
        *ret = (long)regs.rax;
        return 0;
}

/* Find a `syscall` instruction (0f 05) in the target's vDSO. */
static int find_vdso_syscall(pid_t pid, uint64_t *ret)
{
        _cleanup_fclose_ FILE *f = NULL;
        char path[64], line[512];
        uint64_t start = 0, end = 0;

        snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
        f = fopen(path, "re");
        if (!f)
                return errno == ENOENT ? -ESRCH : negative_errno();
        while (fgets(line, sizeof(line), f)) {
                if (strstr(line, "[vdso]") &&
                    sscanf(line, "%" SCNx64 "-%" SCNx64, &start, &end) == 2)
                        break;
                start = end = 0;
        }
        if (end <= start || end - start > (1 << 20))
                return -ENOENT;

        _cleanup_free_ uint8_t *buf = malloc(end - start);
        if (!buf)
                return -ENOMEM;
        struct iovec local = {buf, end - start}, remote = {(void *)start, end - start};
        ssize_t n = process_vm_readv(pid, &local, 1, &remote, 1, 0);
        if (n < 2)
                return -ENOENT;
        for (ssize_t i = 0; i + 1 < n; i++)
                if (buf[i] == 0x0f && buf[i + 1] == 0x05) {
                        *ret = start + i;
                        return 0;
                }
        return -ENOENT;
}

/* The registers as the kernel would leave them on a return to user space with
 * no signal: an interrupted restartable syscall is set up to run again. We
 * resume the thread from a syscall-exit-stop, where the kernel no longer does
 * this itself. */
static void regs_fixup_restart(struct user_regs_struct *r)
{
        if ((long long)r->orig_rax < 0)
                return;
        switch ((long long)r->rax) {
        case -ERESTARTSYS:
        case -ERESTARTNOINTR:
        case -ERESTARTNOHAND:
                r->rax = r->orig_rax;
                r->rip -= 2;
                break;
        case -ERESTART_RESTARTBLOCK:
                r->rax = SYS_restart_syscall;
                r->rip -= 2;
                break;
        default:
                return;
        }
        r->orig_rax = (unsigned long long)-1;
}

static int peek_words(pid_t tid, uint64_t addr, uint64_t *words, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                errno = 0;
                long v = ptrace(PTRACE_PEEKDATA, tid, (void *)(addr + 8 * i), NULL);
                if (v == -1 && errno != 0)
                        return negative_errno();
                words[i] = (uint64_t)v;
        }
        return 0;
}

static int poke_words(pid_t tid, uint64_t addr, const uint64_t *words, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (ptrace(PTRACE_POKEDATA, tid, (void *)(addr + 8 * i), (void *)words[i]) < 0)
                        return negative_errno();
        return 0;
}

static int inject_in_thread(struct injector *in, int pidfd, int *ret_fd, uint64_t *ret_features,
                            char *error, size_t error_size)
{
        struct uffdio_api api = {.api = UFFD_API};
        uint64_t words[3], saved_words[3], stack_addr;
        _cleanup_close_ int fd = -EBADF;
        bool poked = false;
        long target_fd = -1, rv;
        int r, r2;

        /* The uffdio_api struct goes below the red zone of the thread's stack. */
        stack_addr = (in->saved.rsp - 128 - sizeof(api)) & ~7ULL;
        r = peek_words(in->tid, stack_addr, saved_words, 3);
        if (r < 0) {
                set_error(error, error_size, "cannot read the stack of thread %d: %s", (int)in->tid,
                          strerror(-r));
                return r;
        }

        r = injector_syscall(in, SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY, 0,
                             0, &rv);
        if (r < 0)
                goto restore;
        if (rv < 0) {
                r = (int)rv;
                set_error(error, error_size, "userfaultfd() failed in process %d: %s", (int)in->pid,
                          strerror(-r));
                goto restore;
        }
        target_fd = rv;

        for (int attempt = 0; attempt < 2; attempt++) {
                api.api = UFFD_API;
                api.features =
                        UFFD_WANTED_FEATURES | (attempt == 0 ? UFFD_FEATURE_WP_HUGETLBFS_SHMEM : 0);
                api.ioctls = 0;
                memcpy(words, &api, sizeof(api));
                r = poke_words(in->tid, stack_addr, words, 3);
                if (r < 0)
                        goto restore;
                poked = true;
                r = injector_syscall(in, SYS_ioctl, target_fd, UFFDIO_API, (long)stack_addr, &rv);
                if (r < 0)
                        goto restore;
                if (rv != -EINVAL)
                        break;
        }
        if (rv < 0) {
                r = rv == -EINVAL ? -EOPNOTSUPP : (int)rv;
                set_error(error, error_size,
                          "UFFDIO_API with write-protect async features failed: %s",
                          strerror((int)-rv));
                goto restore;
        }
        r = peek_words(in->tid, stack_addr, words, 3);
        if (r < 0)
                goto restore;
        memcpy(&api, words, sizeof(api));

        fd = (int)syscall(SYS_pidfd_getfd, pidfd, (int)target_fd, 0);
        if (fd < 0) {
                r = negative_errno();
                set_error(error, error_size, "pidfd_getfd() failed: %m");
                goto restore;
        }
        r = 0;

restore:
        /* Step 4: close the target's copy, put back stack bytes and registers. */
        if (target_fd >= 0) {
                r2 = injector_syscall(in, SYS_close, target_fd, 0, 0, &rv);
                if (r2 < 0 && r >= 0)
                        r = r2;
        }
        if (poked) {
                r2 = poke_words(in->tid, stack_addr, saved_words, 3);
                if (r2 < 0 && r >= 0)
                        r = r2;
        }
        {
                struct user_regs_struct regs = in->saved;

                regs_fixup_restart(&regs);
                if (ptrace(PTRACE_SETREGS, in->tid, NULL, &regs) < 0 && r >= 0)
                        r = negative_errno();
        }
        if (r < 0)
                return r;
        *ret_fd = TAKE_FD(fd);
        if (ret_features)
                *ret_features = api.features;
        return 0;
}

/* Step 1 (first part) and step 2: refuse a process another tracer holds,
 * then hold every thread (in *ret_own, which the caller frees, on error too). */
static int inject_hold(pid_t pid, struct freezer **ret_own, char *error, size_t error_size)
{
        char value[32];
        int r;

        r = read_status_field(pid, pid, "TracerPid", value, sizeof(value));
        if (r < 0) {
                set_error(error, error_size, "process %d: %s", (int)pid, strerror(-r));
                return r;
        }
        if (atoi(value) != 0) {
                set_error(error, error_size, "process %d is already traced by process %s", (int)pid,
                          value);
                return -EBUSY;
        }

        r = freezer_freeze(pid, ret_own);
        if (r < 0) {
                set_error(error, error_size, "%s", *ret_own ? (*ret_own)->error : strerror(-r));
                return r;
        }
        return 0;
}

/* Step 2: choose a thread not in the middle of a syscall if there is one,
 * and save its registers. */
static int injector_pick_thread(struct injector *in, struct freezer *f, char *error,
                                size_t error_size)
{
        for (size_t i = 0; i < f->n_threads; i++) {
                struct freezer_thread *t = &f->threads[i];
                struct user_regs_struct regs;

                if (!t->attached || ptrace(PTRACE_GETREGS, t->tid, NULL, &regs) < 0)
                        continue;
                if (!in->thread || (long long)regs.orig_rax < 0) {
                        in->thread = t;
                        in->tid = t->tid;
                        in->saved = regs;
                        if ((long long)regs.orig_rax < 0)
                                break;
                }
        }
        if (!in->thread) {
                set_error(error, error_size, "process %d has no thread left", (int)in->pid);
                return -ESRCH;
        }
        return 0;
}

/* Where the injected calls enter the kernel: a `syscall` instruction of the
 * vDSO, or the one the chosen thread entered its syscall by. */
static int injector_find_syscall(struct injector *in, char *error, size_t error_size)
{
        if (find_vdso_syscall(in->pid, &in->syscall_ip) >= 0)
                return 0;
        /* A thread that entered a syscall did so at rip - 2. */
        if ((long long)in->saved.orig_rax >= 0) {
                in->syscall_ip = in->saved.rip - 2;
                return 0;
        }
        set_error(error, error_size, "no syscall instruction found in process %d", (int)in->pid);
        return -EOPNOTSUPP;
}

/* Step 1 (second part): the seccomp filters must let our calls pass. */
static int injector_seccomp_check(const struct injector *in, char *error, size_t error_size)
{
        struct seccomp_data calls[3] = {
                {.nr = SYS_userfaultfd,
                 .arch = AUDIT_ARCH_X86_64,
                 .instruction_pointer = in->syscall_ip,
                 .args = {O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY}},
                {.nr = SYS_ioctl,
                 .arch = AUDIT_ARCH_X86_64,
                 .instruction_pointer = in->syscall_ip,
                 .args = {3, UFFDIO_API,
                          (in->saved.rsp - 128 - sizeof(struct uffdio_api)) & ~7ULL}},
                {.nr = SYS_close,
                 .arch = AUDIT_ARCH_X86_64,
                 .instruction_pointer = in->syscall_ip,
                 .args = {3}},
        };

        return seccomp_check(in->pid, in->tid, calls, ELEMENTSOF(calls), error, error_size);
}

int uffd_inject_create(pid_t pid, struct freezer *frozen, int *ret_fd, uint64_t *ret_features,
                       char *error, size_t error_size)
{
        _cleanup_(freezer_freep) struct freezer *own = NULL;
        _cleanup_close_ int pidfd = -EBADF;
        struct injector in = {.pid = pid};
        int r;

        if (error && error_size)
                error[0] = 0;

        pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
        if (pidfd < 0) {
                r = negative_errno();
                set_error(error, error_size, "process %d: %s", (int)pid, strerror(-r));
                return r;
        }
        if (!frozen) {
                r = inject_hold(pid, &own, error, error_size);
                if (r < 0)
                        return r;
        }
        r = injector_pick_thread(&in, frozen ? frozen : own, error, error_size);
        if (r < 0)
                return r;
        r = injector_find_syscall(&in, error, error_size);
        if (r < 0)
                return r;
        r = injector_seccomp_check(&in, error, error_size);
        if (r < 0)
                return r;

        if (ptrace(PTRACE_SETOPTIONS, in.tid, NULL, (void *)PTRACE_O_TRACESYSGOOD) < 0) {
                r = negative_errno();
                set_error(error, error_size, "cannot set ptrace options on thread %d: %m",
                          (int)in.tid);
                return r;
        }

        /* Steps 3 and 4. */
        r = inject_in_thread(&in, pidfd, ret_fd, ret_features, error, error_size);

        (void)ptrace(PTRACE_SETOPTIONS, in.tid, NULL, NULL);
        /* Signals that arrived while we ran the calls and could not ride on
         * the detach go back to the thread they were meant for. */
        for (size_t i = 0; i < in.n_extra; i++)
                syscall(SYS_tgkill, pid, in.tid, in.extra_signals[i]);
        if (r == -ESRCH)
                set_error(error, error_size, "process %d exited", (int)pid);
        else if (r < 0 && error && error_size && !error[0])
                set_error(error, error_size, "injection into process %d failed: %s", (int)pid,
                          strerror(-r));
        return r;
}
