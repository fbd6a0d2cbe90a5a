#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The newest checkpoint of a tracked process deleted: the dirty set the
# tracker collects next is what was written since that checkpoint, not
# since the older one that is now the newest. The next checkpoint must not
# take it against that parent (a page written between the two would keep
# its old bytes): it reads everything, and equals memory; the one after it
# is incremental again. Every checkpoint is compared with memory
# (lib-oracle.sh).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-oracle.sh"
require_root
require_bpf
require_built "$WL/memctl" "$WL/memdump"

private_workloads
start_daemon || exit 1
start_workload m "$MEMCTL" || exit 1
PID=$(wl_pid m)
wl m "alloc a anon 64" && wl m "write a 1" || { not_ok "memctl fills a region" "${REPLY[m]}"; exit 1; }
tj=$(ctl_json track "$PID")
[ "$(jq -r .tracking <<<"$tj" 2>/dev/null)" = uffd-wp ] ||
	{ not_ok "track $PID with uffd-wp" "$tj" "$(cat "$T/ctl.err")"; exit 1; }
oracle "$PID" "first checkpoint"
wl m "write a 2 5 1" || not_ok "memctl writes page 5" "${REPLY[m]}"
oracle "$PID" "page 5 written" && is "page 5 written: incremental" "$CP_INCR" true
second=$CP_ID
ctl_json delete "$second" >/dev/null || not_ok "delete checkpoint $second" "$(cat "$T/ctl.err")"
oracle "$PID" "the newest deleted, nothing written since" &&
	is "the newest deleted: everything read" "$CP_INCR" false
wl m "write a 3 7 1" || not_ok "memctl writes page 7" "${REPLY[m]}"
oracle "$PID" "page 7 written" && is "page 7 written: incremental again" "$CP_INCR" true
wl m "verify a 2 5 1" && wl m "verify a 3 7 1" || not_ok "memctl's pages intact" "${REPLY[m]}"
wl m exit
stop_daemon
