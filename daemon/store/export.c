/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* export.c: see export.h. Runs on a worker thread, whose file credentials it
 * lowers to the caller's only while it opens a reference region's file. */
#include "export.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"
#include "macro.h"

void export_result_done(struct export_result *r)
{
        free(r->layout);
        free(r->written);
        for (size_t i = 0; i < r->n_holes; i++) {
                free(r->holes[i].path);
                free(r->holes[i].reason);
        }
        free(r->holes);
        r->layout = NULL;
        r->written = NULL;
        r->holes = NULL;
        r->n_holes = r->alloc_holes = 0;
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

int export_result_add_hole(struct export_result *r, const struct ckpt_region *rg, uint64_t addr,
                           const char *reason)
{
        const char *path = rg->path ? rg->path : "";
        struct export_hole *h;

        if (r->n_holes > 0) {
                h = &r->holes[r->n_holes - 1];
                if (h->end == addr && strcmp(h->path, path) == 0 &&
                    strcmp(h->reason, reason) == 0) {
                        h->end = addr + PAGE_SIZE_4K;
                        return 0;
                }
        }
        if (r->n_holes == r->alloc_holes) {
                size_t n = MAX(8u, r->alloc_holes * 2);
                struct export_hole *p = realloc(r->holes, n * sizeof(*p));
                if (!p)
                        return -ENOMEM;
                r->holes = p;
                r->alloc_holes = n;
        }
        h = &r->holes[r->n_holes];
        *h = (struct export_hole){.start = addr, .end = addr + PAGE_SIZE_4K};
        h->path = strdup(path);
        h->reason = strdup(reason);
        if (!h->path || !h->reason) {
                free(h->path);
                free(h->reason);
                return -ENOMEM;
        }
        r->n_holes++;
        return 0;
}

/*
 * The calling thread's file credentials, switched to a caller's and back.
 * Raw system calls: setfsuid/setfsgid are per thread anyway, but glibc's
 * setgroups() broadcasts to every thread of the process; the system call
 * itself changes only the calling thread's credentials.
 */
struct fscreds_saved {
        bool switched;
        uid_t fsuid;
        gid_t fsgid;
        int n_groups;
        gid_t *groups;
};

static int gid_cmp(const void *a, const void *b)
{
        gid_t x = *(const gid_t *)a, y = *(const gid_t *)b;

        return x < y ? -1 : x > y;
}

/* Whether the thread's supplementary groups are exactly these. */
static bool groups_equal(const gid_t *cur, int n_cur, const gid_t *want, size_t n_want)
{
        _cleanup_free_ gid_t *a = NULL, *b = NULL;

        if ((size_t)n_cur != n_want)
                return false;
        if (n_want == 0)
                return true;
        a = malloc(n_want * sizeof(gid_t));
        b = malloc(n_want * sizeof(gid_t));
        if (!a || !b)
                return false;
        memcpy(a, cur, n_want * sizeof(gid_t));
        memcpy(b, want, n_want * sizeof(gid_t));
        qsort(a, n_want, sizeof(gid_t), gid_cmp);
        qsort(b, n_want, sizeof(gid_t), gid_cmp);
        return memcmp(a, b, n_want * sizeof(gid_t)) == 0;
}

static void fscreds_leave(struct fscreds_saved *sv)
{
        if (!sv->switched)
                return;
        (void)setfsuid(sv->fsuid);
        (void)setfsgid(sv->fsgid);
        if (syscall(SYS_setgroups, (size_t)sv->n_groups, sv->groups) < 0)
                log_error_errno(-errno, "export: cannot take back the thread's groups: %m");
        if ((uid_t)setfsuid((uid_t)-1) != sv->fsuid || (gid_t)setfsgid((gid_t)-1) != sv->fsgid)
                log_error("export: cannot take back the thread's file credentials");
        free(sv->groups);
        sv->groups = NULL;
        sv->switched = false;
}

static int fscreds_enter(const struct export_creds *c, struct fscreds_saved *sv)
{
        int n;

        *sv = (struct fscreds_saved){};
        if (c->uid == 0)
                return 0; /* root may open anything; nothing to lower */
        sv->fsuid = (uid_t)setfsuid((uid_t)-1);
        sv->fsgid = (gid_t)setfsgid((gid_t)-1);
        n = getgroups(0, NULL);
        if (n < 0)
                return -errno;
        sv->groups = calloc(MAX(n, 1), sizeof(gid_t));
        if (!sv->groups)
                return -ENOMEM;
        n = getgroups(n, sv->groups);
        if (n < 0) {
                free(sv->groups);
                return -errno;
        }
        sv->n_groups = n;
        sv->switched = true;
        /* Groups first: with CAP_SETGID (or as they are already). */
        if (!groups_equal(sv->groups, n, c->groups, c->n_groups) &&
            syscall(SYS_setgroups, c->n_groups, c->groups) < 0) {
                int r = -errno;

                fscreds_leave(sv);
                return r;
        }
        (void)setfsgid(c->gid);
        (void)setfsuid(c->uid);
        /* setfsuid/setfsgid do not fail: they say what they left in place. */
        if ((uid_t)setfsuid((uid_t)-1) != c->uid || (gid_t)setfsgid((gid_t)-1) != c->gid) {
                fscreds_leave(sv);
                return -EPERM;
        }
        return 0;
}

static bool identity_is(const struct stat *st, const struct ckpt_file_identity *id)
{
        return (uint64_t)st->st_dev == id->dev && (uint64_t)st->st_ino == id->inode;
}

static bool identity_unchanged(const struct stat *st, const struct ckpt_file_identity *id)
{
        return identity_is(st, id) && (uint64_t)st->st_size == id->size &&
               (int64_t)st->st_ctim.tv_sec == id->ctime_sec &&
               (uint32_t)st->st_ctim.tv_nsec == id->ctime_nsec;
}

/* An O_PATH descriptor for path: no symbolic link in any component, and a
 * link as the last component is the link itself. */
static int open_path_nofollow(const char *path)
{
        struct open_how how = {
                .flags = O_PATH | O_NOFOLLOW | O_CLOEXEC,
                .resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
        };
        int fd;

        fd = (int)syscall(SYS_openat2, AT_FDCWD, path, &how, sizeof(how));
        if (fd < 0 && (errno == ENOSYS || errno == E2BIG))
                /* FIXME: kernels before 5.6 (no openat2): only the last
                 * component is kept from being a link. */
                fd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        return fd < 0 ? -errno : fd;
}

/*
 * Open the file of reference region rg for reading as creds, if it is the
 * file the checkpoint recorded. Returns the descriptor, or <0 with why set.
 */
static int ref_file_open(const struct ckpt_region *rg, const struct export_creds *creds, char *why,
                         size_t why_size)
{
        _cleanup_close_ int pfd = -EBADF, fd = -EBADF;
        struct fscreds_saved sv;
        struct stat st;
        char proc[64];
        int r;

        if (!rg->has_identity) {
                snprintf(why, why_size,
                         "the checkpoint did not record which file this was (device, inode, "
                         "size, change time), so it cannot be proven the same");
                return -ESTALE;
        }
        if (!rg->path || rg->path[0] != '/') {
                snprintf(why, why_size, "the mapping has no path to open");
                return -ESTALE;
        }
        r = fscreds_enter(creds, &sv);
        if (r < 0) {
                snprintf(why, why_size, "cannot take the file credentials of uid %u to open it: %s",
                         (unsigned)creds->uid, strerror(-r));
                return -ESTALE;
        }
        pfd = open_path_nofollow(rg->path);
        if (pfd < 0)
                r = pfd;
        else if (fstat(pfd, &st) < 0)
                r = -errno;
        else if (S_ISLNK(st.st_mode))
                r = -ELOOP;
        else if (!S_ISREG(st.st_mode) || !identity_is(&st, &rg->file_id))
                r = -ESTALE;
        else if (!identity_unchanged(&st, &rg->file_id))
                r = -EUCLEAN;
        else {
                /* Proven the one: now open it for reading, still as the caller
                 * (the kernel checks read permission on the inode). */
                snprintf(proc, sizeof(proc), "/proc/thread-self/fd/%d", pfd);
                fd = open(proc, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
                r = fd < 0 ? -errno : 0;
        }
        fscreds_leave(&sv);

        switch (r) {
        case 0:
                break;
        case -ELOOP:
                snprintf(why, why_size, "a symbolic link is in its path now (never followed)");
                return -ESTALE;
        case -ENOENT:
        case -ENOTDIR:
                snprintf(why, why_size, "the file has been removed since the checkpoint");
                return -ESTALE;
        case -ESTALE:
                snprintf(why, why_size,
                         "the file has been replaced by another since the checkpoint");
                return -ESTALE;
        case -EUCLEAN:
                snprintf(why, why_size,
                         "the file has changed since the checkpoint (size or change time)");
                return -ESTALE;
        case -EACCES:
        case -EPERM:
                snprintf(why, why_size, "uid %u may not read the file (permission denied)",
                         (unsigned)creds->uid);
                return -ESTALE;
        default:
                snprintf(why, why_size, "cannot open the file: %s", strerror(-r));
                return -ESTALE;
        }
        /* The same inode through both descriptors, whatever happened between. */
        if (fstat(fd, &st) < 0 || !identity_unchanged(&st, &rg->file_id)) {
                snprintf(why, why_size, "the file has changed since the checkpoint");
                return -ESTALE;
        }
        return TAKE_FD(fd);
}

void export_source_init(struct export_source *src, struct ckpt_store *s,
                        const struct ckpt_manifest *view, const struct export_creds *creds,
                        struct export_result *res)
{
        *src = (struct export_source){
                .store = s, .view = view, .creds = creds, .res = res, .fd = -EBADF};
}

void export_source_done(struct export_source *src)
{
        src->fd = safe_close(src->fd);
        src->rg = NULL;
}

static bool same_file(const struct ckpt_region *a, const struct ckpt_region *b)
{
        return a->has_identity && b->has_identity && a->path && b->path &&
               strcmp(a->path, b->path) == 0 && a->file_id.dev == b->file_id.dev &&
               a->file_id.inode == b->file_id.inode && a->file_id.size == b->file_id.size &&
               a->file_id.ctime_sec == b->file_id.ctime_sec &&
               a->file_id.ctime_nsec == b->file_id.ctime_nsec;
}

static int read_ref_page(struct export_source *src, const struct ckpt_region *rg, uint64_t addr,
                         void *buf)
{
        ssize_t n;
        int r;

        if (src->rg != rg && !(src->rg && same_file(src->rg, rg))) {
                src->fd = safe_close(src->fd);
                src->reason[0] = 0;
                src->fd = ref_file_open(rg, src->creds, src->reason, sizeof(src->reason));
        }
        src->rg = rg;
        if (src->fd >= 0) {
                n = pread(src->fd, buf, PAGE_SIZE_4K, rg->offset + (addr - rg->start));
                if (n >= 0) {
                        /* Past the end of the file a mapping reads as zeroes. */
                        memset((char *)buf + n, 0, PAGE_SIZE_4K - n);
                        return n > 0;
                }
                snprintf(src->reason, sizeof(src->reason), "cannot read the file: %m");
                src->fd = safe_close(src->fd);
        }
        r = export_result_add_hole(src->res, rg, addr, src->reason);
        return r < 0 ? r : -ESTALE;
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
                return -ENOENT;
        return 0;
}

int export_source_read(struct export_source *src, uint64_t addr, void *buf)
{
        const struct ckpt_region *rg;
        int r;

        store_progress_step(src->progress, &src->done, 1, src->total);
        r = export_read_page(src->store, src->view, addr, buf);
        if (r != -ENOENT)
                return r;
        rg = manifest_find_region(src->view, addr);
        return read_ref_page(src, rg, addr, buf);
}

int export_output_kind(int fd, char *why, size_t why_size)
{
        struct stat st;
        int fl;

        fl = fcntl(fd, F_GETFL);
        if (fl < 0 || fstat(fd, &st) < 0) {
                snprintf(why, why_size, "the output descriptor is unusable: %m");
                return -EBADF;
        }
        if ((fl & O_PATH) || (fl & O_ACCMODE) == O_RDONLY) {
                snprintf(why, why_size, "the output descriptor is not open for writing");
                return -EBADF;
        }
        if (S_ISREG(st.st_mode)) {
                if (fl & O_APPEND) {
                        /* pwrite() on an O_APPEND file appends wherever it is
                         * told to write: the layout would be wrong. */
                        snprintf(why, why_size,
                                 "the output file is open with O_APPEND (e.g. '>>'): an export "
                                 "writes at explicit offsets; open it without O_APPEND");
                        return -EBADF;
                }
                return EXPORT_OUTPUT_FILE;
        }
        if (S_ISCHR(st.st_mode))
                return lseek(fd, 0, SEEK_CUR) >= 0 ? EXPORT_OUTPUT_SEEKABLE : EXPORT_OUTPUT_STREAM;
        if (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode))
                return EXPORT_OUTPUT_STREAM;
        snprintf(why, why_size,
                 "the output descriptor is not a regular file, a pipe or a "
                 "character device");
        return -EBADF;
}

static int write_all(int fd, const void *p, size_t n)
{
        const char *b = p;

        while (n > 0) {
                ssize_t k = write(fd, b, n);

                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                if (k == 0)
                        return -EIO;
                b += k;
                n -= k;
        }
        return 0;
}

int export_raw(struct ckpt_store *s, const struct ckpt_manifest *view,
               const struct ckpt_range *ranges, size_t n_ranges, int fd,
               const struct export_creds *creds, const struct store_progress *progress,
               struct export_result *ret)
{
        _cleanup_(export_source_done) struct export_source src;
        _cleanup_free_ struct ckpt_range *all = NULL;
        _cleanup_free_ void *buf = NULL, *zero = NULL;
        uint64_t off = 0;
        int kind, r;

        export_source_init(&src, s, view, creds, ret);
        kind = export_output_kind(fd, ret->error, sizeof(ret->error));
        if (kind < 0)
                return kind;
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
        src.progress = progress;
        for (size_t i = 0; i < n_ranges; i++)
                if (PAGE_ALIGN_DOWN(ranges[i].end) > PAGE_ALIGN_UP(ranges[i].start))
                        src.total +=
                                (PAGE_ALIGN_DOWN(ranges[i].end) - PAGE_ALIGN_UP(ranges[i].start)) /
                                PAGE_SIZE_4K;
        if (kind == EXPORT_OUTPUT_STREAM) {
                zero = calloc(1, PAGE_SIZE_4K);
                if (!zero)
                        return -ENOMEM;
        }
        if (kind == EXPORT_OUTPUT_FILE && (ftruncate(fd, 0) < 0 || ftruncate(fd, off) < 0)) {
                r = -errno;
                snprintf(ret->error, sizeof(ret->error), "cannot size the output file: %s",
                         strerror(-r));
                return r;
        }

        for (size_t i = 0; i < n_ranges; i++) {
                uint64_t a = PAGE_ALIGN_UP(ranges[i].start), end = PAGE_ALIGN_DOWN(ranges[i].end);
                /* A stream gets every byte in order: holes as zeroes, also
                 * the partial pages of a range that is not page aligned. */
                uint64_t head = MIN(a, ranges[i].end) - ranges[i].start;
                uint64_t tail = ranges[i].end - MAX(end, MIN(a, ranges[i].end));

                for (uint64_t k = 0; kind == EXPORT_OUTPUT_STREAM && k < head; k += PAGE_SIZE_4K) {
                        r = write_all(fd, zero, MIN(head - k, (uint64_t)PAGE_SIZE_4K));
                        if (r < 0)
                                goto write_failed;
                }
                for (; a < end; a += PAGE_SIZE_4K) {
                        r = export_source_read(&src, a, buf);
                        if (r == -ESTALE)
                                r = 0; /* a hole, noted in ret->holes */
                        if (r < 0) {
                                snprintf(ret->error, sizeof(ret->error),
                                         "cannot read page 0x%llx of checkpoint %llu: %s",
                                         (unsigned long long)a, (unsigned long long)view->id,
                                         r == -EBADMSG ? "object is corrupt" : strerror(-r));
                                return r;
                        }
                        if (r == 0) {
                                if (kind == EXPORT_OUTPUT_STREAM) {
                                        r = write_all(fd, zero, PAGE_SIZE_4K);
                                        if (r < 0)
                                                goto write_failed;
                                }
                                continue;
                        }
                        if (kind == EXPORT_OUTPUT_STREAM)
                                r = write_all(fd, buf, PAGE_SIZE_4K);
                        else if (pwrite(fd, buf, PAGE_SIZE_4K,
                                        ret->layout[i].offset + (a - ranges[i].start)) !=
                                 (ssize_t)PAGE_SIZE_4K)
                                r = errno ? -errno : -EIO;
                        if (r < 0)
                                goto write_failed;
                        r = export_result_add_run(ret, a);
                        if (r < 0)
                                return r;
                }
                for (uint64_t k = 0; kind == EXPORT_OUTPUT_STREAM && k < tail; k += PAGE_SIZE_4K) {
                        r = write_all(fd, zero, MIN(tail - k, (uint64_t)PAGE_SIZE_4K));
                        if (r < 0)
                                goto write_failed;
                }
        }
        if (kind == EXPORT_OUTPUT_FILE && fsync(fd) < 0 && errno != EINVAL)
                return -errno;
        return 0;

write_failed:
        snprintf(ret->error, sizeof(ret->error), "cannot write the output: %s%s", strerror(-r),
                 r == -EPIPE ? " (the reading end of the pipe was closed)" : "");
        return r;
}
