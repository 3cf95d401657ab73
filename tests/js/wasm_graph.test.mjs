// Imported models in the wasm module (the page's deepfake preview, wasm/api.c dfapi_graph_*, web/engine.mjs
// graphLoad / graphPreview) and their listing for the page (wasm/copy_web.cmake's manifest):
//   - a tiny graph written here (no shared files needed): the preview's crops and the model's output against a
//     JavaScript reference of the same convolution; corrupt or unsuitable files and bad arguments refused with a
//     message, the module working afterwards, no memory leak;
//   - the CartoonGAN hosoda generator from ../shared/models/cartoongan-tfjs (converted here in memory, never
//     written into the project): the preview's 8-bit outputs on a 256 x 256 face crop against @tensorflow/tfjs
//     (XNNPACK wasm backend) running the same model.json on the same crop; skipped when ../shared lacks it.
// Needs DF_WASM_DIR (build-wasm/wasm; tools/test.sh sets it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { require, buildDir, sourceDir, sharedDir } from './deps.mjs';
import { testPicture } from './png.mjs';
import { loadEngine, DadfiError } from '../../web/engine.mjs';
import { OP, ROW, convertTfjsGraph, readTfjsGraph } from '../../tools/convert_tfjs_graph.mjs';
import { writeDfw } from '../../tools/convert_mobilenet.mjs';
import { loadGraph, engineFn, nchwToNhwc } from './tfjs_graph.mjs';

const wasmDir = process.env.DF_WASM_DIR;
const modulePath = wasmDir && join(wasmDir, 'dadfi-wasm.mjs');
const skip = !wasmDir ? 'DF_WASM_DIR is not set (tools/test.sh sets it after building build-wasm)'
  : !existsSync(modulePath) ? `no wasm module at ${modulePath} (build build-wasm first)` : false;
const load = () => loadEngine({ moduleUrl: pathToFileURL(modulePath).href, wasmBinary: readFileSync(join(wasmDir, 'dadfi-wasm.wasm')) });

const cartoonDir = join(sharedDir, 'models', 'cartoongan-tfjs', 'hosoda');
const faceDir = join(sharedDir, 'data', 'celeba_subset', 'images');
const skipShared = skip || (!existsSync(join(cartoonDir, 'model.json'))
  ? `CartoonGAN absent: ${cartoonDir} (../shared/models/cartoongan-tfjs); the comparison with tfjs is skipped` : false);

function rng(seed) {
  let s = seed >>> 0 || 1;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296) * 2 - 1;
}
const toRGBA = pic => {
  const out = new Uint8ClampedArray(pic.width * pic.height * 4);
  for (let i = 0, j = 0; i < out.length; i += 4, j += pic.channels) {
    out[i] = pic.data[j]; out[i + 1] = pic.data[j + 1]; out[i + 2] = pic.data[j + 2]; out[i + 3] = 255;
  }
  return out;
};
// A protected-looking copy: +-3 levels of deterministic noise.
const perturb = (rgba, seed) => {
  const r = rng(seed), out = Uint8ClampedArray.from(rgba);
  for (let i = 0; i < out.length; i++) if (i % 4 !== 3) out[i] += Math.round(3 * r());
  return out;
};
// The S x S square at (x0, y0) of RGBA pixels (width w), as RGBA.
const cropRGBA = (rgba, w, x0, y0, S) => {
  const out = new Uint8ClampedArray(S * S * 4);
  for (let y = 0; y < S; y++) out.set(rgba.subarray(((y0 + y) * w + x0) * 4, ((y0 + y) * w + x0 + S) * 4), y * S * 4);
  return out;
};
// RGBA -> planar [3, S, S] in [-1, 1] (what the preview's crop is when it needs no resampling).
const toPlanar = (rgba, S) => {
  const x = new Float32Array(3 * S * S);
  for (let p = 0; p < S * S; p++) for (let c = 0; c < 3; c++) x[c * S * S + p] = rgba[4 * p + c] / 127.5 - 1;
  return x;
};
// The engine's 8-bit rounding of [-1, 1] values (df_planar_to_rgb8).
const to8 = v => Math.floor(Math.min(255, Math.max(0, (v + 1) * 127.5)) + 0.5);
function maxDiffRGB(a, b) {
  assert.equal(a.length, b.length);
  let max = 0, n = 0;
  for (let i = 0; i < a.length; i++) {
    if (i % 4 === 3) continue;
    const d = Math.abs(a[i] - b[i]);
    if (d > max) max = d;
    if (d) n++;
  }
  return { max, frac: n / (a.length * 3 / 4) };
}
// planar [3, S, S] reference output -> RGBA with the engine's rounding
const planarTo8 = (y, S) => {
  const out = new Uint8ClampedArray(S * S * 4);
  for (let p = 0; p < S * S; p++) {
    for (let c = 0; c < 3; c++) out[4 * p + c] = to8(y[c * S * S + p]);
    out[4 * p + 3] = 255;
  }
  return out;
};

// ---------------------------------------------------------------- a tiny imported model
// conv 3x3 (3 -> cout, pad 1, stride, bias) + tanh, BGR, input range [0, 1]: exercises the channel order and the
// range mapping of graph_forward.
function tinyGraph({ size = 16, cout = 3, stride = 1, order = 'bgr' } = {}) {
  const r = rng(11);
  const w = Float32Array.from({ length: cout * 27 }, () => 0.6 * r()), b = Float32Array.from({ length: cout }, () => 0.2 * r());
  const rows = new Float32Array(2 * ROW);
  rows.set([OP.CONV, 0, -1, 3, cout, 3, 3, stride, 1, 0, 1], 0);
  rows.set([OP.TANH, 1, -1], ROW);
  const meta = {
    arch: 'dadfi-graph', graph_version: 1, in_channels: 3, out_channels: cout, channel_order: order,
    in_min: 0, in_max: 1, out_min: -1, out_max: 1, size_multiple: stride, size, name: 'tiny',
  };
  const dfw = writeDfw(meta, [
    { name: 'graph.nodes', dims: [2, ROW], data: rows },
    { name: 'n0.w', dims: [cout, 3, 3, 3], data: w },
    { name: 'n0.b', dims: [cout], data: b },
  ]);
  return { dfw, w, b };
}
// The tiny model on engine-convention x [3, S, S] (float64 reference).
function tinyReference({ w, b }, x, S) {
  const m = new Float64Array(3 * S * S);
  for (let c = 0; c < 3; c++) for (let p = 0; p < S * S; p++) m[c * S * S + p] = 0.5 * x[(2 - c) * S * S + p] + 0.5; // BGR, [0, 1]
  const y = new Float32Array(3 * S * S);
  for (let o = 0; o < 3; o++)
    for (let i = 0; i < S; i++)
      for (let j = 0; j < S; j++) {
        let s = b[o];
        for (let c = 0; c < 3; c++)
          for (let ki = 0; ki < 3; ki++)
            for (let kj = 0; kj < 3; kj++) {
              const yy = i + ki - 1, xx = j + kj - 1;
              if (yy >= 0 && yy < S && xx >= 0 && xx < S) s += w[((o * 3 + c) * 3 + ki) * 3 + kj] * m[c * S * S + yy * S + xx];
            }
        y[(2 - o) * S * S + i * S + j] = Math.tanh(s); // back to RGB
      }
  return y;
}

test('wasm: imported models in the preview (tiny graph)', { skip }, async t => {
  const e = await load();
  const tiny = tinyGraph();
  const W = 64, H = 48, pic = testPicture(W, H, 3, 7), orig = toRGBA(pic), prot = perturb(orig, 3);

  await t.test('graphPreview: crops and the model\'s outputs match a JavaScript reference', () => {
    const g = e.graphLoad(tiny.dfw);
    try {
      assert.equal(g.kind, 'graph');
      assert.equal(g.size, 16);
      assert.equal(g.flops, 2 * 16 * 16 * 3 * 27);
      const S = 16, x0 = 21, y0 = 9; // the square exactly S pixels: no resampling
      const seen = [];
      const r = e.graphPreview(g, orig, prot, W, H, x0 + S / 2, y0 + S / 2, S, { onProgress: f => seen.push(f) });
      assert.equal(r.size, S);
      assert.equal(r.images.length, 4);
      const co = cropRGBA(orig, W, x0, y0, S), cp = cropRGBA(prot, W, x0, y0, S);
      assert.deepEqual([...r.images[0]], [...co], 'crop of the original');
      assert.deepEqual([...r.images[1]], [...cp], 'crop of the protected');
      for (const [k, crop] of [[2, co], [3, cp]]) {
        const ref = planarTo8(tinyReference(tiny, toPlanar(crop, S), S), S);
        const d = maxDiffRGB(r.images[k], ref);
        assert.ok(d.max <= 1 && d.frac < 0.01, `image ${k}: max |wasm - reference| ${d.max}/255 on ${(100 * d.frac).toFixed(2)} %`);
      }
      assert.ok(Number.isFinite(r.l2Mask) && r.maskPixels >= 0 && r.maskPixels <= S * S && typeof r.success === 'boolean');
      assert.ok(r.psnr > 30 && r.psnr < 60, `PSNR of the crops ${r.psnr}`);
      assert.deepEqual(seen, [0.5, 1], 'progress after each pass (one convolution each)');
      // a larger square is resized to the model's size; the square is clamped into the photo
      const big = e.graphPreview(g, orig, prot, W, H, 0, 1e9, 1000);
      assert.equal(big.size, S);
      assert.ok(big.images[2].some(v => v !== 0));
      // the same inputs give the same outputs; no memory grows over repeated runs
      const used = e.heapUsed;
      for (let i = 0; i < 5; i++) {
        const again = e.graphPreview(g, orig, prot, W, H, x0 + S / 2, y0 + S / 2, S);
        assert.deepEqual([...again.images[3]], [...r.images[3]]);
      }
      assert.equal(e.heapUsed, used, 'malloc\'d bytes changed');
    } finally {
      e.freeModel(g);
    }
    assert.equal(g.ptr, 0);
    const before = e.heapUsed;
    for (let i = 0; i < 10; i++) e.freeModel(e.graphLoad(tiny.dfw));
    assert.equal(e.heapUsed, before, 'load / free leaks');
  });

  await t.test('bad files and arguments are refused with a message; the module keeps working', () => {
    const g = e.graphLoad(tiny.dfw);
    const ref = e.graphPreview(g, orig, prot, W, H, 30, 20, 16).images[2];
    const works = () => assert.deepEqual([...e.graphPreview(g, orig, prot, W, H, 30, 20, 16).images[2]], [...ref], 'the module works afterwards');
    const refused = (fn, code, re) => {
      assert.throws(fn, err => err instanceof DadfiError && (!code || err.code === code) && (!re || re.test(err.message)) && err.message.length > 20,
        `expected a DadfiError ${code || ''} ${re || ''}`);
      assert.equal(e.dead, false);
      works();
    };
    const bytes = Uint8Array.from(tiny.dfw);
    refused(() => e.graphLoad(new Uint8Array(0)), 'bad-format', /empty/);
    refused(() => e.graphLoad(new Uint8Array(1000).fill(7)), 'bad-format');
    refused(() => e.graphLoad(bytes.subarray(0, bytes.length >> 1)), 'bad-format');
    refused(() => e.graphLoad(bytes.subarray(0, 40)), 'bad-format');
    for (const pos of [0, 5, 40, 100, 300, bytes.length - 1]) {
      const bad = Uint8Array.from(bytes);
      bad[pos] ^= 0x55;
      try {
        e.freeModel(e.graphLoad(bad)); // a flipped weight byte still loads: that is fine
      } catch (err) {
        assert.ok(err instanceof DadfiError && err.message.length > 0, String(err));
      }
      assert.equal(e.dead, false);
    }
    refused(() => e.graphLoad('not bytes'), 'bad-argument');
    // valid graph files that the preview cannot use
    refused(() => e.graphLoad(tinyGraph({ cout: 4, order: 'rgb' }).dfw), 'unsupported', /3 input and 3 output channels/);
    refused(() => e.graphLoad(tinyGraph({ stride: 2 }).dfw), 'unsupported', /output \(8 x 8\) is not the size of its input \(16\)/);
    refused(() => e.graphLoad(tinyGraph({ size: 4 }).dfw), 'unsupported', /size 4 outside/);
    refused(() => e.graphLoad(tinyGraph({ size: 2048 }).dfw), 'unsupported', /size 2048 outside/);
    // other weight files are not imported models
    const gen = join(sourceDir, 'weights', 'gen.dfw');
    if (existsSync(gen)) refused(() => e.graphLoad(readFileSync(gen)), 'unsupported', /not an imported graph/);
    // arguments: checked in JavaScript ...
    refused(() => e.graphPreview(null, orig, prot, W, H, 30, 20, 16), 'unsupported');
    refused(() => e.graphPreview({ ptr: g.ptr, kind: 'zoo', size: 16 }, orig, prot, W, H, 30, 20, 16), 'unsupported');
    refused(() => e.graphPreview(g, orig, prot.subarray(4), W, H, 30, 20, 16), 'bad-argument');
    refused(() => e.graphPreview(g, orig, prot, W + 1, H, 30, 20, 16), 'bad-argument');
    refused(() => e.graphPreview(g, orig, prot, 0, 0, 30, 20, 16), 'bad-argument');
    refused(() => e.graphPreview(g, orig, prot, W, H, NaN, 20, 16), 'bad-argument');
    refused(() => e.graphPreview(g, orig, prot, W, H, 30, 20, 4), 'bad-argument', /crop side 4 too small/);
    // ... and by the C ABI on its own
    const M = e.M, p = M._malloc(W * H * 4 * 2 + 16 * 16 * 16 + 64), out = p + 2 * W * H * 4, st = (out + 16 * 16 * 16 + 7) & ~7;
    try {
      const call = (gp, o, pr, w, h, side, ou, s) => M._dfapi_graph_preview(gp, o, pr, w, h, 30, 20, side, ou, s);
      for (const [args, re] of [
        [[0, p, p, W, H, 16, out, st], /no imported model/],
        [[g.ptr, 0, p, W, H, 16, out, st], /NULL pixel buffer/],
        [[g.ptr, p, 0, W, H, 16, out, st], /NULL pixel buffer/],
        [[g.ptr, p, p, 0, H, 16, out, st], /empty/],
        [[g.ptr, p, p, -5, H, 16, out, st], /empty/],
        [[g.ptr, p, p, 100000, 100000, 16, out, st], /too large/],
        [[g.ptr, p, p, W, H, 16, 0, st], /NULL output/],
        [[g.ptr, p, p, W, H, 16, out, 0], /NULL output/],
        [[g.ptr, p, p, W, H, -3, out, st], /too small/],
      ]) {
        assert.notEqual(call(...args), 0, String(args));
        assert.match(M.UTF8ToString(M._dfapi_errmsg()), re);
      }
      assert.equal(M._dfapi_graph_load(0, 10), 0);
      assert.match(M.UTF8ToString(M._dfapi_errmsg()), /empty buffer/);
      assert.equal(M._dfapi_graph_size(0), 0);
      assert.equal(M._dfapi_graph_flops(0), 0);
      M._dfapi_graph_free(0);
    } finally {
      M._free(p);
    }
    works();
    e.freeModel(g);
  });
});

// ---------------------------------------------------------------- CartoonGAN against tfjs
// A CelebA face (178 x 218) on a grey 300 x 280 canvas, through the project's decoder (build/image_rgb); a
// synthetic picture when that is not available.
function facePhoto() {
  const imageRgb = join(buildDir, 'image_rgb');
  const names = existsSync(faceDir) ? readdirSync(faceDir).filter(n => n.endsWith('.jpg')).sort() : [];
  const W = 300, H = 280;
  if (!names.length || !existsSync(imageRgb)) return { W, H, rgba: toRGBA(testPicture(W, H, 3, 5)), what: 'a synthetic picture' };
  const dir = mkdtempSync(join(tmpdir(), 'dadfi-graph-')), rgb = join(dir, 'face.rgb');
  try {
    const r = spawnSync(imageRgb, [join(faceDir, names[0]), rgb], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const [fw, fh] = r.stdout.trim().split(/\s+/).map(Number), src = readFileSync(rgb);
    const rgba = new Uint8ClampedArray(W * H * 4).fill(118);
    const ox = (W - fw) >> 1, oy = (H - fh) >> 1;
    for (let y = 0; y < fh; y++)
      for (let x = 0; x < fw; x++)
        for (let c = 0; c < 3; c++) rgba[((oy + y) * W + ox + x) * 4 + c] = src[(y * fw + x) * 3 + c];
    for (let i = 3; i < rgba.length; i += 4) rgba[i] = 255;
    return { W, H, rgba, what: `CelebA ${names[0]}` };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('wasm: CartoonGAN hosoda preview matches tfjs on the same 256 x 256 crop', { skip: skipShared, timeout: 600000 }, async () => {
  const { model, shards } = readTfjsGraph(cartoonDir);
  const conv = convertTfjsGraph(model, shards, { order: 'bgr', name: 'hosoda' }); // in memory only
  const e = await load();
  const g = e.graphLoad(conv.dfw);
  const { W, H, rgba: orig, what } = facePhoto(), prot = perturb(orig, 9);
  const S = 256, x0 = 22, y0 = 12;
  assert.equal(g.size, S);
  let t0 = performance.now(), last = 0;
  const r = e.graphPreview(g, orig, prot, W, H, x0 + S / 2, y0 + S / 2, S, { onProgress: f => { assert.ok(f >= last); last = f; } });
  const ms = performance.now() - t0;
  assert.equal(last, 1);
  const co = cropRGBA(orig, W, x0, y0, S), cp = cropRGBA(prot, W, x0, y0, S);
  assert.deepEqual([...r.images[0]], [...co], 'the crop needs no resampling');
  assert.deepEqual([...r.images[1]], [...cp]);

  const tf = require('@tensorflow/tfjs');
  require('@tensorflow/tfjs-backend-wasm');
  await tf.setBackend('wasm');
  const net = await loadGraph(tf, model, shards);
  const fn = engineFn(tf, net, { bgr: true });
  t0 = performance.now();
  const diffs = [];
  for (const [k, crop] of [[2, co], [3, cp]]) {
    const y = tf.tidy(() => fn(tf.tensor4d(nchwToNhwc(toPlanar(crop, S), 1, 3, S, S), [1, S, S, 3])));
    const [, OH, OW] = y.shape, v = y.dataSync();
    y.dispose();
    assert.deepEqual([OH, OW], [S, S]);
    const ref = new Uint8ClampedArray(S * S * 4);
    for (let p = 0; p < S * S; p++) {
      for (let c = 0; c < 3; c++) ref[4 * p + c] = to8(v[p * 3 + c]);
      ref[4 * p + 3] = 255;
    }
    diffs.push(maxDiffRGB(r.images[k], ref));
  }
  const tfMs = performance.now() - t0;
  console.log(`cartoongan hosoda on ${what}, ${S}x${S} (${(g.flops / 1e9).toFixed(1)} GFLOP per pass): wasm preview (2 passes) ` +
    `${(ms / 1000).toFixed(1)} s, tfjs-backend-wasm 2 passes ${(tfMs / 1000).toFixed(1)} s; 8-bit max |wasm - tfjs| ` +
    `${diffs.map(d => `${d.max}/255 (${(100 * d.frac).toFixed(2)} % differ)`).join(', ')}; L2_mask ${r.l2Mask.toFixed(3)}`);
  for (const d of diffs) assert.ok(d.max <= 2 && d.frac < 0.01, `max |wasm - tfjs| ${d.max}/255 on ${(100 * d.frac).toFixed(2)} % of the bytes`);
  let changed = 0;
  for (let i = 0; i < co.length; i++) if (i % 4 !== 3 && Math.abs(r.images[2][i] - co[i]) > 10) changed++;
  assert.ok(changed > 0.2 * S * S * 3, 'the model should restyle the photo');
  e.freeModel(g);
});

// ---------------------------------------------------------------- the page's manifest
const cmake = spawnSync('cmake', ['--version']).status === 0;
test('copy_web.cmake copies the imported models that exist and lists them in the manifest', { skip: !cmake && 'cmake not found' }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'dadfi-copyweb-'));
  try {
    writeFileSync(join(dir, 'a.dfw'), 'one');
    writeFileSync(join(dir, 'b.v2.dfw'), 'two');
    const run = (...defs) => {
      const r = spawnSync('cmake', [`-DOUT_DIR=${join(dir, 'lib')}`, ...defs, '-P', join(sourceDir, 'wasm', 'copy_web.cmake')], { encoding: 'utf8', cwd: dir });
      assert.equal(r.status, 0, r.stderr);
      return JSON.parse(readFileSync(join(dir, 'lib', 'manifest.json'), 'utf8'));
    };
    let m = run();
    assert.deepEqual(m.imported, [], 'no imported models: an empty list');
    assert.deepEqual(m.zoo, []);
    m = run(`-DIMPORTED=${join(dir, 'a.dfw')};missing.dfw;b.v2.dfw`);
    assert.deepEqual(m.imported, ['imported-a.dfw', 'imported-b.v2.dfw']);
    assert.equal(readFileSync(join(dir, 'lib', 'imported-b.v2.dfw'), 'utf8'), 'two');
    m = run(); // copied earlier: still listed
    assert.deepEqual(m.imported, ['imported-a.dfw', 'imported-b.v2.dfw']);
    m = run('-DIMPORTED=a.dfw,b.v2.dfw'); // the wasm build passes a comma-separated list
    assert.deepEqual(m.imported, ['imported-a.dfw', 'imported-b.v2.dfw']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
