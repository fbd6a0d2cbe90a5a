/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * memdump: an oracle independent of ckptd. `memdump PID START END OUT` copies
 * [START, END) of the process's memory from /proc/PID/mem into OUT, byte
 * (addr - START) at offset addr - START. Pages that cannot be read (unmapped,
 * PROT_NONE is readable through /proc but guard or I/O error pages are not) are
 * left as holes, which read as zero, and listed on stderr as "hole 0xA-0xB".
 * Pages of private anonymous mappings that are neither present nor swapped
 * are zero and are not read (tests/lib/oracle.h): reading them would populate
 * them on kernels that allocate on a read fault. The last line on stderr is
 * "read N zero M". Use it on a stopped process so the copy is one moment's
 * memory.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "oracle.h"

#define PAGE 4096UL

int main(int argc, char **argv)
{
        uint64_t start, end, hole = 0;
        bool in_hole = false;
        static char buf[PAGE];
        struct oracle o;
        int r, out;

        if (argc != 5) {
                fprintf(stderr, "usage: memdump PID START END OUT\n");
                return 2;
        }
        start = strtoull(argv[2], NULL, 16);
        end = strtoull(argv[3], NULL, 16);
        if (start % PAGE || end % PAGE || end <= start) {
                fprintf(stderr, "memdump: bad range %s-%s\n", argv[2], argv[3]);
                return 2;
        }
        r = oracle_open(&o, atoi(argv[1]));
        if (r < 0) {
                fprintf(stderr, "memdump: cannot open process %s: %s\n", argv[1], strerror(-r));
                return 1;
        }
        out = open(argv[4], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (out < 0 || ftruncate(out, (off_t)(end - start)) < 0) {
                fprintf(stderr, "memdump: '%s': %m\n", argv[4]);
                return 1;
        }
        for (uint64_t a = start; a < end; a += PAGE) {
                r = oracle_read(&o, a, buf);
                if (r == 0) { /* zero, a hole in OUT */
                        if (in_hole)
                                fprintf(stderr, "hole %#" PRIx64 "-%#" PRIx64 "\n", hole, a);
                        in_hole = false;
                } else if (r > 0) {
                        if (in_hole)
                                fprintf(stderr, "hole %#" PRIx64 "-%#" PRIx64 "\n", hole, a);
                        in_hole = false;
                        if (pwrite(out, buf, PAGE, (off_t)(a - start)) != (ssize_t)PAGE) {
                                fprintf(stderr, "memdump: write: %m\n");
                                return 1;
                        }
                } else if (!in_hole) {
                        in_hole = true;
                        hole = a;
                }
        }
        if (in_hole)
                fprintf(stderr, "hole %#" PRIx64 "-%#" PRIx64 "\n", hole, end);
        fprintf(stderr, "read %" PRIu64 " zero %" PRIu64 "\n", o.n_read, o.n_zero);
        oracle_close(&o);
        return close(out) < 0 ? 1 : 0;
}
