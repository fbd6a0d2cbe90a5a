/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-uffd: userfaultfd write-protect arming by syscall injection, against
 * real forked processes: the dirty set is exact, re-arming works, the target
 * is left as it was (maps, threads blocked in syscalls, signals), untracking
 * and refusals (seccomp, another tracer) leave it running. Needs root.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tap.h"

#include "child.h"

#include "ckpt/uapi.h"
#include "freezer.h"
#include "inject.h"
#include "log.h"
#include "pagemap-scan.h"
#include "procmaps.h"
#include "tracker.h"

enum {
        OP_WRITE = 1,
        OP_KREAD,
        OP_DONTNEED,
        OP_THREADS,
        OP_SLEEP,
        OP_EXIT,
        OP_PING,
        OP_REMAP,
        OP_EXEC,
        OP_SELFUFFD
};

struct cmd {
        uint32_t op, a, b, n;
};

#define CHILD_THREADS 0x1u
#define CHILD_SECCOMP 0x2u

/* ---- the forked child ---- */

static int thread_pipe[2];
static volatile int reader_ok, sleeper_errors;
static volatile unsigned long sleeper_rounds;

static void *reader_thread(void *arg)
{
        char buf[8];
        ssize_t n = read(thread_pipe[0], buf, sizeof(buf));

        reader_ok = n == 5 && memcmp(buf, "token", 5) == 0 ? 1 : -1;
        return NULL;
}

static void *sleeper_thread(void *arg)
{
        for (;;) {
                struct timespec ts = {0, 20 * 1000 * 1000};

                if (nanosleep(&ts, NULL) < 0)
                        sleeper_errors++;
                sleeper_rounds++;
        }
        return NULL;
}

static void install_seccomp(void)
{
        struct sock_filter f[] = {
                BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
                BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_userfaultfd, 0, 1),
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        };
        struct sock_fprog prog = {ELEMENTSOF(f), f};

        prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
        if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0)
                _exit(3);
}

_Noreturn static void child_main(int cfd, int rfd, size_t pages, unsigned flags)
{
        uint8_t *region;
        pthread_t th;

        region = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
                      0);
        if (region == MAP_FAILED)
                _exit(2);
        madvise(region, pages * PAGE, MADV_NOHUGEPAGE);
        memset(region, 1, pages * PAGE);
        if (flags & CHILD_THREADS) {
                if (pipe(thread_pipe) < 0)
                        _exit(2);
                pthread_create(&th, NULL, reader_thread, NULL);
                pthread_create(&th, NULL, sleeper_thread, NULL);
        }
        if (flags & CHILD_SECCOMP)
                install_seccomp();
        uint64_t a = (uint64_t)(uintptr_t)region;
        if (write(rfd, &a, sizeof(a)) != sizeof(a))
                _exit(2);
        for (;;) {
                struct cmd c;
                int64_t rep = 0;

                if (!read_full(cfd, &c, sizeof(c)))
                        _exit(0);
                switch (c.op) {
                case OP_WRITE:
                        for (uint32_t i = 0; i < c.n; i++) {
                                uint32_t idx;
                                if (!read_full(cfd, &idx, sizeof(idx)) || idx >= pages)
                                        _exit(4);
                                region[idx * PAGE + (idx * 7) % PAGE] += 1;
                        }
                        break;
                case OP_KREAD:
                        /* the kernel writes into the protected page (copy_to_user) */
                        rep = read(cfd, region + c.a * PAGE, c.b);
                        break;
                case OP_DONTNEED:
                        rep = madvise(region + c.a * PAGE, c.b * PAGE, MADV_DONTNEED);
                        break;
                case OP_THREADS: {
                        unsigned long before = sleeper_rounds;
                        struct timespec ts = {0, 100 * 1000 * 1000};

                        if (write(thread_pipe[1], "token", 5) != 5)
                                rep = -1;
                        while (!reader_ok)
                                nanosleep(&ts, NULL);
                        nanosleep(&ts, NULL);
                        rep = reader_ok == 1 && sleeper_errors == 0 && sleeper_rounds > before;
                        break;
                }
                case OP_SLEEP: {
                        struct timespec ts = {c.a / 1000, (c.a % 1000) * 1000000L}, t0, t1;

                        clock_gettime(CLOCK_MONOTONIC, &t0);
                        rep = nanosleep(&ts, NULL) < 0 ? -errno : 0;
                        clock_gettime(CLOCK_MONOTONIC, &t1);
                        if (rep == 0)
                                rep = (t1.tv_sec - t0.tv_sec) * 1000 +
                                      (t1.tv_nsec - t0.tv_nsec) / 1000000;
                        break;
                }
                case OP_PING:
                        rep = region[c.a * PAGE];
                        region[c.a * PAGE] = (uint8_t)c.b;
                        break;
                case OP_REMAP:
                        /* a new mapping in the very same place */
                        munmap(region, pages * PAGE);
                        rep = mmap(region, pages * PAGE, PROT_READ | PROT_WRITE,
                                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == region
                                      ? 0
                                      : -1;
                        madvise(region, pages * PAGE, MADV_NOHUGEPAGE);
                        memset(region, 2, pages * PAGE);
                        break;
                case OP_SELFUFFD: {
                        /* what a cooperative process (the client library) does */
                        struct uffdio_api api = {.api = UFFD_API,
                                                 .features = UFFD_FEATURE_WP_ASYNC |
                                                             UFFD_FEATURE_WP_UNPOPULATED};
                        int fd = (int)syscall(SYS_userfaultfd,
                                              O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
                        rep = fd >= 0 && ioctl(fd, UFFDIO_API, &api) == 0 ? fd : -1;
                        break;
                }
                case OP_EXEC:
                        execl("/bin/sleep", "sleep", "30", (char *)NULL);
                        _exit(5);
                case OP_EXIT:
                        _exit(0);
                }
                if (write(rfd, &rep, sizeof(rep)) != sizeof(rep))
                        _exit(2);
        }
}

static int child_start(struct child *c, size_t pages, unsigned flags)
{
        int cfd, rfd, r;

        r = child_fork(c, &cfd, &rfd);
        if (r > 0)
                child_main(cfd, rfd, pages, flags);
        if (r < 0)
                return r;
        c->pages = pages;
        if (!read_full(c->reply, &c->addr, sizeof(c->addr)))
                return -EIO;
        return 0;
}

static int64_t child_call(struct child *c, uint32_t op, uint32_t a, uint32_t b, const uint32_t *idx,
                          uint32_t n)
{
        struct cmd m = {op, a, b, n};
        int64_t rep;

        if (!child_send(c, &m, sizeof(m), idx, n) || !read_full(c->reply, &rep, sizeof(rep)))
                return INT64_MIN;
        return rep;
}

static bool child_alive(struct child *c)
{
        return waitpid(c->pid, NULL, WNOHANG) == 0 && kill(c->pid, 0) == 0;
}

/* ---- helpers ---- */

static char *read_text(const char *path)
{
        char *buf = NULL;
        size_t size = 0;
        FILE *f = fopen(path, "re");

        if (!f)
                return NULL;
        FILE *m = open_memstream(&buf, &size);
        char tmp[4096];
        size_t k;
        while ((k = fread(tmp, 1, sizeof(tmp), f)) > 0)
                fwrite(tmp, 1, k, m);
        fclose(m);
        fclose(f);
        return buf;
}

static uint64_t now_ns(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

/* Collect and return the result for the region holding addr. */
static int collect_region(struct tracker *t, pid_t pid, uint64_t addr, struct tracker_dirty **ret_d,
                          const struct tracker_dirty_region **ret_r)
{
        struct ckpt_region *regions = NULL;
        size_t n = 0;
        int r;

        r = procmaps_read(pid, &regions, &n);
        if (r < 0)
                return r;
        r = tracker_collect(t, pid, regions, n, ret_d);
        procmaps_free(regions, n);
        if (r < 0)
                return r;
        *ret_r = NULL;
        for (size_t i = 0; i < (*ret_d)->n_regions; i++)
                if ((*ret_d)->regions[i].start <= addr && addr < (*ret_d)->regions[i].end)
                        *ret_r = &(*ret_d)->regions[i];
        return *ret_r ? 0 : -ENOENT;
}

static int cmp_u32(const void *a, const void *b)
{
        uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
        return x < y ? -1 : x > y;
}

/* The region's listed pages equal exactly the page indices want[] (sorted). */
static bool pages_equal(const struct tracker_dirty_region *r, uint64_t base, const uint32_t *want,
                        size_t n_want)
{
        size_t n = 0;

        if (r->whole) {
                fprintf(stderr, "# region read whole, expected %zu pages\n", n_want);
                return false;
        }
        for (size_t i = 0; i < r->n_pages; i++) {
                if (r->pages[i] < base || r->pages[i] >= base + 16384 * PAGE)
                        continue; /* outside the test area (the region may be merged) */
                if (n >= n_want || r->pages[i] != base + want[n] * PAGE) {
                        fprintf(stderr, "# unexpected page %#llx (index %lld)\n",
                                (unsigned long long)r->pages[i],
                                (long long)((r->pages[i] - base) / PAGE));
                        return false;
                }
                n++;
        }
        if (n != n_want)
                fprintf(stderr, "# got %zu pages, want %zu\n", n, n_want);
        return n == n_want;
}

static struct tracker *tr;

/* ---- tests ---- */

static bool test_exact_set(void)
{
        struct child c = {};
        struct tracker_dirty *d = NULL;
        const struct tracker_dirty_region *rg;
        char path[64], err[256] = "";
        char *maps_before = NULL, *maps_after = NULL;
        uint32_t want[300];
        size_t n_want = 0;
        bool ok = false;
        int r;

        ASSERT_OK(child_start(&c, 16384, 0)); /* 64 MiB */
        snprintf(path, sizeof(path), "/proc/%d/maps", (int)c.pid);
        maps_before = read_text(path);
        r = tracker_track(tr, c.pid, NULL, err, sizeof(err));
        if (r != 0) {
                fprintf(stderr, "# track: %d %s\n", r, err);
                goto out;
        }
        maps_after = read_text(path);
        if (!maps_before || !maps_after || strcmp(maps_before, maps_after) != 0) {
                fprintf(stderr, "# maps changed by tracking:\n%s---\n%s", maps_before, maps_after);
                goto out;
        }

        /* First collect after tracking: no baseline, read whole. */
        if (collect_region(tr, c.pid, c.addr, &d, &rg) < 0 || !rg->whole ||
            rg->track != CKPT_TRACK_UFFD_WP)
                goto out;
        d = tracker_dirty_free(d);

        /* A known random set of pages. */
        srand(42);
        while (n_want < ELEMENTSOF(want)) {
                uint32_t idx = rand() % 16384;
                bool dup = false;
                for (size_t i = 0; i < n_want; i++)
                        dup |= want[i] == idx;
                if (!dup)
                        want[n_want++] = idx;
        }
        if (child_call(&c, OP_WRITE, 0, 0, want, n_want) != 0)
                goto out;
        qsort(want, n_want, sizeof(want[0]), cmp_u32);
        if (collect_region(tr, c.pid, c.addr, &d, &rg) < 0)
                goto out;
        if (rg->track != CKPT_TRACK_UFFD_WP || !pages_equal(rg, c.addr, want, n_want))
                goto out;
        d = tracker_dirty_free(d);

        /* Nothing written since: nothing listed. */
        if (collect_region(tr, c.pid, c.addr, &d, &rg) < 0 || !pages_equal(rg, c.addr, want, 0))
                goto out;
        d = tracker_dirty_free(d);

        /* Rewriting the same pages shows them again (re-armed). */
        if (child_call(&c, OP_WRITE, 0, 0, want, 10) != 0)
                goto out;
        qsort(want, 10, sizeof(want[0]), cmp_u32);
        if (collect_region(tr, c.pid, c.addr, &d, &rg) < 0 || !pages_equal(rg, c.addr, want, 10))
                goto out;
        ok = child_alive(&c);
out:
        tracker_dirty_free(d);
        tracker_untrack(tr, c.pid);
        child_stop(&c);
        free(maps_before);
        free(maps_after);
        return ok;
}

static bool test_kernel_write(void)
{
        struct child c = {};
        struct tracker_dirty *d = NULL;
        const struct tracker_dirty_region *rg;
        char buf[PAGE];
        uint32_t want[] = {77};
        bool ok = false;

        ASSERT_OK(child_start(&c, 16384, 0));
        if (tracker_track(tr, c.pid, NULL, NULL, 0) != 0)
                goto out;
        if (collect_region(tr, c.pid, c.addr, &d, &rg) < 0)
                goto out;
        d = tracker_dirty_free(d);
        memset(buf, 0xab, sizeof(buf));
        struct cmd m = {OP_KREAD, 77, PAGE, 0};
        int64_t rep;
        if (write(c.cmd, &m, sizeof(m)) != sizeof(m) || write(c.cmd, buf, PAGE) != PAGE ||
            !read_full(c.reply, &rep, sizeof(rep)) || rep != PAGE)
                goto out;
        if (collect_region(tr, c.pid, c.addr, &d, &rg) < 0 || !pages_equal(rg, c.addr, want, 1))
                goto out;
        ok = true;
out:
        tracker_dirty_free(d);
        tracker_untrack(tr, c.pid);
        child_stop(&c);
        return ok;
}

static bool test_dontneed(void)
{
        struct child c = {};
        struct tracker_dirty *d = NULL;
        const struct tracker_dirty_region *rg;
        uint32_t want[10];
        bool ok = false;

        ASSERT_OK(child_start(&c, 16384, 0));
        if (tracker_track(tr, c.pid, NULL, NULL, 0) != 0)
                goto out;
        if (collect_region(tr, c.pid, c.addr, &d, &rg) < 0)
                goto out;
        d = tracker_dirty_free(d);
        if (child_call(&c, OP_DONTNEED, 1000, 10, NULL, 0) != 0)
                goto out;
        for (int i = 0; i < 10; i++)
                want[i] = 1000 + i;
        if (collect_region(tr, c.pid, c.addr, &d, &rg) < 0 || !pages_equal(rg, c.addr, want, 10))
                goto out;
        /* and the page reads back as zero in the child */
        ok = child_call(&c, OP_PING, 1005, 9, NULL, 0) == 0;
out:
        tracker_dirty_free(d);
        tracker_untrack(tr, c.pid);
        child_stop(&c);
        return ok;
}

static bool test_threads_blocked(void)
{
        struct child c = {};
        bool ok = false;

        ASSERT_OK(child_start(&c, 256, CHILD_THREADS));
        usleep(50 * 1000); /* let the threads block */
        if (tracker_track(tr, c.pid, NULL, NULL, 0) != 0)
                goto out;
        /* the main thread (blocked in read()) restarted, the reader got its
         * token, the sleeper never saw an error */
        ok = child_call(&c, OP_THREADS, 0, 0, NULL, 0) == 1 && child_alive(&c);
out:
        tracker_untrack(tr, c.pid);
        child_stop(&c);
        return ok;
}

static bool test_nanosleep_restart(void)
{
        struct child c = {};
        struct cmd m = {OP_SLEEP, 400, 0, 0};
        int64_t rep = -1;
        bool ok = false;

        ASSERT_OK(child_start(&c, 256, 0));
        if (write(c.cmd, &m, sizeof(m)) != sizeof(m))
                goto out;
        usleep(100 * 1000); /* the only thread now sits in nanosleep */
        if (tracker_track(tr, c.pid, NULL, NULL, 0) != 0)
                goto out;
        /* nanosleep went on after injection: no error, the full time */
        if (!read_full(c.reply, &rep, sizeof(rep)))
                goto out;
        fprintf(stderr, "# nanosleep(400ms) returned after %lld ms\n", (long long)rep);
        ok = rep >= 400 && child_alive(&c);
out:
        tracker_untrack(tr, c.pid);
        child_stop(&c);
        return ok;
}

static bool test_signal_during_injection(void)
{
        struct child c = {};
        bool ok = false;
        int status;

        ASSERT_OK(child_start(&c, 256, 0));
        /* SIGSTOP/SIGCONT storms around the injection must not break it nor
         * leave the child stopped. */
        pid_t k = fork();
        if (k == 0) {
                for (int i = 0; i < 200; i++) {
                        kill(c.pid, SIGCONT);
                        usleep(500);
                }
                _exit(0);
        }
        for (int i = 0; i < 5; i++) {
                if (tracker_track(tr, c.pid, NULL, NULL, 0) != 0)
                        goto out;
        }
        waitpid(k, &status, 0);
        if (child_call(&c, OP_PING, 3, 7, NULL, 0) != 1 || !child_alive(&c))
                goto out;
        /* tracked five times over: still exact (the re-arms did not fight) */
        uint32_t want[] = {9, 10};
        struct tracker_dirty *d = NULL;
        const struct tracker_dirty_region *rg;
        if (collect_region(tr, c.pid, c.addr, &d, &rg) < 0)
                goto out;
        d = tracker_dirty_free(d);
        if (child_call(&c, OP_WRITE, 0, 0, want, 2) != 0)
                goto out;
        if (collect_region(tr, c.pid, c.addr, &d, &rg) < 0)
                goto out;
        ok = pages_equal(rg, c.addr, want, 2);
        tracker_dirty_free(d);
out:
        tracker_untrack(tr, c.pid);
        child_stop(&c);
        return ok;
}

static bool test_untrack_leaves_running(void)
{
        struct child c = {};
        uint32_t idx[] = {1, 2, 3};
        char path[64];
        char *smaps = NULL;
        bool ok = false;

        ASSERT_OK(child_start(&c, 1024, 0));
        if (tracker_track(tr, c.pid, NULL, NULL, 0) != 0)
                goto out;
        snprintf(path, sizeof(path), "/proc/%d/smaps", (int)c.pid);
        smaps = read_text(path);
        if (!smaps || !strstr(smaps, " uw")) {
                fprintf(stderr, "# no region registered for write-protect\n");
                goto out;
        }
        free(smaps);
        ASSERT_OK(tracker_untrack(tr, c.pid));
        smaps = read_text(path);
        if (!smaps || strstr(smaps, " uw")) {
                fprintf(stderr, "# still registered after untrack:\n%s", smaps);
                goto out; /* closing the fd unregistered everything */
        }
        ok = child_call(&c, OP_WRITE, 0, 0, idx, 3) == 0 &&
             child_call(&c, OP_PING, 2, 5, NULL, 0) == 1 && child_alive(&c);
out:
        free(smaps);
        tracker_untrack(tr, c.pid);
        child_stop(&c);
        return ok;
}

static bool test_seccomp_refused(void)
{
        struct child c = {};
        struct tracker_dirty *d = NULL;
        const struct tracker_dirty_region *rg;
        char err[256] = "";
        char path[64];
        char *before = NULL, *after = NULL;
        int fd = -1, r;
        bool ok = false;

        ASSERT_OK(child_start(&c, 256, CHILD_SECCOMP));
        snprintf(path, sizeof(path), "/proc/%d/maps", (int)c.pid);
        before = read_text(path);
        r = uffd_inject_create(c.pid, NULL, &fd, NULL, err, sizeof(err));
        fprintf(stderr, "# inject under seccomp: %d (%s)\n", r, err);
        if (r != -EPERM || !strstr(err, "seccomp"))
                goto out;
        /* tracked anyway, by scanning */
        r = tracker_track(tr, c.pid, NULL, err, sizeof(err));
        fprintf(stderr, "# track under seccomp: %d (%s)\n", r, err);
        if (r != 1)
                goto out;
        if (collect_region(tr, c.pid, c.addr, &d, &rg) < 0 || !rg->whole ||
            rg->track == CKPT_TRACK_UFFD_WP)
                goto out;
        after = read_text(path);
        ok = before && after && strcmp(before, after) == 0 &&
             child_call(&c, OP_PING, 1, 4, NULL, 0) == 1 && child_alive(&c);
out:
        if (fd >= 0)
                close(fd);
        free(before);
        free(after);
        tracker_dirty_free(d);
        tracker_untrack(tr, c.pid);
        child_stop(&c);
        return ok;
}

static bool test_traced_busy(void)
{
        struct child c = {};
        char err[256] = "";
        int sync[2], fd = -1, r;
        pid_t dbg;
        bool ok = false;
        char x;

        ASSERT_OK(child_start(&c, 256, 0));
        ASSERT_OK(pipe(sync));
        dbg = fork();
        if (dbg == 0) {
                if (ptrace(PTRACE_SEIZE, c.pid, NULL, NULL) < 0)
                        _exit(1);
                if (write(sync[1], "x", 1) != 1)
                        _exit(1);
                pause();
                _exit(0);
        }
        if (read(sync[0], &x, 1) != 1)
                goto out;
        r = uffd_inject_create(c.pid, NULL, &fd, NULL, err, sizeof(err));
        fprintf(stderr, "# inject into a traced process: %d (%s)\n", r, err);
        if (r != -EBUSY)
                goto out;
        r = tracker_track(tr, c.pid, NULL, err, sizeof(err));
        if (r != -EBUSY || tracker_is_tracked(tr, c.pid))
                goto out;
        ok = child_call(&c, OP_PING, 1, 4, NULL, 0) == 1;
out:
        if (fd >= 0)
                close(fd);
        kill(dbg, SIGKILL);
        waitpid(dbg, NULL, 0);
        close(sync[0]);
        close(sync[1]);
        child_stop(&c);
        return ok;
}

static bool test_frozen_mode(void)
{
        struct child c = {};
        struct freezer *f = NULL;
        uint32_t idx[] = {5, 6};
        bool ok = false;
        int r;

        ASSERT_OK(child_start(&c, 256, 0));
        ASSERT_OK(freezer_freeze(c.pid, &f));
        r = tracker_track(tr, c.pid, f, NULL, 0);
        freezer_free(f);
        if (r != 0)
                goto out;
        ok = child_call(&c, OP_WRITE, 0, 0, idx, 2) == 0 && child_alive(&c);
out:
        tracker_untrack(tr, c.pid);
        child_stop(&c);
        return ok;
}

static bool test_new_mapping(void)
{
        struct child c = {};
        struct tracker_dirty *d = NULL;
        const struct tracker_dirty_region *rg;
        uint32_t want[] = {2, 3, 4000};
        bool ok = false;

        ASSERT_OK(child_start(&c, 16384, 0));
        if (tracker_track(tr, c.pid, NULL, NULL, 0) != 0)
                goto out;
        if (collect_region(tr, c.pid, c.addr, &d, &rg) < 0)
                goto out;
        d = tracker_dirty_free(d);
        /* munmap + mmap at the same place: the maps look the same, but the
         * registration is gone and every page changed */
        if (child_call(&c, OP_REMAP, 0, 0, NULL, 0) != 0)
                goto out;
        if (collect_region(tr, c.pid, c.addr, &d, &rg) < 0 || !rg->whole ||
            rg->track != CKPT_TRACK_UFFD_WP)
                goto out;
        d = tracker_dirty_free(d);
        /* and it is armed again: exact from now on */
        if (child_call(&c, OP_WRITE, 0, 0, want, ELEMENTSOF(want)) != 0)
                goto out;
        if (collect_region(tr, c.pid, c.addr, &d, &rg) < 0 ||
            !pages_equal(rg, c.addr, want, ELEMENTSOF(want)))
                goto out;
        ok = true;
out:
        tracker_dirty_free(d);
        tracker_untrack(tr, c.pid);
        child_stop(&c);
        return ok;
}

static bool test_exec_rearm(void)
{
        struct child c = {};
        struct ckpt_region *regions = NULL;
        struct tracker_dirty *d = NULL;
        struct cmd m = {OP_EXEC, 0, 0, 0};
        size_t n = 0;
        bool ok = false, all_whole = true;
        char exe[64], buf[256];

        ASSERT_OK(child_start(&c, 256, 0));
        if (tracker_track(tr, c.pid, NULL, NULL, 0) != 0)
                goto out;
        if (write(c.cmd, &m, sizeof(m)) != sizeof(m))
                goto out;
        snprintf(exe, sizeof(exe), "/proc/%d/exe", (int)c.pid);
        for (int i = 0; i < 200; i++) {
                ssize_t k = readlink(exe, buf, sizeof(buf) - 1);
                if (k > 0 && (buf[k] = 0, strstr(buf, "sleep")))
                        break;
                usleep(10 * 1000);
        }
        usleep(50 * 1000);
        if (procmaps_read(c.pid, &regions, &n) < 0 ||
            tracker_collect(tr, c.pid, regions, n, &d) < 0)
                goto out;
        for (size_t i = 0; i < d->n_regions; i++)
                all_whole &= d->regions[i].whole;
        if (!d->rearm || !all_whole) {
                fprintf(stderr, "# after exec: rearm %d, all whole %d\n", d->rearm, all_whole);
                goto out;
        }
        d = tracker_dirty_free(d);
        /* re-arming the new image works, and gives lists again */
        if (tracker_track(tr, c.pid, NULL, NULL, 0) != 0)
                goto out;
        if (tracker_collect(tr, c.pid, regions, n, &d) < 0)
                goto out;
        d = tracker_dirty_free(d);
        procmaps_free(regions, n);
        regions = NULL;
        if (procmaps_read(c.pid, &regions, &n) < 0 ||
            tracker_collect(tr, c.pid, regions, n, &d) < 0)
                goto out;
        ok = !d->rearm;
        /* Private file mappings are read whole by design (the file can
         * change under their unwritten pages); every other armed region
         * gives a list again. */
        for (size_t i = 0; i < d->n_regions; i++)
                if (d->regions[i].track == CKPT_TRACK_UFFD_WP && d->regions[i].whole &&
                    (regions[i].flags & (CKPT_REGION_FILE | CKPT_REGION_PRIVATE)) !=
                            (CKPT_REGION_FILE | CKPT_REGION_PRIVATE))
                        ok = false;
out:
        procmaps_free(regions, n);
        tracker_dirty_free(d);
        tracker_untrack(tr, c.pid);
        child_stop(&c);
        return ok;
}

static bool test_passed_uffd(void)
{
        struct child c = {};
        struct tracker_dirty *d = NULL;
        const struct tracker_dirty_region *rg;
        uint32_t want[] = {11, 12, 13, 9000};
        int pidfd = -1, fd, p[2];
        int64_t target_fd;
        bool ok = false;

        ASSERT_OK(child_start(&c, 16384, 0));
        /* not a userfaultfd: refused */
        ASSERT_OK(pipe2(p, O_CLOEXEC));
        close(p[1]);
        if (tracker_track_uffd(tr, c.pid, p[0], NULL, 0) != -EBADF || tracker_is_tracked(tr, c.pid))
                goto out;
        target_fd = child_call(&c, OP_SELFUFFD, 0, 0, NULL, 0);
        pidfd = (int)syscall(SYS_pidfd_open, c.pid, 0);
        if (target_fd < 0 || pidfd < 0)
                goto out;
        fd = (int)syscall(SYS_pidfd_getfd, pidfd, (int)target_fd, 0);
        if (fd < 0 || tracker_track_uffd(tr, c.pid, fd, NULL, 0) != 0)
                goto out;
        if (collect_region(tr, c.pid, c.addr, &d, &rg) < 0)
                goto out;
        d = tracker_dirty_free(d);
        if (child_call(&c, OP_WRITE, 0, 0, want, ELEMENTSOF(want)) != 0)
                goto out;
        if (collect_region(tr, c.pid, c.addr, &d, &rg) < 0 || rg->track != CKPT_TRACK_UFFD_WP ||
            !pages_equal(rg, c.addr, want, ELEMENTSOF(want)))
                goto out;
        ok = true;
out:
        if (pidfd >= 0)
                close(pidfd);
        tracker_dirty_free(d);
        tracker_untrack(tr, c.pid);
        child_stop(&c);
        return ok;
}

static bool measure(void)
{
        struct child c = {};
        struct tracker_dirty *d = NULL;
        const struct tracker_dirty_region *rg;
        size_t pages = 262144; /* 1 GiB */
        uint32_t *idx = NULL;
        int pm = -1;
        bool ok = false;
        uint64_t t0;

        ASSERT_OK(child_start(&c, pages, 0));
        if (tracker_track(tr, c.pid, NULL, NULL, 0) != 0)
                goto out;
        /* Write every page, then time one re-arm of the whole 1 GiB. */
        if (collect_region(tr, c.pid, c.addr, &d, &rg) < 0)
                goto out;
        d = tracker_dirty_free(d);
        idx = calloc(pages, sizeof(*idx));
        if (!idx)
                goto out;
        for (size_t i = 0; i < pages; i++)
                idx[i] = i;
        if (child_call(&c, OP_WRITE, 0, 0, idx, pages) != 0)
                goto out;
        pm = uffd_open_pagemap(c.pid);
        t0 = now_ns();
        if (uffd_scan_written(pm, c.addr, c.addr + pages * PAGE, true, NULL, NULL, NULL) < 0)
                goto out;
        printf("# re-arm of 1 GiB, every page written: %.3f ms\n", (now_ns() - t0) / 1e6);
        t0 = now_ns();
        if (uffd_scan_written(pm, c.addr, c.addr + pages * PAGE, true, NULL, NULL, NULL) < 0)
                goto out;
        printf("# re-arm of 1 GiB, nothing written: %.3f ms\n", (now_ns() - t0) / 1e6);
        if (collect_region(tr, c.pid, c.addr, &d, &rg) < 0)
                goto out;
        d = tracker_dirty_free(d);
        for (size_t i = 0; i < pages / 100; i++)
                idx[i] = i * 100;
        if (child_call(&c, OP_WRITE, 0, 0, idx, pages / 100) != 0)
                goto out;
        t0 = now_ns();
        if (collect_region(tr, c.pid, c.addr, &d, &rg) < 0)
                goto out;
        printf("# collect of a 1 GiB process with 1%% dirty (%zu pages listed): %.3f ms\n",
               rg->n_pages, (now_ns() - t0) / 1e6);
        ok = !rg->whole && rg->n_pages == pages / 100;
out:
        if (pm >= 0)
                close(pm);
        free(idx);
        tracker_dirty_free(d);
        tracker_untrack(tr, c.pid);
        child_stop(&c);
        return ok;
}

int main(void)
{
        if (getenv("TEST_DEBUG"))
                log_max_level = LOG_DEBUG;
        if (geteuid() != 0)
                skip_all("needs root (ptrace, userfaultfd of another process)");
        if (access("/proc/self/pagemap", R_OK) < 0)
                skip_all("no /proc/PID/pagemap");
        /* CKPT_TEST_NO_BPF=1: the same tests with userfaultfd alone. */
        struct tracker_options o = {.no_bpf = getenv("CKPT_TEST_NO_BPF") != NULL};
        if (tracker_new(&o, &tr) < 0)
                skip_all("tracker_new failed");
        printf("# BPF mode: %s\n", tracker_bpf_mode(tr));

        plan(14);
        RUN(test_exact_set);
        RUN(test_kernel_write);
        if (strcmp(tracker_bpf_mode(tr), "none") == 0)
                skip("test_dontneed", "BPF unavailable: zapped pages need the madvise events");
        else
                RUN(test_dontneed);
        RUN(test_threads_blocked);
        RUN(test_nanosleep_restart);
        RUN(test_signal_during_injection);
        RUN(test_untrack_leaves_running);
        RUN(test_seccomp_refused);
        RUN(test_traced_busy);
        RUN(test_frozen_mode);
        RUN(test_new_mapping);
        RUN(test_exec_rearm);
        RUN(test_passed_uffd);
        RUN(measure);
        tracker_free(tr);
        return tap_done();
}
