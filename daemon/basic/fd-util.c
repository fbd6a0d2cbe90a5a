/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* fd-util.c: see fd-util.h. */
#include "fd-util.h"

#include <errno.h>
#include <limits.h>
#include <sys/uio.h>
#include <unistd.h>

#include "macro.h"

int pwritev_all(int fd, struct iovec *iov, size_t cnt, uint64_t off)
{
        while (cnt > 0) {
                int c = (int)MIN(cnt, (size_t)IOV_MAX);
                ssize_t k = pwritev(fd, iov, c, (off_t)off);

                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                if (k == 0)
                        return -EIO;
                off += k;
                while (k > 0 && cnt > 0) {
                        if ((size_t)k >= iov->iov_len) {
                                k -= iov->iov_len;
                                iov++;
                                cnt--;
                        } else {
                                iov->iov_base = (uint8_t *)iov->iov_base + k;
                                iov->iov_len -= k;
                                k = 0;
                        }
                }
                while (cnt > 0 && iov->iov_len == 0) {
                        iov++;
                        cnt--;
                }
        }
        return 0;
}

int pwrite_all(int fd, const void *buf, size_t n, uint64_t off)
{
        struct iovec iov = {(void *)buf, n};

        return pwritev_all(fd, &iov, 1, off);
}
