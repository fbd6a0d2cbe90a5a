#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# A seeded random soak of incremental checkpoints: two tracked processes
# (memctl and tc-mem) change their memory in random ways (user, thread and
# kernel writes, madvise, mprotect, mremap, remap, fork, stack and brk
# growth, THP, shared and file mappings, new and removed mappings) between
# SOAK_CHECKPOINTS checkpoints (default 48). Every checkpoint is compared
# page for page with /proc/PID/mem of the stopped process. Replay a run with
# SOAK_SEED=N; the seed is printed first. SOAK_SECONDS bounds the time spent.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-oracle.sh"
require_root
require_bpf
require_built "$WL/memctl" "$WL/memdump" "$WL/tc-mem"

SEED=${SOAK_SEED:-$(($(date +%s%N) % 1000000007))}
NCP=${SOAK_CHECKPOINTS:-48}
BUDGET=${SOAK_SECONDS:-90}
RANDOM=$SEED
diag "seed $SEED (replay with SOAK_SEED=$SEED), $NCP checkpoints"

# ---- the processes and their random changes ----------------------------------

# w H CMD: one workload command; a refused one fails the test and the run.
w() {
	wl "$1" "$2" && return 0
	not_ok "$1: '$2'" "${REPLY[$1]}"
	exit 1
}

r() { printf '%d' $((RANDOM % $1)); }
# est N: the changes of this step may dirty N pages (more when the kernel
# works in bigger units: thread stacks, huge pages).
est() { EST=$((EST + $1)); }
seed() { printf '%d' $((RANDOM * 32768 + RANDOM + 1)); }

private_workloads

start_daemon || exit 1
start_workload m "$MEMCTL" || exit 1
start_workload t "$TCMEM" || exit 1
MPID=$(wl_pid m)
TPID=$(wl_pid t)

# memctl: a (anon, madvise, remap), p (mprotect), g (mremap), k (pipe),
# s / q (shared anon / memfd, forks), f (private file), h (heap), n (comes and goes)
for c in "alloc a anon 128" "write a $(seed)" "alloc p anon 32" "write p $(seed)" \
	"alloc g anon 16" "write g $(seed)" "alloc k anon 16" "alloc s shared 32" "write s $(seed)" \
	"alloc q memfd 32" "write q $(seed)" "alloc f file 32" "write f $(seed) 0 4" \
	"alloc h heap 32" "write h $(seed)" "threads a 4 $(seed)"; do
	w m "$c"
done
FPATH=$(awk -v n="memctl-$MPID-f[.]" '$6 ~ n { print $6; exit }' "/proc/$MPID/maps")
# tc-mem: u (THP), x (shared file), y (anon), brk
for c in "thp u 4" "poke u $(seed) 2097152" "alloc x fileshared 16" "write x $(seed) 0 8" \
	"alloc y anon 64" "write y $(seed)" "brk 16 $(seed)"; do
	w t "$c"
done
XPATH=$(awk -v n="tc-mem-$TPID-x[.]" '$6 ~ n { print $6; exit }' "/proc/$TPID/maps")
G_PAGES=16 N_ON=0 V_ON=0 BRK=16 FORKS=0 PROT_BAD=0

for p in "$MPID" "$TPID"; do
	tj=$(ctl_json track "$p")
	is "track $p" "$(jq -r .tracking <<<"$tj" 2>/dev/null)" uffd-wp || exit 1
done

# m_change: one random change of memctl; prints what it did.
m_change() {
	local f n
	f=$(r 24)
	n=$((1 + $(r 8)))
	case $(r 16) in
	0) OPS+=("m:write a") && est $n && w m "write a $(seed) $((f * 4)) $n" ;;
	1) OPS+=("m:threads") && est $((128 + 4 * 256)) && w m "threads a $((1 + $(r 4))) $(seed)" ;;
	2) OPS+=("m:touch a") && est 128 && w m "touch a $(seed)" ;;
	3) OPS+=("m:pipe k") && est 16 && w m "pipe k $(seed)" ;;
	4) OPS+=("m:dontneed a") && est $n && w m "madvise a dontneed $((f * 4)) $n" ;;
	5) OPS+=("m:free a") && est $n && w m "madvise a free $((f * 4)) $n" ;;
	6)
		if [ $PROT_BAD = 1 ]; then
			OPS+=("m:mprotect p rw+write") && est $((n + 1)) && w m "mprotect p rw" && w m "write p $(seed) $f $n"
			PROT_BAD=0
		else
			local pr=r
			[ $(r 2) = 0 ] && pr=none
			OPS+=("m:mprotect p $pr") && est $((n + 1)) && w m "write p $(seed) $f 1" && w m "mprotect p $pr $f $n"
			PROT_BAD=1
		fi
		;;
	7)
		G_PAGES=$((8 + $(r 120)))
		OPS+=("m:mremap g $G_PAGES") && est $G_PAGES && w m "mremap g $G_PAGES" &&
			w m "write g $(seed) $((G_PAGES / 2)) $((G_PAGES / 4))"
		;;
	8) OPS+=("m:remap a") && est 128 && w m "remap a" && w m "write a $(seed) $f $n" ;;
	9)
		if [ $FORKS -lt 6 ]; then
			local what=a
			[ $(r 2) = 0 ] && what=s
			[ $(r 3) = 0 ] && what=q
			OPS+=("m:fork $what") && est 0 && w m "fork $what $(seed)"
			FORKS=$((FORKS + 1))
			[ $what = a ] && sleep 0.05
		else
			OPS+=("m:write s") && est $n && w m "write s $(seed) $f $n"
		fi
		;;
	10) OPS+=("m:write q") && est $((32 + 2 * 256)) && w m "threads q 2 $(seed)" ;;
	11) k=$((8 + $(r 256))) && OPS+=("m:stack $k") && est $((k / 4 + 1)) && w m "stack $k" ;;
	12) OPS+=("m:write f") && est $n && w m "write f $(seed) $f $n" ;;
	13)
		if [ -n "$FPATH" ] && [ $(r 2) = 0 ]; then
			OPS+=("m:file f changed underneath") && est 1
			head -c 4096 /dev/urandom | dd of="$FPATH" bs=4096 seek=$((8 + f)) conv=notrunc status=none
		else
			OPS+=("m:write h") && est $n && w m "write h $(seed) $f $n"
		fi
		;;
	14)
		if [ $N_ON = 1 ]; then
			OPS+=("m:unmap n") && w m "unmap n"
			N_ON=0
		else
			k=$((1 + $(r 64))) && OPS+=("m:alloc n $k") && est $k && w m "alloc n anon $k" && w m "write n $(seed) 0 1"
			N_ON=1
		fi
		;;
	15)
		if [ $(r 4) = 0 ]; then
			OPS+=("m:untrack+track")
			ctl untrack "$MPID" >/dev/null 2>&1 || not_ok "untrack $MPID" "$(ctl untrack "$MPID" 2>&1)"
			[ "$(ctl_json track "$MPID" | jq -r .tracking)" = uffd-wp ] ||
				not_ok "track $MPID again" "$(cat "$T/ctl.err")"
		else
			OPS+=("m:nothing")
		fi
		;;
	esac
}

t_change() {
	local f n
	f=$(r 8)
	n=$((1 + $(r 4)))
	case $(r 8) in
	0) k=$((4096 << $(r 10))) && OPS+=("t:poke u $k") && est $((4194304 / k)) && w t "poke u $(seed) $k" ;;
	1) OPS+=("t:write x") && est $n && w t "write x $(seed) $f $n" ;;
	2) OPS+=("t:pwrite x") && est $n && w t "pwrite x $(seed) $f $n" ;;
	3)
		OPS+=("t:file x written by another process") && est 1
		head -c 4096 /dev/urandom | dd of="$XPATH" bs=4096 seek=$((8 + f)) conv=notrunc status=none
		;;
	4)
		local d=$(($(r 24) - 12))
		[ $((BRK + d)) -lt 1 ] && d=$((1 - BRK))
		BRK=$((BRK + d))
		if [ $(r 2) = 0 ]; then
			OPS+=("t:brk $d") && est ${d#-} && w t "brk $d $(seed)"
		else
			OPS+=("t:brk $d (unwritten)") && est ${d#-} && w t "brk $d"
		fi
		;;
	5 | 6) OPS+=("t:write y") && est $n && w t "write y $(seed) $((f * 8)) $n" ;;
	7)
		if [ $V_ON = 0 ]; then
			OPS+=("t:thp v mapped") && est 1024 && w t "thp v 4" && w t "poke v $(seed) 2097152"
			V_ON=1
		else
			OPS+=("t:poke v") && est 1024 && w t "poke v $(seed) $((8 << $(r 18)))"
		fi
		;;
	esac
}

# Pages every incremental checkpoint may read whatever changed: shared
# mappings are read whole (s, q: 64 pages; x: 16), so are the pages of the
# private file mapping f the process never wrote (32: the file can change
# under them; the same holds for the writable data segments of the program
# and its libraries), plus the process's own bookkeeping (stack, stdio).
declare -A BASE=([m]=$((64 + 32 + 64)) [t]=$((16 + 64)))
begin=$SECONDS
declare -A READ_SUM PAGES_SUM NINCR
over=()
for i in $(seq 1 "$NCP"); do
	# (the budget ends the run only once both processes had the 3
	# incremental checkpoints asserted below: a loaded machine is slower,
	# never a failure)
	if [ $((SECONDS - begin)) -ge "$BUDGET" ] && [ "${NINCR[m]:-0}" -ge 3 ] &&
		[ "${NINCR[t]:-0}" -ge 3 ]; then
		diag "time budget of $BUDGET s spent after $((i - 1)) checkpoints"
		break
	fi
	OPS=() EST=0
	if [ $(r 3) = 0 ]; then
		h=t pid=$TPID
	else
		h=m pid=$MPID
	fi
	# Pages the last checkpoint left writable are read, written or not.
	KW=$(ctl_json status | jq -r ".processes[] | select(.pid == $pid) | .writable_pages")
	if [ $h = t ]; then
		for _ in $(seq 0 "$(r 3)"); do t_change; done
	else
		for _ in $(seq 0 "$(r 3)"); do m_change; done
	fi
	oracle "$pid" "#$i $h: ${OPS[*]}"
	if [ "$CP_INCR" = true ]; then
		NINCR[$h]=$((${NINCR[$h]:-0} + 1))
		READ_SUM[$h]=$((${READ_SUM[$h]:-0} + CP_READ))
		PAGES_SUM[$h]=$((${PAGES_SUM[$h]:-0} + CP_PAGES))
		[ "$CP_READ" -le $((EST + BASE[$h] + ${KW:-0})) ] ||
			over+=("#$i checkpoint $CP_ID of $h read $CP_READ of $CP_PAGES pages, at most $((EST + BASE[$h])) + ${KW:-0} kept writable expected: ${OPS[*]}")
	fi
done

# Both processes were checkpointed incrementally, and each incremental
# checkpoint read about what its step changed.
for h in m t; do
	n=${NINCR[$h]:-0}
	if [ "$n" -ge 3 ]; then
		ok "$h: $n incremental checkpoints read ${READ_SUM[$h]} of ${PAGES_SUM[$h]} pages"
	else
		not_ok "$h: at least 3 incremental checkpoints" "$n"
	fi
done
if [ ${#over[@]} = 0 ]; then
	ok "every incremental checkpoint read no more than its step could dirty"
else
	not_ok "every incremental checkpoint read no more than its step could dirty" "${over[@]}"
fi

# The processes are intact and answer.
w m "verify g 0 0 0"
w t "verify y 0 0 0"
ok "both processes answer after $NCP checkpoints (seed $SEED)"
stop_daemon
