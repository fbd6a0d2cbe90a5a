/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* fd-util.c: see fd-util.h. */
#include "fd-util.h"

#include <errno.h>
#include <unistd.h>

#include "macro.h"

int pwrite_all(int fd, const void *buf, size_t n, uint64_t off)
{
        const uint8_t *p = buf;

        while (n > 0) {
                ssize_t k = pwrite(fd, p, n, (off_t)off);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                if (k == 0)
                        return -EIO;
                p += k;
                n -= (size_t)k;
                off += (uint64_t)k;
        }
        return 0;
}
