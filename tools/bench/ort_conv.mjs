// Convolution forward throughput of onnxruntime-node (one thread) on the shapes of bench_conv.
//
//   node tools/bench/ort_conv.mjs [--bench BUILD/bench_conv] [--set gen|stargan|all] [--only TEXT]
//                                 [--min-ms N] [--json]
//
// The shapes come from `bench_conv --list` (one list for both tools).  Each shape becomes a one-node ONNX
// model (Conv with weight and bias initialisers), written by the small protobuf encoder below.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { require, buildDir } from '../../tests/js/deps.mjs';

const ort = require('onnxruntime-node');

// ---------------------------------------------------------------- protobuf (only what ONNX needs)
function varint(n) {
  const out = [];
  let v = BigInt(n);
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v) b |= 0x80;
    out.push(b);
  } while (v);
  return out;
}
const cat = (parts) => {
  const len = parts.reduce((s, p) => s + p.length, 0), out = new Uint8Array(len);
  let o = 0;
  for (const p of parts) out.set(p, o), (o += p.length);
  return out;
};
const fInt = (field, n) => Uint8Array.from([...varint((field << 3) | 0), ...varint(n)]);
const fBytes = (field, bytes) => cat([Uint8Array.from([...varint((field << 3) | 2), ...varint(bytes.length)]), bytes]);
const fStr = (field, s) => fBytes(field, new TextEncoder().encode(s));
const fMsg = (field, ...parts) => fBytes(field, cat(parts));

// onnx.proto field numbers
const TENSOR_FLOAT = 1, ATTR_INT = 2, ATTR_INTS = 7;
const tensor = (name, dims, data) => // TensorProto: dims=1, data_type=2, name=8, raw_data=9
  cat([...dims.map((d) => fInt(1, d)), fInt(2, TENSOR_FLOAT), fStr(8, name),
       fBytes(9, new Uint8Array(data.buffer, data.byteOffset, data.byteLength))]);
const valueInfo = (name, dims) => // ValueInfoProto{name=1, type=2{tensor_type=1{elem_type=1, shape=2{dim=1{dim_value=1}}}}}
  cat([fStr(1, name), fMsg(2, fMsg(1, fInt(1, TENSOR_FLOAT), fMsg(2, ...dims.map((d) => fMsg(1, fInt(1, d))))))]);
const attrInts = (name, v) => cat([fStr(1, name), fInt(20, ATTR_INTS), ...v.map((x) => fInt(8, x))]);
const attrInt = (name, v) => cat([fStr(1, name), fInt(20, ATTR_INT), fInt(3, v)]);

function convModel(s) {
  const OH = Math.floor((s.H + 2 * s.pad - s.k) / s.stride) + 1;
  const w = new Float32Array(s.cout * s.cin * s.k * s.k).map((_, i) => Math.sin(i) * 0.1);
  const b = new Float32Array(s.cout).map((_, i) => Math.cos(i) * 0.1);
  const node = cat([fStr(1, 'x'), fStr(1, 'w'), fStr(1, 'b'), fStr(2, 'y'), fStr(3, 'conv'), fStr(4, 'Conv'),
    fMsg(5, attrInts('kernel_shape', [s.k, s.k])), fMsg(5, attrInts('pads', [s.pad, s.pad, s.pad, s.pad])),
    fMsg(5, attrInts('strides', [s.stride, s.stride])), fMsg(5, attrInt('group', 1))]);
  const graph = cat([fMsg(1, node), fStr(2, 'g'), fMsg(5, tensor('w', [s.cout, s.cin, s.k, s.k], w)),
    fMsg(5, tensor('b', [s.cout], b)), fMsg(11, valueInfo('x', [1, s.cin, s.H, s.H])),
    fMsg(12, valueInfo('y', [1, s.cout, OH, OH]))]);
  // ModelProto: ir_version=1, producer_name=2, graph=7, opset_import=8{domain=1, version=2}
  return { bytes: cat([fInt(1, 8), fStr(2, 'dadfi-bench'), fMsg(7, graph), fMsg(8, fStr(1, ''), fInt(2, 13))]), OH };
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
