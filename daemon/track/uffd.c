/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * uffd.c: userfaultfd write-protect arming of another process, by ptrace
 * syscall injection, and PAGEMAP_SCAN walks. See uffd.h for the steps and the
 * promises (nothing of the target changes but the new userfaultfd's effect).
 */
#include "uffd.h"

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
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ckpt/uapi.h"
#include "freezer.h"
#include "log.h"
#include "macro.h"

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

int uffd_pages_push(uint64_t **pages, size_t *n_pages, size_t *n_alloc, uint64_t addr)
{
        if (*n_pages == *n_alloc) {
                size_t k = *n_alloc ? *n_alloc * 2 : 256;
                uint64_t *p = reallocarray(*pages, k, sizeof(uint64_t));

                if (!p)
                        return -ENOMEM;
                *pages = p;
                *n_alloc = k;
        }
        (*pages)[(*n_pages)++] = addr;
        return 0;
}

/* Step 1: seccomp. A cBPF interpreter just big enough for seccomp filters
 * (the classic instruction set, no extensions), run on the seccomp_data of
 * each call we are about to inject. */
static int seccomp_run(const struct sock_filter *prog, size_t n, const struct seccomp_data *sd,
                       uint32_t *ret)
{
        uint32_t A = 0, X = 0, M[BPF_MEMWORDS] = {};
        const uint8_t *data = (const uint8_t *)sd;

        for (size_t pc = 0; pc < n; pc++) {
                const struct sock_filter *f = &prog[pc];
                uint32_t k = f->k, src;

                switch (BPF_CLASS(f->code)) {
                case BPF_LD:
                case BPF_LDX: {
                        uint32_t v;

                        switch (BPF_MODE(f->code)) {
                        case BPF_ABS:
                                if (BPF_SIZE(f->code) != BPF_W || k > sizeof(*sd) - 4 || (k & 3))
                                        return -EINVAL;
                                memcpy(&v, data + k, 4);
                                break;
                        case BPF_IMM:
                                v = k;
                                break;
                        case BPF_MEM:
                                if (k >= BPF_MEMWORDS)
                                        return -EINVAL;
                                v = M[k];
                                break;
                        case BPF_LEN:
                                v = sizeof(*sd);
                                break;
                        default:
                                return -EINVAL;
                        }
                        if (BPF_CLASS(f->code) == BPF_LD)
                                A = v;
                        else
                                X = v;
                        break;
                }
                case BPF_ST:
                case BPF_STX:
                        if (k >= BPF_MEMWORDS)
                                return -EINVAL;
                        M[k] = BPF_CLASS(f->code) == BPF_ST ? A : X;
                        break;
                case BPF_ALU:
                        src = BPF_SRC(f->code) == BPF_X ? X : k;
                        switch (BPF_OP(f->code)) {
                        case BPF_ADD:
                                A += src;
                                break;
                        case BPF_SUB:
                                A -= src;
                                break;
                        case BPF_MUL:
                                A *= src;
                                break;
                        case BPF_DIV:
                                if (src == 0)
                                        return -EINVAL;
                                A /= src;
                                break;
                        case BPF_MOD:
                                if (src == 0)
                                        return -EINVAL;
                                A %= src;
                                break;
                        case BPF_OR:
                                A |= src;
                                break;
                        case BPF_AND:
                                A &= src;
                                break;
                        case BPF_XOR:
                                A ^= src;
                                break;
                        case BPF_LSH:
                                A = src < 32 ? A << src : 0;
                                break;
                        case BPF_RSH:
                                A = src < 32 ? A >> src : 0;
                                break;
                        case BPF_NEG:
                                A = -A;
                                break;
                        default:
                                return -EINVAL;
                        }
                        break;
                case BPF_JMP: {
                        bool cond;

                        src = BPF_SRC(f->code) == BPF_X ? X : k;
                        switch (BPF_OP(f->code)) {
                        case BPF_JA:
                                pc += k;
                                continue;
                        case BPF_JEQ:
                                cond = A == src;
                                break;
                        case BPF_JGT:
                                cond = A > src;
                                break;
                        case BPF_JGE:
                                cond = A >= src;
                                break;
                        case BPF_JSET:
                                cond = (A & src) != 0;
                                break;
                        default:
                                return -EINVAL;
                        }
                        pc += cond ? f->jt : f->jf;
                        break;
                }
                case BPF_RET:
                        *ret = BPF_RVAL(f->code) == BPF_A ? A : k;
                        return 0;
                case BPF_MISC:
                        if (BPF_MISCOP(f->code) == BPF_TAX)
                                X = A;
                        else
                                A = X;
                        break;
                default:
                        return -EINVAL;
                }
        }
        return -EINVAL; /* fell off the end: the kernel would have rejected it */
}

static int read_status_field(pid_t pid, pid_t tid, const char *field, char *buf, size_t size)
{
        _cleanup_fclose_ FILE *f = NULL;
        char path[96], line[256];
        size_t l = strlen(field);

        snprintf(path, sizeof(path), "/proc/%d/task/%d/status", (int)pid, (int)tid);
        f = fopen(path, "re");
        if (!f)
                return errno == ENOENT ? -ESRCH : negative_errno();
        while (fgets(line, sizeof(line), f)) {
                if (strncmp(line, field, l) == 0 && line[l] == ':') {
                        const char *v = line + l + 1;

                        v += strspn(v, " \t");
                        snprintf(buf, size, "%.*s", (int)strcspn(v, "\n"), v);
                        return 0;
                }
        }
        return -ENOENT;
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

                        r = seccomp_run(prog, len, &calls[c], &action);
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

int uffd_inject_create(pid_t pid, struct freezer *frozen, int *ret_fd, uint64_t *ret_features,
                       char *error, size_t error_size)
{
        _cleanup_(freezer_freep) struct freezer *own = NULL;
        _cleanup_close_ int pidfd = -EBADF;
        struct injector in = {.pid = pid};
        struct freezer *f = frozen;
        char value[32];
        int r;

        if (error && error_size)
                error[0] = 0;

        pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
        if (pidfd < 0) {
                r = negative_errno();
                set_error(error, error_size, "process %d: %s", (int)pid, strerror(-r));
                return r;
        }

        /* Step 1 (first part): refuse a process another tracer holds. */
        if (!frozen) {
                r = read_status_field(pid, pid, "TracerPid", value, sizeof(value));
                if (r < 0) {
                        set_error(error, error_size, "process %d: %s", (int)pid, strerror(-r));
                        return r;
                }
                if (atoi(value) != 0) {
                        set_error(error, error_size, "process %d is already traced by process %s",
                                  (int)pid, value);
                        return -EBUSY;
                }

                /* Step 2: hold every thread. */
                r = freezer_freeze(pid, &own);
                if (r < 0) {
                        set_error(error, error_size, "%s", own ? own->error : strerror(-r));
                        return r;
                }
                f = own;
        }

        /* Choose a thread not in the middle of a syscall if there is one. */
        for (size_t i = 0; i < f->n_threads; i++) {
                struct freezer_thread *t = &f->threads[i];
                struct user_regs_struct regs;

                if (!t->attached || ptrace(PTRACE_GETREGS, t->tid, NULL, &regs) < 0)
                        continue;
                if (!in.thread || (long long)regs.orig_rax < 0) {
                        in.thread = t;
                        in.tid = t->tid;
                        in.saved = regs;
                        if ((long long)regs.orig_rax < 0)
                                break;
                }
        }
        if (!in.thread) {
                set_error(error, error_size, "process %d has no thread left", (int)pid);
                return -ESRCH;
        }

        r = find_vdso_syscall(pid, &in.syscall_ip);
        if (r < 0) {
                /* A thread that entered a syscall did so at rip - 2. */
                if ((long long)in.saved.orig_rax >= 0)
                        in.syscall_ip = in.saved.rip - 2;
                else {
                        set_error(error, error_size, "no syscall instruction found in process %d",
                                  (int)pid);
                        return -EOPNOTSUPP;
                }
        }

        /* Step 1 (second part): the seccomp filters must let our calls pass. */
        struct seccomp_data calls[3] = {
                {.nr = SYS_userfaultfd,
                 .arch = AUDIT_ARCH_X86_64,
                 .instruction_pointer = in.syscall_ip,
                 .args = {O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY}},
                {.nr = SYS_ioctl,
                 .arch = AUDIT_ARCH_X86_64,
                 .instruction_pointer = in.syscall_ip,
                 .args = {3, UFFDIO_API, (in.saved.rsp - 128 - sizeof(struct uffdio_api)) & ~7ULL}},
                {.nr = SYS_close,
                 .arch = AUDIT_ARCH_X86_64,
                 .instruction_pointer = in.syscall_ip,
                 .args = {3}},
        };
        r = seccomp_check(pid, in.tid, calls, ELEMENTSOF(calls), error, error_size);
        if (r < 0)
                return r;

        if (ptrace(PTRACE_SETOPTIONS, in.tid, NULL, (void *)PTRACE_O_TRACESYSGOOD) < 0) {
                r = negative_errno();
                set_error(error, error_size, "cannot set ptrace options on thread %d: %m",
                          (int)in.tid);
                return r;
        }

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

int uffd_open_pagemap(pid_t pid)
{
        char path[64];
        int fd;

        snprintf(path, sizeof(path), "/proc/%d/pagemap", (int)pid);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return errno == ENOENT ? -ESRCH : negative_errno();
        return fd;
}

static int pagemap_scan(int pagemap_fd, uint64_t start, uint64_t end, uint64_t flags,
                        uint64_t **pages, size_t *n_pages, size_t *n_alloc)
{
        struct page_region vec[512];
        uint64_t cur = start;

        while (cur < end) {
                struct pm_scan_arg arg = {
                        .size = sizeof(arg),
                        .flags = flags,
                        .start = cur,
                        .end = end,
                        .vec = pages ? (uint64_t)(uintptr_t)vec : 0,
                        .vec_len = pages ? ELEMENTSOF(vec) : 0,
                        /* Never holes: matching them would install
                         * write-protect markers in every unpopulated page,
                         * page tables for the whole range. A hole that
                         * gets written becomes a fresh page without the
                         * write-protect bit, so it still reads WRITTEN. */
                        .category_mask = PAGE_IS_WRITTEN | PAGE_IS_PFNZERO,
                        /* ...and not the shared zero page: a read of a
                         * never-written page (by the process, or through
                         * /proc/PID/mem) maps it without the write-protect
                         * bit, yet nothing was written. A later write
                         * replaces it with a page of its own, which then
                         * reads WRITTEN. */
                        .category_inverted = PAGE_IS_PFNZERO,
                        .category_anyof_mask = PAGE_IS_PRESENT | PAGE_IS_SWAPPED,
                        .return_mask = PAGE_IS_WRITTEN,
                };
                int n = ioctl(pagemap_fd, PAGEMAP_SCAN, &arg);

                if (n < 0)
                        return negative_errno();
                for (int i = 0; i < n && pages; i++)
                        for (uint64_t a = vec[i].start; a < vec[i].end; a += PAGE_SIZE_4K) {
                                int r = uffd_pages_push(pages, n_pages, n_alloc, a);
                                if (r < 0)
                                        return r;
                        }
                if (arg.walk_end <= cur)
                        return -EIO; /* no progress: never loop forever */
                cur = arg.walk_end;
        }
        return 0;
}

int uffd_scan_written(int pagemap_fd, uint64_t start, uint64_t end, bool rearm, uint64_t **pages,
                      size_t *n_pages, size_t *n_alloc)
{
        return pagemap_scan(pagemap_fd, start, end,
                            PM_SCAN_CHECK_WPASYNC | (rearm ? PM_SCAN_WP_MATCHING : 0), pages,
                            n_pages, n_alloc);
}

int uffd_register_wp(int uffd, int pagemap_fd, uint64_t start, uint64_t end)
{
        struct uffdio_register reg = {
                .range = {.start = start, .len = end - start},
                .mode = UFFDIO_REGISTER_MODE_WP,
        };
        int r;

        if (ioctl(uffd, UFFDIO_REGISTER, &reg) < 0)
                return negative_errno();
        /* Protect every page now present or swapped. Never UFFDIO_WRITEPROTECT
         * here: with UFFD_FEATURE_WP_UNPOPULATED it puts a marker in every
         * unpopulated page of the range, which for a large sparse mapping
         * means page tables for all of it. */
        r = pagemap_scan(pagemap_fd, start, end, PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC, NULL,
                         NULL, NULL);
        if (r < 0) {
                uffd_unregister(uffd, start, end);
                return r;
        }
        return 0;
}

int uffd_unregister(int uffd, uint64_t start, uint64_t end)
{
        struct uffdio_range range = {.start = start, .len = end - start};

        if (ioctl(uffd, UFFDIO_UNREGISTER, &range) < 0)
                return negative_errno();
        return 0;
}

/* Soft-dirty: a run-time probed path for kernels built with it. */
static int read_pagemap_entries(int fd, uint64_t start, size_t n, uint64_t *out)
{
        ssize_t k = pread(fd, out, n * 8, (off_t)(start / PAGE_SIZE_4K * 8));

        if (k < 0)
                return negative_errno();
        if ((size_t)k != n * 8)
                return -EIO;
        return 0;
}

bool uffd_soft_dirty_supported(void)
{
        static int cached = -1;
        _cleanup_close_ int pm = -EBADF, cr = -EBADF;
        volatile uint8_t *p;
        uint64_t e = 0;
        bool ok = false;

        if (cached >= 0)
                return cached;
        p = mmap(NULL, PAGE_SIZE_4K, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
                return false;
        p[0] = 1;
        pm = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
        cr = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
        if (pm >= 0 && cr >= 0 && write(cr, "4", 1) == 1 &&
            read_pagemap_entries(pm, (uint64_t)(uintptr_t)p, 1, &e) == 0 &&
            !(e & PM_ENTRY_SOFT_DIRTY)) {
                p[0] = 2;
                ok = read_pagemap_entries(pm, (uint64_t)(uintptr_t)p, 1, &e) == 0 &&
                     (e & PM_ENTRY_SOFT_DIRTY);
        }
        munmap((void *)p, PAGE_SIZE_4K);
        cached = ok;
        return ok;
}

/* The pages of [start, end) whose pagemap entry want() picks, appended. */
static int select_entries(int pagemap_fd, uint64_t start, uint64_t end, bool (*want)(uint64_t e),
                          uint64_t **pages, size_t *n_pages, size_t *n_alloc)
{
        uint64_t buf[512];

        for (uint64_t a = start; a < end;) {
                size_t n = MIN((end - a) / PAGE_SIZE_4K, ELEMENTSOF(buf));
                int r = read_pagemap_entries(pagemap_fd, a, n, buf);

                if (r < 0)
                        return r;
                for (size_t i = 0; i < n; i++)
                        if (want(buf[i])) {
                                r = uffd_pages_push(pages, n_pages, n_alloc, a + i * PAGE_SIZE_4K);
                                if (r < 0)
                                        return r;
                        }
                a += n * PAGE_SIZE_4K;
        }
        return 0;
}

static bool entry_soft_dirty(uint64_t e)
{
        return e & PM_ENTRY_SOFT_DIRTY;
}

int uffd_soft_dirty_scan(int pagemap_fd, uint64_t start, uint64_t end, uint64_t **pages,
                         size_t *n_pages, size_t *n_alloc)
{
        return select_entries(pagemap_fd, start, end, entry_soft_dirty, pages, n_pages, n_alloc);
}

/* Not a private copy of the process's own: a page of the file (mapped, or
 * a hole that a read would fill from the file). Swapped pages of a private
 * mapping are anonymous copies. */
static bool entry_not_own_copy(uint64_t e)
{
        if (e & PM_ENTRY_SWAPPED)
                return false;
        return !(e & PM_ENTRY_PRESENT) || (e & PM_ENTRY_FILE);
}

int uffd_file_pages(int pagemap_fd, uint64_t start, uint64_t end, uint64_t **pages, size_t *n_pages,
                    size_t *n_alloc)
{
        return select_entries(pagemap_fd, start, end, entry_not_own_copy, pages, n_pages, n_alloc);
}

int uffd_soft_dirty_clear(pid_t pid)
{
        _cleanup_close_ int fd = -EBADF;
        char path[64];

        snprintf(path, sizeof(path), "/proc/%d/clear_refs", (int)pid);
        fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
                return errno == ENOENT ? -ESRCH : negative_errno();
        if (write(fd, "4", 1) != 1)
                return negative_errno();
        return 0;
}
