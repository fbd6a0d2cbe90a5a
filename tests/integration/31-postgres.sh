#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# A real service as one group: a PostgreSQL 15 server of the test's own
# (tests/lib/postgres.sh: the postgres user, a temporary directory, a Unix
# socket only, shared_buffers=64MB) under pgbench's default read-write mix.
# `ckptctl track --tree` tracks the postmaster and every process it forks;
# at each round the whole server is stopped (the postmaster first, so that
# it forks no more, then every child), one group checkpoint is taken, and
# every member's checkpoint must equal that member's memory at the frozen
# moment (lib-oracle.sh: /proc/PID/mem, read without populating it),
# shared buffers included. pgbench, run again and again meanwhile (its
# backends forked and gone between rounds), must never fail.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-oracle.sh"
. "$TOP/tests/lib/postgres.sh"
require_root
require_built "$WL/memdump"
pg_available || skip_all "PostgreSQL 15 missing (make deps installs postgresql-15)"
trap '_rc=$?; pg_stop; (exit $_rc); _cleanup' EXIT

if ! pg_start "$T/pg" 64MB; then
	not_ok "the server starts" "$(tail -n 5 "$T/pg/server.log" "$T/pg/initdb.log" 2>/dev/null)"
	exit 1
fi
ok "the server starts (postmaster $PG_PID)"
check "pgbench -i" pg_bench -i -q -s 2 postgres
start_daemon || exit 1
tj=$(ctl_json track --tree "$PG_PID")
n=$(jq -r .members <<<"$tj" 2>/dev/null)
if [ "${n:-0}" -ge 5 ]; then
	ok "track --tree holds the postmaster and its $((n - 1)) children"
else
	not_ok "track --tree holds the postmaster and its children" "$tj" "$(cat "$T/ctl.err")"
fi

# pgbench in runs of 3 s while the rounds go on: its backends come and go
# between checkpoints. A run that fails is recorded.
touch "$T/bench.on"
(
	while [ -e "$T/bench.on" ]; do
		pg_bench -c 4 -j 2 -T 3 postgres >>"$T/pgbench.out" 2>&1 || echo "run failed" >>"$T/pgbench.fail"
	done
) &
BENCH=$!

# stop_server: the postmaster, then its children, until none is new.
# Sets STOPPED (the pids, sorted).
stop_server() {
	local pid new=1
	STOPPED=("$PG_PID")
	kill -STOP "$PG_PID"
	wait_state "$PG_PID" T
	while [ $new = 1 ]; do
		new=0
		for pid in $(cat "/proc/$PG_PID/task/"*/children 2>/dev/null); do
			case " ${STOPPED[*]} " in *" $pid "*) continue ;; esac
			kill -STOP "$pid" 2>/dev/null || continue
			wait_state "$pid" T || continue
			STOPPED+=("$pid")
			new=1
		done
	done
	mapfile -t STOPPED < <(printf '%s\n' "${STOPPED[@]}" | sort -n)
}

cont_server() {
	local pid
	for pid in "${STOPPED[@]}"; do kill -CONT "$pid" 2>/dev/null; done
}

round() { # LABEL
	local label=$1 gj got
	stop_server
	gj=$(ctl_json checkpoint --tree "$PG_PID")
	GJ=$gj
	if ! jq -e .id <<<"$gj" >/dev/null 2>&1; then
		cont_server
		not_ok "$label: group checkpoint" "$gj" "$(cat "$T/ctl.err")"
		return 1
	fi
	mapfile -t got < <(jq -r '.members[] | select(.id != null) | .pid' <<<"$gj" | sort -n)
	is "$label: the group holds every process of the server (${#STOPPED[@]})" "${got[*]}" "${STOPPED[*]}"
	compare_group "$gj" "${STOPPED[@]}"
	local rc=$?
	cont_server
	if [ $rc = 0 ]; then
		ok "$label: every member's checkpoint equals its memory at the frozen moment (read $(jq .pages_read <<<"$gj") pages, pause $(jq .pause_ms <<<"$gj") ms)"
	else
		not_ok "$label: every member's checkpoint equals its memory at the frozen moment" "${ORACLE_DIAG[@]}"
	fi
}

sleep 3
round "round 1 (under pgbench)"
for r in 2 3 4; do
	sleep 2
	round "round $r (under pgbench)"
done
inc=$(jq '[.members[] | select(.incremental == true)] | length' <<<"$GJ")
all=$(jq '.members | length' <<<"$GJ")
[ "$inc" -ge 1 ] && ok "round 4: $inc of $all members read incrementally" ||
	not_ok "round 4: members read incrementally" "$GJ"

rm -f "$T/bench.on"
wait "$BENCH"
runs=$(grep -c '^tps' "$T/pgbench.out")
if [ ! -e "$T/pgbench.fail" ] && [ "$runs" -ge 2 ]; then
	ok "pgbench ran through the checkpoints ($runs runs, the last $(grep '^tps' "$T/pgbench.out" | tail -n 1))"
else
	not_ok "pgbench ran through the checkpoints" "$runs runs" "$(tail -n 5 "$T/pgbench.out")"
fi
check "verify the store" ctl verify
