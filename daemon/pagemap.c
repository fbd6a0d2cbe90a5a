/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* pagemap.c: see pagemap.h. */
#include "pagemap.h"

#include <errno.h>

void pagemap_plan_done(struct pagemap_plan *p)
{
}
int pagemap_open(pid_t pid, struct pagemap **ret)
{
        return -EOPNOTSUPP;
}
struct pagemap *pagemap_free(struct pagemap *pm)
{
        return NULL;
}
int pagemap_select(struct pagemap *pm, const struct ckpt_region *r,
                   const struct pagemap_dirty *dirty, const struct ckpt_manifest *parent_view,
                   struct pagemap_plan *plan)
{
        return -EOPNOTSUPP;
}
int pagemap_flags(struct pagemap *pm, uint64_t start, uint64_t end, uint8_t *ret_flags)
{
        return -EOPNOTSUPP;
}
