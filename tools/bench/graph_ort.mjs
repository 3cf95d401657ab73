// Imported graphs (core/networks/graph.h, e.g. the CartoonGAN generators) against onnxruntime-node: the graph .dfw is
// rebuilt as an ONNX model here (same weights, the model's own channel order and pixel range, NCHW), checked against
// our engine (graph_run) on a real face, then both forward passes are timed in alternated rounds in this one script:
// one thread each (onnxruntime intra- and inter-op threads 1; ours DF_THREADS=1), then every core for both.
//
//   node tools/bench/graph_ort.mjs [MODEL.dfw] [--runs 7] [--all-runs 3] [--face PHOTO] [--size S] [--tol 1e-3]
//                                  [--onnx OUT.onnx] [--check-only]
//
// MODEL.dfw defaults to build/hosoda.dfw (written by tools/convert_tfjs_graph.mjs from ../shared); --face to the
// first image of ../shared/data/celeba_subset/images; S to the model's meta "size".  The face is prepared as the CLI
// does (`graph_run --prepare`: centred square, resized to S, RGB in [-1, 1]) and mapped to the model's convention for
// onnxruntime; our output is mapped back to the model's convention and the two compared there.  Exit 1 when the
// largest absolute difference exceeds --tol, 2 on a usage or file error.
//
// ONNX mapping: conv -> Conv (a reflect-padded one -> Pad reflect + Conv), convT -> ConvTranspose (weights are
// [cin, cout, k, k] in both), pad zero / reflect -> Pad constant / reflect, pad symmetric (ONNX has no such mode) ->
// Gather along H then W with the exact source indices (static shapes), instance norm -> InstanceNormalization, relu,
// tanh, add -> Relu, Tanh, Add.  The module's exports are used by tests/js/graph_ort.test.mjs.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { require, buildDir, sharedDir } from '../../tests/js/deps.mjs';
import { readDfw } from './gen_graph.mjs';
import { attrFloat, attrInt, attrInts, attrStr, node, onnxModel, tensor, valueInfo } from './onnx_proto.mjs';

export const OP = { CONV: 1, CONVT: 2, PAD: 3, INSTNORM: 4, RELU: 5, TANH: 6, ADD: 7 }; // graph.h
export const ROW = 12;
const PAD = { ZERO: 0, REFLECT: 1, SYMMETRIC: 2 };

/** The graph file's meta and node rows (graph.c's row layout), parsed from .dfw bytes. */
export function readGraph(bytes) {
  const dfw = readDfw(bytes), m = dfw.meta;
  if (m.arch !== 'dadfi-graph' || m.graph_version !== '1') throw new Error('not an imported graph (dadfi-graph, version 1)');
  const info = {
    inChannels: Number(m.in_channels), outChannels: Number(m.out_channels), bgr: m.channel_order === 'bgr',
    inMin: Number(m.in_min), inMax: Number(m.in_max), outMin: Number(m.out_min), outMax: Number(m.out_max),
    size: Number(m.size), sizeMultiple: Number(m.size_multiple), name: m.name || '',
  };
  const t = dfw.tensors.get('graph.nodes');
  if (!t || t.dims.length !== 2 || t.dims[1] !== ROW) throw new Error('graph.nodes missing or not [n, 12]');
  const nodes = [];
  for (let i = 0; i < t.dims[0]; i++) {
    const r = Array.from(t.data.subarray(i * ROW, (i + 1) * ROW));
    const nd = { op: r[0], in0: r[1], in1: r[2], row: r };
    const T = (s) => dfw.tensors.get(`n${i}.${s}`);
    if (nd.op === OP.CONV)
      Object.assign(nd, { cin: r[3], cout: r[4], kh: r[5], kw: r[6], stride: r[7], pad: r[8], mode: r[9], w: T('w'), b: r[10] ? T('b') : null });
    else if (nd.op === OP.CONVT)
      Object.assign(nd, { cin: r[3], cout: r[4], k: r[5], stride: r[6], pad: r[7], outPad: r[8], w: T('w'), b: r[9] ? T('b') : null });
    else if (nd.op === OP.PAD) Object.assign(nd, { pads: r.slice(3, 7), mode: r[7] }); // top, bottom, left, right
    else if (nd.op === OP.INSTNORM) Object.assign(nd, { C: r[3], eps: r[4], gamma: T('gamma'), beta: T('beta') });
    else if (![OP.RELU, OP.TANH, OP.ADD].includes(nd.op)) throw new Error(`node ${i}: unknown op ${nd.op}`);
    if ((nd.op === OP.CONV || nd.op === OP.CONVT) && (!nd.w || (nd.b === undefined))) throw new Error(`node ${i}: weights missing`);
    if (nd.op === OP.INSTNORM && (!nd.gamma || !nd.beta)) throw new Error(`node ${i}: gamma / beta missing`);
    nodes.push(nd);
  }
  return { info, nodes };
}

/** Value shapes [{C, H, W}] (value 0 = input, value i + 1 = node i's output) and the convolutions' FLOPs. */
export function graphShapes({ info, nodes }, H, W) {
  const v = [{ C: info.inChannels, H, W }];
  let flops = 0;
  nodes.forEach((nd, i) => {
    const a = v[nd.in0];
    let o = { ...a };
    if (nd.op === OP.CONV) {
      o = { C: nd.cout, H: Math.floor((a.H + 2 * nd.pad - nd.kh) / nd.stride) + 1, W: Math.floor((a.W + 2 * nd.pad - nd.kw) / nd.stride) + 1 };
      flops += 2 * o.H * o.W * nd.cout * nd.cin * nd.kh * nd.kw;
    } else if (nd.op === OP.CONVT) {
      const out = (n) => (n - 1) * nd.stride - 2 * nd.pad + nd.k + nd.outPad;
      o = { C: nd.cout, H: out(a.H), W: out(a.W) };
      flops += 2 * a.H * a.W * nd.cout * nd.cin * nd.k * nd.k;
    } else if (nd.op === OP.PAD) {
      o = { C: a.C, H: a.H + nd.pads[0] + nd.pads[1], W: a.W + nd.pads[2] + nd.pads[3] };
    }
    if (!(o.H >= 1 && o.W >= 1)) throw new Error(`input ${H}x${W} does not fit node ${i}`);
    v.push(o);
  });
  return { values: v, flops };
}

/** Source index of padded position i (relative to the image) for a length-n axis; graph.c's pad_src (not zero). */
function padSrc(i, n, mode) {
  if (i >= 0 && i < n) return i;
  if (mode === PAD.REFLECT) {
    if (n === 1) return 0;
    const p = 2 * (n - 1);
    i = ((i % p) + p) % p;
    return i < n ? i : p - i;
  }
  const p = 2 * n; // symmetric
  i = ((i % p) + p) % p;
  return i < n ? i : p - 1 - i;
}

/** ONNX model bytes of a graph for an input [1, in_channels, H, W] named "x" in the model's convention; output "y". */
export function graphOnnx(graph, H, W, { opset = 17 } = {}) {
  const { nodes } = graph, n = nodes.length, { values, flops } = graphShapes(graph, H, W);
  const name = (k) => (k === 0 ? 'x' : k === n ? 'y' : `v${k}`);
  const out = [], inits = [];
  const i64 = (xs) => BigInt64Array.from(xs.map((x) => BigInt(x)));
  const padNode = (i, x, y, [t, b, l, r], mode) => {
    inits.push(tensor(`n${i}.pads`, [8], i64([0, 0, t, l, 0, 0, b, r])));
    out.push(node('Pad', [x, `n${i}.pads`], [y], [attrStr('mode', mode === PAD.REFLECT ? 'reflect' : 'constant')]));
  };
  nodes.forEach((nd, i) => {
    const x = name(nd.in0), y = name(i + 1), a = values[nd.in0];
    if (nd.op === OP.CONV) {
      let src = x, p = nd.pad;
      if (nd.mode === PAD.REFLECT && p > 0) {
        padNode(i, x, `n${i}.padded`, [p, p, p, p], PAD.REFLECT);
        src = `n${i}.padded`, p = 0;
      }
      inits.push(tensor(`n${i}.w`, [nd.cout, nd.cin, nd.kh, nd.kw], nd.w.data));
      if (nd.b) inits.push(tensor(`n${i}.b`, [nd.cout], nd.b.data));
      out.push(node('Conv', nd.b ? [src, `n${i}.w`, `n${i}.b`] : [src, `n${i}.w`], [y], [
        attrInts('kernel_shape', [nd.kh, nd.kw]), attrInts('strides', [nd.stride, nd.stride]),
        attrInts('pads', [p, p, p, p]), attrInt('group', 1)]));
    } else if (nd.op === OP.CONVT) {
      inits.push(tensor(`n${i}.w`, [nd.cin, nd.cout, nd.k, nd.k], nd.w.data));
      if (nd.b) inits.push(tensor(`n${i}.b`, [nd.cout], nd.b.data));
      out.push(node('ConvTranspose', nd.b ? [x, `n${i}.w`, `n${i}.b`] : [x, `n${i}.w`], [y], [
        attrInts('kernel_shape', [nd.k, nd.k]), attrInts('strides', [nd.stride, nd.stride]),
        attrInts('pads', [nd.pad, nd.pad, nd.pad, nd.pad]), attrInts('output_padding', [nd.outPad, nd.outPad])]));
    } else if (nd.op === OP.PAD && nd.mode !== PAD.SYMMETRIC) {
      padNode(i, x, y, nd.pads, nd.mode);
    } else if (nd.op === OP.PAD) {
      // symmetric (edge repeated): no ONNX mode; a Gather per axis with graph.c's source indices is exact
      const [t, b, l, r] = nd.pads;
      const idx = (len, before, after) => i64(Array.from({ length: len + before + after }, (_, o) => padSrc(o - before, len, PAD.SYMMETRIC)));
      inits.push(tensor(`n${i}.rows`, [a.H + t + b], idx(a.H, t, b)), tensor(`n${i}.cols`, [a.W + l + r], idx(a.W, l, r)));
      out.push(node('Gather', [x, `n${i}.rows`], [`n${i}.padded_h`], [attrInt('axis', 2)]));
      out.push(node('Gather', [`n${i}.padded_h`, `n${i}.cols`], [y], [attrInt('axis', 3)]));
    } else if (nd.op === OP.INSTNORM) {
      inits.push(tensor(`n${i}.gamma`, [nd.C], nd.gamma.data), tensor(`n${i}.beta`, [nd.C], nd.beta.data));
      out.push(node('InstanceNormalization', [x, `n${i}.gamma`, `n${i}.beta`], [y], [attrFloat('epsilon', nd.eps)]));
    } else if (nd.op === OP.RELU) out.push(node('Relu', [x], [y]));
    else if (nd.op === OP.TANH) out.push(node('Tanh', [x], [y]));
    else if (nd.op === OP.ADD) out.push(node('Add', [x, name(nd.in1)], [y]));
  });
  const o = values[n], inShape = [1, values[0].C, H, W], outShape = [1, o.C, o.H, o.W];
  const bytes = onnxModel({ nodes: out, initializers: inits, inputs: [valueInfo('x', inShape)],
    outputs: [valueInfo('y', outShape)], name: graph.info.name || 'graph', opset });
  return { bytes, inShape, outShape, flops };
}

// ---------------------------------------------------------------- conventions (graph.c's graph_forward)
const chanSrc = (info, c) => (info.bgr ? 2 - c : c);
/** Engine input [C, H*W] (RGB, [-1, 1]) -> the model's channel order and input range. */
export function engineToModelInput(x, info) {
  const C = info.inChannels, hw = x.length / C, a = (info.inMax - info.inMin) / 2, b = (info.inMax + info.inMin) / 2;
  const m = new Float32Array(x.length);
  for (let c = 0; c < C; c++) for (let i = 0; i < hw; i++) m[c * hw + i] = a * x[chanSrc(info, c) * hw + i] + b;
  return m;
}
/** Engine output (RGB, [-1, 1]) -> the model's channel order and output range (graph_forward's map inverted). */
export function engineToModelOutput(y, info) {
  const C = info.outChannels, hw = y.length / C, h = (info.outMax - info.outMin) / 2;
  const m = new Float32Array(y.length);
  for (let c = 0; c < C; c++) for (let i = 0; i < hw; i++) m[c * hw + i] = (y[chanSrc(info, c) * hw + i] + 1) * h + info.outMin;
  return m;
}
export function maxAbsDiff(a, b) {
  if (a.length !== b.length) throw new Error(`sizes differ: ${a.length} vs ${b.length}`);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}

/** Our forward through graph_run (engine convention files): { ms (the timed forward, if repeat), y }. */
export function runOurs({ helper = join(buildDir, 'graph_run'), model, input, output, H, W, threads = 1, repeat = 0 }) {
  const env = { ...process.env };
  if (threads) env.DF_THREADS = String(threads);
  else delete env.DF_THREADS;
  const args = [model, input, output, '1', String(H), String(W)];
  if (repeat) args.push('--repeat', String(repeat));
  const r = spawnSync(helper, args, { encoding: 'utf8', env });
  if (r.status !== 0) throw new Error(`graph_run: ${r.stderr || r.error}`);
  const y = new Float32Array(readFileSync(output).buffer.slice(0));
  return { ms: repeat ? Number(/forward_ms ([\d.]+)/.exec(r.stdout)[1]) : NaN, y };
}

// ---------------------------------------------------------------- command line
const median = (xs) => {
  const s = [...xs].sort((p, q) => p - q), k = s.length >> 1;
  return s.length % 2 ? s[k] : (s[k - 1] + s[k]) / 2;
};

async function main() {
  const args = process.argv.slice(2);
  const opt = (k, d) => (args.includes(k) ? args[args.indexOf(k) + 1] : d);
  const flags = new Set(['--check-only']);
  const model = resolve(args[0] && !args[0].startsWith('--') ? args[0] : join(buildDir, 'hosoda.dfw'));
  const runs = Number(opt('--runs', 7)), allRuns = Number(opt('--all-runs', 3)), tol = Number(opt('--tol', 1e-3));
  const helper = join(buildDir, 'graph_run');
  for (let i = args[0] && !args[0].startsWith('--') ? 1 : 0; i < args.length; i += flags.has(args[i]) ? 1 : 2)
    if (!['--runs', '--all-runs', '--face', '--size', '--tol', '--onnx', ...flags].includes(args[i])) {
      console.error(`usage: node tools/bench/graph_ort.mjs [MODEL.dfw] [--runs N] [--all-runs N] [--face PHOTO] [--size S] [--tol T] [--onnx OUT.onnx] [--check-only] (got '${args[i]}')`);
      process.exit(2);
    }
  for (const f of [model, helper])
    if (!existsSync(f)) {
      console.error(`graph_ort: ${f} not found (convert the model with tools/convert_tfjs_graph.mjs / build graph_run)`);
      process.exit(2);
    }
  const faceDir = join(sharedDir, 'data', 'celeba_subset', 'images');
  const face = opt('--face', existsSync(faceDir) ? join(faceDir, readdirSync(faceDir).filter((f) => /\.(jpe?g|png)$/i.test(f)).sort()[0]) : '');
  if (!face || !existsSync(face)) {
    console.error(`graph_ort: no face photo (pass --face PHOTO; default: the first of ${faceDir})`);
    process.exit(2);
  }
  const ort = require('onnxruntime-node');
  const graph = readGraph(readFileSync(model));
  const S = Number(opt('--size', graph.info.size));
  const { bytes, inShape, outShape, flops } = graphOnnx(graph, S, S);
  if (opt('--onnx', null)) writeFileSync(opt('--onnx', null), bytes);

  const work = join(buildDir, 'bench-graph-ort');
  mkdirSync(work, { recursive: true });
  const inp = join(work, 'in.f32'), outp = join(work, 'out.f32');
  const prep = spawnSync(helper, ['--prepare', face, String(S), inp], { encoding: 'utf8' });
  if (prep.status !== 0) throw new Error(`graph_run --prepare: ${prep.stderr}`);
  const xEngine = new Float32Array(readFileSync(inp).buffer.slice(0));
  const feeds = { x: new ort.Tensor('float32', engineToModelInput(xEngine, graph.info), inShape) };
  const session = (threads) => ort.InferenceSession.create(bytes, {
    graphOptimizationLevel: 'all', executionMode: 'sequential',
    ...(threads ? { intraOpNumThreads: threads, interOpNumThreads: threads } : {}),
  });
  const ortRun = async (s) => {
    const t0 = performance.now();
    const r = await s.run(feeds);
    return { ms: performance.now() - t0, y: r.y.data };
  };

  // ---- check on the face
  const s1 = await session(1);
  const oursCheck = runOurs({ helper, model, input: inp, output: outp, H: S, W: S, threads: 1 });
  const ortCheck = await ortRun(s1);
  const diff = maxAbsDiff(ortCheck.y, engineToModelOutput(oursCheck.y, graph.info));
  const name = graph.info.name || basename(model);
  console.log(`model ${name}, ${S}x${S}, ${graph.nodes.length} nodes, ${(flops / 1e9).toFixed(1)} GFLOP per image, ` +
    `onnxruntime-node ${ort.env.versions?.common ?? ''}, ${cpus().length} cores (${cpus()[0]?.model ?? '?'})`);
  console.log(`check on ${basename(face)}: max |ORT - ours| = ${diff.toExponential(2)} on the model's output range ` +
    `[${graph.info.outMin}, ${graph.info.outMax}] (tolerance ${tol}), output [${outShape.join(', ')}]`);
  if (!(diff <= tol)) {
    console.error('graph_ort: FAIL: onnxruntime and our engine disagree');
    process.exit(1);
  }
  if (args.includes('--check-only')) return;

  // ---- speed: alternated rounds, the order swapped every round.  Each side gets a warm-up forward right before its
  // timed one: ours is a fresh graph_run per round (load, warm-up forward, one timed), onnxruntime one untimed run
  // then one timed (its first run after the other side's turn is up to 1.7x slower here, caches and pages gone cold).
  async function rounds(n, threads, s) {
    const o = [], t = [];
    for (let r = 0; r < n; r++) {
      const oursFirst = r % 2 === 0;
      if (oursFirst) o.push(runOurs({ helper, model, input: inp, output: outp, H: S, W: S, threads, repeat: 1 }).ms);
      await s.run(feeds); // warm-up
      t.push((await ortRun(s)).ms);
      if (!oursFirst) o.push(runOurs({ helper, model, input: inp, output: outp, H: S, W: S, threads, repeat: 1 }).ms);
    }
    return { o, t };
  }
  const line = (label, xs) => console.log(`${label.padEnd(32)} best ${Math.min(...xs).toFixed(0).padStart(6)} ms   median ` +
    `${median(xs).toFixed(0).padStart(6)} ms   (${xs.map((x) => x.toFixed(0)).join(' ')})`);
  const report = (what, { o, t }) => {
    line(`ours, ${what}`, o);
    line(`onnxruntime-node, ${what}`, t);
    const perRound = median(t.map((x, i) => x / o[i]));
    console.log(`ratio ORT / ours, ${what}: best ${(Math.min(...t) / Math.min(...o)).toFixed(2)}x, median ` +
      `${(median(t) / median(o)).toFixed(2)}x, median of per-round ratios ${perRound.toFixed(2)}x`);
    return { best: Math.min(...t) / Math.min(...o), perRound };
  };
  console.log(`forward, ${runs} alternated rounds, 1 thread each (ORT intra/inter-op 1, ours DF_THREADS=1)`);
  const r1 = report('1 thread', await rounds(runs, 1, s1));
  await s1.release();
  if (allRuns > 0) {
    const sAll = await session(0);
    console.log(`forward, ${allRuns} alternated rounds, all cores (ORT default threads, DF_THREADS unset)`);
    report('all cores', await rounds(allRuns, 0, sAll));
    await sAll.release();
  }
  const met = r1.best >= 1.5 && r1.perRound >= 1.5;
  console.log(`goal ORT / ours >= 1.5x at 1 thread (best of and median of per-round ratios): ${met ? 'MET' : 'NOT met'} ` +
    `(${r1.best.toFixed(2)}x, ${r1.perRound.toFixed(2)}x)`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((e) => {
    console.error(`graph_ort: ${e.stack || e.message}`);
    process.exit(2);
  });
}
