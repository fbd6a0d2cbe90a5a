/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * idle-client: one libckpt client that stays idle between two calls.
 *
 *   idle-client SOCKET SECONDS
 *
 * Connects, asks for the status, sleeps SECONDS with the connection open and
 * silent, asks again on the same client, and prints one line per call:
 * "call N ok" or "call N err <errno> <message>". Exits 0 when both worked.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ckpt/libckpt.h"

static int status_once(struct ckpt_client *c, int n)
{
        struct ckpt_status *s = NULL;
        int r = ckpt_status(c, &s);

        if (r < 0) {
                printf("call %d err %d %s\n", n, -r, ckpt_last_error(c));
                return r;
        }
        ckpt_status_free(s);
        printf("call %d ok\n", n);
        return 0;
}

int main(int argc, char **argv)
{
        struct ckpt_client *c = NULL;
        int r, ok;

        if (argc != 3) {
                fprintf(stderr, "usage: idle-client SOCKET SECONDS\n");
                return 2;
        }
        setvbuf(stdout, NULL, _IOLBF, 0);
        r = ckpt_connect(argv[1], &c);
        if (r < 0) {
                fprintf(stderr, "cannot connect to %s: %s\n", argv[1], strerror(-r));
                return 1;
        }
        ok = status_once(c, 1) == 0;
        sleep((unsigned)atoi(argv[2]));
        ok = status_once(c, 2) == 0 && ok;
        ckpt_disconnect(c);
        return ok ? 0 : 1;
}
