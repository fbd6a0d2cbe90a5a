/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lab: the checkpoint lab's test program. It owns one page-aligned int array
 * of N pages (argument, default 64) and changes it on command, so a test can
 * checkpoint it between changes and compare exports with the expected bytes.
 *
 * Prints "ready pid=P start=0xS end=0xE", then runs one command per line of
 * stdin and answers "ok" (or "err REASON") after each:
 *   fill V      every int of the array = V
 *   quarter V   every int of the last quarter = V
 *   range       prints "start=0xS end=0xE"
 *   exit        exits 0
 * It never reads the array itself, so it does not disturb what it holds.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PAGE 4096

int main(int argc, char **argv)
{
        size_t pages = argc > 1 ? strtoul(argv[1], NULL, 0) : 64;
        size_t n, len;
        char line[256];
        int *a;

        if (pages == 0 || pages > (1u << 20)) {
                fprintf(stderr, "lab: bad page count '%s'\n", argv[1]);
                return 2;
        }
        len = pages * PAGE;
        n = len / sizeof(int);
        a = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (a == MAP_FAILED) {
                fprintf(stderr, "lab: mmap: %m\n");
                return 1;
        }
        setvbuf(stdout, NULL, _IOLBF, 0);
        printf("ready pid=%d start=%p end=%p\n", (int)getpid(), (void *)a,
               (void *)((char *)a + len));

        while (fgets(line, sizeof(line), stdin)) {
                long v;

                if (sscanf(line, "fill %ld", &v) == 1) {
                        for (size_t i = 0; i < n; i++)
                                a[i] = (int)v;
                } else if (sscanf(line, "quarter %ld", &v) == 1) {
                        for (size_t i = n - n / 4; i < n; i++)
                                a[i] = (int)v;
                } else if (strncmp(line, "range", 5) == 0) {
                        printf("start=%p end=%p\n", (void *)a, (void *)((char *)a + len));
                } else if (strncmp(line, "exit", 4) == 0) {
                        printf("ok\n");
                        return 0;
                } else {
                        printf("err unknown command\n");
                        continue;
                }
                printf("ok\n");
        }
        return 0;
}
