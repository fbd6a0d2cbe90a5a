/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-core: ELF core export (daemon/store/export-core.c).
 *
 *   layout        a view built by hand: ELF header, note order and contents,
 *                 p_filesz rules per kind of region, page contents at their
 *                 offsets, holes where pages are zero or absent (SEEK_DATA)
 *   errors        a failing page read fails the export with a message
 *   extnum        more than 65535 program headers: extended numbering
 *   live          (root) a stackdemo frozen with the freezer, its memory read
 *                 from /proc/PID/mem into a core; gdb shows its stacks, its
 *                 threads and a global only memory holds
 *   checkpoint    (root) the same through checkpoint_run() into a temp store,
 *                 store_view() and export_core()
 */
#include <elf.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/procfs.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#include "checkpoint.h"
#include "export-core.h"
#include "freezer.h"
#include "macro.h"
#include "manifest.h"
#include "proc-util.h"
#include "procmaps.h"
#include "store.h"
#include "proc.h"
#include "tap.h"

static char stackdemo[PATH_MAX];
static char tmpdir[64];

/* ---- a stackdemo child with its stdin and stdout on pipes ---- */

struct demo {
        struct proc p;
        char ready[1024];
        uint64_t global;
        pid_t tids[80];
        int n_tids;
};

static void demo_stop(struct demo *d)
{
        proc_stop(&d->p);
}

static bool demo_start(struct demo *d, int threads)
{
        char arg[16];
        char *argv[] = {stackdemo, arg, NULL};
        char *p;

        *d = (struct demo){.p.in = -1};
        snprintf(arg, sizeof(arg), "%d", threads);
        ASSERT_OK(proc_start(&d->p, argv));
        ASSERT_OK(proc_line(&d->p, d->ready, sizeof(d->ready)));
        ASSERT(strncmp(d->ready, "ready ", 6) == 0);
        p = strstr(d->ready, "global=");
        ASSERT(p);
        d->global = strtoull(p + 7, NULL, 0);
        p = strstr(d->ready, "tids=");
        ASSERT(p);
        p += 5;
        while (*p && d->n_tids < (int)ELEMENTSOF(d->tids)) {
                d->tids[d->n_tids++] = (pid_t)strtol(p, &p, 10);
                if (*p == ',')
                        p++;
                else
                        break;
        }
        ASSERT_EQ(d->n_tids, threads + 1);
        ASSERT_EQ(d->tids[0], d->p.pid);
        /* Wait until the main thread sits in read() (syscall 0) on stdin,
         * its stack complete, rather than still returning from write(). */
        for (int i = 0; i < 500; i++) {
                char path[64], sc[64] = "";
                _cleanup_close_ int fd = -EBADF;
                snprintf(path, sizeof(path), "/proc/%d/syscall", (int)d->p.pid);
                fd = open(path, O_RDONLY | O_CLOEXEC);
                if (fd >= 0 && read(fd, sc, sizeof(sc) - 1) > 0 && strncmp(sc, "0 0x0 ", 6) == 0)
                        return true;
                usleep(10000);
        }
        ASSERT(!"stackdemo waits in read() on stdin");
        return true;
}

/* ---- running tools on a core file ---- */

static bool have_tool(const char *name)
{
        char cmd[256];

        snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", name);
        return system(cmd) == 0;
}

/* Output of a shell command, NUL-terminated, malloc'ed. */
static char *run_capture(const char *cmd)
{
        FILE *f = popen(cmd, "r");
        size_t n = 0, alloc = 0;
        char *out = NULL;
        int c;

        if (!f)
                return NULL;
        while ((c = fgetc(f)) != EOF) {
                if (n + 2 > alloc) {
                        alloc = alloc ? alloc * 2 : 4096;
                        char *p = realloc(out, alloc);
                        if (!p) {
                                free(out);
                                pclose(f);
                                return NULL;
                        }
                        out = p;
                }
                out[n++] = (char)c;
        }
        pclose(f);
        if (!out)
                out = calloc(1, 1);
        else
                out[n] = 0;
        return out;
}

/* gdb's answers about a core of a stackdemo: the main thread's stack is
 * level_three, level_two, level_one, main in that order; every thread is
 * listed; stackdemo_global and stackdemo_message hold what the process set. */
static bool check_with_gdb(const char *core, const struct demo *d)
{
        _cleanup_free_ char *out = NULL, *rd = NULL;
        char cmd[3 * PATH_MAX], want[128];
        const char *p3, *p2, *p1, *pm;

        snprintf(cmd, sizeof(cmd),
                 "gdb -nx -batch -ex 'set debuginfod enabled off' -ex 'thread 1' -ex bt "
                 "-ex 'info threads' -ex 'print/x stackdemo_global' "
                 "-ex 'print stackdemo_message' -ex 'thread apply all bt' "
                 "-ex 'info proc mappings' '%s' '%s' 2>&1",
                 stackdemo, core);
        out = run_capture(cmd);
        ASSERT(out);
        p3 = strstr(out, " level_three (");
        p2 = strstr(out, " level_two (");
        p1 = strstr(out, " level_one (");
        pm = strstr(out, " main (");
        if (!p3 || !p2 || !p1 || !pm || !(p3 < p2 && p2 < p1 && p1 < pm)) {
                fprintf(stderr, "# gdb said:\n%s\n", out);
                ASSERT(!"backtrace is level_three, level_two, level_one, main");
        }
        for (int i = 0; i < d->n_tids; i++) {
                snprintf(want, sizeof(want), "(LWP %d)", (int)d->tids[i]);
                if (!strstr(out, want)) {
                        fprintf(stderr, "# gdb said:\n%s\n", out);
                        ASSERT(!"info threads lists every thread");
                }
        }
        if (d->n_tids > 1 && !strstr(out, "worker_wait")) {
                fprintf(stderr, "# gdb said:\n%s\n", out);
                ASSERT(!"a worker thread's frame is visible");
        }
        snprintf(want, sizeof(want), "= 0x%llx\n", (unsigned long long)d->global);
        if (!strstr(out, want)) {
                fprintf(stderr, "# gdb said:\n%s\n# wanted %s", out, want);
                ASSERT(!"stackdemo_global has the process's value");
        }
        /* The file mappings (NT_FILE), as gdb lists them. */
        if (!strstr(out, stackdemo) || !strstr(out, "libc.so")) {
                fprintf(stderr, "# gdb said:\n%s\n", out);
                ASSERT(!"info proc mappings shows the mapped files");
        }
        snprintf(want, sizeof(want), "\"stackdemo %d\"", (int)d->p.pid);
        if (!strstr(out, want)) {
                fprintf(stderr, "# gdb said:\n%s\n# wanted %s\n", out, want);
                ASSERT(!"stackdemo_message points at the heap string");
        }

        snprintf(cmd, sizeof(cmd), "readelf -n '%s' 2>&1", core);
        rd = run_capture(cmd);
        ASSERT(rd);
        ASSERT(strstr(rd, "NT_PRSTATUS"));
        ASSERT(strstr(rd, "NT_PRPSINFO"));
        ASSERT(strstr(rd, "NT_FPREGSET"));
        ASSERT(strstr(rd, "NT_FILE"));
        return true;
}

/* ---- reading the ELF we wrote ---- */

struct core_file {
        uint8_t *map;
        size_t size;
        const Elf64_Ehdr *eh;
        const Elf64_Phdr *ph;
        size_t nph;
};

static void core_file_done(struct core_file *c)
{
        if (c->map && c->map != MAP_FAILED)
                munmap(c->map, c->size);
        c->map = NULL;
}

static bool core_file_open(int fd, struct core_file *c)
{
        struct stat st;

        ASSERT(fstat(fd, &st) == 0);
        ASSERT(st.st_size >= (off_t)sizeof(Elf64_Ehdr));
        c->size = (size_t)st.st_size;
        c->map = mmap(NULL, c->size, PROT_READ, MAP_SHARED, fd, 0);
        ASSERT(c->map != MAP_FAILED);
        c->eh = (const Elf64_Ehdr *)c->map;
        ASSERT(memcmp(c->eh->e_ident, ELFMAG, SELFMAG) == 0);
        ASSERT_EQ(c->eh->e_ident[EI_CLASS], ELFCLASS64);
        ASSERT_EQ(c->eh->e_ident[EI_DATA], ELFDATA2LSB);
        ASSERT_EQ(c->eh->e_type, ET_CORE);
        ASSERT_EQ(c->eh->e_machine, EM_X86_64);
        ASSERT_EQ(c->eh->e_phentsize, sizeof(Elf64_Phdr));
        c->nph = c->eh->e_phnum;
        if (c->nph == PN_XNUM) {
                const Elf64_Shdr *sh;
                ASSERT(c->eh->e_shoff + sizeof(Elf64_Shdr) <= c->size);
                sh = (const Elf64_Shdr *)(c->map + c->eh->e_shoff);
                c->nph = sh->sh_info;
        }
        ASSERT(c->eh->e_phoff + c->nph * sizeof(Elf64_Phdr) <= c->size);
        c->ph = (const Elf64_Phdr *)(c->map + c->eh->e_phoff);
        for (size_t i = 0; i < c->nph; i++)
                ASSERT(c->ph[i].p_offset + c->ph[i].p_filesz <= c->size);
        return true;
}

struct note {
        uint32_t type;
        const char *name;
        const uint8_t *desc;
        size_t descsz;
};

static bool core_notes(const struct core_file *c, struct note *ret, size_t max, size_t *ret_n)
{
        const Elf64_Phdr *np = &c->ph[0];
        size_t at, n = 0;

        ASSERT_EQ(np->p_type, PT_NOTE);
        at = np->p_offset;
        while (at < np->p_offset + np->p_filesz) {
                const Elf64_Nhdr *h = (const Elf64_Nhdr *)(c->map + at);
                size_t name_at = at + sizeof(*h);
                size_t desc_at = name_at + ((h->n_namesz + 3u) & ~3u);

                ASSERT(n < max);
                ASSERT(desc_at + h->n_descsz <= np->p_offset + np->p_filesz);
                ret[n++] = (struct note){h->n_type, (const char *)c->map + name_at,
                                         c->map + desc_at, h->n_descsz};
                at = desc_at + ((h->n_descsz + 3u) & ~3u);
        }
        ASSERT_EQ(at, np->p_offset + np->p_filesz);
        *ret_n = n;
        return true;
}

/* Whether [off, off + len) of fd is all hole (no data extent). */
static bool is_hole(int fd, off_t off, off_t len)
{
        off_t d = lseek(fd, off, SEEK_DATA);
        return d < 0 || d >= off + len;
}

/* ---- layout: a hand-built view ---- */

#define ANON_START 0x10000000ull
#define FILE_START 0x20000000ull
#define RELRO_START 0x30000000ull
#define VDSO_START 0x40000000ull

static void fill_pattern(uint64_t addr, void *buf)
{
        uint64_t *w = buf;

        for (size_t i = 0; i < PAGE_SIZE_4K / 8; i++)
                w[i] = addr ^ (i * 0x9e3779b97f4a7c15ull) ^ 0x1234;
}

/* Pages of the hand-built view: DATA pages get a pattern from their address,
 * reference pages come from the file (stackdemo), zero otherwise. */
static int pattern_reader(void *userdata, const struct ckpt_manifest *view, uint64_t addr,
                          void *buf)
{
        const struct ckpt_page *p = manifest_find_page(view, addr);
        const struct ckpt_region *rg = manifest_find_region(view, addr);
        int *calls = userdata;

        (*calls)++;
        if (p && p->kind == CKPT_PAGE_DATA) {
                fill_pattern(addr, buf);
                return 1;
        }
        if (p)
                return 0;
        if (rg && (rg->flags & CKPT_REGION_REF)) {
                _cleanup_close_ int fd = open(rg->path, O_RDONLY | O_CLOEXEC);
                ssize_t n;
                if (fd < 0)
                        return -errno;
                n = pread(fd, buf, PAGE_SIZE_4K, (off_t)(rg->offset + addr - rg->start));
                if (n < 0)
                        return -errno;
                memset((char *)buf + n, 0, PAGE_SIZE_4K - (size_t)n);
                return n > 0;
        }
        return 0;
}

static bool build_hand_view(struct ckpt_manifest *m)
{
        static const uint8_t key[32] = {1};
        struct ckpt_region rg;
        struct ckpt_thread t = {.regs_size = sizeof(struct user_regs_struct),
                                .fpregs_size = sizeof(struct user_fpregs_struct)};
        struct user_regs_struct regs = {};

        m->id = 7;
        m->kind = CKPT_MANIFEST_FULL;
        m->pid = 4242;
        m->uid = 1000;
        m->arch = CKPT_ARCH_X86_64;
        snprintf(m->comm, sizeof(m->comm), "handview");

        /* 16 anonymous pages: data at 0, 1, 5, 15; a listed zero page at 2. */
        rg = (struct ckpt_region){.start = ANON_START,
                                  .end = ANON_START + 16 * PAGE_SIZE_4K,
                                  .prot = PROT_READ | PROT_WRITE,
                                  .flags = CKPT_REGION_PRIVATE | CKPT_REGION_ANON};
        ASSERT_OK(manifest_add_region(m, &rg));
        /* A file mapping by reference, at offset 0 of an ELF file: header only. */
        rg = (struct ckpt_region){.start = FILE_START,
                                  .end = FILE_START + 4 * PAGE_SIZE_4K,
                                  .prot = PROT_READ | PROT_EXEC,
                                  .flags = CKPT_REGION_PRIVATE | CKPT_REGION_FILE | CKPT_REGION_REF,
                                  .track = CKPT_TRACK_REF,
                                  .inode = 1,
                                  .path = stackdemo};
        ASSERT_OK(manifest_add_region(m, &rg));
        /* By reference with one page copied on write: written in full. */
        rg = (struct ckpt_region){.start = RELRO_START,
                                  .end = RELRO_START + 3 * PAGE_SIZE_4K,
                                  .offset = 2 * PAGE_SIZE_4K,
                                  .prot = PROT_READ,
                                  .flags = CKPT_REGION_PRIVATE | CKPT_REGION_FILE | CKPT_REGION_REF,
                                  .track = CKPT_TRACK_REF,
                                  .inode = 1,
                                  .path = stackdemo};
        ASSERT_OK(manifest_add_region(m, &rg));
        rg = (struct ckpt_region){.start = VDSO_START,
                                  .end = VDSO_START + 2 * PAGE_SIZE_4K,
                                  .prot = PROT_READ | PROT_EXEC,
                                  .flags = CKPT_REGION_PRIVATE | CKPT_REGION_SPECIAL,
                                  .path = (char *)"[vdso]"};
        ASSERT_OK(manifest_add_region(m, &rg));

        ASSERT_OK(manifest_add_page(m, ANON_START, CKPT_PAGE_DATA, key));
        ASSERT_OK(manifest_add_page(m, ANON_START + PAGE_SIZE_4K, CKPT_PAGE_DATA, key));
        ASSERT_OK(manifest_add_page(m, ANON_START + 2 * PAGE_SIZE_4K, CKPT_PAGE_ZERO, NULL));
        ASSERT_OK(manifest_add_page(m, ANON_START + 5 * PAGE_SIZE_4K, CKPT_PAGE_DATA, key));
        ASSERT_OK(manifest_add_page(m, ANON_START + 15 * PAGE_SIZE_4K, CKPT_PAGE_DATA, key));
        ASSERT_OK(manifest_add_page(m, RELRO_START + PAGE_SIZE_4K, CKPT_PAGE_DATA, key));

        /* The leader is not first in threads[]: the core must put it first. */
        t.tid = 4243;
        regs.rip = 0x1111;
        regs.rsp = 0x2222;
        memcpy(t.regs, &regs, sizeof(regs));
        memset(t.fpregs, 0xa5, sizeof(struct user_fpregs_struct));
        ASSERT_OK(manifest_add_thread(m, &t));
        t.tid = 4242;
        regs.rip = 0x3333;
        regs.rsp = 0x4444;
        memcpy(t.regs, &regs, sizeof(regs));
        memset(t.fpregs, 0x5a, sizeof(struct user_fpregs_struct));
        ASSERT_OK(manifest_add_thread(m, &t));
        return true;
}

static bool test_layout(void)
{
        _cleanup_(manifest_freep) struct ckpt_manifest *m = calloc(1, sizeof(*m));
        _cleanup_close_ int fd = -EBADF, sfd = -EBADF;
        struct export_result res = {};
        struct core_file c = {};
        struct note notes[16];
        uint8_t page[4096], want[4096];
        size_t n_notes;
        int calls = 0;
        bool ok_ = false;

        ASSERT(m);
        if (!build_hand_view(m))
                return false;
        fd = open(tmpdir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
        ASSERT(fd >= 0);
        /* Something to truncate away. */
        ASSERT(write(fd, "garbage", 7) == 7);
        ASSERT_OK(export_core_from(m, pattern_reader, &calls, fd, &res));
        if (!core_file_open(fd, &c))
                goto out;

        /* Program headers: the note, then one PT_LOAD per region. */
        if (c.nph != 5 || c.ph[0].p_type != PT_NOTE) {
                fprintf(stderr, "# %zu program headers\n", c.nph);
                goto out;
        }
        for (size_t i = 0; i < 4; i++) {
                const Elf64_Phdr *p = &c.ph[i + 1];
                const struct ckpt_region *rg = &m->regions[i];
                if (p->p_type != PT_LOAD || p->p_vaddr != rg->start ||
                    p->p_memsz != rg->end - rg->start || p->p_offset % 4096 != 0 ||
                    res.layout[i].start != rg->start || res.layout[i].end != rg->end ||
                    res.layout[i].offset != p->p_offset) {
                        fprintf(stderr, "# PT_LOAD %zu is wrong\n", i);
                        goto out;
                }
        }
        if (res.n_layout != 4 || res.size != c.size)
                goto out;
        /* Flags from prot. */
        if (c.ph[1].p_flags != (PF_R | PF_W) || c.ph[2].p_flags != (PF_R | PF_X) ||
            c.ph[3].p_flags != PF_R)
                goto out;
        /* File sizes: stored region in full, ELF header page, copied-on-write
         * reference region in full, special region nothing. */
        if (c.ph[1].p_filesz != 16 * 4096 || c.ph[2].p_filesz != 4096 ||
            c.ph[3].p_filesz != 3 * 4096 || c.ph[4].p_filesz != 0) {
                fprintf(stderr, "# filesz %llu %llu %llu %llu\n",
                        (unsigned long long)c.ph[1].p_filesz, (unsigned long long)c.ph[2].p_filesz,
                        (unsigned long long)c.ph[3].p_filesz, (unsigned long long)c.ph[4].p_filesz);
                goto out;
        }

        /* Page contents, and holes for everything zero. */
        for (unsigned i = 0; i < 16; i++) {
                uint64_t a = ANON_START + i * 4096ull;
                off_t off = (off_t)(c.ph[1].p_offset + i * 4096ull);
                bool data = i == 0 || i == 1 || i == 5 || i == 15;
                if (data) {
                        fill_pattern(a, want);
                        if (memcmp(c.map + off, want, 4096) != 0) {
                                fprintf(stderr, "# anon page %u differs\n", i);
                                goto out;
                        }
                } else if (!is_hole(fd, off, 4096)) {
                        fprintf(stderr, "# anon page %u is not a hole\n", i);
                        goto out;
                }
        }
        sfd = open(stackdemo, O_RDONLY | O_CLOEXEC);
        if (sfd < 0 || pread(sfd, want, 4096, 0) != 4096 ||
            memcmp(c.map + c.ph[2].p_offset, want, 4096) != 0)
                goto out;
        for (unsigned i = 0; i < 3; i++) {
                const uint8_t *got = c.map + c.ph[3].p_offset + i * 4096;
                if (i == 1)
                        fill_pattern(RELRO_START + 4096, want);
                else if (pread(sfd, want, 4096, (off_t)(2 * 4096 + i * 4096)) < 0)
                        goto out;
                if (memcmp(got, want, 4096) != 0) {
                        fprintf(stderr, "# reference page %u differs\n", i);
                        goto out;
                }
        }
        /* written: the anon runs [0,2), 5, 15, the header page, the reference
         * region's non-zero pages. */
        if (res.n_written < 4 || res.written[0].start != ANON_START ||
            res.written[0].end != ANON_START + 2 * 4096 ||
            res.written[1].start != ANON_START + 5 * 4096 ||
            res.written[2].start != ANON_START + 15 * 4096 || res.written[3].start != FILE_START ||
            res.written[3].end != FILE_START + 4096) {
                fprintf(stderr, "# written runs are wrong (%zu)\n", res.n_written);
                goto out;
        }
        /* Zero pages of stored regions never reach the reader. */
        memset(page, 0, sizeof(page));

        /* Notes: leader's prstatus, prpsinfo, file, leader's fpregs, then the
         * other thread's prstatus and fpregs. */
        if (!core_notes(&c, notes, ELEMENTSOF(notes), &n_notes))
                goto out;
        {
                static const uint32_t types[] = {NT_PRSTATUS, NT_PRPSINFO, NT_FILE,
                                                 NT_FPREGSET, NT_PRSTATUS, NT_FPREGSET};
                struct elf_prstatus st0, st1;
                struct user_regs_struct r0, r1;
                struct elf_prpsinfo ps;
                uint64_t fw[8];
                const char *names;

                if (n_notes != ELEMENTSOF(types))
                        goto out;
                for (size_t i = 0; i < n_notes; i++)
                        if (notes[i].type != types[i] || strcmp(notes[i].name, "CORE") != 0) {
                                fprintf(stderr, "# note %zu has type %u\n", i, notes[i].type);
                                goto out;
                        }
                if (notes[0].descsz != sizeof(struct elf_prstatus) ||
                    notes[1].descsz != sizeof(struct elf_prpsinfo) ||
                    notes[3].descsz != sizeof(struct user_fpregs_struct))
                        goto out;
                /* Notes are only 4-byte aligned: copy before reading. */
                memcpy(&st0, notes[0].desc, sizeof(st0));
                memcpy(&st1, notes[4].desc, sizeof(st1));
                memcpy(&r0, &st0.pr_reg, sizeof(r0));
                memcpy(&r1, &st1.pr_reg, sizeof(r1));
                if (st0.pr_pid != 4242 || st1.pr_pid != 4243 || r0.rip != 0x3333 ||
                    r0.rsp != 0x4444 || r1.rip != 0x1111 || !st0.pr_fpvalid)
                        goto out;
                if (notes[3].desc[0] != 0x5a || notes[5].desc[511] != 0xa5)
                        goto out;
                memcpy(&ps, notes[1].desc, sizeof(ps));
                if (ps.pr_pid != 4242 || ps.pr_uid != 1000 || strcmp(ps.pr_fname, "handview") != 0)
                        goto out;
                /* NT_FILE: the two file mappings, offsets in pages. */
                if (notes[2].descsz < sizeof(fw))
                        goto out;
                memcpy(fw, notes[2].desc, sizeof(fw));
                if (fw[0] != 2 || fw[1] != 4096 || fw[2] != FILE_START ||
                    fw[3] != FILE_START + 4 * 4096 || fw[4] != 0 || fw[5] != RELRO_START ||
                    fw[6] != RELRO_START + 3 * 4096 || fw[7] != 2)
                        goto out;
                names = (const char *)notes[2].desc + sizeof(fw);
                if (strcmp(names, stackdemo) != 0 ||
                    strcmp(names + strlen(names) + 1, stackdemo) != 0)
                        goto out;
        }
        ok_ = true;
out:
        core_file_done(&c);
        export_result_done(&res);
        return ok_;
}

/* A corrupt object fails the export, with the page in the message. */
static int failing_reader(void *userdata, const struct ckpt_manifest *view, uint64_t addr,
                          void *buf)
{
        if (addr == ANON_START + 5 * PAGE_SIZE_4K)
                return -EBADMSG;
        return pattern_reader(userdata, view, addr, buf);
}

static bool test_errors(void)
{
        _cleanup_(manifest_freep) struct ckpt_manifest *m = calloc(1, sizeof(*m));
        _cleanup_close_ int fd = -EBADF;
        struct export_result res = {};
        int calls = 0, r;

        ASSERT(m);
        if (!build_hand_view(m))
                return false;
        fd = open(tmpdir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
        ASSERT(fd >= 0);
        r = export_core_from(m, failing_reader, &calls, fd, &res);
        export_result_done(&res);
        ASSERT_EQ(r, -EBADMSG);
        ASSERT(strstr(res.error, "0x10005000"));
        ASSERT(strstr(res.error, "corrupt"));

        /* Not x86_64, or no thread: refused. */
        res = (struct export_result){};
        m->arch = 0;
        ASSERT_EQ(export_core_from(m, pattern_reader, &calls, fd, &res), -EINVAL);
        export_result_done(&res);
        res = (struct export_result){};
        m->arch = CKPT_ARCH_X86_64;
        m->n_threads = 0;
        ASSERT_EQ(export_core_from(m, pattern_reader, &calls, fd, &res), -EINVAL);
        export_result_done(&res);
        ASSERT(res.error[0]);
        return true;
}

/* More than 65534 segments: e_phnum is PN_XNUM and section header 0 holds
 * the count, and readelf agrees. */
static bool test_extnum(void)
{
        _cleanup_(manifest_freep) struct ckpt_manifest *m = calloc(1, sizeof(*m));
        _cleanup_close_ int fd = -EBADF;
        struct export_result res = {};
        struct ckpt_thread t = {.tid = 1, .regs_size = 216};
        struct core_file c = {};
        const size_t n = 70000;
        bool ok_ = false;
        int calls = 0;

        ASSERT(m);
        m->arch = CKPT_ARCH_X86_64;
        m->pid = 1;
        ASSERT_OK(manifest_add_thread(m, &t));
        m->regions = calloc(n, sizeof(*m->regions));
        ASSERT(m->regions);
        for (size_t i = 0; i < n; i++)
                m->regions[i] =
                        (struct ckpt_region){.start = 0x1000000ull + i * 8192,
                                             .end = 0x1000000ull + i * 8192 + 4096,
                                             .prot = PROT_READ,
                                             .flags = CKPT_REGION_PRIVATE | CKPT_REGION_ANON};
        m->n_regions = n;
        fd = open(tmpdir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
        ASSERT(fd >= 0);
        ASSERT_OK(export_core_from(m, pattern_reader, &calls, fd, &res));
        export_result_done(&res);
        ASSERT_EQ(calls, 0);
        if (!core_file_open(fd, &c))
                goto out;
        if (c.eh->e_phnum != PN_XNUM || c.nph != n + 1 ||
            c.ph[n].p_vaddr != m->regions[n - 1].start)
                goto out;
        ok_ = true;
out:
        core_file_done(&c);
        return ok_;
}

/* ---- live: a frozen stackdemo read through /proc/PID/mem ---- */

static int mem_reader(void *userdata, const struct ckpt_manifest *view, uint64_t addr, void *buf)
{
        int fd = *(int *)userdata;
        ssize_t n = pread(fd, buf, PAGE_SIZE_4K, (off_t)addr);

        if (n != (ssize_t)PAGE_SIZE_4K)
                return n < 0 ? -errno : -EIO;
        return 1;
}

/* The view a checkpoint of a frozen process would have, built directly:
 * file mappings without write permission by reference, everything else
 * readable listed page by page (non-zero pages as DATA). */
static bool build_live_view(struct freezer *f, int mem, struct ckpt_manifest *m)
{
        static const uint8_t key[32] = {2};
        struct ckpt_region *regions = NULL;
        _cleanup_free_ uint8_t *buf = malloc(4096), *fbuf = malloc(4096);
        size_t n = 0;
        bool ok_ = false;

        ASSERT(buf && fbuf);
        m->pid = f->pid;
        m->uid = getuid();
        m->arch = CKPT_ARCH_X86_64;
        m->kind = CKPT_MANIFEST_FULL;
        ASSERT_OK(proc_stat_read(f->pid, NULL, NULL, m->comm));
        ASSERT_OK(procmaps_read(f->pid, &regions, &n));
        for (size_t i = 0; i < n; i++) {
                struct ckpt_region rg = regions[i];
                if ((rg.flags & CKPT_REGION_FILE) && !(rg.flags & CKPT_REGION_ANON) &&
                    !(rg.prot & PROT_WRITE)) {
                        rg.flags |= CKPT_REGION_REF;
                        rg.track = CKPT_TRACK_REF;
                }
                if (manifest_add_region(m, &rg) < 0)
                        goto out;
                if (rg.flags & (CKPT_REGION_SPECIAL | CKPT_REGION_UNREADABLE))
                        continue;
                if (rg.flags & CKPT_REGION_REF) {
                        /* Pages copied on write (RELRO: .dynamic holds
                         * DT_DEBUG, which debuggers follow to the list of
                         * shared objects) override the file. */
                        _cleanup_close_ int ffd = open(rg.path, O_RDONLY | O_CLOEXEC);
                        if (ffd < 0)
                                goto out;
                        for (uint64_t a = rg.start; a < rg.end; a += 4096) {
                                ssize_t k =
                                        pread(ffd, fbuf, 4096, (off_t)(rg.offset + a - rg.start));
                                if (k < 0 || pread(mem, buf, 4096, (off_t)a) != 4096)
                                        continue;
                                memset(fbuf + k, 0, 4096 - (size_t)k);
                                if (memcmp(buf, fbuf, 4096) != 0 &&
                                    manifest_add_page(m, a, CKPT_PAGE_DATA, key) < 0)
                                        goto out;
                        }
                        continue;
                }
                for (uint64_t a = rg.start; a < rg.end; a += 4096) {
                        bool zero = true;
                        if (pread(mem, buf, 4096, (off_t)a) != 4096)
                                continue;
                        for (size_t k = 0; k < 4096 && zero; k++)
                                zero = buf[k] == 0;
                        if (!zero && manifest_add_page(m, a, CKPT_PAGE_DATA, key) < 0)
                                goto out;
                }
        }
        for (size_t i = 0; i < f->n_threads; i++) {
                struct ckpt_thread t = {.tid = f->threads[i].tid,
                                        .regs_size = sizeof(struct user_regs_struct),
                                        .fpregs_size = sizeof(struct user_fpregs_struct)};
                if (ptrace(PTRACE_GETREGS, t.tid, NULL, t.regs) < 0 ||
                    ptrace(PTRACE_GETFPREGS, t.tid, NULL, t.fpregs) < 0) {
                        fprintf(stderr, "# ptrace getregs %d: %m\n", (int)t.tid);
                        goto out;
                }
                if (manifest_add_thread(m, &t) < 0)
                        goto out;
        }
        ok_ = manifest_validate(m) >= 0;
out:
        procmaps_free(regions, n);
        return ok_;
}

static bool live_core(int threads)
{
        _cleanup_(manifest_freep) struct ckpt_manifest *m = calloc(1, sizeof(*m));
        _cleanup_(freezer_freep) struct freezer *f = NULL;
        _cleanup_close_ int mem = -EBADF, fd = -EBADF;
        struct export_result res = {};
        char path[PATH_MAX], mp[64];
        struct demo d;
        struct stat st;
        bool ok_ = false;
        int r;

        ASSERT(m);
        if (!demo_start(&d, threads)) {
                demo_stop(&d);
                return false;
        }
        r = freezer_freeze(d.p.pid, &f);
        if (r < 0) {
                fprintf(stderr, "# freeze: %s\n", strerror(-r));
                goto out;
        }
        snprintf(mp, sizeof(mp), "/proc/%d/mem", (int)d.p.pid);
        mem = open(mp, O_RDONLY | O_CLOEXEC);
        if (mem < 0 || !build_live_view(f, mem, m))
                goto out;
        if ((int)m->n_threads != threads + 1)
                goto out;

        snprintf(path, sizeof(path), "%s/live-%d.core", tmpdir, threads);
        fd = open(path, O_CREAT | O_TRUNC | O_RDWR | O_CLOEXEC, 0600);
        if (fd < 0)
                goto out;
        r = export_core_from(m, mem_reader, &mem, fd, &res);
        if (r < 0) {
                fprintf(stderr, "# export_core_from: %s: %s\n", strerror(-r), res.error);
                goto out;
        }
        freezer_thaw(f);
        /* Sparse: thread stacks are mostly untouched. */
        if (fstat(fd, &st) < 0 || (uint64_t)st.st_blocks * 512 >= (uint64_t)st.st_size) {
                fprintf(stderr, "# core is not sparse\n");
                goto out;
        }
        if (!check_with_gdb(path, &d))
                goto out;
        ok_ = true;
out:
        export_result_done(&res);
        f = freezer_free(f);
        demo_stop(&d);
        return ok_;
}

static bool test_live(void)
{
        return live_core(0);
}

static bool test_live_threads(void)
{
        return live_core(3);
}

/* ---- checkpoint: the real pipeline ---- */

static int checkpoint_state = 1; /* 1 ran, 0 could not run (reason below) */
static char checkpoint_skip[128];

static bool test_checkpoint(void)
{
        _cleanup_(store_freep) struct ckpt_store *s = NULL;
        _cleanup_(manifest_freep) struct ckpt_manifest *view = NULL;
        _cleanup_close_ int fd = -EBADF;
        struct checkpoint_request req = {};
        struct checkpoint_result cres = {};
        struct export_result res = {};
        char dir[PATH_MAX], path[PATH_MAX];
        struct demo d;
        bool ok_ = false;
        int r;

        snprintf(dir, sizeof(dir), "%s/store", tmpdir);
        r = store_open(dir, NULL, &s);
        if (r == -EOPNOTSUPP) {
                checkpoint_state = 0;
                snprintf(checkpoint_skip, sizeof(checkpoint_skip), "the store is not built");
                return true;
        }
        ASSERT_OK(r);
        if (!demo_start(&d, 2)) {
                demo_stop(&d);
                return false;
        }
        /* Let the process set its value, then checkpoint it. */
        {
                char line[64];

                d.global = 0x0123456789abcdefull;
                snprintf(line, sizeof(line), "set 0x%llx", (unsigned long long)d.global);
                if (proc_send(&d.p, line) < 0 || proc_line(&d.p, line, sizeof(line)) < 0 ||
                    strcmp(line, "ok") != 0)
                        goto out;
        }
        req.pid = d.p.pid;
        req.caller = access_caller_make(0, 0);
        r = checkpoint_run(s, &req, &cres);
        if (r == -EOPNOTSUPP) {
                checkpoint_state = 0;
                snprintf(checkpoint_skip, sizeof(checkpoint_skip),
                         "the checkpoint engine is not built");
                ok_ = true;
                goto out;
        }
        if (r < 0) {
                fprintf(stderr, "# checkpoint_run: %s: %s\n", strerror(-r), cres.error);
                goto out;
        }
        r = store_view(s, cres.id, &view);
        if (r < 0) {
                fprintf(stderr, "# store_view: %s\n", strerror(-r));
                goto out;
        }
        snprintf(path, sizeof(path), "%s/checkpoint.core", tmpdir);
        fd = open(path, O_CREAT | O_TRUNC | O_RDWR | O_CLOEXEC, 0600);
        if (fd < 0)
                goto out;
        {
                struct export_creds creds = {.uid = getuid(), .gid = getgid()};

                r = export_core(s, view, fd, &creds, NULL, &res);
        }
        if (r < 0) {
                fprintf(stderr, "# export_core: %s: %s\n", strerror(-r), res.error);
                goto out;
        }
        if (res.n_layout != view->n_regions || res.n_written == 0)
                goto out;
        if (!check_with_gdb(path, &d))
                goto out;
        ok_ = true;
out:
        export_result_done(&res);
        checkpoint_result_done(&cres);
        demo_stop(&d);
        return ok_;
}

static int rm_rf(const char *dir)
{
        char cmd[PATH_MAX + 32];

        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        return system(cmd);
}

int main(void)
{
        char self[PATH_MAX], dir[PATH_MAX - 64];
        ssize_t n;
        bool root = geteuid() == 0, gdb = have_tool("gdb") && have_tool("readelf");
        const char *why = !root ? "needs root" : "needs gdb and readelf";

        n = readlink("/proc/self/exe", dir, sizeof(dir) - 1);
        if (n < 0)
                return 1;
        dir[n] = 0;
        *strrchr(dir, '/') = 0;
        snprintf(stackdemo, sizeof(stackdemo), "%s/../workloads/stackdemo", dir);
        if (!realpath(stackdemo, self) || access(self, X_OK) != 0) {
                printf("1..1\nnot ok 1 - %s is built (make .output/workloads/stackdemo)\n",
                       stackdemo);
                return 1;
        }
        snprintf(stackdemo, sizeof(stackdemo), "%s", self);
        snprintf(tmpdir, sizeof(tmpdir), "/var/tmp/test-core.XXXXXX");
        if (!mkdtemp(tmpdir))
                return 1;

        plan(6);
        RUN(test_layout);
        RUN(test_errors);
        RUN(test_extnum);
        if (root && gdb) {
                RUN(test_live);
                RUN(test_live_threads);
                bool passed = test_checkpoint();
                if (checkpoint_state == 0)
                        skip("test_checkpoint", checkpoint_skip);
                else
                        ok(passed, "test_checkpoint");
        } else {
                skip("test_live", why);
                skip("test_live_threads", why);
                skip("test_checkpoint", why);
        }
        if (tap_failed == 0)
                rm_rf(tmpdir);
        else
                printf("# kept %s\n", tmpdir);
        return tap_done();
}
