#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Who may act on a process (daemon/basic/access.h), as the kernel decides ptrace
# access: a setuid-root program started by uid nobody holding a root-only file
# is refused to nobody for checkpoint, track, export and restore (its memory is
# unchanged after a refused restore); so is a process of nobody's that holds
# capabilities; a process nobody tracks with --every that then execs the
# setuid program is refused at the next scheduled checkpoint, logged once and
# let go, nothing of the new image stored. Status, list and policy list show
# nobody only its own, and a policy file it may not read is not quoted to it.
# ckptd refuses itself (pid and threads) to root. Nobody's own ordinary
# process stays open to it: checkpoint, track, export, restore.
. "$(dirname "$0")/lib.sh"
require_root
require_built "$WL/vlcall"
command -v cc >/dev/null || skip_all "no C compiler for the setuid helper"

rvl() { # the same as root
	"$WL/vlcall" -c "{\"method\":\"io.ckptd.$1\",\"parameters\":$2}" "$T/sock" |
		jq -r '.error // "ok"'
}

# ---- the helper: one program, three modes ------------------------------------
#   hold FILE        read FILE into a page of its own, print its address
#   mimic ADDR BYTE  map a page at ADDR filled with BYTE
#   exec PROG ARGS   wait for a line, then exec PROG ARGS (same pid)
# Each prints one "ready ..." line, then waits for "quit" on stdin.
cat >"$T/helper.c" <<'C'
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	char line[256], *p;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 3 && strcmp(argv[1], "hold") == 0) {
		int fd = open(argv[2], O_RDONLY | O_CLOEXEC);
		ssize_t n;

		p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (fd < 0 || p == MAP_FAILED || (n = read(fd, p, 4095)) <= 0) {
			perror(argv[2]);
			return 1;
		}
		close(fd);
		printf("ready addr=%p uid=%d euid=%d\n", (void *)p, (int)getuid(), (int)geteuid());
	} else if (argc == 4 && strcmp(argv[1], "mimic") == 0) {
		void *want = (void *)strtoull(argv[2], NULL, 0);

		p = mmap(want, 4096, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
		if (p != want) {
			perror("mmap");
			return 1;
		}
		memset(p, (int)strtol(argv[3], NULL, 0), 4096);
		printf("ready addr=%p\n", (void *)p);
	} else if (argc >= 3 && strcmp(argv[1], "exec") == 0) {
		printf("ready pid=%d\n", (int)getpid());
		if (!fgets(line, sizeof(line), stdin))
			return 1;
		execv(argv[2], argv + 2);
		perror(argv[2]);
		return 1;
	} else {
		fprintf(stderr, "usage: helper hold FILE | mimic ADDR BYTE | exec PROG ARGS...\n");
		return 2;
	}
	while (fgets(line, sizeof(line), stdin))
		if (strncmp(line, "quit", 4) == 0)
			break;
	return 0;
}
C
cc -O1 -o "$T/plain" "$T/helper.c" || { not_ok "build the helper" "cc failed"; exit 1; }
install -o root -g root -m 4755 "$T/plain" "$T/suid"
case ",$(findmnt -n -o OPTIONS -T "$T")," in
*,nosuid,*) skip_all "$T is on a nosuid filesystem" ;;
esac
head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$T/secret.hex"
printf 'root-only secret %s\n' "$(cat "$T/secret.hex")" >"$T/secret"
chmod 0600 "$T/secret"
SECRET=$(cat "$T/secret")
if as_nobody cat "$T/secret" >/dev/null 2>&1; then
	not_ok "the secret is root's only"
	exit 1
fi

# mem PID ADDR: the first bytes of the page at ADDR, read by root.
mem() {
	dd if="/proc/$1/mem" bs=4096 skip=$(($2 / 4096)) count=1 status=none 2>/dev/null |
		head -c ${#SECRET}
}

start_daemon || exit 1
chmod 0666 "$T/sock"
mkdir "$T/nobody"
chown "$NOBODY:$NOGROUP" "$T/nobody"

# ---- a setuid-root program started by nobody ---------------------------------

start_workload_as "$NOBODY" suid "$T/suid" hold "$T/secret" || exit 1
spid=$(wl_pid suid)
saddr=$(kv "${READY[suid]}" addr)
is "the setuid helper runs with real uid $NOBODY, effective uid 0" \
	"$(kv "${READY[suid]}" uid) $(kv "${READY[suid]}" euid)" "$NOBODY 0"
is "root reads the secret in its memory" "$(mem "$spid" "$saddr")" "$SECRET"
send=$((saddr + 4096))
srange=$(printf '0x%x-0x%x' "$saddr" "$send")

refused "nobody: checkpoint of the setuid process" io.ckptd.PermissionDenied \
	nctl checkpoint "$spid"
is "nobody: Checkpoint of the setuid process" "$(nvl Checkpoint "{\"pid\":$spid}")" \
	io.ckptd.PermissionDenied
refused "nobody: track of the setuid process" io.ckptd.PermissionDenied nctl track "$spid"
refused "nobody: track --every of the setuid process" io.ckptd.PermissionDenied \
	nctl track "$spid" --every 1s
is "no runtime policy was written for it" "$(ls "$T/run-policy" 2>/dev/null | grep -c "pid-$spid")" 0
refused "nobody: untrack of the setuid process" "io.ckptd.PermissionDenied" nctl untrack "$spid"

# Root may; the checkpoint is root's, not its invoker's.
sid=$(ctl_json checkpoint "$spid" --range "$srange" | jq -r .id)
[ -n "$sid" ] && [ "$sid" != null ] && ok "root: checkpoint $sid of the setuid process" ||
	not_ok "root: checkpoint of the setuid process" "$(cat "$T/ctl.err")"
is "its checkpoint belongs to uid 0" "$(ctl_json show "$sid" | jq -r .checkpoint.uid)" 0
rm -f "$T/nobody/suid.bin"
refused "nobody: export of the setuid process's checkpoint" \
	"io.ckptd.NoSuchCheckpoint|io.ckptd.PermissionDenied" \
	nctl export "$sid" --out "$T/nobody/suid.bin" --range "$srange"
if grep -qF "$(cat "$T/secret.hex")" "$T/nobody/suid.bin" 2>/dev/null; then
	not_ok "nobody: the secret is not in its export"
else
	ok "nobody: the secret is not in its export"
fi
is "nobody: list does not show it" \
	"$(nctl --json list | jq -c --argjson i "$sid" '[.checkpoints[] | select(.id == $i)]')" "[]"
check "root: export of it holds the secret" \
	ctl export "$sid" --out "$T/suid.bin" --range "$srange"
is "root: the export starts with the secret" "$(head -c ${#SECRET} "$T/suid.bin")" "$SECRET"

# Restore: nobody checkpoints a page of its own at the same address, then
# asks to write it into the setuid process.
start_workload_as "$NOBODY" mimic "$T/plain" mimic "$saddr" 0x41 || exit 1
mpid=$(wl_pid mimic)
aid=$(nctl --json checkpoint "$mpid" --range "$srange" 2>"$T/mimic.err" | jq -r .id)
[ -n "$aid" ] && [ "$aid" != null ] && ok "nobody: checkpoint $aid of its own page at $saddr" ||
	not_ok "nobody: checkpoint of its own page" "$(cat "$T/mimic.err")"
refused "nobody: restore of its checkpoint into the setuid process" io.ckptd.PermissionDenied \
	nctl restore "$aid" --pid "$spid" --range "$srange"
is "nobody: Restore into the setuid process" \
	"$(nvl Restore "{\"id\":$aid,\"pid\":$spid,\"ranges\":[{\"start\":\"$saddr\",\"end\":\"$(printf 0x%x "$send")\"}]}")" \
	io.ckptd.PermissionDenied
is "the setuid process's memory is unchanged" "$(mem "$spid" "$saddr")" "$SECRET"

# ---- a process of nobody's holding capabilities ------------------------------

setpriv --reuid="$NOBODY" --regid="$NOGROUP" --clear-groups --inh-caps +sys_nice \
	--ambient-caps +sys_nice sleep 600 &
cpid=$!
for i in $(seq 1 50); do
	grep -q '^CapPrm:.*[1-9a-f]' "/proc/$cpid/status" 2>/dev/null &&
		[ "$(stat -c %u "/proc/$cpid/status")" = "$NOBODY" ] && break
	sleep 0.1
done
capprm=$(awk '/^CapPrm:/ {print $2}' "/proc/$cpid/status")
diag "capable process $cpid: CapPrm $capprm, /proc owned by $(stat -c %u:%g "/proc/$cpid/status")"
if [ "$capprm" != 0000000000000000 ] && [ "$(stat -c %u "/proc/$cpid/status")" = "$NOBODY" ]; then
	ok "a dumpable process of uid $NOBODY holding capabilities"
	out=$(nctl checkpoint "$cpid" 2>&1)
	rc=$?
	case "$rc $out" in
	0*) not_ok "nobody: checkpoint of its process holding capabilities refused" "$out" ;;
	*capabilit*PermissionDenied*) ok "nobody: checkpoint of its process holding capabilities refused: $out" ;;
	*) not_ok "nobody: checkpoint of its process holding capabilities refused (capabilities)" "$out" ;;
	esac
	refused "nobody: track of its process holding capabilities" io.ckptd.PermissionDenied \
		nctl track "$cpid"
	check "root: checkpoint of it" ctl checkpoint "$cpid"
else
	not_ok "a dumpable process of uid $NOBODY holding capabilities" \
		"$(grep -E '^(Uid|Cap)' "/proc/$cpid/status")"
fi
kill "$cpid" 2>/dev/null
wait "$cpid" 2>/dev/null

# ---- credentials that change after the request -------------------------------

start_workload_as "$NOBODY" execer "$T/plain" exec "$T/suid" hold "$T/secret" || exit 1
epid=$(wl_pid execer)
check "nobody: track --every 1s of its own process" nctl track "$epid" --every 1s
if wait_checkpoints "$epid" 1; then
	ok "its scheduled checkpoints are taken ($NCKPT)"
else
	not_ok "its scheduled checkpoints are taken" "$(tail -n 20 "$T/ckptd.log")"
fi
printf 'go\n' >&"${WL_IN[execer]}"
IFS= read -r -t 30 -u "${WL_OUT[execer]}" line
eaddr=$(kv "$line" addr)
is "it exec'd the setuid helper" "$(kv "$line" euid)" 0
gone="no longer tracked: uid $NOBODY may no longer act on it"
for i in $(seq 1 100); do
	grep -q "pid $epid .*$gone" "$T/ckptd.log" && break
	sleep 0.1
done
if grep -q "pid $epid .*$gone" "$T/ckptd.log"; then
	ok "the next scheduled checkpoint is refused and logged: $(grep -m1 "pid $epid .*$gone" "$T/ckptd.log" | sed 's/.*no longer/no longer/')"
else
	not_ok "the next scheduled checkpoint is refused and logged" "$(grep "$epid" "$T/ckptd.log" | tail -n 10)"
fi
sleep 2.5 # two more intervals: nothing more is tried, nothing more is said
is "logged once" "$(grep -c "pid $epid .*$gone" "$T/ckptd.log")" 1
is "status no longer lists it" \
	"$(ctl_json status | jq --argjson p "$epid" '[.processes[] | select(.pid == $p)] | length')" 0
is "its runtime policy is gone" "$(ls "$T/run-policy" | grep -c "^pid-$epid\.")" 0
# Nothing of the new image: no checkpoint of it maps the setuid program.
after=0
for id in $(ctl_json list "$epid" | jq -r '.checkpoints[].id'); do
	if ctl_json show "$id" | jq -e --arg p "$T/suid" '[.regions[] | select(.path == $p)] | length > 0' >/dev/null; then
		after=$((after + 1))
	fi
done
is "no checkpoint of the exec'd image was stored" "$after" 0
is "the exec'd process still holds the secret, untouched" "$(mem "$epid" "$eaddr")" "$SECRET"

# ---- what each caller sees -------------------------------------------------------

start_workload rootlab lab 8 || exit 1
start_workload_as "$NOBODY" mylab lab 8 || exit 1
rpid=$(wl_pid rootlab)
npid=$(wl_pid mylab)
check "root: track its process" ctl track "$rpid"
check "nobody: track its own process (--every 1h)" nctl track "$npid" --every 1h
nid=$(nctl --json checkpoint "$npid" 2>"$T/own.err" | jq -r .id)
[ -n "$nid" ] && [ "$nid" != null ] && ok "nobody: checkpoint $nid of its own process" ||
	not_ok "nobody: checkpoint of its own process" "$(cat "$T/own.err")"
nstart=$(kv "${READY[mylab]}" start)
nend=$(kv "${READY[mylab]}" end)
check "nobody: export of its own checkpoint" \
	nctl export "$nid" --out "$T/nobody/own.bin" --range "$nstart-$nend"
wl mylab "fill 3" || not_ok "nobody's lab: fill 3" "${REPLY[mylab]}"
check "nobody: restore of its own checkpoint into its own process" \
	nctl restore "$nid" --pid "$npid" --range "$nstart-$nend"
check "nobody: its process holds the checkpoint's bytes again" \
	sh -c "dd if=/proc/$npid/mem bs=4096 skip=\$(($nstart / 4096)) count=\$((($nend - $nstart) / 4096)) status=none | cmp -s - '$T/nobody/own.bin'"

nst=$(nctl --json status)
is "nobody: status lists only its own processes" \
	"$(jq -c '[.processes[].pid]' <<<"$nst")" "[$npid]"
is "nobody: status shows no store path" "$(jq -r .store.path <<<"$nst")" null
mine=$(nctl --json list | jq '.checkpoints | length')
is "nobody: status counts only its own checkpoints" "$(jq .store.checkpoints <<<"$nst")" "$mine"
is "nobody: list shows only its own" \
	"$(nctl --json list | jq -c "[.checkpoints[].uid] | unique")" "[$NOBODY]"
rst=$(ctl_json status)
if [ "$(jq .store.checkpoints <<<"$rst")" -gt "$mine" ] &&
	[ "$(jq -r .store.path <<<"$rst")" = "$T/state" ]; then
	ok "root: status shows the whole store ($(jq .store.checkpoints <<<"$rst") checkpoints)"
else
	not_ok "root: status shows the whole store" "$rst"
fi
is "root: status lists both tracked processes" \
	"$(jq -c "[.processes[].pid | select(. == $rpid or . == $npid)] | sort" <<<"$rst")" \
	"$(jq -nc "[$rpid, $npid] | sort")"

# Policies: root's own, nobody's runtime one, and a root-placed symlink to a
# root-only file that is not a policy.
cat >"$T/policy/rootonly.policy" <<'P'
[Match]
Comm=no-such-comm
[Checkpoint]
Interval=1h
P
ln -s "$T/secret" "$T/policy/leak.policy"
ctl policy reload >/dev/null 2>&1
npl=$(nctl --json policy list)
rpl=$(ctl_json policy list)
is "nobody: policy list shows only its own policies" \
	"$(jq -c '[.policies[].name]' <<<"$npl")" "[\"pid-$npid\"]"
is "root: policy list shows root's policy too" \
	"$(jq -c '[.policies[].name | select(. == "rootonly" or . == "pid-'"$npid"'")] | sort' <<<"$rpl")" \
	"$(jq -nc "[\"pid-$npid\", \"rootonly\"] | sort")"
rerr=$(jq -r '.errors[] | select(.path | endswith("leak.policy")) | .error' <<<"$rpl")
nerr=$(jq -r '.errors[] | select(.path | endswith("leak.policy")) | .error' <<<"$npl")
case "$rerr" in
*"$(cat "$T/secret.hex")"*) ok "root: the error quotes the file: $rerr" ;;
*) not_ok "root: the error quotes the file" "$rpl" ;;
esac
case "$nerr" in
"") not_ok "nobody: the error is listed" "$npl" ;;
*"$(cat "$T/secret.hex")"* | *secret*) not_ok "nobody: the error does not quote the file" "$nerr" ;;
*) ok "nobody: the error does not quote the file: $nerr" ;;
esac
if nctl policy list 2>&1 | grep -qF "$(cat "$T/secret.hex")"; then
	not_ok "nobody: ckptctl policy list does not show the file's content"
else
	ok "nobody: ckptctl policy list does not show the file's content"
fi
rm -f "$T/policy/leak.policy" "$T/policy/rootonly.policy"

# ---- ckptd itself ------------------------------------------------------------

self="pid $DAEMON_PID is ckptd itself"
for args in "checkpoint $DAEMON_PID" "track $DAEMON_PID" "track $DAEMON_PID --every 1s" \
	"restore $sid --pid $DAEMON_PID"; do
	out=$(ctl $args 2>&1)
	rc=$?
	case "$rc $out" in
	0*) not_ok "root: $args refused" "$out" ;;
	*"$self"*PermissionDenied*) ok "root: ${args%% [0-9]*} of ckptd refused: $out" ;;
	*) not_ok "root: $args refused with '$self'" "$out" ;;
	esac
done
is "no runtime policy was written for ckptd" \
	"$(ls "$T/run-policy" | grep -c "^pid-$DAEMON_PID\.")" 0
tid=$(ls "/proc/$DAEMON_PID/task" | grep -vx "$DAEMON_PID" | head -n 1)
if [ -n "$tid" ]; then
	out=$(ctl checkpoint "$tid" 2>&1)
	case "$out" in
	*"pid $tid is ckptd itself"*) ok "root: checkpoint of ckptd's thread $tid refused: $out" ;;
	*) not_ok "root: checkpoint of ckptd's thread $tid refused" "$out" ;;
	esac
	is "root: Track of ckptd's thread $tid" "$(rvl Track "{\"pid\":$tid}")" \
		io.ckptd.PermissionDenied
else
	not_ok "ckptd has threads" "$(ls "/proc/$DAEMON_PID/task")"
fi
sleep 1.5
check "ckptd still answers" ctl status
is "ckptd never checkpointed itself" "$(grep -c "of pid $DAEMON_PID: " "$T/ckptd.log")" 0

wl_kill suid
wl_kill mimic
wl_kill execer
stop_daemon
