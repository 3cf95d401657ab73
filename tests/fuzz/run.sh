#!/bin/sh
# Fuzz with libFuzzer:  tests/fuzz/run.sh [SECONDS [TARGET]]   (default 60 s, fuzz_dfw; or fuzz_image)
# Configures a clang build (build-fuzz: ASan + UBSan, coverage on the core library), builds the target,
# seeds a corpus with valid files and fuzzes; exits non-zero on a crash (the input lands in build-fuzz/).
# Environment: CC (default clang, else clang-14), DF_FUZZ_BUILD (build directory).
set -eu
secs=${1:-60}
target=${2:-fuzz_dfw}
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${DF_FUZZ_BUILD:-$root/build-fuzz}
cc=${CC:-}
if [ -z "$cc" ]; then
    if command -v clang >/dev/null 2>&1; then cc=clang; else cc=clang-14; fi
fi
cmake -S "$root" -B "$build" -DCMAKE_C_COMPILER="$cc" -DCMAKE_BUILD_TYPE=Release -DDF_FUZZ=ON -DDF_SANITIZE=ON \
    -DCMAKE_C_FLAGS="-g -fsanitize=fuzzer-no-link" >/dev/null
cmake --build "$build" --target "$target" -j2
corpus="$build/corpus-$target"
mkdir -p "$corpus"
DF_FUZZ_SEEDS="$corpus" "$build/$target" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$build/" "$corpus"
