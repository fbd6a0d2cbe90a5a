#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Store health through ckptctl: verify on a clean store; a byte flipped in a
# pack is named by verify and makes export/restore of a checkpoint using it
# fail with CorruptObject (never wrong bytes); deleting the middle of a chain
# keeps later checkpoints exportable and equal; gc --keep deletes and
# reclaims; gc while checkpoints of a changing process are taken; kill -9 of
# the daemon during gc and during a checkpoint, then verify passes and every
# listed checkpoint exports.
. "$(dirname "$0")/lib.sh"
require_root
require_built "$WL/memctl"

PAGES=512 # the region checkpointed: 2 MiB

start_daemon || exit 1
start_workload m memctl || exit 1
pid=$(wl_pid m)
wl_region m big anon $PAGES 1 || exit 1
start=$REGION_START end=$REGION_END

# RANGE[ID]: the range checkpoint ID was taken of; ORACLE[ID]: the bytes the
# process held there then, as it saw them itself.
declare -A RANGE ORACLE

# ckpt: a checkpoint of the region, its id in ID; the region's bytes as
# memctl sees them (the oracle) saved in $T/oracle-ID.
ckpt() {
	ID=$(ctl_json checkpoint "$pid" --range "$start-$end" | jq -er .id 2>/dev/null)
	if [ -z "$ID" ]; then
		not_ok "checkpoint of $pid" "$(cat "$T/ctl.err")"
		return 1
	fi
	RANGE[$ID]=$start-$end
	wl m "save big $T/oracle-$ID" || { not_ok "save" "${REPLY[m]}"; return 1; }
	ORACLE[$ID]=$T/oracle-$ID
}

# export_equal NAME ID: the export of ID's region equals its oracle.
export_equal() {
	local out=$T/export-$2.bin
	rm -f "$out"
	if ! ctl export "$2" --out "$out" --range "$start-$end" >"$T/export.out" 2>&1; then
		not_ok "$1: export $2" "$(cat "$T/export.out")"
		return 1
	fi
	check "$1: export of $2 equals the process's bytes then" files_equal "$out" "$T/oracle-$2"
}

# ids: the ids of the catalog, one per line.
ids() { ctl_json list | jq -r '.checkpoints[].id'; }

# every_listed_exports NAME: verify passes and every listed checkpoint exports
# (and equals its oracle where there is one).
every_listed_exports() {
	local id bad=0 out
	check "$1: verify passes" ctl verify || true
	for id in $(ids); do
		out=$T/all-$id.bin
		if ! ctl export "$id" --out "$out" ${RANGE[$id]:+--range "${RANGE[$id]}"} >"$T/export.out" 2>&1; then
			bad=1
			diag "export $id: $(cat "$T/export.out")"
		elif [ -n "${ORACLE[$id]:-}" ] && ! cmp -s "$out" "${ORACLE[$id]}"; then
			bad=1
			diag "export $id differs from its oracle"
		fi
	done
	if [ $bad = 0 ]; then ok "$1: every listed checkpoint exports ($(ids | wc -l))"; else not_ok "$1: every listed checkpoint exports"; fi
}

stored_bytes() { ctl_json status | jq -er .store.stored_bytes; }

# ---- a chain, and verify on a clean store
chain=()
for k in 1 2 3 4 5; do
	wl m "write big $((100 + k)) $((k * 40)) 40" || not_ok "write" "${REPLY[m]}"
	ckpt || exit 1
	chain+=("$ID")
done
diag "chain: ${chain[*]}"
check "verify on a clean store exits 0" ctl verify
check "verify of one checkpoint exits 0" ctl verify "${chain[4]}"

# ---- delete the middle: the later ones stay exportable and equal
check "delete ${chain[2]} (the middle of the chain)" ctl delete "${chain[2]}"
for k in 3 4; do
	export_equal "after delete" "${chain[$k]}"
done
export_equal "after delete" "${chain[1]}"
if ids | grep -qx "${chain[2]}"; then
	not_ok "the deleted checkpoint is no longer listed"
else
	ok "the deleted checkpoint is no longer listed"
fi
dangling=$(ctl_json list | jq -r --argjson d "${chain[2]}" '[.checkpoints[] | select(.parent == $d)] | length')
is "no checkpoint names the deleted one as its parent" "$dangling" 0
check "verify after delete exits 0" ctl verify

# ---- a byte flipped in a pack
# A page only the next checkpoint holds: appended last to the newest pack, so
# the pack's last byte is inside it (raw: the pattern does not compress).
wl m "write big 777 7 1" || not_ok "write" "${REPLY[m]}"
ckpt || exit 1
bad_id=$ID
pack=$(ls "$T/state/packs" | sort | tail -n 1)
size=$(stat -c %s "$T/state/packs/$pack")
printf '%s' "$(perl -e 'print chr(0x5a)')" | dd of="$T/state/packs/$pack" bs=1 seek=$((size - 100)) conv=notrunc status=none
out=$(ctl verify 2>&1)
rc=$?
diag "$out"
if [ $rc != 0 ] && grep -Eq "object [0-9]+/[0-9a-f]{64} in $pack at offset [0-9]+: content does not match its key" <<<"$out"; then
	ok "verify exits non-zero and names the damaged object"
else
	not_ok "verify exits non-zero and names the damaged object" "exit $rc" "$out"
fi
out=$(ctl verify "$bad_id" 2>&1)
rc=$?
if [ $rc != 0 ] && grep -q "$pack" <<<"$out"; then
	ok "verify $bad_id exits non-zero too"
else
	not_ok "verify $bad_id exits non-zero too" "exit $rc" "$out"
fi
rm -f "$T/bad.bin"
out=$(ctl export "$bad_id" --out "$T/bad.bin" --range "$start-$end" 2>&1)
rc=$?
if [ $rc != 0 ] && grep -qi "corrupt" <<<"$out"; then
	ok "export of $bad_id fails loudly ($out)"
else
	not_ok "export of $bad_id fails loudly" "exit $rc" "$out"
fi
if [ -e "$T/bad.bin" ] && cmp -s "$T/bad.bin" "$T/oracle-$bad_id"; then
	: # equal bytes cannot be wrong bytes
elif [ -s "$T/bad.bin" ] && [ $rc = 0 ]; then
	not_ok "no wrong bytes exported"
fi
wl m "write big 5 0 $PAGES" || not_ok "write" "${REPLY[m]}"
wl m "save big $T/before-restore" || not_ok "save" "${REPLY[m]}"
out=$(ctl restore "$bad_id" --pid "$pid" 2>&1)
rc=$?
if [ $rc != 0 ] && grep -qi "corrupt" <<<"$out"; then
	ok "restore of $bad_id fails loudly ($out)"
else
	not_ok "restore of $bad_id fails loudly" "exit $rc" "$out"
fi
wl m "save big $T/after-restore" || not_ok "save" "${REPLY[m]}"
check "the failed restore wrote nothing" files_equal "$T/after-restore" "$T/before-restore"
export_equal "a checkpoint not using the object" "${chain[4]}"

# Once the damaged checkpoint is deleted, its object is garbage: verify of
# any checkpoint passes, and the gc that rewrites its pack (below) drops it.
check "delete $bad_id" ctl delete "$bad_id"
check "gc" ctl gc
check "verify of a checkpoint after the damaged one is deleted" ctl verify "${chain[4]}"

# ---- gc --keep 2 deletes and reclaims
for k in 1 2 3 4; do
	wl m "write big $((200 + k))" || not_ok "write" "${REPLY[m]}"
	ckpt || exit 1
done
before=$(stored_bytes)
n_before=$(ids | wc -l)
g=$(ctl_json gc --keep 2)
after=$(stored_bytes)
n_after=$(ids | wc -l)
diag "gc --keep 2: $g"
diag "stored bytes $before -> $after, checkpoints $n_before -> $n_after"
is "gc --keep 2 leaves 2 checkpoints" "$n_after" 2
if [ -n "$before" ] && [ -n "$after" ] && [ "$after" -lt "$before" ] &&
	[ "$(jq -r '.deleted | length' <<<"$g")" -ge 1 ] && [ "$(jq -r .reclaimed_bytes <<<"$g")" -gt 0 ]; then
	ok "gc --keep 2 deletes and reclaims (store $before -> $after bytes)"
else
	not_ok "gc --keep 2 deletes and reclaims" "$g" "stored $before -> $after"
fi
every_listed_exports "after gc --keep 2"

# ---- gc while checkpoints of changing processes are taken
# lab cycles its array through three values: its pages keep coming back to
# contents whose objects belong to checkpoints gc --keep has just deleted.
LPAGES=256
start_workload lab lab $LPAGES || exit 1
lpid=$(wl_pid lab)
lrange=$(kv "${READY[lab]}" start)-$(kv "${READY[lab]}" end)
for v in 1 2 3; do
	perl -e 'print pack("l<", $ARGV[1]) x ($ARGV[0] * 1024)' $LPAGES $v >"$T/lab-$v"
done
(
	for k in $(seq 1 15); do
		"$CKPTCTL" --socket "$T/sock" gc --keep 4 >>"$T/gc-loop.log" 2>&1 || echo "gc failed" >>"$T/gc-loop.log"
		sleep 0.05
	done
) &
gcloop=$!
fails=0
for k in $(seq 1 25); do
	wl m "write big $((300 + k)) $(((k * 37) % (PAGES - 64))) 64" || fails=$((fails + 1))
	ckpt || fails=$((fails + 1))
	v=$((k % 3 + 1))
	wl lab "fill $v" || fails=$((fails + 1))
	id=$(ctl_json checkpoint "$lpid" --range "$lrange" | jq -er .id 2>/dev/null)
	if [ -n "$id" ]; then
		RANGE[$id]=$lrange
		ORACLE[$id]=$T/lab-$v
	else
		fails=$((fails + 1))
		diag "lab checkpoint: $(cat "$T/ctl.err")"
	fi
done
wait $gcloop
if grep -q "gc failed" "$T/gc-loop.log"; then
	not_ok "gc runs beside checkpoints" "$(tail -n 5 "$T/gc-loop.log")"
else
	ok "gc runs beside checkpoints"
fi
is "every checkpoint beside gc succeeded" "$fails" 0
every_listed_exports "after gc beside checkpoints"

# ---- kill -9 during gc, and during a checkpoint
wl m "alloc huge anon 16384" || not_ok "alloc huge" "${REPLY[m]}"
restart() {
	kill -KILL "$DAEMON_PID" 2>/dev/null
	wait "$DAEMON_PID" 2>/dev/null
	DAEMON_PID=
	rm -f "$T/sock"
	start_daemon
}
hstart=$(kv "${REPLY[m]}" start)
hend=$(kv "${REPLY[m]}" end)
for delay in 0.02 0.1 0.3; do
	# For gc: 64 MiB of garbage (a deleted checkpoint) in the pack of 64 MiB
	# that live on (the next one), so that the repack has much to copy.
	for k in 1 2; do
		wl m "write huge $((400 + 2 * k + ${delay#0.}))" || not_ok "write huge" "${REPLY[m]}"
		id=$(ctl_json checkpoint "$pid" --range "$hstart-$hend" | jq -er .id 2>/dev/null) ||
			diag "checkpoint: $(cat "$T/ctl.err")"
		RANGE[$id]=$hstart-$hend
		[ $k = 1 ] && first=$id
	done
	wl m "save huge $T/oracle-$id" && ORACLE[$id]=$T/oracle-$id
	ctl delete "$first" >/dev/null || diag "delete $first failed"
	ctl gc >"$T/gc.out" 2>&1 &
	gcpid=$!
	sleep "$delay"
	restart || exit 1
	wait $gcpid
	rc=$?
	diag "gc $([ $rc = 0 ] && echo "had finished" || echo "was interrupted"): $(cat "$T/gc.out")"
	every_listed_exports "kill -9 during gc (after ${delay}s)"
done
for delay in 0.05 0.2; do
	wl m "write huge $((500 + ${delay#0.}))" || not_ok "write huge" "${REPLY[m]}"
	ctl checkpoint "$pid" --full --range "$hstart-$hend" >"$T/ckpt.out" 2>&1 &
	cpid=$!
	sleep "$delay"
	restart || exit 1
	wait $cpid
	rc=$?
	diag "checkpoint $([ $rc = 0 ] && echo "had finished" || echo "was interrupted"): $(cat "$T/ckpt.out")"
	for id in $(ids); do
		[ -n "${RANGE[$id]:-}" ] || RANGE[$id]=$hstart-$hend
	done
	every_listed_exports "kill -9 during a checkpoint (after ${delay}s)"
done
check "gc after the crashes" ctl gc
every_listed_exports "gc after the crashes"
stop_daemon
