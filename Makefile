# The commands a user needs; each installs the Debian packages it lacks.
#   make demo      build and run the echo-server demo
#   make test      build and run every test
#   make install   install the library (PREFIX=/usr/local)
#   make docs      the API reference, from the header comments (build/docs/html)
#   make package   a .deb of the library and lsepoll, checked by building against it

BUILD       ?= build
BUILD_TYPE  ?= RelWithDebInfo
PREFIX      ?= /usr/local
JOBS        ?= $(shell nproc)

BUILD_PACKAGES := cmake ninja-build g++ make pkg-config
# libfmt-dev for linux_ext/fmt.h, libuv1-dev for the nesting example,
# redis-server for the lsepoll test.
TEST_PACKAGES  := $(BUILD_PACKAGES) libgtest-dev libfmt-dev libuv1-dev redis-server

# $(call ensure_packages,PKG...): install the missing Debian packages, or say
# which command would when not root.
define ensure_packages
	@missing=""; \
	for p in $(1); do \
	  dpkg-query -W -f='$${Status}' "$$p" 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "Installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	  else \
	    echo "Missing Debian packages. Run: sudo apt-get install -y$$missing"; exit 1; \
	  fi; \
	fi
endef

.PHONY: all build test demo install clean

all: build

build:
	$(call ensure_packages,$(TEST_PACKAGES))
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DCMAKE_INSTALL_PREFIX=$(PREFIX)
	cmake --build $(BUILD) -j $(JOBS)

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)
	$(MAKE) --no-print-directory test-asan test-valgrind

demo: build
	$(BUILD)/examples/echo_demo

install: build
	cmake --install $(BUILD)

clean:
	rm -rf $(BUILD)

# --- Reliability: sanitizers, valgrind, fuzzing (docs/reliability.md) -------
#   make test-asan      the whole suite again, built with AddressSanitizer and
#                       UndefinedBehaviorSanitizer (any report fails it)
#   make test-valgrind  every unit-test program under valgrind memcheck
#   make fuzz           each libFuzzer target for FUZZ_SECONDS, adding what it
#                       finds to fuzz/corpus/ (which `make test` replays)

ASAN_BUILD   ?= build-asan
FUZZ_BUILD   ?= build-fuzz
FUZZ_SECONDS ?= 60

VALGRIND_PACKAGES := valgrind
FUZZ_PACKAGES     := $(BUILD_PACKAGES) clang libclang-rt-14-dev

# The sanitizer build is -O1 with line tables only: quick to compile on CI's
# two cores, and stack traces still name the lines.
# Without the vptr check: it reads /proc/self/maps, which fails in the
# tests that run a child out of fds (RLIMIT_NOFILE 0) and then reports a
# false error; this library has no polymorphic type of its own.
SANITIZE_FLAGS := -fsanitize=address,undefined -fno-sanitize=vptr -fno-sanitize-recover=all -fno-omit-frame-pointer
SANITIZE_ENV   := ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=1 \
                  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# The slower runs replay fewer model seeds per shard (8 shards of 1 000
# operations each): 20 under the sanitizers, 1 under valgrind.
ASAN_MODEL_SEEDS     ?= 20
VALGRIND_MODEL_SEEDS ?= 1
VALGRIND_FLAGS := --error-exitcode=1 --leak-check=full --show-leak-kinds=definite,indirect,possible \
                  --errors-for-leak-kinds=definite,indirect,possible --track-fds=no -q
# Not run under valgrind: load_test, whose 9 000 connections would take an
# hour there, and alloc_test, whose replaced operator new valgrind replaces
# in turn (so it would count nothing, and its delete looks mismatched). Both
# run natively and under the sanitizers.
VALGRIND_SKIP := load_test|alloc_test
# Valgrind refuses to lower RLIMIT_NOFILE below the fds it keeps for itself,
# so the test that runs a child out of fds cannot set up there (the EMFILE
# path runs under valgrind through fault_injection_test instead).
VALGRIND_GTEST_FILTER := -CreateTest.ReturnsTheErrnoOfEpollCreate1

.PHONY: test-asan test-valgrind fuzz

test-asan:
	$(call ensure_packages,$(TEST_PACKAGES))
	cmake -S . -B $(ASAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g1" \
	  -DCMAKE_CXX_FLAGS="$(SANITIZE_FLAGS)" -DCMAKE_EXE_LINKER_FLAGS="$(SANITIZE_FLAGS)"
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && $(SANITIZE_ENV) MODEL_SEEDS=$(ASAN_MODEL_SEEDS) ctest --output-on-failure -j $(JOBS)

test-valgrind: build
	$(call ensure_packages,$(VALGRIND_PACKAGES))
	@cd $(BUILD) && find tests -maxdepth 1 -type f -perm -u+x -name '*_test' | sort \
	  | grep -v -x -E 'tests/($(VALGRIND_SKIP))' \
	  | sed 's|$$| --gtest_brief=1 --gtest_filter=$(VALGRIND_GTEST_FILTER)|' \
	  | { cat; for t in $$(ls fuzz | sed -n 's/_replay$$//p'); do echo "fuzz/$${t}_replay $(CURDIR)/fuzz/corpus/$$t"; done; } \
	  | MODEL_SEEDS=$(VALGRIND_MODEL_SEEDS) xargs -P $(JOBS) -I{} sh -c \
	    'log=$$(mktemp); if valgrind $(VALGRIND_FLAGS) {} >$$log 2>&1; then echo "valgrind clean: {}"; rm -f $$log; \
	     else echo "valgrind FAILED: {}"; cat $$log; rm -f $$log; exit 1; fi'

fuzz:
	$(call ensure_packages,$(FUZZ_PACKAGES))
	cmake -S . -B $(FUZZ_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DCMAKE_CXX_COMPILER=clang++ \
	  -DLINUX_EXT_FUZZ=ON -DLINUX_EXT_EXAMPLES=OFF -DLINUX_EXT_TOOLS=OFF \
	  -DCMAKE_CXX_FLAGS="$(SANITIZE_FLAGS) -fsanitize=fuzzer-no-link"
	cmake --build $(FUZZ_BUILD) -j $(JOBS) --target flags_sexp_fuzz ops_fuzz
	@for t in flags_sexp ops; do \
	  echo "fuzzing $$t for $(FUZZ_SECONDS) s"; mkdir -p $(FUZZ_BUILD)/corpus-$$t; \
	  if ! $(SANITIZE_ENV) $(FUZZ_BUILD)/fuzz/$${t}_fuzz -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	      -artifact_prefix=$(FUZZ_BUILD)/$${t}- $(FUZZ_BUILD)/corpus-$$t fuzz/corpus/$$t >$(FUZZ_BUILD)/$$t.log 2>&1; then \
	    tail -n 60 $(FUZZ_BUILD)/$$t.log; echo "fuzz target $$t failed; the input is in $(FUZZ_BUILD)/$${t}-*"; exit 1; \
	  fi; \
	  grep -E '^stat::(number_of_executed_units|average_exec_per_sec|new_units_added)' $(FUZZ_BUILD)/$$t.log; \
	  mkdir -p $(FUZZ_BUILD)/merged-$$t; \
	  $(FUZZ_BUILD)/fuzz/$${t}_fuzz -merge=1 $(FUZZ_BUILD)/merged-$$t fuzz/corpus/$$t $(FUZZ_BUILD)/corpus-$$t >/dev/null 2>&1 \
	    && rm -rf fuzz/corpus/$$t && cp -r $(FUZZ_BUILD)/merged-$$t fuzz/corpus/$$t && rm -rf $(FUZZ_BUILD)/merged-$$t; \
	  echo "fuzz/corpus/$$t: $$(ls fuzz/corpus/$$t | wc -l) inputs"; \
	done

# --- Docs and packages (docs/using.md) --------------------------------------
#   make docs      Doxygen HTML from the public headers into $(BUILD)/docs
#   make package   CPack .deb into $(BUILD)/package, installed into a scratch
#                  root and built against (tests/package/run.sh deb)

DOCS_PACKAGES    := doxygen
PACKAGE_PACKAGES := $(BUILD_PACKAGES)
PACKAGE_BUILD    ?= $(BUILD)/package
PROJECT_VERSION  := $(shell sed -n '/^project/s/.* VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)

.PHONY: docs package

docs:
	$(call ensure_packages,$(DOCS_PACKAGES))
	mkdir -p $(BUILD)/docs
	LINUX_EXT_DOCS_OUT=$(BUILD)/docs LINUX_EXT_VERSION=$(PROJECT_VERSION) doxygen docs/Doxyfile
	@echo "API reference: $(BUILD)/docs/html/index.html"

# The package installs under /usr, so it is built apart from $(BUILD), whose
# prefix is $(PREFIX).
package:
	$(call ensure_packages,$(PACKAGE_PACKAGES))
	cmake -S . -B $(PACKAGE_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr \
	  -DLINUX_EXT_TEST=OFF -DLINUX_EXT_EXAMPLES=OFF
	cmake --build $(PACKAGE_BUILD) -j $(JOBS)
	rm -f $(PACKAGE_BUILD)/*.deb
	cd $(PACKAGE_BUILD) && cpack -G DEB
	tests/package/run.sh deb . $(PACKAGE_BUILD)/liblinux-ext-dev_$(PROJECT_VERSION)_*.deb
	@echo "Package: $$(ls $(PACKAGE_BUILD)/*.deb)"

# --- Benchmarks (docs/benchmarks.md) -----------------------------------------
#   make bench        Release build, every benchmark, docs/benchmarks.md and
#                     the charts docs/bench-*.png (about 10 minutes)
#   make bench-quick  the same on fewer rounds and sizes, printed only (under
#                     a minute): for checking a change

BENCH_BUILD    ?= build-bench
BENCH_PACKAGES := $(BUILD_PACKAGES) libbenchmark-dev libev-dev libevent-dev libuv1-dev libboost-dev \
                  gnuplot-nox valgrind strace redis-tools util-linux
# Release as BENCHMARKS.md asks: -O2 and NDEBUG; -g changes no code and lets
# callgrind_annotate show source lines.
BENCH_CMAKE    := -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O2 -g -DNDEBUG" \
                  -DLINUX_EXT_BENCH=ON -DLINUX_EXT_TEST=OFF -DLINUX_EXT_EXAMPLES=OFF -DLINUX_EXT_INSTALL=OFF

.PHONY: bench bench-quick bench-build

bench-build:
	$(call ensure_packages,$(BENCH_PACKAGES))
	cmake -S . -B $(BENCH_BUILD) $(BENCH_CMAKE)
	cmake --build $(BENCH_BUILD) -j $(JOBS)

# Written to the build directory first, so that a failed run leaves docs/ as
# it was.
bench: bench-build
	bench/run.sh $(BENCH_BUILD) --charts docs > $(BENCH_BUILD)/benchmarks.md
	cp $(BENCH_BUILD)/benchmarks.md docs/benchmarks.md
	@cat docs/benchmarks.md

bench-quick: bench-build
	bench/run.sh $(BENCH_BUILD) --quick
