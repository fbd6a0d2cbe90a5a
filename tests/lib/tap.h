/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * tap.h: a minimal TAP producer for the unit tests. Each test is a function
 * returning bool; ASSERT* macros print file:line and the failed condition and
 * return false, so a test can also `goto out` by hand where it must clean up.
 * tests/run adds the results of every binary into one closing line.
 */
#pragma once

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tap_n, tap_failed;

static inline void plan(int n)
{
        printf("1..%d\n", n);
        fflush(stdout);
}

static inline void ok(bool cond, const char *name)
{
        tap_n++;
        if (!cond)
                tap_failed++;
        printf("%sok %d - %s\n", cond ? "" : "not ", tap_n, name);
        fflush(stdout);
}

static inline void skip(const char *name, const char *reason)
{
        tap_n++;
        printf("ok %d - %s # SKIP %s\n", tap_n, name, reason);
        fflush(stdout);
}

static inline void skip_all(const char *reason)
{
        printf("1..0 # SKIP %s\n", reason);
        fflush(stdout);
        exit(77);
}

static inline int tap_done(void)
{
        return tap_failed ? 1 : 0;
}

#define ASSERT(cond)                                                                               \
        do {                                                                                       \
                if (!(cond)) {                                                                     \
                        fprintf(stderr, "# %s:%d: assertion failed: %s\n", __FILE__, __LINE__,     \
                                #cond);                                                            \
                        return false;                                                              \
                }                                                                                  \
        } while (0)

#define ASSERT_EQ(a, b)                                                                            \
        do {                                                                                       \
                long long _a_ = (long long)(a), _b_ = (long long)(b);                              \
                if (_a_ != _b_) {                                                                  \
                        fprintf(stderr, "# %s:%d: %s == %s failed: %lld != %lld\n", __FILE__,      \
                                __LINE__, #a, #b, _a_, _b_);                                       \
                        return false;                                                              \
                }                                                                                  \
        } while (0)

#define ASSERT_OK(expr)                                                                            \
        do {                                                                                       \
                long long _r_ = (long long)(expr);                                                 \
                if (_r_ < 0) {                                                                     \
                        fprintf(stderr, "# %s:%d: %s failed: %s\n", __FILE__, __LINE__, #expr,     \
                                strerror((int)-_r_));                                              \
                        return false;                                                              \
                }                                                                                  \
        } while (0)

#define ASSERT_STREQ(a, b)                                                                         \
        do {                                                                                       \
                const char *_a_ = (a), *_b_ = (b);                                                 \
                if (!_a_ || !_b_ || strcmp(_a_, _b_) != 0) {                                       \
                        fprintf(stderr, "# %s:%d: \"%s\" != \"%s\"\n", __FILE__, __LINE__,         \
                                _a_ ? _a_ : "(null)", _b_ ? _b_ : "(null)");                       \
                        return false;                                                              \
                }                                                                                  \
        } while (0)

/* Run a test function: TEST(name) with `static bool name(void)`. */
#define RUN(fn) ok(fn(), #fn)
