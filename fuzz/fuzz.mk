# fuzz/fuzz.mk: the libFuzzer harnesses (make fuzz calls this file, then
# fuzz/run.sh). Everything lands in build-fuzz/:
#
#   build-fuzz/obj/*.o        the core (mod_webot/webot_*.c), clang with
#                             -fsanitize=fuzzer-no-link,address,undefined
#   build-fuzz/libwebotcore.a those objects
#   build-fuzz/gen_routes     fuzz/gen_routes.c: reads the real route table
#   build-fuzz/gen/fuzz_routes.h   its output (routes, schemas, OpenAPI,
#                             catalog) for the harnesses
#   build-fuzz/fuzz_NAME      one binary per fuzz/fuzz_NAME.c
#
# Used as: make -f fuzz/fuzz.mk [FUZZ_CC=clang] (from the top directory).

SHELL := /bin/bash
.SUFFIXES:
.DELETE_ON_ERROR:

FZ       := build-fuzz
FUZZ_CC  ?= clang

# UBSan findings abort (libFuzzer then keeps the input), like ASan's.
FUZZ_SAN   := -fsanitize=address,undefined -fno-sanitize-recover=all \
              -fno-omit-frame-pointer
FUZZ_OPT   := -g -O1 -std=gnu11

cached = $(if $(filter undefined,$(origin _cache_$1)),$(eval _cache_$1 := $(shell $2)))$(_cache_$1)
APR_INC  = $(call cached,apr_inc,apr-1-config --includes --cppflags)
APU_INC  = $(filter-out -I/usr/include,$(call cached,apu_inc,apu-1-config --includes))
PG_INC   = $(call cached,pg_inc,pg_config --includedir)
APXS_INC = $(call cached,apxs_inc,apxs -q INCLUDEDIR)

FUZZ_CPPFLAGS = -Iinclude $(APR_INC) $(APU_INC) -I$(PG_INC)
FUZZ_LIBS    := -laprutil-1 -lapr-1 -ljansson -lcrypto -lcurl -lpq

CORE_SRC := $(wildcard mod_webot/webot_*.c)
CORE_OBJ := $(CORE_SRC:mod_webot/%.c=$(FZ)/obj/%.o)
CORE_A   := $(FZ)/libwebotcore.a
HARN_SRC := $(wildcard fuzz/fuzz_*.c)
HARN_BIN := $(HARN_SRC:fuzz/%.c=$(FZ)/%)
GEN_H    := $(FZ)/gen/fuzz_routes.h
CATALOG  ?= conf/catalog.json

.PHONY: all
all: $(HARN_BIN)

# Core files: their warnings are the gcc build's business (-Werror there);
# a clang-only warning must not stop the fuzz run.
$(FZ)/obj/%.o: mod_webot/%.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CPPFLAGS) $(FUZZ_OPT) -Wall -Wextra \
	  -fsanitize=fuzzer-no-link $(FUZZ_SAN) -MMD -MP -c -o $@ $<

$(CORE_A): $(CORE_OBJ)
	rm -f $@
	ar rcs $@ $^

# The generator includes mod_webot_routes.c (glue: httpd headers, handler
# pointers). Non-PIE and unresolved symbols ignored: it only reads the
# table's data and never calls a handler or an httpd function.
$(FZ)/gen_routes: fuzz/gen_routes.c $(CORE_A)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CPPFLAGS) -Imod_webot -I$(APXS_INC) $(FUZZ_OPT) \
	  $(FUZZ_SAN) -Wall -Wextra -MMD -MP -fno-pie -no-pie \
	  -Wl,--unresolved-symbols=ignore-all -o $@ $< $(CORE_A) $(FUZZ_LIBS)

$(GEN_H): $(FZ)/gen_routes $(CATALOG)
	@mkdir -p $(dir $@)
	ASAN_OPTIONS=detect_leaks=1 $(FZ)/gen_routes $(CATALOG) > $@.tmp
	mv $@.tmp $@

$(FZ)/fuzz_%: fuzz/fuzz_%.c fuzz/fuzz_common.h $(GEN_H) $(CORE_A)
	$(FUZZ_CC) $(FUZZ_CPPFLAGS) -I$(FZ)/gen $(FUZZ_OPT) -Wall -Wextra \
	  -Werror -fsanitize=fuzzer $(FUZZ_SAN) -MMD -MP -o $@ $< $(CORE_A) \
	  $(FUZZ_LIBS)

-include $(wildcard $(FZ)/obj/*.d $(FZ)/*.d)
