// dadfi attr-train and zoo-quality end to end on a tiny made-up CelebA-style data set: usage errors (exit 2),
// runtime errors (exit 1), a few training steps write a classifier with provenance, zoo-quality writes its JSON.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildDir, sourceDir } from './deps.mjs';
import { encodePNG, testPicture } from './png.mjs';

const exe = join(buildDir, 'dadfi');
const skip = !existsSync(exe) && (process.env.DF_BUILD_DIR ? false : 'dadfi not built (set DF_BUILD_DIR)');
const run = (...args) => spawnSync(exe, args, { encoding: 'utf8', env: { ...process.env, DF_THREADS: '1' } });
const attgan = join(sourceDir, 'weights/zoo/attgan.dfw');

// 6 train faces (partition 0) and 4 test faces (partition 2), 40 x 48 pictures, labels cycling.
function makeData(dir) {
  mkdirSync(join(dir, 'images'));
  const rows = ['file,identity,partition,Black_Hair,Blond_Hair,Brown_Hair,Male,Young'];
  for (let i = 0; i < 10; i++) {
    const file = `${String(i).padStart(6, '0')}.png`;
    writeFileSync(join(dir, 'images', file), encodePNG(testPicture(40, 48, 3, i + 1)));
    const hair = [0, 0, 0];
    hair[i % 3] = 1;
    rows.push([file, i, i < 6 ? 0 : 2, ...hair, i % 2, (i >> 1) % 2].join(','));
  }
  writeFileSync(join(dir, 'labels.csv'), rows.join('\n') + '\n');
}

test('dadfi attr-train and zoo-quality', { skip }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'dadfi-attr-'));
  try {
    const data = join(dir, 'data');
    mkdirSync(data);
    makeData(data);
    const cls = join(dir, 'cls.dfw');

    await t.test('help and usage errors', () => {
      for (const cmd of ['attr-train', 'zoo-quality']) {
        const r = run(cmd, '--help');
        assert.equal(r.status, 0, cmd);
        assert.match(r.stdout, new RegExp(`usage: dadfi ${cmd}`));
      }
      assert.match(run('--help').stdout, /attr-train[\s\S]*zoo-quality/);
      assert.equal(run('attr-train').status, 2, 'no --out');
      assert.equal(run('attr-train', '--out', cls, '--steps', '0').status, 2);
      assert.equal(run('attr-train', '--out', cls, '--batch', 'x').status, 2);
      assert.equal(run('attr-train', '--out', cls, '--lr', '2').status, 2);
      assert.equal(run('attr-train', '--out', cls, '--bogus', '1').status, 2);
      assert.equal(run('attr-train', '--out', cls, 'extra').status, 2);
      assert.equal(run('attr-train', '--out').status, 2, 'option without a value');
      assert.equal(run('zoo-quality', '--models', attgan, '--data', data).status, 2, 'no --classifier');
      assert.equal(run('zoo-quality', '--classifier', cls, '--data', data).status, 2, 'no --models');
      assert.equal(run('zoo-quality', '--classifier', cls, '--models', attgan, '--data', data, '--n', '0').status, 2);
      assert.equal(run('zoo-quality', '--classifier', cls, '--models', attgan, '--data', data, '--split', 'train').status, 2);
      assert.ok(!existsSync(cls));
    });

    await t.test('runtime errors', () => {
      const r = run('attr-train', '--out', cls, '--data', join(dir, 'missing'), '--steps', '1');
      assert.equal(r.status, 1);
      assert.ok(!existsSync(cls));
      const q = run('zoo-quality', '--classifier', join(dir, 'missing.dfw'), '--models', attgan, '--data', data);
      assert.equal(q.status, 1);
      assert.match(q.stderr, /missing\.dfw/);
      // a zoo model is not a classifier
      if (existsSync(attgan)) {
        const w = run('zoo-quality', '--classifier', attgan, '--models', attgan, '--data', data);
        assert.equal(w.status, 1);
        assert.match(w.stderr, /attribute classifier/);
      }
    });

    await t.test('attr-train writes a classifier with provenance', () => {
      const r = run('attr-train', '--data', data, '--out', cls, '--steps', '3', '--batch', '4', '--width', '2');
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /test accuracy on 4 faces of partition 2: Black_Hair [01]\.\d+/);
      const info = run('info', cls);
      assert.equal(info.status, 0, info.stderr);
      assert.match(info.stdout, /arch = attr-classifier/);
      assert.match(info.stdout, /train\.steps = 3/);
      assert.match(info.stdout, /train\.data = data\b/);
      assert.match(info.stdout, /test\.acc\.Young = /);
      assert.doesNotMatch(info.stdout.split('metadata:')[1], new RegExp(dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')), 'no machine paths');
      const trunc = join(dir, 'trunc.dfw');
      writeFileSync(trunc, readFileSync(cls).subarray(0, 200));
      assert.equal(run('zoo-quality', '--classifier', trunc, '--models', attgan, '--data', data).status, 1);
    });

    await t.test('zoo-quality measures a model and writes JSON', { skip: !existsSync(attgan) && 'no zoo weights' }, () => {
      const json = join(dir, 'q.json');
      const r = run('zoo-quality', '--classifier', cls, '--models', `${attgan},${attgan}`, '--data', data, '--n', '3',
        '--json', json);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /attgan \(zoo-attgan\)/);
      assert.match(r.stdout, /reconstruction MAE \d\.\d+ +(PASS|FAIL)/);
      const q = JSON.parse(readFileSync(json, 'utf8'));
      assert.equal(q.n, 3);
      assert.equal(q.data, 'data');
      assert.deepEqual(q.models.map((m) => m.name), ['attgan', 'attgan#2']);
      assert.deepEqual(q.models[0], { ...q.models[1], name: 'attgan' }, 'the same model measures the same');
      const m = q.models[0];
      assert.ok(m.reconstruction_mae >= 0 && m.reconstruction_mae < 2);
      assert.ok(m.mask_nonempty >= 0 && m.mask_nonempty <= 1 && m.mask_coverage >= 0 && m.mask_coverage <= 1);
      assert.equal(m.pass.all, m.pass.edit_accuracy && m.pass.reconstruction && m.pass.mask);
      assert.equal(Object.keys(q.classifier.accuracy_real).length, 6);
      assert.equal(Object.keys(m.classifier_accuracy_reconstructed).length, 6);
      // 3 faces: hair 0,1,2 one-hot; so each hair edit changes the hair of exactly 2 faces
      assert.deepEqual([m.edits_counted.Black_Hair, m.edits_counted.Blond_Hair, m.edits_counted.Brown_Hair], [2, 2, 2]);
      assert.equal(m.edits_counted.Male, 3);
      // the made-up set has no validation faces: a clear runtime error, not an empty result
      const v = run('zoo-quality', '--classifier', cls, '--models', attgan, '--data', data, '--split', 'val');
      assert.equal(v.status, 1);
      assert.match(v.stderr, /val split \(partition 1/);
    });

    await t.test('eval --classifier estimates UTKFace source attributes', { skip: !existsSync(attgan) && 'no zoo weights' }, () => {
      const utk = join(dir, 'utk');
      mkdirSync(join(utk, 'images'), { recursive: true });
      const rows = ['file,age,gender,race'];
      for (let i = 0; i < 3; i++) {
        writeFileSync(join(utk, 'images', `u${i}.png`), encodePNG(testPicture(48, 48, 3, 20 + i)));
        rows.push(`u${i}.png,${20 + i},${i % 2},${i % 5}`);
      }
      writeFileSync(join(utk, 'labels.csv'), rows.join('\n') + '\n');
      const json = join(dir, 'u.json');
      const args = ['eval', '--protector', 'noise', '--models', attgan, '--data', utk, '--no-frechet', '-q', '--json', json];
      const r = run(...args, '--classifier', cls);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(JSON.parse(readFileSync(json, 'utf8')).n, 3);
      // a zoo model is not a classifier: a clear message that names the file once
      const w = run(...args, '--classifier', attgan);
      assert.equal(w.status, 1);
      assert.match(w.stderr, /attgan\.dfw: attrcls: not an attribute classifier/);
      assert.equal(w.stderr.split('attgan.dfw').length - 1, 1, w.stderr);
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
