/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pending.h: the pending table, objects written to packs but not yet in the
 * index: a vector of entries in the order they were written, and a keyset
 * (keyset.h) from (owner, key) to the entry's position.
 *
 * A plain data structure: the store holds it under pending_lock (readers)
 * and changes it only under put_lock (store-internal.h). pending_add() does
 * not look for the key first: its callers do (pending_find()).
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "keyset.h"

struct pending_entry {
        uint32_t owner;
        uint8_t key[32];
        uint32_t pack;
        uint64_t offset;
        uint32_t clen;
        uint8_t codec;
};

struct pending {
        struct pending_entry *v;
        size_t n, cap;
        struct store_keyset *index; /* key -> uint32_t position in v */
        uint64_t bytes;             /* headers + payloads of the entries */
};

struct pending_entry *pending_find(struct pending *p, uint32_t owner, const uint8_t key[32]);
/* 0, -ENOMEM, -E2BIG (more than a uint32_t counts). */
int pending_add(struct pending *p, const struct pending_entry *e);
/* Back to the first n entries (a failed write). */
void pending_truncate(struct pending *p, size_t n);
void pending_clear(struct pending *p);
void pending_done(struct pending *p);
