# etcd-explorer: plain Makefile with pkg-config (see README.md).
#   make            build ./etcd-explorer
#   make demo       install missing Debian packages, build, trace the shipped demo capture
#   make check      install missing packages, build with ASan+UBSan, run every test
#   make bench      build the benchmark capture and print the comparison table
#   make fuzz       run every libFuzzer target for FUZZ_SECONDS each

CC      ?= cc
PKGS    := libpcap libnghttp2 libprotobuf-c zlib jansson
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
# libpcap 1.10 on Debian ships a .pc file; fall back to -lpcap for older systems.
ifeq ($(PKG_LIBS),)
PKG_LIBS := -lpcap -lnghttp2 -lprotobuf-c -lz -ljansson
endif
# capture.c reads a saved capture's next block on a second thread.
PKG_LIBS += -pthread

WARN    := -Wall -Wextra -Werror -Wno-unused-parameter -Wshadow -Wstrict-prototypes
CSTD    := -std=c11 -D_GNU_SOURCE
# -O3 and link-time optimisation: 5-10% less time than -O2 on the benchmark capture
# (docs/performance.md, "Compiler options"); the release binary links its objects
# directly, so no archive tool needs the LTO plugin.
OPT     ?= -O3 -g -flto=auto
SAN     := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer

PREFIX  ?= /usr/local
FUZZ_SECONDS ?= 60

GEN     := build/gen
PROTOS  := $(wildcard proto/*.proto)
GEN_C   := $(patsubst proto/%.proto,$(GEN)/%.pb-c.c,$(PROTOS))
GEN_H   := $(GEN_C:.c=.h)
LIB_SRC := $(filter-out src/main.c,$(wildcard src/*.c capture/*.c hpack/*.c)) $(GEN_C)
INC     := -Isrc -Icapture -Ihpack -I$(GEN)

REL_OBJ  := $(patsubst %.c,build/rel/%.o,$(LIB_SRC))
ASAN_OBJ := $(patsubst %.c,build/asan/%.o,$(LIB_SRC))
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(patsubst tests/unit/%.c,build/asan/unit/%,$(UNIT_SRC))
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN := $(patsubst tests/fuzz/%.c,build/fuzz/%,$(FUZZ_SRC))
FUZZ_OBJ := $(patsubst %.c,build/fuzz/%.o,$(LIB_SRC))
# The unit tests of code that runs a thread (capture.c's reader), once more under
# ThreadSanitizer (ASan and TSan cannot share a binary).
TSAN_OBJ  := $(patsubst %.c,build/tsan/%.o,$(LIB_SRC))
TSAN_UNIT := build/tsan/unit/test_capture
# LD_PRELOAD heap-allocation counter for tests/run-alloc.sh (used with the release binary).
ALLOC_SO := build/alloc/alloc_count.so

.PHONY: all demo check deps test unit golden integration fuzz fuzz-smoke bench install clean \
	update-golden lint asan
.SECONDARY: $(GEN_C) $(GEN_H)

all: etcd-explorer

$(GEN)/%.pb-c.c $(GEN)/%.pb-c.h: proto/%.proto
	@mkdir -p $(GEN)
	protoc-c --proto_path=proto --c_out=$(GEN) $<

# Generated code is compiled without -Werror/-Wextra: it is protoc-c's, not ours.
build/rel/$(GEN)/%.o: $(GEN)/%.c $(GEN_H)
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) $(OPT) $(INC) $(PKG_CFLAGS) -c -o $@ $<
build/asan/$(GEN)/%.o: $(GEN)/%.c $(GEN_H)
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) -O1 -g $(SAN) $(INC) $(PKG_CFLAGS) -c -o $@ $<
build/tsan/$(GEN)/%.o: $(GEN)/%.c $(GEN_H)
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) -O1 -g -fsanitize=thread $(INC) $(PKG_CFLAGS) -c -o $@ $<
build/fuzz/$(GEN)/%.o: $(GEN)/%.c $(GEN_H)
	@mkdir -p $(dir $@)
	clang $(CSTD) -O1 -g -fsanitize=fuzzer-no-link,address,undefined $(INC) $(PKG_CFLAGS) -c -o $@ $<

build/rel/%.o: %.c $(GEN_H)
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) $(OPT) $(WARN) $(INC) $(PKG_CFLAGS) -MMD -MP -c -o $@ $<
build/asan/%.o: %.c $(GEN_H)
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) -O1 -g $(SAN) $(WARN) $(INC) $(PKG_CFLAGS) -MMD -MP -c -o $@ $<
build/tsan/%.o: %.c $(GEN_H)
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) -O1 -g -fsanitize=thread $(WARN) $(INC) $(PKG_CFLAGS) -MMD -MP -c -o $@ $<
build/fuzz/%.o: %.c $(GEN_H)
	@mkdir -p $(dir $@)
	clang $(CSTD) -O1 -g -fsanitize=fuzzer-no-link,address,undefined $(WARN) -Wno-unknown-warning-option $(INC) $(PKG_CFLAGS) -MMD -MP -c -o $@ $<

build/asan/libee.a: $(ASAN_OBJ)
	ar rcs $@ $^
build/tsan/libee.a: $(TSAN_OBJ)
	ar rcs $@ $^
build/fuzz/libee.a: $(FUZZ_OBJ)
	ar rcs $@ $^

etcd-explorer: build/rel/src/main.o $(REL_OBJ)
	$(CC) $(OPT) -o $@ $^ $(PKG_LIBS) -lm

build/asan/etcd-explorer: build/asan/src/main.o build/asan/libee.a
	$(CC) -g $(SAN) -o $@ $^ $(PKG_LIBS) -lm

asan: build/asan/etcd-explorer

build/asan/unit/%: tests/unit/%.c build/asan/libee.a tests/unit/unit.h
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) -O1 -g $(SAN) $(WARN) $(INC) $(PKG_CFLAGS) -o $@ $< build/asan/libee.a $(PKG_LIBS) -lm
build/tsan/unit/%: tests/unit/%.c build/tsan/libee.a tests/unit/unit.h
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) -O1 -g -fsanitize=thread $(WARN) $(INC) $(PKG_CFLAGS) -o $@ $< build/tsan/libee.a $(PKG_LIBS) -lm

build/fuzz/%: tests/fuzz/%.c build/fuzz/libee.a
	@mkdir -p $(dir $@)
	clang $(CSTD) -O1 -g -fsanitize=fuzzer,address,undefined $(INC) $(PKG_CFLAGS) -o $@ $< build/fuzz/libee.a $(PKG_LIBS) -lm

$(ALLOC_SO): tests/alloc/alloc_count.c
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) -O2 -g $(WARN) -fPIC -shared -o $@ $< -ldl

deps:
	@scripts/deps.sh

unit: $(UNIT_BIN) $(TSAN_UNIT)
	@scripts/run-unit.sh $(UNIT_BIN) $(TSAN_UNIT)

golden: build/asan/etcd-explorer
	@EE_BIN=build/asan/etcd-explorer tests/run-golden.sh

update-golden: build/asan/etcd-explorer
	@EE_BIN=build/asan/etcd-explorer tests/run-golden.sh --update

integration: build/asan/etcd-explorer etcd-explorer
	@EE_BIN=build/asan/etcd-explorer tests/run-integration.sh

fuzz-smoke: $(FUZZ_BIN)
	@FUZZ_SECONDS=$${FUZZ_SECONDS:-5} scripts/fuzz.sh $(FUZZ_BIN)

fuzz: $(FUZZ_BIN)
	@FUZZ_SECONDS=$(FUZZ_SECONDS) scripts/fuzz.sh $(FUZZ_BIN)

# Everything a change must pass; prints the plain "N passed, N failed" closing line.
check: deps
	@$(MAKE) --no-print-directory all asan $(UNIT_BIN) $(TSAN_UNIT) $(FUZZ_BIN) $(ALLOC_SO)
	@scripts/check.sh

demo: deps
	@$(MAKE) --no-print-directory all
	./etcd-explorer -r pcaps/demo.pcap trace

bench: all
	@scripts/bench.sh

install: etcd-explorer
	install -D -m 0755 etcd-explorer $(DESTDIR)$(PREFIX)/bin/etcd-explorer
	install -D -m 0644 docs/etcd-explorer.1 $(DESTDIR)$(PREFIX)/share/man/man1/etcd-explorer.1

lint:
	clang-tidy $(filter-out $(GEN_C),$(LIB_SRC)) src/main.c -- $(CSTD) $(INC) $(PKG_CFLAGS)
	cppcheck --quiet --error-exitcode=1 --enable=warning,portability --inline-suppr $(INC) src capture hpack

clean:
	rm -rf build etcd-explorer

-include $(REL_OBJ:.o=.d) $(ASAN_OBJ:.o=.d) $(TSAN_OBJ:.o=.d) $(FUZZ_OBJ:.o=.d) build/rel/src/main.d build/asan/src/main.d
