#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The checkpoint lab's scenario: an int array filled with 1s, checkpoint;
# filled with 2s, checkpoint; last quarter 3s, checkpoint; then one checkpoint
# of all of user space (0..0x7ffffffff000), which must skip what is unmapped.
# Every export of the array's range must equal the bytes built here.
. "$(dirname "$0")/lib.sh"
require_root
require_built "$WL/lab" "$WL/memdump"

PAGES=64
start_daemon || exit 1
start_workload lab lab $PAGES || exit 1
pid=$(wl_pid lab)
start=$(kv "${READY[lab]}" start)
end=$(kv "${READY[lab]}" end)
is "array is $PAGES pages" "$(((end - start) / 4096))" $PAGES

# expected FILE V [QUARTER_V]: the array's bytes, built independently.
expected() {
	perl -e 'my ($n, $v, $q) = @ARGV; my $all = $n * 1024;
		my $rest = defined $q ? $all / 4 : 0;
		print pack("l<", $v) x ($all - $rest), pack("l<", $q // 0) x $rest;' \
		$PAGES "$2" ${3:+"$3"} >"$1"
}

export_check() { # NAME ID EXPECTED
	local got=$T/export-$2.bin
	if ! ctl export "$2" --out "$got" --range "$start-$end" >"$T/export.out" 2>&1; then
		not_ok "$1: export $2 --range $start-$end" "$(cat "$T/export.out")"
		return 1
	fi
	check "$1: export of $2 equals the expected bytes" files_equal "$got" "$3"
}

wl lab "fill 1" || not_ok "fill 1" "${REPLY[lab]}"
checkpoint "$pid" --range "$start-$end" && ok "ones: checkpoint $CP"
cp1=$CP
is "ones: pages = $PAGES" "$(jq -r .pages <<<"$CPJ")" $PAGES
is "ones: nothing skipped inside the array" "$(jq -r '.skipped | length' <<<"$CPJ")" 0

wl lab "fill 2" || not_ok "fill 2" "${REPLY[lab]}"
checkpoint "$pid" --range "$start-$end" && ok "twos: checkpoint $CP"
cp2=$CP

wl lab "fill 3 $((PAGES * 3 / 4)) $((PAGES / 4))" || not_ok "quarter 3" "${REPLY[lab]}"
checkpoint "$pid" --range "$start-$end" && ok "quarter: checkpoint $CP"
cp3=$CP

checkpoint "$pid" --range "0x0-0x7ffffffff000" && ok "user space: checkpoint $CP"
cp4=$CP
nskip=$(jq -r '.skipped | length' <<<"$CPJ")
if [ "${nskip:-0}" -gt 0 ]; then
	ok "user space: reports $nskip skipped unmapped parts"
else
	not_ok "user space: reports skipped unmapped parts" "$CPJ"
fi
# The skipped parts must not overlap the array, and must start at 0 (page 0
# is never mapped).
overlap=$(jq -r --arg s "$start" --arg e "$end" '
	def n: ltrimstr("0x") | explode | reduce .[] as $c (0;
		. * 16 + (if $c >= 97 then $c - 87 elif $c >= 65 then $c - 55 else $c - 48 end));
	[.skipped[] | select((.start | n) < ($e | n) and (.end | n) > ($s | n))] | length' <<<"$CPJ")
is "user space: no skipped part overlaps the array" "$overlap" 0
is "user space: the first skipped part starts at 0" \
	"$(jq -r '.skipped[0].start' <<<"$CPJ" | sed 's/^0x0*$/0x0/')" 0x0
# The address space has a few dozen pages at least beyond the array.
if [ "$(jq -r .pages <<<"$CPJ")" -gt $PAGES ]; then
	ok "user space: holds more than the array"
else
	not_ok "user space: holds more than the array" "$CPJ"
fi

expected "$T/exp1" 1
expected "$T/exp2" 2
expected "$T/exp3" 2 3
export_check "ones" "$cp1" "$T/exp1"
export_check "twos" "$cp2" "$T/exp2"
export_check "quarter" "$cp3" "$T/exp3"
export_check "user space" "$cp4" "$T/exp3"

# The export of the big checkpoint equals the live memory too (lab is idle).
"$WL/memdump" "$pid" "$start" "$end" "$T/mem.bin" 2>"$T/memdump.err"
check "user space: export equals /proc/PID/mem" files_equal "$T/export-$cp4.bin" "$T/mem.bin"

# export --json describes the file it wrote.
ej=$(ctl_json export "$cp3" --out "$T/e.bin" --range "$start-$end")
is "export --json: size" "$(jq -r .size <<<"$ej")" $((end - start))
is "export --json: one extent at offset 0" "$(jq -c '[.layout[] | .offset]' <<<"$ej")" "[0]"
is "export --json: written pages" "$(jq '[.written[].pages] | add' <<<"$ej")" $PAGES

# list knows all four, and show agrees with the reply of checkpoint.
is "list has 4 checkpoints" "$(ctl_json list | jq '.checkpoints | length')" 4
is "list PID has 4 checkpoints" "$(ctl_json list "$pid" | jq '.checkpoints | length')" 4
sj=$(ctl_json show "$cp1")
is "show: id" "$(jq -r .checkpoint.id <<<"$sj")" "$cp1"
is "show: pid" "$(jq -r .checkpoint.pid <<<"$sj")" "$pid"
is "show: range is the array" "$(jq -c '[.ranges[] | [.start, .end]]' <<<"$sj")" \
	"[[\"$start\",\"$end\"]]"
check "human list works" ctl list
check "human show works" ctl show "$cp4"

wl lab exit
stop_daemon
