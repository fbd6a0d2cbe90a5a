#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Files the daemon reads for a caller: the pages of a region recorded by
# reference (an unchanged read-only file mapping) are read from the file at
# export, with the caller's own file credentials, never through a symbolic
# link, and only when the file is provably the one the checkpoint recorded
# (device, inode, size, change time). Anything else exports as holes, and the
# export says which pages and why.
. "$(dirname "$0")/lib.sh"
require_root
require_built "$WL/mapro"

GRP=4242 # a group nobody is not in, unless given

# mapro_as HANDLE SETPRIV-ARGS... -- FILE...: mapro under those credentials
# (or as root with "-"); its regions in M_START[i] / M_END[i].
declare -a M_START M_END
mapro_as() {
	local h=$1 line i
	shift
	local -a sp=()
	while [ "$1" != -- ]; do
		sp+=("$1")
		shift
	done
	shift
	if [ "${sp[0]}" = - ]; then
		start_workload_cmd "$h" "$WL/mapro" "$@" || return 1
	else
		start_workload_cmd "$h" setpriv "${sp[@]}" "$WL/mapro" "$@" || return 1
	fi
	line=${READY[$h]}
	M_START=()
	M_END=()
	for i in $(seq 0 $(($# - 1))); do
		M_START[i]=$(kv "$line" "start$i")
		M_END[i]=$(kv "$line" "end$i")
	done
}

# region_tracking ID START: the tracking mode show gives the region at START.
region_tracking() {
	ctl_json show "$1" | jq -r --arg s "$2" '.regions[] | select(.start == $s) | .tracking'
}

# pattern FILE CHAR PAGES: FILE holds PAGES pages of lines of CHAR.
pattern() {
	perl -e 'my ($c, $n) = @ARGV; print substr(($c x 63 . "\n") x 64, 0, 4096) x $n' "$2" "$3" >"$1"
}

start_daemon || exit 1
chmod 0666 "$T/sock"
mkdir -m 0755 "$T/root" "$T/other"
mkdir -m 0700 "$T/n"
chown "$NOBODY:$NOBODY" "$T/n"

# Two fresh tmpfs mounts: inode numbers in each start small and go up one by
# one, so a file of nobody's in the second can have the inode number of a
# root-only file in the first (a different device), deterministically.
mount -t tmpfs -o mode=0755,size=16m ckpt-test-secret "$T/root" &&
	mount -t tmpfs -o mode=0777,size=16m ckpt-test-other "$T/other" || {
	not_ok "mount two tmpfs" "mount failed"
	exit 1
}
cleanup_mounts() {
	umount -l "$T/root" "$T/other" 2>/dev/null
}
trap 'cleanup_mounts' EXIT
# lib.sh's own cleanup runs from its EXIT trap: keep both.
trap 'cleanup_mounts; _cleanup' EXIT

pattern "$T/root/secret" S 2
chmod 0600 "$T/root/secret"
secret_ino=$(stat -c %i "$T/root/secret")

# --- 1. An inode number shared with a root-only file, then a symbolic link --
i=0
while :; do
	as_nobody sh -c "head -c 8192 /dev/zero | tr '\\0' N >'$T/other/f$i'" || break
	[ "$(stat -c %i "$T/other/f$i")" = "$secret_ino" ] && break
	i=$((i + 1))
	[ $i -lt 200 ] || break
done
if [ "$(stat -c %i "$T/other/f$i" 2>/dev/null)" = "$secret_ino" ]; then
	as_nobody mv "$T/other/f$i" "$T/other/mine"
	ok "nobody's file has the inode number of root's secret ($secret_ino, another device)"
	if mapro_as same --reuid="$NOBODY" --regid="$NOBODY" --clear-groups -- "$T/other/mine"; then
		s=${M_START[0]} e=${M_END[0]}
		checkpoint_as nobody "$(wl_pid same)"
		id=$CP
		is "symlink swap: the mapping is recorded by reference" "$(region_tracking "$id" "$s")" reference
		wl_kill same
		as_nobody rm -f "$T/other/mine"
		as_nobody ln -s "$T/root/secret" "$T/other/mine"
		rm -f "$T/n/swap.bin"
		ej=$(nctl_json export "$id" --out "$T/n/swap.bin" --range "$s-$e")
		if grep -q SSSS "$T/n/swap.bin" 2>/dev/null; then
			not_ok "symlink swap: the export holds no byte of root's secret" \
				"the export holds root's secret" "$ej"
		else
			ok "symlink swap: the export holds no byte of root's secret"
		fi
		is "symlink swap: the export succeeds and lists the region's 2 pages as holes" \
			"$(jq -r '[.holes[]? | .pages] | add // 0' <<<"$ej")" 2
		why=$(jq -r '.holes[0].reason // empty' <<<"$ej")
		case "$why" in
		*"symbolic link"*) ok "symlink swap: the hole says why: $why" ;;
		*) not_ok "symlink swap: the hole names the symbolic link" "$ej" "$(cat "$T/ctl.err")" ;;
		esac
		out=$(nctl export "$id" --out "$T/n/swap2.bin" --range "$s-$e" 2>&1)
		case "$out" in
		*"holes "*"symbolic link"*) ok "symlink swap: ckptctl says which pages are holes and why" ;;
		*) not_ok "symlink swap: ckptctl says which pages are holes and why" "$out" ;;
		esac
	fi
else
	not_ok "nobody's file has the inode number of root's secret ($secret_ino)" \
		"last: $(stat -c %i "$T/other/f$i" 2>&1)"
fi

# --- 2. The same name, another file; the same file, changed -----------------
pattern "$T/n/data" D 4
pattern "$T/n/edit" E 4
chown "$NOBODY:$NOBODY" "$T/n/data" "$T/n/edit"
if mapro_as repl --reuid="$NOBODY" --regid="$NOBODY" --clear-groups -- "$T/n/data" "$T/n/edit"; then
	s0=${M_START[0]} e0=${M_END[0]} s1=${M_START[1]} e1=${M_END[1]}
	checkpoint_as nobody "$(wl_pid repl)"
	id=$CP
	# the ordinary case first: unchanged files, exported by their owner
	rm -f "$T/n/ok.bin"
	ej=$(nctl_json export "$id" --out "$T/n/ok.bin" --range "$s0-$e0")
	check "unchanged file: its owner's export holds the file's bytes" files_equal "$T/n/ok.bin" "$T/n/data"
	is "unchanged file: no holes" "$(jq -r '.holes | length' <<<"$ej")" 0

	as_nobody sh -c "cp '$T/n/data' '$T/n/data.new' && printf X | dd of='$T/n/data.new' bs=1 seek=100 conv=notrunc status=none && mv -f '$T/n/data.new' '$T/n/data'"
	# in place: same inode, new bytes (and a new change time)
	as_nobody sh -c "printf Y | dd of='$T/n/edit' bs=1 seek=5000 conv=notrunc status=none"
	rm -f "$T/n/repl.bin"
	ej=$(nctl_json export "$id" --out "$T/n/repl.bin" --range "$s0-$e0" --range "$s1-$e1")
	if [ -z "$ej" ]; then
		not_ok "replaced and changed files: the export succeeds" "$(cat "$T/ctl.err")"
	else
		ok "replaced and changed files: the export succeeds"
		is "replaced and changed files: 8 pages of holes" \
			"$(jq -r '[.holes[] | .pages] | add // 0' <<<"$ej")" 8
		is "replaced and changed files: nothing written" \
			"$(jq -r '[.written[] | .pages] | add // 0' <<<"$ej")" 0
		if [ -s "$T/n/repl.bin" ] && tr -d '\0' <"$T/n/repl.bin" | grep -q .; then
			not_ok "replaced and changed files: the export holds only zeroes (holes)"
		else
			ok "replaced and changed files: the export holds only zeroes (holes)"
		fi
		r0=$(jq -r --arg s "$s0" '.holes[] | select(.start == $s) | .reason' <<<"$ej")
		r1=$(jq -r --arg s "$s1" '.holes[] | select(.start == $s) | .reason' <<<"$ej")
		case "$r0" in *replaced*) ok "replaced file: the hole says so: $r0" ;;
		*) not_ok "replaced file: the hole says it was replaced" "$ej" ;; esac
		case "$r1" in *changed*) ok "file changed in place: the hole says so: $r1" ;;
		*) not_ok "file changed in place: the hole says it changed" "$ej" ;; esac
	fi
	wl_kill repl
fi

# --- 3. Root's process, a root-only file, exported by root ------------------
if mapro_as rootmap - -- "$T/root/secret"; then
	s=${M_START[0]} e=${M_END[0]}
	checkpoint "$(wl_pid rootmap)"
	id=$CP
	rm -f "$T/rootmap.bin"
	ej=$(ctl_json export "$id" --out "$T/rootmap.bin" --range "$s-$e")
	check "root-only file mapped by root: root's export holds its bytes" \
		files_equal "$T/rootmap.bin" "$T/root/secret"
	wl_kill rootmap
fi

# --- 4. Files the caller can no longer read ----------------------------------
# a) chmod 000 after the checkpoint (which also changes the file's ctime)
# b) the directory closed to nobody after the checkpoint: the file itself is
#    unchanged (same device, inode, size, ctime); only nobody's right to open it
#    is gone, and root may still read it.
pattern "$T/n/closed" C 2
chown "$NOBODY:$NOBODY" "$T/n/closed"
mkdir -m 0755 "$T/root/pub"
pattern "$T/root/pub/file" P 2
chmod 0644 "$T/root/pub/file"
if mapro_as perm --reuid="$NOBODY" --regid="$NOBODY" --clear-groups -- "$T/n/closed" "$T/root/pub/file"; then
	s0=${M_START[0]} e0=${M_END[0]} s1=${M_START[1]} e1=${M_END[1]}
	checkpoint_as nobody "$(wl_pid perm)"
	id=$CP
	wl_kill perm
	chmod 000 "$T/n/closed"
	chmod 0700 "$T/root/pub"
	rm -f "$T/n/perm.bin"
	ej=$(nctl_json export "$id" --out "$T/n/perm.bin" --range "$s0-$e0" --range "$s1-$e1")
	if grep -q -e CCCC -e PPPP "$T/n/perm.bin" 2>/dev/null; then
		not_ok "unreadable files: nobody's export holds none of their bytes" "$ej"
	else
		ok "unreadable files: nobody's export holds none of their bytes"
	fi
	is "unreadable files: 4 pages of holes" "$(jq -r '[.holes[]? | .pages] | add // 0' <<<"$ej")" 4
	r1=$(jq -r --arg s "$s1" '.holes[]? | select(.start == $s) | .reason' <<<"$ej")
	case "$r1" in *"permission"* | *"may not"*) ok "closed directory: the hole says why: $r1" ;;
	*) not_ok "closed directory: the hole says nobody may not open it" "$ej" "$(cat "$T/ctl.err")" ;; esac
	# root may read what nobody may not: the file is the one recorded
	rm -f "$T/perm-root.bin"
	ctl_json export "$id" --out "$T/perm-root.bin" --range "$s1-$e1" >/dev/null
	check "closed directory: root's export of the same checkpoint holds the file" \
		files_equal "$T/perm-root.bin" "$T/root/pub/file"
	chmod 0755 "$T/root/pub"
fi

# --- 5. Supplementary groups of the caller count -----------------------------
pattern "$T/root/grp" G 1
chgrp "$GRP" "$T/root/grp"
chmod 0640 "$T/root/grp"
if mapro_as grp --reuid="$NOBODY" --regid="$NOBODY" --groups="$GRP" -- "$T/root/grp"; then
	s=${M_START[0]} e=${M_END[0]}
	checkpoint_as nobody "$(wl_pid grp)"
	id=$CP
	wl_kill grp
	rm -f "$T/n/grp.bin" "$T/n/nogrp.bin"
	setpriv --reuid="$NOBODY" --regid="$NOBODY" --groups="$GRP" \
		"$CKPTCTL" --socket "$T/sock" --json export "$id" --out "$T/n/grp.bin" --range "$s-$e" >/dev/null 2>"$T/ctl.err"
	check "group-readable file: a caller in the group exports its bytes" \
		files_equal "$T/n/grp.bin" "$T/root/grp"
	ej=$(nctl_json export "$id" --out "$T/n/nogrp.bin" --range "$s-$e")
	is "group-readable file: the same user without the group gets a hole" \
		"$(jq -r '[.holes[]? | .pages] | add // 0' <<<"$ej")" 1
fi

daemon_alive && ok "ckptd still runs" || not_ok "ckptd still runs"
stop_daemon
