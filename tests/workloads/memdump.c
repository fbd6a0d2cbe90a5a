/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * memdump: an oracle independent of ckptd. `memdump PID START END OUT` copies
 * [START, END) of the process's memory into OUT, byte (addr - START) at offset
 * addr - START, without changing that memory: tests/lib/memread.h reads only
 * the pages the page tables hold, takes private anonymous pages that are not
 * populated as zero and reads the others from the file behind them, so the
 * dump faults nothing in (no zero page assumed, no shmem page allocated).
 * Pages that cannot be read (unmapped, beyond the end of a file, I/O error
 * pages) are left as holes, which read as zero, and listed on stderr as
 * "hole 0xA-0xB". With -v a last line on stderr says how each page was had:
 * "pages: N memory, N file, N zero, N unreadable".
 * Use it on a stopped process so the copy is one moment's memory.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../lib/memread.h"

#define PAGE 4096UL

int main(int argc, char **argv)
{
        static char buf[PAGE];
        uint64_t start, end, hole = 0;
        bool in_hole = false, verbose = false;
        struct memread m;
        int out, r;

        if (argc > 1 && strcmp(argv[1], "-v") == 0) {
                verbose = true;
                argv++, argc--;
        }
        if (argc != 5) {
                fprintf(stderr, "usage: memdump [-v] PID START END OUT\n");
                return 2;
        }
        start = strtoull(argv[2], NULL, 16);
        end = strtoull(argv[3], NULL, 16);
        if (start % PAGE || end % PAGE || end <= start) {
                fprintf(stderr, "memdump: bad range %s-%s\n", argv[2], argv[3]);
                return 2;
        }
        r = memread_open(&m, (pid_t)atoi(argv[1]));
        if (r < 0) {
                fprintf(stderr, "memdump: cannot read the memory of process %s: %s\n", argv[1],
                        strerror(-r));
                return 1;
        }
        out = open(argv[4], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (out < 0 || ftruncate(out, (off_t)(end - start)) < 0) {
                fprintf(stderr, "memdump: '%s': %m\n", argv[4]);
                return 1;
        }
        for (uint64_t a = start; a < end; a += PAGE) {
                r = memread_page(&m, a, buf);
                if (r >= 0) {
                        if (in_hole)
                                fprintf(stderr, "hole %#" PRIx64 "-%#" PRIx64 "\n", hole, a);
                        in_hole = false;
                        /* A page not populated is zero: OUT is sparse there. */
                        if (r > 0 && pwrite(out, buf, PAGE, (off_t)(a - start)) != (ssize_t)PAGE) {
                                fprintf(stderr, "memdump: write '%s': %m\n", argv[4]);
                                return 1;
                        }
                } else if (!in_hole) {
                        in_hole = true;
                        hole = a;
                }
        }
        if (in_hole)
                fprintf(stderr, "hole %#" PRIx64 "-%#" PRIx64 "\n", hole, end);
        if (verbose)
                fprintf(stderr,
                        "pages: %" PRIu64 " memory, %" PRIu64 " file, %" PRIu64 " zero, %" PRIu64
                        " unreadable\n",
                        m.n_mem, m.n_file, m.n_zero, m.n_unreadable);
        memread_close(&m);
        return close(out) < 0 ? 1 : 0;
}
