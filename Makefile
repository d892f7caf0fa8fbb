# Makefile - builds libjido, the eight process binaries and the jido CLI, runs the tests.
#   make            build everything into build/
#   make test       install missing Debian packages, build, run every test
#   make asan       the same under AddressSanitizer + UBSan (into build-asan/)
#   make run        install missing packages, build, start the stack (jido up)
#   make install PREFIX=/usr/local   (binaries, man page, bash and zsh completions)
#   make docs       regenerate docs/jido.1 and the completions from the operation table
VERSION  := 0.1.0
BUILD    ?= build
PREFIX   ?= /usr/local
PROCS    := vault auditor planner gateway gitops executor ingest web
PKGS     := libsodium jansson libevent libseccomp libcurl sqlite3 libcrypto

CC       ?= cc
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
# libcurl and libcrypto: headers only; both are dlopened on first use (lib/curl_shim.c,
# lib/ghapp.c).
PKG_LIBS   := $(shell pkg-config --libs $(filter-out libcurl libcrypto,$(PKGS)) 2>/dev/null) \
              $(shell pkg-config --libs nng 2>/dev/null || echo -lnng) -lpthread
# tests make RSA keys with libcrypto themselves (lib/ghapp_test.c)
TEST_LIBS  := $(shell pkg-config --libs libcrypto 2>/dev/null)
WARN     := -Wall -Wextra -Wshadow -Wformat=2 -Wno-format-truncation -Wstrict-prototypes -Wmissing-prototypes \
            -Wpointer-arith -Wimplicit-fallthrough -Wundef -Wno-unused-parameter
CFLAGS   ?= -O2 -g
CFLAGS   += -std=gnu11 $(WARN) -fstack-protector-strong -fPIE -D_GNU_SOURCE \
            -DJIDO_VERSION='"$(VERSION)"' -Ilib $(PKG_CFLAGS)
LDFLAGS  += -pie -Wl,-z,relro,-z,now -Wl,--as-needed
ifeq ($(SAN),1)
CFLAGS   += -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS  += -fsanitize=address,undefined
else
CFLAGS   += -D_FORTIFY_SOURCE=2
endif
ifeq ($(CI),true)
WERROR   ?= 1
endif
ifeq ($(WERROR),1)
CFLAGS   += -Werror
endif

LIB_SRC  := $(filter-out %_test.c,$(wildcard lib/*.c))
LIB_A    := $(BUILD)/libjido.a
BINS     := $(addprefix $(BUILD)/bin/jido-,$(PROCS)) $(BUILD)/bin/jido
TEST_SRC := $(wildcard lib/*_test.c $(addsuffix /*_test.c,$(PROCS)) cli/*_test.c)
TESTS    := $(patsubst %_test.c,$(BUILD)/test/%_test,$(TEST_SRC))

all: $(BINS) $(TESTS)

# -MMD: each object also records the headers it included (.d files), so editing any
# header rebuilds exactly what uses it.
$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -I$(dir $<) -c -o $@ $<

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

# web/static.c embeds these with .incbin, which -MMD does not see.
$(BUILD)/obj/web/static.o: web/openapi.json $(wildcard web/static/*)

$(LIB_A): $(patsubst %.c,$(BUILD)/obj/%.o,$(LIB_SRC))
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

# The objects of a folder other than main.c and tests: what its binary and tests share.
dir_objs = $(patsubst %.c,$(BUILD)/obj/%.o,$(filter-out $(1)/main.c %_test.c,$(wildcard $(1)/*.c)))

# The executor starts once per sandbox (`jido-executor sandbox -- CMD`, issue 7's start
# time): its libraries are linked from their static archives (libc stays shared), so
# ld.so maps and relocates one library before main, not eleven.
STATIC_executor := -Wl,-Bstatic -lnng -lmbedtls -lmbedx509 -lmbedcrypto -lsodium -ljansson \
                   -lseccomp -Wl,-Bdynamic

# The sandbox's two seccomp programs (the agent policy and the spawner's allowlist),
# compiled once here by a generator linked from their declarations, into a header of BPF
# that agent_seccomp.c installs with seccomp(2): a sandbox start compiles nothing.
GEN_BPF := $(BUILD)/gen/executor/seccomp_bpf.h
$(BUILD)/gen/seccomp_bpf_gen: $(BUILD)/obj/executor/gen/seccomp_bpf_gen.o \
    $(BUILD)/obj/executor/agent_policy.o $(BUILD)/obj/executor/spawner_allow.o $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)
$(GEN_BPF): $(BUILD)/gen/seccomp_bpf_gen
	@mkdir -p $(dir $@)
	$< >$@.tmp && mv $@.tmp $@
$(BUILD)/obj/executor/agent_seccomp.o: $(GEN_BPF)
$(BUILD)/obj/executor/agent_seccomp.o: private CFLAGS += -I$(BUILD)/gen/executor
$(BUILD)/obj/executor/gen/seccomp_bpf_gen.o: private CFLAGS += -Iexecutor

define proc_rules
$(BUILD)/bin/jido-$(1): $(BUILD)/obj/$(1)/main.o $(call dir_objs,$(1)) $(LIB_A)
	@mkdir -p $$(dir $$@)
	$$(CC) $$(LDFLAGS) -o $$@ $$^ $$(STATIC_$(1)) $$(PKG_LIBS)
endef
$(foreach p,$(PROCS),$(eval $(call proc_rules,$(p))))

$(BUILD)/bin/jido: $(BUILD)/obj/cli/main.o $(call dir_objs,cli) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

# A test links its folder's objects (so it exercises the real handler) and cmocka.
.SECONDEXPANSION:
$(BUILD)/test/%_test: $(BUILD)/obj/%_test.o $$(call dir_objs,$$(subst /,,$$(dir $$*))) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $(filter %.o,$^) $(LIB_A) $(PKG_LIBS) $(TEST_LIBS) -lcmocka

deps:
	@scripts/deps.sh

test: deps
	@$(MAKE) --no-print-directory all
	@tests/run.sh $(BUILD)

asan: deps
	@$(MAKE) --no-print-directory BUILD=build-asan SAN=1 all
	@tests/run.sh build-asan

run: deps
	@$(MAKE) --no-print-directory $(BINS)
	$(BUILD)/bin/jido up

# The whole loop with the local doubles (no accounts, no network): see README.
demo: deps
	@$(MAKE) --no-print-directory $(BINS)
	@JIDO_BIN=$(CURDIR)/$(BUILD)/bin scripts/demo.sh $(DEMO_ARGS)

# Benchmarks (not tests): build/bench/<name> from bench/<name>.c, then bench/run.sh.
BENCHES := $(patsubst bench/%.c,$(BUILD)/bench/%,$(wildcard bench/*.c))
$(BUILD)/bench/%: $(BUILD)/obj/bench/%.o $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

bench: deps
	@$(MAKE) --no-print-directory $(BINS) $(BENCHES)
	@bench/run.sh

# Fuzzing (clang libFuzzer): ingest's normalizer and header parsing, FUZZ_SECONDS each
# (default 600), seeded with the real payloads of the GitHub double's examples.
FUZZ_SECONDS ?= 600
FUZZ_CFLAGS := -g -O1 -std=gnu11 -D_GNU_SOURCE -DJIDO_VERSION='"$(VERSION)"' -Ilib -Iingest \
               $(PKG_CFLAGS) -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
$(BUILD)/fuzz/fuzz_norm: ingest/fuzz/fuzz_norm.c ingest/norm.c ingest/sig.c $(LIB_SRC) lib/jido.h ingest/ingest.h
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -o $@ ingest/fuzz/fuzz_norm.c ingest/norm.c ingest/sig.c $(LIB_SRC) $(PKG_LIBS)

fuzz: deps $(BUILD)/fuzz/fuzz_norm
	@ingest/fuzz/run.sh $(BUILD)/fuzz/fuzz_norm $(FUZZ_SECONDS)

install: $(BINS)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 \
	    $(DESTDIR)$(PREFIX)/share/bash-completion/completions \
	    $(DESTDIR)$(PREFIX)/share/zsh/site-functions
	install -m 0755 $(BINS) $(DESTDIR)$(PREFIX)/bin/
	install -m 0644 docs/jido.1 $(DESTDIR)$(PREFIX)/share/man/man1/jido.1
	install -m 0644 docs/jido.bash $(DESTDIR)$(PREFIX)/share/bash-completion/completions/jido
	install -m 0644 docs/_jido $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_jido

# The man page and completions are generated from the operation table (jido ops --man,
# jido completion bash|zsh); tests/e2e/ops.sh fails when the committed ones are stale.
docs: $(BUILD)/bin/jido
	$(BUILD)/bin/jido ops --man >docs/jido.1
	$(BUILD)/bin/jido completion bash >docs/jido.bash
	$(BUILD)/bin/jido completion zsh >docs/_jido

clean:
	rm -rf build build-asan

.PHONY: all deps test asan run demo bench fuzz install clean docs
.DELETE_ON_ERROR:
