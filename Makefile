# vigil - physical-security monitoring daemon.
#
#   make            build vigild, vigilctl and vigil-sim into build/
#   make check      install missing packages, build (plain and ASan+UBSan), run every test
#   make demo       run the daemon on a simulated site with a real broker
#   make sim        many seeds of the core simulation test (SEEDS=N)
#   make bench      benchmarks under bench/
#   make install    DESTDIR= PREFIX= (default /usr/local)

PREFIX  ?= /usr/local
DESTDIR ?=
BUILD   ?= build
SAN     ?= 0
SEEDS   ?= 2000

PKGS    := libmodbus libconfig jansson libsystemd libsodium
CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
           -Wmissing-prototypes -Idaemon -MMD -MP \
           -DDEFAULT_PROFILE_DIR='"$(PREFIX)/share/vigil/profiles"'
ifeq ($(SAN),1)
CFLAGS  += -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
endif
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS  += $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpaho-mqtt3as -lpthread -lm
CFLAGS  += $(PKG_CFLAGS)

# Every daemon module except vigild's main goes into one archive that
# vigild, vigilctl (ctl/), vigil-sim (sensors/sim/) and the tests link.
LIB_SRC   := $(filter-out daemon/main.c,$(wildcard daemon/*.c))
LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/%.o)
CTL_SRC   := $(wildcard ctl/*.c)
SIM_SRC   := $(wildcard sensors/sim/*.c)
TEST_SRC  := $(wildcard tests/test_*.c)
TEST_BIN  := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
TEST_HELP := $(filter-out $(TEST_SRC),$(wildcard tests/*.c))
BENCH_SRC := $(wildcard bench/*.c)
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)
PROGS     := $(BUILD)/vigild $(BUILD)/vigilctl $(BUILD)/vigil-sim
# Stand-alone programs the integration tests drive (a fault-injecting TCP proxy).
TOOL_BIN  := $(patsubst tests/tools/%.c,$(BUILD)/tests/tools/%,$(wildcard tests/tools/*.c))
# LD_PRELOAD shims for the integration tests (a power cut that drops the page cache).
SHIM_SO   := $(patsubst tests/shim/%.c,$(BUILD)/tests/shim/%.so,$(wildcard tests/shim/*.c))

.PHONY: all check demo sim bench install uninstall clean deps tests
all: $(PROGS) $(TEST_BIN) $(BENCH_BIN) $(TOOL_BIN) $(SHIM_SO)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/libvigil.a: $(LIB_OBJ)
	$(AR) rcs $@ $^

$(BUILD)/vigild: $(BUILD)/daemon/main.o $(BUILD)/libvigil.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/vigilctl: $(CTL_SRC:%.c=$(BUILD)/%.o) $(BUILD)/libvigil.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/vigil-sim: $(SIM_SRC:%.c=$(BUILD)/%.o) $(BUILD)/libvigil.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/tests/%.o $(TEST_HELP:%.c=$(BUILD)/%.o) $(BUILD)/libvigil.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/bench/%: $(BUILD)/bench/%.o $(BUILD)/libvigil.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/tools/%: $(BUILD)/tests/tools/%.o
	$(CC) $(LDFLAGS) -o $@ $^

# Never sanitized: ASan wants its runtime first in a process, and the shim
# is preloaded before it (the test sets verify_asan_link_order=0).
$(BUILD)/tests/shim/%.so: tests/shim/%.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -O2 -g -fPIC -shared -o $@ $< -ldl -lpthread

deps:
	@scripts/deps.sh

# The plain build proves the warnings; the sanitizer build runs the tests.
check: deps
	$(MAKE) all
	$(MAKE) all BUILD=build/san SAN=1
	tests/run.sh build/san

demo: deps all
	scripts/demo.sh $(BUILD)

sim: deps
	$(MAKE) all BUILD=build/san SAN=1
	build/san/tests/test_sim --seeds $(SEEDS)

bench: deps all
	bench/run.sh $(BUILD)

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

install: all $(BUILD)/vigild.service
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/bin
	install -m 755 $(BUILD)/vigild $(DESTDIR)$(PREFIX)/sbin/vigild
	install -m 755 $(BUILD)/vigilctl $(BUILD)/vigil-sim $(DESTDIR)$(PREFIX)/bin/
	install -d $(DESTDIR)$(PREFIX)/share/vigil/profiles $(DESTDIR)$(PREFIX)/share/vigil/dashboards
	install -m 644 sensors/profiles/*.conf $(DESTDIR)$(PREFIX)/share/vigil/profiles/
	$(if $(DASHBOARDS),install -m 644 $(DASHBOARDS) $(DESTDIR)$(PREFIX)/share/vigil/dashboards/)
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
