// Drop-in protection for upload forms.  Add to a page:
//
//   <script type="module" src="/dadfi/dadfi-upload.mjs"></script>
//   <input type="file" name="photo" accept="image/*" data-dadfi>
//
// Every <input type="file" data-dadfi> (also ones added later) gets its photos protected as soon as they are
// chosen, and its files are replaced by the protected ones ("<name>-protected.png").  A form submitted while
// that is still running waits (with progress shown next to the input), then submits itself with the same
// submit button.  If protection fails, the error is shown and the form is NOT submitted, so an unprotected
// photo is never sent silently; a site can opt in to sending the original instead with
// data-dadfi-allow-original.  Per-input options: data-dadfi-eps="0.05", data-dadfi-format="png|jpeg",
// data-dadfi-quality="0.92".  Events on the input: "dadfi:protected" (detail: {files}) and "dadfi:error"
// (detail: {error}).  Page-wide options: configure({ weightsUrl, moduleUrl, workSide, detectorUrl }) before the
// first photo.  With the face detector served (lib/manifest.json names it), each face is protected at the scale
// deepfake models see it; the status says how many faces were protected, or that none was found and the whole
// photo was protected instead.
import { createProtector } from './dadfi.mjs';

const SELECTOR = 'input[type="file"][data-dadfi]';
let options = {};
let protectorPromise = null;
const state = new WeakMap(); // input -> {promise, ok, error, status: HTMLElement}

export function configure(o) { options = { ...options, ...o }; }

function protector() {
  if (!protectorPromise) protectorPromise = createProtector(options).catch(e => { protectorPromise = null; throw e; });
  return protectorPromise;
}

function statusElement(input) {
  let st = state.get(input);
  if (st && st.el && st.el.isConnected) return st.el;
  const el = document.createElement('span');
  el.className = 'dadfi-status';
  el.setAttribute('role', 'status');
  el.setAttribute('aria-live', 'polite');
  const prog = document.createElement('progress');
  prog.max = 1;
  prog.hidden = true;
  const text = document.createElement('span');
  el.append(' ', prog, ' ', text);
  input.after(el);
  return el;
}

function show(el, text, fraction, isError = false) {
  const [prog, span] = el.querySelectorAll('progress, span');
  prog.hidden = fraction === undefined;
  if (fraction !== undefined) prog.value = fraction;
  span.textContent = text;
  el.dataset.state = isError ? 'error' : fraction === undefined ? 'done' : 'busy';
}

function isImage(f) { return f.type.startsWith('image/') || (!f.type && /\.(jpe?g|png|webp|gif|bmp|avif)$/i.test(f.name)); }

async function protectInput(input, originals) {
  const el = statusElement(input), n = originals.length;
  const eps = Number(input.dataset.dadfiEps || 0.05), format = input.dataset.dadfiFormat || 'png';
  const quality = Number(input.dataset.dadfiQuality || 0.92);
  show(el, 'Protecting your photo…', 0);
  const p = await protector();
  const out = [];
  for (let i = 0; i < n; i++) {
    const f = originals[i];
    if (!isImage(f)) throw Object.assign(new Error(`${f.name} is not a photo`), { code: 'not-an-image' });
    const which = n > 1 ? `photo ${i + 1} of ${n}` : 'your photo';
    // the file is encoded before it replaces the chosen one (a submission waits for it): ~0.25 s at 12 MP (PNG, encoded in C)
    const r = await p.protectDetailed(f, { eps, format, quality, onProgress: (x, stage) => show(el, stage === 'encode' ? `Preparing the protected file (${which})…` : `Protecting ${which}…`, (i + x) / n) });
    out.push({ file: r.file, faces: r.stats.faces });
  }
  return out;
}

// "2 faces", "no face found: whole photo", "whole photo" (no detector) for one protected photo.
function facesText(faces) {
  if (!faces) return '';
  const n = faces.squares.length;
  if (n) return `${n} face${n === 1 ? '' : 's'}`;
  return faces.detection === 'no_face' ? 'no face found: whole photo' : 'whole photo';
}

function setFiles(input, files) {
  const dt = new DataTransfer();
  for (const f of files) dt.items.add(f);
  input.files = dt.files; // no 'change' event is fired for this
}

function start(input) {
  const originals = [...input.files];
  const st = { ok: false, error: null, el: statusElement(input), originals };
  state.set(input, st);
  if (!originals.length) {
    show(st.el, '', undefined);
    st.ok = true;
    st.promise = Promise.resolve();
    return;
  }
  st.promise = protectInput(input, originals).then(results => {
    if (state.get(input) !== st) return; // a newer choice replaced this one
    const files = results.map(r => r.file);
    setFiles(input, files);
    st.ok = true;
    show(st.el, `Protected: ${results.map(r => `${r.file.name} (${facesText(r.faces)})`).join(', ')}`, undefined);
    input.dispatchEvent(new CustomEvent('dadfi:protected', { bubbles: true, detail: { files, faces: results.map(r => r.faces) } }));
  }, error => {
    if (state.get(input) !== st) return;
    st.error = error;
    const allow = input.hasAttribute('data-dadfi-allow-original');
    const why = String((error && error.message) || error).replace(/[\s.]+$/, ''); // messages may end with a full stop
    show(st.el, `Could not protect the photo: ${why}.${allow ? ' The original will be sent.' : ' Choose another photo.'}`, undefined, true);
    if (allow) st.ok = true;
    input.dispatchEvent(new CustomEvent('dadfi:error', { bubbles: true, detail: { error } }));
  });
}

document.addEventListener('change', e => {
  if (e.target instanceof HTMLInputElement && e.target.matches(SELECTOR)) start(e.target);
}, true);

// Submission waits for every protected input of the form; the event is stopped before the site's own
// handlers see it, and replayed (requestSubmit with the same submitter) once the files are protected.
document.addEventListener('submit', e => {
  const form = e.target;
  const inputs = [...form.querySelectorAll(SELECTOR)].filter(i => i.files && i.files.length);
  for (const i of inputs) if (!state.has(i)) start(i); // files set without a change event
  const pending = inputs.map(i => state.get(i));
  if (pending.every(st => st.ok)) return;
  e.preventDefault();
  e.stopImmediatePropagation();
  if (form.dataset.dadfiWaiting) return;
  form.dataset.dadfiWaiting = '1';
  const submitter = e.submitter;
  Promise.all(pending.map(st => st.promise)).then(() => {
    delete form.dataset.dadfiWaiting;
    if (inputs.every(i => state.get(i).ok)) {
      if (submitter && submitter.form === form) form.requestSubmit(submitter);
      else form.requestSubmit();
    } else {
      const bad = inputs.find(i => !state.get(i).ok);
      if (bad) bad.focus();
    }
  });
}, true);
