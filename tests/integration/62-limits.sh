#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Fair shares of the control socket, which every local user may connect to:
# - 200 idle connections of one uid get its share (--max-clients-per-uid), the
#   rest a TooManyRequests error naming the limit; another uid is held off the
#   slots kept for root (--root-reserve); root's status still answers;
# - a slow reader (8 connections pipelining 10000 calls each, reading no
#   reply) is not read either: the daemon's memory grows by little, and every
#   reply arrives once it reads;
# - idle connections, and half messages, are closed after --idle-timeout (and
#   libckpt connects again for its next call); a
#   connection waiting for its calls is not;
# - the slow calls one uid has under way are bounded (--max-requests-per-uid),
#   root's still run;
# - status shows every limit and how often it was hit;
# - one uid tracks at most --max-tracked-per-uid processes;
# - out of file descriptors, ckptd pauses accept() instead of spinning on it.
. "$(dirname "$0")/lib.sh"
require_root
require_built "$WL/vlflood" "$WL/vlcall" "$WL/lab" "$WL/eng-mem" "$WL/idle-client"

OTHER=$((NOBODY - 1))
rss_kib() {
	awk '/^VmRSS:/ {print $2}' "/proc/$DAEMON_PID/status"
}
limit_hit() { # NAME: hits of that limit in status
	ctl_json status | jq -r ".limits.$1.hit"
}

# ---- connection shares ---------------------------------------------------------
start_daemon --max-clients 48 --max-clients-per-uid 32 --root-reserve 4 || exit 1
chmod 0666 "$T/sock"

start_workload_as "$NOBODY" idle vlflood "$T/sock" || exit 1
wl idle "open 200"
r=${REPLY[idle]}
is "uid $NOBODY: 32 of 200 idle connections are served" "$(kv "$r" open)" 32
is "uid $NOBODY: the other 168 are refused" "$(kv "$r" refused)" 168
is "uid $NOBODY: refused with TooManyRequests" "$(kv "$r" error)" io.ckptd.TooManyRequests
is "uid $NOBODY: the error names the limit" "$(kv "$r" limit)" clients_per_uid
if timeout 10 "$CKPTCTL" --socket "$T/sock" status >"$T/status.out" 2>&1; then
	ok "root: status answers beside 200 idle connections of uid $NOBODY"
else
	not_ok "root: status answers beside 200 idle connections of uid $NOBODY" "$(cat "$T/status.out")"
fi
out=$(as_nobody timeout 10 "$CKPTCTL" --socket "$T/sock" status 2>&1)
rc=$?
if [ $rc != 0 ] && grep -q "clients_per_uid" <<<"$out"; then
	ok "uid $NOBODY: ckptctl says which limit refused it: $out"
else
	not_ok "uid $NOBODY: ckptctl says which limit refused it" "exit $rc" "$out"
fi

# Another uid gets what is left but the root reserve: 48 - 4 - 32 = 12.
start_workload_as "$OTHER" other vlflood "$T/sock" || exit 1
wl other "open 20"
r=${REPLY[other]}
is "uid $OTHER: 12 connections, the slots left but root's" "$(kv "$r" open)" 12
is "uid $OTHER: refused by the root reserve" "$(kv "$r" limit)" root_reserve
check "root: status answers in the reserve" timeout 10 "$CKPTCTL" --socket "$T/sock" status
start_workload rootconns vlflood "$T/sock" || exit 1
wl rootconns "open 10"
r=${REPLY[rootconns]}
is "root: the 4 reserved slots, no more" "$(kv "$r" open)" 4
is "root: then refused by the total" "$(kv "$r" limit)" clients
wl rootconns close
wl other close
wl idle close
sleep 0.5

# ---- a slow reader ---------------------------------------------------------------
before=$(rss_kib)
wl idle "flood 8 10000"
r=${REPLY[idle]}
after=$(rss_kib)
growth=$(((after - before) / 1024))
diag "flood: $r; daemon VmRSS ${before} KiB -> ${after} KiB (+${growth} MiB)"
# 1 MiB of unsent replies per connection, as much of unread requests, and
# what malloc keeps: far below the 8 x 60 MiB of replies 10000 calls make.
if [ "$growth" -lt 64 ]; then
	ok "slow reader: daemon memory grew by ${growth} MiB (< 8 x 1 MiB cap + 56 MiB)"
else
	not_ok "slow reader: daemon memory grew by less than 64 MiB" "grew ${growth} MiB"
fi
if [ "$(kv "$r" unsent)" -gt 0 ]; then
	ok "slow reader: its requests are no longer read ($(kv "$r" sent) of 80000 sent)"
else
	not_ok "slow reader: its requests are no longer read" "$r"
fi
check "root: status answers beside the slow reader" timeout 10 "$CKPTCTL" --socket "$T/sock" status
wl idle drain
r=${REPLY[idle]}
is "slow reader: every reply arrives once it reads" "$(kv "$r" replies):$(kv "$r" errors):$(kv "$r" closed)" \
	"80000:0:0"
[ "$(limit_hit unsent_bytes)" -gt 0 ] && ok "status: unsent_bytes was hit" ||
	not_ok "status: unsent_bytes was hit" "$(ctl_json status | jq -c .limits)"
[ "$(limit_hit clients_per_uid)" -ge 168 ] && ok "status: clients_per_uid hit $(limit_hit clients_per_uid) times" ||
	not_ok "status: clients_per_uid hit at least 168 times" "$(ctl_json status | jq -c .limits)"
is "status: root_reserve hit" "$(limit_hit root_reserve)" 8
is "status: clients hit" "$(limit_hit clients)" 6
is "status: clients_per_uid's limit is 32" "$(ctl_json status | jq -r .limits.clients_per_uid.limit)" 32
if ctl status | grep -Eq '^limits: +clients +48 +hit 6$'; then
	ok "ckptctl status lists the limits"
else
	not_ok "ckptctl status lists the limits" "$(ctl status)"
fi
stop_daemon

# ---- idle timeout, requests under way per uid ---------------------------------
start_daemon --idle-timeout 2 --max-requests-per-uid 2 || exit 1
chmod 0666 "$T/sock"
start_workload conns vlflood "$T/sock" || exit 1
wl conns "open 5"
wl conns 'open 2 {"method":"io.ckptd.GetSta'
is "7 connections open" "$(kv "${REPLY[conns]}" open)" 7
closed=0
for i in $(seq 1 100); do
	wl conns alive
	closed=$(kv "${REPLY[conns]}" closed)
	[ "$closed" = 7 ] && break
	sleep 0.2
done
is "idle connections and half messages are closed after --idle-timeout 2" "$closed" 7
wl conns close
is "status: idle_timeout_sec hit 7 times" "$(limit_hit idle_timeout_sec)" 7

# libckpt makes a connection the daemon closed as idle again before its next
# call: a program that checkpoints now and then does not see the timeout.
if out=$("$WL/idle-client" "$T/sock" 4 2>&1); then
	ok "libckpt: a call after --idle-timeout closed its connection works ($(tr '\n' ' ' <<<"$out"))"
else
	not_ok "libckpt: a call after --idle-timeout closed its connection works" "$out"
fi
is "status: idle_timeout_sec hit once more, by that client" "$(limit_hit idle_timeout_sec)" 8

# A thread in vfork() (state D) makes each checkpoint wait 1 s, then refuse:
# four in a row keep the connection waiting past the idle timeout.
start_workload busy eng-mem vfork 300 || exit 1
bpid=$(wl_pid busy)
c="{\"method\":\"io.ckptd.Checkpoint\",\"parameters\":{\"pid\":$bpid}}"
r=$(vlcall -t 60 -c "$c" -c "$c" -c "$c" -c "$c" "$T/sock")
is "a connection waiting for its calls is not idle: 4 replies" \
	"$(jq -r '.error // "ok"' <<<"$r" 2>/dev/null | sort | uniq -c | tr -s ' ')" " 4 io.ckptd.ProcessBusy"
wl_kill busy

start_workload_as "$NOBODY" nbusy eng-mem vfork 300 || exit 1
start_workload rootlab lab 16 || exit 1
npid=$(wl_pid nbusy)
c="{\"method\":\"io.ckptd.Checkpoint\",\"parameters\":{\"pid\":$npid}}"
# Three calls in one write: read together, the third finds two under way.
r=$(as_nobody "$WL/vlcall" -t 60 -c "$c" -c "$c" -c "$c" "$T/sock")
is "uid $NOBODY: 3 checkpoints at once with --max-requests-per-uid 2: one refused" \
	"$(jq -r '.error // "ok"' <<<"$r" 2>/dev/null | sort | uniq -c | tr -s ' ' | tr '\n' ,)" \
	" 2 io.ckptd.ProcessBusy, 1 io.ckptd.TooManyRequests,"
is "uid $NOBODY: the refusal names the limit" \
	"$(jq -r 'select(.error == "io.ckptd.TooManyRequests") | "\(.parameters.name) \(.parameters.limit)"' <<<"$r")" \
	"requests_per_uid 2"
# Two under way on one connection, then a third call on another.
as_nobody "$WL/vlcall" -t 60 -c "$c" -c "$c" "$T/sock" >"$T/held.out" 2>&1 &
held=$!
sleep 0.3
out=$(as_nobody "$CKPTCTL" --socket "$T/sock" checkpoint "$npid" 2>&1)
rc=$?
if [ $rc != 0 ] && grep -q requests_per_uid <<<"$out"; then
	ok "uid $NOBODY: a third checkpoint on another connection is refused: $out"
else
	not_ok "uid $NOBODY: a third checkpoint on another connection is refused" "exit $rc" "$out"
fi
rid=$(ctl_json checkpoint "$(wl_pid rootlab)" | jq -r .id)
[ -n "$rid" ] && [ "$rid" != null ] && ok "root: checkpoint $rid meanwhile" ||
	not_ok "root: checkpoint meanwhile" "$(cat "$T/ctl.err")"
wait "$held"
is "uid $NOBODY: the two under way were answered" \
	"$(jq -r '.error // "ok"' <"$T/held.out" | sort | uniq -c | tr -s ' ')" " 2 io.ckptd.ProcessBusy"
[ "$(limit_hit requests_per_uid)" -ge 2 ] && ok "status: requests_per_uid hit $(limit_hit requests_per_uid) times" ||
	not_ok "status: requests_per_uid hit at least twice" "$(ctl_json status | jq -c .limits)"
check "ckptd still running" daemon_alive
stop_daemon

# ---- tracked processes per uid ------------------------------------------------
# One uid cannot take the tracker's slots from everyone else: with
# --max-tracked-per-uid 2, its third process (by hand or by a runtime policy)
# is refused by name; root is not held to it, and untracking frees a slot.
start_daemon --max-tracked-per-uid 2 || exit 1
chmod 0666 "$T/sock"
for h in t1 t2 t3; do start_workload_as "$NOBODY" $h lab 16 || exit 1; done
check "uid $NOBODY: tracks its first process" nctl track "$(wl_pid t1)"
check "uid $NOBODY: tracks its second process, every 1h" nctl track "$(wl_pid t2)" --every 1h
check "uid $NOBODY: tracking its second again is no third" nctl track "$(wl_pid t2)"
out=$(nctl track "$(wl_pid t3)" 2>&1)
rc=$?
if [ $rc != 0 ] && grep -q "tracked_per_uid" <<<"$out" && grep -q -- "--max-tracked-per-uid" <<<"$out"; then
	ok "uid $NOBODY: its third process is refused: $out"
else
	not_ok "uid $NOBODY: its third process is refused" "exit $rc" "$out"
fi
is "uid $NOBODY: the refusal is TooManyRequests naming the limit" \
	"$(nvl Track "{\"pid\":$(wl_pid t3)}")" io.ckptd.TooManyRequests
out=$(nctl track "$(wl_pid t3)" --every 1h 2>&1)
[ $? != 0 ] && ok "uid $NOBODY: nor by a runtime policy" || not_ok "uid $NOBODY: nor by a runtime policy" "$out"
[ ! -e "$T/run-policy/pid-$(wl_pid t3).policy" ] && ok "no runtime policy was written for it" ||
	not_ok "no runtime policy was written for it" "$(ls "$T/run-policy")"
start_workload rt lab 16 || exit 1
check "root: tracks beside it" ctl track "$(wl_pid rt)"
check "uid $NOBODY: untracks its first" nctl untrack "$(wl_pid t1)"
check "uid $NOBODY: then its third is tracked" nctl track "$(wl_pid t3)"
is "status: tracked_per_uid is 2, hit 3 times" \
	"$(ctl_json status | jq -r '.limits.tracked_per_uid | "\(.limit) \(.hit)"')" "2 3"
for h in t1 t2 t3 rt; do wl_kill $h; done
stop_daemon

# ---- out of file descriptors ----------------------------------------------------
# With its descriptors used up, accept() fails with EMFILE while the listening
# socket stays readable: ckptd pauses accepting instead of spinning on it, says
# so (not once per failure), and serves the waiting connections once
# descriptors are free again.
start_daemon || exit 1
chmod 0666 "$T/sock"
nfd=$(ls /proc/"$DAEMON_PID"/fd | wc -l)
prlimit --pid "$DAEMON_PID" --nofile=$((nfd + 4)):$((nfd + 4))
start_workload fds vlflood "$T/sock" || exit 1
wl fds "open 40"
cpu() { awk '{print $14 + $15}' /proc/"$DAEMON_PID"/stat; }
c0=$(cpu)
sleep 3
c1=$(cpu)
ticks=$(getconf CLK_TCK)
# A spinning loop burns the whole 3 s on its core; a paused one next to nothing.
if [ $((c1 - c0)) -lt $((ticks / 2)) ]; then
	ok "out of descriptors: ckptd does not spin ($((c1 - c0)) ticks of CPU in 3 s, $ticks a second)"
else
	not_ok "out of descriptors: ckptd does not spin" "$((c1 - c0)) ticks of CPU in 3 s ($ticks a second)"
fi
said=$(grep -c "cannot accept connections" "$T/ckptd.log")
[ "$said" -ge 1 ] && [ "$said" -le 2 ] && ok "out of descriptors: said $said times in 3 s" ||
	not_ok "out of descriptors: said once or twice in 3 s" "$(grep "cannot accept" "$T/ckptd.log" | tail -n 3)"
wl fds close
prlimit --pid "$DAEMON_PID" --nofile=1024:1024
check "descriptors free again: status answers" timeout 10 "$CKPTCTL" --socket "$T/sock" status
check "ckptd still running" daemon_alive
stop_daemon
