/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-access: the rule of access.h. Every clause on facts given by hand
 * (ids, dumpability, capabilities, namespace, ckptd itself, root), then the
 * facts read from real processes: this one, one of its threads, a child that
 * makes itself non-dumpable, a child that is gone; the owner a checkpoint is
 * recorded under; and which files a caller may read by their mode bits.
 */
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "access.h"
#include "macro.h"
#include "tap.h"

#define RUN(fn) ok(fn(), #fn)

#pragma GCC diagnostic ignored "-Wformat-truncation"

/* A process of uid/gid 1000 that uid 1000 may act on; not this process. */
static struct access_process base(void)
{
        struct access_process p = {.pid = getpid() + 100000, .dumpable = true, .same_userns = true};

        for (size_t i = 0; i < 4; i++) {
                p.uid[i] = 1000;
                p.gid[i] = 1000;
        }
        return p;
}

/* p is refused to uid 1000 with a reason holding want, allowed to root. */
static bool refused_for_user(const struct access_process *p, const char *want)
{
        struct access_caller user = access_caller_make(1000, 1000), root = access_caller_make(0, 0);
        char reason[256];

        ASSERT_EQ(access_check(&user, p, reason, sizeof(reason)), -EPERM);
        fprintf(stderr, "# %s\n", reason);
        ASSERT(strstr(reason, want) != NULL);
        ASSERT_EQ(access_check(&root, p, reason, sizeof(reason)), 0);
        return true;
}

static bool test_rule(void)
{
        struct access_caller user = access_caller_make(1000, 1000);
        struct access_caller zero = {};
        struct access_process p = base();
        char reason[256];

        ASSERT_EQ(access_check(&user, &p, reason, sizeof(reason)), 0);
        ASSERT_EQ(access_check(&user, &p, NULL, 0), 0);
        ASSERT_EQ(zero.uid, 0);
        ASSERT(zero.cap_permitted == 0); /* zero-initialised: root by uid */
        ASSERT_EQ(access_check(&zero, &p, NULL, 0), 0);

        /* Each of the four uids, each of the four gids. */
        for (size_t i = 0; i < 4; i++) {
                p = base();
                p.uid[i] = 0;
                if (!refused_for_user(&p, i == 0 ? "belongs to uid 0" : "other user ids"))
                        return false;
                p = base();
                p.gid[i] = 0;
                if (!refused_for_user(&p, "other group ids"))
                        return false;
        }
        /* Another user's process altogether. */
        p = base();
        for (size_t i = 0; i < 4; i++)
                p.uid[i] = 1001;
        if (!refused_for_user(&p, "belongs to uid 1001, not to uid 1000"))
                return false;

        p = base();
        p.dumpable = false;
        if (!refused_for_user(&p, "not dumpable"))
                return false;
        p = base();
        p.cap_permitted = 1ULL << 23; /* CAP_SYS_NICE */
        if (!refused_for_user(&p, "capabilities"))
                return false;
        p = base();
        p.cap_effective = 1;
        if (!refused_for_user(&p, "capabilities"))
                return false;
        p = base();
        p.same_userns = false;
        if (!refused_for_user(&p, "another user namespace"))
                return false;

        /* ckptd itself: to root too. */
        p = base();
        p.pid = getpid();
        ASSERT_EQ(access_check(&zero, &p, reason, sizeof(reason)), -EPERM);
        ASSERT(strstr(reason, "is ckptd itself") != NULL);
        return true;
}

static bool test_owner(void)
{
        struct access_process p = base();

        ASSERT_EQ(access_owner(&p), 1000);
        p.uid[1] = 0; /* setuid root, started by 1000 */
        ASSERT_EQ(access_owner(&p), 0);
        p = base();
        p.dumpable = false;
        ASSERT_EQ(access_owner(&p), 0);
        p = base();
        p.gid[2] = 5;
        ASSERT_EQ(access_owner(&p), 0);
        p = base();
        p.cap_permitted = 1;
        ASSERT_EQ(access_owner(&p), 0);
        return true;
}

static pid_t thread_tid;
static int thread_pipe[2], thread_done[2];

static void *thread_main(void *arg)
{
        char c;

        thread_tid = (pid_t)syscall(SYS_gettid);
        if (write(thread_pipe[1], "x", 1) != 1)
                return NULL;
        (void)!read(thread_done[0], &c, 1);
        return NULL;
}

static bool test_self(void)
{
        struct access_caller root = access_caller_make(0, 0);
        pthread_t th;
        char reason[256], c;
        int r;

        ASSERT(access_is_self(getpid()));
        ASSERT(!access_is_self(getppid()));
        ASSERT(!access_is_self(0));
        ASSERT(!access_is_self(-1));
        ASSERT_EQ(access_check_process(&root, -EBADF, getpid(), NULL, reason, sizeof(reason)),
                  -EPERM);
        ASSERT(strstr(reason, "is ckptd itself") != NULL);

        ASSERT_OK(pipe2(thread_pipe, O_CLOEXEC) < 0 ? -errno : 0);
        ASSERT_OK(pipe2(thread_done, O_CLOEXEC) < 0 ? -errno : 0);
        ASSERT_EQ(pthread_create(&th, NULL, thread_main, NULL), 0);
        ASSERT_EQ(read(thread_pipe[0], &c, 1), 1);
        ASSERT(access_is_self(thread_tid));
        r = access_check_process(&root, -EBADF, thread_tid, NULL, reason, sizeof(reason));
        ASSERT_EQ(write(thread_done[1], "y", 1), 1);
        pthread_join(th, NULL);
        close(thread_pipe[0]);
        close(thread_pipe[1]);
        close(thread_done[0]);
        close(thread_done[1]);
        ASSERT_EQ(r, -EPERM);
        fprintf(stderr, "# %s\n", reason);
        ASSERT(strstr(reason, "is ckptd itself") != NULL);
        return true;
}

static bool test_read_self(void)
{
        struct access_process p;
        uid_t ru, eu, su;
        gid_t rg, eg, sg;

        ASSERT_OK(access_read_process(-EBADF, getpid(), &p));
        ASSERT_OK(getresuid(&ru, &eu, &su));
        ASSERT_OK(getresgid(&rg, &eg, &sg));
        ASSERT_EQ(p.pid, getpid());
        ASSERT_EQ(p.uid[0], ru);
        ASSERT_EQ(p.uid[1], eu);
        ASSERT_EQ(p.uid[2], su);
        ASSERT_EQ(p.gid[0], rg);
        ASSERT_EQ(p.gid[1], eg);
        ASSERT_EQ(p.gid[2], sg);
        ASSERT(p.dumpable);
        ASSERT(p.same_userns);
        ASSERT_EQ(access_read_process(-EBADF, 0, &p), -ESRCH);
        return true;
}

/*
 * A child that, as root, becomes uid/gid 65534 with no capabilities and
 * dumpable again (a change of ids makes it non-dumpable); then, told to,
 * makes itself non-dumpable.
 */
static bool test_child_dumpable(void)
{
        int to[2], from[2], status, pidfd = -EBADF;
        struct access_process p;
        struct access_caller c;
        char reason[256], x;
        bool ok = false;
        pid_t pid;

        ASSERT_OK(pipe2(to, O_CLOEXEC) < 0 ? -errno : 0);
        ASSERT_OK(pipe2(from, O_CLOEXEC) < 0 ? -errno : 0);
        pid = fork();
        ASSERT_OK(pid < 0 ? -errno : 0);
        if (pid == 0) {
                if (geteuid() == 0 &&
                    (setgroups(0, NULL) < 0 || setresgid(65534, 65534, 65534) < 0 ||
                     setresuid(65534, 65534, 65534) < 0))
                        _exit(1);
                if (prctl(PR_SET_DUMPABLE, 1) < 0 || write(from[1], "r", 1) != 1 ||
                    read(to[0], &x, 1) != 1 || prctl(PR_SET_DUMPABLE, 0) < 0 ||
                    write(from[1], "n", 1) != 1)
                        _exit(1);
                (void)!read(to[0], &x, 1);
                _exit(0);
        }
        if (read(from[0], &x, 1) != 1)
                goto out;
        pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
        if (pidfd < 0 || access_read_process(pidfd, pid, &p) < 0)
                goto out;
        c = access_caller_make(p.uid[0], p.gid[0]);
        fprintf(stderr, "# child %d: uid %u gid %u CapPrm %#llx dumpable %d\n", (int)pid,
                (unsigned)p.uid[0], (unsigned)p.gid[0], (unsigned long long)p.cap_permitted,
                p.dumpable);
        if (!p.dumpable || p.cap_permitted != 0 || (geteuid() == 0 && p.uid[0] != 65534))
                goto out;
        if (access_check_process(&c, pidfd, pid, NULL, reason, sizeof(reason)) != 0) {
                fprintf(stderr, "# refused: %s\n", reason);
                goto out;
        }
        if (write(to[1], "d", 1) != 1 || read(from[0], &x, 1) != 1)
                goto out;
        if (access_read_process(pidfd, pid, &p) < 0 || p.dumpable)
                goto out;
        if (access_check_process(&c, pidfd, pid, NULL, reason, sizeof(reason)) != -EPERM ||
            !strstr(reason, "not dumpable"))
                goto out;
        fprintf(stderr, "# %s\n", reason);
        if (write(to[1], "q", 1) != 1 || waitpid(pid, &status, 0) != pid)
                goto out;
        pid = 0;
        /* Gone and reaped: the pidfd says so, whatever has the pid now. */
        if (access_read_process(pidfd, p.pid, &p) != -ESRCH)
                goto out;
        ok = true;
out:
        if (pid > 0) {
                kill(pid, SIGKILL);
                waitpid(pid, &status, 0);
        }
        safe_close(pidfd);
        close(to[0]);
        close(to[1]);
        close(from[0]);
        close(from[1]);
        return ok;
}

static bool test_may_read_file(void)
{
        char dir[] = "/tmp/test-access.XXXXXX", path[256];
        struct access_caller other = access_caller_make(4242, 4242),
                             root = access_caller_make(0, 0);
        _cleanup_close_ int fd = -EBADF;
        bool ok = false;

        ASSERT(mkdtemp(dir) != NULL);
        snprintf(path, sizeof(path), "%s/f", dir);
        fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0 || chmod(dir, 0755) < 0)
                goto out;
        if (access_may_read_file(&other, path) || !access_may_read_file(&root, path))
                goto out;
        if (chmod(path, 0644) < 0 || !access_may_read_file(&other, path))
                goto out;
        if (chmod(dir, 0700) < 0 || access_may_read_file(&other, path))
                goto out;
        if (access_may_read_file(&other, "/nonexistent/file"))
                goto out;
        ok = true;
out:
        unlink(path);
        rmdir(dir);
        return ok;
}

int main(void)
{
        plan(6);
        RUN(test_rule);
        RUN(test_owner);
        RUN(test_self);
        RUN(test_read_self);
        RUN(test_child_dumpable);
        RUN(test_may_read_file);
        return tap_done();
}
