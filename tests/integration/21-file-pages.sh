#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The unwritten pages of a private file mapping (still the page cache's) are
# read again only when the file may have changed: its stamp (device, inode,
# size, mtime, ctime, taken through the mapping while nobody has the file
# open for writing, ctime settled: daemon/track/filestamp.h). A tracked
# memctl maps a 1024-page file privately, writes half of it and closes its
# fd; every checkpoint is compared with the process's memory (lib-oracle.sh):
#  - the file unchanged and settled: the pages read drop to the written ones;
#  - the file changed by write() from another process, in pages the process
#    wrote and pages it did not: the checkpoint still equals memory, and the
#    next one too, while the new ctime is too recent to trust;
#  - another process holding the file open for writing: read every time;
#  - the process writing more of the mapping: those pages are read.
# The file lives in $T, on the filesystem of /tmp: where that is not ext4,
# XFS or btrfs the stamps are never trusted and the test is skipped.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-oracle.sh"
require_root
require_bpf
require_built "$WL/memctl" "$WL/memdump"

PAGES=1024
HALF=$((PAGES / 2))
SLACK=16 # the process's own bookkeeping: answering a command writes its stack
SETTLE=2.5 # past STAMP_SETTLE_NS

case "$(stat -f -c %T "$T")" in
ext2/ext3 | xfs | btrfs) ;;
*) skip_all "stamps are trusted on ext4, XFS and btrfs only; $T is on $(stat -f -c %T "$T")" ;;
esac

# reads LABEL MIN MAX: the last checkpoint read MIN..MAX pages.
reads() {
	if [ "$CP_READ" -ge "$2" ] && [ "$CP_READ" -le "$3" ]; then
		ok "$1: read $CP_READ pages ($2..$3)"
	else
		not_ok "$1: read $CP_READ pages ($2..$3)" "incremental=$CP_INCR pages=$CP_PAGES"
	fi
}

# poke PAGE SEEDBYTE: another process write()s one page of the file.
poke() {
	head -c 4096 /dev/zero | tr '\0' "\\$2" |
		dd of="$FILE" bs=4096 seek="$1" conv=notrunc status=none
}

private_workloads
start_daemon || exit 1
start_workload m "$MEMCTL" || exit 1
PID=$(wl_pid m)
wl m "alloc f file $PAGES" || { not_ok "memctl maps a file privately" "${REPLY[m]}"; exit 1; }
FILE=$(kv "${REPLY[m]}" path)
wl m "write f 5 0 $HALF" && wl m "closefd f" ||
	{ not_ok "memctl writes half of the mapping and closes the file" "${REPLY[m]}"; exit 1; }
ok "a private mapping of $FILE, $HALF of its $PAGES pages written"
tj=$(ctl_json track "$PID")
[ "$(jq -r .tracking <<<"$tj" 2>/dev/null)" = uffd-wp ] ||
	{ not_ok "track $PID with uffd-wp" "$tj" "$(cat "$T/ctl.err")"; exit 1; }

oracle "$PID" "first checkpoint" && reads "first checkpoint" "$PAGES" 100000
sleep "$SETTLE"
# The first stamp was taken while the file's ctime was too recent: this one
# still reads the file's pages, and takes a stamp to keep.
oracle "$PID" "settled, no stamp yet" && reads "settled, no stamp yet" "$HALF" 100000
base=$CP_READ
oracle "$PID" "file unchanged" && reads "file unchanged" 0 $((base - HALF + SLACK))
grep -q "file mappings unchanged" "$T/ckptd.log" &&
	ok "the log counts the file mappings found unchanged" ||
	not_ok "the log counts the file mappings found unchanged"

# The process writes 8 more pages of the mapping: read, and only those.
wl m "write f 6 600 8" || not_ok "memctl writes 8 pages" "${REPLY[m]}"
oracle "$PID" "8 more pages written" && reads "8 more pages written" 8 $((base - HALF + 8 + 2 * SLACK))

# Another process changes the file: a page the process never wrote (700),
# one it wrote (10, whose copy is the process's own, not the file's).
poke 700 1
poke 10 2
oracle "$PID" "file changed by write()" && reads "file changed by write()" $((HALF - 8)) 100000
oracle "$PID" "file changed, ctime too recent to trust" &&
	reads "file changed, ctime too recent" $((HALF - 8)) 100000
poke 701 3
oracle "$PID" "file changed again" && reads "file changed again" $((HALF - 8)) 100000
sleep "$SETTLE"
oracle "$PID" "changed file settled" && reads "changed file settled" $((HALF - 8)) 100000
oracle "$PID" "changed file unchanged since" && reads "changed file unchanged since" 0 $((base - HALF + SLACK))
wl m "verify f 5 0 8" && wl m "verify f 6 600 8" ||
	not_ok "the process's own copies stay its own" "${REPLY[m]}"

# A writer holding the file open: never trusted, even without a write.
exec {wfd}<>"$FILE"
sleep "$SETTLE"
oracle "$PID" "file open for writing elsewhere" &&
	reads "file open for writing elsewhere" $((HALF - 8)) 100000
oracle "$PID" "file still open for writing" &&
	reads "file still open for writing" $((HALF - 8)) 100000
# ...and it writes through that descriptor meanwhile.
printf 'changed through an open descriptor' >&"$wfd"
oracle "$PID" "written through a descriptor held open" &&
	reads "written through a descriptor held open" $((HALF - 8)) 100000
exec {wfd}>&-
sleep "$SETTLE"
oracle "$PID" "writer gone, settled"
oracle "$PID" "writer gone, unchanged since" && reads "writer gone, unchanged" 0 $((base - HALF + SLACK))

wl m exit
stop_daemon
