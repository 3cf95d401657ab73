// Gen (core/networks/gen.h) rebuilt for the benchmark peers from the same .dfw weights: an ONNX model written here
// (with onnx_proto.mjs, for onnxruntime-web) and a tfjs function built from tfjs ops (for tfjs-backend-wasm).
// Browser- and Node-safe (no Node imports).  Layer list as in core/networks/gen.c build():
//   enc1..3: conv3x3/s2 IN ReLU; res1..4: {a: conv IN ReLU, b: conv IN, + output before the block};
//   dec1..3: nearest x2, conv IN ReLU; out: conv (+bias), tanh; delta = out_scale * tanh.

import { attrFloat, attrInts, attrStr, node, onnxModel, tensor, valueInfo } from './onnx_proto.mjs';

// ---------------------------------------------------------------- .dfw reader (format in core/io/dfw.h)
export function readDfw(bytes) {
  const u8 = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  const dv = new DataView(u8.buffer, u8.byteOffset, u8.byteLength), dec = new TextDecoder();
  if (u8.length < 32 || dec.decode(u8.subarray(0, 4)) !== 'DFW1') throw new Error('not a .dfw file');
  if (dv.getUint32(4, true) !== 1) throw new Error(`.dfw version ${dv.getUint32(4, true)} (this reader knows 1)`);
  const nMeta = dv.getUint32(8, true), nTensors = dv.getUint32(12, true);
  const meta = {}, tensors = new Map(), heads = [];
  let pos = 32;
  for (let i = 0; i < nMeta; i++) {
    const kl = dv.getUint16(pos, true), k = dec.decode(u8.subarray(pos + 2, pos + 2 + kl));
    const vl = dv.getUint32(pos + 2 + kl, true);
    meta[k] = dec.decode(u8.subarray(pos + 6 + kl, pos + 6 + kl + vl));
    pos += 6 + kl + vl;
  }
  for (let i = 0; i < nTensors; i++) {
    const nl = dv.getUint16(pos, true), name = dec.decode(u8.subarray(pos + 2, pos + 2 + nl));
    if (u8[pos + 2 + nl] !== 0) throw new Error(`.dfw tensor ${name}: not float32`);
    pos += 2 + nl + 1; // name, dtype
    const ndim = u8[pos++], dims = [];
    for (let d = 0; d < ndim; d++, pos += 4) dims.push(dv.getUint32(pos, true));
    heads.push({ name, dims, offset: Number(dv.getBigUint64(pos, true)), nbytes: Number(dv.getBigUint64(pos + 8, true)) });
    pos += 16;
  }
  const start = Math.ceil(pos / 64) * 64;
  for (const h of heads) {
    if (start + h.offset + h.nbytes > u8.length || h.nbytes !== 4 * h.dims.reduce((a, b) => a * b, 1))
      throw new Error(`.dfw tensor ${h.name}: outside the file or misshaped`);
    const data = new Float32Array(h.nbytes / 4);
    new Uint8Array(data.buffer).set(u8.subarray(start + h.offset, start + h.offset + h.nbytes));
    tensors.set(h.name, { dims: h.dims, data });
  }
  return { meta, tensors };
}

/** The layer list of a Gen weight file: [{name, cin, cout, stride, up, norm, act, skip}] and out_scale. */
export function genLayers(dfw) {
  const c = Number(dfw.meta.width), L = [];
  const add = (name, cin, cout, stride, up, norm, act, skip = -1) => L.push({ name, cin, cout, stride, up, norm, act, skip });
  add('enc1', 3, c, 2, 0, 1, 'relu');
  add('enc2', c, 2 * c, 2, 0, 1, 'relu');
  add('enc3', 2 * c, 4 * c, 2, 0, 1, 'relu');
  for (let r = 1; r <= 4; r++) {
    const skip = L.length - 1;
    add(`res${r}.a`, 4 * c, 4 * c, 1, 0, 1, 'relu');
    add(`res${r}.b`, 4 * c, 4 * c, 1, 0, 1, 'none', skip);
  }
  add('dec1', 4 * c, 2 * c, 1, 1, 1, 'relu');
  add('dec2', 2 * c, c, 1, 1, 1, 'relu');
  add('dec3', c, c, 1, 1, 1, 'relu');
  add('out', c, 3, 1, 0, 0, 'tanh');
  for (const l of L) {
    const w = dfw.tensors.get(`${l.name}.w`);
    if (!w || w.dims.join() !== [l.cout, l.cin, 3, 3].join()) throw new Error(`Gen weights: ${l.name}.w missing or misshaped`);
  }
  return { layers: L, outScale: Number(dfw.meta.out_scale) };
}

// ---------------------------------------------------------------- ONNX (protobuf written by onnx_proto.mjs)
/** ONNX model bytes of Gen: input "x" [1,3,H,W] (H, W multiples of 8, symbolic), output "delta". */
export function genOnnx(dfw) {
  const { layers, outScale } = genLayers(dfw), nodes = [], inits = [], outs = [];
  let x = 'x';
  inits.push(tensor('up_scales', [4], Float32Array.of(1, 1, 2, 2)), tensor('out_scale', [], Float32Array.of(outScale)));
  layers.forEach((l, i) => {
    const T = s => dfw.tensors.get(`${l.name}.${s}`).data;
    if (l.up) {
      nodes.push(node('Resize', [x, '', 'up_scales'], [`${l.name}.up`], [attrStr('mode', 'nearest'),
        attrStr('coordinate_transformation_mode', 'asymmetric'), attrStr('nearest_mode', 'floor')]));
      x = `${l.name}.up`;
    }
    inits.push(tensor(`${l.name}.w`, [l.cout, l.cin, 3, 3], T('w')));
    const convIn = [x, `${l.name}.w`];
    if (!l.norm) { inits.push(tensor(`${l.name}.bias`, [l.cout], T('bias'))); convIn.push(`${l.name}.bias`); }
    nodes.push(node('Conv', convIn, [`${l.name}.conv`], [attrInts('kernel_shape', [3, 3]), attrInts('pads', [1, 1, 1, 1]), attrInts('strides', [l.stride, l.stride])]));
    x = `${l.name}.conv`;
    if (l.norm) {
      inits.push(tensor(`${l.name}.gamma`, [l.cout], T('gamma')), tensor(`${l.name}.beta`, [l.cout], T('beta')));
      nodes.push(node('InstanceNormalization', [x, `${l.name}.gamma`, `${l.name}.beta`], [`${l.name}.in`], [attrFloat('epsilon', 1e-5)]));
      x = `${l.name}.in`;
    }
    if (l.act !== 'none') { nodes.push(node(l.act === 'relu' ? 'Relu' : 'Tanh', [x], [`${l.name}.act`])); x = `${l.name}.act`; }
    if (l.skip >= 0) { nodes.push(node('Add', [x, outs[l.skip]], [`${l.name}.add`])); x = `${l.name}.add`; }
    outs[i] = x;
  });
  nodes.push(node('Mul', [x, 'out_scale'], ['delta']));
  return onnxModel({ nodes, initializers: inits, inputs: [valueInfo('x', [1, 3, 'H', 'W'])],
    outputs: [valueInfo('delta', [1, 3, 'H', 'W'])], name: 'gen', opset: 17 });
}

// ---------------------------------------------------------------- tfjs
/** A function x (tf.Tensor [1,H,W,3], NHWC) -> delta [1,H,W,3], built from tfjs ops with Gen's weights. */
export function genTfjs(tf, dfw) {
  const { layers, outScale } = genLayers(dfw);
  const P = layers.map(l => {
    const T = s => dfw.tensors.get(`${l.name}.${s}`).data;
    // OIHW -> HWIO
    const w = tf.transpose(tf.tensor4d(T('w'), [l.cout, l.cin, 3, 3]), [2, 3, 1, 0]);
    return {
      w: tf.keep(w),
      gamma: l.norm ? tf.keep(tf.tensor1d(T('gamma'))) : null, beta: l.norm ? tf.keep(tf.tensor1d(T('beta'))) : null,
      bias: l.norm ? null : tf.keep(tf.tensor1d(T('bias'))),
    };
  });
  return x => tf.tidy(() => {
    const outs = [];
    layers.forEach((l, i) => {
      if (l.up) x = tf.image.resizeNearestNeighbor(x, [2 * x.shape[1], 2 * x.shape[2]]);
      x = tf.conv2d(x, P[i].w, l.stride, 1);
      if (P[i].bias) x = tf.add(x, P[i].bias);
      if (l.norm) {
        const { mean, variance } = tf.moments(x, [1, 2], true);
        x = tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, 1e-5))), P[i].gamma), P[i].beta);
      }
      if (l.act === 'relu') x = tf.relu(x); else if (l.act === 'tanh') x = tf.tanh(x);
      if (l.skip >= 0) x = tf.add(x, outs[l.skip]);
      outs[i] = x;
    });
    return tf.mul(x, outScale);
  });
}

/** Deterministic test input [3,H,W] in [-1, 1] (a face-like smooth pattern plus texture). */
export function benchInput(H, W) {
  const x = new Float32Array(3 * H * W);
  for (let c = 0; c < 3; c++)
    for (let y = 0; y < H; y++)
      for (let i = 0; i < W; i++)
        x[(c * H + y) * W + i] = 0.6 * Math.sin((i + 3 * c) / 17) * Math.cos(y / 23) + 0.1 * Math.sin(i * 1.7 + y * 2.3);
  return x;
}
export const nchwToNhwc = (x, H, W) => { const o = new Float32Array(x.length); for (let c = 0; c < 3; c++) for (let p = 0; p < H * W; p++) o[p * 3 + c] = x[c * H * W + p]; return o; };
export const maxAbsDiff = (a, b) => { let m = 0; for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i])); return m; };

/** Median of fn() (ms) over `runs` after `warm` warm-up calls; fn may be async. */
export async function timeIt(fn, { warm = 3, runs = 7 } = {}) {
  for (let i = 0; i < warm; i++) await fn();
  const t = [];
  for (let i = 0; i < runs; i++) { const t0 = performance.now(); await fn(); t.push(performance.now() - t0); }
  t.sort((a, b) => a - b);
  return t[t.length >> 1];
}

/**
 * Gen forward at each size in three runtimes on the same weights: our wasm (engine, gen), onnxruntime-web
 * (ort: its module, wasm backend, one thread) and tfjs-backend-wasm (tf, backend already set).  Checks that the
 * three agree and returns [{size, gflop, oursMs, ortMs, tfMs, diffOrt, diffTf}]; log(line) for each size.
 */
export async function runGenBench({ engine, gen, dfw, ort, tf, sizes, runs, log = () => {} }) {
  const session = await ort.InferenceSession.create(genOnnx(dfw), { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
  const tfGen = genTfjs(tf, dfw), results = [];
  for (const S of sizes) {
    const x = benchInput(S, S), flop = engine.genFlops(gen, S, S);
    const ours = engine.genForward(gen, x, S, S);
    const oursMs = await timeIt(() => engine.genForward(gen, x, S, S), { runs });
    const feeds = { x: new ort.Tensor('float32', x, [1, 3, S, S]) };
    const ortOut = (await session.run(feeds)).delta.data;
    const ortMs = await timeIt(() => session.run(feeds), { runs });
    const xt = tf.tensor4d(nchwToNhwc(x, S, S), [1, S, S, 3]);
    const tfRun = async () => { const y = tfGen(xt), d = await y.data(); y.dispose(); return d; };
    const tfOut = await tfRun(); // NHWC
    const tfMs = await timeIt(tfRun, { runs });
    xt.dispose();
    const r = { size: S, gflop: flop / 1e9, oursMs, ortMs, tfMs, diffOrt: maxAbsDiff(ours, ortOut), diffTf: maxAbsDiff(nchwToNhwc(ours, S, S), tfOut) };
    if (r.diffOrt > 1e-3 || r.diffTf > 1e-3) throw new Error(`${S}: the runtimes disagree (ort ${r.diffOrt}, tfjs ${r.diffTf})`);
    results.push(r);
    log(`${S}x${S}: ${r.gflop.toFixed(2)} GFLOP | ours wasm ${oursMs.toFixed(1)} ms (${(flop / oursMs / 1e6).toFixed(1)} GFLOP/s)` +
      ` | onnxruntime-web ${ortMs.toFixed(1)} ms | tfjs-wasm ${tfMs.toFixed(1)} ms` +
      ` | speed-up vs ort ${(ortMs / oursMs).toFixed(2)}x (goal 1.5), vs tfjs ${(tfMs / oursMs).toFixed(2)}x (goal 1.2)` +
      ` | max |diff| ort ${r.diffOrt.toExponential(1)}, tfjs ${r.diffTf.toExponential(1)}`);
  }
  await session.release();
  return results;
}
