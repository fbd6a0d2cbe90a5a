#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The daemon's layout (tests/check-tree): rooms include only their own and
# lower rooms' headers, no modules in a circle, no extern shortcuts, no
# function over 120 lines; and the checker itself catches each of these,
# tried on a copy of the tree with one breach put in.
. "$(dirname "$0")/lib.sh"

if out=$("$TOP/tests/check-tree" "$TOP" 2>&1); then
	ok "the tree keeps its layers and short functions"
	diag "$out"
else
	not_ok "the tree keeps its layers and short functions" "$out"
fi

# The checker fails on each kind of breach (a copy of the tree, one file changed).
copy() {
	rm -rf "$T/tree" && mkdir -p "$T/tree" &&
		cp -r "$TOP/Makefile" "$TOP/daemon" "$T/tree/"
}
breach() { # NAME EXPECTED_TEXT: check-tree on $T/tree fails, saying EXPECTED_TEXT
	local out
	if out=$("$TOP/tests/check-tree" "$T/tree" 2>&1); then
		not_ok "check-tree refuses $1" "it passed"
	elif printf '%s\n' "$out" | grep -q -- "$2"; then
		ok "check-tree refuses $1"
	else
		not_ok "check-tree refuses $1" "$out"
	fi
}
copy && sed -i '0,/^#include "/s//#include "methods.h"\n&/' "$T/tree/daemon/basic/log.c" &&
	touch "$T/tree/daemon/server/methods.h"
breach "a lower room including a higher one" "basic/log.c (basic) includes methods.h of a higher room (server)"
copy && printf '#include "freezer.h"\n' >>"$T/tree/daemon/track/procmaps.h" &&
	printf '#include "procmaps.h"\n' >>"$T/tree/daemon/track/freezer.h"
breach "two modules including each other" "in a circle"
copy && printf 'extern int log_open(void);\n' >>"$T/tree/daemon/basic/fd-util.c"
breach "an extern declaration" "declares a function extern"
copy && { printf 'int long_one(void);\nint long_one(void)\n{\n'; for i in $(seq 121); do
	printf '        (void)0;\n'; done; printf '        return 0;\n}\n'; } >>"$T/tree/daemon/basic/fd-util.c"
breach "a function over 120 lines" "long_one is 122 lines long"
