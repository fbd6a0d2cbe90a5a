#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# ckptd under systemd's rules, without systemd as PID 1:
#  - systemd/ckptd.service.in (made a unit as `make install` does) and
#    ckptd.socket pass `systemd-analyze verify`;
#  - socket activation: systemd-socket-activate passes the listening socket
#    and ckptd serves it instead of binding its own;
#  - sd_notify: READY=1, STATUS=, WATCHDOG=1 (only when WATCHDOG_PID is ckptd's
#    own pid) and STOPPING=1 on SIGTERM reach a NOTIFY_SOCKET of our own;
#  - the unit's CapabilityBoundingSet= is enough to checkpoint and track a
#    process of another user, and each of CAP_SYS_PTRACE, CAP_DAC_READ_SEARCH,
#    CAP_KILL (for that) and CAP_BPF, CAP_PERFMON (for BPF) is needed;
#    CAP_SYS_NICE lets the work after a thaw run at a lower priority (without
#    it ckptd keeps its own and says so).
. "$(dirname "$0")/lib.sh"
require_root
require_built "$WL/notify-listen" "$WL/memctl"
for b in systemd-analyze systemd-socket-activate setpriv; do
	command -v $b >/dev/null || skip_all "$b not installed"
done

UNITS=$TOP/systemd

# wait_for SECONDS CMD...: poll CMD every 0.1 s.
wait_for() {
	local n=$(($1 * 10)) i
	shift
	for ((i = 0; i < n; i++)); do
		"$@" && return 0
		sleep 0.1
	done
	return 1
}

answers_status() {
	ctl status >/dev/null 2>&1
}

# ---- 1. systemd-analyze verify --------------------------------------------

mkdir -p "$T/units"
sed "s|@SBINDIR@|$OUT|g" "$UNITS/ckptd.service.in" >"$T/units/ckptd.service"
cp "$UNITS/ckptd.socket" "$T/units/ckptd.socket"
out=$(cd "$T/units" && systemd-analyze verify ckptd.service ckptd.socket 2>&1)
rc=$?
ours=$(printf '%s\n' "$out" | grep -i 'ckptd' || true)
if [ $rc = 0 ] && [ -z "$ours" ]; then
	ok "systemd-analyze verify: ckptd.service and ckptd.socket are clean"
else
	not_ok "systemd-analyze verify: ckptd.service and ckptd.socket are clean" "exit $rc" "$out"
fi
[ -n "$out" ] && diag "verify output (other units): $out"
is "ExecStart= names the built ckptd" \
	"$(sed -n 's/^ExecStart=//p' "$T/units/ckptd.service")" "$OUT/ckptd"

# The check can fail: a misspelt key in a copy is reported.
mkdir -p "$T/broken"
sed 's/^WatchdogSec=/WatchdogSecs=/' "$T/units/ckptd.service" >"$T/broken/ckptd.service"
cp "$T/units/ckptd.socket" "$T/broken/"
out=$(cd "$T/broken" && systemd-analyze verify ckptd.service 2>&1)
case "$out" in
*WatchdogSecs*) ok "systemd-analyze verify reports a misspelt key" ;;
*) not_ok "systemd-analyze verify reports a misspelt key" "$out" ;;
esac

# ---- 2. socket activation ---------------------------------------------------

# Without --accept, systemd-socket-activate listens, and on the first
# connection execs ckptd (same pid) with LISTEN_FDS=1.
mkdir -p "$T/state-sa"
systemd-socket-activate -l "$T/sock" "$CKPTD" --socket "$T/not-this.sock" \
	--state-dir "$T/state-sa" --policy-dir "$T/policy" --runtime-policy-dir "$T/rpolicy" \
	--log-level debug >"$T/ckptd-sa.log" 2>&1 &
DAEMON_PID=$!
if wait_for 10 test -S "$T/sock"; then
	out=$(timeout 20 "$CKPTCTL" --socket "$T/sock" status 2>&1)
	rc=$?
	if [ $rc = 0 ] && printf '%s' "$out" | grep -q '^ckptd '; then
		ok "socket activation: status answered on the passed socket"
	else
		not_ok "socket activation: status answered on the passed socket" "exit $rc" "$out" \
			"$(tail -n 20 "$T/ckptd-sa.log")"
	fi
	check "socket activation: a second connection is served" answers_status
	if grep -q 'passed by systemd' "$T/ckptd-sa.log"; then
		ok "socket activation: ckptd logs that it took the passed socket"
	else
		not_ok "socket activation: ckptd logs that it took the passed socket" \
			"$(tail -n 20 "$T/ckptd-sa.log")"
	fi
	if [ -e "$T/not-this.sock" ]; then
		not_ok "socket activation: --socket is not bound when a socket is passed"
	else
		ok "socket activation: --socket is not bound when a socket is passed"
	fi
	is "socket activation: the daemon is the activator's pid (exec)" \
		"$(cat "/proc/$DAEMON_PID/comm" 2>/dev/null)" ckptd
	stop_daemon
else
	not_ok "systemd-socket-activate listens on $T/sock" "$(cat "$T/ckptd-sa.log")"
	kill "$DAEMON_PID" 2>/dev/null
	DAEMON_PID=
fi

# ---- 3. sd_notify and the watchdog -----------------------------------------

# listen NAME: start notify-listen on $T/NAME.notify; output in $T/NAME.msgs.
listen() {
	local line
	"$WL/notify-listen" "$T/$1.notify" 60 >"$T/$1.msgs" 2>&1 &
	LISTEN_PID=$!
	wait_for 5 grep -q '^ready' "$T/$1.msgs"
}

# notified NAME PID MSG: MSG (a prefix such as "STATUS=") came from PID.
notified() {
	grep -q "^pid=$2 $3" "$T/$1.msgs"
}

# pings_at_least NAME PID N: N or more WATCHDOG=1 from PID.
pings_at_least() {
	[ "$(grep -c "^pid=$2 WATCHDOG=1" "$T/$1.msgs")" -ge "$3" ]
}

# run_notify NAME WATCHDOG_PID_EXPR: ckptd with NOTIFY_SOCKET and
# WATCHDOG_USEC=2s; "self" makes WATCHDOG_PID ckptd's own pid: the shell sets
# it to its $$ and then execs ckptd, which keeps that pid.
run_notify() {
	local name=$1 wpid=$2
	mkdir -p "$T/state-$name"
	NOTIFY_SOCKET=$T/$name.notify WATCHDOG_USEC=2000000 WPID=$wpid \
		bash -c 'if [ "$WPID" = self ]; then export WATCHDOG_PID=$$; else export WATCHDOG_PID=$WPID; fi
			exec "$@"' ckptd-wrapper \
		"$CKPTD" --socket "$T/sock" --state-dir "$T/state-$name" --policy-dir "$T/policy" --runtime-policy-dir "$T/rpolicy" \
		--runtime-policy-dir "$T/rpolicy" --log-level debug >"$T/ckptd-$name.log" 2>&1 &
	DAEMON_PID=$!
	wait_for 10 answers_status
}

if listen notify && run_notify notify self; then
	pid=$DAEMON_PID
	if wait_for 5 notified notify $pid READY=1; then
		ok "sd_notify: READY=1 from ckptd's pid"
	else
		not_ok "sd_notify: READY=1 from ckptd's pid" "$(cat "$T/notify.msgs")"
	fi
	if notified notify $pid STATUS=; then
		ok "sd_notify: a STATUS= line ($(grep -m1 -o 'STATUS=.*' "$T/notify.msgs"))"
	else
		not_ok "sd_notify: a STATUS= line" "$(cat "$T/notify.msgs")"
	fi
	# sd-event pings at a quarter to a half of WATCHDOG_USEC: two pings in 3 s.
	if wait_for 4 pings_at_least notify $pid 2; then
		ok "sd_notify: WATCHDOG=1 repeatedly with WATCHDOG_USEC=2s"
	else
		not_ok "sd_notify: WATCHDOG=1 repeatedly with WATCHDOG_USEC=2s" \
			"$(cat "$T/notify.msgs")" "$(tail -n 5 "$T/ckptd-notify.log")"
	fi
	if notified notify $pid STOPPING=1; then
		not_ok "sd_notify: no STOPPING=1 before SIGTERM"
	else
		ok "sd_notify: no STOPPING=1 before SIGTERM"
	fi
	stop_daemon
	if wait_for 3 notified notify $pid STOPPING=1; then
		ok "sd_notify: STOPPING=1 after SIGTERM"
	else
		not_ok "sd_notify: STOPPING=1 after SIGTERM" "$(cat "$T/notify.msgs")"
	fi
else
	not_ok "ckptd starts with NOTIFY_SOCKET set" "$(cat "$T/ckptd-notify.log" 2>/dev/null)"
	stop_daemon
fi
kill "$LISTEN_PID" 2>/dev/null
wait "$LISTEN_PID" 2>/dev/null

# A WATCHDOG_PID that is not ckptd's (here: PID 1) disables the watchdog.
if listen otherpid && run_notify otherpid 1; then
	pid=$DAEMON_PID
	wait_for 5 notified otherpid $pid READY=1
	sleep 2.5
	if grep -q 'WATCHDOG=1' "$T/otherpid.msgs"; then
		not_ok "sd_notify: no WATCHDOG=1 when WATCHDOG_PID is another process" \
			"$(cat "$T/otherpid.msgs")"
	elif notified otherpid $pid READY=1; then
		ok "sd_notify: no WATCHDOG=1 when WATCHDOG_PID is another process"
	else
		not_ok "sd_notify: READY=1 with WATCHDOG_PID of another process" \
			"$(cat "$T/otherpid.msgs")"
	fi
	stop_daemon
else
	not_ok "ckptd starts with WATCHDOG_PID=1" "$(cat "$T/ckptd-otherpid.log" 2>/dev/null)"
	stop_daemon
fi
kill "$LISTEN_PID" 2>/dev/null
wait "$LISTEN_PID" 2>/dev/null

# ---- 4. the capability bounding set ----------------------------------------

# The unit's set, as setpriv wants it: "-all,+bpf,+perfmon,...".
unit_caps=$(sed -n 's/^CapabilityBoundingSet=//p' "$UNITS/ckptd.service.in")
bounding=-all
for c in $unit_caps; do
	c=${c#CAP_}
	bounding+=",+${c,,}"
done
diag "unit bounding set: $unit_caps"

# Capabilities this sandbox itself lacks cannot be granted: leave them out.
have_bounding=$(setpriv --dump | sed -n 's/^Capability bounding set: //p')
filtered=-all
for c in ${bounding//,/ }; do
	[ "$c" = -all ] && continue
	case ",$have_bounding," in
	*",${c#+},"*) filtered+=",$c" ;;
	*) diag "this system's bounding set lacks ${c#+}: not tested" ;;
	esac
done

# run_caps NAME SET: ckptd under that bounding set (and no inheritable caps);
# an empty SET: with every capability this shell has.
run_caps() {
	local wrap=()
	[ -n "$2" ] && wrap=(setpriv --bounding-set="$2" --inh-caps=-all)
	mkdir -p "$T/state-$1"
	"${wrap[@]}" "$CKPTD" --socket "$T/sock" --state-dir "$T/state-$1" --policy-dir "$T/policy" --runtime-policy-dir "$T/rpolicy" \
		--runtime-policy-dir "$T/rpolicy" --log-level debug >"$T/ckptd-$1.log" 2>&1 &
	DAEMON_PID=$!
	wait_for 10 answers_status
}

start_workload_as 65534 victim memctl || exit 1
vpid=$(wl_pid victim)
wl victim "alloc a anon 64" && wl victim "write a 1" ||
	not_ok "memctl prepares its region" "${REPLY[victim]}"

# Full root first, for what BPF and tracking reach with every capability.
full_bpf=
if run_caps full ""; then
	full_bpf=$(ctl status | sed -n 's/^bpf: *\([^ ]*\).*/\1/p')
	stop_daemon
fi

if run_caps unit "$filtered"; then
	eff=$(sed -n 's/^CapEff:\t//p' "/proc/$DAEMON_PID/status")
	diag "ckptd CapEff under the unit's set: $eff"
	check "unit caps: checkpoint of another user's process" ctl checkpoint "$vpid"
	check "unit caps: track another user's process" ctl track "$vpid"
	wl victim "write a 2"
	check "unit caps: incremental checkpoint after writes" ctl checkpoint "$vpid"
	is "unit caps: BPF reaches what it reaches with every capability" \
		"$(ctl status | sed -n 's/^bpf: *\([^ ]*\).*/\1/p')" "$full_bpf"
	is "unit caps: the work after the thaw runs at nice 10" \
		"$(ctl status | sed -n 's/^storing: *//p' | sed 's/, [0-9]* threads\{0,1\}$//')" "at nice 10 once the process is thawed"
	ctl untrack "$vpid" >/dev/null 2>&1
	stop_daemon
else
	not_ok "ckptd starts under the unit's bounding set" "$(tail -n 20 "$T/ckptd-unit.log")"
	stop_daemon
fi

# Each of these is needed: without it, the checkpoint is refused.
for c in sys_ptrace dac_read_search kill; do
	case "$filtered" in *"+$c"*) ;; *) continue ;; esac
	set_without=$(printf '%s' "$filtered" | sed "s/,+$c//")
	if run_caps "no-$c" "$set_without"; then
		if ctl checkpoint "$vpid" >"$T/no-$c.out" 2>&1; then
			not_ok "without cap_$c a checkpoint of another user's process fails" \
				"it succeeded: the unit grants cap_$c for nothing"
		else
			ok "without cap_$c a checkpoint of another user's process fails ($(head -c 120 "$T/no-$c.out"))"
		fi
		stop_daemon
	else
		not_ok "ckptd starts without cap_$c" "$(tail -n 20 "$T/ckptd-no-$c.log")"
		stop_daemon
	fi
done

# CAP_SYS_NICE: without it the daemon cannot raise a worker back, so it
# never lowers one, says so, and checkpoints as before.
if case "$filtered" in *"+sys_nice"*) true ;; *) false ;; esac; then
	if run_caps no-sys_nice "$(printf '%s' "$filtered" | sed "s/,+sys_nice//")"; then
		is "without cap_sys_nice the work after the thaw keeps the daemon's priority" \
			"$(ctl status | sed -n 's/^storing: *//p' | sed 's/, [0-9]* threads\{0,1\}$//')" "at the daemon's priority"
		check "without cap_sys_nice a checkpoint succeeds" ctl checkpoint "$vpid"
		is "without cap_sys_nice the daemon says why at start-up" \
			"$(grep -c 'CAP_SYS_NICE' "$T/ckptd-no-sys_nice.log")" 1
		stop_daemon
	else
		not_ok "ckptd starts without cap_sys_nice" "$(tail -n 20 "$T/ckptd-no-sys_nice.log")"
		stop_daemon
	fi
fi

# CAP_BPF and CAP_PERFMON: without either, BPF is lost (when it works at all).
# CAP_SYS_ADMIN (kept for seccomp filters) would stand in for both, so these
# runs go without it too.
for c in bpf perfmon; do
	case "$filtered" in *"+$c"*) ;; *) continue ;; esac
	if [ -z "$full_bpf" ] || [ "$full_bpf" = none ]; then
		skip "without cap_$c BPF is not loaded" "BPF does not load here even with every capability"
		continue
	fi
	if run_caps "no-$c" "$(printf '%s' "$filtered" | sed -e "s/,+$c//" -e "s/,+sys_admin//")"; then
		is "without cap_$c BPF is not loaded" "$(ctl status | sed -n 's/^bpf: *//p')" none
		stop_daemon
	else
		not_ok "ckptd starts without cap_$c" "$(tail -n 20 "$T/ckptd-no-$c.log")"
		stop_daemon
	fi
done
