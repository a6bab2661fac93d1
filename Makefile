# mod_webot — build, run and test.
#
#   make              build build/mod_webot.so, build/libwebotcore.a, build/webotctl
#   make unit         build and run the C unit tests (t/unit/test_*.c)
#   make run          dev servers: PostgreSQL on 127.0.0.1:54329, httpd on :8080/:8443
#   make stop         stop the dev servers
#   make test         unit tests + Apache::Test suite against throwaway servers
#   make test-faults  the fault-injection suite (t/faults/*.ft, docs/reliability.md)
#   make test-asan    the same, built with SANITIZE=address,undefined (build-san/)
#   make fuzz         libFuzzer harnesses (fuzz/), FUZZ_SECONDS (60) each (build-fuzz/)
#   make valgrind     the C unit tests under valgrind memcheck
#   make bench        the benchmark report: static, catalog, me, jobs, worker,
#                     peers, RSS (bench/report.sh; docs/performance.md)
#   make install      install module, a2enmod snippets, webotctl, sql (DESTDIR honoured)
#
# Every target installs the Debian packages it needs when they are missing
# (scripts/deps.sh); set WEBOT_NO_DEPS=1 to skip that check.

SHELL := /bin/bash
.DEFAULT_GOAL := all
.SUFFIXES:
.DELETE_ON_ERROR:

ifeq ($(origin CC),default)
CC := gcc
endif
AR ?= ar

SANITIZE ?=
ifeq ($(strip $(SANITIZE)),)
B := build
SAN_FLAGS :=
else
B := build-san
SAN_FLAGS := -fsanitize=$(SANITIZE) -fno-omit-frame-pointer
endif

MOD_SRC  := $(wildcard mod_webot/*.c)
CORE_SRC := $(wildcard mod_webot/webot_*.c)
CTL_SRC  := $(wildcard webotctl/*.c)
UNIT_SRC := $(wildcard t/unit/test_*.c)

MOD_OBJ  := $(MOD_SRC:%.c=$(B)/obj/%.o)
CORE_OBJ := $(CORE_SRC:%.c=$(B)/obj/%.o)
CTL_OBJ  := $(CTL_SRC:%.c=$(B)/obj/%.o)
UNIT_BIN := $(UNIT_SRC:t/unit/%.c=$(B)/unit/%)

SO      := $(B)/mod_webot.so
CORE_A  := $(B)/libwebotcore.a
CTL_BIN := $(B)/webotctl

# Only what has sources is built (the globs may still be empty).
TARGETS := $(CORE_A) $(if $(MOD_SRC),$(SO)) $(if $(CTL_SRC),$(CTL_BIN))

# Tool flags. Recursively expanded and cached on first use, so that a target
# which only installs packages or stops servers never calls apxs & co, and
# the build after a fresh package installation sees the installed tools.
cached = $(if $(filter undefined,$(origin _cache_$1)),$(eval _cache_$1 := $(shell $2)))$(_cache_$1)
APXS        ?= apxs
APXS_CFLAGS  = $(call cached,apxs_cflags,$(APXS) -q CFLAGS)
APXS_INC     = $(call cached,apxs_inc,$(APXS) -q INCLUDEDIR)
APXS_LIBEXEC = $(call cached,apxs_libexec,$(APXS) -q LIBEXECDIR)
APR_INC      = $(call cached,apr_inc,apr-1-config --includes --cppflags)
APU_INC      = $(filter-out -I/usr/include,$(call cached,apu_inc,apu-1-config --includes))
PG_INC       = $(call cached,pg_inc,pg_config --includedir)

WARN      := -Wall -Wextra -Werror
CPPFLAGS_ALL = -Iinclude -I$(APXS_INC) $(APR_INC) $(APU_INC) -I$(PG_INC) $(CPPFLAGS)
CFLAGS_ALL   = $(APXS_CFLAGS) $(WARN) -std=gnu11 -fPIC -g -O2 $(SAN_FLAGS) $(CFLAGS)
LDFLAGS_ALL  = $(SAN_FLAGS) $(LDFLAGS)

LIBS_SO   := -ljansson -lcurl -lcrypto -lpq
LIBS_CTL  := -lpq -laprutil-1 -lapr-1 -ljansson -lcrypto -lcurl
LIBS_UNIT := -laprutil-1 -lapr-1 -ljansson -lcrypto -lcurl

DEPS = $(if $(WEBOT_NO_DEPS),@true,@scripts/deps.sh)

# Compile in parallel unless the caller chose -j already.
JOBS := $(if $(findstring -j,$(MAKEFLAGS)),,-j$(shell nproc 2>/dev/null || echo 2))

.PHONY: all build unit run stop test test-asan install clean deps-build deps-run deps-test bench

all: deps-build
	@$(MAKE) --no-print-directory $(JOBS) WEBOT_NO_DEPS=1 build

build: $(TARGETS)

deps-build: ; $(DEPS) build
deps-run:   ; $(DEPS) run
deps-test:  ; $(DEPS) test

$(B)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS_ALL) $(CFLAGS_ALL) -MMD -MP -c -o $@ $<

$(CORE_A): $(CORE_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@
	$(AR) rcs $@ $^

$(SO): $(MOD_OBJ)
	$(CC) -shared $(LDFLAGS_ALL) -o $@ $^ $(LIBS_SO)

$(CTL_BIN): $(CTL_OBJ) $(CORE_A)
	$(CC) $(LDFLAGS_ALL) -o $@ $(CTL_OBJ) $(CORE_A) $(LIBS_CTL)

$(B)/unit/%: t/unit/%.c $(CORE_A)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS_ALL) $(CFLAGS_ALL) -MMD -MP $(LDFLAGS_ALL) -o $@ $< $(CORE_A) $(LIBS_UNIT)

-include $(wildcard $(B)/obj/*/*.d $(B)/unit/*.d)

unit: deps-build
	@$(MAKE) --no-print-directory $(JOBS) WEBOT_NO_DEPS=1 build $(UNIT_BIN)
	@SANITIZE='$(SANITIZE)' CC='$(CC)' scripts/unit.sh $(UNIT_BIN)

run: deps-run
	@$(MAKE) --no-print-directory $(JOBS) WEBOT_NO_DEPS=1 build
	@SANITIZE='$(SANITIZE)' CC='$(CC)' WEBOT_BUILD_DIR='$(CURDIR)/$(B)' scripts/dev.sh start

stop:
	@scripts/dev.sh stop

# The Apache::Test suite runs even when a unit test failed (more to read in
# one CI run); the target fails if either did.
test: deps-test
	@rc=0; \
	$(MAKE) --no-print-directory WEBOT_NO_DEPS=1 unit || rc=1; \
	if [ -f $(B)/mod_webot.so ]; then \
	  SANITIZE='$(SANITIZE)' CC='$(CC)' WEBOT_BUILD_DIR='$(CURDIR)/$(B)' scripts/test.sh || rc=1; \
	else echo "make test: $(B)/mod_webot.so was not built" >&2; rc=1; fi; \
	if [ $$rc -ne 0 ]; then echo "make test: FAILED" >&2; else echo "make test: all passed"; fi; \
	exit $$rc

test-asan:
	@$(MAKE) --no-print-directory test SANITIZE=address,undefined

# libFuzzer harnesses (fuzz/fuzz.mk, clang, build-fuzz/), each run for
# FUZZ_SECONDS; fails on any crash, leak or sanitizer report (docs/fuzzing.md).
FUZZ_SECONDS ?= 60
.PHONY: fuzz valgrind test-faults

# The fault-injection suite (scripts/test-faults.sh, docs/reliability.md).
test-faults: deps-test build
	@SANITIZE='$(SANITIZE)' CC='$(CC)' WEBOT_BUILD_DIR='$(CURDIR)/$(B)' scripts/test-faults.sh

fuzz:
	$(DEPS) fuzz
	@$(MAKE) --no-print-directory $(JOBS) -f fuzz/fuzz.mk
	@FUZZ_SECONDS='$(FUZZ_SECONDS)' fuzz/run.sh

# The C unit tests (plain build/) under valgrind memcheck: zero errors and
# no definite leaks.
valgrind:
	$(DEPS) valgrind
	@$(MAKE) --no-print-directory $(JOBS) WEBOT_NO_DEPS=1 SANITIZE= build \
	  $(UNIT_SRC:t/unit/%.c=build/unit/%)
	@scripts/valgrind.sh $(UNIT_SRC:t/unit/%.c=build/unit/%)

# The benchmark report (bench/report.sh: every figure of docs/performance.md
# in one run, with the peers of ../shared/bench; it starts the dev servers
# itself). Not part of make test.
bench:
	@bench/report.sh

# ---------------------------------------------------------------------------
DESTDIR ?=
PREFIX  ?= /usr/local
APACHE_MODS_AVAILABLE ?= /etc/apache2/mods-available
WEBOT_ETC ?= /etc/webot

install: all
	@$(MAKE) --no-print-directory WEBOT_NO_DEPS=1 install-files

.PHONY: install-files
install-files:
	install -d $(DESTDIR)$(APXS_LIBEXEC) $(DESTDIR)$(APACHE_MODS_AVAILABLE) \
	  $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/webot/sql $(DESTDIR)$(WEBOT_ETC)
	$(if $(MOD_SRC),install -m 0644 $(SO) $(DESTDIR)$(APXS_LIBEXEC)/mod_webot.so)
	install -m 0644 conf/webot.load conf/webot.conf $(DESTDIR)$(APACHE_MODS_AVAILABLE)/
	$(if $(CTL_SRC),install -m 0755 $(CTL_BIN) $(DESTDIR)$(PREFIX)/bin/webotctl)
	$(if $(wildcard sql/*.sql),install -m 0644 $(wildcard sql/*.sql) $(DESTDIR)$(PREFIX)/share/webot/sql/)
	@if [ -f conf/catalog.json ] && [ ! -e $(DESTDIR)$(WEBOT_ETC)/catalog.json ]; then \
	  echo "install -m 0644 conf/catalog.json $(DESTDIR)$(WEBOT_ETC)/catalog.json"; \
	  install -m 0644 conf/catalog.json $(DESTDIR)$(WEBOT_ETC)/catalog.json; \
	fi

clean:
	rm -rf build build-san build-fuzz
