/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * mapro: maps files read-only and private, as a program maps its libraries
 * and data files, so that a checkpoint records them by reference.
 *
 * mapro FILE...: maps each FILE whole (PROT_READ, MAP_PRIVATE), closes its
 * descriptor, reads every page once, and prints "ready pid=P" followed by
 * " start0=0xS end0=0xE start1=..." for the files in order. Then one command
 * per line of stdin, answered "ok" (or "err REASON"):
 *   exit        exits 0
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_FILES 16

int main(int argc, char **argv)
{
        unsigned sum = 0;
        char *start[MAX_FILES];
        size_t len[MAX_FILES];
        char line[256];
        int n = argc - 1;

        if (n < 1 || n > MAX_FILES) {
                fprintf(stderr, "usage: mapro FILE... (at most %d)\n", MAX_FILES);
                return 2;
        }
        for (int i = 0; i < n; i++) {
                struct stat st;
                int fd = open(argv[i + 1], O_RDONLY | O_CLOEXEC);

                if (fd < 0 || fstat(fd, &st) < 0 || st.st_size == 0) {
                        fprintf(stderr, "mapro: cannot open '%s' (or it is empty): %m\n",
                                argv[i + 1]);
                        return 1;
                }
                len[i] = (size_t)st.st_size;
                start[i] = mmap(NULL, len[i], PROT_READ, MAP_PRIVATE, fd, 0);
                close(fd);
                if (start[i] == MAP_FAILED) {
                        fprintf(stderr, "mapro: mmap '%s': %m\n", argv[i + 1]);
                        return 1;
                }
                for (size_t k = 0; k < len[i]; k += 4096)
                        sum += (unsigned char)start[i][k];
        }
        setvbuf(stdout, NULL, _IOLBF, 0);
        printf("ready pid=%d sum=%u", (int)getpid(), sum);
        for (int i = 0; i < n; i++)
                printf(" start%d=%p end%d=%p", i, (void *)start[i], i,
                       (void *)(start[i] + ((len[i] + 4095) & ~(size_t)4095)));
        printf("\n");
        while (fgets(line, sizeof(line), stdin)) {
                if (strncmp(line, "exit", 4) == 0) {
                        printf("ok\n");
                        return 0;
                }
                printf("err unknown command\n");
        }
        return 0;
}
