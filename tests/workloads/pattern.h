/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pattern.h: what the scripted mutators (memctl, tc-mem) share: the page
 * pattern, their named regions and the command loop on stdin.
 *
 * A page's content is a pseudo-random function of (seed, page index in its
 * region), never of its address: two processes given the same seeds hold the
 * same bytes, and a test can predict them. Header only, for single-file
 * programs; it never looks at a checkpointer.
 */
#pragma once

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "prng.h"

#define PAGE 4096UL

/* The seed of the pages a file region's temp file holds before any write. */
#define PATTERN_FILE_SEED 0xf11e

struct region {
        char name[32];
        char kind[16]; /* memctl's alloc kind; empty in tc-mem */
        char *start;
        size_t pages;
        int fd;         /* memfd / file, -1 otherwise */
        char path[256]; /* temp file of a file-backed region */
};

static inline void pattern_page(void *page, uint64_t seed, size_t index)
{
        struct prng p = PRNG_INIT(prng_mix(seed * 0x9e3779b97f4a7c15ULL + index + 1));

        prng_fill(&p, page, PAGE);
}

/*
 * pattern_file: create a temp file PROG-PID-NAME.XXXXXX in $TMPDIR (or /tmp),
 * its name in path, holding PAGES pages of pattern PATTERN_FILE_SEED.
 * Returns the fd, or -errno (the file may then exist, named in path).
 */
static inline int pattern_file(char *path, size_t size, const char *prog, const char *name,
                               size_t pages)
{
        const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
        char buf[PAGE];
        int fd;

        snprintf(path, size, "%s/%s-%d-%s.XXXXXX", dir, prog, (int)getpid(), name);
        fd = mkostemp(path, O_CLOEXEC);
        if (fd < 0)
                return -errno;
        for (size_t i = 0; i < pages; i++) {
                pattern_page(buf, PATTERN_FILE_SEED, i);
                if (pwrite(fd, buf, PAGE, (off_t)(i * PAGE)) != (ssize_t)PAGE) {
                        close(fd);
                        return -EIO;
                }
        }
        return fd;
}

static inline struct region *region_find(struct region *regions, size_t n, const char *name)
{
        for (size_t i = 0; i < n; i++)
                if (regions[i].start && strcmp(regions[i].name, name) == 0)
                        return &regions[i];
        return NULL;
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

/*
 * command_loop: print "ready pid=P", then run one command per line of stdin
 * until "exit" or EOF. command() prints its own "ok ..." answer, or returns
 * -errno for an "err REASON" line.
 */
static inline int command_loop(int (*command)(char *line), void (*cleanup)(void))
{
        char line[512];

        setvbuf(stdout, NULL, _IOLBF, 0);
        atexit(cleanup);
        printf("ready pid=%d\n", (int)getpid());
        while (fgets(line, sizeof(line), stdin)) {
                int r;

                if (strncmp(line, "exit", 4) == 0) {
                        printf("ok\n");
                        return 0;
                }
                r = command(line);
                if (r < 0)
                        printf("err %s\n", strerror(-r));
        }
        return 0;
}
