/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * export-core.c: see export-core.h. Runs on a worker thread.
 *
 * Owns the ELF core layout (headers, notes, where each segment lies). It only
 * reads the view and asks its page reader for contents; it never touches the
 * store's internals, a live process or any file but the output.
 */
#include "export-core.h"

#include <assert.h>
#include <elf.h>
#include <stdarg.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/procfs.h>
#include <sys/stat.h>
#include <sys/user.h>
#include <unistd.h>

#include "fd-util.h"
#include "log.h"
#include "macro.h"

#define CORE_NOTE_NAME "CORE"
/* Pages gathered into one pwrite(). */
#define CORE_BATCH_PAGES 64u

_Static_assert(sizeof(((struct elf_prstatus *)0)->pr_reg) == sizeof(struct user_regs_struct),
               "pr_reg holds a user_regs_struct");
_Static_assert(sizeof(struct user_fpregs_struct) == 512, "fxsave area");

/* How much of a region goes into the file. */
enum seg_fill {
        SEG_NONE,   /* p_filesz 0: the debugger reads it from the file, or it is unknown */
        SEG_HEADER, /* the first page only (an ELF header of a mapped file) */
        SEG_STORED, /* every page; only listed DATA pages have content */
        SEG_FILE,   /* every page of a reference region, through the reader */
};

struct note_buf {
        uint8_t *data;
        size_t size, alloc;
};

struct core_writer {
        int fd;
        export_page_reader reader;
        void *userdata;
        const struct ckpt_manifest *view;
        struct export_result *ret;
        uint8_t *batch;     /* CORE_BATCH_PAGES pages waiting to be written */
        uint64_t batch_off; /* file offset of batch[0] */
        size_t batch_n;
};

static int note_reserve(struct note_buf *nb, size_t more)
{
        size_t n;
        uint8_t *p;

        if (nb->size + more <= nb->alloc)
                return 0;
        n = MAX(nb->alloc * 2, nb->size + more + 4096);
        p = realloc(nb->data, n);
        if (!p)
                return -ENOMEM;
        nb->data = p;
        nb->alloc = n;
        return 0;
}

/* One note: header, name and descriptor each padded to 4 bytes, as the kernel
 * writes them in core files. */
static int note_add(struct note_buf *nb, uint32_t type, const void *desc, size_t descsz)
{
        size_t namesz = sizeof(CORE_NOTE_NAME);
        size_t need = sizeof(Elf64_Nhdr) + ((namesz + 3) & ~3ul) + ((descsz + 3) & ~3ul);
        Elf64_Nhdr h = {
                .n_namesz = (Elf64_Word)namesz, .n_descsz = (Elf64_Word)descsz, .n_type = type};
        uint8_t *p;
        int r;

        if (descsz > UINT32_MAX)
                return -E2BIG;
        r = note_reserve(nb, need);
        if (r < 0)
                return r;
        p = nb->data + nb->size;
        memset(p, 0, need);
        memcpy(p, &h, sizeof(h));
        p += sizeof(h);
        memcpy(p, CORE_NOTE_NAME, namesz);
        p += (namesz + 3) & ~3ul;
        if (descsz > 0)
                memcpy(p, desc, descsz);
        nb->size += need;
        return 0;
}

static int note_prstatus(struct note_buf *nb, const struct ckpt_manifest *view,
                         const struct ckpt_thread *t)
{
        struct elf_prstatus st = {};

        st.pr_pid = t->tid;
        /* The thread-group leader's pid is the process's; the parent, group
         * and session are not recorded in a checkpoint. */
        memcpy(&st.pr_reg, t->regs, MIN((size_t)t->regs_size, sizeof(st.pr_reg)));
        st.pr_fpvalid = t->fpregs_size > 0;
        return note_add(nb, NT_PRSTATUS, &st, sizeof(st));
}

static int note_fpregset(struct note_buf *nb, const struct ckpt_thread *t)
{
        struct user_fpregs_struct fp = {};

        if (t->fpregs_size == 0)
                return 0;
        memcpy(&fp, t->fpregs, MIN((size_t)t->fpregs_size, sizeof(fp)));
        return note_add(nb, NT_FPREGSET, &fp, sizeof(fp));
}

static int note_prpsinfo(struct note_buf *nb, const struct ckpt_manifest *view)
{
        struct elf_prpsinfo ps = {};

        /* Every thread was held in a ptrace stop at the frozen moment. */
        ps.pr_state = 3;
        ps.pr_sname = 't';
        ps.pr_uid = view->uid;
        ps.pr_gid = 0;
        ps.pr_pid = view->pid;
        memcpy(ps.pr_fname, view->comm, MIN(sizeof(ps.pr_fname), sizeof(view->comm)));
        ps.pr_fname[sizeof(ps.pr_fname) - 1] = 0;
        /* The command line is not recorded; the name is the next best thing. */
        snprintf(ps.pr_psargs, sizeof(ps.pr_psargs), "%s", ps.pr_fname);
        return note_add(nb, NT_PRPSINFO, &ps, sizeof(ps));
}

static bool region_in_nt_file(const struct ckpt_region *rg)
{
        return (rg->flags & CKPT_REGION_FILE) && rg->path && rg->path[0] == '/';
}

/* NT_FILE: count, page size, {start, end, offset in pages} per file mapping,
 * then the paths, NUL-terminated, in the same order. */
static int note_file(struct note_buf *nb, const struct ckpt_manifest *view)
{
        _cleanup_free_ uint8_t *desc = NULL;
        size_t count = 0, names = 0, size, at;
        uint64_t *w;

        for (size_t i = 0; i < view->n_regions; i++)
                if (region_in_nt_file(&view->regions[i])) {
                        count++;
                        names += strlen(view->regions[i].path) + 1;
                }
        if (count == 0)
                return 0;
        size = 2 * sizeof(uint64_t) + count * 3 * sizeof(uint64_t) + names;
        desc = calloc(1, size);
        if (!desc)
                return -ENOMEM;
        w = (uint64_t *)desc;
        w[0] = count;
        w[1] = PAGE_SIZE_4K;
        at = 2;
        for (size_t i = 0; i < view->n_regions; i++) {
                const struct ckpt_region *rg = &view->regions[i];
                if (!region_in_nt_file(rg))
                        continue;
                w[at++] = rg->start;
                w[at++] = rg->end;
                w[at++] = rg->offset / PAGE_SIZE_4K;
        }
        at *= sizeof(uint64_t);
        for (size_t i = 0; i < view->n_regions; i++) {
                const struct ckpt_region *rg = &view->regions[i];
                size_t l;
                if (!region_in_nt_file(rg))
                        continue;
                l = strlen(rg->path) + 1;
                memcpy(desc + at, rg->path, l);
                at += l;
        }
        return note_add(nb, NT_FILE, desc, size);
}

/* Notes in the order the kernel writes them: the leader's prstatus, the
 * process-wide notes, the leader's other register sets, then every further
 * thread's prstatus and register sets. */
static int build_notes(const struct ckpt_manifest *view, const uint64_t *auxv, size_t auxv_words,
                       struct note_buf *nb)
{
        const struct ckpt_thread *leader = &view->threads[0];
        int r;

        for (size_t i = 0; i < view->n_threads; i++)
                if (view->threads[i].tid == view->pid) {
                        leader = &view->threads[i];
                        break;
                }

        r = note_prstatus(nb, view, leader);
        if (r < 0)
                return r;
        r = note_prpsinfo(nb, view);
        if (r < 0)
                return r;
        if (auxv_words > 0) {
                r = note_add(nb, NT_AUXV, auxv, auxv_words * sizeof(uint64_t));
                if (r < 0)
                        return r;
        }
        r = note_file(nb, view);
        if (r < 0)
                return r;
        r = note_fpregset(nb, leader);
        if (r < 0)
                return r;
        for (size_t i = 0; i < view->n_threads; i++) {
                const struct ckpt_thread *t = &view->threads[i];
                if (t == leader)
                        continue;
                r = note_prstatus(nb, view, t);
                if (r < 0)
                        return r;
                r = note_fpregset(nb, t);
                if (r < 0)
                        return r;
        }
        return 0;
}

static bool region_has_data(const struct ckpt_manifest *view, const struct ckpt_region *rg)
{
        for (size_t i = manifest_page_lower_bound(view, rg->start);
             i < view->n_pages && view->pages[i].addr < rg->end; i++)
                if (view->pages[i].kind == CKPT_PAGE_DATA)
                        return true;
        return false;
}

static bool page_is_zero(const void *p)
{
        const uint64_t *w = p;

        for (size_t i = 0; i < PAGE_SIZE_4K / sizeof(*w); i++)
                if (w[i])
                        return false;
        return true;
}

static int set_error(struct export_result *ret, int r, const char *fmt, ...) _printf_(3, 4);
static int set_error(struct export_result *ret, int r, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(ret->error, sizeof(ret->error), fmt, ap);
        va_end(ap);
        return r;
}

static int batch_flush(struct core_writer *w)
{
        int r;

        if (w->batch_n == 0)
                return 0;
        r = pwrite_all(w->fd, w->batch, w->batch_n * PAGE_SIZE_4K, w->batch_off);
        if (r < 0)
                return set_error(w->ret, r, "cannot write the core file: %s", strerror(-r));
        w->batch_n = 0;
        return 0;
}

/* The page at addr, read into the slot batch_slot() gave, is to be written.
 * Consecutive pages are written together. */
static int batch_commit(struct core_writer *w, uint64_t addr)
{
        int r;

        w->batch_n++;
        r = export_result_add_run(w->ret, addr);
        if (r < 0)
                return r;
        if (w->batch_n == CORE_BATCH_PAGES)
                return batch_flush(w);
        return 0;
}

/* A buffer for the page going to file offset off: the next slot of the batch when it
 * continues it, else a fresh batch. */
static int batch_slot(struct core_writer *w, uint64_t off, uint8_t **ret)
{
        int r;

        if (w->batch_n > 0 && w->batch_off + w->batch_n * PAGE_SIZE_4K != off) {
                r = batch_flush(w);
                if (r < 0)
                        return r;
        }
        if (w->batch_n == 0)
                w->batch_off = off;
        *ret = w->batch + w->batch_n * PAGE_SIZE_4K;
        return 0;
}

/* Read one page and, unless it is zero, queue it at file offset off. */
static int write_page(struct core_writer *w, const struct ckpt_region *rg, uint64_t addr,
                      uint64_t off)
{
        uint8_t *buf;
        int r;

        r = batch_slot(w, off, &buf);
        if (r < 0)
                return r;
        r = w->reader(w->userdata, w->view, addr, buf);
        if ((r == -ESTALE || r == -ENOENT) && (rg->flags & CKPT_REGION_REF) &&
            !manifest_find_page(w->view, addr)) {
                /* A file mapping whose file changed, vanished or may not be
                 * read by the caller: a hole (the page source noted why), and
                 * the debugger reads nothing rather than wrong bytes. */
                log_debug("export: page 0x%llx of changed file '%s' left as a hole",
                          (unsigned long long)addr, rg->path ? rg->path : "");
                return 0;
        }
        if (r < 0)
                return set_error(w->ret, r, "cannot read page 0x%llx of checkpoint %llu: %s",
                                 (unsigned long long)addr, (unsigned long long)w->view->id,
                                 r == -EBADMSG ? "object is corrupt" : strerror(-r));
        if (r == 0 || page_is_zero(buf))
                return 0;
        return batch_commit(w, addr);
}

static enum seg_fill region_fill(struct core_writer *w, const struct ckpt_region *rg,
                                 uint8_t *scratch)
{
        if (rg->flags & (CKPT_REGION_SPECIAL | CKPT_REGION_UNREADABLE))
                return SEG_NONE;
        if (!(rg->flags & CKPT_REGION_REF))
                return SEG_STORED;
        if (region_has_data(w->view, rg))
                return SEG_FILE;
        /* As the kernel's coredump_filter bit 4 does: the first page of a
         * mapped ELF file, so a debugger can tell which file (build id). */
        if (rg->offset == 0 && w->reader(w->userdata, w->view, rg->start, scratch) > 0 &&
            memcmp(scratch, ELFMAG, SELFMAG) == 0)
                return SEG_HEADER;
        return SEG_NONE;
}

/*
 * The auxiliary vector. A checkpoint does not record it, but the process
 * keeps it where the kernel put it at exec: near the top of the main
 * thread's stack, after argv[] and envp[] and their NULLs. Debuggers need it
 * (AT_ENTRY relocates a PIE executable, AT_BASE finds the dynamic linker,
 * AT_PHDR the program headers), so it is looked for in the top pages of the
 * stack: the kernel writes AT_PHDR, AT_PHENT = sizeof(Elf64_Phdr) and AT_PHNUM
 * one after the other, and the vector runs back from there to the NULL that
 * ends envp[] and forward to AT_NULL. Not found (a stack outside the
 * checkpointed ranges, an exotic loader): no NT_AUXV, as before.
 */
#define AUXV_SCAN_PAGES 64u
#define AUXV_MAX_WORDS 128u
#define AUXV_TYPE_MAX 64u /* types in use are below this (AT_MINSIGSTKSZ is 51) */

/* Whether the core will hold content at addr (a region that is written). */
static bool core_has_page(struct core_writer *w, uint64_t addr)
{
        const struct ckpt_region *rg = manifest_find_region(w->view, addr);

        return rg && !(rg->flags & (CKPT_REGION_SPECIAL | CKPT_REGION_UNREADABLE)) &&
               (!(rg->flags & CKPT_REGION_REF) || rg->offset == 0);
}

static int find_auxv(struct core_writer *w, uint64_t **ret, size_t *ret_words)
{
        const struct ckpt_manifest *view = w->view;
        const struct ckpt_region *stack = NULL;
        _cleanup_free_ uint64_t *words = NULL;
        uint64_t base;
        size_t n, npages;
        int r;

        *ret = NULL;
        *ret_words = 0;
        for (size_t i = 0; i < view->n_regions; i++)
                if ((view->regions[i].flags & CKPT_REGION_STACK) &&
                    !(view->regions[i].flags & CKPT_REGION_UNREADABLE))
                        stack = &view->regions[i];
        if (!stack)
                return 0;
        npages = MIN((uint64_t)AUXV_SCAN_PAGES, (stack->end - stack->start) / PAGE_SIZE_4K);
        base = stack->end - npages * PAGE_SIZE_4K;
        words = calloc(npages, PAGE_SIZE_4K);
        if (!words)
                return -ENOMEM;
        for (size_t k = manifest_page_lower_bound(view, base);
             k < view->n_pages && view->pages[k].addr < stack->end; k++) {
                if (view->pages[k].kind != CKPT_PAGE_DATA)
                        continue;
                r = w->reader(w->userdata, view, view->pages[k].addr,
                              (uint8_t *)words + (view->pages[k].addr - base));
                if (r < 0)
                        return r;
        }
        n = npages * PAGE_SIZE_4K / sizeof(uint64_t);

        /* From the top down: the vector is the last thing below the strings. */
        for (size_t i = n >= 6 ? n - 6 : 0; i-- > 1;) {
                size_t start, end;

                if (words[i] != AT_PHDR || words[i + 2] != AT_PHENT ||
                    words[i + 3] != sizeof(Elf64_Phdr) || words[i + 4] != AT_PHNUM)
                        continue;
                start = i;
                while (start >= 3 && words[start - 2] != AT_NULL &&
                       words[start - 2] < AUXV_TYPE_MAX)
                        start -= 2;
                if (words[start - 1] != 0) /* envp[]'s NULL */
                        continue;
                end = i;
                while (end + 1 < n && words[end] != AT_NULL && end - start < AUXV_MAX_WORDS)
                        end += 2;
                if (end + 1 >= n || words[end] != AT_NULL)
                        continue;
                end += 2; /* AT_NULL is part of the vector */
                *ret = malloc((end - start) * sizeof(uint64_t));
                if (!*ret)
                        return -ENOMEM;
                memcpy(*ret, words + start, (end - start) * sizeof(uint64_t));
                *ret_words = end - start;
                /* The vDSO is never read (it is the kernel's, not the
                 * process's), so the core cannot show it: a debugger told
                 * where it is would fail to load it. Keep the entry's slot. */
                for (size_t k = 0; k + 1 < *ret_words; k += 2)
                        if ((*ret)[k] == AT_SYSINFO_EHDR && !core_has_page(w, (*ret)[k + 1])) {
                                (*ret)[k] = AT_IGNORE;
                                (*ret)[k + 1] = 0;
                        }
                return 1;
        }
        return 0;
}

/* Step 2: layout. ELF header, program headers, (with more than 65534 of
 * them, the one section header of extended numbering), the notes, then
 * page-aligned segment data, so that every page of every segment is
 * page-aligned in the file and holes stay holes. Fills ph[], fill[] and the
 * result's layout; returns the size of the file. */
static uint64_t core_layout(struct core_writer *w, uint64_t notes_off, size_t notes_size,
                            Elf64_Phdr *ph, enum seg_fill *fill, uint8_t *scratch)
{
        const struct ckpt_manifest *view = w->view;
        struct export_result *ret = w->ret;
        uint64_t off = PAGE_ALIGN_UP(notes_off + notes_size);

        ph[0] = (Elf64_Phdr){
                .p_type = PT_NOTE, .p_offset = notes_off, .p_filesz = notes_size, .p_align = 4};
        for (size_t i = 0; i < view->n_regions; i++) {
                const struct ckpt_region *rg = &view->regions[i];
                uint64_t memsz = rg->end - rg->start, filesz;

                fill[i] = region_fill(w, rg, scratch);
                filesz = fill[i] == SEG_NONE ? 0 : fill[i] == SEG_HEADER ? PAGE_SIZE_4K : memsz;
                ph[i + 1] = (Elf64_Phdr){
                        .p_type = PT_LOAD,
                        .p_flags = ((rg->prot & PROT_READ) ? PF_R : 0) |
                                   ((rg->prot & PROT_WRITE) ? PF_W : 0) |
                                   ((rg->prot & PROT_EXEC) ? PF_X : 0),
                        .p_offset = off,
                        .p_vaddr = rg->start,
                        .p_filesz = filesz,
                        .p_memsz = memsz,
                        .p_align = PAGE_SIZE_4K,
                };
                ret->layout[i] = (struct export_extent){rg->start, rg->end, off};
                off += filesz;
        }
        ret->n_layout = view->n_regions;
        ret->size = off;
        return off;
}

/* The ELF header of a core of nph program headers, and with extended
 * numbering (extnum) section header 0, which then holds the real count. */
static void core_headers(uint64_t nph, bool extnum, Elf64_Ehdr *eh, Elf64_Shdr *sh)
{
        memcpy(eh->e_ident, ELFMAG, SELFMAG);
        eh->e_ident[EI_CLASS] = ELFCLASS64;
        eh->e_ident[EI_DATA] = ELFDATA2LSB;
        eh->e_ident[EI_VERSION] = EV_CURRENT;
        eh->e_ident[EI_OSABI] = ELFOSABI_NONE;
        eh->e_type = ET_CORE;
        eh->e_machine = EM_X86_64;
        eh->e_version = EV_CURRENT;
        eh->e_phoff = sizeof(Elf64_Ehdr);
        eh->e_ehsize = sizeof(Elf64_Ehdr);
        eh->e_phentsize = sizeof(Elf64_Phdr);
        eh->e_phnum = extnum ? PN_XNUM : (Elf64_Half)nph;
        if (extnum) {
                /* The real count lives in section header 0 (ELF gABI). */
                eh->e_shoff = sizeof(Elf64_Ehdr) + nph * sizeof(Elf64_Phdr);
                eh->e_shentsize = sizeof(Elf64_Shdr);
                eh->e_shnum = 1;
                eh->e_shstrndx = SHN_UNDEF;
                sh->sh_type = SHT_NULL;
                sh->sh_size = 1;
                sh->sh_info = (Elf64_Word)nph;
        }
}

/* Step 3: headers and notes; the file is sized first (to size), so whatever
 * is not written after is a hole. */
static int core_write_headers(int fd, struct export_result *ret, uint64_t size,
                              const Elf64_Ehdr *eh, const Elf64_Phdr *ph, uint64_t nph,
                              const Elf64_Shdr *sh, bool extnum, const struct note_buf *notes,
                              uint64_t notes_off)
{
        int kind, r;

        kind = export_output_kind(fd, ret->error, sizeof(ret->error));
        if (kind == EXPORT_OUTPUT_STREAM)
                return set_error(ret, -ESPIPE,
                                 "a core file is written at offsets: it cannot go to a pipe or "
                                 "another stream (raw exports can)");
        if (kind < 0)
                return kind;
        if (kind == EXPORT_OUTPUT_FILE &&
            (ftruncate(fd, 0) < 0 || ftruncate(fd, (off_t)size) < 0)) {
                r = -errno;
                return set_error(ret, r, "cannot size the core file: %s", strerror(-r));
        }
        r = pwrite_all(fd, eh, sizeof(*eh), 0);
        if (r >= 0)
                r = pwrite_all(fd, ph, nph * sizeof(*ph), sizeof(*eh));
        if (r >= 0 && extnum)
                r = pwrite_all(fd, sh, sizeof(*sh), eh->e_shoff);
        if (r >= 0)
                r = pwrite_all(fd, notes->data, notes->size, notes_off);
        if (r < 0)
                return set_error(ret, r, "cannot write the core file: %s", strerror(-r));
        return 0;
}

/* Step 4: segment data. Stored regions: only DATA pages have content (the
 * rest is zero); reference regions: through the reader. */
static int core_write_segments(struct core_writer *w, const Elf64_Phdr *ph,
                               const enum seg_fill *fill)
{
        const struct ckpt_manifest *view = w->view;
        int r;

        for (size_t i = 0; i < view->n_regions; i++) {
                const struct ckpt_region *rg = &view->regions[i];
                uint64_t seg = ph[i + 1].p_offset;

                switch (fill[i]) {
                case SEG_NONE:
                        break;
                case SEG_STORED:
                        for (size_t k = manifest_page_lower_bound(view, rg->start);
                             k < view->n_pages && view->pages[k].addr < rg->end; k++) {
                                uint64_t a = view->pages[k].addr;
                                if (view->pages[k].kind != CKPT_PAGE_DATA)
                                        continue;
                                r = write_page(w, rg, a, seg + (a - rg->start));
                                if (r < 0)
                                        return r;
                        }
                        break;
                case SEG_HEADER:
                        r = write_page(w, rg, rg->start, seg);
                        if (r < 0)
                                return r;
                        break;
                case SEG_FILE:
                        for (uint64_t a = rg->start; a < rg->end; a += PAGE_SIZE_4K) {
                                r = write_page(w, rg, a, seg + (a - rg->start));
                                if (r < 0)
                                        return r;
                        }
                        break;
                }
        }
        return 0;
}

int export_core_from(const struct ckpt_manifest *view, export_page_reader reader, void *userdata,
                     int fd, struct export_result *ret)
{
        _cleanup_free_ Elf64_Phdr *ph = NULL;
        _cleanup_free_ uint8_t *batch = NULL, *scratch = NULL;
        _cleanup_free_ enum seg_fill *fill = NULL;
        _cleanup_free_ uint64_t *auxv = NULL;
        size_t auxv_words = 0;
        struct note_buf notes = {};
        struct core_writer w;
        Elf64_Ehdr eh = {};
        Elf64_Shdr sh = {};
        uint64_t nph, size, notes_off;
        bool extnum;
        int r;

        if (view->arch != CKPT_ARCH_X86_64)
                return set_error(ret, -EINVAL, "checkpoint %llu is not of an x86_64 process",
                                 (unsigned long long)view->id);
        if (view->n_threads == 0)
                return set_error(ret, -EINVAL, "checkpoint %llu has no thread state",
                                 (unsigned long long)view->id);

        batch = malloc(CORE_BATCH_PAGES * PAGE_SIZE_4K);
        scratch = malloc(PAGE_SIZE_4K);
        nph = 1 + (uint64_t)view->n_regions;
        ph = calloc(nph, sizeof(*ph));
        fill = calloc(MAX(view->n_regions, 1u), sizeof(*fill));
        ret->layout = calloc(MAX(view->n_regions, 1u), sizeof(*ret->layout));
        if (!batch || !scratch || !ph || !fill || !ret->layout)
                return -ENOMEM;
        w = (struct core_writer){.fd = fd,
                                 .reader = reader,
                                 .userdata = userdata,
                                 .view = view,
                                 .ret = ret,
                                 .batch = batch};

        /* Step 1: notes, in memory (a few KiB per thread). */
        r = find_auxv(&w, &auxv, &auxv_words);
        if (r < 0)
                return set_error(ret, r, "cannot read the stack of checkpoint %llu: %s",
                                 (unsigned long long)view->id, strerror(-r));
        r = build_notes(view, auxv, auxv_words, &notes);
        if (r < 0) {
                free(notes.data);
                return set_error(ret, r, "cannot build the notes: %s", strerror(-r));
        }

        extnum = nph >= PN_XNUM;
        notes_off = sizeof(Elf64_Ehdr) + nph * sizeof(Elf64_Phdr) + (extnum ? sizeof(sh) : 0);
        size = core_layout(&w, notes_off, notes.size, ph, fill, scratch);
        core_headers(nph, extnum, &eh, &sh);
        r = core_write_headers(fd, ret, size, &eh, ph, nph, &sh, extnum, &notes, notes_off);
        free(notes.data);
        if (r < 0)
                return r;

        r = core_write_segments(&w, ph, fill);
        if (r < 0)
                return r;
        r = batch_flush(&w);
        if (r < 0)
                return r;
        if (fsync(fd) < 0 && errno != EINVAL && errno != EROFS) {
                r = -errno;
                return set_error(ret, r, "cannot sync the core file: %s", strerror(-r));
        }
        return 0;
}

static int source_reader(void *userdata, const struct ckpt_manifest *view, uint64_t addr, void *buf)
{
        struct export_source *src = userdata;

        assert(view == src->view);
        return export_source_read(src, addr, buf);
}

int export_core(struct ckpt_store *s, const struct ckpt_manifest *view, int fd,
                const struct export_creds *creds, const struct store_progress *progress,
                struct export_result *ret)
{
        _cleanup_(export_source_done) struct export_source src;

        export_source_init(&src, s, view, creds, ret);
        src.progress = progress;
        for (size_t i = 0; i < view->n_pages; i++)
                src.total += view->pages[i].kind == CKPT_PAGE_DATA;
        for (size_t i = 0; i < view->n_regions; i++)
                if (view->regions[i].flags & CKPT_REGION_REF)
                        src.total += (view->regions[i].end - view->regions[i].start) / PAGE_SIZE_4K;
        return export_core_from(view, source_reader, &src, fd, ret);
}
