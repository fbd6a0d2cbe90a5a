/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * macro-fundamental.h: the small helpers the daemon and its clients (libckpt,
 * ckptctl) share: scoped cleanup in the style of systemd's _cleanup_ (whose
 * macros are internal to systemd and not part of libsystemd), ownership
 * transfer, array sizing, negative errno. Header only, no state, nothing of
 * the daemon: cli/ includes it without seeing daemon/. daemon/basic/macro.h
 * builds on it.
 */
#pragma once

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _likely_(x) __builtin_expect(!!(x), 1)
#define _unlikely_(x) __builtin_expect(!!(x), 0)

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))

#define TAKE_PTR(p)                                                                                \
        ({                                                                                         \
                __typeof__(p) _p_ = (p);                                                           \
                (p) = NULL;                                                                        \
                _p_;                                                                               \
        })

#define TAKE_FD(fd)                                                                                \
        ({                                                                                         \
                int _fd_ = (fd);                                                                   \
                (fd) = -EBADF;                                                                     \
                _fd_;                                                                              \
        })

#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func)                                                    \
        static inline void func##p(type *p)                                                        \
        {                                                                                          \
                if (*p)                                                                            \
                        func(*p);                                                                  \
        }

static inline int safe_close(int fd)
{
        if (fd >= 0) {
                int saved = errno;
                close(fd);
                errno = saved;
        }
        return -EBADF;
}

static inline void closep(int *fd)
{
        safe_close(*fd);
}

static inline void freep(void *p)
{
        free(*(void **)p);
}

static inline void fclosep(FILE **f)
{
        if (*f)
                fclose(*f);
}

#define _cleanup_close_ _cleanup_(closep)
#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_fclose_ _cleanup_(fclosep)

/* Negative errno from the last failed libc call, never 0 (a libc that failed
 * without setting errno still yields an error). */
static inline int negative_errno(void)
{
        return errno > 0 ? -errno : -EIO;
}

#define PAGE_SIZE_4K 4096ULL
#define PAGE_ALIGN_DOWN(x) ((x) & ~(PAGE_SIZE_4K - 1))
#define PAGE_ALIGN_UP(x) (((x) + PAGE_SIZE_4K - 1) & ~(PAGE_SIZE_4K - 1))

#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))
