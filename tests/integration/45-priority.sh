#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The priority of a checkpoint's work. While the process is frozen, the worker
# runs at the daemon's own priority (the pause must not queue for the CPU);
# once it is thawed, the hashing, compressing and writing run at --store-nice
# (default 10), and every thread of the daemon is back at its own priority
# when the checkpoint is over, whether it succeeded or failed (a full store).
# --store-nice idle runs that work under SCHED_IDLE instead, and the worker
# is back under SCHED_OTHER afterwards, as before its next freeze.
# --store-nice 0 leaves every thread alone; a value out of 0..19 is refused.
# --store-threads N: N threads hash and compress (status says how many).
# (Without CAP_SYS_NICE the daemon cannot go back up, so it keeps its own
# priority: 70-systemd.sh checks that under the unit's capability set.)
. "$(dirname "$0")/lib.sh"
require_root
require_built "$WL/memctl"

PAGES=65536 # 256 MiB of incompressible pattern: a store phase of a second

# nice_of TID: the nice value of one of the daemon's threads (stat field 19).
nice_of() {
	local s
	s=$(cat "/proc/$DAEMON_PID/task/$1/stat" 2>/dev/null) || return 1
	s=${s##*) }
	set -- $s
	printf '%s' "${17}"
}

# policy_of TID: its scheduling policy (stat field 41): 0 SCHED_OTHER, 5 SCHED_IDLE.
policy_of() {
	local s
	s=$(cat "/proc/$DAEMON_PID/task/$1/stat" 2>/dev/null) || return 1
	s=${s##*) }
	set -- $s
	printf '%s' "${39}"
}

# daemon_nices [policy_of]: the nice values (or policies) of all the
# daemon's threads, sorted, unique.
daemon_nices() {
	local t of=${1:-nice_of}
	for t in /proc/"$DAEMON_PID"/task/*; do
		"$of" "${t##*/}" && echo
	done | sort -n -u | tr '\n' ' ' | sed 's/ $//'
}

# watch_checkpoint PID ARGS...: a checkpoint of PID in the background while
# the daemon's threads are sampled. Sets FROZEN_NICE (the nice values of the
# thread holding the process, seen while it was frozen), STORE_NICE (the
# highest nice value of any thread), RC and $T/watch.out. OF=policy_of
# samples scheduling policies instead of nice values.
watch_checkpoint() {
	local pid=$1 cpid tr t n max=0 frozen= of=${OF:-nice_of}
	shift
	ctl_json checkpoint "$pid" "$@" >"$T/watch.out" &
	cpid=$!
	while kill -0 "$cpid" 2>/dev/null; do
		tr=$(awk '/^TracerPid:/ {print $2}' "/proc/$pid/status" 2>/dev/null)
		# Traced before and after reading the nice value: read while frozen.
		if [ "${tr:-0}" != 0 ] && [ -d "/proc/$DAEMON_PID/task/$tr" ] && n=$("$of" "$tr") &&
			[ "$(awk '/^TracerPid:/ {print $2}' "/proc/$pid/status" 2>/dev/null)" = "$tr" ]; then
			frozen+=" $n"
		fi
		for t in /proc/"$DAEMON_PID"/task/*; do
			n=$("$of" "${t##*/}") || continue
			[ "$n" -gt "$max" ] && max=$n
		done
	done
	wait "$cpid"
	RC=$?
	FROZEN_NICE=$(printf '%s\n' $frozen | sort -u | tr '\n' ' ' | sed 's/ $//')
	STORE_NICE=$max
}

# sample_both_phases SEED...: a full checkpoint with a new pattern (SEED)
# each time, until both phases were sampled (the pause of 256 MiB lasts
# ~100 ms: usually the first). Sets SEEN_FROZEN (values seen while frozen)
# and SEEN_STORE (the highest seen). OF as for watch_checkpoint.
sample_both_phases() {
	local seed frozen=
	SEEN_STORE=0
	for seed in "$@"; do
		wl m "write big $seed" || { not_ok "write" "${REPLY[m]}"; break; }
		watch_checkpoint "$pid" --full
		[ "$RC" = 0 ] || { not_ok "checkpoint of 256 MiB" "$(cat "$T/ctl.err")"; break; }
		frozen+=" $FROZEN_NICE"
		[ "$STORE_NICE" -gt "$SEEN_STORE" ] && SEEN_STORE=$STORE_NICE
		[ -n "${FROZEN_NICE// /}" ] && [ "$SEEN_STORE" -gt 0 ] && break
	done
	SEEN_FROZEN=$(printf '%s\n' $frozen | sort -u | tr '\n' ' ' | sed 's/ $//')
}

# check_both_phases PREFIX FROZEN_TEXT FROZEN STORE_TEXT STORE: what
# sample_both_phases saw, against the values expected in each phase.
check_both_phases() {
	if [ -z "$SEEN_FROZEN" ]; then
		not_ok "${1}the frozen phase was sampled" "no sample caught the process traced"
	else
		is "$1$2" "$SEEN_FROZEN" "$3"
	fi
	is "$1$4" "$SEEN_STORE" "$5"
}

start_workload m memctl || exit 1
pid=$(wl_pid m)
wl_region m small anon 16 1 || exit 1
small_start=$REGION_START small_end=$REGION_END
wl_region m big anon $PAGES 1 || exit 1

# ---- the default: nice 10 after the thaw -------------------------------------
start_daemon || exit 1
is "status: store_nice is 10 by default" "$(ctl_json status | jq -r .store_nice)" 10
is "the daemon starts at nice 0" "$(daemon_nices)" 0

sample_both_phases 2 3 4
check_both_phases "" "while the process is frozen its worker runs at nice 0" 0 \
	"after the thaw the store's work runs at nice 10" 10
is "after the checkpoints every thread is back at nice 0" "$(daemon_nices)" 0
pause=$(jq -r .pause_ms "$T/watch.out")
diag "last checkpoint: pause $pause ms, duration $(jq -r .duration_ms "$T/watch.out") ms"

# Tracked: the incremental checkpoints go the same way.
if ctl track "$pid" >/dev/null 2>"$T/ctl.err" && ctl checkpoint "$pid" >/dev/null 2>&1; then
	wl m "write big 5 0 4096"
	watch_checkpoint "$pid"
	is "tracked: incremental checkpoint" "$(jq -r .incremental "$T/watch.out")" true
	is "tracked: every thread back at nice 0 afterwards" "$(daemon_nices)" 0
	ctl untrack "$pid" >/dev/null 2>&1
else
	not_ok "track $pid" "$(cat "$T/ctl.err")"
fi
stop_daemon

# ---- a store that fills: the failure path restores the priority too ----------
mkdir -p "$T/small"
if mount -t tmpfs -o size=96m tmpfs "$T/small" 2>"$T/mount.err"; then
	mkdir -p "$T/small/state"
	SMALL=$T/small
	start_daemon --state-dir "$SMALL/state" || exit 1
	wl m "write big 6"
	watch_checkpoint "$pid" --full
	if [ "$RC" != 0 ] && grep -qi "no space" "$T/ctl.err"; then
		ok "a 256 MiB checkpoint into a 96 MiB store fails: $(head -n 1 "$T/ctl.err")"
		n=$(head -n 1 "$T/ctl.err" | grep -o "No space left on device" | wc -l)
		is "the error says the system message once" "$n" 1
	elif [ "$RC" != 0 ]; then
		not_ok "a 256 MiB checkpoint into a 96 MiB store fails saying why" "$(cat "$T/ctl.err")"
	else
		not_ok "a 256 MiB checkpoint into a 96 MiB store fails" "it succeeded: $(cat "$T/watch.out")"
	fi
	is "the failed checkpoint ran its store phase at nice 10" "$STORE_NICE" 10
	is "after the failure every thread is back at nice 0" "$(daemon_nices)" 0
	check "a small checkpoint of the same process then succeeds" \
		ctl checkpoint "$pid" --range "$small_start-$small_end"
	stop_daemon
	umount "$SMALL" 2>/dev/null
else
	skip "a full store restores the priority" "cannot mount a tmpfs: $(cat "$T/mount.err")"
fi

# ---- --store-nice idle: SCHED_IDLE after the thaw ---------------------------
start_daemon --store-nice idle || exit 1
is "--store-nice idle: status says so" "$(ctl_json status | jq -c '[.store_idle, .store_nice]')" \
	'[true,0]'
is "--store-nice idle: ckptctl status says so" \
	"$(ctl status | grep -c 'idle priority (SCHED_IDLE)')" 1
is "--store-nice idle: every thread starts under SCHED_OTHER" "$(daemon_nices policy_of)" 0
OF=policy_of sample_both_phases 8 9 10
check_both_phases "idle: " "while the process is frozen its worker runs under SCHED_OTHER" 0 \
	"after the thaw the store's work runs under SCHED_IDLE (5)" 5
is "idle: afterwards every thread is back under SCHED_OTHER" "$(daemon_nices policy_of)" 0
is "idle: and at nice 0" "$(daemon_nices)" 0
stop_daemon

# ---- --store-nice 0: nothing changes priority --------------------------------
start_daemon --store-nice 0 || exit 1
is "--store-nice 0: status says 0" "$(ctl_json status | jq -r .store_nice)" 0
wl m "write big 7"
watch_checkpoint "$pid" --full
is "--store-nice 0: checkpoint succeeds" "$RC" 0
is "--store-nice 0: no thread ever left nice 0" "$STORE_NICE" 0
stop_daemon

# ---- out of range ------------------------------------------------------------
for bad in 20 -1 x idler; do
	if "$CKPTD" --socket "$T/bad.sock" --state-dir "$T/bad" --store-nice "$bad" >"$T/bad.out" 2>&1; then
		not_ok "--store-nice $bad is refused" "ckptd ran"
	else
		is "--store-nice $bad is refused with a reason" "$(grep -c 'store-nice takes 0 to 19, or idle' "$T/bad.out")" 1
	fi
done

# ---- --store-threads: how many threads hash and compress ---------------------
# threads_during SEED: a full checkpoint of the big region with a new pattern
# while the daemon's threads are counted; prints the most seen minus those
# at rest before it.
threads_during() {
	local rest cpid n max
	wl m "write big $1" || return 1
	rest=$(ls "/proc/$DAEMON_PID/task" | wc -l)
	max=$rest
	ctl_json checkpoint "$pid" --full >"$T/watch.out" &
	cpid=$!
	while kill -0 "$cpid" 2>/dev/null; do
		n=$(ls "/proc/$DAEMON_PID/task" 2>/dev/null | wc -l)
		[ "$n" -gt "$max" ] && max=$n
	done
	wait "$cpid" || return 1
	echo $((max - rest))
}
# (The copy in the pause runs on up to 4 threads too, before the store
# phase: with 5 and 7 store threads the store phase has the most.)
declare -A EXTRA=()
for n in 5 7; do
	start_daemon --store-threads "$n" || exit 1
	is "--store-threads $n: status says $n" "$(ctl_json status | jq -r .store.threads)" "$n"
	EXTRA[$n]=$(threads_during $((20 + n))) || not_ok "--store-threads $n: checkpoint" "$(cat "$T/ctl.err")"
	stop_daemon
done
diag "threads added during a checkpoint: ${EXTRA[5]} with --store-threads 5, ${EXTRA[7]} with 7"
is "--store-threads 7 runs two threads more than 5 in the store phase" \
	"$((${EXTRA[7]:-0} - ${EXTRA[5]:-0}))" 2
start_daemon || exit 1
is "by default one thread per online CPU" "$(ctl_json status | jq -r .store.threads)" "$(nproc)"
is "ckptctl status says how many" "$(ctl status | grep -c "thaw.*, $(nproc) thread")" 1
stop_daemon
for bad in 17 -1 x; do
	if "$CKPTD" --socket "$T/bad.sock" --state-dir "$T/bad" --store-threads "$bad" >"$T/bad.out" 2>&1; then
		not_ok "--store-threads $bad is refused" "ckptd ran"
	else
		is "--store-threads $bad is refused with a reason" "$(grep -c 'store-threads takes 0 to 16' "$T/bad.out")" 1
	fi
done
