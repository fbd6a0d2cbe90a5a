/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * memctl: a scripted mutator of its own address space, for correctness tests.
 * It owns named regions of several kinds and changes them on command, in ways
 * a checkpointer must notice: user writes, kernel writes (read() from a pipe),
 * writes from threads and from a forked child, madvise, mprotect, mremap,
 * unmap + map again at the same address, stack growth.
 *
 * Page contents are a pseudo-random pattern of (seed, page index in region),
 * never of the address: two processes given the same seeds hold the same bytes.
 * `save` writes a region as memctl itself sees it, an oracle independent of
 * any checkpointer.
 *
 * Its memory is faulted in 4 KiB pages whatever the machine's transparent
 * huge page setting ("always" would make one write dirty 2 MiB, and the
 * tests' read counts assume pages): huge pages are tc-mem's to test.
 *
 * Speaks the workloads' protocol (workload.h: "ready pid=P", then one command
 * per line of stdin; each answer ends with "ok [key=value...]" or "err
 * REASON"; info and exit are the loop's):
 *   alloc NAME anon|shared|sysv|memfd|file|fileshared|heap PAGES (pattern_map())
 *                                       -> ok start= end= [path=]
 *   write NAME SEED [FIRST COUNT]       pattern SEED into pages
 *   verify NAME SEED [FIRST COUNT]      check pattern SEED (err on mismatch)
 *   touch NAME SEED                     one distinct word per page, quickly
 *   memwrite NAME SEED [FIRST COUNT]    pattern SEED written through
 *                                       /proc/self/mem: the kernel writes,
 *                                       no page fault of the process
 *   scatter NAME SEED COUNT             pattern SEED into COUNT distinct pages
 *                                       picked at random (by SEED) -> ok pages=
 *   madvise NAME dontneed|free|pageout [FIRST COUNT]
 *   mprotect NAME r|rw|none [FIRST COUNT]
 *   mremap NAME PAGES                   may move -> ok start= end=
 *   remap NAME                          munmap + mmap at the same address
 *   fork NAME SEED                      child writes SEED, then waits -> ok child=
 *   forkwrite NAME SEED FIRST COUNT     child writes SEED into pages and exits;
 *                                       answered once it has
 *   threads NAME N SEED                 N threads write SEED, page-interleaved
 *   pipe NAME SEED                      the kernel writes SEED via read(2)
 *   stack KIB                           grow the stack by KIB -> ok low=
 *   save NAME FILE                      write the region's bytes to FILE
 *   closefd NAME                        close the fd of a file or memfd
 *                                       region (its mapping stays)
 *   unmap NAME
 *   info                                lines "NAME KIND start end" then ok
 *   exit
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pattern.h"
#include "workload.h"

static pid_t children[64];
static int n_children;

static int do_alloc(const char *name, const char *kind, size_t pages, struct region **ret)
{
        struct region *r;
        int e;

        if (region_find(name))
                return -EEXIST;
        r = region_new(name, kind);
        if (!r)
                return -ENOSPC;
        e = pattern_map(r, "memctl", pages);
        if (e < 0)
                return e;
        *ret = r;
        return 0;
}

static void write_pages(struct region *r, uint64_t seed, size_t first, size_t count)
{
        for (size_t i = first; i < first + count; i++)
                pattern_page(r->start + i * PAGE, seed, i);
}

/* Pages written through /proc/self/mem (as a debugger or process_vm_writev
 * would): the page tables change, no fault is taken. */
static int mem_write(struct region *r, uint64_t seed, size_t first, size_t count)
{
        char buf[PAGE];
        int fd = open("/proc/self/mem", O_RDWR | O_CLOEXEC), e = 0;

        if (fd < 0)
                return -errno;
        for (size_t i = first; i < first + count && e == 0; i++) {
                pattern_page(buf, seed, i);
                if (pwrite(fd, buf, PAGE, (off_t)(uintptr_t)(r->start + i * PAGE)) != (ssize_t)PAGE)
                        e = -EIO;
        }
        close(fd);
        return e;
}

/* COUNT distinct pages picked by SEED, written with pattern SEED. */
static int scatter(struct region *r, uint64_t seed, size_t count)
{
        struct prng p = PRNG_INIT(prng_mix(seed));
        unsigned char *picked = calloc(r->pages, 1);

        if (!picked)
                return -ENOMEM;
        for (size_t done = 0; done < count;) {
                size_t i = (size_t)prng_below(&p, r->pages);

                if (picked[i])
                        continue;
                picked[i] = 1;
                pattern_page(r->start + i * PAGE, seed, i);
                done++;
        }
        free(picked);
        return 0;
}

/* A child writes the pages and exits before the answer. */
static int fork_write(struct region *r, uint64_t seed, size_t first, size_t count)
{
        int status;
        pid_t pid;

        fflush(stdout);
        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                write_pages(r, seed, first, count);
                _exit(0);
        }
        if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
                return -ECHILD;
        return 0;
}

static long verify_pages(struct region *r, uint64_t seed, size_t first, size_t count)
{
        static char want[PAGE];

        for (size_t i = first; i < first + count; i++) {
                pattern_page(want, seed, i);
                if (memcmp(want, r->start + i * PAGE, PAGE) != 0)
                        return (long)i;
        }
        return -1;
}

struct thread_arg {
        struct region *r;
        uint64_t seed;
        size_t n, k;
};

static void *thread_main(void *p)
{
        struct thread_arg *a = p;

        for (size_t i = a->k; i < a->r->pages; i += a->n)
                pattern_page(a->r->start + i * PAGE, a->seed, i);
        return NULL;
}

static int do_pipe(struct region *r, uint64_t seed)
{
        static char buf[PAGE];
        int fds[2];

        if (pipe2(fds, O_CLOEXEC) < 0)
                return -errno;
        for (size_t i = 0; i < r->pages; i++) {
                pattern_page(buf, seed, i);
                if (write(fds[1], buf, PAGE) != (ssize_t)PAGE ||
                    read(fds[0], r->start + i * PAGE, PAGE) != (ssize_t)PAGE) {
                        int e = errno ? errno : EIO;

                        close(fds[0]);
                        close(fds[1]);
                        return -e;
                }
        }
        close(fds[0]);
        close(fds[1]);
        return 0;
}

static uintptr_t stack_low;

static void __attribute__((noinline)) grow(size_t kib)
{
        volatile char chunk[1024];

        memset((char *)chunk, 0x5a, sizeof(chunk));
        stack_low = (uintptr_t)chunk;
        if (kib > 1)
                grow(kib - 1);
        __asm__ volatile("" ::"r"(chunk) : "memory");
}

static int save(struct region *r, const char *file)
{
        int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        size_t len = r->pages * PAGE, done = 0;

        if (fd < 0)
                return -errno;
        while (done < len) {
                ssize_t n = write(fd, r->start + done, len - done);

                if (n < 0) {
                        int e = errno;

                        close(fd);
                        return -e;
                }
                done += (size_t)n;
        }
        return close(fd) < 0 ? -errno : 0;
}

static void cleanup(void)
{
        for (int i = 0; i < n_children; i++)
                kill(children[i], SIGKILL);
        for (int i = 0; i < WL_MAX_REGIONS; i++)
                if (wl_regions[i].path[0])
                        unlink(wl_regions[i].path);
}

static int command(char *line)
{
        char a[64] = "", b[64] = "", c[256] = "";
        long first = -1, count = -1;
        unsigned long long seed = 0;
        struct region *r = NULL;
        size_t f, n;
        int k, r_;

        k = sscanf(line, "%63s %63s %255s %ld %ld", a, b, c, &first, &count);
        if (k < 1)
                return -EINVAL;
        if (strcmp(a, "stack") == 0) {
                if (k < 2)
                        return -EINVAL;
                grow(strtoul(b, NULL, 0));
                printf("ok low=%#lx\n", (unsigned long)stack_low);
                return 0;
        }
        if (strcmp(a, "alloc") == 0) {
                if (k < 4)
                        return -EINVAL;
                r_ = do_alloc(b, c, (size_t)first, &r);
                if (r_ < 0)
                        return r_;
                printf("ok start=%p end=%p%s%s\n", (void *)r->start,
                       (void *)(r->start + r->pages * PAGE), r->path[0] ? " path=" : "", r->path);
                return 0;
        }
        if (k < 2)
                return -EINVAL;
        r = region_find(b);
        if (!r)
                return -ENOENT;

        if (strcmp(a, "write") == 0 || strcmp(a, "verify") == 0) {
                if (k < 3)
                        return -EINVAL;
                seed = strtoull(c, NULL, 0);
                if (region_clip(r, first, count, &f, &n) < 0)
                        return -ERANGE;
                if (a[0] == 'w') {
                        write_pages(r, seed, f, n);
                } else {
                        long bad = verify_pages(r, seed, f, n);
                        if (bad >= 0) {
                                printf("err mismatch page=%ld\n", bad);
                                return 1;
                        }
                }
        } else if (strcmp(a, "memwrite") == 0) {
                if (k < 3)
                        return -EINVAL;
                seed = strtoull(c, NULL, 0);
                if (region_clip(r, first, count, &f, &n) < 0)
                        return -ERANGE;
                r_ = mem_write(r, seed, f, n);
                if (r_ < 0)
                        return r_;
        } else if (strcmp(a, "scatter") == 0) {
                if (k < 4 || first < 0 || (size_t)first > r->pages)
                        return -EINVAL;
                seed = strtoull(c, NULL, 0);
                r_ = scatter(r, seed, (size_t)first);
                if (r_ < 0)
                        return r_;
                printf("ok pages=%ld\n", first);
                return 0;
        } else if (strcmp(a, "forkwrite") == 0) {
                seed = strtoull(c, NULL, 0);
                if (k < 5 || region_clip(r, first, count, &f, &n) < 0)
                        return -EINVAL;
                r_ = fork_write(r, seed, f, n);
                if (r_ < 0)
                        return r_;
        } else if (strcmp(a, "touch") == 0) {
                if (k < 3)
                        return -EINVAL;
                seed = strtoull(c, NULL, 0);
                for (size_t i = 0; i < r->pages; i++)
                        *(uint64_t *)(r->start + i * PAGE) = prng_mix(seed + i);
        } else if (strcmp(a, "madvise") == 0) {
                int adv = strcmp(c, "dontneed") == 0  ? MADV_DONTNEED
                          : strcmp(c, "free") == 0    ? MADV_FREE
                          : strcmp(c, "pageout") == 0 ? MADV_PAGEOUT
                                                      : -1;
                if (adv < 0 || region_clip(r, first, count, &f, &n) < 0)
                        return -EINVAL;
                if (madvise(r->start + f * PAGE, n * PAGE, adv) < 0)
                        return -errno;
        } else if (strcmp(a, "mprotect") == 0) {
                int prot = strcmp(c, "r") == 0      ? PROT_READ
                           : strcmp(c, "rw") == 0   ? PROT_READ | PROT_WRITE
                           : strcmp(c, "none") == 0 ? PROT_NONE
                                                    : -1;
                if (prot < 0 || region_clip(r, first, count, &f, &n) < 0)
                        return -EINVAL;
                if (mprotect(r->start + f * PAGE, n * PAGE, prot) < 0)
                        return -errno;
        } else if (strcmp(a, "mremap") == 0) {
                size_t pages = strtoul(c, NULL, 0);
                void *p;

                if (strcmp(r->kind, "heap") == 0 || pages == 0)
                        return -EINVAL;
                p = mremap(r->start, r->pages * PAGE, pages * PAGE, MREMAP_MAYMOVE);
                if (p == MAP_FAILED)
                        return -errno;
                r->start = p;
                r->pages = pages;
                printf("ok start=%p end=%p\n", p, (void *)(r->start + pages * PAGE));
                return 0;
        } else if (strcmp(a, "remap") == 0) {
                size_t len = r->pages * PAGE;
                void *p;

                if (strcmp(r->kind, "anon") != 0)
                        return -EINVAL;
                if (munmap(r->start, len) < 0)
                        return -errno;
                p = mmap(r->start, len, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
                if (p != r->start)
                        return p == MAP_FAILED ? -errno : -EADDRINUSE;
        } else if (strcmp(a, "fork") == 0) {
                pid_t pid;

                if (k < 3 || n_children >= 64)
                        return -EINVAL;
                seed = strtoull(c, NULL, 0);
                fflush(stdout);
                pid = fork();
                if (pid < 0)
                        return -errno;
                if (pid == 0) {
                        prctl(PR_SET_PDEATHSIG, SIGKILL);
                        write_pages(r, seed, 0, r->pages);
                        for (;;)
                                pause();
                }
                children[n_children++] = pid;
                /* For shared kinds the parent must see the child's writes
                 * before answering: wait until the last page holds them. */
                if (strcmp(r->kind, "anon") != 0 && strcmp(r->kind, "heap") != 0 &&
                    strcmp(r->kind, "file") != 0)
                        while (verify_pages(r, seed, r->pages - 1, 1) >= 0)
                                usleep(1000);
                printf("ok child=%d\n", (int)pid);
                return 0;
        } else if (strcmp(a, "threads") == 0) {
                size_t nt = strtoul(c, NULL, 0);
                pthread_t th[64];
                struct thread_arg args[64];

                if (k < 4 || nt == 0 || nt > 64)
                        return -EINVAL;
                seed = (unsigned long long)first;
                for (size_t i = 0; i < nt; i++) {
                        args[i] = (struct thread_arg){.r = r, .seed = seed, .n = nt, .k = i};
                        if (pthread_create(&th[i], NULL, thread_main, &args[i]) != 0)
                                return -EAGAIN;
                }
                for (size_t i = 0; i < nt; i++)
                        pthread_join(th[i], NULL);
        } else if (strcmp(a, "pipe") == 0) {
                if (k < 3)
                        return -EINVAL;
                r_ = do_pipe(r, strtoull(c, NULL, 0));
                if (r_ < 0)
                        return r_;
        } else if (strcmp(a, "save") == 0) {
                if (k < 3)
                        return -EINVAL;
                r_ = save(r, c);
                if (r_ < 0)
                        return r_;
        } else if (strcmp(a, "closefd") == 0) {
                if (r->fd < 0)
                        return -EBADF;
                close(r->fd);
                r->fd = -1;
        } else if (strcmp(a, "unmap") == 0) {
                if (strcmp(r->kind, "heap") == 0)
                        return -EINVAL;
                if (munmap(r->start, r->pages * PAGE) < 0)
                        return -errno;
                if (r->fd >= 0)
                        close(r->fd);
                if (r->path[0])
                        unlink(r->path);
                memset(r, 0, sizeof(*r));
        } else {
                return WL_UNKNOWN;
        }
        printf("ok\n");
        return 0;
}

int main(void)
{
        /* No huge pages, of any size, for this process (see above). */
        (void)prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0);
        workload_ready(NULL);
        return workload_loop(command, cleanup);
}
