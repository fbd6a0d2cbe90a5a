/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pattern.h: the page pattern the scripted mutators (memctl, tc-mem) write
 * and check, the temp files their file-backed regions map, and the kinds of
 * region both map on "alloc".
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
#include <sys/mman.h>
#include <sys/shm.h>
#include <unistd.h>

#include "prng.h"
#include "workload.h"

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

/*
 * pattern_map: map PAGES pages for r (a slot of region_new()) as its kind
 * says, r->fd and r->path set for the kinds that have them:
 *   anon        private anonymous
 *   shared      shared anonymous
 *   sysv        a SysV shm segment (IPC_PRIVATE, removed at once: it goes
 *               with the last detach)
 *   memfd       a shared mapping of a memfd
 *   file        a private mapping (of a read-only descriptor; r->fd is
 *               open for writing) of a temp file holding pattern
 *               PATTERN_FILE_SEED (unwritten pages are the file's, written
 *               ones copied on write)
 *   fileshared  a shared mapping of such a file
 *   heap        grown with sbrk(), page-aligned
 * PROG names the temp file. Returns 0, or -errno with nothing left mapped,
 * open or on disk (-EINVAL: an unknown kind or no pages).
 */
static inline int pattern_map(struct region *r, const char *prog, size_t pages)
{
        size_t len = pages * PAGE;
        void *p = MAP_FAILED;
        int shared = MAP_SHARED;

        if (pages == 0)
                return -EINVAL;
        if (strcmp(r->kind, "anon") == 0) {
                p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        } else if (strcmp(r->kind, "shared") == 0) {
                p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        } else if (strcmp(r->kind, "sysv") == 0) {
                int id = shmget(IPC_PRIVATE, len, IPC_CREAT | 0600);

                if (id >= 0) {
                        p = shmat(id, NULL, 0);
                        if (p == (void *)-1)
                                p = MAP_FAILED;
                        shmctl(id, IPC_RMID, NULL);
                }
        } else if (strcmp(r->kind, "memfd") == 0) {
                r->fd = memfd_create(r->name, MFD_CLOEXEC);
                if (r->fd >= 0 && ftruncate(r->fd, (off_t)len) == 0)
                        p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, r->fd, 0);
        } else if (strcmp(r->kind, "file") == 0 || strcmp(r->kind, "fileshared") == 0) {
                char name[sizeof(r->name)];

                /* A copy: r->name and r->path are parts of one object. */
                memcpy(name, r->name, sizeof(name));
                if (strcmp(r->kind, "file") == 0)
                        shared = MAP_PRIVATE;
                r->fd = pattern_file(r->path, sizeof(r->path), prog, name, pages);
                if (r->fd >= 0 && shared == MAP_SHARED)
                        p = mmap(NULL, len, PROT_READ | PROT_WRITE, shared, r->fd, 0);
                else if (r->fd >= 0 && fsync(r->fd) == 0) {
                        /* Mapped from a read-only descriptor, as ld.so maps
                         * a library's data: a mapping keeps its file open
                         * as it was opened, and one open for writing is a
                         * writer (daemon/track/filestamp.h). */
                        int ro = open(r->path, O_RDONLY | O_CLOEXEC);

                        if (ro >= 0) {
                                p = mmap(NULL, len, PROT_READ | PROT_WRITE, shared, ro, 0);
                                close(ro);
                        }
                } else if (r->fd < 0)
                        errno = -r->fd;
        } else if (strcmp(r->kind, "heap") == 0) {
                uintptr_t cur = (uintptr_t)sbrk(0), aligned = (cur + PAGE - 1) & ~(PAGE - 1);

                if (sbrk((intptr_t)(aligned - cur + len)) == (void *)-1)
                        errno = ENOMEM;
                else
                        p = (void *)aligned;
        } else {
                errno = EINVAL;
        }
        if (p == MAP_FAILED) {
                int e = errno ? errno : EIO;

                if (r->fd >= 0)
                        close(r->fd);
                r->fd = -1;
                if (r->path[0])
                        unlink(r->path);
                r->path[0] = 0;
                return -e;
        }
        r->start = p;
        r->pages = pages;
        return 0;
}
