#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# make install into a staging root: binaries, library with its pkg-config
# file, headers, units and the example policy land where they should, a
# program builds against the installed library through pkg-config alone, and
# the installed binaries answer --help and --version.
. "$(dirname "$0")/lib.sh"
require_built

root=$T/root
if make -s -C "$TOP" install DESTDIR="$root" PREFIX=/usr/local >"$T/install.log" 2>&1; then
	ok "make install DESTDIR=... succeeds"
else
	not_ok "make install DESTDIR=... succeeds" "$(tail -n 20 "$T/install.log")"
	exit 1
fi
for f in usr/local/sbin/ckptd usr/local/bin/ckptctl usr/local/lib/libckpt.so.0 \
	usr/local/lib/libckpt.a usr/local/lib/pkgconfig/libckpt.pc \
	usr/local/include/ckpt/libckpt.h lib/systemd/system/ckptd.service \
	lib/systemd/system/ckptd.socket lib/systemd/system/ckptd-metrics.timer \
	lib/systemd/system/ckptd-metrics.service etc/ckptd/policy.d/example.policy.disabled; do
	[ -e "$root/$f" ] && ok "installed /$f" || not_ok "installed /$f"
done
# The man pages (built when scdoc is present, which make deps installs) and
# the bash completion, where man and bash-completion look.
for f in usr/local/share/man/man1/ckptctl.1 usr/local/share/man/man8/ckptd.8 \
	usr/local/share/man/man5/ckptd.policy.5 usr/local/share/man/man3/libckpt.3 \
	usr/local/share/bash-completion/completions/ckptctl; do
	[ -s "$root/$f" ] && ok "installed /$f" || not_ok "installed /$f" "$(ls -R "$root/usr/local/share" 2>&1 | head -n 20)"
done
if out=$(MANPATH=$root/usr/local/share/man man -w ckptctl 2>&1) && [ "$out" = "$root/usr/local/share/man/man1/ckptctl.1" ]; then
	ok "man finds the installed ckptctl(1) under MANPATH"
else
	not_ok "man finds the installed ckptctl(1) under MANPATH" "$out"
fi
grep -q "ExecStart=/usr/local/sbin/ckptd" "$root/lib/systemd/system/ckptd.service" &&
	ok "the unit names the installed ckptd" ||
	not_ok "the unit names the installed ckptd" "$(grep ExecStart "$root/lib/systemd/system/ckptd.service")"

cat >"$T/prog.c" <<'C'
#include <ckpt/libckpt.h>
#include <stdio.h>
int main(void)
{
        printf("api %d\n", ckpt_api_version());
        return ckpt_api_version() == CKPT_API_VERSION ? 0 : 1;
}
C
export PKG_CONFIG_PATH=$root/usr/local/lib/pkgconfig PKG_CONFIG_SYSROOT_DIR=$root
if cc "$T/prog.c" -o "$T/prog" $(pkg-config --cflags --libs libckpt) >"$T/cc.log" 2>&1 &&
	LD_LIBRARY_PATH=$root/usr/local/lib "$T/prog" >"$T/prog.out" 2>&1; then
	ok "a program builds and runs against the installed libckpt ($(cat "$T/prog.out"))"
else
	not_ok "a program builds and runs against the installed libckpt" "$(cat "$T/cc.log" "$T/prog.out" 2>/dev/null)"
fi
check "installed ckptd --help" "$root/usr/local/sbin/ckptd" --help
check "installed ckptctl --help" "$root/usr/local/bin/ckptctl" --help
check "installed ckptctl checkpoint --help" "$root/usr/local/bin/ckptctl" checkpoint --help
v=$("$root/usr/local/bin/ckptctl" --version 2>&1)
case "$v" in *0.*) ok "ckptctl --version ($v)" ;; *) not_ok "ckptctl --version" "$v" ;; esac
