/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vlcall: a raw Varlink client for protocol tests. It sends exactly the bytes
 * it is given, so a test can send what no well-behaved client would, and
 * prints every NUL-terminated reply on a line of its own.
 *
 *   vlcall [options] SOCKET
 *     -c JSON      send JSON followed by a NUL (may be repeated)
 *     -f FILE      send FILE's bytes verbatim ("-": stdin)
 *     -n N         wait for N replies (default: one per -c, else 1)
 *     -t SEC       give up waiting after SEC seconds (default 10)
 *     -H SEC       after sending, hold the connection SEC seconds first
 *     -s           shut down the sending side after sending
 *     -m           replies marked "continues": true (of calls with more) are
 *                  printed but not counted in N
 * Exit: 0 all replies read, 2 the daemon closed the connection first ("EOF"
 * printed), 3 timeout ("TIMEOUT" printed), 4 the send failed ("SENDFAIL"), 1
 * other errors.
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

static char *sendbuf;
static size_t sendlen;

static int append(const void *p, size_t n)
{
        char *b = realloc(sendbuf, sendlen + n);

        if (!b)
                return -ENOMEM;
        memcpy(b + sendlen, p, n);
        sendbuf = b;
        sendlen += n;
        return 0;
}

static int append_file(const char *path)
{
        int fd = strcmp(path, "-") == 0 ? 0 : open(path, O_RDONLY | O_CLOEXEC);
        char buf[65536];
        ssize_t n;

        if (fd < 0)
                return -errno;
        while ((n = read(fd, buf, sizeof(buf))) > 0)
                if (append(buf, (size_t)n) < 0)
                        return -ENOMEM;
        if (fd > 0)
                close(fd);
        return n < 0 ? -errno : 0;
}

static double now(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
        int want = -1, calls = 0, got = 0, fd, opt;
        double timeout = 10, hold = 0, deadline;
        bool shut = false, more = false;
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        char *msg = NULL;
        size_t msglen = 0;

        signal(SIGPIPE, SIG_IGN);
        while ((opt = getopt(argc, argv, "c:f:n:t:H:sm")) != -1) {
                switch (opt) {
                case 'c':
                        if (append(optarg, strlen(optarg) + 1) < 0)
                                return 1;
                        calls++;
                        break;
                case 'f':
                        if (append_file(optarg) < 0) {
                                fprintf(stderr, "vlcall: '%s': %m\n", optarg);
                                return 1;
                        }
                        break;
                case 'n':
                        want = atoi(optarg);
                        break;
                case 't':
                        timeout = atof(optarg);
                        break;
                case 'H':
                        hold = atof(optarg);
                        break;
                case 's':
                        shut = true;
                        break;
                case 'm':
                        more = true;
                        break;
                default:
                        return 1;
                }
        }
        if (optind != argc - 1 || strlen(argv[optind]) >= sizeof(sa.sun_path)) {
                fprintf(stderr, "usage: vlcall [-c JSON]... [-f FILE] [-n N] [-t SEC] [-H SEC] "
                                "[-s] [-m] SOCKET\n");
                return 1;
        }
        if (want < 0)
                want = calls > 0 ? calls : 1;
        strcpy(sa.sun_path, argv[optind]);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                fprintf(stderr, "vlcall: connect '%s': %m\n", sa.sun_path);
                return 1;
        }
        for (size_t done = 0; done < sendlen;) {
                ssize_t n = send(fd, sendbuf + done, sendlen - done, MSG_NOSIGNAL);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        /* The daemon may close on an oversized message while
                         * we are still sending: read what it said first. */
                        printf("SENDFAIL %s\n", strerror(errno));
                        want = -1;
                        break;
                }
                done += (size_t)n;
        }
        if (shut)
                shutdown(fd, SHUT_WR);
        if (hold > 0)
                usleep((useconds_t)(hold * 1e6));

        deadline = now() + timeout;
        while (want < 0 || got < want) {
                struct pollfd p = {.fd = fd, .events = POLLIN};
                int ms = (int)((deadline - now()) * 1000);
                char buf[65536];
                ssize_t n;

                if (ms <= 0 || poll(&p, 1, ms) == 0) {
                        printf("TIMEOUT\n");
                        return 3;
                }
                n = recv(fd, buf, sizeof(buf), 0);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0) {
                        printf("EOF\n");
                        fflush(stdout);
                        return want < 0 ? 4 : 2;
                }
                for (ssize_t i = 0; i < n; i++) {
                        if (buf[i] == '\0') {
                                fwrite(msg, 1, msglen, stdout);
                                putchar('\n');
                                fflush(stdout); /* a reader may be watching */
                                if (!more || !memmem(msg, msglen, "\"continues\":true", 16))
                                        got++;
                                msglen = 0;
                                continue;
                        }
                        msg = realloc(msg, msglen + 1);
                        if (!msg)
                                return 1;
                        msg[msglen++] = buf[i];
                }
        }
        fflush(stdout);
        close(fd);
        return 0;
}
