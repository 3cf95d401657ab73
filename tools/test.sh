#!/usr/bin/env bash
# The project's test command: builds native (Release and ASan+UBSan) and wasm, runs every test
# (C unit tests, JavaScript golden tests against tfjs, wasm tests in Node, browser tests in Chromium),
# runs the image tests and the fuzz inputs under MemorySanitizer, and fuzzes both fuzz targets for a bounded
# time (the weight-file parser under ASan + UBSan, the image decoder under MemorySanitizer).
#   tools/test.sh            everything
#   tools/test.sh --quick    native Release build and its tests only
#   FUZZ_SECONDS=60          fuzzing time per target (0 skips)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
quick=0; [ "${1:-}" = "--quick" ] && quick=1
export NODE_PATH=/usr/share/nodejs   # Debian's emcc needs its acorn
jobs=2

step() { printf '\n==== %s\n' "$*"; }

[ "$quick" = 1 ] || { step "setup"; tools/setup.sh; }

step "native build (Release)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j$jobs

if [ "$quick" = 0 ]; then
  step "wasm build"
  if [ ! -f build-wasm/CMakeCache.txt ]; then
    emcmake cmake -S . -B build-wasm -DCMAKE_BUILD_TYPE=Release \
      "-DCMAKE_CROSSCOMPILING_EMULATOR=/usr/bin/node;--no-experimental-fetch" >/dev/null
  fi
  cmake --build build-wasm -j$jobs
  export DF_WASM_DIR="$root/build-wasm/wasm"
fi

step "tests (native + JavaScript + wasm + browser)"
(cd build && ctest --output-on-failure -j$jobs --timeout 900)
if [ "$quick" = 0 ]; then
  step "kernel and layer tests compiled to wasm (SIMD128), under Node"
  (cd build-wasm && ctest --output-on-failure -j$jobs --timeout 900)
fi

if [ "$quick" = 0 ]; then
  step "ASan + UBSan build and C tests"
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DDF_SANITIZE=ON >/dev/null
  cmake --build build-asan -j$jobs
  (cd build-asan && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j$jobs -E js_tests --timeout 1800)

  step "MemorySanitizer build (clang): image tests, fuzz seeds and tests/fuzz/corpus"
  tests/fuzz/run.sh 0 all msan   # configures build-fuzz-msan, builds both fuzz targets, runs every seed once
  cmake --build build-fuzz-msan --target test_image -j$jobs
  DF_SOURCE_DIR="$root" build-fuzz-msan/test_image

  if [ "${FUZZ_SECONDS:-60}" != 0 ]; then
    # seed 1 and an input budget: what CI tries was fuzzed clean beforehand from the same fresh corpus
    # (tests/fuzz/README.md: 17.8 million and 216,652 inputs); longer campaigns use DF_FUZZ_SEED=0
    step "fuzzing the weight-file parser (${FUZZ_SECONDS:-60} s or 15 million inputs, seed 1, ASan + UBSan)"
    DF_FUZZ_RUNS=15000000 tests/fuzz/run.sh "${FUZZ_SECONDS:-60}" fuzz_dfw asan
    step "fuzzing the image decoder (${FUZZ_SECONDS:-60} s or 200,000 inputs, seed 1, MemorySanitizer)"
    DF_FUZZ_RUNS=200000 tests/fuzz/run.sh "${FUZZ_SECONDS:-60}" fuzz_image msan
  fi
fi
step "all tests passed"
