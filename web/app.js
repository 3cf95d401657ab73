// The protector page (web/index.html): pick / drop / paste a photo, protect it in a Web Worker, compare,
// download, and run the deepfake preview.  Plain ES module, no framework.
import { createProtector, protectedName } from './dadfi.mjs';

const $ = id => document.getElementById(id);
const ui = {
  file: $('file'), choose: $('choose'), drop: $('drop'), eps: $('eps'), quality: $('quality'), qualityOut: $('quality-out'),
  jpegWarning: $('jpeg-warning'), progress: $('progress'), statusText: $('status-text'), error: $('error'),
  result: $('result'), compare: $('compare'), before: $('view-before'), after: $('view-after'), pert: $('view-pert'),
  slider: $('slider'), stats: $('stats'), download: $('download'), preview: $('preview'), cropBox: $('crop-box'),
  cropCanvas: $('crop-canvas'), square: $('crop-square'), attr: $('attr'), runPreview: $('run-preview'),
  previewResult: $('preview-result'), previewNote: $('preview-note'), version: $('version'), notice: $('notice'),
  siteJpeg: $('site-jpeg'), siteQuality: $('site-quality'), previewModels: $('preview-models'),
  previewLive: $('preview-live'), importedNote: $('imported-note'),
};

const MESSAGES = {
  'out-of-memory': 'The browser ran out of memory for this photo. Try a smaller photo, or close other tabs, and try again.',
  io: 'A file the page needs could not be loaded. Reload the page and try again.',
  'bad-format': 'The protector\'s weight file is damaged. Rebuild the project (tools/serve.sh) and reload.',
};

let protector = null;
let current = null;   // {file, width, height}
let resultUrl = null;
let busy = false;         // protecting or running the preview (one at a time)
let protecting = false;
// The file to download is encoded after the result is shown (a 12 MP PNG takes ~0.25 s): the download
// link works at once, and a click before the file is ready waits for it.
let encodeGen = 0;        // counts encodings; only the latest one's file is offered
let fileReady = false;    // the download link holds the current result's file
let clickPending = false; // the download link was clicked before the file was ready
let square = { cx: 0.5, cy: 0.5, side: 0.5 }; // relative to the photo (side: fraction of the shorter side)
let faceSquare = null; // the first protected face's square (relative, like square), or null

// What the protector did with the faces, in words (the status line after protection).
function facesSummary(faces) {
  if (!faces) return '';
  const n = faces.squares.length;
  if (n === 1 && faces.wholePhoto) return ' 1 face filling the photo: the whole photo was protected as its crop, at the scale deepfake models see it.';
  if (n) return ` ${n} face${n === 1 ? '' : 's'} protected, each at the scale deepfake models see it.`;
  if (faces.detection === 'no_face') return ' No face found: the whole photo was protected as one face crop, which protects a face that fills the photo, little one smaller in it.';
  if (faces.detection === 'no_detector') return ` This site has no face detector${faces.detectorError ? ` (${faces.detectorError})` : ''}: the whole photo was protected as one face crop, which protects a face that fills the photo, little one smaller in it.`;
  return '';
}

function format() { return document.querySelector('input[name="format"]:checked').value; }

// Messages from the worker for 'not-an-image' and 'too-large' already say what is wrong with the file.
function showError(e) {
  const code = e && e.code;
  ui.error.textContent = (code === 'too-large' || !MESSAGES[code]) ? String((e && e.message) || e) : MESSAGES[code];
  ui.error.hidden = false;
}
function clearError() { ui.error.hidden = true; ui.error.textContent = ''; }
function status(text, fraction) {
  ui.statusText.textContent = text;
  ui.progress.hidden = fraction === undefined;
  if (fraction !== undefined) ui.progress.value = fraction;
}

// The progress bar moves smoothly through the Gen pass (one synchronous wasm call) using the worker's estimate.
let anim = null;
function onProgress(f, stage, m) {
  if (anim) cancelAnimationFrame(anim), anim = null;
  const label = { decode: 'Reading the photo…', protect: 'Protecting…', encode: 'Encoding…', done: 'Done' }[stage] || '';
  status(label, f);
  if (stage === 'protect' && m && m.etaMs) {
    const t0 = performance.now(), from = f, to = 0.1 + 0.75 * 0.8;
    const step = () => {
      const k = Math.min(1, (performance.now() - t0) / m.etaMs);
      ui.progress.value = from + (to - from) * (1 - (1 - k) * (1 - k));
      if (k < 1) anim = requestAnimationFrame(step);
    };
    anim = requestAnimationFrame(step);
  }
}

function drawBitmap(canvas, bmp) {
  canvas.width = bmp.width;
  canvas.height = bmp.height;
  canvas.getContext('2d').drawImage(bmp, 0, 0);
}
function drawImageData(canvas, img) {
  canvas.width = img.width;
  canvas.height = img.height;
  canvas.getContext('2d').putImageData(img, 0, 0);
}

async function protect(file) {
  if (!protector || busy) return;
  busy = protecting = true;
  clearError();
  ui.choose.disabled = true;
  try {
    // The decoded photo's view comes first and is drawn while the photo is being protected (the previous result
    // is put away: its photo is gone from the worker); then only the changed box of the protected and the
    // perturbation views.
    const showOriginal = v => {
      ui.result.hidden = true;
      ui.preview.hidden = true;
      drawImageData(ui.before, v.original);
      drawBitmap(ui.after, ui.before);
      drawBitmap(ui.cropCanvas, ui.before);
      ui.pert.width = v.width;
      ui.pert.height = v.height;
      const g = ui.pert.getContext('2d');
      g.fillStyle = 'rgb(128, 128, 128)';
      g.fillRect(0, 0, v.width, v.height);
    };
    const showViews = v => {
      const b = v.views.box;
      if (b) {
        for (const c of [ui.after, ui.cropCanvas]) c.getContext('2d').putImageData(v.views.protected, b.x, b.y);
        ui.pert.getContext('2d').putImageData(v.views.perturbation, b.x, b.y);
      }
      current = { file, width: v.width, height: v.height };
      encodeGen++; // the previous photo's file, if still being encoded, is not offered
      fileReady = clickPending = false;
      ui.download.setAttribute('aria-disabled', 'true');
      ui.download.removeAttribute('href');
      ui.download.textContent = 'Preparing the file…';
      ui.result.hidden = false;
      ui.preview.hidden = false;
      const sq = v.stats && v.stats.faces && v.stats.faces.squares[0];
      const m = Math.min(v.width, v.height);
      faceSquare = sq ? { cx: sq.cx / v.width, cy: sq.cy / v.height, side: sq.side / m } : null;
      square = faceSquare ? { ...faceSquare } : { cx: 0.5, cy: 0.5, side: 0.5 };
      placeSquare();
      clearPreview();
    };
    const r = await protector.protectDetailed(file, { eps: Number(ui.eps.value), format: format(), quality: Number(ui.quality.value) / 100, onProgress, onOriginalView: showOriginal, onViews: showViews, encode: false });
    encodeFile();
    const s = r.stats;
    ui.stats.dataset.json = JSON.stringify(s); // timings and wasm memory, for tools/bench/web_bench.mjs
    ui.stats.textContent = `${r.width} × ${r.height} pixels · largest change ${s.linf}/255 · PSNR ${s.psnr.toFixed(1)} dB · ` +
      `${(s.ms.total / 1000).toFixed(2)} s (protection ${(s.ms.protect / 1000).toFixed(2)} s)`;
    status(`Protected ${file.name || 'the photo'}.${facesSummary(s.faces)}`, undefined);
  } catch (e) {
    status('', undefined);
    showError(e);
  } finally {
    if (anim) cancelAnimationFrame(anim), anim = null;
    busy = protecting = false;
    ui.choose.disabled = false;
  }
}

// Encode the current result in the chosen format in the worker; meanwhile the link already names the file and
// a click on it waits (clickPending) until the file is there.
function encodeFile() {
  const gen = ++encodeGen, fmt = format(), name = protectedName(current.file.name, fmt), t0 = performance.now();
  fileReady = false;
  if (resultUrl) URL.revokeObjectURL(resultUrl), resultUrl = null;
  ui.download.href = '#';
  ui.download.removeAttribute('aria-disabled');
  ui.download.download = name;
  ui.download.textContent = clickPending ? `Preparing ${name}…` : `Download ${name}`;
  delete ui.download.dataset.encodeMs;
  delete ui.download.dataset.bytes;
  protector.encodeLast(current.file.name, { format: fmt, quality: Number(ui.quality.value) / 100 }).then(f => {
    if (gen !== encodeGen) return;
    resultUrl = URL.createObjectURL(f);
    ui.download.href = resultUrl;
    ui.download.textContent = `Download ${f.name} (${(f.size / 1048576).toFixed(1)} MB)`;
    ui.download.dataset.encodeMs = (performance.now() - t0).toFixed(0); // for tools/bench/web_bench.mjs
    ui.download.dataset.bytes = String(f.size);
    fileReady = true;
    if (clickPending) {
      clickPending = false;
      ui.download.click(); // the click the user made while the file was being encoded
    }
  }, e => {
    if (gen !== encodeGen) return;
    clickPending = false;
    ui.download.setAttribute('aria-disabled', 'true');
    ui.download.removeAttribute('href');
    ui.download.textContent = 'Download';
    showError(e);
  });
}
ui.download.addEventListener('click', e => {
  if (fileReady && resultUrl) return; // the browser downloads the file
  e.preventDefault();
  if (ui.download.getAttribute('href') !== '#') return; // nothing protected yet, or encoding failed
  clickPending = true;
  ui.download.textContent = `Preparing ${ui.download.download}…`;
});

function pick(file) {
  if (!file) return;
  ui.file.value = '';
  protect(file);
}

// ------------------------------------------------------------------ input: button, drop, paste
ui.choose.addEventListener('click', () => ui.file.click());
ui.file.addEventListener('change', () => pick(ui.file.files[0]));
for (const t of ['dragenter', 'dragover']) ui.drop.addEventListener(t, e => { e.preventDefault(); ui.drop.classList.add('over'); });
for (const t of ['dragleave', 'drop']) ui.drop.addEventListener(t, () => ui.drop.classList.remove('over'));
ui.drop.addEventListener('drop', e => { e.preventDefault(); pick(e.dataTransfer.files[0]); });
document.addEventListener('dragover', e => e.preventDefault());
document.addEventListener('drop', e => e.preventDefault()); // a photo dropped beside the zone must not navigate away
document.addEventListener('paste', e => {
  const f = [...(e.clipboardData ? e.clipboardData.files : [])].find(x => x.type.startsWith('image/'));
  if (f) { e.preventDefault(); pick(new File([f], f.name && f.name !== 'image.png' ? f.name : 'pasted.png', { type: f.type })); }
});

// ------------------------------------------------------------------ options
ui.eps.addEventListener('change', () => { if (current) protect(current.file); });
for (const r of document.querySelectorAll('input[name="format"]')) r.addEventListener('change', reencode);
ui.quality.addEventListener('input', () => { ui.qualityOut.textContent = ui.quality.value; });
ui.quality.addEventListener('change', reencode);
async function reencode() {
  const jpeg = format() === 'jpeg';
  ui.quality.disabled = !jpeg;
  ui.jpegWarning.hidden = !jpeg;
  if (!current || protecting) return; // a protection running now encodes in the new format when it ends
  encodeFile();
}

// ------------------------------------------------------------------ before/after slider and views
function setSlider() { ui.after.style.clipPath = `inset(0 0 0 ${ui.slider.value}%)`; }
ui.slider.addEventListener('input', setSlider);
setSlider();
ui.compare.addEventListener('pointerdown', e => {
  if (ui.compare.classList.contains('pert')) return;
  const move = ev => {
    const r = ui.compare.getBoundingClientRect();
    ui.slider.value = Math.round(100 * Math.min(1, Math.max(0, (ev.clientX - r.left) / r.width)));
    setSlider();
  };
  move(e);
  ui.compare.setPointerCapture(e.pointerId);
  ui.compare.onpointermove = move;
  ui.compare.onpointerup = () => { ui.compare.onpointermove = null; };
});
for (const r of document.querySelectorAll('input[name="view"]')) r.addEventListener('change', () => {
  const pert = document.querySelector('input[name="view"]:checked').value === 'perturbation';
  ui.pert.hidden = !pert;
  ui.compare.classList.toggle('pert', pert);
  ui.slider.disabled = pert;
});

// ------------------------------------------------------------------ preview: the face square
function clampSquare() {
  const { width: w, height: h } = current;
  const minSide = Math.min(w, h);
  square.side = Math.min(1, Math.max(Math.min(1, 32 / minSide), square.side));
  const hw = square.side * minSide / 2;
  square.cx = Math.min(1 - hw / w, Math.max(hw / w, square.cx));
  square.cy = Math.min(1 - hw / h, Math.max(hw / h, square.cy));
}
function placeSquare() {
  if (!current) return;
  clampSquare();
  const { width: w, height: h } = current, side = square.side * Math.min(w, h);
  Object.assign(ui.square.style, {
    left: `${100 * (square.cx - side / 2 / w)}%`, top: `${100 * (square.cy - side / 2 / h)}%`,
    width: `${100 * side / w}%`, height: `${100 * side / h}%`,
  });
}
ui.square.addEventListener('keydown', e => {
  const d = e.shiftKey ? 0.1 : 0.02;
  const moves = { ArrowLeft: [-d, 0], ArrowRight: [d, 0], ArrowUp: [0, -d], ArrowDown: [0, d] };
  if (moves[e.key]) { square.cx += moves[e.key][0]; square.cy += moves[e.key][1]; }
  else if (e.key === '+' || e.key === '=') square.side *= 1.1;
  else if (e.key === '-' || e.key === '_') square.side /= 1.1;
  else if (e.key === 'Enter') { runPreview(); }
  else return;
  e.preventDefault();
  placeSquare();
});
ui.square.addEventListener('pointerdown', e => {
  e.preventDefault();
  ui.square.focus();
  const resize = e.target.classList.contains('handle');
  const r = ui.cropBox.getBoundingClientRect(), start = { ...square, x: e.clientX, y: e.clientY };
  ui.square.setPointerCapture(e.pointerId);
  ui.square.onpointermove = ev => {
    const dx = (ev.clientX - start.x) / r.width, dy = (ev.clientY - start.y) / r.height;
    if (resize) {
      const { width: w, height: h } = current, m = Math.min(w, h);
      square.side = start.side + 2 * Math.max(dx * w, dy * h) / m;
    } else {
      square.cx = start.cx + dx;
      square.cy = start.cy + dy;
    }
    placeSquare();
  };
  ui.square.onpointerup = () => { ui.square.onpointermove = null; };
});

function clearPreview() {
  for (let i = 0; i < 4; i++) { const c = $(`pv${i}`); c.getContext('2d').clearRect(0, 0, c.width, c.height); }
  $('pv2').nextElementSibling.textContent = 'deepfake of the original';
  $('pv3').nextElementSibling.textContent = 'deepfake of the protected';
  ui.previewModels.textContent = '';
  ui.previewResult.textContent = '';
  ui.previewLive.textContent = '';
}

// One model's line of the preview's result.
function resultLine(m) {
  const li = document.createElement('li'), strong = document.createElement('span');
  strong.className = m.success ? 'good' : 'bad';
  strong.textContent = m.success ? 'Protection succeeded' : 'Protection did not break this edit';
  li.append(`${m.model}: `, strong, `: L2_mask = ${m.l2Mask.toFixed(3)} (succeeds above 0.05; ${m.maskPixels} edited pixels).`);
  return li;
}
const modelCount = () => protector.info.zoo.length + (protector.info.imported || []).length;

function figure(bmp, caption) {
  const f = document.createElement('figure'), c = document.createElement('canvas'), fc = document.createElement('figcaption');
  drawBitmap(c, bmp);
  fc.textContent = caption;
  f.append(c, fc);
  return f;
}

// Every model's result is shown as soon as the worker has it (the zoo's in well under a second; each imported model
// takes seconds, with its progress in the status line); the summary and the per-model lines come at the end.
async function runPreview() {
  if (!current || busy) return;
  const { width: w, height: h } = current;
  busy = true;
  ui.runPreview.disabled = true;
  const jpeg = ui.siteJpeg.checked, q = Math.min(100, Math.max(50, Number(ui.siteQuality.value) || 90));
  clearPreview();
  const slow = (protector.info.imported || []).length ? ' (imported models take several seconds each)' : '';
  ui.previewResult.textContent = `Running the deepfake models${jpeg ? ` on JPEG ${q} uploads` : ''}${slow}…`;
  const list = document.createElement('ul');
  ui.previewLive.append(list);
  let shown = 0;
  // The first model's four images on top; each further model adds its two edits.
  const onResult = m => {
    if (shown === 0) {
      m.images.forEach((b, i) => drawBitmap($(`pv${i}`), b));
      $('pv2').nextElementSibling.textContent = `${m.model}: deepfake of the original`;
      $('pv3').nextElementSibling.textContent = `${m.model}: deepfake of the protected`;
    }
    else ui.previewModels.append(figure(m.images[2], `${m.model}: deepfake of the original`), figure(m.images[3], `${m.model}: deepfake of the protected`));
    list.append(resultLine(m));
    for (const b of m.images) b.close();
    shown++;
  };
  const onProgress = p => {
    ui.previewResult.textContent = p.loading ? `Loading ${p.model} (an imported model)…` : `Running ${p.model}… ${Math.round(100 * p.fraction)} %`;
  };
  try {
    const side = square.side * Math.min(w, h);
    const r = await protector.preview({ cx: square.cx * w, cy: square.cy * h, side, attr: Number(ui.attr.value), jpegQuality: jpeg ? q / 100 : null, onResult, onProgress });
    for (const err of r.errors) {
      const li = document.createElement('li');
      li.textContent = `${err.model}: could not run (${err.message}).`;
      list.append(li);
    }
    const broken = r.results.filter(m => m.success).length;
    ui.previewResult.textContent = '';
    ui.previewResult.append(`${broken} of ${r.results.length} deepfake models broken${r.jpegQuality ? ` after the site's JPEG ${Math.round(r.jpegQuality * 100)}` : ''}` +
      `${faceSquare ? '' : ' (no face was found, so the face square is a guess: move it onto the face)'}.`, list);
  } catch (e) {
    ui.previewResult.textContent = e.code === 'no-model' ? 'No deepfake model available: this site has no zoo weights, so the preview cannot run.' : `Preview failed: ${e.message}`;
    if (shown) ui.previewResult.append(list); // what finished before the failure
  } finally {
    ui.previewLive.textContent = '';
    busy = false;
    ui.runPreview.disabled = !modelCount();
  }
}
ui.runPreview.addEventListener('click', runPreview);

// ------------------------------------------------------------------ start
(async () => {
  try {
    protector = await createProtector();
    const i = protector.info;
    ui.version.textContent = `${i.version} · Gen width ${i.gen.width} · ${i.detector ? 'face detector BlazeFace' : 'no face detector'}`;
    const imported = i.imported || [];
    if (!modelCount()) {
      ui.runPreview.disabled = true;
      $('preview-ui').hidden = true;
      ui.previewNote.textContent = 'No deepfake model available: the preview needs zoo weights, which this site does not provide.';
    } else if (!i.zoo.length) { // imported models only: they restyle the whole crop, there is no attribute to pick
      ui.attr.hidden = true;
      document.querySelector('label[for="attr"]').hidden = true;
    }
    if (imported.length) {
      ui.importedNote.textContent = `Also run: ${imported.join(', ')}: imported real-world models (such as the CartoonGAN ` +
        'photo-to-anime generators, converted from TensorFlow.js). Nobody trained the protector against them, so they show how it fares ' +
        'against a deepfake model it has never seen. They restyle the whole square (the edit choice applies to the other ' +
        'models only) and can take several seconds each.';
      ui.importedNote.hidden = false;
    }
    if (protector.manifest && protector.manifest.gen === 'gen-demo.dfw') {
      ui.notice.textContent = 'These are untrained demonstration weights: the page works, but photos are not really protected. Train Gen (dadfi train-gen) and rebuild.';
      ui.notice.hidden = false;
    }
    status('Ready. Choose a photo.', undefined);
  } catch (e) {
    status('', undefined);
    showError(e);
    ui.choose.disabled = true;
  }
})();
