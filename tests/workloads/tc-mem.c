/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * tc-mem: a scripted mutator for the memory changes memctl does not make:
 * transparent huge pages, MAP_SHARED file mappings (written through the
 * mapping and through pwrite(2)), a brk that grows and shrinks, and sparse
 * one-word writes. It owns its named regions and its own part of the heap;
 * it never looks at a checkpointer.
 *
 * Page contents are the same pseudo-random pattern of (seed, page index) as
 * memctl's, so a test can predict them. Speaks the workloads' protocol
 * (workload.h: "ready pid=P", then one command per line of stdin; each
 * answer ends with "ok [key=value...]" or "err REASON"; info and exit are the
 * loop's):
 *   alloc NAME KIND PAGES               -> ok start= end= [path=]; KIND as
 *                                       pattern_map() has them (anon: 4 KiB
 *                                       pages, MADV_NOHUGEPAGE; fileshared...)
 *   thp NAME MIB                        2 MiB-aligned, MADV_HUGEPAGE -> ok start= end=
 *   write NAME SEED [FIRST COUNT]       pattern SEED into pages
 *   verify NAME SEED [FIRST COUNT]      check pattern SEED
 *   poke NAME SEED STRIDE               one 8-byte word every STRIDE bytes
 *   pwrite NAME SEED FIRST COUNT        write the pattern into the backing file
 *   hugeinfo NAME                       -> ok thp_kib= (AnonHugePages of the region)
 *   sum NAME                            read every word, write nothing -> ok sum=
 *   brk PAGES [SEED]                    grow (PAGES > 0; new pages get pattern SEED
 *                                       unless SEED is 0 or absent) or shrink
 *                                       -> ok start= top=
 *   info                                lines "NAME KIND start end" then ok
 *   exit
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "pattern.h"
#include "workload.h"

#define HUGE (2UL << 20)
static uintptr_t brk_start, brk_top; /* the part of the heap this program grew */

static int do_thp(struct region *r, size_t mib)
{
        size_t len = mib << 20;
        uintptr_t a;
        char *p;

        if (mib == 0 || mib % 2)
                return -EINVAL;
        p = mmap(NULL, len + HUGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
                return -errno;
        a = ((uintptr_t)p + HUGE - 1) & ~(HUGE - 1);
        if (a > (uintptr_t)p)
                munmap(p, a - (uintptr_t)p);
        if ((uintptr_t)p + len + HUGE > a + len)
                munmap((char *)a + len, (uintptr_t)p + len + HUGE - (a + len));
        if (madvise((void *)a, len, MADV_HUGEPAGE) < 0)
                return -errno;
        r->start = (char *)a;
        r->pages = len / PAGE;
        return 0;
}

/* AnonHugePages of the smaps entries inside the region, in KiB. */
static long huge_kib(const struct region *r)
{
        uintptr_t lo = (uintptr_t)r->start, hi = lo + r->pages * PAGE, s = 0, e = 0, s2, e2;
        char line[512];
        long total = 0, v;
        FILE *f = fopen("/proc/self/smaps", "re");

        if (!f)
                return -errno;
        while (fgets(line, sizeof(line), f)) {
                /* sscanf stores the first field even when the second fails */
                if (sscanf(line, "%lx-%lx ", &s2, &e2) == 2) {
                        s = s2, e = e2;
                        continue;
                }
                if (sscanf(line, "AnonHugePages: %ld kB", &v) == 1 && s >= lo && e <= hi)
                        total += v;
        }
        fclose(f);
        return total;
}

static int do_brk(long pages, uint64_t seed)
{
        uintptr_t cur = (uintptr_t)sbrk(0);

        if (brk_start == 0) {
                brk_start = (cur + PAGE - 1) & ~(PAGE - 1);
                if (sbrk((intptr_t)(brk_start - cur)) == (void *)-1)
                        return -ENOMEM;
                brk_top = brk_start;
        } else if (cur != brk_top) {
                return -EBUSY; /* someone else moved the break */
        }
        if (pages >= 0) {
                if (sbrk(pages * (intptr_t)PAGE) == (void *)-1)
                        return -ENOMEM;
                for (long i = 0; seed && i < pages; i++)
                        pattern_page((char *)brk_top + i * PAGE, seed,
                                     (brk_top - brk_start) / PAGE + (size_t)i);
                brk_top += (uintptr_t)pages * PAGE;
        } else {
                if ((uintptr_t)(-pages) * PAGE > brk_top - brk_start)
                        return -ERANGE;
                if (sbrk(pages * (intptr_t)PAGE) == (void *)-1)
                        return -ENOMEM;
                brk_top -= (uintptr_t)(-pages) * PAGE;
        }
        return 0;
}

static int command(char *line)
{
        char a[64] = "", b[64] = "", c[64] = "";
        long first = -1, count = -1;
        struct region *r;
        uint64_t seed;
        size_t f, n;
        int k, e;

        k = sscanf(line, "%63s %63s %63s %ld %ld", a, b, c, &first, &count);
        if (k < 2)
                return -EINVAL;
        if (strcmp(a, "brk") == 0) {
                e = do_brk(strtol(b, NULL, 0), k >= 3 ? strtoull(c, NULL, 0) : 0);
                if (e < 0)
                        return e;
                printf("ok start=%#lx top=%#lx\n", (unsigned long)brk_start,
                       (unsigned long)brk_top);
                return 0;
        }
        if (strcmp(a, "alloc") == 0 || strcmp(a, "thp") == 0) {
                if (k < 3)
                        return -EINVAL;
                r = region_new(b, a[0] == 't' ? "thp" : c);
                if (!r)
                        return -EEXIST;
                if (a[0] == 't')
                        e = do_thp(r, strtoul(c, NULL, 0));
                else
                        e = k < 4 ? -EINVAL : pattern_map(r, "tc-mem", (size_t)first);
                if (e < 0)
                        return e;
                /* 4 KiB pages whatever the machine's THP setting: only "thp"
                 * regions are huge, so the tests know the fault unit. */
                if (strcmp(r->kind, "anon") == 0)
                        (void)madvise(r->start, r->pages * PAGE, MADV_NOHUGEPAGE);
                printf("ok start=%p end=%p%s%s\n", (void *)r->start,
                       (void *)(r->start + r->pages * PAGE), r->path[0] ? " path=" : "", r->path);
                return 0;
        }
        r = region_find(b);
        if (!r)
                return -ENOENT;
        if (strcmp(a, "hugeinfo") == 0) {
                printf("ok thp_kib=%ld\n", huge_kib(r));
                return 0;
        }
        if (strcmp(a, "sum") == 0) {
                const volatile uint64_t *w = (const volatile uint64_t *)r->start;
                uint64_t sum = 0;

                for (size_t i = 0; i < r->pages * PAGE / 8; i++)
                        sum += w[i];
                printf("ok sum=%#llx\n", (unsigned long long)sum);
                return 0;
        }
        if (strcmp(a, "poke") != 0 && strcmp(a, "write") != 0 && strcmp(a, "verify") != 0 &&
            strcmp(a, "pwrite") != 0)
                return WL_UNKNOWN;
        if (k < 3)
                return -EINVAL;
        seed = strtoull(c, NULL, 0);
        if (strcmp(a, "poke") == 0) {
                size_t stride = (size_t)first;

                if (stride < 8 || stride % 8)
                        return -EINVAL;
                for (size_t off = 0; off < r->pages * PAGE; off += stride)
                        *(uint64_t *)(r->start + off) = prng_mix(seed + off);
        } else if (strcmp(a, "write") == 0 || strcmp(a, "verify") == 0 ||
                   strcmp(a, "pwrite") == 0) {
                static char want[PAGE];

                if (region_clip(r, first, count, &f, &n) < 0)
                        return -ERANGE;
                for (size_t i = f; i < f + n; i++) {
                        if (a[0] == 'w') {
                                pattern_page(r->start + i * PAGE, seed, i);
                                continue;
                        }
                        pattern_page(want, seed, i);
                        if (a[0] == 'p') {
                                if (r->fd < 0)
                                        return -EBADF;
                                if (pwrite(r->fd, want, PAGE, (off_t)(i * PAGE)) != (ssize_t)PAGE)
                                        return -EIO;
                        } else if (memcmp(want, r->start + i * PAGE, PAGE) != 0) {
                                printf("err mismatch page=%zu\n", i);
                                return 1;
                        }
                }
        } else {
                return WL_UNKNOWN;
        }
        printf("ok\n");
        return 0;
}

static void cleanup(void)
{
        for (int i = 0; i < WL_MAX_REGIONS; i++)
                if (wl_regions[i].path[0])
                        unlink(wl_regions[i].path);
}

int main(void)
{
        workload_ready(NULL);
        return workload_loop(command, cleanup);
}
