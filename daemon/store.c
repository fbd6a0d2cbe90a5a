/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* store.c: the content-addressed page store (stub, being implemented). */
#include <errno.h>

#include "store.h"

int store_open(const char *state_dir, struct ckpt_store **ret)
{
        return -EOPNOTSUPP;
}
struct ckpt_store *store_free(struct ckpt_store *s)
{
        return NULL;
}
int store_put_pages(struct ckpt_store *s, uint32_t owner, const void *pages, size_t n,
                    struct ckpt_page *ret, uint64_t *ret_new_bytes)
{
        return -EOPNOTSUPP;
}
int store_get_page(struct ckpt_store *s, uint32_t owner, const uint8_t key[32], void *ret_page)
{
        return -EOPNOTSUPP;
}
int store_has_page(struct ckpt_store *s, uint32_t owner, const uint8_t key[32])
{
        return -EOPNOTSUPP;
}
int store_sync(struct ckpt_store *s)
{
        return -EOPNOTSUPP;
}
int store_alloc_id(struct ckpt_store *s, uint64_t *ret_id)
{
        return -EOPNOTSUPP;
}
int store_commit(struct ckpt_store *s, const struct ckpt_manifest *m)
{
        return -EOPNOTSUPP;
}
int store_load(struct ckpt_store *s, uint64_t id, struct ckpt_manifest **ret)
{
        return -EOPNOTSUPP;
}
int store_view(struct ckpt_store *s, uint64_t id, struct ckpt_manifest **ret)
{
        return -EOPNOTSUPP;
}
int store_list(struct ckpt_store *s, struct store_catalog_entry **ret, size_t *ret_n)
{
        return -EOPNOTSUPP;
}
int store_get_entry(struct ckpt_store *s, uint64_t id, struct store_catalog_entry *ret)
{
        return -EOPNOTSUPP;
}
int store_last_of(struct ckpt_store *s, int32_t pid, uint64_t start_time, uint64_t *ret_id)
{
        return -EOPNOTSUPP;
}
int store_stats(struct ckpt_store *s, struct store_stats *ret)
{
        return -EOPNOTSUPP;
}
