# SPDX-License-Identifier: LGPL-2.1-or-later
# bash completion for ckptctl(1). Installed by `make install` into
# $(PREFIX)/share/bash-completion/completions/ckptctl.
#
# Commands and options are read from `ckptctl --help` and `ckptctl CMD --help`
# of the ckptctl being completed, so they never drift from it. Process ids
# come from ps, checkpoint ids from the daemon (`ckptctl --json list`, on the
# socket given on the line or $CKPTD_SOCKET), parsed with bash alone.

# _ckptctl_help_options CTL [CMD]: one line per option of the help text,
# "NAME" or "NAME ARG" (ARG: the option takes a value), "-o, --out FILE" giving
# "-o FILE" and "--out FILE".
_ckptctl_help_options()
{
	local line spec w arg
	local -a names words
	while IFS= read -r line; do
		[[ $line =~ ^[[:space:]]+- ]] || continue
		line=${line#"${line%%[![:space:]]*}"}
		spec=${line%%  *}
		read -ra words <<<"$spec"
		names=() arg=
		for w in "${words[@]}"; do
			if [[ $w == -* ]]; then
				names+=("${w%,}")
			else
				arg=$w
				break
			fi
		done
		for w in "${names[@]}"; do
			printf '%s%s\n' "$w" "${arg:+ $arg}"
		done
	done < <("$@" --help 2>/dev/null)
}

# _ckptctl_commands CTL: the command names of `ckptctl --help`.
_ckptctl_commands()
{
	local line in=
	while IFS= read -r line; do
		if [[ $line == Commands: ]]; then
			in=1
		elif [[ -n $in ]]; then
			[[ $line =~ ^[[:space:]]+([a-z][a-z-]*)([[:space:]]|$) ]] || break
			printf '%s\n' "${BASH_REMATCH[1]}"
		fi
	done < <("$1" --help 2>/dev/null)
}

# _ckptctl_ids CTL [--socket PATH]: the ids of the checkpoints the caller may
# see, from the daemon's JSON reply (one "id": N member per checkpoint).
_ckptctl_ids()
{
	local ctl=$1 line
	shift
	while IFS= read -r line; do
		[[ $line =~ ^[[:space:]]*\"id\":[[:space:]]*([0-9]+) ]] &&
			printf '%s\n' "${BASH_REMATCH[1]}"
	done < <("$ctl" "$@" --json list 2>/dev/null)
}

_ckptctl_pids()
{
	local p
	COMPREPLY=()
	for p in /proc/[0-9]*; do
		p=${p#/proc/}
		[[ $p == "$cur"* ]] && COMPREPLY+=("$p")
	done
}

_ckptctl()
{
	local cur prev words cword
	_init_completion -n = || return

	local ctl=${words[0]} i w cmd= cmdi=0 socket_set=
	local -a sock=()
	[[ $ctl == */* || $(type -t "$ctl") == file ]] || ctl=ckptctl
	ctl=${ctl/#\~/$HOME}

	# The global options may stand anywhere; the first other word is the command.
	for ((i = 1; i < cword; i++)); do
		w=${words[i]}
		case $w in
		--socket)
			((i + 1 < cword)) && sock=(--socket "${words[i + 1]}")
			((i++))
			;;
		--socket=*) sock=(--socket "${w#--socket=}") ;;
		-*) ;;
		*)
			if [[ -z $cmd ]]; then
				cmd=$w
				cmdi=$i
			fi
			;;
		esac
	done

	# Values of the global options.
	case $prev in
	--socket)
		_filedir
		return
		;;
	esac
	if [[ $cur == --socket=* ]]; then
		cur=${cur#--socket=}
		_filedir
		return
	fi

	local -a globals=() opts=() valued=()
	local o
	while IFS= read -r o; do
		globals+=("${o%% *}")
	done < <(_ckptctl_help_options "$ctl")

	if [[ -z $cmd ]]; then
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W "${globals[*]}" -- "$cur"))
		else
			COMPREPLY=($(compgen -W "$(_ckptctl_commands "$ctl")" -- "$cur"))
		fi
		return
	fi

	while IFS= read -r o; do
		opts+=("${o%% *}")
		[[ $o == *" "* ]] && valued+=("${o%% *}")
	done < <(_ckptctl_help_options "$ctl" "$cmd")

	# The value of one of the command's options.
	local takes_value=
	for o in "${valued[@]}"; do
		[[ $prev == "$o" ]] && takes_value=1
	done
	if [[ -n $takes_value ]]; then
		case $prev in
		--out | -o) _filedir ;;
		--pid | -p) _ckptctl_pids ;;
		--format) COMPREPLY=($(compgen -W "raw core" -- "$cur")) ;;
		--sort | -s) COMPREPLY=($(compgen -W "pid comm dirty rate faults pause next store" -- "$cur")) ;;
		--range)
			# For a process: the mappings of /proc/PID/maps.
			if [[ $cmd == checkpoint ]]; then
				local pid= start end rest
				for ((i = cmdi + 1; i < cword; i++)); do
					[[ ${words[i]} =~ ^[0-9]+$ && ${words[i - 1]} != --* ]] && pid=${words[i]}
				done
				if [[ -n $pid && -r /proc/$pid/maps ]]; then
					local -a ranges=()
					while read -r start rest; do
						ranges+=("0x${start%-*}-0x${start#*-}")
					done <"/proc/$pid/maps"
					COMPREPLY=($(compgen -W "${ranges[*]}" -- "$cur"))
				fi
			fi
			;;
		esac
		return
	fi

	if [[ $cur == -* ]]; then
		# After the command: its options, and --socket and --json.
		local -a extra=()
		for o in "${globals[@]}"; do
			case " ${opts[*]} " in *" $o "*) continue ;; esac
			[[ $o == --version ]] || extra+=("$o")
		done
		COMPREPLY=($(compgen -W "${opts[*]} ${extra[*]}" -- "$cur"))
		return
	fi

	# Positional arguments: count those before the cursor, skipping options
	# and their values.
	local -a args=()
	for ((i = cmdi + 1; i < cword; i++)); do
		w=${words[i]}
		case $w in
		--socket) ((i++)) ;;
		-*)
			for o in "${valued[@]}"; do
				[[ $w == "$o" ]] && ((i++))
			done
			;;
		*) args+=("$w") ;;
		esac
	done

	case $cmd in
	checkpoint | track | untrack | list)
		((${#args[@]} == 0)) && _ckptctl_pids
		;;
	show | export | restore | verify | delete)
		((${#args[@]} == 0)) &&
			COMPREPLY=($(compgen -W "$(_ckptctl_ids "$ctl" "${sock[@]}")" -- "$cur"))
		;;
	diff)
		((${#args[@]} < 2)) &&
			COMPREPLY=($(compgen -W "$(_ckptctl_ids "$ctl" "${sock[@]}")" -- "$cur"))
		;;
	policy)
		if ((${#args[@]} == 0)); then
			COMPREPLY=($(compgen -W "list check reload" -- "$cur"))
		elif [[ ${args[0]} == check && ${#args[@]} == 1 ]]; then
			_filedir
		fi
		;;
	inspect)
		((${#args[@]} == 0)) && _filedir
		;;
	esac
} &&
	complete -F _ckptctl ckptctl
