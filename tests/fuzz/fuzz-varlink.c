/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fuzz-varlink: the daemon's side of the socket. The input is what one client
 * sends, in pieces (the first byte picks their size, so messages also arrive
 * split across reads): the real server (server.c) frames it into
 * NUL-terminated messages, parses them and checks their shape. Methods that
 * answer without acting on anything (GetInfo, GetInterfaceDescription,
 * CheckPolicy, unknown names) run their real handlers (methods.c); calls of
 * methods that would act on processes or the store get their parameters read
 * with the json-util getters the methods' parse step uses (params.c, fuzzed
 * alone by fuzz-params), and a plain reply.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "server.h"
#include "fuzz.h"
#include "json-util.h"
#include "log.h"
#include "methods.h"

static sd_event *event;
static struct server *server;
static struct sockaddr_un addr;
static socklen_t addr_len;
static struct manager manager; /* only what the pure handlers read: not shutting down */

static bool runs_handler(const char *method)
{
        static const char *const pure[] = {
                "org.varlink.service.GetInfo",
                "org.varlink.service.GetInterfaceDescription",
                "io.ckptd.CheckPolicy",
        };
        static const char *const acting[] = {
                "io.ckptd.GetStatus", "io.ckptd.Checkpoint", "io.ckptd.List",
                "io.ckptd.Show",      "io.ckptd.Export",     "io.ckptd.Restore",
                "io.ckptd.Track",     "io.ckptd.Untrack",    "io.ckptd.Delete",
                "io.ckptd.Verify",    "io.ckptd.GC",         "io.ckptd.Diff",
                "io.ckptd.ListPolicies", "io.ckptd.Reload",
        };

        for (size_t i = 0; i < sizeof(pure) / sizeof(pure[0]); i++)
                if (strcmp(method, pure[i]) == 0)
                        return true;
        for (size_t i = 0; i < sizeof(acting) / sizeof(acting[0]); i++)
                if (strcmp(method, acting[i]) == 0)
                        return false;
        return true; /* unknown: the table answers InterfaceNotFound / MethodNotFound */
}

/* What the handlers' parameter checks read: every key through each getter,
 * and address ranges as parse_u64 reads them. */
static void read_params(struct json_object *params)
{
        struct json_object *a;

        json_object_object_foreach (params, key, val) {
                int64_t i;
                bool b;
                const char *s;
                uint64_t u;

                (void)val;
                (void)json_get_int64(params, key, &i);
                (void)json_get_bool(params, key, &b);
                if (json_get_string(params, key, &s) == 0)
                        (void)parse_u64(s, &u);
        }
        if (json_object_object_get_ex(params, "ranges", &a) &&
            json_object_is_type(a, json_type_array))
                for (size_t k = 0; k < json_object_array_length(a); k++) {
                        struct json_object *o = json_object_array_get_idx(a, k);
                        const char *s;
                        uint64_t u;

                        if (json_get_string(o, "start", &s) == 0)
                                (void)parse_u64(s, &u);
                        if (json_get_string(o, "end", &s) == 0)
                                (void)parse_u64(s, &u);
                }
}

static void dispatch(struct call *c, const char *method, struct json_object *params,
                     void *userdata)
{
        assert(method);
        assert(json_object_is_type(params, json_type_object));
        if (runs_handler(method)) {
                methods_dispatch(c, method, params, &manager);
                return;
        }
        read_params(params);
        if (call_wants_more(c))
                (void)call_notify(c, json_object_new_object());
        (void)call_reply(c, NULL);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        int fd, r;

        log_max_level = LOG_CRIT;
        addr.sun_family = AF_UNIX;
        /* Abstract namespace: nothing on disk, unique per process. */
        snprintf(addr.sun_path + 1, sizeof(addr.sun_path) - 1, "ckptd-fuzz-varlink-%d",
                 (int)getpid());
        addr_len = offsetof(struct sockaddr_un, sun_path) + 1 + strlen(addr.sun_path + 1);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        assert(fd >= 0);
        r = bind(fd, (struct sockaddr *)&addr, addr_len);
        assert(r == 0);
        r = listen(fd, 16);
        assert(r == 0);
        r = sd_event_new(&event);
        assert(r >= 0);
        r = server_new(event, fd, NULL, NULL, dispatch, NULL, &server);
        assert(r >= 0);
        return 0;
}

static void drain(int fd)
{
        char buf[65536];

        while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
                ;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        size_t chunk, off = 0;
        int fd;

        if (!event)
                LLVMFuzzerInitialize(NULL, NULL);
        if (size < 1 || size > 256 * 1024)
                return 0;
        chunk = ((size_t)data[0] % 32 + 1) * 61;
        data++;
        size--;

        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert(fd >= 0);
        if (connect(fd, (struct sockaddr *)&addr, addr_len) < 0)
                abort();
        while (server_n_clients(server) == 0)
                assert(sd_event_run(event, 1000000) >= 0);

        while (off < size && server_n_clients(server) > 0) {
                size_t n = size - off < chunk ? size - off : chunk;
                ssize_t k = send(fd, data + off, n, MSG_NOSIGNAL | MSG_DONTWAIT);

                if (k < 0)
                        break; /* disconnected by the server */
                off += k;
                for (int i = 0; i < 4; i++)
                        (void)sd_event_run(event, 0);
                drain(fd);
        }
        shutdown(fd, SHUT_WR);
        for (int i = 0; i < 1000 && server_n_clients(server) > 0; i++) {
                (void)sd_event_run(event, 10000);
                drain(fd);
        }
        assert(server_n_clients(server) == 0);
        drain(fd);
        close(fd);
        return 0;
}
