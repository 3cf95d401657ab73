// The protector's Web Worker: decodes the photo (EXIF orientation applied), runs the wasm engine, encodes the
// result, and keeps the last original / protected pixels for the page's views and deepfake preview.
// Protocol (postMessage; every request has an id, every answer echoes it):
//   {type:'init', moduleUrl, genUrl, detectorUrl?, zooUrls, importedUrls?}
//        -> {type:'ready', version, gen:{url, width, recipe}, detector:{url} | null, detectorError?, zoo:[names],
//            imported:[names]}
//   {type:'protect', blob, eps, workSide, format, quality, views, encode}
//        -> {type:'progress', stage:'decode'|'protect'|'encode', fraction, etaMs?}*  (etaMs: Gen time estimate)
//        -> {type:'progress', stage:'original', view:{width, height, factor, original}, width, height}  (with views:
//            true, as soon as the photo is decoded: the original's display view, an RGBA Uint8ClampedArray whose
//            buffer is transferred; the page draws it while the photo is being protected)
//        -> {type:'progress', stage:'views', views:{width, height, factor, box, protected, perturbation}, width,
//            height, stats}  (with views: true, before the file is encoded: the changed box of the protected and the
//            perturbation views (views.mjs viewPatch; box null: nothing changed), buffers transferred)
//        -> {type:'result', blob, width, height, stats}  (stats.faces: {detection, wholePhoto, squares:[{cx,cy,side}]};
//            with encode: false no file is made (blob null): an 'encode' request makes it when it is needed)
//   {type:'recycle', buffer}                     (no answer, not queued) the 'original' view's buffer, drawn by
//        the page and handed back: the next photo's view is written into it (a fresh 12 MB array costs more)
//   {type:'encode', format, quality}                     -> {type:'result', blob, width, height, ms}  (the last result)
//   PNG files are encoded in C (engine.encodePngPhoto), JPEG by the canvas.
//   {type:'preview', cx, cy, side, attr, jpegQuality?}
//        -> {type:'progress', stage:'preview-result', result:{model, imported, size, images:[4 ImageBitmaps], l2Mask,
//            maskPixels, success, dMaskRms, psnr}}*   (each model's result as soon as it is ready: the zoo's first)
//        -> {type:'progress', stage:'preview', model, fraction}*   (an imported model loading / running: seconds)
//        -> {type:'progress', stage:'preview-error', model, message}  (an imported model that could not run)
//        -> {type:'preview', count, jpegQuality}   (count results were sent; dadfi.mjs collects them)
//        every model at once: the zoo (attribute attr), then each imported real-world model (e.g. CartoonGAN; it
//        restyles the whole crop, attr does not apply), loaded on first use; jpegQuality (0..1): the site re-encodes
//        the original and the protected photo as JPEG first, as an upload would be (the model gets the decoded JPEG)
//   any failure                                          -> {type:'error', code, message}
import { loadEngine, DadfiError, WORK_SIDE_FACE } from './engine.mjs';
import { changedRegion, viewFactor, viewPatch } from './views.mjs';
import { decodeBitmap, pixelsInto } from './decode.mjs';
const VIEW_SIDE = 2048; // views sent to the page: the photo shrunk by a whole factor to at most this (display only)

let cfg = null;         // the init message
let engine = null, gen = null, detector = null, zoos = null;
let imported = new Map(); // url -> loaded imported model handle (loaded on first use, kept)
let detectorError = null; // why the detector could not be loaded (the page says so; whole photos are protected)
let protectMs = 300;      // the last face-path protection time (progress estimate)
let flopsPerMs = 8e6;   // Gen speed estimate for the progress bar (8 GFLOP/s), updated after each run
let last = null;        // {width, height, orig, prot: engine photos (wasm memory, engine.allocPhoto), eps, engine}
let spareView = null;   // the last original view's array, handed back by the page ('recycle'): the next view's

// The last photo's buffers are freed when the next photo comes (or the engine was replaced after a trap).
function freeLast() {
  if (last && last.engine === engine) last.orig.free(), last.prot.free();
  last = null;
}

async function fetchBytes(url, what) {
  let r;
  try {
    r = await fetch(url);
  } catch (e) {
    throw new DadfiError(`${what}: cannot load ${url} (${e.message})`, 'io');
  }
  if (!r.ok) throw new DadfiError(`${what}: cannot load ${url} (HTTP ${r.status})`, 'io');
  return new Uint8Array(await r.arrayBuffer());
}

// (Re)start the engine and load Gen; after a trap the module is replaced transparently.
async function ensureEngine() {
  if (engine && !engine.dead) return;
  engine = null, gen = null, detector = null, zoos = null, imported = new Map();
  const e = await loadEngine({ moduleUrl: cfg.moduleUrl });
  if (!cfg.genBytes) cfg.genBytes = await fetchBytes(cfg.genUrl, 'Gen weights');
  gen = e.loadGen(cfg.genBytes);
  if (cfg.detectorUrl) {
    try {
      if (!cfg.detectorBytes) cfg.detectorBytes = await fetchBytes(cfg.detectorUrl, 'face detector');
      detector = e.loadDetector(cfg.detectorBytes);
      detectorError = null;
    } catch (err) {
      if (e.dead) throw err;
      detectorError = String(err.message || err);
    }
  }
  engine = e;
  // Warm-up: browsers first run wasm in a baseline tier and optimise hot functions later; a few small passes
  // (a few ms each) get the kernels optimised before the user's photo arrives.
  const x = new Float32Array(3 * 64 * 64);
  for (let i = 0; i < 4; i++) e.genForward(gen, x, 64, 64);
}

// The detector the same way, on a blank 2400 x 1800 photo: run after the 'ready' answer, before the first photo
// (requests are queued), so that the page is ready sooner and the first photo finds the detector's code compiled
// and its buffers (those of a 12 MP photo's views, ~55 MB) allocated and touched.
function warmDetector() {
  if (!engine || engine.dead || !detector) return;
  let ph = null;
  try {
    ph = engine.allocPhoto(2400, 1800);
    ph.view().fill(128);
    engine.detectFaces(detector, ph);
  } catch { /* a warm-up only */ } finally {
    if (ph) ph.free();
  }
}

// Every deepfake model the site serves (those that fail to load are left out).
async function ensureZoos() {
  await ensureEngine();
  if (zoos) return zoos;
  zoos = [];
  if (!engine.zooAvailable) return zoos;
  for (const url of cfg.zooUrls || []) {
    try {
      const z = engine.loadZoo(await fetchBytes(url, 'deepfake model'));
      z.url = url;
      zoos.push(z);
    } catch (e) {
      if (engine.dead) throw e;
    }
  }
  return zoos;
}

// An imported model's label: "hosoda (imported, 256 px)" for lib/imported-hosoda.dfw.
const importedName = url => String(url).split('/').pop().replace(/\.dfw$/, '').replace(/^imported-/, '');

// An imported model, fetched and loaded on first use (tens of MB each); the bytes are not kept.
async function ensureImported(url) {
  await ensureEngine();
  if (!imported.has(url)) imported.set(url, engine.graphLoad(await fetchBytes(url, 'imported model')));
  return imported.get(url);
}

// pixels may be a view of wasm memory: putImageData copies them at once, before anything can grow the memory.
async function encode(pixels, width, height, format, quality) {
  const c = new OffscreenCanvas(width, height);
  c.getContext('2d').putImageData(new ImageData(pixels, width, height), 0, 0);
  const type = format === 'jpeg' ? 'image/jpeg' : 'image/png';
  return c.convertToBlob(format === 'jpeg' ? { type, quality } : { type });
}

// The file of an engine photo (wasm memory): PNG in C (engine.encodePngPhoto: RGB when opaque, the exact pixels,
// ~4x faster than the canvas's encoder), JPEG through the canvas.
async function encodePhoto(ph, width, height, format, quality, onProgress) {
  if (format === 'jpeg') return encode(ph.view(), width, height, 'jpeg', quality);
  const r = engine.encodePngPhoto(ph, { onProgress });
  return new Blob(r.parts, { type: 'image/png' });
}

async function protect(msg, progress) {
  const t0 = performance.now();
  progress('decode', 0);
  const bmp = await decodeBitmap(msg.blob);
  let orig = null, prot = null, decodePath;
  try {
    await ensureEngine();
    freeLast();
    // decoded straight into wasm memory; protected from there into a second buffer (no copies through JavaScript)
    orig = engine.allocPhoto(bmp.width, bmp.height);
    decodePath = await pixelsInto(bmp, orig);
    bmp.close();
    prot = engine.allocPhoto(orig.width, orig.height);
  } catch (e) {
    bmp.close();
    if (orig) orig.free();
    throw e;
  }
  const width = orig.width, height = orig.height;
  const t1 = performance.now();
  // the original's view at once: the page draws it while the photo is being protected
  let view = null;
  if (msg.views) {
    const f = viewFactor(width, height, VIEW_SIDE), vw = Math.ceil(width / f), vh = Math.ceil(height / f);
    let original;
    try {
      const n = vw * vh * 4, buf = spareView && spareView.length === n ? spareView : new Uint8ClampedArray(n);
      spareView = null;
      original = engine.boxShrinkPhoto(orig, f, buf);
    } catch (e) {
      orig.free(), prot.free();
      throw e;
    }
    view = { f, vw, vh };
    progress('original', 1, { view: { width: vw, height: vh, factor: f, original }, width, height }, [original.buffer]);
  }
  const t1v = performance.now();
  let r;
  const workSide = msg.workSide ?? WORK_SIDE_FACE;
  const [ww, wh] = engine.workingSize(width, height, workSide);
  const flops = engine.genFlops(gen, (wh + 7) & ~7, (ww + 7) & ~7);
  const faces = detector && !msg.noDetect;
  try {
    progress('protect', 0, { etaMs: faces ? protectMs : flops / flopsPerMs });
    r = engine.protectPhotoTo(gen, detector, orig, prot, {
      eps: msg.eps, workSide, noDetect: !!msg.noDetect, onProgress: f => progress('protect', f),
    });
  } catch (e) {
    orig.free(), prot.free();
    throw e;
  }
  const t2 = performance.now();
  if (r.wholePhoto && !faces && t2 - t1v > 50) flopsPerMs = flops / (t2 - t1v); // calibrates the next estimate
  if (faces) protectMs = t2 - t1v;
  last = { width, height, orig, prot, eps: msg.eps, engine };
  const d = engine.diffPhotos(orig, prot, changedRegion(r, width, height)); // diffRGBA in C
  const stats = { linf: d.linf, psnr: d.psnr, changedPixels: d.changed };
  stats.faces = { detection: r.detection, wholePhoto: r.wholePhoto, squares: r.squares, detectorError };
  if (view) { // the changed box, shown at once; the encoded file follows (or is made when it is needed: encode false)
    const patch = viewPatch(orig, prot, width, height, msg.eps, d.box, view.f,
      (ph, f, vx0, vy0, vx1, vy1) => engine.shrinkBoxPhoto(ph, f, vx0, vy0, vx1, vy1));
    const views = { width: view.vw, height: view.vh, factor: view.f, ...patch };
    progress('views', 1, { views, width, height, stats }, patch.box ? [patch.protected.buffer, patch.perturbation.buffer] : []);
  }
  const t3 = performance.now();
  let blob = null;
  if (msg.encode !== false) {
    progress('encode', 0);
    blob = await encodePhoto(prot, width, height, msg.format, msg.quality, f => progress('encode', f));
  }
  const t4 = performance.now();
  stats.ms = { decode: t1 - t0, protect: t2 - t1v, views: t1v - t1 + t3 - t2, encode: blob ? t4 - t3 : null, total: t4 - t0 };
  stats.decodePath = decodePath;
  stats.heapBytes = engine.heapBytes;
  return [{ type: 'result', blob, width, height, stats }, []];
}

// What a site that re-encodes uploads as JPEG (quality q in 0..1) hands on: the decoded JPEG's pixels.
async function siteJpeg(pixels, width, height, q) {
  const blob = await encode(pixels, width, height, 'jpeg', q);
  const bmp = await createImageBitmap(blob, { premultiplyAlpha: 'none', colorSpaceConversion: 'none' });
  const ctx = new OffscreenCanvas(width, height).getContext('2d', { willReadFrequently: true });
  ctx.drawImage(bmp, 0, 0);
  bmp.close();
  return ctx.getImageData(0, 0, width, height).data;
}

// Every served model on the square: the zoo's results first, then each imported model's (seconds each), every
// result sent as soon as it is ready (progress 'preview-result') so that a slow model delays no other.
async function preview(msg, progress) {
  if (!last) throw new DadfiError('Protect a photo first.', 'bad-argument');
  const zs = await ensureZoos();
  const importedUrls = cfg.importedUrls || [];
  if (!zs.length && !importedUrls.length)
    throw new DadfiError('No deepfake model available: the preview needs zoo weights (weights/zoo/*.dfw) or imported models.', 'no-model');
  if (last.engine !== engine) throw new DadfiError('The engine was restarted after an error: protect the photo again.', 'internal');
  let { orig, prot } = last; // engine photos: the previews read them in wasm memory
  const q = msg.jpegQuality;
  if (q != null) {
    if (!(q > 0 && q <= 1)) throw new DadfiError(`preview: JPEG quality must be in (0, 1], got ${q}`, 'bad-argument');
    const jo = await siteJpeg(orig.view(), last.width, last.height, q), jp = await siteJpeg(prot.view(), last.width, last.height, q);
    [orig, prot] = [jo, jp];
  }
  let count = 0;
  const send = async (r, model, isImported) => {
    const images = await Promise.all(r.images.map(px => createImageBitmap(new ImageData(px, r.size, r.size))));
    progress('preview-result', 1, { result: { ...r, images, model, imported: isImported } }, images);
    count++;
  };
  for (const z of zs) {
    const r = engine.zooPreview(z, orig, prot, last.width, last.height, msg);
    await send(r, z.url.split('/').pop().replace(/\.dfw$/, '').replace(/^zoo-/, ''), false);
  }
  for (const url of importedUrls) {
    const name = importedName(url);
    progress('preview', 0, { model: name, loading: true });
    let r, g;
    try {
      g = await ensureImported(url);
      const label = `${name} (imported, ${g.size} px)`;
      let shown = 0;
      progress('preview', 0, { model: label });
      r = engine.graphPreview(g, orig, prot, last.width, last.height, msg.cx, msg.cy, msg.side, {
        onProgress: f => { if (f - shown >= 0.02 || f === 1) { shown = f; progress('preview', f, { model: label }); } },
      });
      await send(r, label, true);
    } catch (e) {
      if (!engine || engine.dead) throw e; // a trap: the whole request fails (the next one gets a fresh module)
      progress('preview-error', 1, { model: name, message: String(e && e.message || e) });
    }
  }
  return [{ type: 'preview', count, jpegQuality: q ?? null }, []];
}

async function init(msg) {
  cfg = { ...msg };
  await ensureEngine();
  return [{
    type: 'ready', version: engine.version,
    gen: { url: String(cfg.genUrl), width: gen.width, recipe: engine.dfwMeta(cfg.genBytes, 'recipe') },
    detector: detector ? { url: String(cfg.detectorUrl) } : null, detectorError,
    zoo: engine.zooAvailable ? (cfg.zooUrls || []).map(u => String(u).split('/').pop()) : [],
    imported: (cfg.importedUrls || []).map(importedName),
  }, []];
}

// Requests run one at a time, in order.
let queue = Promise.resolve();
self.onmessage = ev => {
  const msg = ev.data, id = msg.id;
  if (msg.type === 'recycle') { // no answer; not queued
    if (msg.buffer instanceof ArrayBuffer) spareView = new Uint8ClampedArray(msg.buffer);
    return;
  }
  const progress = (stage, fraction, extra, transfer = []) => self.postMessage({ type: 'progress', id, stage, fraction, ...extra }, transfer);
  queue = queue.then(async () => {
    try {
      let r;
      if (msg.type === 'init') {
        r = await init(msg);
        queue = queue.then(warmDetector); // after this answer, before the next request
      }
      else if (!cfg) throw new DadfiError('worker: not initialised', 'internal');
      else if (msg.type === 'protect') r = await protect(msg, progress);
      else if (msg.type === 'encode') {
        if (!last) throw new DadfiError('Nothing to encode yet.', 'bad-argument');
        if (last.engine !== engine) throw new DadfiError('The engine was restarted after an error: protect the photo again.', 'internal');
        const t0 = performance.now(), blob = await encodePhoto(last.prot, last.width, last.height, msg.format, msg.quality);
        r = [{ type: 'result', blob, width: last.width, height: last.height, ms: performance.now() - t0 }, []];
      } else if (msg.type === 'preview') r = await preview(msg, progress);
      else throw new DadfiError(`worker: unknown request '${msg.type}'`, 'internal');
      self.postMessage({ ...r[0], id }, r[1]);
    } catch (e) {
      const code = e instanceof DadfiError ? e.code : (e && e.name === 'RangeError' ? 'out-of-memory' : 'internal');
      self.postMessage({ type: 'error', id, code, message: String(e && e.message || e) });
    }
  });
};
