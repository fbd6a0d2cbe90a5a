#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The tour `make demo` runs (tests/demo) goes from start to end: it drives the
# lab workload and ckptctl as a user would, and checks its own exports.
. "$(dirname "$0")/lib.sh"
require_root
require_built "$WL/lab"

if timeout 300 "$TOP/tests/demo" >"$T/demo.log" 2>&1; then
	ok "tests/demo runs to its end"
else
	not_ok "tests/demo runs to its end" "$(tail -n 15 "$T/demo.log")"
fi
grep -q "^# Done" "$T/demo.log" && ok "tests/demo says it is done" ||
	not_ok "tests/demo says it is done" "$(tail -n 5 "$T/demo.log")"
