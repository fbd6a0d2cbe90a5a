#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The scheduler: a policy file with Interval=1s picks up a running process by
# its comm and checkpoints it every second, keeping only the newest Keep=;
# a bad policy file is reported with file:line and does not stop the others;
# `ckptctl track --every` writes a runtime policy that goes when the process
# exits; after a restart of ckptd a hand-tracked process is tracked again.
. "$(dirname "$0")/lib.sh"
require_root
require_built "$WL/lab" "$WL/memctl"

mkdir -p "$T/policy" "$T/run-policy"
cat >"$T/policy/lab.policy" <<'P'
# every second, the newest three
[Match]
Comm=lab
[Checkpoint]
Interval=1s
[Retention]
Keep=3
P
cat >"$T/policy/broken.policy" <<'P'
[Match]
Comm=whatever
[Checkpoint]
Interval=soon
P
start_daemon --runtime-policy-dir "$T/run-policy" || exit 1

start_workload lab lab 32 || exit 1
pid=$(wl_pid lab)

# The scan finds it within ~2 s; then one checkpoint a second.
if wait_checkpoints "$pid" 2; then
	ok "a policy matching comm 'lab' checkpoints it on schedule"
else
	not_ok "a policy matching comm 'lab' checkpoints it on schedule" "$(tail -n 20 "$T/ckptd.log")"
fi
# A process started now is found at its exec (BPF), before the next scan.
start_workload lab2 lab 8 || exit 1
pid2=$(wl_pid lab2)
for i in $(seq 1 30); do
	grep -q "pid $pid2 (lab) matches policy lab (found at its exec)" "$T/ckptd.log" && break
	sleep 0.05
done
if grep -q "pid $pid2 (lab) matches policy lab (found at its exec)" "$T/ckptd.log"; then
	ok "a process started later is found at its exec"
else
	not_ok "a process started later is found at its exec" "$(grep -i "matches policy" "$T/ckptd.log")"
fi
wl lab2 exit

st=$(ctl_json status)
is "status lists the process under policy 'lab'" \
	"$(jq -r --argjson p "$pid" '.processes[] | select(.pid == $p) | .policy' <<<"$st")" lab
due=$(jq -r --argjson p "$pid" '.processes[] | select(.pid == $p) | .next_due' <<<"$st")
[ -n "$due" ] && [ "$due" != null ] && ok "status shows the next due time ($due)" ||
	not_ok "status shows the next due time" "$st"

sleep 4.5
n=$(ctl_json list "$pid" | jq '.checkpoints | length')
last=$(ctl_json list "$pid" | jq '.checkpoints[-1].id')
if [ "${n:-0}" -ge 1 ] && [ "${n:-0}" -le 3 ] && [ "${last:-0}" -ge 5 ]; then
	ok "retention keeps the newest 3 ($n kept, newest id $last)"
else
	not_ok "retention keeps the newest 3" "kept $n, newest $last" "$(grep -i delet "$T/ckptd.log" | tail -n 5)"
fi
# The survivors are readable: the oldest kept one may have been a delta.
# Retention runs on: the oldest may be deleted between list and show, and is
# then no longer listed. A listed checkpoint that cannot be shown fails.
shown=no
for i in 1 2 3 4 5; do
	first=$(ctl_json list "$pid" | jq '.checkpoints[0].id')
	if ctl show "$first" >/dev/null 2>"$T/show.err"; then
		shown=yes
		break
	fi
	ctl_json list "$pid" | jq -e --argjson id "$first" '[.checkpoints[].id] | index($id) == null' \
		>/dev/null || break
done
is "the oldest kept checkpoint ($first) is readable" "$shown" yes || diag "$(cat "$T/show.err")"

pl=$(ctl_json policy list)
err=$(jq -r '.errors[0].error' <<<"$pl")
case "$err" in
*broken.policy:4:*) ok "the bad policy is reported with file:line ($err)" ;;
*) not_ok "the bad policy is reported with file:line" "$pl" ;;
esac
# ckptctl's human output shows the reason, not a placeholder.
case "$(ctl policy list 2>&1)" in
*"refused: "*broken.policy:4:*) ok "policy list prints the refused file's reason" ;;
*) not_ok "policy list prints the refused file's reason" "$(ctl policy list 2>&1)" ;;
esac
grep -q "broken.policy:4" "$T/ckptd.log" && ok "the bad policy is in the log" ||
	not_ok "the bad policy is in the log"

# A new policy file is picked up without a restart (inotify).
start_workload mc memctl || exit 1
mpid=$(wl_pid mc)
cat >"$T/policy/mc.policy.tmp" <<P
[Match]
Pid=$mpid
[Checkpoint]
Interval=500ms
P
mv "$T/policy/mc.policy.tmp" "$T/policy/mc.policy"
wait_checkpoints "$mpid" 1 60 && ok "a policy file added later is picked up (inotify)" ||
	not_ok "a policy file added later is picked up (inotify)" "$(tail -n 20 "$T/ckptd.log")"
rm -f "$T/policy/mc.policy"
sleep 0.5
st=$(ctl_json status)
is "removing the policy lets the process go" \
	"$(jq --argjson p "$mpid" '[.processes[] | select(.pid == $p)] | length' <<<"$st")" 0

# A dirty-size trigger checkpoints early: an hourly policy, 1 MiB trigger,
# and 4 MiB written.
start_workload dt memctl || exit 1
dpid=$(wl_pid dt)
wl dt "alloc big anon 2048"
cat >"$T/policy/dt.policy.tmp" <<P
[Match]
Pid=$dpid
[Checkpoint]
Interval=1h
DirtyTrigger=1M
P
mv "$T/policy/dt.policy.tmp" "$T/policy/dt.policy"
for i in $(seq 1 50); do
	st=$(ctl_json status)
	[ "$(jq --argjson p "$dpid" '[.processes[] | select(.pid == $p)] | length' <<<"$st")" = 1 ] && break
	sleep 0.1
done
sleep 0.5
n0=$(ctl_json list "$dpid" | jq '.checkpoints | length')
wl dt "write big 7 0 1024"
if wait_checkpoints "$dpid" $((${n0:-0} + 1)) 40; then
	ok "4 MiB written past a 1M trigger: an early checkpoint ($n0 -> $NCKPT) of an hourly policy"
else
	not_ok "a dirty-size trigger fires early" "before $n0, after $NCKPT" "$(ctl status)"
fi
rm -f "$T/policy/dt.policy"

# SIGHUP reloads: a policy written where inotify does not look (a rename
# into place is seen; a change of contents through a hard link is not)
# is applied on SIGHUP.
cat >"$T/policy/.hup.tmp" <<P
[Match]
Comm=nosuchprogram
[Checkpoint]
Interval=1h
P
ln "$T/policy/.hup.tmp" "$T/policy/hup.policy" 2>/dev/null || cp "$T/policy/.hup.tmp" "$T/policy/hup.policy"
kill -HUP "$DAEMON_PID"
sleep 0.5
is "SIGHUP reloads the policies" \
	"$(ctl_json policy list | jq -r '[.policies[].name] | index("hup") != null')" true
grep -q "SIGHUP, reloading" "$T/ckptd.log" && ok "the reload on SIGHUP is logged" ||
	not_ok "the reload on SIGHUP is logged"
rm -f "$T/policy/hup.policy" "$T/policy/.hup.tmp"

# track --every writes a runtime policy, removed when the process exits.
start_workload tr lab 8 || exit 1
tpid=$(wl_pid tr)
check "track --every 1s" ctl track "$tpid" --every 1s --keep 2
[ -f "$T/run-policy/pid-$tpid.policy" ] && ok "a runtime policy was written" ||
	not_ok "a runtime policy was written" "$(ls "$T/run-policy")"
sleep 1.5
n=$(ctl_json list "$tpid" | jq '.checkpoints | length')
[ "${n:-0}" -ge 1 ] && ok "the runtime policy checkpoints it ($n)" ||
	not_ok "the runtime policy checkpoints it"
wl tr exit
sleep 0.5
[ ! -f "$T/run-policy/pid-$tpid.policy" ] && ok "the runtime policy goes with the process" ||
	not_ok "the runtime policy goes with the process"
n=$(ctl_json list "$tpid" | jq '.checkpoints | length')
[ "${n:-0}" -ge 1 ] && ok "its checkpoints are kept after it exits" ||
	not_ok "its checkpoints are kept after it exits"

# A process tracked by hand is tracked again after a restart.
start_workload hand memctl || exit 1
hpid=$(wl_pid hand)
check "track by hand" ctl track "$hpid"
stop_daemon
start_daemon --runtime-policy-dir "$T/run-policy" || exit 1
for i in $(seq 1 50); do
	st=$(ctl_json status)
	[ "$(jq --argjson p "$hpid" '[.processes[] | select(.pid == $p)] | length' <<<"$st")" = 1 ] && break
	sleep 0.1
done
is "after a restart the hand-tracked process is tracked again" \
	"$(jq --argjson p "$hpid" '[.processes[] | select(.pid == $p)] | length' <<<"$st")" 1
note=$(jq -r --argjson p "$hpid" '.processes[] | select(.pid == $p) | .note' <<<"$st")
case "$note" in *restart*) ok "status says the next checkpoint reads everything" ;;
*) not_ok "status says the next checkpoint reads everything" "$st" ;; esac
stop_daemon
