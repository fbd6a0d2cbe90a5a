# SPDX-License-Identifier: LGPL-2.1-or-later
# lib-oracle.sh: sourced after lib.sh by the tests that compare checkpoints
# of a live process with its memory. It owns the oracle: stop the process,
# checkpoint it, export every region the checkpoint lists and compare it
# page for page with the memory memdump reads (tests/lib/memread.h: pagemap
# first, so reading faults nothing in and the next checkpoint sees what the
# process did, not what the oracle did).
#
#   private_workloads         copy memctl and tc-mem into $T/bin; sets MEMCTL
#                             and TCMEM (names for start_workload)
#   compare_checkpoint PID ID [JQFILTER]   0 when the checkpoint equals memory
#   oracle PID LABEL [CHECKPOINT ARGS...]  one TAP line; sets CP_ID CP_PAGES
#                                          CP_READ CP_SAME CP_INCR CP_STORED
#   compare_group GJ PID...   0 when every PID has a checkpoint in the group
#                             checkpoint reply GJ equal to its memory now

# private_workloads: the workloads run from private copies, so a rebuild
# of the tree while the test runs does not replace the executables they map.
private_workloads() {
	mkdir -p "$T/bin"
	cp "$WL/memctl" "$WL/tc-mem" "$T/bin/"
	MEMCTL=$(realpath --relative-to="$WL" "$T/bin/memctl")
	TCMEM=$(realpath --relative-to="$WL" "$T/bin/tc-mem")
}

# page_desc FILE OFFSET: "zero" or the first 16 bytes of the page, in hex.
page_desc() {
	local h
	h=$(od -An -v -tx1 -j "$2" -N 4096 "$1" | tr -d ' \n')
	case "$h" in *[1-9a-f]*) printf '%s...' "${h:0:32}" ;; *) printf zero ;; esac
}

# compare_checkpoint PID ID [JQFILTER]: every non-special region of
# checkpoint ID (that JQFILTER selects), exported from the store, equals
# /proc/PID/mem now. On a difference
# ORACLE_DIAG holds the first differing pages: address, region, tracking
# mode, what the checkpoint had and what memory holds.
compare_checkpoint() {
	local pid=$1 id=$2 filter=${3:-.} sj ej row s e track flags path i total=0 size
	local -a rows args offs
	ORACLE_DIAG=()
	sj=$(ctl_json show "$id")
	mapfile -t rows < <(jq -r '.regions[] | select((.flags | index("special")) | not)
		| select('"$filter"') | "\(.start) \(.end) \(.tracking) \(.flags | join(",")) \(.path // "-")"' <<<"$sj" 2>/dev/null)
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
	truncate -s "$total" "$T/exp.bin" # trailing holes
	cmp -s "$T/exp.bin" "$T/mem.bin" && return 0

	# Describe the first differing pages.
	local -a pages
	local p off a r k ndiff
	mapfile -t pages < <(cmp -l "$T/exp.bin" "$T/mem.bin" 2>/dev/null | head -n 2000000 |
		awk '{ p = int(($1 - 1) / 4096); if (p != last) { print p; last = p } }')
	ndiff=${#pages[@]}
	ORACLE_DIAG=("checkpoint $id differs from memory in $ndiff page(s) (first ones below)")
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

# oracle PID LABEL [CHECKPOINT ARGS...]: stop PID, checkpoint it, compare
# the checkpoint with memory, continue it; one TAP line. Sets CP_ID,
# CP_PAGES, CP_READ and CP_INCR. On a difference a --full checkpoint of the
# same frozen moment tells a tracking miss from an engine fault.
oracle() {
	local pid=$1 label=$2 cj st rc=0 fid
	shift 2
	CP_ID= CP_PAGES=0 CP_READ=0 CP_SAME=0 CP_INCR= CP_STORED=0
	kill -STOP "$pid"
	if ! wait_state "$pid" T; then
		kill -CONT "$pid"
		not_ok "$label: process stops" "state $(proc_state "$pid")"
		return 1
	fi
	cj=$(ctl_json checkpoint "$pid" "$@")
	CP_ID=$(jq -er .id <<<"$cj" 2>/dev/null)
	if [ -z "$CP_ID" ]; then
		kill -CONT "$pid"
		not_ok "$label: checkpoint" "$cj" "$(cat "$T/ctl.err")"
		return 1
	fi
	CP_PAGES=$(jq -r .pages <<<"$cj")
	CP_READ=$(jq -r .pages_read <<<"$cj")
	CP_SAME=$(jq -r .pages_unchanged <<<"$cj")
	CP_INCR=$(jq -r .incremental <<<"$cj")
	CP_STORED=$(jq -r .bytes_stored <<<"$cj")
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

# compare_group GJ PID...: each PID's checkpoint in the group checkpoint
# reply GJ (its members) equals that process's memory now; ORACLE_DIAG
# names every member that has none or differs, and how.
compare_group() {
	local gj=$1 pid id bad=()
	shift
	for pid in "$@"; do
		id=$(jq -r ".members[] | select(.pid == $pid) | .id" <<<"$gj")
		if [ -z "$id" ] || [ "$id" = null ]; then
			bad+=("pid $pid: no checkpoint")
		elif ! compare_checkpoint "$pid" "$id"; then
			bad+=("pid $pid ($(cat "/proc/$pid/comm" 2>/dev/null)) checkpoint $id:" "${ORACLE_DIAG[@]}")
		fi
	done
	ORACLE_DIAG=("${bad[@]}")
	[ ${#bad[@]} = 0 ]
}
