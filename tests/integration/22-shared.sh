#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Shared memory that only the tracked process maps is tracked exactly: a
# 16 MiB MAP_SHARED|MAP_ANONYMOUS region and a 16 MiB SysV segment, random
# pages written between checkpoints. Every checkpoint is compared with
# /proc/PID/mem at the frozen moment (lib-oracle.sh: any page missed fails),
# and reads no more than the pages written plus a small slack. Written pages
# that left the page tables (MADV_PAGEOUT) still count. A child mapping the
# segments (or one that wrote them and exited) makes them read whole, still
# exact, and `show` says why; once it is gone they are exact again. A memfd
# is always read whole: its descriptor can be written.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-oracle.sh"
require_root
require_bpf
require_built "$WL/memctl" "$WL/memdump"

shopt -s extglob
PAGES=4096 # 16 MiB each
STEP=41    # 1% of a region
SLACK=64   # the process's own bookkeeping (stack, stdio, data segments)

do_wl() {
	local c
	for c in "$@"; do
		wl s "$c" || {
			not_ok "memctl: '$c'" "${REPLY[s]}"
			return 1
		}
	done
}

# region_track ID START: "TRACKING (REASON)" of the region at START in show.
region_track() {
	ctl_json show "$1" | jq -r --arg s "$2" '.regions[] | select(.start == $s)
		| "\(.tracking)\(if .tracking_reason then " (\(.tracking_reason))" else "" end)"'
}

# tracked LABEL WANT_SH WANT_SV: how the last checkpoint tracked the shared
# anonymous region and the SysV segment (a glob each).
tracked() {
	local a b
	a=$(region_track "$CP_ID" "$SH")
	b=$(region_track "$CP_ID" "$SV")
	# shellcheck disable=SC2053
	if [[ "$a" == $2 && "$b" == $3 ]]; then
		ok "$1: shared anonymous '$a', SysV '$b'"
	else
		not_ok "$1: shared anonymous '$a' (want $2), SysV '$b' (want $3)" \
			"$(ctl_json show "$CP_ID" | jq -c '.regions[] | select(.flags | index("shared"))')"
	fi
}

# reads LABEL MIN MAX: the last checkpoint read MIN..MAX pages.
reads() {
	if [ "$CP_READ" -ge "$2" ] && [ "$CP_READ" -le "$3" ]; then
		ok "$1: read $CP_READ pages ($2..$3)"
	else
		not_ok "$1: read $CP_READ pages ($2..$3)" "pages=$CP_PAGES incremental=$CP_INCR"
	fi
}

private_workloads
start_daemon || exit 1
start_workload s "$MEMCTL" || exit 1
pid=$(wl_pid s)
# The segments are born well after the process: a process whose maps the
# daemon may not read (pid 1 of a sandbox) can then be ruled out by age.
sleep 1.1
do_wl "alloc sh shared $PAGES" "write sh 1" "alloc sv sysv $PAGES" "write sv 2" \
	"alloc mf memfd 16" "write mf 3" || exit 1
SH=$(awk '/\/dev\/zero \(deleted\)/ { split($1, a, "-"); print "0x" a[1] }' "/proc/$pid/maps")
SV=$(awk '/\/SYSV[0-9a-f]* \(deleted\)/ { split($1, a, "-"); print "0x" a[1] }' "/proc/$pid/maps")
MF=$(awk '/\/memfd:mf/ { split($1, a, "-"); print "0x" a[1] }' "/proc/$pid/maps")
tj=$(ctl_json track "$pid")
is "track $pid" "$(jq -r .tracking <<<"$tj")" uffd-wp
# A SysV stamp (attach and detach times, in seconds) is a proof only once
# its second is over.
sleep 1.1

oracle "$pid" "baseline"
tracked "baseline (first checkpoint: read whole)" "scan (shared: mappers not proven before)" \
	"scan (shared: mappers not proven before)"
is "a memfd is read whole, and show says why" "$(region_track "$CP_ID" "$MF")" "scan (memfd)"

# 1% of each region written between checkpoints.
for round in 1 2 3 4; do
	do_wl "scatter sh $((10 + round)) $STEP" "scatter sv $((20 + round)) $STEP" || break
	oracle "$pid" "round $round: $STEP random pages of each written"
	tracked "round $round" "uffd-wp (shared: only mapper)" "uffd-wp (shared: only mapper)"
	reads "round $round" $((2 * STEP)) $((2 * STEP + SLACK))
done
oracle "$pid" "nothing written"
reads "nothing written" 0 "$SLACK"

# Written pages that the kernel takes out of the page tables (reclaim does
# so; MADV_PAGEOUT asks for it, and no BPF event says so). Written through
# /proc/PID/mem, as a debugger would, they fault nothing either: only their
# empty page table entries tell.
do_wl "memwrite sh 30 100 8" "memwrite sv 31 200 8" "madvise sh pageout 100 8" \
	"madvise sv pageout 200 8" "write sh 32 300 4"
oracle "$pid" "written pages paged out"
tracked "paged out" "uffd-wp (shared: only mapper)" "uffd-wp (shared: only mapper)"
reads "paged out" 20 $((20 + SLACK))

# A child writes and exits before the checkpoint: its page tables were
# never write-protected, so the segments are read whole.
do_wl "forkwrite sh 40 500 5" "forkwrite sv 41 600 5"
oracle "$pid" "a child wrote and exited"
tracked "child wrote and exited" "scan (shared: forked since the last checkpoint)" \
	"scan (shared: attached or detached since the last checkpoint)"
reads "child wrote and exited" $((2 * PAGES)) $((2 * PAGES + SLACK))
sleep 1.1
oracle "$pid" "after the child: looked again"
do_wl "scatter sh 42 $STEP" "scatter sv 43 $STEP"
oracle "$pid" "after the child: 1% written"
tracked "after the child" "uffd-wp (shared: only mapper)" "uffd-wp (shared: only mapper)"
reads "after the child" $((2 * STEP)) $((2 * STEP + SLACK))

# A child that stays, mapping both: another mapper.
do_wl "fork sh 50" || exit 1
child=$(kv "${REPLY[s]}" child)
do_wl "fork sv 51"
child2=$(kv "${REPLY[s]}" child)
oracle "$pid" "children mapping the segments"
do_wl "scatter sh 52 $STEP" "scatter sv 53 $STEP"
oracle "$pid" "children mapping the segments, 1% written"
tracked "children mapping them" "scan (shared: other mapper pid @($child|$child2))" \
	"scan (shared: 3 attachments, not all of this process)"
reads "children mapping them" $((2 * PAGES)) $((2 * PAGES + SLACK))
kill -KILL "$child" "$child2"
sleep 1.1
oracle "$pid" "children gone: looked again"
do_wl "scatter sh 54 $STEP" "scatter sv 55 $STEP"
oracle "$pid" "children gone, 1% written"
tracked "children gone" "uffd-wp (shared: only mapper)" "uffd-wp (shared: only mapper)"
reads "children gone" $((2 * STEP)) $((2 * STEP + SLACK))

# The process answers, its memory intact.
do_wl "verify mf 3" &&
	ok "after every checkpoint the process answers, its memfd intact"
wl s exit
stop_daemon
