#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# ELF core export: a checkpoint of stackdemo (main -> level_one -> level_two
# -> level_three, waiting in read()) exported with --format core is a core
# file gdb reads like the kernel's: the stack in order, a global only memory
# holds, the heap, every thread, the mapped files; readelf sees the notes.
# Then the same after an incremental checkpoint of a tracked process.
. "$(dirname "$0")/lib.sh"
require_root
require_built "$WL/stackdemo"
command -v gdb >/dev/null || skip_all "gdb is not installed"
command -v readelf >/dev/null || skip_all "readelf is not installed"

# in_read PID: wait until the main thread sits in read() (syscall 0), so its
# stack is the one the test expects and not still on its way there.
in_read() {
	local i
	for i in $(seq 1 500); do
		case "$(cat "/proc/$1/syscall" 2>/dev/null)" in "0 0x0 "*) return 0 ;; esac
		sleep 0.01
	done
	return 1
}

# export_core ID FILE: ckptctl export --format core, the reply in EXP
export_core() {
	EXP=$(ctl_json export "$1" --format core --out "$2")
	if [ $? != 0 ] || [ "$(jq -r .format <<<"$EXP")" != core ]; then
		not_ok "export $1 --format core" "$EXP" "$(cat "$T/ctl.err")"
		return 1
	fi
	ok "export $1 --format core"
}

# gdb_core FILE: gdb's answers, in GDB
gdb_core() {
	GDB=$(gdb -nx -batch -ex 'set debuginfod enabled off' -ex 'thread 1' -ex bt \
		-ex 'info threads' -ex 'print/x stackdemo_global' -ex 'print stackdemo_message' \
		-ex 'thread apply all bt' -ex 'info proc mappings' "$WL/stackdemo" "$1" 2>&1)
}

# bt_in_order: the first four functions of the main thread's backtrace
bt_in_order() {
	local got
	got=$(sed -n '/^\[Switching to thread 1/,/^  Id/p' <<<"$GDB" |
		grep -oE ' in [a-z_]+ \(|^#[0-9]+ +[a-z_]+ \(' | grep -oE '[a-z_]+ \($' |
		tr -d ' (' | grep -E '^(level_one|level_two|level_three|main)$' | tr '\n' ' ')
	is "gdb bt: level_three, level_two, level_one, main" "$got" "level_three level_two level_one main "
}

start_daemon || exit 1

# ---- one thread ----
start_workload sd stackdemo || exit 1
pid=$(wl_pid sd)
value=0x5eed$(printf '%04x' $((pid & 0xffff)))c0ffee42
wl sd "set $value" || not_ok "set the global" "${REPLY[sd]}"
in_read "$pid" || not_ok "stackdemo waits in read()"
checkpoint "$pid" || exit 1
export_core "$CP" "$T/core" || exit 1

size=$(stat -c %s "$T/core")
is "reply size is the file's size" "$(jq -r .size <<<"$EXP")" "$size"
nreg=$(ctl_json show "$CP" | jq -r '.regions | length')
is "one PT_LOAD per region" "$(readelf -lW "$T/core" | grep -c '^ *LOAD ')" "$nreg"
is "layout has one extent per region" "$(jq -r '.layout | length' <<<"$EXP")" "$nreg"
alloc=$(($(stat -c %b "$T/core") * $(stat -c %B "$T/core")))
if [ "$alloc" -lt "$size" ]; then
	ok "core is sparse ($alloc of $size bytes allocated)"
else
	not_ok "core is sparse" "$alloc bytes allocated, size $size"
fi

hdr=$(readelf -hW "$T/core")
grep -q 'Type: *CORE' <<<"$hdr" && grep -q 'Machine: *Advanced Micro Devices X86-64' <<<"$hdr" &&
	ok "readelf: ELF64 x86-64 core" || not_ok "readelf: ELF64 x86-64 core" "$hdr"
notes=$(readelf -nW "$T/core" | awk '/^  CORE/ {print $3}' | tr '\n' ' ')
is "readelf -n: notes in the kernel's order" "$notes" \
	"NT_PRSTATUS NT_PRPSINFO NT_AUXV NT_FILE NT_FPREGSET "

gdb_core "$T/core"
bt_in_order
is "gdb: stackdemo_global" "$(grep -oE '^\$1 = 0x[0-9a-f]+' <<<"$GDB")" "\$1 = $value"
is "gdb: stackdemo_message (heap)" "$(grep -oE '^\$2 = 0x[0-9a-f]+ ".*"' <<<"$GDB" |
	sed 's/.*"\(.*\)"/\1/')" "stackdemo $pid"
grep -qF "$(readlink -f "$WL/stackdemo")" <<<"$GDB" && grep -q 'libc.so' <<<"$GDB" &&
	ok "gdb: info proc mappings lists the mapped files (NT_FILE)" ||
	not_ok "gdb: info proc mappings lists the mapped files" "$GDB"
if grep -qE 'Cannot access memory|Failed to read|warning:' <<<"$GDB"; then
	not_ok "gdb reads the core without warnings" "$(grep -E 'Cannot|Failed|warning' <<<"$GDB")"
else
	ok "gdb reads the core without warnings"
fi
[ $_tap_failed = 0 ] || diag "$GDB"

# ---- incremental: a tracked process, the value changed, a delta ----
if ctl track "$pid" >"$T/track.out" 2>&1; then
	checkpoint "$pid" || exit 1
	value2=0xd0ddba11$(printf '%04x' $((pid & 0xffff)))77
	wl sd "set $value2" || not_ok "set the global again" "${REPLY[sd]}"
	in_read "$pid"
	checkpoint "$pid" || exit 1
	parent=$(ctl_json show "$CP" | jq -r '.checkpoint.parent // empty')
	diag "incremental checkpoint $CP (parent ${parent:-none})"
	export_core "$CP" "$T/core2" || exit 1
	gdb_core "$T/core2"
	bt_in_order
	is "gdb: stackdemo_global after the change" \
		"$(grep -oE '^\$1 = 0x[0-9a-f]+' <<<"$GDB")" "\$1 = $value2"
	ctl untrack "$pid" >/dev/null 2>&1
else
	not_ok "track $pid" "$(cat "$T/track.out")"
fi

# ---- several threads ----
start_workload mt stackdemo 4 || exit 1
mpid=$(wl_pid mt)
tids=$(kv "${READY[mt]}" tids)
in_read "$mpid" || not_ok "stackdemo (threads) waits in read()"
checkpoint "$mpid" || exit 1
export_core "$CP" "$T/core-mt" || exit 1
gdb_core "$T/core-mt"
bt_in_order
missing=
for t in ${tids//,/ }; do
	grep -q "(LWP $t)" <<<"$GDB" || missing+=" $t"
done
is "gdb: info threads lists all 5 threads" "$(grep -cE '^[* ] +[0-9]+ +Thread .*\(LWP [0-9]+\)' <<<"$GDB")" 5
is "gdb: every thread id is there" "${missing:-none}" none
is "gdb: the 4 workers wait in worker_wait" "$(grep -cE '^#[0-9]+ .*worker_wait \(' <<<"$GDB")" 4
is "readelf -n: one NT_PRSTATUS per thread" "$(readelf -nW "$T/core-mt" | grep -c NT_PRSTATUS)" 5
first=$(readelf -nW "$T/core-mt" | awk '/^  CORE/ {print $3; exit}')
is "readelf -n: the first note is NT_PRSTATUS" "$first" NT_PRSTATUS
[ $_tap_failed = 0 ] || diag "$GDB"

stop_daemon
