/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * seccomp-eval.c: the classic BPF interpreter of seccomp-eval.h. One step
 * function per instruction class; the loop in seccomp_eval() only fetches,
 * dispatches and stops at a return.
 */
#include "seccomp-eval.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

/* The machine: accumulator, index register, scratch memory. */
struct cbpf {
        uint32_t A, X, M[BPF_MEMWORDS];
};

/* BPF_LD / BPF_LDX: into A or X. */
static int eval_load(struct cbpf *m, const struct sock_filter *f, const struct seccomp_data *sd)
{
        const uint8_t *data = (const uint8_t *)sd;
        uint32_t k = f->k, v;

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
                v = m->M[k];
                break;
        case BPF_LEN:
                v = sizeof(*sd);
                break;
        default:
                return -EINVAL;
        }
        if (BPF_CLASS(f->code) == BPF_LD)
                m->A = v;
        else
                m->X = v;
        return 0;
}

/* BPF_ST / BPF_STX: A or X into scratch memory. */
static int eval_store(struct cbpf *m, const struct sock_filter *f)
{
        if (f->k >= BPF_MEMWORDS)
                return -EINVAL;
        m->M[f->k] = BPF_CLASS(f->code) == BPF_ST ? m->A : m->X;
        return 0;
}

/* BPF_ALU: A op= X or k. */
static int eval_alu(struct cbpf *m, const struct sock_filter *f)
{
        uint32_t src = BPF_SRC(f->code) == BPF_X ? m->X : f->k;

        switch (BPF_OP(f->code)) {
        case BPF_ADD:
                m->A += src;
                break;
        case BPF_SUB:
                m->A -= src;
                break;
        case BPF_MUL:
                m->A *= src;
                break;
        case BPF_DIV:
                if (src == 0)
                        return -EINVAL;
                m->A /= src;
                break;
        case BPF_OR:
                m->A |= src;
                break;
        case BPF_AND:
                m->A &= src;
                break;
        case BPF_XOR:
                m->A ^= src;
                break;
        case BPF_LSH: /* the kernel shifts by X & 31 (a K of 32 or more is refused) */
                if (BPF_SRC(f->code) == BPF_K && src >= 32)
                        return -EINVAL;
                m->A <<= src & 31;
                break;
        case BPF_RSH:
                if (BPF_SRC(f->code) == BPF_K && src >= 32)
                        return -EINVAL;
                m->A >>= src & 31;
                break;
        case BPF_NEG:
                m->A = -m->A;
                break;
        default:
                return -EINVAL;
        }
        return 0;
}

/* BPF_JMP: *skip receives how many instructions to skip after this one. */
static int eval_jump(const struct cbpf *m, const struct sock_filter *f, size_t *skip)
{
        uint32_t src = BPF_SRC(f->code) == BPF_X ? m->X : f->k;
        bool cond;

        switch (BPF_OP(f->code)) {
        case BPF_JA:
                *skip = f->k;
                return 0;
        case BPF_JEQ:
                cond = m->A == src;
                break;
        case BPF_JGT:
                cond = m->A > src;
                break;
        case BPF_JGE:
                cond = m->A >= src;
                break;
        case BPF_JSET:
                cond = (m->A & src) != 0;
                break;
        default:
                return -EINVAL;
        }
        *skip = cond ? f->jt : f->jf;
        return 0;
}

/* BPF_MISC: TAX or TXA. */
static void eval_misc(struct cbpf *m, const struct sock_filter *f)
{
        if (BPF_MISCOP(f->code) == BPF_TAX)
                m->X = m->A;
        else
                m->A = m->X;
}

int seccomp_eval(const struct sock_filter *prog, size_t n, const struct seccomp_data *sd,
                 uint32_t *ret)
{
        struct cbpf m = {};

        for (size_t pc = 0; pc < n; pc++) {
                const struct sock_filter *f = &prog[pc];
                size_t skip = 0;
                int r = 0;

                switch (BPF_CLASS(f->code)) {
                case BPF_LD:
                case BPF_LDX:
                        r = eval_load(&m, f, sd);
                        break;
                case BPF_ST:
                case BPF_STX:
                        r = eval_store(&m, f);
                        break;
                case BPF_ALU:
                        r = eval_alu(&m, f);
                        break;
                case BPF_JMP:
                        r = eval_jump(&m, f, &skip);
                        break;
                case BPF_RET:
                        *ret = BPF_RVAL(f->code) == BPF_A ? m.A : f->k;
                        return 0;
                case BPF_MISC:
                        eval_misc(&m, f);
                        break;
                default:
                        return -EINVAL;
                }
                if (r < 0)
                        return r;
                pc += skip;
        }
        return -EINVAL; /* fell off the end: the kernel would have rejected it */
}
