# nsm: the two commands of the contract are `make run` and `make test`.
#   make run    install what is missing, build (release), run rpc.statd in the foreground on ./var
#   make test   install what is missing, build with ASan/UBSan, run every test (ctest)
#   make bench / soak / fuzz   long runs, not part of `make test`
SHELL := /bin/bash
JOBS ?= $(shell nproc)
BUILD ?= build
RELEASE ?= build-release
STATE_DIR ?= $(CURDIR)/var/lib/nfs
PREFIX ?= /usr

.PHONY: all deps build release test run bench soak fuzz format clean install

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

test: build
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS) --timeout 600
	./scripts/fuzz.sh smoke 15

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
	rm -rf $(BUILD) $(RELEASE) build-fuzz build-fuzz-cov
