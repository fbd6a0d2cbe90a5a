#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Who may do what, from SO_PEERCRED: a non-root caller is refused on root's
# process but may checkpoint, show and export its own; it cannot see, show,
# export or delete root's checkpoints. Root sees everything.
. "$(dirname "$0")/lib.sh"
require_root
require_built "$WL/lab" "$WL/vlcall"


start_daemon || exit 1
chmod 0666 "$T/sock"
mkdir "$T/nobody"
chown "$NOBODY:$NOBODY" "$T/nobody"

start_workload rootlab lab 16 || exit 1
start_workload_as "$NOBODY" mylab lab 16 || exit 1
rpid=$(wl_pid rootlab)
npid=$(wl_pid mylab)
wl rootlab "fill 7"
wl mylab "fill 5"
rid=$(ctl_json checkpoint "$rpid" | jq -r .id)
[ -n "$rid" ] && [ "$rid" != null ] && ok "root: checkpoint $rid of its process" ||
	not_ok "root: checkpoint of its process" "$(cat "$T/ctl.err")"

# Refused on root's process, with one line on stderr.
out=$(nctl checkpoint "$rpid" 2>"$T/refused.err")
rc=$?
if [ $rc != 0 ] && [ "$(wc -l <"$T/refused.err")" = 1 ]; then
	ok "nobody: checkpoint of root's process refused: $(cat "$T/refused.err")"
else
	not_ok "nobody: checkpoint of root's process refused" "exit $rc" "$out" "$(cat "$T/refused.err")"
fi
is "nobody: Checkpoint of root's process" "$(nvl Checkpoint "{\"pid\":$rpid}")" io.ckptd.PermissionDenied
is "nobody: Track of root's process" "$(nvl Track "{\"pid\":$rpid}")" io.ckptd.PermissionDenied

# Its own process is fine.
nj=$(nctl --json checkpoint "$npid" 2>"$T/own.err")
nid=$(jq -r .id <<<"$nj" 2>/dev/null)
if [ -n "$nid" ] && [ "$nid" != null ]; then
	ok "nobody: checkpoint $nid of its own process"
else
	not_ok "nobody: checkpoint of its own process" "$nj" "$(cat "$T/own.err")"
fi
start=$(kv "${READY[mylab]}" start)
end=$(kv "${READY[mylab]}" end)
check "nobody: show its own checkpoint" nctl show "$nid"
check "nobody: export its own checkpoint" \
	nctl export "$nid" --out "$T/nobody/own.bin" --range "$start-$end"
perl -e 'print pack("l<", 5) x (16 * 1024)' >"$T/five"
check "nobody: its export holds its bytes" files_equal "$T/nobody/own.bin" "$T/five"
is "nobody's checkpoint is owned by uid $NOBODY" "$(ctl_json show "$nid" | jq -r .checkpoint.uid)" \
	"$NOBODY"

# Root's checkpoints are out of its reach.
denied="io.ckptd.PermissionDenied|io.ckptd.NoSuchCheckpoint"
for m in "Show {\"id\":$rid}" "Delete {\"id\":$rid}"; do
	e=$(nvl $m)
	case "|$denied|" in
	*"|$e|"*) ok "nobody: ${m%% *} of root's checkpoint: $e" ;;
	*) not_ok "nobody: ${m%% *} of root's checkpoint refused" "got $e" ;;
	esac
done
if nctl show "$rid" >"$T/show.out" 2>&1; then
	not_ok "nobody: ckptctl show of root's checkpoint fails" "$(cat "$T/show.out")"
else
	ok "nobody: ckptctl show of root's checkpoint fails"
fi
rm -f "$T/nobody/root.bin"
if nctl export "$rid" --out "$T/nobody/root.bin" >"$T/export.out" 2>&1; then
	not_ok "nobody: export of root's checkpoint fails" "$(cat "$T/export.out")"
else
	ok "nobody: export of root's checkpoint fails"
fi
sz=$(stat -c %s "$T/nobody/root.bin" 2>/dev/null || echo 0)
is "nobody: nothing of root's memory was written" "$sz" 0
is "nobody: list shows only its own" \
	"$(nctl --json list | jq -c '[.checkpoints[].id]')" "[$nid]"
is "nobody: list of root's pid shows nothing" \
	"$(nctl --json list "$rpid" 2>/dev/null | jq -c '[.checkpoints[]?.id]')" "[]"
is "root: list shows both" "$(ctl_json list | jq -c '[.checkpoints[].id] | sort')" \
	"$(jq -nc "[$rid, $nid] | sort")"
check "root: show of nobody's checkpoint" ctl show "$nid"
check "root's checkpoint is still there after nobody's Delete" ctl show "$rid"
stop_daemon
