/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * shmseg.c: shared memory segments no file descriptor reaches, their
 * classification, the run-time probe of shmem write-protection and the
 * single-mapper rule (see shmseg.h for why the rule is sound). Reads /proc
 * and never writes another process's memory; the probe works on the
 * daemon's own mappings only.
 */
#include "shmseg.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "ckpt/uapi.h"
#include "log.h"
#include "macro.h"
#include "manifest.h"
#include "pagemap-scan.h"
#include "proc-util.h"
#include "procmaps.h"

#define PROBE_PAGES 8
/* Listings of /proc before a look at every process gives up on settling. */
#define LOOK_ROUNDS 8
/* Taken off a segment's birth for a realtime clock set back since. */
#define BIRTH_MARGIN_NS 1000000000ull

/* ---- classification ---------------------------------------------------- */

static bool is_sysv_name(const char *path)
{
        /* "/SYSV" 8 hex digits " (deleted)" */
        if (strncmp(path, "/SYSV", 5) != 0 || strlen(path) != 5 + 8 + 10)
                return false;
        for (int i = 5; i < 13; i++)
                if (!strchr("0123456789abcdef", path[i]))
                        return false;
        return strcmp(path + 13, " (deleted)") == 0;
}

enum shmseg_kind shmseg_classify(const struct shmseg_caps *caps, const struct ckpt_region *rg,
                                 uint32_t *ret_reason)
{
        const char *path = rg->path ? rg->path : "";
        bool zero =
                strcmp(path, "/dev/zero (deleted)") == 0 || strncmp(path, "[anon_shmem:", 12) == 0;
        bool sysv = is_sysv_name(path);
        bool kernel_mount = caps->dev != 0 && rg->dev == caps->dev;

        *ret_reason = CKPT_REASON_NONE;
        if (!(rg->flags & CKPT_REGION_SHARED))
                return SHMSEG_NONE;
        if ((zero || sysv) && kernel_mount)
                return zero ? SHMSEG_ANON : SHMSEG_SYSV;
        if (strncmp(path, "/memfd:", 7) == 0)
                *ret_reason = CKPT_REASON_MEMFD;
        else if (sysv || strncmp(path, "/anon_hugepage", 14) == 0)
                *ret_reason = CKPT_REASON_HUGETLB;
        else
                *ret_reason = CKPT_REASON_SHARED_FILE;
        return SHMSEG_NONE;
}

/* ---- the probe ------------------------------------------------------------ */

static int probe_uffd(void)
{
        const uint64_t want = UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED;
        _cleanup_close_ int fd = -EBADF;

        fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
        if (fd < 0)
                return negative_errno();
        /* As the injector asks: with hugetlbfs/shmem write-protection where
         * the kernel offers it (UFFDIO_API can be called once per fd). */
        for (int attempt = 0; attempt < 2; attempt++) {
                struct uffdio_api api = {
                        .api = UFFD_API,
                        .features = want | (attempt == 0 ? UFFD_FEATURE_WP_HUGETLBFS_SHMEM : 0),
                };

                if (ioctl(fd, UFFDIO_API, &api) == 0)
                        return TAKE_FD(fd);
                if (errno != EINVAL || attempt == 1)
                        return negative_errno();
                safe_close(fd);
                fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
                if (fd < 0)
                        return negative_errno();
        }
        return -EOPNOTSUPP;
}

/* The pages [start, end) of the scan fn reports, as a bit mask of page
 * indexes of base (PROBE_PAGES of them). */
static int probe_mask(int uffd, int pm, char *base, bool holes, unsigned *ret)
{
        _cleanup_free_ uint64_t *pages = NULL;
        size_t n = 0, a = 0;
        uint64_t s = (uint64_t)(uintptr_t)base, e = s + PROBE_PAGES * PAGE_SIZE_4K;
        int r;

        r = holes ? uffd_scan_holes(uffd, pm, s, e, false, &pages, &n, &a)
                  : uffd_scan_written(pm, s, e, false, &pages, &n, &a);
        if (r < 0)
                return r;
        *ret = 0;
        for (size_t i = 0; i < n; i++)
                *ret |= 1u << ((pages[i] - s) / PAGE_SIZE_4K);
        return 0;
}

/* Write-protection of one shmem mapping behaves as the tracker needs. */
static int probe_mapping(int uffd, int pm, char *base)
{
        uint64_t s = (uint64_t)(uintptr_t)base, e = s + PROBE_PAGES * PAGE_SIZE_4K;
        unsigned w, h;
        int r;

        base[0] = 1; /* present before the registration */
        r = uffd_register_wp_all(uffd, s, e);
        if (r < 0)
                return r;
        r = probe_mask(uffd, pm, base, false, &w);
        if (r >= 0)
                r = probe_mask(uffd, pm, base, true, &h);
        if (r < 0)
                return r;
        if (w != 0 || h != 0)
                return -EOPNOTSUPP; /* untouched holes must stay unwritten */
        base[2 * PAGE_SIZE_4K] = 1;
        base[4 * PAGE_SIZE_4K] = 1;
        /* A written page leaving the page tables (as reclaim does); a
         * protected one leaving them must keep its protection. */
        if (madvise(base + 4 * PAGE_SIZE_4K, PAGE_SIZE_4K, MADV_DONTNEED) < 0 ||
            madvise(base, PAGE_SIZE_4K, MADV_DONTNEED) < 0)
                return negative_errno();
        r = probe_mask(uffd, pm, base, false, &w);
        if (r >= 0)
                r = probe_mask(uffd, pm, base, true, &h);
        if (r < 0)
                return r;
        if (w != (1u << 2) || h != (1u << 4))
                return -EOPNOTSUPP;
        return 0;
}

/* The device of the mapping at addr, from our own maps. */
static int own_mapping_dev(const void *addr, uint64_t *ret)
{
        struct ckpt_region *regions = NULL;
        size_t n = 0;
        int r;

        r = procmaps_read(getpid(), &regions, &n);
        if (r < 0)
                return r;
        r = -ENOENT;
        for (size_t i = 0; i < n; i++)
                if (regions[i].start == (uint64_t)(uintptr_t)addr) {
                        *ret = regions[i].dev;
                        r = 0;
                }
        procmaps_free(regions, n);
        return r;
}

int shmseg_probe(struct shmseg_caps *caps)
{
        size_t size = PROBE_PAGES * PAGE_SIZE_4K;
        _cleanup_close_ int uffd = -EBADF, pm = -EBADF;
        char *anon, *sysv = NULL;
        int r, id;

        *caps = (struct shmseg_caps){};
        anon = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (anon == MAP_FAILED)
                return negative_errno();
        r = own_mapping_dev(anon, &caps->dev);
        if (r < 0)
                goto out;
        uffd = probe_uffd();
        pm = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
        if (uffd < 0 || pm < 0) {
                r = uffd < 0 ? uffd : negative_errno();
                goto out;
        }
        r = probe_mapping(uffd, pm, anon);
        if (r < 0)
                goto out;
        id = shmget(IPC_PRIVATE, size, IPC_CREAT | 0600);
        if (id < 0) {
                r = negative_errno();
                goto out;
        }
        sysv = shmat(id, NULL, 0);
        (void)shmctl(id, IPC_RMID, NULL); /* gone with the last detach */
        if (sysv == (void *)-1) {
                sysv = NULL;
                r = negative_errno();
                goto out;
        }
        r = probe_mapping(uffd, pm, sysv);
        if (r >= 0)
                caps->wp = true;
out:
        if (sysv)
                shmdt(sysv);
        munmap(anon, size);
        return r;
}

/* ---- SysV: the stamp and the attachments ------------------------------- */

/* The segment shmid of /proc/sysvipc/shm (the daemon's IPC namespace).
 * -ENOENT: not there. */
static int sysv_stamp(uint64_t shmid, struct shmseg_stamp *ret)
{
        _cleanup_fclose_ FILE *f = NULL;
        char line[512];

        f = fopen("/proc/sysvipc/shm", "re");
        if (!f)
                return negative_errno();
        /* key shmid perms size cpid lpid nattch uid gid cuid cgid atime dtime ... */
        while (fgets(line, sizeof(line), f)) {
                unsigned long long id, nattch;
                long long atime, dtime;
                int lpid;

                if (sscanf(line, "%*d %llu %*o %*u %*d %d %llu %*u %*u %*u %*u %lld %lld", &id,
                           &lpid, &nattch, &atime, &dtime) != 5)
                        continue; /* the header */
                if (id != shmid)
                        continue;
                *ret = (struct shmseg_stamp){
                        .nattch = nattch, .atime = atime, .dtime = dtime, .lpid = lpid};
                return 0;
        }
        return -ENOENT;
}

static bool same_ipc_ns(pid_t pid)
{
        char path[64];
        struct stat a, b;

        snprintf(path, sizeof(path), "/proc/%d/ns/ipc", (int)pid);
        return stat(path, &a) == 0 && stat("/proc/self/ns/ipc", &b) == 0 && a.st_dev == b.st_dev &&
               a.st_ino == b.st_ino;
}

/* How many mappings of the segment pid has (each counts in nattch). */
static int sysv_attachments(const struct shmseg *seg, pid_t pid, uint64_t *ret)
{
        struct ckpt_region *regions = NULL;
        size_t n = 0;
        int r;

        r = procmaps_read(pid, &regions, &n);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++)
                if (regions[i].path && is_sysv_name(regions[i].path) &&
                    regions[i].dev == seg->dev && regions[i].inode == seg->ino)
                        (*ret)++;
        procmaps_free(regions, n);
        return 0;
}

/* ---- anon: a look at every process ----------------------------------- */

struct pidset {
        pid_t *v;
        size_t n, n_alloc;
};

static bool pidset_has(const struct pidset *s, pid_t pid)
{
        for (size_t i = 0; i < s->n; i++)
                if (s->v[i] == pid)
                        return true;
        return false;
}

static int pidset_add(struct pidset *s, pid_t pid)
{
        if (s->n == s->n_alloc) {
                size_t k = s->n_alloc ? s->n_alloc * 2 : 256;
                pid_t *v = reallocarray(s->v, k, sizeof(*v));

                if (!v)
                        return -ENOMEM;
                s->v = v;
                s->n_alloc = k;
        }
        s->v[s->n++] = pid;
        return 0;
}

/* Whether /proc/PID/maps has a line of device and inode (needle). 1 yes,
 * 0 no or the process is gone, -EACCES etc. when it cannot be read. */
static int maps_has(pid_t pid, const char *needle)
{
        _cleanup_close_ int fd = -EBADF;
        size_t nl = strlen(needle), keep = 0;
        char path[64], buf[65536];

        snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return errno == ENOENT || errno == ESRCH ? 0 : negative_errno();
        for (;;) {
                ssize_t k = read(fd, buf + keep, sizeof(buf) - keep);
                size_t total;

                if (k < 0)
                        return errno == ESRCH ? 0 : negative_errno();
                if (k == 0)
                        return 0;
                total = keep + (size_t)k;
                if (memmem(buf, total, needle, nl))
                        return 1;
                /* A line cut at the end of the buffer: keep its tail. */
                keep = MIN(nl - 1, total);
                memmove(buf, buf + total - keep, keep);
        }
}

/* A process whose maps cannot be read, and the segment's birth (CLOCK_BOOTTIME
 * ns, 0 unknown): it cannot map the segment when it and the first mapper
 * both started before the birth (shmseg.h). */
struct look {
        const struct shmseg *seg;
        const pid_t *mappers;
        size_t n;
        char needle[64];
        int64_t birth; /* -1 not looked up yet */
};

static int64_t clock_ns(clockid_t id)
{
        struct timespec ts;

        clock_gettime(id, &ts);
        return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t segment_birth(const struct look *l)
{
        char path[96];
        struct statx sx;
        int64_t real;

        snprintf(path, sizeof(path), "/proc/%d/map_files/%llx-%llx", (int)l->mappers[0],
                 (unsigned long long)l->seg->vma_start, (unsigned long long)l->seg->vma_end);
        if (statx(AT_FDCWD, path, 0, STATX_BTIME | STATX_INO, &sx) < 0 ||
            !(sx.stx_mask & STATX_BTIME) || sx.stx_ino != l->seg->ino)
                return 0;
        real = (int64_t)sx.stx_btime.tv_sec * 1000000000 + sx.stx_btime.tv_nsec;
        return MAX(real - (clock_ns(CLOCK_REALTIME) - clock_ns(CLOCK_BOOTTIME)) -
                           (int64_t)BIRTH_MARGIN_NS,
                   (int64_t)0);
}

/* pid started before t (CLOCK_BOOTTIME ns): the end of its start tick is. */
static bool started_before(pid_t pid, int64_t t)
{
        uint64_t ticks;
        long hz = sysconf(_SC_CLK_TCK);

        if (t <= 0 || hz <= 0 || proc_stat_read(pid, NULL, &ticks, NULL) < 0)
                return false;
        return (int64_t)((ticks + 1) * (1000000000 / (uint64_t)hz)) <= t;
}

static bool cannot_map(struct look *l, pid_t pid)
{
        if (l->birth < 0)
                l->birth = segment_birth(l);
        return started_before(l->mappers[0], l->birth) && started_before(pid, l->birth);
}

/* Check pid (unless a mapper or already checked): 1 maps it, 0 does not,
 * 2 cannot be read (*ret_pid set in both), or -ENOMEM. */
static int look_at(struct pidset *checked, struct look *l, pid_t pid, pid_t *ret_pid)
{
        int r;

        if (pidset_has(checked, pid))
                return 0;
        r = pidset_add(checked, pid);
        if (r < 0)
                return r;
        for (size_t i = 0; i < l->n; i++)
                if (l->mappers[i] == pid)
                        return 0;
        r = maps_has(pid, l->needle);
        if (r == 0 || (r < 0 && cannot_map(l, pid)))
                return 0;
        *ret_pid = pid;
        return r > 0 ? 1 : 2;
}

/* Every process /proc lists, looked at; again until a listing shows no
 * process not looked at (one forked meanwhile by a mapper that exited
 * before its turn). 0 none but the mappers maps the segment, 1 *ret_pid
 * does, 2 *ret_pid cannot be read, -EAGAIN the listings did not settle. */
static int find_other_mapper(const struct shmseg *seg, const pid_t *mappers, size_t n,
                             pid_t *ret_pid)
{
        int64_t t0 = clock_ns(CLOCK_MONOTONIC);
        struct look l = {.seg = seg, .mappers = mappers, .n = n, .birth = -1};
        struct pidset checked = {};
        int r = 0;

        snprintf(l.needle, sizeof(l.needle), " %02x:%02x %llu ", major(seg->dev), minor(seg->dev),
                 (unsigned long long)seg->ino);
        if (seg->other > 0)
                r = look_at(&checked, &l, seg->other, ret_pid);
        for (int round = 0; r == 0 && round < LOOK_ROUNDS; round++) {
                DIR *d = opendir("/proc");
                size_t before = checked.n;
                struct dirent *de;

                if (!d) {
                        r = negative_errno();
                        break;
                }
                while (r == 0 && (de = readdir(d))) {
                        char *end;
                        long pid = strtol(de->d_name, &end, 10);

                        if (*end || pid <= 0)
                                continue;
                        r = look_at(&checked, &l, (pid_t)pid, ret_pid);
                }
                closedir(d);
                if (r == 0 && checked.n == before)
                        break; /* settled: nothing new since the last listing */
                if (r == 0 && round == LOOK_ROUNDS - 1)
                        r = -EAGAIN;
        }
        log_debug("tracker: segment %llu: looked at %zu processes in %.2f ms: %d",
                  (unsigned long long)seg->ino, checked.n,
                  (double)(clock_ns(CLOCK_MONOTONIC) - t0) / 1e6, r);
        free(checked.v);
        return r;
}

/* ---- the rule ------------------------------------------------------------ */

static bool stamp_equal(const struct shmseg_stamp *a, const struct shmseg_stamp *b)
{
        return a->nattch == b->nattch && a->atime == b->atime && a->dtime == b->dtime &&
               a->lpid == b->lpid;
}

static int rule_sysv(const struct shmseg_caps *caps, struct shmseg *seg, const pid_t *mappers,
                     size_t n, bool forked, bool peek, struct shmseg_verdict *ret)
{
        struct shmseg_stamp st = {};
        uint64_t ours = 0;
        bool clean;
        time_t now = time(NULL); /* before the stamp: its second or an earlier one */
        int r;

        (void)caps;
        for (size_t i = 0; i < n; i++) {
                if (!same_ipc_ns(mappers[i])) {
                        *ret = (struct shmseg_verdict){.reason = CKPT_REASON_SHARED_IPC_NS};
                        if (!peek)
                                seg->base = false;
                        return 0;
                }
                r = sysv_attachments(seg, mappers[i], &ours);
                if (r == -ENOMEM)
                        return r;
        }
        r = sysv_stamp(seg->ino, &st);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                *ret = (struct shmseg_verdict){.reason = CKPT_REASON_SHARED_ATTACH_CHANGED};
                if (!peek)
                        seg->base = false;
                return 0;
        }
        ret->exact = seg->base && !forked && stamp_equal(&st, &seg->stamp) && st.nattch == ours;
        if (ret->exact)
                ret->reason = CKPT_REASON_SHARED_ONLY_MAPPER;
        else if (st.nattch != ours)
                *ret = (struct shmseg_verdict){.reason = CKPT_REASON_SHARED_ATTACHED,
                                               .arg = st.nattch};
        else if (seg->base && !stamp_equal(&st, &seg->stamp))
                ret->reason = CKPT_REASON_SHARED_ATTACH_CHANGED;
        else if (forked)
                ret->reason = CKPT_REASON_SHARED_FORKED;
        else
                ret->reason = CKPT_REASON_SHARED_PROVING;
        if (peek)
                return 0;
        /* A stamp of this very second could still change within it
         * unseen: not a base until it is older. */
        clean = st.atime < (int64_t)now && st.dtime < (int64_t)now;
        seg->base = st.nattch == ours && clean;
        seg->stamp = st;
        return 0;
}

static int rule_anon(struct shmseg *seg, const pid_t *mappers, size_t n, bool forked,
                     bool have_events, bool peek, struct shmseg_verdict *ret)
{
        pid_t pid = 0;
        int r;

        ret->exact = seg->base && !forked && have_events;
        if (ret->exact) {
                ret->reason = CKPT_REASON_SHARED_ONLY_MAPPER;
                return 0; /* the base holds on: no look needed */
        }
        ret->reason = forked && seg->base ? CKPT_REASON_SHARED_FORKED : CKPT_REASON_SHARED_PROVING;
        if (peek)
                return 0;
        seg->base = false;
        r = find_other_mapper(seg, mappers, n, &pid);
        if (r == -ENOMEM)
                return r;
        if (r == 1 || r == 2) {
                seg->other = pid;
                *ret = (struct shmseg_verdict){.reason = r == 1 ? CKPT_REASON_SHARED_OTHER_MAPPER
                                                                : CKPT_REASON_SHARED_UNREADABLE,
                                               .arg = (uint64_t)pid};
                return 0;
        }
        if (!have_events) {
                ret->reason = CKPT_REASON_SHARED_NO_EVENTS;
                return 0;
        }
        if (r < 0) {
                log_debug_errno(r, "tracker: segment %llu: no look at every process: %m",
                                (unsigned long long)seg->ino);
                return 0;
        }
        seg->other = 0;
        seg->base = true;
        return 0;
}

int shmseg_rule(const struct shmseg_caps *caps, struct shmseg *seg, const pid_t *mappers, size_t n,
                uint64_t forks, bool have_events, bool peek, struct shmseg_verdict *ret)
{
        bool forked = forks != seg->forks;
        int r;

        *ret = (struct shmseg_verdict){};
        if (seg->kind == SHMSEG_SYSV)
                r = rule_sysv(caps, seg, mappers, n, forked, peek, ret);
        else
                r = rule_anon(seg, mappers, n, forked, have_events, peek, ret);
        if (r >= 0 && !peek)
                seg->forks = forks;
        return r;
}
