/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * seccomp-eval.h: a classic BPF interpreter just big enough for seccomp
 * filters (the classic instruction set, no extensions), so that the injector
 * (inject.h) can tell, before it touches a process, whether that process's
 * filters would let a system call through. It is a pure function of the
 * filter and the seccomp_data: no system calls, no state, no logging.
 *
 * It is stricter than the kernel where that is safe: an instruction it does
 * not know, a load outside struct seccomp_data (or not a 32-bit aligned
 * word), scratch memory out of range, a division by zero, or running off the
 * end of the program is -EINVAL, which the caller treats as "forbidden".
 * As in the kernel, BPF_MOD and shifts by a constant of 32 or more are not
 * seccomp instructions (-EINVAL), and a shift by X shifts by X & 31.
 * tests/unit/test-seccomp-eval.c runs filters through both and compares.
 */
#pragma once

#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdint.h>

/* Run prog[0..n) on sd; *ret receives the filter's return value (the
 * SECCOMP_RET_* action and its data). 0, or -EINVAL (see above). */
int seccomp_eval(const struct sock_filter *prog, size_t n, const struct seccomp_data *sd,
                 uint32_t *ret);
