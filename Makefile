# nsm: the two commands of the contract are `make run` and `make test`.
#   make run    install what is missing, build (release), run rpc.statd in the foreground on ./var
#   make test   install what is missing, build with ASan/UBSan, run every test (ctest),
#               then the unit tests of the threaded modules under ThreadSanitizer
#   make tsan   build with ThreadSanitizer (build-tsan), run every test there
#   make bench / soak / fuzz   long runs, not part of `make test`
SHELL := /bin/bash
JOBS ?= $(shell nproc)
BUILD ?= build
RELEASE ?= build-release
TSAN_BUILD ?= build-tsan
STATE_DIR ?= $(CURDIR)/var/lib/nfs
PREFIX ?= /usr

.PHONY: all deps build release test tsan run bench soak fuzz format clean install

all: build

deps:
	@./scripts/install-deps.sh

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Debug -DNSM_SANITIZE=ON >/dev/null
	cmake --build $(BUILD) -j$(JOBS)

release: deps
	cmake -S . -B $(RELEASE) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNSM_TESTS=OFF >/dev/null
	cmake --build $(RELEASE) -j$(JOBS)

FUZZ_TIME ?= 600

# ThreadSanitizer (TSan and ASan exclude each other: a build of its own). Every report
# is fatal (exit 66); second_deadlock_stack for lock-order reports. No suppressions:
# nothing in libtirpc, SQLite or Asio has needed one. NSM_TIME_SCALE widens the few
# latency bounds of the integration tests that only a slow build misses. If TSan
# aborts with "unexpected memory mapping" (GCC 12's runtime on a kernel with a large
# vm.mmap_rnd_bits), the tests run under `setarch -R` (no ASLR).
TSAN_CONFIGURE = cmake -S . -B $(TSAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DNSM_TSAN=ON >/dev/null
TSAN_RUN = TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 $(TSAN_OPTIONS)" NSM_TIME_SCALE=3 \
  $$(tests/store_open_test --gtest_list_tests 2>&1 | grep -q 'unexpected memory mapping' \
     && echo setarch $$(uname -m) -R)

# The short TSan pass (1.5-2.5 min from scratch on 2 cores): the unit tests of the
# threaded modules (label unit-threaded, tests/CMakeLists.txt).
test: build
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS) --timeout 600
	./scripts/fuzz.sh smoke 15
	$(TSAN_CONFIGURE)
	cmake --build $(TSAN_BUILD) -j$(JOBS) --target threaded_unit_tests
	cd $(TSAN_BUILD) && $(TSAN_RUN) ctest --output-on-failure -j$(JOBS) --timeout 600 -L threaded

# Every test under TSan but the packaging test: it builds its own (uninstrumented) .deb
# and installs it over nfs-common, nothing TSan can see. The fuzz targets are not built
# (NSM_FUZZ is off): single-threaded parsers, clang/libFuzzer only (make fuzz, ASan).
tsan: deps
	$(TSAN_CONFIGURE)
	cmake --build $(TSAN_BUILD) -j$(JOBS)
	cd $(TSAN_BUILD) && NSM_SKIP_PACKAGING=1 $(TSAN_RUN) \
	  ctest --output-on-failure -j$(JOBS) --timeout 600 -E '^integration\.test_packaging$$'

run: release
	./scripts/run-dev.sh $(RELEASE) $(STATE_DIR)

bench: release
	./bench/run.sh $(RELEASE)

SOAK_CRASH_CYCLES ?= 1000
SOAK_FLOOD_COUNT ?= 1000000

# ctest's per-test TIMEOUT would cut a 1,000-cycle run short: pytest is called directly.
soak: build
	NSM_BUILD_DIR=$(CURDIR)/$(BUILD) NSM_SOURCE_DIR=$(CURDIR) PYTHONDONTWRITEBYTECODE=1 \
	  NSM_CRASH_CYCLES=$(SOAK_CRASH_CYCLES) NSM_FLOOD_COUNT=$(SOAK_FLOOD_COUNT) \
	  /usr/bin/python3 -m pytest -q -p no:cacheprovider -x -s \
	  tests/integration/test_crash.py tests/integration/test_hostile.py

fuzz: deps
	./scripts/fuzz.sh run $(FUZZ_TIME)

format:
	git ls-files '*.cc' '*.h' | xargs clang-format -i

install: release
	DESTDIR=$(DESTDIR) cmake --install $(RELEASE) --prefix $(PREFIX)

clean:
	rm -rf $(BUILD) $(RELEASE) $(TSAN_BUILD) build-fuzz build-fuzz-cov
