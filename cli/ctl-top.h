/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ctl-top.h: the model and the rendering of `ckptctl top`: the rows of the
 * tracked processes of an io.ckptd.WatchProcesses reply, their rates against
 * the reply before (dirty MiB/s, write faults/s, store growth), their order,
 * and the screen or the plain lines they make. The terminal and the call
 * itself are ckptctl.c's. Replies are the daemon's and taken as they come:
 * a malformed process entry is left out, text is shown with control
 * characters replaced, so nothing the daemon or a process's name holds can
 * drive the terminal. Linked into ckptctl and the fuzz targets.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include <json-c/json.h>

#define TOP_MAX_ROWS 4096

enum top_sort {
        TOP_SORT_PID,
        TOP_SORT_COMM,
        TOP_SORT_DIRTY,
        TOP_SORT_RATE,
        TOP_SORT_FAULTS,
        TOP_SORT_PAUSE,
        TOP_SORT_NEXT,
        TOP_SORT_STORE,
        _TOP_SORT_MAX,
};

struct top_row {
        pid_t pid;
        pid_t group; /* the root of its tree group; 0: none */
        char comm[16], tracking[17];
        uint64_t dirty_pages, write_faults, stored_bytes, checkpoints;
        double pause_ms; /* < 0: no checkpoint yet */
        double next_sec; /* < 0: none due */
        bool have_rate;  /* seen in the reply before too */
        double dirty_mib_s, faults_s, store_bytes_s;
};

struct top_view {
        struct top_row *rows;
        size_t n;
        double uptime;
        bool have_store; /* the store's figures are root's */
        uint64_t store_bytes, store_checkpoints;
        size_t n_groups; /* roots of tree groups among the rows */
        bool have_store_rate;
        double store_bytes_s;
        enum top_sort sort;
        bool reverse;
        unsigned frames;
};

/* The sort named (pid, comm, dirty, rate, faults, pause, next, store), or -1. */
int top_sort_from_name(const char *name);
/* The sort a key picks on the terminal (p c d r f l n s), or -1. */
int top_sort_from_key(int key);
const char *top_sort_name(enum top_sort s);

/* Take a new reply: rows replaced, rates against the rows before. -EBADMSG
 * when it is no WatchProcesses reply (the view is kept), -ENOMEM. */
int top_view_update(struct top_view *v, struct json_object *reply);
void top_view_sort(struct top_view *v);
/* The screen: a summary line, the keys, the header and as many rows as
 * `height` lines hold, each cut to `width` columns and ended by an erase to
 * the end of the line. */
void top_view_print_screen(const struct top_view *v, FILE *f, unsigned width, unsigned height);
/* Plain lines: the header (when header is true) and one line per row. */
void top_view_print_plain(const struct top_view *v, FILE *f, bool header);
void top_view_done(struct top_view *v);
