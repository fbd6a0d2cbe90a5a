/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * page-check.h: the cheap looks at a 4 KiB page that the put pipeline takes
 * before it hashes and compresses it (put.c), kept apart so that the codec
 * benchmark (tests/bench/b-codec.c) times the very same code.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/* Once per process before page_looks_incompressible(); thread-safe. */
void page_check_init(void);
/* Every byte of the page is zero. */
bool page_is_zero(const uint8_t *p);
/* A sample of the page estimates more entropy than compression could win
 * back: such a page is stored raw without trying a codec. */
bool page_looks_incompressible(const uint8_t *p);
