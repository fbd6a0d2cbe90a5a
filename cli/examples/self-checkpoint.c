/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * self-checkpoint.c: a program checkpointing its own memory through libckpt,
 * the cp_range() exercise: fill an array, checkpoint it, modify it,
 * checkpoint it again (incrementally when tracking works), wreck it, and
 * restore the first checkpoint into it, checking every byte.
 *
 *   self-checkpoint [SOCKET]        exit 0 when the array came back intact
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ckpt/libckpt.h"

#define PAGES 64
#define PAGE 4096

static unsigned char pattern(size_t i, unsigned gen)
{
        return (unsigned char)((i * 31 + gen * 7 + i / PAGE) & 0xff);
}

static int fail(struct ckpt_client *c, const char *what, int r)
{
        fprintf(stderr, "self-checkpoint: %s: %s\n", what,
                c && *ckpt_last_error(c) ? ckpt_last_error(c) : strerror(-r));
        return EXIT_FAILURE;
}

int main(int argc, char **argv)
{
        struct ckpt_checkpoint_info *first = NULL, *second = NULL;
        struct ckpt_client *c = NULL;
        struct ckpt_list *l = NULL;
        char *tracking = NULL;
        size_t size = (size_t)PAGES * PAGE;
        unsigned char *a;
        int r, ret = EXIT_FAILURE;

        r = ckpt_connect(argc > 1 ? argv[1] : NULL, &c);
        if (r < 0) {
                fprintf(stderr, "self-checkpoint: cannot connect to %s: %s\n",
                        ckpt_socket_path(argc > 1 ? argv[1] : NULL), strerror(-r));
                return EXIT_FAILURE;
        }

        a = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (a == MAP_FAILED) {
                perror("self-checkpoint: mmap");
                goto out;
        }
        for (size_t i = 0; i < size; i++)
                a[i] = pattern(i, 1);

        r = ckpt_track_self(c, &tracking);
        if (r < 0)
                printf("not tracked (%s): every checkpoint reads the whole range\n",
                       ckpt_last_error(c));
        else
                printf("tracked (%s, %s)\n", tracking,
                       r > 0 ? "with its own userfaultfd" : "armed by the daemon");

        r = ckpt_checkpoint_range(c, a, a + size, 0, &first);
        if (r < 0) {
                ret = fail(c, "first checkpoint", r);
                goto out;
        }
        printf("checkpoint %" PRIu64 ": %" PRIu64 " pages read\n", first->id, first->pages_read);

        /* Modify 4 of the 64 pages. */
        for (size_t p = 0; p < PAGES; p += PAGES / 4)
                for (size_t i = p * PAGE; i < (p + 1) * PAGE; i++)
                        a[i] = pattern(i, 2);
        r = ckpt_checkpoint_range(c, a, a + size, 0, &second);
        if (r < 0) {
                ret = fail(c, "second checkpoint", r);
                goto out;
        }
        printf("checkpoint %" PRIu64 " (parent %" PRIu64 ", %s): %" PRIu64 " pages read\n",
               second->id, second->parent, second->incremental ? "incremental" : "full",
               second->pages_read);

        memset(a, 0xa5, size);
        r = ckpt_restore_range(c, first->id, a, a + size);
        if (r < 0) {
                ret = fail(c, "restore", r);
                goto out;
        }
        for (size_t i = 0; i < size; i++)
                if (a[i] != pattern(i, 1)) {
                        fprintf(stderr,
                                "self-checkpoint: byte %zu is 0x%02x after restore, "
                                "expected 0x%02x\n",
                                i, a[i], pattern(i, 1));
                        goto out;
                }
        printf("restored checkpoint %" PRIu64 ": %zu bytes verified\n", first->id, size);

        r = ckpt_list_self(c, &l);
        if (r < 0) {
                ret = fail(c, "list", r);
                goto out;
        }
        printf("%zu checkpoints of this process\n", l->n_checkpoints);
        if (l->n_checkpoints < 2) {
                fprintf(stderr, "self-checkpoint: expected at least 2 checkpoints listed\n");
                goto out;
        }
        ret = EXIT_SUCCESS;
out:
        if (tracking)
                (void)ckpt_untrack(c, getpid());
        free(tracking);
        ckpt_list_free(l);
        ckpt_checkpoint_info_free(first);
        ckpt_checkpoint_info_free(second);
        ckpt_disconnect(c);
        return ret;
}
