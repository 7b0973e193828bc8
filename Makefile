# mailflow — set-up and build wrappers for a fresh Debian 12 machine (run as root, or with sudo).
#   make run    install what is missing, build Release, serve examples/quickstart.yaml on 127.0.0.1:2525
#   make test   install what the tests need, build, run every test (unit, integration, sanitizers, fuzz)
#   make bench  install what the benchmarks need, build Release with bench/, run them all (bench/README.md)

SHELL := /bin/bash
JOBS ?= 2
BUILD_PACKAGES := build-essential cmake ninja-build pkg-config \
  libboost1.81-dev libssl-dev librocksdb-dev libsqlite3-dev libyaml-cpp-dev libspdlog-dev libfmt-dev \
  libcli11-dev nlohmann-json3-dev libidn2-dev libcrypt-dev libargon2-dev libunbound-dev libjemalloc-dev
TEST_PACKAGES := libgtest-dev libgmock-dev googletest libbenchmark-dev python3 swaks openssl \
  clang libclang-rt-14-dev

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

define install_missing
	@missing=$$(for p in $(1); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing: $$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi
endef

.PHONY: deps test-deps build run test test-unit test-asan test-fuzz bench clean

deps:
	$(call install_missing,$(BUILD_PACKAGES))

test-deps: deps
	$(call install_missing,$(TEST_PACKAGES))

build-release/build.ninja:
	cmake -S . -B build-release -G Ninja -DCMAKE_BUILD_TYPE=Release -DMAILFLOW_TESTS=OFF

run: deps build-release/build.ninja
	ninja -C build-release -j$(JOBS) mailflow
	./build-release/src/cli/mailflow serve --config examples/quickstart.yaml

build/build.ninja:
	cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo

build: test-deps build/build.ninja
	ninja -C build -j$(JOBS)

# Every test: unit + integration on the normal build, unit tests again under ASan+UBSan, and a bounded
# libFuzzer run of each fuzz target (clang).
test: build
	cd build && ctest -j$(JOBS) --output-on-failure
	$(MAKE) test-asan
	$(MAKE) test-fuzz

test-unit: build
	cd build && ctest -j$(JOBS) -L unit --output-on-failure

test-asan: test-deps
	cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DMAILFLOW_SANITIZE=ON -DMAILFLOW_UNIT_ONLY=ON
	ninja -C build-asan -j$(JOBS)
	cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ctest -j$(JOBS) -L unit --output-on-failure

test-fuzz: test-deps
	CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMAILFLOW_FUZZ=ON -DMAILFLOW_UNIT_ONLY=ON
	ninja -C build-fuzz -j$(JOBS)
	cd build-fuzz && ctest -j$(JOBS) -L fuzz --output-on-failure

# Benchmarks (issue 4): (c) routing cost, (b) 10,000 idle sessions, (a)(d)(e) relay against a private
# Postfix instance. Each prints its table and writes JSON under bench/results/.
BENCH_PACKAGES := postfix libbenchmark-dev python3
bench: deps
	@dpkg-query -W -f='$${Status}' postfix 2>/dev/null | grep -q 'install ok installed' || \
	  echo "postfix postfix/main_mailer_type select No configuration" | $(SUDO) debconf-set-selections
	$(call install_missing,$(BENCH_PACKAGES))
	cmake -S . -B build-bench -G Ninja -DCMAKE_BUILD_TYPE=Release -DMAILFLOW_TESTS=OFF -DMAILFLOW_BENCH=ON
	ninja -C build-bench -j$(JOBS) mailflow routing_bench
	mkdir -p bench/results
	./build-bench/bench/routing_bench --benchmark_out=bench/results/routing-$$(date -u +%Y%m%dT%H%M%SZ).json \
	  --benchmark_out_format=json
	python3 bench/idle_sessions.py --mailflow build-bench/src/cli/mailflow \
	  --json bench/results/idle-$$(date -u +%Y%m%dT%H%M%SZ).json
	python3 bench/relay_bench.py --mailflow build-bench/src/cli/mailflow

clean:
	rm -rf build build-release build-asan build-fuzz build-bench
