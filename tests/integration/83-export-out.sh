#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Where an export goes: ckptctl opens --out itself (or takes its standard
# output for "-") and passes the descriptor; the daemon writes a regular file
# at offsets (holes sparse), /dev/null as a sink, a pipe in order (holes as
# zeroes), and refuses what it cannot write as promised, saying why.
. "$(dirname "$0")/lib.sh"
require_root
require_built "$WL/lab"

start_daemon || exit 1
start_workload lab lab 16 || exit 1
pid=$(wl_pid lab)
s=$(kv "${READY[lab]}" start)
e=$(kv "${READY[lab]}" end)
wl lab "fill 0"
wl lab "fill 7 12 4" # 12 zero pages (holes), then 4 of data
id=$(ctl_json checkpoint "$pid" | jq -r '.id // empty')
[ -n "$id" ] && ok "checkpoint $id" || not_ok "checkpoint" "$(cat "$T/ctl.err")"

ctl export "$id" --out "$T/file.bin" --range "$s-$e" >/dev/null 2>"$T/err"
is "export to a file: 64 KiB" "$(stat -c %s "$T/file.bin" 2>/dev/null)" 65536

# /dev/null: a throwaway sink, raw and core
check "export --out /dev/null (raw) succeeds" ctl export "$id" --out /dev/null --range "$s-$e"
check "export --out /dev/null (core) succeeds" ctl export "$id" --out /dev/null --format core

# --out - into a pipe: the same bytes, written in order; ckptctl's own words
# go to stderr
ctl export "$id" --out - --range "$s-$e" 2>"$T/pipe.err" | cat >"$T/pipe.bin"
check "export --out - into a pipe: the same bytes as --out FILE" files_equal "$T/pipe.bin" "$T/file.bin"
case "$(cat "$T/pipe.err")" in
*"to standard output (raw): 64.0 KiB, 4 pages"*) ok "export --out -: the summary is on stderr" ;;
*) not_ok "export --out -: the summary is on stderr" "$(cat "$T/pipe.err")" ;;
esac
"$CKPTCTL" --socket "$T/sock" --json export "$id" --out - --range "$s-$e" 2>"$T/pipe.json" | cat >"$T/pipe2.bin"
check "export --json --out -: the same bytes" files_equal "$T/pipe2.bin" "$T/file.bin"
is "export --json --out -: the reply on stderr" "$(jq -r .size "$T/pipe.json" 2>/dev/null)" 65536

# --out - with standard output a regular file ('>')
ctl export "$id" --out - --range "$s-$e" >"$T/redir.bin" 2>"$T/err"
check "export --out - > FILE: the same bytes" files_equal "$T/redir.bin" "$T/file.bin"

# --out - with standard output open with O_APPEND ('>>'): refused, file kept
printf 'kept\n' >"$T/append.bin"
if ctl export "$id" --out - --range "$s-$e" >>"$T/append.bin" 2>"$T/append.err"; then
	not_ok "export --out - >> FILE is refused" "it succeeded: size $(stat -c %s "$T/append.bin")"
else
	case "$(cat "$T/append.err")" in
	*O_APPEND*) ok "export --out - >> FILE is refused: $(cat "$T/append.err")" ;;
	*) not_ok "export --out - >> FILE: the error names O_APPEND" "$(cat "$T/append.err")" ;;
	esac
fi
is "export --out - >> FILE: the file is left as it was" "$(cat "$T/append.bin")" kept

# a core file cannot go to a pipe: refused, saying so
if ctl export "$id" --out - --format core 2>"$T/core.err" | cat >/dev/null && [ "${PIPESTATUS[0]}" = 0 ]; then
	not_ok "core export into a pipe is refused" "it succeeded"
else
	case "$(cat "$T/core.err")" in
	*pipe*) ok "core export into a pipe is refused: $(cat "$T/core.err")" ;;
	*) not_ok "core export into a pipe: the error says why" "$(cat "$T/core.err")" ;;
	esac
fi

# a file named "-" is not created
[ -e ./- ] || [ -e "$T/-" ] && not_ok "no file named '-' is created" || ok "no file named '-' is created"

daemon_alive && ok "ckptd still runs" || not_ok "ckptd still runs"
stop_daemon
