/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * keyset.h: the store's one hash table, keyed by (owner uid, sha256): a set,
 * or a map when made with a value size (each key then carries that many
 * bytes, zeroed when the key is added).
 *
 * Open addressing with linear probing and backward-shift removal (no
 * tombstones); one mixer (the key is a SHA-256 already: its first 8 bytes are
 * uniform, mixed with the owner). It grows at 70% load and never shrinks.
 * Users: the pending table (pending.c: key -> index of its entry), the gc
 * guard's keys in flight (guard.c), the mark of gc (gc.c), verify's
 * referenced keys (verify.c: key -> first referrer), repack's records seen
 * (repack.c).
 *
 * Not thread safe: its owner locks. Every function accepts k == NULL where
 * a read makes sense (an absent set is empty). A value pointer stays valid
 * until the next add to the same set.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "macro.h"

struct store_keyset;

/* A set (no values). -ENOMEM. */
int store_keyset_new(struct store_keyset **ret);
/* A map: value_size bytes per key (> 0). -ENOMEM. */
int store_keyset_new_map(size_t value_size, struct store_keyset **ret);
struct store_keyset *store_keyset_free(struct store_keyset *k);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct store_keyset *, store_keyset_free);

/* 1: added, 0: present already, -ENOMEM. */
int store_keyset_add(struct store_keyset *k, uint32_t owner, const uint8_t key[32]);
/* The same, and *ret_value (a map's) points at the key's value: zeroed when
 * just added, as it was when present. */
int store_keyset_put(struct store_keyset *k, uint32_t owner, const uint8_t key[32],
                     void **ret_value);
/* 1: removed, 0: absent (k may be NULL). */
int store_keyset_remove(struct store_keyset *k, uint32_t owner, const uint8_t key[32]);
/* k may be NULL: false. */
bool store_keyset_contains(const struct store_keyset *k, uint32_t owner, const uint8_t key[32]);
/* A map's value of key, NULL when absent (k may be NULL). */
void *store_keyset_get(const struct store_keyset *k, uint32_t owner, const uint8_t key[32]);
size_t store_keyset_size(const struct store_keyset *k);
/* Every key removed; the memory is kept. */
void store_keyset_clear(struct store_keyset *k);

/* Iteration, in no order: *iter starts at 0; true and the next key (and its
 * value, for a map; ret_value may be NULL) until the end. No add or remove
 * meanwhile. */
bool store_keyset_next(const struct store_keyset *k, size_t *iter, uint32_t *ret_owner,
                       const uint8_t **ret_key, void **ret_value);
