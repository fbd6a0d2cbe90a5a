/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * export-core.h: a checkpoint as an ELF core file, readable by gdb, eu-stack,
 * readelf and anything else that reads the kernel's core dumps.
 *
 * Owns the ELF layout only; pages come from an export_source (the store, or
 * the file of a region recorded by reference, opened for the caller as
 * export.h says). Never reads a live process.
 *
 *   ELF64 header (ET_CORE, EM_X86_64)
 *   program headers: PT_NOTE, then one PT_LOAD per region in address order
 *   PT_NOTE data, in the kernel's order:
 *     NT_PRSTATUS (first thread = the thread-group leader)
 *     NT_PRPSINFO                       one per process
 *     NT_AUXV                           when found on the stack (see export-core.c)
 *     NT_FILE                           one per process (file-backed regions)
 *     NT_FPREGSET (first thread)
 *     NT_PRSTATUS, NT_FPREGSET          each further thread
 *   page-aligned segment data: region i at layout[i].offset
 *
 * Segment contents follow the kernel's default coredump_filter: regions whose
 * pages are stored are written in full (p_filesz = p_memsz); regions recorded
 * by reference (CKPT_REGION_REF) are written in full only when some of their
 * pages were copied on write (then they differ from the file), otherwise only
 * their first page when it is an ELF header (as the kernel does, so debuggers
 * can match build ids), else not at all (p_filesz = 0): a debugger reads those
 * from the files themselves. [vvar]-like special regions and unreadable ones
 * get p_filesz = 0. Pages that are zero or not in the checkpoint are holes:
 * the file is sparse, and its apparent size is what the headers promise.
 */
#pragma once

#include "export.h"
#include "manifest.h"
#include "store.h"

/*
 * Where export_core_from() gets page contents: like export_read_page(), fill
 * buf with the 4 KiB at addr and return 1, return 0 for a zero or absent page,
 * or a negative errno (-ESTALE / -ENOENT for a page of a reference region whose
 * file changed or vanished: left as a hole).
 */
typedef int (*export_page_reader)(void *userdata, const struct ckpt_manifest *view, uint64_t addr,
                                  void *buf);

/*
 * Write the core file of `view` (a FULL view, from store_view()) to fd, which
 * is truncated first. ret->layout gets one extent per PT_LOAD (start, end,
 * file offset), ret->written the page runs written, ret->size the file size.
 * Errors: -EINVAL (not an x86_64 view, or no thread), -EBADMSG (a corrupt
 * object), -errno of a write; ret->error says more.
 */
/* progress (NULL: none): pages read of the listed DATA pages and those of
 * reference regions. */
int export_core(struct ckpt_store *s, const struct ckpt_manifest *view, int fd,
                const struct export_creds *creds, const struct store_progress *progress,
                struct export_result *ret);

/* The same with another page source (export_core() uses an export_source on
 * s, reading reference files for creds, see export.h): the reader is asked only for listed DATA
 * pages of stored regions and for the pages of reference regions that go into the file. */
int export_core_from(const struct ckpt_manifest *view, export_page_reader reader, void *userdata,
                     int fd, struct export_result *ret);
