/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * verify.h: checking the store: every manifest parses and matches its
 * catalog entry, every chain resolves, every object a manifest lists and
 * every object of the index reads back and hashes to its key. Problems are
 * worded for people ("object <owner>/<sha256> in pack-00000003.pack at
 * offset N: content does not match its key") and listed, never repaired.
 * Verify writes nothing; it runs beside checkpoints and gc, and an object
 * or checkpoint that vanishes meanwhile (moved by a gc, deleted) is not a
 * problem.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "store.h"

struct store_problem {
        char *what; /* "object <owner>/<sha256> in pack-00000003.pack: corrupt", … */
};

struct store_verify_result {
        uint64_t checked_manifests, checked_objects;
        struct store_problem *problems;
        size_t n_problems;
};

/* id 0: everything reachable from every manifest. Problems are listed, not
 * returned as an error: the return value is <0 only when verification itself
 * could not run. */
int store_verify(struct ckpt_store *s, uint64_t id, struct store_verify_result *ret);
/* The same, with progress (NULL: none): objects checked of those to check
 * (the checkpoint's, or every object of the index). */
int store_verify_progress(struct ckpt_store *s, uint64_t id, const struct store_progress *progress,
                          struct store_verify_result *ret);
void store_verify_result_done(struct store_verify_result *r);

/* Problems store_verify() lists at most (then "and N more problems"). */
#define STORE_VERIFY_MAX_PROBLEMS 1000u
