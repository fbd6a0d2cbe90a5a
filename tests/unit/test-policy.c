/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-policy: policy files: the parser (good files, every kind of error with
 * its line), durations and sizes, refusing NUL bytes and huge lines, the
 * directory override rule, runtime policies, and matching against real
 * processes (this one, a child, and as root a child moved into a cgroup).
 */
#include <fcntl.h>
#include <ftw.h>
#include <dirent.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "macro.h"
#include "policy.h"
#include "tap.h"

/* Paths here are short temp paths; bounded snprintf truncation is fine. */
#pragma GCC diagnostic ignored "-Wformat-truncation"

static char tmpdir[256];

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        return remove(path);
}

static void rm_rf(const char *path)
{
        nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static int write_file(const char *dir, const char *name, const char *content, size_t len)
{
        char path[PATH_MAX];
        _cleanup_close_ int fd = -EBADF;

        snprintf(path, sizeof(path), "%s/%s", dir, name);
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
                return -errno;
        if (write(fd, content, len) != (ssize_t)len)
                return -EIO;
        return 0;
}

static int parse_str(const char *content, struct policy **ret, char *err, size_t err_len)
{
        return policy_parse("/etc/ckptd/policy.d/t.policy", content, strlen(content), ret, err,
                            err_len);
}

/* ---- parser: good files ---------------------------------------------- */

static bool test_parse_full(void)
{
        static const char text[] = "# a full policy\n"
                                   "; semicolon comments too\n"
                                   "\n"
                                   "[Match]\n"
                                   "Pid=1234\n"
                                   "StartTime=987654\n"
                                   "  Comm =  redis-*  \n"
                                   "Exe=/usr/bin/redis-server\n"
                                   "Cgroup=/system.slice/redis.service/\n"
                                   "Unit=redis.service\n"
                                   "User=root\n"
                                   "\n"
                                   "[Checkpoint]\n"
                                   "Interval=1h 30m\n"
                                   "DirtyTrigger=64M\n"
                                   "Range=0x1000-0x2000\n"
                                   "Range = 4096 - 0x7fff00000000\r\n"
                                   "FullEvery=10\n"
                                   "All=yes\n"
                                   "[Retention]\n"
                                   "Keep=20\n"
                                   "MaxAge=1d\n";
        _cleanup_(policy_freep) struct policy *p = NULL;
        char err[POLICY_ERROR_MAX] = "";

        ASSERT_OK(parse_str(text, &p, err, sizeof(err)));
        ASSERT_STREQ(err, "");
        ASSERT_STREQ(p->name, "t");
        ASSERT_STREQ(p->path, "/etc/ckptd/policy.d/t.policy");
        ASSERT_EQ(p->match_pid, 1234);
        ASSERT_EQ(p->match_start_time, 987654);
        ASSERT_STREQ(p->match_comm, "redis-*");
        ASSERT_STREQ(p->match_exe, "/usr/bin/redis-server");
        ASSERT_STREQ(p->match_cgroup, "/system.slice/redis.service");
        ASSERT_STREQ(p->match_unit, "redis.service");
        ASSERT(p->match_has_uid);
        ASSERT_EQ(p->match_uid, 0);
        ASSERT_STREQ(p->match_user, "root");
        ASSERT_EQ(p->interval_usec, 5400ULL * 1000000);
        ASSERT_EQ(p->dirty_trigger_bytes, 64ULL << 20);
        ASSERT_EQ(p->n_ranges, 2);
        ASSERT_EQ(p->ranges[0].start, 0x1000);
        ASSERT_EQ(p->ranges[0].end, 0x2000);
        ASSERT_EQ(p->ranges[1].start, 4096);
        ASSERT_EQ(p->ranges[1].end, 0x7fff00000000ULL);
        ASSERT_EQ(p->full_every, 10);
        ASSERT(p->all);
        ASSERT_EQ(p->keep, 20);
        ASSERT_EQ(p->max_age_usec, 86400ULL * 1000000);
        ASSERT(!p->runtime);
        return true;
}

static bool test_parse_minimal(void)
{
        _cleanup_(policy_freep) struct policy *p = NULL;
        char err[POLICY_ERROR_MAX];

        /* No trailing newline, defaults for everything else. */
        ASSERT_OK(parse_str("[Match]\nUser=1000\n[Checkpoint]\nInterval=100ms", &p, err,
                            sizeof(err)));
        ASSERT(p->match_has_uid);
        ASSERT_EQ(p->match_uid, 1000);
        ASSERT_EQ(p->match_pid, 0);
        ASSERT(!p->match_comm && !p->match_exe && !p->match_cgroup && !p->match_unit);
        ASSERT_EQ(p->interval_usec, 100000);
        ASSERT_EQ(p->dirty_trigger_bytes, 0);
        ASSERT_EQ(p->n_ranges, 0);
        ASSERT(!p->ranges);
        ASSERT_EQ(p->full_every, 0);
        ASSERT(!p->all);
        ASSERT(!p->group_tree);
        ASSERT_EQ(p->keep, 0);
        ASSERT_EQ(p->max_age_usec, 0);
        return true;
}

/* Group=tree makes every match a group; none (the default) undoes it. */
static bool test_parse_group(void)
{
        _cleanup_(policy_freep) struct policy *p = NULL, *q = NULL;
        char err[POLICY_ERROR_MAX];

        ASSERT_OK(parse_str("[Match]\nComm=postgres\n[Checkpoint]\nInterval=1s\nGroup=tree\n", &p,
                            err, sizeof(err)));
        ASSERT(p->group_tree);
        ASSERT_OK(parse_str("[Match]\nComm=postgres\n[Checkpoint]\nInterval=1s\nGroup=none\n", &q,
                            err, sizeof(err)));
        ASSERT(!q->group_tree);
        return true;
}

static bool test_parse_sections_repeat_and_range_reset(void)
{
        _cleanup_(policy_freep) struct policy *p = NULL;
        char err[POLICY_ERROR_MAX];

        /* A section may come back; an empty Range= drops the earlier ones. */
        ASSERT_OK(parse_str("[Checkpoint]\nRange=0x1000-0x2000\nInterval=5s\n"
                            "[Match]\nComm=x\n"
                            "[Checkpoint]\nRange=\nRange=0x3000-0x4000\nAll=off\n",
                            &p, err, sizeof(err)));
        ASSERT_EQ(p->n_ranges, 1);
        ASSERT_EQ(p->ranges[0].start, 0x3000);
        ASSERT_EQ(p->ranges[0].end, 0x4000);
        ASSERT(!p->all);
        ASSERT_EQ(p->interval_usec, 5000000);
        return true;
}

/* ---- parser: errors, each with its line ------------------------------- */

static const struct {
        const char *text;
        const char *want; /* the expected "PATH:LINE: ..." prefix and a word of the reason */
        int error;
} bad_files[] = {
        {"Comm=x\n[Checkpoint]\nInterval=1s\n", ":1: Comm= outside of a section", -EINVAL},
        {"[Match]\nComm=x\n[Shedule]\nInterval=1s\n", ":3: unknown section [Shedule]", -EINVAL},
        {"[Match]\nComm=x\n[Checkpoint]\nInterval=1s\nIntervall=2s\n",
         ":5: unknown key 'Intervall' in [Checkpoint]", -EINVAL},
        {"[Match]\nInterval=1s\n", ":2: unknown key 'Interval' in [Match]", -EINVAL},
        {"[Match]\nComm=x\nComm=y\n[Checkpoint]\nInterval=1s\n",
         ":3: Comm= given twice (first on line 2)", -EINVAL},
        {"[Match]\nComm=x\n[Checkpoint]\nInterval=1s\n\n[Checkpoint]\nInterval=2s\n",
         ":7: Interval= given twice (first on line 4)", -EINVAL},
        {"[Match]\nPid=abc\n[Checkpoint]\nInterval=1s\n", ":2: Pid= takes a process id", -EINVAL},
        {"[Match]\nPid=0\n[Checkpoint]\nInterval=1s\n", ":2: Pid=", -EINVAL},
        {"[Match]\nPid=-5\n[Checkpoint]\nInterval=1s\n", ":2: Pid=", -EINVAL},
        {"[Match]\nPid=99999999999\n[Checkpoint]\nInterval=1s\n", ":2: Pid=", -EINVAL},
        {"[Match]\nComm=x\n[Checkpoint]\nInterval=99ms\n", ":4: Interval=99ms is below", -EINVAL},
        {"[Match]\nComm=x\n[Checkpoint]\nInterval=0\n", ":4: Interval=0 is below", -EINVAL},
        {"[Match]\nComm=x\n[Checkpoint]\nInterval=soon\n", ":4: Interval= takes a duration",
         -EINVAL},
        {"[Match]\nComm=x\n[Checkpoint]\nInterval=30s # twice a minute\n",
         ":4: Interval= takes a duration", -EINVAL},
        {"[Match]\nComm=x\n[Checkpoint]\nInterval=1s\nDirtyTrigger=12X\n",
         ":5: DirtyTrigger= takes a size", -EINVAL},
        {"[Match]\nComm=x\n[Checkpoint]\nInterval=1s\nRange=0x2000-0x1000\n",
         ":5: Range=0x2000-0x1000: the start must be below the end", -EINVAL},
        {"[Match]\nComm=x\n[Checkpoint]\nInterval=1s\nRange=0x1000\n", ":5: Range= takes START-END",
         -EINVAL},
        {"[Match]\nComm=x\n[Checkpoint]\nInterval=1s\nRange=0xzz-0x1000\n",
         ":5: Range= takes START-END", -EINVAL},
        {"[Match]\nComm=x\n[Checkpoint]\nInterval=1s\nRange=0x10000000000000000-0x1\n",
         ":5: Range= takes START-END", -EINVAL},
        {"[Match]\nComm=x\n[Checkpoint]\nInterval=1s\nFullEvery=-1\n",
         ":5: FullEvery= takes a count", -EINVAL},
        {"[Match]\nComm=x\n[Checkpoint]\nInterval=1s\nAll=maybe\n", ":5: All= takes a boolean",
         -EINVAL},
        {"[Match]\nComm=x\n[Checkpoint]\nInterval=1s\nGroup=forest\n",
         ":5: Group= takes tree, cgroup or none", -EINVAL},
        {"[Match]\nComm=x\n[Checkpoint]\nInterval=1s\nGroup=tree\nRange=0x1000-0x2000\n",
         ":3: Group=tree checkpoints whole processes", -EINVAL},
        {"[Match]\nComm=x\n[Checkpoint]\nInterval=1s\n[Retention]\nKeep=many\n",
         ":6: Keep= takes a count", -EINVAL},
        {"[Match]\nComm=x\n[Checkpoint]\nInterval=1s\n[Retention]\nMaxAge=1y\n",
         ":6: MaxAge= takes a duration", -EINVAL},
        {"[Match]\nExe=redis-server\n[Checkpoint]\nInterval=1s\n", ":2: Exe= takes an absolute",
         -EINVAL},
        {"[Match]\nCgroup=system.slice\n[Checkpoint]\nInterval=1s\n",
         ":2: Cgroup= takes a cgroup path", -EINVAL},
        {"[Match]\nUnit=redis\n[Checkpoint]\nInterval=1s\n", ":2: Unit= takes a unit name",
         -EINVAL},
        {"[Match]\nUnit=a/b.service\n[Checkpoint]\nInterval=1s\n", ":2: Unit= takes", -EINVAL},
        {"[Match]\nUser=no-such-user-ckpt\n[Checkpoint]\nInterval=1s\n",
         ":2: User=no-such-user-ckpt: no such user", -ENOENT},
        {"[Match]\nUser=4294967295\n[Checkpoint]\nInterval=1s\n", ":2: User= takes", -EINVAL},
        {"[Match]\nComm=\n[Checkpoint]\nInterval=1s\n", ":2: Comm= needs a value", -EINVAL},
        {"[Match]\nComm x\n[Checkpoint]\nInterval=1s\n", ":2: expected KEY=VALUE", -EINVAL},
        {"[Match]\n=x\n[Checkpoint]\nInterval=1s\n", ":2: missing key", -EINVAL},
        {"[Match\nComm=x\n", ":1: bad section header", -EINVAL},
        {"[]\nComm=x\n", ":1: bad section header", -EINVAL},
        {"[Match] x\nComm=x\n", ":1: bad section header", -EINVAL},
        {"\n\n[Match]\n# nothing\n[Checkpoint]\nInterval=1s\n", ":3: [Match] needs at least one",
         -EINVAL},
        {"[Checkpoint]\nInterval=1s\n\n", ":3: [Match] needs at least one", -EINVAL},
        {"[Match]\nStartTime=5\nComm=x\n[Checkpoint]\nInterval=1s\n",
         ":1: StartTime= needs Pid=", -EINVAL},
        {"[Match]\nComm=x\n\n[Checkpoint]\nFullEvery=2\n", ":4: [Checkpoint] Interval= is required",
         -EINVAL},
        {"[Match]\nComm=x\n[Retention]\nKeep=1\n", ":4: [Checkpoint] Interval= is required",
         -EINVAL},
        {"", ":1: [Match] needs at least one", -EINVAL},
};

static bool test_parse_errors(void)
{
        bool all_ok = true;

        for (size_t i = 0; i < ELEMENTSOF(bad_files); i++) {
                struct policy *p = NULL;
                char err[POLICY_ERROR_MAX] = "", want[256];
                int r;

                r = parse_str(bad_files[i].text, &p, err, sizeof(err));
                snprintf(want, sizeof(want), "/etc/ckptd/policy.d/t.policy%s", bad_files[i].want);
                if (r != bad_files[i].error || p || strncmp(err, want, strlen(want)) != 0) {
                        fprintf(stderr, "# case %zu: r=%d (want %d) err='%s' want prefix '%s'\n", i,
                                r, bad_files[i].error, err, want);
                        all_ok = false;
                }
                policy_free(p);
        }
        return all_ok;
}

static bool test_parse_nul_and_huge(void)
{
        _cleanup_free_ char *big = NULL;
        struct policy *p = NULL;
        char err[POLICY_ERROR_MAX];
        static const char with_nul[] = "[Match]\nComm=x\n[Check\0point]\nInterval=1s\n";
        const size_t big_len = 10u << 20;

        ASSERT_EQ(policy_parse("n.policy", with_nul, sizeof(with_nul) - 1, &p, err, sizeof(err)),
                  -EINVAL);
        ASSERT(!p);
        ASSERT_STREQ(err, "n.policy:3: NUL byte in the file");

        /* A 10 MB line, after a good start. */
        big = malloc(big_len);
        ASSERT(big);
        memset(big, 'a', big_len);
        memcpy(big, "[Match]\nComm=", 13);
        ASSERT_EQ(policy_parse("big.policy", big, big_len, &p, err, sizeof(err)), -EINVAL);
        ASSERT(!p);
        ASSERT_STREQ(err, "big.policy:2: line longer than 8192 bytes");

        /* Many short lines past the file limit: refused at the line that crosses it. */
        for (size_t i = 0; i < big_len; i += 2)
                memcpy(big + i, "#\n", 2);
        ASSERT_EQ(policy_parse("long.policy", big, big_len, &p, err, sizeof(err)), -E2BIG);
        ASSERT(!p);
        ASSERT(strncmp(err, "long.policy:524289: file larger than", 36) == 0);

        /* The same through files. */
        ASSERT_OK(write_file(tmpdir, "nul.policy", with_nul, sizeof(with_nul) - 1));
        memset(big, 'a', big_len);
        memcpy(big, "[Match]\nComm=", 13);
        ASSERT_OK(write_file(tmpdir, "big.policy", big, big_len));
        {
                char path[PATH_MAX], want[PATH_MAX + 64];

                snprintf(path, sizeof(path), "%s/nul.policy", tmpdir);
                ASSERT_EQ(policy_load_file(path, &p, err, sizeof(err)), -EINVAL);
                snprintf(want, sizeof(want), "%s:3: NUL byte in the file", path);
                ASSERT_STREQ(err, want);

                snprintf(path, sizeof(path), "%s/big.policy", tmpdir);
                ASSERT_EQ(policy_load_file(path, &p, err, sizeof(err)), -E2BIG);
                snprintf(want, sizeof(want), "%s:2: file larger than", path);
                if (strncmp(err, want, strlen(want)) != 0)
                        fprintf(stderr, "# got '%s'\n", err);
                ASSERT(strncmp(err, want, strlen(want)) == 0);
                ASSERT(!p);
        }
        return true;
}

static bool test_load_file_kinds(void)
{
        _cleanup_(policy_freep) struct policy *p = NULL;
        char path[PATH_MAX], err[POLICY_ERROR_MAX], want[PATH_MAX + 64];

        snprintf(path, sizeof(path), "%s/missing.policy", tmpdir);
        ASSERT_EQ(policy_load_file(path, &p, err, sizeof(err)), -ENOENT);
        snprintf(want, sizeof(want), "%s: cannot open: ", path);
        ASSERT(strncmp(err, want, strlen(want)) == 0);

        snprintf(path, sizeof(path), "%s/dir.policy", tmpdir);
        ASSERT_OK(mkdir(path, 0755) < 0 ? -errno : 0);
        ASSERT_EQ(policy_load_file(path, &p, err, sizeof(err)), -EISDIR);

        /* A FIFO must be refused, not block the loader. */
        snprintf(path, sizeof(path), "%s/fifo.policy", tmpdir);
        ASSERT_OK(mkfifo(path, 0644) < 0 ? -errno : 0);
        ASSERT_EQ(policy_load_file(path, &p, err, sizeof(err)), -EBADFD);
        snprintf(want, sizeof(want), "%s: not a regular file", path);
        ASSERT_STREQ(err, want);

        ASSERT_OK(write_file(tmpdir, "good.policy", "[Match]\nComm=x\n[Checkpoint]\nInterval=2m\n",
                             40));
        snprintf(path, sizeof(path), "%s/good.policy", tmpdir);
        ASSERT_OK(policy_load_file(path, &p, err, sizeof(err)));
        ASSERT_STREQ(p->name, "good");
        ASSERT_STREQ(p->path, path);
        ASSERT_EQ(p->interval_usec, 120000000);
        return true;
}

/* ---- durations and sizes --------------------------------------------- */

static bool test_durations(void)
{
        static const struct {
                const char *s;
                uint64_t usec;
        } good[] = {
                {"500ms", 500000ULL},
                {"30s", 30000000ULL},
                {"30", 30000000ULL},
                {"5m", 300000000ULL},
                {"5min", 300000000ULL},
                {"1h", 3600000000ULL},
                {"1d", 86400000000ULL},
                {"2w", 1209600000000ULL},
                {"250us", 250ULL},
                {"1h30m", 5400000000ULL},
                {" 1h  30m 15s ", 5415000000ULL},
                {"0", 0ULL},
                {"18446744073709551615us", UINT64_MAX},
        };
        static const char *const bad[] = {
                "",
                " ",
                "s",
                "-1s",
                "1.5s",
                "1y",
                "1 h",
                "30s,",
                "1e3",
                "abc",
                "0x10s",
                "1hh",
                "10 20 x",
                "18446744073709551616us",     /* one more than UINT64_MAX */
                "18446744073709551615s",      /* overflows when scaled */
                "18446744073709551615us 1us", /* overflows when added */
        };
        uint64_t v;
        char buf[64];

        for (size_t i = 0; i < ELEMENTSOF(good); i++) {
                v = 1;
                if (parse_duration_usec(good[i].s, &v) < 0 || v != good[i].usec) {
                        fprintf(stderr, "# duration '%s' -> %llu\n", good[i].s,
                                (unsigned long long)v);
                        return false;
                }
        }
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                if (parse_duration_usec(bad[i], &v) >= 0) {
                        fprintf(stderr, "# duration '%s' accepted\n", bad[i]);
                        return false;
                }
        ASSERT_EQ(parse_duration_usec("18446744073709551615s", &v), -ERANGE);

        ASSERT_STREQ(format_duration_usec(buf, sizeof(buf), 0), "0");
        ASSERT_STREQ(format_duration_usec(buf, sizeof(buf), 30000000), "30s");
        ASSERT_STREQ(format_duration_usec(buf, sizeof(buf), 500000), "500ms");
        ASSERT_STREQ(format_duration_usec(buf, sizeof(buf), 5415000000ULL), "1h 30m 15s");
        ASSERT_STREQ(format_duration_usec(buf, sizeof(buf), 86400000001ULL), "1d 1us");
        /* Every formatted value parses back to itself. */
        for (uint64_t u = 1; u < UINT64_MAX / 7; u = u * 7 + 3) {
                ASSERT_OK(parse_duration_usec(format_duration_usec(buf, sizeof(buf), u), &v));
                ASSERT_EQ(v, u);
        }
        return true;
}

static bool test_sizes(void)
{
        static const struct {
                const char *s;
                uint64_t bytes;
        } good[] = {
                {"0", 0},
                {"4096", 4096},
                {"4096B", 4096},
                {"1K", 1024},
                {"512k", 512 << 10},
                {"64M", 64ULL << 20},
                {"64MiB", 64ULL << 20},
                {"64MB", 64ULL << 20},
                {"1G", 1ULL << 30},
                {"2T", 2ULL << 40},
                {"15E", 15ULL << 60},
        };
        static const char *const bad[] = {
                "",
                "M",
                "-1M",
                "1.5M",
                "64 M",
                "64X",
                "64Mi",
                "64MiBs",
                "16E",
                "0x10",
                "99999999999999999999",
        };
        uint64_t v;

        for (size_t i = 0; i < ELEMENTSOF(good); i++) {
                v = 1;
                if (parse_size_bytes(good[i].s, &v) < 0 || v != good[i].bytes) {
                        fprintf(stderr, "# size '%s' -> %llu\n", good[i].s, (unsigned long long)v);
                        return false;
                }
        }
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                if (parse_size_bytes(bad[i], &v) >= 0) {
                        fprintf(stderr, "# size '%s' accepted\n", bad[i]);
                        return false;
                }
        ASSERT_EQ(parse_size_bytes("16E", &v), -ERANGE);
        return true;
}

/* ---- directories ----------------------------------------------------- */

static bool test_set_load_override(void)
{
        _cleanup_(policy_set_freep) struct policy_set *s = NULL;
        char etc[PATH_MAX], run[PATH_MAX], path[PATH_MAX], missing[PATH_MAX];
        const struct policy *p;
        const struct policy_error *e;
        const char *dirs[3];
        size_t i;

        snprintf(etc, sizeof(etc), "%s/etc", tmpdir);
        snprintf(run, sizeof(run), "%s/run", tmpdir);
        snprintf(missing, sizeof(missing), "%s/none", tmpdir);
        ASSERT_OK(mkdir(etc, 0755) < 0 ? -errno : 0);
        ASSERT_OK(mkdir(run, 0755) < 0 ? -errno : 0);

#define GOOD(iv) "[Match]\nComm=x\n[Checkpoint]\nInterval=" iv "\n"
        ASSERT_OK(write_file(etc, "a.policy", GOOD("1s"), strlen(GOOD("1s"))));
        ASSERT_OK(write_file(run, "a.policy", GOOD("2s"), strlen(GOOD("2s"))));
        ASSERT_OK(write_file(etc, "b.policy", GOOD("3s"), strlen(GOOD("3s"))));
        ASSERT_OK(
                write_file(etc, "c.policy", "[Match]\nComm=x\n[Checkpoint]\nInterval=fast\n", 41));
        ASSERT_OK(write_file(etc, "d.policy", GOOD("4s"), strlen(GOOD("4s"))));
        ASSERT_OK(write_file(run, "e.policy", GOOD("5s"), strlen(GOOD("5s"))));
        /* a bad runtime file hides the static one of the same name */
        ASSERT_OK(write_file(etc, "f.policy", GOOD("6s"), strlen(GOOD("6s"))));
        ASSERT_OK(write_file(run, "f.policy", "[Match]\nBogus=1\n", 16));
        /* ignored: hidden files, other suffixes, a bare suffix */
        ASSERT_OK(write_file(etc, ".g.policy", GOOD("7s"), strlen(GOOD("7s"))));
        ASSERT_OK(write_file(etc, "h.policy~", GOOD("8s"), strlen(GOOD("8s"))));
        ASSERT_OK(write_file(etc, "i.conf", GOOD("9s"), strlen(GOOD("9s"))));
        ASSERT_OK(write_file(etc, ".policy", GOOD("9s"), strlen(GOOD("9s"))));
#undef GOOD
        /* masked: a symlink to /dev/null in /run */
        snprintf(path, sizeof(path), "%s/d.policy", run);
        ASSERT_OK(symlink("/dev/null", path) < 0 ? -errno : 0);

        dirs[0] = etc;
        dirs[1] = missing; /* a missing directory is just empty */
        dirs[2] = run;
        ASSERT_OK(policy_set_load(dirs, 3, &s));

        ASSERT_EQ(policy_set_count(s), 3);
        p = policy_set_get(s, 0);
        ASSERT_STREQ(p->name, "a");
        ASSERT_EQ(p->interval_usec, 2000000);
        ASSERT(p->runtime);
        snprintf(path, sizeof(path), "%s/a.policy", run);
        ASSERT_STREQ(p->path, path);
        p = policy_set_get(s, 1);
        ASSERT_STREQ(p->name, "b");
        ASSERT_EQ(p->interval_usec, 3000000);
        ASSERT(!p->runtime);
        p = policy_set_get(s, 2);
        ASSERT_STREQ(p->name, "e");
        ASSERT(p->runtime);
        ASSERT(!policy_set_get(s, 3));
        ASSERT(policy_set_find(s, "b") == policy_set_get(s, 1));
        ASSERT(!policy_set_find(s, "d"));
        ASSERT(!policy_set_find(s, "f"));

        i = 0;
        POLICY_SET_FOREACH (p, s, i) {
                ASSERT(p->name);
        }
        ASSERT_EQ(i, 3);

        ASSERT_EQ(policy_set_n_errors(s), 2);
        e = policy_set_error(s, 0);
        snprintf(path, sizeof(path), "%s/c.policy:4: Interval= takes a duration", etc);
        ASSERT(strncmp(e->message, path, strlen(path)) == 0);
        ASSERT_EQ(e->error, -EINVAL);
        e = policy_set_error(s, 1);
        snprintf(path, sizeof(path), "%s/f.policy:2: unknown key 'Bogus'", run);
        ASSERT(strncmp(e->message, path, strlen(path)) == 0);
        snprintf(path, sizeof(path), "%s/f.policy", run);
        ASSERT_STREQ(e->path, path);
        ASSERT(!policy_set_error(s, 2));
        s = policy_set_free(s);

        /* Only /etc: nothing is runtime, d and f come back. */
        ASSERT_OK(policy_set_load(dirs, 1, &s));
        ASSERT_EQ(policy_set_count(s), 4);
        ASSERT_EQ(policy_set_n_errors(s), 1);
        ASSERT_EQ(policy_set_find(s, "a")->interval_usec, 1000000);
        ASSERT(!policy_set_find(s, "a")->runtime);
        ASSERT_EQ(policy_set_find(s, "f")->interval_usec, 6000000);
        return true;
}

static bool test_set_load_unreadable_dir(void)
{
        _cleanup_(policy_set_freep) struct policy_set *s = NULL;
        char file[PATH_MAX];
        const char *dirs[2];

        /* A path that is a file, not a directory, is reported and skipped. */
        snprintf(file, sizeof(file), "%s/good.policy", tmpdir);
        dirs[0] = file;
        dirs[1] = tmpdir;
        ASSERT_OK(policy_set_load(dirs, 2, &s));
        ASSERT(policy_set_n_errors(s) >= 1);
        ASSERT_STREQ(policy_set_error(s, 0)->path, file);
        ASSERT_EQ(policy_set_error(s, 0)->error, -ENOTDIR);
        ASSERT(policy_set_find(s, "good"));
        return true;
}

/* ---- matching real processes ----------------------------------------- */

static bool read_own_cgroup(char *buf, size_t len)
{
        FILE *f = fopen("/proc/self/cgroup", "re");
        char line[4096];
        bool found = false;

        if (!f)
                return false;
        while (fgets(line, sizeof(line), f))
                if (strncmp(line, "0::", 3) == 0) {
                        line[strcspn(line, "\n")] = 0;
                        snprintf(buf, len, "%s", line + 3);
                        found = true;
                }
        fclose(f);
        return found;
}

static bool match_text(const char *text, pid_t pid)
{
        _cleanup_(policy_freep) struct policy *p = NULL;
        char err[POLICY_ERROR_MAX];

        if (policy_parse("m.policy", text, strlen(text), &p, err, sizeof(err)) < 0) {
                fprintf(stderr, "# unexpected parse error: %s\n", err);
                return false;
        }
        return policy_matches(p, pid, NULL);
}

#define M(keys) "[Match]\n" keys "\n[Checkpoint]\nInterval=1s\n"

static bool test_match_self(void)
{
        struct proc_info info = {};
        char exe[PATH_MAX], cg[4096], text[8192], comm[32];
        ssize_t k;
        pid_t self = getpid();
        FILE *f;

        f = fopen("/proc/self/comm", "re");
        ASSERT(f);
        ASSERT(fgets(comm, sizeof(comm), f));
        fclose(f);
        comm[strcspn(comm, "\n")] = 0;
        k = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
        ASSERT(k > 0);
        exe[k] = 0;

        ASSERT_OK(proc_info_read(self, &info));
        ASSERT_EQ(info.pid, self);
        ASSERT_STREQ(info.comm, comm);
        ASSERT_STREQ(info.exe, exe);
        ASSERT_EQ(info.uid, getuid());
        ASSERT(info.start_time > 0);
        if (read_own_cgroup(cg, sizeof(cg)))
                ASSERT_STREQ(info.cgroup, cg);
        else
                cg[0] = 0;
        proc_info_done(&info);
        ASSERT(!info.exe && !info.cgroup && !info.unit);

        snprintf(text, sizeof(text), M("Comm=%s"), comm);
        ASSERT(match_text(text, self));
        ASSERT(match_text(M("Comm=test-pol*"), self));
        ASSERT(match_text(M("Comm=test-polic[xy]"), self));
        ASSERT(!match_text(M("Comm=test-poli"), self));
        ASSERT(!match_text(M("Comm=redis-server"), self));
        snprintf(text, sizeof(text), M("Exe=%s"), exe);
        ASSERT(match_text(text, self));
        ASSERT(match_text(M("Exe=*/test-policy"), self));
        ASSERT(!match_text(M("Exe=/usr/bin/*"), self));
        snprintf(text, sizeof(text), M("User=%u"), (unsigned)getuid());
        ASSERT(match_text(text, self));
        snprintf(text, sizeof(text), M("User=%u"), (unsigned)getuid() + 1);
        ASSERT(!match_text(text, self));
        if (getuid() == 0)
                ASSERT(match_text(M("User=root"), self));
        else
                ASSERT(!match_text(M("User=root"), self));
        snprintf(text, sizeof(text), M("Pid=%d"), (int)self);
        ASSERT(match_text(text, self));
        snprintf(text, sizeof(text), M("Pid=%d\nStartTime=1"), (int)self);
        ASSERT(!match_text(text, self));
        snprintf(text, sizeof(text), M("Pid=%d"), (int)getppid());
        ASSERT(!match_text(text, self));

        /* Every key together, and one wrong key is enough to miss. */
        snprintf(text, sizeof(text), M("Pid=%d\nComm=%s\nExe=%s\nUser=%u\nCgroup=/"), (int)self,
                 comm, exe, (unsigned)getuid());
        ASSERT(match_text(text, self));
        snprintf(text, sizeof(text), M("Pid=%d\nComm=%s\nExe=%s\nUser=%u\nCgroup=/nope.slice"),
                 (int)self, comm, exe, (unsigned)getuid());
        ASSERT(!match_text(text, self));

        if (cg[0]) {
                snprintf(text, sizeof(text), M("Cgroup=%s"), cg);
                ASSERT(match_text(text, self));
                ASSERT(match_text(M("Cgroup=/"), self));
                if (strcmp(cg, "/") != 0) {
                        /* a longer last component is not a child */
                        snprintf(text, sizeof(text), M("Cgroup=%sx"), cg);
                        ASSERT(!match_text(text, self));
                }
        }
        /* The policy's own pid check comes before any read. */
        ASSERT(!match_text(M("Pid=1\nComm=*"), self));
        return true;
}

/* A child that renames itself and waits to be killed. */
static pid_t spawn_named(const char *name)
{
        int p[2];
        char c;
        pid_t pid;

        if (pipe2(p, O_CLOEXEC) < 0)
                return -errno;
        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                prctl(PR_SET_NAME, name);
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                (void)!write(p[1], "r", 1);
                for (;;)
                        pause();
        }
        close(p[1]);
        if (read(p[0], &c, 1) != 1)
                pid = -EIO;
        close(p[0]);
        return pid;
}

static void reap(pid_t pid)
{
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
}

static bool test_match_child_and_exit(void)
{
        struct proc_info info = {};
        pid_t child;
        char text[256];
        int r;

        child = spawn_named("pol-child");
        ASSERT(child > 0);
        r = proc_info_read(child, &info);
        if (r < 0) {
                reap(child);
                ASSERT_OK(r);
        }
        proc_info_done(&info);
        if (strcmp(info.comm, "pol-child") != 0) {
                reap(child);
                ASSERT_STREQ(info.comm, "pol-child");
        }
        snprintf(text, sizeof(text), M("Comm=pol-*"));
        r = match_text(text, child) && !match_text(text, getpid());
        snprintf(text, sizeof(text), M("Pid=%d"), (int)child);
        r = r && match_text(text, child);
        reap(child);
        ASSERT(r);

        /* Gone: -ESRCH, and nothing matches it any more. */
        ASSERT_EQ(proc_info_read(child, &info), -ESRCH);
        ASSERT(!match_text(text, child));
        ASSERT(!match_text(M("Comm=*"), child));
        ASSERT_EQ(proc_info_read(0, &info), -EINVAL);
        return true;
}

static bool find_cgroup2(char *buf, size_t len)
{
        FILE *f = fopen("/proc/self/mountinfo", "re");
        char line[4096];
        bool found = false;

        if (!f)
                return false;
        while (!found && fgets(line, sizeof(line), f)) {
                char mnt[PATH_MAX], *dash = strstr(line, " - cgroup2 ");

                if (dash && sscanf(line, "%*s %*s %*s %*s %4095s", mnt) == 1) {
                        snprintf(buf, len, "%s", mnt);
                        found = true;
                }
        }
        fclose(f);
        return found;
}

/* As root: a child moved into <root>/ckpt-test-N.slice/app.service/sub. */
static bool test_match_cgroup_unit(void)
{
        char root[PATH_MAX], own[4096], slice[PATH_MAX], svc[PATH_MAX], sub[PATH_MAX],
                procs[PATH_MAX + 16], cgpath[PATH_MAX], text[PATH_MAX + 128], buf[32];
        struct proc_info info = {};
        bool good = false;
        pid_t child;
        int fd;

        if (!find_cgroup2(root, sizeof(root)) || !read_own_cgroup(own, sizeof(own)))
                return true; /* the caller reported the skip */
        snprintf(cgpath, sizeof(cgpath), "%s/ckpt-test-%d.slice", strcmp(own, "/") ? own : "",
                 (int)getpid());
        snprintf(slice, sizeof(slice), "%s%s", root, cgpath);
        snprintf(svc, sizeof(svc), "%s/app.service", slice);
        snprintf(sub, sizeof(sub), "%s/sub", svc);
        ASSERT_OK(mkdir(slice, 0755) < 0 ? -errno : 0);
        if (mkdir(svc, 0755) < 0 || mkdir(sub, 0755) < 0)
                goto out;

        child = spawn_named("pol-cg");
        if (child < 0)
                goto out;
        snprintf(procs, sizeof(procs), "%s/cgroup.procs", sub);
        fd = open(procs, O_WRONLY | O_CLOEXEC);
        snprintf(buf, sizeof(buf), "%d", (int)child);
        if (fd < 0 || write(fd, buf, strlen(buf)) < 0) {
                fprintf(stderr, "# cannot move the child into '%s': %m\n", sub);
                if (fd >= 0)
                        close(fd);
                reap(child);
                goto out;
        }
        close(fd);

        if (proc_info_read(child, &info) < 0)
                goto out_child;
        snprintf(text, sizeof(text), "%s/app.service/sub", cgpath);
        if (!info.cgroup || strcmp(info.cgroup, text) != 0 || !info.unit ||
            strcmp(info.unit, "app.service") != 0) {
                fprintf(stderr, "# cgroup '%s' unit '%s'\n", info.cgroup ?: "", info.unit ?: "");
                goto out_child;
        }
        snprintf(text, sizeof(text), M("Cgroup=%s"), cgpath);
        if (!match_text(text, child) || match_text(text, getpid()))
                goto out_child;
        snprintf(text, sizeof(text), M("Cgroup=%s/app.service/"), cgpath);
        if (!match_text(text, child))
                goto out_child;
        snprintf(text, sizeof(text), M("Cgroup=%s/app.serv"), cgpath);
        if (match_text(text, child))
                goto out_child;
        if (!match_text(M("Unit=app.service"), child) || match_text(M("Unit=app.scope"), child) ||
            match_text(M("Unit=app.service"), getpid()))
                goto out_child;
        snprintf(text, sizeof(text), M("Unit=app.service\nCgroup=%s\nComm=pol-cg"), cgpath);
        good = match_text(text, child);
out_child:
        proc_info_done(&info);
        reap(child);
out:
        rmdir(sub);
        rmdir(svc);
        rmdir(slice);
        return good;
}

/* ---- runtime policies ------------------------------------------------ */

static bool test_write_runtime(void)
{
        _cleanup_(policy_set_freep) struct policy_set *s = NULL;
        _cleanup_(policy_freep) struct policy *p = NULL;
        char dir[PATH_MAX], path[PATH_MAX], want[PATH_MAX], err[POLICY_ERROR_MAX];
        struct proc_info info = {};
        const char *dirs[1];
        pid_t child;
        struct stat st;

        snprintf(dir, sizeof(dir), "%s/rt/ckptd/policy.d", tmpdir);
        ASSERT_OK(policy_write_runtime(dir, getpid(), 30000000, 7, path, sizeof(path)));
        snprintf(want, sizeof(want), "%s/pid-%d.policy", dir, (int)getpid());
        ASSERT_STREQ(path, want);
        ASSERT_OK(stat(path, &st) < 0 ? -errno : 0);
        ASSERT_EQ(st.st_mode & 07777, 0600);

        ASSERT_OK(policy_load_file(path, &p, err, sizeof(err)));
        ASSERT_OK(proc_info_read(getpid(), &info));
        ASSERT_EQ(p->match_pid, getpid());
        ASSERT_EQ(p->match_start_time, info.start_time);
        proc_info_done(&info);
        ASSERT_EQ(p->interval_usec, 30000000);
        ASSERT_EQ(p->keep, 7);
        ASSERT(policy_matches(p, getpid(), NULL));
        ASSERT(!policy_matches(p, getppid(), NULL));

        /* Rewriting replaces it, and nothing else is left in the directory. */
        ASSERT_OK(policy_write_runtime(dir, getpid(), 1500000, 0, NULL, 0));
        dirs[0] = dir;
        ASSERT_OK(policy_set_load(dirs, 1, &s));
        ASSERT_EQ(policy_set_count(s), 1);
        ASSERT_EQ(policy_set_n_errors(s), 0);
        ASSERT_EQ(policy_set_get(s, 0)->interval_usec, 1500000);
        ASSERT(policy_set_match(s, getpid(), NULL) == policy_set_get(s, 0));
        ASSERT(!policy_set_match(s, getppid(), NULL));
        {
                DIR *d = opendir(dir);
                struct dirent *de;
                int n = 0;

                ASSERT(d);
                while ((de = readdir(d)))
                        if (de->d_name[0] != '.' || strncmp(de->d_name, ".pid-", 5) == 0)
                                n++;
                closedir(d);
                ASSERT_EQ(n, 1);
        }

        ASSERT_EQ(policy_write_runtime(dir, getpid(), 99999, 0, NULL, 0), -EINVAL);
        ASSERT_EQ(policy_write_runtime(dir, 0, 1000000, 0, NULL, 0), -EINVAL);
        ASSERT_EQ(policy_write_runtime(dir, getpid(), 1000000, 0, path, 8), -ENAMETOOLONG);

        child = spawn_named("pol-gone");
        ASSERT(child > 0);
        reap(child);
        ASSERT_EQ(policy_write_runtime(dir, child, 1000000, 0, NULL, 0), -ESRCH);
        snprintf(path, sizeof(path), "%s/pid-%d.policy", dir, (int)child);
        ASSERT(access(path, F_OK) < 0 && errno == ENOENT);

        ASSERT_OK(policy_remove_runtime(dir, getpid()));
        ASSERT_EQ(policy_remove_runtime(dir, getpid()), -ENOENT);
        return true;
}

static bool test_example_policy(void)
{
        _cleanup_(policy_freep) struct policy *p = NULL;
        char err[POLICY_ERROR_MAX];
        int r;

        /* The shipped example must always parse. */
        r = policy_load_file("systemd/example.policy", &p, err, sizeof(err));
        if (r == -ENOENT)
                r = policy_load_file("../systemd/example.policy", &p, err, sizeof(err));
        if (r < 0)
                fprintf(stderr, "# %s\n", err);
        ASSERT_OK(r);
        ASSERT_STREQ(p->name, "example");
        ASSERT(p->interval_usec >= POLICY_INTERVAL_MIN_USEC);
        return true;
}

int main(void)
{
        char cg[PATH_MAX], own[4096];
        int r;

        snprintf(tmpdir, sizeof(tmpdir), "%s/test-policy.XXXXXX", getenv("TMPDIR") ?: "/tmp");
        if (!mkdtemp(tmpdir)) {
                printf("Bail out! mkdtemp: %m\n");
                return 1;
        }

        plan(15);
        RUN(test_parse_full);
        RUN(test_parse_minimal);
        RUN(test_parse_group);
        RUN(test_parse_sections_repeat_and_range_reset);
        RUN(test_parse_errors);
        RUN(test_parse_nul_and_huge);
        RUN(test_load_file_kinds);
        RUN(test_durations);
        RUN(test_sizes);
        RUN(test_set_load_override);
        RUN(test_set_load_unreadable_dir);
        RUN(test_match_self);
        RUN(test_match_child_and_exit);
        if (geteuid() != 0)
                skip("test_match_cgroup_unit", "needs root to create a cgroup");
        else if (!find_cgroup2(cg, sizeof(cg)) || !read_own_cgroup(own, sizeof(own)))
                skip("test_match_cgroup_unit", "no cgroup v2 hierarchy");
        else
                RUN(test_match_cgroup_unit);
        RUN(test_write_runtime);
        RUN(test_example_policy);

        rm_rf(tmpdir);
        r = tap_done();
        return r;
}
