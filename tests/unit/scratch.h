/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * scratch.h: the files of the tests that open stores on real files
 * (test-store, test-gc): under one top directory per run, made with
 * mkdtemp(), each test gets a fresh path of its own, and the top is removed
 * at the end; flip_byte() damages a file in place. Nothing here knows about
 * stores.
 */
#pragma once

#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static unsigned scratch_counter;

/* A fresh path TOP/sN (not created), or NULL; the caller frees it. */
static inline char *scratch_new(const char *top)
{
        char *d = NULL;

        if (asprintf(&d, "%s/s%u", top, scratch_counter++) < 0)
                return NULL;
        return d;
}

static inline void rm_rf(const char *path)
{
        char *cmd = NULL;

        if (asprintf(&cmd, "rm -rf '%s'", path) >= 0) {
                if (system(cmd) != 0) {
                        /* left for the next run's /tmp cleaning */
                }
                free(cmd);
        }
}

/* XOR the byte at offset at of DIR/REL with 0x5a. */
static inline bool flip_byte(const char *dir, const char *rel, off_t at)
{
        char path[512];
        uint8_t b;
        int fd;

        snprintf(path, sizeof(path), "%s/%s", dir, rel);
        fd = open(path, O_RDWR | O_CLOEXEC);
        if (fd < 0)
                return false;
        if (pread(fd, &b, 1, at) != 1 || (b ^= 0x5a, pwrite(fd, &b, 1, at) != 1)) {
                close(fd);
                return false;
        }
        close(fd);
        return true;
}
