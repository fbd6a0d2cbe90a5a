#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# ckptctl top: io.ckptd.WatchProcesses with "more" replies. Plain lines when
# stdout is not a terminal (--count, --interval), with the dirty pages and the
# write-fault rate of a process that writes; one JSON line per reply with
# --json; on a pseudo-terminal (script(1)) a screen that shows the tracked
# process, sorts on a key and exits 0 on q with the terminal given back. The
# daemon's side: the interval bound, another user's view, at most 4 watchers
# of one uid but root, a watcher dropped once its caller goes away, and
# ShuttingDown for those open when ckptd stops.
. "$(dirname "$0")/lib.sh"
require_built "$WL/vlcall" "$WL/memctl" "$WL/forktree"

CKPTD_SOCKET=$T/none "$CKPTCTL" top -n 1 >/dev/null 2>"$T/down.err"
is "without a daemon: exit 1" "$?" 1
"$CKPTCTL" --socket "$T/none" top --interval 0.1 >/dev/null 2>"$T/usage.err"
is "--interval 0.1: a usage error (exit 2), below the 0.25 s bound" "$?" 2
"$CKPTCTL" --socket "$T/none" top --sort size >/dev/null 2>&1
is "--sort size: a usage error (exit 2)" "$?" 2

if [ "$(id -u)" != 0 ] || [ ! -r /sys/kernel/btf/vmlinux ]; then
	skip "ckptctl top against a daemon" "needs root and BPF to run ckptd"
	exit 0
fi
start_daemon || exit 1
start_workload m memctl || exit 1
pid=$(wl_pid m)
ctl track "$pid" >/dev/null
wl_region m a anon 256 1 || exit 1
ctl checkpoint "$pid" >/dev/null

# Plain lines: a frame (header and rows) per reply; the process writes its
# 256 pages once the first frame is out, and a later frame counts them.
ctl top -n 4 -d 0.5 >"$T/plain.txt" 2>"$T/plain.err" &
top_pid=$!
for i in $(seq 1 100); do [ -s "$T/plain.txt" ] && break; sleep 0.1; done
wl m "touch a 2" >/dev/null
wait "$top_pid"
is "top -n 4 (not a terminal): exit 0" "$?" 0
is "top -n 4: four frames" "$(grep -c '^ *PID COMM' "$T/plain.txt")" 4
rows=$(awk -v p="$pid" '$1 == p' "$T/plain.txt")
is "top -n 4: the tracked process in each frame" "$(printf '%s\n' "$rows" | grep -c .)" 4
# Columns: PID COMM DIRTY_MIB MIB/S FAULTS/S PAUSE_MS NEXT STORE/S CKPTS STORED TRACKING
is "the first frame has no rate yet" "$(printf '%s\n' "$rows" | head -n 1 | awk '{ print $4 "," $5 }')" "-,-"
max_dirty=$(printf '%s\n' "$rows" | awk '{ if ($3 > m) m = $3 } END { print m + 0 }')
max_faults=$(printf '%s\n' "$rows" | awk '$5 != "-" { if ($5 > m) m = $5 } END { print m + 0 }')
awk -v d="$max_dirty" 'BEGIN { exit !(d >= 1.0) }' && ok "DIRTY_MIB reaches the 1 MiB written ($max_dirty)" ||
	not_ok "DIRTY_MIB reaches the 1 MiB written" "$(cat "$T/plain.txt")"
awk -v f="$max_faults" 'BEGIN { exit !(f > 0) }' && ok "FAULTS/S shows the writes ($max_faults/s)" ||
	not_ok "FAULTS/S shows the writes" "$(cat "$T/plain.txt")"
is "CKPTS: the one checkpoint" "$(printf '%s\n' "$rows" | tail -n 1 | awk '{ print $9 }')" 1

ctl top --json -n 2 -d 0.25 >"$T/json.txt"
is "top --json -n 2: two JSON lines with the process" \
	"$(jq -c "[.processes[] | select(.pid == $pid)] | length" "$T/json.txt" | tr '\n' ' ')" "1 1 "

# A pseudo-terminal: keys p (sort by pid), then q.
(sleep 1.5; printf p; sleep 1; printf q; sleep 8) |
	timeout 30 script -qefc "$CKPTCTL --socket $T/sock top -d 0.5" /dev/null >"$T/tty.out" 2>&1
is "top on a terminal exits 0 on q" "$?" 0
grep -qE "^ *$pid memctl " <(sed 's/\x1b\[[0-9;?]*[A-Za-z]/\n/g' "$T/tty.out") &&
	ok "top on a terminal shows the tracked process $pid" ||
	not_ok "top on a terminal shows the tracked process" "$(cat -v "$T/tty.out" | tail -n 20)"
grep -q "sort: pid" "$T/tty.out" && ok "key p sorts by pid" ||
	not_ok "key p sorts by pid" "$(cat -v "$T/tty.out" | tail -n 5)"
tail -c 20 "$T/tty.out" | grep -qF $'\e[?1049l' && ok "the terminal's screen is given back at the end" ||
	not_ok "the terminal's screen is given back" "$(tail -c 60 "$T/tty.out" | cat -v)"

# A tree group: its members show their root in GROUP.
start_workload t forktree 64 || exit 1
root=$(wl_pid t)
wl t "spawn 0 32" && child=$(kv "${REPLY[t]}" pid)
ctl track --tree "$root" >/dev/null
ctl top -n 1 >"$T/group.txt"
is "top: the root and its child in the root's group" \
	"$(awk -v r="$root" -v c="$child" '($1 == r || $1 == c) && $NF == r { n++ } END { print n + 0 }' "$T/group.txt")" 2
is "top --json: group is the root's pid" \
	"$(ctl top --json -n 1 | jq -c "[.processes[] | select(.pid == $child) | .group]")" "[$root]"
ctl untrack "$root" >/dev/null 2>&1
wl_kill t

# The daemon's side.
watch_call() { # [PARAMS]: the error name of one WatchProcesses call, or "ok"
	vlcall -c "{\"method\":\"io.ckptd.WatchProcesses\",\"parameters\":${1:-{\}}}" "$T/sock" |
		jq -r '.error // "ok"'
}
is "interval_ms 100: InvalidParameter" "$(watch_call '{"interval_ms":100}')" org.varlink.service.InvalidParameter
is "interval_ms 250: ok" "$(watch_call '{"interval_ms":250}')" ok
is "nobody sees none of root's processes" \
	"$(as_nobody "$WL/vlcall" -c '{"method":"io.ckptd.WatchProcesses"}' "$T/sock" | jq -c '[.parameters.processes[], .parameters.store]')" \
	"[null]"
watchers() { ctl metrics | sed -n 's/^ckptd_watchers //p'; }
vl_pids=()
for i in 1 2 3 4; do
	setpriv --reuid="$NOBODY" --regid="$NOGROUP" --clear-groups "$WL/vlcall" -t 60 -n 1000 \
		-c '{"method":"io.ckptd.WatchProcesses","parameters":{"interval_ms":250},"more":true}' \
		"$T/sock" >"$T/watch-$i.out" 2>&1 &
	vl_pids+=($!)
done
# At least nobody's four (root's of the tests above may still be counted
# until their next tick finds their callers gone); that they are nobody's
# four is what the refusal of a fifth below shows.
for i in $(seq 1 100); do [ "$(watchers)" -ge 4 ] && break; sleep 0.1; done
n=$(watchers)
[ "$n" -ge 4 ] && ok "four watchers of nobody open ($n in all)" ||
	not_ok "four watchers of nobody open" "ckptd_watchers $n"
r=$(as_nobody "$WL/vlcall" -c '{"method":"io.ckptd.WatchProcesses","more":true}' "$T/sock")
is "nobody's fifth: TooManyRequests naming watchers_per_uid" \
	"$(jq -r '.error + " " + .parameters.name' <<<"$r")" "io.ckptd.TooManyRequests watchers_per_uid"
is "root is not bound by nobody's share" \
	"$(vlcall -c '{"method":"io.ckptd.WatchProcesses","more":true}' -n 1 "$T/sock" | jq -r '.continues')" true
is "status: the watchers_per_uid limit is --max-watchers-per-uid's default, 4" \
	"$(ctl_json status | jq .limits.watchers_per_uid.limit)" 4
is "the refusal is counted: watchers_per_uid hit 1" \
	"$(ctl metrics | sed -n 's/^ckptd_limit_hits_total{limit="watchers_per_uid"} //p')" 1
sleep 0.6
n=$(grep -c continues "$T/watch-1.out")
[ "$n" -ge 2 ] && ok "a watcher gets a reply per interval ($n so far)" ||
	not_ok "a watcher gets replies" "$(head -c 400 "$T/watch-1.out")"
kill "${vl_pids[@]}" 2>/dev/null
wait "${vl_pids[@]}" 2>/dev/null
for i in $(seq 1 100); do [ "$(watchers)" = 0 ] && break; sleep 0.1; done
is "watchers whose callers went away are dropped" "$(watchers)" 0

ctl top -d 0.5 >"$T/last.txt" 2>"$T/last.err" &
top_pid=$!
for i in $(seq 1 100); do [ "$(watchers)" = 1 ] && break; sleep 0.1; done
wl_kill m
stop_daemon
wait "$top_pid"
is "top open when ckptd stops: exit 1" "$?" 1
grep -q ShuttingDown "$T/last.err" && ok "... saying ShuttingDown" ||
	not_ok "top says ShuttingDown when ckptd stops" "$(cat "$T/last.err")"
