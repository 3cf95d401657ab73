// The page's display views (web/views.mjs, run by the worker): the whole-factor box shrink against a plain
// per-pixel reference (every factor and edge case), the RGBA comparison (L-inf, PSNR, changed box) against a plain
// loop, and makeViews: shrinking only the changed box gives the same views as shrinking both photos whole; the
// page's two steps (the original's view, then viewPatch's changed box) give makeViews' views exactly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { viewFactor, diffRGBA, boxShrink, makeViews, viewPatch, applyViewPatch } from '../../web/views.mjs';

function picture(w, h, seed) {
  const a = new Uint8ClampedArray(w * h * 4);
  let s = seed >>> 0;
  for (let i = 0; i < a.length; i++) { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; a[i] = s >>> 24; }
  return a;
}

function shrinkRef(src, w, h, f) {
  const vw = Math.ceil(w / f), vh = Math.ceil(h / f), out = new Uint8ClampedArray(vw * vh * 4);
  for (let vy = 0; vy < vh; vy++)
    for (let vx = 0; vx < vw; vx++)
      for (let c = 0; c < 4; c++) {
        let sum = 0, n = 0;
        for (let y = vy * f; y < Math.min(h, vy * f + f); y++)
          for (let x = vx * f; x < Math.min(w, vx * f + f); x++, n++) sum += src[(y * w + x) * 4 + c];
        out[(vy * vw + vx) * 4 + c] = Math.floor((sum + (n >> 1)) / n);
      }
  return out;
}

test('viewFactor: the smallest whole factor that fits the longest side', () => {
  assert.equal(viewFactor(320, 240), 1);
  assert.equal(viewFactor(2048, 100), 1);
  assert.equal(viewFactor(2049, 100), 2);
  assert.equal(viewFactor(4000, 3000), 2);
  assert.equal(viewFactor(3000, 4096), 2);
  assert.equal(viewFactor(4097, 10), 3);
  assert.equal(viewFactor(1000, 10, 300), 4);
});

test('boxShrink equals the per-pixel mean of each block, edges included', () => {
  for (const [w, h] of [[1, 1], [7, 5], [16, 16], [33, 18], [50, 3]])
    for (const f of [1, 2, 3, 4, 7, 16]) {
      const src = picture(w, h, w * 131 + h * 7 + f);
      const got = boxShrink(src, w, h, f, new Uint8ClampedArray(Math.ceil(w / f) * Math.ceil(h / f) * 4));
      assert.deepEqual(got, shrinkRef(src, w, h, f), `${w}x${h} / ${f}`);
    }
  // extremes: all 255 (the largest sums a lane holds) and all 0
  for (const v of [0, 255]) {
    const src = new Uint8ClampedArray(32 * 32 * 4).fill(v);
    assert.ok(boxShrink(src, 32, 32, 16, new Uint8ClampedArray(16)).every(x => x === v));
  }
  // a sub-box writes only its pixels; an unaligned source is handled
  const w = 21, h = 13, f = 3, src = picture(w, h, 9), vw = 7, ref = shrinkRef(src, w, h, f);
  const dst = new Uint8ClampedArray(vw * 5 * 4).fill(7);
  const off = new Uint8ClampedArray(src.length + 1);
  off.set(src, 1);
  boxShrink(off.subarray(1), w, h, f, dst, 2, 1, 5, 4);
  for (let vy = 0; vy < 5; vy++)
    for (let vx = 0; vx < vw; vx++)
      for (let c = 0; c < 4; c++) {
        const i = (vy * vw + vx) * 4 + c, inside = vx >= 2 && vx < 5 && vy >= 1 && vy < 4;
        assert.equal(dst[i], inside ? ref[i] : 7, `(${vx}, ${vy})`);
      }
  assert.throws(() => boxShrink(src, w, h, 17, dst), RangeError);
  assert.throws(() => boxShrink(src, w + 1, h, 2, dst), RangeError);
});

test('diffRGBA: L-inf and PSNR over RGB, the changed pixels and their box', () => {
  const w = 37, h = 23, a = picture(w, h, 3);
  const same = diffRGBA(a, a.slice(), w, h);
  assert.deepEqual(same, { linf: 0, psnr: Infinity, changed: 0, box: null });
  const b = a.slice();
  const edits = [[5, 4, 0, 3], [30, 4, 2, -7], [12, 19, 1, 2], [6, 10, 3, 9]]; // x, y, channel, change
  for (const [x, y, c, d] of edits) { // a change of |d| that stays within 0..255
    const i = (y * w + x) * 4 + c;
    b[i] = a[i] >= 128 ? a[i] - Math.abs(d) : a[i] + Math.abs(d);
  }
  let linf = 0, se = 0, changed = 0, x0 = w, y0 = h, x1 = 0, y1 = 0;
  for (let p = 0; p < w * h; p++) {
    let any = false;
    for (let c = 0; c < 4; c++) {
      const d = a[4 * p + c] - b[4 * p + c];
      if (d) any = true;
      if (c < 3) { se += d * d; linf = Math.max(linf, Math.abs(d)); }
    }
    if (any) { changed++; const x = p % w, y = (p - x) / w; x0 = Math.min(x0, x); y0 = Math.min(y0, y); x1 = Math.max(x1, x + 1); y1 = Math.max(y1, y + 1); }
  }
  const r = diffRGBA(a, b, w, h);
  assert.equal(r.linf, linf);
  assert.ok(linf === 7 && changed === 4, `test set-up: linf ${linf}, changed ${changed}`);
  assert.ok(Math.abs(r.psnr - 10 * Math.log10(255 * 255 / (se / (w * h * 3)))) < 1e-9);
  assert.equal(r.changed, changed);
  assert.deepEqual(r.box, { x0, y0, x1, y1 });
  assert.deepEqual(r.box, { x0: 5, y0: 4, x1: 31, y1: 20 });
  // unaligned buffers take the byte path and agree
  const ua = new Uint8ClampedArray(a.length + 2), ub = new Uint8ClampedArray(b.length + 3);
  ua.set(a, 2);
  ub.set(b, 3);
  assert.deepEqual(diffRGBA(ua.subarray(2), ub.subarray(3), w, h), r);
  assert.throws(() => diffRGBA(a, b.subarray(4), w, h), RangeError);
});

test('makeViews: shrinking only the changed box equals shrinking both photos whole', () => {
  const eps = 0.05, k = 127 / (eps * 127.5);
  for (const [w, h, maxSide] of [[101, 67, 30], [64, 48, 2048], [90, 90, 45]]) {
    const orig = picture(w, h, w + h), prot = orig.slice();
    // a protected "face": +-3 levels in a square
    for (let y = 20; y < 41; y++)
      for (let x = 31; x < 58; x++)
        for (let c = 0; c < 3; c++) prot[(y * w + x) * 4 + c] += ((x + y + c) % 7) - 3;
    const d = diffRGBA(orig, prot, w, h);
    const v = makeViews(orig, prot, w, h, eps, d.box, maxSide);
    const f = viewFactor(w, h, maxSide);
    assert.equal(v.factor, f);
    assert.equal(v.width, Math.ceil(w / f));
    assert.equal(v.height, Math.ceil(h / f));
    const o = shrinkRef(orig, w, h, f), p = shrinkRef(prot, w, h, f);
    assert.deepEqual(v.original, o);
    assert.deepEqual(v.protected, p, `${w}x${h}: the protected view`);
    const pert = new Uint8ClampedArray(o.length);
    for (let i = 0; i < o.length; i += 4) {
      for (let c = 0; c < 3; c++) pert[i + c] = 128 + k * (p[i + c] - o[i + c]);
      pert[i + 3] = 255;
    }
    assert.deepEqual(v.perturbation, pert, `${w}x${h}: the perturbation`);
    assert.ok(v.perturbation.some((x, i) => i % 4 !== 3 && x !== 128), 'the perturbation shows');
    // nothing changed: the protected view is the original, the perturbation mid-grey
    const none = makeViews(orig, orig, w, h, eps, null, maxSide);
    assert.deepEqual(none.protected, o);
    assert.ok(none.perturbation.every((x, i) => x === (i % 4 === 3 ? 255 : 128)));
  }
});

test('viewPatch: the original\'s view and the changed box give makeViews\' views exactly', () => {
  const eps = 0.05;
  for (const [w, h, maxSide] of [[101, 67, 30], [64, 48, 2048], [90, 90, 45], [77, 50, 20]]) {
    const orig = picture(w, h, 3 * w + h), prot = orig.slice();
    for (let y = 9; y < 33; y++)
      for (let x = 17; x < 44; x++)
        for (let c = 0; c < 3; c++) prot[(y * w + x) * 4 + c] += ((2 * x + y + c) % 9) - 4;
    const d = diffRGBA(orig, prot, w, h), f = viewFactor(w, h, maxSide), vw = Math.ceil(w / f), vh = Math.ceil(h / f);
    const v = makeViews(orig, prot, w, h, eps, d.box, maxSide);
    const original = boxShrink(orig, w, h, f, new Uint8ClampedArray(vw * vh * 4));
    const patch = viewPatch(orig, prot, w, h, eps, d.box, f);
    const b = patch.box;
    assert.deepEqual(b, { x: Math.floor(d.box.x0 / f), y: Math.floor(d.box.y0 / f), width: Math.ceil(d.box.x1 / f) - Math.floor(d.box.x0 / f), height: Math.ceil(d.box.y1 / f) - Math.floor(d.box.y0 / f) });
    assert.equal(patch.protected.length, b.width * b.height * 4);
    const all = applyViewPatch(original, vw, vh, patch);
    assert.deepEqual(all.original, v.original);
    assert.deepEqual(all.protected, v.protected, `${w}x${h} / ${f}: the protected view`);
    assert.deepEqual(all.perturbation, v.perturbation, `${w}x${h} / ${f}: the perturbation`);
    // nothing changed: no box, and the views are the original and mid-grey
    const none = viewPatch(orig, orig, w, h, eps, null, f);
    assert.deepEqual(none, { box: null, protected: null, perturbation: null });
    const nv = applyViewPatch(original, vw, vh, none);
    assert.deepEqual(nv.protected, original);
    assert.ok(nv.perturbation.every((x, i) => x === (i % 4 === 3 ? 255 : 128)));
  }
});
