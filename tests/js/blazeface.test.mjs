// BlazeFace face detector: `dadfi detect` (our C forward on the .dfw made by tools/convert_blazeface.mjs) against
// the reference: MediaPipe's tfjs graph model run by tfjs on the same photos, decoded here with MediaPipe's anchor
// spec (SsdAnchorsCalculator), box/keypoint decoding (TensorsToDetectionsCalculator) and weighted NMS, written
// independently of the C code.  Every reference face needs a C face with IoU >= 0.9 and keypoints within 5 % of
// the box side.  Then whole photos: faces pasted at 3-40 % of a large photo's short side are found.
// Needs ../shared (models and face photos) and the build (dadfi, image_rgb): skips with a message without them.
// The converted weights are written to a temporary folder, never into the project.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { require, buildDir, sharedDir } from './deps.mjs';
import { encodePNG } from './png.mjs';
import { convertBlazeface } from '../../tools/convert_blazeface.mjs';

const modelDir = join(sharedDir, 'models', 'human-models');
const celeba = join(sharedDir, 'data', 'celeba_subset', 'images');
const utk = join(sharedDir, 'data', 'utkface_subset', 'images');
const dadfi = join(buildDir, 'dadfi');
const imageRgb = join(buildDir, 'image_rgb');
const skip = !existsSync(join(modelDir, 'blazeface.json'))
  ? `shared models absent: ${modelDir}`
  : !existsSync(celeba) || !existsSync(utk)
    ? `shared face photos absent: ${celeba}, ${utk}`
    : !existsSync(dadfi) || !existsSync(imageRgb)
      ? `not built: ${dadfi}, ${imageRgb} (set DF_BUILD_DIR)`
      : false;

// MediaPipe's two face detection models: SsdAnchorsCalculator options of face_detection_short_range /
// face_detection_full_range(back) graphs.
const SPECS = {
  'blazeface-front': { size: 128, strides: [8, 16, 16, 16] },
  blazeface: { size: 256, strides: [16, 32, 32, 32] },
};

// SsdAnchorsCalculator with fixed_anchor_size, anchor_offset 0.5, aspect_ratios [1], interpolated scale 1: layers of
// equal stride share one grid; each layer contributes two anchors (the ratio-1 anchor and the interpolated one)
// per cell.  Returns normalised centres [x, y].
export function mediapipeAnchors({ size, strides }) {
  const out = [];
  for (let layer = 0; layer < strides.length; ) {
    let last = layer, perCell = 0;
    while (last < strides.length && strides[last] === strides[layer]) {
      perCell += 2;
      last++;
    }
    const fm = Math.ceil(size / strides[layer]);
    for (let y = 0; y < fm; y++)
      for (let x = 0; x < fm; x++)
        for (let a = 0; a < perCell; a++) out.push([(x + 0.5) / fm, (y + 0.5) / fm]);
    layer = last;
  }
  return out;
}

const iou = (a, b) => {
  const ix = Math.min(a.x1, b.x1) - Math.max(a.x0, b.x0), iy = Math.min(a.y1, b.y1) - Math.max(a.y0, b.y0);
  if (ix <= 0 || iy <= 0) return 0;
  const inter = ix * iy;
  return inter / ((a.x1 - a.x0) * (a.y1 - a.y0) + (b.x1 - b.x0) * (b.y1 - b.y0) - inter);
};

// TensorsToDetectionsCalculator (reverse_output_order, x/y/w/h_scale = size, sigmoid scores clipped at 100) and
// WEIGHTED non-maximum suppression (IoU > 0.3), in input pixels.
function decode(spec, scores, boxes, minScore) {
  const anchors = mediapipeAnchors(spec), S = spec.size, dets = [];
  anchors.forEach(([ax, ay], i) => {
    const logit = Math.max(-100, Math.min(100, scores[i]));
    const score = 1 / (1 + Math.exp(-logit));
    if (score < minScore) return;
    const r = boxes.subarray(16 * i, 16 * i + 16), f = Math.fround; // float32 boxes, as the C code keeps them
    const cx = f(ax * S + r[0]), cy = f(ay * S + r[1]);
    const kp = [];
    for (let k = 0; k < 6; k++) kp.push([ax * S + r[4 + 2 * k], ay * S + r[5 + 2 * k]]);
    dets.push({ x0: f(cx - r[2] / 2), y0: f(cy - r[3] / 2), x1: f(cx + r[2] / 2), y1: f(cy + r[3] / 2), score, kp });
  });
  dets.sort((a, b) => b.score - a.score);
  const out = [];
  let rest = dets;
  while (rest.length) {
    const best = rest[0];
    const group = rest.filter((d) => d === best || iou(best, d) > 0.3);
    rest = rest.filter((d) => !group.includes(d));
    const w = group.reduce((s, d) => s + d.score, 0);
    const avg = (f) => group.reduce((s, d) => s + d.score * f(d), 0) / w;
    out.push({
      x0: avg((d) => d.x0), y0: avg((d) => d.y0), x1: avg((d) => d.x1), y1: avg((d) => d.y1), score: best.score,
      kp: best.kp.map((_, k) => [avg((d) => d.kp[k][0]), avg((d) => d.kp[k][1])]),
    });
  }
  return out;
}

async function loadGraph(tf, name) {
  const model = JSON.parse(readFileSync(join(modelDir, `${name}.json`), 'utf8'));
  const weightSpecs = model.weightsManifest.flatMap((g) => g.weights);
  const data = Buffer.concat(model.weightsManifest.flatMap((g) => g.paths.map((p) => readFileSync(join(modelDir, p)))));
  return tf.loadGraphModel({
    load: async () => ({
      modelTopology: model.modelTopology,
      weightSpecs,
      weightData: data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength),
      format: model.format,
      userDefinedMetadata: model.userDefinedMetadata,
    }),
  });
}

// Antialiased triangle resize (PIL BILINEAR, stb's triangle filter: the kernel widened by the shrink factor, edges
// clamped, weights normalised), rounded to 8 bits: the resampling the C detector uses (rs_resize_u8), written out
// here so that both networks see the same pixels.
function resizeTriangle(img, cw, ch) {
  const axis = (n, m) =>
    Array.from({ length: m }, (_, i) => {
      const f = n / m, support = Math.max(1, f), u = (i + 0.5) * f;
      const taps = [];
      for (let j = Math.floor(u - support) - 1; j <= Math.ceil(u + support) + 1; j++) {
        const w = Math.max(0, 1 - Math.abs(j + 0.5 - u) / support);
        if (w > 0) taps.push([Math.min(n - 1, Math.max(0, j)), w]);
      }
      const sum = taps.reduce((a, [, w]) => a + w, 0);
      return taps.map(([j, w]) => [j, w / sum]);
    });
  const ax = axis(img.w, cw), ay = axis(img.h, ch);
  const tmp = new Float32Array(img.h * cw * 3), out = new Float32Array(ch * cw * 3);
  for (let y = 0; y < img.h; y++)
    for (let x = 0; x < cw; x++)
      for (const [j, w] of ax[x]) for (let c = 0; c < 3; c++) tmp[(y * cw + x) * 3 + c] += w * img.rgb[(y * img.w + j) * 3 + c];
  for (let y = 0; y < ch; y++)
    for (const [j, w] of ay[y]) for (let i = 0; i < cw * 3; i++) out[y * cw * 3 + i] += w * tmp[j * cw * 3 + i];
  return out.map((v) => Math.min(255, Math.max(0, Math.round(v))));
}

// The reference on a whole photo: letterboxed (centred, black borders) into S x S, run, decoded, mapped back to
// photo pixels.
async function reference(tf, net, spec, img, minScore) {
  const S = spec.size, sc = S / Math.max(img.w, img.h);
  const cw = Math.max(1, Math.round(img.w * sc)), ch = Math.max(1, Math.round(img.h * sc));
  const ox = Math.floor((S - cw) / 2), oy = Math.floor((S - ch) / 2);
  const resized = resizeTriangle(img, cw, ch);
  const [scores1, scores2, boxes1, boxes2] = tf.tidy(() => {
    const r = tf.tensor3d(resized, [ch, cw, 3], 'float32').div(127.5).sub(1);
    const input = r.pad([[oy, S - ch - oy], [ox, S - cw - ox], [0, 0]], -1).expandDims(0);
    return net.execute(input, ['Identity:0', 'Identity_1:0', 'Identity_2:0', 'Identity_3:0']).map((t) => t.dataSync());
  });
  const scores = new Float32Array([...scores1, ...scores2]), boxes = new Float32Array([...boxes1, ...boxes2]);
  const sx = img.w / cw, sy = img.h / ch;
  return decode(spec, scores, boxes, minScore).map((d) => ({
    x0: (d.x0 - ox) * sx, x1: (d.x1 - ox) * sx, y0: (d.y0 - oy) * sy, y1: (d.y1 - oy) * sy, score: d.score,
    kp: d.kp.map(([x, y]) => [(x - ox) * sx, (y - oy) * sy]),
  }));
}

function readRgb(dir, path) {
  const out = join(dir, 'img.rgb');
  const r = spawnSync(imageRgb, [path, out], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const [w, h] = r.stdout.trim().split(' ').map(Number);
  return { w, h, rgb: new Uint8Array(readFileSync(out)) };
}

// `dadfi detect --json -` on photos -> [[{x0, y0, x1, y1, score, kp}]] per photo.
function detect(weights, photos, extra = []) {
  const r = spawnSync(dadfi, ['detect', '--weights', weights, '--json', '-', ...extra, ...photos], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout).files.map((f) =>
    f.faces.map(({ score, box: [x, y, w, h], keypoints }) => ({
      x0: x, y0: y, x1: x + w, y1: y + h, score, kp: Object.values(keypoints),
    })),
  );
}

const photos = () => [
  ...readdirSync(celeba).sort().slice(0, 5).map((f) => join(celeba, f)),
  ...readdirSync(utk).sort().slice(0, 3).map((f) => join(utk, f)),
];

test('BlazeFace anchors follow the MediaPipe spec (896 per model)', { skip }, () => {
  for (const spec of Object.values(SPECS)) assert.equal(mediapipeAnchors(spec).length, 896);
});

for (const name of Object.keys(SPECS))
  test(`dadfi detect (${name}) matches the tfjs reference: IoU >= 0.9, keypoints within 5 %`, { skip, timeout: 300000 },
    async () => {
      const tf = require('@tensorflow/tfjs');
      await tf.setBackend('cpu');
      const dir = mkdtempSync(join(tmpdir(), 'dadfi-blazeface-'));
      try {
        const weights = join(dir, `${name}.dfw`);
        writeFileSync(weights, convertBlazeface(join(modelDir, `${name}.json`)));
        const net = await loadGraph(tf, name);
        const list = photos();
        const ours = detect(weights, list, ['--min-face', '1']); // the whole photo only, as the reference
        let matched = 0, worst = 1;
        for (let i = 0; i < list.length; i++) {
          const ref = await reference(tf, net, SPECS[name], readRgb(dir, list[i]), 0.5);
          assert.equal(ours[i].length, ref.length, `${list[i]}: ${ours[i].length} faces, reference ${ref.length}`);
          for (const r of ref) {
            const best = ours[i].reduce((a, b) => (iou(r, b) > iou(r, a) ? b : a));
            const side = r.x1 - r.x0, v = iou(r, best);
            worst = Math.min(worst, v);
            assert.ok(v >= 0.9, `${list[i]}: IoU ${v.toFixed(3)} with the reference`);
            assert.ok(Math.abs(best.score - r.score) < 0.02, `${list[i]}: score ${best.score} vs ${r.score}`);
            r.kp.forEach(([x, y], k) =>
              assert.ok(Math.hypot(x - best.kp[k][0], y - best.kp[k][1]) < 0.05 * side, `${list[i]}: keypoint ${k}`));
            matched++;
          }
        }
        assert.ok(matched >= list.length - 1, `only ${matched} reference faces in ${list.length} face photos`);
        console.log(`# ${name}: ${matched} faces matched, lowest IoU ${worst.toFixed(4)}`);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

test('dadfi detect finds faces from 3 % to 60 % of a large photo\'s short side', { skip, timeout: 120000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'dadfi-blazeface-'));
  try {
    const weights = join(dir, 'blazeface.dfw');
    writeFileSync(weights, convertBlazeface(join(modelDir, 'blazeface.json')));
    const W = 2400, H = 1800, rgb = new Uint8Array(W * H * 3);
    for (let i = 0; i < W * H; i++) rgb.set([90 + ((i % W) % 50), 100 + (((i / W) | 0) % 40), 110], 3 * i);
    // CelebA photos pasted at face widths of about 3.5 %, 10 % and 60 % of the short side (the face is ~55 % of
    // the photo's width), far apart; each needs one detection whose box lies on the pasted photo
    const faces = readdirSync(celeba).sort().slice(0, 3);
    const places = [[300, 300, 115], [1200, 300, 330], [200, 700, 1900 * 0.55]].map(([x, y, w]) => [x, y, Math.round(w)]);
    const pasted = places.map(([px, py, pw], i) => {
      const img = readRgb(dir, join(celeba, faces[i]));
      const ph = Math.round((pw * img.h) / img.w), r = resizeTriangle(img, pw, ph);
      for (let y = 0; y < Math.min(ph, H - py); y++) rgb.set(r.subarray(y * pw * 3, (y + 1) * pw * 3), ((py + y) * W + px) * 3);
      return { x0: px, y0: py, x1: px + pw, y1: py + ph };
    });
    const photo = join(dir, 'group.png');
    writeFileSync(photo, encodePNG({ width: W, height: H, channels: 3, data: rgb }));
    const [found] = detect(weights, [photo]);
    assert.equal(found.length, pasted.length, JSON.stringify(found));
    for (const p of pasted) {
      const f = found.filter((d) => d.x0 >= p.x0 - 10 && d.x1 <= p.x1 + 10 && d.y0 >= p.y0 - 10 && d.y1 <= p.y1 + 10);
      assert.equal(f.length, 1, `one face on the photo pasted at ${JSON.stringify(p)}: ${JSON.stringify(found)}`);
      assert.ok(f[0].x1 - f[0].x0 > 0.3 * (p.x1 - p.x0), 'the box covers the face, not a part of it');
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
