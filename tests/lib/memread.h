/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * memread.h: read the memory of a stopped process without changing it. The
 * one oracle behind every test that compares a checkpoint with memory (the
 * memdump workload, test-engine), kept apart from the daemon's code.
 *
 * Reading a page through /proc/PID/mem faults it in when it is not
 * populated. Some kernels map their shared zero page there on a read fault
 * of private anonymous memory; others allocate a real zeroed page, which
 * then shows present (and written) in the pagemap, and which the next
 * checkpoint rightly reads. A read fault in a shared memory mapping (shmem,
 * memfd, shared anonymous) allocates a page on every kernel. So a page is
 * read through /proc/PID/mem only when /proc/PID/pagemap says it is present
 * or swapped (bits 63, 62); otherwise, by what the mapping is:
 *   private anonymous, /dev/zero   zero, and nothing is read
 *   a regular file behind it       read from that file through
 *   (private or shared; shmem,     /proc/PID/map_files/START-END: a private
 *   memfd, shared anonymous too)   mapping's unwritten page is the file's
 *                                  bytes, a shared one the object's, and a
 *                                  hole of a shmem object reads as zero
 *                                  without allocating anything
 *   anything else ([vdso], device  through /proc/PID/mem
 *   files), or map_files missing
 * Nothing here ever assumes the zero page is shared.
 *
 *   memread_open(&m, pid)          0 or -errno
 *   memread_page(&m, addr, buf)    one page: 1 read (from memory or its
 *                                  file), 0 not populated (zero, not read),
 *                                  <0 cannot be read (unmapped, beyond the
 *                                  end of its file, an I/O error page); buf
 *                                  is then zero
 *   memread_close(&m)
 *   memread_count_present(pid)     pages present in the page tables of the
 *                                  address space (or -errno): what the oracle
 *                                  must not change. Special mappings are left
 *                                  out: reading [vdso] maps the kernel's own
 *                                  page there, which no checkpoint reads
 *
 * Every function is static: include it once per program.
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
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <unistd.h>

#define MEMREAD_PAGE 4096ull
#define MEMREAD_PM_PRESENT (1ull << 63)
#define MEMREAD_PM_SWAPPED (1ull << 62)
#define MEMREAD_PM_CHUNK 512 /* pagemap entries read at once */

enum memread_kind {
        MEMREAD_ANON,  /* private anonymous: not populated reads as zero */
        MEMREAD_FILE,  /* a file or shared memory object behind the mapping */
        MEMREAD_OTHER, /* [vdso], [vvar], devices: through /proc/PID/mem */
};

struct memread_map {
        uint64_t start, end, offset;
        enum memread_kind kind;
        bool shared;
        int fd; /* the mapped file through map_files; -1 not opened, -2 cannot be */
};

struct memread {
        pid_t pid;
        int mem_fd, pagemap_fd;
        struct memread_map *maps; /* as /proc/PID/maps listed them at open */
        size_t n_maps, cur;
        uint64_t pm_base; /* first address of pm[] */
        size_t pm_n;
        uint64_t pm[MEMREAD_PM_CHUNK];
        /* What memread_page did, page by page. */
        uint64_t n_mem, n_file, n_zero, n_unreadable;
};

static inline void memread_close(struct memread *m)
{
        for (size_t i = 0; i < m->n_maps; i++)
                if (m->maps[i].fd >= 0)
                        close(m->maps[i].fd);
        free(m->maps);
        m->maps = NULL;
        m->n_maps = 0;
        if (m->mem_fd >= 0)
                close(m->mem_fd);
        if (m->pagemap_fd >= 0)
                close(m->pagemap_fd);
        m->mem_fd = m->pagemap_fd = -1;
}

/* The kind of a mapping, from its line in /proc/PID/maps. A private
 * mapping of a file is decided once its file is open (memread_file_fd). */
static inline enum memread_kind memread_kind_of(bool shared, uint64_t inode, const char *path)
{
        if (shared || inode != 0)
                return MEMREAD_FILE;
        if (path[0] == 0 || strcmp(path, "[heap]") == 0 || strncmp(path, "[stack", 6) == 0 ||
            strncmp(path, "[anon:", 6) == 0)
                return MEMREAD_ANON;
        return MEMREAD_OTHER;
}

static inline int memread_read_maps(pid_t pid, struct memread_map **ret, size_t *ret_n)
{
        char path[64], *line = NULL;
        size_t len = 0, n = 0, alloc = 0;
        struct memread_map *v = NULL;
        FILE *f;

        snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
        f = fopen(path, "re");
        if (!f)
                return -errno;
        while (getline(&line, &len, f) > 0) {
                uint64_t s, e, off, ino;
                char perm[5];
                int k = 0;

                if (sscanf(line, "%" SCNx64 "-%" SCNx64 " %4s %" SCNx64 " %*x:%*x %" SCNu64 " %n",
                           &s, &e, perm, &off, &ino, &k) < 5 ||
                    k == 0)
                        continue;
                line[strcspn(line, "\n")] = 0;
                if (n == alloc) {
                        struct memread_map *nv;

                        alloc = alloc ? 2 * alloc : 64;
                        nv = realloc(v, alloc * sizeof(*v));
                        if (!nv) {
                                free(v);
                                free(line);
                                fclose(f);
                                return -ENOMEM;
                        }
                        v = nv;
                }
                v[n] = (struct memread_map){
                        .start = s,
                        .end = e,
                        .offset = off,
                        .shared = perm[3] == 's',
                        .kind = memread_kind_of(perm[3] == 's', ino, line + k),
                        .fd = -1,
                };
                n++;
        }
        free(line);
        fclose(f);
        *ret = v;
        *ret_n = n;
        return 0;
}

static inline int memread_open(struct memread *m, pid_t pid)
{
        char path[64];
        int r;

        memset(m, 0, sizeof(*m));
        m->pid = pid;
        m->mem_fd = m->pagemap_fd = -1;
        snprintf(path, sizeof(path), "/proc/%d/mem", (int)pid);
        m->mem_fd = open(path, O_RDONLY | O_CLOEXEC);
        if (m->mem_fd < 0)
                goto fail;
        snprintf(path, sizeof(path), "/proc/%d/pagemap", (int)pid);
        m->pagemap_fd = open(path, O_RDONLY | O_CLOEXEC);
        if (m->pagemap_fd < 0)
                goto fail;
        r = memread_read_maps(pid, &m->maps, &m->n_maps);
        if (r < 0) {
                memread_close(m);
                return r;
        }
        return 0;
fail:
        r = -errno;
        memread_close(m);
        return r;
}

static inline struct memread_map *memread_map_of(struct memread *m, uint64_t addr)
{
        size_t lo = 0, hi = m->n_maps;

        if (m->cur < m->n_maps && m->maps[m->cur].start <= addr && addr < m->maps[m->cur].end)
                return &m->maps[m->cur];
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;

                if (m->maps[mid].end <= addr)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        if (lo == m->n_maps || m->maps[lo].start > addr)
                return NULL;
        m->cur = lo;
        return &m->maps[lo];
}

/* The pagemap entry of addr; ~0 (present) when it cannot be read, so that
 * the page is read through /proc/PID/mem as any reader would. */
static inline uint64_t memread_entry(struct memread *m, uint64_t addr)
{
        uint64_t page = addr / MEMREAD_PAGE;
        ssize_t n;

        if (m->pm_n == 0 || page < m->pm_base || page >= m->pm_base + m->pm_n) {
                m->pm_base = page - page % MEMREAD_PM_CHUNK;
                n = pread(m->pagemap_fd, m->pm, sizeof(m->pm), (off_t)(m->pm_base * 8));
                m->pm_n = n > 0 ? (size_t)n / 8 : 0;
                if (page >= m->pm_base + m->pm_n) {
                        m->pm_n = 0;
                        return ~0ull;
                }
        }
        return m->pm[page - m->pm_base];
}

/* The file behind a mapping, opened once: >= 0, or -2 when there is none
 * to read (the caller then reads through /proc/PID/mem). A private mapping
 * of /dev/zero is anonymous memory. */
static inline int memread_file_fd(struct memread *m, struct memread_map *map)
{
        char path[96];
        struct stat st;

        if (map->fd != -1)
                return map->fd;
        map->fd = -2;
        snprintf(path, sizeof(path), "/proc/%d/map_files/%" PRIx64 "-%" PRIx64, (int)m->pid,
                 map->start, map->end);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -2;
        if (fstat(fd, &st) < 0) {
                close(fd);
                return -2;
        }
        if (S_ISREG(st.st_mode)) {
                map->fd = fd;
                return fd;
        }
        if (!map->shared && S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 5))
                map->kind = MEMREAD_ANON;
        else
                map->kind = MEMREAD_OTHER;
        close(fd);
        return -2;
}

static inline int memread_from_mem(struct memread *m, uint64_t addr, void *buf)
{
        if (pread(m->mem_fd, buf, MEMREAD_PAGE, (off_t)addr) == (ssize_t)MEMREAD_PAGE) {
                m->n_mem++;
                return 1;
        }
        memset(buf, 0, MEMREAD_PAGE);
        m->n_unreadable++;
        return -EIO;
}

static inline int memread_page(struct memread *m, uint64_t addr, void *buf)
{
        struct memread_map *map = memread_map_of(m, addr);
        uint64_t e;
        ssize_t n;
        int fd;

        if (!map) {
                memset(buf, 0, MEMREAD_PAGE);
                m->n_unreadable++;
                return -EFAULT;
        }
        e = memread_entry(m, addr);
        if (e & (MEMREAD_PM_PRESENT | MEMREAD_PM_SWAPPED))
                return memread_from_mem(m, addr, buf);
        fd = map->kind == MEMREAD_FILE ? memread_file_fd(m, map) : -2;
        switch (map->kind) {
        case MEMREAD_ANON:
                memset(buf, 0, MEMREAD_PAGE);
                m->n_zero++;
                return 0;
        case MEMREAD_FILE:
                if (fd < 0)
                        return memread_from_mem(m, addr, buf);
                memset(buf, 0, MEMREAD_PAGE);
                n = pread(fd, buf, MEMREAD_PAGE, (off_t)(map->offset + (addr - map->start)));
                if (n <= 0) {
                        /* Beyond the end of the file: a fault there is SIGBUS,
                         * and /proc/PID/mem cannot read it either. */
                        m->n_unreadable++;
                        return n < 0 ? -errno : -EIO;
                }
                m->n_file++; /* a short read: the rest of the page is zero */
                return 1;
        default:
                return memread_from_mem(m, addr, buf);
        }
}

/* Pages present in the page tables of the user address space, special
 * mappings ([vdso] ...) aside. */
static inline long long memread_count_present(pid_t pid)
{
        struct memread_map *maps = NULL;
        size_t n_maps = 0;
        uint64_t buf[MEMREAD_PM_CHUNK];
        long long total = 0;
        char path[64];
        int fd, r;

        r = memread_read_maps(pid, &maps, &n_maps);
        if (r < 0)
                return r;
        snprintf(path, sizeof(path), "/proc/%d/pagemap", (int)pid);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
                free(maps);
                return -errno;
        }
        for (size_t i = 0; i < n_maps; i++)
                for (uint64_t p = maps[i].start / MEMREAD_PAGE;
                     maps[i].kind != MEMREAD_OTHER && p < maps[i].end / MEMREAD_PAGE;) {
                        size_t want = (size_t)(maps[i].end / MEMREAD_PAGE - p);
                        ssize_t n;

                        if (want > MEMREAD_PM_CHUNK)
                                want = MEMREAD_PM_CHUNK;
                        n = pread(fd, buf, want * 8, (off_t)(p * 8));
                        if (n <= 0)
                                break; /* [vsyscall]: beyond the user address space */
                        for (size_t k = 0; k < (size_t)n / 8; k++)
                                total += (buf[k] & MEMREAD_PM_PRESENT) != 0;
                        p += (size_t)n / 8;
                }
        close(fd);
        free(maps);
        return total;
}
