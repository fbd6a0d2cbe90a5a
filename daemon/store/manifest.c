/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * manifest.c: the in-memory checkpoint manifest, its binary encoding
 * (include/ckpt/manifest.h) and the delta algebra between views.
 *
 * Owns: manifest lifetimes, growth of its arrays, serialise/parse, validation,
 * compute/apply of deltas. Never touches files or the store: callers hand it
 * buffers. Parsing treats its input as hostile: every count and length is
 * checked against what is left of the buffer before anything is allocated or
 * read, and any damage is -EBADMSG, never a crash.
 */
#include "manifest.h"

#include <assert.h>
#include <endian.h>
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "sha256.h"

_Static_assert(sizeof(struct ckpt_disk_header) == 168, "disk header size");
_Static_assert(sizeof(struct ckpt_disk_range) == 16, "disk range size");
_Static_assert(sizeof(struct ckpt_disk_group) == 16, "disk group size");
_Static_assert(sizeof(struct ckpt_disk_region) == 64, "disk region size");
_Static_assert(sizeof(struct ckpt_disk_thread) == 16, "disk thread size");
_Static_assert(sizeof(struct ckpt_disk_page) == 48, "disk page size");
_Static_assert(sizeof(struct ckpt_disk_identity) == 40, "disk identity size");
_Static_assert(sizeof(struct ckpt_disk_reason) == 16, "disk reason size");
_Static_assert(sizeof(CKPT_MANIFEST_MAGIC) == 9, "magic is 8 bytes and a NUL");

#define MF_KNOWN_FLAGS (CKPT_MF_FULL_READ | CKPT_MF_RANGES | CKPT_MF_ALL | CKPT_MF_STOPPED)
#define REGION_KNOWN_FLAGS 0x1ffu
#define PROT_KNOWN 0x7u /* PROT_READ | PROT_WRITE | PROT_EXEC */

const char *ckpt_track_mode_to_string(enum ckpt_track_mode m)
{
        static const char *const names[_CKPT_TRACK_MAX] = {
                [CKPT_TRACK_SCAN] = "scan",
                [CKPT_TRACK_UFFD_WP] = "uffd-wp",
                [CKPT_TRACK_SOFT_DIRTY] = "soft-dirty",
                [CKPT_TRACK_REF] = "reference",
        };

        if ((unsigned)m >= _CKPT_TRACK_MAX)
                return NULL;
        return names[m];
}

const char *ckpt_track_reason_format(uint32_t reason, uint64_t arg, char *buf, size_t size)
{
        static const char *const text[_CKPT_REASON_MAX] = {
                [CKPT_REASON_NONE] = "",
                [CKPT_REASON_SHARED_ONLY_MAPPER] = "shared: only mapper",
                [CKPT_REASON_SHARED_OTHER_MAPPER] = "shared: other mapper pid %llu",
                [CKPT_REASON_SHARED_ATTACHED] = "shared: %llu attachments, not all of this process",
                [CKPT_REASON_SHARED_ATTACH_CHANGED] =
                        "shared: attached or detached since the last checkpoint",
                [CKPT_REASON_SHARED_FORKED] = "shared: forked since the last checkpoint",
                [CKPT_REASON_SHARED_PROVING] = "shared: mappers not proven before",
                [CKPT_REASON_SHARED_UNREADABLE] = "shared: cannot read the mappings of pid %llu",
                [CKPT_REASON_SHARED_NO_EVENTS] = "shared: forks not seen",
                [CKPT_REASON_SHARED_IPC_NS] = "shared: SysV segment of another IPC namespace",
                [CKPT_REASON_MEMFD] = "memfd",
                [CKPT_REASON_SHARED_FILE] = "shared file",
                [CKPT_REASON_HUGETLB] = "hugetlb",
                [CKPT_REASON_NO_SHMEM_WP] = "kernel lacks shmem write-protection",
                [CKPT_REASON_NOT_ARMED] = "not write-protected",
        };
        const char *t, *num;

        if (size == 0)
                return buf;
        if (reason >= _CKPT_REASON_MAX) {
                snprintf(buf, size, "reason %u", reason);
                return buf;
        }
        /* The figure a reason names stands where its text says %llu. */
        t = text[reason];
        num = strstr(t, "%llu");
        if (num)
                snprintf(buf, size, "%.*s%llu%s", (int)(num - t), t, (unsigned long long)arg,
                         num + 4);
        else
                snprintf(buf, size, "%s", t);
        return buf;
}

static void manifest_clear_regions(struct ckpt_manifest *m)
{
        for (size_t i = 0; i < m->n_regions; i++)
                free(m->regions[i].path);
        free(m->regions);
        m->regions = NULL;
        m->n_regions = 0;
}

struct ckpt_manifest *manifest_free(struct ckpt_manifest *m)
{
        if (!m)
                return NULL;
        free(m->ranges);
        manifest_clear_regions(m);
        free(m->threads);
        free(m->pages);
        free(m);
        return NULL;
}

/* Room for one more element in an array that may have come from anyone's
 * malloc: the real capacity is what the allocator says it is. */
static int array_reserve_one(void **p, size_t n, size_t elem)
{
        size_t cap;
        void *q;

        if (!*p && n > 0)
                return -EINVAL;
        if (n >= SIZE_MAX / elem / 2)
                return -ENOMEM;
        if (*p && malloc_usable_size(*p) >= (n + 1) * elem)
                return 0;
        cap = MAX((size_t)16, n * 2);
        q = realloc(*p, cap * elem);
        if (!q)
                return -ENOMEM;
        *p = q;
        return 0;
}

static bool page_kind_valid(uint32_t kind, uint32_t manifest_kind)
{
        return kind == CKPT_PAGE_ZERO || kind == CKPT_PAGE_DATA ||
               (kind == CKPT_PAGE_FILE && manifest_kind != CKPT_MANIFEST_FULL);
}

int manifest_add_page(struct ckpt_manifest *m, uint64_t addr, uint32_t kind, const uint8_t *key)
{
        struct ckpt_page *p;
        size_t lo;
        int r;

        if (addr & (PAGE_SIZE_4K - 1))
                return -EINVAL;
        if (kind != CKPT_PAGE_ZERO && kind != CKPT_PAGE_DATA && kind != CKPT_PAGE_FILE)
                return -EINVAL;
        if (kind == CKPT_PAGE_DATA && !key)
                return -EINVAL;

        /* Usually appended in order; otherwise inserted in place (or replaced),
         * so pages[] stays sorted without duplicates whatever the caller does. */
        lo = m->n_pages;
        if (m->n_pages > 0 && m->pages[m->n_pages - 1].addr >= addr) {
                lo = manifest_page_lower_bound(m, addr);
                if (m->pages[lo].addr == addr) {
                        p = &m->pages[lo];
                        goto fill;
                }
        }
        r = array_reserve_one((void **)&m->pages, m->n_pages, sizeof(*m->pages));
        if (r < 0)
                return r;
        if (lo < m->n_pages)
                memmove(&m->pages[lo + 1], &m->pages[lo], (m->n_pages - lo) * sizeof(*m->pages));
        m->n_pages++;
        p = &m->pages[lo];
fill:
        p->addr = addr;
        p->kind = kind;
        if (kind == CKPT_PAGE_DATA)
                memcpy(p->key, key, sizeof(p->key));
        else
                memset(p->key, 0, sizeof(p->key));
        return 0;
}

int manifest_add_region(struct ckpt_manifest *m, const struct ckpt_region *r)
{
        char *path = NULL;
        size_t at;
        int k;

        if (r->start >= r->end || (r->start & (PAGE_SIZE_4K - 1)) || (r->end & (PAGE_SIZE_4K - 1)))
                return -EINVAL;
        if (r->path) {
                path = strdup(r->path);
                if (!path)
                        return -ENOMEM;
        }
        k = array_reserve_one((void **)&m->regions, m->n_regions, sizeof(*m->regions));
        if (k < 0) {
                free(path);
                return k;
        }
        /* Kept sorted by start (the maps file gives them in order anyway). */
        at = m->n_regions;
        while (at > 0 && m->regions[at - 1].start > r->start)
                at--;
        if (at < m->n_regions)
                memmove(&m->regions[at + 1], &m->regions[at],
                        (m->n_regions - at) * sizeof(*m->regions));
        m->regions[at] = *r;
        m->regions[at].path = path;
        m->n_regions++;
        return 0;
}

int manifest_add_thread(struct ckpt_manifest *m, const struct ckpt_thread *t)
{
        int r;

        if (t->regs_size > CKPT_REGS_MAX || t->fpregs_size > CKPT_REGS_MAX)
                return -EINVAL;
        r = array_reserve_one((void **)&m->threads, m->n_threads, sizeof(*m->threads));
        if (r < 0)
                return r;
        m->threads[m->n_threads++] = *t;
        return 0;
}

size_t manifest_page_lower_bound(const struct ckpt_manifest *m, uint64_t addr)
{
        size_t lo = 0, hi = m->n_pages;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (m->pages[mid].addr < addr)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo;
}

const struct ckpt_page *manifest_find_page(const struct ckpt_manifest *m, uint64_t addr)
{
        size_t i = manifest_page_lower_bound(m, addr);

        return i < m->n_pages && m->pages[i].addr == addr ? &m->pages[i] : NULL;
}

const struct ckpt_region *manifest_find_region(const struct ckpt_manifest *m, uint64_t addr)
{
        size_t lo = 0, hi = m->n_regions;

        /* The last region starting at or below addr. */
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (m->regions[mid].start <= addr)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        if (lo == 0)
                return NULL;
        if (addr < m->regions[lo - 1].end)
                return &m->regions[lo - 1];
        return NULL;
}

uint64_t manifest_data_pages(const struct ckpt_manifest *m)
{
        uint64_t n = 0;

        for (size_t i = 0; i < m->n_pages; i++)
                n += m->pages[i].kind == CKPT_PAGE_DATA;
        return n;
}

int manifest_validate(const struct ckpt_manifest *m)
{
        if (m->kind != CKPT_MANIFEST_FULL && m->kind != CKPT_MANIFEST_DELTA)
                return -EINVAL;
        if (m->flags & ~MF_KNOWN_FLAGS)
                return -EINVAL;
        if ((m->n_ranges && !m->ranges) || (m->n_regions && !m->regions) ||
            (m->n_threads && !m->threads) || (m->n_pages && !m->pages))
                return -EINVAL;
        for (size_t i = 0; i < m->n_ranges; i++)
                if (m->ranges[i].start >= m->ranges[i].end)
                        return -EINVAL;
        for (size_t i = 0; i < m->n_regions; i++) {
                const struct ckpt_region *r = &m->regions[i];

                if (r->start >= r->end || (r->start & (PAGE_SIZE_4K - 1)) ||
                    (r->end & (PAGE_SIZE_4K - 1)))
                        return -EINVAL;
                if (i > 0 && r->start < m->regions[i - 1].end)
                        return -EINVAL;
                if ((r->flags & ~REGION_KNOWN_FLAGS) || (r->prot & ~PROT_KNOWN) ||
                    r->track >= _CKPT_TRACK_MAX || r->reason >= _CKPT_REASON_MAX)
                        return -EINVAL;
                if (r->path && strlen(r->path) > CKPT_DISK_PATH_MAX)
                        return -EINVAL;
                if (r->has_identity && r->file_id.ctime_nsec >= 1000000000u)
                        return -EINVAL;
        }
        for (size_t i = 0; i < m->n_threads; i++)
                if (m->threads[i].regs_size > CKPT_REGS_MAX ||
                    m->threads[i].fpregs_size > CKPT_REGS_MAX)
                        return -EINVAL;
        for (size_t i = 0; i < m->n_pages; i++) {
                const struct ckpt_page *p = &m->pages[i];

                if (p->addr & (PAGE_SIZE_4K - 1))
                        return -EINVAL;
                if (i > 0 && p->addr <= m->pages[i - 1].addr)
                        return -EINVAL;
                if (!page_kind_valid(p->kind, m->kind))
                        return -EINVAL;
        }
        return 0;
}

/* Step through the sorted regions alongside ascending addresses. */
static const struct ckpt_region *region_walk(const struct ckpt_manifest *m, size_t *idx,
                                             uint64_t addr)
{
        while (*idx < m->n_regions && m->regions[*idx].end <= addr)
                (*idx)++;
        if (*idx < m->n_regions && m->regions[*idx].start <= addr)
                return &m->regions[*idx];
        return NULL;
}

static bool region_is_ref(const struct ckpt_region *r)
{
        return r->flags & CKPT_REGION_REF;
}

static int page_cmp(const void *a, const void *b)
{
        const struct ckpt_page *x = a, *y = b;

        return x->addr < y->addr ? -1 : x->addr > y->addr;
}

int manifest_canonicalize(struct ckpt_manifest *m)
{
        size_t ri = 0, out = 0;
        bool sorted = true;

        for (size_t i = 1; i < m->n_pages && sorted; i++)
                sorted = m->pages[i].addr > m->pages[i - 1].addr;
        if (!sorted) {
                /* A stable order for equal addresses is not needed: duplicates
                 * are invalid input; the last one after sorting wins. */
                qsort(m->pages, m->n_pages, sizeof(*m->pages), page_cmp);
        }
        for (size_t i = 0; i < m->n_pages; i++) {
                const struct ckpt_page *p = &m->pages[i];
                const struct ckpt_region *r = region_walk(m, &ri, p->addr);

                if (!r || p->kind == CKPT_PAGE_FILE)
                        continue;
                if (p->kind == CKPT_PAGE_ZERO && !region_is_ref(r))
                        continue;
                if (p->kind != CKPT_PAGE_ZERO && p->kind != CKPT_PAGE_DATA)
                        continue;
                if (out > 0 && m->pages[out - 1].addr == p->addr)
                        out--;
                m->pages[out++] = *p;
        }
        m->n_pages = out;
        return 0;
}

static bool page_same(uint32_t ka, const uint8_t *keya, uint32_t kb, const uint8_t *keyb)
{
        if (ka != kb)
                return false;
        return ka != CKPT_PAGE_DATA || memcmp(keya, keyb, 32) == 0;
}

int manifest_compute_delta(const struct ckpt_manifest *parent_view,
                           const struct ckpt_manifest *child_view,
                           struct ckpt_manifest *child_delta)
{
        _cleanup_free_ struct ckpt_page *out = NULL;
        const struct ckpt_page *pp = parent_view ? parent_view->pages : NULL;
        const struct ckpt_page *cp = child_view->pages;
        size_t np = parent_view ? parent_view->n_pages : 0, nc = child_view->n_pages;
        size_t i = 0, j = 0, ri = 0, n_out = 0;
        static const uint8_t zero_key[32];

        /* child_delta may be child_view itself (or the parent): the new table
         * replaces its pages only at the end. */
        for (size_t k = 1; k < np; k++)
                if (pp[k].addr <= pp[k - 1].addr)
                        return -EINVAL;
        for (size_t k = 1; k < nc; k++)
                if (cp[k].addr <= cp[k - 1].addr)
                        return -EINVAL;
        if (np + nc > 0) {
                out = malloc((np + nc) * sizeof(*out));
                if (!out)
                        return -ENOMEM;
        }

        /* Walk the union of both tables in address order; for each address in
         * the child's regions, compare what applying nothing would give (the
         * parent's entry, or the region's default) with the child's content. */
        while (i < np || j < nc) {
                const struct ckpt_page *p = NULL, *c = NULL;
                const struct ckpt_region *r;
                uint32_t base_kind, want_kind, def;
                const uint8_t *base_key, *want_key;
                uint64_t addr;

                if (j >= nc || (i < np && pp[i].addr < cp[j].addr))
                        p = &pp[i++];
                else if (i >= np || cp[j].addr < pp[i].addr)
                        c = &cp[j++];
                else {
                        p = &pp[i++];
                        c = &cp[j++];
                }
                addr = p ? p->addr : c->addr;
                r = region_walk(child_view, &ri, addr);
                if (!r)
                        continue;
                def = region_is_ref(r) ? CKPT_PAGE_FILE : CKPT_PAGE_ZERO;

                base_kind = p ? p->kind : def;
                base_key = p ? p->key : zero_key;
                if (base_kind == CKPT_PAGE_FILE)
                        base_kind = def;
                want_kind = c ? c->kind : def;
                want_key = c ? c->key : zero_key;
                if (want_kind == CKPT_PAGE_FILE)
                        want_kind = def;
                if (page_same(base_kind, base_key, want_kind, want_key))
                        continue;
                out[n_out].addr = addr;
                out[n_out].kind = want_kind;
                if (want_kind == CKPT_PAGE_DATA)
                        memcpy(out[n_out].key, want_key, 32);
                else
                        memset(out[n_out].key, 0, 32);
                n_out++;
        }

        free(child_delta->pages);
        child_delta->pages = TAKE_PTR(out);
        child_delta->n_pages = n_out;
        return 0;
}

static void manifest_copy_header(struct ckpt_manifest *dst, const struct ckpt_manifest *src)
{
        dst->id = src->id;
        dst->parent = src->parent;
        dst->kind = src->kind;
        dst->flags = src->flags;
        dst->pid = src->pid;
        dst->uid = src->uid;
        dst->start_time = src->start_time;
        dst->time_ns = src->time_ns;
        memcpy(dst->comm, src->comm, sizeof(dst->comm));
        dst->arch = src->arch;
        dst->pages_total = src->pages_total;
        dst->pages_read = src->pages_read;
        dst->bytes_stored = src->bytes_stored;
        dst->pause_ns = src->pause_ns;
        dst->duration_ns = src->duration_ns;
        dst->group = src->group;
        dst->group_pause_ns = src->group_pause_ns;
}

/* Deep copies of ranges, regions and threads of src into a zeroed dst. */
static int manifest_copy_tables(struct ckpt_manifest *dst, const struct ckpt_manifest *src)
{
        if (src->n_ranges > 0) {
                dst->ranges = malloc(src->n_ranges * sizeof(*dst->ranges));
                if (!dst->ranges)
                        return -ENOMEM;
                memcpy(dst->ranges, src->ranges, src->n_ranges * sizeof(*dst->ranges));
                dst->n_ranges = src->n_ranges;
        }
        if (src->n_regions > 0) {
                dst->regions = calloc(src->n_regions, sizeof(*dst->regions));
                if (!dst->regions)
                        return -ENOMEM;
                for (size_t i = 0; i < src->n_regions; i++) {
                        dst->regions[i] = src->regions[i];
                        dst->regions[i].path = NULL;
                        dst->n_regions = i + 1;
                        if (src->regions[i].path) {
                                dst->regions[i].path = strdup(src->regions[i].path);
                                if (!dst->regions[i].path)
                                        return -ENOMEM;
                        }
                }
        }
        if (src->n_threads > 0) {
                dst->threads = malloc(src->n_threads * sizeof(*dst->threads));
                if (!dst->threads)
                        return -ENOMEM;
                memcpy(dst->threads, src->threads, src->n_threads * sizeof(*dst->threads));
                dst->n_threads = src->n_threads;
        }
        return 0;
}

int manifest_dup(const struct ckpt_manifest *m, struct ckpt_manifest **ret)
{
        _cleanup_(manifest_freep) struct ckpt_manifest *d = NULL;
        int r;

        d = calloc(1, sizeof(*d));
        if (!d)
                return -ENOMEM;
        manifest_copy_header(d, m);
        r = manifest_copy_tables(d, m);
        if (r < 0)
                return r;
        if (m->n_pages > 0) {
                d->pages = malloc(m->n_pages * sizeof(*d->pages));
                if (!d->pages)
                        return -ENOMEM;
                memcpy(d->pages, m->pages, m->n_pages * sizeof(*d->pages));
                d->n_pages = m->n_pages;
        }
        *ret = TAKE_PTR(d);
        return 0;
}

int manifest_apply_delta(struct ckpt_manifest *view, const struct ckpt_manifest *delta)
{
        _cleanup_free_ struct ckpt_page *out = NULL;
        struct ckpt_manifest tables = {};
        const struct ckpt_page *vp = view->pages, *dp = delta->pages;
        size_t nv = view->n_pages, nd = delta->n_pages;
        size_t i = 0, j = 0, ri = 0, n_out = 0;
        int r;

        if (view == delta)
                return -EINVAL;
        for (size_t k = 1; k < nv; k++)
                if (vp[k].addr <= vp[k - 1].addr)
                        return -EINVAL;
        for (size_t k = 1; k < nd; k++)
                if (dp[k].addr <= dp[k - 1].addr)
                        return -EINVAL;
        for (size_t k = 1; k < delta->n_regions; k++)
                if (delta->regions[k].start < delta->regions[k - 1].end)
                        return -EINVAL;

        if (nv + nd > 0) {
                out = malloc((nv + nd) * sizeof(*out));
                if (!out)
                        return -ENOMEM;
        }
        /* The parent's view restricted to the delta's regions, overridden by
         * the delta's entries, in canonical form. */
        while (i < nv || j < nd) {
                const struct ckpt_page *e;
                const struct ckpt_region *reg;

                if (j >= nd || (i < nv && vp[i].addr < dp[j].addr))
                        e = &vp[i++];
                else if (i >= nv || dp[j].addr < vp[i].addr)
                        e = &dp[j++];
                else {
                        i++;
                        e = &dp[j++];
                }
                reg = region_walk(delta, &ri, e->addr);
                if (!reg)
                        continue;
                if (e->kind == CKPT_PAGE_DATA || (e->kind == CKPT_PAGE_ZERO && region_is_ref(reg)))
                        out[n_out++] = *e;
        }

        r = manifest_copy_tables(&tables, delta);
        if (r < 0) {
                free(tables.ranges);
                manifest_clear_regions(&tables);
                free(tables.threads);
                return r;
        }
        free(view->ranges);
        manifest_clear_regions(view);
        free(view->threads);
        free(view->pages);
        manifest_copy_header(view, delta);
        view->kind = CKPT_MANIFEST_FULL;
        view->ranges = tables.ranges;
        view->n_ranges = tables.n_ranges;
        view->regions = tables.regions;
        view->n_regions = tables.n_regions;
        view->threads = tables.threads;
        view->n_threads = tables.n_threads;
        view->pages = TAKE_PTR(out);
        view->n_pages = n_out;
        return 0;
}

/*
 * Encoding. A small cursor writes and reads fixed-width little-endian fields;
 * the reader never trusts a length before checking it against what is left.
 */
struct wcur {
        uint8_t *p;
        size_t off, size;
};

static void wput(struct wcur *w, const void *src, size_t n)
{
        assert(w->off + n <= w->size);
        if (n > 0)
                memcpy(w->p + w->off, src, n);
        w->off += n;
}

/* The bytes manifest_serialize() writes for m. */
static size_t serialized_size(const struct ckpt_manifest *m)
{
        size_t size = sizeof(struct ckpt_disk_header) + sizeof(struct ckpt_disk_group) +
                      m->n_ranges * sizeof(struct ckpt_disk_range) +
                      m->n_regions * sizeof(struct ckpt_disk_region) +
                      m->n_threads * sizeof(struct ckpt_disk_thread) +
                      m->n_pages * sizeof(struct ckpt_disk_page) + CKPT_MANIFEST_TRAILER_SIZE;

        for (size_t i = 0; i < m->n_regions; i++) {
                if (m->regions[i].path)
                        size += strlen(m->regions[i].path);
                if (m->regions[i].has_identity)
                        size += sizeof(struct ckpt_disk_identity);
                if (m->regions[i].reason != CKPT_REASON_NONE)
                        size += sizeof(struct ckpt_disk_reason);
        }
        for (size_t i = 0; i < m->n_threads; i++)
                size += m->threads[i].regs_size + m->threads[i].fpregs_size;
        return size;
}

/* Version 3: the group section, right after the header. */
static void wput_group(struct wcur *w, const struct ckpt_manifest *m)
{
        struct ckpt_disk_group g = {
                .id = htole64(m->group),
                .pause_ns = htole64(m->group_pause_ns),
        };

        wput(w, &g, sizeof(g));
}

/* One region: its fixed part, path, identity and reason. */
static void wput_region(struct wcur *w, const struct ckpt_region *r0)
{
        size_t plen = r0->path ? strlen(r0->path) : 0;
        struct ckpt_disk_region d = {
                .start = htole64(r0->start),
                .end = htole64(r0->end),
                .offset = htole64(r0->offset),
                .dev = htole64(r0->dev),
                .inode = htole64(r0->inode),
                .prot = htole32(r0->prot),
                .flags = htole32(r0->flags),
                .track = htole32(r0->track),
                .disk_flags = htole32((r0->path ? CKPT_DISK_REGION_HAS_PATH : 0) |
                                      (r0->has_identity ? CKPT_DISK_REGION_HAS_IDENTITY : 0) |
                                      (r0->reason ? CKPT_DISK_REGION_HAS_REASON : 0)),
                .path_len = htole64(plen),
        };
        wput(w, &d, sizeof(d));
        wput(w, r0->path, plen);
        if (r0->has_identity) {
                struct ckpt_disk_identity id = {
                        .dev = htole64(r0->file_id.dev),
                        .inode = htole64(r0->file_id.inode),
                        .size = htole64(r0->file_id.size),
                        .ctime_sec = (int64_t)htole64((uint64_t)r0->file_id.ctime_sec),
                        .ctime_nsec = htole32(r0->file_id.ctime_nsec),
                };
                wput(w, &id, sizeof(id));
        }
        if (r0->reason != CKPT_REASON_NONE) {
                struct ckpt_disk_reason why = {
                        .code = htole32(r0->reason),
                        .arg = htole64(r0->reason_arg),
                };
                wput(w, &why, sizeof(why));
        }
}

int manifest_serialize(const struct ckpt_manifest *m, void **ret_buf, size_t *ret_size)
{
        struct ckpt_disk_header h = {};
        _cleanup_free_ uint8_t *buf = NULL;
        struct wcur w;
        size_t size;
        int r;

        r = manifest_validate(m);
        if (r < 0)
                return r;

        size = serialized_size(m);

        buf = malloc(size);
        if (!buf)
                return -ENOMEM;
        w = (struct wcur){.p = buf, .size = size};

        memcpy(h.magic, CKPT_MANIFEST_MAGIC, sizeof(h.magic));
        h.version = htole32(CKPT_MANIFEST_VERSION);
        h.header_size = htole32(sizeof(h));
        h.total_size = htole64(size);
        h.id = htole64(m->id);
        h.parent = htole64(m->parent);
        h.kind = htole32(m->kind);
        h.flags = htole32(m->flags);
        h.pid = (int32_t)htole32((uint32_t)m->pid);
        h.uid = htole32(m->uid);
        h.start_time = htole64(m->start_time);
        h.time_ns = htole64(m->time_ns);
        memcpy(h.comm, m->comm, sizeof(h.comm) - 1);
        h.comm[sizeof(h.comm) - 1] = 0;
        h.arch = htole32(m->arch);
        h.pages_total = htole64(m->pages_total);
        h.pages_read = htole64(m->pages_read);
        h.bytes_stored = htole64(m->bytes_stored);
        h.pause_ns = htole64(m->pause_ns);
        h.duration_ns = htole64(m->duration_ns);
        h.n_ranges = htole64(m->n_ranges);
        h.n_regions = htole64(m->n_regions);
        h.n_threads = htole64(m->n_threads);
        h.n_pages = htole64(m->n_pages);
        wput(&w, &h, sizeof(h));
        wput_group(&w, m);

        for (size_t i = 0; i < m->n_ranges; i++) {
                struct ckpt_disk_range d = {
                        .start = htole64(m->ranges[i].start),
                        .end = htole64(m->ranges[i].end),
                };
                wput(&w, &d, sizeof(d));
        }
        for (size_t i = 0; i < m->n_regions; i++)
                wput_region(&w, &m->regions[i]);
        for (size_t i = 0; i < m->n_threads; i++) {
                const struct ckpt_thread *t = &m->threads[i];
                struct ckpt_disk_thread d = {
                        .tid = (int32_t)htole32((uint32_t)t->tid),
                        .regs_size = htole32(t->regs_size),
                        .fpregs_size = htole32(t->fpregs_size),
                };
                wput(&w, &d, sizeof(d));
                wput(&w, t->regs, t->regs_size);
                wput(&w, t->fpregs, t->fpregs_size);
        }
        for (size_t i = 0; i < m->n_pages; i++) {
                const struct ckpt_page *p = &m->pages[i];
                struct ckpt_disk_page d = {
                        .addr = htole64(p->addr),
                        .kind = htole32(p->kind),
                };
                if (p->kind == CKPT_PAGE_DATA)
                        memcpy(d.key, p->key, sizeof(d.key));
                wput(&w, &d, sizeof(d));
        }
        assert(w.off == size - CKPT_MANIFEST_TRAILER_SIZE);
        r = sha256_once(buf, w.off, buf + w.off);
        if (r < 0)
                return r;

        *ret_buf = TAKE_PTR(buf);
        *ret_size = size;
        return 0;
}

struct rcur {
        const uint8_t *p;
        size_t off, size;
};

static const void *rtake(struct rcur *c, size_t n)
{
        const void *at;

        if (n > c->size - c->off)
                return NULL;
        at = c->p + c->off;
        c->off += n;
        return at;
}

/* A count of items of at least min_size bytes each cannot exceed what is left. */
static bool count_fits(const struct rcur *c, uint64_t n, size_t min_size)
{
        return n <= (c->size - c->off) / min_size;
}

static bool all_zero(const void *p, size_t n)
{
        const uint8_t *b = p;

        for (size_t i = 0; i < n; i++)
                if (b[i])
                        return false;
        return true;
}

/* The fixed header: its magic, version and sizes; then the trailer's digest
 * over everything before it. */
static int parse_check_header(const void *buf, size_t size, struct ckpt_disk_header *h,
                              uint32_t *ret_version)
{
        uint8_t digest[SHA256_DIGEST_SIZE];
        uint32_t version;
        int r;

        if (!buf || size < sizeof(*h) + CKPT_MANIFEST_TRAILER_SIZE)
                return -EBADMSG;
        memcpy(h, buf, sizeof(*h));
        version = le32toh(h->version);
        if (memcmp(h->magic, CKPT_MANIFEST_MAGIC, sizeof(h->magic)) != 0 ||
            version < CKPT_MANIFEST_VERSION_MIN || version > CKPT_MANIFEST_VERSION ||
            le32toh(h->header_size) != sizeof(*h) || le64toh(h->total_size) != size ||
            h->reserved0 != 0)
                return -EBADMSG;

        /* The trailer first: a damaged file stops here, cheaply. */
        r = sha256_once(buf, size - CKPT_MANIFEST_TRAILER_SIZE, digest);
        if (r < 0)
                return r;
        if (memcmp(digest, (const uint8_t *)buf + size - CKPT_MANIFEST_TRAILER_SIZE,
                   sizeof(digest)) != 0)
                return -EBADMSG;
        if (!memchr(h->comm, 0, sizeof(h->comm)))
                return -EBADMSG;
        *ret_version = version;
        return 0;
}

static void parse_header_fields(struct ckpt_manifest *m, const struct ckpt_disk_header *h)
{
        m->id = le64toh(h->id);
        m->parent = le64toh(h->parent);
        m->kind = le32toh(h->kind);
        m->flags = le32toh(h->flags);
        m->pid = (int32_t)le32toh((uint32_t)h->pid);
        m->uid = le32toh(h->uid);
        m->start_time = le64toh(h->start_time);
        m->time_ns = le64toh(h->time_ns);
        memcpy(m->comm, h->comm, sizeof(m->comm));
        m->arch = le32toh(h->arch);
        m->pages_total = le64toh(h->pages_total);
        m->pages_read = le64toh(h->pages_read);
        m->bytes_stored = le64toh(h->bytes_stored);
        m->pause_ns = le64toh(h->pause_ns);
        m->duration_ns = le64toh(h->duration_ns);
}

static int parse_ranges(struct rcur *c, struct ckpt_manifest *m, uint64_t n_ranges)
{
        const void *at;

        if (!count_fits(c, n_ranges, sizeof(struct ckpt_disk_range)))
                return -EBADMSG;
        if (n_ranges > 0) {
                m->ranges = calloc(n_ranges, sizeof(*m->ranges));
                if (!m->ranges)
                        return -ENOMEM;
        }
        for (uint64_t i = 0; i < n_ranges; i++) {
                struct ckpt_disk_range d;

                at = rtake(c, sizeof(d));
                if (!at)
                        return -EBADMSG;
                memcpy(&d, at, sizeof(d));
                m->ranges[i].start = le64toh(d.start);
                m->ranges[i].end = le64toh(d.end);
                m->n_ranges++;
        }
        return 0;
}

/* What follows a region's fixed part: its path, then its file's identity,
 * then the reason of its tracking mode. */
static int parse_region_tail(struct rcur *c, struct ckpt_region *rg, uint32_t dflags, uint64_t plen)
{
        const void *at;

        if (dflags & CKPT_DISK_REGION_HAS_PATH) {
                at = rtake(c, plen);
                if (!at || memchr(at, 0, plen))
                        return -EBADMSG;
                rg->path = strndup(at, plen);
                if (!rg->path)
                        return -ENOMEM;
        }
        if (dflags & CKPT_DISK_REGION_HAS_IDENTITY) {
                struct ckpt_disk_identity id;

                at = rtake(c, sizeof(id));
                if (!at)
                        return -EBADMSG;
                memcpy(&id, at, sizeof(id));
                if (id.reserved0 != 0)
                        return -EBADMSG;
                rg->has_identity = true;
                rg->file_id = (struct ckpt_file_identity){
                        .dev = le64toh(id.dev),
                        .inode = le64toh(id.inode),
                        .size = le64toh(id.size),
                        .ctime_sec = (int64_t)le64toh((uint64_t)id.ctime_sec),
                        .ctime_nsec = le32toh(id.ctime_nsec),
                };
        }
        if (dflags & CKPT_DISK_REGION_HAS_REASON) {
                struct ckpt_disk_reason why;

                at = rtake(c, sizeof(why));
                if (!at)
                        return -EBADMSG;
                memcpy(&why, at, sizeof(why));
                rg->reason = le32toh(why.code);
                rg->reason_arg = le64toh(why.arg);
                /* Written only when there is one; an unknown code is
                 * rejected by manifest_validate(). */
                if (why.reserved0 != 0 || rg->reason == CKPT_REASON_NONE)
                        return -EBADMSG;
        }
        return 0;
}

static int parse_regions(struct rcur *c, struct ckpt_manifest *m, uint64_t n_regions,
                         uint32_t version)
{
        uint32_t known_dflags = CKPT_DISK_REGION_HAS_PATH |
                                (version >= 2 ? CKPT_DISK_REGION_HAS_IDENTITY : 0) |
                                (version >= 4 ? CKPT_DISK_REGION_HAS_REASON : 0);
        const void *at;
        int r;

        if (!count_fits(c, n_regions, sizeof(struct ckpt_disk_region)))
                return -EBADMSG;
        if (n_regions > 0) {
                m->regions = calloc(n_regions, sizeof(*m->regions));
                if (!m->regions)
                        return -ENOMEM;
        }
        for (uint64_t i = 0; i < n_regions; i++) {
                struct ckpt_region *rg = &m->regions[i];
                struct ckpt_disk_region d;
                uint64_t plen;
                uint32_t dflags;

                at = rtake(c, sizeof(d));
                if (!at)
                        return -EBADMSG;
                memcpy(&d, at, sizeof(d));
                m->n_regions++;
                rg->start = le64toh(d.start);
                rg->end = le64toh(d.end);
                rg->offset = le64toh(d.offset);
                rg->dev = le64toh(d.dev);
                rg->inode = le64toh(d.inode);
                rg->prot = le32toh(d.prot);
                rg->flags = le32toh(d.flags);
                rg->track = le32toh(d.track);
                dflags = le32toh(d.disk_flags);
                plen = le64toh(d.path_len);
                if (dflags & ~known_dflags)
                        return -EBADMSG;
                if (plen > CKPT_DISK_PATH_MAX || (!(dflags & CKPT_DISK_REGION_HAS_PATH) && plen))
                        return -EBADMSG;
                r = parse_region_tail(c, rg, dflags, plen);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int parse_threads(struct rcur *c, struct ckpt_manifest *m, uint64_t n_threads)
{
        const void *at;

        if (!count_fits(c, n_threads, sizeof(struct ckpt_disk_thread)))
                return -EBADMSG;
        if (n_threads > 0) {
                m->threads = calloc(n_threads, sizeof(*m->threads));
                if (!m->threads)
                        return -ENOMEM;
        }
        for (uint64_t i = 0; i < n_threads; i++) {
                struct ckpt_thread *t = &m->threads[i];
                struct ckpt_disk_thread d;

                at = rtake(c, sizeof(d));
                if (!at)
                        return -EBADMSG;
                memcpy(&d, at, sizeof(d));
                m->n_threads++;
                t->tid = (int32_t)le32toh((uint32_t)d.tid);
                t->regs_size = le32toh(d.regs_size);
                t->fpregs_size = le32toh(d.fpregs_size);
                if (d.reserved0 != 0 || t->regs_size > CKPT_REGS_MAX ||
                    t->fpregs_size > CKPT_REGS_MAX)
                        return -EBADMSG;
                at = rtake(c, t->regs_size);
                if (!at)
                        return -EBADMSG;
                memcpy(t->regs, at, t->regs_size);
                at = rtake(c, t->fpregs_size);
                if (!at)
                        return -EBADMSG;
                memcpy(t->fpregs, at, t->fpregs_size);
        }
        return 0;
}

static int parse_pages(struct rcur *c, struct ckpt_manifest *m, uint64_t n_pages)
{
        const void *at;

        if (!count_fits(c, n_pages, sizeof(struct ckpt_disk_page)))
                return -EBADMSG;
        if (n_pages > 0) {
                m->pages = malloc(n_pages * sizeof(*m->pages));
                if (!m->pages)
                        return -ENOMEM;
        }
        for (uint64_t i = 0; i < n_pages; i++) {
                struct ckpt_page *p = &m->pages[i];
                struct ckpt_disk_page d;

                at = rtake(c, sizeof(d));
                if (!at)
                        return -EBADMSG;
                memcpy(&d, at, sizeof(d));
                m->n_pages++;
                p->addr = le64toh(d.addr);
                p->kind = le32toh(d.kind);
                memcpy(p->key, d.key, sizeof(p->key));
                if (d.reserved0 != 0 || (p->kind != CKPT_PAGE_DATA && !all_zero(d.key, 32)))
                        return -EBADMSG;
        }
        return 0;
}

int manifest_parse(const void *buf, size_t size, struct ckpt_manifest **ret)
{
        _cleanup_(manifest_freep) struct ckpt_manifest *m = NULL;
        struct ckpt_disk_header h;
        struct rcur c;
        uint32_t version;
        int r;

        r = parse_check_header(buf, size, &h, &version);
        if (r < 0)
                return r;

        c = (struct rcur){.p = buf, .off = sizeof(h), .size = size - CKPT_MANIFEST_TRAILER_SIZE};

        m = calloc(1, sizeof(*m));
        if (!m)
                return -ENOMEM;
        parse_header_fields(m, &h);

        /* The sections, in the order they are written. */
        if (version >= 3) {
                struct ckpt_disk_group g;
                const void *at = rtake(&c, sizeof(g));

                if (!at)
                        return -EBADMSG;
                memcpy(&g, at, sizeof(g));
                m->group = le64toh(g.id);
                m->group_pause_ns = le64toh(g.pause_ns);
                if (m->group == 0 && m->group_pause_ns != 0)
                        return -EBADMSG;
        }
        r = parse_ranges(&c, m, le64toh(h.n_ranges));
        if (r < 0)
                return r;
        r = parse_regions(&c, m, le64toh(h.n_regions), version);
        if (r < 0)
                return r;
        r = parse_threads(&c, m, le64toh(h.n_threads));
        if (r < 0)
                return r;
        r = parse_pages(&c, m, le64toh(h.n_pages));
        if (r < 0)
                return r;
        if (c.off != c.size)
                return -EBADMSG;

        if (manifest_validate(m) < 0)
                return -EBADMSG;
        *ret = TAKE_PTR(m);
        return 0;
}
