/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pack.c: the pack files (pack.h; format in include/ckpt/manifest.h).
 *
 * Owns: the pack files and their descriptors (packs_lock), the current
 * pack's end and what is not yet fsynced. Writes records where it is told
 * and reads them back; never decides what lives (repack.c, gc.c) nor
 * touches the index (index.c).
 */
#include "pack.h"

#include <endian.h>
#include <lz4.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "log.h"
#include "sha256.h"

static int pack_fd_slot(struct ckpt_store *s, uint32_t pack)
{
        if (pack >= s->n_pack_fds) {
                size_t n = MAX((size_t)pack + 1, s->n_pack_fds * 2);
                int *v = realloc(s->pack_fds, n * sizeof(*v));

                if (!v)
                        return -ENOMEM;
                for (size_t i = s->n_pack_fds; i < n; i++)
                        v[i] = -EBADF;
                s->pack_fds = v;
                s->n_pack_fds = n;
        }
        return 0;
}

int pack_get_fd(struct ckpt_store *s, uint32_t pack)
{
        char name[32];
        int r, fd;

        pthread_rwlock_wrlock(&s->packs_lock);
        r = pack_fd_slot(s, pack);
        if (r < 0)
                goto out;
        if (s->pack_fds[pack] < 0) {
                snprintf(name, sizeof(name), "pack-%08u.pack", pack);
                fd = openat(s->packs_fd, name, O_RDONLY | O_CLOEXEC);
                if (fd < 0) {
                        r = negative_errno();
                        goto out;
                }
                s->pack_fds[pack] = fd;
        }
        r = s->pack_fds[pack];
out:
        pthread_rwlock_unlock(&s->packs_lock);
        return r;
}

int pack_pread(struct ckpt_store *s, uint32_t pack, void *buf, size_t n, uint64_t off,
               size_t *ret_read)
{
        for (unsigned attempt = 0; attempt < 2; attempt++) {
                int fd = -EBADF, r;

                pthread_rwlock_rdlock(&s->packs_lock);
                if (pack < s->n_pack_fds)
                        fd = s->pack_fds[pack];
                if (fd >= 0) {
                        r = pread_all(fd, buf, n, off, ret_read);
                        pthread_rwlock_unlock(&s->packs_lock);
                        return r;
                }
                pthread_rwlock_unlock(&s->packs_lock);
                r = pack_get_fd(s, pack);
                if (r < 0)
                        return r;
        }
        return -EBADF;
}

static bool pack_version_ok(uint32_t v)
{
        return v >= CKPT_PACK_VERSION_MIN && v <= CKPT_PACK_VERSION;
}

static int pack_create(struct ckpt_store *s, uint32_t pack)
{
        struct ckpt_pack_header h = {};
        _cleanup_close_ int fd = -EBADF;
        char name[32];
        int r;

        snprintf(name, sizeof(name), "pack-%08u.pack", pack);
        fd = openat(s->packs_fd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0)
                return negative_errno();
        memcpy(h.magic, CKPT_PACK_MAGIC, sizeof(h.magic));
        h.version = htole32(CKPT_PACK_VERSION);
        h.number = htole32(pack);
        r = pwrite_all(fd, &h, sizeof(h), 0);
        if (r < 0) {
                (void)unlinkat(s->packs_fd, name, 0);
                return r;
        }
        pthread_rwlock_wrlock(&s->packs_lock);
        r = pack_fd_slot(s, pack);
        if (r == 0) {
                safe_close(s->pack_fds[pack]);
                s->pack_fds[pack] = TAKE_FD(fd);
        }
        pthread_rwlock_unlock(&s->packs_lock);
        if (r < 0) {
                (void)unlinkat(s->packs_fd, name, 0);
                return r;
        }
        s->packs_dir_dirty = true;
        return 0;
}

void pack_remove(struct ckpt_store *s, uint32_t pack)
{
        char name[32];

        snprintf(name, sizeof(name), "pack-%08u.pack", pack);
        pthread_rwlock_wrlock(&s->packs_lock);
        if (pack < s->n_pack_fds)
                s->pack_fds[pack] = safe_close(s->pack_fds[pack]);
        pthread_rwlock_unlock(&s->packs_lock);
        (void)unlinkat(s->packs_fd, name, 0);
}

int pack_cur_fd(struct ckpt_store *s)
{
        int fd;

        pthread_rwlock_wrlock(&s->packs_lock);
        fd = s->cur_pack < s->n_pack_fds ? s->pack_fds[s->cur_pack] : -EBADF;
        pthread_rwlock_unlock(&s->packs_lock);
        return fd;
}

int pack_roll(struct ckpt_store *s)
{
        int r = pack_create(s, s->cur_pack + 1);

        if (r < 0)
                return r;
        pthread_mutex_lock(&s->pending_lock);
        if (!s->unsynced) {
                s->unsynced_from = s->cur_pack + 1;
                s->unsynced = true;
        }
        s->cur_pack++;
        s->cur_off = sizeof(struct ckpt_pack_header);
        pthread_mutex_unlock(&s->pending_lock);
        log_debug("store: started pack %u", s->cur_pack);
        return 0;
}

int pack_roll_if_full(struct ckpt_store *s)
{
        return s->cur_off >= s->opts.pack_roll_size ? pack_roll(s) : 0;
}

void packs_rollback(struct ckpt_store *s, uint32_t start_pack, uint64_t start_off,
                    bool start_unsynced)
{
        int fd;

        for (uint32_t p = s->cur_pack; p > start_pack; p--)
                pack_remove(s, p);
        pthread_mutex_lock(&s->pending_lock);
        s->cur_pack = start_pack;
        s->cur_off = start_off;
        s->unsynced = start_unsynced;
        pthread_mutex_unlock(&s->pending_lock);
        fd = pack_cur_fd(s);
        if (fd >= 0 && ftruncate(fd, (off_t)start_off) < 0)
                log_debug_errno(negative_errno(),
                                "store: cannot truncate pack %u back, ignoring: %m", start_pack);
}

void pack_appended(struct ckpt_store *s, uint64_t new_end)
{
        pthread_mutex_lock(&s->pending_lock);
        s->cur_off = new_end;
        if (!s->unsynced) {
                s->unsynced_from = s->cur_pack;
                s->unsynced = true;
        }
        pthread_mutex_unlock(&s->pending_lock);
}

int packs_sync_locked(struct ckpt_store *s)
{
        int r = 0;

        if (s->unsynced) {
                for (uint32_t p = s->unsynced_from; p <= s->cur_pack && r == 0; p++) {
                        int fd = pack_get_fd(s, p);

                        if (fd < 0)
                                r = fd;
                        else if (fdatasync(fd) < 0)
                                r = negative_errno();
                }
                if (r < 0) {
                        log_debug_errno(r, "store: fsync of packs failed: %m");
                        pthread_mutex_lock(&s->pending_lock);
                        pending_clear(&s->pending);
                        pthread_mutex_unlock(&s->pending_lock);
                        if (pack_roll(s) == 0)
                                s->unsynced = false;
                        return r;
                }
        }
        if (s->packs_dir_dirty) {
                if (fsync(s->packs_fd) < 0)
                        return negative_errno();
                s->packs_dir_dirty = false;
        }
        s->unsynced = false;
        return 0;
}

/* N of a pack file named "pack-N.pack"; 0 for any other name. */
static uint32_t pack_number(const char *name)
{
        unsigned num;
        char tail[8];

        if (sscanf(name, "pack-%8u.%7s", &num, tail) != 2 || strcmp(tail, "pack") != 0)
                return 0;
        return num;
}

int packs_present(struct ckpt_store *s, uint32_t **ret, size_t *ret_n)
{
        _cleanup_free_ uint32_t *v = NULL;
        size_t n = 0, cap = 0;
        struct dirent *de;
        DIR *d;
        int r;

        r = dir_open(s->packs_fd, &d);
        if (r < 0)
                return r;
        while ((de = readdir(d))) {
                uint32_t num = pack_number(de->d_name);

                if (num == 0)
                        continue;
                if (n == cap) {
                        size_t c2 = MAX((size_t)16, cap * 2);
                        uint32_t *v2 = realloc(v, c2 * sizeof(*v2));
                        if (!v2) {
                                closedir(d);
                                return -ENOMEM;
                        }
                        v = v2;
                        cap = c2;
                }
                v[n++] = num;
        }
        closedir(d);
        /* Few packs: insertion sort. */
        for (size_t i = 1; i < n; i++)
                for (size_t k = i; k > 0 && v[k - 1] > v[k]; k--) {
                        uint32_t t = v[k];
                        v[k] = v[k - 1];
                        v[k - 1] = t;
                }
        *ret = TAKE_PTR(v);
        *ret_n = n;
        return 0;
}

int store_pack_size(struct ckpt_store *s, uint32_t pack, uint64_t *ret)
{
        struct stat st;
        char name[32];

        if (!s || !ret)
                return -EINVAL;
        snprintf(name, sizeof(name), "pack-%08u.pack", pack);
        if (fstatat(s->packs_fd, name, &st, 0) < 0)
                return negative_errno();
        *ret = (uint64_t)st.st_size;
        return 0;
}

int store_list_packs(struct ckpt_store *s, uint32_t **ret, size_t *ret_n)
{
        if (!s || !ret || !ret_n)
                return -EINVAL;
        return packs_present(s, ret, ret_n);
}

/* The highest pack number present (0: none). */
static int find_last_pack(struct ckpt_store *s, uint32_t *ret)
{
        DIR *d;
        struct dirent *de;
        uint32_t max = 0;
        int r;

        r = dir_open(s->packs_fd, &d);
        if (r < 0)
                return r;
        while ((de = readdir(d)))
                max = MAX(max, pack_number(de->d_name));
        closedir(d);
        *ret = max;
        return 0;
}

int pack_open_current(struct ckpt_store *s)
{
        struct ckpt_pack_header h;
        struct stat st;
        uint32_t last = 0;
        char name[32];
        size_t got;
        int fd, r;

        r = find_last_pack(s, &last);
        if (r < 0)
                return r;
        if (last == 0) {
                r = pack_create(s, 1);
                if (r < 0)
                        return r;
                s->cur_pack = 1;
                s->cur_off = sizeof(h);
                s->unsynced_from = 1;
                s->unsynced = true;
                return 0;
        }
        snprintf(name, sizeof(name), "pack-%08u.pack", last);
        fd = openat(s->packs_fd, name, O_RDWR | O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        r = pack_fd_slot(s, last);
        if (r < 0) {
                safe_close(fd);
                return r;
        }
        s->pack_fds[last] = fd;
        s->cur_pack = last;
        if (fstat(fd, &st) < 0)
                return negative_errno();
        r = pread_all(fd, &h, sizeof(h), 0, &got);
        if (r < 0)
                return r;
        if (got < sizeof(h)) {
                /* Created by a run that crashed before the header was durable:
                 * nothing can point into it yet. */
                struct ckpt_pack_header nh = {};

                memcpy(nh.magic, CKPT_PACK_MAGIC, sizeof(nh.magic));
                nh.version = htole32(CKPT_PACK_VERSION);
                nh.number = htole32(last);
                if (ftruncate(fd, 0) < 0)
                        return negative_errno();
                r = pwrite_all(fd, &nh, sizeof(nh), 0);
                if (r < 0)
                        return r;
                s->cur_off = sizeof(nh);
                s->unsynced_from = last;
                s->unsynced = true;
                return 0;
        }
        if (memcmp(h.magic, CKPT_PACK_MAGIC, sizeof(h.magic)) != 0 ||
            !pack_version_ok(le32toh(h.version)) || le32toh(h.number) != last) {
                log_error("store: pack %u: not a pack of a version this ckptd reads "
                          "(versions %u to %u)",
                          last, CKPT_PACK_VERSION_MIN, CKPT_PACK_VERSION);
                return -EBADMSG;
        }
        s->cur_off = (uint64_t)st.st_size;
        /* New objects (LZ4 ones, and a repack's copies of them) go into a
         * pack of the version that may hold them: a store of version 1
         * packs goes on in a new one. */
        if (le32toh(h.version) < CKPT_PACK_VERSION)
                return pack_roll(s);
        return 0;
}

/* CLEN bytes of codec CODEC into the 4 KiB at PAGE; false: they do not
 * decode to exactly one page. */
static bool decode_payload(ZSTD_DCtx *d, uint8_t codec, const uint8_t *src, uint32_t clen,
                           uint8_t *page)
{
        switch (codec) {
        case CKPT_CODEC_RAW:
                if (clen != PAGE)
                        return false;
                memcpy(page, src, PAGE);
                return true;
        case CKPT_CODEC_ZSTD: {
                size_t k = ZSTD_decompressDCtx(d, page, PAGE, src, clen);

                return !ZSTD_isError(k) && k == PAGE;
        }
        case CKPT_CODEC_LZ4:
                /* Bounded by both sizes: never reads or writes past them. */
                return clen <= INT32_MAX && LZ4_decompress_safe((const char *)src, (char *)page,
                                                                (int)clen, PAGE) == (int)PAGE;
        default:
                return false;
        }
}

int store_decode_object(ZSTD_DCtx *d, uint32_t owner, const uint8_t key[32], uint32_t clen,
                        uint8_t codec, const void *rec, size_t size, void *ret_page)
{
        const uint8_t *p = rec;
        struct ckpt_pack_object h;
        uint8_t digest[32];
        int r;

        if (clen > PAGE || !store_codec_known(codec) || size != sizeof(h) + clen)
                return -EBADMSG;
        memcpy(&h, p, sizeof(h));
        if (le32toh(h.magic) != CKPT_PACK_OBJECT_MAGIC || le32toh(h.owner) != owner ||
            memcmp(h.sha256, key, 32) != 0 || le32toh(h.ulen) != PAGE || le32toh(h.clen) != clen ||
            h.codec != codec)
                return -EBADMSG;

        if (!decode_payload(d, codec, p + sizeof(h), clen, ret_page))
                return -EBADMSG;
        r = sha256_once(ret_page, PAGE, digest);
        if (r < 0)
                return r;
        if (memcmp(digest, key, 32) != 0)
                return -EBADMSG;
        return 0;
}

int pack_record_check(ZSTD_DCtx *d, const uint8_t *p, size_t avail, uint8_t *page,
                      struct ckpt_pack_object *ret, size_t *ret_len)
{
        struct ckpt_pack_object h;
        uint8_t digest[32];
        uint32_t clen;
        int r;

        if (avail < sizeof(h))
                return 0;
        memcpy(&h, p, sizeof(h));
        clen = le32toh(h.clen);
        if (le32toh(h.magic) != CKPT_PACK_OBJECT_MAGIC || le32toh(h.ulen) != PAGE || clen == 0 ||
            clen > PAGE || avail - sizeof(h) < clen)
                return 0;
        if (!decode_payload(d, h.codec, p + sizeof(h), clen, page))
                return 0;
        r = sha256_once(page, PAGE, digest);
        if (r < 0)
                return r;
        if (memcmp(digest, h.sha256, 32) != 0)
                return 0;
        *ret = h;
        *ret_len = sizeof(h) + clen;
        return 1;
}

int pack_scan_records(struct ckpt_store *s, ZSTD_DCtx *d, const uint8_t *base, uint64_t size,
                      uint32_t pack, uint64_t from, record_fn cb, void *userdata,
                      struct pack_scan *ret)
{
        static const uint8_t magic[4] = {0x43, 0x4b, 0x50, 0x4f}; /* CKPT_PACK_OBJECT_MAGIC, LE */
        _cleanup_free_ uint8_t *page = NULL;
        struct pack_scan sc = {.size = size};
        struct ckpt_pack_header h;
        uint64_t off;
        int r;

        *ret = sc;
        if (size < sizeof(h))
                return 0;
        memcpy(&h, base, sizeof(h));
        sc.header_ok = memcmp(h.magic, CKPT_PACK_MAGIC, sizeof(h.magic)) == 0 &&
                       pack_version_ok(le32toh(h.version)) && le32toh(h.number) == pack;
        page = malloc(PAGE);
        if (!page)
                return -ENOMEM;
        off = MAX(from, (uint64_t)sizeof(h));
        sc.end = off;
        while (off < size) {
                struct ckpt_pack_object o;
                const uint8_t *q;
                size_t len;

                r = pack_record_check(d, base + off, size - off, page, &o, &len);
                if (r < 0)
                        return r;
                if (r > 0) {
                        r = cb(s, pack, off, &o, base + off, userdata);
                        if (r < 0)
                                return r;
                        sc.records++;
                        off += len;
                        sc.end = off;
                        continue;
                }
                q = memmem(base + off + 1, size - off - 1, magic, sizeof(magic));
                if (!q)
                        break;
                off = (uint64_t)(q - base);
        }
        *ret = sc;
        return 0;
}

int pack_foreach_record(struct ckpt_store *s, uint32_t pack, uint64_t from, record_fn cb,
                        void *userdata, struct pack_scan *ret)
{
        struct pack_scan sc = {};
        _cleanup_close_ int fd = -EBADF;
        ZSTD_DCtx *d = NULL;
        const uint8_t *base;
        struct stat st;
        char name[32];
        int r;

        snprintf(name, sizeof(name), "pack-%08u.pack", pack);
        fd = openat(s->packs_fd, name, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        if (fstat(fd, &st) < 0)
                return negative_errno();
        sc.size = (uint64_t)st.st_size;
        if (sc.size < sizeof(struct ckpt_pack_header)) {
                if (ret)
                        *ret = sc;
                return 0;
        }
        base = mmap(NULL, sc.size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (base == MAP_FAILED)
                return negative_errno();
        d = ZSTD_createDCtx();
        r = d ? pack_scan_records(s, d, base, sc.size, pack, from, cb, userdata, &sc) : -ENOMEM;
        ZSTD_freeDCtx(d);
        munmap((void *)base, sc.size);
        if (r < 0)
                return log_debug_errno(r, "store: cannot scan '%s': %m", name);
        if (ret)
                *ret = sc;
        return 0;
}

int pack_cut_tail(struct ckpt_store *s, uint32_t pack, const struct pack_scan *sc,
                  uint64_t *ret_cut)
{
        _cleanup_close_ int fd = -EBADF;
        char name[32];

        *ret_cut = 0;
        if (!sc->header_ok || sc->end >= sc->size)
                return 0;
        snprintf(name, sizeof(name), "pack-%08u.pack", pack);
        fd = openat(s->packs_fd, name, O_RDWR | O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        if (ftruncate(fd, (off_t)sc->end) < 0 || fdatasync(fd) < 0)
                return negative_errno();
        *ret_cut = sc->size - sc->end;
        return 0;
}
