/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-gc.c: store health on real files: deleting checkpoints out of a chain
 * (every other view unchanged byte for byte), verify on clean and damaged
 * stores (flipped pack bytes, truncated and missing manifests, the problem
 * cap), gc removing exactly the unreferenced objects, and gc racing threads
 * that store and commit pages deduplicated against objects it finds dead.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "macro.h"
#include "manifest.h"
#include "gc.h"
#include "keyset.h"
#include "verify.h"
#include "store.h"
#include "prng.h"
#include "scratch.h"
#include "tap.h"

#define PG 4096u
#define R0 0x7f0000000000ULL
#define OWNER 1000u

static char top[] = "/tmp/test-gc-XXXXXX";

/* Page content from a seed; seed 0 is the zero page. Odd seeds compress. */
static void fill_seed(uint8_t *p, uint64_t seed)
{
        if (seed == 0) {
                memset(p, 0, PG);
                return;
        }
        for (size_t i = 0; i < PG; i += 8) {
                uint64_t v = (seed & 1) ? seed * 0x0101010101010101ULL + (i & 0xf0)
                                        : prng_mix(seed * 4096 + i);
                memcpy(p + i, &v, 8);
        }
}

/* Commit a checkpoint of NPAGES pages given by seeds, as a DELTA on parent
 * (0: FULL). */
static int commit_seeds(struct ckpt_store *s, uint32_t owner, const uint64_t *seeds, size_t n,
                        uint64_t parent, uint64_t *ret_id)
{
        _cleanup_(manifest_freep) struct ckpt_manifest *m = calloc(1, sizeof(*m));
        _cleanup_(manifest_freep) struct ckpt_manifest *pv = NULL;
        _cleanup_free_ uint8_t *pages = malloc(n * PG);
        _cleanup_free_ struct ckpt_page *pr = calloc(n, sizeof(*pr));
        uint64_t id;
        int r;

        if (!m || !pages || !pr)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                fill_seed(pages + i * PG, seeds[i]);
        r = store_put_pages(s, owner, pages, n, pr, NULL);
        if (r < 0)
                return r;
        r = store_alloc_id(s, &id);
        if (r < 0)
                return r;
        m->id = id;
        m->kind = CKPT_MANIFEST_FULL;
        m->uid = owner;
        m->pid = 4242;
        r = manifest_add_region(
                m, &(struct ckpt_region){
                           .start = R0, .end = R0 + n * PG, .prot = 3, .flags = CKPT_REGION_ANON});
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++)
                if (pr[i].kind == CKPT_PAGE_DATA) {
                        r = manifest_add_page(m, R0 + i * PG, CKPT_PAGE_DATA, pr[i].key);
                        if (r < 0)
                                return r;
                }
        if (parent) {
                r = store_view(s, parent, &pv);
                if (r < 0)
                        return r;
                r = manifest_compute_delta(pv, m, m);
                if (r < 0)
                        return r;
                m->kind = CKPT_MANIFEST_DELTA;
                m->parent = parent;
        }
        r = store_commit(s, m);
        if (r < 0)
                return r;
        *ret_id = id;
        return 0;
}

/* The view of id holds exactly these contents. */
static bool view_is(struct ckpt_store *s, uint64_t id, uint32_t owner, const uint64_t *seeds,
                    size_t n)
{
        _cleanup_(manifest_freep) struct ckpt_manifest *v = NULL;
        uint8_t want[PG], back[PG];

        ASSERT_OK(store_view(s, id, &v));
        ASSERT_EQ(v->id, id);
        for (size_t i = 0; i < n; i++) {
                const struct ckpt_page *p = manifest_find_page(v, R0 + i * PG);

                fill_seed(want, seeds[i]);
                if (seeds[i] == 0) {
                        ASSERT(!p || p->kind == CKPT_PAGE_ZERO);
                        continue;
                }
                ASSERT(p && p->kind == CKPT_PAGE_DATA);
                ASSERT_OK(store_get_page(s, owner, p->key, back));
                ASSERT(memcmp(back, want, PG) == 0);
        }
        return true;
}

static bool has_problem(const struct store_verify_result *r, const char *what)
{
        for (size_t i = 0; i < r->n_problems; i++)
                if (strcmp(r->problems[i].what, what) == 0)
                        return true;
        for (size_t i = 0; i < r->n_problems; i++)
                fprintf(stderr, "# problem: %s\n", r->problems[i].what);
        fprintf(stderr, "# expected: %s\n", what);
        return false;
}

static bool verify_clean(struct ckpt_store *s, uint64_t id)
{
        struct store_verify_result vr = {};

        ASSERT_OK(store_verify(s, id, &vr));
        for (size_t i = 0; i < vr.n_problems; i++)
                fprintf(stderr, "# unexpected problem: %s\n", vr.problems[i].what);
        ASSERT_EQ(vr.n_problems, 0);
        ASSERT(vr.checked_manifests > 0 || id == 0);
        store_verify_result_done(&vr);
        return true;
}

static void key_hex(const uint8_t key[32], char ret[65])
{
        for (size_t i = 0; i < 32; i++)
                snprintf(ret + 2 * i, 3, "%02x", key[i]);
}

/* ------------------------------------------------------------------ key sets */

static bool test_keyset(void)
{
        struct store_keyset *k = NULL;
        uint8_t key[32] = {};
        bool good = false;

        ASSERT_OK(store_keyset_new(&k));
        for (uint32_t i = 0; i < 20000; i++) {
                memcpy(key, &i, sizeof(i));
                if (store_keyset_add(k, i % 3, key) != 1)
                        goto out;
        }
        memcpy(key, &(uint32_t){7}, 4);
        if (store_keyset_add(k, 1, key) != 0 || !store_keyset_contains(k, 1, key) ||
            store_keyset_contains(k, 2, key) || store_keyset_size(k) != 20000)
                goto out;
        memcpy(key, &(uint32_t){20001}, 4);
        if (store_keyset_contains(k, 20001 % 3, key))
                goto out;
        /* Removing every other key leaves the rest findable. */
        for (uint32_t i = 0; i < 20000; i += 2) {
                memcpy(key, &i, sizeof(i));
                if (store_keyset_remove(k, i % 3, key) != 1 ||
                    store_keyset_remove(k, i % 3, key) != 0)
                        goto out;
        }
        for (uint32_t i = 0; i < 20000; i++) {
                memcpy(key, &i, sizeof(i));
                if (store_keyset_contains(k, i % 3, key) != (i % 2 == 1))
                        goto out;
        }
        good = store_keyset_size(k) == 10000;
out:
        store_keyset_free(k);
        return good;
}

/* A map keeps each key's value through growth and removals; iteration sees
 * every key once; clear empties it. */
static bool test_keyset_map(void)
{
        struct store_keyset *k = NULL;
        uint8_t key[32] = {};
        const uint8_t *kp;
        size_t seen = 0;
        uint64_t sum = 0;
        uint32_t owner;
        bool good = false;
        void *v;

        ASSERT_OK(store_keyset_new_map(sizeof(uint64_t), &k));
        for (uint32_t i = 0; i < 5000; i++) {
                memcpy(key, &i, sizeof(i));
                if (store_keyset_put(k, i % 5, key, &v) != 1 || *(uint64_t *)v != 0)
                        goto out;
                *(uint64_t *)v = (uint64_t)i * 3;
        }
        for (uint32_t i = 0; i < 5000; i += 3) {
                memcpy(key, &i, sizeof(i));
                if (store_keyset_remove(k, i % 5, key) != 1)
                        goto out;
        }
        for (uint32_t i = 0; i < 5000; i++) {
                memcpy(key, &i, sizeof(i));
                v = store_keyset_get(k, i % 5, key);
                if ((v != NULL) != (i % 3 != 0) || (v && *(uint64_t *)v != (uint64_t)i * 3))
                        goto out;
                if (store_keyset_get(k, i % 5 + 1, key))
                        goto out;
        }
        memcpy(key, &(uint32_t){7}, 4);
        if (store_keyset_put(k, 2, key, &v) != 0 || *(uint64_t *)v != 21)
                goto out;
        for (size_t it = 0; store_keyset_next(k, &it, &owner, &kp, &v);) {
                uint32_t i;

                memcpy(&i, kp, sizeof(i));
                if (owner != i % 5 || *(uint64_t *)v != (uint64_t)i * 3)
                        goto out;
                seen++;
                sum += i;
        }
        if (seen != store_keyset_size(k) || seen != 5000 - 1667)
                goto out;
        store_keyset_clear(k);
        memcpy(key, &(uint32_t){7}, 4);
        good = store_keyset_size(k) == 0 && !store_keyset_get(k, 2, key) && sum > 0;
out:
        store_keyset_free(k);
        return good;
}

/* ------------------------------------------------------------------- delete */

#define CHAIN 10
#define CP 24 /* pages per checkpoint */

struct chain {
        uint64_t ids[CHAIN];
        uint64_t seeds[CHAIN][CP];
};

/* A process whose pages change a little between checkpoints (some become
 * zero, some come back), committed as DELTAs. */
static bool build_chain(struct ckpt_store *s, struct chain *c, uint64_t salt)
{
        uint64_t parent = 0;

        for (int k = 0; k < CHAIN; k++) {
                for (int i = 0; i < CP; i++) {
                        if (k == 0)
                                c->seeds[k][i] = salt + i + 1;
                        else
                                c->seeds[k][i] = c->seeds[k - 1][i];
                }
                if (k > 0) {
                        c->seeds[k][(3 * k) % CP] = salt + 1000 + k; /* new content */
                        c->seeds[k][(5 * k + 1) % CP] = 0;           /* zeroed */
                        c->seeds[k][(7 * k + 2) % CP] = salt + 1;    /* an old one back */
                }
                ASSERT_OK(commit_seeds(s, OWNER, c->seeds[k], CP, parent, &c->ids[k]));
                parent = c->ids[k];
        }
        return true;
}

static bool chain_views_are(struct ckpt_store *s, const struct chain *c, const bool *gone)
{
        for (int k = 0; k < CHAIN; k++) {
                _cleanup_(manifest_freep) struct ckpt_manifest *v = NULL;

                if (gone[k]) {
                        ASSERT_EQ(store_view(s, c->ids[k], &v), -ENOENT);
                        continue;
                }
                ASSERT(view_is(s, c->ids[k], OWNER, c->seeds[k], CP));
        }
        return true;
}

static bool test_delete(void)
{
        _cleanup_(store_freep) struct ckpt_store *s = NULL;
        _cleanup_free_ char *dir = scratch_new(top);
        _cleanup_free_ struct store_catalog_entry *list = NULL;
        struct chain c;
        bool gone[CHAIN] = {};
        struct store_catalog_entry e;
        size_t n = 0;

        ASSERT(dir);
        ASSERT_OK(store_open(dir, NULL, &s));
        ASSERT(build_chain(s, &c, 0));
        ASSERT(chain_views_are(s, &c, gone));

        /* The middle: its DELTA child stands alone, with no parent. */
        ASSERT_OK(store_get_entry(s, c.ids[6], &e));
        ASSERT_EQ(e.kind, CKPT_MANIFEST_DELTA);
        ASSERT_EQ(e.parent, c.ids[5]);
        ASSERT_OK(store_delete(s, c.ids[5]));
        gone[5] = true;
        ASSERT(chain_views_are(s, &c, gone));
        ASSERT_OK(store_get_entry(s, c.ids[6], &e));
        ASSERT_EQ(e.kind, CKPT_MANIFEST_FULL);
        ASSERT_EQ(e.parent, 0);
        {
                _cleanup_(manifest_freep) struct ckpt_manifest *m = NULL;

                ASSERT_OK(store_load(s, c.ids[6], &m));
                ASSERT_EQ(m->kind, CKPT_MANIFEST_FULL);
                ASSERT_EQ(m->parent, 0);
        }
        ASSERT_EQ(store_delete(s, c.ids[5]), -ENOENT);
        ASSERT_EQ(store_get_entry(s, c.ids[5], &e), -ENOENT);

        /* The first, then the last. */
        ASSERT_OK(store_delete(s, c.ids[0]));
        gone[0] = true;
        ASSERT(chain_views_are(s, &c, gone));
        ASSERT_OK(store_delete(s, c.ids[CHAIN - 1]));
        gone[CHAIN - 1] = true;
        ASSERT(chain_views_are(s, &c, gone));

        /* No entry names a parent that does not exist. */
        ASSERT_OK(store_list(s, &list, &n));
        ASSERT_EQ(n, CHAIN - 3);
        for (size_t i = 0; i < n; i++)
                if (list[i].parent)
                        ASSERT_OK(store_get_entry(s, list[i].parent, &e));
        ASSERT(verify_clean(s, 0));

        /* And all of it survives a reopen. */
        s = store_free(s);
        ASSERT_OK(store_open(dir, NULL, &s));
        ASSERT(chain_views_are(s, &c, gone));
        ASSERT(verify_clean(s, 0));
        return true;
}

/* ------------------------------------------------------------------- verify */

struct find_obj {
        const uint8_t *key;
        struct store_object o;
        bool found;
        size_t count;
        struct store_object *all;
        size_t n_all;
};

static int find_object(const struct store_object *o, void *userdata)
{
        struct find_obj *f = userdata;

        f->count++;
        if (f->key && memcmp(o->key, f->key, 32) == 0) {
                f->o = *o;
                f->found = true;
        }
        if (f->all && f->n_all < 4096)
                f->all[f->n_all++] = *o;
        return 0;
}

static bool test_verify(void)
{
        _cleanup_(store_freep) struct ckpt_store *s = NULL;
        _cleanup_free_ char *dir = scratch_new(top);
        struct store_verify_result vr = {};
        struct store_stats st;
        struct chain c;
        struct find_obj f = {};
        char want[512], hex[65], rel[64], path[512];
        uint64_t other;
        uint64_t lone_seed[CP];
        uint8_t back[PG];

        ASSERT(dir);
        ASSERT_OK(store_open(dir, NULL, &s));
        ASSERT(build_chain(s, &c, 0));
        for (int i = 0; i < CP; i++)
                lone_seed[i] = 50000 + i;
        ASSERT_OK(commit_seeds(s, OWNER, lone_seed, CP, 0, &other));

        /* Clean: nothing to report, every object read. */
        ASSERT_OK(store_stats(s, &st));
        ASSERT_OK(store_verify(s, 0, &vr));
        ASSERT_EQ(vr.n_problems, 0);
        ASSERT_EQ(vr.checked_objects, st.objects);
        ASSERT_EQ(vr.checked_manifests, CHAIN + 1);
        store_verify_result_done(&vr);
        ASSERT(verify_clean(s, c.ids[CHAIN - 1]));

        /* A byte flipped in the payload of an object only the chain uses
         * (content of seed 1003, new at checkpoint 3). */
        {
                _cleanup_(manifest_freep) struct ckpt_manifest *v = NULL;
                const struct ckpt_page *p;

                ASSERT_OK(store_view(s, c.ids[3], &v));
                p = manifest_find_page(v, R0 + ((3 * 3) % CP) * PG);
                ASSERT(p && p->kind == CKPT_PAGE_DATA);
                f.key = p->key;
                ASSERT_OK(store_foreach_object(s, find_object, &f));
                ASSERT(f.found);
        }
        snprintf(rel, sizeof(rel), "packs/pack-%08" PRIu32 ".pack", f.o.pack);
        ASSERT(flip_byte(dir, rel, (off_t)(f.o.offset + sizeof(struct ckpt_pack_object) + 17)));
        ASSERT_EQ(store_get_page(s, OWNER, f.o.key, back), -EBADMSG);
        key_hex(f.o.key, hex);
        snprintf(want, sizeof(want),
                 "object %u/%s in pack-%08" PRIu32 ".pack at offset %" PRIu64
                 ": content does not match its key",
                 OWNER, hex, f.o.pack, f.o.offset);
        ASSERT_OK(store_verify(s, 0, &vr));
        ASSERT_EQ(vr.n_problems, 1);
        ASSERT(has_problem(&vr, want));
        store_verify_result_done(&vr);
        ASSERT_OK(store_verify(s, c.ids[4], &vr));
        ASSERT_EQ(vr.n_problems, 1);
        ASSERT(has_problem(&vr, want));
        store_verify_result_done(&vr);
        ASSERT(verify_clean(s, other));

        /* A truncated manifest: reported, and its descendants' chains break. */
        snprintf(path, sizeof(path), "%s/manifests/%020" PRIu64, dir, c.ids[7]);
        ASSERT_EQ(truncate(path, 100), 0);
        ASSERT_OK(store_verify(s, 0, &vr));
        snprintf(want, sizeof(want), "checkpoint %" PRIu64 ": manifest is corrupt", c.ids[7]);
        ASSERT(has_problem(&vr, want));
        snprintf(want, sizeof(want),
                 "checkpoint %" PRIu64 ": its chain is broken at checkpoint %" PRIu64, c.ids[8],
                 c.ids[7]);
        ASSERT(has_problem(&vr, want));
        snprintf(want, sizeof(want),
                 "checkpoint %" PRIu64 ": its chain is broken at checkpoint %" PRIu64, c.ids[9],
                 c.ids[8]);
        ASSERT(has_problem(&vr, want));
        ASSERT_EQ(vr.n_problems, 4);
        store_verify_result_done(&vr);
        ASSERT_OK(store_verify(s, c.ids[9], &vr));
        snprintf(want, sizeof(want),
                 "checkpoint %" PRIu64 ": its chain is broken: checkpoint %" PRIu64
                 ": manifest is corrupt",
                 c.ids[9], c.ids[7]);
        ASSERT(has_problem(&vr, want));
        store_verify_result_done(&vr);

        /* gc refuses to guess what a damaged manifest referred to. */
        ASSERT_EQ(store_gc(s, NULL), -EBADMSG);

        /* A missing manifest, and a manifest file outside the catalog. */
        snprintf(path, sizeof(path), "%s/manifests/%020" PRIu64, dir, c.ids[1]);
        {
                char orphan[512], cmd[1200];

                snprintf(orphan, sizeof(orphan), "%s/manifests/%020" PRIu64, dir, other + 100);
                snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", path, orphan);
                ASSERT_EQ(system(cmd), 0);
        }
        ASSERT_EQ(unlink(path), 0);
        ASSERT_OK(store_verify(s, 0, &vr));
        snprintf(want, sizeof(want), "checkpoint %" PRIu64 ": manifest is missing", c.ids[1]);
        ASSERT(has_problem(&vr, want));
        snprintf(want, sizeof(want),
                 "manifest file %020" PRIu64
                 " is not in the catalog (left by an interrupted commit or delete)",
                 other + 100);
        ASSERT(has_problem(&vr, want));
        store_verify_result_done(&vr);

        /* Reopening never deletes a manifest file: this one names another
         * id inside, so it cannot join the catalog and stays reported; the
         * rest stays reported too. Removing it is the operator's call. */
        s = store_free(s);
        ASSERT_OK(store_open(dir, NULL, &s));
        ASSERT_OK(store_verify(s, 0, &vr));
        ASSERT(has_problem(&vr, want));
        store_verify_result_done(&vr);
        {
                char orphan[512];

                snprintf(orphan, sizeof(orphan), "%s/manifests/%020" PRIu64, dir, other + 100);
                ASSERT_EQ(unlink(orphan), 0);
        }

        /* Damaged checkpoints can be deleted (their children stay broken
         * until deleted too); then gc runs again and drops the damaged
         * object, and the store is clean. */
        ASSERT_OK(store_delete(s, c.ids[1]));
        ASSERT_OK(store_verify(s, 0, &vr));
        snprintf(want, sizeof(want),
                 "checkpoint %" PRIu64 ": its parent %" PRIu64 " is not in the catalog", c.ids[2],
                 c.ids[1]);
        ASSERT(has_problem(&vr, want));
        store_verify_result_done(&vr);
        for (int k = 0; k < CHAIN; k++)
                if (k != 1)
                        ASSERT_OK(store_delete(s, c.ids[k]));
        ASSERT_OK(store_gc(s, NULL));
        ASSERT_OK(store_gc(s, NULL));
        ASSERT_EQ(store_has_page(s, OWNER, f.o.key), 0);
        ASSERT(verify_clean(s, 0));
        ASSERT(view_is(s, other, OWNER, lone_seed, CP));
        return true;
}

static bool test_verify_cap(void)
{
        _cleanup_(store_freep) struct ckpt_store *s = NULL;
        _cleanup_free_ char *dir = scratch_new(top);
        _cleanup_free_ uint64_t *seeds = calloc(1100, sizeof(*seeds));
        _cleanup_free_ struct store_object *all = calloc(4096, sizeof(*all));
        struct store_verify_result vr = {};
        struct find_obj f = {.all = all};
        char rel[64];
        uint64_t id;

        ASSERT(dir && seeds && all);
        ASSERT_OK(store_open(dir, NULL, &s));
        for (int i = 0; i < 1100; i++)
                seeds[i] = 2 * i + 2; /* incompressible, distinct */
        ASSERT_OK(commit_seeds(s, OWNER, seeds, 1100, 0, &id));
        ASSERT_OK(store_foreach_object(s, find_object, &f));
        ASSERT_EQ(f.n_all, 1100);
        for (size_t i = 0; i < f.n_all; i++) {
                snprintf(rel, sizeof(rel), "packs/pack-%08" PRIu32 ".pack", all[i].pack);
                ASSERT(flip_byte(dir, rel,
                                 (off_t)(all[i].offset + sizeof(struct ckpt_pack_object) + 9)));
        }
        ASSERT_OK(store_verify(s, 0, &vr));
        ASSERT_EQ(vr.n_problems, STORE_VERIFY_MAX_PROBLEMS + 1);
        ASSERT_STREQ(vr.problems[STORE_VERIFY_MAX_PROBLEMS].what, "and 100 more problems");
        store_verify_result_done(&vr);
        return true;
}

/* ----------------------------------------------------------------------- gc */

struct refs {
        struct store_keyset *live;
        struct store_keyset *seen;
        uint32_t last_pack;
        size_t stray; /* dead objects left, outside the newest pack */
        size_t n;
};

static int count_left(const struct store_object *o, void *userdata)
{
        struct refs *r = userdata;

        r->n++;
        if (!store_keyset_contains(r->live, o->owner, o->key) && o->pack != r->last_pack)
                r->stray++;
        return 0;
}

static bool live_keys(struct ckpt_store *s, struct store_keyset *live)
{
        _cleanup_free_ struct store_catalog_entry *list = NULL;
        size_t n = 0;

        ASSERT_OK(store_list(s, &list, &n));
        for (size_t i = 0; i < n; i++) {
                _cleanup_(manifest_freep) struct ckpt_manifest *v = NULL;

                ASSERT_OK(store_view(s, list[i].id, &v));
                for (size_t k = 0; k < v->n_pages; k++)
                        if (v->pages[k].kind == CKPT_PAGE_DATA)
                                ASSERT(store_keyset_add(live, v->uid, v->pages[k].key) >= 0);
        }
        return true;
}

static bool test_gc_exact(void)
{
        _cleanup_(store_freep) struct ckpt_store *s = NULL;
        _cleanup_free_ char *dir = scratch_new(top);
        struct store_keyset *live = NULL;
        struct store_gc_result gr;
        struct store_stats st0, st1;
        struct chain c, d;
        bool gone[CHAIN] = {}, gone_d[CHAIN] = {};
        uint64_t garbage[40], other[CP], other_id, removed, bytes;
        struct ckpt_page pr[40];
        bool good = false;

        ASSERT(dir);
        ASSERT_OK(store_open(dir, NULL, &s));
        ASSERT_OK(store_keyset_new(&live));

        /* Garbage: stored, never committed. Two processes, another owner. */
        {
                uint8_t *pages = malloc(40 * PG);
                int r;

                ASSERT(pages);
                for (int i = 0; i < 40; i++) {
                        garbage[i] = 90000 + i;
                        fill_seed(pages + i * PG, garbage[i]);
                }
                r = store_put_pages(s, OWNER, pages, 40, pr, NULL);
                free(pages);
                ASSERT_OK(r);
        }
        if (!build_chain(s, &c, 0) || !build_chain(s, &d, 3000))
                goto out;
        for (int i = 0; i < CP; i++)
                other[i] = 1 + i; /* the same content as chain c, another owner */
        if (commit_seeds(s, 2000, other, CP, 0, &other_id) < 0)
                goto out;

        /* Delete most of chain c and the start of d. */
        for (int k = 0; k < CHAIN - 1; k++) {
                if (store_delete(s, c.ids[k]) < 0)
                        goto out;
                gone[k] = true;
        }
        for (int k = 0; k < 4; k++) {
                if (store_delete(s, d.ids[k]) < 0)
                        goto out;
                gone_d[k] = true;
        }
        if (!live_keys(s, live) || store_stats(s, &st0) < 0)
                goto out;
        /* The first gc keeps what was stored and never committed (a
         * checkpoint may be about to commit it); the second one does not. */
        if (store_gc(s, &gr) < 0 || !chain_views_are(s, &c, gone) ||
            !chain_views_are(s, &d, gone_d))
                goto out;
        removed = gr.objects_removed;
        bytes = gr.bytes_reclaimed;
        for (int i = 0; i < 40; i++)
                if (store_has_page(s, OWNER, pr[i].key) != 1)
                        goto out;
        if (store_gc(s, &gr) < 0)
                goto out;
        removed += gr.objects_removed;
        bytes += gr.bytes_reclaimed;
        if (store_stats(s, &st1) < 0)
                goto out;
        fprintf(stderr,
                "# %" PRIu64 " objects, %zu live; removed %" PRIu64 " (%" PRIu64 " bytes)\n",
                st0.objects, store_keyset_size(live), removed, gr.bytes_reclaimed);
        for (int i = 0; i < 40; i++)
                if (store_has_page(s, OWNER, pr[i].key) != 0)
                        goto out;
        /* One pack, mostly dead: every dead object goes. */
        if (st1.objects != store_keyset_size(live) || removed != st0.objects - st1.objects ||
            st1.stored_bytes != st0.stored_bytes - bytes || gr.bytes_reclaimed == 0 ||
            gr.packs_rewritten != 1) {
                fprintf(stderr,
                        "# stats: %" PRIu64 " -> %" PRIu64 " objects, %" PRIu64 " -> %" PRIu64
                        " bytes, %" PRIu64 " packs rewritten\n",
                        st0.objects, st1.objects, st0.stored_bytes, st1.stored_bytes,
                        gr.packs_rewritten);
                goto out;
        }
        if (!chain_views_are(s, &c, gone) || !chain_views_are(s, &d, gone_d) ||
            !view_is(s, other_id, 2000, other, CP) || !verify_clean(s, 0))
                goto out;

        /* Nothing more to do; and all of it after a reopen. */
        if (store_gc(s, &gr) < 0 || gr.objects_removed != 0 || gr.packs_rewritten != 0)
                goto out;
        s = store_free(s);
        if (store_open(dir, NULL, &s) < 0 || !chain_views_are(s, &c, gone) ||
            !chain_views_are(s, &d, gone_d) || !verify_clean(s, 0))
                goto out;
        good = true;
out:
        store_keyset_free(live);
        return good;
}

/* Many packs: every dead object outside the pack being appended to goes,
 * every live one stays. */
static bool test_gc_packs(void)
{
        _cleanup_(store_freep) struct ckpt_store *s = NULL;
        _cleanup_free_ char *dir = scratch_new(top);
        _cleanup_free_ uint32_t *packs = NULL;
        struct store_keyset *live = NULL;
        struct store_gc_result gr;
        struct store_stats st0, st1;
        struct chain c[4];
        bool gone[4][CHAIN] = {};
        struct refs rf = {};
        size_t n_packs = 0;
        struct store_options opts = {.pack_roll_size = 64 * 1024};
        uint64_t removed;
        bool good = false;

        ASSERT(dir);
        ASSERT_OK(store_open(dir, &opts, &s));
        ASSERT_OK(store_keyset_new(&live));
        for (int p = 0; p < 4; p++)
                if (!build_chain(s, &c[p], 10000 * (p + 1)))
                        goto out;
        for (int p = 0; p < 4; p++)
                for (int k = 0; k < CHAIN; k++)
                        if ((k + p) % 3 != 0) {
                                if (store_delete(s, c[p].ids[k]) < 0)
                                        goto out;
                                gone[p][k] = true;
                        }
        if (!live_keys(s, live) || store_stats(s, &st0) < 0 || store_gc(s, &gr) < 0)
                goto out;
        removed = gr.objects_removed;
        /* Dead objects may stay only in the pack being appended to when the
         * gc began (the copies a gc writes are of live objects). */
        if (store_list_packs(s, &packs, &n_packs) < 0 || n_packs == 0)
                goto out;
        rf.last_pack = packs[n_packs - 1];
        if (store_gc(s, &gr) < 0)
                goto out;
        gr.objects_removed += removed;
        if (store_stats(s, &st1) < 0)
                goto out;
        fprintf(stderr,
                "# %" PRIu64 " packs, %" PRIu64 " objects, %zu live; %" PRIu64
                " packs rewritten, %" PRIu64 " objects removed\n",
                st0.packs, st0.objects, store_keyset_size(live), gr.packs_rewritten,
                gr.objects_removed);
        rf.live = live;
        if (store_foreach_object(s, count_left, &rf) < 0)
                goto out;
        fprintf(stderr, "# %zu objects left, %zu dead outside pack %" PRIu32 "\n", rf.n, rf.stray,
                rf.last_pack);
        if (rf.stray != 0 || st1.objects != st0.objects - gr.objects_removed ||
            gr.objects_removed == 0 || st0.packs < 3)
                goto out;
        for (int p = 0; p < 4; p++)
                if (!chain_views_are(s, &c[p], gone[p]))
                        goto out;
        if (!verify_clean(s, 0))
                goto out;
        good = true;
out:
        store_keyset_free(live);
        return good;
}

/*
 * The race: writers store pages from a small pool of contents (so they
 * deduplicate against objects of deleted checkpoints, which gc finds dead)
 * and commit them, while another thread deletes all but the newest
 * checkpoints and runs gc, over and over. After every gc, and at the end,
 * every committed checkpoint must read back exactly.
 */
#define POOL 48
#define WPAGES 6
#define WRITERS 2
#define ITERATIONS 600
#define MAX_IDS 4096

struct race {
        struct ckpt_store *s;
        uint64_t seeds[MAX_IDS][WPAGES]; /* by checkpoint id */
        atomic_bool committed[MAX_IDS];
        atomic_int writers_left;
        atomic_int failures, enokey, gcs, lost;
};

static void *race_writer(void *userdata)
{
        struct race *rc = userdata;
        uint64_t x = (uint64_t)pthread_self();

        for (int it = 0; it < ITERATIONS; it++) {
                uint64_t seeds[WPAGES], id = 0;
                int r;

                for (int i = 0; i < WPAGES; i++) {
                        x = prng_mix(x + it + i);
                        seeds[i] = 1 + x % POOL;
                }
                r = commit_seeds(rc->s, OWNER, seeds, WPAGES, 0, &id);
                if (r == -ENOKEY) {
                        /* Stored before a gc began, dropped before the
                         * commit: refused, never committed broken. */
                        rc->enokey++;
                        continue;
                }
                if (r < 0 || id >= MAX_IDS) {
                        rc->failures++;
                        break;
                }
                memcpy(rc->seeds[id], seeds, sizeof(seeds));
                atomic_store(&rc->committed[id], true);
        }
        rc->writers_left--;
        return NULL;
}

/* Every checkpoint of the catalog that a writer finished recording. */
static bool race_check(struct race *rc)
{
        _cleanup_free_ struct store_catalog_entry *list = NULL;
        size_t n = 0;

        ASSERT_OK(store_list(rc->s, &list, &n));
        for (size_t i = 0; i < n; i++) {
                if (list[i].id >= MAX_IDS || !atomic_load(&rc->committed[list[i].id]))
                        continue;
                if (!view_is(rc->s, list[i].id, OWNER, rc->seeds[list[i].id], WPAGES)) {
                        fprintf(stderr, "# checkpoint %" PRIu64 " lost an object\n", list[i].id);
                        return false;
                }
        }
        return true;
}

static void *race_collector(void *userdata)
{
        struct race *rc = userdata;

        while (rc->writers_left > 0) {
                _cleanup_free_ struct store_catalog_entry *list = NULL;
                struct store_gc_result gr;
                size_t n = 0;

                if (store_list(rc->s, &list, &n) < 0) {
                        rc->failures++;
                        break;
                }
                for (size_t i = 0; i + 3 < n; i++)
                        if (store_delete(rc->s, list[i].id) < 0) {
                                rc->failures++;
                                return NULL;
                        }
                if (store_gc(rc->s, &gr) < 0) {
                        rc->failures++;
                        break;
                }
                rc->gcs++;
                if (!race_check(rc)) {
                        rc->lost++;
                        break;
                }
        }
        return NULL;
}

static bool test_gc_race(void)
{
        _cleanup_(store_freep) struct ckpt_store *s = NULL;
        _cleanup_free_ char *dir = scratch_new(top);
        _cleanup_free_ struct race *rc = calloc(1, sizeof(*rc));
        pthread_t w[WRITERS], g;

        ASSERT(dir && rc);
        ASSERT_OK(store_open(dir, NULL, &s));
        rc->s = s;
        rc->writers_left = WRITERS;
        for (int i = 0; i < WRITERS; i++)
                ASSERT_EQ(pthread_create(&w[i], NULL, race_writer, rc), 0);
        ASSERT_EQ(pthread_create(&g, NULL, race_collector, rc), 0);
        for (int i = 0; i < WRITERS; i++)
                pthread_join(w[i], NULL);
        pthread_join(g, NULL);
        fprintf(stderr, "# %d gcs during %d commits; %d commits refused with ENOKEY\n",
                (int)rc->gcs, WRITERS * ITERATIONS, (int)rc->enokey);
        ASSERT_EQ(rc->failures, 0);
        ASSERT_EQ(rc->enokey, 0);
        ASSERT_EQ(rc->lost, 0);
        ASSERT(rc->gcs > 0);
        ASSERT(race_check(rc));
        ASSERT_OK(store_gc(s, NULL));
        ASSERT(race_check(rc));
        ASSERT(verify_clean(s, 0));
        s = store_free(s);
        ASSERT_OK(store_open(dir, NULL, &s));
        rc->s = s;
        ASSERT(race_check(rc));
        return true;
}

/* store_keep_keys(): keys a checkpoint takes over from its parent survive a
 * gc that runs after the parent is deleted, and the checkpoint that uses
 * them commits; without it, such keys are collected (the commit then fails
 * with -ENOKEY). A parent that is gone, or of another owner, is refused. */
static bool test_keep_keys(void)
{
        _cleanup_(store_freep) struct ckpt_store *s = NULL;
        _cleanup_free_ char *dir = scratch_new(top);
        const uint64_t kept_seeds[] = {11, 12, 13, 14}, lost_seeds[] = {21, 22};
        uint64_t p, q, id;
        uint8_t want[PG], back[PG];

        ASSERT(dir);
        ASSERT_OK(store_open(dir, NULL, &s));
        ASSERT_OK(commit_seeds(s, OWNER, kept_seeds, 4, 0, &p));
        ASSERT_OK(commit_seeds(s, OWNER, lost_seeds, 2, 0, &q));

        for (int round = 0; round < 2; round++) {
                _cleanup_(manifest_freep) struct ckpt_manifest *v = NULL, *m = NULL;
                uint64_t parent = round == 0 ? p : q;
                const uint64_t *seeds = round == 0 ? kept_seeds : lost_seeds;

                ASSERT_OK(store_view(s, parent, &v));
                if (round == 0) {
                        ASSERT_EQ(store_keep_keys(s, OWNER + 1, parent, v->pages, v->n_pages),
                                  -ENOENT);
                        ASSERT_EQ(store_keep_keys(s, OWNER, 999999, v->pages, v->n_pages), -ENOENT);
                        ASSERT_OK(store_keep_keys(s, OWNER, parent, v->pages, v->n_pages));
                }
                ASSERT_OK(store_remove_checkpoint(s, parent));
                ASSERT_EQ(store_keep_keys(s, OWNER, parent, v->pages, v->n_pages), -ENOENT);
                ASSERT_OK(store_gc(s, NULL));

                /* A checkpoint made of the parent's keys. */
                m = calloc(1, sizeof(*m));
                ASSERT(m);
                ASSERT_OK(store_alloc_id(s, &id));
                m->id = id;
                m->kind = CKPT_MANIFEST_FULL;
                m->uid = OWNER;
                m->pid = 4242;
                ASSERT_OK(manifest_add_region(m, &(struct ckpt_region){.start = R0,
                                                                       .end = R0 + 8 * PG,
                                                                       .prot = 3,
                                                                       .flags = CKPT_REGION_ANON}));
                for (size_t i = 0; i < v->n_pages; i++)
                        ASSERT_OK(manifest_add_page(m, v->pages[i].addr, v->pages[i].kind,
                                                    v->pages[i].key));
                if (round == 1) {
                        ASSERT_EQ(store_commit(s, m), -ENOKEY);
                        continue;
                }
                ASSERT_OK(store_commit(s, m));
                for (size_t i = 0; i < v->n_pages; i++) {
                        fill_seed(want, seeds[(v->pages[i].addr - R0) / PG]);
                        ASSERT_OK(store_get_page(s, OWNER, v->pages[i].key, back));
                        ASSERT(memcmp(back, want, PG) == 0);
                }
        }
        ASSERT(verify_clean(s, 0));
        return true;
}

int main(void)
{
        if (!mkdtemp(top)) {
                printf("1..0 # SKIP cannot create a temporary directory\n");
                return 77;
        }
        plan(8);
        RUN(test_keyset);
        RUN(test_keyset_map);
        RUN(test_delete);
        RUN(test_verify);
        RUN(test_verify_cap);
        RUN(test_gc_exact);
        RUN(test_gc_packs);
        RUN(test_gc_race);
        RUN(test_keep_keys);
        if (tap_done() == 0)
                rm_rf(top);
        return tap_done();
}
