/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * stackdemo: a program whose call stacks are known, for checking core files
 * made from checkpoints with a debugger. The main thread runs
 * main -> level_one -> level_two -> level_three, and level_three serves
 * commands from stdin (so it waits in read() there); every further thread runs
 * worker_main -> worker_level_one -> worker_wait and waits in read() on a pipe
 * that is never written.
 *
 * Usage: stackdemo [THREADS]   (further threads, default 0, at most 64)
 * Prints, from level_three, "ready pid=P global=0xG threads=N tids=T1,T2,..."
 * (the main thread first; stackdemo_global holds G, a value only known at run time, and
 * stackdemo_message points at a heap string "stackdemo PID"), then answers
 * each line of stdin with "ok" (or "err REASON"):
 *   set V    stackdemo_global = V (any base strtoull accepts)
 *   get      prints "global=0xG"
 *   exit     exits 0
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MAX_THREADS 64

/* Not static, so the debugger finds them by name. */
volatile uint64_t stackdemo_global;
char *stackdemo_message;

static int block_pipe[2] = {-1, -1};
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static pid_t worker_tids[MAX_THREADS];
static int n_started;
static char ready_line[MAX_THREADS * 12 + 128];

/* The empty asm after each call keeps the compiler from turning the calls
 * into jumps (tail calls), which would take the frames off the stack. */
#define KEEP_FRAME() __asm__ volatile("" ::: "memory")

__attribute__((noinline)) static void worker_wait(int id)
{
        char c;

        pthread_mutex_lock(&lock);
        worker_tids[id] = (pid_t)syscall(SYS_gettid);
        n_started++;
        pthread_cond_broadcast(&cond);
        pthread_mutex_unlock(&lock);
        /* Never written: waits here until the process exits. */
        while (read(block_pipe[0], &c, 1) != 0)
                ;
        KEEP_FRAME();
}

__attribute__((noinline)) static void worker_level_one(int id)
{
        worker_wait(id);
        KEEP_FRAME();
}

static void *worker_main(void *arg)
{
        worker_level_one((int)(intptr_t)arg);
        KEEP_FRAME();
        return NULL;
}

__attribute__((noinline)) static int level_three(int depth)
{
        char line[256];

        /* Said from here, so the stack is complete once it is seen. */
        printf("%s\n", ready_line);
        while (fgets(line, sizeof(line), stdin)) {
                if (strncmp(line, "set ", 4) == 0) {
                        char *end;
                        uint64_t v = strtoull(line + 4, &end, 0);
                        if (end == line + 4) {
                                printf("err bad value\n");
                                continue;
                        }
                        stackdemo_global = v;
                        printf("ok\n");
                } else if (strncmp(line, "get", 3) == 0) {
                        printf("global=0x%llx\nok\n", (unsigned long long)stackdemo_global);
                } else if (strncmp(line, "exit", 4) == 0) {
                        printf("ok\n");
                        break;
                } else {
                        printf("err unknown command\n");
                }
        }
        KEEP_FRAME();
        return depth;
}

__attribute__((noinline)) static int level_two(int depth)
{
        int r = level_three(depth + 1);
        KEEP_FRAME();
        return r;
}

__attribute__((noinline)) static int level_one(int depth)
{
        int r = level_two(depth + 1);
        KEEP_FRAME();
        return r;
}

int main(int argc, char **argv)
{
        int n = argc > 1 ? atoi(argv[1]) : 0;
        size_t len;
        int r;

        if (n < 0 || n > MAX_THREADS) {
                fprintf(stderr, "stackdemo: bad thread count '%s'\n", argv[1]);
                return 2;
        }
        setvbuf(stdout, NULL, _IOLBF, 0);
        if (pipe(block_pipe) < 0) {
                perror("stackdemo: pipe");
                return 1;
        }
        /* A value the executable file cannot hold: only memory has it. */
        stackdemo_global = 0x5eed000000000000ull | ((uint64_t)getpid() << 12) | 0xabc;
        if (asprintf(&stackdemo_message, "stackdemo %d", (int)getpid()) < 0)
                return 1;

        for (int i = 0; i < n; i++) {
                pthread_t t;

                r = pthread_create(&t, NULL, worker_main, (void *)(intptr_t)i);
                if (r != 0) {
                        fprintf(stderr, "stackdemo: pthread_create: %s\n", strerror(r));
                        return 1;
                }
        }
        pthread_mutex_lock(&lock);
        while (n_started < n)
                pthread_cond_wait(&cond, &lock);
        pthread_mutex_unlock(&lock);

        len = (size_t)snprintf(ready_line, sizeof(ready_line),
                               "ready pid=%d global=0x%llx "
                               "threads=%d tids=%d",
                               (int)getpid(), (unsigned long long)stackdemo_global, n + 1,
                               (int)getpid());
        for (int i = 0; i < n; i++)
                len += (size_t)snprintf(ready_line + len, sizeof(ready_line) - len, ",%d",
                                        (int)worker_tids[i]);

        r = level_one(1);
        KEEP_FRAME();
        return r == 3 ? 0 : 1;
}
