/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * store-gc.c: the health of the store over time (see store-gc.h): deleting
 * checkpoints without breaking later ones, verifying manifests and objects,
 * and reclaiming objects no manifest refers to.
 *
 * Owns: the policy only (which checkpoints to rewrite before a delete, what
 * is live, which packs are worth rewriting, how problems are worded). Every
 * change on disk goes through the primitives of store.c, which keep the
 * crash-safety order; this module never writes a file itself.
 */
#include "store-gc.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "macro.h"

#define PACK_OBJECT_HEADER sizeof(struct ckpt_pack_object)

/* ------------------------------------------------------------------ key sets */

struct keyset_value {
        uint64_t id, addr; /* first referrer: checkpoint and page address */
};

struct store_keyset {
        uint8_t (*keys)[36]; /* owner (little-endian) + sha256 */
        uint8_t *used;
        struct keyset_value *values; /* NULL unless made with values */
        size_t n, n_slots;           /* n_slots: a power of two */
};

static uint64_t keyset_hash(uint32_t owner, const uint8_t key[32])
{
        uint64_t h;

        /* The key is a SHA-256 already: its first bytes are uniform. */
        memcpy(&h, key, sizeof(h));
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

static uint32_t keyset_owner(const uint8_t k[36])
{
        return (uint32_t)k[0] | (uint32_t)k[1] << 8 | (uint32_t)k[2] << 16 | (uint32_t)k[3] << 24;
}

/* The slot holding the key, or the empty slot where it would go. */
static size_t keyset_slot(const struct store_keyset *k, const uint8_t packed[36], bool *ret_found)
{
        size_t mask = k->n_slots - 1, i;

        for (i = keyset_hash(keyset_owner(packed), packed + 4) & mask; k->used[i];
             i = (i + 1) & mask)
                if (memcmp(k->keys[i], packed, 36) == 0) {
                        *ret_found = true;
                        return i;
                }
        *ret_found = false;
        return i;
}

static int keyset_alloc(size_t n_slots, bool values, struct store_keyset *ret)
{
        *ret = (struct store_keyset){.n_slots = n_slots};
        ret->keys = malloc(n_slots * sizeof(*ret->keys));
        ret->used = calloc(n_slots, 1);
        if (values)
                ret->values = malloc(n_slots * sizeof(*ret->values));
        if (!ret->keys || !ret->used || (values && !ret->values)) {
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

        if (k->n_slots > SIZE_MAX / 2 / sizeof(*k->keys))
                return -ENOMEM;
        r = keyset_alloc(k->n_slots * 2, k->values != NULL, &g);
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
                        g.values[j] = k->values[i];
        }
        g.n = k->n;
        free(k->keys);
        free(k->used);
        free(k->values);
        *k = g;
        return 0;
}

static int keyset_new_full(bool values, struct store_keyset **ret)
{
        struct store_keyset *k = calloc(1, sizeof(*k));
        int r;

        if (!k)
                return -ENOMEM;
        r = keyset_alloc(1024, values, k);
        if (r < 0) {
                free(k);
                return r;
        }
        *ret = k;
        return 0;
}

int store_keyset_new(struct store_keyset **ret)
{
        if (!ret)
                return -EINVAL;
        return keyset_new_full(false, ret);
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

static inline void store_keyset_freep(struct store_keyset **k)
{
        store_keyset_free(*k);
}

/* 1: added (its slot in *ret_slot), 0: present (ditto). */
static int keyset_add_slot(struct store_keyset *k, uint32_t owner, const uint8_t key[32],
                           size_t *ret_slot)
{
        uint8_t packed[36];
        bool found;
        size_t i;
        int r;

        keyset_pack(owner, key, packed);
        if ((k->n + 1) * 10 > k->n_slots * 7) {
                r = keyset_grow(k);
                if (r < 0)
                        return r;
        }
        i = keyset_slot(k, packed, &found);
        *ret_slot = i;
        if (found)
                return 0;
        memcpy(k->keys[i], packed, 36);
        k->used[i] = 1;
        k->n++;
        return 1;
}

int store_keyset_add(struct store_keyset *k, uint32_t owner, const uint8_t key[32])
{
        size_t slot;

        if (!k || !key)
                return -EINVAL;
        return keyset_add_slot(k, owner, key, &slot);
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
                size_t h = keyset_hash(keyset_owner(k->keys[j]), k->keys[j] + 4) & mask;
                bool stays = i <= j ? (i < h && h <= j) : (i < h || h <= j);

                if (stays)
                        continue;
                memcpy(k->keys[i], k->keys[j], 36);
                if (k->values)
                        k->values[i] = k->values[j];
                i = j;
        }
        k->used[i] = 0;
        k->n--;
        return 1;
}

bool store_keyset_contains(const struct store_keyset *k, uint32_t owner, const uint8_t key[32])
{
        uint8_t packed[36];
        bool found;

        if (!k || !key)
                return false;
        keyset_pack(owner, key, packed);
        (void)keyset_slot(k, packed, &found);
        return found;
}

size_t store_keyset_size(const struct store_keyset *k)
{
        return k ? k->n : 0;
}

/* ------------------------------------------------------------------- delete */

int store_delete(struct ckpt_store *s, uint64_t id)
{
        _cleanup_free_ struct store_catalog_entry *list = NULL;
        _cleanup_(manifest_freep) struct ckpt_manifest *view = NULL;
        struct store_catalog_entry e;
        bool broken;
        size_t n = 0;
        int r;

        if (!s || id == 0)
                return -EINVAL;

        /* No commit may pick id as its parent while its children are being
         * rewritten, nor a delete run beside this one. */
        store_block_commits(s);
        r = store_get_entry(s, id, &e);
        if (r < 0)
                goto out;
        r = store_list(s, &list, &n);
        if (r < 0)
                goto out;
        /* A checkpoint whose own view is damaged can still be deleted (that
         * is how a store is cleaned up); its DELTA children were unreadable
         * already and stay so. */
        r = store_view(s, id, &view);
        if (r == -ENOMEM)
                goto out;
        broken = r == -EBADMSG || r == -ENOENT || r == -EUCLEAN;

        /* Step 1: every child stands alone (a DELTA becomes its FULL view);
         * a crash after any of them leaves both readable. */
        for (size_t i = 0; i < n; i++) {
                if (list[i].parent != id || list[i].id == id)
                        continue;
                r = store_detach(s, list[i].id);
                if (r == -EBADMSG && broken) {
                        log_debug("store: checkpoint %" PRIu64 " stays unreadable: its parent "
                                  "%" PRIu64 " is damaged",
                                  list[i].id, id);
                        continue;
                }
                if (r < 0) {
                        log_debug_errno(
                                r, "store: cannot rewrite checkpoint %" PRIu64 " on its own: %m",
                                list[i].id);
                        goto out;
                }
        }

        /* Step 2: the catalog entry, then the manifest file. */
        r = store_remove_checkpoint(s, id);
out:
        store_unblock_commits(s);
        return r;
}

/* ------------------------------------------------------------------- verify */

struct verifier {
        struct ckpt_store *s;
        struct store_verify_result *res;
        size_t more; /* problems beyond the cap */
        int error;   /* out of memory while recording */
        uint32_t *packs;
        size_t n_packs;
};

static void key_hex(const uint8_t key[32], char ret[65])
{
        for (size_t i = 0; i < 32; i++)
                snprintf(ret + 2 * i, 3, "%02x", key[i]);
}

_printf_(2, 3) static void problem(struct verifier *v, const char *fmt, ...)
{
        struct store_verify_result *res = v->res;
        struct store_problem *p;
        char *what = NULL;
        va_list ap;
        int k;

        va_start(ap, fmt);
        k = vasprintf(&what, fmt, ap);
        va_end(ap);
        if (k < 0) {
                v->error = -ENOMEM;
                return;
        }
        for (size_t i = 0; i < res->n_problems; i++)
                if (strcmp(res->problems[i].what, what) == 0) {
                        free(what);
                        return;
                }
        if (res->n_problems >= STORE_VERIFY_MAX_PROBLEMS) {
                v->more++;
                free(what);
                return;
        }
        p = realloc(res->problems, (res->n_problems + 1) * sizeof(*p));
        if (!p) {
                free(what);
                v->error = -ENOMEM;
                return;
        }
        res->problems = p;
        res->problems[res->n_problems++].what = what;
        log_debug("store: verify: %s", what);
}

static const char *manifest_error(int r)
{
        switch (r) {
        case -ENOENT:
                return "manifest is missing";
        case -EBADMSG:
                return "manifest is corrupt";
        default:
                return NULL;
        }
}

static void problem_manifest(struct verifier *v, uint64_t id, int r)
{
        const char *what = manifest_error(r);

        if (what)
                problem(v, "checkpoint %" PRIu64 ": %s", id, what);
        else
                problem(v, "checkpoint %" PRIu64 ": manifest cannot be read: %s", id, strerror(-r));
}

static bool pack_present(const struct verifier *v, uint32_t pack)
{
        for (size_t i = 0; i < v->n_packs; i++)
                if (v->packs[i] == pack)
                        return true;
        return false;
}

/*
 * Read one object back (header, decompression, hash: store_get_page()).
 * referrer_id 0: an object of the index, referred to by nothing known here.
 * Returns 1 when it was checked, 0 when it vanished meanwhile (a gc moved or
 * dropped it, or its checkpoint was deleted), <0 on errors verify cannot get
 * past.
 */
static int check_object(struct verifier *v, uint32_t owner, const uint8_t key[32],
                        uint64_t referrer_id, uint64_t referrer_addr, uint8_t *buf)
{
        struct store_catalog_entry e;
        struct store_object o;
        char hex[65];
        int r;

        r = store_get_page(v->s, owner, key, buf);
        if (r == 0)
                return 1;
        if (r == -ENOMEM)
                return r;
        key_hex(key, hex);
        if (r == -ENOENT) {
                /* Missing is a problem only while something still needs it. */
                if (referrer_id == 0 || store_get_entry(v->s, referrer_id, &e) < 0)
                        return 0;
                problem(v,
                        "checkpoint %" PRIu64 ": page %#" PRIx64
                        " refers to missing object %" PRIu32 "/%s",
                        referrer_id, referrer_addr, owner, hex);
                return 1;
        }
        if (store_locate_object(v->s, owner, key, &o) < 0) {
                if (referrer_id == 0 || store_get_entry(v->s, referrer_id, &e) < 0)
                        return 0;
                problem(v, "object %" PRIu32 "/%s: cannot be read: %s", owner, hex, strerror(-r));
                return 1;
        }
        if (r == -EBADMSG && !pack_present(v, o.pack)) {
                /* A gc may have written it to a pack started since. */
                free(v->packs);
                v->packs = NULL;
                v->n_packs = 0;
                if (store_list_packs(v->s, &v->packs, &v->n_packs) < 0)
                        return -ENOMEM;
        }
        if (r == -EBADMSG && !pack_present(v, o.pack))
                problem(v,
                        "object %" PRIu32 "/%s in pack-%08" PRIu32 ".pack at offset %" PRIu64
                        ": the pack file is missing",
                        owner, hex, o.pack, o.offset);
        else if (r == -EBADMSG)
                problem(v,
                        "object %" PRIu32 "/%s in pack-%08" PRIu32 ".pack at offset %" PRIu64
                        ": content does not match its key",
                        owner, hex, o.pack, o.offset);
        else
                problem(v,
                        "object %" PRIu32 "/%s in pack-%08" PRIu32 ".pack at offset %" PRIu64
                        ": cannot be read: %s",
                        owner, hex, o.pack, o.offset, strerror(-r));
        return 1;
}

/* Every key of refs, with its first referrer. */
static int check_referenced(struct verifier *v, const struct store_keyset *refs)
{
        _cleanup_free_ uint8_t *buf = malloc(PAGE);

        if (!buf)
                return -ENOMEM;
        for (size_t i = 0; i < refs->n_slots; i++) {
                int r;

                if (!refs->used[i])
                        continue;
                r = check_object(v, keyset_owner(refs->keys[i]), refs->keys[i] + 4,
                                 refs->values[i].id, refs->values[i].addr, buf);
                if (r < 0)
                        return r;
                v->res->checked_objects += r;
                if (v->error < 0)
                        return v->error;
        }
        return 0;
}

static int add_refs(struct store_keyset *refs, const struct ckpt_manifest *m)
{
        for (size_t i = 0; i < m->n_pages; i++) {
                size_t slot;
                int r;

                if (m->pages[i].kind != CKPT_PAGE_DATA)
                        continue;
                r = keyset_add_slot(refs, m->uid, m->pages[i].key, &slot);
                if (r < 0)
                        return r;
                if (r > 0)
                        refs->values[slot] = (struct keyset_value){m->id, m->pages[i].addr};
        }
        return 0;
}

/* One checkpoint: its chain, then the objects of its view. */
static int verify_one(struct verifier *v, uint64_t id)
{
        _cleanup_(store_keyset_freep) struct store_keyset *refs = NULL;
        _cleanup_(manifest_freep) struct ckpt_manifest *view = NULL;
        uint64_t cur = id;
        int r;

        for (;;) {
                _cleanup_(manifest_freep) struct ckpt_manifest *m = NULL;

                r = store_load(v->s, cur, &m);
                if (r == -ENOMEM)
                        return r;
                if (r < 0) {
                        if (cur == id)
                                problem_manifest(v, id, r);
                        else
                                problem(v,
                                        "checkpoint %" PRIu64 ": its chain is broken: "
                                        "checkpoint %" PRIu64 ": %s",
                                        id, cur, manifest_error(r) ?: strerror(-r));
                        return 0;
                }
                v->res->checked_manifests++;
                if (m->kind == CKPT_MANIFEST_FULL)
                        break;
                if (m->parent == 0 || m->parent >= cur) {
                        problem(v, "checkpoint %" PRIu64 ": delta without a valid parent", cur);
                        return 0;
                }
                cur = m->parent;
        }

        r = store_view(v->s, id, &view);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                problem(v, "checkpoint %" PRIu64 ": its view cannot be resolved: %s", id,
                        strerror(-r));
                return 0;
        }
        r = keyset_new_full(true, &refs);
        if (r < 0)
                return r;
        r = add_refs(refs, view);
        if (r < 0)
                return r;
        return check_referenced(v, refs);
}

struct index_walk {
        struct store_object *v;
        size_t n, cap;
};

static int collect_object(const struct store_object *o, void *userdata)
{
        struct index_walk *w = userdata;

        if (w->n == w->cap) {
                size_t cap = MAX((size_t)1024, w->cap * 2);
                struct store_object *nv = realloc(w->v, cap * sizeof(*nv));

                if (!nv)
                        return -ENOMEM;
                w->v = nv;
                w->cap = cap;
        }
        w->v[w->n++] = *o;
        return 0;
}

static int cmp_id(const void *a, const void *b)
{
        uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

        return x < y ? -1 : x > y;
}

static bool id_in(const uint64_t *v, size_t n, uint64_t id)
{
        size_t lo = 0, hi = n;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;

                if (v[mid] == id)
                        return true;
                if (v[mid] < id)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return false;
}

/* The whole store: catalog against manifest files, every manifest, every
 * chain, every referenced key, then every object of the index. */
static int verify_all(struct verifier *v)
{
        _cleanup_free_ struct store_catalog_entry *list = NULL;
        _cleanup_free_ uint64_t *files = NULL, *ids = NULL, *parents = NULL;
        _cleanup_free_ bool *readable = NULL;
        _cleanup_(store_keyset_freep) struct store_keyset *refs = NULL;
        _cleanup_free_ uint8_t *buf = NULL;
        struct index_walk w = {};
        size_t n = 0, n_files = 0;
        int r;

        /* Step 1: a consistent listing (no commit between its manifest file
         * and its catalog entry, no delete between the two). */
        store_block_commits(v->s);
        r = store_list(v->s, &list, &n);
        if (r == 0)
                r = store_list_manifests(v->s, &files, &n_files);
        store_unblock_commits(v->s);
        if (r < 0)
                return r;
        ids = calloc(MAX(n, (size_t)1), sizeof(*ids));
        readable = calloc(MAX(n, (size_t)1), sizeof(*readable));
        parents = calloc(MAX(n, (size_t)1), sizeof(*parents));
        if (!ids || !readable || !parents)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                ids[i] = list[i].id;
        for (size_t i = 0; i < n_files; i++)
                if (!id_in(ids, n, files[i]))
                        problem(v,
                                "manifest file %020" PRIu64 " is not in the catalog "
                                "(left by an interrupted commit or delete)",
                                files[i]);

        /* Step 2: every manifest parses, matches its entry, and its keys. */
        r = keyset_new_full(true, &refs);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                _cleanup_(manifest_freep) struct ckpt_manifest *m = NULL;
                struct store_catalog_entry e;

                if (!id_in(files, n_files, ids[i])) {
                        problem_manifest(v, ids[i], -ENOENT);
                        continue;
                }
                r = store_load(v->s, ids[i], &m);
                if (r == -ENOMEM)
                        return r;
                if (r < 0) {
                        /* Deleted since the listing: not a problem. */
                        if (store_get_entry(v->s, ids[i], &e) == -ENOENT)
                                continue;
                        problem_manifest(v, ids[i], r);
                        continue;
                }
                v->res->checked_manifests++;
                readable[i] = true;
                if (m->uid != list[i].uid)
                        problem(v,
                                "checkpoint %" PRIu64 ": manifest owner %" PRIu32
                                " differs from the catalog's %" PRIu32,
                                ids[i], m->uid, list[i].uid);
                if (m->kind == CKPT_MANIFEST_DELTA) {
                        parents[i] = m->parent;
                        if (m->parent == 0 || m->parent >= m->id)
                                problem(v, "checkpoint %" PRIu64 ": delta without a valid parent",
                                        ids[i]);
                        else if (!id_in(ids, n, m->parent))
                                problem(v,
                                        "checkpoint %" PRIu64 ": its parent %" PRIu64
                                        " is not in the catalog",
                                        ids[i], m->parent);
                }
                r = add_refs(refs, m);
                if (r < 0)
                        return r;
                if (v->error < 0)
                        return v->error;
        }

        /* Step 3: every chain resolves (a parent that is itself unreadable
         * breaks its descendants; ids ascend, parents come first). */
        for (size_t i = 0; i < n; i++) {
                uint64_t *p;
                size_t k;

                if (!readable[i] || parents[i] == 0)
                        continue;
                p = bsearch(&parents[i], ids, i, sizeof(*ids), cmp_id);
                if (!p) {
                        readable[i] = false; /* reported above */
                        continue;
                }
                k = (size_t)(p - ids);
                if (!readable[k]) {
                        problem(v,
                                "checkpoint %" PRIu64
                                ": its chain is broken at checkpoint %" PRIu64,
                                ids[i], parents[i]);
                        readable[i] = false;
                }
        }

        /* Step 4: every object some manifest lists. */
        r = store_list_packs(v->s, &v->packs, &v->n_packs);
        if (r < 0)
                return r;
        r = check_referenced(v, refs);
        if (r < 0)
                return r;

        /* Step 5: every object of the index, referenced or not. */
        r = store_foreach_object(v->s, collect_object, &w);
        if (r < 0) {
                free(w.v);
                return r;
        }
        buf = malloc(PAGE);
        if (!buf) {
                free(w.v);
                return -ENOMEM;
        }
        for (size_t i = 0; i < w.n && r >= 0; i++) {
                if (store_keyset_contains(refs, w.v[i].owner, w.v[i].key))
                        continue;
                r = check_object(v, w.v[i].owner, w.v[i].key, 0, 0, buf);
                if (r > 0)
                        v->res->checked_objects++;
                if (v->error < 0)
                        r = v->error;
        }
        free(w.v);
        return r < 0 ? r : 0;
}

int store_verify(struct ckpt_store *s, uint64_t id, struct store_verify_result *ret)
{
        struct store_verify_result res = {};
        struct verifier v = {.s = s, .res = &res};
        struct store_catalog_entry e;
        int r;

        if (!s || !ret)
                return -EINVAL;
        if (id != 0) {
                r = store_get_entry(s, id, &e);
                if (r < 0)
                        return r;
                r = store_list_packs(s, &v.packs, &v.n_packs);
                if (r == 0)
                        r = verify_one(&v, id);
        } else
                r = verify_all(&v);
        if (r == 0 && v.error < 0)
                r = v.error;
        if (r == 0 && v.more > 0) {
                struct store_problem *p = realloc(res.problems, (res.n_problems + 1) * sizeof(*p));
                char *what = NULL;

                if (!p || asprintf(&what, "and %zu more problems", v.more) < 0) {
                        if (p)
                                res.problems = p;
                        r = -ENOMEM;
                } else {
                        res.problems = p;
                        res.problems[res.n_problems++].what = what;
                }
        }
        free(v.packs);
        if (r < 0) {
                store_verify_result_done(&res);
                return r;
        }
        *ret = res;
        return 0;
}

void store_verify_result_done(struct store_verify_result *r)
{
        if (!r)
                return;
        for (size_t i = 0; i < r->n_problems; i++)
                free(r->problems[i].what);
        free(r->problems);
        r->problems = NULL;
        r->n_problems = 0;
}

/* ----------------------------------------------------------------------- gc */

/* One gc at a time: two would only repack the same packs twice. */
static pthread_mutex_t gc_serial = PTHREAD_MUTEX_INITIALIZER;

struct gc_ctx {
        struct ckpt_store *s;
        struct store_keyset *marked;
};

static bool gc_live(uint32_t owner, const uint8_t key[32], void *userdata)
{
        struct gc_ctx *c = userdata;

        return store_keyset_contains(c->marked, owner, key) || store_gc_protected(c->s, owner, key);
}

/* Mark: every DATA key of every manifest, per owner. The catalog's
 * checkpoints must all be readable: gc does not reclaim what a damaged
 * manifest might still refer to. Manifest files without an entry are
 * marked too when they parse (cheap caution). */
static int gc_mark(struct ckpt_store *s, struct store_keyset *marked)
{
        _cleanup_free_ struct store_catalog_entry *list = NULL;
        _cleanup_free_ uint64_t *files = NULL;
        size_t n = 0, n_files = 0;
        int r;

        r = store_list(s, &list, &n);
        if (r < 0)
                return r;
        r = store_list_manifests(s, &files, &n_files);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n + n_files; i++) {
                _cleanup_(manifest_freep) struct ckpt_manifest *m = NULL;
                bool in_catalog = i < n;
                uint64_t id = in_catalog ? list[i].id : files[i - n];
                struct store_catalog_entry e;

                r = store_load(s, id, &m);
                if (r == -ENOMEM)
                        return r;
                if (r < 0) {
                        if (!in_catalog || store_get_entry(s, id, &e) == -ENOENT)
                                continue; /* an orphan, or deleted meanwhile */
                        return log_debug_errno(r,
                                               "store: gc: checkpoint %" PRIu64
                                               " cannot be read, not reclaiming: %m",
                                               id);
                }
                for (size_t k = 0; k < m->n_pages; k++) {
                        if (m->pages[k].kind != CKPT_PAGE_DATA)
                                continue;
                        r = store_keyset_add(marked, m->uid, m->pages[k].key);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

struct pack_usage {
        uint64_t objects, bytes, dead_objects, dead_bytes;
};

struct usage_ctx {
        struct gc_ctx *gc;
        struct pack_usage *v;
        size_t n;
};

static int count_usage(const struct store_object *o, void *userdata)
{
        struct usage_ctx *u = userdata;
        uint64_t len = PACK_OBJECT_HEADER + o->clen;
        struct pack_usage *p;

        if (o->pack >= u->n) {
                size_t n = MAX((size_t)o->pack + 1, u->n * 2);
                struct pack_usage *v = realloc(u->v, n * sizeof(*v));

                if (!v)
                        return -ENOMEM;
                memset(v + u->n, 0, (n - u->n) * sizeof(*v));
                u->v = v;
                u->n = n;
        }
        p = &u->v[o->pack];
        p->objects++;
        p->bytes += len;
        if (!gc_live(o->owner, o->key, u->gc)) {
                p->dead_objects++;
                p->dead_bytes += len;
        }
        return 0;
}

static int gc_locked(struct ckpt_store *s, struct store_gc_result *ret)
{
        _cleanup_(store_keyset_freep) struct store_keyset *marked = NULL;
        _cleanup_free_ uint32_t *packs = NULL;
        struct store_gc_result res = {};
        struct gc_ctx c = {.s = s};
        struct usage_ctx u = {.gc = &c};
        size_t n_packs = 0;
        uint32_t current;
        int r;

        /* Step 1: mark. */
        r = store_keyset_new(&marked);
        if (r < 0)
                return r;
        c.marked = marked;
        r = gc_mark(s, marked);
        if (r < 0)
                return r;

        /* Step 2: how much of each pack is dead. The packs are listed first:
         * a pack older than the newest one then receives no more objects, and
         * the walk (which syncs) sees all of its objects. */
        r = store_list_packs(s, &packs, &n_packs);
        if (r < 0)
                return r;
        if (n_packs == 0)
                goto done;
        current = packs[n_packs - 1];
        r = store_foreach_object(s, count_usage, &u);
        if (r < 0)
                goto out;

        /* Step 3: sweep. store_repack() decides again, object by object and
         * under the store's write lock, with the same live(): the figures
         * above only choose the packs. */
        for (size_t i = 0; i < n_packs; i++) {
                struct pack_usage pu = packs[i] < u.n ? u.v[packs[i]] : (struct pack_usage){};
                struct store_repack_result rr = {};
                uint64_t size = 0, data, live, dead;

                /* Dead: every byte no live indexed object uses, records a
                 * crash left unindexed included. */
                r = store_pack_size(s, packs[i], &size);
                if (r == -ENOENT)
                        continue;
                if (r < 0)
                        goto out;
                data = size > sizeof(struct ckpt_pack_header) ? size - sizeof(struct ckpt_pack_header)
                                                              : 0;
                live = pu.bytes - pu.dead_bytes;
                dead = data > live ? data - live : 0;
                if (packs[i] == current) {
                        /* Rewriting the pack being appended to pays only when
                         * much of it is dead. */
                        if (dead == 0 || dead * 4 < data)
                                continue;
                } else if (pu.objects > 0 && dead == 0)
                        continue;
                /* (An older pack without objects is only removed.) */
                r = store_repack(s, packs[i], gc_live, &c, &rr);
                if (r == -ENOENT)
                        continue; /* gone meanwhile */
                if (r < 0) {
                        log_debug_errno(r, "store: gc: repacking pack %" PRIu32 " failed: %m",
                                        packs[i]);
                        goto out;
                }
                res.objects_removed += rr.objects_removed;
                res.bytes_reclaimed += rr.bytes_removed;
                res.packs_rewritten++;
        }
done:
        if (ret)
                *ret = res;
        r = 0;
out:
        free(u.v);
        return r;
}

int store_gc(struct ckpt_store *s, struct store_gc_result *ret)
{
        int r;

        if (!s)
                return -EINVAL;
        pthread_mutex_lock(&gc_serial);
        r = store_gc_begin(s);
        if (r == 0) {
                r = gc_locked(s, ret);
                store_gc_end(s);
        }
        pthread_mutex_unlock(&gc_serial);
        if (r == 0 && ret)
                log_debug("store: gc: %" PRIu64 " objects removed, %" PRIu64
                          " bytes reclaimed, %" PRIu64 " packs rewritten",
                          ret->objects_removed, ret->bytes_reclaimed, ret->packs_rewritten);
        return r;
}
