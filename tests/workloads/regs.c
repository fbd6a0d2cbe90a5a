/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * regs: a program whose place in its code can be seen from outside, for
 * restoring registers. It prints "ready pid=P", then answers each line of
 * stdin with "ok phase=A got=LINE" (it waits in read(2) between lines), until
 * the line "next": then it says "ok phase=B" and waits in pause(2) for ever.
 * Rolled back with its registers to a moment in phase A, it answers lines
 * again; with its memory only, it stays in pause().
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(void)
{
        char line[128];

        printf("ready pid=%d\n", (int)getpid());
        fflush(stdout);
        while (fgets(line, sizeof(line), stdin)) {
                if (strncmp(line, "next", 4) == 0) {
                        printf("ok phase=B\n");
                        fflush(stdout);
                        for (;;)
                                pause();
                }
                printf("ok phase=A got=%s", line);
                fflush(stdout);
        }
        return 0;
}
