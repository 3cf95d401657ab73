// Convolution forward throughput of onnxruntime-node (one thread) on the shapes of bench_conv.
//
//   node tools/bench/ort_conv.mjs [--bench BUILD/bench_conv] [--set gen|stargan|cartoon|all] [--only TEXT]
//                                 [--min-ms N] [--json]
//
// The shapes come from `bench_conv --list` (one list for both tools).  Each shape becomes a one-node ONNX
// model (Conv with weight and bias initialisers), written with the small ONNX encoder of onnx_proto.mjs.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { require, buildDir } from '../../tests/js/deps.mjs';
import { attrInt, attrInts, node, onnxModel, tensor, valueInfo } from './onnx_proto.mjs';

const ort = require('onnxruntime-node');

// ---------------------------------------------------------------- model
function convModel(s) {
  const OH = Math.floor((s.H + 2 * s.pad - s.k) / s.stride) + 1;
  const w = new Float32Array(s.cout * s.cin * s.k * s.k).map((_, i) => Math.sin(i) * 0.1);
  const b = new Float32Array(s.cout).map((_, i) => Math.cos(i) * 0.1);
  const conv = node('Conv', ['x', 'w', 'b'], ['y'], [attrInts('kernel_shape', [s.k, s.k]),
    attrInts('pads', [s.pad, s.pad, s.pad, s.pad]), attrInts('strides', [s.stride, s.stride]), attrInt('group', 1)], 'conv');
  const bytes = onnxModel({
    nodes: [conv], initializers: [tensor('w', [s.cout, s.cin, s.k, s.k], w), tensor('b', [s.cout], b)],
    inputs: [valueInfo('x', [1, s.cin, s.H, s.H])], outputs: [valueInfo('y', [1, s.cout, OH, OH])],
    opset: 13, producer: 'dadfi-bench',
  });
  return { bytes, OH };
}

// ---------------------------------------------------------------- run
const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : dflt;
};
const bench = opt('--bench', `${buildDir}/bench_conv`);
const minMs = Number(opt('--min-ms', '300'));
const json = args.includes('--json');
if (!existsSync(bench)) {
  console.error(`ort_conv: ${bench} not found (build it, or pass --bench PATH)`);
  process.exit(2);
}
const listArgs = ['--list', '--set', opt('--set', 'all')];
if (opt('--only', null)) listArgs.push('--only', opt('--only', null));
const shapes = JSON.parse(execFileSync(bench, listArgs, { encoding: 'utf8' }));

const results = [];
if (!json) console.log(`onnxruntime-node ${ort.env.versions?.common ?? ''} (1 thread), forward GFLOP/s (best run)`);
for (const s of shapes) {
  const { bytes, OH } = convModel(s);
  const session = await ort.InferenceSession.create(bytes, {
    intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all',
  });
  const x = new ort.Tensor('float32', new Float32Array(s.cin * s.H * s.H).map((_, i) => Math.sin(i * 0.37)),
    [1, s.cin, s.H, s.H]);
  for (let i = 0; i < 3; i++) await session.run({ x }); // warm-up
  let best = Infinity, runs = 0;
  const start = performance.now();
  while (runs < 3 || performance.now() - start < minMs) {
    const t = performance.now();
    await session.run({ x });
    best = Math.min(best, performance.now() - t);
    runs++;
  }
  const gflops = (2 * s.cout * s.cin * s.k * s.k * OH * OH) / (best * 1e-3) * 1e-9;
  results.push({ name: s.name, set: s.set, fwd_1t: Number(gflops.toFixed(2)) });
  if (!json) console.log(`${s.name.padEnd(28)} ${gflops.toFixed(1).padStart(8)}`);
  await session.release();
}
if (json) console.log(JSON.stringify({ runtime: 'onnxruntime-node', threads: 1, results }, null, 1));
