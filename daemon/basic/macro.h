/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * macro.h: small helpers shared by every daemon module: those it shares with
 * the clients (ckpt/macro-fundamental.h: _cleanup_, TAKE_PTR, ELEMENTSOF,
 * negative_errno, MIN/MAX...) and the daemon's own page size. No module state.
 */
#pragma once

#include "ckpt/macro-fundamental.h"

/* One page of the store and of the engine as an unsigned int, for buffer
 * sizes, loops and the 32-bit fields of pack objects; PAGE_SIZE_4K is the
 * same size as a 64-bit constant, for address arithmetic. */
#define PAGE 4096u
