#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# ckptctl metrics: the Prometheus text exposition format (checked by a small
# checker of its own: names, HELP/TYPE before the samples, label syntax,
# numeric values), numbers equal to what status --json says, ckptd_up 0 and
# exit 1 without a daemon; the example timer and service pass
# systemd-analyze verify.
. "$(dirname "$0")/lib.sh"
require_built

# prom_check FILE: nothing printed when FILE is valid exposition text.
prom_check() {
	awk '
	function bad(m) { printf "line %d: %s: %s\n", NR, m, $0; err = 1 }
	/^# HELP / { if (help[$3]++) bad("HELP twice"); next }
	/^# TYPE / {
		if (type[$3] != "") bad("TYPE twice")
		if ($4 !~ /^(counter|gauge|histogram|summary|untyped)$/) bad("unknown type")
		if (seen[$3]) bad("TYPE after a sample")
		type[$3] = $4; next }
	/^#/ { next }
	/^$/ { bad("empty line"); next }
	{
		line = $0
		if (!match(line, /^[a-zA-Z_:][a-zA-Z0-9_:]*/)) { bad("bad metric name"); next }
		name = substr(line, 1, RLENGTH); rest = substr(line, RLENGTH + 1)
		if (substr(rest, 1, 1) == "{") {
			if (!match(rest, /^\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\}/)) { bad("bad labels"); next }
			rest = substr(rest, RLENGTH + 1)
		}
		if (rest !~ /^ (-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?|NaN|[-+]Inf)( -?[0-9]+)?$/) { bad("bad value"); next }
		base = name; sub(/_(total|sum|count|bucket)$/, "", base)
		if (type[name] == "" && type[base] == "") bad("sample without TYPE")
		seen[name] = 1
	}
	END { exit err }' "$1"
}

# The checker itself refuses what it must.
printf '# TYPE a gauge\na 1\na{x="q\\"z",y=""} 2.5e-3\n' >"$T/good.prom"
printf 'b 1\n' >"$T/bad1.prom"
printf '# TYPE c gauge\nc{x="1} 1\n' >"$T/bad2.prom"
printf '# TYPE d gauge\nd one\n' >"$T/bad3.prom"
r=ok
prom_check "$T/good.prom" >/dev/null || r="refused a good file"
for f in bad1 bad2 bad3; do prom_check "$T/$f.prom" >/dev/null && r="accepted $f"; done
is "the format checker accepts a good file and refuses three bad ones" "$r" ok

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
if ctl metrics >"$T/up.prom" 2>"$T/up.err"; then
	ok "ckptctl metrics exits 0"
else
	not_ok "ckptctl metrics exits 0" "$(cat "$T/up.err")"
fi
out=$(prom_check "$T/up.prom") && ok "valid exposition text ($(grep -vc '^#' "$T/up.prom") samples)" ||
	not_ok "valid exposition text" "$out" "$(cat "$T/up.prom")"
ctl_json status >"$T/status.json"
val() { sed -nE "s/^$1 ([0-9.e+-]+)\$/\\1/p" "$T/up.prom"; }
is "ckptd_up 1" "$(val ckptd_up)" 1
is "ckptd_store_checkpoints is the store's count" "$(val ckptd_store_checkpoints)" \
	"$(jq '.store.checkpoints' "$T/status.json")"
is "ckptd_store_objects is status's" "$(val ckptd_store_objects)" "$(jq '.store.objects' "$T/status.json")"
is "ckptd_tracked_processes is 1" "$(val ckptd_tracked_processes)" 1
last=$(sed -nE "s/^ckptd_process_last_checkpoint\\{pid=\"$sleeper\",comm=\"sleep\",tracking=\"[^\"]*\",policy=\"\"\\} ([0-9]+)\$/\\1/p" "$T/up.prom")
is "ckptd_process_last_checkpoint{pid=\"$sleeper\",comm=\"sleep\"} is its second checkpoint" "$last" \
	"$(ctl_json list "$sleeper" | jq '.checkpoints[-1].id')"
grep -qE "^ckptd_process_last_pause_seconds\\{pid=\"$sleeper\",[^}]*\\} [0-9]+\\.[0-9]+\$" "$T/up.prom" &&
	ok "ckptd_process_last_pause_seconds for the process" ||
	not_ok "ckptd_process_last_pause_seconds for the process" "$(cat "$T/up.prom")"
kill "$sleeper"
wait "$sleeper" 2>/dev/null
stop_daemon
