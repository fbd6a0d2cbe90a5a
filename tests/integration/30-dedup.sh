#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Deduplication: a second full checkpoint of an unchanged (stopped) process
# stores (almost) nothing; a second process with the same content under the
# same uid dedups against the first; the same content under another uid does
# not (dedup never crosses owners).
. "$(dirname "$0")/lib.sh"
require_root
require_built "$WL/memctl"

PAGES=8192 # 32 MiB of incompressible pattern
BYTES=$((PAGES * 4096))

start_daemon || exit 1

# prepare HANDLE USER: a memctl holding the pattern, stopped.
prepare() {
	start_workload_as "$2" "$1" memctl || return 1
	wl "$1" "alloc big anon $PAGES" && wl "$1" "write big 42" ||
		{ not_ok "$1: fill $PAGES pages" "${REPLY[$1]}"; return 1; }
	kill -STOP "$(wl_pid "$1")"
	wait_state "$(wl_pid "$1")" T || { not_ok "$1: stopped"; return 1; }
}

# full_ckpt HANDLE: bytes_stored of a full checkpoint, in STORED.
full_ckpt() {
	local j
	j=$(ctl_json checkpoint "$(wl_pid "$1")" --full)
	STORED=$(jq -er .bytes_stored <<<"$j" 2>/dev/null)
	CPID=$(jq -er .id <<<"$j" 2>/dev/null)
	if [ -z "$STORED" ]; then
		not_ok "$1: full checkpoint" "$j" "$(cat "$T/ctl.err")"
		return 1
	fi
	diag "$1: checkpoint $CPID stored $STORED bytes"
}

prepare a - || exit 1
full_ckpt a || exit 1
b1=$STORED
if [ "$b1" -gt $((BYTES / 2)) ]; then
	ok "first full checkpoint stores the pattern ($b1 bytes)"
else
	not_ok "first full checkpoint stores the pattern" "stored $b1, pattern is $BYTES bytes"
fi
full_ckpt a || exit 1
b2=$STORED
if [ $((b2 * 100)) -lt "$b1" ]; then
	ok "second full checkpoint of the unchanged process stores < 1% ($b2 bytes)"
else
	not_ok "second full checkpoint stores < 1% of the first" "first $b1, second $b2"
fi

prepare b - || exit 1
full_ckpt b || exit 1
b3=$STORED
if [ $((b3 * 10)) -lt "$b1" ]; then
	ok "same content, same uid: dedups ($b3 bytes)"
else
	not_ok "same content, same uid: dedups" "first process $b1, second process $b3"
fi

prepare c "$NOBODY" || exit 1
full_ckpt c || exit 1
b4=$STORED
if [ $((b4 * 10)) -ge $((BYTES * 9)) ]; then
	ok "same content, uid $NOBODY: no dedup across owners ($b4 bytes)"
else
	not_ok "same content, uid $NOBODY: no dedup across owners" \
		"stored $b4, pattern is $BYTES bytes"
fi
is "the checkpoint of uid $NOBODY's process belongs to uid $NOBODY" \
	"$(ctl_json show "$CPID" | jq -r .checkpoint.uid)" "$NOBODY"

# The store's own figures agree: the pattern is held twice, not four times.
st=$(ctl_json status)
sb=$(jq -r .store.stored_bytes <<<"$st")
if [ "$sb" -lt $((BYTES * 3)) ] && [ "$sb" -ge $((BYTES * 2 * 9 / 10)) ]; then
	ok "status: store holds the pattern twice ($sb bytes)"
else
	not_ok "status: store holds the pattern twice" "stored_bytes $sb, pattern $BYTES" "$st"
fi

for h in a b c; do kill -CONT "$(wl_pid $h)"; done
stop_daemon
