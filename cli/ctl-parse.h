/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ctl-parse.h: ckptctl's parsers of text it is given: process ids, checkpoint
 * ids, addresses and address ranges, durations on its command line, and the
 * daemon's timestamps it shows. Pure functions of their input, no output, no
 * state: each returns 0 and sets *ret, or a negative errno and leaves *ret
 * alone (ctl_parse_range may have set part of it); the caller words the error.
 * Linked into ckptctl and the fuzz targets, not into libckpt.
 */
#pragma once

#include <stdint.h>
#include <sys/types.h>

#include "ckpt/libckpt.h"

/* A decimal process id, 1 .. INT_MAX. -EINVAL otherwise. */
int ctl_parse_pid(const char *s, pid_t *ret);

/* A decimal unsigned 64-bit number, no sign, no space. -EINVAL otherwise. */
int ctl_parse_uint(const char *s, uint64_t *ret);

/* A checkpoint id, as JSON carries it: 1 .. 2^63-1. -EINVAL otherwise. */
int ctl_parse_id(const char *s, uint64_t *ret);

/* An address: "0x"-prefixed hex; hex as in /proc/PID/maps (with a digit a-f,
 * or zero-padded like 00400000); otherwise decimal. -EINVAL otherwise. */
int ctl_parse_addr(const char *s, uint64_t *ret);

/* "START-END", two addresses, START below END. -EINVAL: no '-'; -EDOM: START
 * or END is not an address; -ERANGE: START is not below END; -ENOMEM. */
int ctl_parse_range(const char *s, struct ckpt_addr_range *ret);

/* "90", "30s", "5m", "1h", "2d", "1h30m": seconds. -EINVAL for anything
 * else, -ERANGE when the sum does not fit 64 bits. */
int ctl_parse_duration(const char *s, uint64_t *ret);

/* The daemon's RFC 3339 UTC time (NULL: "-") in local time, to the second,
 * in buf; text that is not such a time is shown as it is (cut to 31 bytes).
 * Returns buf or a constant string. */
const char *ctl_fmt_time(char buf[static 32], const char *iso);
