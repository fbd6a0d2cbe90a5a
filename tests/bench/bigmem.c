/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bigmem: a benchmark target. `bigmem MIB random|text` maps MIB MiB of
 * anonymous memory (region "mem"), fills every page, and speaks the
 * workloads' protocol (tests/lib/workload.h) with only its common
 * commands (info, exit): prints "ready pid=P start=0xS end=0xE", then
 * answers commands on stdin without touching the memory again.
 *   random, text: the contents of tests/lib/pagefill.h.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "pagefill.h"
#include "prng.h"
#include "workload.h"

static struct prng rng = PRNG_INIT(0x2545f4914f6cdd1dULL);

int main(int argc, char **argv)
{
        size_t mib, len;
        char *p;

        if (argc != 3 || (strcmp(argv[2], "random") != 0 && strcmp(argv[2], "text") != 0)) {
                fprintf(stderr, "usage: bigmem MIB random|text\n");
                return 2;
        }
        mib = strtoul(argv[1], NULL, 0);
        len = mib << 20;
        p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) {
                fprintf(stderr, "bigmem: mmap: %m\n");
                return 1;
        }
        /* Plain 4 KiB pages, as most heaps hold. */
        madvise(p, len, MADV_NOHUGEPAGE);
        if (strcmp(argv[2], "random") == 0)
                pagefill_random(&rng, p, len);
        else
                pagefill_text(&rng, p, len);
        region_add("mem", "anon", p, len / PAGE);
        workload_ready("start=%p end=%p", (void *)p, (void *)(p + len));
        return workload_loop(NULL, NULL);
}
