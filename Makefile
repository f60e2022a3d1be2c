# Thin wrapper around CMake/CTest. The real build lives in CMakeLists.txt.
BUILD      ?= build
JOBS       ?= 2
CMAKE_ARGS ?=
CTEST_ARGS ?=

# No "Entering directory" lines from the make that cmake --build runs.
MAKEFLAGS += --no-print-directory
CONFIGURE = cmake -S . -B $(BUILD) -DLS_SANITIZE=ON -DLS_WERROR=ON $(CMAKE_ARGS) >/dev/null

.PHONY: all bootstrap build run test bench fuzz clean format format-check build-matrix

all: build

bootstrap:
	@./scripts/bootstrap.sh

# make test and make run share build/; the tests need the sanitizers on.
build: bootstrap
	@$(CONFIGURE)
	@cmake --build $(BUILD) -j $(JOBS)

# The same build, quietly: its output is shown only when it fails.
run: bootstrap
	@$(CONFIGURE)
	@echo "make run: building in $(BUILD)/ (output: $(BUILD)/run-build.log)"
	@cmake --build $(BUILD) -j $(JOBS) >$(BUILD)/run-build.log 2>&1 \
	  || { tail -n 60 $(BUILD)/run-build.log; echo "make run: build failed"; exit 1; }
	@BUILD=$(BUILD) ./scripts/run.sh

test: build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS) $(CTEST_ARGS)

# make bench also installs what only the bench links (bench-state-stores:
# LMDB and RocksDB, docs/bench.md section 9c); make test does not need them.
BENCH_PKGS = liblmdb-dev librocksdb-dev
bench: bootstrap
	@LS_BOOTSTRAP_EXTRA="$(BENCH_PKGS)" ./scripts/bootstrap.sh
	@cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release -DLS_SANITIZE=OFF >/dev/null
	@cmake --build build-release -j $(JOBS)
	@./bench/run.sh build-release

fuzz: bootstrap
	@./tests/fuzz/run.sh $(or $(FUZZ_SECONDS),600)

format:
	@clang-format -i $$(git ls-files '*.c' '*.h')

# Debug, Release, RelWithDebInfo and ASan builds, all with -Werror.
build-matrix: bootstrap
	@./scripts/build-matrix.sh $(JOBS)

# Every tracked .c/.h against .clang-format, changing nothing.
format-check:
	@./scripts/format-check.sh

clean:
	rm -rf $(BUILD) build-release build-fuzz build-debug build-release-werror build-nosan .run
