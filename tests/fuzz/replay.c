/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * replay.c: main() for a fuzz target built without libFuzzer. It feeds every
 * file of the target's corpus (FUZZ_CORPUS, or the directories and files on
 * the command line) to LLVMFuzzerTestOneInput() once, and prints one TAP
 * result. A crash, a leak or undefined behaviour kills the process under the
 * sanitizers: tests/run counts that as the failing test.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"

__attribute__((weak)) int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        return 0;
}

static int run_file(const char *path)
{
        struct stat st;
        uint8_t *buf;
        size_t got = 0;
        int fd;

        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || fstat(fd, &st) < 0) {
                printf("# cannot open '%s': %s\n", path, strerror(errno));
                if (fd >= 0)
                        close(fd);
                return -1;
        }
        buf = malloc(st.st_size ? st.st_size : 1);
        if (!buf) {
                close(fd);
                return -1;
        }
        while (got < (size_t)st.st_size) {
                ssize_t n = read(fd, buf + got, st.st_size - got);
                if (n <= 0)
                        break;
                got += n;
        }
        close(fd);
        printf("# %s (%zu bytes)\n", path, got);
        fflush(stdout);
        LLVMFuzzerTestOneInput(buf, got);
        free(buf);
        return 0;
}

static int filter(const struct dirent *d)
{
        return d->d_name[0] != '.';
}

static int run_path(const char *path, unsigned *n)
{
        struct dirent **names;
        struct stat st;
        int k, r = 0;

        if (stat(path, &st) < 0) {
                printf("# cannot read '%s': %s\n", path, strerror(errno));
                return -1;
        }
        if (!S_ISDIR(st.st_mode)) {
                (*n)++;
                return run_file(path);
        }
        k = scandir(path, &names, filter, alphasort);
        if (k < 0) {
                printf("# cannot list '%s': %s\n", path, strerror(errno));
                return -1;
        }
        for (int i = 0; i < k; i++) {
                char p[4096];

                snprintf(p, sizeof(p), "%s/%s", path, names[i]->d_name);
                if (r == 0 && run_file(p) < 0)
                        r = -1;
                (*n)++;
                free(names[i]);
        }
        free(names);
        return r;
}

int main(int argc, char **argv)
{
        const char *def[] = {FUZZ_CORPUS};
        const char *const *paths = argc > 1 ? (const char *const *)argv + 1 : def;
        int n_paths = argc > 1 ? argc - 1 : 1;
        unsigned n = 0;
        int r = 0;

        LLVMFuzzerInitialize(&argc, &argv);
        printf("1..1\n");
        for (int i = 0; i < n_paths; i++)
                if (run_path(paths[i], &n) < 0)
                        r = -1;
        printf("%sok 1 - %s: %u corpus inputs ran\n", r < 0 || n == 0 ? "not " : "", FUZZ_NAME,
               n);
        return r < 0 || n == 0 ? 1 : 0;
}
