# SPDX-License-Identifier: LGPL-2.1-or-later
# What the benchmark scripts of tests/bench share. Sourced after NAME is set:
#   NAME=cold; . "$(dirname "$0")/lib.sh"; bench_init ckptd ckptctl bench/b-mem
# Gives: die, ctl DAEMON ARGS, daemon_start NAME [CKPTD OPTIONS], daemon_stop,
# mem_start MIB / mem COMMAND / mem_stop (b-mem on FIFOs), field, stats,
# put / get (the results file), row / ratio_row (table lines), header.
# Every ckptd runs on its own empty store under $T/NAME; $T and whatever is
# still running go away on exit, the daemon log shown if the script failed.
# CKPTD=PATH runs another build's ckptd (to compare two builds in one go).
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$top"
OUT=$top/.output
CKPTD=${CKPTD:-$OUT/ckptd}

die() {
	echo "bench $NAME: $*" >&2
	exit 1
}

bench_init() { # BINARIES... (relative to .output): checks, then makes $T
	local b
	[ "$(id -u)" = 0 ] || die "needs root (ckptd reads other processes)"
	for b in "$@"; do
		[ -x "$OUT/$b" ] || die "$OUT/$b missing: run make"
	done
	command -v jq >/dev/null || die "jq missing (apt-get install jq)"
	T=$(mktemp -d "/tmp/ckpt-bench-$NAME.XXXXXX")
	res=$T/results
	: >"$res"
	trap bench_cleanup EXIT
}

declare -A DPID=()
WPID=
bench_cleanup() {
	local rc=$? d
	[ -n "$WPID" ] && kill -KILL "$WPID" 2>/dev/null
	for d in "${DPID[@]}"; do kill -TERM "$d" 2>/dev/null; done
	wait 2>/dev/null || true
	if [ $rc != 0 ] && [ -s "$T/ckptd.log" ]; then
		echo "bench $NAME: daemon log (last lines):" >&2
		tail -n 20 "$T/ckptd.log" >&2
	fi
	rm -rf "$T"
}

ctl() { # DAEMON ARGS...
	local d=$1
	shift
	"$OUT/ckptctl" --socket "$T/$d/sock" "$@"
}

daemon_start() { # NAME [OPTIONS...]: a ckptd on an empty store under $T/NAME
	local d=$1
	shift
	daemon_stop "$d"
	rm -rf "${T:?}/$d"
	mkdir -p "$T/$d/state" "$T/$d/policy"
	"$CKPTD" --socket "$T/$d/sock" --state-dir "$T/$d/state" --policy-dir "$T/$d/policy" \
		--runtime-policy-dir "$T/$d/run-policy" --log-level warning "$@" >>"$T/ckptd.log" 2>&1 &
	DPID[$d]=$!
	for _ in $(seq 1 100); do
		ctl "$d" status >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	die "ckptd did not start"
}

daemon_stop() { # NAME
	local d=$1
	[ -n "${DPID[$d]:-}" ] || return 0
	kill -TERM "${DPID[$d]}" 2>/dev/null || true
	wait "${DPID[$d]}" 2>/dev/null || true
	unset "DPID[$d]"
}

mem_start() { # PROGRAM ARGS...: a workload on FIFOs, waits for its ready line
	rm -f "$T/w.in" "$T/w.out"
	mkfifo "$T/w.in" "$T/w.out"
	"$@" <"$T/w.in" >"$T/w.out" &
	WPID=$!
	exec {WIN}>"$T/w.in"
	exec {WOUT}<"$T/w.out"
	local line
	read -r -t 300 -u "$WOUT" line || die "$1 did not start"
	case "$line" in ready*) ;; *) die "$1: $line" ;; esac
}

mem() { # COMMAND -> its answer on stdout
	local line
	echo "$*" >&"$WIN"
	read -r -t 300 -u "$WOUT" line || die "workload: no answer to '$*'"
	case "$line" in err*) die "workload: $line" ;; esac
	echo "$line"
}

mem_stop() {
	echo exit >&"$WIN" || true
	wait "$WPID" 2>/dev/null || true
	exec {WIN}>&- {WOUT}<&-
	WPID=
}

field() { # KEY LINE: the value of KEY=value in LINE
	sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" <<<"$2"
}

stats() { # values on stdin -> "min median"
	sort -g | awk '{v[NR] = $1} END {
		if (NR == 0) { print "nan nan"; exit }
		m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		printf "%s %s\n", v[1], m }'
}

put() { echo "$1 $2" >>"$res"; }
get() { awk -v m="$1" '$1 == m {print $2}' "$res" | stats; }

row() { # KEY LABEL FORMAT
	local mn md
	read -r mn md < <(get "$1")
	printf "%-50s %12$3 %12$3\n" "$2" "$mn" "$md"
}

ratio_row() { # KEY LABEL OP TARGET: judged on the median
	local mn md ok
	read -r mn md < <(get "$1")
	ok=$(awk -v v="$md" -v t="$4" -v op="$3" 'BEGIN {
		ok = (op == "<=") ? v <= t : v >= t; print ok ? "met" : "NOT met" }')
	printf '%-50s %12.2f %12.2f %8s %s\n' "$2" "$mn" "$md" "$3 $4" "$ok"
}

header() { # LINES...: the lines above a table, then the machine
	printf '%s\n' "$@"
	printf '%s, %d cores, kernel %s\n\n' "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')" \
		"$(nproc)" "$(uname -r)"
}
