/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * proc-util.h: reading what /proc says of a process or of one of its
 * threads: the state, start time and comm of /proc/PID/stat, and the
 * "Key:\tvalue" fields of /proc/PID[/task/TID]/status. Every generic /proc
 * reader of the daemon lives here; parsers that are one module's business
 * stay with it (procmaps.c's /proc/PID/maps, the pagemap readers, access.c's
 * credential check, policy.c's match facts).
 *
 * No state, no logging. Each call reads the file afresh, so what it returns
 * may be stale as soon as it returns (a process exits, a thread changes
 * state); callers that need it to hold check again while the process is
 * frozen. Errors are negative errno: -ESRCH when the process (or thread) is
 * gone, -EBADMSG when a file does not read as the kernel writes it, -ENOENT
 * when a status field is not there (an older kernel), -errno otherwise.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The whole of a small file (/proc/...) into buf, NUL-terminated, at most
 * size - 1 bytes. The length, or -ESRCH when it (or its task) is gone. */
int read_file_at(const char *path, char *buf, size_t size);
/* The same for name relative to the directory dir_fd (a /proc/PID opened
 * once, so that every file read is of the same process). */
int read_file_atfd(int dir_fd, const char *name, char *buf, size_t size);

/* /proc/PID/stat fields: state letter, start time (field 22, clock ticks
 * since boot), comm. Any pointer may be NULL. -ESRCH when the process is gone. */
int proc_stat_read(pid_t pid, char *ret_state, uint64_t *ret_start_time, char ret_comm[16]);

/* The value of a "Key:\tvalue" line of a status file (status_path: the path
 * of /proc/PID/status or /proc/PID/task/TID/status), leading blanks skipped,
 * cut to size - 1 bytes. Reads the first 8 KiB of the file. */
int status_field(const char *status_path, const char *key, char *ret, size_t size);

/* The same for the field of thread tid of pid (/proc/PID/task/TID/status),
 * read line by line (lines of up to 255 bytes), cut to size - 1 bytes. */
int read_status_field(pid_t pid, pid_t tid, const char *field, char *buf, size_t size);

/* The thread group (the process) thread pid belongs to, from the Tgid: line
 * of /proc/PID/status. -EIO when there is none. */
int read_tgid(pid_t pid, pid_t *ret);

/* The parent of pid (field 4 of /proc/PID/stat; 0 for the first process). */
int proc_ppid(pid_t pid, pid_t *ret);

/* The children of every thread of pid (/proc/PID/task/TID/children), each
 * once, appended to *pids (n, malloc'ed, grown as needed) unless already
 * there. A thread that exits meanwhile is skipped. -E2BIG when more than
 * max pids would be held (what was found stays), -ESRCH when pid is gone. */
int proc_children(pid_t pid, size_t max, pid_t **pids, size_t *n);
