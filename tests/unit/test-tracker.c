/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-tracker: the BPF half of dirty tracking against the real kernel: the
 * programs load and attach, only tracked processes are recorded, write faults
 * land in the bitmaps, address-space and lifecycle events arrive on the ring
 * buffer with the right ranges, and a full bitmap map raises the overflow flag
 * (and makes the next collect read everything). Needs root and BTF.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tap.h"

#include "child.h"

#include "log.h"
#include "procmaps.h"
#include "tracker.h"

enum { OP_MAPFRESH = 1, OP_TOUCH, OP_EVENTS, OP_FORK, OP_EXEC };

struct cmd {
        uint32_t op, a, n, pad;
};

static void *thread_fn(void *arg)
{
        *(pid_t *)arg = (pid_t)syscall(SYS_gettid);
        return NULL;
}

_Noreturn static void child_main(int cfd, int rfd)
{
        uint8_t *fresh = NULL;

        for (;;) {
                struct cmd c;
                uint64_t rep[6] = {};

                if (!read_full(cfd, &c, sizeof(c)))
                        _exit(0);
                switch (c.op) {
                case OP_MAPFRESH:
                        fresh = mmap(NULL, c.a * PAGE, PROT_READ | PROT_WRITE,
                                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
                        madvise(fresh, c.a * PAGE, MADV_NOHUGEPAGE);
                        rep[0] = (uint64_t)(uintptr_t)fresh;
                        break;
                case OP_TOUCH:
                        for (uint32_t i = 0; i < c.n; i++) {
                                uint32_t idx;
                                if (!read_full(cfd, &idx, sizeof(idx)))
                                        _exit(4);
                                fresh[idx * PAGE] = 1;
                        }
                        break;
                case OP_EVENTS: {
                        uint8_t *a = mmap(NULL, 8 * PAGE, PROT_READ | PROT_WRITE,
                                          MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
                                *b;
                        uint64_t old_brk;

                        munmap(a + 4 * PAGE, 2 * PAGE);
                        b = mremap(a, 4 * PAGE, 16 * PAGE, MREMAP_MAYMOVE);
                        mprotect(b, 16 * PAGE, PROT_READ);
                        madvise(b, 4 * PAGE, MADV_DONTNEED);
                        madvise(b, 4 * PAGE, MADV_WILLNEED); /* not a zap: no event */
                        old_brk = (uint64_t)syscall(SYS_brk, 0);
                        rep[0] = (uint64_t)(uintptr_t)a;
                        rep[1] = (uint64_t)(uintptr_t)b;
                        rep[2] = old_brk;
                        rep[3] = (uint64_t)syscall(SYS_brk, old_brk + 16 * PAGE);
                        break;
                }
                case OP_FORK: {
                        pthread_t th;
                        pid_t tid = 0, p;

                        pthread_create(&th, NULL, thread_fn, &tid);
                        pthread_join(th, NULL);
                        p = fork();
                        if (p == 0)
                                _exit(0);
                        waitpid(p, NULL, 0);
                        rep[0] = p;
                        rep[1] = tid;
                        break;
                }
                case OP_EXEC:
                        execl("/bin/true", "true", (char *)NULL);
                        _exit(5);
                }
                if (write(rfd, rep, sizeof(rep)) != sizeof(rep))
                        _exit(2);
        }
}

static int child_start(struct child *c)
{
        int cfd, rfd, r;

        r = child_fork(c, &cfd, &rfd);
        if (r > 0)
                child_main(cfd, rfd);
        return r;
}

static bool child_call(struct child *c, uint32_t op, uint32_t a, const uint32_t *idx, uint32_t n,
                       uint64_t rep[6])
{
        struct cmd m = {op, a, n, 0};

        return child_send(c, &m, sizeof(m), idx, n) &&
               read_full(c->reply, rep, 6 * sizeof(uint64_t));
}

/* Events seen by the handler. */
static struct ckpt_event seen[4096];
static size_t n_seen;

static void on_event(const struct ckpt_event *ev, void *userdata)
{
        if (n_seen < ELEMENTSOF(seen))
                seen[n_seen++] = *ev;
}

static const struct ckpt_event *find_event(uint32_t type, uint32_t tgid, uint64_t start,
                                           uint64_t len)
{
        for (size_t i = 0; i < n_seen; i++)
                if (seen[i].type == type && seen[i].tgid == tgid &&
                    (start == UINT64_MAX || seen[i].start == start) &&
                    (len == UINT64_MAX || seen[i].len == len))
                        return &seen[i];
        return NULL;
}

static struct tracker *tr;

/* Only pages inside [base, base + pages) of a sorted list. */
static size_t pages_in(const uint64_t *v, size_t n, uint64_t base, size_t pages, uint64_t *out,
                       size_t max)
{
        size_t k = 0;

        for (size_t i = 0; i < n; i++)
                if (v[i] >= base && v[i] < base + pages * PAGE && k < max)
                        out[k++] = v[i];
        return k;
}

static bool test_bitmap_and_filter(void)
{
        struct child tracked = {}, other = {};
        uint64_t rep[6], base_t, base_o, got[16];
        uint32_t idx[] = {3, 17, 200, 600, 1023};
        uint64_t *pages = NULL;
        size_t n = 0;
        struct tracker_stats st;
        bool ok = false;

        ASSERT_OK(child_start(&tracked));
        ASSERT_OK(child_start(&other));
        if (!child_call(&tracked, OP_MAPFRESH, 1024, NULL, 0, rep))
                goto out;
        base_t = rep[0];
        if (!child_call(&other, OP_MAPFRESH, 1024, NULL, 0, rep))
                goto out;
        base_o = rep[0];
        if (tracker_track(tr, tracked.pid, NULL, NULL, 0) < 0)
                goto out;
        if (!child_call(&tracked, OP_TOUCH, 0, idx, ELEMENTSOF(idx), rep) ||
            !child_call(&other, OP_TOUCH, 0, idx, ELEMENTSOF(idx), rep))
                goto out;

        /* The tracked child's first-touch write faults, exactly. */
        if (tracker_bpf_pages(tr, tracked.pid, &pages, &n) < 0)
                goto out;
        size_t k = pages_in(pages, n, base_t, 1024, got, ELEMENTSOF(got));
        if (k != ELEMENTSOF(idx)) {
                fprintf(stderr, "# %zu pages in the bitmap, want %zu\n", k, ELEMENTSOF(idx));
                goto out;
        }
        for (size_t i = 0; i < k; i++)
                if (got[i] != base_t + idx[i] * PAGE)
                        goto out;
        free(pages);
        pages = NULL;
        if (tracker_get_stats(tr, tracked.pid, &st) < 0 || st.write_faults < ELEMENTSOF(idx) ||
            st.dirty_marks < ELEMENTSOF(idx))
                goto out;
        printf("# tracked child: %llu write faults, %llu bits set, %llu events\n",
               (unsigned long long)st.write_faults, (unsigned long long)st.dirty_marks,
               (unsigned long long)st.events);

        /* The untracked one left no trace. */
        if (tracker_bpf_pages(tr, other.pid, &pages, &n) < 0 || n != 0 ||
            tracker_get_stats(tr, other.pid, &st) != -ENOENT)
                goto out;
        (void)base_o;
        ok = true;
out:
        free(pages);
        tracker_untrack(tr, tracked.pid);
        child_stop(&tracked);
        child_stop(&other);
        return ok;
}

static bool test_address_space_events(void)
{
        struct child c = {};
        uint64_t rep[6], a, b;
        const struct ckpt_event *e;
        bool ok = false;

        ASSERT_OK(child_start(&c));
        if (tracker_track(tr, c.pid, NULL, NULL, 0) < 0)
                goto out;
        n_seen = 0;
        if (!child_call(&c, OP_EVENTS, 0, NULL, 0, rep))
                goto out;
        a = rep[0];
        b = rep[1];
        if (tracker_consume(tr) < 0)
                goto out;
        printf("# %zu events consumed\n", n_seen);
        if (!find_event(CKPT_EV_MMAP, c.pid, a, 8 * PAGE)) {
                fprintf(stderr, "# no mmap event\n");
                goto out;
        }
        if (!find_event(CKPT_EV_MUNMAP, c.pid, a + 4 * PAGE, 2 * PAGE)) {
                fprintf(stderr, "# no munmap event\n");
                goto out;
        }
        e = find_event(CKPT_EV_MREMAP, c.pid, a, 4 * PAGE);
        if (!e || e->new_start != b || e->new_len != 16 * PAGE) {
                fprintf(stderr, "# no mremap event\n");
                goto out;
        }
        e = find_event(CKPT_EV_MPROTECT, c.pid, b, 16 * PAGE);
        if (!e || e->arg != PROT_READ) {
                fprintf(stderr, "# no mprotect event\n");
                goto out;
        }
        e = find_event(CKPT_EV_MADVISE, c.pid, b, 4 * PAGE);
        if (!e || e->arg != MADV_DONTNEED) {
                fprintf(stderr, "# no madvise event\n");
                goto out;
        }
        for (size_t i = 0; i < n_seen; i++)
                if (seen[i].type == CKPT_EV_MADVISE && seen[i].arg == MADV_WILLNEED) {
                        fprintf(stderr, "# madvise(WILLNEED) reported\n");
                        goto out;
                }
        e = find_event(CKPT_EV_BRK, c.pid, rep[2], UINT64_MAX);
        if (!e || e->new_start != rep[3] || rep[3] <= rep[2]) {
                fprintf(stderr, "# no brk event (%#llx -> %#llx)\n", (unsigned long long)rep[2],
                        (unsigned long long)rep[3]);
                goto out;
        }
        ok = true;
out:
        tracker_untrack(tr, c.pid);
        child_stop(&c);
        return ok;
}

static bool test_fork_event(void)
{
        struct child c = {};
        uint64_t rep[6];
        bool ok = false, fork_ok = false, thread_reported = false;

        ASSERT_OK(child_start(&c));
        if (tracker_track(tr, c.pid, NULL, NULL, 0) < 0)
                goto out;
        n_seen = 0;
        /* a thread first (not a fork), then a process */
        if (!child_call(&c, OP_FORK, 0, NULL, 0, rep))
                goto out;
        tracker_consume(tr);
        for (size_t i = 0; i < n_seen; i++) {
                if (seen[i].type != CKPT_EV_FORK || seen[i].tgid != (uint32_t)c.pid)
                        continue;
                if (seen[i].child == rep[0])
                        fork_ok = true;
                if (seen[i].child == rep[1])
                        thread_reported = true;
        }
        ok = fork_ok && !thread_reported;
        if (!ok)
                fprintf(stderr, "# fork event %s, thread reported %s\n", fork_ok ? "yes" : "no",
                        thread_reported ? "yes" : "no");
out:
        tracker_untrack(tr, c.pid);
        child_stop(&c);
        return ok;
}

static bool test_exec_exit_events(void)
{
        struct child c = {};
        struct cmd m = {OP_EXEC, 0, 0, 0};
        bool exec_ok = false, exit_ok = false;
        pid_t pid;
        int status;

        ASSERT_OK(child_start(&c));
        pid = c.pid;
        ASSERT_OK(tracker_track(tr, pid, NULL, NULL, 0));
        n_seen = 0;
        ASSERT(write(c.cmd, &m, sizeof(m)) == sizeof(m));
        ASSERT(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
        c.pid = 0;
        close(c.cmd);
        close(c.reply);
        tracker_consume(tr);
        for (size_t i = 0; i < n_seen; i++) {
                if (seen[i].type == CKPT_EV_EXEC && seen[i].tgid == (uint32_t)pid)
                        exec_ok = true;
                if (seen[i].type == CKPT_EV_EXIT && seen[i].tgid == (uint32_t)pid &&
                    seen[i].arg == 1)
                        exit_ok = true;
        }
        tracker_untrack(tr, pid);
        if (!exec_ok || !exit_ok)
                fprintf(stderr, "# exec event %d, exit event %d\n", exec_ok, exit_ok);
        return exec_ok && exit_ok;
}

static int collect_whole(struct tracker *t, pid_t pid, uint64_t addr)
{
        struct ckpt_region *regions = NULL;
        struct tracker_dirty *d = NULL;
        size_t n = 0;
        int r, whole = -ENOENT;

        r = procmaps_read(pid, &regions, &n);
        if (r < 0)
                return r;
        r = tracker_collect(t, pid, regions, n, &d);
        procmaps_free(regions, n);
        if (r < 0)
                return r;
        for (size_t i = 0; i < d->n_regions; i++)
                if (d->regions[i].start <= addr && addr < d->regions[i].end)
                        whole = d->regions[i].whole;
        tracker_dirty_free(d);
        return whole;
}

static bool test_overflow(void)
{
        struct tracker_options o = {.max_windows = 4};
        struct tracker *small = NULL;
        struct child c = {};
        struct tracker_stats st;
        uint32_t idx[16];
        uint64_t rep[6], base;
        bool ok = false;

        ASSERT_OK(tracker_new(&o, &small));
        ASSERT(strcmp(tracker_bpf_mode(small), "none") != 0);
        ASSERT_OK(child_start(&c));
        if (!child_call(&c, OP_MAPFRESH, 16 * 512, NULL, 0, rep))
                goto out;
        base = rep[0];
        if (tracker_track(small, c.pid, NULL, NULL, 0) != 0)
                goto out;
        if (collect_whole(small, c.pid, base) != 1) /* first: whole anyway */
                goto out;
        if (collect_whole(small, c.pid, base) != 0) /* nothing written: a list */
                goto out;
        for (int i = 0; i < 16; i++)
                idx[i] = i * 512 + 1; /* one page in each of 16 windows */
        if (!child_call(&c, OP_TOUCH, 0, idx, 16, rep))
                goto out;
        if (tracker_get_stats(small, c.pid, &st) < 0)
                goto out;
        printf("# tiny map: %llu bits lost, overflow flags %#x\n",
               (unsigned long long)st.lost_marks, st.overflow);
        if (!(st.overflow & CKPT_PROC_OVERFLOW_BITMAP) || st.lost_marks == 0)
                goto out;
        if (collect_whole(small, c.pid, base) != 1) /* overflowed: read everything */
                goto out;
        ok = collect_whole(small, c.pid, base) == 0; /* and the flag is cleared */
out:
        if (small)
                tracker_untrack(small, c.pid);
        child_stop(&c);
        tracker_free(small);
        return ok;
}

static void print_prog(const char *name, uint64_t ns, uint64_t cnt, void *userdata)
{
        if (cnt)
                printf("# bpf %-26s run_cnt %-8llu avg %llu ns\n", name, (unsigned long long)cnt,
                       (unsigned long long)(ns / cnt));
}

static int set_sysctl(const char *path, const char *v, char *old, size_t size)
{
        int fd = open(path, O_RDWR | O_CLOEXEC);
        ssize_t k;

        if (fd < 0)
                return -errno;
        if (old) {
                k = read(fd, old, size - 1);
                old[k > 0 ? k : 0] = 0;
        }
        k = pwrite(fd, v, strlen(v), 0);
        close(fd);
        return k < 0 ? -errno : 0;
}

int main(void)
{
        char old_stats[16] = "0";
        bool stats_set;

        if (getenv("TEST_DEBUG"))
                log_max_level = LOG_DEBUG;
        if (geteuid() != 0)
                skip_all("needs root (BPF)");
        if (access("/sys/kernel/btf/vmlinux", R_OK) < 0)
                skip_all("no /sys/kernel/btf/vmlinux");
        if (tracker_new(NULL, &tr) < 0)
                skip_all("tracker_new failed");
        if (strcmp(tracker_bpf_mode(tr), "none") == 0) {
                tracker_free(tr);
                skip_all("BPF programs cannot load here");
        }
        tracker_set_handler(tr, on_event, NULL);
        stats_set = set_sysctl("/proc/sys/kernel/bpf_stats_enabled", "1", old_stats,
                               sizeof(old_stats)) == 0;

        plan(6);
        printf("# BPF mode: %s\n", tracker_bpf_mode(tr));
        ok(tracker_ring_fd(tr) >= 0, "bpf_loaded");
        RUN(test_bitmap_and_filter);
        RUN(test_address_space_events);
        RUN(test_fork_event);
        RUN(test_exec_exit_events);
        RUN(test_overflow);

        tracker_prog_stats(tr, print_prog, NULL);
        if (stats_set)
                set_sysctl("/proc/sys/kernel/bpf_stats_enabled", old_stats, NULL, 0);
        tracker_free(tr);
        return tap_done();
}
