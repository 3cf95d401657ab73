// Gen forward in Node 20, one thread, warmed up: our wasm module vs onnxruntime-web (wasm backend) and
// @tensorflow/tfjs-backend-wasm (XNNPACK) on the same network and weights, plus our native build (bench_gen).
// Outputs are cross-checked (max |difference| printed) so that every runtime computes the same function.
//
//   node tools/bench/wasm_gen.mjs [--weights F.dfw] [--sizes 256,512] [--runs N] [--json OUT.json]
// Environment: DF_WASM_DIR (default build-wasm/wasm), DF_BUILD_DIR (default build; bench_gen, dadfi).
// Weights: --weights, else weights/gen.dfw, else a random width-16 Gen (dadfi gen-init): speed does not
// depend on the values.
import { readFileSync, writeFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createRequire } from 'node:module';
import { readDfw, runGenBench } from './gen_graph.mjs';
import { loadEngine } from '../../web/engine.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const require = createRequire(join(root, 'tools', 'package.json'));
const args = process.argv.slice(2), opt = { sizes: [256, 512], runs: 7 };
for (let i = 0; i < args.length; i++) {
  const a = args[i], v = args[++i];
  if (a === '--weights') opt.weights = v;
  else if (a === '--sizes') opt.sizes = v.split(',').map(Number);
  else if (a === '--runs') opt.runs = Number(v);
  else if (a === '--json') opt.json = v;
  else { console.error(`usage: node tools/bench/wasm_gen.mjs [--weights F] [--sizes 256,512] [--runs N] [--json OUT] (got '${a}')`); process.exit(2); }
}
const wasmDir = process.env.DF_WASM_DIR || join(root, 'build-wasm', 'wasm');
const buildDir = process.env.DF_BUILD_DIR || join(root, 'build');

const tmp = mkdtempSync(join(tmpdir(), 'dadfi-bench-'));
let weights = opt.weights || join(root, 'weights', 'gen.dfw');
if (!existsSync(weights)) {
  weights = join(tmp, 'gen.dfw');
  const r = spawnSync(join(buildDir, 'dadfi'), ['gen-init', '--width', '16', '--seed', '1', weights], { encoding: 'utf8' });
  if (r.status !== 0) { console.error(`no weights and no ${buildDir}/dadfi to make some: ${r.stderr || r.error}`); process.exit(1); }
}
const bytes = readFileSync(weights), dfw = readDfw(bytes);
console.log(`Gen width ${dfw.meta.width} (${weights}); Node ${process.version}; one thread; median of ${opt.runs} runs after warm-up`);

const engine = await loadEngine({ moduleUrl: pathToFileURL(join(wasmDir, 'dadfi-wasm.mjs')).href, wasmBinary: readFileSync(join(wasmDir, 'dadfi-wasm.wasm')) });
const gen = engine.loadGen(bytes);
const ort = require('onnxruntime-web');
ort.env.wasm.numThreads = 1;
ort.env.logLevel = 'error';
const tf = require('@tensorflow/tfjs-core');
const tfwasm = require('@tensorflow/tfjs-backend-wasm');
tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
tfwasm.setWasmPaths(join(dirname(require.resolve('@tensorflow/tfjs-backend-wasm')), '/'));
if (!(await tf.setBackend('wasm'))) throw new Error('tfjs wasm backend did not start');
const results = await runGenBench({ engine, gen, dfw, ort, tf, sizes: opt.sizes, runs: opt.runs, log: console.log });

// Native reference: bench_gen with AVX2 (the goal's reference) and the best ISA, one thread.
const benchGen = join(buildDir, 'bench_gen');
if (existsSync(benchGen)) {
  for (const isa of ['avx2', 'best']) {
    const env = { ...process.env };
    if (isa === 'best') delete env.DF_ISA; else env.DF_ISA = isa;
    const p = spawnSync(benchGen, ['--weights', weights, '--sizes', opt.sizes.join(','), '--runs', String(opt.runs), '--threads', '1'], { encoding: 'utf8', env });
    if (p.status !== 0) { console.log(`bench_gen (${isa}) failed: ${p.stderr}`); continue; }
    for (const line of p.stdout.trim().split('\n')) {
      const n = JSON.parse(line), r = results.find(q => q.size === n.size);
      if (!r) continue;
      r[`native_${n.isa}_ms`] = n.ms;
      console.log(`${n.size}x${n.size}: native ${n.isa} ${n.ms.toFixed(1)} ms (${n.gflops.toFixed(1)} GFLOP/s) | wasm/native speed ${(n.ms / r.oursMs).toFixed(2)}x` +
        (n.isa === 'avx2' ? ' (goal >= 0.35x)' : ''));
    }
  }
} else {
  console.log(`(no ${benchGen}: build the native tree for the wasm-vs-native ratio)`);
}
if (opt.json) writeFileSync(opt.json, JSON.stringify({ node: process.version, width: Number(dfw.meta.width), results }, null, 1));
rmSync(tmp, { recursive: true, force: true });
