// The WebAssembly module in Node: same output as the native CLI (golden files written by the native build
// during the run), the eps guarantee, errors that leave the module working, and no memory growth.
// Needs DF_WASM_DIR (build-wasm/wasm; tools/test.sh sets it) and the native `dadfi` in DF_BUILD_DIR.
//
// Tolerance against the native CLI: every output byte within 1 of the native byte, and at most 1 % of the bytes
// different.  Why not exact: SIMD128 has no fused multiply-add and sums in another order than AVX2, so Gen's
// delta differs by ~1e-6 and can round the other way where x + delta lands on a half step of 1/255.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { buildDir, sourceDir, sharedDir } from './deps.mjs';
import { encodePNG, decodePNG, testPicture } from './png.mjs';
import { loadEngine, DadfiError } from '../../web/engine.mjs';
import { boxShrink, changedRegion, diffRGBA } from '../../web/views.mjs';

const wasmDir = process.env.DF_WASM_DIR;
const modulePath = wasmDir && join(wasmDir, 'dadfi-wasm.mjs');
const skip = !wasmDir ? 'DF_WASM_DIR is not set (tools/test.sh sets it after building build-wasm)'
  : !existsSync(modulePath) ? `no wasm module at ${modulePath} (build build-wasm first)` : false;
const dadfi = join(buildDir, 'dadfi');

const load = () => loadEngine({ moduleUrl: pathToFileURL(modulePath).href, wasmBinary: readFileSync(join(wasmDir, 'dadfi-wasm.wasm')) });
const toRGBA = pic => {
  const out = new Uint8ClampedArray(pic.width * pic.height * 4);
  for (let i = 0, j = 0; i < out.length; i += 4, j += pic.channels) {
    out[i] = pic.data[j]; out[i + 1] = pic.data[j + 1]; out[i + 2] = pic.data[j + 2];
    out[i + 3] = pic.channels === 4 ? pic.data[j + 3] : 255;
  }
  return out;
};
// Compare the RGB channels of an RGBA buffer with an RGB(A) picture.
function diff(rgba, pic) {
  let max = 0, count = 0;
  for (let p = 0; p < pic.width * pic.height; p++)
    for (let c = 0; c < 3; c++) {
      const d = Math.abs(rgba[4 * p + c] - pic.data[p * pic.channels + c]);
      if (d > max) max = d;
      if (d) count++;
    }
  return { max, frac: count / (3 * pic.width * pic.height) };
}
const eqBytes = (a, b) => a.length === b.length && a.every((v, i) => v === b[i]);

test('wasm module', { skip }, async t => {
  const dir = mkdtempSync(join(tmpdir(), 'dadfi-wasm-'));
  const e = await load();
  try {
    // Weights: a random Gen from the native CLI (out_scale 1: deltas exceed eps, so clipping is exercised),
    // or the trained weights if the CLI is missing.
    let weights = join(dir, 'gen.dfw');
    const haveCli = existsSync(dadfi);
    if (haveCli) {
      const r = spawnSync(dadfi, ['gen-init', '--width', '8', '--out-scale', '1', '--seed', '7', weights], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
    } else {
      weights = join(sourceDir, 'weights', 'gen.dfw');
    }
    const haveWeights = existsSync(weights);
    const wbytes = haveWeights ? readFileSync(weights) : null;
    const g = haveWeights ? e.loadGen(wbytes) : null;

    await t.test('version, SIMD128 in the binary', () => {
      assert.match(e.version, /dadfi .* wasm/);
      // v128 instructions: opcode prefix 0xfd; f32x4.mul is 0xfd 0xe6 0x01, f32x4.add 0xfd 0xe4 0x01.
      const bin = readFileSync(join(wasmDir, 'dadfi-wasm.wasm'));
      let n = 0;
      for (let i = 0; i + 2 < bin.length; i++) if (bin[i] === 0xfd && (bin[i + 1] === 0xe6 || bin[i + 1] === 0xe4) && bin[i + 2] === 0x01) n++;
      assert.ok(n > 20, `expected f32x4 arithmetic in the module, found ${n}`);
    });

    const cases = [
      { name: '97x61 at full resolution', pic: testPicture(97, 61, 3, 5), eps: 0.05, workSide: 1024 },
      { name: '64x64, eps 0.02', pic: testPicture(64, 64, 3, 9), eps: 0.02, workSide: 1024 },
      { name: '700x433 through a 256 working resolution', pic: testPicture(700, 433, 3, 11), eps: 0.05, workSide: 256 },
    ];
    for (const c of cases)
      await t.test(`same output as the native CLI: ${c.name}`, { skip: !haveCli && 'native dadfi not built' }, () => {
        writeFileSync(join(dir, 'in.png'), encodePNG(c.pic));
        const r = spawnSync(dadfi, ['protect', '-q', '--no-detect', '--force', '--weights', weights, '--eps', String(c.eps),
          '--work-side', String(c.workSide), join(dir, 'in.png'), join(dir, 'golden.png')], { encoding: 'utf8' });
        assert.equal(r.status, 0, r.stderr);
        const golden = decodePNG(readFileSync(join(dir, 'golden.png')));
        assert.equal(golden.width, c.pic.width);
        assert.equal(golden.height, c.pic.height);
        const out = e.protect(g, toRGBA(c.pic), c.pic.width, c.pic.height, { eps: c.eps, workSide: c.workSide });
        const d = diff(out, golden);
        assert.ok(d.max <= 1 && d.frac <= 0.01, `wasm vs native: max ${d.max}, ${(100 * d.frac).toFixed(3)} % of bytes differ`);
        const changed = diff(out, c.pic);
        assert.ok(changed.max > 0, 'the image was not changed');
        assert.ok(changed.max <= c.eps * 127.5 + 0.5, `L-inf ${changed.max} > eps`);
      });

    await t.test('L-inf <= eps, alpha kept, progress reported', { skip: !haveWeights && 'no weights' }, () => {
      const pic = testPicture(150, 101, 4, 3);
      for (let p = 0; p < 150 * 101; p++) pic.data[4 * p + 3] = p % 256;
      for (const eps of [0.02, 0.05, 0.08]) {
        const seen = [];
        const out = e.protect(g, toRGBA(pic), 150, 101, { eps, onProgress: f => seen.push(f) });
        const d = diff(out, pic);
        assert.ok(d.max > 0 && d.max <= eps * 127.5 + 0.5, `eps ${eps}: L-inf ${d.max}`);
        for (let p = 0; p < 150 * 101; p++) assert.equal(out[4 * p + 3], p % 256);
        assert.ok(seen.length >= 2 && seen.at(-1) === 1, `progress ${seen}`);
      }
    });

    await t.test('bad inputs give errors and the module keeps working', { skip: !haveWeights && 'no weights' }, () => {
      const pic = testPicture(40, 32, 3, 2), rgba = toRGBA(pic);
      const ref = e.protect(g, rgba, 40, 32, { eps: 0.05 });
      const expectError = (fn, code, re) => {
        assert.throws(fn, err => err instanceof DadfiError && (!code || err.code === code) && (!re || re.test(err.message)),
          `expected a DadfiError ${code || ''}`);
        assert.ok(eqBytes(e.protect(g, rgba, 40, 32, { eps: 0.05 }), ref), 'the module works afterwards');
      };
      // corrupt weights: empty, garbage, truncated, one byte changed, a non-Gen container
      expectError(() => e.loadGen(new Uint8Array(0)), 'bad-format');
      expectError(() => e.loadGen(new Uint8Array(1000).fill(7)), 'bad-format');
      expectError(() => e.loadGen(wbytes.subarray(0, wbytes.length >> 1)), 'bad-format');
      for (const pos of [0, 20, 100, wbytes.length >> 1, wbytes.length - 1]) {
        const bad = Uint8Array.from(wbytes);
        bad[pos] ^= 0x40;
        expectError(() => e.loadGen(bad));
      }
      // sizes: zero, negative, mismatched buffer, too large, non-integer
      expectError(() => e.protect(g, new Uint8ClampedArray(0), 0, 0), 'bad-argument');
      expectError(() => e.protect(g, rgba, 0, 32), 'bad-argument');
      expectError(() => e.protect(g, rgba, 40, -32), 'bad-argument');
      expectError(() => e.protect(g, rgba, 41, 32), 'bad-argument');
      expectError(() => e.protect(g, rgba, 40.5, 32), 'bad-argument');
      expectError(() => e.protect(g, rgba, 5000, 5000), 'too-large');
      // eps and working resolution out of range
      for (const eps of [0, -0.1, 0.9, NaN]) expectError(() => e.protect(g, rgba, 40, 32, { eps }), 'bad-argument', /eps/);
      expectError(() => e.protect(g, rgba, 40, 32, { workSide: 10 }), 'bad-argument', /work_side/);
      expectError(() => e.protect(null, rgba, 40, 32), 'bad-argument');
      // the C ABI checks on its own (called directly, bypassing the JavaScript checks)
      const M = e.M, p = M._malloc(16);
      for (const [w, h] of [[0, 10], [10, 0], [-1, 5], [100000, 100000], [16385, 2]]) {
        assert.notEqual(M._dfapi_protect(g.ptr, p, w, h, 0.05, 1024), 0, `${w}x${h}`);
        assert.ok(M.UTF8ToString(M._dfapi_errmsg()).length > 0);
      }
      assert.notEqual(M._dfapi_protect(g.ptr, 0, 10, 10, 0.05, 1024), 0, 'NULL pixels');
      assert.notEqual(M._dfapi_protect(0, p, 2, 2, 0.05, 1024), 0, 'NULL model');
      assert.equal(M._dfapi_gen_load(0, 10), 0);
      M._free(p);
      assert.ok(eqBytes(e.protect(g, rgba, 40, 32, { eps: 0.05 }), ref));
      // tiny images still work (Gen pads to a multiple of 8)
      for (const [w, h] of [[1, 1], [3, 17], [8, 8]]) {
        const tiny = testPicture(w, h, 3, 4);
        const out = e.protect(g, toRGBA(tiny), w, h, { eps: 0.05 });
        assert.ok(diff(out, tiny).max <= 0.05 * 127.5 + 0.5);
      }
    });

    await t.test('out of memory is an error, not a crash', { skip: !haveWeights && 'no weights' }, () => {
      // Gen at the full 4096 x 4096 (work_side 0) needs several GB of activations: more than the module's
      // largest memory, so the allocation fails and protect reports it.
      const n = 4096 * 4096 * 4, big = new Uint8ClampedArray(n).fill(100);
      assert.throws(() => e.protect(g, big, 4096, 4096, { workSide: 0 }), err => err instanceof DadfiError && err.code === 'out-of-memory', 'expected out-of-memory');
      assert.equal(e.dead, false);
      const pic = testPicture(40, 32, 3, 2);
      assert.ok(diff(e.protect(g, toRGBA(pic), 40, 32), pic).max > 0, 'the module works afterwards');
    });

    await t.test('protectPhoto without a detector or with noDetect: the whole photo, as protect()', { skip: !haveWeights && 'no weights' }, () => {
      const pic = testPicture(130, 90, 3, 4), rgba = toRGBA(pic);
      const whole = e.protect(g, rgba, 130, 90, { eps: 0.04, workSide: 96 });
      for (const noDetect of [false, true]) {
        const seen = [];
        const r = e.protectPhoto(g, null, rgba, 130, 90, { eps: 0.04, workSide: 96, noDetect, onProgress: f => seen.push(f) });
        assert.ok(eqBytes(r.pixels, whole), `noDetect ${noDetect}: differs from protect()`);
        assert.deepEqual([r.detection, r.wholePhoto, r.squares], [noDetect ? 'off' : 'no_detector', true, []]);
        assert.equal(seen.at(-1), 1);
      }
      assert.throws(() => e.protectPhoto(g, null, rgba, 130, 90, { faceSize: 100 }), err => err.code === 'bad-argument' && /face_size/.test(err.message));
      assert.throws(() => e.protectPhoto(g, null, rgba, 130, 91), err => err.code === 'bad-argument');
      assert.throws(() => e.loadDetector(new Uint8Array(100).fill(7)), err => err instanceof DadfiError && err.code === 'bad-format');
    });

    // With the shared BlazeFace model and CelebA photos: the same faces and pixels as `dadfi protect` (the CLI's
    // and the module's code path is gf_protect_photo), nothing outside the face square changed.
    const modelJson = join(sharedDir, 'models', 'human-models', 'blazeface.json');
    const photo = join(sharedDir, 'data', 'celeba_subset', 'images', '000019.jpg');
    const imageRgb = join(buildDir, 'image_rgb');
    const skipFaces = !haveCli ? 'native dadfi not built' : !existsSync(modelJson) || !existsSync(photo)
      ? `shared models or CelebA photos absent: ${modelJson}, ${photo}` : !existsSync(imageRgb) ? `not built: ${imageRgb}` : false;
    await t.test('protectPhoto with the face detector: the native CLI\'s faces and pixels', { skip: skipFaces }, async () => {
      const { convertBlazeface } = await import('../../tools/convert_blazeface.mjs');
      const det = join(dir, 'blazeface.dfw');
      writeFileSync(det, convertBlazeface(modelJson));
      const d = e.loadDetector(readFileSync(det));
      try {
        const rgb = join(dir, 'face.rgb');
        const dims = spawnSync(imageRgb, [photo, rgb], { encoding: 'utf8' });
        assert.equal(dims.status, 0, dims.stderr);
        const src = readFileSync(rgb), CW = 400, CH = 360, ox = 100, oy = 70;
        const canvas = { width: CW, height: CH, channels: 3, data: new Uint8Array(CW * CH * 3).fill(118) };
        for (let y = 0; y < 218; y++) canvas.data.set(src.subarray(y * 178 * 3, (y + 1) * 178 * 3), ((oy + y) * CW + ox) * 3);
        writeFileSync(join(dir, 'face.png'), encodePNG(canvas));
        const r = spawnSync(dadfi, ['protect', '--json', '-', '--force', '--weights', weights, '--detector', det,
          join(dir, 'face.png'), join(dir, 'face-out.png')], { encoding: 'utf8' });
        assert.equal(r.status, 0, r.stderr);
        const f = JSON.parse(r.stdout).files[0];
        const w = e.protectPhoto(g, d, toRGBA(canvas), CW, CH, { eps: 0.05 });
        assert.equal(w.detection, 'detected');
        assert.equal(w.squares.length, f.faces);
        assert.equal(f.faces, 1);
        const [cx, cy, side] = f.squares[0];
        // the detector alone (detectFaces): the one face, on the pasted photo, its square's centre in its box
        const phFace = e.allocPhoto(CW, CH);
        try {
          phFace.view().set(toRGBA(canvas));
          const faces = e.detectFaces(d, phFace);
          assert.equal(faces.length, 1, JSON.stringify(faces));
          const b = faces[0];
          assert.ok(b.score >= 0.5 && b.score <= 1 && b.x0 > ox - 20 && b.x1 < ox + 198 && b.y0 > oy - 20 && b.y1 < oy + 238, JSON.stringify(b));
          assert.ok(cx > b.x0 && cx < b.x1 && cy > b.y0 && cy < b.y1, `square centre ${cx}, ${cy} outside ${JSON.stringify(b)}`);
          assert.throws(() => e.detectFaces(null, phFace), err => err.code === 'bad-argument');
          assert.throws(() => e.detectFaces(g, phFace), err => err.code === 'bad-argument');
        } finally {
          phFace.free();
        }
        assert.ok(Math.abs(w.squares[0].cx - cx) < 0.1 && Math.abs(w.squares[0].cy - cy) < 0.1 && Math.abs(w.squares[0].side - side) < 0.1,
          `wasm square ${JSON.stringify(w.squares[0])} vs native ${f.squares[0]}`);
        // the page's path: both photos in wasm memory, protected out of place: the same squares and pixels, the
        // input untouched; diffRGBA on changedRegion (what the page scans) equals diffRGBA on the whole photo
        const rgba = toRGBA(canvas), phSrc = e.allocPhoto(CW, CH), dst = e.allocPhoto(CW, CH);
        try {
          phSrc.view().set(rgba);
          const rt = e.protectPhotoTo(g, d, phSrc, dst, { eps: 0.05 });
          assert.deepEqual(rt, { detection: w.detection, wholePhoto: w.wholePhoto, squares: w.squares });
          assert.ok(Buffer.from(dst.view()).equals(Buffer.from(w.pixels)), 'protectPhotoTo and protectPhoto differ');
          assert.ok(Buffer.from(phSrc.view()).equals(Buffer.from(rgba)), 'protectPhotoTo changed its input');
          const full = diffRGBA(rgba, w.pixels, CW, CH), region = changedRegion(rt, CW, CH);
          assert.ok(full.changed > 0 && (region.x1 - region.x0) * (region.y1 - region.y0) < 0.5 * CW * CH);
          assert.deepEqual(diffRGBA(rgba, w.pixels, CW, CH, region), full);
          assert.throws(() => e.protectPhotoTo(g, d, phSrc, e.allocPhoto(CW, CH - 1)), err => err.code === 'bad-argument');
          assert.throws(() => e.protectPhotoTo(g, d, rgba, dst), err => err.code === 'bad-argument');
        } finally {
          phSrc.free(), dst.free();
        }
        const golden = decodePNG(readFileSync(join(dir, 'face-out.png')));
        const dd = diff(w.pixels, golden);
        assert.ok(dd.max <= 1 && dd.frac <= 0.01, `wasm vs native: max ${dd.max}, ${(100 * dd.frac).toFixed(3)} % of bytes differ`);
        let outside = 0, inside = 0;
        for (let y = 0; y < CH; y++)
          for (let x = 0; x < CW; x++) {
            const p = y * CW + x, ch = [0, 1, 2].some(c => w.pixels[4 * p + c] !== canvas.data[3 * p + c]);
            const inSq = Math.abs(x + 0.5 - cx) < side / 2 && Math.abs(y + 0.5 - cy) < side / 2;
            if (ch && !inSq) outside++;
            if (ch && inSq) inside++;
          }
        assert.equal(outside, 0, 'pixels outside the face square changed');
        assert.ok(inside > 0.5 * side * side, `${inside} pixels changed in the square`);
        // a face-free gradient: no face, the whole photo protected
        const plain = new Uint8ClampedArray(160 * 120 * 4);
        for (let p = 0; p < 160 * 120; p++) { for (let c = 0; c < 3; c++) plain[4 * p + c] = 60 + (p % 160) + 20 * c; plain[4 * p + 3] = 255; }
        const n = e.protectPhoto(g, d, plain, 160, 120, { eps: 0.05 });
        assert.deepEqual([n.detection, n.wholePhoto, n.squares.length], ['no_face', true, 0]);
        // no leak across calls with the detector
        e.protectPhoto(g, d, toRGBA(canvas), CW, CH);
        const used = e.heapUsed;
        for (let i = 0; i < 3; i++) e.protectPhoto(g, d, toRGBA(canvas), CW, CH);
        assert.equal(e.heapUsed, used, 'malloc\'d bytes changed');
      } finally {
        e.freeModel(d);
      }
    });

    await t.test('boxShrinkPhoto, shrinkBoxPhoto and diffPhotos (C) give the bytes of views.mjs boxShrink and diffRGBA', () => {
      let seed = 7;
      const rnd = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
      for (const [w, h, f] of [[1, 1, 1], [5, 3, 2], [37, 23, 2], [64, 48, 2], [33, 65, 3], [100, 7, 16], [17, 40, 5]]) {
        const ph = e.allocPhoto(w, h), src = new Uint8ClampedArray(w * h * 4);
        try {
          for (let i = 0; i < src.length; i++) src[i] = rnd() * 256;
          ph.view().set(src);
          const vw = Math.ceil(w / f), vh = Math.ceil(h / f);
          const boxes = [[0, 0, vw, vh], [Math.floor(vw / 3), Math.floor(vh / 4), vw, Math.ceil(vh / 2)], [vw - 1, vh - 1, vw, vh], [0, 0, 0, 0]];
          for (const b of boxes) {
            const want = boxShrink(src, w, h, f, new Uint8ClampedArray(vw * vh * 4).fill(9), ...b);
            const got = e.boxShrinkPhoto(ph, f, new Uint8ClampedArray(vw * vh * 4).fill(9), ...b);
            assert.deepEqual([...got], [...want], `${w} x ${h}, factor ${f}, box ${b}`);
            if (b[2] <= b[0] || b[3] <= b[1]) continue;
            // shrinkBoxPhoto: the box's view pixels alone (the page's changed box)
            const box = e.shrinkBoxPhoto(ph, f, ...b), bw = b[2] - b[0];
            assert.equal(box.length, bw * (b[3] - b[1]) * 4);
            for (let vy = b[1]; vy < b[3]; vy++)
              assert.deepEqual([...box.subarray((vy - b[1]) * bw * 4, (vy - b[1] + 1) * bw * 4)],
                [...want.subarray((vy * vw + b[0]) * 4, (vy * vw + b[2]) * 4)], `${w} x ${h}, factor ${f}, box ${b}, row ${vy}`);
          }
          assert.throws(() => e.shrinkBoxPhoto(ph, f, 0, 0, vw + 1, vh), err => err.code === 'bad-argument');
          // diffPhotos: views.mjs diffRGBA in C, whole and over a region, changed pixels scattered
          const q = e.allocPhoto(w, h), other = src.slice();
          try {
            for (let i = 0; i < other.length; i += 4 * 7) other[i + (i % 4 === 0 ? (i >> 2) % 4 : 0)] ^= 1 + ((i >> 3) % 31);
            q.view().set(other);
            for (const region of [undefined, { x0: 1, y0: 1, x1: w - 1, y1: h - 1 }, { x0: -3, y0: 2.5, x1: w + 9, y1: h / 2 }, null]) {
              const want = diffRGBA(src, other, w, h, ...(region === undefined ? [] : [region]));
              assert.deepEqual(e.diffPhotos(ph, q, ...(region === undefined ? [] : [region])), want, `${w} x ${h}, region ${JSON.stringify(region)}`);
            }
            assert.deepEqual(e.diffPhotos(ph, ph), { linf: 0, psnr: Infinity, changed: 0, box: null });
          } finally {
            q.free();
          }
          assert.throws(() => e.shrinkBoxPhoto(ph, f, 1, 0, 1, vh), err => err.code === 'bad-argument');
          assert.throws(() => e.boxShrinkPhoto(ph, 17, new Uint8ClampedArray(4)), err => err.code === 'bad-argument');
          assert.throws(() => e.boxShrinkPhoto(ph, f, new Uint8ClampedArray(vw * vh * 4), 0, 0, vw + 1, vh), err => err.code === 'bad-argument');
          assert.throws(() => e.boxShrinkPhoto(ph, f, new Uint8ClampedArray(vw * vh * 4 - 4)), err => err.code === 'bad-argument');
        } finally {
          ph.free();
        }
      }
      assert.throws(() => e.allocPhoto(0, 5), err => err.code === 'bad-argument');
      assert.throws(() => e.allocPhoto(5000, 5000), err => err.code === 'too-large');
    });

    await t.test('preview without a deepfake model is a clear error', () => {
      assert.throws(() => e.loadZoo(new Uint8Array(64).fill(1)), DadfiError);
      const px = new Uint8ClampedArray(16 * 16 * 4);
      assert.throws(() => e.zooPreview(null, px, px, 16, 16, { cx: 8, cy: 8, side: 16 }), err => err.code === 'unsupported');
    });

    await t.test('memory does not grow over 50 runs', { skip: !haveWeights && 'no weights' }, () => {
      const pic = testPicture(120, 90, 3, 6), rgba = toRGBA(pic);
      e.protect(g, rgba, 120, 90); // warm: Gen plans its arena for this size
      const heap0 = e.heapBytes, used0 = e.heapUsed;
      for (let i = 0; i < 50; i++) {
        e.protect(g, rgba, 120, 90);
        assert.throws(() => e.loadGen(wbytes.subarray(0, 200)));
      }
      assert.equal(e.heapUsed, used0, 'malloc\'d bytes changed');
      assert.equal(e.heapBytes, heap0, 'the wasm memory grew');
      // loading and freeing models does not leak either
      const before = e.heapUsed;
      for (let i = 0; i < 10; i++) e.freeModel(e.loadGen(wbytes));
      assert.equal(e.heapUsed, before);
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
