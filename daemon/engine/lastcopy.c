/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lastcopy.c: the pages of each tracked process's last checkpoint (see
 * lastcopy.h). A small table: a handful of tracked processes at most hold
 * a copy each, so a linear scan under one mutex is enough.
 */
#include "lastcopy.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "macro.h"

#define TABLE_MAX 64

static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static struct lastcopy *table[TABLE_MAX];
static size_t n_table;
static uint64_t budget, held, clock_stamp;

struct lastcopy *lastcopy_free(struct lastcopy *c)
{
        if (!c)
                return NULL;
        if (c->data)
                munmap(c->data, c->data_size);
        free(c->pages);
        free(c);
        return NULL;
}

/* Under table_lock. */
static struct lastcopy *remove_at(size_t i)
{
        struct lastcopy *c = table[i];

        table[i] = table[--n_table];
        held -= c->data_size;
        return c;
}

/* Under table_lock: evict least recently used copies until `need` more
 * bytes fit (and a slot is free). */
static void make_room(uint64_t need)
{
        while (n_table > 0 && (held + need > budget || n_table == TABLE_MAX)) {
                size_t oldest = 0;

                for (size_t i = 1; i < n_table; i++)
                        if (table[i]->stamp < table[oldest]->stamp)
                                oldest = i;
                lastcopy_free(remove_at(oldest));
        }
}

void lastcopy_set_budget(uint64_t bytes)
{
        pthread_mutex_lock(&table_lock);
        budget = bytes;
        make_room(0);
        pthread_mutex_unlock(&table_lock);
}

uint64_t lastcopy_budget(void)
{
        uint64_t b;

        pthread_mutex_lock(&table_lock);
        b = budget;
        pthread_mutex_unlock(&table_lock);
        return b;
}

bool lastcopy_fits(uint64_t bytes)
{
        return bytes > 0 && bytes <= lastcopy_budget();
}

void lastcopy_usage(uint64_t *ret_bytes, size_t *ret_n)
{
        pthread_mutex_lock(&table_lock);
        if (ret_bytes)
                *ret_bytes = held;
        if (ret_n)
                *ret_n = n_table;
        pthread_mutex_unlock(&table_lock);
}

static struct lastcopy *take_pid(pid_t pid)
{
        struct lastcopy *c = NULL;

        pthread_mutex_lock(&table_lock);
        for (size_t i = 0; i < n_table; i++)
                if (table[i]->pid == pid) {
                        c = remove_at(i);
                        break;
                }
        pthread_mutex_unlock(&table_lock);
        return c;
}

struct lastcopy *lastcopy_take(pid_t pid, uint64_t start_time)
{
        struct lastcopy *c = take_pid(pid);

        if (c && c->start_time != start_time)
                c = lastcopy_free(c); /* an earlier process with that pid */
        return c;
}

void lastcopy_put(struct lastcopy *c)
{
        if (!c)
                return;
        pthread_mutex_lock(&table_lock);
        /* One copy per pid: a newer one replaces it. */
        for (size_t i = 0; i < n_table; i++)
                if (table[i]->pid == c->pid) {
                        lastcopy_free(remove_at(i));
                        break;
                }
        if (c->data_size > budget) {
                pthread_mutex_unlock(&table_lock);
                lastcopy_free(c);
                return;
        }
        make_room(c->data_size);
        c->stamp = ++clock_stamp;
        table[n_table++] = c;
        held += c->data_size;
        pthread_mutex_unlock(&table_lock);
}

void lastcopy_forget(pid_t pid)
{
        lastcopy_free(take_pid(pid));
}

void lastcopy_clear(void)
{
        pthread_mutex_lock(&table_lock);
        while (n_table > 0)
                lastcopy_free(remove_at(n_table - 1));
        pthread_mutex_unlock(&table_lock);
}

size_t lastcopy_match(const struct lastcopy *c, const uint64_t *addrs, const uint8_t *data,
                      size_t n, struct ckpt_page *ret, bool *same)
{
        size_t j = 0, matched = 0;

        for (size_t i = 0; i < n; i++) {
                same[i] = false;
                if (!c)
                        continue;
                while (j < c->n && c->pages[j].addr < addrs[i])
                        j++;
                if (j == c->n || c->pages[j].addr != addrs[i])
                        continue;
                if (memcmp(data + i * PAGE_SIZE_4K, c->data + j * PAGE_SIZE_4K, PAGE_SIZE_4K) != 0)
                        continue;
                ret[i].kind = c->pages[j].kind;
                memcpy(ret[i].key, c->pages[j].key, sizeof(ret[i].key));
                same[i] = true;
                matched++;
        }
        return matched;
}
