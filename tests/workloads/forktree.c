/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * forktree: a process tree whose members keep writing random pages of their
 * own private memory, for the group checkpoint tests. It speaks the
 * workloads' protocol (workload.h) on the root's stdin and stdout; the root
 * is the leader of a process group of its own, so `kill -STOP -- -PID`
 * stops the whole tree at one moment.
 *
 *   forktree PAGES   the root, with a private anonymous region of PAGES
 *                    pages (member 0)
 *
 * Every member writes one page of random bytes at a random index of its
 * region about every 200 us (unless "quiet"), and answers the commands the
 * root forwards to it. Commands (on the root's stdin):
 *   spawn PARENT PAGES   member PARENT forks a new member with a region of
 *                        PAGES pages of random bytes -> ok idx=N pid=P
 *   write IDX COUNT      member IDX writes COUNT random pages now -> ok
 *   leave IDX            member IDX writes 16 random pages and exits; the
 *                        answer comes once it is gone -> ok pid=P
 *   quiet 0|1            every member stops (1) or resumes (0) its writes
 *   pids                 lines "IDX PID" of the live members -> ok
 *   info, exit           as in workload.h (exit ends every member)
 * Members that exit are reaped by their parent at once (SIGCHLD ignored).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "workload.h"

#define MAX_MEMBERS 256

static char dir[64];     /* the control FIFOs: dir/IDX */
static int reply_w = -1; /* every member answers the root on it */
static int reply_r = -1; /* the root reads the answers */
static pid_t member_pid[MAX_MEMBERS];
static int member_fd[MAX_MEMBERS]; /* root: the write end of each member's FIFO */
static int n_members;
static int my_idx;
static char *mem;
static size_t mem_pages;
static uint64_t rng;
static int quiet;

static uint64_t next_rand(void)
{
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        return rng;
}

static void write_page(void)
{
        uint64_t *p = (uint64_t *)(mem + (next_rand() % mem_pages) * PAGE);

        for (size_t i = 0; i < PAGE / 8; i++)
                p[i] = next_rand();
}

static void map_region(size_t pages)
{
        mem = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (mem == MAP_FAILED) {
                perror("forktree: mmap");
                _exit(1);
        }
        mem_pages = pages;
        for (size_t i = 0; i < pages; i++) {
                uint64_t *p = (uint64_t *)(mem + i * PAGE);
                for (size_t k = 0; k < PAGE / 8; k++)
                        p[k] = next_rand();
        }
}

static void reply(const char *fmt, ...)
{
        char buf[256];
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
        va_end(ap);
        buf[n++] = '\n';
        if (write(reply_w, buf, (size_t)n) != n)
                _exit(3);
}

static void member_loop(void);

static int open_fifo(int idx, int flags)
{
        char path[96];

        snprintf(path, sizeof(path), "%s/%d", dir, idx);
        return open(path, flags | O_CLOEXEC);
}

/* In member my_idx: fork member idx with a region of pages. */
static void spawn(int idx, size_t pages)
{
        char path[96];
        pid_t pid;

        snprintf(path, sizeof(path), "%s/%d", dir, idx);
        if (mkfifo(path, 0600) < 0) {
                reply("err mkfifo: %s", strerror(errno));
                return;
        }
        pid = fork();
        if (pid < 0) {
                reply("err fork: %s", strerror(errno));
                return;
        }
        if (pid > 0)
                return; /* the child answers */
        my_idx = idx;
        rng = (uint64_t)getpid() * 0x9E3779B97F4A7C15ull + 1;
        munmap(mem, mem_pages * PAGE);
        map_region(pages);
        /* Our own commands come on the FIFO; O_RDWR keeps it open. */
        if (dup2(open_fifo(idx, O_RDWR | O_NONBLOCK), STDIN_FILENO) < 0)
                _exit(4);
        reply("ok idx=%d pid=%d", idx, (int)getpid());
        member_loop(); /* never returns in a member other than the root */
        _exit(0);
}

/* A command forwarded to this member (or the root's own). */
static void handle(char *line)
{
        int idx, k;
        unsigned long pages;

        if (sscanf(line, "spawn %d %lu", &idx, &pages) == 2)
                spawn(idx, pages);
        else if (sscanf(line, "write %d", &k) == 1) {
                for (int i = 0; i < k; i++)
                        write_page();
                reply("ok");
        } else if (sscanf(line, "quiet %d", &k) == 1) {
                quiet = k;
                reply("ok");
        } else if (strncmp(line, "leave", 5) == 0) {
                for (int i = 0; i < 16; i++)
                        write_page();
                _exit(0);
        } else
                reply("err unknown member command '%s'", line);
}

/* Poll the command fd for up to 200 us; write a page when nothing came.
 * The root returns when its stdin is readable (root_command() reads it);
 * the other members handle the commands of their FIFO here. */
static void member_loop(void)
{
        char line[256];
        size_t len = 0;

        for (;;) {
                struct pollfd pf = {STDIN_FILENO, POLLIN, 0};
                struct timespec ts = {0, 200000};
                int r = ppoll(&pf, 1, &ts, NULL);
                ssize_t n;

                if (r < 0 && errno != EINTR)
                        _exit(5);
                if (r <= 0 || !(pf.revents & (POLLIN | POLLHUP))) {
                        if (!quiet)
                                write_page();
                        continue;
                }
                if (my_idx == 0)
                        return;
                n = read(STDIN_FILENO, line + len, sizeof(line) - 1 - len);
                if (n <= 0)
                        continue;
                len += (size_t)n;
                line[len] = 0;
                for (char *nl; (nl = strchr(line, '\n'));) {
                        *nl = 0;
                        handle(line);
                        memmove(line, nl + 1, strlen(nl + 1) + 1);
                        len = strlen(line);
                }
        }
}

/* The root: read the answer of a member (and print it, if show). */
static void relay(bool show)
{
        char buf[256];
        size_t n = 0;

        while (n < sizeof(buf) - 1) {
                if (read(reply_r, buf + n, 1) != 1)
                        exit(6);
                if (buf[n] == '\n')
                        break;
                n++;
        }
        buf[n] = 0;
        if (show)
                printf("%s\n", buf);
        if (sscanf(buf, "ok idx=%*d pid=%d", &member_pid[n_members]) == 1) {
                member_fd[n_members] = open_fifo(n_members, O_WRONLY | O_NONBLOCK);
                n_members++;
        }
}

static void forward(int idx, const char *cmd)
{
        size_t len = strlen(cmd);

        if (write(member_fd[idx], cmd, len) != (ssize_t)len || write(member_fd[idx], "\n", 1) != 1)
                printf("err cannot reach member %d\n", idx);
}

static bool alive(int idx)
{
        return idx >= 0 && idx < n_members && member_pid[idx] > 0 && kill(member_pid[idx], 0) == 0;
}

static void set_quiet(int on)
{
        char cmd[16];

        snprintf(cmd, sizeof(cmd), "quiet %d", on);
        quiet = on;
        for (int i = 1; i < n_members; i++)
                if (alive(i)) {
                        forward(i, cmd);
                        relay(false);
                }
        printf("ok\n");
}

static int root_command(char *line)
{
        int parent, idx, k;
        unsigned long pages;
        char cmd[64];

        if (sscanf(line, "spawn %d %lu", &parent, &pages) == 2) {
                if (!alive(parent) || n_members >= MAX_MEMBERS) {
                        printf("err no member %d\n", parent);
                        return 0;
                }
                snprintf(cmd, sizeof(cmd), "spawn %d %lu", n_members, pages);
                if (parent == 0)
                        spawn(n_members, pages);
                else
                        forward(parent, cmd);
                relay(true);
        } else if (sscanf(line, "write %d %d", &idx, &k) == 2) {
                if (!alive(idx)) {
                        printf("err no member %d\n", idx);
                        return 0;
                }
                snprintf(cmd, sizeof(cmd), "write %d", k);
                if (idx == 0) {
                        for (int i = 0; i < k; i++)
                                write_page();
                        printf("ok\n");
                } else {
                        forward(idx, cmd);
                        relay(true);
                }
        } else if (sscanf(line, "leave %d", &idx) == 1) {
                if (idx == 0 || !alive(idx)) {
                        printf("err no member %d\n", idx);
                        return 0;
                }
                forward(idx, "leave");
                while (kill(member_pid[idx], 0) == 0)
                        usleep(1000);
                printf("ok pid=%d\n", (int)member_pid[idx]);
                member_pid[idx] = 0;
        } else if (sscanf(line, "quiet %d", &k) == 1) {
                set_quiet(k);
        } else if (strncmp(line, "pids", 4) == 0) {
                for (int i = 0; i < n_members; i++)
                        if (alive(i))
                                printf("%d %d\n", i, (int)member_pid[i]);
                printf("ok n=%d\n", n_members);
        } else if (strncmp(line, "info", 4) == 0) {
                printf("mem forktree 0x%llx 0x%llx\nok\n", (unsigned long long)(uintptr_t)mem,
                       (unsigned long long)((uintptr_t)mem + mem_pages * PAGE));
        } else if (strncmp(line, "exit", 4) == 0) {
                printf("ok\n");
                return 1;
        } else {
                sscanf(line, "%63s", cmd);
                printf("err unknown command '%s'\n", cmd);
        }
        return 0;
}

static void cleanup(void)
{
        char path[96];

        for (int i = 0; i < n_members; i++) {
                snprintf(path, sizeof(path), "%s/%d", dir, i);
                unlink(path);
        }
        rmdir(dir);
}

int main(int argc, char **argv)
{
        int pr[2];
        unsigned long pages = argc > 1 ? strtoul(argv[1], NULL, 0) : 64;
        char line[256];

        if (pages == 0 || pages > (1ul << 20)) {
                fprintf(stderr, "usage: forktree PAGES\n");
                return 2;
        }
        setpgid(0, 0);
        signal(SIGCHLD, SIG_IGN);
        signal(SIGPIPE, SIG_IGN);
        rng = (uint64_t)getpid() * 0x9E3779B97F4A7C15ull + 1;
        snprintf(dir, sizeof(dir), "/tmp/forktree.XXXXXX");
        if (!mkdtemp(dir) || pipe2(pr, O_CLOEXEC) < 0)
                return 1;
        reply_r = pr[0];
        reply_w = pr[1];
        setvbuf(stdin, NULL, _IONBF, 0); /* poll() sees every byte not read yet */
        map_region(pages);
        member_pid[0] = getpid();
        member_fd[0] = -1;
        n_members = 1;
        atexit(cleanup);
        workload_ready("pages=%lu", pages);
        for (;;) {
                member_loop();
                if (!fgets(line, sizeof(line), stdin))
                        break;
                if (root_command(line))
                        break;
        }
        for (int i = 1; i < n_members; i++)
                if (alive(i))
                        kill(member_pid[i], SIGKILL);
        return 0;
}
