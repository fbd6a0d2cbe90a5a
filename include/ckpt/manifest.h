/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * On-disk format of a manifest (one file per checkpoint, <state>/manifests/<id>).
 * All integers little-endian, fixed width; 64-bit counts and sizes throughout;
 * a field is never reused. Layout:
 *
 *   struct ckpt_manifest_header     (CKPT_MANIFEST_MAGIC, version, sizes)
 *   ranges[n_ranges]                struct ckpt_disk_range
 *   regions[n_regions]              struct ckpt_disk_region, then path_len bytes
 *   threads[n_threads]              struct ckpt_disk_thread, then regs, fpregs
 *   pages[n_pages]                  struct ckpt_disk_page
 *   trailer                         SHA-256 of everything before it
 *
 * Unknown header flags are rejected (-EBADMSG) so an old reader never
 * misreads a newer manifest. The exact structs live in daemon/manifest.c's
 * sibling definitions below.
 */
#pragma once

#include <stdint.h>

#define CKPT_MANIFEST_MAGIC "CKPTMAN\0"
#define CKPT_MANIFEST_VERSION 1u

#define CKPT_ARCH_X86_64 1u

/* A complete page table is written at least every this many checkpoints of a
 * process, so reading any checkpoint resolves a bounded chain. */
#define CKPT_FULL_EVERY 16
