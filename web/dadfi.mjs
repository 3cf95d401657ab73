// dadfi in a web page: protect photos against deepfake editing, on the device, in a Web Worker.
//
//   import { createProtector } from './dadfi.mjs';
//   const p = await createProtector({ weightsUrl: 'lib/gen.dfw' });   // or {} to use lib/manifest.json
//   const file = await p.protect(fileOrBlob, { eps: 0.05, format: 'png', quality: 0.92, onProgress });
//   // file: a File named "<original name>-protected.png" (a Blob), ready for FormData or a download link.
//
// Options of createProtector: weightsUrl (Gen .dfw; default: the one lib/manifest.json names), moduleUrl
// (dadfi-wasm.mjs; default lib/ next to this file), workerUrl, workSide (working resolution of a photo protected
// whole, no face found: -1, the default, takes it as one face crop, its short side at 128 pixels, the scale a
// deepfake model sees it at; N: its longest side at most N pixels, 0: full resolution), detectorUrl (BlazeFace .dfw: each face is protected at the scale deepfake models see it;
// default: the manifest's; null: whole photos only), zooUrls (deepfake models for preview(); default: the manifest's),
// importedUrls (imported real-world models for preview(), e.g. CartoonGAN converted by tools/convert_tfjs_graph.mjs;
// default: the manifest's "imported", none if it has none).
// Without a detector, or when no face is found, the whole photo is protected as one face crop (its short side at
// 128 pixels), which protects a face that fills the photo, little one smaller in it: the result's stats.faces
// says which happened.
// Errors are DadfiError-like objects {name:'DadfiError', code, message}; codes: 'not-an-image', 'too-large',
// 'out-of-memory', 'bad-format' (weights), 'io', 'no-model', 'internal'.
// The files this needs (same origin, no other request is made): dadfi.mjs, engine.mjs, worker.mjs, views.mjs,
// decode.mjs, lib/dadfi-wasm.mjs, lib/dadfi-wasm.wasm, the weights; a Content-Security-Policy must allow
// script-src 'self' 'wasm-unsafe-eval' and worker-src 'self'.

import { applyViewPatch } from './views.mjs';

export class DadfiError extends Error {
  constructor(message, code = 'internal') {
    super(message);
    this.name = 'DadfiError';
    this.code = code;
  }
}

/** "selfie.jpg" -> "selfie-protected.png" */
export function protectedName(name, format = 'png') {
  const base = String(name || 'photo').replace(/[\\/]/g, '_').replace(/\.[A-Za-z0-9]{1,5}$/, '') || 'photo';
  return `${base}-protected.${format === 'jpeg' ? 'jpg' : 'png'}`;
}

const baseURI = () => (globalThis.document ? document.baseURI : import.meta.url);

export async function createProtector(options = {}) {
  const p = new Protector(options);
  await p.ready;
  return p;
}

export class Protector {
  #worker;
  #pending = new Map();
  #nextId = 1;

  constructor({ weightsUrl, moduleUrl, workerUrl, workSide = -1, detectorUrl, zooUrls, importedUrls } = {}) {
    const lib = new URL('./lib/', import.meta.url);
    this.workSide = workSide;
    this.#worker = new Worker(workerUrl || new URL('./worker.mjs', import.meta.url), { type: 'module' });
    this.#worker.onmessage = ev => this.#onMessage(ev.data);
    this.#worker.onerror = ev => this.#failAll(new DadfiError(`worker failed to start: ${ev.message || 'error'}`, 'internal'));
    this.ready = (async () => {
      let manifest = { gen: null, detector: null, zoo: [], imported: [] };
      if (!weightsUrl || !zooUrls || !importedUrls || detectorUrl === undefined) {
        try {
          const r = await fetch(new URL('manifest.json', lib));
          if (r.ok) manifest = await r.json();
        } catch { /* no manifest: weightsUrl is required */ }
      }
      const gen = weightsUrl ? new URL(weightsUrl, baseURI()) : manifest.gen ? new URL(manifest.gen, lib) : null;
      if (!gen) throw new DadfiError('No Gen weights: pass weightsUrl, or build the project so that web/lib/manifest.json names them.', 'io');
      this.manifest = manifest;
      const det = detectorUrl ? new URL(detectorUrl, baseURI()) : detectorUrl === undefined && manifest.detector ? new URL(manifest.detector, lib) : null;
      this.info = await this.#request({
        type: 'init', moduleUrl: String(moduleUrl ? new URL(moduleUrl, baseURI()) : new URL('dadfi-wasm.mjs', lib)),
        genUrl: String(gen), detectorUrl: det ? String(det) : null, zooUrls: (zooUrls || manifest.zoo || []).map(u => String(new URL(u, zooUrls ? baseURI() : lib))),
        importedUrls: (importedUrls || manifest.imported || []).map(u => String(new URL(u, importedUrls ? baseURI() : lib))),
      });
      return this;
    })();
  }

  #onMessage(m) {
    const p = this.#pending.get(m.id);
    if (!p) return;
    if (m.type === 'progress') {
      if (p.onProgress) p.onProgress(m);
      return;
    }
    this.#pending.delete(m.id);
    if (m.type === 'error') p.reject(new DadfiError(m.message, m.code));
    else p.resolve(m);
  }

  #failAll(err) {
    for (const p of this.#pending.values()) p.reject(err);
    this.#pending.clear();
  }

  #request(msg, onProgress, transfer = []) {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject, onProgress });
      this.#worker.postMessage({ ...msg, id }, transfer);
    });
  }

  // Overall progress in [0, 1] from the worker's stages (decode 0-10 %, protect 10-85 %, encode 85-100 %).
  static #overall(m) {
    const f = Math.max(0, Math.min(1, m.fraction || 0));
    return m.stage === 'decode' ? 0.1 * f : m.stage === 'protect' ? 0.1 + 0.75 * f : 0.85 + 0.15 * f;
  }

  /**
   * Protect one photo.  Returns a File "<name>-protected.png|jpg" (format 'png', lossless, or 'jpeg' with
   * quality 0..1: recompression weakens the protection).  onProgress(fraction, stage, detail).
   */
  async protect(fileOrBlob, opts = {}) {
    const r = await this.protectDetailed(fileOrBlob, opts);
    return r.file;
  }

  /**
   * protect() plus {width, height, stats: {linf, psnr, changedPixels, ms, heapBytes, faces: {detection: 'detected' |
   * 'no_face' | 'no_detector' | 'off', wholePhoto (with 'detected': one face filled the photo, protected whole as
   * its crop), squares: [{cx, cy, side}] (photo pixels), detectorError}}}.
   * onViews({views, width, height, stats}): display-size views {width, height, original, protected, perturbation
   * (amplified)} as ImageData (the photo shrunk by a whole factor to at most 2048 pixels), called before the file
   * is encoded.  With onOriginalView as well, the views come in two steps and only what changed is sent:
   * onOriginalView({width, height, factor, original: ImageData, photoWidth, photoHeight}) as soon as the photo is
   * decoded (while it is being protected; the ImageData is valid during the call only: its buffer is reused), then onViews({views: {width, height, factor, box: {x, y, width, height}
   * (view pixels) or null (nothing changed), protected, perturbation (ImageData of the box, or null)}, ...}): the
   * protected view is the original's with `protected` drawn at the box, the perturbation view mid-grey (128, 128,
   * 128) with `perturbation` drawn there.  noDetect: protect the whole photo (pre-cropped faces).  encode: false
   * resolves without a file (file null) as soon as the photo is protected; encodeLast() then makes it (a 12 MP PNG
   * takes ~0.25 s).
   */
  async protectDetailed(fileOrBlob, { eps = 0.05, format = 'png', quality = 0.92, noDetect = false, encode = true, onProgress, onViews, onOriginalView } = {}) {
    await this.ready;
    format = format === 'jpeg' || format === 'jpg' ? 'jpeg' : 'png';
    if (!(eps > 0 && eps <= 0.5)) throw new DadfiError(`eps must be in (0, 0.5], got ${eps}`, 'bad-argument');
    let original = null; // the original's view (stage 'original'), until the changed box comes
    const r = await this.#request({ type: 'protect', blob: fileOrBlob, eps, workSide: this.workSide, noDetect, format, quality, views: !!onViews, encode: encode !== false },
      m => {
        if (m.stage === 'original') {
          original = m.view;
          if (onOriginalView && onViews) {
            const v = m.view;
            onOriginalView({ width: v.width, height: v.height, factor: v.factor, original: new ImageData(v.original, v.width, v.height), photoWidth: m.width, photoHeight: m.height });
            // drawn: its buffer goes back to the worker for the next photo's view (a fresh 12 MB array costs more
            // than filling it)
            this.#worker.postMessage({ type: 'recycle', buffer: v.original.buffer }, [v.original.buffer]);
          }
        } else if (m.stage === 'views') {
          const v = m.views;
          if (onOriginalView) {
            const b = v.box, patch = px => (b ? new ImageData(px, b.width, b.height) : null);
            onViews({ ...m, views: { width: v.width, height: v.height, factor: v.factor, box: b, protected: patch(v.protected), perturbation: patch(v.perturbation) } });
          } else { // the three whole views, from the original's and the changed box
            const all = applyViewPatch(original.original, v.width, v.height, v), img = px => new ImageData(px, v.width, v.height);
            onViews({ ...m, views: { width: v.width, height: v.height, original: img(all.original), protected: img(all.protected), perturbation: img(all.perturbation) } });
          }
        } else if (onProgress) onProgress(Protector.#overall(m), m.stage, m);
      });
    if (onProgress) onProgress(1, 'done');
    const name = protectedName(fileOrBlob && fileOrBlob.name, format);
    return { ...r, file: r.blob ? new File([r.blob], name, { type: r.blob.type }) : null };
  }

  /**
   * Encode the last protected photo (again, or for the first time after protectDetailed with encode: false) as
   * "<name>-protected.png|jpg"; no new protection.  The file's pixels are the protected pixels (PNG).
   */
  async encodeLast(name, { format = 'png', quality = 0.92 } = {}) {
    format = format === 'jpeg' || format === 'jpg' ? 'jpeg' : 'png';
    const r = await this.#request({ type: 'encode', format, quality });
    return new File([r.blob], protectedName(name, format), { type: r.blob.type });
  }

  /**
   * Deepfake preview of the last photo with every deepfake model the site serves (the zoo, then the imported
   * real-world models, which take seconds each): {cx, cy, side} square in photo pixels, attr 0..4 (zoo edits),
   * jpegQuality (0..1, optional): the site re-encodes both photos as JPEG first.  Resolves to {results: [{model,
   * imported, size, images: [original crop, protected crop, edit of the original, edit of the protected]
   * (ImageBitmaps), l2Mask, maskPixels, success, dMaskRms, psnr}], errors: [{model, message}], jpegQuality}.
   * onResult(result): each result as soon as it is ready (the zoo's do not wait for the imported models);
   * onProgress({model, fraction, loading}): an imported model loading or running.
   */
  async preview({ cx, cy, side, attr = 1, jpegQuality = null, onResult, onProgress } = {}) {
    const results = [], errors = [];
    const r = await this.#request({ type: 'preview', cx, cy, side, attr, jpegQuality }, m => {
      if (m.stage === 'preview-result') {
        results.push(m.result);
        if (onResult) onResult(m.result);
      } else if (m.stage === 'preview-error') {
        errors.push({ model: m.model, message: m.message });
      } else if (m.stage === 'preview' && onProgress) {
        onProgress({ model: m.model, fraction: m.fraction, loading: !!m.loading });
      }
    });
    return { results, errors, jpegQuality: r.jpegQuality };
  }

  close() {
    this.#worker.terminate();
    this.#failAll(new DadfiError('protector closed', 'internal'));
  }
}
