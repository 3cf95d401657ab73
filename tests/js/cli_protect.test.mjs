// `dadfi protect` as a new user meets it: the success line (PSNR and largest change checked against the written
// file, decoded independently), -q, --json (to stdout and to a file), re-running a batch (skips are not failures),
// error messages that name the file once, a directory given as OUT, and WebP refused with the formats that work.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, existsSync, readdirSync, statSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildDir } from './deps.mjs';
import { encodePNG, decodePNG, testPicture } from './png.mjs';

const exe = join(buildDir, 'dadfi');
const skip = !existsSync(exe) && (process.env.DF_BUILD_DIR ? false : 'dadfi not built (set DF_BUILD_DIR)');
const run = (...args) => spawnSync(exe, args, { encoding: 'utf8', env: { ...process.env, DF_THREADS: '2' } });
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
    const W = ['--weights', weights];

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
