/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-lastcopy: the copies of last checkpoints. lastcopy_match() finds
 * exactly the pages at the same address with the same bytes (one byte of
 * difference anywhere in a page, an address missing on either side, pages
 * on both sides of gaps); the table keeps one copy per process, hands it
 * over once, refuses another start time, evicts the least recently used to
 * stay within the budget, and never keeps a copy larger than the budget.
 */
#include <stdint.h>
#include <sys/mman.h>

#include "lastcopy.h"
#include "macro.h"
#include "tap.h"

#define PG 4096

/* A copy of n pages at addrs, page i filled with byte fill[i], key[0] = i+1. */
static struct lastcopy *copy_new(pid_t pid, uint64_t start_time, uint64_t id, const uint64_t *addrs,
                                 const uint8_t *fill, size_t n)
{
        struct lastcopy *c = calloc(1, sizeof(*c));

        if (!c)
                return NULL;
        c->pid = pid;
        c->start_time = start_time;
        c->id = id;
        c->n = n;
        c->pages = calloc(n, sizeof(*c->pages));
        c->data_size = MAX(n, (size_t)1) * PG;
        c->data = mmap(NULL, c->data_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
                       0);
        if (!c->pages || c->data == MAP_FAILED) {
                c->data = NULL;
                return lastcopy_free(c);
        }
        for (size_t i = 0; i < n; i++) {
                c->pages[i].addr = addrs[i];
                c->pages[i].kind = CKPT_PAGE_DATA;
                c->pages[i].key[0] = (uint8_t)(i + 1);
                memset(c->data + i * PG, fill[i], PG);
        }
        return c;
}

static bool test_match(void)
{
        const uint64_t old_addrs[] = {0x1000, 0x2000, 0x3000, 0x5000, 0x9000};
        const uint8_t old_fill[] = {1, 2, 3, 5, 9};
        /* New: 0x0 (not in the copy), 0x1000 same, 0x2000 one byte off,
         * 0x3000 same, 0x4000 (gap), 0x5000 same, 0xa000 (past the end). */
        const uint64_t addrs[] = {0x0, 0x1000, 0x2000, 0x3000, 0x4000, 0x5000, 0xa000};
        const uint8_t fill[] = {1, 1, 2, 3, 4, 5, 9};
        const bool want[] = {false, true, false, true, false, true, false};
        const uint8_t want_key[] = {0, 1, 0, 3, 0, 4, 0};
        struct lastcopy *c = copy_new(1, 1, 7, old_addrs, old_fill, ELEMENTSOF(old_addrs));
        uint8_t *data = malloc(ELEMENTSOF(addrs) * PG);
        struct ckpt_page ret[ELEMENTSOF(addrs)] = {};
        bool same[ELEMENTSOF(addrs)];
        size_t n;

        ASSERT(c && data);
        for (size_t i = 0; i < ELEMENTSOF(addrs); i++) {
                memset(data + i * PG, fill[i], PG);
                ret[i].addr = addrs[i];
        }
        data[2 * PG + PG - 1] ^= 0x80; /* the last byte of the 0x2000 page */

        n = lastcopy_match(c, addrs, data, ELEMENTSOF(addrs), ret, same);
        ASSERT_EQ(n, 3);
        for (size_t i = 0; i < ELEMENTSOF(addrs); i++) {
                ASSERT_EQ(same[i], want[i]);
                ASSERT_EQ(ret[i].addr, addrs[i]); /* left alone */
                ASSERT_EQ(ret[i].key[0], want_key[i]);
                if (want[i])
                        ASSERT_EQ(ret[i].kind, CKPT_PAGE_DATA);
        }
        /* The first byte differing counts as much as the last. */
        data[1 * PG] ^= 1;
        n = lastcopy_match(c, addrs, data, ELEMENTSOF(addrs), ret, same);
        ASSERT_EQ(n, 2);
        ASSERT(!same[1]);
        /* No copy: nothing matches, every flag is cleared. */
        n = lastcopy_match(NULL, addrs, data, ELEMENTSOF(addrs), ret, same);
        ASSERT_EQ(n, 0);
        for (size_t i = 0; i < ELEMENTSOF(addrs); i++)
                ASSERT(!same[i]);
        lastcopy_free(c);
        free(data);
        return true;
}

static bool test_table(void)
{
        const uint64_t addrs[] = {0x1000, 0x2000, 0x3000, 0x4000};
        const uint8_t fill[] = {1, 2, 3, 4};
        struct lastcopy *c;
        uint64_t bytes;
        size_t n;

        lastcopy_set_budget(8 * PG);
        ASSERT(lastcopy_fits(8 * PG));
        ASSERT(!lastcopy_fits(8 * PG + 1));

        /* Taken once, by the right start time only. */
        lastcopy_put(copy_new(10, 100, 1, addrs, fill, 4));
        lastcopy_usage(&bytes, &n);
        ASSERT_EQ(bytes, 4 * PG);
        ASSERT_EQ(n, 1);
        c = lastcopy_take(10, 100);
        ASSERT(c && c->id == 1);
        ASSERT(!lastcopy_take(10, 100));
        lastcopy_put(c);
        ASSERT(!lastcopy_take(10, 999)); /* another process with that pid: dropped */
        ASSERT(!lastcopy_take(10, 100));

        /* One copy per pid: a newer one replaces it. */
        lastcopy_put(copy_new(10, 100, 1, addrs, fill, 2));
        lastcopy_put(copy_new(10, 100, 2, addrs, fill, 2));
        lastcopy_usage(&bytes, &n);
        ASSERT_EQ(n, 1);
        ASSERT_EQ(bytes, 2 * PG);

        /* Within the budget: the least recently kept goes first. */
        lastcopy_put(copy_new(11, 100, 3, addrs, fill, 4)); /* 6 pages held */
        lastcopy_put(copy_new(12, 100, 4, addrs, fill, 4)); /* 10 > 8: pid 10 out */
        lastcopy_usage(&bytes, &n);
        ASSERT_EQ(n, 2);
        ASSERT_EQ(bytes, 8 * PG);
        ASSERT(!lastcopy_take(10, 100));
        c = lastcopy_take(11, 100);
        ASSERT(c && c->id == 3);
        lastcopy_free(c);

        /* Larger than the budget: not kept, and nothing evicted for it. */
        lastcopy_set_budget(4 * PG);
        lastcopy_put(copy_new(13, 100, 5, (const uint64_t[]){1, 2, 3, 4, 5},
                              (const uint8_t[]){1, 2, 3, 4, 5}, 5));
        ASSERT(!lastcopy_take(13, 100));
        c = lastcopy_take(12, 100);
        ASSERT(c && c->id == 4);
        lastcopy_put(c);

        /* forget, a smaller budget, clear. */
        lastcopy_forget(12);
        lastcopy_usage(&bytes, &n);
        ASSERT_EQ(n, 0);
        lastcopy_set_budget(8 * PG);
        lastcopy_put(copy_new(14, 100, 6, addrs, fill, 4));
        lastcopy_put(copy_new(15, 100, 7, addrs, fill, 4));
        lastcopy_set_budget(4 * PG);
        lastcopy_usage(&bytes, &n);
        ASSERT_EQ(n, 1);
        c = lastcopy_take(15, 100); /* the newer one stays */
        ASSERT(c && c->id == 7);
        lastcopy_free(c);
        lastcopy_set_budget(0);
        ASSERT(!lastcopy_fits(PG));
        lastcopy_put(copy_new(16, 100, 8, addrs, fill, 1));
        lastcopy_usage(&bytes, &n);
        ASSERT_EQ(n, 0);
        lastcopy_clear();
        return true;
}

int main(void)
{
        plan(2);
        ok(test_match(), "match: same address and bytes only");
        ok(test_table(), "table: take once, replace, evict, budget");
        lastcopy_clear();
        return tap_done();
}
