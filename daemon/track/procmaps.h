/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * procmaps.h: the address space of a process as /proc/PID/maps shows it,
 * classified into struct ckpt_region flags, and clipped to requested ranges.
 * This module only parses and computes; it never touches the process's memory.
 *
 * Classification (flags of include/daemon manifest.h):
 *   [heap]                         PRIVATE ANON HEAP
 *   [stack]                        PRIVATE ANON STACK
 *   no path, [anon:NAME]           PRIVATE ANON (or SHARED ANON when 's')
 *   [anon_shmem:NAME]              SHARED ANON
 *   [vdso] [vvar] [vsyscall] [...] SPECIAL (never read)
 *   /dev/zero (deleted)  's'       SHARED ANON     (MAP_SHARED|MAP_ANONYMOUS)
 *   /SYSV%08x (deleted)  's'       SHARED ANON     (SysV shm)
 *   /memfd:NAME (deleted)          SHARED or PRIVATE, ANON
 *   /path (deleted)                FILE ANON       (the file cannot be reopened)
 *   /path                          PRIVATE FILE or SHARED FILE
 *   no PROT_READ                   + UNREADABLE
 * Whether a file mapping is recorded by reference (REF) is decided by the
 * checkpoint engine, not here.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "manifest.h"

/* Parse a maps text (NUL-terminated) into regions[], flags classified. */
int procmaps_parse(const char *text, struct ckpt_region **ret, size_t *ret_n);

/* Read and parse /proc/PID/maps. -ESRCH when the process is gone. */
int procmaps_read(pid_t pid, struct ckpt_region **ret, size_t *ret_n);

/*
 * Sort and merge ranges (overlapping or touching). -EINVAL when a range is
 * empty or reversed, -E2BIG beyond CKPT_MAX_RANGES.
 */
int procmaps_normalize_ranges(const struct ckpt_range *ranges, size_t n, struct ckpt_range **ret,
                              size_t *ret_n);

/*
 * Clip regions to normalized ranges: only pages wholly inside a range are
 * kept (range bounds page-aligned inward); a region crossing several ranges
 * yields several regions. The parts of the ranges that no mapping covers are
 * returned in ret_skipped (coalesced, sorted). ranges == NULL: copy all.
 */
int procmaps_clip(const struct ckpt_region *regions, size_t n, const struct ckpt_range *ranges,
                  size_t n_ranges, struct ckpt_region **ret, size_t *ret_n,
                  struct ckpt_range **ret_skipped, size_t *ret_n_skipped);

/*
 * The identity (device, inode, size, change time) of the file a mapping maps,
 * for a region recorded by reference. vma is the mapping as the maps file gave
 * it (not clipped). Taken from the mapping itself (/proc/PID/map_files, which
 * needs CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE), else from the path when it
 * still names the mapped inode (device and inode as in the maps line: the
 * mapping keeps that inode alive, so no other file has them). -ESTALE when
 * neither names the mapped file any more.
 */
int procmaps_file_identity(pid_t pid, const struct ckpt_region *vma,
                           struct ckpt_file_identity *ret);

/* Free an array of regions and their paths. Returns NULL. */
struct ckpt_region *procmaps_free(struct ckpt_region *regions, size_t n);
