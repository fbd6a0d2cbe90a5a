/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * view.c: manifest files and resolved views (view.h).
 *
 * Owns: the files under manifests/ (their writing and reading; which ones
 * exist is the catalog's business, catalog.c) and the view cache
 * (cache_lock). Parsing and applying deltas is manifest.c's.
 */
#include "view.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"

#define CHAIN_MAX 100000u

void view_manifest_name(uint64_t id, char buf[static 32])
{
        snprintf(buf, 32, "%020llu", (unsigned long long)id);
}

int store_load(struct ckpt_store *s, uint64_t id, struct ckpt_manifest **ret)
{
        _cleanup_free_ uint8_t *buf = NULL;
        _cleanup_close_ int fd = -EBADF;
        struct ckpt_manifest *m = NULL;
        char name[32];
        struct stat st;
        size_t got;
        int r;

        if (!s || !ret)
                return -EINVAL;
        view_manifest_name(id, name);
        fd = openat(s->manifests_fd, name, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        if (fstat(fd, &st) < 0)
                return negative_errno();
        if (st.st_size <= 0 || (uint64_t)st.st_size > (1ULL << 34))
                return -EBADMSG;
        buf = malloc((size_t)st.st_size);
        if (!buf)
                return -ENOMEM;
        r = pread_all(fd, buf, (size_t)st.st_size, 0, &got);
        if (r < 0)
                return r;
        if (got != (size_t)st.st_size)
                return -EBADMSG;
        r = manifest_parse(buf, got, &m);
        if (r < 0)
                return r;
        if (m->id != id) {
                manifest_free(m);
                return -EBADMSG;
        }
        *ret = m;
        return 0;
}

/* The cache holds views the store owns; callers get copies. */
static int cache_get(struct ckpt_store *s, uint64_t id, struct ckpt_manifest **ret)
{
        int r = -ENOENT;

        pthread_mutex_lock(&s->cache_lock);
        for (size_t i = 0; i < VIEW_CACHE_SIZE; i++)
                if (s->cache[i].view && s->cache[i].id == id) {
                        s->cache[i].stamp = ++s->cache_stamp;
                        r = manifest_dup(s->cache[i].view, ret);
                        break;
                }
        pthread_mutex_unlock(&s->cache_lock);
        return r;
}

void view_cache_put(struct ckpt_store *s, uint64_t id, struct ckpt_manifest *view)
{
        size_t victim = 0;

        pthread_mutex_lock(&s->cache_lock);
        for (size_t i = 0; i < VIEW_CACHE_SIZE; i++) {
                if (s->cache[i].view && s->cache[i].id == id) {
                        victim = i;
                        break;
                }
                if (!s->cache[i].view || s->cache[i].stamp < s->cache[victim].stamp)
                        victim = i;
                if (!s->cache[victim].view)
                        break;
        }
        manifest_free(s->cache[victim].view);
        s->cache[victim] = (struct view_slot){.id = id, .stamp = ++s->cache_stamp, .view = view};
        pthread_mutex_unlock(&s->cache_lock);
}

void view_cache_drop(struct ckpt_store *s, uint64_t id)
{
        pthread_mutex_lock(&s->cache_lock);
        for (size_t i = 0; i < VIEW_CACHE_SIZE; i++)
                if (s->cache[i].view && s->cache[i].id == id) {
                        s->cache[i].view = manifest_free(s->cache[i].view);
                        s->cache[i].id = 0;
                }
        pthread_mutex_unlock(&s->cache_lock);
}

int store_view(struct ckpt_store *s, uint64_t id, struct ckpt_manifest **ret)
{
        _cleanup_(manifest_freep) struct ckpt_manifest *view = NULL;
        struct ckpt_manifest **chain = NULL;
        struct ckpt_manifest *copy = NULL;
        size_t n = 0, cap = 0;
        uint64_t cur = id;
        int r;

        if (!s || !ret)
                return -EINVAL;
        r = cache_get(s, id, ret);
        if (r != -ENOENT)
                return r;

        /* Walk back to a FULL manifest (or a cached view), then forward. */
        for (;;) {
                struct ckpt_manifest *m = NULL;

                if (n > 0) {
                        r = cache_get(s, cur, &view);
                        if (r == 0)
                                break;
                        if (r != -ENOENT)
                                goto out;
                }
                r = store_load(s, cur, &m);
                if (r < 0) {
                        struct store_catalog_entry e;

                        /* A parent that is missing means a broken chain; a
                         * checkpoint of the catalog without its file is
                         * damaged, not absent. */
                        if (r == -ENOENT && (n > 0 || store_get_entry(s, id, &e) == 0))
                                r = n > 0 ? -EBADMSG : -EUCLEAN;
                        goto out;
                }
                if (m->kind == CKPT_MANIFEST_FULL) {
                        view = m;
                        r = manifest_canonicalize(view);
                        if (r < 0)
                                goto out;
                        break;
                }
                if (m->parent == 0 || m->parent >= cur || n >= CHAIN_MAX) {
                        manifest_free(m);
                        r = -EBADMSG;
                        goto out;
                }
                if (n == cap) {
                        size_t c2 = MAX((size_t)16, cap * 2);
                        struct ckpt_manifest **v = realloc(chain, c2 * sizeof(*v));
                        if (!v) {
                                manifest_free(m);
                                r = -ENOMEM;
                                goto out;
                        }
                        chain = v;
                        cap = c2;
                }
                chain[n++] = m;
                cur = m->parent;
        }
        while (n > 0) {
                r = manifest_apply_delta(view, chain[n - 1]);
                if (r < 0)
                        goto out;
                manifest_free(chain[--n]);
        }
        r = manifest_dup(view, &copy);
        if (r < 0)
                goto out;
        view_cache_put(s, id, TAKE_PTR(view));
        *ret = copy;
out:
        while (n > 0)
                manifest_free(chain[--n]);
        free(chain);
        return r;
}

int view_write_manifest(struct ckpt_store *s, uint64_t id, const void *buf, size_t size)
{
        char name[32], tmp[40];
        _cleanup_close_ int fd = -EBADF;
        int r;

        view_manifest_name(id, name);
        snprintf(tmp, sizeof(tmp), ".tmp-%s", name);
        (void)unlinkat(s->manifests_fd, tmp, 0);
        fd = openat(s->manifests_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0)
                return negative_errno();
        r = pwrite_all(fd, buf, size, 0);
        if (r == 0 && fsync(fd) < 0)
                r = negative_errno();
        if (r == 0 && renameat(s->manifests_fd, tmp, s->manifests_fd, name) < 0)
                r = negative_errno();
        if (r < 0) {
                (void)unlinkat(s->manifests_fd, tmp, 0);
                return r;
        }
        if (fsync(s->manifests_fd) < 0)
                return negative_errno();
        return 0;
}

static void *manifest_write_thread(void *arg)
{
        struct manifest_write *w = arg;

        w->result = view_write_manifest(w->s, w->id, w->buf, w->size);
        return NULL;
}

void view_write_manifest_start(struct ckpt_store *s, uint64_t id, const void *buf, size_t size,
                               struct manifest_write *w)
{
        *w = (struct manifest_write){.s = s, .id = id, .buf = buf, .size = size};
        if (pthread_create(&w->thread, NULL, manifest_write_thread, w) == 0)
                w->running = true;
        else
                w->result = view_write_manifest(s, id, buf, size);
}

int view_write_manifest_join(struct manifest_write *w)
{
        if (w->running) {
                pthread_join(w->thread, NULL);
                w->running = false;
        }
        return w->result;
}

int view_remove_stale_temps(struct ckpt_store *s)
{
        DIR *d;
        struct dirent *de;
        int r;

        r = dir_open(s->manifests_fd, &d);
        if (r < 0)
                return r;
        while ((de = readdir(d)))
                if (strncmp(de->d_name, ".tmp-", 5) == 0) {
                        log_debug("store: removing stale '%s'", de->d_name);
                        (void)unlinkat(s->manifests_fd, de->d_name, 0);
                }
        closedir(d);
        return 0;
}

static int cmp_u64(const void *a, const void *b)
{
        uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

        return x < y ? -1 : x > y;
}

int view_manifests_present(struct ckpt_store *s, uint64_t **ret, size_t *ret_n)
{
        _cleanup_free_ uint64_t *v = NULL;
        size_t n = 0, cap = 0;
        struct dirent *de;
        DIR *d;
        int r;

        r = dir_open(s->manifests_fd, &d);
        if (r < 0)
                return r;
        while ((de = readdir(d))) {
                unsigned long long id;
                char *end;

                if (strlen(de->d_name) != 20 || strspn(de->d_name, "0123456789") != 20)
                        continue;
                id = strtoull(de->d_name, &end, 10);
                if (*end || id == 0)
                        continue;
                if (n == cap) {
                        size_t c2 = MAX((size_t)64, cap * 2);
                        uint64_t *v2 = realloc(v, c2 * sizeof(*v2));
                        if (!v2) {
                                closedir(d);
                                return -ENOMEM;
                        }
                        v = v2;
                        cap = c2;
                }
                v[n++] = id;
        }
        closedir(d);
        if (n > 1)
                qsort(v, n, sizeof(*v), cmp_u64);
        *ret = TAKE_PTR(v);
        *ret_n = n;
        return 0;
}

int store_list_manifests(struct ckpt_store *s, uint64_t **ret, size_t *ret_n)
{
        if (!s || !ret || !ret_n)
                return -EINVAL;
        return view_manifests_present(s, ret, ret_n);
}
