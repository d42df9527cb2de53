# Nestor: one non-recursive Makefile. Each folder builds a static library;
# the `nestor` binary links them all. Variants (ASan, fuzz) reuse this file
# with a different BUILD directory.

CC       ?= gcc
BUILD    ?= build
SAN      ?=
PKGS     := libzstd libssl libcrypto libevent \
            libevent_openssl libevent_pthreads inih jansson libxxhash libpng
# Loaded with dlopen on first use (common/ceph-dl.h, common/virt-dl.h,
# common/nbd-dl.h, common/xml-dl.h): the binary takes their headers only. A
# plain exec no longer pays ~0.1 s for loading librbd, librados and libvirt
# and their dependencies, nor ~12 ms for libnbd and GnuTLS, nor ~4 ms for
# libxml2 and ICU.
DL_PKGS  := libvirt libnbd libxml-2.0

PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) $(DL_PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
# For code that calls them directly: some unit tests, the Depends probe.
DL_LIBS    := $(shell pkg-config --libs $(DL_PKGS) 2>/dev/null) -lrbd -lrados
# The unit tests and fuzzers that build or inspect XML documents themselves.
XML_LIBS   := $(shell pkg-config --libs libxml-2.0 2>/dev/null)

CFLAGS   ?= -O2 -g
CFLAGS   += -std=gnu11 -Wall -Wextra -Werror -Wshadow -Wformat=2 \
            -fno-strict-aliasing -MMD -MP -I. $(PKG_CFLAGS) \
            -D_FILE_OFFSET_BITS=64 -pthread
ifeq ($(SAN),1)
CFLAGS   += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS  += -fsanitize=address,undefined
endif
ifeq ($(SAN),fuzz)
CFLAGS   += -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer
endif
LDLIBS   := $(PKG_LIBS) -lcrypt -lpthread
ifeq ($(SAN),1)
# ASan's XDR interceptors (xdrmem_create...) look the real functions up once,
# at start-up. libvirt, loaded with dlopen on first use, brings libtirpc only
# then: the lookup had found nothing, and libvirt's first RPC called address
# 0 (virNetMessageEncodeHeader). Linked in even though nothing of ours calls
# it, libtirpc is there before the lookup. `make asan-libvirt` proves it.
LDLIBS   += -Wl,--push-state,--no-as-needed -ltirpc -Wl,--pop-state
# (a binary linked before this line was added is linked again)
$(BUILD)/nestor: Makefile
endif

# XXH3's AVX2 path, chosen at run time by common/hash.c.
ifeq ($(shell uname -m),x86_64)
$(BUILD)/common/hash-avx2.o: CFLAGS += -mavx2
$(BUILD)/common/hash.o $(BUILD)/common/hash-avx2.o: CFLAGS += -DNESTOR_HASH_AVX2
endif

.DEFAULT_GOAL := all
# A module is a folder (not its subfolders); it builds build/lib<name>.a,
# <name> being its path with '/' turned into '-' (replicator/agent ->
# libreplicator-agent.a).
MODULES  := common proto snapshot replicator replicator/agent replicator/receiver failover failback cli
# Link order: dependants first.
LINK_ORDER := cli failback failover replicator/agent replicator/receiver replicator snapshot proto common
libname   = $(BUILD)/lib$(subst /,-,$(1)).a

define module_rules
$(1)_SRCS := $$(wildcard $(1)/*.c)
$(1)_OBJS := $$(patsubst %.c,$(BUILD)/%.o,$$($(1)_SRCS))
$(call libname,$(1)): $$($(1)_OBJS)
	@mkdir -p $$(@D)
	rm -f $$@ && ar rcs $$@ $$^
endef
$(foreach m,$(MODULES),$(eval $(call module_rules,$(m))))

# No grouping: the libraries form no circle (`make layers` checks it).
LIBS_A   := $(foreach m,$(LINK_ORDER),$(call libname,$(m)))
LIBS_DEP := $(foreach m,$(LINK_ORDER),$(call libname,$(m)))
ALL_OBJS := $(foreach m,$(MODULES),$($(m)_OBJS))

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c -o $@ $<

.PHONY: all deps unit unit-run asan-run fuzz fuzz-run integration check demo bench \
        clean lint layers soak

# ---- helpers the integration scripts run: tests/integration/tools/*.c -----
TOOL_SRCS := $(wildcard tests/integration/tools/*.c)
TOOL_BINS := $(patsubst tests/integration/tools/%.c,$(BUILD)/tests/integration/tools/%,$(TOOL_SRCS))

$(BUILD)/tests/integration/tools/%: $(BUILD)/tests/integration/tools/%.o $(LIBS_DEP)
	$(CC) $(LDFLAGS) -o $@ $< $(LIBS_A) $(LDLIBS)

all: $(BUILD)/nestor $(TOOL_BINS)

$(BUILD)/nestor: $(BUILD)/nestor.o $(LIBS_DEP)
	$(CC) $(LDFLAGS) -o $@ $< $(LIBS_A) $(LDLIBS)

# ---- unit tests (Criterion): tests/unit/test-<module>.c -------------------
UNIT_SRCS := $(wildcard tests/unit/test-*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/unit/%,$(UNIT_SRCS))

$(BUILD)/tests/unit/%: $(BUILD)/tests/unit/%.o $(LIBS_DEP)
	$(CC) $(LDFLAGS) -o $@ $< $(LIBS_A) $(LDLIBS) $(XML_LIBS) -lcriterion

unit: $(UNIT_BINS)

unit-run: unit
	@tests/run-unit.sh $(UNIT_BINS)

asan-run:
	$(MAKE) BUILD=build/asan SAN=1 unit-run

# The ASan+UBSan binary talking to a private libvirtd (a few seconds): the
# unit tests never load libvirt, the integration scripts run the plain one.
.PHONY: asan-libvirt
asan-libvirt:
	$(MAKE) BUILD=build/asan SAN=1 build/asan/nestor
	@tests/asan-libvirt.sh build/asan/nestor

# ---- integration suites in C (Criterion): tests/integration/c/test-*.c ----
# They boot guests under a private libvirtd or start a private Ceph
# (tests/lib), so they run in the integration stage (tests/integration/run.sh),
# in the plain and in the ASan+UBSan build. They drive libvirt / librbd
# themselves to set up and inspect their guests and images: DL_LIBS.
ITEST_SRCS := $(wildcard tests/integration/c/test-*.c)
ITEST_BINS := $(patsubst tests/integration/c/%.c,$(BUILD)/tests/integration/c/%,$(ITEST_SRCS))

$(BUILD)/tests/integration/c/%: $(BUILD)/tests/integration/c/%.o $(LIBS_DEP)
	$(CC) $(LDFLAGS) -o $@ $< $(LIBS_A) $(LDLIBS) $(DL_LIBS) -lcriterion

.PHONY: integration-c asan-integration-c
integration-c: $(ITEST_BINS)

asan-integration-c:
	$(MAKE) BUILD=build/asan SAN=1 integration-c

# ---- fuzzers (libFuzzer, clang): tests/fuzz/fuzz-<name>.c -----------------
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz-*.c)
FUZZ_BINS := $(patsubst tests/fuzz/%.c,build/fuzz/tests/fuzz/%,$(FUZZ_SRCS))
# `make check` gives each fuzzer 10 s from its seed corpus (every seed, and the
# crash reproducers kept there, replayed, then mutations); `make soak` gives
# each SOAK_FUZZ_SECONDS (120) for the deeper search.
FUZZ_SECONDS ?= 10
SOAK_FUZZ_SECONDS ?= 120

ifeq ($(SAN),fuzz)
$(BUILD)/tests/fuzz/%: $(BUILD)/tests/fuzz/%.o $(LIBS_DEP)
	$(CC) -fsanitize=fuzzer,address,undefined -o $@ $< $(LIBS_A) $(LDLIBS) $(XML_LIBS)
fuzz-bins: $(patsubst tests/fuzz/%.c,$(BUILD)/tests/fuzz/%,$(FUZZ_SRCS))
endif

fuzz:
	$(MAKE) BUILD=build/fuzz SAN=fuzz CC=clang fuzz-bins

fuzz-run: fuzz
	@tests/run-fuzz.sh $(FUZZ_SECONDS) $(FUZZ_BINS)

# The session fuzzer's seeds, made with the real encoders (checksums, zstd).
$(BUILD)/tests/fuzz/gen-session-seeds: $(BUILD)/tests/fuzz/gen-session-seeds.o $(LIBS_DEP)
	$(CC) $(LDFLAGS) -o $@ $< $(LIBS_A) $(LDLIBS)

.PHONY: fuzz-seeds
fuzz-seeds: $(BUILD)/tests/fuzz/gen-session-seeds
	mkdir -p tests/fuzz/corpus-session
	$< tests/fuzz/corpus-session

# ---- integration, check, demo, bench --------------------------------------
deps:
	@deploy/install-deps.sh

integration: all integration-c asan-integration-c
	@tests/integration/run.sh

# The CI calls a plain `make check`: its builds use every core all the same.
JOBS ?= $(shell nproc)
check: deps
	$(MAKE) -j$(JOBS) all unit
	@JOBS=$(JOBS) tests/check.sh

demo: deps
	$(MAKE) all
	@tests/demo.sh

# The thrash test (issue 13): hours of kills, link cuts and scrubs over four
# replicating groups, then every point checked and drilled. Not in `check`.
# SOAK_SECS=480 is a short form; logs and the summary in build/soak/.
SOAK_SECS ?= 3600
soak: deps
	$(MAKE) all
	@$(MAKE) --no-print-directory fuzz-run FUZZ_SECONDS=$(SOAK_FUZZ_SECONDS)
	@$(MAKE) --no-print-directory soak-daemon
	@SOAK_SECS=$(SOAK_SECS) bash tests/integration/soak.sh

# Issue 6's acceptance window for the agent daemon (180 s); `make check`
# runs the same test over 90 s. Log: build/soak/test-daemon-180.log.
.PHONY: soak-daemon
soak-daemon: all
	@mkdir -p build/soak
	@NESTOR_DAEMON_SECS=180 bash -o pipefail -c \
	  'bash tests/integration/test-daemon.sh 2>&1 | tee build/soak/test-daemon-180.log'

bench: deps
	$(MAKE) all integration-c
	@bench/run.sh

lint:
	cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability \
	  --inline-suppr -I. common proto snapshot replicator failover failback cli nestor.c

# The folder layering (docs/architecture.md), on the sources and on the
# built libraries; then proof that each kind of violation is caught.
layers: all
	@python3 tests/layers.py --build $(BUILD)
	@BUILD=$(BUILD) tests/test-layers.sh

clean:
	rm -rf build

-include $(ALL_OBJS:.o=.d) $(BUILD)/nestor.d $(UNIT_BINS:=.d) $(ITEST_BINS:=.d) \
           $(BUILD)/dlopen-deps.d

# ---- Debian package: build/nestor_<version>_<arch>.deb ---------------------
# dlopen-deps is never installed: it links every function the binary loads
# at run time, so that dpkg-shlibdeps derives versioned Depends for them.
$(BUILD)/dlopen-deps: deploy/dlopen-deps.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(DL_LIBS)

.PHONY: deb
deb: all $(BUILD)/dlopen-deps
	@deploy/build-deb.sh $(BUILD)
