/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* manifest.c: in-memory checkpoint manifests (stub, being implemented). */
#include <errno.h>

#include "manifest.h"

const char *ckpt_track_mode_to_string(enum ckpt_track_mode m)
{
        return NULL;
}
struct ckpt_manifest *manifest_free(struct ckpt_manifest *m)
{
        return NULL;
}
int manifest_serialize(const struct ckpt_manifest *m, void **ret_buf, size_t *ret_size)
{
        return -EOPNOTSUPP;
}
int manifest_parse(const void *buf, size_t size, struct ckpt_manifest **ret)
{
        return -EOPNOTSUPP;
}
int manifest_dup(const struct ckpt_manifest *m, struct ckpt_manifest **ret)
{
        return -EOPNOTSUPP;
}
int manifest_add_region(struct ckpt_manifest *m, const struct ckpt_region *r)
{
        return -EOPNOTSUPP;
}
int manifest_add_page(struct ckpt_manifest *m, uint64_t addr, uint32_t kind, const uint8_t *key)
{
        return -EOPNOTSUPP;
}
int manifest_add_thread(struct ckpt_manifest *m, const struct ckpt_thread *t)
{
        return -EOPNOTSUPP;
}
const struct ckpt_page *manifest_find_page(const struct ckpt_manifest *m, uint64_t addr)
{
        return NULL;
}
const struct ckpt_region *manifest_find_region(const struct ckpt_manifest *m, uint64_t addr)
{
        return NULL;
}
int manifest_compute_delta(const struct ckpt_manifest *parent_view,
                           const struct ckpt_manifest *child_view,
                           struct ckpt_manifest *child_delta)
{
        return -EOPNOTSUPP;
}
int manifest_apply_delta(struct ckpt_manifest *view, const struct ckpt_manifest *delta)
{
        return -EOPNOTSUPP;
}
