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

soak: build
	cd $(BUILD) && NSM_CRASH_CYCLES=1000 NSM_FLOOD_COUNT=1000000 \
	  ctest -R 'integration.test_(crash|hostile)' --output-on-failure --timeout 14400

fuzz: deps
	./scripts/fuzz.sh run $(FUZZ_TIME)

format:
	git ls-files '*.cc' '*.h' | xargs clang-format -i

install: release
	DESTDIR=$(DESTDIR) cmake --install $(RELEASE) --prefix $(PREFIX)

clean:
	rm -rf $(BUILD) $(RELEASE) build-fuzz build-fuzz-cov
