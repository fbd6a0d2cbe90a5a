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
require_root
require_bpf
require_built "$WL/memctl" "$WL/memdump" "$WL/tc-mem"

SEED=${SOAK_SEED:-$(($(date +%s%N) % 1000000007))}
NCP=${SOAK_CHECKPOINTS:-48}
BUDGET=${SOAK_SECONDS:-90}
RANDOM=$SEED
diag "seed $SEED (replay with SOAK_SEED=$SEED), $NCP checkpoints"

# ---- the oracle (as in 25-tracking.sh) ---------------------------------------

page_desc() {
	local h
	h=$(od -An -v -tx1 -j "$2" -N 4096 "$1" | tr -d ' \n')
	case "$h" in *[1-9a-f]*) printf '%s...' "${h:0:32}" ;; *) printf zero ;; esac
}

# compare_checkpoint PID ID: every non-special region of checkpoint ID equals
# /proc/PID/mem now; otherwise ORACLE_DIAG describes the first differing pages.
compare_checkpoint() {
	local pid=$1 id=$2 sj ej row s e track flags path i total=0 size
	local -a rows args offs
	ORACLE_DIAG=()
	sj=$(ctl_json show "$id")
	mapfile -t rows < <(jq -r '.regions[] | select((.flags | index("special")) | not)
		| "\(.start) \(.end) \(.tracking) \(.flags | join(",")) \(.path // "-")"' <<<"$sj" 2>/dev/null)
	if [ ${#rows[@]} = 0 ]; then
		ORACLE_DIAG=("show $id: no regions" "$sj" "$(cat "$T/ctl.err")")
		return 1
	fi
	: >"$T/mem.bin"
	for row in "${rows[@]}"; do
		read -r s e _ <<<"$row"
		args+=(--range "$s-$e")
		offs+=("$total")
		total=$((total + e - s))
		"$WL/memdump" "$pid" "$s" "$e" "$T/md.bin" 2>>"$T/memdump.err" || {
			ORACLE_DIAG=("memdump $pid $s $e failed: $(tail -n 1 "$T/memdump.err")")
			return 1
		}
		cat "$T/md.bin" >>"$T/mem.bin"
	done
	rm -f "$T/exp.bin"
	ej=$(ctl_json export "$id" --out "$T/exp.bin" "${args[@]}")
	size=$(jq -r .size <<<"$ej" 2>/dev/null)
	if [ "$size" != "$total" ]; then
		ORACLE_DIAG=("export of $id: size '$size', want $total" "$ej" "$(cat "$T/ctl.err")")
		return 1
	fi
	truncate -s "$total" "$T/exp.bin"
	cmp -s "$T/exp.bin" "$T/mem.bin" && return 0

	local -a pages
	local p off a k
	mapfile -t pages < <(cmp -l "$T/exp.bin" "$T/mem.bin" 2>/dev/null | head -n 2000000 |
		awk '{ p = int(($1 - 1) / 4096); if (p != last) { print p; last = p } }')
	ORACLE_DIAG=("checkpoint $id differs from memory in ${#pages[@]} page(s) (first ones below)")
	for p in "${pages[@]:0:6}"; do
		off=$((p * 4096))
		k=0
		for i in "${!offs[@]}"; do
			[ "${offs[$i]}" -le "$off" ] && k=$i
		done
		read -r s e track flags path <<<"${rows[$k]}"
		a=$(hex $((s + off - offs[k])))
		ORACLE_DIAG+=("page $a in region $s-$e [$flags $path] tracking=$track:"
			"  checkpoint: $(page_desc "$T/exp.bin" "$off")"
			"  memory:     $(page_desc "$T/mem.bin" "$off")")
	done
	cp "$T/exp.bin" "$T/export-$id.bin"
	cp "$T/mem.bin" "$T/memory-$id.bin"
	printf '%s\n' "$sj" >"$T/show-$id.json"
	return 1
}

# oracle PID LABEL: stop, checkpoint, compare, continue; one TAP line. Sets
# CP_ID CP_PAGES CP_READ CP_INCR. On a difference, a --full checkpoint of the
# same moment tells a tracking miss from an engine fault (and restarts the
# chain, so one miss is reported once).
oracle() {
	local pid=$1 label=$2 cj st rc=0 fid
	CP_ID= CP_PAGES=0 CP_READ=0 CP_INCR=
	kill -STOP "$pid"
	if ! wait_state "$pid" T; then
		kill -CONT "$pid"
		not_ok "$label: process stops" "state $(proc_state "$pid")"
		return 1
	fi
	cj=$(ctl_json checkpoint "$pid")
	CP_ID=$(jq -er .id <<<"$cj" 2>/dev/null)
	if [ -z "$CP_ID" ]; then
		kill -CONT "$pid"
		not_ok "$label: checkpoint" "$cj" "$(cat "$T/ctl.err")"
		return 1
	fi
	CP_PAGES=$(jq -r .pages <<<"$cj")
	CP_READ=$(jq -r .pages_read <<<"$cj")
	CP_INCR=$(jq -r .incremental <<<"$cj")
	compare_checkpoint "$pid" "$CP_ID" || rc=1
	if [ $rc = 1 ]; then
		local saved=("${ORACLE_DIAG[@]}")
		fid=$(ctl_json checkpoint "$pid" --full | jq -r '.id // empty')
		if [ -n "$fid" ] && compare_checkpoint "$pid" "$fid"; then
			saved+=("a --full checkpoint ($fid) of the same moment equals memory: tracking missed the pages")
		else
			saved+=("a --full checkpoint (${fid:-failed}) of the same moment differs too")
		fi
		ORACLE_DIAG=("${saved[@]}")
	fi
	st=$(proc_state "$pid")
	kill -CONT "$pid"
	if [ $rc = 0 ]; then
		ok "$label: checkpoint $CP_ID equals memory (read $CP_READ of $CP_PAGES pages)"
	else
		not_ok "$label: checkpoint $CP_ID equals memory (read $CP_READ of $CP_PAGES pages)" \
			"${ORACLE_DIAG[@]}"
	fi
	[ "$st" = T ] || not_ok "$label: process still stopped after the checkpoint" "state $st"
	return $rc
}

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

# The workloads run from private copies: a rebuild of the tree while the
# test runs must not replace the executables they map.
mkdir -p "$T/bin"
cp "$WL/memctl" "$WL/tc-mem" "$T/bin/"
MEMCTL=$(realpath --relative-to="$WL" "$T/bin/memctl")
TCMEM=$(realpath --relative-to="$WL" "$T/bin/tc-mem")

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
# under them), plus the process's own bookkeeping (stack, stdio, libc data).
declare -A BASE=([m]=$((64 + 32 + 48)) [t]=$((16 + 48)))
begin=$SECONDS
declare -A READ_SUM PAGES_SUM NINCR
over=()
for i in $(seq 1 "$NCP"); do
	if [ $((SECONDS - begin)) -ge "$BUDGET" ]; then
		diag "time budget of $BUDGET s spent after $((i - 1)) checkpoints"
		break
	fi
	OPS=() EST=0
	if [ $(r 3) = 0 ]; then
		h=t pid=$TPID
		for _ in $(seq 0 "$(r 3)"); do t_change; done
	else
		h=m pid=$MPID
		for _ in $(seq 0 "$(r 3)"); do m_change; done
	fi
	oracle "$pid" "#$i $h: ${OPS[*]}"
	if [ "$CP_INCR" = true ]; then
		NINCR[$h]=$((${NINCR[$h]:-0} + 1))
		READ_SUM[$h]=$((${READ_SUM[$h]:-0} + CP_READ))
		PAGES_SUM[$h]=$((${PAGES_SUM[$h]:-0} + CP_PAGES))
		[ "$CP_READ" -le $((EST + BASE[$h])) ] ||
			over+=("#$i checkpoint $CP_ID of $h read $CP_READ of $CP_PAGES pages, at most $((EST + BASE[$h])) expected: ${OPS[*]}")
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
