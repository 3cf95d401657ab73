// Browser benchmarks in Chromium (playwright-core, pages on 127.0.0.1):
//  1. Gen forward, one thread, warmed up: our wasm vs onnxruntime-web vs tfjs-backend-wasm (web_bench_page.mjs);
//  2. a 12 MP JPEG protected end to end through the real page, --runs times (at least 2): the time until the
//     result is on screen and usable (decode, protect, views; the page encodes the file to download after that),
//     the time until the PNG file is ready, each phase, and the wasm memory it took; with the face detector built
//     (build/blazeface.dfw) the page detects faces, and a CelebA face (from --data, enlarged 4x) is pasted into the
//     photo, so "protect" is detection + one face.  --baseline DIR: the same photo also through another copy of
//     web/ (e.g. `git archive HEAD web | tar -x -C /tmp/old` gives /tmp/old/web), run for run alternately in the
//     same browser, with the ratios: a before/after comparison on a noisy machine (the baseline runs its own
//     lib/dadfi-wasm.mjs and .wasm when DIR/lib has them: copy build-wasm/wasm's there to compare C changes);
//  3. (with --faces N, trained weights/gen.dfw and weights/zoo*.dfw and the CelebA subset) the large-photo
//     experiment: faces enlarged into ~12 MP photos, protected at the 1024 working resolution, then cropped
//     and downsized to 128 x 128 for the deepfake model, against the same faces protected at their own size.
//
//   node tools/bench/web_bench.mjs [--sizes 256,512] [--runs N] [--mp 12] [--faces N] [--data DIR] [--json OUT]
//                                  [--baseline WEBDIR]
//   node tools/bench/web_bench.mjs --sizes 0 --runs 3          # the 12 MP page only
// Weights: --weights (default weights/gen.dfw), --zoo (default the first weights/zoo*.dfw).
// Environment: DF_WASM_DIR (default build-wasm/wasm), DF_BUILD_DIR (default build), CHROMIUM.
import { readFileSync, writeFileSync, existsSync, mkdtempSync, rmSync, readdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { startServer } from '../../tests/js/server.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const require = createRequire(join(root, 'tools', 'package.json'));
const args = process.argv.slice(2), opt = { sizes: '256,512', runs: 7, mp: 12, faces: 0, data: join(root, '..', 'shared', 'data', 'celeba_subset') };
for (let i = 0; i < args.length; i++) {
  const a = args[i], v = args[++i];
  if (a === '--sizes') opt.sizes = v;
  else if (a === '--runs') opt.runs = Number(v);
  else if (a === '--mp') opt.mp = Number(v);
  else if (a === '--faces') opt.faces = Number(v);
  else if (a === '--data') opt.data = v;
  else if (a === '--json') opt.json = v;
  else if (a === '--weights') opt.weights = v;
  else if (a === '--zoo') opt.zoo = v;
  else if (a === '--baseline') opt.baseline = v;
  else { console.error(`usage: node tools/bench/web_bench.mjs [--sizes 256,512|0] [--runs N] [--mp 12|0] [--faces N] [--data DIR] [--weights GEN.dfw] [--zoo ZOO.dfw] [--json OUT] [--baseline WEBDIR] (got '${a}')`); process.exit(2); }
}
const wasmDir = process.env.DF_WASM_DIR || join(root, 'build-wasm', 'wasm');
const buildDir = process.env.DF_BUILD_DIR || join(root, 'build');
const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';
const { chromium } = require('playwright-core');

const tmp = mkdtempSync(join(tmpdir(), 'dadfi-webbench-'));
let weights = opt.weights || join(root, 'weights', 'gen.dfw');
const trained = existsSync(weights);
if (!trained) {
  weights = join(tmp, 'gen.dfw');
  const r = spawnSync(join(buildDir, 'dadfi'), ['gen-init', '--width', '16', '--seed', '1', weights], { encoding: 'utf8' });
  if (r.status !== 0) { console.error(`no weights/gen.dfw and no ${buildDir}/dadfi to make random ones`); process.exit(1); }
  console.log('(random width-16 Gen weights: speed does not depend on the values)');
}
const zooFound = existsSync(join(root, 'weights')) && readdirSync(join(root, 'weights')).find(f => /^zoo.*\.dfw$/.test(f));
const zooPath = opt.zoo || (zooFound && join(root, 'weights', zooFound)), zooName = zooPath && 'zoo.dfw';
const detectorPath = join(buildDir, 'blazeface.dfw'), haveDetector = existsSync(detectorPath);
writeFileSync(join(tmp, 'manifest.json'), JSON.stringify({ module: 'dadfi-wasm.mjs', gen: 'gen.dfw', detector: haveDetector ? 'blazeface.dfw' : null, zoo: [] }));
const mounts = {
  '/lib/gen.dfw': weights, '/lib/manifest.json': join(tmp, 'manifest.json'), '/lib/': wasmDir,
  '/bench/': join(root, 'tools', 'bench'), '/ort/': join(root, 'tools', 'node_modules', 'onnxruntime-web', 'dist'),
  '/tfjs/': join(root, 'tools', 'node_modules', '@tensorflow'),
};
if (zooPath) mounts['/lib/zoo.dfw'] = zooPath;
if (haveDetector) mounts['/lib/blazeface.dfw'] = detectorPath;
const facePhoto = join(opt.data, 'images', '000019.jpg');
if (existsSync(facePhoto)) mounts['/bench-face.jpg'] = facePhoto;
if (opt.faces) {
  if (!zooPath || !trained || !existsSync(join(opt.data, 'labels.csv'))) {
    console.log('large-photo experiment skipped: it needs trained weights/gen.dfw, weights/zoo*.dfw and the CelebA subset (--data)');
    opt.faces = 0;
  } else {
    const test = readFileSync(join(opt.data, 'labels.csv'), 'utf8').trim().split('\n').slice(1).map(l => l.split(','))
      .filter(c => c[2] === '2').slice(0, opt.faces).map(c => `/faces/${c[0]}`);
    writeFileSync(join(tmp, 'faces.json'), JSON.stringify(test));
    mounts['/faces/list.json'] = join(tmp, 'faces.json');
    mounts['/faces/'] = join(opt.data, 'images');
  }
}

if (opt.baseline && !existsSync(join(opt.baseline, 'index.html'))) { console.error(`--baseline ${opt.baseline}: no index.html there`); process.exit(2); }
const server = await startServer({ root: join(root, 'web'), mounts });
// the baseline's own wasm module when its lib/ has one (a before/after of C changes), else this build's
const baseMounts = { ...mounts };
for (const f of ['dadfi-wasm.mjs', 'dadfi-wasm.wasm'])
  if (opt.baseline && existsSync(join(opt.baseline, 'lib', f))) baseMounts[`/lib/${f}`] = join(opt.baseline, 'lib', f);
const baseServer = opt.baseline ? await startServer({ root: opt.baseline, mounts: baseMounts }) : null;
const result = {};
let browser;
try {
  browser = await chromium.launch({
    executablePath: chromiumPath, headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const page = await browser.newPage();
  page.on('pageerror', e => console.log('page error:', e.message));
  const version = await browser.version();
  console.log(`Chromium ${version}`);

  if (opt.sizes !== '0' || opt.faces) {
    const qs = `sizes=${opt.sizes === '0' ? '' : opt.sizes}&runs=${opt.runs}` + (opt.faces ? `&faces=${opt.faces}&zoo=${zooName}` : '');
    page.on('console', m => { if (m.type() === 'log') console.log(m.text()); });
    await page.goto(`${server.url}/bench/web_bench.html?${qs}`);
    await page.waitForFunction(() => window.benchDone, null, { timeout: 0 });
    Object.assign(result, await page.evaluate(() => window.benchDone));
    page.removeAllListeners('console');
  }

  if (opt.mp) {
    const W = Math.round(Math.sqrt(opt.mp * 1e6 * 4 / 3)), H = Math.round(W * 3 / 4);
    await page.goto(`${server.url}/`);
    await page.waitForFunction(() => /^Ready/.test(document.getElementById('status-text').textContent), null, { timeout: 60000 });
    const withFace = haveDetector && existsSync(facePhoto);
    const jpeg = Buffer.from(await page.evaluate(async ([w, h, face]) => {
      const c = new OffscreenCanvas(w, h), g = c.getContext('2d');
      const grad = g.createLinearGradient(0, 0, w, h);
      grad.addColorStop(0, '#d9a48f'); grad.addColorStop(0.5, '#6d8fb3'); grad.addColorStop(1, '#2f3b2a');
      g.fillStyle = grad; g.fillRect(0, 0, w, h);
      for (let i = 0; i < 4000; i++) { g.fillStyle = `hsl(${(i * 37) % 360} 40% ${30 + (i % 50)}%)`; g.beginPath(); g.arc((i * 7919) % w, (i * 104729) % h, 5 + (i % 60), 0, 7); g.fill(); }
      if (face) { // a phone-sized face: the 178 x 218 CelebA photo enlarged 4x, left of centre
        const bmp = await createImageBitmap(await (await fetch('/bench-face.jpg')).blob());
        g.drawImage(bmp, Math.round(w * 0.3), Math.round(h * 0.25), 4 * bmp.width, 4 * bmp.height);
      }
      return [...new Uint8Array(await (await c.convertToBlob({ type: 'image/jpeg', quality: 0.9 })).arrayBuffer())];
    }, [W, H, withFace]));
    const pages = [{ name: 'this page', page, url: server.url, runs: [] }];
    if (baseServer) {
      const p2 = await browser.newPage();
      p2.on('pageerror', e => console.log('baseline page error:', e.message));
      await p2.goto(`${baseServer.url}/`);
      await p2.waitForFunction(() => /^Ready/.test(document.getElementById('status-text').textContent), null, { timeout: 60000 });
      pages.unshift({ name: 'baseline', page: p2, url: baseServer.url, runs: [] });
    }
    const s = ms => (ms / 1000).toFixed(2);
    for (let k = 0; k < Math.max(2, opt.runs); k++)
      for (const P of pages) {
        const pg = P.page;
        await pg.bringToFront();
        // Times on the page's clock from the moment the file is chosen (its 'change' event; the harness's own
        // transfer of the 1.5 MB file into the page, about 0.5 s, comes before and is left out), polled once per
        // frame: usable = the result on screen, the download link named, another photo can be chosen.
        await pg.evaluate(() => {
          window.benchT = {};
          document.addEventListener('change', () => { window.benchT.pick = performance.now(); }, { capture: true, once: true });
        });
        const t0 = Date.now();
        await pg.setInputFiles('#file', { name: `photo${k}.jpg`, mimeType: 'image/jpeg', buffer: jpeg });
        await pg.waitForFunction(k => new RegExp(`photo${k}`).test(document.getElementById('download').download) &&
          !document.getElementById('choose').disabled && (window.benchT.usable = performance.now()), k, { timeout: 0 });
        // the file to download is ready (a page that encodes before showing the result: at once)
        await pg.waitForFunction(() => /^blob:/.test(document.getElementById('download').getAttribute('href') || '') &&
          (window.benchT.fileReady = performance.now()), null, { timeout: 0 });
        const wall = Date.now() - t0;
        const bt = await pg.evaluate(() => window.benchT);
        const usable = bt.usable - bt.pick, fileReady = bt.fileReady - bt.pick;
        const stats = JSON.parse(await pg.getAttribute('#stats', 'data-json'));
        const bgEncode = await pg.getAttribute('#download', 'data-encode-ms');
        const fileBytes = Number(await pg.getAttribute('#download', 'data-bytes')); // NaN: a page that does not say
        const encode = stats.ms.encode ?? (bgEncode == null ? NaN : Number(bgEncode));
        const background = stats.ms.encode == null;
        const faces = stats.faces ? (stats.faces.squares.length ? `${stats.faces.squares.length} face(s)` : stats.faces.detection) : 'n/a';
        const r = { usable, fileReady, fileBytes, wall, decode: stats.ms.decode, protect: stats.ms.protect, views: stats.ms.views, encode, encodeInBackground: background, heapMB: stats.heapBytes / 1048576, faces };
        P.runs.push(r);
        console.log(`${W}x${H} JPEG (${(W * H / 1e6).toFixed(1)} MP, ${(jpeg.length / 1048576).toFixed(1)} MB), ${P.name}, run ${k + 1}: ${faces}, ` +
          `from choosing the file: result on screen and usable after ${s(usable)} s (decode ${r.decode.toFixed(0)} ms, protect ${r.protect.toFixed(0)} ms, views ${r.views.toFixed(0)} ms` +
          `${background ? '' : `, PNG encode ${encode.toFixed(0)} ms`}), PNG file ready after ${s(fileReady)} s` +
          `${background ? ` (encoded after the result was shown: ${encode.toFixed(0)} ms)` : ''}, ${(fileBytes / 1e6).toFixed(2)} MB; ${s(wall)} s with the harness's file transfer | wasm memory ${r.heapMB.toFixed(0)} MB (goal <= 256)`);
      }
    const median = xs => { const a = [...xs].sort((x, y) => x - y), m = a.length >> 1; return a.length % 2 ? a[m] : (a[m - 1] + a[m]) / 2; };
    const keys = ['usable', 'fileReady', 'decode', 'protect', 'views', 'encode', 'fileBytes'];
    const med = P => Object.fromEntries(keys.map(key => [key, median(P.runs.map(r => r[key]))]));
    for (const P of pages) {
      P.median = med(P);
      console.log(`median of ${P.runs.length}, ${P.name}: usable ${s(P.median.usable)} s, file ready ${s(P.median.fileReady)} s; ` +
        keys.slice(2).map(key => key === 'fileBytes' ? `PNG file ${(P.median[key] / 1e6).toFixed(2)} MB` : `${key} ${P.median[key].toFixed(0)} ms`).join(', '));
    }
    if (baseServer) {
      const [b, n] = pages;
      console.log(`baseline / this page (medians, same browser, runs alternated): ` +
        keys.map(key => `${key} ${(b.median[key] / n.median[key]).toFixed(2)}x`).join(', '));
      result.baseline = { dir: opt.baseline, runs: b.runs, median: b.median };
    }
    result.photo = { width: W, height: H, runs: pages.at(-1).runs, median: pages.at(-1).median };
  }
} finally {
  if (browser) await browser.close();
  await server.close();
  if (baseServer) await baseServer.close();
  rmSync(tmp, { recursive: true, force: true });
}
if (opt.json) writeFileSync(opt.json, JSON.stringify(result, null, 1));
if (result.error) process.exit(1);
