/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * survivor.c: a program that survives being killed. Its state is one arena
 * of 4 MiB: a header (magic, generation, size, checksum) and a payload that
 * every step of work changes in a few pages. Every N steps it checkpoints
 * the arena with ckpt_checkpoint_range() and records the checkpoint in a
 * small state file (written to a temporary file, then renamed over it).
 *
 * When it starts and the state file names a checkpoint, it maps a fresh
 * arena (wherever the kernel puts it: usually not where the old one was),
 * copies the checkpoint's arena into it with ckpt_restore_range_to(),
 * verifies magic, size, generation and checksum, and carries on from that
 * generation. A kill -9 at any moment loses at most the steps since the last
 * checkpoint; it never yields an arena that fails its checksum.
 *
 *   survivor [-s SOCKET] [-e EVERY] [-n STEPS] [-d MSEC] [STATE_FILE]
 *     STATE_FILE   default $SURVIVOR_STATE, else ./survivor.state
 *     -e EVERY     checkpoint every EVERY steps (default 5)
 *     -n STEPS     stop after STEPS steps (default: run until killed)
 *     -d MSEC      sleep MSEC milliseconds after each step (default 20)
 *
 * Prints, one line each: "ready pid=P arena=0xA state=FILE", then either
 * "fresh generation=0" or "resumed checkpoint=ID generation=G checksum=ok
 * from=0xOLD to=0xNEW", then "checkpoint id=ID generation=G ..." after each
 * checkpoint has been recorded. Exit 1 if the restored arena is wrong.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "ckpt/libckpt.h"

#define ARENA_SIZE (4UL << 20)
#define PAGE 4096UL
#define ARENA_MAGIC 0x3145564956525553ULL /* "SURVIVE1" */
#define PAGES_PER_STEP 8

struct arena_header {
        uint64_t magic;
        uint64_t generation;
        uint64_t size;
        uint64_t checksum; /* of the whole arena with this field zero */
};

struct state {
        uint64_t id;
        uint64_t generation;
        uint64_t start, end;
};

static uint64_t xorshift(uint64_t *s)
{
        uint64_t x = *s;

        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        return *s = x;
}

/* 64-bit FNV-1a over words, the checksum field counted as zero. */
static uint64_t arena_checksum(const void *arena)
{
        const uint64_t *w = arena;
        uint64_t h = 0xcbf29ce484222325ULL;

        for (size_t i = 0; i < ARENA_SIZE / sizeof(uint64_t); i++) {
                uint64_t v =
                        i == offsetof(struct arena_header, checksum) / sizeof(uint64_t) ? 0 : w[i];
                h = (h ^ v) * 0x100000001b3ULL;
        }
        return h;
}

static void arena_init(void *arena)
{
        struct arena_header *h = arena;
        uint64_t *w = arena, seed = 0x9e3779b97f4a7c15ULL;

        for (size_t i = sizeof(*h) / sizeof(uint64_t); i < ARENA_SIZE / sizeof(uint64_t); i++)
                w[i] = xorshift(&seed);
        h->magic = ARENA_MAGIC;
        h->generation = 0;
        h->size = ARENA_SIZE;
        h->checksum = arena_checksum(arena);
}

/* One step of work: the next generation rewrites a few pages of the payload,
 * chosen and filled from the generation number. */
static void arena_step(void *arena)
{
        struct arena_header *h = arena;
        uint64_t seed = (h->generation + 1) * 0x2545f4914f6cdd1dULL;

        for (int k = 0; k < PAGES_PER_STEP; k++) {
                size_t page = 1 + xorshift(&seed) % (ARENA_SIZE / PAGE - 1);
                uint64_t *w = (uint64_t *)((char *)arena + page * PAGE);

                for (size_t i = 0; i < PAGE / sizeof(uint64_t); i++)
                        w[i] ^= xorshift(&seed);
        }
        h->generation++;
        h->checksum = arena_checksum(arena);
}

static int state_read(const char *path, struct state *s)
{
        FILE *f = fopen(path, "re");
        char line[256];
        int n = 0;

        memset(s, 0, sizeof(*s));
        if (!f)
                return errno == ENOENT ? 0 : -errno;
        while (fgets(line, sizeof(line), f)) {
                n += sscanf(line, "checkpoint=%" SCNu64, &s->id) == 1;
                n += sscanf(line, "generation=%" SCNu64, &s->generation) == 1;
                n += sscanf(line, "start=%" SCNx64, &s->start) == 1;
                n += sscanf(line, "end=%" SCNx64, &s->end) == 1;
        }
        fclose(f);
        if (n != 4 || s->id == 0 || s->end - s->start != ARENA_SIZE)
                return -EBADMSG;
        return 1;
}

/* Replace the state file in one step, so a kill leaves the old or the new one. */
static int state_write(const char *path, const struct state *s)
{
        char tmp[4096];
        FILE *f;

        snprintf(tmp, sizeof(tmp), "%s.tmp", path);
        f = fopen(tmp, "we");
        if (!f)
                return -errno;
        fprintf(f,
                "checkpoint=%" PRIu64 "\ngeneration=%" PRIu64 "\nstart=%#" PRIx64 "\nend=%#" PRIx64
                "\n",
                s->id, s->generation, s->start, s->end);
        if (fflush(f) != 0 || fsync(fileno(f)) < 0) {
                int r = -errno;
                fclose(f);
                return r;
        }
        if (fclose(f) != 0 || rename(tmp, path) < 0)
                return -errno;
        return 0;
}

static int call_failed(struct ckpt_client *c, const char *what, int r)
{
        const char *m = ckpt_last_error(c);

        fprintf(stderr, "survivor: %s: %s\n", what, *m ? m : strerror(-r));
        printf("err %s: %s\n", what, *m ? m : strerror(-r));
        return EXIT_FAILURE;
}

/* Reload the arena of checkpoint s->id into arena and check it. */
static int resume(struct ckpt_client *c, const struct state *s, void *arena)
{
        struct ckpt_checkpoint_detail *d = NULL;
        struct arena_header *h = arena;
        uint64_t sum;
        int r;

        /* The checkpoint remembers the range it was asked for: it must be
         * the arena the state file describes. */
        r = ckpt_show(c, s->id, &d);
        if (r < 0)
                return call_failed(c, "show", r);
        if (d->n_ranges != 1 || d->ranges[0].start != s->start || d->ranges[0].end != s->end) {
                printf("err checkpoint %" PRIu64 " does not cover the arena %#" PRIx64 "-%#" PRIx64
                       "\n",
                       s->id, s->start, s->end);
                ckpt_checkpoint_detail_free(d);
                return EXIT_FAILURE;
        }
        ckpt_checkpoint_detail_free(d);

        r = ckpt_restore_range_to(c, s->id, s->start, s->end, arena);
        if (r < 0)
                return call_failed(c, "restore", r);
        sum = arena_checksum(arena);
        if (h->magic != ARENA_MAGIC || h->size != ARENA_SIZE || h->checksum != sum ||
            h->generation != s->generation) {
                printf("err restored arena is wrong: magic=%#" PRIx64 " size=%" PRIu64
                       " generation=%" PRIu64 " (state file: %" PRIu64 ") checksum=%#" PRIx64
                       " computed=%#" PRIx64 "\n",
                       h->magic, h->size, h->generation, s->generation, h->checksum, sum);
                return EXIT_FAILURE;
        }
        printf("resumed checkpoint=%" PRIu64 " generation=%" PRIu64 " checksum=ok from=%#" PRIx64
               " to=%p\n",
               s->id, h->generation, s->start, arena);
        return EXIT_SUCCESS;
}

int main(int argc, char **argv)
{
        const char *socket_path = NULL, *state_path;
        unsigned long every = 5, steps = 0, delay_ms = 20;
        struct ckpt_client *c = NULL;
        struct state s;
        void *arena;
        int opt, r;

        while ((opt = getopt(argc, argv, "s:e:n:d:h")) >= 0) {
                switch (opt) {
                case 's':
                        socket_path = optarg;
                        break;
                case 'e':
                        every = strtoul(optarg, NULL, 0);
                        break;
                case 'n':
                        steps = strtoul(optarg, NULL, 0);
                        break;
                case 'd':
                        delay_ms = strtoul(optarg, NULL, 0);
                        break;
                default:
                        fprintf(stderr,
                                "usage: %s [-s SOCKET] [-e EVERY] [-n STEPS] [-d MSEC] "
                                "[STATE_FILE]\n",
                                argv[0]);
                        return opt == 'h' ? EXIT_SUCCESS : 2;
                }
        }
        if (every == 0) {
                fprintf(stderr, "survivor: -e wants at least 1\n");
                return 2;
        }
        state_path = optind < argc ? argv[optind] : getenv("SURVIVOR_STATE");
        if (!state_path || !*state_path)
                state_path = "survivor.state";
        setvbuf(stdout, NULL, _IOLBF, 0);

        arena = mmap(NULL, ARENA_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (arena == MAP_FAILED) {
                perror("survivor: mmap");
                return EXIT_FAILURE;
        }
        r = ckpt_connect(socket_path, &c);
        if (r < 0) {
                fprintf(stderr, "survivor: cannot connect to %s: %s\n",
                        ckpt_socket_path(socket_path), strerror(-r));
                return EXIT_FAILURE;
        }
        printf("ready pid=%d arena=%p state=%s\n", (int)getpid(), arena, state_path);

        r = state_read(state_path, &s);
        if (r < 0) {
                printf("err cannot read state file %s: %s\n", state_path, strerror(-r));
                ckpt_disconnect(c);
                return EXIT_FAILURE;
        }
        if (r == 0) {
                arena_init(arena);
                printf("fresh generation=0\n");
        } else if (resume(c, &s, arena) != EXIT_SUCCESS) {
                ckpt_disconnect(c);
                return EXIT_FAILURE;
        }

        r = ckpt_track_self(c, NULL);
        if (r < 0)
                printf("tracking none: %s\n", ckpt_last_error(c));
        else
                printf("tracking path=%s\n", r > 0 ? "cooperative" : "daemon");

        for (unsigned long step = 1; steps == 0 || step <= steps; step++) {
                struct ckpt_checkpoint_info *i = NULL;
                const struct arena_header *h = arena;

                arena_step(arena);
                if (step % every == 0) {
                        r = ckpt_checkpoint_range(c, arena, (char *)arena + ARENA_SIZE, 0, &i);
                        if (r < 0) {
                                r = call_failed(c, "checkpoint", r);
                                ckpt_disconnect(c);
                                return r;
                        }
                        s = (struct state){i->id, h->generation, (uintptr_t)arena,
                                           (uintptr_t)arena + ARENA_SIZE};
                        r = state_write(state_path, &s);
                        if (r < 0) {
                                printf("err cannot write state file %s: %s\n", state_path,
                                       strerror(-r));
                                ckpt_checkpoint_info_free(i);
                                ckpt_disconnect(c);
                                return EXIT_FAILURE;
                        }
                        printf("checkpoint id=%" PRIu64 " generation=%" PRIu64
                               " incremental=%s pages_read=%" PRIu64 " bytes_stored=%" PRIu64 "\n",
                               i->id, h->generation, i->incremental ? "yes" : "no", i->pages_read,
                               i->bytes_stored);
                        ckpt_checkpoint_info_free(i);
                }
                if (delay_ms > 0)
                        nanosleep(&(struct timespec){(time_t)(delay_ms / 1000),
                                                     (long)(delay_ms % 1000) * 1000000L},
                                  NULL);
        }
        ckpt_disconnect(c);
        return EXIT_SUCCESS;
}
