/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * filestamp.c: the stamp of a privately mapped file (see filestamp.h for why
 * an equal stamp proves its unwritten pages unchanged). Opens only the
 * mapping's own file, through /proc/PID/map_files, and holds nothing open.
 */
#include "filestamp.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include "macro.h"
#include "time-util.h"

#ifndef EXT4_SUPER_MAGIC
#define EXT4_SUPER_MAGIC 0xEF53
#endif
#ifndef XFS_SUPER_MAGIC
#define XFS_SUPER_MAGIC 0x58465342
#endif
#ifndef BTRFS_SUPER_MAGIC
#define BTRFS_SUPER_MAGIC 0x9123683E
#endif

/* The filesystems whose write paths and write faults on shared mappings
 * update ctime before the bytes change (filestamp.h). */
static bool fs_trusted(int fd)
{
        struct statfs sf;

        if (fstatfs(fd, &sf) < 0)
                return false;
        switch ((unsigned long)sf.f_type) {
        case EXT4_SUPER_MAGIC:
        case XFS_SUPER_MAGIC:
        case BTRFS_SUPER_MAGIC:
                return true;
        default:
                return false;
        }
}

/* Nobody has the file open for writing: a read lease is granted only then.
 * Dropped at once; a break meanwhile signals SIGURG (ignored by default),
 * not SIGIO (which would end the daemon). */
static bool no_writer(int fd)
{
        bool granted;

        if (fcntl(fd, F_SETSIG, SIGURG) < 0)
                return false;
        granted = fcntl(fd, F_SETLEASE, F_RDLCK) == 0;
        if (granted)
                (void)fcntl(fd, F_SETLEASE, F_UNLCK);
        return granted;
}

/* The mapping's file opened for reading, without following any path: O_PATH
 * on the map_files link, checked to be the mapped regular file, then
 * reopened through our own descriptor. */
static int open_mapped_file(pid_t pid, const struct ckpt_region *rg)
{
        _cleanup_close_ int pfd = -EBADF;
        char path[96];
        struct stat st;
        int fd;

        snprintf(path, sizeof(path), "/proc/%d/map_files/%llx-%llx", (int)pid,
                 (unsigned long long)rg->start, (unsigned long long)rg->end);
        pfd = open(path, O_PATH | O_CLOEXEC);
        if (pfd < 0)
                return errno == ENOENT && kill(pid, 0) < 0 ? -ESRCH : negative_errno();
        if (fstat(pfd, &st) < 0)
                return negative_errno();
        if (!S_ISREG(st.st_mode) || (uint64_t)st.st_dev != rg->dev ||
            (uint64_t)st.st_ino != rg->inode)
                return -ESTALE;
        snprintf(path, sizeof(path), "/proc/self/fd/%d", pfd);
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return negative_errno();
        return fd;
}

int file_stamp_take(pid_t pid, const struct ckpt_region *rg, struct file_stamp *ret)
{
        _cleanup_close_ int fd = -EBADF;
        uint64_t now, ctime_ns;
        struct stat st;

        fd = open_mapped_file(pid, rg);
        if (fd < 0)
                return fd;
        if (!fs_trusted(fd))
                return 0;
        /* Step 1: the clock, then the times; step 2: no writer. */
        now = now_ns(CLOCK_REALTIME);
        if (fstat(fd, &st) < 0)
                return negative_errno();
        if (!S_ISREG(st.st_mode) || (uint64_t)st.st_dev != rg->dev ||
            (uint64_t)st.st_ino != rg->inode)
                return -ESTALE;
        if (!no_writer(fd))
                return 0;
        if (st.st_ctim.tv_sec < 0)
                return 0;
        ctime_ns = (uint64_t)st.st_ctim.tv_sec * 1000000000ull + (uint64_t)st.st_ctim.tv_nsec;
        if (ctime_ns + STAMP_SETTLE_NS > now)
                return 0; /* too recent (or in the future) to prove anything */
        *ret = (struct file_stamp){
                .start = rg->start,
                .end = rg->end,
                .offset = rg->offset,
                .dev = (uint64_t)st.st_dev,
                .ino = (uint64_t)st.st_ino,
                .size = (uint64_t)st.st_size,
                .mtime_sec = (int64_t)st.st_mtim.tv_sec,
                .mtime_nsec = (uint32_t)st.st_mtim.tv_nsec,
                .ctime_sec = (int64_t)st.st_ctim.tv_sec,
                .ctime_nsec = (uint32_t)st.st_ctim.tv_nsec,
        };
        return 1;
}

bool file_stamp_equal(const struct file_stamp *a, const struct file_stamp *b)
{
        return a->start == b->start && a->end == b->end && a->offset == b->offset &&
               a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
               a->mtime_sec == b->mtime_sec && a->mtime_nsec == b->mtime_nsec &&
               a->ctime_sec == b->ctime_sec && a->ctime_nsec == b->ctime_nsec;
}
