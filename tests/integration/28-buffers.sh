#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The copy buffers: the pre-faulted memory a checkpoint copies a frozen
# process into, kept between checkpoints within --copy-buffer (all workers
# together; status memory.copy_buffers says how much is held).
#  - by default a 128 MiB checkpoint's buffer is kept for the next one;
#  - with --copy-buffer 64 it is given back after the checkpoint, and the
#    checkpoints are still equal to memory;
#  - with --copy-buffer 0 nothing is kept.
# --copy-cache 0 throughout, so that no buffer moves to the kept copies.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-oracle.sh"
require_root
require_built "$WL/memctl" "$WL/memdump"

PAGES=32768 # 128 MiB
private_workloads

held() { ctl_json status | jq -r '.memory.copy_buffers'; }

# case H LABEL CKPTD_OPTIONS...: a full checkpoint and an incremental one of
# a 128 MiB region, each equal to memory; prints what status holds after.
run_case() {
	local h=$1 label=$2 pid
	shift 2
	start_daemon --copy-cache 0 "$@" || return 1
	start_workload "$h" "$MEMCTL" || return 1
	pid=$(wl_pid "$h")
	wl "$h" "alloc big anon $PAGES" && wl "$h" "write big 1" ||
		{ not_ok "$h: memctl fills 128 MiB" "${REPLY[$h]}"; return 1; }
	ctl track "$pid" >/dev/null 2>&1
	oracle "$pid" "$h: $label: full checkpoint" --full
	wl "$h" "write big 2 0 64"
	oracle "$pid" "$h: $label: incremental checkpoint"
	HELD=$(held)
	wl_kill "$h"
	stop_daemon
}

run_case a "default budget"
if [ "${HELD:-0}" -ge $((PAGES * 4096)) ]; then
	ok "a: the 128 MiB buffer is kept ($HELD bytes held)"
else
	not_ok "a: the 128 MiB buffer is kept" "copy_buffers=$HELD"
fi

run_case b "--copy-buffer 64" --copy-buffer 64
is "b: over a 64 MiB budget, the buffer is given back" "$HELD" 0

run_case c "--copy-buffer 0" --copy-buffer 0
is "c: --copy-buffer 0 keeps none" "$HELD" 0

