/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fuzz-client: the client library against a hostile or broken daemon. The
 * input is the byte stream the "daemon" sends (NUL-terminated messages, or
 * not); every API call of libckpt that decodes a reply is made on a fresh
 * connection that receives that stream, and must fail cleanly or return a
 * result that can be freed. The daemon's end never reads: calls are small and
 * fit the socket buffer. Every other connection has ckptctl's progress hook
 * set (calls made with "more", progress replies decoded: done never above
 * total), and one call is a WatchProcesses with more whose replies go to
 * `ckptctl top`'s model (cli/ctl-top.c) as they come.
 */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ckpt/libckpt.h"
#include "ctl-top.h"
#include "fuzz.h"
#include "libckpt-internal.h"

#define N_CALLS 17

static void progress_seen(const char *what, uint64_t done, uint64_t total, void *userdata)
{
        assert(what && done <= total);
        ++*(unsigned *)userdata;
}

static int watch_reply(struct json_object *params, void *userdata)
{
        struct top_view *v = userdata;

        (void)top_view_update(v, params);
        return v->frames >= 8 ? -ECANCELED : 0;
}

static void one_call(int which, struct ckpt_client *c)
{
        struct ckpt_addr_range range = {.start = 0x1000, .end = 0x3000};
        char *s = NULL;

        switch (which) {
        case 0: {
                struct ckpt_status *st = NULL;
                if (ckpt_status(c, &st) >= 0)
                        assert(st);
                ckpt_status_free(st);
                break;
        }
        case 1: {
                struct ckpt_checkpoint_info *i = NULL;
                (void)ckpt_checkpoint(c, 1, CKPT_CHECKPOINT_FULL, &range, 1, &i);
                ckpt_checkpoint_info_free(i);
                break;
        }
        case 2: {
                struct ckpt_list *l = NULL;
                if (ckpt_list(c, 0, &l) >= 0)
                        assert(l);
                ckpt_list_free(l);
                break;
        }
        case 3: {
                struct ckpt_checkpoint_detail *d = NULL;
                (void)ckpt_show(c, 1, &d);
                ckpt_checkpoint_detail_free(d);
                break;
        }
        case 4: {
                struct ckpt_export_info *e = NULL;
                int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
                (void)ckpt_export(c, 1, CKPT_EXPORT_RAW, fd, &range, 1, &e);
                ckpt_export_info_free(e);
                close(fd);
                break;
        }
        case 5:
                (void)ckpt_track(c, 1, -1, 10, 3, &s);
                free(s);
                break;
        case 6:
                (void)ckpt_untrack(c, 1);
                break;
        case 7: {
                struct ckpt_restore_info *r = NULL;
                (void)ckpt_restore(c, 1, 1, 0, &range, 1, &r);
                ckpt_restore_info_free(r);
                break;
        }
        case 8: {
                struct ckpt_diff *d = NULL;
                (void)ckpt_diff(c, 1, 2, &d);
                ckpt_diff_free(d);
                break;
        }
        case 9: {
                struct ckpt_verify_info *v = NULL;
                (void)ckpt_verify(c, 0, &v);
                ckpt_verify_info_free(v);
                break;
        }
        case 10: {
                struct ckpt_gc_info *g = NULL;
                (void)ckpt_gc(c, 2, 0, &g);
                ckpt_gc_info_free(g);
                break;
        }
        case 11:
                (void)ckpt_delete(c, 1);
                break;
        case 12: {
                char *reply = NULL;
                (void)ckpt_call(c, "io.ckptd.GetStatus", NULL, NULL, 0, &reply);
                free(reply);
                break;
        }
        case 13: {
                struct ckpt_checkpoint_info *i = NULL;
                (void)ckpt_checkpoint(c, 2, 0, NULL, 0, &i);
                ckpt_checkpoint_info_free(i);
                break;
        }
        case 14: {
                struct ckpt_list *l = NULL;
                (void)ckpt_list(c, 7, &l);
                ckpt_list_free(l);
                break;
        }
        case 15: {
                struct top_view v = {};
                (void)ckpt_client_call_more(c, "io.ckptd.WatchProcesses", NULL, watch_reply, &v,
                                            NULL);
                FILE *null = fopen("/dev/null", "we");
                if (null) {
                        top_view_print_plain(&v, null, true);
                        fclose(null);
                }
                top_view_done(&v);
                break;
        }
        default: {
                char *reply = NULL;
                (void)ckpt_call(c, "io.ckptd.Verify", "{\"id\":1}", NULL, 0, &reply);
                free(reply);
                break;
        }
        }
        /* Whatever happened, the error text is a string. */
        (void)ckpt_last_error(c);
        (void)ckpt_last_error_name(c);
        (void)ckpt_last_reply_json(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size > 64 * 1024)
                return 0;
        for (int which = 0; which < N_CALLS; which++) {
                struct ckpt_client *c = NULL;
                int sv[2];
                size_t off = 0;

                if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
                        abort();
                while (off < size) {
                        ssize_t n = send(sv[1], data + off, size - off, MSG_NOSIGNAL);
                        if (n <= 0)
                                abort();
                        off += n;
                }
                shutdown(sv[1], SHUT_WR);
                if (ckpt_connect_fd(sv[0], &c) < 0)
                        abort();
                unsigned seen = 0;
                if (which & 1)
                        ckpt_client_set_progress(c, progress_seen, &seen);
                /* Two calls: the second reads whatever the first left. */
                one_call(which, c);
                one_call((which + 1) % N_CALLS, c);
                ckpt_disconnect(c);
                close(sv[1]);
        }
        return 0;
}
