/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * verify.c: checking manifests, chains and objects (verify.h).
 *
 * Owns: how problems are worded and listed (deduplicated, at most
 * STORE_VERIFY_MAX_PROBLEMS). Reads through store.h only.
 */
#include "verify.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keyset.h"
#include "log.h"
#include "macro.h"

/* A referenced key's value in verify's map: its first referrer. */
struct keyset_value {
        uint64_t id, addr; /* checkpoint and page address */
};

struct verifier {
        struct ckpt_store *s;
        struct store_verify_result *res;
        size_t more; /* problems beyond the cap */
        int error;   /* out of memory while recording */
        uint32_t *packs;
        size_t n_packs;
        const struct store_progress *progress; /* objects checked of total */
        uint64_t done, total;
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
        const uint8_t *key;
        uint32_t owner;
        void *value;

        if (!buf)
                return -ENOMEM;
        for (size_t i = 0; store_keyset_next(refs, &i, &owner, &key, &value);) {
                const struct keyset_value *first = value;
                int r;

                r = check_object(v, owner, key, first->id, first->addr, buf);
                if (r < 0)
                        return r;
                v->res->checked_objects += r;
                store_progress_step(v->progress, &v->done, 1, v->total);
                if (v->error < 0)
                        return v->error;
        }
        return 0;
}

static int add_refs(struct store_keyset *refs, const struct ckpt_manifest *m)
{
        for (size_t i = 0; i < m->n_pages; i++) {
                void *value;
                int r;

                if (m->pages[i].kind != CKPT_PAGE_DATA)
                        continue;
                r = store_keyset_put(refs, m->uid, m->pages[i].key, &value);
                if (r < 0)
                        return r;
                if (r > 0)
                        *(struct keyset_value *)value =
                                (struct keyset_value){m->id, m->pages[i].addr};
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
        r = store_keyset_new_map(sizeof(struct keyset_value), &refs);
        if (r < 0)
                return r;
        r = add_refs(refs, view);
        if (r < 0)
                return r;
        v->total = store_keyset_size(refs);
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

/* What verify_all() checks, listed once. */
struct listing {
        struct store_catalog_entry *list;
        size_t n;
        uint64_t *files; /* manifest files present */
        size_t n_files;
        uint64_t *ids, *parents; /* by catalog entry */
        bool *readable;
        struct store_keyset *refs; /* every listed key -> its first referrer */
};

static void listing_done(struct listing *l)
{
        free(l->list);
        free(l->files);
        free(l->ids);
        free(l->parents);
        free(l->readable);
        store_keyset_free(l->refs);
}

/* Step 1: a consistent listing (no commit between its manifest file and its
 * catalog entry, no delete between the two). */
static int verify_listing(struct verifier *v, struct listing *l)
{
        int r;

        store_block_commits(v->s);
        r = store_list(v->s, &l->list, &l->n);
        if (r == 0)
                r = store_list_manifests(v->s, &l->files, &l->n_files);
        store_unblock_commits(v->s);
        if (r < 0)
                return r;
        l->ids = calloc(MAX(l->n, (size_t)1), sizeof(*l->ids));
        l->readable = calloc(MAX(l->n, (size_t)1), sizeof(*l->readable));
        l->parents = calloc(MAX(l->n, (size_t)1), sizeof(*l->parents));
        if (!l->ids || !l->readable || !l->parents)
                return -ENOMEM;
        for (size_t i = 0; i < l->n; i++)
                l->ids[i] = l->list[i].id;
        for (size_t i = 0; i < l->n_files; i++)
                if (!id_in(l->ids, l->n, l->files[i]))
                        problem(v,
                                "manifest file %020" PRIu64 " is not in the catalog "
                                "(left by an interrupted commit or delete)",
                                l->files[i]);
        return 0;
}

/* Step 2: every manifest parses, matches its entry, and its keys. */
static int verify_manifests(struct verifier *v, struct listing *l)
{
        int r;

        r = store_keyset_new_map(sizeof(struct keyset_value), &l->refs);
        if (r < 0)
                return r;
        for (size_t i = 0; i < l->n; i++) {
                _cleanup_(manifest_freep) struct ckpt_manifest *m = NULL;
                uint64_t id = l->ids[i];
                struct store_catalog_entry e;

                if (!id_in(l->files, l->n_files, id)) {
                        problem_manifest(v, id, -ENOENT);
                        continue;
                }
                r = store_load(v->s, id, &m);
                if (r == -ENOMEM)
                        return r;
                if (r < 0) {
                        /* Deleted since the listing: not a problem. */
                        if (store_get_entry(v->s, id, &e) == -ENOENT)
                                continue;
                        problem_manifest(v, id, r);
                        continue;
                }
                v->res->checked_manifests++;
                l->readable[i] = true;
                if (m->uid != l->list[i].uid)
                        problem(v,
                                "checkpoint %" PRIu64 ": manifest owner %" PRIu32
                                " differs from the catalog's %" PRIu32,
                                id, m->uid, l->list[i].uid);
                if (m->kind == CKPT_MANIFEST_DELTA) {
                        l->parents[i] = m->parent;
                        if (m->parent == 0 || m->parent >= m->id)
                                problem(v, "checkpoint %" PRIu64 ": delta without a valid parent",
                                        id);
                        else if (!id_in(l->ids, l->n, m->parent))
                                problem(v,
                                        "checkpoint %" PRIu64 ": its parent %" PRIu64
                                        " is not in the catalog",
                                        id, m->parent);
                }
                r = add_refs(l->refs, m);
                if (r < 0)
                        return r;
                if (v->error < 0)
                        return v->error;
        }
        return 0;
}

/* Step 3: every chain resolves (a parent that is itself unreadable breaks
 * its descendants; ids ascend, parents come first). */
static void verify_chains(struct verifier *v, struct listing *l)
{
        for (size_t i = 0; i < l->n; i++) {
                uint64_t *p;
                size_t k;

                if (!l->readable[i] || l->parents[i] == 0)
                        continue;
                p = bsearch(&l->parents[i], l->ids, i, sizeof(*l->ids), cmp_id);
                if (!p) {
                        l->readable[i] = false; /* reported above */
                        continue;
                }
                k = (size_t)(p - l->ids);
                if (!l->readable[k]) {
                        problem(v,
                                "checkpoint %" PRIu64
                                ": its chain is broken at checkpoint %" PRIu64,
                                l->ids[i], l->parents[i]);
                        l->readable[i] = false;
                }
        }
}

/* Step 5: every object of the index that no manifest lists. */
static int verify_unreferenced(struct verifier *v, const struct store_keyset *refs)
{
        _cleanup_free_ uint8_t *buf = NULL;
        struct index_walk w = {};
        int r;

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
                store_progress_step(v->progress, &v->done, 1, v->total);
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

/* The whole store: catalog against manifest files, every manifest, every
 * chain, every referenced key, then every object of the index. */
static int verify_all(struct verifier *v)
{
        struct listing l = {};
        int r;

        r = verify_listing(v, &l);
        if (r == 0)
                r = verify_manifests(v, &l);
        if (r == 0) {
                struct store_stats st = {};

                verify_chains(v, &l);
                /* Step 4: every object some manifest lists, then (5) those
                 * of the index: the progress counts both. */
                (void)store_stats(v->s, &st);
                v->total = store_keyset_size(l.refs) + st.objects;
                r = store_list_packs(v->s, &v->packs, &v->n_packs);
        }
        if (r == 0)
                r = check_referenced(v, l.refs);
        if (r == 0)
                r = verify_unreferenced(v, l.refs);
        listing_done(&l);
        return r;
}

int store_verify(struct ckpt_store *s, uint64_t id, struct store_verify_result *ret)
{
        return store_verify_progress(s, id, NULL, ret);
}

int store_verify_progress(struct ckpt_store *s, uint64_t id, const struct store_progress *progress,
                          struct store_verify_result *ret)
{
        struct store_verify_result res = {};
        struct verifier v = {.s = s, .res = &res, .progress = progress};
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
        /* The index may have held fewer objects than counted at the start. */
        store_progress_step(progress, &v.done, v.total - v.done, v.total);
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
