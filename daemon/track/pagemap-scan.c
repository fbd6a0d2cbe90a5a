/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pagemap-scan.c: PAGEMAP_SCAN walks, userfaultfd write-protect registration
 * and soft-dirty reads of another process's page tables (see
 * pagemap-scan.h). No ptrace, no state.
 */
#include "pagemap-scan.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ckpt/uapi.h"
#include "macro.h"

int uffd_pages_push(uint64_t **pages, size_t *n_pages, size_t *n_alloc, uint64_t addr)
{
        if (*n_pages == *n_alloc) {
                size_t k = *n_alloc ? *n_alloc * 2 : 256;
                uint64_t *p = reallocarray(*pages, k, sizeof(uint64_t));

                if (!p)
                        return -ENOMEM;
                *pages = p;
                *n_alloc = k;
        }
        (*pages)[(*n_pages)++] = addr;
        return 0;
}

static int cmp_u64(const void *a, const void *b)
{
        uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

        return x < y ? -1 : x > y;
}

void uffd_pages_sort_unique(uint64_t *pages, size_t *n_pages)
{
        size_t k = 0;

        if (*n_pages == 0)
                return;
        qsort(pages, *n_pages, sizeof(*pages), cmp_u64);
        for (size_t i = 1; i < *n_pages; i++)
                if (pages[i] != pages[k])
                        pages[++k] = pages[i];
        *n_pages = k + 1;
}

int uffd_open_pagemap(pid_t pid)
{
        char path[64];
        int fd;

        snprintf(path, sizeof(path), "/proc/%d/pagemap", (int)pid);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return errno == ENOENT ? -ESRCH : negative_errno();
        return fd;
}

static int pagemap_scan(int pagemap_fd, uint64_t start, uint64_t end, uint64_t flags,
                        uint64_t **pages, size_t *n_pages, size_t *n_alloc)
{
        struct page_region vec[512];
        uint64_t cur = start;

        while (cur < end) {
                struct pm_scan_arg arg = {
                        .size = sizeof(arg),
                        .flags = flags,
                        .start = cur,
                        .end = end,
                        .vec = pages ? (uint64_t)(uintptr_t)vec : 0,
                        .vec_len = pages ? ELEMENTSOF(vec) : 0,
                        /* Never holes: matching them would install
                         * write-protect markers in every unpopulated page,
                         * page tables for the whole range. A hole that
                         * gets written becomes a fresh page without the
                         * write-protect bit, so it still reads WRITTEN. */
                        .category_mask = PAGE_IS_WRITTEN | PAGE_IS_PFNZERO,
                        /* ...and not the shared zero page: a read of a
                         * never-written page (by the process, or through
                         * /proc/PID/mem) maps it without the write-protect
                         * bit, yet nothing was written. A later write
                         * replaces it with a page of its own, which then
                         * reads WRITTEN. */
                        .category_inverted = PAGE_IS_PFNZERO,
                        .category_anyof_mask = PAGE_IS_PRESENT | PAGE_IS_SWAPPED,
                        .return_mask = PAGE_IS_WRITTEN,
                };
                int n = ioctl(pagemap_fd, PAGEMAP_SCAN, &arg);

                if (n < 0)
                        return negative_errno();
                for (int i = 0; i < n && pages; i++)
                        for (uint64_t a = vec[i].start; a < vec[i].end; a += PAGE_SIZE_4K) {
                                int r = uffd_pages_push(pages, n_pages, n_alloc, a);
                                if (r < 0)
                                        return r;
                        }
                if (arg.walk_end <= cur)
                        return -EIO; /* no progress: never loop forever */
                cur = arg.walk_end;
        }
        return 0;
}

int uffd_scan_written(int pagemap_fd, uint64_t start, uint64_t end, bool rearm, uint64_t **pages,
                      size_t *n_pages, size_t *n_alloc)
{
        return pagemap_scan(pagemap_fd, start, end,
                            PM_SCAN_CHECK_WPASYNC | (rearm ? PM_SCAN_WP_MATCHING : 0), pages,
                            n_pages, n_alloc);
}

int uffd_register_wp(int uffd, int pagemap_fd, uint64_t start, uint64_t end)
{
        struct uffdio_register reg = {
                .range = {.start = start, .len = end - start},
                .mode = UFFDIO_REGISTER_MODE_WP,
        };
        int r;

        if (ioctl(uffd, UFFDIO_REGISTER, &reg) < 0)
                return negative_errno();
        /* Protect every page now present or swapped. Never UFFDIO_WRITEPROTECT
         * here: with UFFD_FEATURE_WP_UNPOPULATED it puts a marker in every
         * unpopulated page of the range, which for a large sparse mapping
         * means page tables for all of it. */
        r = pagemap_scan(pagemap_fd, start, end, PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC, NULL,
                         NULL, NULL);
        if (r < 0) {
                uffd_unregister(uffd, start, end);
                return r;
        }
        return 0;
}

static int writeprotect(int uffd, uint64_t start, uint64_t end)
{
        struct uffdio_writeprotect wp = {
                .range = {.start = start, .len = end - start},
                .mode = UFFDIO_WRITEPROTECT_MODE_WP,
        };

        if (ioctl(uffd, UFFDIO_WRITEPROTECT, &wp) < 0)
                return negative_errno();
        return 0;
}

int uffd_register_wp_all(int uffd, uint64_t start, uint64_t end)
{
        struct uffdio_register reg = {
                .range = {.start = start, .len = end - start},
                .mode = UFFDIO_REGISTER_MODE_WP,
        };
        int r;

        if (ioctl(uffd, UFFDIO_REGISTER, &reg) < 0)
                return negative_errno();
        r = writeprotect(uffd, start, end);
        if (r < 0) {
                uffd_unregister(uffd, start, end);
                return r;
        }
        return 0;
}

int uffd_scan_holes(int uffd, int pagemap_fd, uint64_t start, uint64_t end, bool rearm,
                    uint64_t **pages, size_t *n_pages, size_t *n_alloc)
{
        struct page_region vec[512];
        uint64_t cur = start;

        while (cur < end) {
                /* Neither present nor swapped, inverted: what is left of a
                 * page is nothing at all. */
                struct pm_scan_arg arg = {
                        .size = sizeof(arg),
                        .flags = PM_SCAN_CHECK_WPASYNC,
                        .start = cur,
                        .end = end,
                        .vec = (uint64_t)(uintptr_t)vec,
                        .vec_len = ELEMENTSOF(vec),
                        .category_mask = PAGE_IS_PRESENT | PAGE_IS_SWAPPED,
                        .category_inverted = PAGE_IS_PRESENT | PAGE_IS_SWAPPED,
                        .return_mask = PAGE_IS_PRESENT,
                };
                int n = ioctl(pagemap_fd, PAGEMAP_SCAN, &arg);

                if (n < 0)
                        return negative_errno();
                for (int i = 0; i < n; i++) {
                        for (uint64_t a = vec[i].start; a < vec[i].end; a += PAGE_SIZE_4K) {
                                int r = uffd_pages_push(pages, n_pages, n_alloc, a);
                                if (r < 0)
                                        return r;
                        }
                        if (rearm) {
                                int r = writeprotect(uffd, vec[i].start, vec[i].end);
                                if (r < 0)
                                        return r;
                        }
                }
                if (arg.walk_end <= cur)
                        return -EIO;
                cur = arg.walk_end;
        }
        return 0;
}

int uffd_unregister(int uffd, uint64_t start, uint64_t end)
{
        struct uffdio_range range = {.start = start, .len = end - start};

        if (ioctl(uffd, UFFDIO_UNREGISTER, &range) < 0)
                return negative_errno();
        return 0;
}

/* Soft-dirty: a run-time probed path for kernels built with it. */
static int read_pagemap_entries(int fd, uint64_t start, size_t n, uint64_t *out)
{
        ssize_t k = pread(fd, out, n * 8, (off_t)(start / PAGE_SIZE_4K * 8));

        if (k < 0)
                return negative_errno();
        if ((size_t)k != n * 8)
                return -EIO;
        return 0;
}

bool uffd_soft_dirty_supported(void)
{
        static int cached = -1;
        _cleanup_close_ int pm = -EBADF, cr = -EBADF;
        volatile uint8_t *p;
        uint64_t e = 0;
        bool ok = false;

        if (cached >= 0)
                return cached;
        p = mmap(NULL, PAGE_SIZE_4K, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
                return false;
        p[0] = 1;
        pm = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
        cr = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
        if (pm >= 0 && cr >= 0 && write(cr, "4", 1) == 1 &&
            read_pagemap_entries(pm, (uint64_t)(uintptr_t)p, 1, &e) == 0 &&
            !(e & PM_ENTRY_SOFT_DIRTY)) {
                p[0] = 2;
                ok = read_pagemap_entries(pm, (uint64_t)(uintptr_t)p, 1, &e) == 0 &&
                     (e & PM_ENTRY_SOFT_DIRTY);
        }
        munmap((void *)p, PAGE_SIZE_4K);
        cached = ok;
        return ok;
}

/* The pages of [start, end) whose pagemap entry want() picks, appended. */
static int select_entries(int pagemap_fd, uint64_t start, uint64_t end, bool (*want)(uint64_t e),
                          uint64_t **pages, size_t *n_pages, size_t *n_alloc)
{
        uint64_t buf[512];

        for (uint64_t a = start; a < end;) {
                size_t n = MIN((end - a) / PAGE_SIZE_4K, ELEMENTSOF(buf));
                int r = read_pagemap_entries(pagemap_fd, a, n, buf);

                if (r < 0)
                        return r;
                for (size_t i = 0; i < n; i++)
                        if (want(buf[i])) {
                                r = uffd_pages_push(pages, n_pages, n_alloc, a + i * PAGE_SIZE_4K);
                                if (r < 0)
                                        return r;
                        }
                a += n * PAGE_SIZE_4K;
        }
        return 0;
}

static bool entry_soft_dirty(uint64_t e)
{
        return e & PM_ENTRY_SOFT_DIRTY;
}

int uffd_soft_dirty_scan(int pagemap_fd, uint64_t start, uint64_t end, uint64_t **pages,
                         size_t *n_pages, size_t *n_alloc)
{
        return select_entries(pagemap_fd, start, end, entry_soft_dirty, pages, n_pages, n_alloc);
}

/* Not a private copy of the process's own: a page of the file (mapped, or
 * a hole that a read would fill from the file). Swapped pages of a private
 * mapping are anonymous copies. */
static bool entry_not_own_copy(uint64_t e)
{
        if (e & PM_ENTRY_SWAPPED)
                return false;
        return !(e & PM_ENTRY_PRESENT) || (e & PM_ENTRY_FILE);
}

int uffd_file_pages(int pagemap_fd, uint64_t start, uint64_t end, uint64_t **pages, size_t *n_pages,
                    size_t *n_alloc)
{
        return select_entries(pagemap_fd, start, end, entry_not_own_copy, pages, n_pages, n_alloc);
}

int uffd_soft_dirty_clear(pid_t pid)
{
        _cleanup_close_ int fd = -EBADF;
        char path[64];

        snprintf(path, sizeof(path), "/proc/%d/clear_refs", (int)pid);
        fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
                return errno == ENOENT ? -ESRCH : negative_errno();
        if (write(fd, "4", 1) != 1)
                return negative_errno();
        return 0;
}
