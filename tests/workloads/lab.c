/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lab: the checkpoint lab's test program. It owns one page-aligned int array
 * of N pages (argument, default 64), region "array", and changes it on
 * command, so a test can checkpoint it between changes and compare exports
 * with the expected bytes.
 *
 * Speaks the workloads' protocol (workload.h): prints "ready pid=P
 * start=0xS end=0xE", then runs one command per line of stdin, each answered
 * "ok" (or "err REASON"):
 *   fill V [FIRST COUNT]   every int of pages FIRST..FIRST+COUNT (default:
 *                          all of the array) = V
 *   info                   "array anon 0xS 0xE", then ok
 *   exit                   exits 0
 * It never reads the array itself, so it does not disturb what it holds.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "workload.h"

static struct region *array;

static int command(char *line)
{
        long v, first = -1, count = -1;
        size_t f, n;
        int k;

        k = sscanf(line, "fill %ld %ld %ld", &v, &first, &count);
        if (k < 1)
                return WL_UNKNOWN;
        if (k == 2 || region_clip(array, first, count, &f, &n) < 0)
                return -ERANGE;
        for (int *a = (int *)(array->start + f * PAGE), *e = a + n * PAGE / sizeof(int); a < e; a++)
                *a = (int)v;
        printf("ok\n");
        return 0;
}

int main(int argc, char **argv)
{
        size_t pages = argc > 1 ? strtoul(argv[1], NULL, 0) : 64;
        void *a;

        if (pages == 0 || pages > (1u << 20)) {
                fprintf(stderr, "lab: bad page count '%s'\n", argv[1]);
                return 2;
        }
        a = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (a == MAP_FAILED) {
                fprintf(stderr, "lab: mmap: %m\n");
                return 1;
        }
        array = region_add("array", "anon", a, pages);
        workload_ready("start=%p end=%p", a, (void *)((char *)a + pages * PAGE));
        return workload_loop(command, NULL);
}
