/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-store.c: the page store on real files: round trips, dedup rules,
 * corruption detection, manifest chains, reopen, locking, ENOSPC on a tiny
 * tmpfs (root only), and the throughput of store_put_pages().
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "macro.h"
#include "manifest.h"
#include "sha256.h"
#include "gc.h"
#include "store.h"
#include <sys/wait.h>

#include "prng.h"
#include "scratch.h"
#include "tap.h"

#define PG 4096u

static char top[] = "/tmp/test-store-XXXXXX";
static struct prng rng = PRNG_INIT(0x2545f4914f6cdd1dULL);

static void fill_random(uint8_t *p, size_t n)
{
        prng_fill(&rng, p, n & ~(size_t)7);
}

/* Text-like content: compresses well, differs per seed. */
static void fill_compressible(uint8_t *p, size_t n, unsigned seed)
{
        static const char words[] = "checkpoint page store manifest delta region ";
        for (size_t i = 0; i < n; i++)
                p[i] = (uint8_t)words[(i + seed * 7) % (sizeof(words) - 1)];
        memcpy(p, &seed, sizeof(seed));
}

static off_t file_size_at(const char *dir, const char *rel)
{
        char path[512];
        struct stat st;

        snprintf(path, sizeof(path), "%s/%s", dir, rel);
        if (stat(path, &st) < 0)
                return -1;
        return st.st_size;
}

static bool test_round_trip_and_zero(void)
{
        _cleanup_(store_freep) struct ckpt_store *s = NULL;
        _cleanup_free_ char *dir = scratch_new(top);
        _cleanup_free_ uint8_t *pages = NULL, *back = NULL;
        _cleanup_free_ struct ckpt_page *ret = NULL;
        const size_t n = 700; /* several chunks: both threads work */
        struct store_stats st;
        uint64_t new_bytes = 0, n_data = 0;

        ASSERT(dir);
        pages = calloc(n, PG);
        back = malloc(PG);
        ret = calloc(n, sizeof(*ret));
        ASSERT(pages && back && ret);
        for (size_t i = 0; i < n; i++) {
                switch (i % 3) {
                case 0:
                        fill_random(pages + i * PG, PG);
                        break;
                case 1:
                        fill_compressible(pages + i * PG, PG, (unsigned)i);
                        break;
                default:
                        if (i % 2) /* zero page */
                                break;
                        fill_random(pages + i * PG, PG / 2); /* half random, half zero */
                }
        }
        ASSERT_OK(store_open(dir, NULL, &s));
        ASSERT_OK(store_put_pages(s, 1000, pages, n, ret, &new_bytes));
        for (size_t i = 0; i < n; i++) {
                bool zero = (i % 3 == 2) && (i % 2);
                ASSERT_EQ(ret[i].kind, zero ? CKPT_PAGE_ZERO : CKPT_PAGE_DATA);
                if (zero)
                        continue;
                n_data++;
                /* The key is the SHA-256 of the content. */
                uint8_t d[32];
                ASSERT_OK(sha256_once(pages + i * PG, PG, d));
                ASSERT(memcmp(d, ret[i].key, 32) == 0);
                /* Readable before the sync (pending), identical bytes. */
                ASSERT_OK(store_get_page(s, 1000, ret[i].key, back));
                ASSERT(memcmp(back, pages + i * PG, PG) == 0);
                ASSERT_EQ(store_has_page(s, 1000, ret[i].key), 1);
        }
        ASSERT_OK(store_stats(s, &st));
        ASSERT_EQ(st.objects, n_data); /* zero pages are not stored */
        ASSERT_EQ(st.stored_bytes, new_bytes);
        /* Compressible pages shrank: less than raw size plus headers. */
        ASSERT(new_bytes < n_data * PG);
        ASSERT_OK(store_sync(s));
        ASSERT_OK(store_stats(s, &st));
        ASSERT_EQ(st.objects, n_data);
        ASSERT_EQ(st.stored_bytes, new_bytes);
        for (size_t i = 0; i < n; i++) {
                if (ret[i].kind != CKPT_PAGE_DATA)
                        continue;
                ASSERT_OK(store_get_page(s, 1000, ret[i].key, back));
                ASSERT(memcmp(back, pages + i * PG, PG) == 0);
        }
        /* The zero key is never an object. */
        ASSERT_EQ(store_get_page(s, 1000, (uint8_t[32]){}, back), -ENOENT);
        printf("# %zu pages (%llu data) -> %llu bytes in the pack\n", n, (unsigned long long)n_data,
               (unsigned long long)new_bytes);
        return true;
}

static bool test_dedup_per_owner(void)
{
        _cleanup_(store_freep) struct ckpt_store *s = NULL;
        _cleanup_free_ char *dir = scratch_new(top);
        _cleanup_free_ uint8_t *pages = NULL, *back = NULL;
        _cleanup_free_ struct ckpt_page *r1 = NULL, *r2 = NULL;
        const size_t n = 300;
        struct store_stats st;
        uint64_t b1 = 0, b2 = 1, b3 = 0;
        off_t pack_before;

        pages = malloc(n * PG);
        back = malloc(PG);
        r1 = calloc(n, sizeof(*r1));
        r2 = calloc(n, sizeof(*r2));
        ASSERT(dir && pages && back && r1 && r2);
        for (size_t i = 0; i < n; i++)
                fill_random(pages + i * PG, PG);
        /* The same page twice inside one call is stored once. */
        memcpy(pages + 7 * PG, pages + 250 * PG, PG);

        ASSERT_OK(store_open(dir, NULL, &s));
        ASSERT_OK(store_put_pages(s, 1000, pages, n, r1, &b1));
        ASSERT_OK(store_stats(s, &st));
        ASSERT_EQ(st.objects, n - 1);
        ASSERT_OK(store_sync(s));
        pack_before = file_size_at(dir, "packs/pack-00000001.pack");

        /* Same owner again: nothing written. */
        ASSERT_OK(store_put_pages(s, 1000, pages, n, r2, &b2));
        ASSERT_EQ(b2, 0);
        ASSERT_EQ(file_size_at(dir, "packs/pack-00000001.pack"), pack_before);
        for (size_t i = 0; i < n; i++)
                ASSERT(memcmp(r1[i].key, r2[i].key, 32) == 0);

        /* Another owner: stored again, separately. */
        ASSERT_OK(store_put_pages(s, 2000, pages, n, r2, &b3));
        ASSERT_EQ(b3, b1);
        ASSERT_OK(store_stats(s, &st));
        ASSERT_EQ(st.objects, 2 * (n - 1));
        ASSERT_OK(store_get_page(s, 2000, r2[5].key, back));
        ASSERT(memcmp(back, pages + 5 * PG, PG) == 0);
        /* And one owner never reads another's objects. */
        ASSERT_EQ(store_get_page(s, 3000, r2[5].key, back), -ENOENT);
        ASSERT_EQ(store_has_page(s, 3000, r2[5].key), 0);
        return true;
}

/* Pages of words drawn at random from a small vocabulary, like the text and
 * heap data of a real program: zstd's levels differ on them (they do not on
 * fill_compressible()'s repeating pattern). */
static void fill_words(uint8_t *p, size_t n)
{
        static const char *const words[] = {
                "the ",    "page ",    "store ",   "of ",       "a ",         "process ",
                "memory ", "written ", "between ", "two ",      "frozen ",    "moments ",
                "key ",    "value ",   "redis ",   "server ",   "request ",   "client ",
                "42 ",     "17 ",      "\n",       "{\"id\": ", "\"name\": ", "}, ",
        };
        size_t i = 0;

        while (i < n) {
                const char *w = words[prng_next(&rng) % (sizeof(words) / sizeof(words[0]))];

                for (; *w && i < n; w++)
                        p[i++] = (uint8_t)*w;
        }
}

/* With the zstd codec, the fast level, for incremental checkpoints: the
 * same bytes come back; on such pages it stores more than the default level
 * (so it is the level used), and still far less than raw. With the default
 * codec (LZ4) both are LZ4: the same bytes come back, in LZ4 objects. */
static bool test_fast_compression(void)
{
        _cleanup_(store_freep) struct ckpt_store *s = NULL;
        _cleanup_free_ char *dir = scratch_new(top);
        _cleanup_free_ uint8_t *pages = NULL, *back = NULL;
        _cleanup_free_ const uint8_t **pagev = NULL;
        _cleanup_free_ struct ckpt_page *r1 = NULL, *r2 = NULL;
        const size_t n = 600;
        uint64_t b_default = 0, b_fast = 0;

        pages = malloc(n * PG);
        back = malloc(PG);
        pagev = calloc(n, sizeof(*pagev));
        r1 = calloc(n, sizeof(*r1));
        r2 = calloc(n, sizeof(*r2));
        ASSERT(dir && pages && back && pagev && r1 && r2);
        fill_words(pages, n * PG);
        for (size_t i = 0; i < n; i++)
                pagev[i] = pages + (n - 1 - i) * PG; /* any order */

        ASSERT_OK(store_open(dir, &(struct store_options){.codec = CKPT_CODEC_ZSTD}, &s));
        /* Two owners: dedup is per owner, so both store every page. */
        ASSERT_OK(store_put_pagev(s, 1000, pagev, n, STORE_COMPRESS_DEFAULT, r1, &b_default));
        ASSERT_OK(store_put_pagev(s, 2000, pagev, n, STORE_COMPRESS_FAST, r2, &b_fast));
        ASSERT_OK(store_sync(s));
        for (size_t i = 0; i < n; i++) {
                ASSERT(memcmp(r1[i].key, r2[i].key, 32) == 0);
                ASSERT_OK(store_get_page(s, 2000, r2[i].key, back));
                ASSERT(memcmp(back, pagev[i], PG) == 0);
                ASSERT_OK(store_get_page(s, 1000, r1[i].key, back));
                ASSERT(memcmp(back, pagev[i], PG) == 0);
        }
        printf("# %zu pages of words: %llu bytes at the default level, %llu at the fast one\n", n,
               (unsigned long long)b_default, (unsigned long long)b_fast);
        ASSERT(b_fast > b_default);
        ASSERT(b_fast < n * PG / 2);
        s = store_free(s);

        /* LZ4 (the default), into the same store: owner 3000 is new. */
        ASSERT_OK(store_open(dir, NULL, &s));
        for (int c = 0; c < 2; c++) {
                uint64_t b = 0;

                ASSERT_OK(store_put_pagev(s, 3000 + c, pagev, n,
                                          c ? STORE_COMPRESS_FAST : STORE_COMPRESS_DEFAULT, r2,
                                          &b));
                ASSERT_OK(store_sync(s));
                for (size_t i = 0; i < n; i++) {
                        struct store_object o;

                        ASSERT(memcmp(r1[i].key, r2[i].key, 32) == 0);
                        ASSERT_OK(store_get_page(s, 3000 + c, r2[i].key, back));
                        ASSERT(memcmp(back, pagev[i], PG) == 0);
                        ASSERT_OK(store_locate_object(s, 3000 + c, r2[i].key, &o));
                        ASSERT_EQ(o.codec, CKPT_CODEC_LZ4);
                }
                printf("# the same pages in LZ4 (%s): %llu bytes\n", c ? "fast" : "default",
                       (unsigned long long)b);
                ASSERT(b < n * PG / 2);
        }
        return true;
}

/* Damage found, in objects of the store's codec (CODEC, as store_options). */
static bool corruption_with(uint8_t codec)
{
        const struct store_options opts = {.codec = codec};
        _cleanup_(store_freep) struct ckpt_store *s = NULL;
        _cleanup_free_ char *dir = scratch_new(top);
        uint8_t pages[3 * PG], back[PG];
        struct ckpt_page ret[3];
        const off_t obj0 = sizeof(struct ckpt_pack_header);
        const off_t hdr = sizeof(struct ckpt_pack_object);
        struct ckpt_pack_object o0, o1;
        char path[512];
        int fd;

        ASSERT(dir);
        fill_random(pages, PG);                /* raw */
        fill_compressible(pages + PG, PG, 42); /* compressed */
        fill_random(pages + 2 * PG, PG);       /* raw, header damaged */
        ASSERT_OK(store_open(dir, &opts, &s));
        ASSERT_OK(store_put_pages(s, 1000, pages, 3, ret, NULL));
        ASSERT_OK(store_sync(s));
        s = store_free(s);

        snprintf(path, sizeof(path), "%s/packs/pack-00000001.pack", dir);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        ASSERT(fd >= 0);
        ASSERT_EQ(pread(fd, &o0, sizeof(o0), obj0), sizeof(o0));
        ASSERT_EQ(pread(fd, &o1, sizeof(o1), obj0 + hdr + o0.clen), sizeof(o1));
        close(fd);
        ASSERT_EQ(o0.codec, CKPT_CODEC_RAW);
        ASSERT_EQ(o1.codec, codec == CKPT_CODEC_ZSTD ? CKPT_CODEC_ZSTD : CKPT_CODEC_LZ4);

        ASSERT(flip_byte(dir, "packs/pack-00000001.pack", obj0 + hdr + 100));
        ASSERT(flip_byte(dir, "packs/pack-00000001.pack",
                         obj0 + hdr + o0.clen + hdr + o1.clen / 2));
        /* The third object's header: its codec byte. */
        ASSERT(flip_byte(dir, "packs/pack-00000001.pack",
                         obj0 + 2 * hdr + o0.clen + o1.clen +
                                 offsetof(struct ckpt_pack_object, codec)));

        ASSERT_OK(store_open(dir, &opts, &s));
        ASSERT_EQ(store_get_page(s, 1000, ret[0].key, back), -EBADMSG);
        ASSERT_EQ(store_get_page(s, 1000, ret[1].key, back), -EBADMSG);
        ASSERT_EQ(store_get_page(s, 1000, ret[2].key, back), -EBADMSG);

        /* A truncated pack is damage too, not a crash. */
        s = store_free(s);
        ASSERT_EQ(truncate(path, obj0 + hdr + 10), 0);
        ASSERT_OK(store_open(dir, &opts, &s));
        ASSERT_EQ(store_get_page(s, 1000, ret[1].key, back), -EBADMSG);
        return true;
}

/*
 * A model process: NP pages in two regions, mutated between checkpoints;
 * every checkpoint is committed as a DELTA computed against the parent's
 * view, and every view read back must match the model at that time.
 */
#define NP 96
#define CHAIN 40
#define R0 0x7f0000000000ULL

struct model_ckpt {
        uint8_t mem[NP][PG];
        uint64_t id;
};

static bool check_view(struct ckpt_store *s, const struct model_ckpt *c, uint32_t owner)
{
        _cleanup_(manifest_freep) struct ckpt_manifest *v = NULL;
        static const uint8_t zero[PG];
        uint8_t back[PG];

        ASSERT_OK(store_view(s, c->id, &v));
        ASSERT_EQ(v->kind, CKPT_MANIFEST_FULL);
        ASSERT_EQ(v->id, c->id);
        ASSERT_EQ(v->n_regions, 2);
        for (size_t i = 0; i < NP; i++) {
                const struct ckpt_page *p = manifest_find_page(v, R0 + i * PG);

                if (!p || p->kind == CKPT_PAGE_ZERO) {
                        ASSERT(memcmp(c->mem[i], zero, PG) == 0);
                        continue;
                }
                ASSERT_EQ(p->kind, CKPT_PAGE_DATA);
                ASSERT_OK(store_get_page(s, owner, p->key, back));
                ASSERT(memcmp(back, c->mem[i], PG) == 0);
        }
        return true;
}

static bool test_corruption(void)
{
        return corruption_with(0) && corruption_with(CKPT_CODEC_ZSTD);
}

/*
 * A store written before LZ4: version 1 packs of raw and zstd objects (what
 * the zstd codec writes, in a pack whose header says version 1, as every
 * pack said then). It reads, dedups against its objects, goes on in a new
 * version 2 pack with LZ4 objects, and its index rebuilds from both kinds.
 */
static bool test_old_packs(void)
{
        _cleanup_(store_freep) struct ckpt_store *s = NULL;
        _cleanup_free_ char *dir = scratch_new(top);
        enum { NA = 12, NB = 6 };
        uint8_t a[NA * PG], b[NB * PG], back[PG];
        struct ckpt_page ra[NA], rb[NB];
        struct ckpt_pack_header h;
        struct store_object o;
        uint64_t bytes = 0;
        char path[600];
        off_t size1;
        int fd;

        ASSERT(dir);
        for (int i = 0; i < NA; i++) {
                if (i % 3 == 0)
                        fill_random(a + i * PG, PG); /* raw */
                else if (i % 3 == 1)
                        fill_compressible(a + i * PG, PG, 500 + i); /* zstd */
                else
                        memset(a + i * PG, 0, PG); /* zero */
        }
        for (int i = 0; i < NB; i++)
                fill_compressible(b + i * PG, PG, 900 + i);
        ASSERT_OK(store_open(dir, &(struct store_options){.codec = CKPT_CODEC_ZSTD}, &s));
        ASSERT_OK(store_put_pages(s, 1000, a, NA, ra, NULL));
        ASSERT_OK(store_sync(s));
        ASSERT_OK(store_locate_object(s, 1000, ra[1].key, &o));
        ASSERT_EQ(o.codec, CKPT_CODEC_ZSTD);
        s = store_free(s);
        snprintf(path, sizeof(path), "%s/packs/pack-00000001.pack", dir);
        fd = open(path, O_RDWR | O_CLOEXEC);
        ASSERT(fd >= 0);
        ASSERT_EQ(pread(fd, &h, sizeof(h), 0), sizeof(h));
        ASSERT_EQ(le32toh(h.version), CKPT_PACK_VERSION);
        h.version = htole32(1);
        ASSERT_EQ(pwrite(fd, &h, sizeof(h), 0), sizeof(h));
        close(fd);
        size1 = file_size_at(dir, "packs/pack-00000001.pack");

        ASSERT_OK(store_open(dir, NULL, &s));
        for (int i = 0; i < NA; i++) {
                if (ra[i].kind != CKPT_PAGE_DATA)
                        continue;
                ASSERT_OK(store_get_page(s, 1000, ra[i].key, back));
                ASSERT(memcmp(back, a + i * PG, PG) == 0);
        }
        ASSERT_OK(store_put_pages(s, 1000, a, NA, ra, &bytes));
        ASSERT_EQ(bytes, 0); /* every page is there already */
        ASSERT_OK(store_put_pages(s, 1000, b, NB, rb, &bytes));
        ASSERT(bytes > 0);
        ASSERT_OK(store_sync(s));
        ASSERT_OK(store_locate_object(s, 1000, rb[0].key, &o));
        ASSERT_EQ(o.codec, CKPT_CODEC_LZ4);
        ASSERT_EQ(o.pack, 2);
        ASSERT_EQ(file_size_at(dir, "packs/pack-00000001.pack"), size1);
        s = store_free(s);

        snprintf(path, sizeof(path), "%s/packs/pack-00000002.pack", dir);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        ASSERT(fd >= 0);
        ASSERT_EQ(pread(fd, &h, sizeof(h), 0), sizeof(h));
        close(fd);
        ASSERT_EQ(le32toh(h.version), CKPT_PACK_VERSION);

        /* The index rebuilt from a version 1 and a version 2 pack. */
        snprintf(path, sizeof(path), "%s/index/data.mdb", dir);
        ASSERT_EQ(unlink(path), 0);
        ASSERT_OK(store_open(dir, NULL, &s));
        for (int i = 0; i < NA; i++)
                if (ra[i].kind == CKPT_PAGE_DATA) {
                        ASSERT_OK(store_get_page(s, 1000, ra[i].key, back));
                        ASSERT(memcmp(back, a + i * PG, PG) == 0);
                }
        for (int i = 0; i < NB; i++) {
                ASSERT_OK(store_get_page(s, 1000, rb[i].key, back));
                ASSERT(memcmp(back, b + i * PG, PG) == 0);
        }
        return true;
}

static bool test_chain(void)
{
        _cleanup_(store_freep) struct ckpt_store *s = NULL;
        _cleanup_free_ char *dir = scratch_new(top);
        _cleanup_free_ struct model_ckpt *ck = calloc(CHAIN, sizeof(*ck));
        _cleanup_free_ struct store_catalog_entry *list = NULL;
        uint8_t mem[NP][PG] = {};
        struct store_stats st;
        uint64_t last = 0, expect_logical = 0;
        size_t n_list = 0;
        unsigned fulls = 0;

        ASSERT(dir && ck);
        ASSERT_OK(store_open(dir, NULL, &s));
        for (size_t i = 0; i < NP; i += 2)
                fill_random(mem[i], PG);

        for (unsigned k = 0; k < CHAIN; k++) {
                _cleanup_(manifest_freep) struct ckpt_manifest *child = calloc(1, sizeof(*child));
                _cleanup_(manifest_freep) struct ckpt_manifest *parent = NULL, *loaded = NULL;
                struct ckpt_page ret[NP];
                struct store_catalog_entry e;
                uint64_t id;

                ASSERT(child);
                /* Mutate a few pages: new data, zeroed, or copied from another. */
                if (k > 0)
                        for (unsigned m = 0; m < 6; m++) {
                                size_t i = prng_next(&rng) % NP;
                                switch (prng_next(&rng) % 3) {
                                case 0:
                                        fill_random(mem[i], PG);
                                        break;
                                case 1:
                                        memset(mem[i], 0, PG);
                                        break;
                                default:
                                        memcpy(mem[i], mem[prng_next(&rng) % NP], PG);
                                }
                        }
                ASSERT_OK(store_put_pages(s, 1000, mem, NP, ret, NULL));
                ASSERT_OK(store_alloc_id(s, &id));
                ASSERT(id > last);

                child->id = id;
                child->parent = last;
                child->kind = CKPT_MANIFEST_FULL;
                child->pid = 4242;
                child->uid = 1000;
                child->start_time = 777;
                strcpy(child->comm, "model");
                ASSERT_OK(manifest_add_region(
                        child,
                        &(struct ckpt_region){.start = R0,
                                              .end = R0 + 40 * PG,
                                              .prot = 3,
                                              .flags = CKPT_REGION_ANON | CKPT_REGION_PRIVATE}));
                ASSERT_OK(manifest_add_region(
                        child,
                        &(struct ckpt_region){.start = R0 + 40 * PG,
                                              .end = R0 + NP * PG,
                                              .prot = 3,
                                              .flags = CKPT_REGION_ANON | CKPT_REGION_PRIVATE,
                                              .path = "[heap]"}));
                for (size_t i = 0; i < NP; i++)
                        if (ret[i].kind == CKPT_PAGE_DATA)
                                ASSERT_OK(manifest_add_page(child, R0 + i * PG, CKPT_PAGE_DATA,
                                                            ret[i].key));
                if (last) {
                        /* The engine's way: a delta against the parent's view. */
                        ASSERT_OK(store_view(s, last, &parent));
                        ASSERT_OK(manifest_compute_delta(parent, child, child));
                        child->kind = CKPT_MANIFEST_DELTA;
                }
                ASSERT_OK(store_commit(s, child));
                ASSERT_EQ(store_commit(s, child), -EEXIST);

                ASSERT_OK(store_get_entry(s, id, &e));
                ASSERT_OK(store_load(s, id, &loaded));
                ASSERT_EQ(e.kind, loaded->kind);
                /* Checkpoints 1, 17, 33, ... of the chain are complete tables. */
                ASSERT_EQ(loaded->kind,
                          k % CKPT_FULL_EVERY == 0 ? CKPT_MANIFEST_FULL : CKPT_MANIFEST_DELTA);
                ASSERT_EQ(e.chain_depth, k % CKPT_FULL_EVERY);
                fulls += loaded->kind == CKPT_MANIFEST_FULL;

                memcpy(ck[k].mem, mem, sizeof(mem));
                ck[k].id = id;
                last = id;
                for (size_t i = 0; i < NP; i++)
                        expect_logical += ret[i].kind == CKPT_PAGE_DATA ? PG : 0;
                ASSERT(check_view(s, &ck[k], 1000));
        }
        ASSERT_EQ(fulls, (CHAIN + CKPT_FULL_EVERY - 1) / CKPT_FULL_EVERY);

        /* Every view again, oldest first: the cache cannot hold them all. */
        for (unsigned k = 0; k < CHAIN; k++)
                ASSERT(check_view(s, &ck[k], 1000));
        ASSERT_OK(store_stats(s, &st));
        ASSERT_EQ(st.checkpoints, CHAIN);
        ASSERT_EQ(st.logical_bytes, expect_logical);

        /* Reopened (empty cache, everything from disk). */
        s = store_free(s);
        ASSERT_OK(store_open(dir, NULL, &s));
        for (unsigned k = CHAIN; k-- > 0;)
                ASSERT(check_view(s, &ck[k], 1000));
        ASSERT_OK(store_list(s, &list, &n_list));
        ASSERT_EQ(n_list, CHAIN);
        for (size_t i = 0; i < n_list; i++) {
                ASSERT_EQ(list[i].id, ck[i].id);
                ASSERT_EQ(list[i].pid, 4242);
                ASSERT_STREQ(list[i].comm, "model");
                ASSERT(i == 0 || list[i].parent == list[i - 1].id);
        }
        {
                uint64_t id;
                ASSERT_OK(store_last_of(s, 4242, 777, &id));
                ASSERT_EQ(id, last);
                ASSERT_EQ(store_last_of(s, 4242, 778, &id), -ENOENT);
                ASSERT_EQ(store_view(s, last + 100, &(struct ckpt_manifest *){NULL}), -ENOENT);
        }
        return true;
}

static bool test_reopen_lock_and_temps(void)
{
        _cleanup_(store_freep) struct ckpt_store *s = NULL, *s2 = NULL;
        _cleanup_free_ char *dir = scratch_new(top);
        uint8_t pages[4 * PG], back[PG];
        struct ckpt_page ret[4];
        struct store_stats st1, st2;
        char path[512];
        uint64_t id1, id2;
        int fd;

        ASSERT(dir);
        for (int i = 0; i < 4; i++)
                fill_compressible(pages + i * PG, PG, 1000 + i);
        ASSERT_OK(store_open(dir, NULL, &s));
        ASSERT_EQ(store_open(dir, NULL, &s2), -EBUSY);
        ASSERT_OK(store_put_pages(s, 1000, pages, 4, ret, NULL));
        /* A committed checkpoint, then deleted: its id is never given again.
         * The next one is handed out but never committed. */
        ASSERT_OK(store_alloc_id(s, &id1));
        {
                struct ckpt_manifest m = {.id = id1, .kind = CKPT_MANIFEST_FULL};

                ASSERT_OK(store_commit(s, &m));
                ASSERT_OK(store_delete(s, id1));
        }
        ASSERT_OK(store_alloc_id(s, &id2));
        ASSERT_EQ(id2, id1 + 1);
        ASSERT_OK(store_put_pages(s, 1000, pages, 4, ret, NULL));
        /* No sync: closing must still keep the objects. */
        ASSERT_OK(store_stats(s, &st1));
        s = store_free(s);

        snprintf(path, sizeof(path), "%s/manifests/.tmp-00000000000000000099", dir);
        fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        ASSERT(fd >= 0);
        close(fd);

        ASSERT_OK(store_open(dir, NULL, &s));
        ASSERT(access(path, F_OK) < 0 && errno == ENOENT);
        ASSERT_OK(store_stats(s, &st2));
        ASSERT_EQ(st1.objects, st2.objects);
        ASSERT_EQ(st1.stored_bytes, st2.stored_bytes);
        for (int i = 0; i < 4; i++) {
                ASSERT_OK(store_get_page(s, 1000, ret[i].key, back));
                ASSERT(memcmp(back, pages + i * PG, PG) == 0);
        }
        /* Across a restart: past every committed id (even deleted); the id
         * handed out but never committed may come again. */
        ASSERT_OK(store_alloc_id(s, &id2));
        ASSERT_EQ(id2, id1 + 1);
        /* A manifest needs an allocated id. */
        {
                struct ckpt_manifest m = {.id = id2 + 5, .kind = CKPT_MANIFEST_FULL};
                ASSERT_EQ(store_commit(s, &m), -EINVAL);
                m.id = id2;
                ASSERT_OK(store_commit(s, &m));
        }
        return true;
}

static bool test_pack_roll(void)
{
        _cleanup_(store_freep) struct ckpt_store *s = NULL;
        _cleanup_free_ char *dir = scratch_new(top);
        _cleanup_free_ uint8_t *pages = NULL;
        _cleanup_free_ struct ckpt_page *ret = NULL;
        struct store_options opts = {.pack_roll_size = 1 << 20};
        const size_t n = 1200;
        struct store_stats st;
        uint8_t back[PG];

        pages = malloc(n * PG);
        ret = calloc(n, sizeof(*ret));
        ASSERT(dir && pages && ret);
        for (size_t i = 0; i < n; i++)
                fill_random(pages + i * PG, PG);
        ASSERT_OK(store_open(dir, &opts, &s));
        ASSERT_OK(store_put_pages(s, 1000, pages, n / 2, ret, NULL));
        ASSERT_OK(store_put_pages(s, 1000, pages + n / 2 * PG, n - n / 2, ret + n / 2, NULL));
        ASSERT_OK(store_stats(s, &st));
        ASSERT(st.packs >= 4);
        s = store_free(s);
        ASSERT_OK(store_open(dir, NULL, &s));
        for (size_t i = 0; i < n; i++) {
                ASSERT_OK(store_get_page(s, 1000, ret[i].key, back));
                ASSERT(memcmp(back, pages + i * PG, PG) == 0);
        }
        printf("# %zu pages in %llu packs\n", n, (unsigned long long)st.packs);
        return true;
}

static bool test_enospc(void)
{
        _cleanup_(store_freep) struct ckpt_store *s = NULL;
        _cleanup_free_ char *dir = scratch_new(top);
        _cleanup_free_ uint8_t *big = NULL;
        _cleanup_free_ struct ckpt_page *ret = NULL;
        uint8_t first[8 * PG], back[PG];
        struct ckpt_page fret[8];
        off_t pack_before;
        bool mounted = false, result = false;
        int r = 0;

        ASSERT(dir);
        ASSERT_EQ(mkdir(dir, 0700), 0);
        if (mount("tmpfs", dir, "tmpfs", 0, "size=2m") < 0) {
                printf("# cannot mount a tmpfs (%s)\n", strerror(errno));
                return false;
        }
        mounted = true;
        big = malloc(64 * PG);
        ret = calloc(64, sizeof(*ret));
        if (!big || !ret)
                goto out;
        fill_random(first, sizeof(first));
        if (store_open(dir, NULL, &s) < 0 || store_put_pages(s, 1000, first, 8, fret, NULL) < 0 ||
            store_sync(s) < 0)
                goto out;

        /* Fill it up: the failing call must leave no trace. */
        for (int k = 0; k < 100; k++) {
                pack_before = file_size_at(dir, "packs/pack-00000001.pack");
                fill_random(big, 64 * PG);
                r = store_put_pages(s, 1000, big, 64, ret, NULL);
                if (r < 0)
                        break;
        }
        if (r != -ENOSPC) {
                fprintf(stderr, "# expected -ENOSPC, got %d\n", r);
                goto out;
        }
        if (file_size_at(dir, "packs/pack-00000001.pack") != pack_before) {
                fprintf(stderr, "# pack not truncated back\n");
                goto out;
        }
        for (int i = 0; i < 8; i++)
                if (store_get_page(s, 1000, fret[i].key, back) < 0 ||
                    memcmp(back, first + i * PG, PG) != 0)
                        goto out;
        /* The objects of the failed call are not there. */
        if (store_has_page(s, 1000, ret[0].key) != 0)
                goto out;
        s = store_free(s);
        if (store_open(dir, NULL, &s) < 0)
                goto out;
        for (int i = 0; i < 8; i++)
                if (store_get_page(s, 1000, fret[i].key, back) < 0 ||
                    memcmp(back, first + i * PG, PG) != 0)
                        goto out;
        result = true;
out:
        s = store_free(s);
        if (mounted)
                umount2(dir, MNT_DETACH);
        return result;
}

struct live_set {
        uint8_t (*keys)[32];
        size_t n;
        size_t visited;
};

static bool live_has(uint32_t owner, const uint8_t key[32], void *userdata)
{
        struct live_set *l = userdata;

        for (size_t i = 0; i < l->n; i++)
                if (owner == 1000 && memcmp(l->keys[i], key, 32) == 0)
                        return true;
        return false;
}

static int count_object(const struct store_object *o, void *userdata)
{
        struct live_set *l = userdata;

        l->visited++;
        return o->owner == 1000 && o->pack >= 1 ? 0 : -EBADMSG;
}

static bool test_delete_and_repack(void)
{
        _cleanup_(store_freep) struct ckpt_store *s = NULL;
        _cleanup_free_ char *dir = scratch_new(top);
        _cleanup_free_ uint8_t(*keys)[32] = calloc(64, 32);
        _cleanup_free_ uint32_t *packs = NULL;
        uint8_t mem[8][PG] = {}, garbage[16 * PG], back[PG];
        struct ckpt_page ret[16];
        struct store_repack_result rr;
        struct store_stats st0, st1;
        struct live_set live = {.keys = keys};
        uint64_t ids[5], parent = 0;
        size_t n_packs = 0;

        ASSERT(dir && keys);
        ASSERT_OK(store_open(dir, NULL, &s));
        fill_random(garbage, sizeof(garbage));
        ASSERT_OK(store_put_pages(s, 1000, garbage, 16, ret, NULL)); /* referenced by nothing */
        for (int k = 0; k < 5; k++) {
                _cleanup_(manifest_freep) struct ckpt_manifest *m = calloc(1, sizeof(*m));
                _cleanup_(manifest_freep) struct ckpt_manifest *pv = NULL;
                struct ckpt_page pr[8];

                ASSERT(m);
                fill_random(mem[k], PG); /* one page changes per checkpoint */
                ASSERT_OK(store_put_pages(s, 1000, mem, 8, pr, NULL));
                ASSERT_OK(store_alloc_id(s, &ids[k]));
                m->id = ids[k];
                m->parent = parent;
                m->kind = CKPT_MANIFEST_FULL;
                m->uid = 1000;
                ASSERT_OK(manifest_add_region(m, &(struct ckpt_region){.start = R0,
                                                                       .end = R0 + 8 * PG,
                                                                       .prot = 3,
                                                                       .flags = CKPT_REGION_ANON}));
                for (int i = 0; i < 8; i++)
                        if (pr[i].kind == CKPT_PAGE_DATA)
                                ASSERT_OK(manifest_add_page(m, R0 + i * PG, CKPT_PAGE_DATA,
                                                            pr[i].key));
                if (parent) {
                        ASSERT_OK(store_view(s, parent, &pv));
                        ASSERT_OK(manifest_compute_delta(pv, m, m));
                        m->kind = CKPT_MANIFEST_DELTA;
                }
                ASSERT_OK(store_commit(s, m));
                parent = ids[k];
        }

        /* Deleting #2 the documented way: its child #3 becomes FULL first. */
        {
                _cleanup_(manifest_freep) struct ckpt_manifest *before = NULL, *after = NULL,
                                                               *loaded = NULL;
                struct store_catalog_entry e;

                ASSERT_OK(store_view(s, ids[2], &before));
                ASSERT_OK(store_rewrite_full(s, ids[2]));
                ASSERT_OK(store_load(s, ids[2], &loaded));
                ASSERT_EQ(loaded->kind, CKPT_MANIFEST_FULL);
                ASSERT_OK(store_get_entry(s, ids[2], &e));
                ASSERT_EQ(e.kind, CKPT_MANIFEST_FULL);
                ASSERT_OK(store_remove_checkpoint(s, ids[1]));
                ASSERT_EQ(store_remove_checkpoint(s, ids[1]), -ENOENT);
                ASSERT_EQ(store_get_entry(s, ids[1], &e), -ENOENT);
                ASSERT_EQ(store_view(s, ids[1], &after), -ENOENT);
                ASSERT_OK(store_view(s, ids[2], &after));
                ASSERT_EQ(after->n_pages, before->n_pages);
                for (size_t i = 0; i < after->n_pages; i++)
                        ASSERT(memcmp(after->pages[i].key, before->pages[i].key, 32) == 0);
        }

        /* Live: whatever the remaining views reference. */
        for (int k = 0; k < 5; k++) {
                _cleanup_(manifest_freep) struct ckpt_manifest *v = NULL;

                if (k == 1)
                        continue;
                ASSERT_OK(store_view(s, ids[k], &v));
                for (size_t i = 0; i < v->n_pages; i++)
                        if (!live_has(1000, v->pages[i].key, &live))
                                memcpy(live.keys[live.n++], v->pages[i].key, 32);
        }
        ASSERT_OK(store_stats(s, &st0));
        ASSERT_OK(store_foreach_object(s, count_object, &live));
        ASSERT_EQ(live.visited, st0.objects);
        ASSERT_EQ(st0.objects, 16 + 5); /* garbage, then one new page per checkpoint */

        ASSERT_OK(store_repack(s, 1, live_has, &live, &rr));
        ASSERT_EQ(rr.objects_removed, st0.objects - live.n);
        ASSERT_EQ(rr.objects_kept, live.n);
        ASSERT_OK(store_list_packs(s, &packs, &n_packs));
        ASSERT(n_packs >= 1 && packs[0] > 1);
        ASSERT(file_size_at(dir, "packs/pack-00000001.pack") < 0);
        ASSERT_OK(store_stats(s, &st1));
        ASSERT_EQ(st1.objects, live.n);
        ASSERT(st1.stored_bytes < st0.stored_bytes);
        ASSERT_EQ(store_get_page(s, 1000, ret[0].key, back), -ENOENT);

        s = store_free(s);
        ASSERT_OK(store_open(dir, NULL, &s));
        for (int k = 0; k < 5; k++) {
                _cleanup_(manifest_freep) struct ckpt_manifest *v = NULL;

                if (k == 1)
                        continue;
                ASSERT_OK(store_view(s, ids[k], &v));
                /* Page i was written at checkpoint i and never again. */
                ASSERT_EQ(v->n_pages, k + 1);
                for (size_t i = 0; i < v->n_pages; i++) {
                        ASSERT_EQ(v->pages[i].addr, R0 + i * PG);
                        ASSERT_OK(store_get_page(s, 1000, v->pages[i].key, back));
                        ASSERT(memcmp(back, mem[i], PG) == 0);
                }
        }
        return true;
}

struct conc {
        struct ckpt_store *s;
        uint32_t owner;
        const uint8_t *known; /* 32 pages stored before the threads start */
        const struct ckpt_page *known_ret;
        volatile int *stop;
        bool ok;
};

static void *conc_writer(void *userdata)
{
        struct conc *c = userdata;
        uint8_t *pages = malloc(64 * PG), back[PG];
        struct ckpt_page ret[64];
        uint64_t seed = c->owner * 7919;

        c->ok = pages != NULL;
        for (int round = 0; round < 20 && c->ok; round++) {
                for (size_t i = 0; i < 64 * PG; i += 8) {
                        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
                        memcpy(pages + i, &seed, 8);
                }
                if (store_put_pages(c->s, c->owner, pages, 64, ret, NULL) < 0)
                        c->ok = false;
                for (int i = 0; i < 64 && c->ok; i += 7)
                        if (store_get_page(c->s, c->owner, ret[i].key, back) < 0 ||
                            memcmp(back, pages + i * PG, PG) != 0)
                                c->ok = false;
        }
        free(pages);
        return NULL;
}

static void *conc_reader(void *userdata)
{
        struct conc *c = userdata;
        uint8_t back[PG];

        c->ok = true;
        while (!*c->stop && c->ok)
                for (int i = 0; i < 32 && c->ok; i++)
                        if (store_get_page(c->s, c->owner, c->known_ret[i].key, back) < 0 ||
                            memcmp(back, c->known + i * PG, PG) != 0)
                                c->ok = false;
        return NULL;
}

static void *conc_syncer(void *userdata)
{
        struct conc *c = userdata;
        struct store_stats st;
        uint64_t id;

        c->ok = true;
        while (!*c->stop && c->ok)
                if (store_sync(c->s) < 0 || store_stats(c->s, &st) < 0 ||
                    store_alloc_id(c->s, &id) < 0)
                        c->ok = false;
        return NULL;
}

static bool test_concurrency(void)
{
        _cleanup_(store_freep) struct ckpt_store *s = NULL;
        _cleanup_free_ char *dir = scratch_new(top);
        static uint8_t known[32 * PG];
        struct ckpt_page known_ret[32];
        volatile int stop = 0;
        struct conc c[4];
        pthread_t t[4];
        struct store_stats st;

        ASSERT(dir);
        fill_random(known, sizeof(known));
        ASSERT_OK(store_open(dir, NULL, &s));
        ASSERT_OK(store_put_pages(s, 5, known, 32, known_ret, NULL));
        for (int i = 0; i < 4; i++)
                c[i] = (struct conc){s, i < 2 ? 1 + i : 5, known, known_ret, &stop, false};
        ASSERT_EQ(pthread_create(&t[0], NULL, conc_writer, &c[0]), 0);
        ASSERT_EQ(pthread_create(&t[1], NULL, conc_writer, &c[1]), 0);
        ASSERT_EQ(pthread_create(&t[2], NULL, conc_reader, &c[2]), 0);
        ASSERT_EQ(pthread_create(&t[3], NULL, conc_syncer, &c[3]), 0);
        pthread_join(t[0], NULL);
        pthread_join(t[1], NULL);
        stop = 1;
        pthread_join(t[2], NULL);
        pthread_join(t[3], NULL);
        for (int i = 0; i < 4; i++)
                ASSERT(c[i].ok);
        ASSERT_OK(store_sync(s));
        ASSERT_OK(store_stats(s, &st));
        ASSERT_EQ(st.objects, 32 + 2 * 20 * 64);
        return true;
}

static bool test_commit_checks(void)
{
        _cleanup_(store_freep) struct ckpt_store *s = NULL;
        _cleanup_free_ char *dir = scratch_new(top);
        _cleanup_(manifest_freep) struct ckpt_manifest *m = calloc(1, sizeof(*m));
        uint8_t page[PG];
        struct ckpt_page ret;
        uint64_t id;

        ASSERT(dir && m);
        fill_random(page, PG);
        ASSERT_OK(store_open(dir, NULL, &s));
        ASSERT_OK(store_put_pages(s, 1000, page, 1, &ret, NULL));
        ASSERT_OK(store_alloc_id(s, &id));
        m->id = id;
        m->kind = CKPT_MANIFEST_DELTA; /* no parent: written as FULL */
        m->uid = 2000;                 /* not the owner of the page */
        ASSERT_OK(manifest_add_region(
                m, &(struct ckpt_region){.start = R0, .end = R0 + PG, .prot = 3}));
        ASSERT_OK(manifest_add_page(m, R0, CKPT_PAGE_DATA, ret.key));
        ASSERT_EQ(store_commit(s, m), -ENOKEY);
        m->uid = 1000;
        m->parent = id + 1;
        ASSERT_EQ(store_commit(s, m), -EINVAL); /* parent after the child */
        m->parent = 0;
        ASSERT_OK(store_commit(s, m));
        {
                _cleanup_(manifest_freep) struct ckpt_manifest *l = NULL;
                ASSERT_OK(store_load(s, id, &l));
                ASSERT_EQ(l->kind, CKPT_MANIFEST_FULL);
        }
        return true;
}

static bool test_index_growth(void)
{
        _cleanup_(store_freep) struct ckpt_store *s = NULL;
        _cleanup_free_ char *dir = scratch_new(top);
        _cleanup_free_ uint8_t *pages = NULL;
        _cleanup_free_ struct ckpt_page *ret = NULL;
        struct store_options opts = {.map_size = 1 << 20};
        const size_t n = 40000; /* ~3 MiB of index in a 1 MiB map */
        struct store_stats st;
        uint8_t back[PG];

        pages = calloc(n, PG);
        ret = calloc(n, sizeof(*ret));
        ASSERT(dir && pages && ret);
        for (size_t i = 0; i < n; i++) {
                uint64_t v = i + 1;
                memcpy(pages + i * PG + (i % 512) * 8, &v, 8); /* distinct, compressible */
        }
        ASSERT_OK(store_open(dir, &opts, &s));
        ASSERT_OK(store_put_pages(s, 1000, pages, n, ret, NULL));
        ASSERT_OK(store_sync(s));
        ASSERT_OK(store_stats(s, &st));
        ASSERT_EQ(st.objects, n);
        /* The data file cannot outgrow the map: it grew. */
        ASSERT(file_size_at(dir, "index/data.mdb") > (1 << 20));
        s = store_free(s);
        ASSERT_OK(store_open(dir, NULL, &s));
        for (size_t i = 0; i < n; i += 997) {
                ASSERT_OK(store_get_page(s, 1000, ret[i].key, back));
                ASSERT(memcmp(back, pages + i * PG, PG) == 0);
        }
        return true;
}

static int tally_object(const struct store_object *o, void *userdata)
{
        (void)o;
        (*(size_t *)userdata)++;
        return 0;
}

/* Store and sync pages [first, first + n): the index then holds `objects`,
 * `recent` of them in its newest level. */
static bool put_counted(struct ckpt_store *s, const uint8_t *pages, struct ckpt_page *ret,
                        size_t first, size_t n, uint64_t objects, uint64_t recent)
{
        struct store_stats st;

        ASSERT_OK(store_put_pages(s, 1000, pages + first * PG, n, ret + first, NULL));
        ASSERT_OK(store_sync(s));
        ASSERT_OK(store_stats(s, &st));
        ASSERT_EQ(st.objects, objects);
        ASSERT_EQ(st.objects_recent, recent);
        return true;
}

/* The index's two levels: new entries in the small one, moved into the main
 * one in bulk; lookups, dedup, listing and reopening see both. */
static bool test_index_levels(void)
{
        _cleanup_(store_freep) struct ckpt_store *s = NULL;
        _cleanup_free_ char *dir = scratch_new(top);
        _cleanup_free_ uint8_t *pages = NULL;
        _cleanup_free_ struct ckpt_page *ret = NULL;
        struct store_options opts = {.index_recent_max = 100};
        uint64_t new_bytes;
        const size_t n = 260;
        struct store_stats st;
        uint8_t back[PG];
        size_t listed = 0;

        pages = calloc(n, PG);
        ret = calloc(n, sizeof(*ret));
        ASSERT(dir && pages && ret);
        for (size_t i = 0; i < n; i++)
                fill_compressible(pages + i * PG, PG, 5000 + (unsigned)i);
        ASSERT_OK(store_open(dir, &opts, &s));

        /* 40, then 40 more: both stay in the newest level. */
        ASSERT(put_counted(s, pages, ret, 0, 40, 40, 40));
        ASSERT(put_counted(s, pages, ret, 40, 40, 80, 80));
        /* Dedup sees them there. */
        ASSERT_OK(store_put_pages(s, 1000, pages, 80, ret, &new_bytes));
        ASSERT_EQ(new_bytes, 0u);
        ASSERT_EQ(store_has_page(s, 1000, ret[79].key), 1);
        /* 40 more would make 120: everything moves to the main level. */
        ASSERT(put_counted(s, pages, ret, 80, 40, 120, 0));
        ASSERT_OK(store_put_pages(s, 1000, pages, 120, ret, &new_bytes));
        ASSERT_EQ(new_bytes, 0u);
        /* A batch as large as the newest level goes to the main one. */
        ASSERT(put_counted(s, pages, ret, 120, 100, 220, 0));
        ASSERT(put_counted(s, pages, ret, 220, 40, 260, 40));

        /* Both levels, after a reopen: listed, read back, counted once. */
        s = store_free(s);
        ASSERT_OK(store_open(dir, &opts, &s));
        ASSERT_OK(store_stats(s, &st));
        ASSERT_EQ(st.objects, n);
        ASSERT_EQ(st.objects_recent, 40u);
        ASSERT_OK(store_foreach_object(s, tally_object, &listed));
        ASSERT_EQ(listed, n);
        for (size_t i = 0; i < n; i++) {
                ASSERT_OK(store_get_page(s, 1000, ret[i].key, back));
                ASSERT(memcmp(back, pages + i * PG, PG) == 0);
        }
        return true;
}

static double cpu_now(void)
{
        struct timespec t;

        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
        return t.tv_sec + t.tv_nsec / 1e9;
}

static double now(void)
{
        struct timespec t;

        clock_gettime(CLOCK_MONOTONIC, &t);
        return t.tv_sec + t.tv_nsec / 1e9;
}

static bool test_throughput(void)
{
        _cleanup_(store_freep) struct ckpt_store *s = NULL;
        _cleanup_free_ char *dir = scratch_new(top);
        _cleanup_free_ uint8_t *pages = NULL;
        _cleanup_free_ struct ckpt_page *ret = NULL;
        const size_t n = 32768; /* 128 MiB */
        uint64_t bytes = 0;
        double t0, t1, t2, t3, c0, c1, c2, c3;

        pages = malloc(n * PG);
        ret = calloc(n, sizeof(*ret));
        ASSERT(dir && pages && ret);
        fill_random(pages, n * PG);
        ASSERT_OK(store_open(dir, NULL, &s));
        {
                /* What one thread hashes right now: the figures below depend on
                 * the machine's load, this puts them in proportion. */
                struct sha256_ctx *c = NULL;
                uint8_t d[32];

                ASSERT_OK(sha256_ctx_new(&c));
                t0 = now();
                for (size_t i = 0; i < n; i++)
                        ASSERT_OK(sha256_digest(c, pages + i * PG, PG, d));
                t1 = now();
                sha256_ctx_free(c);
                printf("# one thread hashes %.2f GB/s\n", n * PG / (t1 - t0) / 1e9);
        }
        t0 = now();
        c0 = cpu_now();
        ASSERT_OK(store_put_pages(s, 1000, pages, n, ret, &bytes));
        t1 = now();
        c1 = cpu_now();
        ASSERT_OK(store_sync(s));
        t2 = now();
        c2 = cpu_now();
        ASSERT_OK(store_put_pages(s, 1000, pages, n, ret, &bytes));
        t3 = now();
        c3 = cpu_now();
        /* CPU time per GB does not depend on how busy the machine is. */
        printf("# cpu: %.2f s/GB new incompressible pages, %.2f s/GB dedup hits\n",
               (c1 - c0) / (n * PG / 1e9), (c3 - c2) / (n * PG / 1e9));
        ASSERT_EQ(bytes, 0);
        printf("# put_pages, incompressible: %.2f GB/s (sync %.0f ms); dedup hits: %.2f GB/s%s\n",
               n * PG / (t1 - t0) / 1e9, (t2 - t1) * 1e3, n * PG / (t3 - t2) / 1e9,
#if defined(__SANITIZE_ADDRESS__)
               " [ASan build]"
#else
               ""
#endif
        );
        for (size_t i = 0; i < n; i++)
                fill_compressible(pages + i * PG, PG, (unsigned)i);
        t0 = now();
        ASSERT_OK(store_put_pages(s, 1000, pages, n, ret, &bytes));
        t1 = now();
        printf("# put_pages, compressible: %.2f GB/s, ratio %.3f\n", n * PG / (t1 - t0) / 1e9,
               (double)bytes / (n * PG));
        return true;
}

/* Records written but never indexed (a crash before the commit) are indexed
 * again at open and a torn record after them is cut off; an index removed
 * is rebuilt from the packs. */
static bool test_recovery(void)
{
        _cleanup_(store_freep) struct ckpt_store *s = NULL;
        _cleanup_free_ char *dir = scratch_new(top);
        uint8_t pages[8 * PG], back[PG];
        struct ckpt_page ret[8];
        char path[600], cmd[1400];
        off_t size;
        pid_t pid;
        int status;

        ASSERT(dir);
        for (int i = 0; i < 8; i++)
                fill_compressible(pages + i * PG, PG, 3000 + i);
        ASSERT_OK(store_open(dir, NULL, &s));
        ASSERT_OK(store_put_pages(s, 1000, pages, 4, ret, NULL));
        ASSERT_OK(store_sync(s));
        s = store_free(s);

        /* A run that wrote four objects and died before any commit. */
        pid = fork();
        ASSERT(pid >= 0);
        if (pid == 0) {
                struct ckpt_store *c = NULL;

                if (store_open(dir, NULL, &c) < 0 ||
                    store_put_pages(c, 1000, pages + 4 * PG, 4, ret + 4, NULL) < 0)
                        _exit(1);
                _exit(0);
        }
        ASSERT(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
        for (int i = 4; i < 8; i++)
                ASSERT_OK(sha256_once(pages + i * PG, PG, ret[i].key));
        size = file_size_at(dir, "packs/pack-00000001.pack");
        ASSERT(size > 16);
        /* And the first 100 bytes of a record it was writing. */
        snprintf(path, sizeof(path), "%s/packs/pack-00000001.pack", dir);
        snprintf(cmd, sizeof(cmd), "head -c 116 '%s' | tail -c 100 >> '%s'", path, path);
        ASSERT_EQ(system(cmd), 0);
        ASSERT_EQ(file_size_at(dir, "packs/pack-00000001.pack"), size + 100);

        ASSERT_OK(store_open(dir, NULL, &s));
        ASSERT_EQ(file_size_at(dir, "packs/pack-00000001.pack"), size);
        for (int i = 0; i < 8; i++) {
                ASSERT_OK(store_get_page(s, 1000, ret[i].key, back));
                ASSERT(memcmp(back, pages + i * PG, PG) == 0);
        }
        s = store_free(s);

        /* No index at all. */
        snprintf(path, sizeof(path), "%s/index/data.mdb", dir);
        ASSERT_EQ(unlink(path), 0);
        ASSERT_OK(store_open(dir, NULL, &s));
        for (int i = 0; i < 8; i++)
                ASSERT_EQ(store_has_page(s, 1000, ret[i].key), 1);
        s = store_free(s);

        return true;
}

int main(void)
{
        if (!mkdtemp(top)) {
                printf("1..0 # SKIP cannot create a temporary directory\n");
                return 77;
        }
        plan(16);
        RUN(test_round_trip_and_zero);
        RUN(test_dedup_per_owner);
        RUN(test_fast_compression);
        RUN(test_corruption);
        RUN(test_old_packs);
        RUN(test_chain);
        RUN(test_reopen_lock_and_temps);
        RUN(test_recovery);
        RUN(test_pack_roll);
        RUN(test_delete_and_repack);
        RUN(test_concurrency);
        RUN(test_commit_checks);
        RUN(test_index_growth);
        RUN(test_index_levels);
        if (geteuid() == 0)
                RUN(test_enospc);
        else
                skip("test_enospc", "needs root to mount a small tmpfs");
        RUN(test_throughput);
        rm_rf(top);
        return tap_done();
}
