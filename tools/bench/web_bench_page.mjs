// The browser side of tools/bench/web_bench.mjs (served with web/ and the peers' dist files).
// ?sizes=256,512&runs=7      Gen forward: ours vs onnxruntime-web vs tfjs-backend-wasm, one thread
// &faces=N&zoo=file.dfw      plus the large-photo experiment (needs /faces/list.json, see web_bench.mjs)
// Results: window.benchDone = {gen: [...], large: {...}} (or {error}).
import { loadEngine } from '/engine.mjs';
import { readDfw, runGenBench } from './gen_graph.mjs';
import * as ort from '/ort/ort.wasm.min.mjs';

const q = new URLSearchParams(location.search);
const log = line => { document.getElementById('log').textContent += line + '\n'; console.log(line); };
const fetchBytes = async url => { const r = await fetch(url); if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`); return new Uint8Array(await r.arrayBuffer()); };

async function rgbaOf(blobOrBitmap, w, h) {
  const bmp = blobOrBitmap instanceof Blob ? await createImageBitmap(blobOrBitmap) : blobOrBitmap;
  w = w || bmp.width, h = h || bmp.height;
  const ctx = new OffscreenCanvas(w, h).getContext('2d', { willReadFrequently: true });
  ctx.imageSmoothingQuality = 'high';
  ctx.drawImage(bmp, 0, 0, w, h);
  return ctx.getImageData(0, 0, w, h).data;
}

// Large photos: a face protected inside a ~12 MP photo (Gen at the 1024 working resolution, delta upsampled)
// and then cropped + downsized to the deepfake model's 128 x 128, against the same face protected directly
// at its own size.  Both measured with the zoo model's L2_mask (success > 0.05).
async function largePhotoExperiment(engine, gen, zoo, faces, scale) {
  const rows = [];
  for (const url of faces) {
    const blob = new Blob([await fetchBytes(url)]);
    const bmp = await createImageBitmap(blob);
    const w = bmp.width, h = bmp.height, side = Math.min(w, h);
    const small = await rgbaOf(bmp);
    const direct = engine.protect(gen, small, w, h, { eps: 0.05, workSide: 1024 });
    const a = engine.zooPreview(zoo, small, direct, w, h, { cx: w / 2, cy: h / 2, side, attr: 1 });
    const W = Math.round(w * scale), H = Math.round(h * scale);
    const big = await rgbaOf(bmp, W, H);
    const prot = engine.protect(gen, big, W, H, { eps: 0.05, workSide: 1024 });
    const b = engine.zooPreview(zoo, big, prot, W, H, { cx: W / 2, cy: H / 2, side: side * scale, attr: 1 });
    rows.push({ url, direct: a.l2Mask, large: b.l2Mask });
  }
  const mean = k => rows.reduce((s, r) => s + r[k], 0) / rows.length;
  const rate = k => rows.filter(r => r[k] > 0.05).length / rows.length;
  return { n: rows.length, scale, meanDirect: mean('direct'), meanLarge: mean('large'), successDirect: rate('direct'), successLarge: rate('large'), rows };
}

(async () => {
  try {
    const sizes = (q.has('sizes') ? q.get('sizes') : '256,512').split(',').filter(Boolean).map(Number);
    const runs = Number(q.get('runs') || 7);
    const engine = await loadEngine({ moduleUrl: '/lib/dadfi-wasm.mjs' });
    const bytes = await fetchBytes('/lib/gen.dfw'), dfw = readDfw(bytes), gen = engine.loadGen(bytes);
    log(`${engine.version}; Gen width ${dfw.meta.width}; ${navigator.userAgent}`);
    const out = {};
    if (sizes.length) {
      ort.env.wasm.numThreads = 1;
      ort.env.wasm.wasmPaths = '/ort/';
      ort.env.logLevel = 'error';
      const tf = globalThis.tf;
      tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
      tf.wasm.setWasmPaths('/tfjs/tfjs-backend-wasm/dist/');
      if (!(await tf.setBackend('wasm'))) throw new Error('tfjs wasm backend did not start');
      out.gen = await runGenBench({ engine, gen, dfw, ort, tf, sizes, runs, log });
    }
    if (q.get('faces')) {
      const list = await (await fetch('/faces/list.json')).json();
      const zoo = engine.loadZoo(await fetchBytes(`/lib/${q.get('zoo')}`));
      out.large = await largePhotoExperiment(engine, gen, zoo, list.slice(0, Number(q.get('faces'))), Number(q.get('scale') || 17));
      const L = out.large;
      log(`large photos (face x${L.scale}, ~${(L.scale * L.scale * 178 * 218 / 1e6).toFixed(1)} MP, Gen at 1024): mean L2_mask ${L.meanLarge.toFixed(4)}, ` +
        `success ${(100 * L.successLarge).toFixed(0)} % | the same ${L.n} faces protected at their own size: ${L.meanDirect.toFixed(4)}, ${(100 * L.successDirect).toFixed(0)} %`);
    }
    window.benchDone = out;
  } catch (e) {
    log(`error: ${e.stack || e}`);
    window.benchDone = { error: String(e && e.message || e) };
  }
})();
