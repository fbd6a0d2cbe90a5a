/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vlflood: many raw Varlink connections at once, for the tests of the
 * daemon's limits. Prints "ready", then takes one command per line on stdin
 * and answers "ok KEY=VALUE..." (or "err WHY"):
 *
 *   open N [TEXT]  open N connections and send TEXT (no NUL: half a message)
 *                  or nothing; after 0.5 s, those the daemon refused (an
 *                  error reply, then closed) are counted and closed:
 *                  ok open=K refused=R error=NAME limit=NAME
 *   alive          of the connections held open: ok open=K closed=C (closed:
 *                  the daemon closed it; messages it sent first are read)
 *   close          close them all: ok
 *   flood N K      open N connections, each pipelining K calls of
 *                  GetInterfaceDescription without reading a reply; sends
 *                  until all are sent or 2 s pass without progress:
 *                  ok sent=CALLS unsent=CONNECTIONS
 *   drain          read every reply of the flood (sending the rest meanwhile)
 *                  until each connection has its K, or 30 s pass without
 *                  progress: ok replies=N errors=E closed=C
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 1024

struct vconn {
        int fd;
        size_t sent;  /* bytes of the flood sent */
        size_t calls; /* calls of the flood wholly sent */
        size_t got;   /* replies read */
        size_t errors;
        bool eof;
        char head[16]; /* the current reply's first bytes */
        size_t head_len;
};

static const char *sock_path;
static struct vconn held[MAX_CONNS], flood[MAX_CONNS];
static size_t n_held, n_flood, flood_calls;
static char *flood_buf;
static size_t flood_len, call_len;

static double now(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int connect_one(void)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

        if (fd < 0)
                return -1;
        strcpy(sa.sun_path, sock_path);
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                close(fd);
                return -1;
        }
        return fd;
}

/* Read what is there; count replies. */
static void read_some(struct vconn *v, char *first, size_t first_size)
{
        char buf[65536];

        for (;;) {
                ssize_t n = recv(v->fd, buf, sizeof(buf), MSG_DONTWAIT);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN)
                        return;
                if (n <= 0) {
                        v->eof = true;
                        return;
                }
                for (ssize_t i = 0; i < n; i++) {
                        if (buf[i] == '\0') {
                                if (v->head_len >= 9 && memcmp(v->head, "{\"error\":", 9) == 0)
                                        v->errors++;
                                v->got++;
                                v->head_len = 0;
                                continue;
                        }
                        if (v->head_len < sizeof(v->head))
                                v->head[v->head_len++] = buf[i];
                        /* The first reply's text, for the report. */
                        if (first && v->got == 0 && first_size > 1) {
                                size_t l = strlen(first);
                                if (l + 1 < first_size) {
                                        first[l] = buf[i];
                                        first[l + 1] = '\0';
                                }
                        }
                }
        }
}

/* The value of "KEY":"VALUE" in a reply, or "-". */
static void json_field(const char *msg, const char *key, char *out, size_t size)
{
        char pat[64];
        const char *p, *e;

        snprintf(pat, sizeof(pat), "\"%s\":\"", key);
        p = strstr(msg, pat);
        snprintf(out, size, "-");
        if (!p)
                return;
        p += strlen(pat);
        e = strchr(p, '"');
        if (!e || (size_t)(e - p) >= size)
                return;
        memcpy(out, p, e - p);
        out[e - p] = '\0';
}

static void cmd_open(size_t n, const char *text)
{
        static char first[4096];
        size_t opened = 0, refused = 0;
        char error[128] = "-", limit[128] = "-";

        for (size_t i = 0; i < n && n_held < MAX_CONNS; i++) {
                int fd = connect_one();

                if (fd < 0) {
                        printf("err connect '%s': %s\n", sock_path, strerror(errno));
                        return;
                }
                if (text)
                        (void)!send(fd, text, strlen(text), MSG_NOSIGNAL);
                held[n_held++] = (struct vconn){.fd = fd};
        }
        usleep(500000);
        for (size_t i = 0; i < n_held;) {
                struct vconn *v = &held[i];

                first[0] = '\0';
                read_some(v, first, sizeof(first));
                if (v->got > 0 && v->errors > 0 && error[0] == '-') {
                        json_field(first, "error", error, sizeof(error));
                        json_field(first, "name", limit, sizeof(limit));
                }
                if (v->got > 0 && v->errors > 0) {
                        /* Refused: it is closed after the error. */
                        refused++;
                        close(v->fd);
                        held[i] = held[--n_held];
                        continue;
                }
                opened++;
                i++;
        }
        printf("ok open=%zu refused=%zu error=%s limit=%s\n", opened, refused, error, limit);
}

static void cmd_alive(void)
{
        size_t closed = 0;

        for (size_t i = 0; i < n_held; i++) {
                read_some(&held[i], NULL, 0);
                if (held[i].eof)
                        closed++;
        }
        printf("ok open=%zu closed=%zu\n", n_held - closed, closed);
}

static void cmd_close(void)
{
        for (size_t i = 0; i < n_held; i++)
                close(held[i].fd);
        n_held = 0;
        printf("ok\n");
}

/* Send what the socket takes; true on progress. */
static bool send_some(struct vconn *v)
{
        bool progress = false;

        while (v->sent < flood_len && !v->eof) {
                ssize_t n = send(v->fd, flood_buf + v->sent, flood_len - v->sent,
                                 MSG_NOSIGNAL | MSG_DONTWAIT);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN)
                        break;
                if (n < 0) {
                        v->eof = true;
                        break;
                }
                v->sent += (size_t)n;
                v->calls = v->sent / call_len;
                progress = true;
        }
        return progress;
}

static void cmd_flood(size_t n, size_t k)
{
        static const char call[] = "{\"method\":\"org.varlink.service.GetInterfaceDescription\","
                                   "\"parameters\":{\"interface\":\"io.ckptd\"}}";
        double last = now();
        size_t sent = 0, unsent = 0;

        call_len = sizeof(call); /* with its NUL */
        free(flood_buf);
        flood_len = call_len * k;
        flood_buf = malloc(flood_len);
        if (!flood_buf) {
                printf("err out of memory\n");
                return;
        }
        for (size_t i = 0; i < k; i++)
                memcpy(flood_buf + i * call_len, call, call_len);
        flood_calls = k;
        n_flood = 0;
        for (size_t i = 0; i < n && i < MAX_CONNS; i++) {
                int fd = connect_one();

                if (fd < 0) {
                        printf("err connect '%s': %s\n", sock_path, strerror(errno));
                        return;
                }
                flood[n_flood++] = (struct vconn){.fd = fd};
        }
        while (now() - last < 2.0) {
                bool progress = false, all = true;

                for (size_t i = 0; i < n_flood; i++) {
                        if (send_some(&flood[i]))
                                progress = true;
                        if (flood[i].sent < flood_len && !flood[i].eof)
                                all = false;
                }
                if (all)
                        break;
                if (progress)
                        last = now();
                else
                        usleep(20000);
        }
        for (size_t i = 0; i < n_flood; i++) {
                sent += flood[i].calls;
                if (flood[i].sent < flood_len)
                        unsent++;
        }
        printf("ok sent=%zu unsent=%zu\n", sent, unsent);
}

static void cmd_drain(void)
{
        double last = now();
        size_t replies = 0, errors = 0, closed = 0;

        while (now() - last < 30.0) {
                struct pollfd p[MAX_CONNS];
                size_t np = 0;
                bool all = true;

                for (size_t i = 0; i < n_flood; i++) {
                        struct vconn *v = &flood[i];

                        if (v->eof || v->got >= flood_calls)
                                continue;
                        all = false;
                        p[np++] = (struct pollfd){.fd = v->fd,
                                                  .events = POLLIN |
                                                            (v->sent < flood_len ? POLLOUT : 0)};
                }
                if (all)
                        break;
                if (poll(p, np, 1000) <= 0)
                        continue;
                for (size_t i = 0; i < n_flood; i++) {
                        struct vconn *v = &flood[i];
                        size_t got = v->got;

                        if (v->eof || v->got >= flood_calls)
                                continue;
                        if (send_some(v))
                                last = now();
                        read_some(v, NULL, 0);
                        if (v->got != got)
                                last = now();
                }
        }
        for (size_t i = 0; i < n_flood; i++) {
                replies += flood[i].got;
                errors += flood[i].errors;
                if (flood[i].eof)
                        closed++;
                close(flood[i].fd);
        }
        n_flood = 0;
        printf("ok replies=%zu errors=%zu closed=%zu\n", replies, errors, closed);
}

int main(int argc, char **argv)
{
        char line[4096];

        signal(SIGPIPE, SIG_IGN);
        if (argc != 2 || strlen(argv[1]) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
                fprintf(stderr, "usage: vlflood SOCKET\n");
                return 1;
        }
        sock_path = argv[1];
        setvbuf(stdout, NULL, _IOLBF, 0);
        printf("ready\n");
        while (fgets(line, sizeof(line), stdin)) {
                char *text = NULL;
                size_t a = 0, b = 0;

                line[strcspn(line, "\n")] = '\0';
                if (strncmp(line, "open ", 5) == 0) {
                        a = strtoul(line + 5, &text, 10);
                        while (text && *text == ' ')
                                text++;
                        cmd_open(a, text && *text ? text : NULL);
                } else if (strcmp(line, "alive") == 0)
                        cmd_alive();
                else if (strcmp(line, "close") == 0)
                        cmd_close();
                else if (sscanf(line, "flood %zu %zu", &a, &b) == 2)
                        cmd_flood(a, b);
                else if (strcmp(line, "drain") == 0)
                        cmd_drain();
                else
                        printf("err unknown command '%s'\n", line);
        }
        return 0;
}
