# libdpop build and test entry points. See README.md.
#   make            build the library (release) and the C programs
#   make test       every test: header check, lints, Rust tests, C tests, Python interop tests
#   make bench      proof signing speed next to `openssl speed ecdsap256`
#   make header     regenerate include/dpop.h after changing the C API

CARGO   ?= cargo
CC      ?= cc
PYTHON  ?= python3
CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 -Wall -Wextra -Werror -Iinclude
LIBDIR  := target/release
LDLIBS  := -L$(LIBDIR) -ldpop -Wl,-rpath,$(CURDIR)/$(LIBDIR)
BUILD   := build
VALGRIND := $(shell command -v valgrind 2>/dev/null)

EXAMPLES := $(BUILD)/key_and_proof
TEST_PROGRAMS := $(BUILD)/dpoptool $(BUILD)/abi_contract

.PHONY: all lib header check-header lint rust-test c-test py-test test bench bench-smoke demo clean

all: lib $(EXAMPLES) $(TEST_PROGRAMS)

lib:
	$(CARGO) build --release --lib

$(LIBDIR)/libdpop.so: lib

$(BUILD)/%: examples-c/%.c include/dpop.h lib
	@mkdir -p $(BUILD)
	$(CC) $(CFLAGS) -o $@ $< $(LDLIBS)

$(BUILD)/%: tests/c/%.c include/dpop.h lib
	@mkdir -p $(BUILD)
	$(CC) $(CFLAGS) -o $@ $< $(LDLIBS)

header:
	cbindgen --config cbindgen.toml --crate dpop --output include/dpop.h 2>/dev/null

check-header:
	@mkdir -p $(BUILD)
	cbindgen --config cbindgen.toml --crate dpop --output $(BUILD)/dpop.h 2>/dev/null
	@diff -u include/dpop.h $(BUILD)/dpop.h || { echo "include/dpop.h is stale: run 'make header' and commit it"; exit 1; }

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings

rust-test:
	$(CARGO) test

c-test: $(EXAMPLES) $(TEST_PROGRAMS)
	$(BUILD)/key_and_proof > /dev/null
	$(BUILD)/abi_contract
ifneq ($(VALGRIND),)
	$(VALGRIND) --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite $(BUILD)/abi_contract
	$(VALGRIND) --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite $(BUILD)/key_and_proof > /dev/null
else
	@echo "valgrind not installed: the C tests ran without it"
endif

py-test: $(TEST_PROGRAMS)
	DPOPTOOL=$(CURDIR)/$(BUILD)/dpoptool $(PYTHON) -m pytest -q tests/python

test: check-header lint rust-test bench-smoke c-test py-test

bench:
	benches/proof_vs_openssl.sh 3

# The benchmark builds and runs (briefly); its numbers are not checked.
bench-smoke:
	$(CARGO) bench --bench proof -q -- 0.05

demo: all
	$(BUILD)/key_and_proof

clean:
	$(CARGO) clean
	rm -rf $(BUILD)
