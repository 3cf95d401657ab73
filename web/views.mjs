// Display-size views of a protected photo, made in the worker (web/worker.mjs) from the full-size pixels:
// the original, the protected photo and the perturbation amplified.  A 12 MP photo is shrunk by a whole factor
// (box filter: every view pixel is the mean of its f x f block), and only the part of the photo that protection
// changed (a face square, or the whole photo) is shrunk a second time, so that a face costs a face's worth of work.
// The worker sends the original's view as soon as the photo is decoded and, once it is protected, only the changed
// box of the other two (viewPatch): the page draws the first while the photo is being protected.
// Pure JavaScript on typed arrays; also run by tests/js/views.test.mjs in Node.

/** The whole factor f by which a w x h photo is shrunk so that its longest side is at most maxSide. */
export function viewFactor(width, height, maxSide = 2048) {
  return Math.max(1, Math.ceil(Math.max(width, height) / maxSide));
}

/**
 * Compare two RGBA buffers of one w x h photo over RGB: the largest |a - b| (linf), the PSNR (0..255 scale), the
 * number of pixels that differ in any byte, and the smallest box holding them ({x0, y0, x1, y1}, x1 and y1
 * exclusive; null if none).  Pixels are compared 4 bytes at a time, so a photo with one protected face costs
 * little more than a pass over memory.  region ({x0, y0, x1, y1}, clipped to the photo; null: none; default the
 * whole photo): only pixels there are compared, the others are known to be equal (the protector changes nothing
 * outside its face squares), so a face costs a face's worth of work.
 */
export function diffRGBA(a, b, width, height, region = { x0: 0, y0: 0, x1: width, y1: height }) {
  if (a.length !== b.length || a.length !== width * height * 4) throw new RangeError('diffRGBA: buffer sizes do not match');
  const rx0 = region ? Math.max(0, Math.floor(region.x0)) : 0, rx1 = region ? Math.min(width, Math.ceil(region.x1)) : 0;
  const ry0 = region ? Math.max(0, Math.floor(region.y0)) : 0, ry1 = region ? Math.min(height, Math.ceil(region.y1)) : 0;
  const aligned = a.byteOffset % 4 === 0 && b.byteOffset % 4 === 0;
  const a32 = aligned ? new Uint32Array(a.buffer, a.byteOffset, a.length >> 2) : null;
  const b32 = aligned ? new Uint32Array(b.buffer, b.byteOffset, b.length >> 2) : null;
  let linf = 0, se = 0, changed = 0, x0 = width, y0 = height, x1 = 0, y1 = 0;
  for (let y = ry0; y < ry1; y++) {
    let rowChanged = false;
    for (let x = rx0, p = y * width + rx0; x < rx1; x++, p++) {
      if (aligned ? a32[p] === b32[p] : a[4 * p] === b[4 * p] && a[4 * p + 1] === b[4 * p + 1] && a[4 * p + 2] === b[4 * p + 2] && a[4 * p + 3] === b[4 * p + 3]) continue;
      const i = 4 * p, d0 = a[i] - b[i], d1 = a[i + 1] - b[i + 1], d2 = a[i + 2] - b[i + 2];
      se += d0 * d0 + d1 * d1 + d2 * d2;
      const m = Math.max(Math.abs(d0), Math.abs(d1), Math.abs(d2));
      if (m > linf) linf = m;
      changed++;
      rowChanged = true;
      if (x < x0) x0 = x;
      if (x >= x1) x1 = x + 1;
    }
    if (rowChanged) {
      if (y < y0) y0 = y;
      y1 = y + 1;
    }
  }
  const mse = se / (width * height * 3);
  return { linf, psnr: mse === 0 ? Infinity : 10 * Math.log10(255 * 255 / mse), changed, box: changed ? { x0, y0, x1, y1 } : null };
}

/**
 * The part of a w x h photo that protection can have changed, for diffRGBA's region: the union of the face squares
 * (protectPhoto's result r; gf_protect_photo changes nothing outside them; a pixel of margin), the whole photo
 * (r.wholePhoto), or nothing (null).
 */
export function changedRegion(r, w, h) {
  if (r.wholePhoto) return { x0: 0, y0: 0, x1: w, y1: h };
  if (!r.squares.length) return null;
  const g = { x0: w, y0: h, x1: 0, y1: 0 };
  for (const q of r.squares) {
    g.x0 = Math.min(g.x0, Math.floor(q.cx - q.side / 2) - 1), g.y0 = Math.min(g.y0, Math.floor(q.cy - q.side / 2) - 1);
    g.x1 = Math.max(g.x1, Math.ceil(q.cx + q.side / 2) + 1), g.y1 = Math.max(g.y1, Math.ceil(q.cy + q.side / 2) + 1);
  }
  return g;
}

// Where the bytes of a pixel's 32-bit word sit (R, G, B, A in memory): word bits 0-7 are byte B0 of the pixel.
const LITTLE = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
const [B0, B1, B2, B3] = LITTLE ? [0, 1, 2, 3] : [3, 2, 1, 0];

/**
 * Shrink src (RGBA, w x h) by the whole factor f (1..16) into dst (RGBA, vw x vh with vw = ceil(w / f), vh =
 * ceil(h / f)): each dst pixel is the rounded mean of its f x f block of src (smaller at the right and bottom
 * edges).  Only dst pixels in the view-pixel box [vx0, vx1) x [vy0, vy1) are written (default: all).
 */
export function boxShrink(src, w, h, f, dst, vx0 = 0, vy0 = 0, vx1 = Math.ceil(w / f), vy1 = Math.ceil(h / f)) {
  if (!(f >= 1 && f <= 16 && Number.isInteger(f))) throw new RangeError(`boxShrink: factor ${f} not in 1..16`);
  if (src.length !== w * h * 4) throw new RangeError('boxShrink: the buffer does not match the size');
  const vw = Math.ceil(w / f);
  if (f === 1) { // a copy of the box
    for (let vy = vy0; vy < vy1; vy++) dst.set(src.subarray(4 * (vy * w + vx0), 4 * (vy * w + vx1)), 4 * (vy * vw + vx0));
    return dst;
  }
  if (src.byteOffset % 4) src = src.slice();
  const s32 = new Uint32Array(src.buffer, src.byteOffset, w * h);
  // Two 16-bit lanes per word (bytes 0 and 2, bytes 1 and 3): at most 16 x 16 x 255 = 65280 per lane, no carry.
  const n = vx1 - vx0, lo = new Uint32Array(n), hi = new Uint32Array(n);
  for (let vy = vy0; vy < vy1; vy++) {
    const ya = vy * f, yb = Math.min(h, ya + f);
    lo.fill(0);
    hi.fill(0);
    for (let y = ya; y < yb; y++) {
      let p = y * w + vx0 * f;
      for (let k = 0; k < n; k++) {
        const xb = Math.min(f, w - (vx0 + k) * f);
        let l = 0, u = 0;
        for (let j = 0; j < xb; j++, p++) {
          const v = s32[p];
          l += v & 0x00ff00ff;
          u += (v >>> 8) & 0x00ff00ff;
        }
        lo[k] += l;
        hi[k] += u;
      }
    }
    for (let k = 0, d = 4 * (vy * vw + vx0); k < n; k++, d += 4) {
      const cnt = Math.min(f, w - (vx0 + k) * f) * (yb - ya), half = cnt >> 1, l = lo[k], u = hi[k];
      dst[d + B0] = ((l & 0xffff) + half) / cnt | 0;
      dst[d + B1] = ((u & 0xffff) + half) / cnt | 0;
      dst[d + B2] = ((l >>> 16) + half) / cnt | 0;
      dst[d + B3] = ((u >>> 16) + half) / cnt | 0;
    }
  }
  return dst;
}

/**
 * The changed part of the views, for a page that already shows the original's view (the photo shrunk by f, vw x vh
 * view pixels): {box: {x, y, width, height} (view pixels) or null (nothing changed), protected, perturbation (RGBA
 * Uint8ClampedArrays of the box's size, or null)}.  The box is diffRGBA's (photo pixels) in view pixels; the
 * protected view there is prot shrunk, the perturbation 128 + (protected - original) amplified as in makeViews,
 * so that the original's view with the protected patch over it, and mid-grey with the perturbation patch over
 * it, are exactly makeViews' protected and perturbation views.  shrinkBox(src, f, vx0, vy0, vx1, vy1): the view
 * pixels of [vx0, vx1) x [vy0, vy1) (a new RGBA array of that size; default boxShrink on RGBA arrays; the worker
 * passes the engine's, in C, with orig and prot photos in wasm memory).
 */
export function viewPatch(orig, prot, width, height, eps, box, f, shrinkBox = (src, g, vx0, vy0, vx1, vy1) => {
  const vw = Math.ceil(width / g), full = boxShrink(src, width, height, g, new Uint8ClampedArray(vw * Math.ceil(height / g) * 4), vx0, vy0, vx1, vy1);
  const out = new Uint8ClampedArray((vx1 - vx0) * (vy1 - vy0) * 4);
  for (let vy = vy0; vy < vy1; vy++) out.set(full.subarray(4 * (vy * vw + vx0), 4 * (vy * vw + vx1)), 4 * (vy - vy0) * (vx1 - vx0));
  return out;
}) {
  if (!box) return { box: null, protected: null, perturbation: null };
  const vx0 = Math.floor(box.x0 / f), vy0 = Math.floor(box.y0 / f), vx1 = Math.ceil(box.x1 / f), vy1 = Math.ceil(box.y1 / f);
  const o = shrinkBox(orig, f, vx0, vy0, vx1, vy1), p = shrinkBox(prot, f, vx0, vy0, vx1, vy1);
  const perturbation = new Uint8ClampedArray(o.length), k = 127 / Math.max(1, eps * 127.5);
  for (let i = 0; i < o.length; i += 4) {
    perturbation[i] = 128 + k * (p[i] - o[i]);
    perturbation[i + 1] = 128 + k * (p[i + 1] - o[i + 1]);
    perturbation[i + 2] = 128 + k * (p[i + 2] - o[i + 2]);
    perturbation[i + 3] = 255;
  }
  return { box: { x: vx0, y: vy0, width: vx1 - vx0, height: vy1 - vy0 }, protected: p, perturbation };
}

/** The views makeViews returns, from the original's view and viewPatch's patch (new arrays; `original` is kept). */
export function applyViewPatch(original, vw, vh, patch) {
  const protectedView = new Uint8ClampedArray(original), perturbation = new Uint8ClampedArray(vw * vh * 4);
  new Uint32Array(perturbation.buffer).fill(new Uint32Array(new Uint8Array([128, 128, 128, 255]).buffer)[0]);
  const b = patch.box;
  if (b)
    for (let y = 0; y < b.height; y++) {
      const src = 4 * y * b.width, dst = 4 * ((b.y + y) * vw + b.x), n = 4 * b.width;
      protectedView.set(patch.protected.subarray(src, src + n), dst);
      perturbation.set(patch.perturbation.subarray(src, src + n), dst);
    }
  return { width: vw, height: vh, original, protected: protectedView, perturbation };
}

/**
 * The three views of a protected photo: {width, height (of the views), factor, original, protected, perturbation}
 * (RGBA Uint8ClampedArrays).  The original is shrunk whole; the protected view is the original's with the changed
 * box (diffRGBA's box, in photo pixels, or null) shrunk again from prot; the perturbation is mid-grey where nothing
 * changed and 128 + (protected - original) amplified so that +-eps spans 0..255 (from the shrunk pair: the
 * shrinking is linear).  The views of a photo that changed everywhere equal those of shrinking both photos whole.
 * shrink(src, f, dst, vx0, vy0, vx1, vy1): how orig and prot are shrunk (default boxShrink on RGBA arrays; the
 * worker passes the engine's boxShrinkPhoto, the same bytes in C, with orig and prot photos in wasm memory).
 */
export function makeViews(orig, prot, width, height, eps, box, maxSide = 2048,
  shrink = (src, f, dst, vx0, vy0, vx1, vy1) => boxShrink(src, width, height, f, dst, vx0, vy0, vx1, vy1)) {
  const f = viewFactor(width, height, maxSide), vw = Math.ceil(width / f), vh = Math.ceil(height / f);
  const original = shrink(orig, f, new Uint8ClampedArray(vw * vh * 4), 0, 0, vw, vh);
  const protectedView = new Uint8ClampedArray(original);
  const perturbation = new Uint8ClampedArray(vw * vh * 4);
  new Uint32Array(perturbation.buffer).fill(new Uint32Array(new Uint8Array([128, 128, 128, 255]).buffer)[0]);
  if (box) {
    const vx0 = Math.floor(box.x0 / f), vy0 = Math.floor(box.y0 / f), vx1 = Math.ceil(box.x1 / f), vy1 = Math.ceil(box.y1 / f);
    shrink(prot, f, protectedView, vx0, vy0, vx1, vy1);
    const k = 127 / Math.max(1, eps * 127.5);
    for (let vy = vy0; vy < vy1; vy++)
      for (let i = 4 * (vy * vw + vx0), e = 4 * (vy * vw + vx1); i < e; i += 4) {
        perturbation[i] = 128 + k * (protectedView[i] - original[i]);
        perturbation[i + 1] = 128 + k * (protectedView[i + 1] - original[i + 1]);
        perturbation[i + 2] = 128 + k * (protectedView[i + 2] - original[i + 2]);
      }
  }
  return { width: vw, height: vh, factor: f, original, protected: protectedView, perturbation };
}
