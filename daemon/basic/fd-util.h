/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fd-util.h: loops around the file descriptor calls that may do part of
 * their work (short writes, EINTR). No policy: callers own their fds.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Write all n bytes at offset off: 0, or -errno (-EIO when nothing could be
 * written). */
int pwrite_all(int fd, const void *buf, size_t n, uint64_t off);
/* The same for iovecs (the array is modified), short writes included. */
struct iovec;
int pwritev_all(int fd, struct iovec *iov, size_t cnt, uint64_t off);
