/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * keyset.c: the (owner, sha256) hash table of keyset.h.
 *
 * Owns: its slots only. Never locks, never logs.
 */
#include "keyset.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define KEYSET_MIN_SLOTS 1024u

struct store_keyset {
        uint8_t (*keys)[36]; /* owner (little-endian) + sha256 */
        uint8_t *used;
        uint8_t *values;   /* value_size bytes per slot; NULL for a set */
        size_t value_size; /* 0: a set */
        size_t n, n_slots; /* n_slots: a power of two */
};

/* The mixer: the key is a SHA-256 already, its first bytes are uniform. */
static uint64_t keyset_hash(const uint8_t packed[36])
{
        uint32_t owner = (uint32_t)packed[0] | (uint32_t)packed[1] << 8 |
                         (uint32_t)packed[2] << 16 | (uint32_t)packed[3] << 24;
        uint64_t h;

        memcpy(&h, packed + 4, sizeof(h));
        return h ^ ((uint64_t)owner * 0x9e3779b97f4a7c15ULL);
}

static void keyset_pack(uint32_t owner, const uint8_t key[32], uint8_t ret[36])
{
        ret[0] = (uint8_t)owner;
        ret[1] = (uint8_t)(owner >> 8);
        ret[2] = (uint8_t)(owner >> 16);
        ret[3] = (uint8_t)(owner >> 24);
        memcpy(ret + 4, key, 32);
}

static void *keyset_value(const struct store_keyset *k, size_t slot)
{
        return k->values ? k->values + slot * k->value_size : NULL;
}

/* The slot holding the key, or the empty slot where it would go. */
static size_t keyset_slot(const struct store_keyset *k, const uint8_t packed[36], bool *ret_found)
{
        size_t mask = k->n_slots - 1, i;

        for (i = keyset_hash(packed) & mask; k->used[i]; i = (i + 1) & mask)
                if (memcmp(k->keys[i], packed, 36) == 0) {
                        *ret_found = true;
                        return i;
                }
        *ret_found = false;
        return i;
}

static int keyset_alloc(size_t n_slots, size_t value_size, struct store_keyset *ret)
{
        *ret = (struct store_keyset){.n_slots = n_slots, .value_size = value_size};
        ret->keys = malloc(n_slots * sizeof(*ret->keys));
        ret->used = calloc(n_slots, 1);
        if (value_size > 0)
                ret->values = calloc(n_slots, value_size);
        if (!ret->keys || !ret->used || (value_size > 0 && !ret->values)) {
                free(ret->keys);
                free(ret->used);
                free(ret->values);
                return -ENOMEM;
        }
        return 0;
}

static int keyset_grow(struct store_keyset *k)
{
        struct store_keyset g;
        int r;

        if (k->n_slots > SIZE_MAX / 2 / (sizeof(*k->keys) + k->value_size))
                return -ENOMEM;
        r = keyset_alloc(k->n_slots * 2, k->value_size, &g);
        if (r < 0)
                return r;
        for (size_t i = 0; i < k->n_slots; i++) {
                bool found;
                size_t j;

                if (!k->used[i])
                        continue;
                j = keyset_slot(&g, k->keys[i], &found);
                memcpy(g.keys[j], k->keys[i], 36);
                g.used[j] = 1;
                if (g.values)
                        memcpy(keyset_value(&g, j), keyset_value(k, i), k->value_size);
        }
        g.n = k->n;
        free(k->keys);
        free(k->used);
        free(k->values);
        *k = g;
        return 0;
}

int store_keyset_new_map(size_t value_size, struct store_keyset **ret)
{
        struct store_keyset *k;
        int r;

        if (!ret)
                return -EINVAL;
        k = calloc(1, sizeof(*k));
        if (!k)
                return -ENOMEM;
        r = keyset_alloc(KEYSET_MIN_SLOTS, value_size, k);
        if (r < 0) {
                free(k);
                return r;
        }
        *ret = k;
        return 0;
}

int store_keyset_new(struct store_keyset **ret)
{
        return store_keyset_new_map(0, ret);
}

struct store_keyset *store_keyset_free(struct store_keyset *k)
{
        if (!k)
                return NULL;
        free(k->keys);
        free(k->used);
        free(k->values);
        free(k);
        return NULL;
}

int store_keyset_put(struct store_keyset *k, uint32_t owner, const uint8_t key[32],
                     void **ret_value)
{
        uint8_t packed[36];
        bool found;
        size_t i;
        int r;

        if (!k || !key)
                return -EINVAL;
        keyset_pack(owner, key, packed);
        if ((k->n + 1) * 10 > k->n_slots * 7) {
                r = keyset_grow(k);
                if (r < 0)
                        return r;
        }
        i = keyset_slot(k, packed, &found);
        if (ret_value)
                *ret_value = keyset_value(k, i);
        if (found)
                return 0;
        memcpy(k->keys[i], packed, 36);
        k->used[i] = 1;
        if (k->values)
                memset(keyset_value(k, i), 0, k->value_size);
        k->n++;
        return 1;
}

int store_keyset_add(struct store_keyset *k, uint32_t owner, const uint8_t key[32])
{
        return store_keyset_put(k, owner, key, NULL);
}

int store_keyset_remove(struct store_keyset *k, uint32_t owner, const uint8_t key[32])
{
        uint8_t packed[36];
        size_t mask, i, j;
        bool found;

        if (!k || !key)
                return 0;
        keyset_pack(owner, key, packed);
        i = keyset_slot(k, packed, &found);
        if (!found)
                return 0;
        /* Backward shift: move up every later entry of the run whose home
         * slot does not lie in (i, j], so that no probe stops early. */
        mask = k->n_slots - 1;
        for (j = (i + 1) & mask; k->used[j]; j = (j + 1) & mask) {
                size_t h = keyset_hash(k->keys[j]) & mask;
                bool stays = i <= j ? (i < h && h <= j) : (i < h || h <= j);

                if (stays)
                        continue;
                memcpy(k->keys[i], k->keys[j], 36);
                if (k->values)
                        memcpy(keyset_value(k, i), keyset_value(k, j), k->value_size);
                i = j;
        }
        k->used[i] = 0;
        k->n--;
        return 1;
}

void *store_keyset_get(const struct store_keyset *k, uint32_t owner, const uint8_t key[32])
{
        uint8_t packed[36];
        bool found;
        size_t i;

        if (!k || !key || k->n == 0)
                return NULL;
        keyset_pack(owner, key, packed);
        i = keyset_slot(k, packed, &found);
        return found ? keyset_value(k, i) : NULL;
}

bool store_keyset_contains(const struct store_keyset *k, uint32_t owner, const uint8_t key[32])
{
        uint8_t packed[36];
        bool found;

        if (!k || !key || k->n == 0)
                return false;
        keyset_pack(owner, key, packed);
        (void)keyset_slot(k, packed, &found);
        return found;
}

size_t store_keyset_size(const struct store_keyset *k)
{
        return k ? k->n : 0;
}

void store_keyset_clear(struct store_keyset *k)
{
        if (!k || k->n == 0)
                return;
        memset(k->used, 0, k->n_slots);
        k->n = 0;
}

bool store_keyset_next(const struct store_keyset *k, size_t *iter, uint32_t *ret_owner,
                       const uint8_t **ret_key, void **ret_value)
{
        if (!k)
                return false;
        for (size_t i = *iter; i < k->n_slots; i++) {
                const uint8_t *p = k->keys[i];

                if (!k->used[i])
                        continue;
                *iter = i + 1;
                if (ret_owner)
                        *ret_owner = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                                     (uint32_t)p[3] << 24;
                if (ret_key)
                        *ret_key = p + 4;
                if (ret_value)
                        *ret_value = keyset_value(k, i);
                return true;
        }
        *iter = k->n_slots;
        return false;
}
