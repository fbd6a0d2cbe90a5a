# SPDX-License-Identifier: LGPL-2.1-or-later
# lib.sh: sourced by every integration test. It owns the test's temp dir, the
# ckptd it starts, the workloads it runs, TAP output and the cleanup on exit.
#
#   ok NAME / not_ok NAME [DIAG] / check NAME CMD...   one TAP line each
#   diag TEXT...                                      "# TEXT" lines
#   require_root                                      exit 77 unless root
#   start_daemon [ARGS]   ckptd on $T/sock, state in $T/state, log in $T/ckptd.log
#   ctl ARGS...           ckptctl --socket $T/sock ARGS...
#   start_workload H PROG ARGS...     run .output/workloads/PROG as handle H;
#   start_workload_as UID H PROG ...  the same under another uid; both wait for
#                                     its "ready" line (kept in READY[H]); a
#                                     PROG starting with / is run as it is
#   wl H CMD              send one command line, wait for "ok" (REPLY[H] = last
#                         line, OUTPUT[H] = all lines); false on "err" (the
#                         workloads' protocol: tests/lib/workload.h)
#   kv "LINE" KEY         the value of KEY=value in LINE
#   wl_region H NAME KIND PAGES SEED   memctl maps and fills a region
#   wl_pid H              pid of the workload
#   wl_kill H [SIG]       kill it (SIGKILL) and reap it quietly
#   checkpoint PID ARGS...             ckptctl checkpoint: CP = id, CPJ = reply;
#   checkpoint_as nobody PID ARGS...   the same asked by nobody; both false
#                                      (one TAP failure said) without an id
#   refused NAME ERRORS CMD...         CMD fails naming one of ERRORS (a|b)
#   wait_checkpoints PID N [TENTHS]    until ckptd lists N checkpoints of PID
#   dump_stopped PID START END FILE    memdump of the stopped PID, then SIGCONT
# On exit: workloads and the daemon are killed, the plan "1..N" is printed,
# and if anything failed $T (logs, store, exports) is kept in
# tests/artifacts/NAME/. The exit status is 1 when a test failed.

set -u
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
OUT=$TOP/.output
TEST_NAME=$(basename "$0" .sh)
CKPTD=$OUT/ckptd
CKPTCTL=$OUT/ckptctl
WL=$OUT/workloads
T=$(mktemp -d "${TMPDIR:-/tmp}/ckpt-$TEST_NAME.XXXXXX")
chmod 0755 "$T"
export TMPDIR=$T

_tap_n=0
_tap_failed=0
DAEMON_PID=
declare -A WL_PID WL_IN WL_OUT READY REPLY OUTPUT

diag() {
	local l
	for l in "$@"; do printf '%s\n' "$l" | sed 's/^/# /'; done
}

ok() {
	_tap_n=$((_tap_n + 1))
	printf 'ok %d - %s\n' "$_tap_n" "$1"
}

not_ok() {
	_tap_n=$((_tap_n + 1))
	_tap_failed=$((_tap_failed + 1))
	printf 'not ok %d - %s\n' "$_tap_n" "$1"
	shift
	[ $# -gt 0 ] && diag "$@"
	return 0
}

skip() { # NAME REASON
	_tap_n=$((_tap_n + 1))
	printf 'ok %d - %s # SKIP %s\n' "$_tap_n" "$1" "$2"
}

# check NAME CMD...: ok when CMD exits 0; otherwise show its output.
check() {
	local name=$1 out rc
	shift
	out=$("$@" 2>&1)
	rc=$?
	if [ $rc = 0 ]; then
		ok "$name"
	else
		not_ok "$name" "command: $*" "exit $rc" "$(printf '%s' "$out" | tail -n 20)"
	fi
	return $rc
}

# is NAME GOT WANT
is() {
	if [ "$2" = "$3" ]; then
		ok "$1"
	else
		not_ok "$1" "got:  $2" "want: $3"
		return 1
	fi
}

skip_all() {
	echo "1..0 # SKIP $*"
	rm -rf "$T"
	exit 77
}

require_root() {
	[ "$(id -u)" = 0 ] || skip_all "needs root"
}

require_bpf() {
	[ -r /sys/kernel/btf/vmlinux ] || skip_all "no /sys/kernel/btf/vmlinux"
}

# The other user of the tests: nobody, with no supplementary groups.
#   as_nobody CMD...      run CMD as nobody
#   nctl ARGS...          ckptctl as nobody
#   nctl_json ARGS...     ckptctl --json as nobody, stderr in $T/ctl.err
#   nvl METHOD PARAMS     the error name (or "ok") of a raw call made as nobody
NOBODY=$(id -u nobody 2>/dev/null || echo 65534)
NOGROUP=$(id -g nobody 2>/dev/null || echo 65534)
as_nobody() {
	setpriv --reuid="$NOBODY" --regid="$NOGROUP" --clear-groups "$@"
}
nctl() {
	as_nobody "$CKPTCTL" --socket "$T/sock" "$@"
}
nctl_json() {
	as_nobody "$CKPTCTL" --socket "$T/sock" --json "$@" 2>"$T/ctl.err"
}
nvl() {
	as_nobody "$WL/vlcall" -c "{\"method\":\"io.ckptd.$1\",\"parameters\":$2}" "$T/sock" |
		jq -r '.error // "ok"'
}

# Binaries missing is a failure of the build, not a reason to skip.
require_built() {
	local b
	for b in "$CKPTD" "$CKPTCTL" "$@"; do
		if [ ! -x "$b" ]; then
			not_ok "built: ${b#$TOP/}" "run make first"
			exit 1
		fi
	done
}

ctl() {
	"$CKPTCTL" --socket "$T/sock" "$@"
}

# ctl_json ARGS...: ckptctl --json, stdout only; stderr goes to $T/ctl.err.
ctl_json() {
	"$CKPTCTL" --socket "$T/sock" --json "$@" 2>"$T/ctl.err"
}

# checkpoint_as -|nobody PID ARGS...: a checkpoint of PID asked by root (-) or
# nobody. CP = its id, CPJ = the reply; without an id, CP is empty and one TAP
# failure says why.
checkpoint_as() {
	local user=$1 who=root
	shift
	if [ "$user" = nobody ]; then
		who=nobody
		CPJ=$(nctl_json checkpoint "$@")
	else
		CPJ=$(ctl_json checkpoint "$@")
	fi
	CP=$(jq -er .id <<<"$CPJ" 2>/dev/null) && return 0
	CP=
	not_ok "checkpoint $* (asked by $who)" "stdout: $CPJ" "stderr: $(cat "$T/ctl.err")"
	return 1
}

checkpoint() {
	checkpoint_as - "$@"
}

# wait_checkpoints PID N [TENTHS]: wait up to TENTHS tenths of a second
# (default 100) until ckptd lists at least N checkpoints of PID; false if it
# does not. NCKPT = how many it listed last.
wait_checkpoints() {
	local i
	for i in $(seq 1 "${3:-100}"); do
		NCKPT=$(ctl_json list "$1" | jq '.checkpoints | length')
		[ "${NCKPT:-0}" -ge "$2" ] && return 0
		sleep 0.1
	done
	return 1
}

# refused NAME ALLOWED_ERRORS CMD...: ok when CMD fails and the first error
# name (io.ckptd.X) it prints is one of ALLOWED_ERRORS ("a|b").
refused() {
	local name=$1 allowed=$2 out rc e
	shift 2
	out=$("$@" 2>&1)
	rc=$?
	e=$(grep -oE 'io\.ckptd\.[A-Za-z]+' <<<"$out" | head -n 1)
	if [ $rc != 0 ] && [ -n "$e" ] && [[ "|$allowed|" == *"|$e|"* ]]; then
		ok "$name: $e"
	else
		not_ok "$name" "exit $rc, want one of $allowed" "$out"
	fi
}

vlcall() {
	"$WL/vlcall" "$@"
}

start_daemon() {
	mkdir -p "$T/state" "$T/policy"
	"$CKPTD" --socket "$T/sock" --state-dir "$T/state" --policy-dir "$T/policy" --runtime-policy-dir "$T/run-policy" \
		--log-level debug "$@" >>"$T/ckptd.log" 2>&1 &
	DAEMON_PID=$!
	local i
	for i in $(seq 1 100); do
		if [ -S "$T/sock" ] && ctl status >/dev/null 2>&1; then
			return 0
		fi
		if ! kill -0 "$DAEMON_PID" 2>/dev/null; then
			wait "$DAEMON_PID"
			not_ok "ckptd starts" "ckptd exited with $?" "$(tail -n 20 "$T/ckptd.log")"
			DAEMON_PID=
			return 1
		fi
		sleep 0.1
	done
	not_ok "ckptd starts" "socket did not answer status within 10s" "$(tail -n 20 "$T/ckptd.log")"
	return 1
}

# stop_daemon: SIGTERM, and ckptd must exit 0 within 10 s.
stop_daemon() {
	[ -n "$DAEMON_PID" ] || return 0
	local i rc
	kill -TERM "$DAEMON_PID" 2>/dev/null
	for i in $(seq 1 100); do
		kill -0 "$DAEMON_PID" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$DAEMON_PID" 2>/dev/null; then
		kill -KILL "$DAEMON_PID" 2>/dev/null
		wait "$DAEMON_PID" 2>/dev/null
		not_ok "ckptd stops on SIGTERM" "still running after 10 s"
	else
		wait "$DAEMON_PID"
		rc=$?
		is "ckptd exits 0 on SIGTERM" "$rc" 0
	fi
	DAEMON_PID=
}

daemon_alive() {
	[ -n "$DAEMON_PID" ] && kill -0 "$DAEMON_PID" 2>/dev/null
}

# start_workload_cmd HANDLE CMD ARGS...: run any command (setpriv ... PROG
# included) as a workload. Its stdin and stdout are FIFOs held open by this
# shell (a coprocess that survives beside others), as ZDTM's test_daemon()
# pipe; it must print a "ready" line first.
start_workload_cmd() {
	local h=$1 in out pid line wfd rfd
	shift
	in=$T/wl-$h.in
	out=$T/wl-$h.out
	rm -f "$in" "$out"
	mkfifo -m 0600 "$in" "$out"
	"$@" <"$in" >"$out" 2>>"$T/wl-$h.err" &
	pid=$!
	exec {wfd}>"$in"
	exec {rfd}<"$out"
	WL_PID[$h]=$pid
	WL_IN[$h]=$wfd
	WL_OUT[$h]=$rfd
	if ! IFS= read -r -t 60 -u "$rfd" line || [ "${line%% *}" != ready ]; then
		not_ok "workload $h ($*) is ready" "got: '${line:-}'" "$(cat "$T/wl-$h.err")"
		return 1
	fi
	READY[$h]=$line
	return 0
}

# start_workload_as USER|- HANDLE PROG ARGS...
start_workload_as() {
	local user=$1 h=$2 prog=$3
	shift 3
	case "$prog" in /*) ;; *) prog=$WL/$prog ;; esac
	if [ "$user" = - ]; then
		start_workload_cmd "$h" "$prog" "$@"
	else
		start_workload_cmd "$h" setpriv --reuid="$user" --regid="$user" --clear-groups \
			"$prog" "$@"
	fi
}

start_workload() {
	start_workload_as - "$@"
}

# wl_kill H [SIGNAL]: kill the workload (default SIGKILL) and reap it quietly.
wl_kill() {
	local pid=${WL_PID[$1]:-}
	[ -n "$pid" ] || return 0
	kill -"${2:-KILL}" "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	unset "WL_PID[$1]"
	return 0
}

wl_pid() {
	printf '%s' "${WL_PID[$1]}"
}

# wl HANDLE COMMAND: false (with the reply in REPLY) on "err" or timeout.
wl() {
	local h=$1 line all=
	shift
	printf '%s\n' "$*" >&"${WL_IN[$h]}" || {
		REPLY[$h]="write failed"
		return 1
	}
	while IFS= read -r -t 120 -u "${WL_OUT[$h]}" line; do
		all+="$line"$'\n'
		case "$line" in
		ok | "ok "*)
			REPLY[$h]=$line
			OUTPUT[$h]=$all
			return 0
			;;
		err*)
			REPLY[$h]=$line
			OUTPUT[$h]=$all
			return 1
			;;
		esac
	done
	REPLY[$h]="no answer to '$*'"
	OUTPUT[$h]=$all
	return 1
}

# wl_region H NAME KIND PAGES SEED: memctl maps region NAME and fills it with
# pattern SEED; its bounds in REGION_START and REGION_END. False (one TAP
# failure said) when memctl refuses.
wl_region() {
	local h=$1
	wl "$h" "alloc $2 $3 $4" || { not_ok "$h: map $4 pages ($2)" "${REPLY[$h]}"; return 1; }
	REGION_START=$(kv "${REPLY[$h]}" start)
	REGION_END=$(kv "${REPLY[$h]}" end)
	wl "$h" "write $2 $5" || { not_ok "$h: fill $2" "${REPLY[$h]}"; return 1; }
}

# kv "LINE" KEY: the value of the first KEY=value word in LINE.
kv() {
	local w
	for w in $1; do
		case "$w" in "$2="*)
			printf '%s' "${w#*=}"
			return 0
			;;
		esac
	done
	return 1
}

# proc_state PID: the one-letter state from /proc/PID/stat (R, S, T, t, Z...).
proc_state() {
	local s
	s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	s=${s##*) }
	printf '%s' "${s%% *}"
}

# wait_state PID STATES: wait up to 5 s for the process to be in one of STATES.
wait_state() {
	local i s
	for i in $(seq 1 50); do
		s=$(proc_state "$1") || return 1
		case "$2" in *"$s"*) return 0 ;; esac
		sleep 0.1
	done
	return 1
}

# dump_stopped PID START END FILE: memdump of [START, END) of PID into FILE,
# taken while PID is stopped (one moment's memory); PID runs on after.
dump_stopped() {
	kill -STOP "$1"
	wait_state "$1" T
	"$WL/memdump" "$@" 2>/dev/null
	kill -CONT "$1"
}

# pages_equal A B: cmp, with the first differing offsets on failure.
files_equal() {
	if cmp -s "$1" "$2"; then
		return 0
	fi
	echo "files differ: $1 $2 (sizes $(stat -c %s "$1" 2>/dev/null) $(stat -c %s "$2" 2>/dev/null))"
	cmp -l "$1" "$2" 2>&1 | head -n 5 | awk '{printf "  byte %d (0x%x): %s vs %s (octal)\n", $1-1, $1-1, $2, $3}'
	return 1
}

# hex ADDR -> 0x-prefixed lowercase; dec: printf arithmetic on hex strings.
hex() {
	printf '0x%x' "$(($1))"
}

_cleanup() {
	local rc=$? h
	for h in "${!WL_PID[@]}"; do
		kill -KILL "${WL_PID[$h]}" 2>/dev/null
		wait "${WL_PID[$h]}" 2>/dev/null
	done
	if [ -n "$DAEMON_PID" ]; then
		kill -TERM "$DAEMON_PID" 2>/dev/null
		sleep 0.5
		kill -KILL "$DAEMON_PID" 2>/dev/null
	fi
	wait 2>/dev/null
	[ $rc = 77 ] && exit 77
	if [ $_tap_n = 0 ]; then
		not_ok "$TEST_NAME ran at least one test" "exit status $rc"
	fi
	echo "1..$_tap_n"
	if [ $_tap_failed -gt 0 ] || [ $rc != 0 ]; then
		local keep=$TOP/tests/artifacts/$TEST_NAME
		rm -rf "$keep"
		mkdir -p "$keep"
		find "$T" -mindepth 1 -maxdepth 1 ! -type p -exec cp -a {} "$keep/" \; 2>/dev/null
		diag "kept $T in ${keep#$TOP/}"
		rm -rf "$T"
		exit 1
	fi
	rm -rf "$T"
	exit 0
}
trap _cleanup EXIT
trap 'exit 1' INT TERM
