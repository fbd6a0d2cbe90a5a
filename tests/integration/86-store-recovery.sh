#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The index is a cache: ckptd stopped, its index removed, emptied, truncated,
# its directory removed, pages of it zeroed or overwritten at random; started
# again it neither crashes nor forgets: it says it rebuilt the index, `list`
# shows every checkpoint, each exports byte for byte as before, verify
# passes, and gc then keeps every checkpoint. A torn record at the end of the
# current pack is cut off at start. A checkpoint whose manifest file is gone
# is named as damaged, not as absent. A ckptd started while the previous one
# still holds the state directory's lock waits for it.
. "$(dirname "$0")/lib.sh"
require_root
require_built "$WL/memctl"

PAGES=512
S=$T/state

start_daemon || exit 1
start_workload m memctl || exit 1
pid=$(wl_pid m)
wl_region m big anon $PAGES 1 || exit 1
range=$REGION_START-$REGION_END

ids() { ctl_json list | jq -r '.checkpoints[].id'; }

# A chain of checkpoints (FULL then DELTAs), each exported now as the truth.
for k in 1 2 3 4; do
	wl m "write big $((10 + k)) $((k * 60)) 60" || not_ok "write" "${REPLY[m]}"
	id=$(ctl_json checkpoint "$pid" --range "$range" | jq -er .id 2>/dev/null) ||
		{ not_ok "checkpoint" "$(cat "$T/ctl.err")"; exit 1; }
	ctl export "$id" --out "$T/truth-$id.bin" --range "$range" >/dev/null ||
		{ not_ok "export $id"; exit 1; }
done
want_ids=$(ids | tr '\n' ' ')
n_manifests=$(ls "$S/manifests" | wc -l)
diag "checkpoints: $want_ids"

# every_checkpoint_intact NAME: list shows them all, each exports as before,
# verify passes, no manifest file went away.
every_checkpoint_intact() {
	local id bad=0
	is "$1: list shows every checkpoint" "$(ids | tr '\n' ' ')" "$want_ids"
	for id in $want_ids; do
		rm -f "$T/now.bin"
		if ! ctl export "$id" --out "$T/now.bin" --range "$range" >"$T/export.out" 2>&1; then
			bad=1
			diag "export $id: $(cat "$T/export.out")"
		elif ! cmp -s "$T/now.bin" "$T/truth-$id.bin"; then
			bad=1
			diag "export $id differs from before"
		fi
	done
	if [ $bad = 0 ]; then ok "$1: every checkpoint exports as before"; else not_ok "$1: every checkpoint exports as before"; fi
	check "$1: verify passes" ctl verify
	is "$1: no manifest file was deleted" "$(ls "$S/manifests" | wc -l)" "$n_manifests"
}

# damage NAME CMD: stop ckptd, damage the index with CMD (run in $S), start
# it, and check it recovered.
damage() {
	local name=$1 rebuilt_before
	shift
	stop_daemon
	(cd "$S" && eval "$*")
	rebuilt_before=$(grep -c "rebuilt from" "$T/ckptd.log")
	if ! start_daemon; then
		not_ok "$name: ckptd starts" "$(tail -n 5 "$T/ckptd.log")"
		return 1
	fi
	if [ "$(grep -c "rebuilt from" "$T/ckptd.log")" -gt "$rebuilt_before" ]; then
		ok "$name: ckptd says it rebuilt the index ($(grep "rebuilt from" "$T/ckptd.log" | tail -n 1 | sed 's/^.*store: //'))"
	else
		not_ok "$name: ckptd says it rebuilt the index" "$(tail -n 5 "$T/ckptd.log")"
	fi
	every_checkpoint_intact "$name"
	check "$name: gc" ctl gc
	every_checkpoint_intact "$name, after gc"
	check "$name: the damaged index was kept aside" test -n "$(ls -d "$S"/index.damaged-* 2>/dev/null || echo kept-none)"
}

psize=4096
damage "data.mdb removed" rm -f index/data.mdb
damage "data.mdb truncated to 0" truncate -s 0 index/data.mdb
damage "data.mdb truncated to half" 'truncate -s $(( $(stat -c %s index/data.mdb) / 2 )) index/data.mdb'
damage "index/ removed" rm -rf index
damage "data.mdb pages zeroed" "dd if=/dev/zero of=index/data.mdb bs=$psize seek=2 count=\$(( \$(stat -c %s index/data.mdb) / $psize - 2 )) conv=notrunc status=none"
damage "data.mdb pages random" "dd if=/dev/urandom of=index/data.mdb bs=$psize seek=3 count=2 conv=notrunc status=none"
ls -d "$S"/index.damaged-* >/dev/null 2>&1 && ok "damaged indexes are kept, never deleted ($(ls -d "$S"/index.damaged-* | wc -l))" ||
	not_ok "damaged indexes are kept"

# ---- a torn record at the end of the current pack is cut off at start
stop_daemon
pack=$(ls "$S/packs" | sort | tail -n 1)
size=$(stat -c %s "$S/packs/$pack")
head -c 60 "$S/packs/$pack" | tail -c 44 >/dev/null
# The first 3000 bytes of a real record (header and part of its payload).
dd if="$S/packs/$pack" bs=1 skip=16 count=3000 status=none >>"$S/packs/$pack"
start_daemon || exit 1
is "a torn record at the end of $pack is cut off at start" "$(stat -c %s "$S/packs/$pack")" "$size"
every_checkpoint_intact "after a torn record"

# ---- a checkpoint whose manifest file is gone is damaged, not absent
last=${want_ids% }
last=${last##* }
stop_daemon
mv "$S/manifests/$(printf %020d "$last")" "$T/manifest-$last"
start_daemon || exit 1
if ids | grep -qx "$last"; then ok "list still shows $last"; else not_ok "list still shows $last"; fi
out=$(ctl export "$last" --out "$T/gone.bin" --range "$range" 2>&1)
rc=$?
if [ $rc != 0 ] && grep -q "manifests/$(printf %020d "$last")" <<<"$out" && ! grep -qi "no such checkpoint" <<<"$out"; then
	ok "export of $last names the missing manifest ($out)"
else
	not_ok "export of $last names the missing manifest" "exit $rc" "$out"
fi
if grep -q "$(printf %020d "$last").*missing" "$T/ckptd.log"; then ok "ckptd warns about the missing manifest at start"; else not_ok "ckptd warns about the missing manifest at start"; fi
if ctl verify >"$T/verify.out" 2>&1; then not_ok "verify reports the missing manifest" "$(cat "$T/verify.out")"; else ok "verify reports the missing manifest"; fi
stop_daemon
mv "$T/manifest-$last" "$S/manifests/$(printf %020d "$last")"

# ---- the lock of a ckptd that is still going away is waited for
flock "$S/lock" sleep 1 &
holder=$!
sleep 0.2
if start_daemon; then
	ok "ckptd started while the state directory's lock was held for 1 s waits for it"
else
	not_ok "ckptd waits for the lock" "$(tail -n 3 "$T/ckptd.log")"
fi
wait $holder 2>/dev/null
every_checkpoint_intact "after the lock wait"
