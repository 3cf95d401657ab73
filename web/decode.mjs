// Decoding a photo in the worker (web/worker.mjs) straight into the engine's wasm memory.
// createImageBitmap decodes (EXIF orientation applied); the pixels then travel into an engine photo buffer
// (engine.allocPhoto) by VideoFrame.copyTo, one copy and no canvas, when the bitmap is opaque (format RGBX /
// BGRX: premultiplied and straight colour are then the same bytes, alpha 255) and already sRGB; otherwise
// (transparency, another colour profile such as Display P3, no WebCodecs) by drawing into an sRGB canvas and
// getImageData, as before (VideoFrame's own conversion from P3 rounds a few bytes differently).  Both
// give the same bytes (tests/js/browser.test.mjs compares them on JPEG, Display-P3 JPEG and transparent PNG).
import { DadfiError, LIMITS } from './engine.mjs';

export const MAX_FILE_BYTES = 200 * 1024 * 1024;

/** The checked ImageBitmap of a file (the caller closes it). */
export async function decodeBitmap(blob) {
  if (!(blob instanceof Blob) || blob.size === 0) throw new DadfiError('The file is empty.', 'not-an-image');
  if (blob.size > MAX_FILE_BYTES) throw new DadfiError(`The file is too large (${(blob.size / 1048576).toFixed(0)} MB; at most ${MAX_FILE_BYTES / 1048576} MB).`, 'too-large');
  let bmp;
  try {
    // Premultiplied (the default) decodes a 12 MP JPEG twice as fast as premultiplyAlpha 'none', and the pixels
    // read back are the same: the canvas stores premultiplied colour either way, and an opaque photo's are exact.
    bmp = await createImageBitmap(blob, { imageOrientation: 'from-image' });
  } catch (e) {
    if (e instanceof TypeError) { // older browsers: no options (they apply EXIF orientation by default or not at all)
      try { bmp = await createImageBitmap(blob); } catch { bmp = null; }
    }
    if (!bmp) throw new DadfiError('This file is not an image this browser can read (use JPEG, PNG or WebP).', 'not-an-image');
  }
  const { width, height } = bmp;
  if (width * height > LIMITS.maxPixels || width > LIMITS.maxSide || height > LIMITS.maxSide) {
    bmp.close();
    throw new DadfiError(`The image is too large: ${width} x ${height} pixels (${(width * height / 1e6).toFixed(1)} MP); at most ${LIMITS.maxPixels / 1e6 | 0} megapixels, e.g. 4096 x 4096.`, 'too-large');
  }
  return bmp;
}

/** The bitmap's RGBA pixels (straight alpha, sRGB) by the canvas: a new Uint8ClampedArray. */
export function canvasPixels(bmp) {
  const ctx = new OffscreenCanvas(bmp.width, bmp.height).getContext('2d', { willReadFrequently: true });
  ctx.drawImage(bmp, 0, 0);
  return ctx.getImageData(0, 0, bmp.width, bmp.height).data;
}

/**
 * Write the bitmap's RGBA pixels into the engine photo ph (allocPhoto, the bitmap's size).  Returns the path taken:
 * 'videoframe' (opaque bitmap, one copy straight into wasm memory) or 'canvas'.  path 'canvas' forces the canvas.
 */
export async function pixelsInto(bmp, ph, { path = 'auto' } = {}) {
  if (!ph || ph.width !== bmp.width || ph.height !== bmp.height) throw new DadfiError('decode: the buffer does not match the image', 'internal');
  if (path !== 'canvas' && typeof VideoFrame === 'function') {
    let vf = null;
    try {
      vf = new VideoFrame(bmp, { timestamp: 0 });
      const opts = { format: 'RGBA', colorSpace: 'srgb' };
      const cs = vf.colorSpace || {}; // sRGB already (a photo with another profile: the canvas converts, exactly)
      if ((vf.format === 'RGBX' || vf.format === 'BGRX') && vf.codedWidth === ph.width && vf.codedHeight === ph.height &&
          cs.primaries === 'bt709' && cs.transfer === 'iec61966-2-1' &&
          vf.allocationSize(opts) === ph.bytes) {
        const layout = await vf.copyTo(ph.view(), opts);
        if (layout.length === 1 && layout[0].offset === 0 && layout[0].stride === 4 * ph.width) return 'videoframe';
      }
    } catch { /* no RGBA conversion in this browser: the canvas */ } finally {
      if (vf) vf.close();
    }
  }
  ph.view().set(canvasPixels(bmp));
  return 'canvas';
}
