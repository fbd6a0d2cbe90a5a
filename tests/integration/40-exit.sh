#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Processes that go away: a large process killed (SIGKILL) while its
# checkpoint is under way gives ProcessExited or NoSuchProcess and leaves no
# entry behind; earlier checkpoints stay listed and readable; a pid that does
# not exist gives NoSuchProcess; pid 1 asked for by a non-root user gives
# PermissionDenied.
. "$(dirname "$0")/lib.sh"
require_root
require_built "$WL/memctl" "$WL/lab" "$WL/vlcall"

# 2 GiB touched, or a quarter of the memory available if that is less.
avail_kb=$(awk '/^MemAvailable:/ {print $2}' /proc/meminfo)
BIG_PAGES=$((avail_kb / 16 < 524288 ? avail_kb / 16 : 524288))

start_daemon || exit 1
chmod 0666 "$T/sock"

# An earlier checkpoint that must survive everything below.
start_workload lab lab 16 || exit 1
early=$(ctl_json checkpoint "$(wl_pid lab)" | jq -r .id)
[ -n "$early" ] && [ "$early" != null ] && ok "earlier checkpoint $early" ||
	not_ok "earlier checkpoint" "$(cat "$T/ctl.err")"
n_before=$(ctl_json list | jq '.checkpoints | length')

# frozen PID: true once the checkpoint holds the process (a tracer attached,
# or a stop state), polling for up to 5 s.
frozen() {
	local i tr
	for i in $(seq 1 2500); do
		tr=$(awk '/^TracerPid:/ {print $2}' "/proc/$1/status" 2>/dev/null) || return 1
		[ "${tr:-0}" != 0 ] && return 0
		case "$(proc_state "$1")" in t | T | D) return 0 ;; esac
		sleep 0.002
	done
	return 1
}

errors=0 mid=0 successes=0 attempt=0
diag "target: $((BIG_PAGES / 256)) MiB touched"
for delay in 0 0.01 0.05 0.2; do
	attempt=$((attempt + 1))
	h=big$attempt
	start_workload "$h" memctl || break
	wl "$h" "alloc big anon $BIG_PAGES" && wl "$h" "touch big $attempt" ||
		{ not_ok "$h: touch $((BIG_PAGES / 256)) MiB" "${REPLY[$h]}"; break; }
	pid=$(wl_pid "$h")
	vlcall -t 60 -c "{\"method\":\"io.ckptd.Checkpoint\",\"parameters\":{\"pid\":$pid,\"full\":true}}" \
		"$T/sock" >"$T/kill-$attempt.reply" 2>&1 &
	vpid=$!
	held=no
	frozen "$pid" && held=yes
	sleep "$delay"
	wl_kill "$h"
	t0=$(date +%s%N)
	wait "$vpid"
	diag "reply $((($(date +%s%N) - t0) / 1000000)) ms after the kill"
	reply=$(head -n 1 "$T/kill-$attempt.reply")
	err=$(jq -r '.error // empty' <<<"$reply" 2>/dev/null)
	if [ -n "$err" ]; then
		errors=$((errors + 1))
		[ $held = yes ] && mid=$((mid + 1))
		case "$err" in
		io.ckptd.ProcessExited | io.ckptd.NoSuchProcess)
			ok "killed after ${delay}s (held: $held): $err" ;;
		*) not_ok "killed after ${delay}s (held: $held): ProcessExited or NoSuchProcess" \
			"$reply" ;;
		esac
	elif id=$(jq -er .parameters.id <<<"$reply" 2>/dev/null); then
		successes=$((successes + 1))
		ok "killed after ${delay}s (held: $held): finished first as checkpoint $id"
	else
		not_ok "killed after ${delay}s: a reply" "$reply"
	fi
	daemon_alive || { not_ok "ckptd survives a process killed mid-checkpoint"; exit 1; }
done
if [ $mid -gt 0 ]; then
	ok "$mid of $attempt kills landed while the process was held, and failed cleanly"
else
	not_ok "at least one kill landed mid-checkpoint" "errors $errors, successes $successes"
fi
is "no entry for the failed checkpoints in list" \
	"$(ctl_json list | jq '.checkpoints | length')" $((n_before + successes))
check "list still works" ctl list
check "show of the earlier checkpoint still works" ctl show "$early"
is "show --json of the earlier checkpoint" "$(ctl_json show "$early" | jq -r .checkpoint.id)" "$early"
check "verify still finds the store sound" ctl verify

# A pid that does not exist (one just reaped).
sleep 0 &
gone=$!
wait $gone
out=$(ctl checkpoint "$gone" 2>"$T/gone.err")
rc=$?
if [ $rc != 0 ] && [ "$(wc -l <"$T/gone.err")" = 1 ]; then
	ok "checkpoint of a gone pid: exit $rc, one line: $(cat "$T/gone.err")"
else
	not_ok "checkpoint of a gone pid: non-zero exit and one line on stderr" "exit $rc" \
		"stdout: $out" "stderr: $(cat "$T/gone.err")"
fi
is "checkpoint of a gone pid: io.ckptd.NoSuchProcess" \
	"$(vlcall -c "{\"method\":\"io.ckptd.Checkpoint\",\"parameters\":{\"pid\":$gone}}" "$T/sock" |
		jq -r .error)" io.ckptd.NoSuchProcess

# pid 1, asked for by nobody.
out=$(nctl checkpoint 1 2>"$T/pid1.err")
rc=$?
if [ $rc != 0 ] && [ "$(wc -l <"$T/pid1.err")" = 1 ]; then
	ok "nobody: checkpoint of pid 1 refused: $(cat "$T/pid1.err")"
else
	not_ok "nobody: checkpoint of pid 1 refused with one line" "exit $rc" "$out" \
		"$(cat "$T/pid1.err")"
fi
is "nobody: pid 1 gives io.ckptd.PermissionDenied" "$(nvl Checkpoint '{"pid":1}')" \
	io.ckptd.PermissionDenied
is "no checkpoint was added by the refused calls" \
	"$(ctl_json list | jq '.checkpoints | length')" $((n_before + successes))
stop_daemon
