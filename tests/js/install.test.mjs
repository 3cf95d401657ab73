// dadfi from anywhere: the default weights are found without the checkout as the current directory, in the build
// tree (build/dadfi -> weights/gen.dfw, build/blazeface.dfw) and after `cmake --install` (PREFIX/bin/dadfi ->
// PREFIX/share/dadfi/); DADFI_HOME overrides both; a copy of the binary with no data beside it says where it looked.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildDir, sourceDir } from './deps.mjs';
import { encodePNG, testPicture } from './png.mjs';

const exe = join(buildDir, 'dadfi');
const haveCmake = spawnSync('cmake', ['--version']).status === 0;
const skip = !existsSync(exe) ? `dadfi not built in ${buildDir}` : !haveCmake ? 'cmake not found'
  : !existsSync(join(sourceDir, 'weights', 'gen.dfw')) ? 'no weights/gen.dfw' : false;
const env = { ...process.env, DF_THREADS: '2' };
delete env.DADFI_HOME;
const runAt = (bin, cwd, extraEnv, ...args) => spawnSync(bin, args, { cwd, encoding: 'utf8', env: { ...env, ...extraEnv } });

test('dadfi from any directory: build tree, cmake --install, DADFI_HOME', { skip }, async t => {
  const dir = mkdtempSync(join(tmpdir(), 'dadfi-install-'));
  try {
    const work = join(dir, 'work'), prefix = join(dir, 'prefix');
    mkdirSync(work);
    writeFileSync(join(work, 'in.png'), encodePNG(testPicture(120, 90, 3, 4)));
    const detectorBuilt = existsSync(join(buildDir, 'blazeface.dfw'));
    const expectLine = detectorBuilt ? /^protected in\.png -> out\.png \(120x90 PNG\): (\d+ faces?|no face found, whole photo), PSNR/
      : /^protected in\.png -> out\.png \(120x90 PNG\): whole photo \(no face detector\), PSNR/;

    await t.test('the build tree\'s dadfi, run from an empty directory', () => {
      const r = runAt(exe, work, {}, 'protect', '--force', 'in.png', 'out.png');
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, expectLine);
    });

    await t.test('cmake --install: bin/dadfi and share/dadfi/, used from an empty directory', () => {
      const i = spawnSync('cmake', ['--install', buildDir, '--prefix', prefix], { encoding: 'utf8' });
      assert.equal(i.status, 0, i.stderr);
      assert.ok(existsSync(join(prefix, 'bin', 'dadfi')));
      for (const f of ['gen.dfw', 'zoo/stargan.dfw']) assert.ok(existsSync(join(prefix, 'share', 'dadfi', f)), f);
      assert.equal(existsSync(join(prefix, 'share', 'dadfi', 'blazeface.dfw')), detectorBuilt);
      const r = runAt(join(prefix, 'bin', 'dadfi'), work, {}, 'protect', '--force', 'in.png', 'out.png');
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, expectLine);
      const h = runAt(join(prefix, 'bin', 'dadfi'), work, {}, 'protect', '--help');
      assert.match(h.stdout, /DADFI_HOME/);
    });

    await t.test('DADFI_HOME is the only place looked at when set', () => {
      const home = join(dir, 'home');
      mkdirSync(home);
      const r = runAt(exe, work, { DADFI_HOME: home }, 'protect', '--force', 'in.png', 'out.png');
      assert.equal(r.status, 1);
      assert.match(r.stderr, new RegExp(`looked for in ${home.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/gen\\.dfw: set DADFI_HOME`));
      copyFileSync(join(sourceDir, 'weights', 'gen.dfw'), join(home, 'gen.dfw'));
      const ok = runAt(exe, work, { DADFI_HOME: home }, 'protect', '--force', 'in.png', 'out.png');
      assert.equal(ok.status, 0, ok.stderr);
      assert.match(ok.stdout, /whole photo \(no face detector\)/);
      assert.match(ok.stderr, /no face detector \(blazeface\.dfw not found in .*home\/blazeface\.dfw\)/);
    });

    await t.test('a lone copy of the binary says where it looked', () => {
      const lone = join(dir, 'lone');
      mkdirSync(lone);
      copyFileSync(exe, join(lone, 'dadfi'));
      spawnSync('chmod', ['+x', join(lone, 'dadfi')]);
      const r = runAt(join(lone, 'dadfi'), work, {}, 'protect', '--force', 'in.png', 'out.png');
      assert.equal(r.status, 1);
      assert.match(r.stderr, /looked for in .*lone\/\.\.\/weights\/gen\.dfw, .*lone\/\.\.\/share\/dadfi\/gen\.dfw, weights\/gen\.dfw/);
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
