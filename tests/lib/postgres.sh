# SPDX-License-Identifier: LGPL-2.1-or-later
# postgres.sh: a PostgreSQL 15 server of a test's or a benchmark's own
# (Debian's postgresql-15), sourced by tests/integration and tests/bench.
# It runs as the postgres user in a temporary directory, on a Unix socket
# only (listen_addresses=''), and goes away with pg_stop.
#   pg_start DIR [SHARED_BUFFERS]  initdb + start; sets PG_PID (postmaster),
#                                  PG_DIR, PG_SOCK; 1 when it cannot
#   pg_bench ARGS...               pgbench on that server, as postgres
#   pg_psql SQL                    one statement, its rows unaligned
#   pg_stop                        fast shutdown (then SIGKILL), DIR removed
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
PG_PID= PG_DIR= PG_SOCK=

pg_available() {
	[ -x "$PG_BIN/postgres" ] && [ -x "$PG_BIN/pgbench" ] && id postgres >/dev/null 2>&1
}

pg_start() { # DIR [SHARED_BUFFERS]
	PG_DIR=$1
	PG_SOCK=$PG_DIR/sock
	mkdir -p "$PG_DIR/sock"
	chmod a+x "$(dirname "$PG_DIR")" # mktemp's 0700: postgres must get through
	chown -R postgres: "$PG_DIR"
	chmod 0700 "$PG_DIR"
	runuser -u postgres -- "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres --auth=trust \
		-E UTF8 --locale=C >"$PG_DIR/initdb.log" 2>&1 || return 1
	cat >>"$PG_DIR/data/postgresql.conf" <<-CONF
		listen_addresses = ''
		unix_socket_directories = '$PG_SOCK'
		shared_buffers = ${2:-256MB}
		max_connections = 40
		fsync = off
		synchronous_commit = off
		full_page_writes = off
		logging_collector = off
	CONF
	runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 \
		start >/dev/null 2>&1 || return 1
	PG_PID=$(head -n 1 "$PG_DIR/data/postmaster.pid")
	[ -n "$PG_PID" ] && kill -0 "$PG_PID" 2>/dev/null
}

pg_bench() {
	runuser -u postgres -- "$PG_BIN/pgbench" -h "$PG_SOCK" -U postgres "$@"
}

pg_psql() {
	runuser -u postgres -- /usr/bin/psql -h "$PG_SOCK" -U postgres -XAtq -c "$1" postgres
}

pg_stop() {
	[ -n "$PG_DIR" ] || return 0
	if [ -n "$PG_PID" ] && kill -0 "$PG_PID" 2>/dev/null; then
		runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w -t 30 stop \
			>/dev/null 2>&1 || kill -KILL "$PG_PID" 2>/dev/null
	fi
	rm -rf "$PG_DIR"
	PG_PID= PG_DIR= PG_SOCK=
}
