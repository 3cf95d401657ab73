// The dadfi CLI end to end: usage errors, exit codes, the eps guarantee on written files (decoded independently).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, existsSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildDir } from './deps.mjs';
import { encodePNG, decodePNG, testPicture } from './png.mjs';

const exe = join(buildDir, 'dadfi');
const skip = !existsSync(exe) && (process.env.DF_BUILD_DIR ? false : 'dadfi not built (set DF_BUILD_DIR)');
const run = (...args) => spawnSync(exe, args, { encoding: 'utf8' });

test('dadfi CLI', { skip }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'dadfi-cli-'));
  try {
    const weights = join(dir, 'gen.dfw');
    assert.equal(run('gen-init', '--width', '4', '--out-scale', '1', '--seed', '3', weights).status, 0);
    const pic = testPicture(61, 45);
    writeFileSync(join(dir, 'in.png'), encodePNG(pic));

    await t.test('help and usage errors', () => {
      const h = run('--help');
      assert.equal(h.status, 0);
      assert.match(h.stdout, /protect/);
      for (const cmd of ['protect', 'info', 'gen-init']) {
        const r = run(cmd, '--help');
        assert.equal(r.status, 0, cmd);
        assert.match(r.stdout, /usage: dadfi/);
      }
      assert.equal(run().status, 2);
      assert.equal(run('no-such-command').status, 2);
      assert.equal(run('protect', '--eps', 'abc', 'a.png', 'b.png').status, 2);
      assert.equal(run('protect', '--eps', '0.9', 'a.png', 'b.png').status, 2);
      assert.equal(run('protect', '--quality', '0', 'a.png', 'b.jpg').status, 2);
      assert.equal(run('protect', 'only-one.png').status, 2);
      assert.equal(run('protect', '--bogus', 'a.png', 'b.png').status, 2);
      assert.equal(run('protect', join(dir, 'in.png'), join(dir, 'out.tiff')).status, 2);
    });

    await t.test('protect keeps every pixel within eps and changes the image', () => {
      for (const eps of [0.02, 0.05]) {
        const out = join(dir, `out-${eps}.png`);
        const r = run('protect', '--weights', weights, '--no-detect', '--eps', String(eps), join(dir, 'in.png'), out);
        assert.equal(r.status, 0, r.stderr);
        const got = decodePNG(readFileSync(out));
        assert.equal(got.width, pic.width);
        assert.equal(got.height, pic.height);
        let maxd = 0, changed = 0;
        for (let i = 0; i < pic.data.length; i++) {
          const d = Math.abs(got.data[i] - pic.data[i]);
          maxd = Math.max(maxd, d);
          changed += d > 0;
        }
        assert.ok(maxd <= eps * 127.5 + 0.5, `max change ${maxd} levels for eps ${eps}`);
        assert.ok(changed > pic.data.length / 10, 'protection must change the image');
      }
    });

    await t.test('refuses to overwrite; bad inputs write nothing', () => {
      const out = join(dir, 'out-0.05.png');
      assert.equal(run('protect', '--weights', weights, join(dir, 'in.png'), out).status, 2);
      writeFileSync(join(dir, 'bad.png'), Buffer.from('not an image at all'));
      const r = run('protect', '--weights', weights, join(dir, 'bad.png'), join(dir, 'bad-out.png'));
      assert.equal(r.status, 1);
      assert.match(r.stderr, /bad\.png/);
      assert.ok(!existsSync(join(dir, 'bad-out.png')));
      const w = run('protect', '--weights', join(dir, 'missing.dfw'), join(dir, 'in.png'), join(dir, 'x.png'));
      assert.equal(w.status, 1);
      assert.match(w.stderr, /missing\.dfw/);
      writeFileSync(join(dir, 'trunc.dfw'), readFileSync(weights).subarray(0, 100));
      assert.equal(run('protect', '--weights', join(dir, 'trunc.dfw'), join(dir, 'in.png'), join(dir, 'y.png')).status, 1);
      assert.ok(!readdirSync(dir).some((f) => f.includes('.tmp')), 'no temporary files left behind');
    });

    await t.test('batch mode with --out-dir, JPEG output', () => {
      writeFileSync(join(dir, 'b.png'), encodePNG(testPicture(30, 40, 4, 9)));
      writeFileSync(join(dir, 'broken.png'), Buffer.from([137, 80, 78, 71]));
      const od = join(dir, 'batch');
      const r = run('protect', '--weights', weights, '--format', 'jpg', '--quality', '90', '--out-dir', od,
        join(dir, 'in.png'), join(dir, 'b.png'), join(dir, 'broken.png'));
      assert.equal(r.status, 1, 'one input failed, so the exit code is 1');
      assert.deepEqual(readdirSync(od).sort(), ['b-protected.jpg', 'in-protected.jpg']);
      assert.equal(readFileSync(join(od, 'b-protected.jpg'))[0], 0xff);
    });

    await t.test('info describes a weight file', () => {
      const r = run('info', weights);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /arch = dadfi-gen/);
      assert.match(r.stdout, /enc1\.w +\[4, 3, 3, 3\]/);
      assert.match(r.stdout, /GFLOP/);
      assert.equal(run('info', join(dir, 'trunc.dfw')).status, 1);
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
