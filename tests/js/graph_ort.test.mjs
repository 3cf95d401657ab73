// The ONNX export of imported graphs (tools/bench/graph_ort.mjs, the onnxruntime-node benchmark peer) against our
// engine (graph_run): a tiny graph built here uses every op and mode (symmetric, reflect and zero pads with unequal
// sides, a reflect-padded and a strided convolution, a transposed convolution with output padding, instance norm,
// relu, add, tanh), BGR order and non-[-1, 1] pixel ranges.  Skips when onnxruntime-node or graph_run is missing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { require, buildDir } from './deps.mjs';
import { writeDfw } from '../../tools/convert_mobilenet.mjs';
import { OP, ROW, readGraph, graphOnnx, engineToModelInput, engineToModelOutput, maxAbsDiff } from '../../tools/bench/graph_ort.mjs';

let ort = null;
try { ort = require('onnxruntime-node'); } catch { /* reported by skip */ }
const helper = join(buildDir, 'graph_run');
const skip = (!ort && 'onnxruntime-node not installed (tools/setup.sh)') ||
  (!existsSync(helper) && `helper not built: ${helper} (set DF_BUILD_DIR)`);

function rng(seed) {
  let s = seed >>> 0 || 1;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296) * 2 - 1;
}

// value 0: input [3, 12, 12]; node i writes value i + 1
function tinyGraph() {
  const r = rng(7), rows = [], tensors = [];
  const rand = (n, s) => Float32Array.from({ length: n }, () => r() * s);
  const add = (i, f) => { const row = new Array(ROW).fill(0); f.forEach((v, k) => (row[k] = v)); rows.push(row); return rows.length - 1; };
  const t = (name, dims, data) => tensors.push({ name, dims, data });
  let i;
  add(0, [OP.PAD, 0, -1, 2, 1, 3, 0, 2]);                     // symmetric 2/1/3/0 -> [3, 15, 15]
  i = add(1, [OP.CONV, 1, -1, 3, 4, 3, 3, 2, 1, 1, 1]);       // reflect pad 1, stride 2 -> [4, 8, 8]
  t(`n${i}.w`, [4, 3, 3, 3], rand(108, 0.3)), t(`n${i}.b`, [4], rand(4, 0.2));
  i = add(2, [OP.INSTNORM, 2, -1, 4, 1e-3]);
  t(`n${i}.gamma`, [4], rand(4, 1)), t(`n${i}.beta`, [4], rand(4, 0.5));
  add(3, [OP.RELU, 3, -1]);                                    // value 4
  add(4, [OP.PAD, 4, -1, 1, 1, 2, 0, 1]);                      // reflect 1/1/2/0 -> [4, 10, 10]
  add(5, [OP.PAD, 5, -1, 0, 1, 0, 1, 0]);                      // zero 0/1/0/1 -> [4, 11, 11]
  i = add(6, [OP.CONV, 6, -1, 4, 4, 4, 4, 1, 0, 0, 1]);       // 4x4, no pad -> [4, 8, 8]
  t(`n${i}.w`, [4, 4, 4, 4], rand(256, 0.2)), t(`n${i}.b`, [4], rand(4, 0.2));
  add(7, [OP.ADD, 7, 4]);                                      // + value 4
  i = add(8, [OP.CONVT, 8, -1, 4, 3, 3, 2, 1, 1, 1]);         // k3 s2 p1 out_pad 1 -> [3, 16, 16]
  t(`n${i}.w`, [4, 3, 3, 3], rand(108, 0.3)), t(`n${i}.b`, [3], rand(3, 0.2));
  i = add(9, [OP.CONV, 9, -1, 3, 3, 3, 3, 1, 1, 0, 0]);       // zero pad 1, no bias
  t(`n${i}.w`, [3, 3, 3, 3], rand(81, 0.4));
  add(10, [OP.TANH, 10, -1]);
  const meta = {
    arch: 'dadfi-graph', graph_version: 1, in_channels: 3, out_channels: 3, channel_order: 'bgr',
    in_min: 0, in_max: 255, out_min: -0.5, out_max: 2, size_multiple: 4, size: 12, name: 'tiny',
  };
  return writeDfw(meta, [{ name: 'graph.nodes', dims: [rows.length, ROW], data: Float32Array.from(rows.flat()) }, ...tensors]);
}

async function exportDiff(bytes, graph, x) {
  const work = join(buildDir, 'graph-ort-test');
  mkdirSync(work, { recursive: true });
  const tag = `${process.pid}-${Math.random().toString(36).slice(2)}`, f = (n) => join(work, `${tag}.${n}`);
  writeFileSync(f('dfw'), bytes);
  writeFileSync(f('in'), Buffer.from(x.buffer));
  const r = spawnSync(helper, [f('dfw'), f('in'), f('out'), '1', '12', '12'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const b = readFileSync(f('out')), ours = new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
  const { bytes: onnx, inShape, outShape } = graphOnnx(graph, 12, 12);
  assert.deepEqual(outShape, [1, 3, 16, 16]);
  const s = await ort.InferenceSession.create(onnx, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  const y = (await s.run({ x: new ort.Tensor('float32', engineToModelInput(x, graph.info), inShape) })).y.data;
  await s.release();
  return maxAbsDiff(y, engineToModelOutput(ours, graph.info));
}

test('ONNX export of a graph (every op and pad mode) matches our engine in onnxruntime-node', { skip }, async () => {
  const bytes = tinyGraph(), graph = readGraph(bytes), r = rng(3);
  const x = Float32Array.from({ length: 3 * 12 * 12 }, () => r());
  const d = await exportDiff(bytes, graph, x);
  assert.ok(d < 1e-4, `max |ORT - ours| = ${d} on the model's output range [-0.5, 2]`);
  // the comparison has teeth: the export with the symmetric pad taken as reflect, or the channel order ignored,
  // is far off
  const wrongPad = structuredClone(graph);
  wrongPad.nodes[0].mode = 1;
  assert.ok((await exportDiff(bytes, wrongPad, x)) > 1e-2, 'a wrong pad mode must be detected');
  const wrongOrder = { ...graph, info: { ...graph.info, bgr: false } };
  assert.ok((await exportDiff(bytes, wrongOrder, x)) > 1e-2, 'a wrong channel order must be detected');
});
