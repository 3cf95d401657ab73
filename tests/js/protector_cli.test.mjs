// The protector commands end to end: train-gen, pgd, train-universal.  Usage errors always; with the CelebA
// subset present (../shared), tiny zoo models are trained for a step and then: pgd keeps every pixel within eps
// (decoded independently), train-universal writes a bounded perturbation, and train-gen is exactly resumable and
// independent of the thread count (Gen's weights compared through byte-identical protect outputs).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildDir, sharedDir } from './deps.mjs';
import { encodePNG, decodePNG, testPicture } from './png.mjs';

const exe = join(buildDir, 'dadfi');
const skip = !existsSync(exe) && (process.env.DF_BUILD_DIR ? false : 'dadfi not built (set DF_BUILD_DIR)');
const run = (args, env = {}) =>
  spawnSync(exe, args, { encoding: 'utf8', env: { ...process.env, DF_THREADS: '2', ...env } });
const data = join(sharedDir, 'data', 'celeba_subset');
const haveData = existsSync(join(data, 'labels.csv'));

// Tensor `name` of a .dfw file (little-endian container, see core/io/dfw.h) as a Float32Array.
function dfwTensor(buf, name) {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  assert.equal(buf.subarray(0, 4).toString(), 'DFW1');
  const nMeta = dv.getUint32(8, true), nTensors = dv.getUint32(12, true);
  let o = 32;
  const meta = {};
  for (let i = 0; i < nMeta; i++) {
    const kl = dv.getUint16(o, true);
    const key = buf.subarray(o + 2, o + 2 + kl).toString();
    o += 2 + kl;
    const vl = dv.getUint32(o, true);
    meta[key] = buf.subarray(o + 4, o + 4 + vl).toString();
    o += 4 + vl;
  }
  let found = null;
  for (let i = 0; i < nTensors; i++) {
    const nl = dv.getUint16(o, true);
    const n = buf.subarray(o + 2, o + 2 + nl).toString();
    o += 2 + nl;
    const ndim = dv.getUint8(o + 1);
    o += 2 + 4 * ndim;
    const off = Number(dv.getBigUint64(o, true)), nb = Number(dv.getBigUint64(o + 8, true));
    o += 16;
    if (n === name) found = { off, nb };
  }
  const start = Math.ceil(o / 64) * 64;
  assert.ok(found, `tensor ${name} missing`);
  const bytes = buf.subarray(start + found.off, start + found.off + found.nb);
  return { meta, data: new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)) };
}

test('protector commands: usage errors', { skip }, () => {
  for (const cmd of ['train-gen', 'pgd', 'train-universal']) {
    const r = run([cmd, '--help']);
    assert.equal(r.status, 0, cmd);
    assert.match(r.stdout, /usage: dadfi/);
  }
  const usage = [
    ['train-gen', '--models', 'a.dfw', '--out', 'g.dfw'], // no recipe
    ['train-gen', '--recipe', 'fancy', '--models', 'a.dfw', '--out', 'g.dfw'],
    ['train-gen', '--recipe', 'ours', '--out', 'g.dfw'], // no models
    ['train-gen', '--recipe', 'ours', '--models', 'a.dfw'], // no out
    ['train-gen', '--recipe', 'ours', '--models', 'a.dfw', '--out', 'g.dfw', '--eps', '3'],
    ['train-gen', '--recipe', 'ours', '--models', 'a.dfw', '--out', 'g.dfw', '--steps', '0'],
    ['train-gen', '--resume', 'g.ckpt', '--out', 'g.dfw', '--eps', '0.03'], // run options come from the checkpoint
    ['train-gen', '--recipe', 'ours', '--models', 'a.dfw', '--out', 'g.dfw', '--bogus', '1'],
    ['pgd', 'in.png', 'out.png'], // no models
    ['pgd', '--models', 'a.dfw', 'in.png'],
    ['pgd', '--models', 'a.dfw', '--attr', 'Bald', 'in.png', 'out.png'],
    ['pgd', '--models', 'a.dfw', '--steps', '-1', 'in.png', 'out.png'],
    ['pgd', '--models', 'a.dfw', 'in.png', 'out.tiff'],
    ['pgd', '--models', 'a.dfw', '--through-jpeg', '0', 'in.png', 'out.png'],
    ['train-universal', '--out', 'u.dfw'],
    ['train-universal', '--models', 'a.dfw', '--out', 'u.dfw', '--batch', '0'],
  ];
  for (const args of usage) assert.equal(run(args).status, 2, args.join(' '));
  // a missing model file is a runtime error, a bad --set a usage error once the models load
  assert.equal(run(['pgd', '--models', '/nonexistent.dfw', 'in.png', 'out.png']).status, 1);
});

test('protector commands on tiny zoo models', { skip: skip || (!haveData && 'CelebA subset absent (../shared)') },
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'dadfi-prot-'));
    try {
      const models = [];
      for (const arch of ['stargan', 'attgan', 'style']) {
        const f = join(dir, `${arch}.dfw`);
        const r = run(['zoo-train', '--arch', arch, '--out', f, '--steps', '1', '--batch', '2', '--width', '4',
          '--dwidth', '4', '--nres', '1', '--data', data]);
        assert.equal(r.status, 0, r.stderr);
        models.push(f);
      }
      const M = models.join(',');
      const pic = testPicture(150, 170);
      writeFileSync(join(dir, 'in.png'), encodePNG(pic));

      for (const extra of [[], ['--through-jpeg', '85']])
      await t.test(`pgd${extra.length ? ' ' + extra.join(' ') : ''} keeps every pixel within eps and changes the square the models see`, () => {
        const out = join(dir, 'pgd.png');
        const r = run(['pgd', '--models', M, '--eps', '0.03', '--steps', '3', ...extra, join(dir, 'in.png'), out]);
        assert.equal(r.status, 0, r.stderr);
        assert.match(r.stdout, /3 iterations x 3 models/);
        const got = decodePNG(readFileSync(out));
        assert.equal(got.width, 150);
        assert.equal(got.height, 170);
        let maxd = 0, changed = 0, outside = 0;
        for (let y = 0; y < 170; y++)
          for (let x = 0; x < 150; x++)
            for (let c = 0; c < 3; c++) {
              const i = (y * 150 + x) * 3 + c, d = Math.abs(got.data[i] - pic.data[i]);
              maxd = Math.max(maxd, d);
              changed += d > 0;
              if (y < 10 || y >= 160) outside += d; // outside the centred 150x150 square
            }
        assert.ok(maxd <= 0.03 * 127.5 + 0.5, `max change ${maxd}`);
        assert.ok(changed > 150 * 150 * 3 / 10, `only ${changed} values changed`);
        assert.equal(outside, 0, 'pixels outside the centred square changed');
      });

      await t.test('train-universal writes a bounded delta', () => {
        const out = join(dir, 'u.dfw');
        const r = run(['train-universal', '--models', M, '--out', out, '--batches', '2', '--batch', '2', '--iters',
          '2', '--val', '2', '--data', data]);
        assert.equal(r.status, 0, r.stderr);
        const { meta, data: d } = dfwTensor(readFileSync(out), 'delta');
        assert.equal(meta.arch, 'universal-perturbation');
        assert.equal(Number(meta.size), 128);
        assert.equal(d.length, 3 * 128 * 128);
        let m = 0;
        for (const v of d) m = Math.max(m, Math.abs(v));
        assert.ok(m <= 0.05 + 1e-7 && m > 0.01, `max |delta| ${m}`);
      });

      await t.test('train-gen: resume equals an uninterrupted run, for any thread count', () => {
        const common = ['--models', M, '--batch', '2', '--width', '4', '--adv-batches', '1', '--val', '2',
          '--val-every', '2', '--data', data, '--set', 'p_jpeg=0.5', '--set', 'p_blur=0.5'];
        const protect = (w, out) => {
          const r = run(['protect', '--weights', w, '--force', join(dir, 'in.png'), out]);
          assert.equal(r.status, 0, r.stderr);
          return readFileSync(out);
        };
        const a = join(dir, 'a.dfw'), b = join(dir, 'b.dfw'), c = join(dir, 'c.dfw');
        let r = run(['train-gen', '--recipe', 'ours', '--out', a, '--steps', '4', ...common]);
        assert.equal(r.status, 0, r.stderr);
        assert.match(r.stderr, /step 4\/4 .* st\/s .* D x .* G x .* direct .* val/);
        r = run(['train-gen', '--recipe', 'ours', '--out', b, '--steps', '2', ...common]);
        assert.equal(r.status, 0, r.stderr);
        const p2 = protect(b, join(dir, 'p2.png'));
        r = run(['train-gen', '--resume', `${b}.ckpt`, '--out', b, '--steps', '4', '--data', data], { DF_THREADS: '1' });
        assert.equal(r.status, 0, r.stderr);
        r = run(['train-gen', '--recipe', 'ours', '--out', c, '--steps', '4', ...common], { DF_THREADS: '1' });
        assert.equal(r.status, 0, r.stderr);
        const pa = protect(a, join(dir, 'pa.png')), pb = protect(b, join(dir, 'pb.png'));
        const pc = protect(c, join(dir, 'pc.png'));
        assert.ok(pa.equals(pb), 'resumed run differs from the uninterrupted one');
        assert.ok(pa.equals(pc), 'run with 1 thread differs from the run with 2');
        assert.ok(!pa.equals(p2), 'steps 3 and 4 changed nothing');
        // a checkpoint refuses other models
        r = run(['train-gen', '--resume', `${b}.ckpt`, '--out', b, '--steps', '5', '--models', models[0], '--data', data]);
        assert.equal(r.status, 2, r.stderr);
      });

      await t.test('train-gen against an imported model: validated by name, resumable, refused without crops', (tt) => {
        const fixtures = join(buildDir, 'eval_fixtures');
        if (!existsSync(fixtures)) return tt.skip('eval_fixtures not built');
        const fx = spawnSync(fixtures, [dir], { encoding: 'utf8' });
        assert.equal(fx.status, 0, fx.stderr);
        const cartoon = join(dir, 'cartoon.dfw'), g = join(dir, 'g.dfw');
        const common = ['--models', `${M},${cartoon}`, '--batch', '2', '--width', '4', '--adv-batches', '0',
          '--val', '2', '--val-every', '2', '--data', data];
        let r = run(['train-gen', '--recipe', 'ours', '--out', g, '--steps', '2', ...common]);
        assert.equal(r.status, 1, 'an imported model needs the attacker crops');
        assert.match(r.stderr, /imported models need recipe ours with p_warp > 0/);
        r = run(['train-gen', '--recipe', 'ours', '--out', g, '--steps', '2', ...common, '--set', 'p_warp=0.5',
          '--set', 'graph_window=32']);
        assert.equal(r.status, 0, r.stderr);
        assert.match(r.stderr, /4 models/);
        assert.match(r.stderr, /validation at step 2: .*style \d+% L2m [\d.]+, cartoon \d+% L2m [\d.]+\)/);
        r = run(['train-gen', '--resume', `${g}.ckpt`, '--out', g, '--steps', '3', '--data', data]);
        assert.equal(r.status, 0, r.stderr);
        assert.match(r.stderr, /steps 2 -> 3/);
        r = run(['train-gen', '--resume', `${g}.ckpt`, '--out', g, '--steps', '4', '--models', M, '--data', data]);
        assert.equal(r.status, 2, 'the checkpoint refuses the zoo models without the imported one');
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
