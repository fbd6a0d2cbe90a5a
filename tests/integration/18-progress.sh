#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Progress of long work as Varlink "more" replies: a full checkpoint of a
# 1 GiB process (tests/bench/bigmem) called with more gets progress replies
# ({"progress": {"what": "store", "done", "total"}}, marked continues) before
# its final reply, done rising to total = the pages it read; called without
# more it gets the final reply only. ckptctl shows a progress line on a
# terminal (script(1)) and nothing extra when stderr is not a terminal or
# with --json. Export (pages), a whole-store verify (objects), a restore
# (pages compared) and gc (packs) report theirs too.
. "$(dirname "$0")/lib.sh"
require_built "$WL/vlcall" "$OUT/bench/bigmem"
require_root
require_bpf

start_daemon || exit 1
start_workload big "$OUT/bench/bigmem" 1024 text || exit 1
pid=$(wl_pid big)

vlcall -m -t 300 -c "{\"method\":\"io.ckptd.Checkpoint\",\"parameters\":{\"pid\":$pid,\"full\":true},\"more\":true}" \
	"$T/sock" >"$T/more.txt"
is "a checkpoint called with more ends with its final reply" \
	"$(tail -n 1 "$T/more.txt" | jq -r 'if .continues then "continues" elif .error then .error else "final" end')" final
read_pages=$(tail -n 1 "$T/more.txt" | jq '.parameters.pages_read')
head -n -1 "$T/more.txt" >"$T/progress.txt"
n=$(grep -c . "$T/progress.txt")
[ "$n" -ge 1 ] && ok "progress replies before it: $n" || not_ok "progress replies before the final reply" "$(cat "$T/more.txt")"
is "every one is marked continues and says what: store" \
	"$(jq -r '[.continues, .parameters.progress.what] | join(" ")' "$T/progress.txt" | sort -u)" "true store"
is "their total is the pages the checkpoint read ($read_pages, 1 GiB and more)" \
	"$(jq '.parameters.progress.total' "$T/progress.txt" | sort -u)" "$read_pages"
[ "${read_pages:-0}" -ge 262144 ] && ok "it read the 262144 pages of 1 GiB at least" ||
	not_ok "it read 1 GiB" "pages_read $read_pages"
is "done never falls and ends at total" \
	"$(jq '.parameters.progress.done' "$T/progress.txt" | awk -v t="$read_pages" '$1 < p { bad = 1 } { p = $1 } END { print (bad ? "fell" : (p == t ? "ok" : "ends at " p)) }')" ok
mid=$(jq --argjson t "$read_pages" 'select(.parameters.progress.done > 0 and .parameters.progress.done < $t)' "$T/progress.txt" | jq -s length)
diag "progress replies with 0 < done < total (sent while storing, every 250 ms): $mid"

vlcall -t 300 -c "{\"method\":\"io.ckptd.Checkpoint\",\"parameters\":{\"pid\":$pid,\"full\":true}}" \
	"$T/sock" >"$T/once.txt"
is "without more: the final reply only" "$(grep -c . "$T/once.txt") $(jq -r 'has("continues")' "$T/once.txt")" "1 false"

# ckptctl: a progress line on a terminal, erased before the result.
timeout 300 script -qefc "$CKPTCTL --socket $T/sock checkpoint $pid --full" /dev/null >"$T/tty.out" 2>&1
is "ckptctl checkpoint on a terminal: exit 0" "$?" 0
grep -qE "storing: [0-9]+ of [0-9]+ pages \([0-9]+%\)" "$T/tty.out" && ok "a progress line on the terminal" ||
	not_ok "a progress line on the terminal" "$(cat -v "$T/tty.out" | tail -c 400)"
grep -qF $'\r\e[K'"checkpoint " "$T/tty.out" && ok "the line is erased before the result" ||
	not_ok "the progress line is erased before the result" "$(cat -v "$T/tty.out" | tail -c 300)"
ctl checkpoint "$pid" --full >"$T/plain.out" 2>"$T/plain.err"
is "not on a terminal: exit 0, one line, nothing on stderr" \
	"$? $(grep -c . "$T/plain.out") $(wc -c <"$T/plain.err")" "0 1 0"
timeout 300 script -qefc "$CKPTCTL --socket $T/sock --json checkpoint $pid --full" /dev/null >"$T/json.out" 2>&1
is "--json on a terminal: exit 0" "$?" 0
if grep -q storing "$T/json.out"; then
	not_ok "--json on a terminal: no progress line" "$(cat -v "$T/json.out" | head -c 300)"
else
	ok "--json on a terminal: no progress line"
fi
tr -d '\r' <"$T/json.out" | jq -e .id >/dev/null && ok "--json: the reply as JSON" ||
	not_ok "--json: the reply as JSON" "$(head -c 300 "$T/json.out")"

# Export and verify report theirs the same way.
last=$(ctl_json list "$pid" | jq '.checkpoints[-1].id')
# 256 MiB of it (quicker).
start=$(kv "${READY[big]}" start)
range=$(printf '0x%x-0x%x' "$start" $((start + 256 * 1024 * 1024)))
timeout 300 script -qefc "$CKPTCTL --socket $T/sock export $last --out /dev/null --range $range" /dev/null >"$T/export.out" 2>&1
is "ckptctl export on a terminal: exit 0" "$?" 0
grep -qE "exporting: [0-9]+ of [0-9]+ pages" "$T/export.out" && ok "export: a progress line" ||
	not_ok "export: a progress line" "$(cat -v "$T/export.out" | tail -c 300)"
# The whole GiB: more runs than one reply lists (one page in eight is zero).
ctl --json export "$last" --out /dev/null >"$T/whole.json" 2>"$T/whole.err"
is "export of the whole GiB: exit 0" "$?" 0
is "its reply lists 4096 runs of the $(jq .runs "$T/whole.json") and counts all their pages" \
	"$(jq '[(.written | length), (.runs > 4096), (.pages_written > ([.written[].pages] | add))] | map(tostring) | join(" ")' -r "$T/whole.json")" \
	"4096 true true"
runs=$(jq .runs "$T/whole.json")
pw=$(jq .pages_written "$T/whole.json")
is "ckptctl export says the pages and runs of them all" \
	"$(ctl export "$last" --out /dev/null | grep -oE '[0-9]+ pages in [0-9]+ runs')" "$pw pages in $runs runs"
vlcall -m -t 300 -c '{"method":"io.ckptd.Verify","parameters":{},"more":true}' "$T/sock" >"$T/verify.txt"
is "verify called with more ends with its final reply, ok" \
	"$(tail -n 1 "$T/verify.txt" | jq -r '.parameters.ok')" true
head -n -1 "$T/verify.txt" >"$T/vprogress.txt"
[ "$(grep -c . "$T/vprogress.txt")" -ge 1 ] && ok "verify: progress replies before it" ||
	not_ok "verify: progress replies" "$(head -c 300 "$T/verify.txt")"
is "verify: what verify, done ending at total" \
	"$(tail -n 1 "$T/vprogress.txt" | jq -r '.parameters.progress | [.what, (.done == .total)] | join(" ")')" "verify true"
timeout 300 script -qefc "$CKPTCTL --socket $T/sock verify" /dev/null >"$T/verify.out" 2>&1
is "ckptctl verify on a terminal: exit 0" "$?" 0
grep -qE "verifying: [0-9]+ of [0-9]+ objects" "$T/verify.out" && ok "verify: a progress line" ||
	not_ok "verify: a progress line" "$(cat -v "$T/verify.out" | tail -c 300)"

# Restore (pages of the regions compared, while frozen) and gc (packs).
# Of the 1 GiB region only: the process's stack and libc data may change
# meanwhile, the region does not.
end=$(kv "${READY[big]}" end)
vlcall -m -t 300 -c "{\"method\":\"io.ckptd.Restore\",\"parameters\":{\"id\":$last,\"pid\":$pid,\"ranges\":[{\"start\":\"$start\",\"end\":\"$end\"}]},\"more\":true}" \
	"$T/sock" >"$T/restore.txt"
is "restore called with more: its final reply (nothing to write: the region is the same)" \
	"$(tail -n 1 "$T/restore.txt" | jq -r '.parameters.pages_written')" 0
head -n -1 "$T/restore.txt" >"$T/rprogress.txt"
is "restore: progress replies, what restore, the last at total" \
	"$(tail -n 1 "$T/rprogress.txt" | jq -r '.parameters.progress | [.what, (.done == .total and .total >= 262144)] | join(" ")')" \
	"restore true"
timeout 300 script -qefc "$CKPTCTL --socket $T/sock restore $last --pid $pid --range $start-$end" /dev/null >"$T/restore.out" 2>&1
is "ckptctl restore on a terminal: exit 0" "$?" 0
grep -qE "comparing: [0-9]+ of [0-9]+ pages" "$T/restore.out" && ok "restore: a progress line" ||
	not_ok "restore: a progress line" "$(cat -v "$T/restore.out" | tail -c 300)"
vlcall -m -t 300 -c '{"method":"io.ckptd.GC","parameters":{"keep":1},"more":true}' "$T/sock" >"$T/gc.txt"
is "gc called with more: its final reply" "$(tail -n 1 "$T/gc.txt" | jq -r 'has("continues") | not')" true
is "gc: progress replies, what gc, the last at total" \
	"$(head -n -1 "$T/gc.txt" | tail -n 1 | jq -r '.parameters.progress | [.what, (.done == .total and .total >= 1)] | join(" ")')" \
	"gc true"
wl_kill big
stop_daemon
