/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * notify-listen: stands in for systemd's end of sd_notify(3) in tests. It
 * binds a datagram socket at PATH (what NOTIFY_SOCKET names), prints "ready",
 * then prints every assignment of every message on its own line, prefixed
 * with the sender's pid from SCM_CREDENTIALS: "pid=1234 READY=1". It runs
 * until SIGTERM or until SECONDS (default 60) have passed.
 *
 *   notify-listen PATH [SECONDS]
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char *argv[])
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        int fd, one = 1, seconds = 60;
        time_t deadline;

        if (argc < 2 || strlen(argv[1]) >= sizeof(sa.sun_path)) {
                fprintf(stderr, "usage: notify-listen PATH [SECONDS]\n");
                return 2;
        }
        if (argc > 2)
                seconds = atoi(argv[2]);
        strcpy(sa.sun_path, argv[1]);
        fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) < 0) {
                perror("socket");
                return 1;
        }
        (void)unlink(sa.sun_path);
        if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                perror("bind");
                return 1;
        }
        printf("ready\n");
        fflush(stdout);

        deadline = time(NULL) + seconds;
        while (time(NULL) < deadline) {
                char buf[4096 + 1];
                union {
                        struct cmsghdr h;
                        char b[CMSG_SPACE(sizeof(struct ucred))];
                } control = {};
                struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf) - 1};
                struct msghdr mh = {
                        .msg_iov = &iov,
                        .msg_iovlen = 1,
                        .msg_control = &control,
                        .msg_controllen = sizeof(control),
                };
                struct pollfd pfd = {.fd = fd, .events = POLLIN};
                struct cmsghdr *c;
                pid_t pid = 0;
                ssize_t n;

                if (poll(&pfd, 1, 1000) <= 0)
                        continue;
                n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        perror("recvmsg");
                        return 1;
                }
                buf[n] = 0;
                for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
                        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
                                struct ucred uc;
                                memcpy(&uc, CMSG_DATA(c), sizeof(uc));
                                pid = uc.pid;
                        }
                for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n"))
                        printf("pid=%d %s\n", (int)pid, line);
                fflush(stdout);
        }
        return 0;
}
