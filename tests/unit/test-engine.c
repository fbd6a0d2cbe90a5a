/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-engine: the checkpoint engine against real processes (the eng-mem
 * workload), the real kernel and a store in a temporary directory. Every
 * checkpoint taken of a SIGSTOPped process is compared page by page with
 * /proc/PID/mem while the process is still stopped. Needs root (ptrace of
 * other processes, /proc/PID/mem).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <libgen.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "memread.h"
#include "proc.h"
#include "tap.h"

#include "checkpoint.h"
#include "freezer.h"
#include "macro.h"
#include "manifest.h"
#include "pagemap.h"
#include "procmaps.h"
#include "store.h"

#define MAX_NAMED 16

static char workload[PATH_MAX];
static char tmpdir[] = "/tmp/test-engine-XXXXXX";
static char datafile[PATH_MAX];

/* An eng-mem process: its regions as it reported them before "ready". */
struct wl {
        struct proc p;
        int n;
        char name[MAX_NAMED][32];
        uint64_t start[MAX_NAMED], end[MAX_NAMED];
};

static bool wl_start(struct wl *w, const char *a1, const char *a2)
{
        char *argv[] = {workload, (char *)a1, (char *)a2, NULL};
        char line[256];

        memset(w, 0, sizeof(*w));
        if (proc_start(&w->p, argv) < 0)
                return false;
        while (proc_line(&w->p, line, sizeof(line)) == 0) {
                unsigned long long s, e;
                char name[32];

                if (strncmp(line, "ready", 5) == 0)
                        return true;
                if (w->n < MAX_NAMED && sscanf(line, "%31s %llx %llx", name, &s, &e) == 3) {
                        snprintf(w->name[w->n], sizeof(w->name[0]), "%s", name);
                        w->start[w->n] = s;
                        w->end[w->n] = e;
                        w->n++;
                }
        }
        fprintf(stderr, "# workload %s %s did not get ready\n", a1, a2);
        return false;
}

static void wl_stop(struct wl *w)
{
        proc_stop(&w->p);
}

static int wl_find(const struct wl *w, const char *name)
{
        for (int i = 0; i < w->n; i++)
                if (strcmp(w->name[i], name) == 0)
                        return i;
        return -1;
}

static char task_state(pid_t pid, pid_t tid)
{
        char path[96], buf[1024], *p;
        int fd;
        ssize_t n;

        snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", (int)pid, (int)tid);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return 0;
        n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (n <= 0)
                return 0;
        buf[n] = 0;
        p = strrchr(buf, ')');
        return p && p[1] ? p[2] : 0;
}

static long tracer_of(pid_t pid)
{
        char path[64], line[256];
        long tracer = -1;
        FILE *f;

        snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
        f = fopen(path, "re");
        if (!f)
                return -1;
        while (fgets(line, sizeof(line), f))
                if (sscanf(line, "TracerPid: %ld", &tracer) == 1)
                        break;
        fclose(f);
        return tracer;
}

/* Wait up to 2 s for the process to reach a state letter. */
static bool wait_state(pid_t pid, char want)
{
        for (int i = 0; i < 2000; i++) {
                if (task_state(pid, pid) == want)
                        return true;
                usleep(1000);
        }
        return false;
}

static bool stop_process(pid_t pid)
{
        return kill(pid, SIGSTOP) == 0 && wait_state(pid, 'T');
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        return remove(path);
}

/* ---- comparing a checkpoint with the live (stopped) process ---------------- */

/* Memory is read through tests/lib/memread.h, which faults nothing in: an
 * oracle that read every page through /proc/PID/mem would populate the holes
 * (a real zeroed page on kernels that do not map the shared zero page there,
 * a shmem page in shared mappings on all) and the next checkpoint would read
 * what the oracle made. */
static bool compare_view(struct ckpt_store *s, uint64_t id, pid_t pid, uint64_t *ret_compared)
{
        _cleanup_(manifest_freep) struct ckpt_manifest *v = NULL;
        static uint8_t want[PAGE], got[PAGE];
        uint64_t compared = 0, mismatches = 0;
        struct memread m;
        bool ok = false;

        ASSERT_OK(store_view(s, id, &v));
        ASSERT_EQ(v->kind, CKPT_MANIFEST_FULL);
        ASSERT_EQ(v->pid, pid);
        ASSERT_OK(memread_open(&m, pid));

        for (size_t i = 0; i < v->n_regions; i++) {
                const struct ckpt_region *r = &v->regions[i];
                _cleanup_close_ int file = -EBADF;

                if (r->flags & CKPT_REGION_SPECIAL)
                        continue;
                if (r->flags & CKPT_REGION_REF) {
                        if (!r->path)
                                goto out;
                        file = open(r->path, O_RDONLY | O_CLOEXEC);
                        if (file < 0)
                                goto out;
                }
                for (uint64_t a = r->start; a < r->end; a += PAGE) {
                        const struct ckpt_page *p = manifest_find_page(v, a);
                        ssize_t k;

                        if (memread_page(&m, a, want) < 0)
                                continue; /* beyond the end of a file: nothing to see */
                        if (p && p->kind == CKPT_PAGE_DATA) {
                                if (store_get_page(s, v->uid, p->key, got) < 0)
                                        goto out;
                        } else if (p || !(r->flags & CKPT_REGION_REF))
                                memset(got, 0, PAGE);
                        else {
                                memset(got, 0, PAGE);
                                k = pread(file, got, PAGE, (off_t)(r->offset + (a - r->start)));
                                if (k < 0)
                                        goto out;
                        }
                        compared++;
                        if (memcmp(want, got, PAGE) != 0) {
                                if (mismatches++ < 5)
                                        fprintf(stderr,
                                                "# page 0x%llx of %s (flags 0x%x) differs%s\n",
                                                (unsigned long long)a, r->path ? r->path : "[anon]",
                                                r->flags, p ? "" : " (not listed)");
                        }
                }
        }
        fprintf(stderr,
                "# checkpoint %llu: %llu pages compared, %llu differ (memory: %llu read, %llu from "
                "files, %llu not populated)\n",
                (unsigned long long)id, (unsigned long long)compared,
                (unsigned long long)mismatches, (unsigned long long)m.n_mem,
                (unsigned long long)m.n_file, (unsigned long long)m.n_zero);
        ok = compared > 0 && mismatches == 0;
        if (ok && ret_compared)
                *ret_compared = compared;
out:
        if (!ok)
                fprintf(stderr, "# checkpoint %llu does not equal the memory of process %d\n",
                        (unsigned long long)id, (int)pid);
        memread_close(&m);
        return ok;
}

/* DATA pages of the view inside [start, end). */
static long view_data_pages(const struct ckpt_manifest *v, uint64_t start, uint64_t end)
{
        long n = 0;

        for (size_t i = 0; i < v->n_pages; i++)
                n += v->pages[i].addr >= start && v->pages[i].addr < end &&
                     v->pages[i].kind == CKPT_PAGE_DATA;
        return n;
}

static size_t catalog_size(struct ckpt_store *s)
{
        _cleanup_free_ struct store_catalog_entry *e = NULL;
        size_t n = 0;

        if (store_list(s, &e, &n) < 0)
                return (size_t)-1;
        return n;
}

static struct ckpt_store *open_store(const char *sub)
{
        struct ckpt_store *s = NULL;
        char path[PATH_MAX];
        int r;

        snprintf(path, sizeof(path), "%s/%s", tmpdir, sub);
        mkdir(path, 0700);
        r = store_open(path, NULL, &s);
        if (r < 0) {
                fprintf(stderr, "# store_open('%s'): %s\n", path, strerror(-r));
                return NULL;
        }
        return s;
}

/* What a checkpoint test holds: a store of its own, an eng-mem process, the
 * request and result of checkpoint_run() and a view of a checkpoint. */
struct engine_case {
        struct ckpt_store *s;
        struct ckpt_manifest *v;
        struct wl w;
        struct checkpoint_request req;
        struct checkpoint_result res;
};

/* The store STORE (under tmpdir) and eng-mem A1 A2, ready; req is for it. */
static bool engine_case_start(struct engine_case *c, const char *store, const char *a1,
                              const char *a2)
{
        c->s = open_store(store);
        if (!c->s || !wl_start(&c->w, a1, a2))
                return false;
        c->req.pid = c->w.p.pid;
        return true;
}

static void engine_case_done(struct engine_case *c)
{
        checkpoint_result_done(&c->res);
        wl_stop(&c->w);
        manifest_free(c->v);
        store_free(c->s);
}

/* checkpoint_run() of req into s; false, with the engine's error said, when
 * it fails. */
static bool run_checkpoint(struct ckpt_store *s, const struct checkpoint_request *req,
                           struct checkpoint_result *res)
{
        int r = checkpoint_run(s, req, res);

        if (r < 0)
                fprintf(stderr, "# checkpoint_run: %s: %s\n", strerror(-r), res->error);
        return r >= 0;
}

/* ---- tests that need no store ----------------------------------------------- */

static bool same_path(const char *a, const char *b)
{
        return a && b ? strcmp(a, b) == 0 : a == b;
}

static bool test_procmaps_parse(void)
{
        static const char text[] =
                "00400000-00452000 r-xp 00000000 08:02 173521      /usr/bin/dbus-daemon\n"
                "00651000-00652000 rw-p 00051000 08:02 173521      /usr/bin/dbus-daemon\n"
                "00e03000-00e24000 rw-p 00000000 00:00 0           [heap]\n"
                "7f0000000000-7f0000001000 rw-s 00000000 00:01 1234  /dev/zero (deleted)\n"
                "7f0000001000-7f0000002000 rw-s 00000000 00:01 32769 /SYSV00000000 (deleted)\n"
                "7f0000002000-7f0000003000 rw-s 00000000 00:01 99  /memfd:eng mem (deleted)\n"
                "7f0000003000-7f0000004000 r--p 00001000 08:02 55  /tmp/a dir/with spaces.bin\n"
                "7f0000004000-7f0000005000 ---p 00000000 00:00 0 \n"
                "7f0000005000-7f0000006000 r--p 00000000 08:02 56  /tmp/gone (deleted)\n"
                "7f0000006000-7f0000007000 rw-p 00000000 00:00 0   [anon:my name]\n"
                "7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0                  [stack]\n"
                "7ffd00100000-7ffd00102000 r--p 00000000 00:00 0                  [vvar]\n"
                "7ffd00102000-7ffd00104000 r-xp 00000000 00:00 0                  [vdso]\n"
                "ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0          [vsyscall]\n";
        struct ckpt_region *v = NULL;
        size_t n = 0;
        bool ok = false;

        ASSERT_OK(procmaps_parse(text, &v, &n));
        if (n != 14)
                goto out;
#define EXPECT(i, fl, pr, p)                                                                       \
        do {                                                                                       \
                if (v[i].flags != (fl) || v[i].prot != (pr) || !same_path(v[i].path, (p))) {       \
                        fprintf(stderr, "# line %d: flags 0x%x prot %u path '%s'\n", i,            \
                                v[i].flags, v[i].prot, v[i].path ? v[i].path : "(null)");          \
                        goto out;                                                                  \
                }                                                                                  \
        } while (0)
        EXPECT(0, CKPT_REGION_PRIVATE | CKPT_REGION_FILE, PROT_READ | PROT_EXEC,
               "/usr/bin/dbus-daemon");
        EXPECT(1, CKPT_REGION_PRIVATE | CKPT_REGION_FILE, PROT_READ | PROT_WRITE,
               "/usr/bin/dbus-daemon");
        EXPECT(2, CKPT_REGION_PRIVATE | CKPT_REGION_ANON | CKPT_REGION_HEAP, PROT_READ | PROT_WRITE,
               "[heap]");
        EXPECT(3, CKPT_REGION_SHARED | CKPT_REGION_ANON | CKPT_REGION_FILE, PROT_READ | PROT_WRITE,
               "/dev/zero (deleted)");
        EXPECT(4, CKPT_REGION_SHARED | CKPT_REGION_ANON | CKPT_REGION_FILE, PROT_READ | PROT_WRITE,
               "/SYSV00000000 (deleted)");
        EXPECT(5, CKPT_REGION_SHARED | CKPT_REGION_ANON | CKPT_REGION_FILE, PROT_READ | PROT_WRITE,
               "/memfd:eng mem (deleted)");
        EXPECT(6, CKPT_REGION_PRIVATE | CKPT_REGION_FILE, PROT_READ, "/tmp/a dir/with spaces.bin");
        EXPECT(7, CKPT_REGION_PRIVATE | CKPT_REGION_ANON | CKPT_REGION_UNREADABLE, 0, NULL);
        EXPECT(8, CKPT_REGION_PRIVATE | CKPT_REGION_FILE | CKPT_REGION_ANON, PROT_READ,
               "/tmp/gone (deleted)");
        EXPECT(9, CKPT_REGION_PRIVATE | CKPT_REGION_ANON, PROT_READ | PROT_WRITE, "[anon:my name]");
        EXPECT(10, CKPT_REGION_PRIVATE | CKPT_REGION_ANON | CKPT_REGION_STACK,
               PROT_READ | PROT_WRITE, "[stack]");
        EXPECT(11, CKPT_REGION_PRIVATE | CKPT_REGION_SPECIAL, PROT_READ, "[vvar]");
        EXPECT(12, CKPT_REGION_PRIVATE | CKPT_REGION_SPECIAL, PROT_READ | PROT_EXEC, "[vdso]");
        EXPECT(13, CKPT_REGION_PRIVATE | CKPT_REGION_SPECIAL | CKPT_REGION_UNREADABLE, PROT_EXEC,
               "[vsyscall]");
#undef EXPECT
        if (v[1].offset != 0x51000 || v[1].inode != 173521 || v[1].dev != makedev(8, 2) ||
            v[13].start != 0xffffffffff600000ull)
                goto out;
        ok = true;
out:
        procmaps_free(v, n);
        ASSERT(ok);
        /* Damaged input is refused. */
        ASSERT_EQ(procmaps_parse("00400000-00300000 r-xp 00000000 08:02 1 /x\n", &v, &n), -EBADMSG);
        ASSERT_EQ(procmaps_parse("garbage\n", &v, &n), -EBADMSG);
        return true;
}

static bool test_procmaps_clip(void)
{
        struct ckpt_region regions[2] = {
                {.start = 0x1000, .end = 0x3000, .offset = 0x10000},
                {.start = 0x5000, .end = 0x8000},
        };
        struct ckpt_range in1[] = {{0x1800, 0x6800}};
        struct ckpt_range in2[] = {{0x2000, 0x2800}, {0, 0x2000}, {0x7000, 0x10000}};
        struct ckpt_range bad[] = {{0x2000, 0x2000}};
        struct ckpt_range *norm = NULL, *sk = NULL;
        struct ckpt_region *out = NULL;
        size_t n_norm = 0, n_out = 0, n_sk = 0;
        bool ok;

        ASSERT_OK(procmaps_normalize_ranges(in1, 1, &norm, &n_norm));
        ASSERT_OK(procmaps_clip(regions, 2, norm, n_norm, &out, &n_out, &sk, &n_sk));
        ok = n_out == 2 && out[0].start == 0x2000 && out[0].end == 0x3000 &&
             out[0].offset == 0x11000 && out[1].start == 0x5000 && out[1].end == 0x6000 &&
             n_sk == 1 && sk[0].start == 0x3000 && sk[0].end == 0x5000;
        procmaps_free(out, n_out);
        free(sk);
        free(norm);
        ASSERT(ok);

        /* Touching ranges merge; unmapped parts are coalesced. */
        ASSERT_OK(procmaps_normalize_ranges(in2, 3, &norm, &n_norm));
        ASSERT_EQ(n_norm, 2);
        ASSERT_OK(procmaps_clip(regions, 2, norm, n_norm, &out, &n_out, &sk, &n_sk));
        ok = n_out == 2 && out[0].start == 0x1000 && out[0].end == 0x2000 &&
             out[1].start == 0x7000 && out[1].end == 0x8000 && n_sk == 2 && sk[0].start == 0 &&
             sk[0].end == 0x1000 && sk[1].start == 0x8000 && sk[1].end == 0x10000;
        procmaps_free(out, n_out);
        free(sk);
        free(norm);
        ASSERT(ok);

        ASSERT_EQ(procmaps_normalize_ranges(bad, 1, &norm, &n_norm), -EINVAL);
        return true;
}

static bool test_freezer_threads(void)
{
        struct wl w;
        bool ok = true;

        ASSERT(wl_start(&w, "churn", "2"));
        for (int round = 0; round < 20 && ok; round++) {
                _cleanup_(freezer_freep) struct freezer *f = NULL;
                DIR *d;
                struct dirent *de;
                size_t seen = 0, attached = 0;

                if (freezer_freeze(w.p.pid, &f) < 0) {
                        fprintf(stderr, "# freeze: %s\n", f ? f->error : "?");
                        ok = false;
                        break;
                }
                for (size_t i = 0; i < f->n_threads; i++)
                        attached += f->threads[i].attached;
                /* Every thread that exists now is held, in a ptrace stop. */
                d = opendir("/proc/self/task");
                {
                        char path[64];
                        snprintf(path, sizeof(path), "/proc/%d/task", (int)w.p.pid);
                        closedir(d);
                        d = opendir(path);
                }
                while (d && (de = readdir(d))) {
                        pid_t tid = atoi(de->d_name);
                        char st;

                        if (tid <= 0)
                                continue;
                        seen++;
                        st = task_state(w.p.pid, tid);
                        if (st != 't') {
                                fprintf(stderr, "# round %d: thread %d in state %c\n", round,
                                        (int)tid, st);
                                ok = false;
                        }
                }
                if (d)
                        closedir(d);
                if (seen != attached || seen < 3) {
                        fprintf(stderr, "# round %d: %zu threads seen, %zu attached\n", round, seen,
                                attached);
                        ok = false;
                }
                if (freezer_thaw(f) < 0)
                        ok = false;
        }
        usleep(10000);
        if (tracer_of(w.p.pid) != 0 || task_state(w.p.pid, w.p.pid) == 't')
                ok = false;
        wl_stop(&w);
        return ok;
}

static bool test_freezer_stopped(void)
{
        _cleanup_(freezer_freep) struct freezer *f = NULL;
        struct wl w;
        bool ok;

        ASSERT(wl_start(&w, "threads", "3"));
        if (!stop_process(w.p.pid)) {
                wl_stop(&w);
                return false;
        }
        ok = freezer_freeze(w.p.pid, &f) == 0 && f->was_stopped &&
             task_state(w.p.pid, w.p.pid) == 't' && freezer_thaw(f) == 0;
        usleep(100000);
        /* Back in group-stop, as it was, and no longer traced. */
        ok = ok && task_state(w.p.pid, w.p.pid) == 'T' && tracer_of(w.p.pid) == 0;
        kill(w.p.pid, SIGCONT);
        ok = ok && wait_state(w.p.pid, 'S');
        wl_stop(&w);
        return ok;
}

static bool test_freezer_busy(void)
{
        _cleanup_(freezer_freep) struct freezer *f = NULL;
        struct wl w;
        pid_t tracer;
        int sync[2], r;
        char c;
        bool ok;

        ASSERT(wl_start(&w, "threads", "1"));
        ASSERT(pipe(sync) == 0);
        tracer = fork();
        if (tracer == 0) {
                if (ptrace(PTRACE_SEIZE, w.p.pid, NULL, NULL) < 0)
                        _exit(1);
                if (write(sync[1], "x", 1) != 1)
                        _exit(1);
                for (;;)
                        pause();
        }
        close(sync[1]);
        ok = read(sync[0], &c, 1) == 1;
        close(sync[0]);
        r = freezer_freeze(w.p.pid, &f);
        ok = ok && r == -EBUSY && f && strstr(f->error, "already traced");
        if (f)
                fprintf(stderr, "# freeze: %s\n", f->error);
        kill(tracer, SIGKILL);
        waitpid(tracer, NULL, 0);
        wl_stop(&w);
        return ok;
}

/* A thread in uninterruptible sleep (a vfork() parent) cannot be stopped:
 * the freeze is refused within about a second, saying why, and leaves every
 * thread untraced and running; once the thread is out of D it freezes. */
static bool test_freezer_uninterruptible(void)
{
        _cleanup_(freezer_freep) struct freezer *f = NULL;
        char path[64];
        struct timespec t0, t1;
        struct wl w;
        pid_t d_tid = 0;
        double secs;
        bool ok = true;
        int r;

        ASSERT(wl_start(&w, "vfork", "4"));
        /* The vforking thread shows D once its child runs. */
        for (int i = 0; i < 200 && d_tid == 0; i++) {
                DIR *d;
                struct dirent *de;

                snprintf(path, sizeof(path), "/proc/%d/task", (int)w.p.pid);
                d = opendir(path);
                while (d && (de = readdir(d)))
                        if (atoi(de->d_name) > 0 && task_state(w.p.pid, atoi(de->d_name)) == 'D')
                                d_tid = atoi(de->d_name);
                if (d)
                        closedir(d);
                if (d_tid == 0)
                        usleep(10000);
        }
        if (d_tid == 0) {
                fprintf(stderr, "# no thread of %d in state D\n", (int)w.p.pid);
                wl_stop(&w);
                return false;
        }
        clock_gettime(CLOCK_MONOTONIC, &t0);
        r = freezer_freeze(w.p.pid, &f);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        secs = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
        fprintf(stderr, "# freeze: %d after %.2f s: %s\n", r, secs, f ? f->error : "?");
        ok = ok && r == -EBUSY && f && strstr(f->error, "uninterruptible sleep");
        ok = ok && secs < 3.0;
        /* Nothing held: no thread traced or in a trace stop. */
        {
                DIR *d = opendir(path);
                struct dirent *de;
                size_t n = 0;

                while (d && (de = readdir(d))) {
                        pid_t tid = atoi(de->d_name);

                        if (tid <= 0)
                                continue;
                        n++;
                        if (tracer_of(tid) != 0 || task_state(w.p.pid, tid) == 't') {
                                fprintf(stderr, "# thread %d left traced (%c)\n", (int)tid,
                                        task_state(w.p.pid, tid));
                                ok = false;
                        }
                }
                if (d)
                        closedir(d);
                ok = ok && n == 3;
        }
        f = freezer_free(f);
        /* Its child exits after 4 s: then the process freezes as any other. */
        for (int i = 0; i < 100 && task_state(w.p.pid, d_tid) == 'D'; i++)
                usleep(100000);
        r = freezer_freeze(w.p.pid, &f);
        ok = ok && r == 0 && freezer_thaw(f) == 0;
        wl_stop(&w);
        return ok;
}

/* The read-set decision, with and without a dirty set, on a live process. */
static bool test_pagemap_select(void)
{
        _cleanup_(pagemap_freep) struct pagemap *pm = NULL;
        _cleanup_(manifest_freep) struct ckpt_manifest *parent = NULL;
        struct pagemap_plan plan = {};
        struct pagemap_carry c;
        struct ckpt_region r, pr;
        size_t n_carried = 0;
        uint64_t carried[3] = {};
        uint8_t flags[4];
        uint64_t dirty_pages[2], base;
        struct pagemap_dirty dirty = {dirty_pages, 2};
        static const uint8_t key[32] = {1};
        struct wl w;
        bool ok = false;
        int i;

        ASSERT(wl_start(&w, "regions", datafile));
        if ((i = wl_find(&w, "sparse")) < 0 || pagemap_open(w.p.pid, &pm) < 0)
                goto out;
        base = w.start[i];
        if (pagemap_flags(pm, base, base + 4 * PAGE, flags) < 0 ||
            !(flags[0] & PAGEMAP_PAGE_PRESENT) || (flags[1] & PAGEMAP_PAGE_PRESENT))
                goto out;

        r = (struct ckpt_region){.start = base,
                                 .end = w.end[i],
                                 .prot = PROT_READ | PROT_WRITE,
                                 .flags = CKPT_REGION_PRIVATE | CKPT_REGION_ANON};
        /* Without a dirty set: the 32 touched pages, every 8th. */
        if (pagemap_select(pm, &r, NULL, NULL, &plan) < 0 || plan.n_read != 32 ||
            plan.read[1] != base + 8 * PAGE || plan.n_carry_runs != 0)
                goto out;
        pagemap_plan_done(&plan);

        /* The parent covered the first half, with a page every 8th listed;
         * pages 8 and 9 were written since. */
        parent = calloc(1, sizeof(*parent));
        if (!parent)
                goto out;
        parent->kind = CKPT_MANIFEST_FULL;
        pr = r;
        pr.end = base + 128 * PAGE;
        if (manifest_add_region(parent, &pr) < 0)
                goto out;
        for (int k = 0; k < 128; k += 8)
                if (manifest_add_page(parent, base + k * PAGE, CKPT_PAGE_DATA, key) < 0)
                        goto out;
        dirty_pages[0] = base + 8 * PAGE;
        dirty_pages[1] = base + 9 * PAGE;
        if (pagemap_select(pm, &r, &dirty, parent, &plan) < 0)
                goto out;
        /* While frozen only the runs to carry are noted; after the thaw the
         * parent's entries in them are walked: all 16 of the half it
         * covered (page 8, read again, too: the reader lets the read win). */
        if (plan.n_carry_runs != 1 || pagemap_carry_count(&plan, parent) != 16)
                goto out;
        for (pagemap_carry_start(&c, &plan, parent); c.cur; pagemap_carry_next(&c)) {
                if (n_carried < 3)
                        carried[n_carried] = c.cur->addr;
                n_carried++;
        }
        /* Read: the two dirty pages, then the 16 touched pages of the half
         * the parent did not cover. */
        if (plan.n_read != 18 || plan.read[0] != base + 8 * PAGE ||
            plan.read[1] != base + 9 * PAGE || plan.read[2] != base + 128 * PAGE ||
            n_carried != 16 || carried[0] != base || carried[1] != base + 8 * PAGE ||
            carried[2] != base + 16 * PAGE)
                goto out;
        /* No parent: nothing carried. */
        pagemap_carry_start(&c, &plan, NULL);
        if (c.cur || pagemap_carry_count(&plan, NULL) != 0)
                goto out;
        ok = true;
out:
        if (!ok)
                fprintf(stderr, "# plan: %zu read, %zu carried\n", plan.n_read, n_carried);
        pagemap_plan_done(&plan);
        wl_stop(&w);
        return ok;
}

/* A running multi-threaded process with thread churn: checkpointed, and left
 * running, untraced. */
static bool test_checkpoint_running(void)
{
        _cleanup_(engine_case_done) struct engine_case c = {};
        bool ok = false;

        ASSERT(engine_case_start(&c, "running", "churn", "2"));
        if (!run_checkpoint(c.s, &c.req, &c.res))
                goto out;
        if (store_view(c.s, c.res.id, &c.v) < 0 || c.v->n_threads < 3 ||
            (c.v->flags & CKPT_MF_STOPPED))
                goto out;
        usleep(10000);
        ok = tracer_of(c.w.p.pid) == 0 && task_state(c.w.p.pid, c.w.p.pid) != 't' &&
             task_state(c.w.p.pid, c.w.p.pid) != 'T';
out:
        return ok;
}

static bool test_no_such_process(void)
{
        _cleanup_(store_freep) struct ckpt_store *s = NULL;
        struct checkpoint_request req = {};
        struct checkpoint_result res;
        pid_t pid = fork();

        if (pid == 0)
                _exit(0);
        waitpid(pid, NULL, 0);
        req.pid = pid;
        /* A store is not even needed to find out. */
        ASSERT_EQ(checkpoint_run(NULL, &req, &res), -ESRCH);
        ASSERT(strstr(res.error, "no such process"));
        checkpoint_result_done(&res);
        return true;
}

static bool test_eperm(void)
{
        struct checkpoint_request req = {};
        struct checkpoint_result res;
        struct wl w;
        int r;

        ASSERT(wl_start(&w, "threads", "1"));
        req.pid = w.p.pid;
        req.caller = access_caller_make(4242, 4242);
        r = checkpoint_run(NULL, &req, &res);
        fprintf(stderr, "# %s\n", res.error);
        checkpoint_result_done(&res);
        r = r == -EPERM && strstr(res.error, "uid") && tracer_of(w.p.pid) == 0;
        wl_stop(&w);
        return r;
}

/* ---- tests with a store ------------------------------------------------------ */

static bool check_regions(struct ckpt_store *s, uint64_t id, const struct wl *w)
{
        _cleanup_(manifest_freep) struct ckpt_manifest *v = NULL;
        const struct ckpt_region *r;
        int i;

        ASSERT_OK(store_view(s, id, &v));
        ASSERT_EQ(v->n_threads, 5);
        ASSERT_EQ(v->threads[0].regs_size, 216);
        ASSERT_EQ(v->threads[0].fpregs_size, 512);

        ASSERT((i = wl_find(w, "sparse")) >= 0);
        ASSERT((r = manifest_find_region(v, w->start[i])));
        ASSERT_EQ(r->flags, CKPT_REGION_PRIVATE | CKPT_REGION_ANON);
        ASSERT_EQ(view_data_pages(v, w->start[i], w->end[i]), 32);

        ASSERT((i = wl_find(w, "protnone")) >= 0);
        ASSERT((r = manifest_find_region(v, w->start[i])));
        ASSERT(r->flags & CKPT_REGION_UNREADABLE);
        ASSERT_EQ(view_data_pages(v, w->start[i], w->end[i]), 8);

        ASSERT((i = wl_find(w, "readonly")) >= 0);
        ASSERT_EQ(view_data_pages(v, w->start[i], w->end[i]), 8);

        ASSERT((i = wl_find(w, "shared")) >= 0);
        ASSERT((r = manifest_find_region(v, w->start[i])));
        ASSERT(r->flags & CKPT_REGION_SHARED);
        ASSERT_EQ(view_data_pages(v, w->start[i], w->end[i]), 8);

        ASSERT((i = wl_find(w, "memfd")) >= 0);
        ASSERT((r = manifest_find_region(v, w->start[i])));
        ASSERT(r->flags & CKPT_REGION_SHARED);
        ASSERT(r->path && strncmp(r->path, "/memfd:eng mem", 14) == 0);
        ASSERT_EQ(view_data_pages(v, w->start[i], w->end[i]), 16);

        ASSERT((i = wl_find(w, "file-private")) >= 0);
        ASSERT((r = manifest_find_region(v, w->start[i])));
        ASSERT(!(r->flags & CKPT_REGION_REF));
        ASSERT_EQ(view_data_pages(v, w->start[i], w->end[i]), 16);

        ASSERT((i = wl_find(w, "file-readonly")) >= 0);
        ASSERT((r = manifest_find_region(v, w->start[i])));
        ASSERT(r->flags & CKPT_REGION_REF);
        ASSERT_EQ(r->track, CKPT_TRACK_REF);
        ASSERT_EQ(view_data_pages(v, w->start[i], w->end[i]), 1);
        ASSERT(manifest_find_page(v, w->start[i] + 5 * PAGE));
        return true;
}

static bool test_checkpoint_regions(void)
{
        _cleanup_(engine_case_done) struct engine_case c = {};
        struct checkpoint_result res2 = {};
        bool ok = false;

        ASSERT(engine_case_start(&c, "regions", "regions", datafile));
        if (!stop_process(c.w.p.pid))
                goto out;
        if (!run_checkpoint(c.s, &c.req, &c.res))
                goto out;
        fprintf(stderr, "# id %llu: %llu pages, %llu read, %llu bytes, pause %.3f ms\n",
                (unsigned long long)c.res.id, (unsigned long long)c.res.pages,
                (unsigned long long)c.res.pages_read, (unsigned long long)c.res.bytes_stored,
                c.res.pause_ns / 1e6);
        if (c.res.id == 0 || c.res.parent != 0 || c.res.pages_read == 0 ||
            c.res.bytes_stored == 0 || c.res.n_skipped != 0)
                goto out;
        /* Still stopped as it was, and not traced any more. */
        if (task_state(c.w.p.pid, c.w.p.pid) != 'T' || tracer_of(c.w.p.pid) != 0)
                goto out;
        if (!compare_view(c.s, c.res.id, c.w.p.pid, NULL) || !check_regions(c.s, c.res.id, &c.w))
                goto out;

        /* Nothing changed: the second checkpoint stores (almost) nothing. */
        if (!run_checkpoint(c.s, &c.req, &res2))
                goto out;
        fprintf(stderr, "# id %llu: parent %llu, %llu read, %llu bytes\n",
                (unsigned long long)res2.id, (unsigned long long)res2.parent,
                (unsigned long long)res2.pages_read, (unsigned long long)res2.bytes_stored);
        if (res2.parent != c.res.id || res2.bytes_stored > 2 * PAGE || res2.pages != c.res.pages ||
            res2.pages_read > c.res.pages_read)
                goto out;
        if (!compare_view(c.s, res2.id, c.w.p.pid, NULL))
                goto out;
        ok = task_state(c.w.p.pid, c.w.p.pid) == 'T';
out:
        checkpoint_result_done(&res2);
        return ok;
}

static bool test_checkpoint_ranges(void)
{
        _cleanup_(engine_case_done) struct engine_case c = {};
        struct checkpoint_result res2 = {};
        struct ckpt_range ranges[2];
        struct ckpt_range whole = {0, 0x7ffffffff000ull};
        struct ckpt_region *maps = NULL;
        size_t n_maps = 0;
        uint64_t covered = 0, skipped = 0;
        bool ok = false;
        int i;

        ASSERT(engine_case_start(&c, "ranges", "regions", datafile));
        if (!stop_process(c.w.p.pid) || (i = wl_find(&c.w, "sparse")) < 0)
                goto out;

        /* Unaligned bounds: only pages wholly inside count. One range unmapped. */
        ranges[0] = (struct ckpt_range){c.w.start[i] + 100, c.w.start[i] + 64 * PAGE + 50};
        ranges[1] = (struct ckpt_range){0x1000, 0x3000};
        c.req.ranges = ranges;
        c.req.n_ranges = 2;
        if (!run_checkpoint(c.s, &c.req, &c.res))
                goto out;
        if (c.res.n_skipped != 1 || c.res.skipped[0].start != 0x1000 ||
            c.res.skipped[0].end != 0x3000)
                goto out;
        if (store_view(c.s, c.res.id, &c.v) < 0 || c.v->n_regions != 1 ||
            c.v->regions[0].start != c.w.start[i] + PAGE ||
            c.v->regions[0].end != c.w.start[i] + 64 * PAGE || !(c.v->flags & CKPT_MF_RANGES))
                goto out;
        /* Touched pages 8, 16, …, 56 are inside; page 0 is not. */
        if (view_data_pages(c.v, 0, UINT64_MAX) != 7 ||
            !compare_view(c.s, c.res.id, c.w.p.pid, NULL))
                goto out;

        /* A range over the whole user address space works; the skipped parts
         * are exactly what is not mapped. */
        c.req.ranges = &whole;
        c.req.n_ranges = 1;
        if (!run_checkpoint(c.s, &c.req, &res2))
                goto out;
        if (res2.n_skipped < 2 || res2.skipped[0].start != 0 ||
            res2.skipped[res2.n_skipped - 1].end != whole.end)
                goto out;
        if (procmaps_read(c.w.p.pid, &maps, &n_maps) < 0)
                goto out;
        for (size_t k = 0; k < n_maps; k++)
                if (maps[k].end <= whole.end)
                        covered += maps[k].end - maps[k].start;
        for (size_t k = 0; k < res2.n_skipped; k++) {
                skipped += res2.skipped[k].end - res2.skipped[k].start;
                for (size_t m = 0; m < n_maps; m++)
                        if (maps[m].start < res2.skipped[k].end &&
                            res2.skipped[k].start < maps[m].end)
                                goto out;
        }
        if (covered + skipped != whole.end)
                goto out;
        if (res2.parent != c.res.id || !compare_view(c.s, res2.id, c.w.p.pid, NULL))
                goto out;

        checkpoint_result_done(&res2);
        ranges[0] = (struct ckpt_range){0x5000, 0x4000};
        c.req.ranges = ranges;
        c.req.n_ranges = 1;
        if (checkpoint_run(c.s, &c.req, &res2) != -EINVAL)
                goto out;
        ok = task_state(c.w.p.pid, c.w.p.pid) == 'T';
out:
        procmaps_free(maps, n_maps);
        checkpoint_result_done(&res2);
        return ok;
}

/* Anonymous and shmem memory resident in a process, KiB (/proc/PID/status:
 * RssAnon + RssShmem; RssFile also counts the [vdso] page a read maps). */
static long resident_kib(pid_t pid)
{
        char path[64], line[256];
        long total = 0, v, found = 0;
        FILE *f;

        snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
        f = fopen(path, "re");
        if (!f)
                return -1;
        while (fgets(line, sizeof(line), f))
                if (sscanf(line, "RssAnon: %ld kB", &v) == 1 ||
                    sscanf(line, "RssShmem: %ld kB", &v) == 1) {
                        total += v;
                        found++;
                }
        fclose(f);
        return found == 2 ? total : -1;
}

/* Word i of eng-mem's fill(p, len, seed) for the page at page index k. */
static bool is_fill(const uint8_t *page, size_t k, uint32_t seed)
{
        const uint32_t *w = (const uint32_t *)page;

        for (size_t i = 0; i < PAGE / 4; i++)
                if (w[i] != seed * 2654435761u + (uint32_t)(k * (PAGE / 4) + i))
                        return false;
        return true;
}

static bool is_byte(const uint8_t *page, uint8_t b)
{
        for (size_t i = 0; i < PAGE; i++)
                if (page[i] != b)
                        return false;
        return true;
}

static bool run_memdump(pid_t pid, uint64_t start, uint64_t end)
{
        char exe[PATH_MAX], a1[16], a2[32], a3[32], out[PATH_MAX];
        int status;
        pid_t c;

        snprintf(exe, sizeof(exe), "%s", workload);
        snprintf(exe + strlen(exe) - strlen("eng-mem"), sizeof(exe) - strlen(exe) + 7, "memdump");
        snprintf(a1, sizeof(a1), "%d", (int)pid);
        snprintf(a2, sizeof(a2), "%llx", (unsigned long long)start);
        snprintf(a3, sizeof(a3), "%llx", (unsigned long long)end);
        snprintf(out, sizeof(out), "%s/memdump.bin", tmpdir);
        c = fork();
        if (c < 0)
                return false;
        if (c == 0) {
                int null = open("/dev/null", O_WRONLY | O_CLOEXEC);

                dup2(null, STDERR_FILENO);
                execl(exe, exe, a1, a2, a3, out, (char *)NULL);
                _exit(127);
        }
        if (waitpid(c, &status, 0) != c || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                fprintf(stderr, "# %s %s %s %s %s failed\n", exe, a1, a2, a3, out);
                return false;
        }
        return true;
}

/* The oracle itself: reading every page of a stopped process through
 * memread (compare_view) and memdump populates nothing, whether or not the
 * kernel maps its shared zero page on a read fault; and it reads the right
 * bytes where a page is not populated yet not zero (a private mapping of a
 * file or memfd shows the file's bytes). A read of a shmem hole through
 * /proc/PID/mem, which allocates a page on every kernel, shows that the
 * count sees what a careless oracle would do. */
static bool test_oracle_faults_nothing(void)
{
        static uint8_t buf[PAGE];
        struct memread m = {.mem_fd = -1, .pagemap_fd = -1};
        long long before = -1, after = -1, control = -1;
        long rss0, rss1;
        int i_untouched, i_shared, i_mpriv, i_fpriv;
        _cleanup_close_ int mem = -EBADF;
        char path[64];
        struct wl w = {};
        bool ok = false;

        ASSERT(wl_start(&w, "regions", datafile));
        if (!stop_process(w.p.pid))
                goto out;
        if ((i_untouched = wl_find(&w, "untouched")) < 0 ||
            (i_shared = wl_find(&w, "shared")) < 0 ||
            (i_mpriv = wl_find(&w, "memfd-private")) < 0 ||
            (i_fpriv = wl_find(&w, "file-private")) < 0)
                goto out;
        before = memread_count_present(w.p.pid);
        rss0 = resident_kib(w.p.pid);
        if (before <= 0 || rss0 <= 0 || memread_open(&m, w.p.pid) < 0)
                goto out;
        for (size_t k = 0; k < m.n_maps; k++)
                for (uint64_t a = m.maps[k].start; a < m.maps[k].end; a += PAGE)
                        (void)memread_page(&m, a, buf);
        fprintf(stderr,
                "# whole address space: %llu pages read, %llu from files, %llu not populated, "
                "%llu unreadable\n",
                (unsigned long long)m.n_mem, (unsigned long long)m.n_file,
                (unsigned long long)m.n_zero, (unsigned long long)m.n_unreadable);
        for (size_t k = 0; k < m.n_maps; k++)
                if (m.maps[k].end <= 0x800000000000ull &&
                    !run_memdump(w.p.pid, m.maps[k].start, m.maps[k].end))
                        goto out;

        /* The bytes where nothing is populated. */
        if (memread_page(&m, w.start[i_untouched] + 100 * PAGE, buf) != 0 || !is_byte(buf, 0))
                goto out;
        if (memread_page(&m, w.start[i_shared] + 12 * PAGE, buf) != 1 || !is_byte(buf, 0))
                goto out; /* a hole of the shmem object, read from it */
        if (memread_page(&m, w.start[i_shared] + 3 * PAGE, buf) != 1 || !is_fill(buf, 3, 4))
                goto out;
        if (memread_page(&m, w.start[i_mpriv] + 7 * PAGE, buf) != 1 || !is_fill(buf, 7, 5))
                goto out; /* the memfd's bytes under a private mapping */
        if (memread_page(&m, w.start[i_mpriv] + 4 * PAGE, buf) != 1 || !is_fill(buf, 0, 6))
                goto out; /* its copy written */
        if (memread_page(&m, w.start[i_fpriv] + 12 * PAGE, buf) != 1 || !is_byte(buf, 'a' + 12))
                goto out; /* the file's bytes, never touched */
        if (memread_page(&m, w.start[i_fpriv] + 9 * PAGE, buf) != 1 || !is_byte(buf, 'a' + 9))
                goto out;
        if (memread_page(&m, w.start[i_fpriv] + 2 * PAGE, buf) != 1 || !is_fill(buf, 0, 7))
                goto out;

        after = memread_count_present(w.p.pid);
        rss1 = resident_kib(w.p.pid);
        fprintf(stderr, "# present pages %lld -> %lld, anon and shmem resident %ld -> %ld KiB\n",
                before, after, rss0, rss1);
        if (after != before || rss1 != rss0)
                goto out;

        /* The control: a plain read of that shmem hole populates it. */
        snprintf(path, sizeof(path), "/proc/%d/mem", (int)w.p.pid);
        mem = open(path, O_RDONLY | O_CLOEXEC);
        if (mem < 0 ||
            pread(mem, buf, PAGE, (off_t)(w.start[i_shared] + 13 * PAGE)) != (ssize_t)PAGE)
                goto out;
        control = memread_count_present(w.p.pid);
        fprintf(stderr,
                "# a read through /proc/PID/mem of a shmem hole: present pages %lld -> %lld\n",
                after, control);
        ok = control == after + 1 && task_state(w.p.pid, w.p.pid) == 'T';
out:
        memread_close(&m);
        wl_stop(&w);
        return ok;
}

/* Memory the process only read (zero pages, or zeroed pages the kernel
 * allocated on the read fault: probed, both are fine) costs the checkpoint
 * no store write: whatever it reads of it is recognised as zero, stored as
 * nothing and listed as no data. */
static bool test_checkpoint_read_faulted(void)
{
        _cleanup_(engine_case_done) struct engine_case c = {};
        struct ckpt_range range;
        long long present;
        bool ok = false;
        int i;

        ASSERT(engine_case_start(&c, "readfault", "readfault", "100"));
        if (!stop_process(c.w.p.pid) || (i = wl_find(&c.w, "readfault")) < 0)
                goto out;
        range = (struct ckpt_range){c.w.start[i], c.w.end[i]};
        present = memread_count_present(c.w.p.pid);
        c.req.ranges = &range;
        c.req.n_ranges = 1;
        if (!run_checkpoint(c.s, &c.req, &c.res))
                goto out;
        fprintf(stderr,
                "# 100 MiB read, never written: %llu pages, %llu read, %llu bytes stored, pause "
                "%.3f ms, %.3f ms in all (%lld pages present in the process)\n",
                (unsigned long long)c.res.pages, (unsigned long long)c.res.pages_read,
                (unsigned long long)c.res.bytes_stored, c.res.pause_ns / 1e6,
                c.res.duration_ns / 1e6, present);
        if (c.res.pages != 100 * 256 || c.res.bytes_stored != 0 ||
            store_view(c.s, c.res.id, &c.v) < 0)
                goto out;
        /* Every page read was zero: none is listed as data. */
        if (view_data_pages(c.v, range.start, range.end) != 0 ||
            !compare_view(c.s, c.res.id, c.w.p.pid, NULL))
                goto out;
        ok = task_state(c.w.p.pid, c.w.p.pid) == 'T';
out:
        return ok;
}

struct killer {
        pid_t pid;
        volatile bool done; /* the checkpoint returned: stop watching */
        bool fired;
};

static void *killer_thread(void *arg)
{
        struct killer *k = arg;

        /* Kill it once it is frozen (traced, in a ptrace stop). */
        while (!k->done) {
                if (task_state(k->pid, k->pid) == 't') {
                        kill(k->pid, SIGKILL);
                        k->fired = true;
                        return NULL;
                }
                usleep(20);
        }
        return NULL;
}

/* One attempt: 1 the kill landed while frozen and nothing was stored, 0 the
 * race went the other way (try again), -1 wrong outcome. */
static int killed_attempt(struct ckpt_store *s)
{
        struct checkpoint_request req = {};
        struct checkpoint_result res = {};
        struct killer k = {};
        pthread_t t;
        struct wl w = {};
        size_t before;
        int r, status = 0, outcome = -1;

        if (!wl_start(&w, "huge", "512"))
                return -1;
        before = catalog_size(s);
        k.pid = w.p.pid;
        if (pthread_create(&t, NULL, killer_thread, &k) != 0) {
                wl_stop(&w);
                return -1;
        }
        req.pid = w.p.pid;
        r = checkpoint_run(s, &req, &res);
        k.done = true;
        pthread_join(t, NULL);
        fprintf(stderr, "# checkpoint_run: %d (%s), killer fired: %d\n", r, res.error, k.fired);
        if (r == -ESRCH && k.fired && strstr(res.error, "exited during the checkpoint") &&
            catalog_size(s) == before)
                outcome = 1;
        else if (r == 0)
                outcome = 0; /* done before the killer saw it frozen, or killed after thaw */
        /* It died of the SIGKILL. Here the tracer is also the parent, so
         * the engine may have reaped it already. */
        if (k.fired) {
                if (waitpid(w.p.pid, &status, 0) == w.p.pid) {
                        if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
                                outcome = -1;
                } else if (errno != ECHILD || kill(w.p.pid, 0) == 0)
                        outcome = -1;
                w.p.pid = 0;
        }
        checkpoint_result_done(&res);
        wl_stop(&w);
        return outcome;
}

/* A process killed while frozen: -ESRCH, no catalog entry, nothing left
 * traced; the race with the killer is retried if the checkpoint won it. */
static bool test_checkpoint_killed(void)
{
        _cleanup_(store_freep) struct ckpt_store *s = open_store("killed");

        ASSERT(s);
        for (int attempt = 0; attempt < 5; attempt++) {
                int r = killed_attempt(s);
                if (r != 0)
                        return r > 0;
        }
        return false;
}

int main(void)
{
        char self[PATH_MAX];
        ssize_t n;
        int fd;

        if (geteuid() != 0)
                skip_all("needs root (ptrace of other processes)");
        n = readlink("/proc/self/exe", self, sizeof(self) - 1);
        if (n < 0)
                skip_all("cannot find own path");
        self[n] = 0;
        snprintf(workload, sizeof(workload), "%s/../workloads/eng-mem", dirname(self));
        if (access(workload, X_OK) < 0)
                skip_all("workload eng-mem not built (make .output/workloads/eng-mem)");
        if (!mkdtemp(tmpdir))
                skip_all("cannot create a temporary directory");

        /* The file behind the private file mappings: 16 pages of pattern. */
        snprintf(datafile, sizeof(datafile), "%s/data", tmpdir);
        fd = open(datafile, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        for (int i = 0; fd >= 0 && i < 16; i++) {
                char page[PAGE];
                memset(page, 'a' + i, sizeof(page));
                if (write(fd, page, sizeof(page)) != (ssize_t)sizeof(page))
                        break;
        }
        if (fd >= 0)
                close(fd);

        plan(15);
        RUN(test_procmaps_parse);
        RUN(test_procmaps_clip);
        RUN(test_freezer_threads);
        RUN(test_freezer_stopped);
        RUN(test_freezer_busy);
        RUN(test_freezer_uninterruptible);
        RUN(test_pagemap_select);
        RUN(test_no_such_process);
        RUN(test_eperm);
        RUN(test_checkpoint_running);
        RUN(test_checkpoint_regions);
        RUN(test_checkpoint_ranges);
        RUN(test_checkpoint_killed);
        RUN(test_oracle_faults_nothing);
        RUN(test_checkpoint_read_faulted);

        nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
        return tap_done();
}
