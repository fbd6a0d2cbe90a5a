/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * oracle.h: read another process's memory the way a careful dumper does,
 * without changing what is read.
 *
 * Reading /proc/PID/mem faults pages in. Of a private anonymous mapping, a
 * read of an untouched page maps the shared zero page on some kernels and
 * allocates a real zeroed page on others (PAGEMAP_SCAN then reports it
 * written): an oracle that reads holes would make the next checkpoint read
 * them. So pagemap is asked first: a page of a private anonymous mapping
 * that is neither present nor swapped is zero and is not read. Every other
 * page is read: a private file mapping's untouched page is the file's (a read
 * maps the page-cache page, no anonymous copy), and shared mappings are read
 * whole by ckptd anyway.
 *
 *   struct oracle o;
 *   oracle_open(&o, pid);                    0 or -errno
 *   oracle_read(&o, addr, buf);              1 read, 0 zero without reading,
 *                                            -1 unreadable (buf zeroed)
 *   oracle_close(&o);
 */
#pragma once

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ORACLE_PAGE 4096UL
#define ORACLE_PM_PRESENT (1ULL << 63)
#define ORACLE_PM_SWAPPED (1ULL << 62)

struct oracle_map {
        uint64_t start, end;
        bool private_anon;
};

struct oracle {
        int mem, pagemap;
        struct oracle_map *maps;
        size_t n_maps;
        uint64_t n_read, n_zero; /* pages read, pages taken as zero unread */
};

static inline void oracle_close(struct oracle *o)
{
        if (o->mem >= 0)
                close(o->mem);
        if (o->pagemap >= 0)
                close(o->pagemap);
        free(o->maps);
        o->mem = o->pagemap = -1;
        o->maps = NULL;
        o->n_maps = 0;
}

/* Private, no file (inode 0), and not a kernel-provided special mapping. */
static inline bool oracle_is_private_anon(const char *perms, unsigned long inode, const char *path)
{
        if (perms[3] != 'p' || inode != 0)
                return false;
        if (!*path)
                return true;
        return path[0] == '[' && strncmp(path, "[vdso]", 6) != 0 &&
               strncmp(path, "[vvar", 5) != 0 && strncmp(path, "[vsyscall]", 10) != 0 &&
               strncmp(path, "[uprobes]", 9) != 0;
}

static inline int oracle_open(struct oracle *o, int pid)
{
        char path[64], line[4096];
        FILE *f;
        int r = 0;

        *o = (struct oracle){.mem = -1, .pagemap = -1};
        snprintf(path, sizeof(path), "/proc/%d/mem", pid);
        o->mem = open(path, O_RDONLY | O_CLOEXEC);
        snprintf(path, sizeof(path), "/proc/%d/pagemap", pid);
        o->pagemap = open(path, O_RDONLY | O_CLOEXEC);
        if (o->mem < 0 || o->pagemap < 0) {
                r = -errno;
                oracle_close(o);
                return r;
        }
        snprintf(path, sizeof(path), "/proc/%d/maps", pid);
        f = fopen(path, "re");
        if (!f) {
                r = -errno;
                oracle_close(o);
                return r;
        }
        while (fgets(line, sizeof(line), f)) {
                unsigned long long s, e;
                unsigned long inode;
                char perms[8] = "", name[4096] = "";
                struct oracle_map *m;

                if (sscanf(line, "%llx-%llx %7s %*s %*s %lu %4095[^\n]", &s, &e, perms, &inode,
                           name) < 4)
                        continue;
                m = realloc(o->maps, (o->n_maps + 1) * sizeof(*m));
                if (!m) {
                        r = -ENOMEM;
                        break;
                }
                o->maps = m;
                {
                        char *p = name;

                        while (*p == ' ')
                                p++;
                        o->maps[o->n_maps++] =
                                (struct oracle_map){s, e, oracle_is_private_anon(perms, inode, p)};
                }
        }
        fclose(f);
        if (r < 0)
                oracle_close(o);
        return r;
}

static inline const struct oracle_map *oracle_find(const struct oracle *o, uint64_t addr)
{
        for (size_t i = 0; i < o->n_maps; i++)
                if (addr >= o->maps[i].start && addr < o->maps[i].end)
                        return &o->maps[i];
        return NULL;
}

static inline int oracle_read(struct oracle *o, uint64_t addr, void *buf)
{
        const struct oracle_map *m = oracle_find(o, addr);

        if (m && m->private_anon) {
                uint64_t e;

                if (pread(o->pagemap, &e, sizeof(e), (off_t)(addr / ORACLE_PAGE * sizeof(e))) !=
                    (ssize_t)sizeof(e)) {
                        memset(buf, 0, ORACLE_PAGE);
                        return -1;
                }
                if (!(e & (ORACLE_PM_PRESENT | ORACLE_PM_SWAPPED))) {
                        memset(buf, 0, ORACLE_PAGE);
                        o->n_zero++;
                        return 0;
                }
        }
        if (pread(o->mem, buf, ORACLE_PAGE, (off_t)addr) != (ssize_t)ORACLE_PAGE) {
                memset(buf, 0, ORACLE_PAGE);
                return -1;
        }
        o->n_read++;
        return 1;
}
