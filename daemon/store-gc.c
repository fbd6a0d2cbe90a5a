/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* store-gc.c: see store-gc.h. */
#include "store-gc.h"

#include <errno.h>
#include <stdlib.h>

int store_delete(struct ckpt_store *s, uint64_t id)
{
        return -EOPNOTSUPP;
}

int store_verify(struct ckpt_store *s, uint64_t id, struct store_verify_result *ret)
{
        return -EOPNOTSUPP;
}

void store_verify_result_done(struct store_verify_result *r)
{
        for (size_t i = 0; i < r->n_problems; i++)
                free(r->problems[i].what);
        free(r->problems);
        r->problems = NULL;
        r->n_problems = 0;
}

int store_gc(struct ckpt_store *s, struct store_gc_result *ret)
{
        return -EOPNOTSUPP;
}
