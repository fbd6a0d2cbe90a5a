# SPDX-License-Identifier: LGPL-2.1-or-later
# ckptd build. `make` builds everything; `make demo` and `make test` install
# missing Debian packages first (`make deps`). V=1 shows full commands.

OUTPUT    := .output
ARCH      ?= $(shell uname -m | sed 's/x86_64/x86/;s/aarch64/arm64/')
CC        ?= cc
CLANG     ?= clang
BPFTOOL   ?= bpftool
PREFIX    ?= /usr/local
DESTDIR   ?=
VERSION   := 0.1.0

ifeq ($(V),1)
Q :=
msg =
else
Q := @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

PKGS      := libbpf libsystemd json-c libzstd liblz4 lmdb libcrypto
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS  := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

# The daemon's rooms, lowest first: a file includes headers of its own room
# and of rooms before it in this list, never of a later one (tests/check-tree).
ROOMS     := basic store track engine sched server

WARN      := -Wall -Wextra -Werror -Wshadow -Wmissing-prototypes -Wno-unused-parameter
CFLAGS    ?= -O2 -g
# The include path: daemon objects, and the unit tests and fuzz targets that
# link them, see every room; the client library, ckptctl and the examples see
# include/ and cli/ only (CLI_INC below): they do not depend on the daemon.
DAEMON_INC := $(addprefix -Idaemon/,$(ROOMS)) -Icli -I$(OUTPUT)
CLI_INC   := -Icli
INC        = $(DAEMON_INC)
CFLAGS    += $(WARN) -std=gnu17 -D_GNU_SOURCE -DCKPT_VERSION='"$(VERSION)"' \
             -Iinclude $(INC) $(PKG_CFLAGS) -fno-strict-aliasing -MMD -MP
LDLIBS    += $(PKG_LIBS) -lpthread
SAN       := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

VMLINUX_H ?= $(OUTPUT)/vmlinux.h
ifeq ($(VMLINUX_H),$(OUTPUT)/vmlinux.h)
VMLINUX_DEP := $(VMLINUX_H)
endif

BPF_SRCS    := $(wildcard bpf/*.bpf.c)
BPF_OBJS    := $(patsubst bpf/%.bpf.c,$(OUTPUT)/%.bpf.o,$(BPF_SRCS))
BPF_SKELS   := $(patsubst bpf/%.bpf.c,$(OUTPUT)/%.skel.h,$(BPF_SRCS))

DAEMON_SRCS := $(wildcard $(addprefix daemon/,$(addsuffix /*.c,$(ROOMS))))
DAEMON_OBJS := $(patsubst %.c,$(OUTPUT)/%.o,$(DAEMON_SRCS))
DAEMON_SAN  := $(patsubst %.c,$(OUTPUT)/san/%.o,$(DAEMON_SRCS))
# ckptctl's own modules (cli/ctl-*.c: its parsers and tables) are linked into
# ckptctl and the fuzz targets, never into libckpt.
CTL_SRCS    := $(wildcard cli/ctl-*.c)
CTL_OBJS    := $(patsubst %.c,$(OUTPUT)/%.o,$(CTL_SRCS))
CTL_SAN     := $(patsubst %.c,$(OUTPUT)/san/%.o,$(CTL_SRCS))
LIB_SRCS    := $(filter-out cli/ckptctl.c $(CTL_SRCS),$(wildcard cli/*.c))
LIB_OBJS    := $(patsubst %.c,$(OUTPUT)/pic/%.o,$(LIB_SRCS))
LIB_SAN     := $(patsubst %.c,$(OUTPUT)/san/%.o,$(LIB_SRCS))
UNIT_SRCS   := $(wildcard tests/unit/test-*.c)
UNIT_BINS   := $(patsubst tests/unit/%.c,$(OUTPUT)/tests/%,$(UNIT_SRCS))
WORK_SRCS   := $(wildcard tests/workloads/*.c)
WORK_BINS   := $(patsubst tests/workloads/%.c,$(OUTPUT)/workloads/%,$(WORK_SRCS))
EXAMPLE_SRCS := $(wildcard cli/examples/*.c)
EXAMPLE_BINS := $(patsubst cli/examples/%.c,$(OUTPUT)/examples/%,$(EXAMPLE_SRCS))
BENCH_SRCS  := $(wildcard tests/bench/*.c)
BENCH_BINS  := $(patsubst tests/bench/%.c,$(OUTPUT)/bench/%,$(BENCH_SRCS))
# Fuzz targets: with libFuzzer under `make fuzz` (clang, own objects in
# .output/fuzz/); with tests/fuzz/replay.c as main in `make all`, as unit tests
# that run each target once over its seed corpus (tests/fuzz/corpus/NAME/).
FUZZ_SRCS   := $(wildcard tests/fuzz/fuzz-*.c)
FUZZ_NAMES  := $(patsubst tests/fuzz/%.c,%,$(FUZZ_SRCS))
FUZZ_REPLAY := $(patsubst %,$(OUTPUT)/tests/test-%,$(FUZZ_NAMES))
FUZZ_OUT    := $(OUTPUT)/fuzz
FUZZ_BINS   := $(patsubst %,$(FUZZ_OUT)/%,$(FUZZ_NAMES))
FUZZ_CC     ?= $(CLANG)
# clang warns of a few things gcc does not (a variable only set): shown, not fatal.
FUZZ_SAN    := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all \
               -Wno-error=unused-but-set-variable -Wno-error=unused-variable
FUZZ_DAEMON := $(patsubst %.c,$(FUZZ_OUT)/%.o,$(DAEMON_SRCS))
FUZZ_LIB    := $(patsubst %.c,$(FUZZ_OUT)/%.o,$(LIB_SRCS) $(CTL_SRCS))
FUZZ_SECONDS ?= 60

MAN_SRCS  := $(wildcard man/*.scd)
MAN_PAGES := $(patsubst man/%.scd,$(OUTPUT)/man/%,$(MAN_SRCS))
SCDOC     ?= scdoc
# Man pages are built with `make all` when scdoc is installed (make deps
# installs it); `make man` insists.
HAVE_SCDOC := $(shell command -v $(SCDOC) >/dev/null 2>&1 && echo yes)

CKPTD    := $(OUTPUT)/ckptd
CKPTCTL  := $(OUTPUT)/ckptctl
LIBCKPT_SO := $(OUTPUT)/libckpt.so.0
LIBCKPT_A  := $(OUTPUT)/libckpt.a

DEB_PKGS := clang llvm bpftool libbpf-dev libelf-dev zlib1g-dev libsystemd-dev \
            libjson-c-dev libzstd-dev liblz4-dev libssl-dev liblmdb-dev pkg-config make gcc \
            libclang-rt-14-dev \
            systemd gdb util-linux procps jq redis-server redis-tools scdoc \
            bash-completion postgresql-15 openjdk-17-jdk-headless gnuplot-nox

.PHONY: all deps test unit integration fuzz soak demo bench bench-full install clean format man
.DELETE_ON_ERROR:
.SECONDARY:

all: $(CKPTD) $(CKPTCTL) $(LIBCKPT_SO) $(LIBCKPT_A) $(WORK_BINS) $(EXAMPLE_BINS) $(UNIT_BINS) $(BENCH_BINS) \
     $(FUZZ_REPLAY)
ifeq ($(HAVE_SCDOC),yes)
all: $(MAN_PAGES)
endif

man: $(MAN_PAGES)

# Installs only what is missing; silent and quick when everything is present.
deps:
	@missing=$$(for p in $(DEB_PKGS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | \
		grep -q '^install ok installed$$' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "deps: installing" $$missing; \
		if [ "$$(id -u)" != 0 ]; then echo "deps: run as root to install packages" >&2; exit 1; fi; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends $$missing >/dev/null \
			|| { echo "deps: apt-get install failed" >&2; exit 1; }; \
	fi

$(OUTPUT) $(OUTPUT)/san/cli $(OUTPUT)/pic/cli $(OUTPUT)/cli \
$(OUTPUT)/tests $(OUTPUT)/workloads $(OUTPUT)/examples $(OUTPUT)/bench $(OUTPUT)/man:
	$(Q)mkdir -p $@

$(OUTPUT)/vmlinux.h: | $(OUTPUT)
	$(call msg,GEN,$@)
	$(Q)$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $@

$(OUTPUT)/%.bpf.o: bpf/%.bpf.c $(wildcard bpf/*.h) $(wildcard include/ckpt/*.h) $(VMLINUX_DEP) | $(OUTPUT)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) -g -O2 -Wall -Werror -target bpf -D__TARGET_ARCH_$(ARCH) \
		-Iinclude -I$(OUTPUT) -I$(dir $(VMLINUX_H)) -c $< -o $@
	$(Q)llvm-strip -g $@

$(OUTPUT)/%.skel.h: $(OUTPUT)/%.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< > $@

# Generated headers, needed before the objects that include them are first
# built; after that, -MMD's dependency files (.d beside each object) say who
# includes what.
$(OUTPUT)/daemon/track/tracker-bpf.o $(OUTPUT)/san/daemon/track/tracker-bpf.o \
$(FUZZ_OUT)/daemon/track/tracker-bpf.o: | $(BPF_SKELS)
$(OUTPUT)/daemon/server/methods.o $(OUTPUT)/san/daemon/server/methods.o \
$(FUZZ_OUT)/daemon/server/methods.o: | $(OUTPUT)/varlink-interface.h

# The interface definition, served by GetInterfaceDescription, as a C string.
$(OUTPUT)/varlink-interface.h: daemon/server/io.ckptd.varlink | $(OUTPUT)
	$(call msg,GEN,$@)
	$(Q)sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/"/' -e 's/$$/\\n"/' $< > $@

$(OUTPUT)/daemon/%.o: daemon/%.c
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

$(OUTPUT)/san/daemon/%.o: daemon/%.c
	$(call msg,CC-SAN,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(SAN) -c $< -o $@

$(OUTPUT)/pic/cli/%.o $(OUTPUT)/san/cli/%.o $(OUTPUT)/cli/%.o $(FUZZ_OUT)/cli/%.o \
$(OUTPUT)/examples/%: INC = $(CLI_INC)

$(OUTPUT)/pic/cli/%.o: cli/%.c | $(OUTPUT)/pic/cli
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -fPIC -fvisibility=hidden -c $< -o $@

$(OUTPUT)/san/cli/%.o: cli/%.c | $(OUTPUT)/san/cli
	$(call msg,CC-SAN,$@)
	$(Q)$(CC) $(CFLAGS) $(SAN) -c $< -o $@

$(OUTPUT)/cli/%.o: cli/%.c | $(OUTPUT)/cli
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

$(OUTPUT)/man/%: man/%.scd | $(OUTPUT)/man
	$(call msg,SCDOC,$@)
	$(Q)$(SCDOC) < $< > $@

$(CKPTD): $(OUTPUT)/daemon/main.o $(DAEMON_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $^ $(LDLIBS) -o $@

$(LIBCKPT_A): $(LIB_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(LIBCKPT_SO): $(LIB_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) -shared -Wl,-soname,libckpt.so.0 $^ $$(pkg-config --libs json-c) -o $@
	$(Q)ln -sf libckpt.so.0 $(OUTPUT)/libckpt.so

$(CKPTCTL): $(OUTPUT)/cli/ckptctl.o $(CTL_OBJS) $(LIBCKPT_A)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $^ $(LDLIBS) -o $@

# Unit tests link every daemon object but main.o, and the client library,
# all built with ASan/UBSan.
$(OUTPUT)/tests/%: tests/unit/%.c $(wildcard tests/lib/*.h) $(wildcard tests/unit/*.h) $(DAEMON_SAN) $(LIB_SAN) | $(OUTPUT)/tests
	$(call msg,TEST,$@)
	$(Q)$(CC) $(CFLAGS) $(SAN) -Itests/lib $< $(DAEMON_SAN) $(LIB_SAN) $(LDLIBS) -o $@

$(OUTPUT)/tests/test-fuzz-%: tests/fuzz/fuzz-%.c tests/fuzz/replay.c tests/fuzz/fuzz.h $(DAEMON_SAN) $(LIB_SAN) $(CTL_SAN) | $(OUTPUT)/tests
	$(call msg,FUZZ,$@)
	$(Q)$(CC) $(CFLAGS) $(SAN) -Itests/fuzz -DFUZZ_NAME='"fuzz-$*"' \
		-DFUZZ_CORPUS='"tests/fuzz/corpus/fuzz-$*"' $< tests/fuzz/replay.c \
		$(DAEMON_SAN) $(LIB_SAN) $(CTL_SAN) $(LDLIBS) -o $@

$(FUZZ_OUT)/daemon/%.o: daemon/%.c
	$(call msg,CC-FUZZ,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(FUZZ_CC) $(CFLAGS) $(FUZZ_SAN) -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_OUT)/cli/%.o: cli/%.c
	$(call msg,CC-FUZZ,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(FUZZ_CC) $(CFLAGS) $(FUZZ_SAN) -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_OUT)/fuzz-%: tests/fuzz/fuzz-%.c tests/fuzz/fuzz.h $(FUZZ_DAEMON) $(FUZZ_LIB)
	$(call msg,FUZZ,$@)
	$(Q)$(FUZZ_CC) $(CFLAGS) $(FUZZ_SAN) -fsanitize=fuzzer -Itests/fuzz $< \
		$(FUZZ_DAEMON) $(FUZZ_LIB) $(LDLIBS) -o $@

# Each target runs FUZZ_SECONDS over its seed corpus; what it finds goes to
# .output/fuzz/corpus/NAME/ (never into git), crashes to .output/fuzz/artifacts/.
fuzz: $(FUZZ_BINS)
	$(Q)FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz/run-fuzz $(FUZZ_NAMES)

$(OUTPUT)/workloads/%: tests/workloads/%.c $(wildcard tests/workloads/*.h tests/lib/*.h) $(LIBCKPT_A) | $(OUTPUT)/workloads
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -Itests/workloads -Itests/lib $< $(LIBCKPT_A) $(LDLIBS) -o $@

$(OUTPUT)/examples/%: cli/examples/%.c $(LIBCKPT_A) | $(OUTPUT)/examples
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $< $(LIBCKPT_A) $(LDLIBS) -o $@

$(OUTPUT)/bench/%: tests/bench/%.c $(wildcard tests/lib/*.h) $(LIBCKPT_A) | $(OUTPUT)/bench
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -Itests/lib $< $(BENCH_OBJS) $(LIBCKPT_A) $(LDLIBS) -o $@

# The codec benchmark times the store's own hash and page checks.
$(OUTPUT)/bench/b-codec: BENCH_OBJS = $(OUTPUT)/daemon/store/sha256.o $(OUTPUT)/daemon/store/page-check.o
$(OUTPUT)/bench/b-codec: $(OUTPUT)/daemon/store/sha256.o $(OUTPUT)/daemon/store/page-check.o

test: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)tests/run

unit: all
	$(Q)tests/run unit

integration: all
	$(Q)tests/run integration

# The store's crash loop for SOAK_MINUTES (default 30); SEED replays a run.
SOAK_MINUTES ?= 30
soak: all
	$(Q)CRASH_SECONDS=$$(( $(SOAK_MINUTES) * 60 )) tests/run tests/integration/87-store-crash.sh

demo: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)tests/demo

bench-full: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)tests/bench/run full

bench: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)tests/bench/run all

format:
	$(Q)clang-format -i $$(git ls-files '*.c' '*.h')

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/lib \
		$(DESTDIR)$(PREFIX)/include/ckpt $(DESTDIR)$(PREFIX)/lib/pkgconfig \
		$(DESTDIR)/lib/systemd/system $(DESTDIR)/etc/ckptd/policy.d
	install -m 0755 $(CKPTD) $(DESTDIR)$(PREFIX)/sbin/ckptd
	install -m 0755 $(CKPTCTL) $(DESTDIR)$(PREFIX)/bin/ckptctl
	install -m 0755 $(LIBCKPT_SO) $(DESTDIR)$(PREFIX)/lib/libckpt.so.0
	ln -sf libckpt.so.0 $(DESTDIR)$(PREFIX)/lib/libckpt.so
	install -m 0644 $(LIBCKPT_A) $(DESTDIR)$(PREFIX)/lib/libckpt.a
	install -m 0644 include/ckpt/libckpt.h include/ckpt/proto.h $(DESTDIR)$(PREFIX)/include/ckpt/
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(VERSION)|g' cli/libckpt.pc.in \
		> $(DESTDIR)$(PREFIX)/lib/pkgconfig/libckpt.pc
	for u in systemd/*.service systemd/*.socket systemd/*.timer; do [ -f "$$u" ] || continue; \
		install -m 0644 $$u $(DESTDIR)/lib/systemd/system/; done
	for u in systemd/*.in; do [ -f "$$u" ] || continue; \
		sed 's|@SBINDIR@|$(PREFIX)/sbin|g' $$u > $(DESTDIR)/lib/systemd/system/$$(basename $$u .in); done
	[ -f systemd/example.policy ] && install -m 0644 systemd/example.policy \
		$(DESTDIR)/etc/ckptd/policy.d/example.policy.disabled || true
	install -d $(DESTDIR)$(PREFIX)/share/bash-completion/completions
	install -m 0644 completion/ckptctl.bash \
		$(DESTDIR)$(PREFIX)/share/bash-completion/completions/ckptctl
	for p in $(MAN_PAGES); do [ -f "$$p" ] || continue; s=$${p##*.}; \
		install -d $(DESTDIR)$(PREFIX)/share/man/man$$s; \
		install -m 0644 $$p $(DESTDIR)$(PREFIX)/share/man/man$$s/; done

clean:
	$(Q)rm -rf $(OUTPUT)

-include $(shell find $(OUTPUT) -name '*.d' 2>/dev/null)
