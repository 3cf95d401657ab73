// Forward speed of an imported graph (CartoonGAN by default) against tfjs running the same model.json, in one script
// on one machine: ours (build/graph_run) and tfjs' XNNPACK wasm backend (@tensorflow/tfjs-backend-wasm), both on one
// thread, plus ours on every core (DF_THREADS unset).  Best of N runs after a warm-up.
//
//   node tools/bench/graph_tfjs.mjs [MODEL_DIR] [--size 256] [--runs 3] [--order bgr]
//     MODEL_DIR defaults to ../shared/models/cartoongan-tfjs/hosoda; the converted .dfw goes to the build directory.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { require, buildDir, sharedDir } from '../../tests/js/deps.mjs';
import { convertTfjsGraph, readTfjsGraph } from '../convert_tfjs_graph.mjs';

const args = process.argv.slice(2);
const opt = (k, d) => (args.includes(k) ? args[args.indexOf(k) + 1] : d);
const dir = args[0] && !args[0].startsWith('--') ? args[0] : join(sharedDir, 'models', 'cartoongan-tfjs', 'hosoda');
const S = Number(opt('--size', 256)), runs = Number(opt('--runs', 3)), order = opt('--order', 'bgr');

const { model, shards } = readTfjsGraph(dir);
const conv = convertTfjsGraph(model, shards, { order });
const work = join(buildDir, 'bench-graph');
mkdirSync(work, { recursive: true });
const dfw = join(work, 'model.dfw'), inp = join(work, 'in.f32');
writeFileSync(dfw, conv.dfw);
const x = new Float32Array(3 * S * S);
for (let i = 0; i < x.length; i++) x[i] = Math.sin(i * 0.37) * 0.9;
writeFileSync(inp, Buffer.from(x.buffer));

function ours(threads) {
  const env = { ...process.env };
  if (threads) env.DF_THREADS = String(threads);
  else delete env.DF_THREADS;
  const r = spawnSync(join(buildDir, 'graph_run'), [dfw, inp, join(work, 'out.f32'), '1', String(S), String(S), '--repeat', String(runs)], { encoding: 'utf8', env });
  if (r.status !== 0) throw new Error(r.stderr);
  return Number(/forward_ms ([\d.]+)/.exec(r.stdout)[1]);
}

async function tfjsWasm() {
  const tf = require('@tensorflow/tfjs');
  require('@tensorflow/tfjs-backend-wasm');
  await tf.setBackend('wasm');
  const weightSpecs = model.weightsManifest.flatMap((g) => g.weights);
  const wd = Buffer.concat(shards);
  const net = await tf.loadGraphModel({ load: async () => ({ modelTopology: model.modelTopology, weightSpecs, weightData: wd.buffer.slice(wd.byteOffset, wd.byteOffset + wd.byteLength) }) });
  const xt = tf.randomUniform([1, S, S, 3], -1, 1);
  net.execute(xt).dataSync(); // warm-up
  let best = Infinity;
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    const y = net.execute(xt);
    y.dataSync();
    best = Math.min(best, performance.now() - t0);
    y.dispose();
  }
  return best;
}

const o1 = ours(1), oall = ours(0), tw = await tfjsWasm();
console.log(`model ${dir.split('/').slice(-1)[0]}, ${S}x${S}, ${conv.nodes} nodes, ${(conv.params / 1e6).toFixed(2)} M parameters, best of ${runs}`);
console.log(`ours, 1 thread              ${o1.toFixed(0).padStart(7)} ms`);
console.log(`ours, all cores             ${oall.toFixed(0).padStart(7)} ms`);
console.log(`tfjs-backend-wasm, 1 thread ${tw.toFixed(0).padStart(7)} ms`);
console.log(`ratio tfjs-wasm / ours (1 thread each): ${(tw / o1).toFixed(2)}x`);
