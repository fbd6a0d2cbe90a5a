/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * proto.h: the wire protocol between ckptd and its clients (ckptctl, libckpt).
 *
 * Varlink (https://varlink.org) over a SOCK_STREAM Unix socket: every message
 * is one JSON object followed by a NUL byte.
 *   call:   {"method":"io.ckptd.Checkpoint","parameters":{"pid":42}}
 *   reply:  {"parameters":{…}}   or   {"error":"io.ckptd.NoSuchProcess","parameters":{…}}
 * A call with "oneway":true gets no reply; one with "more":true may get several
 * replies, all but the last with "continues":true. The interface definition is
 * daemon/server/io.ckptd.varlink, served by org.varlink.service.GetInterfaceDescription.
 * File descriptors (Export's output file, Track's userfaultfd) travel with
 * SCM_RIGHTS on the call message and are named by index in the parameters.
 */
#pragma once

#define CKPT_DEFAULT_SOCKET "/run/ckptd/ckptd.sock"
#define CKPT_DEFAULT_STATE_DIR "/var/lib/ckptd"
#define CKPT_DEFAULT_POLICY_DIR "/etc/ckptd/policy.d"
#define CKPT_RUNTIME_POLICY_DIR "/run/ckptd/policy.d"
#define CKPT_SOCKET_ENV "CKPTD_SOCKET"

#define CKPT_INTERFACE "io.ckptd"

/* Limits, enforced by the daemon before parsing. The CKPT_DEFAULT_ ones are
 * defaults of ckptd options (--max-clients ...). A call over a limit gets
 * CKPT_ERR_TOO_MANY with the limit's value and name (CKPT_LIMIT_*). */
#define CKPT_MAX_MESSAGE (1u << 20) /* bytes of one message, NUL excluded */
#define CKPT_MAX_PENDING 16         /* calls one connection may have under way */
#define CKPT_MAX_UNSENT (1u << 20)  /* bytes of replies queued before requests wait */
#define CKPT_DEFAULT_MAX_CLIENTS 128
#define CKPT_DEFAULT_MAX_CLIENTS_PER_UID 32  /* connections of one non-root uid */
#define CKPT_DEFAULT_ROOT_RESERVE 8          /* of the clients, slots only uid 0 gets */
#define CKPT_DEFAULT_MAX_REQUESTS_PER_UID 16 /* slow calls under way of one non-root uid */
#define CKPT_DEFAULT_MAX_TRACKED_PER_UID 256 /* processes one non-root uid tracks */
#define CKPT_DEFAULT_IDLE_TIMEOUT_SEC 60
#define CKPT_DEFAULT_MAX_WATCHERS_PER_UID 4 /* WatchProcesses calls of one non-root uid open */
/* WatchProcesses' interval between replies, in milliseconds: the rate bound. */
#define CKPT_WATCH_MIN_INTERVAL_MS 250
#define CKPT_WATCH_MAX_INTERVAL_MS 3600000
#define CKPT_WATCH_DEFAULT_INTERVAL_MS 1000
#define CKPT_MAX_CLIENTS CKPT_DEFAULT_MAX_CLIENTS

/* Names of the limits, in TooManyRequests errors and GetStatus "limits". */
#define CKPT_LIMIT_CLIENTS "clients"
#define CKPT_LIMIT_ROOT_RESERVE "root_reserve"
#define CKPT_LIMIT_CLIENTS_PER_UID "clients_per_uid"
#define CKPT_LIMIT_CALLS_PER_CONNECTION "calls_per_connection"
#define CKPT_LIMIT_REQUESTS_PER_UID "requests_per_uid"
#define CKPT_LIMIT_IDLE_TIMEOUT "idle_timeout_sec"
#define CKPT_LIMIT_UNSENT "unsent_bytes"
#define CKPT_LIMIT_MESSAGE "message_bytes"
#define CKPT_LIMIT_TRACKED_PER_UID "tracked_per_uid"
#define CKPT_LIMIT_WATCHERS_PER_UID "watchers_per_uid"
#define CKPT_LIMIT_GROUP_MEMBERS "group_members"
#define CKPT_MAX_RANGES 256
/* Page runs one Export reply lists at most (the rest counted, not listed):
 * a large sparse export has more than one message can hold. */
#define CKPT_MAX_REPLY_RUNS 4096
#define CKPT_MAX_GROUP_MEMBERS 64 /* processes in one group checkpoint */
#define CKPT_MAX_FDS 4            /* descriptors with one message */

/* Error names: stable, part of the interface. */
#define CKPT_ERR_NO_SUCH_PROCESS "io.ckptd.NoSuchProcess"
#define CKPT_ERR_NO_SUCH_CHECKPOINT "io.ckptd.NoSuchCheckpoint"
#define CKPT_ERR_PERMISSION_DENIED "io.ckptd.PermissionDenied"
#define CKPT_ERR_INVALID_RANGE "io.ckptd.InvalidRange"
#define CKPT_ERR_PROCESS_EXITED "io.ckptd.ProcessExited"
#define CKPT_ERR_PROCESS_BUSY "io.ckptd.ProcessBusy"
#define CKPT_ERR_TRACKING_FAILED "io.ckptd.TrackingFailed"
#define CKPT_ERR_STORE "io.ckptd.StoreError"
#define CKPT_ERR_CORRUPT "io.ckptd.CorruptObject"
#define CKPT_ERR_SHAPE "io.ckptd.ShapeMismatch"
#define CKPT_ERR_TOO_MANY "io.ckptd.TooManyRequests"
#define CKPT_ERR_SHUTTING_DOWN "io.ckptd.ShuttingDown"
#define CKPT_ERR_FAILED "io.ckptd.Failed"

/* Standard Varlink errors. */
#define VARLINK_ERR_METHOD_NOT_FOUND "org.varlink.service.MethodNotFound"
#define VARLINK_ERR_INTERFACE_NOT_FOUND "org.varlink.service.InterfaceNotFound"
#define VARLINK_ERR_INVALID_PARAMETER "org.varlink.service.InvalidParameter"
#define VARLINK_ERR_METHOD_NOT_IMPLEMENTED "org.varlink.service.MethodNotImplemented"
/* Malformed or oversized messages (after an oversized one the connection closes). */
#define CKPT_ERR_PROTOCOL "io.ckptd.ProtocolError"
