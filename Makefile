# The commands a user needs; each first installs the Debian packages it lacks
# (scripts/ensure-packages.sh).
#   make demo           build and run the echo-server demo
#   make install        install the library and lsepoll (PREFIX=/usr/local)
#   make test           build and run every test: natively, again at a fresh
#                       Debian's fd limit, a plain build and install without
#                       GoogleTest, the ABI check, then test-asan, test-tsan and
#                       test-valgrind
#   make test-asan      the suite built with AddressSanitizer and
#                       UndefinedBehaviorSanitizer (any report fails it)
#   make test-tsan      the tests where threads or fork are involved, built
#                       with ThreadSanitizer (any report fails it)
#   make test-valgrind  every unit-test program under valgrind memcheck
#   make abi-check      the shared library's ABI against abi/liblinux_ext.abi
#                       (part of make test)
#   make abi-baseline   writes abi/liblinux_ext.abi from the current code; an
#                       incompatible change needs a new soname first
#   make fuzz           each libFuzzer target for FUZZ_SECONDS, adding what it
#                       finds to fuzz/corpus/ (which `make test` replays)
#   make bench          every benchmark, into docs/benchmarks.md and the
#                       charts docs/bench-*.png (about 10 minutes)
#   make bench-quick    the same on fewer rounds and sizes, printed only
#                       (under a minute): for checking a change
#   make docs           the API reference, from the header comments
#   make package        a .deb of the library and lsepoll, checked by
#                       building against it
#   make clean

BUILD         ?= build
BUILD_TYPE    ?= RelWithDebInfo
PREFIX        ?= /usr/local
JOBS          ?= $(shell nproc)
ASAN_BUILD    ?= build-asan
TSAN_BUILD    ?= build-tsan
FUZZ_BUILD    ?= build-fuzz
ABI_BUILD     ?= build-abi
FUZZ_SECONDS  ?= 60
BENCH_BUILD   ?= build-bench
# The package installs under /usr, so it is built apart from $(BUILD), whose
# prefix is $(PREFIX).
PACKAGE_BUILD ?= $(BUILD)/package

# The library, lsepoll and the examples (the nesting example uses libuv when
# it is there, and shows the second Epoll only without it).
BUILD_PACKAGES := cmake ninja-build g++ make pkg-config
# The tests add libfmt-dev for linux_ext/fmt.h, libuv1-dev for the nesting
# example, redis-server for the lsepoll test, util-linux for prlimit, and
# clang for header_warnings_clang, which checks the public headers under
# clang's warnings too.
TEST_PACKAGES  := $(BUILD_PACKAGES) libgtest-dev libfmt-dev libuv1-dev redis-server util-linux clang
# The fuzz targets need clang and its libFuzzer, not GoogleTest.
FUZZ_PACKAGES  := $(BUILD_PACKAGES) clang libclang-rt-14-dev
# The ABI check reads the shared library with libabigail's abidw and abidiff.
ABI_PACKAGES   := $(BUILD_PACKAGES) abigail-tools
# ThreadSanitizer's runtime for g++ 12.
TSAN_PACKAGES  := $(TEST_PACKAGES) libtsan2
BENCH_PACKAGES := $(BUILD_PACKAGES) libbenchmark-dev libev-dev libevent-dev libuv1-dev libboost-dev \
                  gnuplot-nox valgrind strace redis-tools util-linux iproute2

# $(call cmake_build,DIR,CMAKE_ARGS[,BUILD_ARGS]): configure DIR and build it.
define cmake_build
	cmake -S . -B $(1) -G Ninja $(2)
	cmake --build $(1) -j $(JOBS) $(3)
endef

# $(call sanitize_cmake,FLAGS): a sanitizer build with FLAGS, -O1 with line
# tables only: quick to compile on CI's two cores, and stack traces still
# name the lines.
sanitize_cmake = -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g1" \
                 -DCMAKE_CXX_FLAGS="$(1)" -DCMAKE_EXE_LINKER_FLAGS="$(1)"

# Without the vptr check: it reads /proc/self/maps, which fails in the
# tests that run a child out of fds (RLIMIT_NOFILE 0) and then reports a
# false error; this library has no polymorphic type of its own.
SANITIZE_FLAGS := -fsanitize=address,undefined -fno-sanitize=vptr -fno-sanitize-recover=all -fno-omit-frame-pointer
SANITIZE_ENV   := ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=1 \
                  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# The model tests replay fewer seeds per shard (of 125) under the sanitizers,
# and in the run at 1024 fds, which is there for the fds, not the seeds.
ASAN_MODEL_SEEDS     ?= 20
FD_LIMIT_MODEL_SEEDS ?= 20
# ThreadSanitizer only where threads or fork are involved (the other tests
# are single-threaded): the fork tests, and the waits another thread wakes.
# fork_threads_test is the one that matters: it forks while other threads
# create, move, use and destroy sets. halt_on_error ends a process at its
# first report, with status 66: the parent's fails the target, a child's
# fails the parent's test. The children start no thread, so TSan's
# die_after_fork needs no change.
TSAN_FLAGS := -fsanitize=thread -fno-omit-frame-pointer
TSAN_ENV   := TSAN_OPTIONS=halt_on_error=1
TSAN_TESTS := fork_test fork_threads_test wait_test

BUILD_CMAKE   := -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DCMAKE_INSTALL_PREFIX=$(PREFIX)
ASAN_CMAKE    := $(call sanitize_cmake,$(SANITIZE_FLAGS))
TSAN_CMAKE    := $(call sanitize_cmake,$(TSAN_FLAGS))
FUZZ_CMAKE    := -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DCMAKE_CXX_COMPILER=clang++ \
                 -DLINUX_EXT_FUZZ=ON -DLINUX_EXT_TEST=OFF -DLINUX_EXT_EXAMPLES=OFF -DLINUX_EXT_TOOLS=OFF \
                 -DCMAKE_CXX_FLAGS="$(SANITIZE_FLAGS) -fsanitize=fuzzer-no-link"
# Only the libFuzzer programs (fuzz/CMakeLists.txt), not the whole suite again.
FUZZ_TARGETS  := flags_sexp_fuzz ops_fuzz walks_fuzz
PACKAGE_CMAKE := -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr -DLINUX_EXT_TEST=OFF -DLINUX_EXT_EXAMPLES=OFF
# Release (-O2, NDEBUG) as a user builds it; -g changes no code and lets
# callgrind_annotate show source lines.
BENCH_CMAKE   := -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O2 -g -DNDEBUG" \
                 -DLINUX_EXT_BENCH=ON -DLINUX_EXT_TEST=OFF -DLINUX_EXT_EXAMPLES=OFF -DLINUX_EXT_INSTALL=OFF

PROJECT_VERSION := $(shell sed -n '/^project/s/.* VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)

.PHONY: all build demo install test test-build test-asan test-tsan test-valgrind abi-check abi-baseline fuzz bench bench-quick bench-build \
        docs package clean

all: build

# With the tests off, so that the demo and install need none of the test
# packages. The tests reconfigure the same directory with them on, and the
# library and examples built once serve both.
build:
	@scripts/ensure-packages.sh $(BUILD_PACKAGES)
	$(call cmake_build,$(BUILD),$(BUILD_CMAKE) -DLINUX_EXT_TEST=OFF)

demo: build
	$(BUILD)/examples/echo_demo

install: build
	cmake --install $(BUILD)

test-build:
	@scripts/ensure-packages.sh $(TEST_PACKAGES)
	$(call cmake_build,$(BUILD),$(BUILD_CMAKE) -DLINUX_EXT_TEST=ON)

# Twice natively: under this shell's fd limit, then under the soft limit of
# 1024 a fresh Debian gives, which the tests that need thousands of fds must
# raise themselves.
test: test-build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)
	cd $(BUILD) && MODEL_SEEDS=$(FD_LIMIT_MODEL_SEEDS) prlimit --nofile=1024: ctest --output-on-failure -j $(JOBS)
	JOBS=$(JOBS) scripts/test-libcxx.sh
	JOBS=$(JOBS) scripts/test-without-gtest.sh
	$(MAKE) --no-print-directory abi-check test-asan test-tsan test-valgrind

test-asan:
	@scripts/ensure-packages.sh $(TEST_PACKAGES)
	$(call cmake_build,$(ASAN_BUILD),$(ASAN_CMAKE))
	cd $(ASAN_BUILD) && $(SANITIZE_ENV) MODEL_SEEDS=$(ASAN_MODEL_SEEDS) ctest --output-on-failure -j $(JOBS)

# Only the programs of TSAN_TESTS are built, and each is run as it is.
test-tsan:
	@scripts/ensure-packages.sh $(TSAN_PACKAGES)
	$(call cmake_build,$(TSAN_BUILD),$(TSAN_CMAKE),--target $(TSAN_TESTS))
	set -e; for test in $(TSAN_TESTS); do $(TSAN_ENV) $(TSAN_BUILD)/tests/$$test --gtest_brief=1; done

test-valgrind: test-build
	@scripts/ensure-packages.sh valgrind
	@JOBS=$(JOBS) scripts/valgrind.sh $(BUILD)

abi-check:
	@scripts/ensure-packages.sh $(ABI_PACKAGES)
	JOBS=$(JOBS) scripts/abi-check.sh $(ABI_BUILD)

abi-baseline:
	@scripts/ensure-packages.sh $(ABI_PACKAGES)
	JOBS=$(JOBS) scripts/abi-check.sh --update $(ABI_BUILD)

fuzz:
	@scripts/ensure-packages.sh $(FUZZ_PACKAGES)
	$(call cmake_build,$(FUZZ_BUILD),$(FUZZ_CMAKE),--target $(FUZZ_TARGETS))
	@$(SANITIZE_ENV) scripts/fuzz.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

bench-build:
	@scripts/ensure-packages.sh $(BENCH_PACKAGES)
	$(call cmake_build,$(BENCH_BUILD),$(BENCH_CMAKE))

# Written to the build directory first, so that a failed run leaves docs/ as
# it was.
bench: bench-build
	bench/run.sh $(BENCH_BUILD) --charts docs > $(BENCH_BUILD)/benchmarks.md
	cp $(BENCH_BUILD)/benchmarks.md docs/benchmarks.md
	@cat docs/benchmarks.md

bench-quick: bench-build
	bench/run.sh $(BENCH_BUILD) --quick

docs:
	@scripts/ensure-packages.sh doxygen
	mkdir -p $(BUILD)/docs
	LINUX_EXT_DOCS_OUT=$(BUILD)/docs LINUX_EXT_VERSION=$(PROJECT_VERSION) doxygen docs/Doxyfile
	@echo "API reference: $(BUILD)/docs/html/index.html"

package:
	@scripts/ensure-packages.sh $(BUILD_PACKAGES)
	$(call cmake_build,$(PACKAGE_BUILD),$(PACKAGE_CMAKE))
	rm -f $(PACKAGE_BUILD)/*.deb
	cd $(PACKAGE_BUILD) && cpack -G DEB
	tests/package/run.sh deb . $(PACKAGE_BUILD)/liblinux-ext-dev_$(PROJECT_VERSION)_*.deb
	@echo "Package: $$(ls $(PACKAGE_BUILD)/*.deb)"

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(TSAN_BUILD) $(FUZZ_BUILD) $(BENCH_BUILD) $(ABI_BUILD) build-libcxx
