/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-control: the Varlink server's framing against real Unix sockets:
 * messages split byte by byte, several in one write, malformed and oversized
 * input, descriptors passed with SCM_RIGHTS, a stalled client next to a
 * working one, a late reply to a client that went away, a client that does
 * not read its replies (it is not read either, and gets every reply once it
 * reads), and the idle timeout (not while a call is under way).
 */
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "server.h"
#include "ckpt/proto.h"
#include "json-util.h"
#include "tap.h"

static sd_event *ev;
static struct server *srv;
static char sock_path[108];
static struct call *held; /* a call answered later */
static unsigned n_echo;   /* t.Echo calls dispatched */

static void dispatch(struct call *c, const char *method, struct json_object *params, void *u)
{
        if (strcmp(method, "t.Echo") == 0) {
                n_echo++;
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

static int client_at(const char *path)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

        strcpy(sa.sun_path, path);
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                close(fd);
                return -1;
        }
        return fd;
}

static int client(void)
{
        return client_at(sock_path);
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

/* 2000 calls of 4 KiB each, pipelined without reading: the server handles
 * about its unsent cap's worth (1 MiB), then reads no more; once the client
 * reads, every call is answered. Without backpressure it handles them all,
 * queueing 8 MiB of replies. */
static bool test_slow_reader(void)
{
        enum { CALLS = 2000, PAD = 4096 };
        static char msg[PAD + 128];
        size_t len, total, sent = 0, got = 0;
        unsigned stalled_at;
        char buf[65536];
        int fd = client();
        int idle = 0;

        ASSERT(fd >= 0);
        fcntl(fd, F_SETFL, O_NONBLOCK);
        len = snprintf(msg, sizeof(msg), "{\"method\":\"t.Echo\",\"parameters\":{\"p\":\"%0*d\"}}",
                       PAD, 0) +
              1;
        total = len * CALLS;
        n_echo = 0;
        /* Send until neither side moves. */
        while (sent < total && idle < 50) {
                ssize_t k = send(fd, msg + sent % len, len - sent % len, MSG_NOSIGNAL);
                if (k > 0) {
                        sent += k;
                        idle = 0;
                        continue;
                }
                ASSERT(k < 0 && errno == EAGAIN);
                unsigned before = n_echo;
                pump(1);
                if (n_echo == before)
                        idle++;
        }
        stalled_at = n_echo;
        printf("# slow reader: %u of %d calls handled, %zu bytes sent, before it read\n",
               stalled_at, CALLS, sent);
        ASSERT(sent < total);
        ASSERT((size_t)stalled_at * len < 2 * CKPT_MAX_UNSENT);

        /* Now read: everything is answered. */
        for (idle = 0; got < CALLS && idle < 500;) {
                ssize_t k;
                bool moved = false;

                if (sent < total) {
                        k = send(fd, msg + sent % len, len - sent % len, MSG_NOSIGNAL);
                        if (k > 0) {
                                sent += k;
                                moved = true;
                        }
                }
                pump(1);
                while ((k = recv(fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0) {
                        for (ssize_t i = 0; i < k; i++)
                                got += buf[i] == '\0';
                        moved = true;
                }
                ASSERT(k != 0);
                idle = moved ? 0 : idle + 1;
        }
        ASSERT_EQ(got, (size_t)CALLS);
        ASSERT_EQ(n_echo, (unsigned)CALLS);
        close(fd);
        return true;
}

/* With a 200 ms idle timeout: a silent client and one holding half a message
 * are closed; one whose call is under way is not, until it was answered. */
static bool test_idle_timeout(void)
{
        struct server_options o;
        struct server *s2 = NULL;
        char path[sizeof(sock_path) + 4];
        const char half[] = "{\"method\":\"t.Ec";
        const char hold[] = "{\"method\":\"t.Hold\"}";
        int quiet, partial, waiting;
        bool closed = false, ok = true;
        char *r;

        snprintf(path, sizeof(path), "%s2", sock_path);
        server_options_default(&o);
        o.idle_timeout_usec = 200 * 1000;
        ASSERT(server_new(ev, -1, path, &o, dispatch, NULL, &s2) >= 0);
        quiet = client_at(path);
        partial = client_at(path);
        waiting = client_at(path);
        ASSERT(quiet >= 0 && partial >= 0 && waiting >= 0);
        ASSERT(send(partial, half, strlen(half), 0) > 0);
        ASSERT(send(waiting, hold, sizeof(hold), 0) > 0);
        for (int i = 0; i < 50 && !held; i++)
                pump(1);
        ASSERT(held);

        /* The silent one: EOF once the timeout passed. */
        r = recv_msg(quiet, &closed);
        ok = ok && closed && !r;
        free(r);
        /* The half message: a ProtocolError, then EOF. */
        r = recv_msg(partial, &closed);
        ok = ok && reply_has(r, CKPT_ERR_PROTOCOL);
        free(r);
        r = recv_msg(partial, &closed);
        ok = ok && closed;
        free(r);
        /* The waiting one is still there; answered, it becomes idle. */
        ok = ok && call_reply(held, json_object_new_object()) == 0;
        call_unref(held);
        held = NULL;
        r = recv_msg(waiting, &closed);
        ok = ok && r && !closed;
        free(r);
        r = recv_msg(waiting, &closed);
        ok = ok && closed;
        free(r);
        close(quiet);
        close(partial);
        close(waiting);
        {
                _cleanup_(json_object_putp) struct json_object *l = server_limits_json(s2);
                struct json_object *idle_l, *hit;

                ok = ok && json_object_object_get_ex(l, CKPT_LIMIT_IDLE_TIMEOUT, &idle_l) &&
                     json_object_object_get_ex(idle_l, "hit", &hit) &&
                     json_object_get_int(hit) == 3;
        }
        server_free(s2);
        ASSERT(ok);
        return true;
}

int main(void)
{
        char dir[] = "/tmp/test-control.XXXXXX";

        plan(10);
        if (!mkdtemp(dir) || sd_event_new(&ev) < 0)
                return 1;
        snprintf(sock_path, sizeof(sock_path), "%s/s", dir);
        if (server_new(ev, -1, sock_path, NULL, dispatch, NULL, &srv) < 0)
                return 1;

        RUN(test_byte_by_byte);
        RUN(test_two_in_one);
        RUN(test_malformed_then_good);
        RUN(test_unknown_method);
        RUN(test_oversized);
        RUN(test_fd_passing);
        RUN(test_stalled_client);
        RUN(test_late_reply_after_close);
        RUN(test_slow_reader);
        RUN(test_idle_timeout);

        server_free(srv);
        sd_event_unref(ev);
        rmdir(dir);
        return tap_done();
}
