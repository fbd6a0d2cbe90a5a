#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Crash consistency of the store: a seeded loop that runs a checkpoint, a
# delete or a gc and kills ckptd with SIGKILL after a random delay, starts it
# again and checks that every checkpoint reported committed before the kill
# is listed and exports byte for byte as the process held it, that verify
# passes, and that after gc the packs hold no more than what is stored plus
# the slack gc leaves in the current pack. SEED replays a run (printed below); CRASH_SECONDS bounds
# it (default 150; `make soak` sets it from SOAK_MINUTES).
. "$(dirname "$0")/lib.sh"
require_root
require_built "$WL/memctl"

SEED=${SEED:-$(( $(date +%s) % 100000 ))}
CRASH_SECONDS=${CRASH_SECONDS:-150}
PAGES=4096 # 16 MiB
S=$T/state
diag "SEED=$SEED CRASH_SECONDS=$CRASH_SECONDS (replay: SEED=$SEED tests/run $0)"
RANDOM=$SEED

start_daemon || exit 1
start_workload m memctl || exit 1
pid=$(wl_pid m)
wl_region m big anon $PAGES 1 || exit 1
range=$REGION_START-$REGION_END

set +u # empty associative arrays below
declare -A COMMITTED # id -> its truth file
ids() { ctl_json list | jq -r '.checkpoints[].id'; }
fail=0
bad() { fail=1; not_ok "$@"; }

kill_daemon() {
	kill -KILL "$DAEMON_PID" 2>/dev/null
	wait "$DAEMON_PID" 2>/dev/null
	DAEMON_PID=
}

# check_store ROUND: the promises, after a restart.
check_store() {
	local id listed
	listed=" $(ids | tr '\n' ' ') "
	for id in "${!COMMITTED[@]}"; do
		if [[ $listed != *" $id "* ]]; then
			bad "round $1: committed checkpoint $id is listed" "list:$listed"
			continue
		fi
		rm -f "$T/now.bin"
		if ! ctl export "$id" --out "$T/now.bin" --range "$range" >"$T/export.out" 2>&1; then
			bad "round $1: export $id" "$(cat "$T/export.out")"
		elif ! cmp -s "$T/now.bin" "${COMMITTED[$id]}"; then
			bad "round $1: export of $id equals the process's bytes then"
		fi
	done
	if ! ctl verify >"$T/verify.out" 2>&1; then
		bad "round $1: verify passes" "$(cat "$T/verify.out")"
	fi
}

# packs_within_stored NAME: after gc, the packs take at most what is stored
# plus a quarter of the current pack (gc leaves the pack being appended to
# alone until a quarter of it is dead; older packs hold no dead byte).
packs_within_stored() {
	local total last stored n
	total=$(cat "$S"/packs/*.pack | wc -c)
	last=$(stat -c %s "$(ls "$S"/packs/*.pack | sort | tail -n 1)")
	n=$(ls "$S"/packs/*.pack | wc -l)
	stored=$(ctl_json status | jq -er .store.stored_bytes)
	diag "$1: packs take $total bytes in $n packs, stored $stored"
	if [ "$total" -le $((stored + last / 4 + 16 * n)) ]; then
		return 0
	fi
	bad "$1: packs take $total bytes, stored $stored, current pack $last"
	return 1
}

round=0 kills=0 committed_total=0
t_end=$(( $(date +%s) + CRASH_SECONDS ))
while [ "$(date +%s)" -lt "$t_end" ] && [ $fail = 0 ]; do
	round=$((round + 1))
	n=${#COMMITTED[@]}
	action=$((RANDOM % 10))
	if [ $n -ge 6 ] && [ $action -ge 6 ]; then action=6; fi
	[ $n = 0 ] && action=0
	rm -f "$T/ctl.out"
	if [ $action -le 5 ]; then
		first=$((RANDOM % PAGES))
		count=$((1 + RANDOM % (PAGES - first)))
		wl m "write big $((SEED * 1000 + round)) $first $count" || bad "write" "${REPLY[m]}"
		wl m "save big $T/pending.bin" || bad "save" "${REPLY[m]}"
		full=
		[ $((RANDOM % 3)) = 0 ] && full=--full
		what="checkpoint $full"
		"$CKPTCTL" --socket "$T/sock" --json checkpoint "$pid" --range "$range" $full >"$T/ctl.out" 2>&1 &
	elif [ $action -le 7 ]; then
		victims=("${!COMMITTED[@]}")
		victim=${victims[$((RANDOM % ${#victims[@]}))]}
		what="delete $victim"
		"$CKPTCTL" --socket "$T/sock" delete "$victim" >"$T/ctl.out" 2>&1 &
	else
		what=gc
		"$CKPTCTL" --socket "$T/sock" gc >"$T/ctl.out" 2>&1 &
	fi
	ctl_pid=$!
	delay=$((RANDOM % 400))
	sleep "$(printf '0.%03d' $delay)"
	killed=0
	if [ $((RANDOM % 4)) != 0 ]; then
		kill_daemon
		killed=1
		kills=$((kills + 1))
	fi
	wait $ctl_pid
	rc=$?
	# What ckptctl was told is what was promised.
	if [ $action -le 5 ]; then
		id=$(jq -er .id "$T/ctl.out" 2>/dev/null)
		if [ $rc = 0 ] && [ -n "$id" ]; then
			mv "$T/pending.bin" "$T/truth-$id.bin"
			COMMITTED[$id]=$T/truth-$id.bin
			committed_total=$((committed_total + 1))
		fi
	elif [ $action -le 7 ] && [ $rc = 0 ]; then
		unset "COMMITTED[$victim]"
	fi
	diag "round $round: $what, ${delay} ms, $([ $killed = 1 ] && echo killed || echo not killed), ckptctl exit $rc"
	if [ $killed = 1 ]; then
		start_daemon || { fail=1; break; }
	fi
	# A delete that was cut off may or may not have happened: no promise
	# either way, so what the restarted daemon lists is taken as it is.
	if [ $action -gt 5 ] && [ $action -le 7 ] && [ $rc != 0 ] && ! ids | grep -qx "$victim"; then
		unset "COMMITTED[$victim]"
	fi
	check_store "$round ($what)"
done
diag "$round rounds, $kills kills, $committed_total checkpoints committed"
[ $round -lt 3 ] && bad "the loop ran ($round rounds)"
[ $fail = 0 ] && ok "every committed checkpoint survived $kills kills in $round rounds (SEED=$SEED)"
if [ $fail = 0 ]; then
	if check "gc after the last round" ctl gc && packs_within_stored "after gc"; then
		ok "after gc the packs take no more than what is stored plus a quarter of the current pack"
	fi
	check_store final
	[ $fail = 0 ] && ok "final: every committed checkpoint exports, verify passes"
fi
# ---- only kills in the middle of full checkpoints, then gc: what they
# wrote before the kill is no one's, and gc gives it back.
if [ $fail = 0 ]; then
	for k in 1 2 3 4 5 6; do
		wl m "write big $((SEED * 1000 + 900 + k))" || bad "write" "${REPLY[m]}"
		"$CKPTCTL" --socket "$T/sock" checkpoint "$pid" --range "$range" --full >"$T/ctl.out" 2>&1 &
		ctl_pid=$!
		sleep "$(printf '0.%03d' $((100 + RANDOM % 200)))"
		kill_daemon
		wait $ctl_pid
		start_daemon || { fail=1; break; }
	done
	if [ $fail = 0 ] && check "gc after 6 kills during full checkpoints" ctl gc &&
		packs_within_stored "after 6 kills during full checkpoints and gc"; then
		ok "after kills during full checkpoints and gc the packs take no more than what is stored plus a quarter of the current pack"
	fi
	check_store "after kills during full checkpoints"
fi
[ $fail = 0 ] || diag "replay: SEED=$SEED tests/run $0"
