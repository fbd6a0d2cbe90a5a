/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* export.c: see export.h. Runs on a worker thread. */
#include "export.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "macro.h"

void export_result_done(struct export_result *r)
{
        free(r->layout);
        free(r->written);
        r->layout = NULL;
        r->written = NULL;
}

int export_result_add_run(struct export_result *r, uint64_t addr)
{
        if (r->n_written > 0 && r->written[r->n_written - 1].end == addr) {
                r->written[r->n_written - 1].end = addr + PAGE_SIZE_4K;
                return 0;
        }
        if (r->n_written == r->alloc_written) {
                size_t n = MAX(16u, r->alloc_written * 2);
                struct export_run *p = realloc(r->written, n * sizeof(*p));
                if (!p)
                        return -ENOMEM;
                r->written = p;
                r->alloc_written = n;
        }
        r->written[r->n_written++] = (struct export_run){addr, addr + PAGE_SIZE_4K};
        return 0;
}

static int read_ref_page(const struct ckpt_region *rg, uint64_t addr, void *buf)
{
        _cleanup_close_ int fd = -EBADF;
        struct stat st;
        ssize_t n;

        if (!rg->path || rg->path[0] != '/')
                return -ENOENT;
        fd = open(rg->path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if ((uint64_t)st.st_ino != rg->inode)
                return -ESTALE;
        n = pread(fd, buf, PAGE_SIZE_4K, rg->offset + (addr - rg->start));
        if (n < 0)
                return -errno;
        /* Past the end of the file a mapping reads as zeroes. */
        memset((char *)buf + n, 0, PAGE_SIZE_4K - n);
        return n > 0;
}

int export_read_page(struct ckpt_store *s, const struct ckpt_manifest *view, uint64_t addr,
                     void *buf)
{
        const struct ckpt_page *p = manifest_find_page(view, addr);
        const struct ckpt_region *rg;
        int r;

        if (p && p->kind == CKPT_PAGE_DATA) {
                r = store_get_page(s, view->uid, p->key, buf);
                return r < 0 ? r : 1;
        }
        if (p)
                return 0; /* an explicit zero page */
        rg = manifest_find_region(view, addr);
        if (rg && (rg->flags & CKPT_REGION_REF))
                return read_ref_page(rg, addr, buf);
        return 0;
}

int export_raw(struct ckpt_store *s, const struct ckpt_manifest *view,
               const struct ckpt_range *ranges, size_t n_ranges, int fd, struct export_result *ret)
{
        _cleanup_free_ struct ckpt_range *all = NULL;
        _cleanup_free_ void *buf = NULL;
        uint64_t off = 0;
        int r;

        if (!ranges || n_ranges == 0) {
                all = calloc(MAX(view->n_regions, 1u), sizeof(*all));
                if (!all)
                        return -ENOMEM;
                for (size_t i = 0; i < view->n_regions; i++)
                        all[i] = (struct ckpt_range){view->regions[i].start, view->regions[i].end};
                ranges = all;
                n_ranges = view->n_regions;
        }
        ret->layout = calloc(MAX(n_ranges, 1u), sizeof(*ret->layout));
        buf = malloc(PAGE_SIZE_4K);
        if (!ret->layout || !buf)
                return -ENOMEM;

        for (size_t i = 0; i < n_ranges; i++) {
                ret->layout[i] = (struct export_extent){ranges[i].start, ranges[i].end, off};
                off += ranges[i].end - ranges[i].start;
        }
        ret->n_layout = n_ranges;
        ret->size = off;
        if (ftruncate(fd, 0) < 0 || ftruncate(fd, off) < 0) {
                r = -errno;
                snprintf(ret->error, sizeof(ret->error), "cannot size the output file: %s",
                         strerror(-r));
                return r;
        }

        for (size_t i = 0; i < n_ranges; i++) {
                uint64_t a = PAGE_ALIGN_UP(ranges[i].start), end = PAGE_ALIGN_DOWN(ranges[i].end);

                for (; a < end; a += PAGE_SIZE_4K) {
                        r = export_read_page(s, view, a, buf);
                        if (r == -ESTALE || r == -ENOENT) {
                                /* A region recorded by reference whose file was
                                 * replaced or removed: its bytes are gone. Say
                                 * so rather than write zeroes in their place. */
                                const struct ckpt_region *rg = manifest_find_region(view, a);

                                snprintf(ret->error, sizeof(ret->error),
                                         "page 0x%llx of '%s' was recorded by reference and the "
                                         "file has been %s since checkpoint %llu (checkpoint "
                                         "--all stores such pages)",
                                         (unsigned long long)a, rg && rg->path ? rg->path : "?",
                                         r == -ESTALE ? "replaced" : "removed",
                                         (unsigned long long)view->id);
                                return -ESTALE;
                        }
                        if (r < 0) {
                                snprintf(ret->error, sizeof(ret->error),
                                         "cannot read page 0x%llx of checkpoint %llu: %s",
                                         (unsigned long long)a, (unsigned long long)view->id,
                                         r == -EBADMSG ? "object is corrupt" : strerror(-r));
                                return r;
                        }
                        if (r == 0)
                                continue;
                        if (pwrite(fd, buf, PAGE_SIZE_4K,
                                   ret->layout[i].offset + (a - ranges[i].start)) !=
                            (ssize_t)PAGE_SIZE_4K) {
                                r = errno ? -errno : -EIO;
                                snprintf(ret->error, sizeof(ret->error),
                                         "cannot write the output file: %s", strerror(-r));
                                return r;
                        }
                        r = export_result_add_run(ret, a);
                        if (r < 0)
                                return r;
                }
        }
        if (fsync(fd) < 0 && errno != EINVAL)
                return -errno;
        return 0;
}
