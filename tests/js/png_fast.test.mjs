// The page's PNG encoder (core/io/png_fast.c through engine.encodePngPhoto): every file, decoded by the independent
// decoder in png.mjs (Node's zlib inflates it, so the zlib stream, its Adler-32 and every chunk's CRC are checked),
// must hold exactly the photo's pixels: odd sizes, opaque photos (written as RGB) and transparent ones (RGBA),
// every filter, flat areas (runs), noise, one row, one column, and files made in one step or many.
// Needs DF_WASM_DIR (build-wasm/wasm; tools/test.sh sets it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { decodePNG, testPicture } from './png.mjs';
import { loadEngine, DadfiError } from '../../web/engine.mjs';

const wasmDir = process.env.DF_WASM_DIR;
const modulePath = wasmDir && join(wasmDir, 'dadfi-wasm.mjs');
const skip = !wasmDir ? 'DF_WASM_DIR is not set (tools/test.sh sets it after building build-wasm)'
  : !existsSync(modulePath) ? `no wasm module at ${modulePath} (build build-wasm first)` : false;
const load = () => loadEngine({ moduleUrl: pathToFileURL(modulePath).href, wasmBinary: readFileSync(join(wasmDir, 'dadfi-wasm.wasm')) });

// A w x h RGBA photo: texture, a flat band (long runs), pure noise at the bottom; alpha 255 or varying.
function photo(w, h, { alpha = false, seed = 1 } = {}) {
  const pic = testPicture(w, h, 4, seed), d = pic.data;
  let s = seed * 7919 >>> 0;
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const i = 4 * (y * w + x);
      if (y % 7 === 3) d[i] = d[i + 1] = d[i + 2] = 200;          // flat rows
      else if (y > h * 0.8) for (let c = 0; c < 3; c++) s = (Math.imul(s, 1664525) + 1013904223) >>> 0, d[i + c] = s >>> 24;
      d[i + 3] = alpha ? (x * 37 + y * 11) & 255 : 255;
    }
  return pic;
}

function encodeDecode(e, pic, opts) {
  const ph = e.allocPhoto(pic.width, pic.height);
  try {
    ph.view().set(pic.data);
    const r = e.encodePngPhoto(ph, opts);
    const file = Buffer.concat(r.parts.map(p => Buffer.from(p)));
    assert.equal(file.length, r.bytes);
    return { r, file, dec: decodePNG(file) };
  } finally {
    ph.free();
  }
}

function assertSamePixels(dec, pic, channels, what) {
  assert.equal(dec.width, pic.width, what);
  assert.equal(dec.height, pic.height, what);
  assert.equal(dec.channels, channels, what);
  for (let p = 0; p < pic.width * pic.height; p++)
    for (let c = 0; c < channels; c++)
      if (dec.data[p * channels + c] !== pic.data[4 * p + c])
        assert.fail(`${what}: pixel ${p % pic.width},${Math.floor(p / pic.width)} channel ${c}: ${dec.data[p * channels + c]} != ${pic.data[4 * p + c]}`);
}

test('PNG encoder: decodes to exactly the pixels (sizes, RGB/RGBA, filters, steps)', { skip }, async () => {
  const e = await load();
  const used = e.heapUsed;
  for (const [w, h] of [[1, 1], [1, 9], [9, 1], [2, 3], [17, 13], [31, 64], [257, 35], [640, 37]])
    for (const alpha of [false, true])
      for (const filter of [0, 1, 2, 3, 4, -1])
        for (const steps of [1, 3]) {
          const pic = photo(w, h, { alpha, seed: w + h }), what = `${w}x${h} alpha ${alpha} filter ${filter} steps ${steps}`;
          const { r, dec } = encodeDecode(e, pic, { filter, steps });
          assert.equal(r.channels, alpha ? 4 : 3, what); // opaque photos are written as RGB
          assert.equal(r.parts.length, Math.min(steps, h), what);
          assertSamePixels(dec, pic, r.channels, what);
        }
  // forced channels: RGBA for an opaque photo; RGB drops alpha
  const pic = photo(33, 20);
  assertSamePixels(encodeDecode(e, pic, { channels: 4 }).dec, pic, 4, 'forced RGBA');
  assertSamePixels(encodeDecode(e, photo(33, 20, { alpha: true }), { channels: 3 }).dec, photo(33, 20, { alpha: true }), 3, 'forced RGB');
  assert.ok(e.heapUsed <= used, 'no memory left allocated');
});

test('PNG encoder: one alpha value below 255 keeps RGBA; a large photo in blocks; flat photos stay small', { skip }, async () => {
  const e = await load();
  const pic = photo(50, 40);
  pic.data[4 * (50 * 39 + 49) + 3] = 254; // the very last pixel
  const { r, dec } = encodeDecode(e, pic, {});
  assert.equal(r.channels, 4);
  assertSamePixels(dec, pic, 4, 'last pixel translucent');
  // several deflate blocks per step (256 KB each) and several steps
  const big = photo(1500, 700, { seed: 5 });
  const b = encodeDecode(e, big, { steps: 4 });
  assertSamePixels(b.dec, big, 3, '1500x700');
  // a flat photo: runs make it tiny (Huffman alone would need at least 1 bit a byte)
  const flat = { width: 1000, height: 800, channels: 4, data: new Uint8Array(1000 * 800 * 4).fill(255) };
  const f = encodeDecode(e, flat, {});
  assertSamePixels(f.dec, flat, 3, 'flat');
  assert.ok(f.file.length < 60000, `flat 1000x800 photo: ${f.file.length} bytes`);
});

test('PNG encoder: bad arguments are errors, the module keeps working', { skip }, async () => {
  const e = await load();
  const ph = e.allocPhoto(4, 4);
  assert.throws(() => e.encodePngPhoto(ph, { filter: 7 }), DadfiError);
  assert.throws(() => e.encodePngPhoto(ph, { channels: 2 }), DadfiError);
  assert.throws(() => e.encodePngPhoto({ kind: 'photo', ptr: 0 }), DadfiError);
  assert.equal(e.dead, false);
  ph.view().fill(7);
  assert.equal(decodePNG(Buffer.concat(e.encodePngPhoto(ph).parts)).data[0], 7);
  ph.free();
});
