/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * policy.h: checkpoint policies. This module owns the policy file format, its
 * parser, the matching of a policy against a live process (from facts read in
 * /proc), loading the policy directories, and writing runtime policies. It
 * never schedules, tracks or checkpoints anything, and never logs above debug:
 * every error goes back to the caller as "FILE:LINE: reason".
 *
 * Where policies live
 *   /etc/ckptd/policy.d/NAME.policy   static, written by the administrator
 *   /run/ckptd/policy.d/NAME.policy   runtime, written by `ckptctl track PID
 *                                     --every DUR` (as pid-PID.policy)
 * Directories are read in order and a file of a later directory replaces the
 * file of the same name of an earlier one, as systemd drop-ins do: a file in
 * /run overrides the same name in /etc, even when the /run file is bad (the
 * error is then reported and neither applies). A symlink to /dev/null masks
 * the same name without an error. Only regular files whose name ends in
 * ".policy" and does not start with "." are read; a policy's name is its file
 * name without ".policy". Policies are kept sorted by name.
 *
 * Format: one policy per file, systemd-style INI.
 *   - One "KEY=VALUE" per line; whitespace around the key, the "=" and the
 *     value is ignored. Keys and section names are case-sensitive.
 *   - Lines whose first non-blank character is '#' or ';' are comments; blank
 *     lines are ignored. There are no trailing comments: "Comm=x # y" means
 *     the value "x # y". No line continuation, no quoting.
 *   - A "[Section]" line starts a section; a section may appear more than
 *     once. A key before any section, an unknown section or an unknown key is
 *     an error. A key given twice is an error, except the repeatable Range=.
 *   - A line is at most POLICY_LINE_MAX bytes, a file at most POLICY_FILE_MAX
 *     bytes; a NUL byte anywhere is an error.
 *
 *   [Match]        every key given must match; at least one key is required
 *   Pid=N          the process id (> 0)
 *   StartTime=N    with Pid=: the start time of that process (/proc/PID/stat
 *                  field 22, clock ticks since boot), so a reused pid does not
 *                  match; written by `ckptctl track`
 *   Comm=GLOB      /proc/PID/comm, fnmatch(3) glob ("redis-*"), exact otherwise
 *   Exe=GLOB       the target of /proc/PID/exe, fnmatch(3) glob without flags
 *                  ('*' also matches '/'), starting with '/' or '*'. A process whose
 *                  exe cannot be read (kernel thread, no permission) does not
 *                  match. A " (deleted)" suffix of the link is ignored.
 *   Cgroup=PATH    the cgroup v2 path from /proc/PID/cgroup ("0::PATH"),
 *                  prefix match on whole components: /system.slice/a.service
 *                  matches itself and /system.slice/a.service/x, not
 *                  /system.slice/a.service2; "/" matches every process
 *   Unit=NAME      the systemd unit: the last component of the cgroup path
 *                  that ends in ".service" or ".scope", exact
 *   User=NAME|UID  the owner (real uid); a name is resolved when the file is
 *                  read, an unknown name is an error
 *
 *   [Checkpoint]
 *   Interval=DUR   required, at least 100ms: take a checkpoint this often,
 *                  start to start (scheduler.c: one that overruns is late)
 *   DirtyTrigger=SIZE  checkpoint early when more than SIZE is dirty; 0 or
 *                  unset: never early
 *   Range=A-B      addresses [A, B) (hex with 0x, or decimal), A < B; only the
 *                  pages wholly inside are saved; repeatable; an empty
 *                  "Range=" drops the ranges given before it; default (none):
 *                  the whole address space
 *   FullEvery=N    every Nth checkpoint is full; 0 = never (default 0)
 *   All=BOOL       store read-only file mappings too, not by reference
 *                  (default no); BOOL: yes/no, true/false, on/off, 1/0
 *   RunAs=UID:GID  take the checkpoints with the rights of this uid and gid
 *                  (access.h), checked at every checkpoint; only in a file
 *                  owned by root (ckptd writes it into the runtime policy of
 *                  `ckptctl track --every` asked by another user)
 *
 *   [Retention]    optional
 *   Keep=N         keep the newest N checkpoints of the process; 0 =
 *                  unlimited (default 0)
 *   MaxAge=DUR     delete checkpoints older than DUR; 0 or unset: no limit
 *
 * Whose rights a policy uses: a file owned by root acts as root, or as
 *   RunAs= when given; a file owned by another uid acts as that uid and the
 *   file's group (RunAs= naming anyone else is an error). A process the policy
 *   matches is tracked and checkpointed only when those rights allow it.
 *
 * DUR: one or more "<integer><unit>" terms, whitespace allowed between them,
 *   added up ("1h 30m", "1h30m"); units us, ms, s, m (or min), h, d, w; a
 *   bare integer is seconds. SIZE: an integer with an optional suffix K, M, G,
 *   T (powers of 1024, "KiB"/"KB"/"B" spellings accepted); a bare integer is
 *   bytes. Overflowing values are errors.
 *
 * Example (systemd/example.policy has a complete, commented one):
 *   [Match]
 *   Unit=redis.service
 *   [Checkpoint]
 *   Interval=30s
 *   DirtyTrigger=64M
 *   [Retention]
 *   Keep=20
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "manifest.h"

#define POLICY_SUFFIX ".policy"
#define POLICY_LINE_MAX 8192u
#define POLICY_FILE_MAX (1024u * 1024u)
#define POLICY_INTERVAL_MIN_USEC 100000ULL
#define POLICY_ERROR_MAX 512 /* a good size for the err buffers below */

struct policy {
        char *name;   /* file name without ".policy" */
        char *path;   /* the file it came from */
        bool runtime; /* from the last of two or more directories (/run) */

        /* [Match]: an unset key is 0 / NULL / false */
        pid_t match_pid;
        uint64_t match_start_time; /* only with match_pid */
        char *match_comm;          /* glob */
        char *match_exe;           /* glob */
        char *match_cgroup;        /* path prefix, normalised without a trailing '/' */
        char *match_unit;
        bool match_has_uid;
        uid_t match_uid;
        char *match_user; /* as written (a name or a number) */

        /* [Checkpoint] */
        uint64_t interval_usec;
        uint64_t dirty_trigger_bytes; /* 0: none */
        struct ckpt_range *ranges;    /* NULL / 0: the whole address space */
        size_t n_ranges;
        unsigned full_every; /* 0: never */
        bool all;
        bool group_tree;   /* Group=tree: a match and its descendants, as one group */
        bool group_cgroup; /* Group=cgroup: the processes of a match's cgroup, as one group */
        /* Whose rights its checkpoints use: RunAs= as parsed (has_run_as);
         * once loaded from a file, the final answer (see above). */
        bool has_run_as;
        uid_t run_as_uid;
        gid_t run_as_gid;

        /* [Retention] */
        unsigned keep;         /* 0: unlimited */
        uint64_t max_age_usec; /* 0: none */
};

/*
 * Parse one policy. path names it in errors and gives its name; content need
 * not be NUL-terminated. On error returns -EINVAL (bad content), -E2BIG (too
 * large), -ENOENT for an unknown User= name, -ENOMEM; err (if given) gets
 * "PATH:LINE: reason".
 */
int policy_parse(const char *path, const char *content, size_t len, struct policy **ret, char *err,
                 size_t err_len);
/* Read and parse a file; -errno of open/read also comes with "PATH: reason". */
int policy_load_file(const char *path, struct policy **ret, char *err, size_t err_len);
struct policy *policy_free(struct policy *p);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct policy *, policy_free);

/* Facts about a process read from /proc. Reads can race with the process
 * exiting (or its pid being reused mid-read): -ESRCH. */
struct proc_info {
        pid_t pid;
        uid_t uid;           /* real uid: the owner */
        uint64_t start_time; /* /proc/PID/stat field 22 */
        char comm[16];
        char *exe;    /* NULL: unreadable (kernel thread, zombie, no permission) */
        char *cgroup; /* the v2 path; NULL: none */
        char *unit;   /* NULL: not in a .service or .scope */
};

int proc_info_read(pid_t pid, struct proc_info *ret);
void proc_info_done(struct proc_info *info);

/* Whether every [Match] key of p matches the process. info may be NULL: it is
 * then read here (a process that cannot be read does not match). */
bool policy_matches(const struct policy *p, pid_t pid, const struct proc_info *info);

/* A file that could not be used; message is "PATH:LINE: reason". */
struct policy_error {
        char *path;
        char *message;
        int error; /* negative errno */
};

struct policy_set;

/*
 * Load every *.policy file of the directories, in order; a later directory
 * overrides the same file name of an earlier one; with two or more, the last
 * directory is the runtime one (policy->runtime). A missing directory is empty. Bad files
 * (and unreadable directories) go to the errors list and never stop the
 * others. Fails only for -ENOMEM.
 */
int policy_set_load(const char *const *dirs, size_t n_dirs, struct policy_set **ret);
struct policy_set *policy_set_free(struct policy_set *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct policy_set *, policy_set_free);
size_t policy_set_count(const struct policy_set *s);
/* The i-th policy in name order, NULL past the end. */
const struct policy *policy_set_get(const struct policy_set *s, size_t i);
const struct policy *policy_set_find(const struct policy_set *s, const char *name);
/* The first policy (in name order) that matches the process, NULL if none. */
const struct policy *policy_set_match(const struct policy_set *s, pid_t pid,
                                      const struct proc_info *info);
size_t policy_set_n_errors(const struct policy_set *s);
const struct policy_error *policy_set_error(const struct policy_set *s, size_t i);

#define POLICY_SET_FOREACH(p, s, i) for ((i) = 0; ((p) = policy_set_get((s), (i))); (i)++)

/*
 * Write DIR/pid-PID.policy (DIR is created if missing) matching PID and its
 * start time, with Interval= and Keep=, mode 0600, atomically (temp file, fsync,
 * rename). ret_path (if given) gets the path. -ESRCH: no such process;
 * -EINVAL: interval below 100ms or pid <= 0.
 */
int policy_write_runtime(const char *dir, pid_t pid, uint64_t interval_usec, unsigned keep,
                         char *ret_path, size_t len);
/* The same, for uid:gid (RunAs=, unless uid is 0). The file is mode 0600. */
int policy_write_runtime_as(const char *dir, pid_t pid, uint64_t interval_usec, unsigned keep,
                            uid_t uid, gid_t gid, char *ret_path, size_t len);
/* Remove DIR/pid-PID.policy; -ENOENT if there is none. */
int policy_remove_runtime(const char *dir, pid_t pid);

/* "30s", "1h 30m", "500ms", bare seconds: see the format above. */
int parse_duration_usec(const char *s, uint64_t *ret);
/* "64M", "1G", "4096": see the format above. */
int parse_size_bytes(const char *s, uint64_t *ret);
/* The shortest exact spelling of a duration ("1h 30m", "500ms", "0"). */
char *format_duration_usec(char *buf, size_t len, uint64_t usec);
