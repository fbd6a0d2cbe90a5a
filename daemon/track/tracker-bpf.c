/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * tracker-bpf.c: the tracker's BPF side (see tracker-internal.h): loads and
 * attaches tracker.bpf.c (fentry where the kernel allows tracing programs,
 * tracepoints otherwise, nothing when BPF is unavailable), attaches the fault
 * and syscall programs only while they are needed, reads the ring buffer
 * into the tracker's queue and does every access to the maps. It knows
 * nothing of per-process state beyond a pid, and never reads page contents.
 */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "log.h"
#include "macro.h"
#include "pagemap-scan.h"
#include "tracker-internal.h"
#include "tracker.h"
#include "tracker.skel.h"

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
        char buf[512];

        if (log_max_level < LOG_DEBUG)
                return 0;
        vsnprintf(buf, sizeof(buf), fmt, ap);
        buf[strcspn(buf, "\n")] = 0;
        log_debug("tracker: libbpf: %s", buf);
        return 0;
}

/* Tracepoint attachment looks tracepoint ids up in tracefs. */
static void ensure_tracefs(void)
{
        if (access("/sys/kernel/tracing/events", F_OK) == 0 ||
            access("/sys/kernel/debug/tracing/events", F_OK) == 0)
                return;
        if (mount("tracefs", "/sys/kernel/tracing", "tracefs", 0, NULL) < 0)
                log_debug("tracker: cannot mount tracefs, ignoring: %m");
}

static int on_ring_event(void *ctx, void *data, size_t size)
{
        struct tracker *t = ctx;

        if (size < sizeof(struct ckpt_event))
                return 0;
        if (t->n_queue == t->n_queue_alloc) {
                size_t k = t->n_queue_alloc ? t->n_queue_alloc * 2 : 64;
                struct ckpt_event *q = reallocarray(t->queue, k, sizeof(*q));

                if (!q)
                        return -ENOMEM;
                t->queue = q;
                t->n_queue_alloc = k;
        }
        memcpy(&t->queue[t->n_queue++], data, sizeof(struct ckpt_event));
        return 0;
}

/* ---- attaching on demand -------------------------------------------------
 *
 * Any syscall tracepoint in use sends every system call of every process on
 * the machine through the kernel's slow path (~70 ns each here), and the
 * page-fault tracepoints run a program at every fault of every process: a
 * cost to all, even with nothing tracked. So those programs are attached
 * only while a process is tracked or being armed; the sched programs (fork,
 * exec, exit: rare events, needed to find processes policies match at their
 * exec) stay attached. Lock held for both (tracker.c decides when). */

static bool prog_always_attached(const char *name)
{
        return strncmp(name, "handle_sched_", 13) == 0;
}

void tracker_hooks_detach(struct tracker *t)
{
        const struct bpf_object_skeleton *sk;
        __u64 key, next;

        if (!t->skel || !t->hooks_attached)
                return;
        sk = t->skel->skeleton;
        for (int i = 0; i < sk->prog_cnt; i++) {
                struct bpf_link **link = sk->progs[i].link;

                if (prog_always_attached(sk->progs[i].name) || !*link)
                        continue;
                bpf_link__destroy(*link);
                *link = NULL;
        }
        t->hooks_attached = false;
        /* A system call caught between its entry and its exit would be
         * matched with the wrong exit once attached again. */
        while (bpf_map_get_next_key(bpf_map__fd(t->skel->maps.pending), NULL, &next) == 0) {
                key = next;
                if (bpf_map_delete_elem(bpf_map__fd(t->skel->maps.pending), &key) < 0)
                        break;
        }
        log_debug("tracker: nothing tracked, fault and syscall programs detached");
}

int tracker_hooks_attach(struct tracker *t)
{
        const struct bpf_object_skeleton *sk;

        if (!t->skel || t->hooks_attached)
                return 0;
        sk = t->skel->skeleton;
        for (int i = 0; i < sk->prog_cnt; i++) {
                struct bpf_program *prog = *sk->progs[i].prog;
                struct bpf_link **link = sk->progs[i].link;
                int r;

                if (prog_always_attached(sk->progs[i].name) || *link ||
                    !bpf_program__autoload(prog))
                        continue;
                *link = bpf_program__attach(prog);
                if (!*link) {
                        r = negative_errno();
                        *link = NULL;
                        t->hooks_attached = true; /* so that detach undoes the others */
                        tracker_hooks_detach(t);
                        return log_warning_errno(r, "tracker: cannot attach %s: %m",
                                                 sk->progs[i].name);
                }
        }
        t->hooks_attached = true;
        log_debug("tracker: fault and syscall programs attached");
        return 0;
}

bool tracker_hooks_attached(struct tracker *t)
{
        bool b;

        pthread_mutex_lock(&t->lock);
        b = t->hooks_attached;
        pthread_mutex_unlock(&t->lock);
        return b;
}

/* Open, size, load and attach; fentry selects the write-fault hook. */
static int tracker_load(struct tracker *t, const struct tracker_options *o, bool fentry)
{
        struct tracker_bpf *skel;
        int r;

        skel = tracker_bpf__open();
        if (!skel)
                return negative_errno();
        bpf_map__set_max_entries(skel->maps.dirty, o->max_windows);
        bpf_map__set_max_entries(skel->maps.tracked, o->max_tracked);
        bpf_map__set_max_entries(skel->maps.stats, o->max_tracked);
        bpf_map__set_max_entries(skel->maps.events, o->ringbuf_bytes);
        bpf_program__set_autoload(skel->progs.handle_mm_fault_entry, fentry);
        bpf_program__set_autoload(skel->progs.handle_page_fault_user, !fentry);
        bpf_program__set_autoload(skel->progs.handle_page_fault_kernel, !fentry);

        r = tracker_bpf__load(skel);
        if (r == 0)
                r = tracker_bpf__attach(skel);
        if (r < 0) {
                r = r == -1 ? negative_errno() : r;
                tracker_bpf__destroy(skel);
                return r;
        }
        t->skel = skel;
        return 0;
}

int tracker_bpf_setup(struct tracker *t, const struct tracker_options *o)
{
        int r = -EOPNOTSUPP;

        libbpf_set_print(libbpf_print);
        ensure_tracefs();
        if (!o->no_fentry) {
                r = tracker_load(t, o, true);
                if (r == 0)
                        t->bpf_mode = "fentry";
                else
                        log_debug("tracker: fentry/handle_mm_fault unavailable (%s), "
                                  "using tracepoints",
                                  strerror(-r));
        }
        if (r < 0) {
                r = tracker_load(t, o, false);
                if (r == 0)
                        t->bpf_mode = "tracepoint";
                else
                        log_warning_errno(r, "tracker: cannot load BPF programs, "
                                             "falling back to scanning: %m");
        }
        /* Attached by the load (which is how fentry is probed);
         * nothing is tracked yet. */
        t->hooks_attached = t->skel != NULL;
        tracker_hooks_detach(t);
        if (t->skel) {
                t->rb = ring_buffer__new(bpf_map__fd(t->skel->maps.events), on_ring_event, t, NULL);
                if (!t->rb)
                        return negative_errno();
        }
        return 0;
}

void tracker_bpf_teardown(struct tracker *t)
{
        ring_buffer__free(t->rb);
        t->rb = NULL;
        tracker_bpf__destroy(t->skel);
        t->skel = NULL;
}

int tracker_bpf_read_ring(struct tracker *t)
{
        if (!t->rb)
                return 0;
        return ring_buffer__consume(t->rb);
}

int tracker_bpf_add_proc(struct tracker *t, pid_t tgid)
{
        __u32 key = tgid, one = 1;
        struct ckpt_proc_stats zero = {};

        if (!t->skel)
                return 0;
        bpf_map_update_elem(bpf_map__fd(t->skel->maps.stats), &key, &zero, BPF_ANY);
        if (bpf_map_update_elem(bpf_map__fd(t->skel->maps.tracked), &key, &one, BPF_ANY) < 0)
                return negative_errno();
        return 0;
}

void tracker_bpf_remove_proc(struct tracker *t, pid_t tgid)
{
        __u32 key = tgid;

        if (t->skel)
                bpf_map_delete_elem(bpf_map__fd(t->skel->maps.tracked), &key);
}

int tracker_bpf_proc_stats(struct tracker *t, pid_t pid, struct ckpt_proc_stats *ret)
{
        __u32 key = pid;

        if (!t->skel)
                return -ENOENT;
        if (bpf_map_lookup_elem(bpf_map__fd(t->skel->maps.stats), &key, ret) < 0)
                return negative_errno();
        return 0;
}

void tracker_bpf_forget(struct tracker *t, pid_t pid)
{
        struct ckpt_dirty_key key, next;
        __u32 tgid = pid;
        bool first = true;

        if (!t->skel)
                return;
        bpf_map_delete_elem(bpf_map__fd(t->skel->maps.tracked), &tgid);
        bpf_map_delete_elem(bpf_map__fd(t->skel->maps.stats), &tgid);
        /* Delete this process's bitmaps; restart the walk after each delete. */
        for (;;) {
                bool found = false;

                first = true;
                while (bpf_map_get_next_key(bpf_map__fd(t->skel->maps.dirty), first ? NULL : &key,
                                            &next) == 0) {
                        first = false;
                        key = next;
                        if (key.tgid == tgid) {
                                bpf_map_delete_elem(bpf_map__fd(t->skel->maps.dirty), &key);
                                found = true;
                                break;
                        }
                }
                if (!found)
                        break;
        }
}

const char *tracker_bpf_mode(struct tracker *t)
{
        return t->bpf_mode;
}

int tracker_ring_fd(struct tracker *t)
{
        if (!t->rb)
                return -EOPNOTSUPP;
        return ring_buffer__epoll_fd(t->rb);
}

void tracker_watch_exec(struct tracker *t, bool on)
{
        if (t->skel && t->skel->bss)
                t->skel->bss->watch_exec = on;
}

/* The bits of one window, as page addresses. */
static int push_window(const struct ckpt_dirty_key *k, const struct ckpt_dirty_bits *b,
                       uint64_t **pages, size_t *n, size_t *n_alloc)
{
        for (unsigned w = 0; w < CKPT_WINDOW_WORDS; w++)
                for (uint64_t bits = b->bits[w]; bits; bits &= bits - 1) {
                        unsigned bit = (unsigned)__builtin_ctzll(bits);
                        uint64_t addr =
                                (k->window << CKPT_WINDOW_SHIFT) + ((uint64_t)(w * 64 + bit) << 12);
                        int r = uffd_pages_push(pages, n, n_alloc, addr);

                        if (r < 0)
                                return r;
                }
        return 0;
}

#define BATCH_ENTRIES 4096u

/*
 * Read the dirty windows of tgid with the batch operations: a few system
 * calls for the whole map instead of two per window. Only while the process
 * is frozen (its threads cannot fault, so nothing is set between the read and
 * the delete). -EOPNOTSUPP: the kernel has no batch operations for this map;
 * the caller walks it key by key.
 */
static int bpf_take_batch(int dfd, __u32 tgid, bool peek, uint64_t **pages, size_t *n,
                          size_t *n_alloc)
{
        _cleanup_free_ struct ckpt_dirty_key *keys = NULL, *mine = NULL;
        _cleanup_free_ struct ckpt_dirty_bits *vals = NULL;
        size_t n_mine = 0, a_mine = 0;
        __u64 in_batch = 0, out_batch = 0;
        bool first = true, done = false;
        LIBBPF_OPTS(bpf_map_batch_opts, opts);
        int r;

        keys = calloc(BATCH_ENTRIES, sizeof(*keys));
        vals = calloc(BATCH_ENTRIES, sizeof(*vals));
        if (!keys || !vals)
                return -ENOMEM;
        while (!done) {
                __u32 count = BATCH_ENTRIES;

                r = bpf_map_lookup_batch(dfd, first ? NULL : &in_batch, &out_batch, keys, vals,
                                         &count, &opts);
                if (r < 0 && errno != ENOENT)
                        return errno == EINVAL || errno == 524 /* ENOTSUPP */ || errno == EOPNOTSUPP
                                       ? -EOPNOTSUPP
                                       : -errno;
                done = r < 0; /* ENOENT: this was the last batch */
                first = false;
                in_batch = out_batch;
                for (__u32 i = 0; i < count; i++) {
                        if (keys[i].tgid != tgid)
                                continue;
                        r = push_window(&keys[i], &vals[i], pages, n, n_alloc);
                        if (r < 0)
                                return r;
                        if (peek)
                                continue;
                        if (n_mine == a_mine) {
                                size_t k = a_mine ? a_mine * 2 : 64;
                                struct ckpt_dirty_key *v = reallocarray(mine, k, sizeof(*v));

                                if (!v)
                                        return -ENOMEM;
                                mine = v;
                                a_mine = k;
                        }
                        mine[n_mine++] = keys[i];
                }
        }
        for (size_t i = 0; i < n_mine; i += BATCH_ENTRIES) {
                __u32 count = (__u32)MIN((size_t)BATCH_ENTRIES, n_mine - i);

                if (bpf_map_delete_batch(dfd, mine + i, &count, &opts) < 0 && errno != ENOENT)
                        return -errno;
        }
        return 0;
}

/* Take (and reset) the BPF bitmaps and the overflow flags of a process. */
int tracker_bpf_take(struct tracker *t, pid_t pid, uint64_t **pages, size_t *n, size_t *n_alloc,
                     bool peek, bool *ret_overflow)
{
        int dfd, sfd, r;
        struct ckpt_dirty_key key, next, *keys = NULL;
        size_t n_keys = 0, a_keys = 0;
        struct ckpt_proc_stats s;
        __u32 tgid = pid;
        bool first = true;

        *ret_overflow = false;
        if (!t->skel)
                return 0;
        dfd = bpf_map__fd(t->skel->maps.dirty);
        sfd = bpf_map__fd(t->skel->maps.stats);

        if (bpf_map_lookup_elem(sfd, &tgid, &s) == 0 && s.overflow) {
                *ret_overflow = true;
                if (!peek) {
                        s.overflow = 0;
                        bpf_map_update_elem(sfd, &tgid, &s, BPF_EXIST);
                }
        }

        if (t->batch_ok) {
                r = bpf_take_batch(dfd, tgid, peek, pages, n, n_alloc);
                if (r != -EOPNOTSUPP)
                        return r;
                t->batch_ok = false;
                *n = 0;
        }

        while (bpf_map_get_next_key(dfd, first ? NULL : &key, &next) == 0) {
                first = false;
                key = next;
                if (key.tgid != tgid)
                        continue;
                if (n_keys == a_keys) {
                        size_t k = a_keys ? a_keys * 2 : 64;
                        struct ckpt_dirty_key *v = reallocarray(keys, k, sizeof(*v));

                        if (!v) {
                                free(keys);
                                return -ENOMEM;
                        }
                        keys = v;
                        a_keys = k;
                }
                keys[n_keys++] = key;
        }
        for (size_t i = 0; i < n_keys; i++) {
                struct ckpt_dirty_bits b;

                if ((peek ? bpf_map_lookup_elem(dfd, &keys[i], &b)
                          : bpf_map_lookup_and_delete_elem(dfd, &keys[i], &b)) < 0)
                        continue;
                for (unsigned w = 0; w < CKPT_WINDOW_WORDS; w++)
                        for (uint64_t bits = b.bits[w]; bits; bits &= bits - 1) {
                                unsigned bit = (unsigned)__builtin_ctzll(bits);
                                uint64_t addr = (keys[i].window << CKPT_WINDOW_SHIFT) +
                                                ((uint64_t)(w * 64 + bit) << 12);

                                r = uffd_pages_push(pages, n, n_alloc, addr);
                                if (r < 0) {
                                        free(keys);
                                        return r;
                                }
                        }
        }
        free(keys);
        return 0;
}

int tracker_bpf_pages(struct tracker *t, pid_t pid, uint64_t **ret_pages, size_t *ret_n)
{
        _cleanup_free_ uint64_t *pages = NULL;
        struct ckpt_dirty_key key, next;
        size_t n = 0, n_alloc = 0;
        bool first = true;
        int dfd, r = 0;

        if (!t->skel)
                return -EOPNOTSUPP;
        pthread_mutex_lock(&t->lock);
        dfd = bpf_map__fd(t->skel->maps.dirty);
        /* A few batch reads of the whole map rather than two system calls
         * per window of every process (milliseconds under the lock). */
        if (t->batch_ok) {
                r = bpf_take_batch(dfd, (__u32)pid, true, &pages, &n, &n_alloc);
                if (r == -EOPNOTSUPP) {
                        t->batch_ok = false;
                        n = 0;
                        r = 0;
                }
        }
        while (r >= 0 && !t->batch_ok &&
               bpf_map_get_next_key(dfd, first ? NULL : &key, &next) == 0) {
                struct ckpt_dirty_bits b;

                first = false;
                key = next;
                if (key.tgid != (__u32)pid || bpf_map_lookup_elem(dfd, &key, &b) < 0)
                        continue;
                for (unsigned w = 0; r >= 0 && w < CKPT_WINDOW_WORDS; w++)
                        for (uint64_t bits = b.bits[w]; r >= 0 && bits; bits &= bits - 1)
                                r = uffd_pages_push(
                                        &pages, &n, &n_alloc,
                                        (key.window << CKPT_WINDOW_SHIFT) +
                                                ((uint64_t)(w * 64 + __builtin_ctzll(bits)) << 12));
        }
        pthread_mutex_unlock(&t->lock);
        if (r < 0)
                return r;
        uffd_pages_sort_unique(pages, &n);
        *ret_pages = TAKE_PTR(pages);
        *ret_n = n;
        return 0;
}

int tracker_prog_stats(struct tracker *t, tracker_prog_stats_fn fn, void *userdata)
{
        struct bpf_program *prog;

        if (!t->skel)
                return -EOPNOTSUPP;
        bpf_object__for_each_program(prog, t->skel->obj)
        {
                struct bpf_prog_info info = {};
                __u32 len = sizeof(info);
                int fd = bpf_program__fd(prog);

                if (fd < 0 || bpf_obj_get_info_by_fd(fd, &info, &len) < 0)
                        continue;
                fn(bpf_program__name(prog), info.run_time_ns, info.run_cnt, userdata);
        }
        return 0;
}
