#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Rolling a live process back: the lab array checkpointed three times (1s, 2s,
# last quarter 3s) is restored to each checkpoint in turn, and the process's
# memory, read independently from /proc/PID/mem, must equal that checkpoint
# exactly. A second restore of the same checkpoint writes nothing. A region
# that is gone is refused unless --range narrows the restore; another user
# may not restore into root's process.
. "$(dirname "$0")/lib.sh"
require_root
require_built "$WL/lab" "$WL/memdump" "$WL/memctl"

PAGES=256
start_daemon || exit 1
start_workload lab lab $PAGES || exit 1
pid=$(wl_pid lab)
start=$(kv "${READY[lab]}" start)
end=$(kv "${READY[lab]}" end)

expected() { # FILE V [QUARTER_V]
	perl -e 'my ($n, $v, $q) = @ARGV; my $all = $n * 1024;
		my $rest = defined $q ? $all / 4 : 0;
		print pack("l<", $v) x ($all - $rest), pack("l<", $q // 0) x $rest;' \
		$PAGES "$2" ${3:+"$3"} >"$1"
}
expected "$T/ones" 1
expected "$T/twos" 2
expected "$T/quarter" 2 3

wl lab "fill 1"
checkpoint "$pid" --range "$start-$end"
a=$CP
wl lab "fill 2"
checkpoint "$pid" --range "$start-$end"
b=$CP
wl lab "fill 3 $((PAGES * 3 / 4)) $((PAGES / 4))"
checkpoint "$pid" --range "$start-$end"
c=$CP
if [ -n "$a" ] && [ -n "$b" ] && [ -n "$c" ]; then
	ok "three checkpoints of the array ($a $b $c)"
else
	not_ok "three checkpoints of the array" "$(cat "$T/ctl.err")"
	exit 1
fi

# restore_check NAME ID EXPECTED [WANT_WRITTEN]
restore_check() {
	local r written
	r=$(ctl_json restore "$2" --pid "$pid")
	if [ -z "$r" ]; then
		not_ok "$1: restore $2" "$(cat "$T/ctl.err")"
		return 1
	fi
	dump_stopped "$pid" "$start" "$end" "$T/mem-$2"
	check "$1: memory equals checkpoint $2" files_equal "$T/mem-$2" "$3"
	written=$(jq -r .pages_written <<<"$r")
	if [ $# -ge 4 ]; then
		is "$1: pages written" "$written" "$4"
	fi
}

# From 3/4 2s + 1/4 3s back to all 1s: every page differs.
restore_check "back to ones" "$a" "$T/ones" $PAGES
restore_check "ones again writes nothing" "$a" "$T/ones" 0
restore_check "forward to quarter" "$c" "$T/quarter" $PAGES
# quarter -> twos: only the last quarter differs.
restore_check "back to twos" "$b" "$T/twos" $((PAGES / 4))
# The process itself still runs and sees the restored values.
wl lab "fill 3 $((PAGES * 3 / 4)) $((PAGES / 4))" && ok "the process runs on after restores" ||
	not_ok "the process runs on after restores" "${REPLY[lab]}"

# Tracked, a rollback compares only what changed: the pages that differ
# between the checkpoint and the newest one, plus those written since.
check "track the lab" ctl track "$pid"
wl lab "fill 5"
checkpoint "$pid" --range "$start-$end"
t1=$CP
wl lab "fill 6 $((PAGES * 3 / 4)) $((PAGES / 4))"
checkpoint "$pid" --range "$start-$end"
t2=$CP
wl lab "fill 7"
r=$(ctl_json restore "$t2" --pid "$pid")
is "tracked rollback uses the tracking" "$(jq -r .tracked <<<"$r")" true
cmpd=$(jq -r .pages_compared <<<"$r")
if [ "${cmpd:-999999}" -le $((PAGES + 2)) ] && [ "$(jq -r .pages_written <<<"$r")" = $PAGES ]; then
	ok "tracked rollback after every page changed compares $cmpd pages, writes $PAGES"
else
	not_ok "tracked rollback after every page changed" "$r"
fi
expected "$T/fq" 5 6
dump_stopped "$pid" "$start" "$end" "$T/mem-t2"
check "tracked rollback: memory equals the checkpoint" files_equal "$T/mem-t2" "$T/fq"
# The rollback's own writes count as written since t2: a checkpoint now, and
# then back to t1 compares only the quarter that differs between them.
checkpoint "$pid" --range "$start-$end"
t2b=$CP
r=$(ctl_json restore "$t1" --pid "$pid")
cmpd=$(jq -r .pages_compared <<<"$r")
if [ "$(jq -r .tracked <<<"$r")" = true ] && [ "${cmpd:-999}" -le $((PAGES / 4 + 2)) ]; then
	ok "rollback to the one before compares only what changed ($cmpd pages)"
else
	not_ok "rollback to the one before compares only what changed" "$r"
fi
expected "$T/fives" 5
dump_stopped "$pid" "$start" "$end" "$T/mem-t1"
check "second tracked rollback: memory equals the checkpoint" files_equal "$T/mem-t1" "$T/fives"
# The next checkpoint must see the restored pages as written.
checkpoint "$pid" --range "$start-$end"
t3=$CP
ctl export "$t3" --out "$T/exp-t3" --range "$start-$end" >/dev/null
check "the checkpoint after a rollback holds the restored memory" files_equal "$T/exp-t3" "$T/fives"

# A region that no longer exists is refused; --range narrows to what exists.
start_workload mc memctl || exit 1
mpid=$(wl_pid mc)
wl mc "alloc keep anon 16" && ks=$(kv "${REPLY[mc]}" start) && ke=$(kv "${REPLY[mc]}" end)
wl mc "alloc gone anon 16"
wl mc "write keep 7"
wl mc "write gone 8"
full=$(ctl_json checkpoint "$mpid" | jq -er .id)
wl mc "write keep 9"
wl mc "unmap gone"
out=$(ctl restore "$full" --pid "$mpid" 2>&1)
rc=$?
if [ $rc != 0 ] && grep -q "not mapped\|changed shape" <<<"$out"; then
	ok "restore refuses a region that is gone: $(head -c 160 <<<"$out")"
else
	not_ok "restore refuses a region that is gone" "exit $rc" "$out"
fi
r=$(ctl_json restore "$full" --pid "$mpid" --range "$ks-$ke")
if [ -n "$r" ] && wl mc "verify keep 7"; then
	ok "restore --range of what exists brings back the old content"
else
	not_ok "restore --range of what exists brings back the old content" \
		"$(cat "$T/ctl.err")" "${REPLY[mc]}"
fi

# --registers: a program checkpointed while it waits for a line (phase A),
# then sent on into pause() (phase B), answers lines again once its memory
# and registers are rolled back; with its memory alone it would not.
start_workload rg regs || exit 1
rpid=$(wl_pid rg)
wl rg "one" && [ "${REPLY[rg]}" = "ok phase=A got=one" ] ||
	not_ok "regs answers in phase A" "${REPLY[rg]}"
rcp=$(ctl_json checkpoint "$rpid" | jq -er .id)
wl rg "next"
is "regs went on to phase B" "${REPLY[rg]}" "ok phase=B"
r=$(ctl_json restore "$rcp" --pid "$rpid" --registers)
if [ -n "$r" ] && wl rg "two" && [ "${REPLY[rg]}" = "ok phase=A got=two" ]; then
	ok "restore --registers puts the process back where it was (phase A answers)"
else
	not_ok "restore --registers puts the process back where it was" "$r" "$(cat "$T/ctl.err")" \
		"reply: ${REPLY[rg]}"
fi
out=$(ctl restore "$rcp" --pid "$pid" --registers 2>&1)
[ $? != 0 ] && ok "--registers into another process's shape is refused ($(head -c 100 <<<"$out"))" ||
	not_ok "--registers into another process's shape is refused" "$out"

# Another user may not restore into root's process.
chmod 0777 "$T"
out=$(nctl restore "$a" --pid "$pid" 2>&1)
rc=$?
if [ $rc != 0 ] && grep -qi "permission\|no such checkpoint" <<<"$out"; then
	ok "uid 65534 may not restore into root's process"
else
	not_ok "uid 65534 may not restore into root's process" "exit $rc" "$out"
fi
stop_daemon
