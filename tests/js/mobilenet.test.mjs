// MobileNet v1 features (the Frechet distance's feature extractor): our C forward on the converted .dfw against
// tfjs running the original Keras layers model, on the same images; the 768-d global-average-pool outputs must
// agree within 1e-3.  The perceptual distance (mobilenet_perceptual, eval's protection.perceptual) against the
// same computation on the tfjs model's intermediate layers, on two CelebA faces at their native size (the
// centred window of multiples of 32), within 1e-4 relative; and it is 0 for identical images and grows with
// the amplitude of added noise.  Skips when the shared model, faces or the helper program are absent.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { require, buildDir, sharedDir } from './deps.mjs';
import { convertMobilenet } from '../../tools/convert_mobilenet.mjs';

const modelDir = join(sharedDir, 'models', 'mobilenet-v1-0.75-224');
const helper = join(buildDir, 'mobilenet_features');
const skip = !existsSync(join(modelDir, 'model.json'))
  ? `shared model absent: ${modelDir}`
  : !existsSync(helper) && `helper not built: ${helper} (set DF_BUILD_DIR)`;

const S = 224;

// Deterministic test pictures [3, S, S] in [-1, 1]: smooth colour gradients, a disc, stripes and noise, so that
// every layer sees structure at several scales.
function picture(seed) {
  const x = new Float32Array(3 * S * S);
  let s = seed * 2654435761 + 1;
  const rnd = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296);
  const cx = 80 + 60 * rnd(), cy = 80 + 60 * rnd(), r = 40 + 30 * rnd(), f = 0.05 + 0.2 * rnd();
  for (let c = 0; c < 3; c++)
    for (let y = 0; y < S; y++)
      for (let xx = 0; xx < S; xx++) {
        let v = Math.sin((xx * (c + 1)) / 37 + seed) * 0.4 + ((y - S / 2) / S) * (c - 1) * 0.8;
        if ((xx - cx) ** 2 + (y - cy) ** 2 < r * r) v = 0.7 - 0.5 * c;
        if (y > 170) v += 0.3 * Math.sign(Math.sin(xx * f));
        v += 0.15 * (rnd() - 0.5);
        x[(c * S + y) * S + xx] = Math.max(-1, Math.min(1, v));
      }
  return x;
}

// The Keras layers model; inputShape [H, W] replaces the input layer's 224 x 224 (convolutions take any size).
async function loadTfjs(tf, inputShape) {
  const model = JSON.parse(readFileSync(join(modelDir, 'model.json'), 'utf8'));
  if (inputShape) {
    const input = model.modelTopology.model_config.config.layers.find((l) => l.class_name === 'InputLayer');
    input.config.batch_input_shape = [null, ...inputShape, 3];
  }
  const weightSpecs = model.weightsManifest.flatMap((g) => g.weights);
  const weightData = Buffer.concat(model.weightsManifest.flatMap((g) => g.paths.map((p) => readFileSync(join(modelDir, p)))));
  const handler = {
    load: async () => ({
      modelTopology: model.modelTopology,
      weightSpecs,
      weightData: weightData.buffer.slice(weightData.byteOffset, weightData.byteOffset + weightData.byteLength),
    }),
  };
  return tf.loadLayersModel(handler);
}

async function tfjsFeatures(tf, images) {
  const net = await loadTfjs(tf);
  const feat = tf.model({ inputs: net.inputs, outputs: net.getLayer('global_average_pooling2d_1').output });
  const B = images.length;
  const nhwc = new Float32Array(B * S * S * 3);
  images.forEach((img, b) => {
    for (let c = 0; c < 3; c++)
      for (let i = 0; i < S * S; i++) nhwc[(b * S * S + i) * 3 + c] = img[c * S * S + i];
  });
  const out = feat.predict(tf.tensor4d(nhwc, [B, S, S, 3]));
  return out.dataSync();
}

test('MobileNet v1 features match tfjs within 1e-3', { skip, timeout: 600000 }, async () => {
  const tf = require('@tensorflow/tfjs');
  await tf.setBackend('cpu');
  const dir = mkdtempSync(join(tmpdir(), 'dadfi-mobilenet-'));
  try {
    const weights = join(dir, 'mobilenet.dfw');
    writeFileSync(weights, convertMobilenet(modelDir));
    const images = [picture(1), picture(2)];
    const raw = new Float32Array(images.length * 3 * S * S);
    images.forEach((img, b) => raw.set(img, b * 3 * S * S));
    writeFileSync(join(dir, 'in.f32'), Buffer.from(raw.buffer));
    const r = spawnSync(helper, [weights, join(dir, 'in.f32'), join(dir, 'out.f32'), String(images.length), String(S)], {
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr);
    const buf = readFileSync(join(dir, 'out.f32'));
    const ours = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
    const ref = await tfjsFeatures(tf, images);
    assert.equal(ours.length, ref.length);
    assert.equal(ref.length, images.length * 768);
    let maxd = 0, maxv = 0, nonzero = 0, between = 0;
    for (let i = 0; i < ref.length; i++) {
      maxd = Math.max(maxd, Math.abs(ours[i] - ref[i]));
      maxv = Math.max(maxv, Math.abs(ref[i]));
      nonzero += ref[i] > 1e-3;
    }
    for (let i = 0; i < 768; i++) between = Math.max(between, Math.abs(ref[i] - ref[768 + i]));
    console.log(`mobilenet features: max |ours - tfjs| = ${maxd.toExponential(3)}, max |feature| = ${maxv.toFixed(3)}, ` +
      `${nonzero} of ${ref.length} active, max difference between the two images ${between.toFixed(3)}`);
    assert.ok(nonzero > ref.length / 10, 'features should not be mostly zero');
    assert.ok(between > 0.05, 'the two images should give different features');
    assert.ok(maxd <= 1e-3, `max |ours - tfjs| = ${maxd}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const faceDir = join(sharedDir, 'data', 'celeba_subset', 'images');
const faces = ['000004.jpg', '000017.jpg'].map((f) => join(faceDir, f));
const skipPerceptual = skip || (!faces.every(existsSync) && `shared faces absent: ${faces.join(', ')}`);
const TAPS = ['conv1_relu', 'conv_pw_1_relu', 'conv_pw_3_relu', 'conv_pw_5_relu', 'conv_pw_11_relu'];

// The LPIPS-style distance in tfjs: intermediate ReLU6 outputs of the layers model for the two images (NHWC),
// every position's channel vector divided by its norm + 1e-10, squared difference summed over channels, mean
// over positions, mean over the taps.
async function tfjsPerceptual(tf, a, b, H, W, ch, cw) {
  const net = await loadTfjs(tf, [ch, cw]);
  const taps = tf.model({ inputs: net.inputs, outputs: TAPS.map((n) => net.getLayer(n).output) });
  const oy = (H - ch) >> 1, ox = (W - cw) >> 1;
  const nhwc = new Float32Array(2 * ch * cw * 3);
  [a, b].forEach((img, k) => {
    for (let c = 0; c < 3; c++)
      for (let y = 0; y < ch; y++)
        for (let x = 0; x < cw; x++) nhwc[((k * ch + y) * cw + x) * 3 + c] = img[(c * H + oy + y) * W + ox + x];
  });
  const outs = taps.predict(tf.tensor4d(nhwc, [2, ch, cw, 3]));
  return outs.map((t) => {
    const [, h, w, C] = t.shape;
    const v = t.dataSync(), P = h * w;
    let sum = 0;
    for (let p = 0; p < P; p++) {
      let na = 0, nb = 0;
      for (let c = 0; c < C; c++) {
        na += v[p * C + c] ** 2;
        nb += v[(P + p) * C + c] ** 2;
      }
      na = 1 / (Math.sqrt(na) + 1e-10);
      nb = 1 / (Math.sqrt(nb) + 1e-10);
      for (let c = 0; c < C; c++) sum += (v[p * C + c] * na - v[(P + p) * C + c] * nb) ** 2;
    }
    return sum / P;
  });
}

test('MobileNet perceptual distance matches tfjs within 1e-4 relative; 0 when identical, grows with noise',
  { skip: skipPerceptual, timeout: 600000 }, async () => {
  const tf = require('@tensorflow/tfjs');
  await tf.setBackend('cpu');
  const dir = mkdtempSync(join(tmpdir(), 'dadfi-perceptual-'));
  try {
    const weights = join(dir, 'mobilenet.dfw');
    writeFileSync(weights, convertMobilenet(modelDir));
    const amps = [0.01, 0.02, 0.05, 0.1];
    const r = spawnSync(helper, ['--perceptual', weights, ...faces, join(dir, 'pair.f32'), ...amps.map(String)], {
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr);
    const o = JSON.parse(r.stdout);
    const { H, W, ch, cw } = o;
    assert.ok(o.rh === H && o.rw === W && ch === H - (H % 32) && cw === W - (W % 32), 'native size, centred window');
    const buf = readFileSync(join(dir, 'pair.f32'));
    const both = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
    const n = 3 * H * W;
    const ref = await tfjsPerceptual(tf, both.subarray(0, n), both.subarray(n), H, W, ch, cw);
    const refMean = ref.reduce((s, v) => s + v, 0) / ref.length;
    const rel = (x, y) => Math.abs(x - y) / Math.abs(y);
    const worst = Math.max(...ref.map((v, t) => rel(o.layers[t], v)));
    console.log(`perceptual (${W}x${H} -> ${cw}x${ch}): ours ${o.distance.toFixed(6)}, tfjs ${refMean.toFixed(6)}, ` +
      `relative difference ${rel(o.distance, refMean).toExponential(2)} (worst tap ${worst.toExponential(2)}); ` +
      `taps ${ref.map((v) => v.toFixed(4)).join(' ')}; identical ${o.identical}; noise ` +
      o.noise.map(([a, d]) => `${a}: ${d.toFixed(5)}`).join(', '));
    assert.ok(refMean > 0.05, 'two different faces should be far apart');
    assert.ok(rel(o.distance, refMean) <= 1e-4, `distance: ours ${o.distance}, tfjs ${refMean}`);
    assert.ok(worst <= 1e-4, `per-tap relative difference ${worst}`);
    assert.equal(o.identical, 0);
    assert.deepEqual(o.noise.map(([a]) => a), amps);
    for (let k = 0; k < amps.length; k++) {
      assert.ok(o.noise[k][1] > (k ? o.noise[k - 1][1] : 0), `noise ${amps[k]} should be farther than ${k ? amps[k - 1] : 'none'}`);
      assert.ok(o.noise[k][1] < refMean, 'noise should stay closer than another face');
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
