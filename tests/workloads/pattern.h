/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pattern.h: the page pattern the scripted mutators (memctl, tc-mem) write
 * and check, and the temp files their file-backed regions map.
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

#ifndef PAGE
#define PAGE 4096UL
#endif

/* The seed of the pages a file region's temp file holds before any write. */
#define PATTERN_FILE_SEED 0xf11e

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
