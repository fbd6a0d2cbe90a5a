/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * manifest.h: the in-memory form of one checkpoint, and its (de)serialisation.
 * The on-disk encoding is described in include/ckpt/manifest.h.
 *
 * What a checkpoint means (its "view"):
 *   - regions[] is the address space at the frozen moment, clipped to the
 *     requested ranges (if any); pages outside every region are not part of it.
 *   - For every page inside a region, the content is an object of the store
 *     (CKPT_PAGE_DATA + key) or all zeroes; except that in a CKPT_REGION_REF
 *     region (a file mapping recorded by reference) a page that is not listed
 *     is the file's content at (path, offset), and listed pages (copied on
 *     write, e.g. RELRO) override it.
 *   - kind FULL: pages[] lists every DATA page (and may list ZERO pages);
 *     a page of a region that is not listed is zero.
 *   - kind DELTA: the view of `parent`, restricted to this checkpoint's regions,
 *     then overridden by pages[] (DATA or ZERO); a page inside a region that is
 *     neither listed nor in the parent's view is zero.
 *   pages[] is sorted by address, with no duplicates.
 *
 *      full #1 ──► delta #2 ──► delta #3 ──► full #4 (complete table) ──► delta #5
 *   Reading any page resolves at most CKPT_FULL_EVERY manifests: the store writes
 *   a complete table every so often even when only a delta was read.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ckpt/manifest.h"
#include "macro.h"

enum ckpt_track_mode {
        CKPT_TRACK_SCAN = 0,       /* read and hashed in full at every checkpoint */
        CKPT_TRACK_UFFD_WP = 1,    /* userfaultfd async write-protect + PAGEMAP_SCAN */
        CKPT_TRACK_SOFT_DIRTY = 2, /* clear_refs 4 + pagemap bit 55 */
        CKPT_TRACK_REF = 3,        /* unchanged file mapping, recorded by reference */
        _CKPT_TRACK_MAX,
};

const char *ckpt_track_mode_to_string(enum ckpt_track_mode m);

/*
 * Why a region was tracked the way it was, for `show` (manifest version >= 4;
 * older manifests have CKPT_REASON_NONE everywhere). arg is the figure the
 * reason names (a pid, a count), 0 otherwise. The numbers are on disk: never
 * renumber, only add.
 */
enum ckpt_track_reason {
        CKPT_REASON_NONE = 0,                  /* not recorded, or the mode says it all */
        CKPT_REASON_SHARED_ONLY_MAPPER = 1,    /* uffd-wp: shared, this process its only mapper */
        CKPT_REASON_SHARED_OTHER_MAPPER = 2,   /* arg: the pid of another process mapping it */
        CKPT_REASON_SHARED_ATTACHED = 3,       /* SysV: arg attachments, not all of this process */
        CKPT_REASON_SHARED_ATTACH_CHANGED = 4, /* SysV: attached or detached since the last look */
        CKPT_REASON_SHARED_FORKED = 5,         /* the process forked: a child may have written it */
        CKPT_REASON_SHARED_PROVING = 6,    /* its mappers were not proven before this checkpoint */
        CKPT_REASON_SHARED_UNREADABLE = 7, /* arg: a pid whose mappings could not be read */
        CKPT_REASON_SHARED_NO_EVENTS = 8,  /* forks cannot be seen (no BPF, or events lost) */
        CKPT_REASON_SHARED_IPC_NS = 9,     /* SysV: of another IPC namespace than the daemon's */
        CKPT_REASON_MEMFD = 10,            /* a memfd: any holder of its fd may write() it */
        CKPT_REASON_SHARED_FILE = 11,      /* a shared file mapping: anyone may write() the file */
        CKPT_REASON_HUGETLB = 12,          /* shared memory of huge pages */
        CKPT_REASON_NO_SHMEM_WP = 13,      /* the kernel cannot write-protect shared memory */
        CKPT_REASON_NOT_ARMED = 14,        /* no write protection on the process (no userfaultfd) */
        _CKPT_REASON_MAX,
};

/* "shared: other mapper pid 123" and the like into buf; "" for NONE. */
const char *ckpt_track_reason_format(uint32_t reason, uint64_t arg, char *buf, size_t size);

/* region flags */
#define CKPT_REGION_PRIVATE 0x01u /* MAP_PRIVATE */
#define CKPT_REGION_SHARED 0x02u  /* MAP_SHARED (shm, memfd, shared anon) */
#define CKPT_REGION_ANON 0x04u    /* no backing file (or a deleted/shm one) */
#define CKPT_REGION_FILE 0x08u    /* backed by path/dev/inode/offset */
#define CKPT_REGION_REF 0x10u     /* stored by reference: no pages recorded */
#define CKPT_REGION_HEAP 0x20u
#define CKPT_REGION_STACK 0x40u
#define CKPT_REGION_SPECIAL 0x80u     /* [vdso], [vvar], [vsyscall]: never read */
#define CKPT_REGION_UNREADABLE 0x100u /* no PROT_READ at the frozen moment */

/* Which file a reference region's pages come from: taken from the mapping at
 * the checkpoint, compared with what an export opens. */
struct ckpt_file_identity {
        uint64_t dev, inode, size;
        int64_t ctime_sec;
        uint32_t ctime_nsec;
};

struct ckpt_region {
        uint64_t start, end; /* page aligned, [start, end) */
        uint64_t offset;     /* file offset of start */
        uint64_t dev, inode;
        uint32_t prot;     /* PROT_READ | PROT_WRITE | PROT_EXEC */
        uint32_t flags;    /* CKPT_REGION_* */
        uint32_t track;    /* enum ckpt_track_mode */
        char *path;        /* NULL for anonymous memory; "[heap]", "[stack]" kept as is */
        bool has_identity; /* file_id is set (reference regions, manifest version >= 2) */
        struct ckpt_file_identity file_id;
        uint32_t reason;     /* enum ckpt_track_reason (manifest version >= 4) */
        uint64_t reason_arg; /* the pid or count the reason names */
};

enum ckpt_page_kind {
        CKPT_PAGE_ZERO = 1,
        CKPT_PAGE_DATA = 2,
};

struct ckpt_page {
        uint64_t addr;   /* page aligned */
        uint32_t kind;   /* enum ckpt_page_kind */
        uint8_t key[32]; /* SHA-256 of the 4 KiB content, CKPT_PAGE_DATA only */
};

#define CKPT_REGS_MAX 1024 /* bytes of architecture register state per set */

struct ckpt_thread {
        int32_t tid;
        uint32_t regs_size;   /* sizeof(struct user_regs_struct) on x86_64: 216 */
        uint32_t fpregs_size; /* sizeof(struct user_fpregs_struct): 512 */
        uint8_t regs[CKPT_REGS_MAX];
        uint8_t fpregs[CKPT_REGS_MAX];
};

struct ckpt_range {
        uint64_t start, end;
};

enum ckpt_manifest_kind {
        CKPT_MANIFEST_FULL = 1,
        CKPT_MANIFEST_DELTA = 2,
};

/* manifest flags */
#define CKPT_MF_FULL_READ 0x1u /* every page was read (a full checkpoint) */
#define CKPT_MF_RANGES 0x2u    /* restricted to ranges[] */
#define CKPT_MF_ALL 0x4u       /* --all: file mappings stored, not referenced */
#define CKPT_MF_STOPPED 0x8u   /* the process was in group-stop and left so */

struct ckpt_manifest {
        uint64_t id;
        uint64_t parent; /* 0: none */
        uint32_t kind;   /* enum ckpt_manifest_kind */
        uint32_t flags;  /* CKPT_MF_* */
        int32_t pid;
        uint32_t uid;        /* owner: dedup and access are per owner */
        uint64_t start_time; /* /proc/PID/stat field 22: tells pid reuse apart */
        uint64_t time_ns;    /* CLOCK_REALTIME at the frozen moment */
        char comm[16];
        uint32_t arch; /* CKPT_ARCH_* (include/ckpt/manifest.h) */

        /* figures of the checkpoint, for show/list */
        uint64_t pages_total;  /* pages in the view (DATA + zero), REF regions excluded */
        uint64_t pages_read;   /* pages copied out of the process */
        uint64_t bytes_stored; /* new bytes written to packs */
        uint64_t pause_ns;
        uint64_t duration_ns;
        uint64_t group;          /* the group checkpoint it is a member of; 0: none */
        uint64_t group_pause_ns; /* that group's pause */

        struct ckpt_range *ranges;
        size_t n_ranges;
        struct ckpt_region *regions;
        size_t n_regions;
        struct ckpt_thread *threads;
        size_t n_threads;
        struct ckpt_page *pages;
        size_t n_pages;
};

struct ckpt_manifest *manifest_free(struct ckpt_manifest *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct ckpt_manifest *, manifest_free);

/* Serialise to a malloc'ed buffer / parse one. Parsing validates everything
 * (magic, version, sizes, sort order, checksum): -EBADMSG on any damage. */
int manifest_serialize(const struct ckpt_manifest *m, void **ret_buf, size_t *ret_size);
int manifest_parse(const void *buf, size_t size, struct ckpt_manifest **ret);

/* Deep copy. */
int manifest_dup(const struct ckpt_manifest *m, struct ckpt_manifest **ret);

/* Append helpers (amortised growth). */
int manifest_add_region(struct ckpt_manifest *m, const struct ckpt_region *r); /* copies path */
int manifest_add_page(struct ckpt_manifest *m, uint64_t addr, uint32_t kind, const uint8_t *key);
int manifest_add_thread(struct ckpt_manifest *m, const struct ckpt_thread *t);

/* The index of the first entry of pages[] at or above addr (n_pages if none). */
size_t manifest_page_lower_bound(const struct ckpt_manifest *m, uint64_t addr);
/* Binary search in a sorted pages[]; NULL when absent. */
const struct ckpt_page *manifest_find_page(const struct ckpt_manifest *m, uint64_t addr);
/* The region containing addr, or NULL. */
const struct ckpt_region *manifest_find_region(const struct ckpt_manifest *m, uint64_t addr);

/*
 * Given the FULL view of the parent (kind FULL, complete table, may be NULL for
 * none) and the FULL view of the child, fill child_delta->pages with the
 * entries a DELTA manifest needs (pages whose content differs, ZERO where the
 * parent had data). Regions etc. are not touched.
 */
int manifest_compute_delta(const struct ckpt_manifest *parent_view,
                           const struct ckpt_manifest *child_view,
                           struct ckpt_manifest *child_delta);

/* Apply a DELTA manifest on top of the parent's FULL view, in place: the
 * result is the child's FULL view (regions, threads and header from delta). */
int manifest_apply_delta(struct ckpt_manifest *view, const struct ckpt_manifest *delta);

/*
 * Page kind found only in DELTA manifests, never in a view: inside a
 * CKPT_REGION_REF region the page is the file's content again (it cancels an
 * entry the parent's view listed). manifest_compute_delta() emits it;
 * manifest_apply_delta() consumes it.
 */
#define CKPT_PAGE_FILE 3

/*
 * The invariants manifest_parse() enforces, on an in-memory manifest:
 * known kind and flags, regions page aligned with start < end, sorted and
 * not overlapping, known region flags, track modes and reasons, ranges start < end,
 * threads' register sizes <= CKPT_REGS_MAX, pages page aligned and sorted by
 * strictly increasing address with a known kind (FILE only in a DELTA).
 * -EINVAL when one does not hold. manifest_serialize() calls it.
 */
int manifest_validate(const struct ckpt_manifest *m);

/* Number of CKPT_PAGE_DATA entries of pages[]. */
uint64_t manifest_data_pages(const struct ckpt_manifest *m);

/*
 * Put a view in canonical form, in place: drop pages outside every region,
 * ZERO entries outside REF regions (an unlisted page there is zero anyway)
 * and FILE entries. Two canonical views with the same content are equal
 * entry for entry. manifest_apply_delta() results are canonical already.
 */
int manifest_canonicalize(struct ckpt_manifest *m);
