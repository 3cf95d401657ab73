// The WebAssembly engine: loads lib/dadfi-wasm.mjs (the C core built by wasm/CMakeLists.txt) and wraps its
// C ABI (wasm/api.c) in a small class.  Runs in a Web Worker (web/worker.mjs), in Node (tests, benchmarks)
// and in a page.  Every failure is thrown as a DadfiError carrying the C status; the module stays usable.

export const STATUS = Object.freeze({ OK: 0, ARG: 1, NOMEM: 2, FORMAT: 3, IO: 4, UNSUPPORTED: 5 });
const STATUS_CODES = ['ok', 'bad-argument', 'out-of-memory', 'bad-format', 'io', 'unsupported'];

export class DadfiError extends Error {
  // code: 'bad-argument' | 'out-of-memory' | 'bad-format' | 'unsupported' | 'too-large' | 'not-an-image' |
  //       'internal' | ... (the page maps codes to messages)
  constructor(message, code = 'internal', status = -1) {
    super(message);
    this.name = 'DadfiError';
    this.code = code;
    this.status = status;
  }
}

export const LIMITS = Object.freeze({ maxPixels: 4096 * 4096, maxSide: 16384 });
// workSide of the whole-photo path (no face found, noDetect): the photo as one face crop, its short side at faceSize
// (GF_WORK_FACE in core/networks/gen_faces.h: the scale a deepfake model sees such a crop at).
export const WORK_SIDE_FACE = -1;

/** Load the module.  moduleUrl: URL of dadfi-wasm.mjs; wasmBinary (bytes) or wasmUrl (else next to the module). */
export async function loadEngine({ moduleUrl, wasmBinary, wasmUrl } = {}) {
  const { default: createDadfiModule } = await import(moduleUrl);
  const opts = { print: () => {}, printErr: () => {} };
  if (wasmBinary) opts.wasmBinary = wasmBinary;
  else if (wasmUrl) opts.locateFile = () => String(wasmUrl);
  const M = await createDadfiModule(opts);
  if (M._dfapi_abi() !== 1) throw new DadfiError('dadfi-wasm: unexpected ABI version', 'internal');
  return new Engine(M);
}

export class Engine {
  constructor(M) {
    this.M = M;
    this.dead = false; // set when the module trapped: the caller must load a new one
  }

  get version() { return this.M.UTF8ToString(this.M._dfapi_version()); }
  /** Size of the wasm memory (it only grows) and bytes currently malloc'd. */
  get heapBytes() { return this.M.HEAPU8.length; }
  get heapUsed() { return this.M._dfapi_heap_used(); }

  #fail(what) {
    const status = this.M._dfapi_last_status();
    const msg = this.M.UTF8ToString(this.M._dfapi_errmsg()) || 'unknown error';
    return new DadfiError(`${what}: ${msg}`, STATUS_CODES[status] || 'internal', status);
  }

  // Run fn(); a trap (abort, out-of-bounds) marks the module dead and becomes a DadfiError.
  #call(what, fn) {
    if (this.dead) throw new DadfiError(`${what}: the engine stopped after an internal error`, 'internal');
    try {
      return fn();
    } catch (e) {
      if (e instanceof DadfiError) throw e;
      this.dead = true;
      const oom = /memory|Cannot enlarge/i.test(String(e && e.message));
      throw new DadfiError(`${what}: ${oom ? 'out of memory' : 'internal error'} (${e && e.message})`,
        oom ? 'out-of-memory' : 'internal');
    }
  }

  #malloc(n, what) {
    const p = this.M._malloc(Math.max(1, n));
    if (!p) throw new DadfiError(`${what}: out of memory (${(n / 1048576).toFixed(1)} MB)`, 'out-of-memory', STATUS.NOMEM);
    return p;
  }

  #withBytes(bytes, what, fn) {
    const p = this.#malloc(bytes.length, what);
    try {
      this.M.HEAPU8.set(bytes, p);
      return fn(p, bytes.length);
    } finally {
      this.M._free(p);
    }
  }

  /** Metadata value of a .dfw weight file (null if absent or the file is not readable). */
  dfwMeta(bytes, key) {
    return this.#call('weights', () => this.#withBytes(bytes, 'weights', (p, n) => {
      const k = new TextEncoder().encode(key + '\0'), out = 1024;
      const kp = this.#malloc(k.length + out, 'weights');
      try {
        this.M.HEAPU8.set(k, kp);
        if (this.M._dfapi_dfw_meta(p, n, kp, kp + k.length, out) !== 0) return null;
        return this.M.UTF8ToString(kp + k.length);
      } finally {
        this.M._free(kp);
      }
    }));
  }

  /** Gen weights (.dfw bytes) -> model handle {ptr, width}. */
  loadGen(bytes) {
    return this.#call('Gen weights', () => this.#withBytes(bytes, 'Gen weights', (p, n) => {
      const ptr = this.M._dfapi_gen_load(p, n);
      if (!ptr) throw this.#fail('Gen weights');
      return { ptr, width: this.M._dfapi_gen_width(ptr), kind: 'gen' };
    }));
  }

  /** Face detector weights (BlazeFace .dfw) -> handle {ptr}. */
  loadDetector(bytes) {
    return this.#call('face detector weights', () => this.#withBytes(bytes, 'face detector weights', (p, n) => {
      const ptr = this.M._dfapi_detector_load(p, n);
      if (!ptr) throw this.#fail('face detector weights');
      return { ptr, kind: 'detector' };
    }));
  }

  freeModel(h) {
    if (!h || !h.ptr || this.dead) return;
    const free = { zoo: this.M._dfapi_zoo_free, detector: this.M._dfapi_detector_free, graph: this.M._dfapi_graph_free }[h.kind] ||
      this.M._dfapi_gen_free;
    free(h.ptr);
    h.ptr = 0;
  }

  genFlops(h, H, W) { return this.M._dfapi_gen_flops(h.ptr, H, W); }

  /** Working resolution gen_protect_rgb8 uses for a w x h photo. */
  workingSize(w, h, workSide) {
    const p = this.#malloc(8, 'size');
    try {
      this.M._dfapi_working_size(w, h, workSide, p);
      return [this.M.HEAP32[p >> 2], this.M.HEAP32[(p >> 2) + 1]];
    } finally {
      this.M._free(p);
    }
  }

  /** delta [3,H,W] = Gen(x [3,H,W]) (unclipped); x a Float32Array in [-1, 1]. */
  genForward(h, x, H, W) {
    const n = 3 * H * W;
    if (!(x instanceof Float32Array) || x.length !== n) throw new DadfiError('Gen: x must be a Float32Array of 3*H*W', 'bad-argument', STATUS.ARG);
    return this.#call('Gen', () => {
      const px = this.#malloc(8 * n, 'Gen');
      try {
        this.M.HEAPF32.set(x, px >> 2);
        if (this.M._dfapi_gen_forward(h.ptr, px + 4 * n, px, H, W) !== 0) throw this.#fail('Gen');
        return this.M.HEAPF32.slice((px >> 2) + n, (px >> 2) + 2 * n);
      } finally {
        this.M._free(px);
      }
    });
  }

  /**
   * Protect 8-bit RGBA pixels [height, width, 4] (alpha kept).  Returns the protected pixels in `out` (default: a
   * new Uint8ClampedArray; pass `rgba` itself to work in place).  eps on the [-1, 1] scale; workSide: working
   * resolution (longest side; 0 = full resolution); onProgress(fraction) during the Gen pass.
   */
  protect(h, rgba, width, height, { eps = 0.05, workSide = 1024, onProgress, out } = {}) {
    if (!h || !h.ptr) throw new DadfiError('protect: no Gen model loaded', 'bad-argument', STATUS.ARG);
    this.#checkPixels('protect', rgba, width, height);
    const n = width * height * 4;
    return this.#call('protect', () => {
      const p = this.#malloc(n, 'protect');
      try {
        this.M.HEAPU8.set(rgba, p);
        this.M.onProgress = onProgress ? (stage, f) => onProgress(f) : null;
        const s = this.M._dfapi_protect(h.ptr, p, width, height, eps, workSide);
        if (s !== 0) throw this.#fail('protect');
        const res = out || new Uint8ClampedArray(n);
        res.set(this.M.HEAPU8.subarray(p, p + n));
        return res;
      } finally {
        this.M.onProgress = null;
        this.M._free(p);
      }
    });
  }

  /**
   * Protect a photo the way the CLI does (gf_protect_photo): the detector finds the faces and Gen protects each
   * face square at the deepfake models' scale (faceSize, 128), nothing outside them changes; one face that fills
   * the photo (its square over 1.1x the short side), no detector, no face found or noDetect: the whole photo
   * (workSide as in protect(), or WORK_SIDE_FACE, the default; a face filling it always at the face scale).
   * Returns {pixels, detection ('off' | 'no_detector' | 'detected' | 'no_face'), wholePhoto (also with 'detected'
   * and one square when that face fills the photo), squares: [{cx, cy, side}] in photo pixels}.
   */
  protectPhoto(h, det, rgba, width, height, { eps = 0.05, workSide = WORK_SIDE_FACE, faceSize = 128, noDetect = false, onProgress, out } = {}) {
    if (!h || !h.ptr) throw new DadfiError('protect: no Gen model loaded', 'bad-argument', STATUS.ARG);
    this.#checkPixels('protect', rgba, width, height);
    const n = width * height * 4, maxFaces = this.M._dfapi_max_faces(), ninfo = 3 + 3 * maxFaces;
    return this.#call('protect', () => {
      const p = this.#malloc(n + 8 * ninfo + 8, 'protect');
      try {
        const pinfo = (p + n + 7) & ~7;
        this.M.HEAPU8.set(rgba, p);
        this.M.onProgress = onProgress ? (stage, f) => onProgress(f) : null;
        const s = this.M._dfapi_protect_photo(h.ptr, det && det.ptr ? det.ptr : 0, p, width, height, eps, faceSize,
          workSide, noDetect ? 1 : 0, pinfo);
        if (s !== 0) throw this.#fail('protect');
        const info = this.M.HEAPF64.slice(pinfo >> 3, (pinfo >> 3) + ninfo);
        const squares = [];
        for (let i = 0; i < info[1]; i++) squares.push({ cx: info[3 + 3 * i], cy: info[4 + 3 * i], side: info[5 + 3 * i] });
        const pixels = out || new Uint8ClampedArray(n);
        pixels.set(this.M.HEAPU8.subarray(p, p + n));
        const detection = ['off', 'no_detector', 'given', 'detected', 'no_face'][info[0]] || 'unknown';
        return { pixels, detection, wholePhoto: info[2] !== 0, squares };
      } finally {
        this.M.onProgress = null;
        this.M._free(p);
      }
    });
  }

  /**
   * An RGBA photo buffer in wasm memory (width x height x 4 bytes) that JavaScript fills and reads without copies:
   * {ptr, width, height, bytes, view() (a Uint8ClampedArray onto wasm memory: take a new one after any engine call,
   * memory growth replaces the buffer), free()}.  The page decodes straight into one (web/worker.mjs) and protects
   * from one into another (protectPhotoTo).
   */
  allocPhoto(width, height) {
    this.#checkPixels('photo', null, width, height, false);
    const bytes = width * height * 4, M = this.M, engine = this;
    const ptr = this.#call('photo', () => this.#malloc(bytes, 'photo'));
    return {
      ptr, width, height, bytes, kind: 'photo',
      view() {
        if (!this.ptr) throw new DadfiError('photo: already freed', 'internal');
        return new Uint8ClampedArray(M.HEAPU8.buffer, this.ptr, bytes);
      },
      free() { if (this.ptr && !engine.dead) M._free(this.ptr); this.ptr = 0; },
    };
  }

  #checkPhoto(what, ph) {
    if (!ph || ph.kind !== 'photo' || !ph.ptr) throw new DadfiError(`${what}: not a photo buffer of this engine`, 'bad-argument', STATUS.ARG);
  }

  /**
   * The faces the detector finds in a wasm-resident photo (allocPhoto), as protectPhoto finds them: [{x0, y0, x1,
   * y1, score}] in photo pixels, best first.
   */
  detectFaces(det, ph) {
    if (!det || !det.ptr || det.kind !== 'detector') throw new DadfiError('detect: no face detector loaded', 'bad-argument', STATUS.ARG);
    this.#checkPhoto('detect', ph);
    const maxFaces = this.M._dfapi_max_faces();
    return this.#call('detect', () => {
      const p = this.#malloc(8 * (1 + 5 * maxFaces), 'detect');
      try {
        if (this.M._dfapi_detect(det.ptr, ph.ptr, ph.width, ph.height, p) !== 0) throw this.#fail('detect');
        const n = this.M.HEAPF64[p >> 3], v = this.M.HEAPF64.slice((p >> 3) + 1, (p >> 3) + 1 + 5 * n), faces = [];
        for (let i = 0; i < n; i++) faces.push({ x0: v[5 * i], y0: v[5 * i + 1], x1: v[5 * i + 2], y1: v[5 * i + 3], score: v[5 * i + 4] });
        return faces;
      } finally {
        this.M._free(p);
      }
    });
  }

  /**
   * protectPhoto on wasm-resident photos (allocPhoto): src is read, dst (the same size; may be src itself) receives
   * the protected photo.  Returns {detection, wholePhoto, squares} as protectPhoto does.
   */
  protectPhotoTo(h, det, src, dst, { eps = 0.05, workSide = WORK_SIDE_FACE, faceSize = 128, noDetect = false, onProgress } = {}) {
    if (!h || !h.ptr) throw new DadfiError('protect: no Gen model loaded', 'bad-argument', STATUS.ARG);
    this.#checkPhoto('protect', src);
    this.#checkPhoto('protect', dst);
    if (src.width !== dst.width || src.height !== dst.height) throw new DadfiError('protect: the photo buffers differ in size', 'bad-argument', STATUS.ARG);
    const maxFaces = this.M._dfapi_max_faces(), ninfo = 3 + 3 * maxFaces;
    return this.#call('protect', () => {
      const pinfo = this.#malloc(8 * ninfo, 'protect');
      try {
        this.M.onProgress = onProgress ? (stage, f) => onProgress(f) : null;
        const s = this.M._dfapi_protect_photo_to(h.ptr, det && det.ptr ? det.ptr : 0, dst.ptr, src.ptr, src.width,
          src.height, eps, faceSize, workSide, noDetect ? 1 : 0, pinfo);
        if (s !== 0) throw this.#fail('protect');
        const info = this.M.HEAPF64.slice(pinfo >> 3, (pinfo >> 3) + ninfo);
        const squares = [];
        for (let i = 0; i < info[1]; i++) squares.push({ cx: info[3 + 3 * i], cy: info[4 + 3 * i], side: info[5 + 3 * i] });
        const detection = ['off', 'no_detector', 'given', 'detected', 'no_face'][info[0]] || 'unknown';
        return { detection, wholePhoto: info[2] !== 0, squares };
      } finally {
        this.M.onProgress = null;
        this.M._free(pinfo);
      }
    });
  }

  /**
   * views.mjs boxShrink in C for a wasm-resident photo: the view pixels in the box [vx0, vx1) x [vy0, vy1) of
   * ceil(w / f) x ceil(h / f) written into dst (a Uint8ClampedArray of the view's size).  The same bytes as
   * boxShrink (tests/js/views.test.mjs).
   */
  boxShrinkPhoto(ph, f, dst, vx0 = 0, vy0 = 0, vx1 = Math.ceil(ph.width / f), vy1 = Math.ceil(ph.height / f)) {
    this.#checkPhoto('views', ph);
    const vw = Math.ceil(ph.width / f), vh = Math.ceil(ph.height / f);
    if (!(dst instanceof Uint8ClampedArray || dst instanceof Uint8Array) || dst.length !== vw * vh * 4)
      throw new DadfiError('views: the view buffer does not match the size', 'bad-argument', STATUS.ARG);
    if (vx1 <= vx0 || vy1 <= vy0) return dst;
    return this.#call('views', () => {
      const p = this.#malloc(vw * vh * 4, 'views');
      try {
        if (this.M._dfapi_box_shrink(p, ph.ptr, ph.width, ph.height, f, vx0, vy0, vx1, vy1) !== 0) throw this.#fail('views');
        if (vx0 === 0 && vx1 === vw) dst.set(this.M.HEAPU8.subarray(p + vy0 * vw * 4, p + vy1 * vw * 4), vy0 * vw * 4);
        else for (let vy = vy0; vy < vy1; vy++) {
          const a = (vy * vw + vx0) * 4, b = (vy * vw + vx1) * 4;
          dst.set(this.M.HEAPU8.subarray(p + a, p + b), a);
        }
        return dst;
      } finally {
        this.M._free(p);
      }
    });
  }

  /**
   * views.mjs diffRGBA of two wasm-resident photos of one size (allocPhoto), in C: {linf, psnr, changed, box}
   * over RGB, only the pixels in region ({x0, y0, x1, y1}; null: none; default the whole photo) compared.
   */
  diffPhotos(a, b, region = { x0: 0, y0: 0, x1: a.width, y1: a.height }) {
    this.#checkPhoto('diff', a);
    this.#checkPhoto('diff', b);
    if (a.width !== b.width || a.height !== b.height) throw new DadfiError('diff: the photos differ in size', 'bad-argument', STATUS.ARG);
    const w = a.width, h = a.height;
    const rx0 = region ? Math.max(0, Math.floor(region.x0)) : 0, rx1 = region ? Math.min(w, Math.ceil(region.x1)) : 0;
    const ry0 = region ? Math.max(0, Math.floor(region.y0)) : 0, ry1 = region ? Math.min(h, Math.ceil(region.y1)) : 0;
    return this.#call('diff', () => {
      const p = this.#malloc(8 * 7, 'diff');
      try {
        if (this.M._dfapi_diff(a.ptr, b.ptr, w, h, rx0, ry0, rx1, ry1, p) !== 0) throw this.#fail('diff');
        const [linf, se, changed, x0, y0, x1, y1] = this.M.HEAPF64.slice(p >> 3, (p >> 3) + 7);
        const mse = se / (w * h * 3);
        return { linf, psnr: mse === 0 ? Infinity : 10 * Math.log10(255 * 255 / mse), changed, box: changed ? { x0, y0, x1, y1 } : null };
      } finally {
        this.M._free(p);
      }
    });
  }

  /**
   * boxShrinkPhoto's view pixels of the box [vx0, vx1) x [vy0, vy1) only, as a new Uint8ClampedArray of the box's
   * size ((vx1 - vx0) x (vy1 - vy0) RGBA): the views' changed box (views.mjs viewPatch).
   */
  shrinkBoxPhoto(ph, f, vx0, vy0, vx1, vy1) {
    this.#checkPhoto('views', ph);
    const vw = Math.ceil(ph.width / f), vh = Math.ceil(ph.height / f);
    if (![vx0, vy0, vx1, vy1].every(Number.isInteger) || vx0 < 0 || vy0 < 0 || vx1 > vw || vy1 > vh || vx1 <= vx0 || vy1 <= vy0)
      throw new DadfiError('views: bad box', 'bad-argument', STATUS.ARG);
    const bw = vx1 - vx0, out = new Uint8ClampedArray(bw * (vy1 - vy0) * 4);
    return this.#call('views', () => {
      const p = this.#malloc(vw * vh * 4, 'views');
      try {
        if (this.M._dfapi_box_shrink(p, ph.ptr, ph.width, ph.height, f, vx0, vy0, vx1, vy1) !== 0) throw this.#fail('views');
        for (let vy = vy0; vy < vy1; vy++) {
          const a = p + (vy * vw + vx0) * 4;
          out.set(this.M.HEAPU8.subarray(a, a + bw * 4), (vy - vy0) * bw * 4);
        }
        return out;
      } finally {
        this.M._free(p);
      }
    });
  }

  /**
   * A lossless PNG file of a wasm-resident photo (allocPhoto), encoded in C (core/io/png_fast.h: per-row filters,
   * Huffman coding and runs; RGB when every alpha is 255, else RGBA): {parts (Uint8Arrays: the file's bytes in
   * order, for new Blob(parts)), channels, bytes}.  The file decodes to exactly the photo's pixels.  channels: 0
   * (RGB if opaque), 3 or 4; filter: 0..4 (default 2, Up: fast, and on a 12 MP photo 27 % smaller than the canvas's
   * PNG; 4, Paeth: 31 % smaller, slower) or -1 (chosen per row); onProgress(fraction) after each of `steps` steps.
   */
  encodePngPhoto(ph, { channels = 0, filter = 2, steps = 16, onProgress } = {}) {
    this.#checkPhoto('PNG', ph);
    return this.#call('PNG', () => {
      const st = this.M._dfapi_png_begin(ph.ptr, ph.width, ph.height, channels, filter);
      if (!st) throw this.#fail('PNG');
      const res = this.#malloc(12, 'PNG'), rows = Math.max(1, Math.ceil(ph.height / steps)), parts = [];
      let bytes = 0;
      try {
        for (let left = ph.height; left > 0;) {
          if (this.M._dfapi_png_next(st, rows, res) !== 0) throw this.#fail('PNG');
          const p = this.M.HEAPU32[res >> 2], n = this.M.HEAPU32[(res >> 2) + 1];
          left = this.M.HEAPU32[(res >> 2) + 2];
          parts.push(this.M.HEAPU8.slice(p, p + n));
          bytes += n;
          if (onProgress) onProgress(1 - left / ph.height);
        }
        return { parts, channels: this.M._dfapi_png_channels(st), bytes };
      } finally {
        this.M._free(res);
        this.M._dfapi_png_free(st);
      }
    });
  }

  #checkPixels(what, rgba, width, height, withPixels = true) {
    if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1)
      throw new DadfiError(`${what}: bad image size ${width} x ${height}`, 'bad-argument', STATUS.ARG);
    if (width * height > LIMITS.maxPixels || width > LIMITS.maxSide || height > LIMITS.maxSide)
      throw new DadfiError(`${what}: image too large (${width} x ${height}; at most ${LIMITS.maxPixels / 1e6} megapixels)`, 'too-large', STATUS.NOMEM);
    const n = width * height * 4;
    if (withPixels && (!rgba || rgba.length !== n)) throw new DadfiError(`${what}: pixel buffer has ${rgba ? rgba.length : 0} bytes, expected ${n}`, 'bad-argument', STATUS.ARG);
  }

  get zooAvailable() { return this.M._dfapi_zoo_available() !== 0; }

  /** Zoo (deepfake model) weights -> handle {ptr, size}. */
  loadZoo(bytes) {
    return this.#call('deepfake model', () => this.#withBytes(bytes, 'deepfake model', (p, n) => {
      const ptr = this.M._dfapi_zoo_load(p, n);
      if (!ptr) throw this.#fail('deepfake model');
      return { ptr, size: this.M._dfapi_zoo_size(ptr), kind: 'zoo' };
    }));
  }

  /**
   * Deepfake preview on a square crop (centre cx, cy; side) of the original and the protected pixels (RGBA arrays,
   * or engine photos from allocPhoto, read where they are).
   * Returns {size, images: [origCrop, protCrop, fakeOrig, fakeProt] (RGBA size x size), l2Mask, maskPixels,
   * success, dMaskRms, psnr}.  attr: 0 black, 1 blond, 2 brown hair, 3 male, 4 young.
   */
  zooPreview(z, orig, prot, width, height, { cx, cy, side, attr = 1 }) {
    if (!z || !z.ptr) throw new DadfiError('preview: no deepfake model loaded', 'unsupported', STATUS.UNSUPPORTED);
    return this.#preview(z.size, orig, prot, width, height, null,
      (po, pp, pout, pst) => this.M._dfapi_zoo_preview(z.ptr, po, pp, width, height, Math.round(cx), Math.round(cy),
        Math.round(side), attr, pout, pst));
  }

  /**
   * An imported model (a .dfw written by tools/convert_tfjs_graph.mjs, e.g. CartoonGAN) -> handle {ptr, size,
   * flops, kind: 'graph'} (size: the model's own side, flops: one pass at that size); freed by freeModel.  A file
   * that is not an imported image-to-image model throws a DadfiError ('bad-format' or 'unsupported').
   */
  graphLoad(bytes) {
    if (!(bytes instanceof Uint8Array)) throw new DadfiError('imported model: bytes must be a Uint8Array', 'bad-argument', STATUS.ARG);
    return this.#call('imported model', () => this.#withBytes(bytes, 'imported model', (p, n) => {
      const ptr = this.M._dfapi_graph_load(p, n);
      if (!ptr) throw this.#fail('imported model');
      return { ptr, size: this.M._dfapi_graph_size(ptr), flops: this.M._dfapi_graph_flops(ptr), kind: 'graph' };
    }));
  }

  /**
   * zooPreview with an imported model: the square (centre cx, cy; side) of both photos resized to the model's size,
   * the model run on each.  Same result as zooPreview.  onProgress(fraction) during the two passes (seconds for a
   * CartoonGAN at 256 pixels).
   */
  graphPreview(g, orig, prot, width, height, cx, cy, side, { onProgress } = {}) {
    if (!g || !g.ptr || g.kind !== 'graph') throw new DadfiError('preview: no imported model loaded', 'unsupported', STATUS.UNSUPPORTED);
    for (const [k, v] of Object.entries({ cx, cy, side }))
      if (!Number.isFinite(v)) throw new DadfiError(`preview: ${k} must be a number, got ${v}`, 'bad-argument', STATUS.ARG);
    return this.#preview(g.size, orig, prot, width, height, onProgress,
      (po, pp, pout, pst) => this.M._dfapi_graph_preview(g.ptr, po, pp, width, height, Math.round(cx), Math.round(cy),
        Math.round(side), pout, pst));
  }

  // The previews' shared part: copy both photos in (or use them where they are: engine photos, allocPhoto),
  // run(po, pp, pout, pstats), read the four S x S images and stats.
  #preview(S, orig, prot, width, height, onProgress, run) {
    const resident = orig && orig.kind === 'photo';
    if (resident) {
      this.#checkPhoto('preview', orig);
      this.#checkPhoto('preview', prot);
      if (orig.width !== width || orig.height !== height || prot.width !== width || prot.height !== height)
        throw new DadfiError('preview: the photos do not match the size', 'bad-argument', STATUS.ARG);
    } else {
      this.#checkPixels('preview', orig, width, height);
      if (!prot || prot.length !== width * height * 4) throw new DadfiError('preview: pixel buffers do not match the size', 'bad-argument', STATUS.ARG);
    }
    const n = resident ? 0 : width * height * 4, img = S * S * 4;
    return this.#call('preview', () => {
      const p = this.#malloc(2 * n + 4 * img + 64, 'preview');
      try {
        const po = resident ? orig.ptr : p, pp = resident ? prot.ptr : p + n, pout = p + 2 * n, pst = (pout + 4 * img + 7) & ~7;
        if (!resident) {
          this.M.HEAPU8.set(orig, po);
          this.M.HEAPU8.set(prot, pp);
        }
        this.M.onProgress = onProgress ? (stage, f) => onProgress(f) : null;
        if (run(po, pp, pout, pst) !== 0) throw this.#fail('preview');
        const st = this.M.HEAPF64.slice(pst >> 3, (pst >> 3) + 5);
        const images = [0, 1, 2, 3].map(i => new Uint8ClampedArray(this.M.HEAPU8.slice(pout + i * img, pout + (i + 1) * img)));
        return { size: S, images, l2Mask: st[0], maskPixels: st[1], success: st[2] !== 0, dMaskRms: st[3], psnr: st[4] };
      } finally {
        this.M.onProgress = null;
        this.M._free(p);
      }
    });
  }
}
