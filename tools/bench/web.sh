#!/usr/bin/env bash
# The browser-side benchmark: builds native (build/) and wasm (build-wasm/), then
#   1. Gen forward in Node 20 (one thread, warmed up): our wasm vs onnxruntime-web vs tfjs-backend-wasm, and vs
#      our native build (bench_gen, AVX2 and the best ISA, one thread)            -> tools/bench/wasm_gen.mjs
#   2. the same in Chromium, a 12 MP photo through the page end to end with its wasm memory, and (with
#      --faces N) the large-photo experiment                                          -> tools/bench/web_bench.mjs
#   tools/bench/web.sh [--runs N] [--faces N] [--no-build]       (results also in build/bench-web-*.json)
# The large-photo experiment needs trained weights/gen.dfw, weights/zoo*.dfw and the CelebA subset.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
runs=7 faces=0 build=1
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs=${2:?}; shift 2 ;;
    --faces) faces=${2:?}; shift 2 ;;
    --no-build) build=0; shift ;;
    *) echo "usage: tools/bench/web.sh [--runs N] [--faces N] [--no-build]" >&2; exit 2 ;;
  esac
done
export NODE_PATH=/usr/share/nodejs
if [ "$build" = 1 ]; then
  cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build build -j2 --target dadfi bench_gen
  [ -f build-wasm/CMakeCache.txt ] || emcmake cmake -S . -B build-wasm -DCMAKE_BUILD_TYPE=Release \
    "-DCMAKE_CROSSCOMPILING_EMULATOR=$(command -v node);--no-experimental-fetch" >/dev/null
  cmake --build build-wasm -j2 --target dadfi-wasm
fi
export DF_BUILD_DIR="$root/build" DF_WASM_DIR="$root/build-wasm/wasm"
echo "== Gen forward in Node (wasm vs onnxruntime-web vs tfjs-wasm vs native)"
node tools/bench/wasm_gen.mjs --runs "$runs" --json build/bench-web-node.json
echo
extra=""; [ "$faces" = 0 ] || extra=", the large-photo experiment on $faces faces"
echo "== Chromium: Gen forward, a 12 MP photo through the page$extra"
node tools/bench/web_bench.mjs --runs "$runs" --faces "$faces" --json build/bench-web-chromium.json
