/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * procmaps.c: parsing of /proc/PID/maps into classified regions, and the
 * clipping of regions to requested ranges (see procmaps.h). Pure computation
 * apart from reading the maps file; logs at debug level only.
 */
#include "procmaps.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "ckpt/proto.h"
#include "log.h"
#include "macro.h"

struct ckpt_region *procmaps_free(struct ckpt_region *regions, size_t n)
{
        if (!regions)
                return NULL;
        for (size_t i = 0; i < n; i++)
                free(regions[i].path);
        free(regions);
        return NULL;
}

static bool has_suffix(const char *s, const char *suffix)
{
        size_t a = strlen(s), b = strlen(suffix);
        return a >= b && strcmp(s + a - b, suffix) == 0;
}

static uint32_t procmaps_classify(const char *path, bool shared, uint64_t inode, uint32_t prot)
{
        uint32_t flags = shared ? CKPT_REGION_SHARED : CKPT_REGION_PRIVATE;

        if (!(prot & PROT_READ))
                flags |= CKPT_REGION_UNREADABLE;

        if (!path || !*path)
                return flags | CKPT_REGION_ANON;
        if (path[0] == '[') {
                if (strcmp(path, "[heap]") == 0)
                        return flags | CKPT_REGION_ANON | CKPT_REGION_HEAP;
                if (strcmp(path, "[stack]") == 0 || strncmp(path, "[stack:", 7) == 0)
                        return flags | CKPT_REGION_ANON | CKPT_REGION_STACK;
                if (strncmp(path, "[anon:", 6) == 0)
                        return flags | CKPT_REGION_ANON;
                if (strncmp(path, "[anon_shmem:", 12) == 0)
                        return (flags & ~CKPT_REGION_PRIVATE) | CKPT_REGION_SHARED |
                               CKPT_REGION_ANON;
                /* [vdso], [vvar], [vvar_vclock], [vsyscall], [uprobes]: the
                 * kernel's, recreated on restore, never read. */
                return flags | CKPT_REGION_SPECIAL;
        }
        /* /dev/zero (deleted) for MAP_SHARED|MAP_ANONYMOUS, /SYSV… for SysV
         * shm, /memfd:… for memfd, any other deleted file: nothing on disk
         * to refer to later, the content must be read. */
        if (strncmp(path, "/memfd:", 7) == 0 || strncmp(path, "/SYSV", 5) == 0 ||
            has_suffix(path, " (deleted)"))
                return flags | CKPT_REGION_ANON | (inode ? CKPT_REGION_FILE : 0);
        return flags | CKPT_REGION_FILE;
}

/* One maps line: "start-end perms offset major:minor inode   path". */
static int procmaps_parse_line(const char *line, size_t len, struct ckpt_region *ret)
{
        unsigned long long start, end, offset, inode;
        unsigned int major, minor;
        char perms[5];
        int consumed = 0;
        const char *path;
        size_t path_len;

        if (sscanf(line, "%llx-%llx %4s %llx %x:%x %llu%n", &start, &end, perms, &offset, &major,
                   &minor, &inode, &consumed) != 7)
                return -EBADMSG;
        if (start >= end || (start & 4095) || (end & 4095) || strlen(perms) != 4)
                return -EBADMSG;

        /* The path starts after padding spaces and runs to the end of the
         * line: it may contain spaces itself. */
        path = line + consumed;
        path_len = len - consumed;
        while (path_len > 0 && *path == ' ') {
                path++;
                path_len--;
        }

        *ret = (struct ckpt_region){
                .start = start,
                .end = end,
                .offset = offset,
                .dev = makedev(major, minor),
                .inode = inode,
                .prot = (perms[0] == 'r' ? PROT_READ : 0) | (perms[1] == 'w' ? PROT_WRITE : 0) |
                        (perms[2] == 'x' ? PROT_EXEC : 0),
                .track = CKPT_TRACK_SCAN,
        };
        if (path_len > 0) {
                ret->path = strndup(path, path_len);
                if (!ret->path)
                        return -ENOMEM;
        }
        ret->flags = procmaps_classify(ret->path, perms[3] == 's', inode, ret->prot);
        return 0;
}

int procmaps_parse(const char *text, struct ckpt_region **ret, size_t *ret_n)
{
        struct ckpt_region *regions = NULL;
        size_t n = 0, n_alloc = 0;
        const char *p = text;
        int r;

        while (*p) {
                const char *nl = strchr(p, '\n');
                size_t len = nl ? (size_t)(nl - p) : strlen(p);

                if (len > 0) {
                        if (n == n_alloc) {
                                size_t k = n_alloc ? n_alloc * 2 : 64;
                                struct ckpt_region *t = reallocarray(regions, k, sizeof(*t));
                                if (!t) {
                                        r = -ENOMEM;
                                        goto fail;
                                }
                                regions = t;
                                n_alloc = k;
                        }
                        r = procmaps_parse_line(p, len, &regions[n]);
                        if (r < 0)
                                goto fail;
                        if (n > 0 && regions[n].start < regions[n - 1].end) {
                                free(regions[n].path);
                                r = -EBADMSG;
                                goto fail;
                        }
                        n++;
                }
                p += len;
                if (*p == '\n')
                        p++;
        }
        *ret = regions;
        *ret_n = n;
        return 0;
fail:
        procmaps_free(regions, n);
        return r;
}

int procmaps_read(pid_t pid, struct ckpt_region **ret, size_t *ret_n)
{
        _cleanup_free_ char *buf = NULL;
        _cleanup_close_ int fd = -EBADF;
        size_t size = 0, alloc = 0;
        char path[64];

        snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return errno == ENOENT ? -ESRCH : negative_errno();
        for (;;) {
                ssize_t k;

                if (alloc - size < 65536) {
                        size_t a = alloc ? alloc * 2 : 262144;
                        char *t = realloc(buf, a);
                        if (!t)
                                return -ENOMEM;
                        buf = t;
                        alloc = a;
                }
                k = read(fd, buf + size, alloc - size - 1);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return errno == ESRCH ? -ESRCH : negative_errno();
                }
                if (k == 0)
                        break;
                size += k;
        }
        buf[size] = 0;
        return procmaps_parse(buf, ret, ret_n);
}

static int range_cmp(const void *a, const void *b)
{
        const struct ckpt_range *x = a, *y = b;
        return x->start < y->start ? -1 : x->start > y->start ? 1 : 0;
}

int procmaps_normalize_ranges(const struct ckpt_range *ranges, size_t n, struct ckpt_range **ret,
                              size_t *ret_n)
{
        _cleanup_free_ struct ckpt_range *v = NULL;
        size_t k = 0;

        if (n > CKPT_MAX_RANGES)
                return -E2BIG;
        for (size_t i = 0; i < n; i++)
                if (ranges[i].start >= ranges[i].end)
                        return -EINVAL;
        v = malloc(sizeof(*v) * MAX(n, (size_t)1));
        if (!v)
                return -ENOMEM;
        memcpy(v, ranges, sizeof(*v) * n);
        qsort(v, n, sizeof(*v), range_cmp);
        for (size_t i = 0; i < n; i++) {
                if (k > 0 && v[i].start <= v[k - 1].end)
                        v[k - 1].end = MAX(v[k - 1].end, v[i].end);
                else
                        v[k++] = v[i];
        }
        *ret = TAKE_PTR(v);
        *ret_n = k;
        return 0;
}

static int push_region(struct ckpt_region **v, size_t *n, size_t *n_alloc,
                       const struct ckpt_region *src, uint64_t start, uint64_t end)
{
        struct ckpt_region *r;

        if (*n == *n_alloc) {
                size_t k = *n_alloc ? *n_alloc * 2 : 64;
                struct ckpt_region *t = reallocarray(*v, k, sizeof(*t));
                if (!t)
                        return -ENOMEM;
                *v = t;
                *n_alloc = k;
        }
        r = &(*v)[*n];
        *r = *src;
        r->start = start;
        r->end = end;
        r->offset = src->offset + (start - src->start);
        r->path = NULL;
        if (src->path) {
                r->path = strdup(src->path);
                if (!r->path)
                        return -ENOMEM;
        }
        (*n)++;
        return 0;
}

static int push_range(struct ckpt_range **v, size_t *n, size_t *n_alloc, uint64_t start,
                      uint64_t end)
{
        if (start >= end)
                return 0;
        if (*n > 0 && (*v)[*n - 1].end == start) {
                (*v)[*n - 1].end = end; /* coalesce */
                return 0;
        }
        if (*n == *n_alloc) {
                size_t k = *n_alloc ? *n_alloc * 2 : 16;
                struct ckpt_range *t = reallocarray(*v, k, sizeof(*t));
                if (!t)
                        return -ENOMEM;
                *v = t;
                *n_alloc = k;
        }
        (*v)[(*n)++] = (struct ckpt_range){start, end};
        return 0;
}

int procmaps_clip(const struct ckpt_region *regions, size_t n, const struct ckpt_range *ranges,
                  size_t n_ranges, struct ckpt_region **ret, size_t *ret_n,
                  struct ckpt_range **ret_skipped, size_t *ret_n_skipped)
{
        struct ckpt_region *out = NULL;
        struct ckpt_range *skipped = NULL;
        size_t n_out = 0, a_out = 0, n_sk = 0, a_sk = 0;
        int r = 0;

        if (!ranges) {
                for (size_t i = 0; i < n && r >= 0; i++)
                        r = push_region(&out, &n_out, &a_out, &regions[i], regions[i].start,
                                        regions[i].end);
                goto done;
        }

        /* ranges[] is sorted and disjoint (procmaps_normalize_ranges), and so
         * are regions[]: one merge pass over both. */
        for (size_t j = 0; j < n_ranges && r >= 0; j++) {
                uint64_t s = ranges[j].start, e = ranges[j].end;
                uint64_t cs = PAGE_ALIGN_UP(s), ce = PAGE_ALIGN_DOWN(e);
                uint64_t cursor = s; /* first byte of the range not yet accounted */

                for (size_t i = 0; i < n && r >= 0; i++) {
                        const struct ckpt_region *g = &regions[i];
                        uint64_t a, b;

                        if (g->end <= s)
                                continue;
                        if (g->start >= e)
                                break;
                        /* Unmapped gap before this region. */
                        if (g->start > cursor)
                                r = push_range(&skipped, &n_sk, &a_sk, cursor, g->start);
                        cursor = MAX(cursor, g->end);
                        a = MAX(g->start, cs);
                        b = MIN(g->end, ce);
                        if (r >= 0 && a < b)
                                r = push_region(&out, &n_out, &a_out, g, a, b);
                }
                if (r >= 0 && cursor < e)
                        r = push_range(&skipped, &n_sk, &a_sk, cursor, e);
        }

done:
        if (r < 0) {
                procmaps_free(out, n_out);
                free(skipped);
                return r;
        }
        *ret = out;
        *ret_n = n_out;
        if (ret_skipped) {
                *ret_skipped = skipped;
                *ret_n_skipped = n_sk;
        } else
                free(skipped);
        return 0;
}

static bool stat_is_mapped_file(const struct stat *st, const struct ckpt_region *vma)
{
        return S_ISREG(st->st_mode) && (uint64_t)st->st_dev == vma->dev &&
               (uint64_t)st->st_ino == vma->inode;
}

int procmaps_file_identity(pid_t pid, const struct ckpt_region *vma, struct ckpt_file_identity *ret)
{
        char mf[96];
        struct stat st;
        bool found;

        snprintf(mf, sizeof(mf), "/proc/%d/map_files/%llx-%llx", (int)pid,
                 (unsigned long long)vma->start, (unsigned long long)vma->end);
        found = stat(mf, &st) == 0 && stat_is_mapped_file(&st, vma);
        if (!found && vma->path && vma->path[0] == '/')
                found = fstatat(AT_FDCWD, vma->path, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                        stat_is_mapped_file(&st, vma);
        if (!found)
                return -ESTALE;
        *ret = (struct ckpt_file_identity){
                .dev = (uint64_t)st.st_dev,
                .inode = (uint64_t)st.st_ino,
                .size = (uint64_t)st.st_size,
                .ctime_sec = (int64_t)st.st_ctim.tv_sec,
                .ctime_nsec = (uint32_t)st.st_ctim.tv_nsec,
        };
        return 0;
}
