#!/bin/sh
# Convolution benchmark: ours (bench_conv, 1 and 2 threads) next to onnxruntime-node (1 thread), per shape.
#
#   tools/bench/conv.sh [BUILD_DIR] [--set gen|stargan|cartoon|all] [--only TEXT] [--min-ms N]
#
# Goals printed alongside: forward >= 1.0x onnxruntime on 3x3 convs with >= 64 channels; backward (input +
# weight gradients) >= 0.6x our forward throughput; 2 threads >= 1.7x one thread.
set -e
here=$(cd "$(dirname "$0")" && pwd)
build="$here/../../build"
case "$1" in -*|"") ;; *) build="$1"; shift ;; esac
[ -x "$build/bench_conv" ] || { echo "conv.sh: $build/bench_conv not built" >&2; exit 2; }
ours=$("$build/bench_conv" --json "$@")
ort=$(node "$here/ort_conv.mjs" --bench "$build/bench_conv" --json "$@")
node - "$ours" "$ort" <<'JS'
const [ours, ort] = process.argv.slice(2).map((s) => JSON.parse(s));
const peer = new Map(ort.results.map((r) => [r.name, r.fwd_1t]));
const f = (x, w = 8, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : '-').padStart(w);
console.log(`ours: ${ours.isa}; GFLOP/s, best run; bwd = input + weight gradients`);
console.log(`${'layer'.padEnd(28)}${'ort 1T'.padStart(8)}${'fwd 1T'.padStart(8)}${'ours/ort'.padStart(9)}` +
  `${'bwd 1T'.padStart(8)}${'bwd/fwd'.padStart(8)}${'fwd 2T'.padStart(8)}${'bwd 2T'.padStart(8)}` +
  `${'f 2T/1T'.padStart(8)}${'b 2T/1T'.padStart(8)}`);
for (const r of ours.results) {
  const o = peer.get(r.name);
  console.log(`${r.name.padEnd(28)}${f(o)}${f(r.fwd_1t)}${f(r.fwd_1t / o, 9, 2)}${f(r.bwd_1t)}` +
    `${f(r.bwd_1t / r.fwd_1t, 8, 2)}${f(r.fwd_2t)}${f(r.bwd_2t)}${f(r.fwd_2t / r.fwd_1t, 8, 2)}` +
    `${f(r.bwd_2t / r.bwd_1t, 8, 2)}`);
}
JS
