#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Incremental checkpoints are exactly right: one case per way memory can
# change between two checkpoints of a tracked process. For every checkpoint
# the process is stopped (SIGSTOP), checkpointed, and every region `show`
# lists is exported and compared with /proc/PID/mem read by memdump; any page
# the tracking missed fails. The checkpoints after the first must also be
# incremental: they read far fewer pages than the process holds.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-oracle.sh"
require_root
require_bpf
require_built "$WL/memctl" "$WL/memdump" "$WL/tc-mem"

# incremental LABEL CHANGED: the last checkpoint was incremental and read at
# most the CHANGED pages plus a little of the process's own bookkeeping
# (stack, stdio) and the writable data segments of the program and its
# libraries (private file mappings are read whole).
incremental() {
	local max=$(($2 + 64))
	if [ "$CP_INCR" = true ] && [ "$CP_READ" -le "$max" ]; then
		ok "$1: incremental, read $CP_READ pages (<= $max)"
	else
		not_ok "$1: incremental, read $CP_READ pages (<= $max)" \
			"incremental=$CP_INCR pages=$CP_PAGES pages_read=$CP_READ, $2 changed"
	fi
}

# rss_anon_kb PID: RssAnon of the process, in KiB (the shared zero page is
# not counted).
rss_anon_kb() {
	awk '/^RssAnon:/ { print $2 }' "/proc/$1/status"
}

# map_path PID NAME: the path of the file mapping whose name contains NAME.
map_path() {
	awk -v n="$2" '$6 ~ n { print $6; exit }' "/proc/$1/maps"
}

# do_wl H CMD...: run workload commands; a failing one is a failing test.
do_wl() {
	local h=$1 c
	shift
	for c in "$@"; do
		wl "$h" "$c" || {
			not_ok "$h: '$c'" "${REPLY[$h]}"
			return 1
		}
	done
}

# begin H PROG [SETUP...]: start a workload, run setup commands, track it and
# take the first checkpoint (the baseline, compared too). Sets PID.
begin() {
	local h=$1 prog=$2 tj mode
	shift 2
	start_workload "$h" "$prog" || return 1
	PID=$(wl_pid "$h")
	do_wl "$h" "$@" || return 1
	tj=$(ctl_json track "$PID")
	mode=$(jq -r .tracking <<<"$tj" 2>/dev/null)
	if [ "$mode" != uffd-wp ]; then
		not_ok "$h: track $PID with uffd-wp" "$tj" "$(cat "$T/ctl.err")"
		return 1
	fi
	oracle "$PID" "$h: baseline"
}

# ---- the cases --------------------------------------------------------------

private_workloads

# The oracle must not change what it observes: reading a stopped process's
# whole address space with memdump leaves its resident anonymous memory as it
# was, on kernels that allocate on a read fault as on those that map the zero
# page. (A plain read of /proc/PID/mem populates the 8 MiB hole.)
start_workload probe "$TCMEM" || exit 1
do_wl probe "alloc z anon 2048" "write z 1 0 16" || exit 1
ppid=$(wl_pid probe)
kill -STOP "$ppid"
rss0=$(rss_anon_kb "$ppid")
bad=0
while read -r range _; do
	"$WL/memdump" "$ppid" "${range%-*}" "${range#*-}" "$T/probe.bin" 2>/dev/null || true
done < <(grep -v -e '\[vsyscall\]' "/proc/$ppid/maps")
rss1=$(rss_anon_kb "$ppid")
kill -CONT "$ppid"
is "memdump of the whole address space populates nothing (RssAnon ${rss0} kB -> ${rss1} kB)" \
	"$rss1" "$rss0"
wl_kill probe

start_daemon || exit 1

# hooks_attached: the daemon's fault and syscall programs, as the kernel
# lists them (bpftool), are attached: "yes" or "no".
hooks_attached() {
	if bpftool perf show 2>/dev/null | grep "pid $DAEMON_PID " | grep -q 'sys_enter_mmap'; then
		echo yes
	else
		echo no
	fi
}
# (they cost every process on the machine: only while something is tracked)
is "hooks: fault and syscall programs detached while nothing is tracked" "$(hooks_attached)" no
is "hooks: status says so" "$(ctl_json status | jq -r .bpf_hooks_attached)" false
diag "THP: $(cat /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null || echo absent)"

# Threads writing, then a single page, then nothing at all.
# (Thread stacks are made before track: new mappings are read whole once.)
if begin thr "$MEMCTL" "alloc a anon 256" "write a 1" "threads a 4 1"; then
	do_wl thr "threads a 4 2"
	oracle "$PID" "threads: 4 threads rewrite 256 pages" && incremental "threads" 256
	do_wl thr "write a 3 100 1" "threads a 3 4" "write a 5 7 1"
	oracle "$PID" "threads: one page, then 3 threads, then one page again"
	do_wl thr "alloc b anon 32" "threads b 4 6"
	oracle "$PID" "threads: a region mapped after track, written by 4 threads" &&
		incremental "threads, new region" 32
	do_wl thr "write a 7 200 1"
	oracle "$PID" "threads: a single page" && incremental "single page" 1
	oracle "$PID" "threads: nothing changed" && incremental "nothing changed" 0
	do_wl thr "verify a 7 200 1" "verify a 4 0 7" "verify b 6"
	is "hooks: attached while a process is tracked" "$(hooks_attached)" yes
	wl_kill thr
	for _ in $(seq 1 50); do
		[ "$(hooks_attached)" = no ] && break
		sleep 0.1
	done
	is "hooks: detached again once the tracked process exited" "$(hooks_attached)" no
fi

# Pages written interval after interval are kept writable: no write-protect
# fault, read at every checkpoint whether written or not. What is stored is
# right either way, and every --keep-writable checkpoints (8 here) all pages
# are protected again, so pages no longer written are no longer read.
# proc_field PID KEY: KEY of PID in `status --json`.
proc_field() {
	ctl_json status | jq -r ".processes[] | select(.pid == $1) | .$2"
}
if begin hot "$MEMCTL" "alloc a anon 256" "write a 1"; then
	for s in 2 3 4; do
		do_wl hot "write a $s"
		oracle "$PID" "kept writable: all 256 pages rewritten ($s)"
	done
	w=$(proc_field "$PID" writable_pages)
	if [ "${w:-0}" -ge 256 ]; then
		ok "kept writable: $w pages left writable after 3 rewrites"
	else
		not_ok "kept writable: the 256 pages left writable after 3 rewrites" "writable_pages=$w"
	fi
	f0=$(proc_field "$PID" write_faults)
	do_wl hot "write a 5"
	f1=$(proc_field "$PID" write_faults)
	if [ $((f1 - f0)) -lt 64 ]; then
		ok "kept writable: 256 pages rewritten with $((f1 - f0)) write faults"
	else
		not_ok "kept writable: 256 pages rewritten with few write faults" "$((f1 - f0)) faults"
	fi
	oracle "$PID" "kept writable: rewritten without faults"
	do_wl hot "write a 6 100 8"
	oracle "$PID" "kept writable: 8 of them written"
	if [ "$CP_READ" -ge 256 ]; then
		ok "kept writable: the pages kept writable are read ($CP_READ)"
	else
		not_ok "kept writable: the pages kept writable are read" "read $CP_READ"
	fi
	do_wl hot "write a 7 200 1" "verify a 6 100 8" "verify a 5 0 100"
	protected=
	for i in $(seq 1 10); do
		oracle "$PID" "kept writable: nothing written ($i)" || break
		if [ "$CP_READ" -le 64 ]; then
			protected=$i
			break
		fi
	done
	if [ -n "$protected" ]; then
		ok "kept writable: protected again, not read, $protected checkpoint(s) after the last write"
	else
		not_ok "kept writable: protected again within 10 checkpoints" "read $CP_READ"
	fi
	do_wl hot "write a 8 50 1"
	oracle "$PID" "kept writable: one page written after" && incremental "kept writable, after" 1
	wl_kill hot
fi

# The kernel writes into the buffer (read(2) from a pipe): no user fault.
if begin kern "$MEMCTL" "alloc a anon 32" "write a 1"; then
	do_wl kern "pipe a 2"
	oracle "$PID" "kernel writes: read() into 32 pages" && incremental "kernel writes" 32
	do_wl kern "pipe a 3"
	oracle "$PID" "kernel writes: again after re-arming"
	wl_kill kern
fi

# Reading memory is not writing it: the process reads never-written pages
# and pages it wrote. Kernels differ here: some map the shared zero page on a
# read fault (not in RssAnon, not written), others allocate a zeroed page,
# which PAGEMAP_SCAN rightly reports written. What RssAnon grew by is what
# the kernel populated; those pages are read but, being zero, cost no store
# write.
if begin rd "$TCMEM" "alloc z anon 2048" "write z 1 0 16"; then
	rss0=$(rss_anon_kb "$PID")
	do_wl rd "sum z"
	populated=$((($(rss_anon_kb "$PID") - rss0) / 4))
	[ "$populated" -lt 0 ] && populated=0
	diag "reads: the kernel populated $populated pages on read faults"
	oracle "$PID" "reads: the process read 8 MiB, mostly never written" &&
		incremental "reads" "$populated"
	if [ "$CP_STORED" -le $((64 * 4096)) ]; then
		ok "reads: pages populated by reads store nothing ($CP_STORED bytes)"
	else
		not_ok "reads: pages populated by reads store nothing" "$CP_STORED bytes stored"
	fi
	do_wl rd "write z 2 1000 1"
	oracle "$PID" "reads: then one page written" && incremental "one write after reads" 1
	wl_kill rd
fi

# madvise makes pages zero (DONTNEED) or lazily zero (FREE) without a write.
if begin madv "$MEMCTL" "alloc a anon 64" "write a 1"; then
	do_wl madv "madvise a dontneed 10 20"
	oracle "$PID" "madvise: DONTNEED 20 pages" && incremental "DONTNEED" 20
	do_wl madv "madvise a free 40 10"
	oracle "$PID" "madvise: FREE 10 pages"
	do_wl madv "write a 2 12 3" "write a 3 42 2"
	oracle "$PID" "madvise: writes into DONTNEED and FREE pages" && incremental "after madvise" 5
	do_wl madv "madvise a dontneed 0 64"
	oracle "$PID" "madvise: DONTNEED the whole region"
	wl_kill madv
fi

# mprotect: rw -> r -> rw, written before and after; PROT_NONE and back.
if begin prot "$MEMCTL" "alloc a anon 32" "write a 1"; then
	do_wl prot "write a 2 0 2" "mprotect a r 0 16"
	oracle "$PID" "mprotect: written, then made read-only" && incremental "mprotect r" 2
	do_wl prot "mprotect a rw 0 16" "write a 3 0 4"
	oracle "$PID" "mprotect: writable again and written"
	do_wl prot "mprotect a none 8 8"
	oracle "$PID" "mprotect: PROT_NONE in the middle"
	do_wl prot "mprotect a rw 8 8" "write a 4 8 8"
	oracle "$PID" "mprotect: PROT_NONE back to rw and written" && incremental "mprotect rw" 8
	do_wl prot "write a 5 20 1"
	oracle "$PID" "mprotect: a later single write" && incremental "after mprotect" 1
	wl_kill prot
fi

# mremap: grow (in place or moved), shrink, and writes after it. g lies just
# below a (mmap goes top-down), so growing g moves it.
# region_start H NAME: the start of a memctl region, from "info".
region_start() {
	wl "$1" info >/dev/null && awk -v n="$2" '$1 == n { print $3 }' <<<"${OUTPUT[$1]}"
}
if begin mrem "$MEMCTL" "alloc a anon 16" "write a 1" "alloc g anon 16" "write g 2"; then
	a0=$(region_start mrem a) g0=$(region_start mrem g)
	do_wl mrem "mremap a 64"
	a1=$(kv "${REPLY[mrem]}" start)
	do_wl mrem "write a 3 16 8"
	oracle "$PID" "mremap: grown from 16 to 64 pages ($a0 -> $a1), new pages written"
	do_wl mrem "mremap a 8"
	oracle "$PID" "mremap: shrunk to 8 pages"
	do_wl mrem "write a 4 0 2" "mremap g 512"
	g1=$(kv "${REPLY[mrem]}" start)
	if [ "$g0" != "$g1" ]; then
		ok "mremap: g moved ($g0 -> $g1)"
	else
		diag "mremap: g grew in place at $g0"
	fi
	oracle "$PID" "mremap: a written, g grown to 512 pages" && incremental "mremap" 514
	do_wl mrem "write g 5 300 3" "verify a 4 0 2" "verify g 2 0 16"
	oracle "$PID" "mremap: writes into the grown region" && incremental "after mremap" 3
	do_wl mrem "mremap g 16" "write g 6 0 1"
	oracle "$PID" "mremap: g shrunk back and written" && incremental "after shrink" 1
	wl_kill mrem
fi

# munmap + mmap at the same address: new content and untouched zero pages.
if begin remap "$MEMCTL" "alloc a anon 32" "write a 1"; then
	do_wl remap "remap a" "write a 2 0 8"
	oracle "$PID" "remap: unmapped and mapped again, 8 of 32 pages written"
	do_wl remap "remap a"
	oracle "$PID" "remap: mapped again, nothing written (all zero)"
	do_wl remap "write a 3 30 1"
	oracle "$PID" "remap: one write after the remap" && incremental "after remap" 1
	wl_kill remap
fi

# fork: the child writes its copy-on-write pages; the parent is unchanged.
if begin fork "$MEMCTL" "alloc a anon 32" "write a 1"; then
	do_wl fork "fork a 2"
	child=$(kv "${REPLY[fork]}" child)
	sleep 0.2 # the child writes after fork() returns
	oracle "$PID" "fork: parent after the child's COW writes" && incremental "fork parent" 0
	do_wl fork "verify a 1"
	if [ -n "$child" ] && kill -0 "$child" 2>/dev/null; then
		oracle "$child" "fork: the child itself (untracked, full)"
	else
		not_ok "fork: child $child exists"
	fi
	do_wl fork "write a 3 0 2"
	oracle "$PID" "fork: the parent writes after the fork" && incremental "parent writes" 2
	wl_kill fork
fi

# Transparent huge pages: one word written per 2 MiB page.
if [ "$(cat /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null)" = "always madvise [never]" ] ||
	[ ! -e /sys/kernel/mm/transparent_hugepage/enabled ]; then
	skip "transparent huge pages" "THP is off on this kernel"
elif begin thp "$TCMEM" "thp pre 8" "poke pre 1 2097152"; then
	do_wl thp "hugeinfo pre"
	diag "huge pages before track: $(kv "${REPLY[thp]}" thp_kib) KiB"
	do_wl thp "poke pre 2 2097152"
	oracle "$PID" "THP: one word per huge page, region armed at track"
	incremental "THP written" 4
	do_wl thp "hugeinfo pre"
	diag "huge pages of that region after tracking: $(kv "${REPLY[thp]}" thp_kib) KiB"
	do_wl thp "thp post 8" "poke post 3 2097152" "hugeinfo post"
	kib=$(kv "${REPLY[thp]}" thp_kib)
	if [ "${kib:-0}" -gt 0 ]; then
		ok "THP: the kernel gave $kib KiB of huge pages to the new region"
	else
		diag "THP: no huge page was allocated for the new region (thp_kib=$kib)"
	fi
	oracle "$PID" "THP: a huge-page region mapped after track"
	do_wl thp "poke post 4 2097152" "poke pre 5 4096"
	oracle "$PID" "THP: rewritten, and one word per 4 KiB in the first"
	do_wl thp "poke post 6 1048576"
	oracle "$PID" "THP: two words per huge page" && incremental "THP, at worst whole huge pages" 2048
	wl_kill thp
fi

# MAP_SHARED anonymous memory and a memfd, written by the process and by a
# forked child sharing them.
if begin shm "$MEMCTL" "alloc s shared 64" "write s 1" "alloc m memfd 64" "write m 2" \
	"threads m 2 2"; then
	do_wl shm "write s 3 4 4" "threads m 2 4"
	oracle "$PID" "shared: the process writes shared anon and memfd" && incremental "shared, both regions read whole" 128
	do_wl shm "fork s 5" "fork m 6"
	oracle "$PID" "shared: a second process wrote both"
	do_wl shm "verify s 5" "verify m 6"
	wl_kill shm
fi

# brk growing (written or not) and shrinking.
if begin brk "$TCMEM" "brk 16 1"; then
	do_wl brk "brk 8 2"
	oracle "$PID" "brk: grown by 8 written pages" && incremental "brk grow" 8
	do_wl brk "brk -12"
	oracle "$PID" "brk: shrunk by 12 pages"
	do_wl brk "brk 8"
	oracle "$PID" "brk: grown again by 8 pages left zero"
	do_wl brk "brk 4 3" "brk -2" "brk 1"
	oracle "$PID" "brk: grown, shrunk and grown in one interval" && incremental "brk" 5
	wl_kill brk
fi

# The stack grows down into new pages.
if begin stk "$MEMCTL"; then
	do_wl stk "stack 512"
	oracle "$PID" "stack: grown by 512 KiB" && incremental "stack" 128
	do_wl stk "stack 64"
	oracle "$PID" "stack: used again (64 KiB)"
	wl_kill stk
fi

# A private file mapping: COW writes, and the file changed underneath the
# pages the process never wrote (they show the file's new bytes).
if begin fpriv "$MEMCTL" "alloc f file 32" "write f 1 0 4"; then
	path=$(map_path "$PID" "memctl-$PID-f[.]")
	do_wl fpriv "write f 2 8 8"
	oracle "$PID" "file private: COW writes" && incremental "file COW" 8
	do_wl fpriv "write f 3 0 1"
	# (pages never written are the file's, which can change: they may be read)
	oracle "$PID" "file private: written again" && incremental "file COW again" $((1 + 32))
	if [ -n "$path" ]; then
		head -c 8192 /dev/urandom | dd of="$path" bs=4096 seek=20 conv=notrunc status=none
		oracle "$PID" "file private: the file changed under unwritten pages"
	else
		not_ok "file private: the mapping's path" "$(cat "/proc/$PID/maps")"
	fi
	# Pages the process has its own copies of are read only when written;
	# only the file's own pages are read every time (12 of g, 20 of f).
	do_wl fpriv "alloc g file 512" "write g 4 0 500"
	oracle "$PID" "file private: 500 of 512 pages of a new mapping written"
	do_wl fpriv "write g 5 100 1"
	oracle "$PID" "file private: one of its own copies written" &&
		incremental "file private, own copies not read" $((1 + 12 + 20))
	gpath=$(map_path "$PID" "memctl-$PID-g[.]")
	if [ -n "$gpath" ]; then
		head -c 8192 /dev/urandom | dd of="$gpath" bs=4096 seek=505 conv=notrunc status=none
		oracle "$PID" "file private: the file changed under the 12 pages never written"
	fi
	do_wl fpriv "verify g 5 100 1" "verify g 4 0 100"
	wl_kill fpriv
fi

# A shared file mapping: writes through it, pwrite(2) into the file, and a
# second process writing the file.
if begin fshr "$TCMEM" "alloc f fileshared 32" "write f 1 0 4"; then
	path=$(map_path "$PID" "tc-mem-$PID-f[.]")
	do_wl fshr "write f 2 8 8"
	oracle "$PID" "file shared: writes through the mapping" && incremental "file shared, read whole" 32
	do_wl fshr "pwrite f 3 16 2"
	oracle "$PID" "file shared: pwrite into the file"
	if [ -n "$path" ]; then
		head -c 4096 /dev/urandom | dd of="$path" bs=4096 seek=30 conv=notrunc status=none
		oracle "$PID" "file shared: another process wrote the file"
	else
		not_ok "file shared: the mapping's path" "$(cat "/proc/$PID/maps")"
	fi
	do_wl fshr "verify f 3 16 2" "verify f 2 8 8"
	wl_kill fshr
fi

# The executable is replaced on disk after a checkpoint (a new inode, as a
# linker or a package upgrade does): exporting that checkpoint must still give
# the memory of its moment, or fail; never other bytes. Later checkpoints are
# right too.
cp "$WL/memctl" "$T/bin/memctl-exe"
if begin exe "$(realpath --relative-to="$WL" "$T/bin/memctl-exe")" "alloc a anon 8" "write a 1"; then
	first=$CP_ID
	cp "$WL/memdump" "$T/bin/memctl-exe.new"
	mv -f "$T/bin/memctl-exe.new" "$T/bin/memctl-exe"
	kill -STOP "$PID"
	wait_state "$PID" T
	# (only the file regions: the kernel may have written the process's
	# memory since, e.g. its rseq area when it was continued)
	if compare_checkpoint "$PID" "$first" '.flags | index("reference")'; then
		ok "executable replaced: checkpoint $first still exports the file regions' bytes"
	elif [ "${ORACLE_DIAG[0]#export of}" != "${ORACLE_DIAG[0]}" ]; then
		ok "executable replaced: export of checkpoint $first fails rather than lie"
	elif ctl_json export "$first" --out "$T/exe-holes.bin" | jq -e '[.holes[].reason] | any(test("replaced"))' >/dev/null; then
		ok "executable replaced: checkpoint $first exports the file regions as holes, and says so"
	else
		not_ok "executable replaced: checkpoint $first still exports the file regions' bytes" \
			"${ORACLE_DIAG[@]}"
	fi
	kill -CONT "$PID"
	do_wl exe "write a 2 0 1"
	oracle "$PID" "executable replaced: a new checkpoint"
	wl_kill exe
fi

# untrack: the process runs on, writes correctly, and checkpoints are full.
if begin untr "$MEMCTL" "alloc a anon 64" "write a 1"; then
	do_wl untr "write a 2 0 4"
	oracle "$PID" "untrack: tracked write" && incremental "before untrack" 4
	check "untrack $PID" ctl untrack "$PID"
	do_wl untr "write a 3 4 8" "threads a 2 4" "verify a 4"
	oracle "$PID" "untrack: after untrack"
	is "untrack: the checkpoint after untrack reads everything" "$CP_INCR" false
	tp=$(awk '/^TracerPid:/ {print $2}' "/proc/$PID/status")
	is "untrack: no tracer left" "$tp" 0
	wl_kill untr
fi

# The daemon dies (SIGKILL) while a process is tracked: the process goes on
# unaffected and its address space shows nothing left behind.
if start_workload kill "$MEMCTL" && do_wl kill "alloc a anon 64" "write a 1" "alloc b anon 8" \
	"threads a 3 1"; then
	PID=$(wl_pid kill)
	sed 's/ \+/ /g' "/proc/$PID/maps" >"$T/maps.before"
	if [ "$(ctl_json track "$PID" | jq -r .tracking)" = uffd-wp ]; then
		oracle "$PID" "daemon killed: baseline"
		do_wl kill "write a 2 0 8"
		oracle "$PID" "daemon killed: a tracked write" && incremental "daemon killed" 8
		do_wl kill "write a 3 8 8"
		kill -KILL "$DAEMON_PID"
		wait "$DAEMON_PID" 2>/dev/null
		DAEMON_PID=
		sleep 0.3
		if do_wl kill "write a 4 16 16" "threads a 3 5" "verify a 5" \
			"pipe b 6" "verify b 6"; then
			ok "daemon killed: the process writes and verifies its memory"
		fi
		if wait_state "$PID" SR; then
			ok "daemon killed: the process runs"
		else
			not_ok "daemon killed: the process runs" "state $(proc_state "$PID")"
		fi
		tp=$(awk '/^TracerPid:/ {print $2}' "/proc/$PID/status")
		is "daemon killed: no tracer left" "$tp" 0
		sed 's/ \+/ /g' "/proc/$PID/maps" >"$T/maps.after"
		if cmp -s "$T/maps.before" "$T/maps.after"; then
			ok "daemon killed: /proc/PID/maps as before track"
		else
			not_ok "daemon killed: /proc/PID/maps as before track" \
				"$(diff "$T/maps.before" "$T/maps.after")"
		fi
		if ls -l "/proc/$PID/fd" | grep -q userfaultfd; then
			not_ok "daemon killed: no userfaultfd left in the process" \
				"$(ls -l "/proc/$PID/fd")"
		else
			ok "daemon killed: no userfaultfd left in the process"
		fi
	else
		not_ok "daemon killed: track $PID" "$(cat "$T/ctl.err")"
	fi
	wl_kill kill
fi
