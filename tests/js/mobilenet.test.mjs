// MobileNet v1 features (the Frechet distance's feature extractor): our C forward on the converted .dfw against
// tfjs running the original Keras layers model, on the same images; the 768-d global-average-pool outputs must
// agree within 1e-3.  Skips when the shared model or the helper program is absent.
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

async function tfjsFeatures(tf, images) {
  const model = JSON.parse(readFileSync(join(modelDir, 'model.json'), 'utf8'));
  const weightSpecs = model.weightsManifest.flatMap((g) => g.weights);
  const weightData = Buffer.concat(model.weightsManifest.flatMap((g) => g.paths.map((p) => readFileSync(join(modelDir, p)))));
  const handler = {
    load: async () => ({
      modelTopology: model.modelTopology,
      weightSpecs,
      weightData: weightData.buffer.slice(weightData.byteOffset, weightData.byteOffset + weightData.byteLength),
    }),
  };
  const net = await tf.loadLayersModel(handler);
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
