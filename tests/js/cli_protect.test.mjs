// `dadfi protect` as a new user meets it: the success line (PSNR and largest change checked against the written
// file, decoded independently), -q, --json (to stdout and to a file), re-running a batch (skips are not failures),
// error messages that name the file once, a directory given as OUT, and WebP refused with the formats that work.
// Faces: --face squares change nothing outside them, --no-detect is the whole-photo path, the JSON counts the faces,
// a missing detector is a note (photos protected whole); with ../shared, a CelebA photo's face is found and only its
// square changes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, existsSync, readdirSync, statSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildDir, sharedDir } from './deps.mjs';
import { encodePNG, decodePNG, testPicture } from './png.mjs';

const exe = join(buildDir, 'dadfi');
const skip = !existsSync(exe) && (process.env.DF_BUILD_DIR ? false : 'dadfi not built (set DF_BUILD_DIR)');
const run = (...args) => spawnSync(exe, args, { encoding: 'utf8', env: { ...process.env, DF_THREADS: '2' } });
// In cwd with DADFI_HOME = cwd: the default data files are looked for there only (no detector).
const runIn = (cwd, ...args) => spawnSync(exe, args, { cwd, encoding: 'utf8', env: { ...process.env, DF_THREADS: '2', DADFI_HOME: cwd } });
const count = (s, sub) => s.split(sub).length - 1;

// PSNR (0..255 scale) and the largest change between two RGB pictures, computed here.
function measure(a, b) {
  assert.equal(a.width, b.width);
  assert.equal(a.height, b.height);
  let se = 0, max = 0;
  for (let p = 0; p < a.width * a.height; p++)
    for (let c = 0; c < 3; c++) {
      const d = a.data[p * a.channels + c] - b.data[p * b.channels + c];
      se += d * d;
      max = Math.max(max, Math.abs(d));
    }
  return { psnr: 10 * Math.log10(255 * 255 * a.width * a.height * 3 / se), max };
}

test('dadfi protect: output, JSON, batch re-runs, errors', { skip }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'dadfi-protect-'));
  try {
    const weights = join(dir, 'gen.dfw');
    assert.equal(run('gen-init', '--width', '4', '--out-scale', '1', '--seed', '3', weights).status, 0);
    const pic = testPicture(61, 45);
    const input = join(dir, 'face.png');
    writeFileSync(input, encodePNG(pic));
    const W = ['--weights', weights, '--no-detect']; // the whole-photo path's facts; faces: the next test

    await t.test('a success line says what was written, PSNR, largest change and time', () => {
      const out = join(dir, 'face-out.png');
      const r = run('protect', ...W, input, out);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stderr, '');
      const m = r.stdout.match(/^protected (.+) -> (.+) \((\d+)x(\d+) PNG\): PSNR (\d+\.\d) dB, largest change (\d+) of 255 levels, (\d+\.\d\d) s\n$/);
      assert.ok(m, `unexpected output: ${JSON.stringify(r.stdout)}`);
      assert.equal(m[1], input);
      assert.equal(m[2], out);
      assert.deepEqual([+m[3], +m[4]], [61, 45]);
      const got = measure(decodePNG(readFileSync(out)), pic);
      assert.ok(Math.abs(+m[5] - got.psnr) <= 0.051, `printed PSNR ${m[5]}, measured ${got.psnr}`);
      assert.equal(+m[6], got.max);
      assert.ok(got.max > 0 && got.max <= 0.05 * 127.5 + 0.5);

      const q = run('protect', ...W, '-q', input, join(dir, 'face-quiet.png'));
      assert.equal(q.status, 0, q.stderr);
      assert.equal(q.stdout + q.stderr, '', '-q prints nothing on success');
      assert.ok(existsSync(join(dir, 'face-quiet.png')));

      const z = run('protect', ...W, '--eps', '0', input, join(dir, 'face-eps0.png'));
      assert.equal(z.status, 0, z.stderr);
      assert.match(z.stdout, /\(61x45 PNG\): no pixel changed, /);
    });

    await t.test('--json: the same facts for scripts, on stdout or in a file', () => {
      const out = join(dir, 'face-json.png');
      const r = run('protect', ...W, '--json', '-', input, out);
      assert.equal(r.status, 0, r.stderr);
      const j = JSON.parse(r.stdout); // nothing but the JSON on stdout
      assert.deepEqual([j.written, j.skipped, j.failed], [1, 0, 0]);
      assert.equal(typeof j.seconds, 'number');
      assert.equal(j.files.length, 1);
      const f = j.files[0];
      assert.equal(f.input, input);
      assert.equal(f.output, out);
      assert.equal(f.status, 'written');
      assert.deepEqual([f.width, f.height, f.format, f.quality, f.eps], [61, 45, 'png', null, 0.05]);
      assert.equal(f.bytes, statSync(out).size);
      const got = measure(decodePNG(readFileSync(out)), pic);
      assert.ok(Math.abs(f.psnr_db - got.psnr) < 0.001, `JSON PSNR ${f.psnr_db}, measured ${got.psnr}`);
      assert.equal(f.max_change, got.max);
      assert.ok(f.seconds >= 0);

      // to a file, with the human line still on stdout; JPEG: quality recorded, measured on the file as written
      const jf = join(dir, 'r.json'), jpg = join(dir, 'face.jpg');
      const r2 = run('protect', ...W, '--quality', '80', '--json', jf, input, jpg);
      assert.equal(r2.status, 0, r2.stderr);
      assert.match(r2.stdout, /^protected .* \(61x45 JPEG q80\): PSNR/);
      const f2 = JSON.parse(readFileSync(jf, 'utf8')).files[0];
      assert.deepEqual([f2.format, f2.quality, f2.bytes], ['jpeg', 80, statSync(jpg).size]);
      assert.ok(f2.max_change > 0 && f2.psnr_db > 0);

      // a failure is in the JSON too (exit 1), with the message printed on stderr
      writeFileSync(join(dir, 'notes.png'), 'not a picture');
      const r3 = run('protect', ...W, '--json', '-', join(dir, 'notes.png'), join(dir, 'notes-out.png'));
      assert.equal(r3.status, 1);
      const j3 = JSON.parse(r3.stdout);
      assert.deepEqual([j3.written, j3.skipped, j3.failed], [0, 0, 1]);
      assert.equal(j3.files[0].status, 'failed');
      assert.equal(`dadfi protect: ${j3.files[0].error}\n`, r3.stderr);
    });

    await t.test('re-running a batch skips existing outputs and exits 0', () => {
      const b = join(dir, 'b.png');
      writeFileSync(b, encodePNG(testPicture(30, 40, 3, 9)));
      const od = join(dir, 'batch');
      const first = run('protect', ...W, '--out-dir', od, input, b);
      assert.equal(first.status, 0, first.stderr);
      assert.equal(first.stdout.match(/^protected /gm).length, 2, first.stdout);
      assert.match(first.stdout, /^protect: 2 written, 0 skipped, 0 failed in \d+\.\d\d s$/m);
      const before = readFileSync(join(od, 'face-protected.png'));

      const again = run('protect', ...W, '--out-dir', od, input, b);
      assert.equal(again.status, 0, `a re-run is not a failure: ${again.stderr}`);
      assert.equal(again.stderr, '');
      assert.match(again.stdout, /^skipped .*face\.png: '.*face-protected\.png' exists \(--force overwrites it\)$/m);
      assert.match(again.stdout, /^protect: 0 written, 2 skipped, 0 failed in /m);
      assert.ok(readFileSync(join(od, 'face-protected.png')).equals(before), 'a skipped output is left alone');

      const c = join(dir, 'c.png');
      writeFileSync(c, encodePNG(testPicture(20, 20, 3, 4)));
      const j = run('protect', ...W, '--json', '-', '--out-dir', od, input, b, c);
      assert.equal(j.status, 0, j.stderr);
      const doc = JSON.parse(j.stdout);
      assert.deepEqual([doc.written, doc.skipped, doc.failed], [1, 2, 0]);
      assert.deepEqual(doc.files.map((f) => f.status), ['skipped', 'skipped', 'written']);
      assert.match(doc.files[0].reason, /exists/);

      // a failure among them still fails the run (exit 1) and the summary counts it
      writeFileSync(join(dir, 'broken.png'), Buffer.from([137, 80, 78, 71]));
      const f = run('protect', ...W, '--out-dir', od, input, join(dir, 'broken.png'));
      assert.equal(f.status, 1);
      assert.match(f.stderr, /^protect: 0 written, 1 skipped, 1 failed in /m);

      // two inputs with the same name would write the same output: the second fails instead of being skipped
      mkdirSync(join(dir, 'other'));
      writeFileSync(join(dir, 'other', 'face.png'), encodePNG(testPicture(10, 10, 3, 2)));
      const od2 = join(dir, 'batch2');
      const d = run('protect', ...W, '--out-dir', od2, input, join(dir, 'other', 'face.png'));
      assert.equal(d.status, 1);
      assert.match(d.stderr, /already written from/);
      assert.ok(decodePNG(readFileSync(join(od2, 'face-protected.png'))).width === 61, 'the first one is kept');
    });

    await t.test('error messages name the file once', () => {
      const files = {
        'text.jpg': 'hello, this is not an image',
        'empty.jpg': '',
        'trunc.png': readFileSync(input).subarray(0, 60),
      };
      for (const [name, body] of Object.entries(files)) writeFileSync(join(dir, name), body);
      for (const name of [...Object.keys(files), 'missing.jpg']) {
        const r = run('protect', ...W, join(dir, name), join(dir, `${name}-out.png`));
        assert.equal(r.status, 1, name);
        assert.match(r.stderr, /^dadfi protect: /);
        assert.equal(count(r.stderr, name), 1, r.stderr);
        assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
        assert.ok(!existsSync(join(dir, `${name}-out.png`)));
      }
      assert.match(run('protect', ...W, join(dir, 'empty.jpg'), join(dir, 'e.png')).stderr, /empty\.jpg: image: empty file/);
      // the weights too
      const w = run('protect', '--weights', join(dir, 'nothere.dfw'), input, join(dir, 'w.png'));
      assert.equal(w.status, 1);
      assert.equal(count(w.stderr, 'nothere.dfw'), 1, w.stderr);
    });

    await t.test('a directory as OUT is named at once, with --out-dir suggested', () => {
      const d = join(dir, 'photos');
      mkdirSync(d);
      for (const out of [d, `${d}/`, join(dir, 'not-yet') + '/']) {
        const r = run('protect', ...W, input, out);
        assert.equal(r.status, 2, out);
        assert.match(r.stderr, /is a directory; to write protected copies into it use --out-dir/);
        assert.match(r.stderr, /dadfi protect --out-dir /);
        assert.doesNotMatch(r.stderr, /format|exists/);
      }
      const many = run('protect', ...W, input, input, d);
      assert.equal(many.status, 2);
      assert.match(many.stderr, /is a directory/);
      assert.deepEqual(readdirSync(d), []);
      assert.ok(!existsSync(join(dir, 'not-yet')));
      const r = run('protect', ...W, '--out-dir', input, input);
      assert.equal(r.status, 2);
      assert.match(r.stderr, /exists and is not a directory/);
    });

    await t.test('WebP is refused, naming the formats that work', () => {
      // a 1x1 lossless WebP (also in tests/test_image.c)
      const webp = Buffer.from('RIFF\x1a\x00\x00\x00WEBPVP8L\x0d\x00\x00\x00/\x00\x00\x00\x10\x07\x10\x11\x11\x88\x88\xfe\x07\x00', 'latin1');
      writeFileSync(join(dir, 'photo.webp'), webp);
      const r = run('protect', ...W, join(dir, 'photo.webp'), join(dir, 'photo.png'));
      assert.equal(r.status, 1);
      assert.match(r.stderr, /photo\.webp: image: unsupported image format \(WebP\): only JPEG, PNG and BMP are read; convert it first/);
      assert.equal(count(r.stderr, 'photo.webp'), 1);
      assert.ok(!existsSync(join(dir, 'photo.png')));
    });

    await t.test('--help teaches the new behaviour', () => {
      const h = run('protect', '--help');
      assert.equal(h.status, 0);
      for (const re of [/--json FILE/, /"psnr_db"/, /"max_change"/, /"skipped"/, /-q, --quiet/, /is skipped, which is not a failure/,
        /WebP.*not read here/, /for a directory use --out-dir/, /exit status: 0 when every input was written or skipped/])
        assert.match(h.stdout, re);
      assert.doesNotMatch(h.stdout, /people do not see|invisible/);
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// Pixels that differ between two pictures of the same size: [x, y, |largest channel difference|].
function changed(a, b) {
  const out = [];
  for (let p = 0; p < a.width * a.height; p++) {
    let d = 0;
    for (let c = 0; c < 3; c++) d = Math.max(d, Math.abs(a.data[p * a.channels + c] - b.data[p * b.channels + c]));
    if (d) out.push([p % a.width, Math.floor(p / a.width), d]);
  }
  return out;
}

test('dadfi protect: faces at the models\' scale (--face, --no-detect, "faces", no detector)', { skip }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'dadfi-faces-'));
  try {
    const weights = join(dir, 'gen.dfw');
    assert.equal(run('gen-init', '--width', '4', '--out-scale', '1', '--seed', '3', weights).status, 0);
    const pic = testPicture(200, 150, 3, 5);
    const input = join(dir, 'photo.png');
    writeFileSync(input, encodePNG(pic));
    const W = ['--weights', weights];

    await t.test('--face changes only the square, within eps; the JSON names it', () => {
      for (const eps of [0.05, 0.02]) {
        const out = join(dir, `face-${eps}.png`);
        const r = run('protect', ...W, '--eps', String(eps), '--json', '-', '--face', '90,70,64', input, out);
        assert.equal(r.status, 0, r.stderr);
        assert.equal(r.stderr, '');
        const f = JSON.parse(r.stdout).files[0];
        assert.deepEqual([f.scope, f.faces, f.detection, f.squares], ['faces', 1, 'given', [[90, 70, 64]]]);
        const d = changed(decodePNG(readFileSync(out)), pic);
        assert.ok(d.length > 64 * 64 / 2, `only ${d.length} pixels changed`);
        // pixel centres (x + 0.5, y + 0.5) inside [58, 122) x [38, 102)
        for (const [x, y] of d) assert.ok(x >= 58 && x < 122 && y >= 38 && y < 102, `pixel ${x},${y} outside the square changed`);
        const max = Math.max(...d.map((v) => v[2]));
        assert.ok(max <= Math.floor(eps * 127.5 + 0.5), `largest change ${max} over eps ${eps}`);
        assert.equal(f.max_change, max);
      }
      // two squares: the line counts them; a square outside the photo is not counted
      const r2 = run('protect', ...W, '--face', '40,40,40', '--face', '150,100,60', '--face', '900,900,50', input, join(dir, 'two.png'));
      assert.equal(r2.status, 0, r2.stderr);
      assert.match(r2.stdout, /\(200x150 PNG\): 2 faces, PSNR \d+\.\d dB/);
      // none inside: a failure, nothing written
      const r3 = run('protect', ...W, '--face', '900,900,50', input, join(dir, 'none.png'));
      assert.equal(r3.status, 1);
      assert.match(r3.stderr, /no --face square lies inside the 200x150 photo/);
      assert.ok(!existsSync(join(dir, 'none.png')));
    });

    await t.test('--no-detect is the whole-photo path', () => {
      const a = join(dir, 'nodetect.png'), b = join(dir, 'nodetector.png');
      const r = run('protect', ...W, '--no-detect', '--json', '-', input, a);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stderr, '');
      const f = JSON.parse(r.stdout).files[0];
      assert.deepEqual([f.scope, f.faces, f.detection, f.squares], ['whole_photo', 0, 'off', []]);
      const d = changed(decodePNG(readFileSync(a)), pic);
      assert.ok(d.length > 0.5 * 200 * 150, `${d.length} pixels changed`);
      // the same as without a detector (gen_protect_rgb8 at --work-side) ...
      const r2 = runIn(dir, 'protect', ...W, input, b);
      assert.equal(r2.status, 0, r2.stderr);
      assert.ok(readFileSync(a).equals(readFileSync(b)));
      // ... and, away from the feathered border, the same as one square that is the whole photo at its own size
      const sq = testPicture(128, 128, 3, 7), sqIn = join(dir, 'sq.png');
      writeFileSync(sqIn, encodePNG(sq));
      assert.equal(run('protect', ...W, '--no-detect', sqIn, join(dir, 'sq-whole.png')).status, 0);
      assert.equal(run('protect', ...W, '--face', '64,64,128', '--face-size', '128', sqIn, join(dir, 'sq-face.png')).status, 0);
      const p = decodePNG(readFileSync(join(dir, 'sq-whole.png'))), q = decodePNG(readFileSync(join(dir, 'sq-face.png')));
      let inner = 0;
      for (let y = 8; y < 120; y++)
        for (let x = 8; x < 120; x++)
          for (let c = 0; c < 3; c++) inner = Math.max(inner, Math.abs(p.data[(y * 128 + x) * 3 + c] - q.data[(y * 128 + x) * 3 + c]));
      assert.ok(inner <= 1, `whole photo vs the whole-photo square: ${inner} levels apart inside`);
      // usage errors
      for (const args of [['--no-detect', '--face', '1,1,10'], ['--no-detect', '--require-face'], ['--face', '1,2'],
        ['--face', '1,2,3'], ['--face', 'a,b,c'], ['--face-size', '100'], ['--face', '10,10,8000']]) {
        const u = run('protect', ...W, ...args, input, join(dir, 'u.png'));
        assert.equal(u.status, 2, args.join(' '));
        assert.match(u.stderr, /^dadfi protect: /);
      }
    });

    await t.test('without the detector: a note on how to make it, and the photo is still protected', () => {
      const out = join(dir, 'nodet.png');
      const r = runIn(dir, 'protect', ...W, '--json', 'r.json', input, out); // DADFI_HOME=dir holds no blazeface.dfw
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, /^dadfi protect: note: no face detector \(blazeface\.dfw not found in .*blazeface\.dfw\).*node tools\/convert_blazeface\.mjs/);
      assert.match(r.stdout, /: whole photo \(no face detector\), PSNR /);
      const f = JSON.parse(readFileSync(join(dir, 'r.json'), 'utf8')).files[0];
      assert.deepEqual([f.status, f.scope, f.faces, f.detection], ['written', 'whole_photo', 0, 'no_detector']);
      assert.ok(changed(decodePNG(readFileSync(out)), pic).length > 0);
      const q = runIn(dir, 'protect', ...W, '-q', input, join(dir, 'nodet-q.png'));
      assert.equal(q.status, 0);
      assert.equal(q.stdout + q.stderr, '', '-q: no note');
      // a detector named on the command line must be there; so must the default one for --require-face
      const named = run('protect', ...W, '--detector', join(dir, 'nothere.dfw'), input, join(dir, 'x.png'));
      assert.equal(named.status, 1);
      assert.equal(count(named.stderr, 'nothere.dfw'), 1, named.stderr);
      assert.match(named.stderr, /convert_blazeface\.mjs/);
      const req = runIn(dir, 'protect', ...W, '--require-face', input, join(dir, 'x.png'));
      assert.equal(req.status, 1);
      assert.match(req.stderr, /--require-face needs the face detector/);
      assert.ok(!existsSync(join(dir, 'x.png')));
      const bad = join(dir, 'bad.dfw');
      writeFileSync(bad, 'not a detector');
      assert.equal(run('protect', ...W, '--detector', bad, input, join(dir, 'x.png')).status, 1);
    });

    await t.test('--help explains faces', () => {
      const h = run('protect', '--help');
      for (const re of [/--face CX,CY,SIDE/, /--no-detect/, /--require-face/, /--detector F/, /--face-size N/,
        /"faces"/, /no face found, whole photo/, /convert_blazeface\.mjs/])
        assert.match(h.stdout, re);
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// With the shared models and CelebA photos: the detector's face square on a real photo.
const modelJson = join(sharedDir, 'models', 'human-models', 'blazeface.json');
const celeba = join(sharedDir, 'data', 'celeba_subset', 'images');
const imageRgb = join(buildDir, 'image_rgb');
const skipShared = skip || (!existsSync(modelJson) || !existsSync(celeba)
  ? `shared models or CelebA photos absent: ${modelJson}, ${celeba}`
  : !existsSync(imageRgb) ? `not built: ${imageRgb}` : false);

test('dadfi protect: a CelebA photo gets its face found and only its square protected', { skip: skipShared }, async () => {
  const { convertBlazeface } = await import('../../tools/convert_blazeface.mjs');
  const dir = mkdtempSync(join(tmpdir(), 'dadfi-celeba-'));
  try {
    const weights = join(dir, 'gen.dfw'), det = join(dir, 'blazeface.dfw');
    assert.equal(run('gen-init', '--width', '4', '--out-scale', '1', '--seed', '3', weights).status, 0);
    writeFileSync(det, convertBlazeface(modelJson));
    const W = ['--weights', weights, '--detector', det];
    // the aligned 178x218 photo in the middle of a 480x400 grey canvas: the face square (about 178 pixels,
    // CelebA's convention) leaves a wide margin that must not change
    const rgb = join(dir, 'face.rgb');
    const dims = spawnSync(imageRgb, [join(celeba, '000019.jpg'), rgb], { encoding: 'utf8' });
    assert.equal(dims.status, 0, dims.stderr);
    assert.equal(dims.stdout.trim(), '178 218');
    const src = readFileSync(rgb), CW = 480, CH = 400, ox = 151, oy = 91;
    const canvas = { width: CW, height: CH, channels: 3, data: new Uint8Array(CW * CH * 3).fill(118) };
    for (let y = 0; y < 218; y++) canvas.data.set(src.subarray(y * 178 * 3, (y + 1) * 178 * 3), ((oy + y) * CW + ox) * 3);
    const input = join(dir, 'photo.png'), out = join(dir, 'out.png');
    writeFileSync(input, encodePNG(canvas));
    const r = run('protect', ...W, '--json', '-', input, out);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, '');
    const f = JSON.parse(r.stdout).files[0];
    assert.deepEqual([f.scope, f.faces, f.detection], ['faces', 1, 'detected']);
    const [cx, cy, side] = f.squares[0];
    // CelebA's square of this photo: centre (ox + 89, oy + 109), side 178 (the fit's spread: about 6 % of the side)
    assert.ok(Math.abs(cx - (ox + 89)) < 0.08 * 178 && Math.abs(cy - (oy + 109)) < 0.08 * 178, `centre ${cx}, ${cy}`);
    assert.ok(Math.abs(side / 178 - 1) < 0.2, `side ${side}`);
    const d = changed(decodePNG(readFileSync(out)), canvas);
    assert.ok(d.length > 0.5 * side * side, `${d.length} pixels changed`);
    for (const [x, y, v] of d) {
      assert.ok(Math.abs(x + 0.5 - cx) < side / 2 && Math.abs(y + 0.5 - cy) < side / 2, `pixel ${x},${y} outside the square changed`);
      assert.ok(v <= 7);
    }
    // far outside the face: the canvas border strips are untouched
    assert.ok(!d.some(([x, y]) => x < 40 || x >= CW - 40 || y < 30 || y >= CH - 30));
    // a face-free picture (a smooth gradient; the detector sees faces in testPicture's waves): the whole photo
    // with a note, or a failure with --require-face
    const plain = join(dir, 'plain.png'), g = new Uint8Array(160 * 120 * 3);
    for (let p = 0; p < 160 * 120; p++) for (let c = 0; c < 3; c++) g[p * 3 + c] = 60 + (p % 160) + 20 * c;
    writeFileSync(plain, encodePNG({ width: 160, height: 120, channels: 3, data: g }));
    const n = run('protect', ...W, plain, join(dir, 'plain-out.png'));
    assert.equal(n.status, 0, n.stderr);
    assert.match(n.stderr, /^dadfi protect: note: no face found in .*plain\.png: the whole photo is protected/);
    assert.match(n.stdout, /: no face found, whole photo, PSNR /);
    const q = run('protect', ...W, '--require-face', '--json', '-', plain, join(dir, 'plain-req.png'));
    assert.equal(q.status, 1);
    assert.match(q.stderr, /plain\.png: no face found \(--require-face\)/);
    assert.equal(JSON.parse(q.stdout).files[0].status, 'failed');
    assert.ok(!existsSync(join(dir, 'plain-req.png')));
    // a tight 140 x 140 chip around the same face: its square (~178) is over 1.1 x the chip, so the face fills the
    // photo and the whole chip is protected as its crop (at 128 pixels, as a pipeline feeding the chip sees it)
    const T = 140, tx = 19, ty = 50, chip = { width: T, height: T, channels: 3, data: new Uint8Array(T * T * 3) };
    for (let y = 0; y < T; y++) chip.data.set(src.subarray(((ty + y) * 178 + tx) * 3, ((ty + y) * 178 + tx + T) * 3), y * T * 3);
    const chipIn = join(dir, 'chip.png'), chipOut = join(dir, 'chip-out.png');
    writeFileSync(chipIn, encodePNG(chip));
    const c = run('protect', ...W, '--json', '-', chipIn, chipOut);
    assert.equal(c.status, 0, c.stderr);
    const cf = JSON.parse(c.stdout).files[0];
    assert.deepEqual([cf.scope, cf.faces, cf.detection], ['whole_photo', 1, 'detected']);
    assert.ok(cf.squares[0][2] > 1.1 * T, `square ${cf.squares[0]}`);
    const cd = changed(decodePNG(readFileSync(chipOut)), chip);
    assert.ok(cd.length > 0.9 * T * T, `${cd.length} of ${T * T} pixels changed`);
    assert.ok(cd.every(([, , v]) => v <= 7));
    assert.match(run('protect', ...W, '--force', chipIn, chipOut).stdout, /\(140x140 PNG\): 1 face filling the photo, whole photo as its crop, PSNR /);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
