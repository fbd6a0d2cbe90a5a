#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The oracle: a process holding many kinds of memory is stopped (SIGSTOP) and
# checkpointed. Every region `show` lists is exported (raw, one --range per
# region) and compared with the same addresses read from /proc/PID/mem by
# memdump. Regions recorded by reference (unchanged file mappings) must export
# the file's bytes too. The process stays stopped, then continues intact.
. "$(dirname "$0")/lib.sh"
require_root
require_built "$WL/memctl" "$WL/memdump"

start_daemon || exit 1
start_workload m memctl || exit 1
pid=$(wl_pid m)

# name kind pages, then how it is changed
setup=(
	"alloc anon anon 256" "write anon 1"
	"madvise anon dontneed 10 20"
	"alloc sparse anon 512" "write sparse 2 100 3"
	"alloc shared shared 64" "write shared 3" "fork shared 10"
	"alloc memfd memfd 64" "threads memfd 4 4"
	"alloc file file 32" "write file 5 8 8"
	"alloc fileclean file 16"
	"alloc heap heap 32" "write heap 6"
	"alloc ro anon 16" "write ro 7" "mprotect ro r"
	"alloc piped anon 16" "pipe piped 8"
	"alloc child anon 8" "write child 9" "fork child 10"
	"stack 512"
	"alloc big anon 8192" "write big 11" "madvise big dontneed 3000 100"
)
for c in "${setup[@]}"; do
	wl m "$c" || not_ok "memctl: $c" "${REPLY[m]}"
done
ok "memctl set up ${#setup[@]} changes"

kill -STOP "$pid"
if wait_state "$pid" T; then ok "workload is stopped (T)"; else not_ok "workload is stopped (T)"; fi

cj=$(ctl_json checkpoint "$pid")
id=$(jq -er .id <<<"$cj" 2>/dev/null)
if [ -z "$id" ]; then
	not_ok "checkpoint of the stopped process" "$cj" "$(cat "$T/ctl.err")"
	exit 1
fi
ok "checkpoint $id of the stopped process"
# More than 4096 pages read: the copy was split among the threads (one per
# CPU, up to 4), across region boundaries; the comparison below covers it.
copy_threads=$(grep "process $pid phases" "$T/ckptd.log" | tail -n 1 | sed -n 's/.*copied on \([0-9]*\) thread.*/\1/p')
want=$(($(nproc) < 4 ? $(nproc) : 4))
is "the copy of $(jq -r .pages_read <<<"$cj") pages ran on $want threads" "${copy_threads:-?}" "$want"
is "process is still stopped after the checkpoint" "$(proc_state "$pid")" T

sj=$(ctl_json show "$id")
nreg=$(jq '.regions | length' <<<"$sj")
if [ "${nreg:-0}" -gt 5 ]; then ok "show lists $nreg regions"; else not_ok "show lists regions" "$sj"; fi
diag "$(jq -r '.regions[] | "\(.start)-\(.end) \(.prot) \(.flags | join(",")) \(.tracking) \(.path // "")"' <<<"$sj")"

# Every readable mapping of /proc/PID/maps is covered by the regions.
mapfile -t regs < <(jq -r '.regions[] | "\(.start) \(.end)"' <<<"$sj")
uncovered=()
while read -r range perms _ _ _ path; do
	case "$path" in "[vsyscall]" | "[vvar]" | "[vvar_vclock]") continue ;; esac
	[ "${perms:0:1}" = r ] || continue
	ms=$((0x${range%-*})) me=$((0x${range#*-})) cov=0
	for r in "${regs[@]}"; do
		rs=$((${r% *})) re=$((${r#* }))
		lo=$((rs > ms ? rs : ms)) hi=$((re < me ? re : me))
		[ $hi -gt $lo ] && cov=$((cov + hi - lo))
	done
	[ $cov = $((me - ms)) ] || uncovered+=("$range $perms $path")
done <"/proc/$pid/maps"
is "every readable mapping is covered by a region" "${uncovered[*]:-}" ""

# One export with one --range per region (special ones excluded).
args=()
mapfile -t rows < <(jq -r '.regions[] | select((.flags | index("special")) | not)
	| "\(.start) \(.end) \(.tracking) \(.flags | join(",")) \(.path // "-")"' <<<"$sj")
for row in "${rows[@]}"; do
	read -r s e _ <<<"$row"
	args+=(--range "$s-$e")
done
ej=$(ctl_json export "$id" --out "$T/all.bin" "${args[@]}")
if ! jq -e .size <<<"$ej" >/dev/null 2>&1; then
	not_ok "export of ${#rows[@]} regions" "$ej" "$(cat "$T/ctl.err")"
	exit 1
fi
ok "export of ${#rows[@]} regions"
is "export layout has one extent per range" "$(jq '.layout | length' <<<"$ej")" ${#rows[@]}

# Laid end to end in the order given, and each region equals /proc/PID/mem.
off=0 bad=() badref=() nref=0
for i in "${!rows[@]}"; do
	read -r s e track flags path <<<"${rows[$i]}"
	len=$((e - s))
	lo=$(jq -r ".layout[$i].offset" <<<"$ej")
	ls=$(jq -r ".layout[$i].start" <<<"$ej")
	if [ "$lo" != "$off" ] || [ $((ls)) != $((s)) ]; then
		bad+=("$s-$e: layout says $ls at $lo, want $s at $off")
		off=$((off + len))
		continue
	fi
	off=$((off + len))
	dd if="$T/all.bin" of="$T/r.bin" iflag=skip_bytes,count_bytes skip="$lo" count="$len" \
		status=none
	truncate -s "$len" "$T/r.bin" # trailing holes
	"$WL/memdump" "$pid" "$s" "$e" "$T/m.bin" 2>>"$T/memdump.err"
	is_ref=false
	case "$track,$flags" in ref,* | *ref*) is_ref=true nref=$((nref + 1)) ;; esac
	if ! cmp -s "$T/r.bin" "$T/m.bin"; then
		first=$(cmp "$T/r.bin" "$T/m.bin" 2>&1 | head -1)
		if $is_ref; then
			badref+=("$s-$e $flags $path: $first")
		else
			bad+=("$s-$e $track $flags $path: $first")
		fi
		cp "$T/r.bin" "$T/export-$s.bin"
		cp "$T/m.bin" "$T/memdump-$s.bin"
	fi
done
is "export is ${off} bytes, the regions end to end" "$(jq -r .size <<<"$ej")" "$off"
if [ ${#bad[@]} = 0 ]; then
	ok "every stored region equals /proc/PID/mem"
else
	not_ok "every stored region equals /proc/PID/mem" "${bad[@]}"
fi
if [ ${#badref[@]} = 0 ]; then
	ok "every reference region ($nref) exports the file's bytes"
else
	not_ok "every reference region ($nref) exports the file's bytes" "${badref[@]}"
fi

is "process is still stopped after export" "$(proc_state "$pid")" T
kill -CONT "$pid"
wait_state "$pid" SR || not_ok "process runs after SIGCONT" "state $(proc_state "$pid")"
for v in "anon 1 0 10" "anon 1 30 226" "shared 10" "memfd 4" "file 5 8 8" "heap 6" "ro 7" \
	"piped 8" "child 9" "sparse 2 100 3"; do
	wl m "verify $v" || not_ok "after SIGCONT: verify $v" "${REPLY[m]}"
done
ok "after SIGCONT the process answers and its memory is intact"
wl m exit
stop_daemon
