#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Group checkpoints of a process tree. forktree's members (a root, children,
# a grandchild) keep writing random pages of their private memory; between
# checkpoints children are forked and others exit (one just before a
# checkpoint). At each round the whole tree is stopped at one moment
# (SIGSTOP to its process group), `ckptctl checkpoint --tree` takes one group
# checkpoint, and every member's checkpoint must equal that member's
# /proc/PID/mem (the oracle of lib-oracle.sh, read without populating it).
# Members tracked since the last round are read incrementally; a member new
# to the tree is armed and read whole. Then list, status, the member bound,
# the access rule and a Group=tree policy.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-oracle.sh"
require_root
require_built "$WL/forktree" "$WL/memdump"

start_daemon || exit 1
start_workload t forktree 512 || exit 1
root=$(wl_pid t)

spawn() { # PARENT PAGES: sets NEW_PID
	wl t "spawn $1 $2" || { not_ok "spawn under member $1" "${REPLY[t]}"; return 1; }
	NEW_PID=$(kv "${REPLY[t]}" pid)
}
spawn 0 256 && c1=$NEW_PID
spawn 0 128 && c2=$NEW_PID
spawn 1 64 && g1=$NEW_PID # a grandchild, under c1

tj=$(ctl_json track --tree "$root")
is "track --tree holds the root and its 3 descendants" "$(jq -r .members <<<"$tj")" 4
st=$(ctl_json status)
is "status shows the 4 members in the root's group" \
	"$(jq "[.processes[] | select(.group == $root)] | length" <<<"$st")" 4

# members: the pids of the live tree now (forktree's own view).
members() {
	wl t pids >/dev/null || return 1
	awk '$1 ~ /^[0-9]+$/ && NF == 2 { print $2 }' <<<"${OUTPUT[t]}" | sort -n
}

# round LABEL: stop the tree, one group checkpoint, compare every member.
round() {
	local label=$1 gj want got pid
	mapfile -t want < <(members)
	kill -STOP -- "-$root"
	for pid in "${want[@]}"; do
		wait_state "$pid" T || not_ok "$label: pid $pid stops" "state $(proc_state "$pid")"
	done
	gj=$(ctl_json checkpoint --tree "$root")
	GJ=$gj
	GID=$(jq -er .id <<<"$gj" 2>/dev/null)
	if [ -z "$GID" ]; then
		kill -CONT -- "-$root"
		not_ok "$label: group checkpoint" "$gj" "$(cat "$T/ctl.err")"
		return 1
	fi
	mapfile -t got < <(jq -r '.members[] | select(.id != null) | .pid' <<<"$gj" | sort -n)
	is "$label: the group holds every live member (${#want[@]})" "${got[*]}" "${want[*]}"
	compare_group "$gj" "${want[@]}"
	local rc=$?
	kill -CONT -- "-$root"
	if [ $rc = 0 ]; then
		ok "$label: every member's checkpoint equals its memory at the frozen moment (group $GID, read $(jq .pages_read <<<"$gj") pages, pause $(jq .pause_ms <<<"$gj") ms)"
	else
		not_ok "$label: every member's checkpoint equals its memory at the frozen moment" "${ORACLE_DIAG[@]}"
	fi
}

# incremental PID: the member's checkpoint in the last group was incremental.
incremental() {
	jq -r ".members[] | select(.pid == $1) | .incremental" <<<"$GJ"
}

sleep 0.3
round "round 1 (first)"
g_first=$GID

sleep 0.3
round "round 2 (writes only)"
for p in "$root" "$c1" "$c2" "$g1"; do
	is "round 2: pid $p was read incrementally" "$(incremental "$p")" true
done
read_pages=$(jq .pages_read <<<"$GJ")
total=$(jq .pages <<<"$GJ")
if [ "$read_pages" -lt "$total" ]; then
	ok "round 2: the group read $read_pages of its $total pages"
else
	not_ok "round 2: the group read fewer pages than it holds" "$read_pages of $total"
fi

spawn 0 96 && c3=$NEW_PID # a child forked between checkpoints
spawn 3 32 && g2=$NEW_PID # and its child
wl t "leave 2" || not_ok "child $c2 leaves" "${REPLY[t]}"
sleep 0.3
round "round 3 (a child and a grandchild forked, a child exited)"
is "round 3: the exited child is not a member" "$(jq "[.members[] | select(.pid == $c2)] | length" <<<"$GJ")" 0
for p in "$c3" "$g2"; do
	is "round 3: new member $p was armed and read whole" \
		"$(jq -r ".members[] | select(.pid == $p) | \"\(.armed) \(.incremental)\"" <<<"$GJ")" "true false"
done
is "round 3: pid $c1 still incremental" "$(incremental "$c1")" true

wl t "write 5 20" || not_ok "grandchild $g2 writes" "${REPLY[t]}"
wl t "leave 5" || not_ok "grandchild $g2 leaves just before the checkpoint" "${REPLY[t]}"
round "round 4 (a grandchild wrote and exited just before)"
for p in "$c3" "$g1"; do
	is "round 4: pid $p read incrementally" "$(incremental "$p")" true
done
st=$(ctl_json status)
is "status: the members that left are gone from the group" \
	"$(jq -c "[.processes[] | select(.group == $root) | .pid] | sort" <<<"$st")" \
	"$(jq -c -n "[$root, $c1, $g1, $c3] | sort")"

# restore GROUP-ID: every member back at the group's moment. The tree runs
# on and writes after the checkpoint; stopped again, it is rolled back, and
# each member's memory must equal its checkpoint again.
round "round 5 (to restore)"
g_restore=$GID
r_json=$GJ
sleep 0.3
kill -STOP -- "-$root"
mapfile -t rpids < <(jq -r '.members[] | select(.id != null) | .pid' <<<"$r_json")
for p in "${rpids[@]}"; do wait_state "$p" T; done
out=$(ctl restore "$g_restore" 2>&1)
if grep -q "^restored group checkpoint $g_restore into its ${#rpids[@]} processes" <<<"$out"; then
	ok "restore of group $g_restore: ${out#restored }"
else
	not_ok "restore of group $g_restore" "$out"
fi
bad=()
for p in "${rpids[@]}"; do
	id=$(jq -r ".members[] | select(.pid == $p) | .id" <<<"$r_json")
	compare_checkpoint "$p" "$id" || bad+=("pid $p checkpoint $id:" "${ORACLE_DIAG[@]}")
done
kill -CONT -- "-$root"
if [ ${#bad[@]} = 0 ]; then
	ok "after the group restore every member's memory equals its checkpoint"
else
	not_ok "after the group restore every member's memory equals its checkpoint" "${bad[@]}"
fi
refused "restore of an id that is no group's" io.ckptd.NoSuchCheckpoint ctl restore 999999

# Every member checkpoint is an ordinary one.
m1=$(jq -r ".members[] | select(.pid == $c1) | .id" <<<"$GJ")
check "verify accepts a member's checkpoint" ctl verify "$m1"
prev=$(ctl_json list "$c1" | jq -r '.checkpoints[-2].id')
check "diff accepts two member checkpoints" ctl diff "$prev" "$m1"

# list: one entry per group checkpoint, with its members.
lj=$(ctl_json list)
is "list --json: group $g_first has 4 members" \
	"$(jq "[.checkpoints[] | select(.group == $g_first)] | length" <<<"$lj")" 4
txt=$(ctl list)
if grep -Eq "^ *$GID +- +$root +forktree .* group\\(4\\)" <<<"$txt" &&
	[ "$(grep -c '+ delta\|+ full' <<<"$txt")" -ge 14 ]; then
	ok "list shows each group checkpoint as one entry, its members under it"
else
	not_ok "list shows each group checkpoint as one entry, its members under it" "$txt"
fi
diag "$(head -n 8 <<<"$txt")"
sg=$(ctl show "$GID")
if grep -q "^group checkpoint $GID" <<<"$sg" && [ "$(grep -c '+ delta' <<<"$sg")" = 4 ]; then
	ok "show of a group's id shows the group and its 4 members"
else
	not_ok "show of a group's id shows the group and its 4 members" "$sg"
fi
is "show --json of a group's id lists its members" "$(ctl_json show "$GID" | jq '.members | length')" 4
refused "show of an id that is neither" io.ckptd.NoSuchCheckpoint ctl show 999999

# Access: nobody may not checkpoint root's tree.
refused "nobody's checkpoint --tree of root's tree" io.ckptd.PermissionDenied nctl checkpoint --tree "$root"

# The member bound: a tree of 70 processes is refused, nothing stays frozen.
bash -c 'for i in $(seq 70); do sleep 600 & done; wait' &
big=$!
for _ in $(seq 50); do
	[ "$(ls /proc/$big/task/*/children 2>/dev/null | xargs cat 2>/dev/null | wc -w)" -ge 70 ] && break
	sleep 0.1
done
refused "a tree of 71 processes" io.ckptd.TooManyRequests ctl checkpoint --tree "$big"
out=$(ctl checkpoint --tree "$big" 2>&1)
if grep -q group_members <<<"$out"; then ok "the refusal names the limit"; else not_ok "the refusal names the limit" "$out"; fi
n_stopped=$(for p in $(cat /proc/$big/task/*/children) $big; do proc_state "$p"; echo; done | grep -c '^[tT]$')
is "no process of the refused tree is left stopped" "$n_stopped" 0
pkill -KILL -P "$big" 2>/dev/null
kill -KILL "$big" 2>/dev/null
wait "$big" 2>/dev/null

# A cgroup as a group (--cgroup PATH, --unit NAME): every process of the
# cgroup, whatever its parent, in one frozen moment.
cg2=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo)
unit=ckpt-test-$$.service
if [ -n "$cg2" ] && mkdir "$cg2/$unit" 2>/dev/null; then
	start_workload u forktree 256 || exit 1
	uroot=$(wl_pid u)
	echo "$uroot" >"$cg2/$unit/cgroup.procs"
	wl u "spawn 0 64" && wl u "spawn 1 32" || not_ok "forktree in $unit forks" "${REPLY[u]}"
	sleep 600 &
	other=$!
	echo "$other" >"$cg2/$unit/cgroup.procs"
	mapfile -t want < <(sort -n "$cg2/$unit/cgroup.procs")
	kill -STOP -- "-$uroot" "$other"
	for p in "${want[@]}"; do wait_state "$p" T; done
	gj=$(ctl_json checkpoint --unit "$unit")
	mapfile -t got < <(jq -r '.members[] | select(.id != null) | .pid' <<<"$gj" 2>/dev/null | sort -n)
	is "--unit $unit: the group holds the cgroup's ${#want[@]} processes" "${got[*]}" "${want[*]}"
	is "--unit: the reply names the cgroup" "$(jq -r .cgroup <<<"$gj")" "/$unit"
	bad=()
	for p in "${want[@]}"; do
		id=$(jq -r ".members[] | select(.pid == $p) | .id" <<<"$gj")
		compare_checkpoint "$p" "$id" || bad+=("pid $p checkpoint $id:" "${ORACLE_DIAG[@]}")
	done
	kill -CONT -- "-$uroot" "$other"
	if [ ${#bad[@]} = 0 ]; then
		ok "--unit: every member's checkpoint equals its memory at the frozen moment"
	else
		not_ok "--unit: every member's checkpoint equals its memory at the frozen moment" "${bad[@]}"
	fi
	check "--cgroup /$unit takes a group checkpoint" ctl checkpoint --cgroup "/$unit"
	refused "nobody's checkpoint of a cgroup of root's processes" io.ckptd.PermissionDenied \
		nctl checkpoint --cgroup "/$unit"
	if out=$(ctl checkpoint --cgroup "/$unit/../x" 2>&1); then
		not_ok "--cgroup with a '..' component is refused" "$out"
	else
		is "--cgroup with a '..' component is refused" "$(grep -o 'InvalidParameter' <<<"$out")" InvalidParameter
	fi

	# Tracked: by hand, then by a policy with Group=cgroup.
	tj=$(ctl_json track --unit "$unit" --every 1)
	anchor=$(jq -r .pid <<<"$tj")
	is "track --unit: the group is named by the cgroup's lowest pid" "$anchor" "${want[0]}"
	is "track --unit: it holds the cgroup's ${#want[@]} processes" "$(jq -r .members <<<"$tj")" ${#want[@]}
	wl u "spawn 2 16" || not_ok "a process enters the cgroup (forked)" "${REPLY[u]}"
	late=$(kv "${REPLY[u]}" pid)
	n=0
	for _ in $(seq 60); do
		n=$(ctl_json status | jq "[.processes[] | select(.group == $anchor)] | length")
		[ "${n:-0}" -ge $((${#want[@]} + 1)) ] && break
		sleep 0.1
	done
	is "track --unit: a process forked into the cgroup joins the group" "$n" $((${#want[@]} + 1))
	lj=$(ctl_json list "$late")
	is "track --unit: the newcomer's first checkpoint in the group read it whole" \
		"$(jq -r '.checkpoints[0] | "\(.incremental) \(.group != null)"' <<<"$lj")" "false true"
	ctl untrack "$anchor" >/dev/null
	is "untrack of the group's pid ends the group" \
		"$(ctl_json status | jq "[.processes[] | select(.group == $anchor)] | length")" 0
	cat >"$T/policy/unit.policy" <<EOF
[Match]
Cgroup=/$unit

[Checkpoint]
Interval=1s
Group=cgroup
EOF
	ctl policy reload >/dev/null
	n=0
	in_cg=$(jq -c -s . "$cg2/$unit/cgroup.procs")
	for _ in $(seq 100); do
		st=$(ctl_json status)
		n=$(jq "[.processes[] | select(.pid as \$p | $in_cg | index(\$p)) | select(.group != null) | .group] | unique | length" <<<"$st")
		m=$(jq "[.processes[] | select(.pid as \$p | $in_cg | index(\$p)) | select(.group != null)] | length" <<<"$st")
		[ "${m:-0}" -ge $((${#want[@]} + 1)) ] && break
		sleep 0.1
	done
	is "Group=cgroup: the cgroup's $((${#want[@]} + 1)) processes tracked as one group" "$n $m" "1 $((${#want[@]} + 1))"
	rm -f "$T/policy/unit.policy"
	ctl policy reload >/dev/null
	kill -KILL "$other"
	wait "$other" 2>/dev/null
	wl u exit
	for _ in $(seq 50); do rmdir "$cg2/$unit" 2>/dev/null && break; sleep 0.1; done
else
	skip "--cgroup and --unit" "no cgroup2 hierarchy to make a cgroup in"
fi

# A tree tracked by hand is tracked again, as a tree, after a restart.
stop_daemon
start_daemon || exit 1
n=0
for _ in $(seq 100); do
	n=$(ctl_json status | jq "[.processes[] | select(.group == $root)] | length")
	[ "${n:-0}" -ge 4 ] && break
	sleep 0.1
done
is "after a restart the tree of $root is tracked again with its 4 members" "$n" 4
gj=$(ctl_json checkpoint --tree "$root")
is "after a restart its new members are armed again and read whole" \
	"$(jq -c '[.members[] | .incremental] | unique' <<<"$gj")" '[false]'

# A policy with Group=tree: the scheduler checkpoints the tree as one group.
ctl untrack "$root" >/dev/null || not_ok "untrack the tree" "$(ctl untrack "$root" 2>&1)"
cat >"$T/policy/tree.policy" <<EOF
[Match]
Pid=$root

[Checkpoint]
Interval=1s
Group=tree

[Retention]
Keep=3
EOF
ctl policy reload >/dev/null
before=$(ctl_json list | jq '[.checkpoints[].group] | max')
got=
for _ in $(seq 100); do
	got=$(ctl_json list | jq "[.checkpoints[] | select(.group != null and .group > $before) | .group] | unique | length")
	[ "${got:-0}" -ge 2 ] && break
	sleep 0.1
done
if [ "${got:-0}" -ge 2 ]; then ok "Group=tree: the scheduler took $got group checkpoints of the tree"; else not_ok "Group=tree: the scheduler took group checkpoints" "got ${got:-none}" "$(tail -n 20 "$T/ckptd.log")"; fi
st=$(ctl_json status)
is "Group=tree: status shows the tree's 4 members in one group" \
	"$(jq "[.processes[] | select(.group == $root)] | length" <<<"$st")" 4
is "Group=tree: the root runs under the policy" \
	"$(jq -r ".processes[] | select(.pid == $root) | .policy" <<<"$st")" tree

# Its dirty trigger counts the writes of every member: with the root quiet,
# a child's writes alone start a group checkpoint long before the interval.
cat >"$T/policy/tree.policy" <<EOF
[Match]
Pid=$root

[Checkpoint]
Interval=1h
DirtyTrigger=128K
Group=tree
EOF
ctl policy reload >/dev/null
wl t "quiet 1" || not_ok "the tree stops writing" "${REPLY[t]}"
sleep 1
before=$(ctl_json list | jq '[.checkpoints[].group // 0] | max')
sleep 1
is "Group=tree, DirtyTrigger=: no group checkpoint while the tree is quiet" \
	"$(ctl_json list | jq '[.checkpoints[].group // 0] | max')" "$before"
wl t "write 1 96" || not_ok "child $c1 writes 96 pages" "${REPLY[t]}"
got=
for _ in $(seq 50); do
	got=$(ctl_json list | jq "[.checkpoints[] | select((.group // 0) > $before) | .group] | unique | length")
	[ "${got:-0}" -ge 1 ] && break
	sleep 0.1
done
if [ "${got:-0}" -ge 1 ]; then
	ok "Group=tree, DirtyTrigger=: a child's writes start a group checkpoint"
else
	not_ok "Group=tree, DirtyTrigger=: a child's writes start a group checkpoint" "$(ctl status)"
fi
wl t "quiet 0" >/dev/null
rm -f "$T/policy/tree.policy"
ctl policy reload >/dev/null

wl t exit
stop_daemon
