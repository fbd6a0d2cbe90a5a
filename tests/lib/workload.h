/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * workload.h: the command protocol every memory workload speaks (lab, memctl,
 * tc-mem, eng-mem, and the benchmark targets b-mem and bigmem), and the named
 * regions it reports. Header only, for single-file programs; the regions
 * table and the loop are the program's own, one of each.
 *
 * The protocol, on stdin and stdout (tests/integration/lib.sh's
 * start_workload and wl drive it):
 *   - the program prints "ready pid=P [key=value...]" once it is set up;
 *   - then it reads one command per line; each answer is any number of data
 *     lines followed by one line "ok [key=value...]" or "err REASON";
 *   - the same command for the same thing in every workload:
 *       info    lines "NAME KIND 0xSTART 0xEND", one a region, then "ok"
 *       exit    "ok", and the program exits 0
 *     and, in the workloads that have them: alloc NAME KIND PAGES (map a
 *     region -> ok start= end=), write NAME SEED [FIRST COUNT] (fill pages
 *     with pattern SEED), touch NAME SEED (dirty one word in every page),
 *     sum NAME (read every word, write none -> ok sum=). A program's other
 *     commands are its own (see its head comment), on the same loop.
 *   - an unknown command answers "err unknown command 'WORD'"; EOF on stdin
 *     ends the program as "exit" does.
 * Regions are addressed by name; FIRST COUNT are page indexes in the region.
 */
#pragma once

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef PAGE
#define PAGE 4096UL
#endif
#define WL_MAX_REGIONS 32
/* What a program's command() returns for a command it does not know. */
#define WL_UNKNOWN 2

struct region {
        char name[32];
        char kind[16];
        char *start;
        size_t pages;
        int fd;         /* memfd / file, -1 otherwise */
        char path[256]; /* temp file of a file-backed region */
};

static struct region wl_regions[WL_MAX_REGIONS];

static inline struct region *region_find(const char *name)
{
        for (size_t i = 0; i < WL_MAX_REGIONS; i++)
                if (wl_regions[i].start && strcmp(wl_regions[i].name, name) == 0)
                        return &wl_regions[i];
        return NULL;
}

/* A free slot named NAME of KIND (fd -1, nothing mapped yet: set start and
 * pages), or NULL when the name is taken or the table full. */
static inline struct region *region_new(const char *name, const char *kind)
{
        if (region_find(name))
                return NULL;
        for (size_t i = 0; i < WL_MAX_REGIONS; i++)
                if (!wl_regions[i].start) {
                        struct region *r = &wl_regions[i];

                        memset(r, 0, sizeof(*r));
                        r->fd = -1;
                        snprintf(r->name, sizeof(r->name), "%s", name);
                        snprintf(r->kind, sizeof(r->kind), "%s", kind);
                        return r;
                }
        return NULL;
}

/* Enter a region mapped before the loop starts (a program's fixed memory). */
static inline struct region *region_add(const char *name, const char *kind, void *start,
                                        size_t pages)
{
        struct region *r = region_new(name, kind);

        if (r) {
                r->start = start;
                r->pages = pages;
        }
        return r;
}

/* region_clip: pages FIRST..FIRST+COUNT of r; FIRST < 0 means all of them. */
static inline int region_clip(const struct region *r, long first, long count, size_t *ret_first,
                              size_t *ret_count)
{
        if (first < 0)
                first = 0, count = (long)r->pages;
        if (count < 0 || (size_t)first + (size_t)count > r->pages)
                return -ERANGE;
        *ret_first = (size_t)first;
        *ret_count = (size_t)count;
        return 0;
}

/* The "ready" line: "ready pid=P" and what fmt adds (NULL: nothing). */
__attribute__((format(printf, 1, 2))) static inline void workload_ready(const char *fmt, ...)
{
        va_list ap;

        setvbuf(stdout, NULL, _IOLBF, 0);
        printf("ready pid=%d", (int)getpid());
        if (fmt) {
                putchar(' ');
                va_start(ap, fmt);
                vprintf(fmt, ap);
                va_end(ap);
        }
        putchar('\n');
}

/*
 * workload_loop: run one command per line of stdin until "exit" or EOF, after
 * workload_ready(). "info" and "exit" are answered here; every other line
 * goes to command() (NULL: none), which prints its own answer ("ok ..." or
 * "err ...") and returns 0 or 1, or returns WL_UNKNOWN for a command it does
 * not know, or -errno for an "err REASON" line. cleanup (may be NULL) runs at
 * exit.
 */
static inline int workload_loop(int (*command)(char *line), void (*cleanup)(void))
{
        char line[4096];

        if (cleanup)
                atexit(cleanup);
        while (fgets(line, sizeof(line), stdin)) {
                char word[32] = "";
                int r;

                if (sscanf(line, "%31s", word) < 1)
                        continue;
                if (strcmp(word, "exit") == 0) {
                        printf("ok\n");
                        return 0;
                }
                if (strcmp(word, "info") == 0) {
                        for (size_t i = 0; i < WL_MAX_REGIONS; i++)
                                if (wl_regions[i].start)
                                        printf("%s %s %p %p\n", wl_regions[i].name,
                                               wl_regions[i].kind, (void *)wl_regions[i].start,
                                               (void *)(wl_regions[i].start +
                                                        wl_regions[i].pages * PAGE));
                        printf("ok\n");
                        continue;
                }
                r = command ? command(line) : WL_UNKNOWN;
                if (r == WL_UNKNOWN)
                        printf("err unknown command '%s'\n", word);
                else if (r < 0)
                        printf("err %s\n", strerror(-r));
        }
        return 0;
}
