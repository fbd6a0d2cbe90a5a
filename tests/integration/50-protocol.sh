#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The Varlink socket under bad input: malformed JSON, a non-object, a missing
# NUL then close, unknown method and interface, wrong parameter types, an
# oversized message. Each gets the right Varlink error (or, when oversized, a
# closed connection), and the daemon keeps serving: status answers after each,
# also while a slow client holds half a message. GetInfo and
# GetInterfaceDescription answer.
. "$(dirname "$0")/lib.sh"
require_root
require_built "$WL/vlcall"

start_daemon || exit 1
S=$T/sock

still_serving() { # after NAME
	if timeout 10 "$CKPTCTL" --socket "$S" status >/dev/null 2>&1; then
		ok "status answers after $1"
	else
		not_ok "status answers after $1"
	fi
}

# error_is NAME WANT REPLY: the first reply's error name; WANT may list
# alternatives as A|B.
error_is() {
	local name=$1 want=$2 got
	got=$(head -n 1 <<<"$3" | jq -r '.error // "(no error)"' 2>/dev/null || echo "(not JSON: $3)")
	case "|$want|" in
	*"|$got|"*) ok "$name: $got" ;;
	*) not_ok "$name: $want" "got:  $got" "reply: $3" ;;
	esac
}

r=$(vlcall -c '{"method":"io.ckptd.GetStatus",' "$S")
error_is "malformed JSON" io.ckptd.ProtocolError "$r"
still_serving "malformed JSON"

r=$(vlcall -c '[1,2,3]' "$S")
error_is "a JSON array" io.ckptd.ProtocolError "$r"
r=$(vlcall -c '"io.ckptd.GetStatus"' "$S")
error_is "a JSON string" io.ckptd.ProtocolError "$r"
r=$(vlcall -c '{"parameters":{}}' "$S")
error_is "no method" io.ckptd.ProtocolError "$r"
still_serving "non-objects"

# A message without its NUL, then the sending side closed: no reply can come;
# the daemon must close (EOF), not hang.
printf '{"method":"io.ckptd.GetStatus"}' >"$T/nonul"
r=$(vlcall -s -n 1 -t 5 -f "$T/nonul" "$S")
rc=$?
is "missing NUL then close: connection closed" "$rc:$r" "2:EOF"
still_serving "a missing NUL"

r=$(vlcall -c '{"method":"io.ckptd.NoSuchThing","parameters":{}}' "$S")
error_is "unknown method" org.varlink.service.MethodNotFound "$r"
r=$(vlcall -c '{"method":"com.example.Foo","parameters":{}}' "$S")
error_is "unknown interface" org.varlink.service.InterfaceNotFound "$r"
r=$(vlcall -c '{"method":"io.ckptd.Checkpoint","parameters":{"pid":"one"}}' "$S")
error_is "pid as a string" org.varlink.service.InvalidParameter "$r"
is "pid as a string: names the parameter" "$(jq -r .parameters.parameter <<<"$r")" pid
r=$(vlcall -c '{"method":"io.ckptd.Checkpoint","parameters":{}}' "$S")
error_is "pid missing" org.varlink.service.InvalidParameter "$r"
r=$(vlcall -c '{"method":"io.ckptd.Show","parameters":{"id":1.5}}' "$S")
error_is "id as a float" org.varlink.service.InvalidParameter "$r"
r=$(vlcall -c '{"method":"io.ckptd.Checkpoint","parameters":{"pid":1,"ranges":[{"start":5}]}}' "$S")
error_is "range without end, start a number" org.varlink.service.InvalidParameter "$r"
r=$(vlcall -c '{"method":"io.ckptd.Checkpoint","parameters":[1]}' "$S")
error_is "parameters an array" "org.varlink.service.InvalidParameter|io.ckptd.ProtocolError" "$r"
r=$(vlcall -c '{"method":"org.varlink.service.GetInfo","more":"x"}' "$S")
error_is "\"more\" as a string" io.ckptd.ProtocolError "$r"
r=$(vlcall -c '{"method":"org.varlink.service.GetInfo","oneway":1}' "$S")
error_is "\"oneway\" as a number" io.ckptd.ProtocolError "$r"
# 2^64-1 does not fit the protocol's integers: refused, never read as 2^63-1.
r=$(vlcall -c '{"method":"io.ckptd.Show","parameters":{"id":18446744073709551615}}' "$S")
error_is "id 2^64-1" org.varlink.service.InvalidParameter "$r"
is "id 2^64-1: names the parameter" "$(jq -r .parameters.parameter <<<"$r")" id
r=$(vlcall -c '{"method":"io.ckptd.Delete","parameters":{"id":9223372036854775808}}' "$S")
error_is "id 2^63" org.varlink.service.InvalidParameter "$r"
ctl show 18446744073709551615 >"$T/big-id.out" 2>&1
is "ckptctl show 2^64-1: exit 2 (usage)" "$?" 2
grep -q "invalid checkpoint id" "$T/big-id.out" && ok "ckptctl show 2^64-1: says the id is invalid" ||
	not_ok "ckptctl show 2^64-1: says the id is invalid" "$(cat "$T/big-id.out")"
# A range holding no whole page is an error, not an empty checkpoint.
r=$(vlcall -c "{\"method\":\"io.ckptd.Checkpoint\",\"parameters\":{\"pid\":$$,\"ranges\":[{\"start\":\"0x1\",\"end\":\"0x2\"}]}}" "$S")
error_is "range 0x1-0x2" io.ckptd.InvalidRange "$r"
case "$(jq -r .parameters.reason <<<"$r")" in
*"no whole page"*) ok "range 0x1-0x2: says it holds no whole page" ;;
*) not_ok "range 0x1-0x2: says it holds no whole page" "$r" ;;
esac
r=$(vlcall -c "{\"method\":\"io.ckptd.Checkpoint\",\"parameters\":{\"pid\":$$,\"ranges\":[{\"start\":\"0x1000\",\"end\":\"0x1fff\"}]}}" "$S")
error_is "range 0x1000-0x1fff" io.ckptd.InvalidRange "$r"
still_serving "wrong parameter types"

# Two calls in one write are answered in order, each on its own.
r=$(vlcall -c '{"method":"org.varlink.service.GetInfo"}' -c '{"method":"io.ckptd.Nope"}' "$S")
is "two calls in one write: two replies in order" \
	"$(jq -r '.error // "reply"' <<<"$r" | tr '\n' ' ')" "reply org.varlink.service.MethodNotFound "

# Oversized: 2 MiB in one message. A ProtocolError then close, or just close.
{
	printf '{"method":"io.ckptd.GetStatus","parameters":{"pad":"'
	head -c $((2 << 20)) /dev/zero | tr '\0' a
	printf '"}}\0'
} >"$T/big"
r=$(vlcall -t 10 -n 2 -f "$T/big" "$S")
rc=$?
first=$(head -n 1 <<<"$r")
case "$first" in
EOF | SENDFAIL*) ok "oversized message: connection closed ($first)" ;;
*)
	error_is "oversized message" io.ckptd.ProtocolError "$first"
	if grep -qx EOF <<<"$r" || grep -q SENDFAIL <<<"$r"; then
		ok "oversized message: connection closed after the error"
	else
		not_ok "oversized message: connection closed after the error" "$r"
	fi
	;;
esac
[ $rc = 3 ] && not_ok "oversized message: no timeout" "$r"
still_serving "an oversized message"

# A slow client: half a message, then silence. Others are served meanwhile.
printf '{"method":"io.ckptd.GetSta' >"$T/half"
vlcall -n 0 -H 8 -t 1 -f "$T/half" "$S" >/dev/null 2>&1 &
slow=$!
sleep 0.5
t0=$(date +%s%N)
still_serving "a slow client stalled mid-message"
t1=$(date +%s%N)
if [ $(((t1 - t0) / 1000000)) -lt 2000 ]; then
	ok "status with a stalled client took $(((t1 - t0) / 1000000)) ms"
else
	not_ok "status with a stalled client is quick" "took $(((t1 - t0) / 1000000)) ms"
fi
kill "$slow" 2>/dev/null
wait "$slow" 2>/dev/null

# Introspection.
r=$(vlcall -c '{"method":"org.varlink.service.GetInfo","parameters":{}}' "$S")
is "GetInfo: lists io.ckptd" "$(jq -r '.parameters.interfaces | index("io.ckptd") != null' <<<"$r")" true
is "GetInfo: lists org.varlink.service" \
	"$(jq -r '.parameters.interfaces | index("org.varlink.service") != null' <<<"$r")" true
is "GetInfo: has a version" "$(jq -r '.parameters.version | length > 0' <<<"$r")" true
r=$(vlcall -c '{"method":"org.varlink.service.GetInterfaceDescription","parameters":{"interface":"io.ckptd"}}' "$S")
jq -j .parameters.description <<<"$r" >"$T/desc.varlink"
check "GetInterfaceDescription: the io.ckptd interface file" \
	diff -u "$TOP/daemon/server/io.ckptd.varlink" "$T/desc.varlink"
r=$(vlcall -c '{"method":"org.varlink.service.GetInterfaceDescription","parameters":{"interface":"com.example"}}' "$S")
error_is "GetInterfaceDescription of an unknown interface" org.varlink.service.InterfaceNotFound "$r"

# oneway: no reply, and the connection keeps working.
r=$(vlcall -n 1 -c '{"method":"org.varlink.service.GetInfo","oneway":true}' \
	-c '{"method":"io.ckptd.Nope"}' "$S")
is "oneway gets no reply; the next call does" "$(jq -r .error <<<"$r")" \
	org.varlink.service.MethodNotFound

# Many clients at once.
pids=()
for i in $(seq 1 32); do
	vlcall -c '{"method":"io.ckptd.GetStatus"}' "$S" >"$T/many-$i" 2>&1 &
	pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
good=$(cat "$T"/many-* | jq -r 'select(.parameters.version) | 1' 2>/dev/null | wc -l)
is "32 concurrent clients all answered" "$good" 32
still_serving "32 concurrent clients"
check "ckptd still running" daemon_alive
stop_daemon
