/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-manifest.c: manifest encoding (round trip, hostile input) and the
 * delta algebra, checked against a brute-force model of page contents.
 */
#include <endian.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "manifest.h"
#include "prng.h"
#include "sha256.h"
#include "tap.h"

#define PG 4096ULL
#define BASE 0x10000ULL
#define NPAGES 96 /* the model's address space: BASE .. BASE + NPAGES pages */

/* Reproducible across runs. */
static struct prng rng = PRNG_INIT(0x9e3779b97f4a7c15ULL);

static struct ckpt_manifest *sample_manifest(void)
{
        struct ckpt_manifest *m = calloc(1, sizeof(*m));
        struct ckpt_region r1 = {.start = 0x400000,
                                 .end = 0x402000,
                                 .offset = 0x1000,
                                 .dev = 0x801,
                                 .inode = 1234,
                                 .prot = 5,
                                 .flags = CKPT_REGION_PRIVATE | CKPT_REGION_FILE | CKPT_REGION_REF,
                                 .track = CKPT_TRACK_REF,
                                 .path = "/usr/bin/true",
                                 .has_identity = true,
                                 .file_id = {.dev = 0x801,
                                             .inode = 1234,
                                             .size = 0x5000,
                                             .ctime_sec = 1700000000,
                                             .ctime_nsec = 123456789}};
        struct ckpt_region r2 = {.start = 0x7f0000000000,
                                 .end = 0x7f0000010000,
                                 .prot = 3,
                                 .flags = CKPT_REGION_SHARED | CKPT_REGION_ANON,
                                 .track = CKPT_TRACK_UFFD_WP,
                                 .reason = CKPT_REASON_SHARED_ONLY_MAPPER};
        struct ckpt_region r3 = {.start = 0x500000,
                                 .end = 0x501000,
                                 .prot = 3,
                                 .flags = CKPT_REGION_HEAP,
                                 .path = "",
                                 .reason = CKPT_REASON_SHARED_OTHER_MAPPER,
                                 .reason_arg = 4321};
        struct ckpt_thread t = {.tid = 4242, .regs_size = 216, .fpregs_size = 512};
        uint8_t key[32];

        if (!m)
                return NULL;
        m->id = 7;
        m->parent = 3;
        m->kind = CKPT_MANIFEST_DELTA;
        m->flags = CKPT_MF_RANGES | CKPT_MF_STOPPED;
        m->pid = 4242;
        m->uid = 1000;
        m->start_time = 123456789;
        m->time_ns = 1700000000123456789ULL;
        strcpy(m->comm, "redis-server");
        m->arch = CKPT_ARCH_X86_64;
        m->pages_total = 18;
        m->pages_read = 5;
        m->bytes_stored = 9000;
        m->pause_ns = 1500;
        m->duration_ns = 99999;
        m->group = 77;
        m->group_pause_ns = 2500;
        m->ranges = calloc(1, sizeof(*m->ranges));
        m->ranges[0] = (struct ckpt_range){0x400000, 0x7f0000010000};
        m->n_ranges = 1;
        if (manifest_add_region(m, &r2) < 0 || manifest_add_region(m, &r1) < 0 ||
            manifest_add_region(m, &r3) < 0)
                return manifest_free(m);
        for (unsigned i = 0; i < sizeof(t.regs); i++)
                t.regs[i] = (uint8_t)(i * 7);
        for (unsigned i = 0; i < sizeof(t.fpregs); i++)
                t.fpregs[i] = (uint8_t)(i * 3 + 1);
        if (manifest_add_thread(m, &t) < 0)
                return manifest_free(m);
        t.tid = 4243;
        t.regs_size = 8;
        t.fpregs_size = 0;
        if (manifest_add_thread(m, &t) < 0)
                return manifest_free(m);
        /* Out of order on purpose: add_page keeps pages[] sorted. */
        for (int i = 15; i >= 0; i--) {
                memset(key, i + 1, sizeof(key));
                if (manifest_add_page(m, 0x7f0000000000 + i * PG,
                                      i % 3 ? CKPT_PAGE_DATA : CKPT_PAGE_ZERO, key) < 0)
                        return manifest_free(m);
        }
        if (manifest_add_page(m, 0x401000, CKPT_PAGE_FILE, NULL) < 0 ||
            manifest_add_page(m, 0x500000, CKPT_PAGE_DATA, key) < 0)
                return manifest_free(m);
        return m;
}

static bool manifests_equal(const struct ckpt_manifest *a, const struct ckpt_manifest *b)
{
        ASSERT_EQ(a->id, b->id);
        ASSERT_EQ(a->parent, b->parent);
        ASSERT_EQ(a->kind, b->kind);
        ASSERT_EQ(a->flags, b->flags);
        ASSERT_EQ(a->pid, b->pid);
        ASSERT_EQ(a->uid, b->uid);
        ASSERT_EQ(a->start_time, b->start_time);
        ASSERT_EQ(a->time_ns, b->time_ns);
        ASSERT_STREQ(a->comm, b->comm);
        ASSERT_EQ(a->arch, b->arch);
        ASSERT_EQ(a->pages_total, b->pages_total);
        ASSERT_EQ(a->pages_read, b->pages_read);
        ASSERT_EQ(a->bytes_stored, b->bytes_stored);
        ASSERT_EQ(a->pause_ns, b->pause_ns);
        ASSERT_EQ(a->duration_ns, b->duration_ns);
        ASSERT_EQ(a->group, b->group);
        ASSERT_EQ(a->group_pause_ns, b->group_pause_ns);
        ASSERT_EQ(a->n_ranges, b->n_ranges);
        ASSERT(a->n_ranges == 0 ||
               memcmp(a->ranges, b->ranges, a->n_ranges * sizeof(*a->ranges)) == 0);
        ASSERT_EQ(a->n_regions, b->n_regions);
        for (size_t i = 0; i < a->n_regions; i++) {
                const struct ckpt_region *x = &a->regions[i], *y = &b->regions[i];
                ASSERT_EQ(x->start, y->start);
                ASSERT_EQ(x->end, y->end);
                ASSERT_EQ(x->offset, y->offset);
                ASSERT_EQ(x->dev, y->dev);
                ASSERT_EQ(x->inode, y->inode);
                ASSERT_EQ(x->prot, y->prot);
                ASSERT_EQ(x->flags, y->flags);
                ASSERT_EQ(x->track, y->track);
                ASSERT_EQ(x->has_identity, y->has_identity);
                ASSERT_EQ(x->reason, y->reason);
                ASSERT_EQ(x->reason_arg, y->reason_arg);
                ASSERT_EQ(x->file_id.dev, y->file_id.dev);
                ASSERT_EQ(x->file_id.inode, y->file_id.inode);
                ASSERT_EQ(x->file_id.size, y->file_id.size);
                ASSERT_EQ(x->file_id.ctime_sec, y->file_id.ctime_sec);
                ASSERT_EQ(x->file_id.ctime_nsec, y->file_id.ctime_nsec);
                ASSERT_EQ(!x->path, !y->path);
                if (x->path)
                        ASSERT_STREQ(x->path, y->path);
        }
        ASSERT_EQ(a->n_threads, b->n_threads);
        for (size_t i = 0; i < a->n_threads; i++) {
                const struct ckpt_thread *x = &a->threads[i], *y = &b->threads[i];
                ASSERT_EQ(x->tid, y->tid);
                ASSERT_EQ(x->regs_size, y->regs_size);
                ASSERT_EQ(x->fpregs_size, y->fpregs_size);
                ASSERT(memcmp(x->regs, y->regs, x->regs_size) == 0);
                ASSERT(memcmp(x->fpregs, y->fpregs, x->fpregs_size) == 0);
        }
        ASSERT_EQ(a->n_pages, b->n_pages);
        for (size_t i = 0; i < a->n_pages; i++) {
                ASSERT_EQ(a->pages[i].addr, b->pages[i].addr);
                ASSERT_EQ(a->pages[i].kind, b->pages[i].kind);
                if (a->pages[i].kind == CKPT_PAGE_DATA)
                        ASSERT(memcmp(a->pages[i].key, b->pages[i].key, 32) == 0);
        }
        return true;
}

static bool test_track_mode_names(void)
{
        ASSERT_STREQ(ckpt_track_mode_to_string(CKPT_TRACK_SCAN), "scan");
        ASSERT_STREQ(ckpt_track_mode_to_string(CKPT_TRACK_UFFD_WP), "uffd-wp");
        ASSERT_STREQ(ckpt_track_mode_to_string(CKPT_TRACK_SOFT_DIRTY), "soft-dirty");
        ASSERT_STREQ(ckpt_track_mode_to_string(CKPT_TRACK_REF), "reference");
        ASSERT(ckpt_track_mode_to_string(_CKPT_TRACK_MAX) == NULL);
        ASSERT(ckpt_track_mode_to_string((enum ckpt_track_mode) - 1) == NULL);
        return true;
}

static bool test_helpers(void)
{
        _cleanup_(manifest_freep) struct ckpt_manifest *m = sample_manifest();
        const struct ckpt_region *r;
        const struct ckpt_page *p;

        ASSERT(m);
        ASSERT_EQ(m->n_pages, 18);
        for (size_t i = 1; i < m->n_pages; i++)
                ASSERT(m->pages[i].addr > m->pages[i - 1].addr);
        ASSERT_EQ(m->regions[0].start, 0x400000);
        ASSERT_EQ(m->regions[1].start, 0x500000);
        ASSERT_EQ(m->regions[2].start, 0x7f0000000000);
        r = manifest_find_region(m, 0x401fff);
        ASSERT(r && r->start == 0x400000);
        ASSERT(manifest_find_region(m, 0x402000) == NULL);
        ASSERT(manifest_find_region(m, 0x3fffff) == NULL);
        r = manifest_find_region(m, 0x7f000000ffff);
        ASSERT(r && r->track == CKPT_TRACK_UFFD_WP);
        p = manifest_find_page(m, 0x7f0000000000 + 4 * PG);
        ASSERT(p && p->kind == CKPT_PAGE_DATA && p->key[0] == 5);
        ASSERT(manifest_find_page(m, 0x7f0000000000 + 16 * PG) == NULL);
        /* Replacing an existing address keeps one entry. */
        ASSERT_OK(manifest_add_page(m, 0x7f0000000000 + 4 * PG, CKPT_PAGE_ZERO, NULL));
        ASSERT_EQ(m->n_pages, 18);
        ASSERT_EQ(manifest_find_page(m, 0x7f0000000000 + 4 * PG)->kind, CKPT_PAGE_ZERO);
        ASSERT_EQ(manifest_add_page(m, 0x1001, CKPT_PAGE_ZERO, NULL), -EINVAL);
        ASSERT_EQ(manifest_add_page(m, 0x1000, CKPT_PAGE_DATA, NULL), -EINVAL);
        ASSERT_EQ(manifest_add_region(m, &(struct ckpt_region){.start = 0x2000, .end = 0x2000}),
                  -EINVAL);
        ASSERT_EQ(manifest_add_thread(m, &(struct ckpt_thread){.regs_size = CKPT_REGS_MAX + 1}),
                  -EINVAL);
        return true;
}

static bool test_round_trip(void)
{
        _cleanup_(manifest_freep) struct ckpt_manifest *m = sample_manifest(), *back = NULL,
                                                       *copy = NULL;
        _cleanup_free_ void *buf = NULL, *buf2 = NULL;
        size_t size, size2;

        ASSERT(m);
        ASSERT_OK(manifest_serialize(m, &buf, &size));
        ASSERT_OK(manifest_parse(buf, size, &back));
        ASSERT(manifests_equal(m, back));
        /* Deterministic: the same manifest encodes to the same bytes. */
        ASSERT_OK(manifest_serialize(back, &buf2, &size2));
        ASSERT_EQ(size, size2);
        ASSERT(memcmp(buf, buf2, size) == 0);
        ASSERT_OK(manifest_dup(m, &copy));
        ASSERT(manifests_equal(m, copy));
        ASSERT(copy->regions[0].path != m->regions[0].path);
        ASSERT(copy->regions[2].path == NULL);
        ASSERT_STREQ(copy->regions[1].path, "");
        return true;
}

/* Re-sign a (modified) encoding so the parser looks past the checksum. */
static void resign(uint8_t *buf, size_t size)
{
        struct ckpt_disk_header h;

        if (size < sizeof(h) + CKPT_MANIFEST_TRAILER_SIZE)
                return;
        memcpy(&h, buf, sizeof(h));
        h.total_size = htole64(size);
        memcpy(buf, &h, sizeof(h));
        sha256_once(buf, size - CKPT_MANIFEST_TRAILER_SIZE,
                    buf + size - CKPT_MANIFEST_TRAILER_SIZE);
}

static int parse_modified(const void *orig, size_t size, void (*mod)(uint8_t *buf, size_t size))
{
        struct ckpt_manifest *m = NULL;
        uint8_t *buf = malloc(size);
        int r;

        memcpy(buf, orig, size);
        mod(buf, size);
        resign(buf, size);
        r = manifest_parse(buf, size, &m);
        manifest_free(m);
        free(buf);
        return r;
}

static void mod_flags(uint8_t *b, size_t n)
{
        struct ckpt_disk_header *h = (void *)b;
        h->flags |= htole32(0x80000000u);
}
static void mod_kind(uint8_t *b, size_t n)
{
        struct ckpt_disk_header *h = (void *)b;
        h->kind = htole32(3);
}
static void mod_n_pages(uint8_t *b, size_t n)
{
        struct ckpt_disk_header *h = (void *)b;
        h->n_pages = htole64(UINT64_MAX / 2);
}
static void mod_n_regions(uint8_t *b, size_t n)
{
        struct ckpt_disk_header *h = (void *)b;
        h->n_regions = htole64(0x0400000000000001ULL); /* x 64 overflows 64 bits */
}
static void mod_version(uint8_t *b, size_t n)
{
        struct ckpt_disk_header *h = (void *)b;
        h->version = htole32(CKPT_MANIFEST_VERSION + 1);
}
static void mod_version1(uint8_t *b, size_t n)
{
        struct ckpt_disk_header *h = (void *)b;
        h->version = htole32(1);
}
static void mod_version3(uint8_t *b, size_t n)
{
        struct ckpt_disk_header *h = (void *)b;
        h->version = htole32(3);
}
static size_t first_region_off(void)
{
        return sizeof(struct ckpt_disk_header) + sizeof(struct ckpt_disk_group) +
               sizeof(struct ckpt_disk_range);
}
static void mod_group_pause(uint8_t *b, size_t n)
{
        struct ckpt_disk_group *g = (void *)(b + sizeof(struct ckpt_disk_header));
        g->id = 0;
        g->pause_ns = htole64(5);
}
/* The encoding as version `version` < 3 wrote it: without the group section. */
static void downgrade(uint8_t *b, size_t *n, uint32_t version)
{
        struct ckpt_disk_header *h = (void *)b;
        size_t at = sizeof(*h), gs = sizeof(struct ckpt_disk_group);

        memmove(b + at, b + at + gs, *n - at - gs);
        *n -= gs;
        h->version = htole32(version);
}
static void mod_region_empty(uint8_t *b, size_t n)
{
        struct ckpt_disk_region *r = (void *)(b + first_region_off());
        r->end = r->start;
}
static void mod_region_unaligned(uint8_t *b, size_t n)
{
        struct ckpt_disk_region *r = (void *)(b + first_region_off());
        r->start = htole64(le64toh(r->start) + 8);
}
static void mod_region_flags(uint8_t *b, size_t n)
{
        struct ckpt_disk_region *r = (void *)(b + first_region_off());
        r->flags |= htole32(0x10000u);
}
static void mod_region_path_len(uint8_t *b, size_t n)
{
        struct ckpt_disk_region *r = (void *)(b + first_region_off());
        r->path_len = htole64(UINT64_MAX - 3);
}
static void mod_region_track(uint8_t *b, size_t n)
{
        struct ckpt_disk_region *r = (void *)(b + first_region_off());
        r->track = htole32(_CKPT_TRACK_MAX);
}
static size_t last_page_off(size_t n)
{
        return n - CKPT_MANIFEST_TRAILER_SIZE - sizeof(struct ckpt_disk_page);
}
static void mod_page_order(uint8_t *b, size_t n)
{
        struct ckpt_disk_page *p = (void *)(b + last_page_off(n));
        p->addr = 0; /* below its predecessor */
}
static void mod_page_kind(uint8_t *b, size_t n)
{
        struct ckpt_disk_page *p = (void *)(b + last_page_off(n));
        p->kind = htole32(9);
}
static void mod_page_unaligned(uint8_t *b, size_t n)
{
        struct ckpt_disk_page *p = (void *)(b + last_page_off(n));
        p->addr = htole64(le64toh(p->addr) + 1);
}

static bool test_rejects(void)
{
        _cleanup_(manifest_freep) struct ckpt_manifest *m = sample_manifest(), *out = NULL;
        _cleanup_free_ uint8_t *buf = NULL;
        size_t size;
        struct {
                const char *what;
                void (*mod)(uint8_t *, size_t);
        } cases[] = {
                {"unknown flag", mod_flags},
                {"unknown kind", mod_kind},
                {"huge n_pages", mod_n_pages},
                {"overflowing n_regions", mod_n_regions},
                {"future version", mod_version},
                {"file identity in a version 1 manifest", mod_version1},
                {"tracking reason in a version 3 manifest", mod_version3},
                {"empty region", mod_region_empty},
                {"unaligned region", mod_region_unaligned},
                {"unknown region flag", mod_region_flags},
                {"huge path_len", mod_region_path_len},
                {"unknown track mode", mod_region_track},
                {"unsorted pages", mod_page_order},
                {"unknown page kind", mod_page_kind},
                {"unaligned page", mod_page_unaligned},
                {"a group's pause without a group", mod_group_pause},
        };

        ASSERT(m);
        ASSERT_OK(manifest_serialize(m, (void **)&buf, &size));
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                int r = parse_modified(buf, size, cases[i].mod);
                if (r != -EBADMSG) {
                        fprintf(stderr, "# case '%s' gave %d\n", cases[i].what, r);
                        return false;
                }
        }
        /* Damage without re-signing: the checksum catches it. */
        buf[size / 2] ^= 0x40;
        ASSERT_EQ(manifest_parse(buf, size, &out), -EBADMSG);
        buf[size / 2] ^= 0x40;
        ASSERT_EQ(manifest_parse(buf, size - 1, &out), -EBADMSG);
        ASSERT_EQ(manifest_parse(buf, 10, &out), -EBADMSG);
        ASSERT_EQ(manifest_parse(NULL, 0, &out), -EBADMSG);
        ASSERT_OK(manifest_parse(buf, size, &out));

        /* Serialising an invalid manifest is refused up front. */
        m->pages[1].addr = m->pages[0].addr;
        ASSERT_EQ(manifest_serialize(m, (void **)&buf, &size), -EINVAL);
        return true;
}

/* Version 1 manifests (no file identities) are still read: their reference
 * regions come back without identity, so an export leaves them as holes. */
static bool test_version1(void)
{
        _cleanup_(manifest_freep) struct ckpt_manifest *m = sample_manifest(), *out = NULL;
        _cleanup_free_ uint8_t *buf = NULL;
        size_t size;

        ASSERT(m);
        for (size_t i = 0; i < m->n_regions; i++) {
                m->regions[i].has_identity = false;
                m->regions[i].reason = CKPT_REASON_NONE;
        }
        m->group = 0;
        m->group_pause_ns = 0;
        ASSERT_OK(manifest_serialize(m, (void **)&buf, &size));
        downgrade(buf, &size, 1);
        resign(buf, size);
        ASSERT_OK(manifest_parse(buf, size, &out));
        ASSERT_EQ(out->n_regions, m->n_regions);
        for (size_t i = 0; i < out->n_regions; i++)
                ASSERT(!out->regions[i].has_identity);
        ASSERT_EQ(out->group, 0u);
        return true;
}

/* Version 2 manifests (no group section) are still read, as no group's
 * members; everything else comes back as written. */
static bool test_version2(void)
{
        _cleanup_(manifest_freep) struct ckpt_manifest *m = sample_manifest(), *out = NULL;
        _cleanup_free_ uint8_t *buf = NULL;
        size_t size;

        ASSERT(m);
        m->group = 0;
        m->group_pause_ns = 0;
        for (size_t i = 0; i < m->n_regions; i++) {
                m->regions[i].reason = CKPT_REASON_NONE;
                m->regions[i].reason_arg = 0;
        }
        ASSERT_OK(manifest_serialize(m, (void **)&buf, &size));
        downgrade(buf, &size, 2);
        resign(buf, size);
        ASSERT_OK(manifest_parse(buf, size, &out));
        ASSERT(manifests_equal(m, out));
        return true;
}

/* Version 3 and 2 manifests (no tracking reasons) are still read: their
 * regions come back without a reason; a reason code this reader does not
 * know is refused. */
static bool test_reasons(void)
{
        _cleanup_(manifest_freep) struct ckpt_manifest *m = sample_manifest(), *out = NULL;
        _cleanup_free_ uint8_t *buf = NULL;
        size_t size;
        char text[96];

        ASSERT(m);
        ASSERT_OK(manifest_serialize(m, (void **)&buf, &size));
        ASSERT_OK(manifest_parse(buf, size, &out));
        ASSERT_EQ(out->regions[1].reason, (uint32_t)CKPT_REASON_SHARED_OTHER_MAPPER);
        ASSERT_EQ(out->regions[1].reason_arg, 4321u);
        ASSERT_STREQ(ckpt_track_reason_format(out->regions[1].reason, out->regions[1].reason_arg,
                                              text, sizeof(text)),
                     "shared: other mapper pid 4321");
        ASSERT_STREQ(ckpt_track_reason_format(CKPT_REASON_MEMFD, 0, text, sizeof(text)), "memfd");
        ASSERT_STREQ(ckpt_track_reason_format(CKPT_REASON_NONE, 9, text, sizeof(text)), "");
        out = manifest_free(out);
        free(buf);
        buf = NULL;

        for (size_t i = 0; i < m->n_regions; i++)
                m->regions[i].reason = CKPT_REASON_NONE;
        for (uint32_t v = 3; v >= 2; v--) {
                ASSERT_OK(manifest_serialize(m, (void **)&buf, &size));
                if (v == 3)
                        mod_version3(buf, size);
                else
                        downgrade(buf, &size, 2);
                resign(buf, size);
                ASSERT_OK(manifest_parse(buf, size, &out));
                ASSERT_EQ(out->n_regions, m->n_regions);
                for (size_t i = 0; i < out->n_regions; i++)
                        ASSERT_EQ(out->regions[i].reason, (uint32_t)CKPT_REASON_NONE);
                out = manifest_free(out);
                free(buf);
                buf = NULL;
        }

        /* An unknown reason code. */
        m->regions[1].reason = _CKPT_REASON_MAX;
        ASSERT_EQ(manifest_serialize(m, (void **)&buf, &size), -EINVAL);
        m->regions[1].reason = CKPT_REASON_MEMFD;
        ASSERT_OK(manifest_serialize(m, (void **)&buf, &size));
        {
                size_t off = first_region_off();
                struct ckpt_disk_reason *why;

                /* regions[1] follows regions[0] (path, identity) and its own path. */
                off += sizeof(struct ckpt_disk_region) + strlen(m->regions[0].path) +
                       sizeof(struct ckpt_disk_identity);
                off += sizeof(struct ckpt_disk_region) + strlen(m->regions[1].path);
                why = (void *)(buf + off);
                ASSERT_EQ(le32toh(why->code), (uint32_t)CKPT_REASON_MEMFD);
                why->code = htole32(_CKPT_REASON_MAX);
                resign(buf, size);
                ASSERT_EQ(manifest_parse(buf, size, &out), -EBADMSG);
        }
        return true;
}

static bool test_fuzz(void)
{
        _cleanup_(manifest_freep) struct ckpt_manifest *m = sample_manifest();
        _cleanup_free_ uint8_t *orig = NULL;
        size_t size;
        unsigned ok_count = 0, bad = 0;

        ASSERT(m);
        ASSERT_OK(manifest_serialize(m, (void **)&orig, &size));
        for (unsigned iter = 0; iter < 6000; iter++) {
                size_t n = size;
                uint8_t *buf = malloc(size);
                struct ckpt_manifest *out = NULL;
                int r;

                memcpy(buf, orig, size);
                switch (prng_next(&rng) % 4) {
                case 0: /* truncate */
                        n = prng_next(&rng) % size;
                        break;
                case 1: /* flip a few bits anywhere */
                        for (unsigned k = 1 + prng_next(&rng) % 4; k > 0; k--)
                                buf[prng_next(&rng) % size] ^=
                                        (uint8_t)(1u << (prng_next(&rng) % 8));
                        break;
                case 2: /* overwrite a 64-bit field with a nasty value */ {
                        static const uint64_t nasty[] = {0,          1,    UINT64_MAX, 1ULL << 63,
                                                         0xffffffff, 4096, 4095};
                        size_t at = prng_next(&rng) % (size - 8);
                        uint64_t v = nasty[prng_next(&rng) % ELEMENTSOF(nasty)];
                        memcpy(buf + at, &v, 8);
                        break;
                }
                default: /* truncate or extend nowhere: bytes flipped in the header */
                        buf[prng_next(&rng) % sizeof(struct ckpt_disk_header)] ^=
                                (uint8_t)prng_next(&rng);
                        if (prng_next(&rng) % 2)
                                n = size - (prng_next(&rng) % 64);
                        break;
                }
                if (prng_next(&rng) % 4 != 0)
                        resign(buf, n); /* get past the checksum most of the time */
                r = manifest_parse(buf, n, &out);
                if (r == 0) {
                        void *b2 = NULL;
                        size_t s2;

                        ok_count++;
                        /* Whatever parses is a valid manifest. */
                        if (manifest_validate(out) < 0 || manifest_serialize(out, &b2, &s2) < 0) {
                                free(buf);
                                manifest_free(out);
                                return false;
                        }
                        free(b2);
                } else if (r != -EBADMSG) {
                        fprintf(stderr, "# iteration %u: unexpected %d\n", iter, r);
                        free(buf);
                        return false;
                } else
                        bad++;
                manifest_free(out);
                free(buf);
        }
        printf("# fuzz: %u parsed, %u rejected\n", ok_count, bad);
        ASSERT(bad > 0);
        return true;
}

/*
 * Delta algebra against a model: each address of the model's space holds
 * NONE (outside every region), ZERO, FILE or DATA(k); a view's content is
 * computed by the documented rules, page by page.
 */
enum { C_NONE = -3, C_FILE = -2, C_ZERO = -1 };

static int content_of(const struct ckpt_manifest *v, uint64_t addr)
{
        const struct ckpt_region *r = manifest_find_region(v, addr);
        const struct ckpt_page *p;
        bool ref;

        if (!r)
                return C_NONE;
        ref = r->flags & CKPT_REGION_REF;
        p = manifest_find_page(v, addr);
        if (!p)
                return ref ? C_FILE : C_ZERO;
        if (p->kind == CKPT_PAGE_DATA)
                return p->key[0];
        if (p->kind == CKPT_PAGE_FILE)
                return ref ? C_FILE : C_ZERO;
        return C_ZERO;
}

/* A random FULL view: random regions, random contents, listed in any of the
 * equivalent ways (ZERO listed or not in private regions), plus some noise
 * outside the regions that must not matter. */
static struct ckpt_manifest *random_view(uint64_t id, const struct ckpt_manifest *prev)
{
        struct ckpt_manifest *v = calloc(1, sizeof(*v));
        uint64_t a = 0;
        uint8_t key[32];

        v->id = id;
        v->parent = prev ? prev->id : 0;
        v->kind = CKPT_MANIFEST_FULL;
        v->uid = 1000;
        if (prev && prng_next(&rng) % 3) {
                for (size_t i = 0; i < prev->n_regions; i++)
                        manifest_add_region(v, &prev->regions[i]);
        } else {
                while (a < NPAGES) {
                        uint64_t gap = prng_next(&rng) % 4, len = 1 + prng_next(&rng) % 20;
                        struct ckpt_region r = {
                                .flags = prng_next(&rng) % 4 == 0
                                                 ? CKPT_REGION_REF | CKPT_REGION_FILE
                                                 : CKPT_REGION_ANON,
                                .prot = 3,
                        };
                        a += gap;
                        if (a >= NPAGES)
                                break;
                        len = MIN(len, NPAGES - a);
                        r.start = BASE + a * PG;
                        r.end = r.start + len * PG;
                        manifest_add_region(v, &r);
                        a += len;
                }
        }
        for (uint64_t p = 0; p < NPAGES + 4; p++) {
                uint64_t addr = BASE + p * PG;
                const struct ckpt_region *r = manifest_find_region(v, addr);
                int c = prev && prng_next(&rng) % 2 ? content_of(prev, addr)
                                                    : (int)(prng_next(&rng) % 8) - 2;

                if (!r) {
                        if (prng_next(&rng) % 8 == 0) { /* noise */
                                memset(key, 99, sizeof(key));
                                manifest_add_page(v, addr, CKPT_PAGE_DATA, key);
                        }
                        continue;
                }
                if (c == C_NONE)
                        c = C_ZERO;
                if (c == C_FILE && !(r->flags & CKPT_REGION_REF))
                        c = C_ZERO;
                if (c >= 0) {
                        memset(key, c, sizeof(key));
                        manifest_add_page(v, addr, CKPT_PAGE_DATA, key);
                } else if (c == C_ZERO && ((r->flags & CKPT_REGION_REF) || prng_next(&rng) % 2))
                        manifest_add_page(v, addr, CKPT_PAGE_ZERO, NULL);
                /* FILE: unlisted in a REF region */
        }
        return v;
}

static bool test_delta_model(void)
{
        _cleanup_(manifest_freep) struct ckpt_manifest *prev = NULL;
        unsigned steps = 0, entries = 0;

        for (unsigned round = 0; round < 300; round++) {
                _cleanup_(manifest_freep) struct ckpt_manifest *child = NULL, *delta = NULL,
                                                               *view = NULL, *parsed = NULL,
                                                               *canon = NULL;
                _cleanup_free_ void *buf = NULL;
                size_t size;

                if (round % 25 == 0) {
                        prev = manifest_free(prev);
                }
                child = random_view(round + 1, prev);
                ASSERT(child);
                ASSERT_OK(manifest_dup(child, &delta));
                delta->kind = CKPT_MANIFEST_DELTA;
                delta->parent = prev ? prev->id : 0;
                ASSERT_OK(manifest_compute_delta(prev, child, delta));
                entries += delta->n_pages;

                /* Deltas survive the encoding (FILE entries included). */
                ASSERT_OK(manifest_serialize(delta, &buf, &size));
                ASSERT_OK(manifest_parse(buf, size, &parsed));
                ASSERT(manifests_equal(delta, parsed));

                if (prev)
                        ASSERT_OK(manifest_dup(prev, &view));
                else
                        view = calloc(1, sizeof(*view));
                ASSERT_OK(manifest_apply_delta(view, parsed));
                ASSERT_EQ(view->kind, CKPT_MANIFEST_FULL);
                ASSERT_EQ(view->id, child->id);
                for (uint64_t p = 0; p < NPAGES + 4; p++) {
                        uint64_t addr = BASE + p * PG;
                        int want = content_of(child, addr), got = content_of(view, addr);
                        if (want != got) {
                                fprintf(stderr, "# round %u page %llu: want %d got %d\n", round,
                                        (unsigned long long)p, want, got);
                                return false;
                        }
                }
                /* Applying gives the canonical form of the child's view. */
                ASSERT_OK(manifest_dup(child, &canon));
                ASSERT_OK(manifest_canonicalize(canon));
                ASSERT(manifests_equal(canon, view) || (fprintf(stderr, "# round %u\n", round), 0));
                /* A delta against itself is empty. */
                ASSERT_OK(manifest_compute_delta(view, canon, delta));
                ASSERT_EQ(delta->n_pages, 0);

                manifest_free(prev);
                prev = TAKE_PTR(view);
                steps++;
        }
        printf("# delta model: %u steps, %u delta entries\n", steps, entries);
        return true;
}

int main(void)
{
        plan(9);
        RUN(test_track_mode_names);
        RUN(test_helpers);
        RUN(test_round_trip);
        RUN(test_rejects);
        RUN(test_version1);
        RUN(test_version2);
        RUN(test_reasons);
        RUN(test_fuzz);
        RUN(test_delta_model);
        return tap_done();
}
