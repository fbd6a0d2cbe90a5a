/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-seccomp-eval: the injector's seccomp interpreter against the kernel's.
 * Each filter computes a value from the system call's arguments with every
 * kind of classic BPF instruction (ALU with K and X, scratch memory, TAX/TXA,
 * each jump) and returns it as the errno of getppid(); a forked child
 * installs the filter (no_new_privs, no root needed) and makes the call with
 * random arguments, and what the kernel made of it must be what
 * seccomp_eval() says. Programs the kernel refuses are refused here too.
 */
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "prng.h"
#include "seccomp-eval.h"
#include "tap.h"

#define ELEMS(a) (sizeof(a) / sizeof((a)[0]))
#define ARG_LO(i) (offsetof(struct seccomp_data, args) + 8 * (i))
#define ARG_HI(i) (ARG_LO(i) + 4)
#define NR offsetof(struct seccomp_data, nr)

static struct prng rng;

/* Every filter starts by letting through all but getppid (the child must
 * still write its answer and exit), and ends by turning A into an errno:
 * A & 0xfff, or the call allowed if that is 0. */
#define PROLOGUE                                                                                   \
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, NR),                                                    \
                BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getppid, 1, 0),                            \
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)
#define EPILOGUE                                                                                   \
        BPF_STMT(BPF_ALU | BPF_AND | BPF_K, 0xfff), BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 2, 0),  \
                BPF_STMT(BPF_ALU | BPF_OR | BPF_K, SECCOMP_RET_ERRNO),                             \
                BPF_STMT(BPF_RET | BPF_A, 0), BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)

static const struct sock_filter f_alu_k[] = {
        PROLOGUE,
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ARG_LO(0)),
        BPF_STMT(BPF_ALU | BPF_ADD | BPF_K, 77),
        BPF_STMT(BPF_ALU | BPF_MUL | BPF_K, 2654435761u),
        BPF_STMT(BPF_ALU | BPF_XOR | BPF_K, 0x5a5a5a5a),
        BPF_STMT(BPF_ALU | BPF_RSH | BPF_K, 7),
        BPF_STMT(BPF_ALU | BPF_SUB | BPF_K, 12345),
        BPF_STMT(BPF_ALU | BPF_LSH | BPF_K, 3),
        BPF_STMT(BPF_ALU | BPF_DIV | BPF_K, 3),
        EPILOGUE,
};

static const struct sock_filter f_alu_x[] = {
        PROLOGUE,
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ARG_LO(1)),
        BPF_STMT(BPF_MISC | BPF_TAX, 0),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ARG_HI(0)),
        BPF_STMT(BPF_ALU | BPF_ADD | BPF_X, 0),
        BPF_STMT(BPF_ST, 5),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ARG_LO(2)),
        BPF_STMT(BPF_ALU | BPF_OR | BPF_K, 1), /* never divide by zero */
        BPF_STMT(BPF_MISC | BPF_TAX, 0),
        BPF_STMT(BPF_LD | BPF_MEM, 5),
        BPF_STMT(BPF_ALU | BPF_DIV | BPF_X, 0),
        BPF_STMT(BPF_STX, 9),
        BPF_STMT(BPF_LDX | BPF_MEM, 5),
        BPF_STMT(BPF_ALU | BPF_NEG, 0),
        BPF_STMT(BPF_LDX | BPF_W | BPF_IMM, 5),
        BPF_STMT(BPF_ALU | BPF_RSH | BPF_X, 0),
        BPF_STMT(BPF_LDX | BPF_MEM, 9),
        BPF_STMT(BPF_ALU | BPF_XOR | BPF_X, 0),
        BPF_STMT(BPF_ALU | BPF_OR | BPF_X, 0),
        BPF_STMT(BPF_ST, 2),
        BPF_STMT(BPF_MISC | BPF_TXA, 0),
        BPF_STMT(BPF_ALU | BPF_AND | BPF_K, 63), /* shifts by 0..63: the kernel takes X & 31 */
        BPF_STMT(BPF_MISC | BPF_TAX, 0),
        BPF_STMT(BPF_LD | BPF_MEM, 2),
        BPF_STMT(BPF_ALU | BPF_LSH | BPF_X, 0),
        BPF_STMT(BPF_ALU | BPF_SUB | BPF_X, 0),
        BPF_STMT(BPF_ALU | BPF_AND | BPF_X, 0),
        BPF_STMT(BPF_LDX | BPF_W | BPF_LEN, 0),
        BPF_STMT(BPF_ALU | BPF_MUL | BPF_X, 0),
        BPF_STMT(BPF_ALU | BPF_ADD | BPF_X, 0),
        EPILOGUE,
};

/* A value per path through jumps on the arguments. */
static const struct sock_filter f_jumps[] = {
        PROLOGUE,
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ARG_LO(1)),
        BPF_STMT(BPF_MISC | BPF_TAX, 0),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ARG_LO(0)),
        BPF_JUMP(BPF_JMP | BPF_JGT | BPF_K, 0x80000000u, 0, 2),
        BPF_JUMP(BPF_JMP | BPF_JGE | BPF_X, 0, 6, 0),
        BPF_STMT(BPF_JMP | BPF_JA, 7),
        BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0x10, 0, 2),
        BPF_STMT(BPF_LD | BPF_W | BPF_IMM, 101),
        BPF_STMT(BPF_JMP | BPF_JA, 6),
        BPF_STMT(BPF_LD | BPF_W | BPF_IMM, 202),
        BPF_STMT(BPF_JMP | BPF_JA, 4),
        BPF_STMT(BPF_LD | BPF_W | BPF_IMM, 303),
        BPF_STMT(BPF_JMP | BPF_JA, 2),
        BPF_STMT(BPF_LD | BPF_W | BPF_IMM, 404),
        BPF_STMT(BPF_JMP | BPF_JA, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_X, 0, 0, 1),
        BPF_STMT(BPF_ALU | BPF_ADD | BPF_K, 1000),
        EPILOGUE,
};

static const struct {
        const char *name;
        const struct sock_filter *prog;
        size_t n;
} filters[] = {
        {"alu with k", f_alu_k, ELEMS(f_alu_k)},
        {"alu with x, scratch memory, tax/txa, len", f_alu_x, ELEMS(f_alu_x)},
        {"jumps", f_jumps, ELEMS(f_jumps)},
};

/* What the kernel does with getppid(args) under the filter: the errno it
 * returned, 0 if the call went through, or -errno of installing it. */
static int kernel_verdict(const struct sock_filter *prog, size_t n, const uint64_t args[6])
{
        struct sock_fprog fp = {.len = (unsigned short)n, .filter = (struct sock_filter *)prog};
        int fds[2], status, answer = -EIO;
        pid_t pid;

        if (pipe(fds) < 0)
                return -errno;
        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                int v;

                close(fds[0]);
                if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
                    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fp) < 0)
                        v = -errno;
                else
                        v = syscall(SYS_getppid, args[0], args[1], args[2], args[3], args[4],
                                    args[5]) < 0
                                    ? errno
                                    : 0;
                _exit(write(fds[1], &v, sizeof(v)) == sizeof(v) ? 0 : 1);
        }
        close(fds[1]);
        if (read(fds[0], &answer, sizeof(answer)) != sizeof(answer))
                answer = -EIO;
        close(fds[0]);
        waitpid(pid, &status, 0);
        return answer;
}

/* The same, by seccomp_eval(): -EINVAL when it refuses the program. */
static int eval_verdict(const struct sock_filter *prog, size_t n, const uint64_t args[6])
{
        struct seccomp_data sd = {.nr = SYS_getppid, .arch = AUDIT_ARCH_X86_64};
        uint32_t action = 0;
        int r;

        for (size_t i = 0; i < 6; i++)
                sd.args[i] = args[i];
        r = seccomp_eval(prog, n, &sd, &action);
        if (r < 0)
                return r;
        if ((action & SECCOMP_RET_ACTION_FULL) == SECCOMP_RET_ALLOW)
                return 0;
        if ((action & SECCOMP_RET_ACTION_FULL) == SECCOMP_RET_ERRNO)
                return (int)(action & SECCOMP_RET_DATA);
        return -ENOTSUP; /* the filters here return nothing else */
}

static bool test_same_as_kernel(void)
{
        for (size_t f = 0; f < ELEMS(filters); f++)
                for (int round = 0; round < 40; round++) {
                        uint64_t args[6];
                        int k, e;

                        for (size_t i = 0; i < 6; i++)
                                args[i] = round < 2 ? (uint64_t)-round : prng_next(&rng);
                        if (round % 3 == 0)
                                args[1] = args[0]; /* jge on equal values */
                        if (round % 5 == 4)
                                args[1] = round % 2 ? 202 : 303; /* jeq taken */
                        k = kernel_verdict(filters[f].prog, filters[f].n, args);
                        e = eval_verdict(filters[f].prog, filters[f].n, args);
                        if (k != e) {
                                fprintf(stderr,
                                        "# %s: args %#llx %#llx %#llx: kernel %d, seccomp_eval "
                                        "%d\n",
                                        filters[f].name, (unsigned long long)args[0],
                                        (unsigned long long)args[1], (unsigned long long)args[2], k,
                                        e);
                                return false;
                        }
                }
        return true;
}

/* Programs the kernel will not install: refused here as well. */
static bool test_refused_like_kernel(void)
{
        static const struct sock_filter no_ret[] = {
                BPF_STMT(BPF_LD | BPF_W | BPF_ABS, NR),
        };
        static const struct sock_filter misaligned[] = {
                BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 2),
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        };
        static const struct sock_filter past_end[] = {
                BPF_STMT(BPF_LD | BPF_W | BPF_ABS, sizeof(struct seccomp_data)),
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        };
        static const struct sock_filter scratch_range[] = {
                BPF_STMT(BPF_ST, BPF_MEMWORDS),
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        };
        static const struct sock_filter mod[] = {
                BPF_STMT(BPF_ALU | BPF_MOD | BPF_K, 3),
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        };
        static const struct sock_filter shift_k[] = {
                BPF_STMT(BPF_ALU | BPF_LSH | BPF_K, 32),
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        };
        static const struct {
                const struct sock_filter *prog;
                size_t n;
        } bad[] = {
                {mod, ELEMS(mod)},           {shift_k, ELEMS(shift_k)},
                {no_ret, ELEMS(no_ret)},     {misaligned, ELEMS(misaligned)},
                {past_end, ELEMS(past_end)}, {scratch_range, ELEMS(scratch_range)},
        };
        uint64_t args[6] = {};

        for (size_t i = 0; i < ELEMS(bad); i++) {
                ASSERT_EQ(kernel_verdict(bad[i].prog, bad[i].n, args), -EINVAL);
                ASSERT_EQ(eval_verdict(bad[i].prog, bad[i].n, args), -EINVAL);
        }
        return true;
}

int main(void)
{
        const char *seed = getenv("TEST_SEED");

        prng_seed(&rng, seed ? strtoull(seed, NULL, 0) : (uint64_t)time(NULL) * 2654435761u);
        printf("# seed %llu (TEST_SEED= to repeat)\n", (unsigned long long)rng.state);
        plan(2);
        RUN(test_same_as_kernel);
        RUN(test_refused_like_kernel);
        return tap_done();
}
