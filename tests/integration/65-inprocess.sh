#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Programs checkpointing themselves through libckpt (cli/examples):
#  - lab, as root and as an ordinary user: full then incremental checkpoints
#    of a malloc'ed array, whose exports equal what it wrote byte for byte,
#    restores in place and at another address, and a checkpoint of all of
#    user space that skips what is not mapped; it tracks itself with
#    ckpt_track_self(), and the daemon must list it as tracked (uffd-wp);
#    which path was taken (its own userfaultfd passed over the socket, or
#    tracking armed by the daemon) is reported, not required;
#  - the ordinary user is refused root's process and root's checkpoints;
#  - survivor, killed with SIGKILL twice, resumes each time from the
#    generation of its last recorded checkpoint, with a valid checksum.
. "$(dirname "$0")/lib.sh"
require_root
require_built "$OUT/examples/lab" "$OUT/examples/survivor" "$WL/lab"

EX=$OUT/examples

# line FILE PREFIX: the first line of FILE starting with "PREFIX ".
line() {
	grep -m1 "^$2 " "$1"
}

start_daemon || exit 1
chmod 0666 "$T/sock"
mkdir "$T/nobody"
chown "$NOBODY:$NOBODY" "$T/nobody"

# ---- lab ----------------------------------------------------------------------

# lab_checks WHO OUT RC: what lab printed, asserted.
lab_checks() {
	local who=$1 out=$2 rc=$3 l st tr path note cp1 cp2 mod pr
	if [ "$rc" = 0 ] && grep -q '^lab: PASS' "$out"; then
		ok "$who: lab passes (every export and restore matched)"
	else
		not_ok "$who: lab passes" "exit $rc" "$(grep -E 'FAIL|err' "$out" | head -n 10)" \
			"$(tail -n 5 "$out")"
	fi
	is "$who: six comparisons made and matched" "$(grep -c '^compare .* ok$' "$out")" 6

	l=$(line "$out" tracking)
	path=$(kv "$l" path)
	st=$(line "$out" status)
	note=${st#*note=}
	is "$who: the daemon lists the process as tracked" "$(kv "$st" tracked)" yes
	is "$who: tracking mode" "$(kv "$st" tracking)" uffd-wp
	case "$path" in
	cooperative) ok "$who: tracked with its own userfaultfd passed over the socket" ;;
	daemon) ok "$who: tracked by the daemon arming it itself (the library's fallback)" ;;
	*) not_ok "$who: ckpt_track_self succeeded" "$l" ;;
	esac
	diag "$who: ckpt_track_self path=$path, status: $st"
	[ -n "$note" ] && [ "$note" != '""' ] && diag "$who: daemon note: $note"

	cp1=$(line "$out" checkpoint1)
	cp2=$(line "$out" checkpoint2)
	mod=$(kv "$(line "$out" modified)" pages)
	is "$who: first checkpoint is full" "$(kv "$cp1" incremental)" no
	is "$who: first checkpoint read every whole page" "$(kv "$cp1" pages_read)" \
		"$(kv "$cp1" pages)"
	is "$who: second checkpoint is incremental" "$(kv "$cp2" incremental)" yes
	is "$who: second checkpoint's parent is the first" "$(kv "$cp2" parent)" "$(kv "$cp1" id)"
	pr=$(kv "$cp2" pages_read)
	if [ -n "$pr" ] && [ -n "$mod" ] && [ "$pr" -ge "$mod" ] && [ "$pr" -le $((mod + 2)) ]; then
		ok "$who: second checkpoint read $pr pages for $mod modified"
	else
		not_ok "$who: second checkpoint read only the modified pages" "$cp2" "modified: $mod"
	fi
	l=$(line "$out" userspace)
	if [ "$(kv "$l" skipped)" -gt 0 ] 2>/dev/null; then
		ok "$who: checkpoint of 0-0x7ffffffff000 skipped $(kv "$l" skipped) unmapped parts"
	else
		not_ok "$who: checkpoint of all user space reports skipped parts" "$l"
	fi
}

"$EX/lab" -s "$T/sock" >"$T/lab-root.out" 2>&1
lab_checks root "$T/lab-root.out" $?

TMPDIR=$T/nobody as_nobody "$EX/lab" -s "$T/sock" >"$T/lab-nobody.out" 2>&1
lab_checks nobody "$T/lab-nobody.out" $?

rid=$(kv "$(line "$T/lab-root.out" checkpoint1)" id)
nid=$(kv "$(line "$T/lab-nobody.out" checkpoint1)" id)
is "nobody's checkpoint $nid is owned by uid $NOBODY" \
	"$(ctl_json show "$nid" | jq -r .checkpoint.uid)" "$NOBODY"
is "root's checkpoint $rid is owned by uid 0" "$(ctl_json show "$rid" | jq -r .checkpoint.uid)" 0

# ---- what the ordinary user may not do --------------------------------------

start_workload rootwl lab 16 || exit 1
start_workload_as "$NOBODY" mywl lab 16 || exit 1
rpid=$(wl_pid rootwl)
mpid=$(wl_pid mywl)
wl rootwl "fill 9" || not_ok "root workload: fill 9" "${REPLY[rootwl]}"
wl mywl "fill 5" || not_ok "nobody workload: fill 5" "${REPLY[mywl]}"


refused "nobody: checkpoint of root's process" io.ckptd.PermissionDenied \
	nctl checkpoint "$rpid"
theirs="io.ckptd.NoSuchCheckpoint|io.ckptd.PermissionDenied"
refused "nobody: show of root's checkpoint $rid" "$theirs" nctl show "$rid"
refused "nobody: export of root's checkpoint $rid" "$theirs" \
	nctl export "$rid" --out "$T/nobody/root.bin"
is "nobody: nothing of root's memory was written" \
	"$(stat -c %s "$T/nobody/root.bin" 2>/dev/null || echo 0)" 0
refused "nobody: restore of root's checkpoint $rid into its own process" "$theirs" \
	nctl restore "$rid" --pid "$mpid"

# Its own process still holds its own bytes.
mstart=$(kv "${READY[mywl]}" start)
mend=$(kv "${READY[mywl]}" end)
mj=$(nctl --json checkpoint "$mpid" --range "$mstart-$mend" 2>"$T/own.err")
mid=$(jq -r .id <<<"$mj" 2>/dev/null)
if [ -n "$mid" ] && [ "$mid" != null ] &&
	nctl export "$mid" --out "$T/nobody/own.bin" --range "$mstart-$mend" >"$T/own.out" 2>&1; then
	perl -e 'print pack("l<", 5) x (16 * 1024)' >"$T/five"
	check "nobody: its process still holds its own bytes after the refused restore" \
		files_equal "$T/nobody/own.bin" "$T/five"
else
	not_ok "nobody: checkpoint and export of its own process" "$mj" "$(cat "$T/own.err")" \
		"$(cat "$T/own.out" 2>/dev/null)"
fi
wl_kill rootwl
wl_kill mywl

# ---- survivor ------------------------------------------------------------------

STATE=$T/survivor.state

# run_survivor K: start survivor, let it record 3 checkpoints, kill -9 it.
run_survivor() {
	local k=$1 out=$T/survivor-$1.out i n
	"$EX/survivor" -s "$T/sock" -e 5 -d 10 "$STATE" >"$out" 2>&1 &
	WL_PID[survivor$k]=$!
	for i in $(seq 1 300); do
		n=$(grep -c '^checkpoint ' "$out")
		[ "$n" -ge 3 ] && break
		kill -0 "${WL_PID[survivor$k]}" 2>/dev/null || break
		sleep 0.1
	done
	wl_kill "survivor$k" KILL
	if [ "${n:-0}" -ge 3 ]; then
		ok "survivor run $k: recorded $n checkpoints, then killed with SIGKILL"
	else
		not_ok "survivor run $k: recorded 3 checkpoints" "$(tail -n 10 "$out")"
		return 1
	fi
}

state() { # KEY
	sed -n "s/^$1=//p" "$STATE"
}

run_survivor 1 || exit 1
is "survivor run 1 starts fresh" "$(line "$T/survivor-1.out" fresh)" "fresh generation=0"
prev_gen=0
for k in 2 3; do
	id=$(state checkpoint)
	gen=$(state generation)
	if [ -n "$gen" ] && [ "$gen" -gt "$prev_gen" ]; then
		ok "state file names checkpoint $id at generation $gen"
	else
		not_ok "state file names a later generation than $prev_gen" "$(cat "$STATE")"
	fi
	run_survivor $k
	out=$T/survivor-$k.out
	r=$(line "$out" resumed)
	if [ "$(kv "$r" checkpoint)" = "$id" ] && [ "$(kv "$r" generation)" = "$gen" ] &&
		[ "$(kv "$r" checksum)" = ok ]; then
		ok "survivor run $k resumed checkpoint $id at generation $gen, checksum ok"
	else
		not_ok "survivor run $k resumed checkpoint $id at generation $gen" \
			"got: ${r:-nothing}" "$(grep '^err' "$out")"
	fi
	diag "arena moved from $(kv "$r" from) to $(kv "$r" to)"
	first=$(grep -m1 '^checkpoint ' "$out")
	is "survivor run $k: first checkpoint after resuming is at generation $((gen + 5))" \
		"$(kv "$first" generation)" $((gen + 5))
	last=$(grep '^checkpoint ' "$out" | tail -n 1)
	if [ "$(kv "$last" incremental)" = yes ] && [ "$(kv "$last" pages_read)" -le 41 ]; then
		ok "survivor run $k: later checkpoints are incremental ($(kv "$last" pages_read) pages read)"
	else
		not_ok "survivor run $k: later checkpoints are incremental" "$last"
	fi
	prev_gen=$gen
done

# The check is real: a state file that lies about the generation is caught.
sed -i "s/^generation=.*/generation=$(($(state generation) + 1))/" "$STATE"
"$EX/survivor" -s "$T/sock" -n 1 "$STATE" >"$T/survivor-lie.out" 2>&1
rc=$?
if [ $rc = 1 ] && grep -q '^err restored arena is wrong' "$T/survivor-lie.out"; then
	ok "survivor refuses an arena whose generation is not the recorded one"
else
	not_ok "survivor refuses a wrong arena" "exit $rc" "$(cat "$T/survivor-lie.out")"
fi

stop_daemon
