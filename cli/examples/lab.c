/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lab.c: the checkpoint lab's test program, written against libckpt instead
 * of a cp_range() system call. It owns a malloc'ed int array and a static
 * buffer, and proves through the daemon's own exports that each checkpoint
 * holds exactly what the program wrote:
 *
 *   1. fill the array, track itself (ckpt_track_self), checkpoint the array's
 *      range: a full checkpoint;
 *   2. change one page in eight, checkpoint again: incremental, only the
 *      changed pages are read;
 *   3. export both checkpoints (raw, the array's range) into temporary files
 *      and compare them byte for byte with what the program wrote;
 *   4. wreck the array and restore the first checkpoint into it
 *      (ckpt_restore_range), and copy the second into another buffer
 *      (ckpt_restore_range_to);
 *   5. checkpoint all of user space, 0..0x7ffffffff000: what is not mapped is
 *      skipped and reported, and the static buffer and the array read back right.
 *
 * As cp_range() specifies, a checkpoint of [start, end) holds the pages wholly
 * inside the range: malloc'ed memory does not start on a page boundary, so the
 * bytes on the first and last partial pages are not saved, and an export shows
 * them as zeros (holes). The comparisons follow that rule.
 *
 *   lab [-s SOCKET] [-n INTS]     exit 0 only if every byte matched
 *
 * Output lines are "WHAT key=value ...", for people and for scripts.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ckpt/libckpt.h"

#define PAGE 4096UL
#define USER_SPACE_END 0x7ffffffff000ULL

static struct ckpt_client *client;
static unsigned problems;

/* Page-aligned, written once before the first checkpoint and never again:
 * only the user-space checkpoint covers it. */
static unsigned char marks[16 * PAGE] __attribute__((aligned(4096)));

__attribute__((format(printf, 1, 2))) static void problem(const char *fmt, ...)
{
        va_list ap;

        problems++;
        fputs("lab: FAIL: ", stdout);
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        putchar('\n');
}

static void call_failed(const char *what, int r)
{
        const char *m = ckpt_last_error(client);

        problem("%s: %s", what, *m ? m : strerror(-r));
}

/* The span of whole pages inside [start, end). */
struct span {
        uintptr_t start, end;
};

static struct span whole_pages(const void *start, const void *end)
{
        uintptr_t s = ((uintptr_t)start + PAGE - 1) & ~(PAGE - 1);
        uintptr_t e = (uintptr_t)end & ~(PAGE - 1);

        return (struct span){s, e > s ? e : s};
}

/* got must equal want on the whole pages of the range and be zero elsewhere
 * (the partial pages a checkpoint does not hold). got and want are len bytes
 * laid out like the range [base, base + len). */
static bool compare_range(const char *what, const unsigned char *got, const unsigned char *want,
                          uintptr_t base, size_t len)
{
        struct span w = whole_pages((const void *)base, (const void *)(base + len));

        for (size_t i = 0; i < len; i++) {
                bool inside = base + i >= w.start && base + i < w.end;
                unsigned char expect = inside ? want[i] : 0;

                if (got[i] != expect) {
                        problem("%s: byte %zu (address %#" PRIxPTR ") is 0x%02x, expected "
                                "0x%02x%s",
                                what, i, base + i, got[i], expect,
                                inside ? "" : " (hole: partial page)");
                        return false;
                }
        }
        printf("compare what=\"%s\" bytes=%zu whole_pages=%zu ok\n", what, len,
               (size_t)((w.end - w.start) / PAGE));
        return true;
}

/* Export checkpoint id's [start, start + len) as raw into a temporary file
 * and read it back into buf (len bytes). */
static int export_range(uint64_t id, uintptr_t start, size_t len, unsigned char *buf)
{
        struct ckpt_addr_range r = {start, start + len};
        struct ckpt_export_info *e = NULL;
        char path[4096];
        const char *dir = getenv("TMPDIR");
        size_t done = 0;
        int fd, k;

        snprintf(path, sizeof(path), "%s/lab-export-XXXXXX", dir && *dir ? dir : "/tmp");
        fd = mkstemp(path);
        if (fd < 0) {
                problem("mkstemp %s: %s", path, strerror(errno));
                return -errno;
        }
        (void)unlink(path);
        k = ckpt_export(client, id, CKPT_EXPORT_RAW, fd, &r, 1, &e);
        if (k < 0) {
                call_failed("export", k);
                close(fd);
                return k;
        }
        printf("export id=%" PRIu64 " size=%" PRIu64 " page_runs=%zu\n", id, e->size, e->n_written);
        ckpt_export_info_free(e);
        memset(buf, 0, len);
        while (done < len) {
                ssize_t n = pread(fd, buf + done, len - done, (off_t)done);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break; /* trailing holes stay zero */
                done += (size_t)n;
        }
        close(fd);
        return 0;
}

static void print_info(const char *what, const struct ckpt_checkpoint_info *i)
{
        printf("%s id=%" PRIu64 " parent=%" PRIu64 " incremental=%s pages=%" PRIu64
               " pages_read=%" PRIu64 " bytes_stored=%" PRIu64 " pause_ms=%.3f skipped=%zu\n",
               what, i->id, i->parent, i->incremental ? "yes" : "no", i->pages, i->pages_read,
               i->bytes_stored, i->pause_ms, i->n_skipped);
}

/* How the daemon sees this process: tracked or not, by which mechanism. */
static void print_status(void)
{
        struct ckpt_status *s = NULL;
        int r;

        r = ckpt_status(client, &s);
        if (r < 0) {
                call_failed("status", r);
                return;
        }
        for (size_t i = 0; i < s->n_processes; i++) {
                const struct ckpt_process_status *p = &s->processes[i];

                if (p->pid != getpid())
                        continue;
                printf("status tracked=yes tracking=%s note=\"%s\"\n",
                       p->tracking ? p->tracking : "-", p->note ? p->note : "");
                ckpt_status_free(s);
                return;
        }
        printf("status tracked=no\n");
        ckpt_status_free(s);
}

int main(int argc, char **argv)
{
        struct ckpt_checkpoint_info *cp1 = NULL, *cp2 = NULL, *all = NULL;
        const char *socket_path = NULL;
        unsigned char *gen1 = NULL, *gen2 = NULL, *got = NULL, *elsewhere = NULL;
        char *tracking = NULL;
        bool tracked = false;
        size_t n = 65536, len, changed = 0;
        struct ckpt_list *l = NULL;
        int *array = NULL;
        uintptr_t base;
        int opt, r;

        while ((opt = getopt(argc, argv, "s:n:h")) >= 0) {
                switch (opt) {
                case 's':
                        socket_path = optarg;
                        break;
                case 'n':
                        n = strtoul(optarg, NULL, 0);
                        break;
                default:
                        fprintf(stderr, "usage: %s [-s SOCKET] [-n INTS]\n", argv[0]);
                        return opt == 'h' ? EXIT_SUCCESS : 2;
                }
        }
        if (n < 4 * PAGE / sizeof(int) || n > (1UL << 28)) {
                fprintf(stderr, "lab: -n wants %lu..%lu ints\n", 4 * PAGE / sizeof(int), 1UL << 28);
                return 2;
        }
        setvbuf(stdout, NULL, _IOLBF, 0);

        r = ckpt_connect(socket_path, &client);
        if (r < 0) {
                fprintf(stderr, "lab: cannot connect to %s: %s\n", ckpt_socket_path(socket_path),
                        strerror(-r));
                return EXIT_FAILURE;
        }

        len = n * sizeof(int);
        array = malloc(len);
        gen1 = malloc(len);
        gen2 = malloc(len);
        got = malloc(len);
        elsewhere = malloc(len);
        if (!array || !gen1 || !gen2 || !got || !elsewhere) {
                problem("out of memory");
                goto out;
        }
        base = (uintptr_t)array;
        {
                struct span w = whole_pages(array, (char *)array + len);
                printf("array pid=%d start=%#" PRIxPTR " end=%#" PRIxPTR " whole_pages=%#" PRIxPTR
                       "-%#" PRIxPTR "\n",
                       (int)getpid(), base, base + len, w.start, w.end);
        }

        for (size_t i = 0; i < sizeof(marks); i++)
                marks[i] = (unsigned char)(i / PAGE + 1);
        for (size_t i = 0; i < n; i++)
                array[i] = (int)(i * 7 + 1);
        memcpy(gen1, array, len);

        /* Tracking first, so the second checkpoint only reads what changed. */
        r = ckpt_track_self(client, &tracking);
        tracked = r >= 0;
        if (r < 0)
                printf("tracking mode=none path=none error=\"%s\"\n", ckpt_last_error(client));
        else
                printf("tracking mode=%s path=%s\n", tracking ? tracking : "-",
                       r > 0 ? "cooperative" : "daemon");
        print_status();

        /* 1. cp_range(array, array + size): the first checkpoint reads it all. */
        r = ckpt_checkpoint_range(client, array, (char *)array + len, 0, &cp1);
        if (r < 0) {
                call_failed("first checkpoint", r);
                goto out;
        }
        print_info("checkpoint1", cp1);

        /* 2. Change one page in eight; the next checkpoint reads just those. */
        for (uintptr_t p = whole_pages(array, (char *)array + len).start; p + PAGE <= base + len;
             p += 8 * PAGE) {
                for (int *q = (int *)p; q < (int *)(p + PAGE); q++)
                        *q = -*q;
                changed++;
        }
        memcpy(gen2, array, len);
        printf("modified pages=%zu\n", changed);
        r = ckpt_checkpoint_range(client, array, (char *)array + len, 0, &cp2);
        if (r < 0) {
                call_failed("second checkpoint", r);
                goto out;
        }
        print_info("checkpoint2", cp2);

        /* 3. Both checkpoints hold exactly what was written. */
        if (export_range(cp1->id, base, len, got) >= 0)
                compare_range("export of checkpoint1 = array as first filled", got, gen1, base,
                              len);
        if (export_range(cp2->id, base, len, got) >= 0)
                compare_range("export of checkpoint2 = array after the change", got, gen2, base,
                              len);

        /* 4. Back into memory: in place through the daemon, and elsewhere. */
        memset(array, 0x5a, len);
        r = ckpt_restore_range(client, cp1->id, array, (char *)array + len);
        if (r < 0)
                call_failed("restore of checkpoint1", r);
        else {
                struct span w = whole_pages(array, (char *)array + len);

                memcpy(got, array, len);
                /* Partial pages were not part of the checkpoint: restore
                 * leaves them alone, so do not look at them. */
                memset(got, 0, w.start - base);
                memset(got + (w.end - base), 0, base + len - w.end);
                compare_range("restore of checkpoint1 in place", got, gen1, base, len);
        }
        memset(elsewhere, 0, len);
        r = ckpt_restore_range_to(client, cp2->id, base, base + len, elsewhere);
        if (r < 0)
                call_failed("restore of checkpoint2 into another buffer", r);
        else {
                printf("restore_to id=%" PRIu64 " from=%#" PRIxPTR " to=%p\n", cp2->id, base,
                       (void *)elsewhere);
                compare_range("restore of checkpoint2 at another address", elsewhere, gen2, base,
                              len);
        }

        /* 5. All of user space: unmapped parts are skipped and reported. */
        r = ckpt_checkpoint_range(client, NULL, (void *)(uintptr_t)USER_SPACE_END, 0, &all);
        if (r < 0) {
                call_failed("checkpoint of all user space", r);
                goto out;
        }
        print_info("userspace", all);
        if (all->n_skipped == 0)
                problem("checkpoint of 0-%#llx reports no skipped parts", USER_SPACE_END);
        else
                printf("userspace first_skipped=%#" PRIx64 "-%#" PRIx64 "\n", all->skipped[0].start,
                       all->skipped[0].end);
        for (size_t i = 0; i < all->n_skipped; i++) {
                const struct ckpt_addr_range *k = &all->skipped[i];
                struct span w = whole_pages(array, (char *)array + len);

                if (k->start < w.end && k->end > w.start)
                        problem("skipped part %#" PRIx64 "-%#" PRIx64 " overlaps the array",
                                k->start, k->end);
        }
        if (export_range(all->id, base, len, got) >= 0)
                compare_range("user-space checkpoint: the array", got, gen1, base, len);
        {
                unsigned char *m = malloc(sizeof(marks));

                if (!m)
                        problem("out of memory");
                else {
                        if (export_range(all->id, (uintptr_t)marks, sizeof(marks), m) >= 0)
                                compare_range("user-space checkpoint: the static buffer", m, marks,
                                              (uintptr_t)marks, sizeof(marks));
                        free(m);
                }
        }

        r = ckpt_list_self(client, &l);
        if (r < 0)
                call_failed("list", r);
        else {
                printf("list checkpoints=%zu\n", l->n_checkpoints);
                if (l->n_checkpoints < 3)
                        problem("expected at least 3 checkpoints of this process, got %zu",
                                l->n_checkpoints);
        }
out:
        if (tracked)
                (void)ckpt_untrack(client, getpid());
        printf("lab: %s (%u problems)\n", problems ? "FAIL" : "PASS", problems);
        ckpt_list_free(l);
        ckpt_checkpoint_info_free(cp1);
        ckpt_checkpoint_info_free(cp2);
        ckpt_checkpoint_info_free(all);
        free(tracking);
        free(array);
        free(gen1);
        free(gen2);
        free(got);
        free(elsewhere);
        ckpt_disconnect(client);
        return problems ? EXIT_FAILURE : EXIT_SUCCESS;
}
