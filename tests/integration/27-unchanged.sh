#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Pages rewritten with the bytes they held. The daemon keeps a copy of the
# pages the last checkpoint of a tracked process read; at the next one, a
# written page whose bytes equal the copy's takes the parent's key without
# being hashed (pages_unchanged in the reply). Every checkpoint is compared
# with the process's memory (lib-oracle.sh), and:
#  - rewriting a region with its own pattern: every page of it is unchanged;
#  - half rewritten the same, half with new bytes: only the first half is;
#  - a page changed and changed back between two checkpoints: unchanged;
#  - --copy-cache 0: nothing is ever found unchanged, and the checkpoints
#    are the same;
#  - the parent deleted and the store collected before the next checkpoint:
#    the copy is not used (its objects may be gone), nothing is lost;
#  - a copy larger than --copy-cache is not kept.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-oracle.sh"
require_root
require_bpf
require_built "$WL/memctl" "$WL/memdump"

PAGES=1024

# same LABEL MIN MAX: the last checkpoint found MIN..MAX pages unchanged.
same() {
	if [ "$CP_SAME" -ge "$2" ] && [ "$CP_SAME" -le "$3" ]; then
		ok "$1: $CP_SAME of $CP_READ pages read found unchanged ($2..$3)"
	else
		not_ok "$1: $CP_SAME of $CP_READ pages read found unchanged ($2..$3)" \
			"incremental=$CP_INCR pages=$CP_PAGES"
	fi
}

# begin H: memctl with a region "big" of PAGES pages (pattern 1), tracked,
# and its first checkpoint. Sets PID.
begin() {
	local h=$1 tj
	start_workload "$h" "$MEMCTL" || return 1
	PID=$(wl_pid "$h")
	wl "$h" "alloc big anon $PAGES" && wl "$h" "write big 1" ||
		{ not_ok "$h: memctl fills its region" "${REPLY[$h]}"; return 1; }
	tj=$(ctl_json track "$PID")
	[ "$(jq -r .tracking <<<"$tj" 2>/dev/null)" = uffd-wp ] ||
		{ not_ok "$h: track $PID with uffd-wp" "$tj" "$(cat "$T/ctl.err")"; return 1; }
	oracle "$PID" "$h: first checkpoint"
}

private_workloads

# ---- the default: copies kept ------------------------------------------------
start_daemon || exit 1
if begin a; then
	wl a "write big 1"
	oracle "$PID" "a: the region rewritten with its own bytes" &&
		same "a: rewritten the same" $PAGES $((PAGES + 64))
	bytes=$(ctl_json list "$PID" | jq -r '.checkpoints[-1].bytes_stored')
	[ "$bytes" -lt 16384 ] && ok "a: nothing new stored for the region ($bytes bytes in all)" ||
		not_ok "a: nothing new stored for the region" "$bytes bytes stored"

	wl a "write big 1 0 512" && wl a "write big 2 512 512"
	oracle "$PID" "a: half rewritten the same, half changed" &&
		same "a: half the same" 512 $((512 + 64))
	[ $((CP_READ - CP_SAME)) -ge 512 ] && ok "a: the changed half is not among them" ||
		not_ok "a: the changed half is not among them" "read $CP_READ, unchanged $CP_SAME"

	# Changed, then changed back before the next checkpoint.
	wl a "write big 3 0 16" && wl a "write big 2 0 16"
	oracle "$PID" "a: 16 pages changed and changed back" && same "a: changed back" 0 80
	wl a "write big 1 0 16"
	oracle "$PID" "a: the same 16 pages changed for real" && same "a: changed for real" 0 64
	[ $((CP_READ - CP_SAME)) -ge 16 ] && ok "a: the 16 changed pages are read and stored" ||
		not_ok "a: the 16 changed pages are read and stored" "read $CP_READ, unchanged $CP_SAME"

	# The parent deleted and collected: the copy is of a checkpoint that no
	# longer exists, so nothing is taken from it.
	parent=$CP_ID
	wl a "write big 2"
	check "a: delete checkpoint $parent" ctl delete "$parent"
	check "a: gc" ctl gc
	oracle "$PID" "a: after its parent was deleted and collected" && same "a: no copy used" 0 0
	wl a "write big 2"
	oracle "$PID" "a: the next one uses the new copy" && same "a: new copy" $PAGES $((PAGES + 64))
	check "a: verify the store" ctl verify
	ctl untrack "$PID" >/dev/null 2>&1
	wl_kill a
fi
stop_daemon

# ---- no copy: --copy-cache 0, or a budget below what the checkpoint read -----
# without_copy H MIB LABEL: the region rewritten the same is checkpointed
# equal to memory with nothing found unchanged, and dedup stores nothing new.
without_copy() {
	local h=$1 bytes
	start_daemon --copy-cache "$2" || return 1
	if begin "$h"; then
		wl "$h" "write big 1"
		oracle "$PID" "$h: $3, rewritten the same" && same "$h: nothing compared" 0 0
		bytes=$(ctl_json list "$PID" | jq -r '.checkpoints[-1].bytes_stored')
		[ "$bytes" -lt 16384 ] && ok "$h: dedup stores nothing new ($bytes bytes in all)" ||
			not_ok "$h: dedup stores nothing new" "$bytes bytes stored"
		wl_kill "$h"
	fi
	stop_daemon
}
without_copy b 0 "--copy-cache 0"
without_copy c 1 "--copy-cache 1 (MiB) for a 4 MiB region"
