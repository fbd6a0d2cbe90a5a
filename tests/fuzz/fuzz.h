/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fuzz.h: the entry points every fuzz target defines. A target is built twice:
 * with libFuzzer (`make fuzz`, clang -fsanitize=fuzzer) and with replay.c as
 * its main (`make all`, ASan/UBSan), which runs it once over its seed corpus
 * as a unit test.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);
