/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-control: the Varlink server's framing against real Unix sockets:
 * messages split byte by byte, several in one write, malformed and oversized
 * input, descriptors passed with SCM_RIGHTS, a stalled client next to a
 * working one, and a late reply to a client that went away.
 */
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "control.h"
#include "ckpt/proto.h"
#include "json-util.h"
#include "tap.h"

static sd_event *ev;
static struct server *srv;
static char sock_path[108];
static struct call *held; /* a call answered later */

static void dispatch(struct call *c, const char *method, struct json_object *params, void *u)
{
        if (strcmp(method, "t.Echo") == 0) {
                call_reply(c, json_object_get(params));
        } else if (strcmp(method, "t.Fd") == 0) {
                int fd = call_take_fd(c, 0);
                if (fd < 0) {
                        call_errorf(c, "t.NoFd", "reason", "no fd");
                        return;
                }
                (void)!write(fd, "hi", 2);
                close(fd);
                call_reply(c, NULL);
        } else if (strcmp(method, "t.Hold") == 0) {
                held = call_ref(c);
        } else
                call_errorf(c, VARLINK_ERR_METHOD_NOT_FOUND, "method", "%s", method);
}

static int client(void)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

        strcpy(sa.sun_path, sock_path);
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                close(fd);
                return -1;
        }
        return fd;
}

static void pump(int rounds)
{
        for (int i = 0; i < rounds; i++)
                sd_event_run(ev, 5000);
}

/* Read one NUL-terminated reply (pumping the server meanwhile). */
static char *recv_msg(int fd, bool *closed)
{
        static char buf[1 << 16];
        size_t n = 0;

        *closed = false;
        for (int tries = 0; tries < 200; tries++) {
                pump(2);
                ssize_t k = recv(fd, buf + n, 1, MSG_DONTWAIT);
                if (k == 0) {
                        *closed = true;
                        return NULL;
                }
                if (k < 0) {
                        if (errno == EAGAIN)
                                continue;
                        *closed = true;
                        return NULL;
                }
                if (buf[n] == '\0')
                        return strdup(buf);
                n++;
                tries = 0;
                if (n + 1 >= sizeof(buf))
                        return NULL;
        }
        return NULL;
}

static bool reply_has(const char *msg, const char *needle)
{
        return msg && strstr(msg, needle);
}

static bool test_byte_by_byte(void)
{
        const char m[] = "{\"method\":\"t.Echo\",\"parameters\":{\"x\":42}}";
        int fd = client();
        bool closed;
        char *r;

        ASSERT(fd >= 0);
        for (size_t i = 0; i < sizeof(m); i++) { /* includes the NUL */
                ASSERT(send(fd, m + i, 1, 0) == 1);
                pump(1);
        }
        r = recv_msg(fd, &closed);
        ASSERT(reply_has(r, "\"x\":42"));
        free(r);
        close(fd);
        return true;
}

static bool test_two_in_one(void)
{
        const char m[] = "{\"method\":\"t.Echo\",\"parameters\":{\"n\":1}}\0"
                         "{\"method\":\"t.Echo\",\"parameters\":{\"n\":2}}";
        int fd = client();
        bool closed;
        char *a, *b;

        ASSERT(fd >= 0);
        ASSERT(send(fd, m, sizeof(m), 0) == (ssize_t)sizeof(m));
        a = recv_msg(fd, &closed);
        b = recv_msg(fd, &closed);
        ASSERT(reply_has(a, "\"n\":1"));
        ASSERT(reply_has(b, "\"n\":2"));
        free(a);
        free(b);
        close(fd);
        return true;
}

static bool test_malformed_then_good(void)
{
        const char *bad[] = {"{nope",
                             "[1,2,3]",
                             "{\"method\":7}",
                             "\"str\"",
                             "{\"method\":\"t.Echo\",\"parameters\":[1]}",
                             "{} trailing"};
        const char good[] = "{\"method\":\"t.Echo\",\"parameters\":{\"ok\":true}}";
        int fd = client();
        bool closed;
        char *r;

        ASSERT(fd >= 0);
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                ASSERT(send(fd, bad[i], strlen(bad[i]) + 1, 0) > 0);
                r = recv_msg(fd, &closed);
                ASSERT(!closed);
                ASSERT(reply_has(r, CKPT_ERR_PROTOCOL));
                free(r);
        }
        ASSERT(send(fd, good, sizeof(good), 0) > 0);
        r = recv_msg(fd, &closed);
        ASSERT(reply_has(r, "\"ok\":true"));
        free(r);
        close(fd);
        return true;
}

static bool test_unknown_method(void)
{
        const char m[] = "{\"method\":\"t.Nope\"}";
        int fd = client();
        bool closed;
        char *r;

        ASSERT(send(fd, m, sizeof(m), 0) > 0);
        r = recv_msg(fd, &closed);
        ASSERT(reply_has(r, VARLINK_ERR_METHOD_NOT_FOUND));
        free(r);
        close(fd);
        return true;
}

static bool test_oversized(void)
{
        size_t n = CKPT_MAX_MESSAGE + 4096;
        char *big = malloc(n);
        int fd = client(), other = client();
        const char good[] = "{\"method\":\"t.Echo\",\"parameters\":{\"still\":1}}";
        bool closed = false, saw_error = false;
        size_t sent = 0;
        char *r;

        ASSERT(big && fd >= 0 && other >= 0);
        memset(big, 'a', n);
        big[0] = '"';
        fcntl(fd, F_SETFL, O_NONBLOCK);
        while (sent < n) {
                ssize_t k = send(fd, big + sent, n - sent, MSG_NOSIGNAL);
                if (k < 0 && errno == EAGAIN) {
                        pump(1);
                        continue;
                }
                if (k < 0)
                        break; /* the server closed on us: fine */
                sent += k;
        }
        free(big);
        for (int i = 0; i < 5 && !closed; i++) {
                r = recv_msg(fd, &closed);
                if (reply_has(r, CKPT_ERR_PROTOCOL))
                        saw_error = true;
                free(r);
        }
        ASSERT(saw_error);
        ASSERT(closed);
        /* Others are still served. */
        ASSERT(send(other, good, sizeof(good), 0) > 0);
        r = recv_msg(other, &closed);
        ASSERT(reply_has(r, "\"still\":1"));
        free(r);
        close(fd);
        close(other);
        return true;
}

static bool test_fd_passing(void)
{
        const char m[] = "{\"method\":\"t.Fd\",\"parameters\":{\"fd\":0}}";
        union {
                struct cmsghdr align;
                char buf[CMSG_SPACE(sizeof(int))];
        } control = {};
        struct iovec iov = {(void *)m, sizeof(m)};
        struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
        struct cmsghdr *cm;
        int fd = client(), p[2];
        char got[3] = "";
        bool closed;
        char *r;

        ASSERT(fd >= 0 && pipe(p) == 0);
        mh.msg_control = &control;
        mh.msg_controllen = sizeof(control.buf);
        cm = CMSG_FIRSTHDR(&mh);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(cm), &p[1], sizeof(int));
        ASSERT(sendmsg(fd, &mh, 0) == (ssize_t)sizeof(m));
        close(p[1]);
        r = recv_msg(fd, &closed);
        ASSERT(r && !strstr(r, "error"));
        free(r);
        ASSERT(read(p[0], got, 2) == 2);
        ASSERT_STREQ(got, "hi");
        close(p[0]);

        /* A call without a descriptor does not get someone else's. */
        const char m2[] = "{\"method\":\"t.Fd\"}";
        ASSERT(send(fd, m2, sizeof(m2), 0) > 0);
        r = recv_msg(fd, &closed);
        ASSERT(reply_has(r, "t.NoFd"));
        free(r);
        close(fd);
        return true;
}

static bool test_stalled_client(void)
{
        const char half[] = "{\"method\":\"t.Ec";
        const char good[] = "{\"method\":\"t.Echo\",\"parameters\":{\"y\":1}}";
        int slow = client(), fast = client();
        bool closed;
        char *r;

        ASSERT(send(slow, half, strlen(half), 0) > 0);
        ASSERT(send(fast, good, sizeof(good), 0) > 0);
        r = recv_msg(fast, &closed);
        ASSERT(reply_has(r, "\"y\":1"));
        free(r);
        close(slow);
        close(fast);
        return true;
}

static bool test_late_reply_after_close(void)
{
        const char m[] = "{\"method\":\"t.Hold\"}";
        int fd = client();

        ASSERT(send(fd, m, sizeof(m), 0) > 0);
        for (int i = 0; i < 50 && !held; i++)
                pump(1);
        ASSERT(held);
        close(fd);
        pump(5);
        /* The connection is gone; answering must be harmless. */
        ASSERT(call_reply(held, json_object_new_object()) < 0);
        call_unref(held);
        held = NULL;
        pump(2);
        return true;
}

int main(void)
{
        char dir[] = "/tmp/test-control.XXXXXX";

        plan(8);
        if (!mkdtemp(dir) || sd_event_new(&ev) < 0)
                return 1;
        snprintf(sock_path, sizeof(sock_path), "%s/s", dir);
        if (server_new(ev, -1, sock_path, dispatch, NULL, &srv) < 0)
                return 1;

        RUN(test_byte_by_byte);
        RUN(test_two_in_one);
        RUN(test_malformed_then_good);
        RUN(test_unknown_method);
        RUN(test_oversized);
        RUN(test_fd_passing);
        RUN(test_stalled_client);
        RUN(test_late_reply_after_close);

        server_free(srv);
        sd_event_unref(ev);
        rmdir(dir);
        return tap_done();
}
