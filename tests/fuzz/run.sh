#!/bin/sh
# Fuzz with libFuzzer:  tests/fuzz/run.sh [SECONDS [TARGET [SANITIZER]]]
#   SECONDS    fuzzing time per target (default 60); 0 only replays the seeds and tests/fuzz/corpus/TARGET
#   TARGET     fuzz_dfw (default), fuzz_image, or all
#   SANITIZER  asan (default: AddressSanitizer + UndefinedBehaviorSanitizer, build-fuzz) or
#              msan (MemorySanitizer, build-fuzz-msan)
# Configures a clang build (coverage on the core library), builds the target, writes the target's seed files
# into the build's corpus, adds the committed inputs in tests/fuzz/corpus/TARGET (fuzzer finds and extra
# seeds; libFuzzer runs each once before mutating) and fuzzes; exits non-zero on a crash or sanitizer report
# (the input lands in the build directory as crash-*, leak-*, timeout-*, oom-*).
# Environment: CC (default clang, else clang-14), DF_FUZZ_BUILD (build directory), DF_FUZZ_JOBS (build jobs, 2),
# DF_FUZZ_SEED (libFuzzer's -seed; default 1, so that a run from the same corpus tries the same inputs in the same
# order and CI's verdict does not depend on luck; 0: a random seed, for campaigns), DF_FUZZ_RUNS (also stop after
# this many inputs: with the seed, what CI tries is a prefix of a sequence checked beforehand, whatever its speed).
set -eu
secs=${1:-60}
target=${2:-fuzz_dfw}
san=${3:-asan}
root=$(cd "$(dirname "$0")/../.." && pwd)
case "$san" in
    asan) flags="-DDF_SANITIZE=ON -DDF_MSAN=OFF"; build=${DF_FUZZ_BUILD:-$root/build-fuzz} ;;
    msan) flags="-DDF_SANITIZE=OFF -DDF_MSAN=ON"; build=${DF_FUZZ_BUILD:-$root/build-fuzz-msan} ;;
    *) echo "run.sh: sanitizer '$san': asan or msan" >&2; exit 2 ;;
esac
if [ "$target" = all ]; then
    targets=$(cd "$root/tests/fuzz" && ls fuzz_*.c | sed 's/\.c$//')
else
    [ -f "$root/tests/fuzz/$target.c" ] || { echo "run.sh: no target $target (tests/fuzz/$target.c)" >&2; exit 2; }
    targets=$target
fi
cc=${CC:-}
if [ -z "$cc" ]; then
    if command -v clang >/dev/null 2>&1; then cc=clang; else cc=clang-14; fi
fi
# shellcheck disable=SC2086
cmake -S "$root" -B "$build" -DCMAKE_C_COMPILER="$cc" -DCMAKE_BUILD_TYPE=Release -DDF_FUZZ=ON $flags \
    -DCMAKE_C_FLAGS="-g -fsanitize=fuzzer-no-link" >/dev/null
for t in $targets; do
    cmake --build "$build" --target "$t" -j"${DF_FUZZ_JOBS:-2}"
done
for t in $targets; do
    echo "== $t under $san: ${secs} s"
    corpus="$build/corpus-$t"
    mkdir -p "$corpus"
    set -- "$corpus"
    [ -d "$root/tests/fuzz/corpus/$t" ] && set -- "$@" "$root/tests/fuzz/corpus/$t"
    if [ "$secs" = 0 ]; then limit=-runs=0; else limit=-max_total_time=$secs; fi
    [ "$secs" != 0 ] && [ -n "${DF_FUZZ_RUNS:-}" ] && limit="$limit -runs=$DF_FUZZ_RUNS"
    # shellcheck disable=SC2086
    DF_FUZZ_SEEDS="$corpus" "$build/$t" $limit -seed="${DF_FUZZ_SEED:-1}" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$build/" "$@"
done
