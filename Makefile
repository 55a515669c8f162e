# libdpop build and test entry points. See README.md.
#   make            build the library (release), the test server, the dpop command and the C programs
#   make demo       start the local DPoP test server, run examples-c/client_credentials against it
#   make test       every test: header check, lints, Rust tests, C tests (valgrind, ASan/UBSan),
#                   the misuse sweep, interop, bindings, Python tests
#   make miri       the C ABI crate's unit tests under Miri (CI runs it after make test)
#   make bench      the benchmark table (BENCHMARKS.md)
#   make fuzz       each fuzz target for FUZZ_SECONDS (FUZZING.md); make test runs a smoke
#   make windows    dpop.dll for x86_64 and i686, export checks, C programs under Wine
#   make header     regenerate include/dpop.h after changing the C API

CARGO   ?= cargo
CC      ?= cc
# make test (tests/run-all.sh) installs cbindgen into build/tools and the Python test packages
# into build/venv; these are used when present.
PYTHON  ?= $(if $(wildcard build/venv/bin/python),$(CURDIR)/build/venv/bin/python,python3)
CBINDGEN_BIN ?= $(if $(wildcard build/tools/bin/cbindgen),$(CURDIR)/build/tools/bin/cbindgen,cbindgen)
CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 -Wall -Wextra -Werror -Iinclude
LIBDIR  := target/release
LDLIBS  := -L$(LIBDIR) -ldpop -pthread -Wl,-rpath,$(CURDIR)/$(LIBDIR)
BUILD   := build
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
VALGRIND := $(shell command -v valgrind 2>/dev/null)
VALGRIND_RUN := $(if $(VALGRIND),$(VALGRIND) --quiet --error-exitcode=99 --leak-check=full --show-possibly-lost=no --errors-for-leak-kinds=definite,)

EXAMPLES := $(BUILD)/key_and_proof $(BUILD)/client_credentials
# examples-c/sign_in.c: built as sign_in_example (build/sign_in is tests/c/sign_in.c).
SIGN_IN_EXAMPLE := $(BUILD)/sign_in_example
TEST_PROGRAMS := $(BUILD)/dpoptool $(BUILD)/abi_contract $(BUILD)/http_contract $(BUILD)/auth_settings \
	$(BUILD)/sign_in $(BUILD)/state $(BUILD)/tasks
WITH_SERVER := BUILD_DIR=$(BUILD) tests/with_server.sh

.PHONY: all lib server cli header check-header lint rust-test c-test sanitize miri py-test interop bindings-test test bench bench-smoke fuzz fuzz-smoke demo windows install install-test clean

all: lib server cli $(EXAMPLES) $(SIGN_IN_EXAMPLE) $(TEST_PROGRAMS)

# libdpop.so's soname is libdpop.so.MAJOR (build.rs): programs linked here load it through
# that link.
SONAME := libdpop.so.$(firstword $(subst ., ,$(VERSION)))

lib:
	$(CARGO) build --release --lib
	ln -sf libdpop.so $(LIBDIR)/$(SONAME)

server:
	$(CARGO) build --release -p dpop-testserver --bin dpop-test-server

# The dpop command-line tool (cli/): target/release/dpop.
cli:
	$(CARGO) build --release -p dpop-cli --bin dpop

$(EXAMPLES): $(BUILD)/%: examples-c/%.c include/dpop.h lib
	@mkdir -p $(BUILD)
	$(CC) $(CFLAGS) -o $@ $< $(LDLIBS)

$(SIGN_IN_EXAMPLE): examples-c/sign_in.c include/dpop.h lib
	@mkdir -p $(BUILD)
	$(CC) $(CFLAGS) -o $@ $< $(LDLIBS)

$(BUILD)/%: tests/c/%.c tests/c/check.h include/dpop.h lib
	@mkdir -p $(BUILD)
	$(CC) $(CFLAGS) -o $@ $< $(LDLIBS)

# cbindgen reads the C ABI crate's own sources (see cbindgen.toml).
CBINDGEN = $(CBINDGEN_BIN) --config cbindgen.toml --output $(1) src/lib.rs

header:
	$(call CBINDGEN,include/dpop.h)

check-header:
	@mkdir -p $(BUILD)
	$(call CBINDGEN,$(BUILD)/dpop.h)
	@diff -u include/dpop.h $(BUILD)/dpop.h || { echo "include/dpop.h is stale: run 'make header' and commit it"; exit 1; }

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

rust-test:
	$(CARGO) test --workspace

# C programs: the ABI contract and the misuse sweep generated from the header (under valgrind
# when installed), the key example, the HTTP object against the test server, the AuthToken
# settings, the sign-in, the saved state (tests/c/state.c), tasks (asynchronous calls, cancelled
# on a server that holds the request), the reference sample with nonces and a session log, and
# examples-c/sign_in.c three times (tests/c/sign_in_example.sh: the second run from the saved
# state, with no authorization request).
c-test: server $(EXAMPLES) $(SIGN_IN_EXAMPLE) $(TEST_PROGRAMS)
	$(PYTHON) tests/check_so_exports.py $(LIBDIR)/libdpop.so include/dpop.h
	$(VALGRIND_RUN) $(BUILD)/abi_contract
	$(PYTHON) -m pytest -q -p no:cacheprovider tests/c/test_gen_misuse.py
	BUILD_DIR=$(BUILD) CC=$(CC) PYTHON=$(PYTHON) tests/c/misuse.sh
	$(VALGRIND_RUN) $(BUILD)/key_and_proof > /dev/null
	$(WITH_SERVER) --client m2m.dpop:c-test-secret-8JqL2vX -- $(VALGRIND_RUN) $(BUILD)/http_contract
	BUILD_DIR=$(BUILD) $(VALGRIND_RUN) $(BUILD)/auth_settings
	BUILD_DIR=$(BUILD) $(VALGRIND_RUN) $(BUILD)/sign_in
	$(WITH_SERVER) --refresh-tokens --no-record --client m2m.dpop:c-state-secret-M3tQ9w -- $(VALGRIND_RUN) $(BUILD)/state
	$(WITH_SERVER) --client m2m.dpop:c-test-secret-8JqL2vX -- $(VALGRIND_RUN) $(BUILD)/tasks
	rm -f $(BUILD)/cc-session.log $(BUILD)/cc-ec.pem
	$(WITH_SERVER) --require-nonce --client m2m.dpop:cc-secret-Q7wR3t -- env DPOP_CLIENT_SECRET=cc-secret-Q7wR3t \
		DPOP_KEY_FILE=$(BUILD)/cc-ec.pem DPOP_SESSION_LOG=$(BUILD)/cc-session.log \
		$(BUILD)/client_credentials > $(BUILD)/cc-output.txt
	grep -q '^status: 200$$' $(BUILD)/cc-output.txt
	grep -q '"client_id":"m2m.dpop"' $(BUILD)/cc-output.txt
	grep -q 'use_dpop_nonce' $(BUILD)/cc-session.log
	! grep -q 'cc-secret-Q7wR3t' $(BUILD)/cc-session.log
	@echo "client_credentials: 200 through nonce demands; the session log holds no secret"
	BUILD_DIR=$(BUILD) RUN="$(VALGRIND_RUN)" tests/c/sign_in_example.sh

# The C programs again, built with AddressSanitizer (LeakSanitizer included) and
# UndefinedBehaviorSanitizer, against the test server (valgrind cannot run beside ASan).
SANITIZE_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g -O1
SANITIZED := $(BUILD)/asan/abi_contract $(BUILD)/asan/http_contract $(BUILD)/asan/key_and_proof \
	$(BUILD)/asan/client_credentials $(BUILD)/asan/auth_settings $(BUILD)/asan/sign_in $(BUILD)/asan/state \
	$(BUILD)/asan/tasks $(BUILD)/asan/sign_in_example
SANITIZER_ENV := ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1

$(BUILD)/asan/%: tests/c/%.c tests/c/check.h include/dpop.h lib
	@mkdir -p $(BUILD)/asan
	$(CC) -std=c11 -Wall -Wextra -Werror -Iinclude $(SANITIZE_FLAGS) -o $@ $< $(LDLIBS)

$(BUILD)/asan/%: examples-c/%.c include/dpop.h lib
	@mkdir -p $(BUILD)/asan
	$(CC) -std=c11 -Wall -Wextra -Werror -Iinclude $(SANITIZE_FLAGS) -o $@ $< $(LDLIBS)

$(BUILD)/asan/sign_in_example: examples-c/sign_in.c include/dpop.h lib
	@mkdir -p $(BUILD)/asan
	$(CC) -std=c11 -Wall -Wextra -Werror -Iinclude $(SANITIZE_FLAGS) -o $@ $< $(LDLIBS)

sanitize: server $(SANITIZED)
	env $(SANITIZER_ENV) $(BUILD)/asan/abi_contract
	env $(SANITIZER_ENV) $(BUILD)/asan/key_and_proof > /dev/null
	$(WITH_SERVER) --client m2m.dpop:c-test-secret-8JqL2vX -- env $(SANITIZER_ENV) $(BUILD)/asan/http_contract
	env $(SANITIZER_ENV) BUILD_DIR=$(BUILD)/asan $(BUILD)/asan/auth_settings
	env $(SANITIZER_ENV) BUILD_DIR=$(BUILD)/asan $(BUILD)/asan/sign_in
	BUILD_DIR=$(BUILD)/asan tests/with_server.sh --refresh-tokens --no-record --client m2m.dpop:c-state-secret-M3tQ9w -- \
		env $(SANITIZER_ENV) $(BUILD)/asan/state
	$(WITH_SERVER) --client m2m.dpop:c-test-secret-8JqL2vX -- env $(SANITIZER_ENV) $(BUILD)/asan/tasks
	rm -f $(BUILD)/asan/cc-ec.pem
	$(WITH_SERVER) --require-nonce --client m2m.dpop:asan-secret-P3kx -- env $(SANITIZER_ENV) \
		DPOP_CLIENT_SECRET=asan-secret-P3kx DPOP_KEY_FILE=$(BUILD)/asan/cc-ec.pem $(BUILD)/asan/client_credentials \
		> $(BUILD)/asan/cc-output.txt
	grep -q '^status: 200$$' $(BUILD)/asan/cc-output.txt
	BUILD_DIR=$(BUILD)/asan RUN="env $(SANITIZER_ENV)" tests/c/sign_in_example.sh
	@echo "sanitize: the C programs are clean under ASan, LeakSanitizer and UBSan"

# Miri over the C ABI crate's own unit tests (handles, records, the boundary's conversions and
# panic boundary): the parts that touch no socket and no ring assembly. Needs the nightly
# toolchain's miri and rust-src components, installed here when missing.
miri:
	rustup component add miri rust-src --toolchain nightly
	cargo +nightly miri test -p dpop --lib

py-test: $(TEST_PROGRAMS)
	DPOPTOOL=$(CURDIR)/$(BUILD)/dpoptool $(PYTHON) -m pytest -q tests/python

# Interop against independent implementations: oidc-provider as the authorization server,
# jose and oauth4webapi verifying at a resource server (node 20 and npm required).
interop: server $(BUILD)/client_credentials $(BUILD)/dpoptool
	tests/interop/run.sh

# The C++, Python and DataFlex bindings (bindings/run-tests.sh).
bindings-test: all
	PYTHON=$(PYTHON) bindings/run-tests.sh

# Every suite, with the set-up it needs, and a summary (tests/run-all.sh).
test:
	tests/run-all.sh

# One table of ratios against references measured in the same run (see BENCHMARKS.md).
bench:
	benches/run.sh

# The benchmarks build and run briefly; their speed figures are not judged, only correctness:
# 64 concurrent first calls make one token request, the soaks (HTTP, and HTTPS with 1 and 64
# threads) pass their checks, and every request of the libcurl comparison answers 200.
bench-smoke:
	benches/run.sh --smoke

# Fuzzing (FUZZING.md): the cargo-fuzz targets in fuzz/, on the nightly toolchain. The smoke
# replays every seed corpus (the regression inputs of past findings among them) and fuzzes
# each target for 3 s.
FUZZ_SECONDS ?= 300

fuzz:
	fuzz/run.sh $(FUZZ_SECONDS)

fuzz-smoke:
	fuzz/run.sh --smoke

demo: lib server cli $(BUILD)/client_credentials
	@echo "== local DPoP test server on 127.0.0.1 + examples-c/client_credentials"
	$(WITH_SERVER) -- env DPOP_KEY_FILE=$(BUILD)/demo-ec.pem DPOP_SESSION_LOG=$(BUILD)/demo-session.log \
		$(BUILD)/client_credentials
	@echo "== session log, secrets masked: $(BUILD)/demo-session.log"
	@echo "== the same request with the dpop command (target/release/dpop): the key's thumbprint, then"
	@echo "   the API's answer; --verbose writes the exchanges to stderr, secrets masked"
	target/release/dpop thumbprint $(BUILD)/demo-ec.pem
	$(WITH_SERVER) -- sh -c 'DPOP_CLIENT_SECRET=secret target/release/dpop get "$$DPOP_API_URL" \
		--key $(BUILD)/demo-ec.pem --client-id m2m.dpop --token-endpoint "$$DPOP_TOKEN_ENDPOINT" --scope api --verbose; echo'

# dpop.dll for x86_64 and i686 Windows, checked and run under Wine (see windows/build.sh).
windows: server
	windows/build.sh

# Installs for C and C++ hosts: the header, libdpop.so.VERSION with its soname link and the
# development link, libdpop.a, pkg-config's dpop.pc and CMake's dpop package
# (find_package(dpop): dpop::dpop, dpop::dpop_static). PREFIX and DESTDIR as usual.
PREFIX  ?= /usr/local
LIBDIR_NAME ?= lib
# What libdpop.a needs on Linux (rustc --print native-static-libs); tests/install/run.sh links
# with them.
NATIVE_STATIC_LIBS := -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc
INSTALL_LIB = $(DESTDIR)$(PREFIX)/$(LIBDIR_NAME)
PACKAGE_SUBST = sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(PREFIX)/$(LIBDIR_NAME)|g' \
	-e 's|@LIBDIR_NAME@|$(LIBDIR_NAME)|g' -e 's|@VERSION@|$(VERSION)|g' \
	-e 's|@MAJOR@|$(firstword $(subst ., ,$(VERSION)))|g' -e 's|@NATIVE_STATIC_LIBS@|$(NATIVE_STATIC_LIBS)|g' \
	-e 's|@CMAKE_STATIC_LIBS@|$(subst $(subst ,, ),;,$(patsubst -l%,%,$(NATIVE_STATIC_LIBS)))|g'

install: lib
	install -d $(DESTDIR)$(PREFIX)/include $(INSTALL_LIB)/pkgconfig $(INSTALL_LIB)/cmake/dpop
	install -m 644 include/dpop.h $(DESTDIR)$(PREFIX)/include/dpop.h
	install -m 755 $(LIBDIR)/libdpop.so $(INSTALL_LIB)/libdpop.so.$(VERSION)
	ln -sf libdpop.so.$(VERSION) $(INSTALL_LIB)/$(SONAME)
	ln -sf $(SONAME) $(INSTALL_LIB)/libdpop.so
	install -m 644 $(LIBDIR)/libdpop.a $(INSTALL_LIB)/libdpop.a
	$(PACKAGE_SUBST) packaging/dpop.pc.in > $(INSTALL_LIB)/pkgconfig/dpop.pc
	$(PACKAGE_SUBST) packaging/dpopConfig.cmake.in > $(INSTALL_LIB)/cmake/dpop/dpopConfig.cmake
	$(PACKAGE_SUBST) packaging/dpopConfigVersion.cmake.in > $(INSTALL_LIB)/cmake/dpop/dpopConfigVersion.cmake
	@echo "installed libdpop $(VERSION) under $(DESTDIR)$(PREFIX)"

# make install into a temporary prefix, then examples-c built three ways from it (pkg-config,
# pkg-config --static, CMake) and run against the test server.
install-test: lib server
	tests/install/run.sh

clean:
	$(CARGO) clean
	rm -rf target-windows
	rm -rf $(BUILD)
