/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ckptd: incremental checkpoints of the memory of live processes.
 * main() parses the command line and hands over to the manager; nothing else.
 */
#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckpt/proto.h"
#include "log.h"
#include "macro.h"
#include "manager.h"
#include "methods.h"

static const char *arg_socket = CKPT_DEFAULT_SOCKET;
static const char *arg_state_dir = CKPT_DEFAULT_STATE_DIR;
static const char *arg_policy_dir = CKPT_DEFAULT_POLICY_DIR;
static const char *arg_runtime_policy_dir = CKPT_RUNTIME_POLICY_DIR;
static unsigned arg_workers = 2;
static unsigned arg_bitmap_entries = 65536;
static unsigned arg_store_nice = 10;
static bool arg_store_idle = false;
static unsigned arg_copy_cache_mib = 256;
static unsigned arg_copy_buffer_mib = 2048;
static unsigned arg_keep_writable = 8;
static unsigned arg_store_threads = 0;
static unsigned arg_max_clients = CKPT_DEFAULT_MAX_CLIENTS;
static unsigned arg_max_clients_per_uid = CKPT_DEFAULT_MAX_CLIENTS_PER_UID;
static unsigned arg_root_reserve = CKPT_DEFAULT_ROOT_RESERVE;
static unsigned arg_max_requests_per_uid = CKPT_DEFAULT_MAX_REQUESTS_PER_UID;
static unsigned arg_idle_timeout = CKPT_DEFAULT_IDLE_TIMEOUT_SEC;
static unsigned arg_max_tracked_per_uid = CKPT_DEFAULT_MAX_TRACKED_PER_UID;
static unsigned arg_max_watchers_per_uid = CKPT_DEFAULT_MAX_WATCHERS_PER_UID;

static void help(void)
{
        printf("Usage: ckptd [OPTIONS]\n\n"
               "Keeps incremental checkpoints of the memory of live processes.\n\n"
               "  --socket PATH          control socket (default %s)\n"
               "  --state-dir DIR        page store and catalog (default %s)\n"
               "  --policy-dir DIR       static policies (default %s)\n"
               "  --runtime-policy-dir DIR  runtime policies (default %s)\n"
               "  --log-level LEVEL      err, warning, notice, info, debug (default info)\n"
               "  --workers N            checkpoints run in parallel (default 2)\n"
               "  --bitmap-entries N     BPF dirty-bitmap entries, 2 MiB each (default 65536)\n"
               "  --store-nice N|idle    nice value of a checkpoint's hashing, compressing and\n"
               "                         writing, once the process is thawed; 0 keeps the\n"
               "                         daemon's own; idle: SCHED_IDLE, only CPU time no\n"
               "                         other thread wants (default 10)\n"
               "  --store-threads N      threads hashing and compressing one checkpoint's\n"
               "                         pages (default 0: one per online CPU)\n"
               "  --copy-cache MIB       memory for copies of the pages tracked processes'\n"
               "                         last checkpoints read, to find rewritten pages\n"
               "                         unchanged without hashing them; 0: none (default 256)\n"
               "  --copy-buffer MIB      the pre-faulted buffers the copy out of a frozen\n"
               "                         process goes into, kept between checkpoints, for\n"
               "                         all workers together; a checkpoint that needs more\n"
               "                         faults it in before its freeze and gives the rest\n"
               "                         back after (default 2048)\n"
               "  --keep-writable N      leave pages written in two intervals in a row\n"
               "                         writable (no write-protect fault; read at every\n"
               "                         checkpoint) for N checkpoints; 0: protect every\n"
               "                         page at every checkpoint (default 8)\n"
               "  --max-clients N        connections served at once (default %u)\n"
               "  --root-reserve N       of those, the last N only for root (default %u)\n"
               "  --max-clients-per-uid N  connections of one non-root uid; 0: no share\n"
               "                         (default %u)\n"
               "  --max-requests-per-uid N  checkpoints, exports, restores... under way\n"
               "                         (running or queued) of one non-root uid; 0: no\n"
               "                         limit (default %u)\n"
               "  --idle-timeout SEC     close a connection that sends nothing while no call\n"
               "                         of it is under way, or holds half a message or\n"
               "                         unread replies, for SEC seconds; 0: never (default %u)\n"
               "  --max-tracked-per-uid N  processes one non-root uid may have tracked (by\n"
               "                         hand or by its runtime policies); 0: no share\n"
               "                         (default %u)\n"
               "  --max-watchers-per-uid N  live views (ckptctl top) one non-root uid may\n"
               "                         hold open; 0: no share (default %u)\n"
               "  -h --help              this text\n"
               "     --version           version\n",
               CKPT_DEFAULT_SOCKET, CKPT_DEFAULT_STATE_DIR, CKPT_DEFAULT_POLICY_DIR,
               CKPT_RUNTIME_POLICY_DIR, CKPT_DEFAULT_MAX_CLIENTS, CKPT_DEFAULT_ROOT_RESERVE,
               CKPT_DEFAULT_MAX_CLIENTS_PER_UID, CKPT_DEFAULT_MAX_REQUESTS_PER_UID,
               CKPT_DEFAULT_IDLE_TIMEOUT_SEC, CKPT_DEFAULT_MAX_TRACKED_PER_UID,
               CKPT_DEFAULT_MAX_WATCHERS_PER_UID);
}

static int parse_unsigned(const char *s, unsigned min, unsigned max, unsigned *ret)
{
        char *end;
        unsigned long v;

        errno = 0;
        v = strtoul(s, &end, 10);
        if (errno || *end || end == s || v < min || v > max)
                return -EINVAL;
        *ret = v;
        return 0;
}

enum {
        ARG_SOCKET = 0x100,
        ARG_STATE,
        ARG_POLICY,
        ARG_RPOLICY,
        ARG_LOG,
        ARG_WORKERS,
        ARG_BITMAP,
        ARG_STORE_NICE,
        ARG_COPY_CACHE,
        ARG_COPY_BUFFER,
        ARG_KEEP_WRITABLE,
        ARG_STORE_THREADS,
        ARG_MAX_CLIENTS,
        ARG_MAX_CLIENTS_PER_UID,
        ARG_ROOT_RESERVE,
        ARG_MAX_REQUESTS_PER_UID,
        ARG_IDLE_TIMEOUT,
        ARG_MAX_TRACKED_PER_UID,
        ARG_MAX_WATCHERS_PER_UID,
        ARG_VERSION
};

/* The options that take a number in a range, and what it is counted in. */
static const struct {
        int id;
        unsigned min, max;
        unsigned *arg;
        const char *unit;
} unsigned_options[] = {
        {ARG_WORKERS, 1, 8, &arg_workers, ""},
        {ARG_BITMAP, 64, 1u << 24, &arg_bitmap_entries, ""},
        {ARG_COPY_CACHE, 0, 1u << 20, &arg_copy_cache_mib, " (MiB)"},
        {ARG_COPY_BUFFER, 0, 1u << 20, &arg_copy_buffer_mib, " (MiB)"},
        {ARG_KEEP_WRITABLE, 0, 1000, &arg_keep_writable, ""},
        {ARG_STORE_THREADS, 0, 16, &arg_store_threads, ""},
        {ARG_MAX_CLIENTS, 1, 4096, &arg_max_clients, ""},
        {ARG_MAX_CLIENTS_PER_UID, 0, 4096, &arg_max_clients_per_uid, ""},
        {ARG_ROOT_RESERVE, 0, 4095, &arg_root_reserve, ""},
        {ARG_MAX_REQUESTS_PER_UID, 0, 100000, &arg_max_requests_per_uid, ""},
        {ARG_IDLE_TIMEOUT, 0, 86400, &arg_idle_timeout, " (seconds)"},
        {ARG_MAX_TRACKED_PER_UID, 0, 1u << 20, &arg_max_tracked_per_uid, ""},
        {ARG_MAX_WATCHERS_PER_UID, 0, 4096, &arg_max_watchers_per_uid, ""},
};

static const struct option options[] = {
        {"socket", required_argument, NULL, ARG_SOCKET},
        {"state-dir", required_argument, NULL, ARG_STATE},
        {"policy-dir", required_argument, NULL, ARG_POLICY},
        {"runtime-policy-dir", required_argument, NULL, ARG_RPOLICY},
        {"log-level", required_argument, NULL, ARG_LOG},
        {"workers", required_argument, NULL, ARG_WORKERS},
        {"bitmap-entries", required_argument, NULL, ARG_BITMAP},
        {"store-nice", required_argument, NULL, ARG_STORE_NICE},
        {"copy-cache", required_argument, NULL, ARG_COPY_CACHE},
        {"copy-buffer", required_argument, NULL, ARG_COPY_BUFFER},
        {"keep-writable", required_argument, NULL, ARG_KEEP_WRITABLE},
        {"store-threads", required_argument, NULL, ARG_STORE_THREADS},
        {"max-clients", required_argument, NULL, ARG_MAX_CLIENTS},
        {"max-clients-per-uid", required_argument, NULL, ARG_MAX_CLIENTS_PER_UID},
        {"root-reserve", required_argument, NULL, ARG_ROOT_RESERVE},
        {"max-requests-per-uid", required_argument, NULL, ARG_MAX_REQUESTS_PER_UID},
        {"idle-timeout", required_argument, NULL, ARG_IDLE_TIMEOUT},
        {"max-tracked-per-uid", required_argument, NULL, ARG_MAX_TRACKED_PER_UID},
        {"max-watchers-per-uid", required_argument, NULL, ARG_MAX_WATCHERS_PER_UID},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, ARG_VERSION},
        {},
};

/* An option of unsigned_options[]: 1 when c is none of them. */
static int parse_unsigned_option(int c, const char *value)
{
        for (size_t i = 0; i < ELEMENTSOF(unsigned_options); i++) {
                if (unsigned_options[i].id != c)
                        continue;
                if (parse_unsigned(value, unsigned_options[i].min, unsigned_options[i].max,
                                   unsigned_options[i].arg) < 0) {
                        const char *name = NULL;

                        for (const struct option *o = options; o->name; o++)
                                if (o->val == c)
                                        name = o->name;
                        return log_error_errno(-EINVAL, "--%s takes %u to %u%s", name,
                                               unsigned_options[i].min, unsigned_options[i].max,
                                               unsigned_options[i].unit);
                }
                return 0;
        }
        return 1;
}

static int parse_argv(int argc, char *argv[])
{
        int c, r;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
                r = parse_unsigned_option(c, optarg);
                if (r <= 0) {
                        if (r < 0)
                                return r;
                        continue;
                }
                switch (c) {
                case ARG_SOCKET:
                        arg_socket = optarg;
                        break;
                case ARG_STATE:
                        arg_state_dir = optarg;
                        break;
                case ARG_POLICY:
                        arg_policy_dir = optarg;
                        break;
                case ARG_RPOLICY:
                        arg_runtime_policy_dir = optarg;
                        break;
                case ARG_LOG:
                        r = log_level_from_string(optarg);
                        if (r < 0)
                                return log_error_errno(r, "Unknown log level '%s'", optarg);
                        log_max_level = r;
                        break;
                case ARG_STORE_NICE:
                        arg_store_idle = strcmp(optarg, "idle") == 0;
                        if (!arg_store_idle && parse_unsigned(optarg, 0, 19, &arg_store_nice) < 0)
                                return log_error_errno(-EINVAL,
                                                       "--store-nice takes 0 to 19, or idle");
                        break;
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        printf("ckptd %s\n", CKPT_VERSION);
                        return 0;
                default:
                        return -EINVAL;
                }
        }
        if (optind < argc)
                return log_error_errno(-EINVAL, "Unexpected argument '%s'", argv[optind]);
        if (arg_root_reserve >= arg_max_clients)
                return log_error_errno(-EINVAL,
                                       "--root-reserve (%u) must be below --max-clients (%u)",
                                       arg_root_reserve, arg_max_clients);
        return 1;
}

static int run(int argc, char *argv[])
{
        _cleanup_(manager_freep) struct manager *m = NULL;
        struct manager_options o;
        int r;

        log_open_journal();
        /* Milliseconds and ratios: three decimals say enough. */
        json_c_set_serialization_double_format("%.3f", JSON_C_OPTION_GLOBAL);
        r = parse_argv(argc, argv);
        if (r <= 0)
                return r;

        o = (struct manager_options){
                .socket_path = arg_socket,
                .state_dir = arg_state_dir,
                .policy_dir = arg_policy_dir,
                .runtime_policy_dir = arg_runtime_policy_dir,
                .workers = arg_workers,
                .bitmap_entries = arg_bitmap_entries,
                .store_nice = (int)arg_store_nice,
                .store_idle = arg_store_idle,
                .store_threads = arg_store_threads,
                .copy_cache = (uint64_t)arg_copy_cache_mib << 20,
                .copy_buffer = (uint64_t)arg_copy_buffer_mib << 20,
                .keep_writable = arg_keep_writable,
                .max_tracked_per_uid = arg_max_tracked_per_uid,
                .max_watchers_per_uid = arg_max_watchers_per_uid,
                .server =
                        {
                                .max_clients = arg_max_clients,
                                .max_clients_per_uid = arg_max_clients_per_uid,
                                .root_reserve = arg_root_reserve,
                                .max_requests_per_uid = arg_max_requests_per_uid,
                                .idle_timeout_usec = (uint64_t)arg_idle_timeout * 1000000ULL,
                                .max_unsent = CKPT_MAX_UNSENT,
                        },
                .methods = &methods_table,
        };
        r = manager_new(&o, &m);
        if (r < 0)
                return log_error_errno(r, "Failed to set up: %m");
        r = manager_start(m);
        if (r < 0)
                return r;
        return manager_run(m);
}

int main(int argc, char *argv[])
{
        int r = run(argc, argv);
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
