#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The man pages and the bash completion. The pages build from man/*.scd and
# render with man(1) and groff without a warning; every command and option of
# ckptctl (read from `ckptctl --help` and `ckptctl CMD --help` now, not from a
# list kept here), every option of ckptd with its default, every policy key
# of daemon/sched/policy.c's table and every public function of libckpt.h is in
# its page; libckpt(3)'s example builds. The completion, in a bash with
# bash-completion, offers commands, options, values, and (as root, with a
# daemon) the checkpoint ids the daemon has, and the example runs.
. "$(dirname "$0")/lib.sh"
require_built

MAN=$OUT/man
render() { # PAGE [WIDTH]: the page as text, lines as wide as WIDTH (default: no breaks)
	LC_ALL=C.UTF-8 MANWIDTH=${2:-1000} man --nh --nj -l "$1" 2>/dev/null | col -bx
}
# section TEXT_FILE SH [SS]: the lines of section SH (or of its subsection SS).
section() {
	awk -v sh="$2" -v ss="${3:-}" '
		/^[^ \t]/ { insh = ($0 == sh); inss = 0; if (insh && ss == "") { print; next } }
		insh && ss != "" && /^   [^ ]/ { t = $0; sub(/^ +/, "", t); inss = (t == ss) }
		insh && (ss == "" || inss) { print }' "$1"
}
# has_word FILE WORD: WORD stands in FILE as a word of its own (options such as
# --keep must not be found inside --keep-writable).
has_word() {
	grep -qE -- "(^|[^-[:alnum:]])$(printf '%s' "$2" | sed 's/[.[\*^$|+?(){}]/\\&/g')([^-[:alnum:]]|\$)" "$1"
}

# ---- the pages build and render cleanly ----
if ! command -v scdoc >/dev/null; then
	not_ok "scdoc is installed" "run make deps (Debian package scdoc)"
	exit 1
fi
if make -s -C "$TOP" man >"$T/make.log" 2>&1; then
	ok "make man builds the pages"
else
	not_ok "make man builds the pages" "$(tail -n 20 "$T/make.log")"
	exit 1
fi
pages=()
for src in "$TOP"/man/*.scd; do
	p=$(basename "$src" .scd)
	pages+=("$p")
	f=$MAN/$p
	if [ ! -s "$f" ]; then
		not_ok "$p: built into ${f#$TOP/}"
		continue
	fi
	w=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$f" 2>&1 >/dev/null)
	g=$(groff -ww -z -man "$f" 2>&1)
	if [ -z "$w$g" ]; then
		ok "$p: man --warnings and groff -ww render it without a warning"
	else
		not_ok "$p: renders without a warning" "$w" "$g"
	fi
	render "$f" >"$T/$p.txt"
	missing=
	for s in NAME SYNOPSIS DESCRIPTION "SEE ALSO"; do
		grep -qx "$s" "$T/$p.txt" || missing+=" $s"
	done
	# Every page of ours it names exists (ckptd(8) -> man/ckptd.8.scd).
	for ref in $(section "$T/$p.txt" "SEE ALSO" | grep -oE '(ckpt[a-z.]*|libckpt)\([0-9]\)'); do
		n=${ref%(*}
		s=${ref#*(}
		[ -f "$TOP/man/$n.${s%)}.scd" ] || missing+=" page:$ref"
	done
	is "$p: has NAME, SYNOPSIS, DESCRIPTION, SEE ALSO, and the pages it names exist" "${missing:-none}" none
done
for p in ckptctl.1 ckptd.8 ckptd.policy.5 libckpt.3; do
	[ -f "$T/$p.txt" ] || { not_ok "man page $p exists"; exit 1; }
done
for p in ckptctl.1 ckptd.8 ckptd.policy.5 libckpt.3; do
	others=$(for q in ckptctl.1 ckptd.8 ckptd.policy.5 libckpt.3; do [ $q = $p ] || printf '%s(%s) ' "${q%.*}" "${q##*.}"; done)
	miss=
	for o in $others; do section "$T/$p.txt" "SEE ALSO" | grep -qF "$o" || miss+=" $o"; done
	is "$p: SEE ALSO names the other pages" "${miss:-none}" none
done

# ---- ckptctl(1): every command, every option, from the binary's own help ----
"$CKPTCTL" --help >"$T/ctl-help.txt"
cmds=$(awk '/^Commands:/ { on = 1; next } on && /^$/ { exit } on { print $1 }' "$T/ctl-help.txt")
ncmds=$(printf '%s\n' $cmds | wc -l)
[ "$ncmds" -ge 10 ] && ok "ckptctl --help lists $ncmds commands" ||
	not_ok "ckptctl --help lists the commands" "$(cat "$T/ctl-help.txt")"
# OPTIONS HELP: the option names of a help text ("-o, --out FILE" gives -o and --out).
help_options() {
	awk '/^[ \t]+-/ { sub(/^[ \t]+/, ""); split($0, a, "  "); n = split(a[1], w, /[ ,]+/);
		for (i = 1; i <= n; i++) if (w[i] ~ /^-/) { sub(/=.*/, "", w[i]); print w[i] } }' "$1"
}
section "$T/ckptctl.1.txt" OPTIONS >"$T/ctl-opts.txt"
miss=
for o in $(help_options "$T/ctl-help.txt"); do has_word "$T/ctl-opts.txt" "$o" || miss+=" $o"; done
is "ckptctl(1) OPTIONS has every option of ckptctl --help" "${miss:-none}" none
for c in $cmds; do
	section "$T/ckptctl.1.txt" COMMANDS "$c" >"$T/cmd-$c.txt"
	if [ ! -s "$T/cmd-$c.txt" ]; then
		not_ok "ckptctl(1) COMMANDS has a subsection for '$c'"
		continue
	fi
	"$CKPTCTL" "$c" --help >"$T/help-$c.txt" 2>&1
	miss=
	for o in $(help_options "$T/help-$c.txt"); do
		case $o in -h | --help) continue ;; esac # said once for all, checked below
		has_word "$T/cmd-$c.txt" "$o" || miss+=" $o"
	done
	# The arguments of the usage line (PID, ID, FILE, list|check|reload...) too.
	for a in $(sed -n '1s/.*\] '"$c"'//p' "$T/help-$c.txt" | tr '[]|.' '    '); do
		case $a in -*) continue ;; esac
		has_word "$T/cmd-$c.txt" "$a" || miss+=" $a"
	done
	is "ckptctl(1) '$c': every option and argument of 'ckptctl $c --help'" "${miss:-none}" none
done
section "$T/ckptctl.1.txt" COMMANDS | awk '/^   [^ ]/ { exit } { print }' >"$T/cmds-intro.txt"
has_word "$T/cmds-intro.txt" --help && ok "ckptctl(1) COMMANDS says every command takes --help" ||
	not_ok "ckptctl(1) COMMANDS says every command takes --help" "$(cat "$T/cmds-intro.txt")"
miss=
for s in "EXIT STATUS" ENVIRONMENT EXAMPLES; do grep -qx "$s" "$T/ckptctl.1.txt" || miss+=" $s"; done
section "$T/ckptctl.1.txt" ENVIRONMENT | grep -q CKPTD_SOCKET || miss+=" CKPTD_SOCKET"
for x in 0 1 2; do section "$T/ckptctl.1.txt" "EXIT STATUS" | grep -qx " *$x" || miss+=" exit:$x"; done
is "ckptctl(1) has EXIT STATUS (0, 1, 2), ENVIRONMENT (CKPTD_SOCKET) and EXAMPLES" "${miss:-none}" none

# ---- ckptd(8): every option of ckptd --help, with its default ----
"$CKPTD" --help >"$T/ckptd-help.txt"
section "$T/ckptd.8.txt" OPTIONS >"$T/ckptd-opts.txt"
# One line per option: NAME<TAB>DEFAULT (the "(default X)" of its help, up to ":").
awk '
	function flush() { if (name != "") print name "\t" def; name = ""; def = "" }
	/^  +-/ { flush(); t = $0; sub(/^ +/, "", t); split(t, a, "  "); n = split(a[1], w, /[ ,]+/);
		for (i = 1; i <= n; i++) if (w[i] ~ /^--/) name = w[i]; text = $0 }
	/^  +[^ -]/ && name != "" { text = text " " $0 }
	{ if (match(text, /\(default [^):]*/)) def = substr(text, RSTART + 9, RLENGTH - 9) }
	/^$/ { flush() }
	END { flush() }' "$T/ckptd-help.txt" >"$T/ckptd-defaults.txt"
nopts=$(wc -l <"$T/ckptd-defaults.txt")
[ "$nopts" -ge 8 ] && ok "ckptd --help lists $nopts options" ||
	not_ok "ckptd --help lists its options" "$(cat "$T/ckptd-help.txt")"
miss= nodef=
while IFS=$'\t' read -r o def; do
	# The entry: from its heading line to the next option heading.
	awk -v o="$o" '/^       [^ ]/ { t = $1; sub(/,$/, "", t); on = (t == o || $0 ~ ("^       -[a-z], " o "( |$)")) } on' \
		"$T/ckptd-opts.txt" >"$T/ckptd-opt.txt"
	if [ ! -s "$T/ckptd-opt.txt" ]; then
		miss+=" $o"
	elif [ -n "$def" ] && ! grep -qF -- "$def" "$T/ckptd-opt.txt"; then
		nodef+=" $o($def)"
	fi
done <"$T/ckptd-defaults.txt"
is "ckptd(8) OPTIONS has every option of ckptd --help" "${miss:-none}" none
is "ckptd(8) gives each option the default ckptd --help says" "${nodef:-none}" none
miss=
for s in "SECURITY MODEL" "STATE DIRECTORY" SIGNALS "SYSTEMD UNITS"; do grep -qx "$s" "$T/ckptd.8.txt" || miss+=" [$s]"; done
for w in SIGHUP SIGTERM ckptd.socket ckptd.service lock tracked; do
	has_word "$T/ckptd.8.txt" "$w" || miss+=" $w"
done
for w in index/ packs/ manifests/; do grep -qF "$w" "$T/ckptd.8.txt" || miss+=" $w"; done
is "ckptd(8) has the security model, the state directory, signals and units" "${miss:-none}" none
miss=
for cap in $(sed -n 's/^CapabilityBoundingSet=//p' "$TOP/systemd/ckptd.service.in"); do
	has_word "$T/ckptd.8.txt" "$cap" || miss+=" $cap"
done
is "ckptd(8) names every capability of ckptd.service's bounding set" "${miss:-none}" none

# ---- ckptd.policy(5): every key of the parser's table, in its section ----
awk -F'"' '/\[SECTION_[A-Z]+\] = "/ { split($1, a, /[][]/); print a[2] "\t" $2 }' \
	"$TOP/daemon/sched/policy.c" >"$T/sections.txt"
grep -E '^[[:space:]]*\{SECTION_[A-Z]+, "[A-Za-z]+"' "$TOP/daemon/sched/policy.c" |
	sed -E 's/^[[:space:]]*\{(SECTION_[A-Z]+), "([A-Za-z]+)".*/\1\t\2/' >"$T/keys.txt"
nkeys=$(wc -l <"$T/keys.txt")
[ "$nkeys" -ge 10 ] && ok "daemon/sched/policy.c's table has $nkeys keys" ||
	not_ok "daemon/sched/policy.c's key table is found" "$(cat "$T/keys.txt")"
miss=
while IFS=$'\t' read -r sec key; do
	name=$(awk -F'\t' -v s="$sec" '$1 == s { print $2 }' "$T/sections.txt")
	section "$T/ckptd.policy.5.txt" "[$name] SECTION" | grep -qE "^ +$key=" || miss+=" [$name]$key"
done <"$T/keys.txt"
is "ckptd.policy(5) has every key of the table in its [Section]" "${miss:-none}" none

# ---- libckpt(3): every public function; its example builds ----
fns=$(tr '\n' ' ' <"$TOP/include/ckpt/libckpt.h" | grep -oE 'CKPT_PUBLIC [^;(]*\(' |
	grep -oE 'ckpt_[a-z0-9_]+ *\($' | tr -d ' (')
nfns=$(printf '%s\n' $fns | wc -l)
[ "$nfns" -ge 30 ] && ok "libckpt.h has $nfns public functions" || not_ok "libckpt.h's functions are found" "$fns"
miss=
for f in $fns; do grep -qE "(^|[^a-z_])$f\(" "$T/libckpt.3.txt" || miss+=" $f"; done
is "libckpt(3) has every CKPT_PUBLIC function of libckpt.h" "${miss:-none}" none
section "$T/libckpt.3.txt" EXAMPLE | awk '/^       [^ ]/ { if (seen) exit; next } /^           / { seen = 1; print substr($0, 12); next } seen { print "" }' >"$T/example.c"
if cc -Wall -Werror -I"$TOP/include" "$T/example.c" "$OUT/libckpt.a" $(pkg-config --libs json-c) \
	-o "$T/example" >"$T/example.log" 2>&1; then
	ok "libckpt(3)'s EXAMPLE builds with -Wall -Werror"
else
	not_ok "libckpt(3)'s EXAMPLE builds with -Wall -Werror" "$(head -n 20 "$T/example.log")"
fi

# ---- bash completion ----
BC=/usr/share/bash-completion/bash_completion
if [ ! -r "$BC" ]; then
	not_ok "bash-completion is installed" "run make deps (Debian package bash-completion)"
	exit 1
fi
# complete LINE...: COMPREPLY of each line (completed at its end), one line each.
complete_lines() {
	PATH=$OUT:$PATH bash --norc --noprofile -c '
		. "$1" || exit 1
		. "$2" || exit 1
		shift 2
		for line in "$@"; do
			COMP_LINE=$line COMP_POINT=${#line}
			read -ra COMP_WORDS <<<"$line"
			[[ $line == *" " ]] && COMP_WORDS+=("")
			COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
			COMPREPLY=()
			_ckptctl ckptctl "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
			if ((${#COMPREPLY[@]})); then
				printf "%s\n" "$(printf "%s\n" "${COMPREPLY[@]}" | sort | tr "\n" " ")"
			else
				echo
			fi
		done' bash "$BC" "$TOP/completion/ckptctl.bash" "$@"
}
sorted() { printf '%s\n' "$@" | sort | tr '\n' ' '; }
sleep 600 &
sleeper=$!
mapfile -t got < <(complete_lines "ckptctl " "ckptctl ex" "ckptctl export 1 --f" \
	"ckptctl export 1 --format " "ckptctl policy " "ckptctl --json ch" "ckptctl restore 1 --p" \
	"ckptctl checkpoint $sleeper --range 0x" "ckptctl track 1 --ev" "ckptctl --socket /x diff 1 2 ")
is "completion: 'ckptctl ' offers every command" "${got[0]:-}" "$(sorted $cmds)"
is "completion: 'ckptctl ex' -> export" "${got[1]:-}" "export "
is "completion: 'ckptctl export 1 --f' -> --format" "${got[2]:-}" "--format "
is "completion: 'ckptctl export 1 --format ' -> raw core" "${got[3]:-}" "core raw "
is "completion: 'ckptctl policy ' -> list check reload" "${got[4]:-}" "check list reload "
is "completion: 'ckptctl --json ch' -> checkpoint" "${got[5]:-}" "checkpoint "
is "completion: 'ckptctl restore 1 --p' -> --pid" "${got[6]:-}" "--pid "
n=$(wc -l </proc/$sleeper/maps)
m=$(printf '%s' "${got[7]:-}" | wc -w)
[ "$m" = "$n" ] && ok "completion: 'checkpoint PID --range 0x' offers the $n mappings of /proc/PID/maps" ||
	not_ok "completion: 'checkpoint PID --range 0x' offers the mappings" "got $m of $n: ${got[7]:-}"
is "completion: nothing after diff's two ids" "${got[9]:-}" ""
mapfile -t got < <(complete_lines "ckptctl checkpoint $sleeper")
case " ${got[0]:-} " in
*" $sleeper "*) ok "completion: 'ckptctl checkpoint PID' offers that pid" ;;
*) not_ok "completion: 'ckptctl checkpoint PID' offers pids" "${got[0]:-}" ;;
esac
mapfile -t got < <(complete_lines "ckptctl top --sort " "ckptctl top --i")
is "completion: 'ckptctl top --sort ' -> the sort keys" "${got[0]:-}" "comm dirty faults next pause pid rate store "
is "completion: 'ckptctl top --i' -> --interval" "${got[1]:-}" "--interval "
mkdir -p "$T/pol"
touch "$T/pol/a.policy" "$T/pol/b.policy"
mapfile -t got < <(complete_lines "ckptctl policy check $T/pol/" "ckptctl export 1 --out $T/pol/a")
is "completion: 'policy check DIR/' offers its files" "${got[0]:-}" "$T/pol/a.policy $T/pol/b.policy "
is "completion: 'export 1 --out DIR/a' offers the file" "${got[1]:-}" "$T/pol/a.policy "

if [ "$(id -u)" != 0 ] || [ ! -r /sys/kernel/btf/vmlinux ]; then
	skip "completion: 'ckptctl show ' offers the daemon's checkpoint ids" "needs root and BPF to run ckptd"
	skip "libckpt(3)'s EXAMPLE runs against the daemon" "needs root and BPF to run ckptd"
	kill "$sleeper"
	exit 0
fi
start_daemon || exit 1
ids=
for i in 1 2 3; do
	id=$(ctl_json checkpoint "$sleeper" | sed -nE 's/^ *"id": *([0-9]+).*/\1/p')
	ids+="$id "
done
mapfile -t got < <(complete_lines "ckptctl --socket $T/sock show " "ckptctl --socket=$T/sock diff ${ids%% *} " \
	"ckptctl show ")
is "completion: 'ckptctl --socket S show ' offers the daemon's ids" "${got[0]:-}" "$(sorted $ids)"
is "completion: 'ckptctl --socket=S diff ID ' offers them too" "${got[1]:-}" "$(sorted $ids)"
is "completion: without a socket, none from /run/ckptd (no daemon there)" \
	"$(CKPTD_SOCKET=$T/nonexistent complete_lines "ckptctl show ")" ""
is "completion: with CKPTD_SOCKET the ids of that daemon" \
	"$(CKPTD_SOCKET=$T/sock complete_lines "ckptctl show ")" "$(sorted $ids)"
kill "$sleeper"
wait "$sleeper" 2>/dev/null
out=$(CKPTD_SOCKET=$T/sock "$T/example" 2>&1)
case "$out" in
*"restored: yes, buf[0] = 1"*) ok "libckpt(3)'s EXAMPLE runs: $out" ;;
*) not_ok "libckpt(3)'s EXAMPLE runs and restores its buffer" "$out" ;;
esac
stop_daemon
