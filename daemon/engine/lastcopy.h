/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lastcopy.h: the pages the last checkpoint of a tracked process read, kept
 * for its next checkpoint. Programs often rewrite memory with the bytes it
 * already held (redis replacing a value by an equal one, a buffer refilled
 * with the same data): the write fault marks the page, but its content did
 * not change. Such a page is recognized by comparing its 4 KiB with the kept
 * copy, several times cheaper than hashing them, and keeps the key it had
 * in the parent checkpoint: exact, since the key is the hash of those very
 * bytes. Only changed pages are hashed, looked up and compressed.
 *
 * The copies live within one byte budget for all processes (least recently
 * used out first); a checkpoint reading more than the budget keeps nothing.
 * The table is shared by the worker threads and has its own lock.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "manifest.h"

struct lastcopy {
        pid_t pid;
        uint64_t start_time; /* with pid: the process */
        uint32_t owner;
        uint64_t id;             /* the checkpoint these pages belong to */
        struct ckpt_page *pages; /* n, ascending addresses, kind and key as stored */
        size_t n;
        uint8_t *data; /* n pages of 4 KiB, page i at data + i * 4096 (mmap'ed) */
        size_t data_size;
        uint64_t stamp; /* last use, for eviction */
};

/* The budget in bytes; 0 keeps nothing (and drops what is kept). */
void lastcopy_set_budget(uint64_t bytes);
uint64_t lastcopy_budget(void);
bool lastcopy_fits(uint64_t bytes);
/* Bytes held now, copies held now. */
void lastcopy_usage(uint64_t *ret_bytes, size_t *ret_n);

/* Takes the copy kept for the process out of the table (NULL: none). The
 * caller owns it: lastcopy_put() it back or lastcopy_free() it. */
struct lastcopy *lastcopy_take(pid_t pid, uint64_t start_time);
/* Keeps c (taking it over), evicting the least recently used copies to stay
 * within the budget; a copy larger than the budget is freed. */
void lastcopy_put(struct lastcopy *c);
/* Drops the copy of pid, if any (untracked, exited). */
void lastcopy_forget(pid_t pid);
/* Drops every copy. */
void lastcopy_clear(void);
struct lastcopy *lastcopy_free(struct lastcopy *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct lastcopy *, lastcopy_free);

/*
 * For each of the n pages at addrs (ascending) with their bytes at
 * data + i * 4096: if c holds the same address with the same bytes, ret[i]
 * gets c's kind and key (its addr is left alone) and same[i] is set; other
 * entries are left untouched, same[i] cleared. Returns how many matched.
 */
size_t lastcopy_match(const struct lastcopy *c, const uint64_t *addrs, const uint8_t *data,
                      size_t n, struct ckpt_page *ret, bool *same);
