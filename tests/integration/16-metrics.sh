#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# ckptctl metrics: the Prometheus text exposition format (checked by the
# project's own strict checker, tests/lib/prom-check.awk), numbers equal to
# what status --json and list --json say, the daemon's counters after real
# checkpoints and provoked failures (checkpoints, failures by error name,
# pause and duration histograms, bytes stored, limits hit), none of them for
# another user; ckptd_up 0 and exit 1 without a daemon; the example timer and
# service pass systemd-analyze verify.
. "$(dirname "$0")/lib.sh"
require_built "$WL/vlcall"

# prom_check FILE: nothing printed when FILE is valid exposition text
# (tests/lib/prom-check.awk: names, labels, values, TYPE before samples,
# families together, histogram buckets rising to +Inf == _count).
prom_check() {
	awk -f "$TOP/tests/lib/prom-check.awk" "$1"
}

# The checker itself refuses what it must.
printf '# TYPE a gauge\na 1\na{x="q\\"z",y=""} 2.5e-3\n# TYPE h histogram\nh_bucket{le="0.5"} 1\nh_bucket{le="+Inf"} 2\nh_sum 1.5\nh_count 2\n' >"$T/good.prom"
printf 'b 1\n' >"$T/bad1.prom"
printf '# TYPE c gauge\nc{x="1} 1\n' >"$T/bad2.prom"
printf '# TYPE d gauge\nd one\n' >"$T/bad3.prom"
printf '# TYPE h histogram\nh_bucket{le="0.5"} 3\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 3\nh_sum 1\nh_count 3\n' >"$T/bad4.prom"
printf '# TYPE h histogram\nh_bucket{le="1"} 1\nh_bucket{le="0.5"} 1\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n' >"$T/bad5.prom"
printf '# TYPE h histogram\nh_bucket{le="1"} 1\nh_bucket{le="+Inf"} 2\nh_sum 1\nh_count 3\n' >"$T/bad6.prom"
printf '# TYPE h histogram\nh_bucket{le="1"} 1\nh_sum 1\nh_count 1\n' >"$T/bad7.prom"
printf '# TYPE e gauge\ne{x="1",x="2"} 1\n' >"$T/bad8.prom"
printf '# TYPE f gauge\n# TYPE g gauge\nf 1\ng 1\nf{x="1"} 1\n' >"$T/bad9.prom"
printf '# TYPE k_total counter\nk_total -1\n' >"$T/bad10.prom"
r=ok
prom_check "$T/good.prom" >/dev/null || r="refused a good file: $(prom_check "$T/good.prom")"
for i in $(seq 1 10); do prom_check "$T/bad$i.prom" >/dev/null && r="accepted bad$i"; done
is "the format checker accepts a good file and refuses ten bad ones" "$r" ok

CKPTD_SOCKET=$T/none "$CKPTCTL" metrics >"$T/down.prom" 2>"$T/down.err"
rc=$?
is "without a daemon: exit 1" "$rc" 1
is "without a daemon: ckptd_up 0" "$(grep -v '^#' "$T/down.prom")" "ckptd_up 0"
out=$(prom_check "$T/down.prom") && ok "without a daemon: valid exposition text" ||
	not_ok "without a daemon: valid exposition text" "$out"

d=$T/units
mkdir -p "$d"
cp "$TOP/systemd/ckptd-metrics.service" "$TOP/systemd/ckptd-metrics.timer" "$d/"
if out=$(cd "$d" && systemd-analyze verify ./ckptd-metrics.timer ./ckptd-metrics.service 2>&1) && [ -z "$out" ]; then
	ok "systemd-analyze verify: ckptd-metrics.timer and .service"
else
	not_ok "systemd-analyze verify: ckptd-metrics.timer and .service" "$out"
fi

if [ "$(id -u)" != 0 ] || [ ! -r /sys/kernel/btf/vmlinux ]; then
	skip "metrics of a running daemon" "needs root and BPF to run ckptd"
	exit 0
fi
start_daemon || exit 1
sleep 600 &
sleeper=$!
for i in $(seq 1 50); do [ "$(cat /proc/$sleeper/comm 2>/dev/null)" = sleep ] && break; sleep 0.1; done
ctl track "$sleeper" >/dev/null
ctl checkpoint "$sleeper" >/dev/null
ctl checkpoint "$sleeper" >/dev/null
# Provoked failures: a process gone (reaped), one root's that nobody asks for,
# and a message over the limit.
true &
gone=$!
wait "$gone"
ctl checkpoint "$gone" >/dev/null 2>&1
nctl checkpoint "$sleeper" >/dev/null 2>&1
{ printf '{"method":"io.ckptd.GetStatus","parameters":{"pad":"'; head -c 1100000 /dev/zero | tr '\0' x; printf '"}}\0'; } >"$T/big"
vlcall -f "$T/big" -t 5 "$T/sock" >/dev/null 2>&1
if ctl metrics >"$T/up.prom" 2>"$T/up.err"; then
	ok "ckptctl metrics exits 0"
else
	not_ok "ckptctl metrics exits 0" "$(cat "$T/up.err")"
fi
out=$(prom_check "$T/up.prom") && ok "valid exposition text ($(grep -vc '^#' "$T/up.prom") samples)" ||
	not_ok "valid exposition text" "$out" "$(cat "$T/up.prom")"
ctl_json status >"$T/status.json"
ctl_json list "$sleeper" >"$T/list.json"
val() { sed -nE "s/^$1 ([0-9.e+-]+)\$/\\1/p" "$T/up.prom"; }
is "ckptd_up 1" "$(val ckptd_up)" 1
is "ckptd_store_checkpoints is the store's count" "$(val ckptd_store_checkpoints)" \
	"$(jq '.store.checkpoints' "$T/status.json")"
is "ckptd_store_objects is status's" "$(val ckptd_store_objects)" "$(jq '.store.objects' "$T/status.json")"
is "ckptd_tracked_processes is 1" "$(val ckptd_tracked_processes)" 1
last=$(sed -nE "s/^ckptd_process_last_checkpoint\\{pid=\"$sleeper\",comm=\"sleep\",tracking=\"[^\"]*\",policy=\"\"\\} ([0-9]+)\$/\\1/p" "$T/up.prom")
is "ckptd_process_last_checkpoint{pid=\"$sleeper\",comm=\"sleep\"} is its second checkpoint" "$last" \
	"$(jq '.checkpoints[-1].id' "$T/list.json")"
grep -qE "^ckptd_process_last_pause_seconds\\{pid=\"$sleeper\",[^}]*\\} [0-9]+\\.[0-9]+\$" "$T/up.prom" &&
	ok "ckptd_process_last_pause_seconds for the process" ||
	not_ok "ckptd_process_last_pause_seconds for the process" "$(cat "$T/up.prom")"

# The daemon's own counters, against what list says of the same checkpoints.
is "ckptd_checkpoints_total 2" "$(val ckptd_checkpoints_total)" 2
is "ckptd_checkpoints_incremental_total: those list calls incremental" \
	"$(val ckptd_checkpoints_incremental_total)" "$(jq '[.checkpoints[] | select(.incremental)] | length' "$T/list.json")"
is "ckptd_checkpoint_stored_bytes_total is the sum of their bytes_stored" \
	"$(val ckptd_checkpoint_stored_bytes_total)" "$(jq '[.checkpoints[].bytes_stored] | add' "$T/list.json")"
is "ckptd_checkpoint_pages_read_total is the sum of their pages_read" \
	"$(val ckptd_checkpoint_pages_read_total)" "$(jq '[.checkpoints[].pages_read] | add' "$T/list.json")"
is "a failure counted as io.ckptd.NoSuchProcess" \
	"$(val 'ckptd_checkpoint_failures_total\{error="io\.ckptd\.NoSuchProcess"\}')" 1
is "a failure counted as io.ckptd.PermissionDenied" \
	"$(val 'ckptd_checkpoint_failures_total\{error="io\.ckptd\.PermissionDenied"\}')" 1
is "ckptd_checkpoint_pause_seconds_count 2" "$(val ckptd_checkpoint_pause_seconds_count)" 2
is "ckptd_checkpoint_duration_seconds_count 2" "$(val ckptd_checkpoint_duration_seconds_count)" 2
# Each pause lands in the first bucket at or above it.
want=$(jq -r '.checkpoints[].pause_ms' "$T/list.json")
bad=
while read -r le n; do
	c=0
	for p in $want; do awk -v p="$p" -v le="$le" 'BEGIN { exit !(le == "+Inf" || p / 1000 <= le + 0.0000005) }' && c=$((c + 1)); done
	lo=0
	for p in $want; do awk -v p="$p" -v le="$le" 'BEGIN { exit !(le == "+Inf" || p / 1000 <= le - 0.0000005) }' && lo=$((lo + 1)); done
	[ "$n" -ge "$lo" ] && [ "$n" -le "$c" ] || bad+=" le=$le:$n(want $lo..$c)"
done < <(sed -nE 's/^ckptd_checkpoint_pause_seconds_bucket\{le="([^"]+)"\} ([0-9]+)$/\1 \2/p' "$T/up.prom")
is "the pause buckets count the pauses list gives (to its 1 us rounding)" "${bad:-none}" none
is "ckptd_limit_hits_total{limit=\"message_bytes\"} 1" \
	"$(val 'ckptd_limit_hits_total\{limit="message_bytes"\}')" 1
is "ckptd_limit{limit=\"message_bytes\"} is 1 MiB" "$(val 'ckptd_limit\{limit="message_bytes"\}')" 1048576

# Another user gets the status part, and no daemon counter.
if nctl metrics >"$T/nobody.prom" 2>"$T/nobody.err"; then
	ok "ckptctl metrics as nobody exits 0"
else
	not_ok "ckptctl metrics as nobody exits 0" "$(cat "$T/nobody.err")"
fi
out=$(prom_check "$T/nobody.prom") && ok "as nobody: valid exposition text" ||
	not_ok "as nobody: valid exposition text" "$out" "$(cat "$T/nobody.prom")"
is "as nobody: no daemon counter, no process of root's" \
	"$(grep -cE '^ckptd_(checkpoints_total|checkpoint_|limit|process_)' "$T/nobody.prom")" 0

# A group checkpoint of a tree of 2: one group, two checkpoints more.
if [ -x "$WL/forktree" ]; then
	start_workload t forktree 64 || exit 1
	root=$(wl_pid t)
	wl t "spawn 0 32" >/dev/null
	ctl track --tree "$root" >/dev/null
	gj=$(ctl_json checkpoint --tree "$root")
	ctl metrics >"$T/group.prom"
	out=$(prom_check "$T/group.prom") && ok "after a group checkpoint: valid exposition text" ||
		not_ok "after a group checkpoint: valid exposition text" "$out"
	is "ckptd_group_checkpoints_total 1" "$(sed -n 's/^ckptd_group_checkpoints_total //p' "$T/group.prom")" 1
	is "ckptd_checkpoints_total counts its $(jq '[.members[] | select(.id)] | length' <<<"$gj") members" \
		"$(sed -n 's/^ckptd_checkpoints_total //p' "$T/group.prom")" \
		"$((2 + $(jq '[.members[] | select(.id)] | length' <<<"$gj")))"
	wl_kill t
fi
kill "$sleeper"
wait "$sleeper" 2>/dev/null
stop_daemon
