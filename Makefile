# Thin wrapper around CMake/CTest. The real build lives in CMakeLists.txt.
BUILD      ?= build
JOBS       ?= 2
CMAKE_ARGS ?=
CTEST_ARGS ?=

.PHONY: all bootstrap build run test bench fuzz clean format

all: build

bootstrap:
	@./scripts/bootstrap.sh

# make test and make run share build/; the tests need the sanitizers on.
build: bootstrap
	@cmake -S . -B $(BUILD) -DLS_SANITIZE=ON -DLS_WERROR=ON $(CMAKE_ARGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

run: build
	@./scripts/run.sh

test: build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS) $(CTEST_ARGS)

bench: bootstrap
	@cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release -DLS_SANITIZE=OFF >/dev/null
	@cmake --build build-release -j $(JOBS)
	@./bench/run.sh build-release

fuzz: bootstrap
	@./tests/fuzz/run.sh $(or $(FUZZ_SECONDS),600)

format:
	@clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) build-release build-fuzz .run
