# anon-telemetry: plain make. Overridable: CC, AR, CPPFLAGS, CFLAGS, LDFLAGS, PREFIX, LIBDIR,
# INCLUDEDIR, PYTHONDIR, MANDIR, DESTDIR, BUILD.
#   make              library (libanontelemetry.a, .so.1) + commands in build/
#   make test         unit and integration tests; ends with "N passed, N failed"
#   make test SUITE=ops    one suite (ops.sh; test_ops; ops: both, where both exist)
#   make SANITIZE=1 test   the same under ASan+UBSan (objects in build/san)
#   make bench        benchmarks (ratios against baselines run side by side)
#   make fuzz         fuzz every tests/fuzz/fuzz_*.c target with clang for FUZZ_SECONDS (60)
#                     each (make test replays their seed corpora: fuzz_replay.sh)
#   make demo         the main job end to end: queue, ship to a local collector, inspect
#   make install      PREFIX=/usr/local DESTDIR= (make uninstall undoes it)
#   make deb          the Debian packages, built from the last commit in a temporary copy
#                     (scripts/build-deb.sh), into $(BUILD)/deb/
#   make test-deb     make deb, then lintian, and as root install, use, remove and purge them

CC      ?= cc
PREFIX  ?= /usr/local
LIBDIR  ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
DESTDIR ?=
CFLAGS  ?= -O2 -g
LDFLAGS ?=

ifeq ($(SANITIZE),1)
BUILD   ?= build/san
SANFLAGS = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else
BUILD   ?= build
SANFLAGS =
endif

# The dependencies' flags are asked for when a recipe first needs them, not when make reads
# this file: on a fresh machine pkg-config and the packages only arrive with the
# $(BUILD)/.deps-ok step, which every compile waits for. The eval keeps the first answer,
# so pkg-config runs once per make, not once per object.
PKGS       = sqlite3 libcurl libcjson libmicrohttpd libcrypto
LIB_PKGS   = sqlite3 libcjson    # what libanontelemetry itself needs (curl is the shipper's)
PKG_CFLAGS = $(eval PKG_CFLAGS := $$(shell pkg-config --cflags $(PKGS)))$(PKG_CFLAGS)
PKG_LIBS   = $(eval PKG_LIBS := $$(shell pkg-config --libs $(PKGS)))$(or $(PKG_LIBS),$(error \
             pkg-config knows none of $(PKGS): run scripts/install-deps.sh))

# Library objects see only spool/ and the generated sources; the shipper's objects (and the
# tests) add -Ishipper. The library is compiled with hidden visibility: anon_telemetry.h
# marks what it declares as the exported ABI, internal.h's functions stay inside.
ALL_CFLAGS  = -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -Wall -Wextra \
              -fPIC -Ispool -I$(BUILD)/gen $(PKG_CFLAGS) $(SANFLAGS) $(CPPFLAGS) $(CFLAGS)
LIB_CFLAGS  = $(ALL_CFLAGS) -fvisibility=hidden
SHIP_CFLAGS = $(ALL_CFLAGS) -Ishipper
ALL_LDFLAGS = $(SANFLAGS) -Wl,--as-needed $(LDFLAGS)   # each binary needs only what it calls
LIBS        = $(PKG_LIBS) -lpthread -lm

# The shared library's ABI: bump SO_MAJOR when a public function changes incompatibly.
SO_MAJOR   = 1
SO_VERSION = $(SO_MAJOR).0.0
SONAME     = libanontelemetry.so.$(SO_MAJOR)
SO_REAL    = libanontelemetry.so.$(SO_VERSION)
# The version anon-telemetry.pc announces: the project's one, from the public header.
VERSION    = $(shell sed -n 's/^\#define ANON_TELEMETRY_VERSION "\(.*\)"$$/\1/p' spool/anon_telemetry.h)

LIB_SRCS  = $(filter-out spool/cmd_%.c,$(wildcard spool/*.c))
LIB_OBJS  = $(LIB_SRCS:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/gen/schema_sql.o \
            $(BUILD)/obj/gen/migrations.o
SHIP_SRCS = $(filter-out shipper/main.c,$(wildcard shipper/*.c))
SHIP_OBJS = $(SHIP_SRCS:%.c=$(BUILD)/obj/%.o)
RELAY_SRCS = $(filter-out relay/main.c,$(wildcard relay/*.c))
RELAY_OBJS = $(RELAY_SRCS:%.c=$(BUILD)/obj/%.o)
TEST_SRCS = $(wildcard tests/unit/test_*.c)
TESTS     = $(TEST_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
FUZZ_SRCS = $(wildcard tests/fuzz/fuzz_*.c)

BINS = $(BUILD)/anon-telemetry-spool
ifneq ($(wildcard spool/cmd_tokens.c),)
BINS += $(BUILD)/anon-telemetry-tokens
endif
ifneq ($(wildcard shipper/main.c),)
BINS += $(BUILD)/anon-telemetry-ship
endif
ifneq ($(wildcard relay/main.c),)
BINS += $(BUILD)/anon-telemetry-relay
endif

.PHONY: all deps test bench demo install uninstall clean crash fuzz valgrind deb test-deb
all: $(BUILD)/libanontelemetry.a $(BUILD)/libanontelemetry.so $(BINS)

# Installs missing Debian packages once (does nothing when all are present).
$(BUILD)/.deps-ok: scripts/install-deps.sh
	@mkdir -p $(BUILD)
	@scripts/install-deps.sh
	@touch $@
deps: $(BUILD)/.deps-ok

$(BUILD)/gen/schema_sql.c: schema/spool.sql scripts/embed.sh | $(BUILD)/.deps-ok
	@mkdir -p $(dir $@)
	scripts/embed.sh anon_schema_sql $< > $@

$(BUILD)/gen/migrations.c: $(wildcard schema/migrations/*.sql) scripts/embed.sh | $(BUILD)/.deps-ok
	@mkdir -p $(dir $@)
	scripts/embed.sh --steps anon_migrations $(sort $(wildcard schema/migrations/*.sql)) > $@

$(BUILD)/obj/gen/%.o: $(BUILD)/gen/%.c
	@mkdir -p $(dir $@)
	$(CC) $(LIB_CFLAGS) -c -o $@ $<

$(BUILD)/obj/%.o: %.c | $(BUILD)/.deps-ok
	@mkdir -p $(dir $@)
	$(CC) $(LIB_CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/obj/shipper/%.o: shipper/%.c | $(BUILD)/.deps-ok
	@mkdir -p $(dir $@)
	$(CC) $(SHIP_CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/obj/relay/%.o: relay/%.c | $(BUILD)/.deps-ok
	@mkdir -p $(dir $@)
	$(CC) $(SHIP_CFLAGS) -Irelay -MMD -MP -c -o $@ $<

$(BUILD)/libanontelemetry.a: $(LIB_OBJS)
	rm -f $@
	$(AR) rcs $@ $^

# The real file, then the two links a program finds it by: the SONAME at run time, the
# plain .so when linking with -lanontelemetry.
$(BUILD)/$(SO_REAL): $(LIB_OBJS)
	$(CC) -shared -Wl,-soname,$(SONAME) -Wl,--no-undefined -o $@ $^ $(ALL_LDFLAGS) $(LIBS)

$(BUILD)/$(SONAME): $(BUILD)/$(SO_REAL)
	ln -sfn $(SO_REAL) $@

$(BUILD)/libanontelemetry.so: $(BUILD)/$(SONAME)
	ln -sfn $(SONAME) $@

$(BUILD)/libship.a: $(SHIP_OBJS)
	rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/anon-telemetry-spool: $(BUILD)/obj/spool/cmd_spool.o $(BUILD)/libanontelemetry.a
	$(CC) -o $@ $^ $(ALL_LDFLAGS) $(LIBS)

$(BUILD)/anon-telemetry-tokens: $(BUILD)/obj/spool/cmd_tokens.o $(BUILD)/libanontelemetry.a
	$(CC) -o $@ $^ $(ALL_LDFLAGS) $(LIBS)

$(BUILD)/anon-telemetry-ship: $(BUILD)/obj/shipper/main.o $(BUILD)/libship.a $(BUILD)/libanontelemetry.a
	$(CC) -o $@ $^ $(ALL_LDFLAGS) $(LIBS)

# The relay: its objects in librelay.a (the unit tests link them too), the shipper's log.c.
$(BUILD)/librelay.a: $(RELAY_OBJS)
	rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/anon-telemetry-relay: $(BUILD)/obj/relay/main.o $(BUILD)/librelay.a $(BUILD)/libship.a $(BUILD)/libanontelemetry.a
	$(CC) -o $@ $^ $(ALL_LDFLAGS) $(LIBS)

$(BUILD)/tests/%: tests/unit/%.c tests/unit/test.h $(BUILD)/librelay.a $(BUILD)/libship.a $(BUILD)/libanontelemetry.a
	@mkdir -p $(dir $@)
	$(CC) $(SHIP_CFLAGS) -Irelay -Itests/unit -o $@ $< $(BUILD)/librelay.a $(BUILD)/libship.a $(BUILD)/libanontelemetry.a $(ALL_LDFLAGS) $(LIBS)

# LD_PRELOAD shim for the I/O fault tests (tests/faults/faultfs.c); never sanitized itself.
$(BUILD)/faultfs.so: tests/faults/faultfs.c
	@mkdir -p $(dir $@)
	$(CC) -shared -fPIC -O2 -g -Wall -Wextra -o $@ $< -ldl

# Disk-full stand-in when no small file system can be mounted (PRAGMA max_page_count).
$(BUILD)/faults/pagelimit: tests/faults/pagelimit.c $(BUILD)/libanontelemetry.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(BUILD)/libanontelemetry.a $(ALL_LDFLAGS) $(LIBS)

test: all $(TESTS) $(BUILD)/faultfs.so $(BUILD)/faults/pagelimit
	@ANON_BUILD=$(BUILD) ANON_SANITIZE=$(SANITIZE) tests/run.sh $(if $(SUITE),--suite '$(SUITE)')

bench: all
	@ANON_BUILD=$(BUILD) tests/bench/run.sh

demo: all
	@ANON_BUILD=$(BUILD) scripts/demo.sh

crash: all
	@ANON_BUILD=$(BUILD) tests/crash/crash.sh $(CRASH_ARGS)
	@ANON_BUILD=$(BUILD) bash tests/crash/bundle.sh

fuzz: $(BUILD)/.deps-ok
	@FUZZ_SECONDS=$(or $(FUZZ_SECONDS),60) FUZZ_OUT=$(BUILD)/fuzz tests/fuzz/run.sh

valgrind: all $(TESTS)
	@ANON_BUILD=$(BUILD) ANON_VALGRIND=1 tests/run.sh --unit-only $(if $(SUITE),--suite '$(SUITE)')

# ldconfig refreshes the loader's cache for the live system only: a DESTDIR is a staging
# tree, and only root may write the cache (anyone else: skipped without a word).
LDCONFIG_LIVE = if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" -eq 0 ]; then \
                    echo ldconfig; PATH="$$PATH:/usr/sbin:/sbin" ldconfig; fi

# The Python package goes where Debian's python3 finds it: /usr/lib/python3/dist-packages
# for PREFIX=/usr (every python3 version reads it); under /usr/local Debian's python3 reads
# only lib/python3.X/dist-packages of its own version X. _installed.py records LIBDIR, so
# the package loads the library installed with it.
DEBIAN_PY3 = $(shell /usr/bin/python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || echo 3)
PYTHONDIR ?= $(if $(filter /usr,$(PREFIX)),/usr/lib/python3/dist-packages,$(PREFIX)/lib/python$(DEBIAN_PY3)/dist-packages)
# The manual pages (man/): the commands (1, 8), the C API (3), the overview and formats (7).
MANDIR ?= $(PREFIX)/share/man
MANPAGES = $(wildcard man/*.[1-8])

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCLUDEDIR) \
	           $(DESTDIR)$(PREFIX)/share/anon-telemetry
	install -m 0755 $(BINS) $(DESTDIR)$(PREFIX)/bin/
	install -m 0644 $(BUILD)/libanontelemetry.a $(DESTDIR)$(LIBDIR)/
	install -m 0644 $(BUILD)/$(SO_REAL) $(DESTDIR)$(LIBDIR)/
	ln -sfn $(SO_REAL) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sfn $(SONAME) $(DESTDIR)$(LIBDIR)/libanontelemetry.so
	install -m 0644 spool/anon_telemetry.h $(DESTDIR)$(INCLUDEDIR)/
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' \
	    -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|g' -e 's|@VERSION@|$(VERSION)|g' \
	    -e 's|@LIBS_PRIVATE@|$(strip $(shell pkg-config --libs $(LIB_PKGS))) -lpthread -lm|g' \
	    spool/anon-telemetry.pc.in \
	    > $(DESTDIR)$(LIBDIR)/pkgconfig/anon-telemetry.pc
	chmod 0644 $(DESTDIR)$(LIBDIR)/pkgconfig/anon-telemetry.pc
	install -m 0644 schema/spool.sql schema/anonymizer_event.schema.json \
	        $(DESTDIR)$(PREFIX)/share/anon-telemetry/
	install -d $(DESTDIR)$(PYTHONDIR)/anon_telemetry
	install -m 0644 $(filter-out %/_installed.py,$(wildcard python/anon_telemetry/*.py)) \
	        python/anon_telemetry/py.typed $(DESTDIR)$(PYTHONDIR)/anon_telemetry/
	printf 'LIBDIR = "%s"\n' '$(LIBDIR)' > $(DESTDIR)$(PYTHONDIR)/anon_telemetry/_installed.py
	for m in $(MANPAGES); do d=$(DESTDIR)$(MANDIR)/man$${m##*.}; \
	    install -d $$d && install -m 0644 $$m $$d/ || exit 1; done
	@$(LDCONFIG_LIVE)

uninstall:
	rm -f $(addprefix $(DESTDIR)$(PREFIX)/bin/,$(notdir $(BINS))) \
	      $(DESTDIR)$(LIBDIR)/libanontelemetry.a $(DESTDIR)$(LIBDIR)/libanontelemetry.so \
	      $(DESTDIR)$(LIBDIR)/$(SONAME) $(DESTDIR)$(LIBDIR)/$(SO_REAL) \
	      $(DESTDIR)$(LIBDIR)/pkgconfig/anon-telemetry.pc \
	      $(DESTDIR)$(INCLUDEDIR)/anon_telemetry.h
	rm -rf $(DESTDIR)$(PREFIX)/share/anon-telemetry
	rm -rf $(DESTDIR)$(PYTHONDIR)/anon_telemetry
	for m in $(notdir $(MANPAGES)); do rm -f $(DESTDIR)$(MANDIR)/man$${m##*.}/$$m; done
	@$(LDCONFIG_LIVE)

# The Debian packages, from the last commit (scripts/build-deb.sh copies the committed tree
# to a temporary directory and runs dpkg-buildpackage there: no build directory of the
# checkout is used or removed). DEB_ARGS=--worktree takes uncommitted changes too.
deb: $(BUILD)/.deps-ok
	@scripts/build-deb.sh $(DEB_ARGS) $(BUILD)/deb

# make deb, lintian, and (as root, on a machine where they are not installed) installing
# the packages, using them, removing and purging them: tests/package/deb.sh.
test-deb: deb
	@ANON_BUILD=$(BUILD) bash tests/package/deb.sh

# BUILD, whatever it is (build/san, build/abi, ...); the default build/ takes them all along.
clean:
	@case '$(BUILD)' in ''|/|.|./|..|../) echo "make clean: refusing to remove BUILD='$(BUILD)'" >&2; exit 1 ;; esac
	rm -rf $(BUILD)

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
