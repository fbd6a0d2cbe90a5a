/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * varlink.c: client framing of Varlink messages (NUL-terminated JSON objects)
 * over a Unix stream socket. Owns: the socket, a receive buffer bounded by
 * CKPT_MAX_MESSAGE, partial reads and writes, EINTR, SCM_RIGHTS on the call,
 * and the translation of error names into errno values and messages. It must
 * never hand out a partial or oversized message, and never block on anything
 * but the one socket.
 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "ckpt/proto.h"
#include "ckpt/macro-fundamental.h"
#include "varlink.h"

#define READ_CHUNK 65536u
#define MAX_JSON_DEPTH 64

struct varlink_client {
        int fd;
        bool broken;
        char *buf; /* received bytes not yet consumed */
        size_t len, alloc;
        char error[512];
};

_printf_(3, 4) static int set_error(struct varlink_client *c, int r, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(c->error, sizeof(c->error), fmt, ap);
        va_end(ap);
        return r;
}

/* A framing failure leaves the stream at an unknown position: nothing later can be trusted. */
static int set_broken(struct varlink_client *c, int r)
{
        c->broken = true;
        return r;
}

const char *varlink_client_error(const struct varlink_client *c)
{
        return c ? c->error : "";
}

int varlink_client_new_fd(int fd, struct varlink_client **ret)
{
        struct varlink_client *c;

        assert(ret);
        *ret = NULL;
        if (fd < 0)
                return -EBADF;
        c = calloc(1, sizeof(*c));
        if (!c) {
                safe_close(fd);
                return -ENOMEM;
        }
        c->fd = fd;
        *ret = c;
        return 0;
}

int varlink_client_connect(const char *path, struct varlink_client **ret)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        _cleanup_close_ int fd = -EBADF;
        size_t l;

        assert(path);
        assert(ret);
        *ret = NULL;
        l = strlen(path);
        if (l == 0)
                return -EINVAL;
        if (l >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        memcpy(sa.sun_path, path, l);

        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return negative_errno();
        while (connect(fd, (struct sockaddr *)&sa, offsetof(struct sockaddr_un, sun_path) + l + 1) <
               0)
                if (errno != EINTR)
                        return negative_errno();
        return varlink_client_new_fd(TAKE_FD(fd), ret);
}

struct varlink_client *varlink_client_free(struct varlink_client *c)
{
        if (!c)
                return NULL;
        safe_close(c->fd);
        free(c->buf);
        free(c);
        return NULL;
}

bool varlink_client_peer_closed(const struct varlink_client *c)
{
        struct pollfd p = {.fd = c->fd, .events = POLLIN | POLLRDHUP};
        char b;

        if (c->broken)
                return true;
        if (c->len > 0)
                return false; /* a reply is waiting to be read: the connection is in use */
        if (poll(&p, 1, 0) <= 0)
                return false;
        if (p.revents & (POLLHUP | POLLRDHUP | POLLERR | POLLNVAL))
                return true;
        /* Readable with nothing in flight: only an end of file says closed. */
        return recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

int varlink_client_fd(const struct varlink_client *c)
{
        return c->fd;
}

bool varlink_client_has_message(const struct varlink_client *c)
{
        return c->len > 0 && memchr(c->buf, 0, c->len);
}

static int wait_fd(int fd, short events)
{
        struct pollfd p = {.fd = fd, .events = events};

        for (;;) {
                int n = poll(&p, 1, -1);
                if (n >= 0)
                        return 0;
                if (errno != EINTR)
                        return negative_errno();
        }
}

/* Send all of data; fds ride on the first sendmsg() that carries data. */
static int send_all(struct varlink_client *c, const char *data, size_t size, const int *fds,
                    size_t n_fds)
{
        union {
                struct cmsghdr h;
                char buf[CMSG_SPACE(sizeof(int) * CKPT_MAX_FDS)];
        } control;
        size_t done = 0;

        if (n_fds > CKPT_MAX_FDS)
                return set_error(c, -E2BIG, "too many file descriptors for one call (%zu > %u)",
                                 n_fds, CKPT_MAX_FDS);

        while (done < size) {
                struct iovec iov = {.iov_base = (char *)data + done, .iov_len = size - done};
                struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
                ssize_t n;

                if (n_fds > 0) {
                        memset(&control, 0, sizeof(control));
                        mh.msg_control = &control;
                        mh.msg_controllen = CMSG_SPACE(sizeof(int) * n_fds);
                        struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
                        cm->cmsg_level = SOL_SOCKET;
                        cm->cmsg_type = SCM_RIGHTS;
                        cm->cmsg_len = CMSG_LEN(sizeof(int) * n_fds);
                        memcpy(CMSG_DATA(cm), fds, sizeof(int) * n_fds);
                }

                n = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
                if (n < 0) {
                        int r = negative_errno();
                        if (r == -EINTR)
                                continue;
                        if (r == -EAGAIN) {
                                r = wait_fd(c->fd, POLLOUT);
                                if (r < 0)
                                        return set_broken(c, r);
                                continue;
                        }
                        if (done > 0)
                                set_broken(c, r);
                        return set_error(c, r, "cannot send to ckptd: %s", strerror(-r));
                }
                done += (size_t)n;
                n_fds = 0; /* delivered with the first byte(s) */
        }
        return 0;
}

/* Read once into the buffer. 0: got data; -ECONNRESET on end of stream. */
static int fill(struct varlink_client *c)
{
        union {
                struct cmsghdr h;
                char buf[CMSG_SPACE(sizeof(int) * CKPT_MAX_FDS)];
        } control;
        size_t want;
        ssize_t n;

        /* Never hold more than one maximal message plus its NUL. */
        if (c->len >= CKPT_MAX_MESSAGE + 1)
                return set_broken(c, set_error(c, -EMSGSIZE,
                                               "reply from ckptd exceeds the %u byte limit",
                                               CKPT_MAX_MESSAGE));
        want = MIN((size_t)READ_CHUNK, CKPT_MAX_MESSAGE + 1 - c->len);
        if (c->alloc - c->len < want) {
                size_t a = MAX(c->alloc * 2, c->len + want);
                char *p;

                a = MIN(a, (size_t)CKPT_MAX_MESSAGE + 1);
                p = realloc(c->buf, a);
                if (!p)
                        return set_error(c, -ENOMEM, "out of memory");
                c->buf = p;
                c->alloc = a;
        }

        for (;;) {
                struct iovec iov = {.iov_base = c->buf + c->len, .iov_len = want};
                struct msghdr mh = {.msg_iov = &iov,
                                    .msg_iovlen = 1,
                                    .msg_control = &control,
                                    .msg_controllen = sizeof(control)};

                n = recvmsg(c->fd, &mh, MSG_CMSG_CLOEXEC);
                if (n < 0) {
                        int r = negative_errno();
                        if (r == -EINTR)
                                continue;
                        if (r == -EAGAIN) {
                                r = wait_fd(c->fd, POLLIN);
                                if (r < 0)
                                        return set_broken(c, r);
                                continue;
                        }
                        return set_broken(
                                c, set_error(c, r, "cannot receive from ckptd: %s", strerror(-r)));
                }
                /* Replies carry no descriptors: close any, so none leak. */
                for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm))
                        if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
                                size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                                for (size_t i = 0; i < k; i++) {
                                        int fd;
                                        memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(fd));
                                        safe_close(fd);
                                }
                        }
                break;
        }
        if (n == 0) {
                if (c->len > 0)
                        return set_broken(
                                c, set_error(c, -ECONNRESET,
                                             "ckptd closed the connection in the middle of a "
                                             "reply (%zu bytes received)",
                                             c->len));
                return set_broken(c, set_error(c, -ECONNRESET,
                                               "ckptd closed the connection without a reply"));
        }
        c->len += (size_t)n;
        return 0;
}

/* Receive one whole message and parse it; it must be a JSON object. */
static int receive(struct varlink_client *c, struct json_object **ret)
{
        size_t scanned = 0;
        char *nul;
        int r;

        for (;;) {
                nul = c->len > scanned ? memchr(c->buf + scanned, 0, c->len - scanned) : NULL;
                if (nul)
                        break;
                scanned = c->len;
                r = fill(c);
                if (r < 0)
                        return r;
        }

        size_t mlen = (size_t)(nul - c->buf);
        if (mlen > CKPT_MAX_MESSAGE)
                return set_broken(c, set_error(c, -EMSGSIZE,
                                               "reply from ckptd exceeds the %u byte limit",
                                               CKPT_MAX_MESSAGE));

        struct json_tokener *tok = json_tokener_new_ex(MAX_JSON_DEPTH);
        if (!tok)
                return set_error(c, -ENOMEM, "out of memory");
        struct json_object *o = json_tokener_parse_ex(tok, c->buf, (int)mlen);
        enum json_tokener_error jerr = json_tokener_get_error(tok);
        size_t used = json_tokener_get_parse_end(tok);
        json_tokener_free(tok);

        /* Consume the message whatever it held. */
        memmove(c->buf, nul + 1, c->len - mlen - 1);
        c->len -= mlen + 1;

        if (!o || jerr != json_tokener_success || used != mlen) {
                json_object_put(o);
                return set_broken(c, set_error(c, -EBADMSG, "malformed reply from ckptd: %s",
                                               jerr != json_tokener_success
                                                       ? json_tokener_error_desc(jerr)
                                                       : "trailing data after the object"));
        }
        if (!json_object_is_type(o, json_type_object)) {
                json_object_put(o);
                return set_broken(
                        c, set_error(c, -EBADMSG, "malformed reply from ckptd: not a JSON object"));
        }
        *ret = o;
        return 0;
}

static int call_internal(struct varlink_client *c, const char *method, struct json_object *params,
                         bool more, const int *fds, size_t n_fds, varlink_reply_cb cb,
                         void *userdata, struct json_object **ret_params, char **ret_error_name)
{
        _cleanup_json_ struct json_object *msg = NULL;
        const char *text;
        size_t size;
        int r;

        if (ret_params)
                *ret_params = NULL;
        if (ret_error_name)
                *ret_error_name = NULL;
        assert(c);
        assert(method);
        c->error[0] = 0;

        if (c->broken)
                return set_error(c, -ENOTCONN, "connection to ckptd is broken");
        if (params && !json_object_is_type(params, json_type_object))
                return set_error(c, -EINVAL, "parameters of %s must be a JSON object", method);

        msg = json_object_new_object();
        if (!msg)
                return set_error(c, -ENOMEM, "out of memory");
        if (json_object_object_add(msg, "method", json_object_new_string(method)) < 0 ||
            json_object_object_add(msg, "parameters",
                                   params ? json_object_get(params) : json_object_new_object()) < 0)
                return set_error(c, -ENOMEM, "out of memory");
        if (more && json_object_object_add(msg, "more", json_object_new_boolean(true)) < 0)
                return set_error(c, -ENOMEM, "out of memory");

        text = json_object_to_json_string_ext(msg, JSON_C_TO_STRING_PLAIN |
                                                           JSON_C_TO_STRING_NOSLASHESCAPE);
        if (!text)
                return set_error(c, -ENOMEM, "out of memory");
        size = strlen(text);
        if (size > CKPT_MAX_MESSAGE)
                return set_error(c, -E2BIG, "call %s exceeds the %u byte message limit", method,
                                 CKPT_MAX_MESSAGE);

        /* The NUL terminator is part of the frame. If ckptd closed the
         * connection first, it may have said why (a limit): read that. */
        r = send_all(c, text, size + 1, fds, n_fds);
        if (r == -EPIPE || r == -ECONNRESET) {
                _cleanup_json_ struct json_object *reply = NULL;
                struct json_object *p = NULL, *e = NULL;
                int send_r = r;

                if (receive(c, &reply) < 0 || !json_object_object_get_ex(reply, "error", &e) ||
                    !json_object_is_type(e, json_type_string)) {
                        c->broken = true;
                        return set_error(c, send_r, "cannot send to ckptd: %s", strerror(-send_r));
                }
                (void)json_object_object_get_ex(reply, "parameters", &p);
                _cleanup_free_ char *m = varlink_error_message(json_object_get_string(e), p);
                c->broken = true;
                set_error(c, 0, "%s", m ? m : json_object_get_string(e));
                if (ret_error_name) {
                        *ret_error_name = strdup(json_object_get_string(e));
                        if (!*ret_error_name)
                                return set_error(c, -ENOMEM, "out of memory");
                }
                if (ret_params)
                        *ret_params = p && json_object_is_type(p, json_type_object)
                                              ? json_object_get(p)
                                              : json_object_new_object();
                return varlink_error_to_errno(json_object_get_string(e));
        }
        if (r < 0)
                return r;

        for (;;) {
                _cleanup_json_ struct json_object *reply = NULL;
                struct json_object *p = NULL, *e = NULL, *cont = NULL;

                r = receive(c, &reply);
                if (r < 0)
                        return r;

                (void)json_object_object_get_ex(reply, "parameters", &p);
                if (p && !json_object_is_type(p, json_type_object))
                        return set_broken(c, set_error(c, -EBADMSG,
                                                       "malformed reply from ckptd: "
                                                       "\"parameters\" is not an object"));

                if (json_object_object_get_ex(reply, "error", &e)) {
                        const char *name = json_object_get_string(e);
                        if (!json_object_is_type(e, json_type_string) || !name || !*name)
                                return set_broken(
                                        c, set_error(c, -EBADMSG,
                                                     "malformed reply from ckptd: bad \"error\""));
                        _cleanup_free_ char *m = varlink_error_message(name, p);
                        set_error(c, 0, "%s", m ? m : name);
                        if (ret_error_name) {
                                *ret_error_name = strdup(name);
                                if (!*ret_error_name)
                                        return set_error(c, -ENOMEM, "out of memory");
                        }
                        if (ret_params)
                                *ret_params = p ? json_object_get(p) : json_object_new_object();
                        return varlink_error_to_errno(name);
                }

                if (json_object_object_get_ex(reply, "continues", &cont) &&
                    json_object_get_boolean(cont)) {
                        if (cb) {
                                _cleanup_json_ struct json_object *empty = NULL;
                                if (!p)
                                        p = empty = json_object_new_object();
                                r = cb(p, userdata);
                                if (r < 0)
                                        return set_broken(c, r);
                        }
                        continue;
                }

                if (ret_params) {
                        *ret_params = p ? json_object_get(p) : json_object_new_object();
                        if (!*ret_params)
                                return set_error(c, -ENOMEM, "out of memory");
                }
                return 0;
        }
}

int varlink_call(struct varlink_client *c, const char *method, struct json_object *params,
                 const int *fds, size_t n_fds, struct json_object **ret_params,
                 char **ret_error_name)
{
        return call_internal(c, method, params, false, fds, n_fds, NULL, NULL, ret_params,
                             ret_error_name);
}

int varlink_call_more(struct varlink_client *c, const char *method, struct json_object *params,
                      const int *fds, size_t n_fds, varlink_reply_cb cb, void *userdata,
                      struct json_object **ret_params, char **ret_error_name)
{
        return call_internal(c, method, params, true, fds, n_fds, cb, userdata, ret_params,
                             ret_error_name);
}

static const struct {
        const char *name;
        int error;
} error_table[] = {
        {CKPT_ERR_NO_SUCH_PROCESS, ESRCH},
        {CKPT_ERR_NO_SUCH_CHECKPOINT, ENOENT},
        {CKPT_ERR_PERMISSION_DENIED, EPERM},
        {CKPT_ERR_INVALID_RANGE, EINVAL},
        {CKPT_ERR_PROCESS_EXITED, ESRCH},
        {CKPT_ERR_PROCESS_BUSY, EBUSY},
        {CKPT_ERR_TRACKING_FAILED, EOPNOTSUPP},
        {CKPT_ERR_STORE, EIO},
        {CKPT_ERR_CORRUPT, EBADMSG},
        {CKPT_ERR_SHAPE, EILSEQ},
        {CKPT_ERR_TOO_MANY, EAGAIN},
        {CKPT_ERR_SHUTTING_DOWN, ESHUTDOWN},
        {CKPT_ERR_FAILED, EIO},
        {VARLINK_ERR_METHOD_NOT_FOUND, EOPNOTSUPP},
        {VARLINK_ERR_METHOD_NOT_IMPLEMENTED, EOPNOTSUPP},
        {VARLINK_ERR_INTERFACE_NOT_FOUND, EOPNOTSUPP},
        {VARLINK_ERR_INVALID_PARAMETER, EINVAL},
        {CKPT_ERR_PROTOCOL, EPROTO},
};

int varlink_error_to_errno(const char *name)
{
        if (name)
                for (size_t i = 0; i < ELEMENTSOF(error_table); i++)
                        if (strcmp(error_table[i].name, name) == 0)
                                return -error_table[i].error;
        return -EREMOTEIO;
}

/* A parameter as text ("?" when missing), for messages. */
static const char *param(struct json_object *params, const char *key)
{
        struct json_object *v;

        if (!params || !json_object_object_get_ex(params, key, &v) || !v)
                return "?";
        return json_object_get_string(v);
}

static bool has_param(struct json_object *params, const char *key)
{
        struct json_object *v;

        return params && json_object_object_get_ex(params, key, &v) && v;
}

char *varlink_error_message(const char *name, struct json_object *params)
{
        char *s = NULL;
        int n;

        if (!name)
                name = "?";

#define P(k) param(params, k)
        if (strcmp(name, CKPT_ERR_NO_SUCH_PROCESS) == 0)
                n = asprintf(&s, "no such process %s", P("pid"));
        else if (strcmp(name, CKPT_ERR_NO_SUCH_CHECKPOINT) == 0)
                n = asprintf(&s, "no such checkpoint %s", P("id"));
        else if (strcmp(name, CKPT_ERR_PERMISSION_DENIED) == 0)
                n = has_param(params, "reason") ? asprintf(&s, "permission denied: %s", P("reason"))
                                                : asprintf(&s, "permission denied");
        else if (strcmp(name, CKPT_ERR_INVALID_RANGE) == 0)
                n = asprintf(&s, "invalid range %s: %s", P("range"), P("reason"));
        else if (strcmp(name, CKPT_ERR_PROCESS_EXITED) == 0)
                n = asprintf(&s, "process %s exited", P("pid"));
        else if (strcmp(name, CKPT_ERR_PROCESS_BUSY) == 0)
                n = asprintf(&s, "process %s is busy: %s", P("pid"), P("reason"));
        else if (strcmp(name, CKPT_ERR_TRACKING_FAILED) == 0)
                n = asprintf(&s, "cannot track process %s: %s", P("pid"), P("reason"));
        else if (strcmp(name, CKPT_ERR_STORE) == 0)
                n = asprintf(&s, "store error: %s", P("reason"));
        else if (strcmp(name, CKPT_ERR_CORRUPT) == 0)
                n = asprintf(&s, "corrupt object: %s", P("what"));
        else if (strcmp(name, CKPT_ERR_SHAPE) == 0)
                n = asprintf(&s, "address space does not match the checkpoint: %s", P("reason"));
        else if (strcmp(name, CKPT_ERR_TOO_MANY) == 0)
                n = has_param(params, "reason")
                            ? asprintf(&s, "too many requests: %s (limit %s %s)", P("reason"),
                                       P("name"), P("limit"))
                            : asprintf(&s, "too many requests (limit %s)", P("limit"));
        else if (strcmp(name, CKPT_ERR_SHUTTING_DOWN) == 0)
                n = asprintf(&s, "ckptd is shutting down");
        else if (strcmp(name, CKPT_ERR_FAILED) == 0)
                n = asprintf(&s, "%s", has_param(params, "reason") ? P("reason") : "failed");
        else if (strcmp(name, VARLINK_ERR_METHOD_NOT_FOUND) == 0 ||
                 strcmp(name, VARLINK_ERR_METHOD_NOT_IMPLEMENTED) == 0)
                n = asprintf(&s, "ckptd does not support method %s", P("method"));
        else if (strcmp(name, VARLINK_ERR_INTERFACE_NOT_FOUND) == 0)
                n = asprintf(&s, "ckptd does not support interface %s", P("interface"));
        else if (strcmp(name, VARLINK_ERR_INVALID_PARAMETER) == 0)
                n = asprintf(&s, "invalid parameter '%s'", P("parameter"));
        else if (strcmp(name, CKPT_ERR_PROTOCOL) == 0)
                n = asprintf(&s, "protocol error");
        else if (params && json_object_object_length(params) > 0)
                n = asprintf(&s, "error %s",
                             json_object_to_json_string_ext(params, JSON_C_TO_STRING_PLAIN));
        else
                n = asprintf(&s, "error");
#undef P
        if (n < 0)
                return NULL;

        char *full;
        n = asprintf(&full, "%s (%s)", s, name);
        free(s);
        return n < 0 ? NULL : full;
}
