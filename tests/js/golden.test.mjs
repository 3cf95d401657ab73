// Golden tests: forward AND gradients of the C core's layers against @tensorflow/tfjs (pure-JS cpu
// backend, autodiff with tf.grads), an implementation written independently of this project.
// The C side runs in <build>/golden_runner (tests/tools/golden_runner.c), one case per call.
//
// Where a tfjs gradient kernel is itself wrong, the reference is rebuilt from ops whose gradients are right:
//   - ResizeBilinearGrad (cpu) ignores halfPixelCenters: bilinear resizing is expressed as R_y X R_x^T with the
//     interpolation matrices probed from tfjs's own (correct) forward resizeBilinear on unit vectors;
//   - MirrorPad's gradient only slices dy: reflect padding is done with tf.gather on reflected indices
//     (checked against tf.mirrorPad's forward);
//   - ResizeNearestNeighborGrad (cpu) is wrong for batch > 1: nearest upsampling runs on one image with the
//     batch folded into the channels (upNearest).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { require, buildDir } from './deps.mjs';

const runner = join(buildDir, 'golden_runner');
const haveRunner = existsSync(runner);
const inCtest = !!process.env.DF_BUILD_DIR;

let tf = null;
async function getTf() {
  if (!tf) {
    tf = require('@tensorflow/tfjs');
    await tf.setBackend('cpu');
  }
  return tf;
}

// ------------------------------------------------------------------ case I/O (format: golden_runner.c)
const work = mkdtempSync(join(tmpdir(), 'df-golden-'));
process.on('exit', () => rmSync(work, { recursive: true, force: true }));
let caseNo = 0;

function runC(op, ints, floats, tensors) {
  const parts = [];
  const i32 = (a) => Buffer.from(new Int32Array(a).buffer);
  const name = Buffer.alloc(32);
  name.write(op);
  parts.push(Buffer.from('DFG1'), name, i32([ints.length]), i32(ints), i32([floats.length]),
    Buffer.from(new Float32Array(floats).buffer), i32([tensors.length]));
  for (const t of tensors) parts.push(i32([t.length]), Buffer.from(new Float32Array(t).buffer));
  const inPath = join(work, `case${caseNo}.bin`), outPath = join(work, `result${caseNo++}.bin`);
  writeFileSync(inPath, Buffer.concat(parts));
  const r = spawnSync(runner, [inPath, outPath], { encoding: 'utf8' });
  if (r.status === 3) return { unsupported: (r.stderr || '').trim() };
  assert.equal(r.status, 0, `golden_runner ${op} failed (status ${r.status}): ${r.stderr}`);
  const buf = readFileSync(outPath);
  const res = new Map();
  let off = 4;
  for (let k = 0, nt = buf.readInt32LE(0); k < nt; k++) {
    const nm = buf.toString('latin1', off, off + 64).replace(/\0.*$/s, '');
    off += 64;
    const ndim = buf.readInt32LE(off);
    const dims = [0, 1, 2, 3].map((i) => buf.readInt32LE(off + 4 + 4 * i));
    off += 20;
    const n = dims.reduce((a, b) => a * b, 1);
    const data = new Float32Array(buf.buffer.slice(buf.byteOffset + off, buf.byteOffset + off + 4 * n));
    off += 4 * n;
    res.set(nm, { dims: dims.slice(0, ndim), data });
  }
  return res;
}

// ------------------------------------------------------------------ helpers
function prng(seed) { // mulberry32
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
function randArray(rnd, n, scale = 1, offset = 0) {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = offset + scale * (2 * rnd() - 1);
  return a;
}

// max |got - ref| <= tol * max(max |ref|, floor): normwise relative error
function expectClose(what, got, ref, tol = 1e-4, floor = 1e-3) {
  const r = ref instanceof Float32Array ? ref : Float32Array.from(ref);
  assert.equal(got.length, r.length, `${what}: ${got.length} values vs ${r.length}`);
  let err = 0, mag = floor, at = -1;
  for (let i = 0; i < r.length; i++) {
    const d = Math.abs(got[i] - r[i]);
    if (!(d <= err)) { err = d; at = i; }
    mag = Math.max(mag, Math.abs(r[i]));
  }
  if (process.env.GOLDEN_VERBOSE) console.log(`  ${what}: max error ${err.toExponential(2)} (scale ${mag.toExponential(2)})`);
  assert.ok(err <= tol * mag, `${what}: max error ${err.toExponential(3)} at ${at} (C ${got[at]}, tfjs ${r[at]}), ` +
    `scale ${mag.toExponential(3)}, tol ${tol}`);
}

// NCHW <-> NHWC, OIHW -> HWIO
const toNHWC = (a, [B, C, H, W]) => tf.tensor4d(a, [B, C, H, W]).transpose([0, 2, 3, 1]);
const fromNHWC = (t) => t.transpose([0, 3, 1, 2]);

// reflect padding of an NHWC tensor by gathers (differentiable); reflect(i) for i in [-p, n + p)
function reflectIdx(n, p) {
  const idx = [];
  for (let i = -p; i < n + p; i++) idx.push(i < 0 ? -i : i >= n ? 2 * (n - 1) - i : i);
  return tf.tensor1d(idx, 'int32');
}
function padNHWC(x, p, mode) {
  if (p === 0) return x;
  if (mode === 0) return tf.pad(x, [[0, 0], [p, p], [p, p], [0, 0]]);
  return tf.gather(tf.gather(x, reflectIdx(x.shape[1], p), 1), reflectIdx(x.shape[2], p), 2);
}

// conv2d (PyTorch semantics) on NHWC x with OIHW weight tensor w [cout, cin/groups, kh, kw]
function conv2dRef(x, w, b, { stride, pad, groups, padMode }) {
  const xp = padNHWC(x, pad, padMode);
  const cout = w.shape[0], cin = x.shape[3];
  let y;
  if (groups === 1) {
    y = tf.conv2d(xp, w.transpose([2, 3, 1, 0]), stride, 'valid');
  } else if (groups === cin && cout === cin) {
    y = tf.depthwiseConv2d(xp, w.transpose([2, 3, 0, 1]), stride, 'valid'); // [kh, kw, cin, 1]
  } else {
    const xs = tf.split(xp, groups, 3), ws = tf.split(w, groups, 0);
    y = tf.concat(xs.map((xg, g) => tf.conv2d(xg, ws[g].transpose([2, 3, 1, 0]), stride, 'valid')), 3);
  }
  return b ? tf.add(y, b) : y;
}

// instance norm written from tfjs ops: biased variance over H, W per (b, c), eps inside the sqrt
function instnormRef(x, gamma, beta, eps) {
  const { mean, variance } = tf.moments(x, [1, 2], true);
  return tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, eps))), gamma), beta);
}

// bilinear resize as R_y X R_x^T; R [m, n] probed column by column from tfjs's forward resizeBilinear
function interpMatrix(n, m) {
  const eye = tf.eye(n).reshape([n, 1, n, 1]);
  return tf.image.resizeBilinear(eye, [1, m], false, true).reshape([n, m]).transpose();
}
function resizeRef(x, OH, OW) { // x [BC, H, W]
  const [BC, H, W] = x.shape;
  const Ry = interpMatrix(H, OH), Rx = interpMatrix(W, OW);
  const t = tf.matMul(x.reshape([BC * H, W]), Rx, false, true).reshape([BC, H, OW]);
  const u = tf.matMul(t.transpose([0, 2, 1]).reshape([BC * OW, H]), Ry, false, true).reshape([BC, OW, OH]);
  return u.transpose([0, 2, 1]);
}

// nearest upsampling of NHWC x by s, batch folded into the channels (see the header comment)
function upNearest(x, s) {
  const [B, H, W, C] = x.shape;
  const y = x.transpose([1, 2, 0, 3]).reshape([1, H, W, B * C]);
  const u = tf.image.resizeNearestNeighbor(y, [H * s, W * s], false, false);
  return u.reshape([H * s, W * s, B, C]).transpose([2, 0, 1, 3]);
}

// Forward value and gradients of f(...args) with upstream gradient dy.
function refGrads(f, args, dy) {
  const out = f(...args);
  const grads = tf.grads(f)(args, dy);
  return { out, grads };
}

const data = (t) => t.dataSync();
const gradTol = 1e-4;

function requireRunner(t) {
  if (haveRunner) return true;
  if (inCtest) assert.fail(`golden_runner not found in ${buildDir} (build the tests/tools targets)`);
  t.skip(`golden_runner not built (looked in ${buildDir}; set DF_BUILD_DIR)`);
  return false;
}

// ------------------------------------------------------------------ cases
const convCases = [
  { name: '3x3 pad 1', B: 2, cin: 3, H: 9, W: 7, cout: 4, k: 3, stride: 1, pad: 1, groups: 1, padMode: 0, bias: 1 },
  { name: '3x3 stride 2', B: 1, cin: 4, H: 11, W: 10, cout: 5, k: 3, stride: 2, pad: 1, groups: 1, padMode: 0, bias: 1 },
  { name: '4x4 stride 2 pad 1', B: 2, cin: 3, H: 10, W: 9, cout: 4, k: 4, stride: 2, pad: 1, groups: 1, padMode: 0, bias: 0 },
  { name: '7x7 reflect pad 3', B: 1, cin: 3, H: 9, W: 11, cout: 2, k: 7, stride: 1, pad: 3, groups: 1, padMode: 1, bias: 1 },
  { name: '3x3 reflect stride 2', B: 2, cin: 2, H: 8, W: 7, cout: 3, k: 3, stride: 2, pad: 1, groups: 1, padMode: 1, bias: 0 },
  { name: '1x1', B: 2, cin: 5, H: 3, W: 7, cout: 3, k: 1, stride: 1, pad: 0, groups: 1, padMode: 0, bias: 1 },
  { name: 'depthwise 3x3', B: 2, cin: 6, H: 7, W: 9, cout: 6, k: 3, stride: 1, pad: 1, groups: 6, padMode: 0, bias: 1 },
  { name: 'depthwise 3x3 stride 2', B: 1, cin: 5, H: 9, W: 8, cout: 5, k: 3, stride: 2, pad: 1, groups: 5, padMode: 0, bias: 0 },
  { name: 'grouped (2 groups)', B: 2, cin: 4, H: 6, W: 5, cout: 6, k: 3, stride: 1, pad: 1, groups: 2, padMode: 0, bias: 1 },
  { name: 'wide (cin 17, cout 19)', B: 1, cin: 17, H: 8, W: 8, cout: 19, k: 3, stride: 1, pad: 1, groups: 1, padMode: 0, bias: 1 },
];

for (const cc of convCases) {
  test(`conv2d ${cc.name}`, async (t) => {
    if (!requireRunner(t)) return;
    await getTf();
    const rnd = prng(1000 + convCases.indexOf(cc));
    const { B, cin, H, W, cout, k, stride, pad, groups, padMode, bias } = cc;
    const OH = Math.floor((H + 2 * pad - k) / stride) + 1, OW = Math.floor((W + 2 * pad - k) / stride) + 1;
    const x = randArray(rnd, B * cin * H * W), w = randArray(rnd, cout * (cin / groups) * k * k, 0.5);
    const b = randArray(rnd, cout), dy = randArray(rnd, B * cout * OH * OW);
    const res = runC('conv2d', [B, cin, H, W, cout, k, k, stride, pad, groups, padMode, bias], [],
      bias ? [x, w, b, dy] : [x, w, dy]);
    tf.tidy(() => {
      if (padMode === 1) { // the gather-based reflect pad agrees with tf.mirrorPad's forward
        const xt = toNHWC(x, [B, cin, H, W]);
        expectClose('reflect pad', data(padNHWC(xt, pad, 1)),
          data(tf.mirrorPad(xt, [[0, 0], [pad, pad], [pad, pad], [0, 0]], 'reflect')), 0);
      }
      const f = (xt, wt, bt) => fromNHWC(conv2dRef(xt, wt, bias ? bt : null, { stride, pad, groups, padMode }));
      const args = [toNHWC(x, [B, cin, H, W]), tf.tensor4d(w, [cout, cin / groups, k, k])];
      if (bias) args.push(tf.tensor1d(b)); // tf.grads refuses inputs that do not reach the output
      const { out, grads } = refGrads(f, args, tf.tensor4d(dy, [B, cout, OH, OW]));
      expectClose('out', res.get('out').data, data(out));
      expectClose('dx', res.get('dx').data, data(fromNHWC(grads[0])), gradTol);
      expectClose('dw', res.get('dw').data, data(grads[1]), gradTol);
      if (bias) expectClose('db', res.get('db').data, data(grads[2]), gradTol);
    });
  });
}

const convTCases = [
  { name: '4x4 stride 2 pad 1', B: 2, cin: 4, H: 5, W: 6, cout: 3, k: 4, stride: 2, pad: 1, outPad: 0 },
  { name: '3x3 stride 2 pad 1 out_pad 1', B: 1, cin: 3, H: 4, W: 5, cout: 5, k: 3, stride: 2, pad: 1, outPad: 1 },
  { name: '3x3 stride 1 pad 0', B: 2, cin: 2, H: 5, W: 3, cout: 3, k: 3, stride: 1, pad: 0, outPad: 0 },
  { name: '2x2 stride 2 out_pad 1 > pad', B: 1, cin: 3, H: 3, W: 4, cout: 2, k: 2, stride: 2, pad: 0, outPad: 1 },
];

// PyTorch ConvTranspose2d: tf.conv2dTranspose 'valid' gives the full (H-1)s+k output; PyTorch's output row i is
// full row i + pad, rows past the full output (out_pad > pad) are zero before the bias.
function convTRef(x, w, b, { k, stride, pad, outPad }) {
  const [B, H, W] = x.shape;
  const FH = (H - 1) * stride + k, FW = (W - 1) * stride + k;
  const OH = FH - 2 * pad + outPad, OW = FW - 2 * pad + outPad;
  let y = tf.conv2dTranspose(x, w.transpose([2, 3, 1, 0]), [B, FH, FW, w.shape[1]], stride, 'valid');
  const extra = Math.max(0, pad + OH - FH);
  if (extra) y = tf.pad(y, [[0, 0], [0, extra], [0, extra], [0, 0]]);
  return tf.add(y.slice([0, pad, pad, 0], [B, OH, OW, w.shape[1]]), b);
}

for (const cc of convTCases) {
  test(`convT ${cc.name}`, async (t) => {
    if (!requireRunner(t)) return;
    await getTf();
    const rnd = prng(2000 + convTCases.indexOf(cc));
    const { B, cin, H, W, cout, k, stride, pad, outPad } = cc;
    const OH = (H - 1) * stride - 2 * pad + k + outPad, OW = (W - 1) * stride - 2 * pad + k + outPad;
    const x = randArray(rnd, B * cin * H * W), w = randArray(rnd, cin * cout * k * k, 0.5);
    const b = randArray(rnd, cout), dy = randArray(rnd, B * cout * OH * OW);
    const res = runC('convT', [B, cin, H, W, cout, k, stride, pad, outPad], [], [x, w, b, dy]);
    tf.tidy(() => {
      const f = (xt, wt, bt) => fromNHWC(convTRef(xt, wt, bt, cc));
      const args = [toNHWC(x, [B, cin, H, W]), tf.tensor4d(w, [cin, cout, k, k]), tf.tensor1d(b)];
      const { out, grads } = refGrads(f, args, tf.tensor4d(dy, [B, cout, OH, OW]));
      expectClose('out', res.get('out').data, data(out));
      expectClose('dx', res.get('dx').data, data(fromNHWC(grads[0])), gradTol);
      expectClose('dw', res.get('dw').data, data(grads[1]), gradTol);
      expectClose('db', res.get('db').data, data(grads[2]), gradTol);
    });
  });
}

const resampleCases = [
  { op: 'upsample_nearest', BC: 3, H: 5, W: 7, s: 2 },
  { op: 'upsample_nearest', BC: 2, H: 3, W: 4, s: 3 },
  { op: 'upsample_bilinear', BC: 3, H: 5, W: 7, s: 2 },
  { op: 'upsample_bilinear', BC: 2, H: 4, W: 3, s: 3 },
  { op: 'resize_bilinear', BC: 3, H: 7, W: 5, OH: 12, OW: 9 },
  { op: 'resize_bilinear', BC: 2, H: 9, W: 11, OH: 4, OW: 6 },
  { op: 'resize_bilinear', BC: 1, H: 6, W: 6, OH: 6, OW: 13 },
  { op: 'resize_bilinear', BC: 2, H: 4, W: 300, OH: 3, OW: 1030 },
];

for (const [ci, cc] of resampleCases.entries()) {
  const { op, BC, H, W } = cc;
  const OH = cc.s ? H * cc.s : cc.OH, OW = cc.s ? W * cc.s : cc.OW;
  test(`${op} ${H}x${W} -> ${OH}x${OW}`, async (t) => {
    if (!requireRunner(t)) return;
    await getTf();
    const rnd = prng(3000 + ci);
    const x = randArray(rnd, BC * H * W), dy = randArray(rnd, BC * OH * OW);
    const res = runC(op, cc.s ? [BC, H, W, cc.s] : [BC, H, W, OH, OW], [], [x, dy]);
    tf.tidy(() => {
      const xt = tf.tensor3d(x, [BC, H, W]);
      let f;
      if (op === 'upsample_nearest') {
        f = (a) => upNearest(a.expandDims(3), cc.s).squeeze([3]);
      } else {
        f = (a) => resizeRef(a, OH, OW);
        // the probed-matrix form agrees with tfjs's direct forward kernel
        expectClose('direct resizeBilinear', data(f(xt)),
          data(tf.image.resizeBilinear(xt.expandDims(3), [OH, OW], false, true).squeeze([3])), 1e-6);
      }
      const { out, grads } = refGrads(f, [xt], tf.tensor3d(dy, [BC, OH, OW]));
      expectClose('out', res.get('out').data, data(out));
      expectClose('dx', res.get('dx').data, data(grads[0]), gradTol);
    });
  });
}

// the second case has a variance comparable to eps: eps must sit inside the square root
for (const [ci, { B, C, H, W, eps, scale }] of [{ B: 2, C: 3, H: 7, W: 5, eps: 1e-5, scale: 2 },
  { B: 1, C: 4, H: 5, W: 3, eps: 0.1, scale: 0.3 }].entries()) test(`instance norm eps ${eps}`, async (t) => {
  if (!requireRunner(t)) return;
  await getTf();
  const rnd = prng(4000 + ci);
  const x = randArray(rnd, B * C * H * W, scale, 0.5), g = randArray(rnd, C, 1, 0.2), b = randArray(rnd, C);
  const dy = randArray(rnd, B * C * H * W);
  const res = runC('instnorm', [B, C, H * W], [eps], [x, g, b, dy]);
  tf.tidy(() => {
    const f = (xt, gt, bt) => fromNHWC(instnormRef(xt, gt, bt, eps));
    const { out, grads } = refGrads(f, [toNHWC(x, [B, C, H, W]), tf.tensor1d(g), tf.tensor1d(b)],
      tf.tensor4d(dy, [B, C, H, W]));
    expectClose('out', res.get('out').data, data(out));
    expectClose('dx', res.get('dx').data, data(fromNHWC(grads[0])), gradTol);
    expectClose('dgamma', res.get('dgamma').data, data(grads[1]), gradTol);
    expectClose('dbeta', res.get('dbeta').data, data(grads[2]), gradTol);
  });
});

for (const padMode of [0, 1]) {
  test(`residual block (conv3x3 IN ReLU conv3x3 IN + skip), ${padMode ? 'reflect' : 'zero'} padding`, async (t) => {
    if (!requireRunner(t)) return;
    await getTf();
    const rnd = prng(5000 + padMode);
    const B = 2, C = 4, H = 6, W = 7, eps = 1e-5;
    const x = randArray(rnd, B * C * H * W);
    const p = [randArray(rnd, C * C * 9, 0.4), randArray(rnd, C, 0.3, 1), randArray(rnd, C, 0.3),
      randArray(rnd, C * C * 9, 0.4), randArray(rnd, C, 0.3, 1), randArray(rnd, C, 0.3)];
    const dy = randArray(rnd, B * C * H * W);
    const res = runC('resblock', [B, C, H, W, padMode], [eps], [x, ...p, dy]);
    tf.tidy(() => {
      const opt = { stride: 1, pad: 1, groups: 1, padMode };
      const f = (xt, w1, g1, b1, w2, g2, b2) => {
        const a = tf.relu(instnormRef(conv2dRef(xt, w1, null, opt), g1, b1, eps));
        return fromNHWC(tf.add(xt, instnormRef(conv2dRef(a, w2, null, opt), g2, b2, eps)));
      };
      const args = [toNHWC(x, [B, C, H, W]), tf.tensor4d(p[0], [C, C, 3, 3]), tf.tensor1d(p[1]), tf.tensor1d(p[2]),
        tf.tensor4d(p[3], [C, C, 3, 3]), tf.tensor1d(p[4]), tf.tensor1d(p[5])];
      const { out, grads } = refGrads(f, args, tf.tensor4d(dy, [B, C, H, W]));
      expectClose('out', res.get('out').data, data(out));
      expectClose('dx', res.get('dx').data, data(fromNHWC(grads[0])), gradTol);
      ['dw1', 'dgamma1', 'dbeta1', 'dw2', 'dgamma2', 'dbeta2'].forEach((nm, i) =>
        expectClose(nm, res.get(nm).data, data(grads[i + 1]), gradTol));
    });
  });
}

const acts = [
  ['none', (x) => tf.mul(x, 1)], ['relu', (x) => tf.relu(x)], ['lrelu', (x) => tf.leakyRelu(x, 0.2)],
  ['relu6', (x) => tf.relu6(x)], ['tanh', (x) => tf.tanh(x)], ['sigmoid', (x) => tf.sigmoid(x)],
];
for (const [ai, [name, fn]] of acts.entries()) {
  test(`activation ${name}`, async (t) => {
    if (!requireRunner(t)) return;
    await getTf();
    const rnd = prng(6000 + ai), n = 101;
    const x = randArray(rnd, n, 8);
    for (let i = 0; i < n; i++) if (Math.abs(x[i]) < 1e-3 || Math.abs(x[i] - 6) < 1e-3) x[i] += 0.01; // no kinks
    const dy = randArray(rnd, n);
    const res = runC('act', [n, ai], [0.2], [x, dy]);
    tf.tidy(() => {
      const { out, grads } = refGrads(fn, [tf.tensor1d(x)], tf.tensor1d(dy));
      expectClose('out', res.get('out').data, data(out), 1e-6);
      expectClose('dx', res.get('dx').data, data(grads[0]), 1e-5);
    });
  });
}

test('linear', async (t) => {
  if (!requireRunner(t)) return;
  await getTf();
  const rnd = prng(7000);
  const B = 3, I = 17, O = 5;
  const x = randArray(rnd, B * I), w = randArray(rnd, O * I), b = randArray(rnd, O), dy = randArray(rnd, B * O);
  const res = runC('linear', [B, I, O], [], [x, w, b, dy]);
  tf.tidy(() => {
    const f = (xt, wt, bt) => tf.add(tf.matMul(xt, wt, false, true), bt);
    const { out, grads } = refGrads(f, [tf.tensor2d(x, [B, I]), tf.tensor2d(w, [O, I]), tf.tensor1d(b)],
      tf.tensor2d(dy, [B, O]));
    expectClose('out', res.get('out').data, data(out));
    expectClose('dx', res.get('dx').data, data(grads[0]), gradTol);
    expectClose('dw', res.get('dw').data, data(grads[1]), gradTol);
    expectClose('db', res.get('db').data, data(grads[2]), gradTol);
  });
});

// ------------------------------------------------------------------ Gen (keep last)
// Rebuilt from tfjs ops after core/networks/gen.h's architecture: the runner creates a Gen (width 4) and hands back
// its parameters by name; tfjs computes delta, d(sum(delta * dy))/dx and every parameter gradient.
test('Gen (width 4): delta, dx and parameter gradients', async (t) => {
  if (!requireRunner(t)) return;
  await getTf();
  const rnd = prng(8000);
  const B = 2, H = 16, W = 24, width = 4, outScale = 0.5, eps = 1e-5;
  const x = randArray(rnd, B * 3 * H * W), dy = randArray(rnd, B * 3 * H * W);
  const res = runC('gen', [B, H, W, width, 42], [outScale], [x, dy]);
  if (res.unsupported) {
    if (/unsupported op/.test(res.unsupported)) {
      t.skip(`the runner was built without Gen support: ${res.unsupported}`);
      return;
    }
    assert.fail(`Gen failed in the runner: ${res.unsupported}`);
  }
  const names = [...res.keys()].filter((k) => k.startsWith('p:')).map((k) => k.slice(2));
  const layers = ['enc1', 'enc2', 'enc3'];
  for (let r = 1; r <= 4; r++) layers.push(`res${r}.a`, `res${r}.b`);
  layers.push('dec1', 'dec2', 'dec3', 'out');
  const expected = layers.flatMap((l) => (l === 'out' ? [`${l}.w`, `${l}.bias`] : [`${l}.w`, `${l}.gamma`, `${l}.beta`]));
  assert.deepEqual([...names].sort(), [...expected].sort(), 'Gen parameter names');
  tf.tidy(() => {
    const pt = names.map((nm) => tf.tensor(res.get(`p:${nm}`).data, res.get(`p:${nm}`).dims));
    const f = (xt, ...ps) => {
      const P = Object.fromEntries(names.map((nm, i) => [nm, ps[i]]));
      const conv = (h, l, stride) => conv2dRef(h, P[`${l}.w`], P[`${l}.bias`] || null, { stride, pad: 1, groups: 1, padMode: 0 });
      const inr = (h, l) => instnormRef(h, P[`${l}.gamma`], P[`${l}.beta`], eps);
      let h = xt;
      for (const l of ['enc1', 'enc2', 'enc3']) h = tf.relu(inr(conv(h, l, 2), l));
      for (let r = 1; r <= 4; r++) {
        const a = tf.relu(inr(conv(h, `res${r}.a`, 1), `res${r}.a`));
        h = tf.add(h, inr(conv(a, `res${r}.b`, 1), `res${r}.b`));
      }
      for (const l of ['dec1', 'dec2', 'dec3']) {
        h = tf.relu(inr(conv(upNearest(h, 2), l, 1), l));
      }
      return fromNHWC(tf.mul(tf.tanh(conv(h, 'out', 1)), outScale));
    };
    const { out, grads } = refGrads(f, [toNHWC(x, [B, 3, H, W]), ...pt], tf.tensor4d(dy, [B, 3, H, W]));
    expectClose('delta', res.get('delta').data, data(out), 1e-4);
    expectClose('dx', res.get('dx').data, data(fromNHWC(grads[0])), gradTol);
    names.forEach((nm, i) => expectClose(`d ${nm}`, res.get(`g:${nm}`).data, data(grads[i + 1]), gradTol));
  });
});
