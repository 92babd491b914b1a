# Thin wrapper over Meson (STYLE.md): every real rule lives in meson.build.
#
#   make            build build/kiln (gcc, warnings are errors)
#   make demo       install what is missing, build, run the main job (the closed loop) on ./kiln-data
#   make demo-parts the subsystems one by one (registry, data quality, serving) on ./kiln-data/parts
#   make check      install what is missing, build, run every test (also under ASan+UBSan)
#   make test       unit + e2e + fuzz-replay tests on the gcc build
#   make asan       the same tests on a clang ASan+UBSan build (build-asan/)
#   make valgrind   unit tests under valgrind (build/)
#   make fuzz       build libFuzzer targets (build-fuzz/) and run each for FUZZ_SECONDS
#   make bench      release build + benchmarks (bench/RESULTS.md)
#   make format     clang-format in place;  make lint  style checks
MESON ?= meson
FUZZ_SECONDS ?= 30

.PHONY: all deps demo demo-parts check test asan valgrind fuzz bench format lint clean

all: build/build.ninja
	ninja -C build

build/build.ninja:
	$(MESON) setup build

build-asan/build.ninja:
	CC=clang $(MESON) setup build-asan -Db_sanitize=address,undefined -Db_lundef=false \
	    -Dc_args=-fno-sanitize-recover=all -Dbuildtype=debug

build-release/build.ninja:
	$(MESON) setup build-release -Dbuildtype=release -Dwerror=true

build-fuzz/build.ninja:
	CC=clang $(MESON) setup build-fuzz -Dfuzz=true -Db_sanitize=address,undefined \
	    -Db_lundef=false -Dc_args=-fsanitize=fuzzer-no-link -Dbuildtype=debug

deps:
	scripts/deps.sh

demo: deps all
	scripts/demo.sh

demo-parts: deps all
	scripts/demo_parts.sh

check: deps
	scripts/check.sh

test: all
	$(MESON) test -C build --print-errorlogs --no-rebuild --num-processes 2

asan: build-asan/build.ninja
	ninja -C build-asan
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
	    $(MESON) test -C build-asan --print-errorlogs --no-rebuild --num-processes 2 \
	    --suite unit --suite e2e

valgrind: all
	$(MESON) test -C build --setup valgrind --suite unit --print-errorlogs --no-rebuild

fuzz: build-fuzz/build.ninja
	ninja -C build-fuzz
	scripts/fuzz.sh build-fuzz $(FUZZ_SECONDS)

bench: deps build-release/build.ninja
	scripts/deps.sh --bench
	ninja -C build-release
	scripts/bench.sh build-release

format:
	find src tests fuzz bench -name '*.[ch]' | xargs -r clang-format -i

lint:
	scripts/lint.sh

clean:
	rm -rf build build-asan build-release build-fuzz
