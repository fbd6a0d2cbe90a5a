/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * log.h: logging to stderr with <N> syslog priority prefixes, which journald
 * understands and a terminal still reads well. log_*_errno() logs and returns
 * the (negative) error it was given, so a caller can `return log_error_errno(r, …)`;
 * "%m" in a format shows strerror(-r).
 *
 * Library-like modules (store, manifest, pagemap) log at debug level only; the
 * manager and the method handlers log once, where an error is handled.
 */
#pragma once

#include <errno.h>
#include <syslog.h>

#include "macro.h"

extern int log_max_level; /* LOG_ERR … LOG_DEBUG, default LOG_INFO */

int log_internal(int level, int error, const char *file, int line, const char *fmt, ...)
        _printf_(5, 6);
int log_level_from_string(const char *s);
/* Extra journal fields (CKPT_PID=, CKPT_ID=) for the next message on this thread,
 * used when logging to the journal; ignored on plain stderr. */
void log_set_fields(long pid, unsigned long long id);
void log_open_journal(void);

#define log_full_errno(level, error, ...)                                                          \
        ({                                                                                         \
                int _l_ = (level), _e_ = (error);                                                  \
                (_l_ <= log_max_level) ? log_internal(_l_, _e_, __FILE__, __LINE__, __VA_ARGS__)   \
                                       : -abs(_e_);                                                \
        })

#define log_debug(...) log_full_errno(LOG_DEBUG, 0, __VA_ARGS__)
#define log_info(...) log_full_errno(LOG_INFO, 0, __VA_ARGS__)
#define log_notice(...) log_full_errno(LOG_NOTICE, 0, __VA_ARGS__)
#define log_warning(...) log_full_errno(LOG_WARNING, 0, __VA_ARGS__)
#define log_error(...) log_full_errno(LOG_ERR, 0, __VA_ARGS__)

#define log_debug_errno(e, ...) log_full_errno(LOG_DEBUG, e, __VA_ARGS__)
#define log_info_errno(e, ...) log_full_errno(LOG_INFO, e, __VA_ARGS__)
#define log_notice_errno(e, ...) log_full_errno(LOG_NOTICE, e, __VA_ARGS__)
#define log_warning_errno(e, ...) log_full_errno(LOG_WARNING, e, __VA_ARGS__)
#define log_error_errno(e, ...) log_full_errno(LOG_ERR, e, __VA_ARGS__)
