/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * On-disk format of a manifest (one file per checkpoint, <state>/manifests/<id>).
 * All integers little-endian, fixed width; 64-bit counts and sizes throughout;
 * a field is never reused. Layout:
 *
 *   struct ckpt_manifest_header     (CKPT_MANIFEST_MAGIC, version, sizes)
 *   (version >= 3) struct ckpt_disk_group: the group checkpoint it belongs to
 *   ranges[n_ranges]                struct ckpt_disk_range
 *   regions[n_regions]              struct ckpt_disk_region, then path_len bytes,
 *                                   then (version >= 2, CKPT_DISK_REGION_HAS_IDENTITY)
 *                                   struct ckpt_disk_identity, then (version >= 4,
 *                                   CKPT_DISK_REGION_HAS_REASON) struct ckpt_disk_reason
 *   threads[n_threads]              struct ckpt_disk_thread, then regs, fpregs
 *   pages[n_pages]                  struct ckpt_disk_page
 *   trailer                         SHA-256 of everything before it
 *
 * Unknown header flags are rejected (-EBADMSG) so an old reader never
 * misreads a newer manifest. The exact structs live in daemon/store/manifest.c's
 * sibling definitions below.
 */
#pragma once

#include <stdint.h>

#define CKPT_MANIFEST_MAGIC "CKPTMAN\0"
#define CKPT_MANIFEST_VERSION 4u
/* Version 2 lacks the group section: read still, as no group's member. */
/* Version 1 lacks the identity of the files of reference regions; it is read
 * still, and those regions export as holes (their file cannot be proven the
 * one recorded). Versions 1 to 3 lack the reason of a region's tracking
 * mode; they are read still, their regions without one. */
#define CKPT_MANIFEST_VERSION_MIN 1u

#define CKPT_ARCH_X86_64 1u

/* A complete page table is written at least every this many checkpoints of a
 * process, so reading any checkpoint resolves a bounded chain. */
#define CKPT_FULL_EVERY 16

/*
 * Packed on-disk structs of a manifest. Every reserved field must be zero and
 * every unknown flag bit is rejected by the reader. Sizes are fixed by static
 * asserts in daemon/store/manifest.c; a new field means a new version, never a
 * reused one.
 */
struct ckpt_disk_header {
        char magic[8];        /* CKPT_MANIFEST_MAGIC */
        uint32_t version;     /* CKPT_MANIFEST_VERSION */
        uint32_t header_size; /* sizeof(struct ckpt_disk_header) */
        uint64_t total_size;  /* whole file, trailer included */
        uint64_t id, parent;
        uint32_t kind, flags;
        int32_t pid;
        uint32_t uid;
        uint64_t start_time, time_ns;
        char comm[16]; /* NUL-terminated */
        uint32_t arch;
        uint32_t reserved0;
        uint64_t pages_total, pages_read, bytes_stored, pause_ns, duration_ns;
        uint64_t n_ranges, n_regions, n_threads, n_pages;
} __attribute__((packed));

/* Version >= 3, right after the header. id 0: no group (pause_ns 0 then). */
struct ckpt_disk_group {
        uint64_t id;       /* the group checkpoint this one is a member of */
        uint64_t pause_ns; /* the group's pause: its first freeze to its last thaw */
} __attribute__((packed));

struct ckpt_disk_range {
        uint64_t start, end;
} __attribute__((packed));

#define CKPT_DISK_REGION_HAS_PATH 0x1u     /* path_len bytes follow (0 allowed: "") */
#define CKPT_DISK_REGION_HAS_IDENTITY 0x2u /* version >= 2: a ckpt_disk_identity follows */
#define CKPT_DISK_REGION_HAS_REASON 0x4u   /* version >= 4: a ckpt_disk_reason follows */

struct ckpt_disk_region {
        uint64_t start, end, offset, dev, inode;
        uint32_t prot, flags, track;
        uint32_t disk_flags; /* CKPT_DISK_REGION_* */
        uint64_t path_len;   /* bytes following, no NUL; at most CKPT_DISK_PATH_MAX */
} __attribute__((packed));

#define CKPT_DISK_PATH_MAX 4096u

/* The file of a region recorded by reference, as it was at the checkpoint
 * (stat of the mapping itself): an export reads the file only if what it
 * opens has all of these. */
struct ckpt_disk_identity {
        uint64_t dev, inode, size;
        int64_t ctime_sec;
        uint32_t ctime_nsec; /* < 1000000000 */
        uint32_t reserved0;
} __attribute__((packed));

/* Why the region was tracked as its track field says (enum ckpt_track_reason
 * of daemon/store/manifest.h; an unknown code is rejected), and the figure
 * the reason names (a pid, a count), 0 when it names none. */
struct ckpt_disk_reason {
        uint32_t code;
        uint32_t reserved0;
        uint64_t arg;
} __attribute__((packed));

struct ckpt_disk_thread {
        int32_t tid;
        uint32_t regs_size, fpregs_size; /* each at most 1024 (CKPT_REGS_MAX) */
        uint32_t reserved0;
        /* then regs_size bytes, then fpregs_size bytes */
} __attribute__((packed));

struct ckpt_disk_page {
        uint64_t addr;
        uint32_t kind; /* 1 zero, 2 data, 3 file (DELTA only, REF regions) */
        uint32_t reserved0;
        uint8_t key[32]; /* SHA-256 for data pages, zero otherwise */
} __attribute__((packed));

#define CKPT_MANIFEST_TRAILER_SIZE 32u /* SHA-256 */

/*
 * Pack files (<state>/packs/pack-%08u.pack): a header, then objects appended
 * one after the other. Each object is a struct ckpt_pack_object followed by
 * clen bytes: one zstd frame (codec CKPT_CODEC_ZSTD) or one LZ4 block
 * (CKPT_CODEC_LZ4, LZ4's raw block format, no frame) decoding to ulen bytes,
 * or the ulen bytes themselves (CKPT_CODEC_RAW, clen == ulen). The index
 * points at the object header; a reader checks the header against the index
 * entry and the decoded bytes against the SHA-256.
 * Version 1 packs hold raw and zstd objects only; version 2 packs may also
 * hold LZ4 objects (a ckptd that knows only version 1 refuses them by their
 * header instead of taking their LZ4 objects for damage). Readers take both;
 * new objects never go into a version 1 pack: a store of them goes on in a
 * new pack.
 */
#define CKPT_PACK_MAGIC "CKPTPACK"
#define CKPT_PACK_VERSION 2u
#define CKPT_PACK_VERSION_MIN 1u
#define CKPT_PACK_OBJECT_MAGIC 0x4f504b43u /* "CKPO" little-endian */

#define CKPT_CODEC_RAW 0u
#define CKPT_CODEC_ZSTD 1u
#define CKPT_CODEC_LZ4 2u /* pack version 2 on */

struct ckpt_pack_header {
        char magic[8]; /* CKPT_PACK_MAGIC */
        uint32_t version;
        uint32_t number; /* the N of pack-N */
} __attribute__((packed));

struct ckpt_pack_object {
        uint32_t magic; /* CKPT_PACK_OBJECT_MAGIC */
        uint32_t owner; /* uid */
        uint8_t sha256[32];
        uint32_t ulen; /* 4096 */
        uint32_t clen;
        uint8_t codec; /* CKPT_CODEC_* */
        uint8_t reserved[7];
} __attribute__((packed));
