/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * server.c: the Varlink socket server: accept, SO_PEERCRED, framing and
 * limits, descriptors passed with SCM_RIGHTS, buffered non-blocking replies.
 *
 * Never blocks: every socket is non-blocking and driven by sd-event. Never
 * trusts a peer: sizes are checked before anything is parsed, a peer that
 * sends more than CKPT_MAX_MESSAGE without a terminating NUL gets a
 * ProtocolError and is disconnected.
 *
 * Fair shares (struct server_options): connection slots per uid with a
 * reserve for root, checked on accept; calls under way per connection and
 * per uid; an idle timeout. A peer that does not read its replies is not read
 * either: once max_unsent bytes wait for it, EPOLLIN is off until they drain
 * (replies already being built are still queued, up to CONN_MAX_OUT, past
 * which the peer is disconnected). Requests already read but not yet handled
 * wait in the input buffer, which is not filled further meanwhile.
 *
 * Descriptors: the kernel returns the descriptors of one sendmsg() together
 * with the last bytes of that recvmsg(), so they belong to the message that
 * contains the last byte of the read that carried them; we record that stream
 * offset and hand them to exactly that call.
 */
#include "server.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "ckpt/proto.h"
#include "json-util.h"
#include "log.h"
#include "macro.h"

#define CONN_READ_CHUNK (64u * 1024u)
#define CONN_MAX_OUT (64u * 1024u * 1024u)

struct pending_fd {
        int fd;
        uint64_t offset; /* stream offset of the last byte of the read carrying it */
};

/* What one uid holds: its connections and their calls under way (also those
 * of connections closed meanwhile, whose jobs still run). */
struct uid_share {
        unsigned n_ref;
        struct server *server; /* NULL once the server is gone */
        struct uid_share *next, *prev;
        uid_t uid;
        unsigned n_conns, n_calls;
};

enum {
        LIMIT_CLIENTS,
        LIMIT_ROOT_RESERVE,
        LIMIT_CLIENTS_PER_UID,
        LIMIT_CALLS_PER_CONNECTION,
        LIMIT_REQUESTS_PER_UID,
        LIMIT_IDLE_TIMEOUT,
        LIMIT_UNSENT,
        LIMIT_MESSAGE,
        _LIMIT_MAX,
};

static const char *const limit_names[_LIMIT_MAX] = {
        [LIMIT_CLIENTS] = CKPT_LIMIT_CLIENTS,
        [LIMIT_ROOT_RESERVE] = CKPT_LIMIT_ROOT_RESERVE,
        [LIMIT_CLIENTS_PER_UID] = CKPT_LIMIT_CLIENTS_PER_UID,
        [LIMIT_CALLS_PER_CONNECTION] = CKPT_LIMIT_CALLS_PER_CONNECTION,
        [LIMIT_REQUESTS_PER_UID] = CKPT_LIMIT_REQUESTS_PER_UID,
        [LIMIT_IDLE_TIMEOUT] = CKPT_LIMIT_IDLE_TIMEOUT,
        [LIMIT_UNSENT] = CKPT_LIMIT_UNSENT,
        [LIMIT_MESSAGE] = CKPT_LIMIT_MESSAGE,
};

struct conn {
        unsigned n_ref;
        struct server *server; /* NULL once closed */
        struct conn *next, *prev;
        int fd;
        sd_event_source *src, *timer;
        uid_t uid;
        gid_t gid;
        pid_t pid;
        struct uid_share *share;
        uint64_t last_activity; /* CLOCK_MONOTONIC: bytes in or out, a call answered */
        uint64_t partial_since; /* a message begun then; 0: none */
        uint64_t deadline;      /* the timer's; 0: off */
        bool in_ready;          /* complete messages wait in `in` (replies unsent) */
        bool blocked;           /* not read: too many replies unsent */

        char *in;
        size_t in_len, in_alloc;
        uint64_t in_base; /* stream offset of in[0] */

        char *out;
        size_t out_len, out_alloc;

        struct pending_fd fds[CKPT_MAX_FDS * 4];
        size_t n_fds;

        unsigned n_calls; /* calls under way */
};

struct call {
        unsigned n_ref;
        struct conn *conn;
        bool more, oneway, done;
        int fds[CKPT_MAX_FDS];
        size_t n_fds;
};

struct server {
        sd_event *event;
        sd_event_source *listen_src;
        sd_event_source *accept_pause_src; /* out of descriptors: accept() waits */
        uint64_t accept_pauses, accept_pauses_said, accept_said_usec;
        int fd;
        char *path; /* bound by us: unlinked on free */
        server_dispatch_t dispatch;
        void *userdata;
        struct conn *conns;
        unsigned n_conns;
        struct server_options opts;
        struct uid_share *shares;
        uint64_t hits[_LIMIT_MAX];
};

void server_options_default(struct server_options *o)
{
        *o = (struct server_options){
                .max_clients = CKPT_DEFAULT_MAX_CLIENTS,
                .max_clients_per_uid = CKPT_DEFAULT_MAX_CLIENTS_PER_UID,
                .root_reserve = CKPT_DEFAULT_ROOT_RESERVE,
                .max_requests_per_uid = CKPT_DEFAULT_MAX_REQUESTS_PER_UID,
                .idle_timeout_usec = CKPT_DEFAULT_IDLE_TIMEOUT_SEC * 1000000ULL,
                .max_unsent = CKPT_MAX_UNSENT,
        };
}

static uint64_t server_now(struct server *s)
{
        uint64_t t = 0;

        /* The loop's time of this iteration (or now, before the first). */
        (void)sd_event_now(s->event, CLOCK_MONOTONIC, &t);
        return t;
}

/* A hit of a limit; true when worth a log line (the 1st, 2nd, 4th, 8th...). */
static bool server_hit(struct server *s, int limit)
{
        uint64_t n = ++s->hits[limit];

        return (n & (n - 1)) == 0;
}

static struct uid_share *uid_share_find(struct server *s, uid_t uid)
{
        for (struct uid_share *u = s->shares; u; u = u->next)
                if (u->uid == uid)
                        return u;
        return NULL;
}

static struct uid_share *uid_share_get(struct server *s, uid_t uid)
{
        struct uid_share *u = uid_share_find(s, uid);

        if (u) {
                u->n_ref++;
                return u;
        }
        u = calloc(1, sizeof(*u));
        if (!u)
                return NULL;
        u->n_ref = 1;
        u->server = s;
        u->uid = uid;
        u->next = s->shares;
        if (s->shares)
                s->shares->prev = u;
        s->shares = u;
        return u;
}

static void uid_share_unlink(struct uid_share *u)
{
        struct server *s = u->server;

        if (!s)
                return;
        if (u->prev)
                u->prev->next = u->next;
        else
                s->shares = u->next;
        if (u->next)
                u->next->prev = u->prev;
        u->next = u->prev = NULL;
        u->server = NULL;
}

static void uid_share_unref(struct uid_share *u)
{
        if (!u || --u->n_ref > 0)
                return;
        uid_share_unlink(u);
        free(u);
}

static void conn_close(struct conn *c);

static struct conn *conn_ref(struct conn *c)
{
        c->n_ref++;
        return c;
}

static void conn_unref(struct conn *c)
{
        if (!c || --c->n_ref > 0)
                return;
        for (size_t i = 0; i < c->n_fds; i++)
                safe_close(c->fds[i].fd);
        uid_share_unref(c->share);
        free(c->in);
        free(c->out);
        free(c);
}

static int conn_timeout(sd_event_source *src, uint64_t usec, void *userdata);

/* When the connection times out: no progress for the idle timeout while
 * replies wait for the peer or a message is half sent; nothing at all while
 * no call is under way. 0: never (a call under way is waited for). */
static uint64_t conn_deadline(struct conn *c)
{
        uint64_t t = c->server->opts.idle_timeout_usec;

        if (t == 0)
                return 0;
        if (c->out_len > 0)
                return c->last_activity + t;
        if (c->partial_since)
                return c->partial_since + t;
        if (c->n_calls > 0)
                return 0;
        return c->last_activity + t;
}

/* Events and timer after any change: read unless too many replies wait
 * (EPOLLOUT also wakes us to handle requests already buffered). */
static void conn_update(struct conn *c)
{
        struct server *s = c->server;
        uint32_t ev = 0;
        uint64_t d;
        int r;

        if (!s)
                return;
        if (c->out_len >= s->opts.max_unsent) {
                if (!c->blocked && server_hit(s, LIMIT_UNSENT))
                        log_notice("control: client pid %d uid %u does not read its replies: "
                                   "%zu bytes wait, its requests wait too (%" PRIu64 " times)",
                                   (int)c->pid, (unsigned)c->uid, c->out_len,
                                   s->hits[LIMIT_UNSENT]);
                c->blocked = true;
        } else
                c->blocked = false;
        if (c->out_len > 0)
                ev |= EPOLLOUT;
        if (!c->blocked) {
                ev |= EPOLLIN | EPOLLRDHUP;
                if (c->in_ready)
                        ev |= EPOLLOUT;
        }
        r = sd_event_source_set_io_events(c->src, ev);
        if (r < 0)
                log_debug_errno(r, "control: cannot set events of pid %d: %m", (int)c->pid);

        d = conn_deadline(c);
        if (d == c->deadline)
                return;
        c->deadline = d;
        if (d == 0) {
                if (c->timer)
                        (void)sd_event_source_set_enabled(c->timer, SD_EVENT_OFF);
                return;
        }
        if (!c->timer) {
                r = sd_event_add_time(s->event, &c->timer, CLOCK_MONOTONIC, d, 250 * 1000,
                                      conn_timeout, c);
                if (r < 0)
                        log_debug_errno(r, "control: no idle timer for pid %d: %m", (int)c->pid);
                return;
        }
        (void)sd_event_source_set_time(c->timer, d);
        (void)sd_event_source_set_enabled(c->timer, SD_EVENT_ONESHOT);
}

static int conn_flush(struct conn *c)
{
        while (c->out_len > 0) {
                ssize_t n = send(c->fd, c->out, c->out_len, MSG_NOSIGNAL | MSG_DONTWAIT);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN)
                                break;
                        return -errno;
                }
                memmove(c->out, c->out + n, c->out_len - n);
                c->out_len -= n;
                if (c->server)
                        c->last_activity = server_now(c->server);
        }
        return 0;
}

static int conn_send(struct conn *c, struct json_object *msg)
{
        const char *s;
        size_t len;

        if (!c->server)
                return -ECONNRESET; /* closed meanwhile: the reply is dropped */

        s = json_object_to_json_string_length(msg, JSON_C_TO_STRING_PLAIN, &len);
        if (!s)
                return -ENOMEM;
        if (c->out_len + len + 1 > CONN_MAX_OUT) {
                log_warning("control: client pid %d does not read its replies, disconnecting",
                            (int)c->pid);
                conn_close(c);
                return -ENOBUFS;
        }
        if (c->out_len + len + 1 > c->out_alloc) {
                size_t n = MAX(c->out_alloc * 2, c->out_len + len + 1);
                char *p = realloc(c->out, n);
                if (!p)
                        return -ENOMEM;
                c->out = p;
                c->out_alloc = n;
        }
        memcpy(c->out + c->out_len, s, len);
        c->out[c->out_len + len] = '\0';
        c->out_len += len + 1;

        if (conn_flush(c) < 0) {
                conn_close(c);
                return -ECONNRESET;
        }
        conn_update(c);
        return 0;
}

/* An error not tied to a call (framing), sent on the connection itself. */
static void conn_send_error(struct conn *c, const char *error, const char *reason)
{
        _cleanup_(json_object_putp) struct json_object *msg = json_object_new_object();
        struct json_object *p = json_object_new_object();

        json_object_object_add(p, "reason", json_object_new_string(reason));
        json_object_object_add(msg, "error", json_object_new_string(error));
        json_object_object_add(msg, "parameters", p);
        (void)conn_send(c, msg);
}

static void conn_close(struct conn *c)
{
        struct server *s = c->server;

        if (!s)
                return;
        c->server = NULL;
        c->src = sd_event_source_disable_unref(c->src);
        c->timer = sd_event_source_disable_unref(c->timer);
        c->fd = safe_close(c->fd);
        c->share->n_conns--;
        if (c->prev)
                c->prev->next = c->next;
        else
                s->conns = c->next;
        if (c->next)
                c->next->prev = c->prev;
        s->n_conns--;
        conn_unref(c); /* the server's reference */
}

uid_t call_uid(const struct call *c)
{
        return c->conn->uid;
}

gid_t call_gid(const struct call *c)
{
        return c->conn->gid;
}

pid_t call_peer_pid(const struct call *c)
{
        return c->conn->pid;
}

int call_peer_groups(const struct call *c, gid_t *ret_gid, gid_t **ret_groups, size_t *ret_n)
{
        struct ucred cred;
        socklen_t len = sizeof(cred);
        gid_t *groups = NULL;
        socklen_t glen = 16 * sizeof(gid_t);

        if (c->conn->fd < 0)
                return -ENOTCONN;
        if (getsockopt(c->conn->fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
                return -errno;
        for (;;) {
                gid_t *g = realloc(groups, MAX(glen, (socklen_t)sizeof(gid_t)));

                if (!g) {
                        free(groups);
                        return -ENOMEM;
                }
                groups = g;
                if (getsockopt(c->conn->fd, SOL_SOCKET, SO_PEERGROUPS, groups, &glen) == 0)
                        break;
                if (errno != ERANGE || glen > 65536 * sizeof(gid_t)) {
                        int r = -errno;

                        free(groups);
                        return r;
                }
                /* glen now says how much is needed */
        }
        *ret_gid = cred.gid;
        *ret_groups = groups;
        *ret_n = glen / sizeof(gid_t);
        return 0;
}

bool call_wants_more(const struct call *c)
{
        return c->more;
}

bool call_connected(const struct call *c)
{
        return c->conn->server != NULL;
}

size_t call_unsent(const struct call *c)
{
        return c->conn->out_len;
}

int call_check_requests(struct call *c)
{
        struct uid_share *u = c->conn->share;
        struct server *s = u->server;
        char reason[256];

        /* u->n_calls counts this call too. */
        if (!s || c->conn->uid == 0 || s->opts.max_requests_per_uid == 0 ||
            u->n_calls <= s->opts.max_requests_per_uid)
                return 0;
        if (server_hit(s, LIMIT_REQUESTS_PER_UID))
                log_notice("control: uid %u has %u requests under way, refusing another "
                           "(%" PRIu64 " times)",
                           (unsigned)u->uid, u->n_calls - 1, s->hits[LIMIT_REQUESTS_PER_UID]);
        snprintf(reason, sizeof(reason),
                 "uid %u has %u requests under way, the most one uid may have "
                 "(--max-requests-per-uid)",
                 (unsigned)u->uid, u->n_calls - 1);
        call_error(c, CKPT_ERR_TOO_MANY,
                   server_limit_params(CKPT_LIMIT_REQUESTS_PER_UID, s->opts.max_requests_per_uid,
                                       reason));
        return -EUSERS;
}

/* A call is no longer under way. */
static void call_end(struct call *c)
{
        struct conn *k = c->conn;

        k->n_calls--;
        k->share->n_calls--;
        if (k->server) {
                k->last_activity = server_now(k->server);
                conn_update(k);
        }
}

int call_take_fd(struct call *c, int index)
{
        if (index < 0 || (size_t)index >= c->n_fds || c->fds[index] < 0)
                return -EBADF;
        return TAKE_FD(c->fds[index]);
}

struct call *call_ref(struct call *c)
{
        c->n_ref++;
        return c;
}

struct call *call_unref(struct call *c)
{
        if (!c || --c->n_ref > 0)
                return NULL;
        for (size_t i = 0; i < c->n_fds; i++)
                safe_close(c->fds[i]);
        if (!c->done)
                call_end(c);
        conn_unref(c->conn);
        free(c);
        return NULL;
}

static int call_send(struct call *c, const char *error, struct json_object *params, bool more)
{
        _cleanup_(json_object_putp) struct json_object *msg = json_object_new_object();
        int r;

        if (c->done) {
                json_object_put(params);
                return -EALREADY;
        }
        if (!params)
                params = json_object_new_object();
        if (error)
                json_object_object_add(msg, "error", json_object_new_string(error));
        json_object_object_add(msg, "parameters", params);
        if (more)
                json_object_object_add(msg, "continues", json_object_new_boolean(true));

        r = c->oneway ? 0 : conn_send(c->conn, msg);
        if (!more) {
                c->done = true;
                call_end(c);
                call_unref(c); /* the reference the server gave the dispatcher */
        }
        return r;
}

int call_reply(struct call *c, struct json_object *params)
{
        return call_send(c, NULL, params, false);
}

int call_notify(struct call *c, struct json_object *params)
{
        if (!c->more) {
                json_object_put(params);
                return 0;
        }
        return call_send(c, NULL, params, true);
}

int call_error(struct call *c, const char *error, struct json_object *params)
{
        return call_send(c, error, params, false);
}

int call_errorf(struct call *c, const char *error, const char *key, const char *fmt, ...)
{
        struct json_object *p = json_object_new_object();
        char buf[1024];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        if (key)
                json_object_object_add(p, key, json_object_new_string(buf));
        return call_error(c, error, p);
}

static bool only_space(const char *p, const char *end)
{
        for (; p < end; p++)
                if (!strchr(" \t\r\n", *p))
                        return false;
        return true;
}

/* One complete message: in[0 .. len), NUL at in[len]. */
static void conn_handle_message(struct conn *c, size_t len)
{
        _cleanup_(json_object_putp) struct json_object *msg = NULL;
        struct json_object *method, *params = NULL, *v;
        uint64_t first = c->in_base, last = c->in_base + len;
        struct json_tokener *tok;
        struct call *call;

        tok = json_tokener_new_ex(64);
        if (!tok)
                return;
        msg = json_tokener_parse_ex(tok, c->in, (int)len);
        if (!msg || json_tokener_get_error(tok) != json_tokener_success ||
            !only_space(c->in + json_tokener_get_parse_end(tok), c->in + len)) {
                json_tokener_free(tok);
                json_object_put(TAKE_PTR(msg));
                conn_send_error(c, CKPT_ERR_PROTOCOL, "message is not valid JSON");
                goto drop_fds;
        }
        json_tokener_free(tok);

        if (!json_object_is_type(msg, json_type_object) ||
            !json_object_object_get_ex(msg, "method", &method) ||
            !json_object_is_type(method, json_type_string)) {
                conn_send_error(c, CKPT_ERR_PROTOCOL,
                                "a call must be a JSON object with a string \"method\"");
                goto drop_fds;
        }
        if (json_object_object_get_ex(msg, "parameters", &params) &&
            !json_object_is_type(params, json_type_object) &&
            !json_object_is_type(params, json_type_null)) {
                conn_send_error(c, CKPT_ERR_PROTOCOL, "\"parameters\" must be an object");
                goto drop_fds;
        }

        /* "more" and "oneway" are booleans: "more": "x" is a mistake, not a yes. */
        if ((json_object_object_get_ex(msg, "more", &v) &&
             !json_object_is_type(v, json_type_boolean)) ||
            (json_object_object_get_ex(msg, "oneway", &v) &&
             !json_object_is_type(v, json_type_boolean))) {
                conn_send_error(c, CKPT_ERR_PROTOCOL, "\"more\" and \"oneway\" must be booleans");
                goto drop_fds;
        }

        if (c->n_calls >= CKPT_MAX_PENDING) {
                _cleanup_(json_object_putp) struct json_object *e = json_object_new_object();

                (void)server_hit(c->server, LIMIT_CALLS_PER_CONNECTION);
                json_object_object_add(e, "error", json_object_new_string(CKPT_ERR_TOO_MANY));
                json_object_object_add(
                        e, "parameters",
                        server_limit_params(CKPT_LIMIT_CALLS_PER_CONNECTION, CKPT_MAX_PENDING,
                                            "this connection has that many calls under way"));
                (void)conn_send(c, e);
                goto drop_fds;
        }

        call = calloc(1, sizeof(*call));
        if (!call)
                goto drop_fds;
        call->n_ref = 1;
        call->conn = conn_ref(c);
        c->n_calls++;
        c->share->n_calls++;
        if (json_object_object_get_ex(msg, "more", &v))
                call->more = json_object_get_boolean(v);
        if (json_object_object_get_ex(msg, "oneway", &v))
                call->oneway = json_object_get_boolean(v);

        /* Hand over the descriptors that arrived with this message. */
        for (size_t i = 0; i < c->n_fds;) {
                if (c->fds[i].offset >= first && c->fds[i].offset <= last &&
                    call->n_fds < CKPT_MAX_FDS) {
                        call->fds[call->n_fds++] = c->fds[i].fd;
                        c->fds[i] = c->fds[--c->n_fds];
                } else
                        i++;
        }

        if (!params || json_object_is_type(params, json_type_null))
                params = json_object_new_object();
        else
                json_object_get(params);

        /* The dispatcher owns the call until it answers; keep the connection
         * alive across the callback even if it closes it. */
        conn_ref(c);
        c->server->dispatch(call, json_object_get_string(method), params, c->server->userdata);
        json_object_put(params);
        conn_unref(c);
        return;

drop_fds:
        for (size_t i = 0; i < c->n_fds;) {
                if (c->fds[i].offset >= first && c->fds[i].offset <= last) {
                        safe_close(c->fds[i].fd);
                        c->fds[i] = c->fds[--c->n_fds];
                } else
                        i++;
        }
}

static int conn_read(struct conn *c)
{
        union {
                struct cmsghdr align;
                char buf[CMSG_SPACE(sizeof(int) * CKPT_MAX_FDS)];
        } control;
        struct msghdr mh = {0};
        struct iovec iov;
        ssize_t n;

        if (c->in_alloc - c->in_len < CONN_READ_CHUNK) {
                size_t na = c->in_len + CONN_READ_CHUNK;
                char *p = realloc(c->in, na + 1);
                if (!p)
                        return -ENOMEM;
                c->in = p;
                c->in_alloc = na;
        }
        iov = (struct iovec){c->in + c->in_len, c->in_alloc - c->in_len};
        mh.msg_iov = &iov;
        mh.msg_iovlen = 1;
        mh.msg_control = &control;
        mh.msg_controllen = sizeof(control);

        n = recvmsg(c->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (n < 0)
                return errno == EAGAIN || errno == EINTR ? 0 : -errno;
        if (n == 0)
                return -ECONNRESET;
        c->last_activity = server_now(c->server);

        for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
                if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
                        continue;
                size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                int *fds = (int *)CMSG_DATA(cm);
                for (size_t i = 0; i < k; i++) {
                        if (c->n_fds >= ELEMENTSOF(c->fds)) {
                                safe_close(fds[i]);
                                continue;
                        }
                        c->fds[c->n_fds++] = (struct pending_fd){
                                .fd = fds[i],
                                .offset = c->in_base + c->in_len + n - 1,
                        };
                }
        }
        if (mh.msg_flags & MSG_CTRUNC)
                log_debug("control: descriptors from pid %d truncated", (int)c->pid);

        c->in_len += n;
        return 1;
}

static int conn_process_input(struct conn *c)
{
        bool handled = false;
        size_t start = 0;

        c->in_ready = false;
        for (;;) {
                char *nul = memchr(c->in + start, '\0', c->in_len - start);
                size_t len;

                if (!nul)
                        break;
                len = nul - (c->in + start);
                if (len > CKPT_MAX_MESSAGE)
                        goto too_big;
                /* Backpressure: the rest waits until the peer reads. */
                if (c->out_len >= c->server->opts.max_unsent) {
                        c->in_ready = true;
                        break;
                }
                handled = true;
                /* Give the handler a message at in[0]. */
                if (start > 0) {
                        memmove(c->in, c->in + start, c->in_len - start);
                        c->in_len -= start;
                        c->in_base += start;
                        start = 0;
                }
                conn_handle_message(c, len);
                if (!c->server)
                        return -ECONNRESET;
                start = len + 1;
        }
        if (start > 0) {
                memmove(c->in, c->in + start, c->in_len - start);
                c->in_len -= start;
                c->in_base += start;
        }
        if (c->in_ready)
                return 0;
        if (c->in_len > CKPT_MAX_MESSAGE)
                goto too_big;
        /* A message begun: it has the idle timeout to be completed. */
        if (handled || c->in_len == 0)
                c->partial_since = 0;
        if (c->in_len > 0 && !c->partial_since)
                c->partial_since = server_now(c->server);
        return 0;

too_big:
        (void)server_hit(c->server, LIMIT_MESSAGE);
        log_warning("control: message from pid %d exceeds %u bytes, disconnecting", (int)c->pid,
                    CKPT_MAX_MESSAGE);
        conn_send_error(c, CKPT_ERR_PROTOCOL, "message exceeds the 1 MiB limit");
        (void)conn_flush(c);
        conn_close(c);
        return -E2BIG;
}

static int conn_io(sd_event_source *src, int fd, uint32_t revents, void *userdata)
{
        struct conn *c = userdata;
        int r = 0;

        conn_ref(c);
        if (revents & EPOLLOUT) {
                r = conn_flush(c);
                if (r < 0)
                        goto close;
        }
        if (c->blocked && c->out_len < c->server->opts.max_unsent)
                c->blocked = false;
        /* A peer gone while replies wait for it: nothing more to deliver. */
        if (c->blocked && (revents & (EPOLLHUP | EPOLLERR)))
                goto close;
        /* Requests read before the replies piled up, now that they drained. */
        if (!c->blocked && c->in_ready) {
                r = conn_process_input(c);
                if (r < 0)
                        goto close;
        }
        if (c->server && !c->in_ready && (revents & (EPOLLIN | EPOLLHUP | EPOLLRDHUP | EPOLLERR))) {
                /* A bounded number of reads per wake-up: others get their turn,
                 * and none once replies pile up. */
                for (int i = 0;
                     i < 16 && c->server && !c->in_ready && c->out_len < c->server->opts.max_unsent;
                     i++) {
                        r = conn_read(c);
                        if (r < 0)
                                goto close;
                        if (r == 0)
                                break;
                        r = conn_process_input(c);
                        if (r < 0)
                                goto close;
                }
        }
        conn_update(c);
        conn_unref(c);
        return 0;
close:
        conn_close(c);
        conn_unref(c);
        return 0;
}

static int conn_timeout(sd_event_source *src, uint64_t usec, void *userdata)
{
        struct conn *c = userdata;
        struct server *s = c->server;
        uint64_t d;

        if (!s)
                return 0;
        c->deadline = 0;
        d = conn_deadline(c);
        if (d == 0 || d > usec) {
                conn_update(c); /* something happened meanwhile */
                return 0;
        }
        (void)server_hit(s, LIMIT_IDLE_TIMEOUT);
        conn_ref(c);
        if (c->out_len > 0)
                log_debug("control: client pid %d uid %u read none of its replies for %" PRIu64
                          " s, disconnecting",
                          (int)c->pid, (unsigned)c->uid, s->opts.idle_timeout_usec / 1000000);
        else if (c->partial_since) {
                char reason[128];

                log_debug("control: client pid %d uid %u did not complete its message in %" PRIu64
                          " s, disconnecting",
                          (int)c->pid, (unsigned)c->uid, s->opts.idle_timeout_usec / 1000000);
                snprintf(reason, sizeof(reason),
                         "message not completed within the idle timeout (%" PRIu64 " s)",
                         s->opts.idle_timeout_usec / 1000000);
                conn_send_error(c, CKPT_ERR_PROTOCOL, reason);
                if (c->server)
                        (void)conn_flush(c);
        } else
                log_debug("control: client pid %d uid %u idle for %" PRIu64 " s, disconnecting",
                          (int)c->pid, (unsigned)c->uid, s->opts.idle_timeout_usec / 1000000);
        conn_close(c);
        conn_unref(c);
        return 0;
}

/* Which limit a new connection of uid is over, or -1. */
static int server_admit(struct server *s, uid_t uid, unsigned *ret_limit, char *reason, size_t size)
{
        struct uid_share *u = uid_share_find(s, uid);
        unsigned mine = u ? u->n_conns : 0;
        const struct server_options *o = &s->opts;

        if (uid != 0 && o->max_clients_per_uid > 0 && mine >= o->max_clients_per_uid) {
                *ret_limit = o->max_clients_per_uid;
                snprintf(reason, size,
                         "uid %u has %u connections open, the most one uid may have "
                         "(--max-clients-per-uid)",
                         (unsigned)uid, mine);
                return LIMIT_CLIENTS_PER_UID;
        }
        if (s->n_conns >= o->max_clients) {
                *ret_limit = o->max_clients;
                snprintf(reason, size,
                         "%u clients are connected, the most ckptd serves "
                         "(--max-clients)",
                         s->n_conns);
                return LIMIT_CLIENTS;
        }
        if (uid != 0 && s->n_conns + o->root_reserve >= o->max_clients) {
                *ret_limit = o->root_reserve;
                snprintf(reason, size,
                         "%u clients are connected; the last %u of %u slots are kept for root "
                         "(--root-reserve)",
                         s->n_conns, o->root_reserve, o->max_clients);
                return LIMIT_ROOT_RESERVE;
        }
        return -1;
}

/* The error a refused connection gets before it is closed: sent at once, on
 * a fresh socket whose buffer has room for it. */
struct json_object *server_limit_params(const char *name, uint64_t limit, const char *reason)
{
        struct json_object *p = json_object_new_object();

        json_object_object_add(p, "limit", json_object_new_int64((int64_t)limit));
        json_object_object_add(p, "name", json_object_new_string(name));
        json_object_object_add(p, "reason", json_object_new_string(reason));
        return p;
}

static void refuse(int fd, int limit, unsigned value, const char *reason)
{
        _cleanup_(json_object_putp) struct json_object *msg = json_object_new_object();
        const char *str;
        size_t len;

        json_object_object_add(msg, "error", json_object_new_string(CKPT_ERR_TOO_MANY));
        json_object_object_add(msg, "parameters",
                               server_limit_params(limit_names[limit], value, reason));
        str = json_object_to_json_string_length(msg, JSON_C_TO_STRING_PLAIN, &len);
        if (str)
                (void)!send(fd, str, len + 1, MSG_NOSIGNAL | MSG_DONTWAIT);
}

/*
 * Out of file descriptors (or of memory) to accept a connection with: the
 * listening socket stays readable, so accepting stops for ACCEPT_PAUSE_USEC
 * instead of spinning on the failure; connections wait in the backlog. Said
 * at most once every ACCEPT_SAY_USEC, with how often it happened since.
 */
#define ACCEPT_PAUSE_USEC (100 * 1000ULL)
#define ACCEPT_SAY_USEC (10 * 1000000ULL)

static int server_accept_resume(sd_event_source *src, uint64_t usec, void *userdata)
{
        struct server *s = userdata;

        (void)sd_event_source_set_enabled(s->listen_src, SD_EVENT_ON);
        return 0;
}

static void server_accept_pause(struct server *s, int error)
{
        uint64_t now = server_now(s);
        int r;

        s->accept_pauses++;
        if (s->accept_said_usec == 0 || now - s->accept_said_usec >= ACCEPT_SAY_USEC) {
                log_warning_errno(error,
                                  "control: cannot accept connections (%m), pausing accept() "
                                  "for %llu ms (%" PRIu64 " times since last said)",
                                  ACCEPT_PAUSE_USEC / 1000,
                                  s->accept_pauses - s->accept_pauses_said);
                s->accept_pauses_said = s->accept_pauses;
                s->accept_said_usec = now;
        }
        if (s->accept_pause_src)
                r = sd_event_source_set_time_relative(s->accept_pause_src, ACCEPT_PAUSE_USEC);
        else
                r = sd_event_add_time_relative(s->event, &s->accept_pause_src, CLOCK_MONOTONIC,
                                               ACCEPT_PAUSE_USEC, 0, server_accept_resume, s);
        if (r >= 0)
                r = sd_event_source_set_enabled(s->accept_pause_src, SD_EVENT_ONESHOT);
        /* Without a timer to resume it, accepting goes on: spinning beats deafness. */
        if (r >= 0)
                (void)sd_event_source_set_enabled(s->listen_src, SD_EVENT_OFF);
}

static int server_accept(sd_event_source *src, int fd, uint32_t revents, void *userdata)
{
        struct server *s = userdata;
        _cleanup_close_ int cfd = -EBADF;
        struct ucred cred;
        socklen_t len = sizeof(cred);
        char reason[256];
        unsigned value;
        struct conn *c;
        int r, limit;

        cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd < 0) {
                if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
                        server_accept_pause(s, -errno);
                else if (errno != EAGAIN && errno != EINTR)
                        log_warning_errno(-errno, "control: accept failed, ignoring: %m");
                return 0;
        }
        if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
                log_warning_errno(-errno, "control: SO_PEERCRED failed, dropping client: %m");
                return 0;
        }
        limit = server_admit(s, cred.uid, &value, reason, sizeof(reason));
        if (limit >= 0) {
                if (server_hit(s, limit))
                        log_warning("control: refusing pid %d uid %u: %s (%" PRIu64 " times)",
                                    (int)cred.pid, (unsigned)cred.uid, reason, s->hits[limit]);
                refuse(cfd, limit, value, reason);
                return 0;
        }

        c = calloc(1, sizeof(*c));
        if (!c)
                return 0;
        c->n_ref = 1;
        c->server = s;
        c->uid = cred.uid;
        c->gid = cred.gid;
        c->pid = cred.pid;
        c->share = uid_share_get(s, cred.uid);
        if (!c->share) {
                free(c);
                return 0;
        }
        c->fd = TAKE_FD(cfd);
        r = sd_event_add_io(s->event, &c->src, c->fd, EPOLLIN | EPOLLRDHUP, conn_io, c);
        if (r < 0) {
                safe_close(c->fd);
                uid_share_unref(c->share);
                free(c);
                return 0;
        }
        c->share->n_conns++;
        c->last_activity = server_now(s);
        c->next = s->conns;
        if (s->conns)
                s->conns->prev = c;
        s->conns = c;
        s->n_conns++;
        log_debug("control: client pid %d uid %u connected", (int)c->pid, (unsigned)c->uid);
        conn_update(c);
        return 0;
}

static int socket_bind_path(const char *path)
{
        _cleanup_close_ int fd = -EBADF;
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        _cleanup_free_ char *dir = NULL;
        char *slash;

        if (strlen(path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, path);

        dir = strdup(path);
        if (!dir)
                return -ENOMEM;
        slash = strrchr(dir, '/');
        if (slash && slash != dir) {
                *slash = '\0';
                if (mkdir(dir, 0755) < 0 && errno != EEXIST)
                        return -errno;
        }

        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        /* Any file there is a stale socket: the state-dir lock already
         * guarantees that no other ckptd of ours is running. */
        (void)unlink(path);
        /* World-connectable: SO_PEERCRED decides what each caller may do. */
        mode_t old = umask(0111);
        int r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
        umask(old);
        if (r < 0)
                return -errno;
        if (listen(fd, SOMAXCONN) < 0)
                return -errno;
        return TAKE_FD(fd);
}

int server_new(sd_event *e, int listen_fd, const char *path, const struct server_options *o,
               server_dispatch_t dispatch, void *userdata, struct server **ret)
{
        struct server *s;
        int r;

        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        if (o)
                s->opts = *o;
        else
                server_options_default(&s->opts);
        if (s->opts.max_clients == 0)
                s->opts.max_clients = CKPT_DEFAULT_MAX_CLIENTS;
        if (s->opts.root_reserve >= s->opts.max_clients)
                s->opts.root_reserve = s->opts.max_clients - 1;
        if (s->opts.max_unsent == 0)
                s->opts.max_unsent = CKPT_MAX_UNSENT;
        s->event = sd_event_ref(e);
        s->dispatch = dispatch;
        s->userdata = userdata;
        s->fd = -EBADF;

        if (listen_fd >= 0) {
                s->fd = listen_fd;
                r = fcntl(s->fd, F_SETFL, fcntl(s->fd, F_GETFL) | O_NONBLOCK);
                if (r < 0) {
                        r = -errno;
                        goto fail;
                }
        } else {
                r = socket_bind_path(path);
                if (r < 0)
                        goto fail;
                s->fd = r;
                s->path = strdup(path);
        }
        r = sd_event_add_io(e, &s->listen_src, s->fd, EPOLLIN, server_accept, s);
        if (r < 0)
                goto fail;
        *ret = s;
        return 0;
fail:
        server_free(s);
        return r;
}

struct server *server_free(struct server *s)
{
        if (!s)
                return NULL;
        while (s->conns)
                conn_close(s->conns);
        /* Calls still held keep their connection's share, without us. */
        while (s->shares)
                uid_share_unlink(s->shares);
        sd_event_source_disable_unref(s->listen_src);
        sd_event_source_disable_unref(s->accept_pause_src);
        safe_close(s->fd);
        if (s->path) {
                (void)unlink(s->path);
                free(s->path);
        }
        sd_event_unref(s->event);
        free(s);
        return NULL;
}

unsigned server_n_clients(struct server *s)
{
        return s->n_conns;
}

struct json_object *server_limits_json(struct server *s)
{
        const struct server_options *o = &s->opts;
        uint64_t value[_LIMIT_MAX] = {
                [LIMIT_CLIENTS] = o->max_clients,
                [LIMIT_ROOT_RESERVE] = o->root_reserve,
                [LIMIT_CLIENTS_PER_UID] = o->max_clients_per_uid,
                [LIMIT_CALLS_PER_CONNECTION] = CKPT_MAX_PENDING,
                [LIMIT_REQUESTS_PER_UID] = o->max_requests_per_uid,
                [LIMIT_IDLE_TIMEOUT] = o->idle_timeout_usec / 1000000,
                [LIMIT_UNSENT] = o->max_unsent,
                [LIMIT_MESSAGE] = CKPT_MAX_MESSAGE,
        };
        struct json_object *a = json_object_new_object();

        for (int i = 0; i < _LIMIT_MAX; i++) {
                struct json_object *l = json_object_new_object();

                json_object_object_add(l, "limit", json_object_new_int64((int64_t)value[i]));
                json_object_object_add(l, "hit", json_object_new_int64((int64_t)s->hits[i]));
                json_object_object_add(a, limit_names[i], l);
        }
        return a;
}
