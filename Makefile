# vigil - physical-security monitoring daemon.
#
#   make            build vigild, vigilctl and vigil-sim into build/
#   make check      install missing packages, build (plain and ASan+UBSan), run every test
#   make console    the guard console (static files) into build/console/
#   make demo       run the daemon on a simulated site with a real broker
#   make sim        many seeds of the core simulation test (SEEDS=N)
#   make bench      benchmarks under bench/ (bench-peers: only vigild beside collectd and Node-RED;
#                   bench-rtu: one RS-485 line against its wire-time limit; bench-fleet: 100 sites, one broker)
#   make fuzz       each libFuzzer target in tests/fuzz/ for FUZZ_SECONDS (clang)
#   make install    DESTDIR= PREFIX= (default /usr/local)
#   make deb        a Debian package (dpkg-buildpackage) in the parent directory
#
# CPPFLAGS, CFLAGS, LDFLAGS and LDLIBS are the builder's (dpkg-buildflags, a
# `make CFLAGS=-O2`): the flags vigil cannot build without are kept apart in
# VIGIL_* and come after them, so replacing CFLAGS never drops -std or -Werror.

PREFIX  ?= /usr/local
DESTDIR ?=
BUILD   ?= build
SAN     ?= 0
SEEDS   ?= 2000
FUZZ    ?= 0
FUZZ_SECONDS ?= 60

PKGS    := libmodbus libconfig jansson libsystemd libsodium libcurl zlib openssl
CFLAGS  ?= -O2 -g
VIGIL_CPPFLAGS := -D_GNU_SOURCE -Idaemon
VIGIL_CFLAGS   := -std=c11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -MMD -MP
VIGIL_LDFLAGS  :=
ifeq ($(SAN),1)
VIGIL_CFLAGS   += -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
VIGIL_LDFLAGS  += -fsanitize=address,undefined
endif
# The libFuzzer build (make fuzz, clang): everything instrumented for
# coverage and sanitized; only the fuzz targets link libFuzzer's main.
# -Wno-error: gcc's plain build is the judge of warnings; clang's own
# (a deliberate "" format, bitwise | on booleans) are shown, not fatal.
ifeq ($(FUZZ),1)
VIGIL_CFLAGS   += -O1 -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
VIGIL_CFLAGS   += -Wno-error
VIGIL_LDFLAGS  += -fsanitize=address,undefined
FUZZ_LDFLAGS   := -fsanitize=fuzzer
FUZZ_MAIN      :=
else
FUZZ_LDFLAGS   :=
FUZZ_MAIN      := $(BUILD)/tests/fuzz/replay_main.o
endif

# The packages' flags are asked of pkg-config the first time a recipe needs
# them (then kept), never when make reads this file: on a machine without the
# packages, `make demo` installs them (deps) before the sub-make that compiles,
# and a plain `make` stops with one line naming the fix.
pkg_config = $(shell pkg-config $1 $(PKGS))$(if $(filter 0,$(.SHELLSTATUS)),,$(error \
    pkg-config: not all of $(PKGS) are installed (see above); `make deps` installs them))
PKG_CFLAGS = $(eval PKG_CFLAGS := $(call pkg_config,--cflags))$(PKG_CFLAGS)
PKG_LIBS   = $(eval PKG_LIBS := $(call pkg_config,--libs))$(PKG_LIBS)

COMPILE = $(CC) $(VIGIL_CPPFLAGS) $(CPPFLAGS) $(PKG_CFLAGS) $(CFLAGS) $(VIGIL_CFLAGS)
LINK    = $(CC) $(LDFLAGS) $(VIGIL_LDFLAGS)
LIBS    = $(PKG_LIBS) -lpthread -lm $(LDLIBS)
# Loaded with dlopen(), never linked: libcurl when an InfluxDB sink starts
# (daemon/curlload.h), paho when MQTT starts, its TLS variant with OpenSSL
# only for a TLS broker (daemon/pahoload.h, sslload.h; openssl is in PKGS
# for its headers). The tests also call libcurl directly (tests/influxd.c).
TEST_LIBS = $(filter-out -lssl -lcrypto,$(LIBS))
PROG_LIBS = $(filter-out -lcurl,$(TEST_LIBS))
# vigilctl is a client of its own that calls paho directly (short-lived,
# with TLS options): it links the TLS variant.
PAHO_LIBS = -lpaho-mqtt3as

# Every daemon module except vigild's main goes into one archive that
# vigild, vigilctl (ctl/), vigil-sim (sensors/sim/) and the tests link.
LIB_SRC   := $(filter-out daemon/main.c,$(wildcard daemon/*.c))
LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/%.o)
CTL_SRC   := $(wildcard ctl/*.c)
SIM_SRC   := $(wildcard sensors/sim/*.c)
TEST_SRC  := $(wildcard tests/test_*.c)
TEST_BIN  := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
TEST_HELP := $(filter-out $(TEST_SRC),$(wildcard tests/*.c))
# Fuzz targets: with libFuzzer in `make fuzz`, else with replay_main.c, which
# `make check` runs over each target's corpus (tests/fuzz/replay.sh).
FUZZ_SRC  := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN  := $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/tests/fuzz/%)
BENCH_SRC := $(wildcard bench/*.c)
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)
PROGS     := $(BUILD)/vigild $(BUILD)/vigilctl $(BUILD)/vigil-sim
# Stand-alone programs the integration tests drive (a fault-injecting TCP proxy).
TOOL_BIN  := $(patsubst tests/tools/%.c,$(BUILD)/tests/tools/%,$(wildcard tests/tools/*.c))
# LD_PRELOAD shims for the integration tests (a power cut that drops the page cache).
SHIM_SO   := $(patsubst tests/shim/%.c,$(BUILD)/tests/shim/%.so,$(wildcard tests/shim/*.c))

# Objects are kept: make would otherwise delete the test and bench objects as
# intermediates and rebuild them on every run (and in every `make install`).
.SECONDARY:
.PHONY: all check demo sim bench bench-peers bench-rtu bench-fleet fuzz fuzz-bin deb install uninstall clean deps tests console
all: $(PROGS) $(TEST_BIN) $(BENCH_BIN) $(TOOL_BIN) $(SHIM_SO) $(FUZZ_BIN)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(COMPILE) -c -o $@ $<

# Rebuilt from scratch: "ar r" keeps members whose source is gone (a renamed
# module), and the linker could take the stale copy of a symbol.
$(BUILD)/libvigil.a: $(LIB_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/vigild: $(BUILD)/daemon/main.o $(BUILD)/libvigil.a
	$(LINK) -o $@ $^ $(PROG_LIBS)

$(BUILD)/vigilctl: $(CTL_SRC:%.c=$(BUILD)/%.o) $(BUILD)/libvigil.a
	$(LINK) -o $@ $^ $(PROG_LIBS) $(PAHO_LIBS)

$(BUILD)/vigil-sim: $(SIM_SRC:%.c=$(BUILD)/%.o) $(BUILD)/libvigil.a
	$(LINK) -o $@ $^ $(PROG_LIBS)

$(BUILD)/tests/%: $(BUILD)/tests/%.o $(TEST_HELP:%.c=$(BUILD)/%.o) $(BUILD)/libvigil.a
	$(LINK) -o $@ $^ $(TEST_LIBS)

$(BUILD)/bench/%: $(BUILD)/bench/%.o $(BUILD)/libvigil.a
	$(LINK) -o $@ $^ $(LIBS)

$(BUILD)/tests/fuzz/fuzz_%: $(BUILD)/tests/fuzz/fuzz_%.o $(FUZZ_MAIN) $(BUILD)/tests/fuzz/scratch.o $(BUILD)/libvigil.a
	$(LINK) $(FUZZ_LDFLAGS) -o $@ $^ $(TEST_LIBS)

$(BUILD)/tests/tools/%: $(BUILD)/tests/tools/%.o
	$(LINK) -o $@ $^

# vigild with a test's own sink added: it links the daemon like vigild does.
$(BUILD)/tests/tools/vigild_recorder: $(BUILD)/tests/tools/vigild_recorder.o $(BUILD)/libvigil.a
	$(LINK) -o $@ $^ $(PROG_LIBS)

# Never sanitized: ASan wants its runtime first in a process, and the shim
# is preloaded before it (the test sets verify_asan_link_order=0).
$(BUILD)/tests/shim/%.so: tests/shim/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -D_GNU_SOURCE $(CFLAGS) -std=c11 -Wall -Wextra -Werror -fPIC -shared $(LDFLAGS) -o $@ $< -ldl -lpthread

deps:
	@scripts/deps.sh

# Every target that installs the packages builds in a sub-make after deps has
# run, so the compiler sees flags pkg-config gave with the packages present
# (and -j cannot start compiling beside deps). The plain build proves the
# warnings; the sanitizer build runs the tests.
check: deps
	$(MAKE) all
	$(MAKE) all BUILD=build/san SAN=1
	$(MAKE) console BUILD=build/san
	tests/run.sh build/san

# The guard console (console/, docs/console.md): static files, with the MQTT
# client from npm (pinned by console/package-lock.json) copied beside them.
# Not part of `all`: it needs npm, which a package build does not have.
CONSOLE_FILES := index.html enrol.html console.css console.json js i18n
console:
	@scripts/deps.sh npm
	@rm -rf $(BUILD)/console
	@mkdir -p $(BUILD)/console/vendor
	cp -r $(addprefix console/,$(CONSOLE_FILES)) $(BUILD)/console/
	cp console/node_modules/mqtt/dist/mqtt.min.js $(BUILD)/console/vendor/
	cp console/node_modules/mqtt/LICENSE.md $(BUILD)/console/vendor/mqtt.LICENSE.md

demo: deps
	$(MAKE) all
	scripts/demo.sh $(BUILD)

sim: deps
	$(MAKE) all BUILD=build/san SAN=1
	build/san/tests/test_sim --seeds $(SEEDS)

bench: deps
	$(MAKE) all
	bench/run.sh $(BUILD)

# vigild beside collectd and Node-RED on one site (also the last part of `make bench`)
bench-peers: deps
	$(MAKE) all
	bench/peers/run.sh $(BUILD)

# 32 RTU devices on one 19,200-baud line against the line's wire-time limit (also in `make bench`)
bench-rtu: deps
	$(MAKE) all
	bench/rtu.sh $(BUILD)

# 100 small sites against one broker with one deduplicating station (also in `make bench`)
bench-fleet: deps
	$(MAKE) all
	bench/fleet.sh $(BUILD)

# A Debian package of what `make install PREFIX=/usr` installs (debian/rules),
# written to the parent directory, as dpkg-buildpackage does.
# clang and its libFuzzer runtime are needed here only, never by `make check`.
fuzz:
	@scripts/deps.sh fuzz
	$(MAKE) fuzz-bin BUILD=build/fuzz FUZZ=1 CC=clang
	tests/fuzz/run.sh build/fuzz $(FUZZ_SECONDS)

fuzz-bin: $(FUZZ_BIN)

deb:
	@scripts/deps.sh deb
	dpkg-buildpackage -b -us -uc

# vigild's default profile directory is compiled into config.o from PREFIX.
# $(BUILD)/prefix holds the PREFIX it was built with and is rewritten only when
# that changes, so `make install PREFIX=/usr` after a plain `make` rebuilds
# config.o (and relinks) instead of installing a vigild that looks in /usr/local.
$(BUILD)/prefix: FORCE
	@mkdir -p $(dir $@)
	@echo '$(PREFIX)' | cmp -s - $@ || echo '$(PREFIX)' >$@
.PHONY: FORCE
FORCE:
$(BUILD)/daemon/config.o: $(BUILD)/prefix
$(BUILD)/daemon/config.o: VIGIL_CPPFLAGS += -DDEFAULT_PROFILE_DIR='"$(PREFIX)/share/vigil/profiles"'

# systemd and man directories follow PREFIX: /usr gives /usr/lib/systemd/system,
# the default /usr/local gives /usr/local/lib/systemd/system (both searched by systemd).
MANDIR      := $(PREFIX)/share/man
UNITDIR     := $(PREFIX)/lib/systemd/system
SYSUSERSDIR := $(PREFIX)/lib/sysusers.d
TMPFILESDIR := $(PREFIX)/lib/tmpfiles.d
DASHBOARDS  := $(wildcard dashboards/*.json)

# The unit names the installed vigild, so it is generated for this PREFIX on
# every run (phony): a stale unit from another PREFIX would start nothing.
.PHONY: $(BUILD)/vigild.service
$(BUILD)/vigild.service: systemd/vigild.service.in
	@mkdir -p $(dir $@)
	sed 's|@SBINDIR@|$(PREFIX)/sbin|g' $< > $@

install: $(PROGS) $(BUILD)/vigild.service
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/bin
	install -m 755 $(BUILD)/vigild $(DESTDIR)$(PREFIX)/sbin/vigild
	install -m 755 $(BUILD)/vigilctl $(BUILD)/vigil-sim $(DESTDIR)$(PREFIX)/bin/
	install -d $(DESTDIR)$(PREFIX)/share/vigil/profiles
	install -m 644 sensors/profiles/*.conf $(DESTDIR)$(PREFIX)/share/vigil/profiles/
	$(if $(DASHBOARDS),install -D -m 644 -t $(DESTDIR)$(PREFIX)/share/vigil/dashboards/ $(DASHBOARDS))
	install -D -m 644 -t $(DESTDIR)$(PREFIX)/share/vigil/grafana/ dashboards/provisioning/*.yaml
	install -d $(DESTDIR)/etc/vigil
	install -m 640 config/example-site.conf $(DESTDIR)/etc/vigil/site.conf.example
	install -d $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(TMPFILESDIR)
	install -m 644 $(BUILD)/vigild.service $(DESTDIR)$(UNITDIR)/vigild.service
	install -m 644 systemd/vigil.sysusers.conf $(DESTDIR)$(SYSUSERSDIR)/vigil.conf
	install -m 644 systemd/vigil.tmpfiles.conf $(DESTDIR)$(TMPFILESDIR)/vigil.conf
	install -d $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8
	install -m 644 man/vigilctl.1 $(DESTDIR)$(MANDIR)/man1/vigilctl.1
	install -m 644 man/vigil.conf.5 $(DESTDIR)$(MANDIR)/man5/vigil.conf.5
	install -m 644 man/vigild.8 $(DESTDIR)$(MANDIR)/man8/vigild.8

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/sbin/vigild $(DESTDIR)$(PREFIX)/bin/vigilctl $(DESTDIR)$(PREFIX)/bin/vigil-sim
	rm -rf $(DESTDIR)$(PREFIX)/share/vigil
	rm -f $(DESTDIR)/etc/vigil/site.conf.example
	rm -f $(DESTDIR)$(UNITDIR)/vigild.service $(DESTDIR)$(SYSUSERSDIR)/vigil.conf $(DESTDIR)$(TMPFILESDIR)/vigil.conf
	rm -f $(DESTDIR)$(MANDIR)/man1/vigilctl.1 $(DESTDIR)$(MANDIR)/man5/vigil.conf.5 $(DESTDIR)$(MANDIR)/man8/vigild.8

clean:
	rm -rf build

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
