# anon-telemetry: plain make. Overridable: CC, CFLAGS, LDFLAGS, PREFIX, DESTDIR, BUILD.
#   make              library + commands in build/
#   make test         unit and integration tests; ends with "N passed, N failed"
#   make SANITIZE=1 test   the same under ASan+UBSan (objects in build/san)
#   make bench        benchmarks (ratios against baselines run side by side)
#   make demo         the main job end to end: queue, ship to a local collector, inspect
#   make install      PREFIX=/usr/local DESTDIR=

CC      ?= cc
PREFIX  ?= /usr/local
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

PKGS     = sqlite3 libcurl libcjson
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

ALL_CFLAGS  = -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -Wall -Wextra \
              -fPIC -Ispool -Ishipper -I$(BUILD)/gen $(PKG_CFLAGS) $(SANFLAGS) $(CFLAGS)
ALL_LDFLAGS = $(SANFLAGS) $(LDFLAGS)
LIBS        = $(PKG_LIBS) -lpthread -lm

LIB_SRCS  = $(filter-out spool/cmd_%.c,$(wildcard spool/*.c))
LIB_OBJS  = $(LIB_SRCS:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/gen/schema_sql.o
SHIP_SRCS = $(filter-out shipper/main.c,$(wildcard shipper/*.c))
SHIP_OBJS = $(SHIP_SRCS:%.c=$(BUILD)/obj/%.o)
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

.PHONY: all deps test bench demo install uninstall clean crash fuzz valgrind
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

$(BUILD)/obj/gen/schema_sql.o: $(BUILD)/gen/schema_sql.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/obj/%.o: %.c | $(BUILD)/.deps-ok
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/libanontelemetry.a: $(LIB_OBJS)
	rm -f $@
	ar rcs $@ $^

$(BUILD)/libanontelemetry.so: $(LIB_OBJS)
	$(CC) -shared -o $@ $^ $(ALL_LDFLAGS) $(LIBS)

$(BUILD)/libship.a: $(SHIP_OBJS)
	rm -f $@
	ar rcs $@ $^

$(BUILD)/anon-telemetry-spool: $(BUILD)/obj/spool/cmd_spool.o $(BUILD)/libanontelemetry.a
	$(CC) -o $@ $^ $(ALL_LDFLAGS) $(LIBS)

$(BUILD)/anon-telemetry-tokens: $(BUILD)/obj/spool/cmd_tokens.o $(BUILD)/libanontelemetry.a
	$(CC) -o $@ $^ $(ALL_LDFLAGS) $(LIBS)

$(BUILD)/anon-telemetry-ship: $(BUILD)/obj/shipper/main.o $(BUILD)/libship.a $(BUILD)/libanontelemetry.a
	$(CC) -o $@ $^ $(ALL_LDFLAGS) $(LIBS)

$(BUILD)/tests/%: tests/unit/%.c tests/unit/test.h $(BUILD)/libship.a $(BUILD)/libanontelemetry.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests/unit -o $@ $< $(BUILD)/libship.a $(BUILD)/libanontelemetry.a $(ALL_LDFLAGS) $(LIBS)

# LD_PRELOAD shim for the I/O fault tests (tests/faults/faultfs.c); never sanitized itself.
$(BUILD)/faultfs.so: tests/faults/faultfs.c
	@mkdir -p $(dir $@)
	$(CC) -shared -fPIC -O2 -g -Wall -Wextra -o $@ $< -ldl

# Disk-full stand-in when no small file system can be mounted (PRAGMA max_page_count).
$(BUILD)/faults/pagelimit: tests/faults/pagelimit.c $(BUILD)/libanontelemetry.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(BUILD)/libanontelemetry.a $(ALL_LDFLAGS) $(LIBS)

test: all $(TESTS) $(BUILD)/faultfs.so $(BUILD)/faults/pagelimit
	@ANON_BUILD=$(BUILD) ANON_SANITIZE=$(SANITIZE) tests/run.sh

bench: all
	@ANON_BUILD=$(BUILD) tests/bench/run.sh

demo: all
	@ANON_BUILD=$(BUILD) scripts/demo.sh

crash: all
	@ANON_BUILD=$(BUILD) tests/crash/crash.sh $(CRASH_ARGS)

fuzz:
	@tests/fuzz/run.sh

valgrind: all $(TESTS)
	@ANON_BUILD=$(BUILD) ANON_VALGRIND=1 tests/run.sh --unit-only

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include \
	           $(DESTDIR)$(PREFIX)/share/anon-telemetry
	install -m 0755 $(BINS) $(DESTDIR)$(PREFIX)/bin/
	install -m 0644 $(BUILD)/libanontelemetry.a $(DESTDIR)$(PREFIX)/lib/
	install -m 0755 $(BUILD)/libanontelemetry.so $(DESTDIR)$(PREFIX)/lib/
	install -m 0644 spool/anon_telemetry.h $(DESTDIR)$(PREFIX)/include/
	install -m 0644 schema/spool.sql schema/anonymizer_event.schema.json \
	        $(DESTDIR)$(PREFIX)/share/anon-telemetry/

uninstall:
	rm -f $(addprefix $(DESTDIR)$(PREFIX)/bin/,$(notdir $(BINS))) \
	      $(DESTDIR)$(PREFIX)/lib/libanontelemetry.a $(DESTDIR)$(PREFIX)/lib/libanontelemetry.so \
	      $(DESTDIR)$(PREFIX)/include/anon_telemetry.h
	rm -rf $(DESTDIR)$(PREFIX)/share/anon-telemetry

clean:
	rm -rf build

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
