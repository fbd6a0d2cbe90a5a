// SPDX-License-Identifier: (LGPL-2.1-or-later OR BSD-2-Clause)
/*
 * tracker.bpf.c: the kernel half of dirty-page tracking. For every process in
 * the `tracked` map it records write faults into per-process dirty bitmaps
 * (`dirty`), sends address-space changes (mmap, munmap, mremap, mprotect,
 * zapping madvise, brk) and lifecycle events (fork, exec, exit) to the daemon
 * on the `events` ring buffer, and keeps counters in `stats`. Every program
 * returns at once for a process that is not tracked. Nothing here ever blocks
 * or changes what the process sees; a full map or ring buffer sets an overflow
 * flag for the process, so the daemon falls back to a full scan instead of
 * losing a page.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#include "ckpt/events.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Set by the daemon while policies may match processes that start later:
 * then every exec is reported, tracked or not. */
volatile bool watch_exec = false;

/* Faults at or above this are not the process's pages: TASK_SIZE of x86_64
 * with 4-level page tables. With 5 levels a process can map above it (only
 * when it asks, with an mmap hint); writes there go unmarked, which no
 * checkpoint misses: the bitmaps only add to what each region's own tracking
 * (uffd-wp, soft-dirty, or a read of the whole region) reports. */
#define USER_ADDR_END 0x800000000000ULL
#define X86_PF_WRITE 0x2
#define FAULT_FLAG_WRITE 0x1

struct {
        __uint(type, BPF_MAP_TYPE_HASH);
        __uint(max_entries, 4096);
        __type(key, __u32);
        __type(value, __u32);
} tracked SEC(".maps");

struct {
        __uint(type, BPF_MAP_TYPE_HASH);
        __uint(max_entries, 65536);
        __type(key, struct ckpt_dirty_key);
        __type(value, struct ckpt_dirty_bits);
} dirty SEC(".maps");

struct {
        __uint(type, BPF_MAP_TYPE_HASH);
        __uint(max_entries, 4096);
        __type(key, __u32);
        __type(value, struct ckpt_proc_stats);
} stats SEC(".maps");

struct {
        __uint(type, BPF_MAP_TYPE_RINGBUF);
        __uint(max_entries, 1 << 20);
} events SEC(".maps");

/* A syscall between its entry and its exit, per thread. */
struct pending {
        __u32 type;
        __u32 pad;
        __u64 a0, a1, a2, a3;
};

struct {
        __uint(type, BPF_MAP_TYPE_HASH);
        __uint(max_entries, 8192);
        __type(key, __u64);
        __type(value, struct pending);
} pending SEC(".maps");

/* Scratch for a new bitmap entry (too big for comfort on the stack). */
struct {
        __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
        __uint(max_entries, 1);
        __type(key, __u32);
        __type(value, struct ckpt_dirty_bits);
} scratch SEC(".maps");

/* The exceptions tracepoint record (not in BTF: its own layout). */
struct x86_exception_ctx {
        __u64 common;
        unsigned long address;
        unsigned long ip;
        unsigned long error_code;
};

static __always_inline bool is_tracked(__u32 tgid)
{
        return bpf_map_lookup_elem(&tracked, &tgid) != NULL;
}

static __always_inline struct ckpt_proc_stats *stats_of(__u32 tgid)
{
        struct ckpt_proc_stats *s, zero = {};

        s = bpf_map_lookup_elem(&stats, &tgid);
        if (s)
                return s;
        bpf_map_update_elem(&stats, &tgid, &zero, BPF_NOEXIST);
        return bpf_map_lookup_elem(&stats, &tgid);
}

static __always_inline void set_overflow(__u32 tgid, __u32 flag)
{
        struct ckpt_proc_stats *s = stats_of(tgid);

        if (s)
                __sync_fetch_and_or(&s->overflow, flag);
}

static __always_inline void mark_dirty(__u32 tgid, __u64 addr)
{
        struct ckpt_dirty_key key = {.tgid = tgid, .window = addr >> CKPT_WINDOW_SHIFT};
        struct ckpt_proc_stats *s = stats_of(tgid);
        __u32 page = (addr >> 12) & (CKPT_WINDOW_PAGES - 1);
        __u64 bit = 1ULL << (page & 63), old;
        struct ckpt_dirty_bits *b;
        __u32 zero = 0;
        int r;

        if (s)
                __sync_fetch_and_add(&s->write_faults, 1);

        b = bpf_map_lookup_elem(&dirty, &key);
        if (!b) {
                struct ckpt_dirty_bits *n = bpf_map_lookup_elem(&scratch, &zero);

                if (!n)
                        return;
                __builtin_memset(n, 0, sizeof(*n));
                n->bits[(page >> 6) & (CKPT_WINDOW_WORDS - 1)] = bit;
                r = bpf_map_update_elem(&dirty, &key, n, BPF_NOEXIST);
                if (r == 0) {
                        if (s)
                                __sync_fetch_and_add(&s->dirty_marks, 1);
                        return;
                }
                /* Lost a race with another CPU: set the bit in its entry. */
                b = bpf_map_lookup_elem(&dirty, &key);
                if (!b) {
                        /* The map is full: this page would be lost. */
                        if (s) {
                                __sync_fetch_and_add(&s->lost_marks, 1);
                                __sync_fetch_and_or(&s->overflow, CKPT_PROC_OVERFLOW_BITMAP);
                        }
                        return;
                }
        }
        old = __sync_fetch_and_or(&b->bits[(page >> 6) & (CKPT_WINDOW_WORDS - 1)], bit);
        if (!(old & bit) && s)
                __sync_fetch_and_add(&s->dirty_marks, 1);
}

static __always_inline int on_fault(struct x86_exception_ctx *ctx)
{
        __u32 tgid = bpf_get_current_pid_tgid() >> 32;

        if (!is_tracked(tgid))
                return 0;
        if (!(ctx->error_code & X86_PF_WRITE))
                return 0;
        if (ctx->address >= USER_ADDR_END)
                return 0;
        mark_dirty(tgid, ctx->address);
        return 0;
}

SEC("tracepoint/exceptions/page_fault_user")
int handle_page_fault_user(struct x86_exception_ctx *ctx)
{
        return on_fault(ctx);
}

/* Faults the kernel takes on the process's behalf (a read(2) into a buffer
 * not yet faulted in) are writes to its pages as much as its own. */
SEC("tracepoint/exceptions/page_fault_kernel")
int handle_page_fault_kernel(struct x86_exception_ctx *ctx)
{
        return on_fault(ctx);
}

/* Optional path where tracing programs may load: sees every fault handled,
 * including the ones GUP takes on behalf of the process. */
SEC("fentry/handle_mm_fault")
int BPF_PROG(handle_mm_fault_entry, struct vm_area_struct *vma, unsigned long address,
             unsigned int flags)
{
        __u32 tgid = bpf_get_current_pid_tgid() >> 32;
        struct task_struct *task;

        if (!is_tracked(tgid))
                return 0;
        if (!(flags & FAULT_FLAG_WRITE))
                return 0;
        task = (struct task_struct *)bpf_get_current_task();
        if (BPF_CORE_READ(task, mm) != BPF_CORE_READ(vma, vm_mm))
                return 0;
        mark_dirty(tgid, address);
        return 0;
}

static __always_inline void emit(__u32 tgid, struct ckpt_event *e)
{
        struct ckpt_proc_stats *s = stats_of(tgid);
        struct ckpt_event *r;

        r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);
        if (!r) {
                if (s) {
                        __sync_fetch_and_add(&s->lost_events, 1);
                        __sync_fetch_and_or(&s->overflow, CKPT_PROC_OVERFLOW_EVENTS);
                }
                return;
        }
        __builtin_memcpy(r, e, sizeof(*r));
        bpf_ringbuf_submit(r, 0);
        if (s)
                __sync_fetch_and_add(&s->events, 1);
}

/* nargs: how many arguments the syscall has. The record holds only those;
 * reading past it makes the attachment fail (-EACCES). */
static __always_inline int sys_enter(struct trace_event_raw_sys_enter *ctx, __u32 type, int nargs)
{
        __u64 id = bpf_get_current_pid_tgid();
        struct pending p = {.type = type};

        if (!is_tracked(id >> 32))
                return 0;
        p.a0 = ctx->args[0];
        if (nargs > 1)
                p.a1 = ctx->args[1];
        if (nargs > 2)
                p.a2 = ctx->args[2];
        if (nargs > 3)
                p.a3 = ctx->args[3];
        if (type == CKPT_EV_MADVISE) {
                switch (p.a2) {
                case CKPT_MADV_DONTNEED:
                case CKPT_MADV_FREE:
                case CKPT_MADV_REMOVE:
                case CKPT_MADV_DONTNEED_LOCKED:
                case CKPT_MADV_GUARD_INSTALL:
                        break;
                default:
                        return 0;
                }
        }
        if (type == CKPT_EV_BRK) {
                struct task_struct *task = (struct task_struct *)bpf_get_current_task();

                p.a1 = BPF_CORE_READ(task, mm, brk);
        }
        if (bpf_map_update_elem(&pending, &id, &p, BPF_ANY) < 0)
                /* Cannot remember it: the exit will not be seen, say so. */
                set_overflow(id >> 32, CKPT_PROC_OVERFLOW_EVENTS);
        return 0;
}

static __always_inline int sys_exit(struct trace_event_raw_sys_exit *ctx, __u32 type)
{
        __u64 id = bpf_get_current_pid_tgid();
        struct ckpt_event e = {};
        struct pending *p;
        long ret = ctx->ret;

        p = bpf_map_lookup_elem(&pending, &id);
        if (!p)
                return 0;
        if (p->type != type) {
                bpf_map_delete_elem(&pending, &id);
                return 0;
        }
        e.type = type;
        e.tgid = id >> 32;
        e.tid = (__u32)id;
        e.ret = ret;
        e.time_ns = bpf_ktime_get_ns();
        switch (type) {
        case CKPT_EV_MMAP:
                e.start = ret;
                e.len = p->a1;
                e.arg = p->a3; /* flags */
                break;
        case CKPT_EV_MUNMAP:
                e.start = p->a0;
                e.len = p->a1;
                break;
        case CKPT_EV_MREMAP:
                e.start = p->a0;
                e.len = p->a1;
                e.new_start = ret;
                e.new_len = p->a2;
                e.arg = p->a3;
                break;
        case CKPT_EV_MPROTECT:
        case CKPT_EV_MADVISE:
                e.start = p->a0;
                e.len = p->a1;
                e.arg = p->a2;
                break;
        case CKPT_EV_BRK:
                e.start = p->a1; /* the break before */
                e.new_start = ret;
                break;
        }
        bpf_map_delete_elem(&pending, &id);
        /* A failed call changed nothing (brk returns the unchanged break). */
        if (ret < 0 && ret > -4096)
                return 0;
        if (type == CKPT_EV_BRK && e.start == e.new_start)
                return 0;
        emit(e.tgid, &e);
        return 0;
}

#define SYSCALL_PAIR(name, type, nargs)                                                            \
        SEC("tracepoint/syscalls/sys_enter_" #name)                                                \
        int handle_enter_##name(struct trace_event_raw_sys_enter *ctx)                             \
        {                                                                                          \
                return sys_enter(ctx, type, nargs);                                                \
        }                                                                                          \
        SEC("tracepoint/syscalls/sys_exit_" #name)                                                 \
        int handle_exit_##name(struct trace_event_raw_sys_exit *ctx)                               \
        {                                                                                          \
                return sys_exit(ctx, type);                                                        \
        }

SYSCALL_PAIR(mmap, CKPT_EV_MMAP, 6)
SYSCALL_PAIR(munmap, CKPT_EV_MUNMAP, 2)
SYSCALL_PAIR(mremap, CKPT_EV_MREMAP, 5)
SYSCALL_PAIR(mprotect, CKPT_EV_MPROTECT, 3)
SYSCALL_PAIR(madvise, CKPT_EV_MADVISE, 3)
SYSCALL_PAIR(brk, CKPT_EV_BRK, 1)

SEC("raw_tracepoint/sched_process_fork")
int handle_sched_fork(struct bpf_raw_tracepoint_args *ctx)
{
        struct task_struct *parent = (struct task_struct *)ctx->args[0];
        struct task_struct *child = (struct task_struct *)ctx->args[1];
        struct ckpt_event e = {.type = CKPT_EV_FORK};
        __u32 ptgid = BPF_CORE_READ(parent, tgid), ctgid;

        if (!is_tracked(ptgid))
                return 0;
        ctgid = BPF_CORE_READ(child, tgid);
        if (ptgid == ctgid)
                return 0; /* a new thread, not a new process */
        e.tgid = ptgid;
        e.tid = BPF_CORE_READ(parent, pid);
        e.child = ctgid;
        e.time_ns = bpf_ktime_get_ns();
        emit(ptgid, &e);
        return 0;
}

SEC("tracepoint/sched/sched_process_exec")
int handle_sched_exec(void *ctx)
{
        __u64 id = bpf_get_current_pid_tgid();
        struct ckpt_event e = {.type = CKPT_EV_EXEC};

        if (!is_tracked(id >> 32) && !watch_exec)
                return 0;
        e.tgid = id >> 32;
        e.tid = (__u32)id;
        e.time_ns = bpf_ktime_get_ns();
        emit(e.tgid, &e);
        return 0;
}

SEC("tracepoint/sched/sched_process_exit")
int handle_sched_exit(void *ctx)
{
        __u64 id = bpf_get_current_pid_tgid();
        struct task_struct *task;
        struct ckpt_event e = {.type = CKPT_EV_EXIT};
        int live;

        if (!is_tracked(id >> 32))
                return 0;
        bpf_map_delete_elem(&pending, &id);
        task = (struct task_struct *)bpf_get_current_task();
        live = BPF_CORE_READ(task, signal, live.counter);
        /* Only the leader's exit and the last thread's exit are news. */
        if ((__u32)id != (id >> 32) && live != 0)
                return 0;
        e.tgid = id >> 32;
        e.tid = (__u32)id;
        e.arg = live == 0;
        e.time_ns = bpf_ktime_get_ns();
        emit(e.tgid, &e);
        return 0;
}
