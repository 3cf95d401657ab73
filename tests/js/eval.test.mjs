// `dadfi eval` end to end on tiny random models (tests/tools/eval_fixtures.c): every protector kind on two images,
// the JPEG and resize conditions, both data-set layouts, and the JSON checked against its documented schema;
// `dadfi eval chart` draws PNGs (decoded independently).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildDir, sharedDir } from './deps.mjs';
import { decodePNG } from './png.mjs';

const exe = join(buildDir, 'dadfi');
const fixtures = join(buildDir, 'eval_fixtures');
const skip = !(existsSync(exe) && existsSync(fixtures)) && `dadfi or eval_fixtures not built in ${buildDir} (set DF_BUILD_DIR)`;
const mobilenet = join(buildDir, 'mobilenet.dfw');
const skipMobilenet = !existsSync(mobilenet) && `${mobilenet} absent (node tools/convert_mobilenet.mjs makes it)`;
const run = (...args) => spawnSync(exe, args, { encoding: 'utf8' });

const num = (v) => typeof v === 'number' && Number.isFinite(v);
const numOrNull = (v) => v === null || num(v);

// The schema in `dadfi eval --help`; throws on the first mismatch.
function checkSchema(j, models, { groups = [], imported = [] } = {}) {
  assert.deepEqual(Object.keys(j), ['protector', 'eps', 'n', 'condition', 'data', 'protection', 'models', 'groups']);
  assert.equal(typeof j.protector, 'string');
  assert.ok(num(j.eps) && Number.isInteger(j.n) && j.n > 0);
  assert.deepEqual(Object.keys(j.condition), ['jpeg', 'resize', 'attack']);
  assert.ok((j.condition.jpeg === null || Number.isInteger(j.condition.jpeg)) && numOrNull(j.condition.resize));
  assert.ok(j.condition.attack === null || typeof j.condition.attack === 'string');
  assert.deepEqual(Object.keys(j.data), ['dir', 'split', 'size', 'edits']);
  assert.deepEqual(Object.keys(j.protection), ['psnr', 'psnr_images', 'ssim', 'linf', 'linf_mean', 'ms_per_image',
    'perceptual', 'frechet']);
  for (const [k, v] of Object.entries(j.protection)) assert.ok(numOrNull(v), `protection.${k}`);
  assert.deepEqual(Object.keys(j.models), [...models, ...imported]);
  for (const m of [...models, ...imported]) {
    const r = j.models[m];
    assert.deepEqual(Object.keys(r), ['arch', 'size', 'pairs', 'd_pix', 'd_pix_rms', 'd_mask', 'd_mask_rms', 'l2',
      'l2_mask', 'success_rate', 'empty_masks', 'frechet']);
    if (models.includes(m)) assert.match(r.arch, /^zoo-(stargan|attgan|style)$/);
    else assert.equal(r.arch, 'dadfi-graph');
    assert.ok(Number.isInteger(r.size) && r.size > 0);
    for (const k of ['d_pix', 'd_pix_rms', 'd_mask', 'd_mask_rms', 'l2', 'l2_mask', 'success_rate']) assert.ok(num(r[k]) && r[k] >= 0, `${m}.${k}`);
    assert.ok(r.success_rate <= 1 && numOrNull(r.frechet));
    assert.equal(r.pairs, models.includes(m) ? j.n * j.data.edits : j.n); // imported models: one output per photo
  }
  assert.deepEqual(Object.keys(j.groups), groups);
  for (const g of groups)
    for (const [value, e] of Object.entries(j.groups[g])) {
      assert.ok(Number.isInteger(e.pairs), `${g}.${value}.pairs`);
      assert.deepEqual(Object.keys(e.success_rate), [...models, ...imported]);
      for (const v of Object.values(e.success_rate)) assert.ok(e.pairs ? num(v) : v === null);
    }
}

test('dadfi eval', { skip, timeout: 600000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'dadfi-eval-'));
  try {
    const fx = spawnSync(fixtures, [dir], { encoding: 'utf8' });
    assert.equal(fx.status, 0, fx.stderr);
    const models = ['stargan', 'attgan', 'style'];
    const modelArg = models.map((m) => join(dir, `${m}.dfw`)).join(',');
    let runs = 0;
    // without --mobilenet in extra: no MobileNet (none is loaded with --no-frechet --no-perceptual)
    const evalRun = (protector, extra = [], data = 'celeba') => {
      const out = join(dir, `out-${++runs}.json`);
      const r = run('eval', '--protector', protector, '--models', modelArg, '--data', join(dir, data), '--size', '32',
        '--n', '2', '--no-frechet', ...(extra.includes('--mobilenet') ? [] : ['--no-perceptual']), '--json', out, ...extra);
      assert.equal(r.status, 0, r.stderr);
      return JSON.parse(readFileSync(out, 'utf8'));
    };

    await t.test('usage errors', () => {
      assert.equal(run('eval', '--help').status, 0);
      assert.match(run('eval', '--help').stdout, /"success_rate"/);
      assert.equal(run('eval').status, 2);
      assert.equal(run('eval', '--protector', 'none', '--models', 'a', '--data', 'd', '--json', 'o', '--jpeg', '101').status, 2);
      assert.equal(run('eval', '--protector', 'none', '--models', 'a', '--data', 'd', '--json', 'o', '--jpeg', '90,80').status, 2);
      assert.equal(run('eval', '--protector', 'none', '--models', 'a', '--data', 'd', '--json', 'o', '--size', '100').status, 2);
      assert.equal(run('eval', '--protector', 'none', '--models', 'a', '--data', 'd', '--json', 'o', '--bogus').status, 2);
      const bad = run('eval', '--protector', 'magic', '--models', modelArg, '--data', join(dir, 'celeba'), '--size', '32',
        '--json', join(dir, 'x.json'));
      assert.equal(bad.status, 1);
      assert.match(bad.stderr, /unknown protector/);
      assert.ok(!existsSync(join(dir, 'x.json')));
    });

    await t.test('every protector on two images; JSON schema; eps bound', () => {
      const eps = 0.05;
      for (const p of ['none', 'noise', 'sign-noise', 'pgd', `universal:${join(dir, 'universal.dfw')}`, `gen:${join(dir, 'gen.dfw')}`]) {
        const j = evalRun(p, ['--eps', String(eps)]);
        checkSchema(j, models, { groups: ['gender'] });
        assert.equal(j.n, 2);
        assert.equal(j.protector, p);
        assert.deepEqual(j.condition, { jpeg: null, resize: null, attack: null });
        assert.ok(j.protection.linf <= eps + 1 / 127.5 + 1e-6, `${p}: linf ${j.protection.linf}`);
        if (p === 'none') {
          assert.equal(j.protection.psnr, null);
          assert.equal(j.protection.linf, 0);
          for (const m of models) assert.equal(j.models[m].d_pix, 0);
        } else {
          assert.ok(j.protection.psnr > 25 && j.protection.psnr < 60, `${p}: psnr ${j.protection.psnr}`);
          assert.ok(j.protection.linf > 0);
        }
      }
    });

    await t.test('JPEG and resize conditions; the clean face takes the same path', () => {
      const none = evalRun('none', ['--jpeg', '75', '--resize', '0.5']);
      checkSchema(none, models, { groups: ['gender'] });
      assert.deepEqual(none.condition, { jpeg: 75, resize: 0.5, attack: null });
      for (const m of models) assert.equal(none.models[m].l2, 0, 'the condition alone disrupts nothing');
      const gen = evalRun(`gen:${join(dir, 'gen.dfw')}`, ['--jpeg', '90', '--resize', '0.75', '--edits', '2']);
      checkSchema(gen, models, { groups: ['gender'] });
      assert.equal(gen.data.edits, 2);
      for (const m of models) assert.ok(gen.models[m].l2 > 0);
    });

    await t.test('--attack: the attacker pipeline, named in the JSON; the clean photo takes the same path', () => {
      const none = evalRun('none', ['--attack', 'full']);
      checkSchema(none, models, { groups: ['gender'] });
      // the spec in its canonical form: every factor of the `full` preset, with its parameters
      assert.match(none.condition.attack, /^shift=0\.04,scale=0\.08,rot=5,kernel=any,jpeg=75-95,downsize=1080$/);
      for (const m of models) assert.equal(none.models[m].l2, 0, 'the pipeline alone disrupts nothing');
      const gen = evalRun(`gen:${join(dir, 'gen.dfw')}`, ['--attack', 'jitter']);
      checkSchema(gen, models, { groups: ['gender'] });
      assert.match(gen.condition.attack, /^shift=0\.04,scale=0\.08,rot=0,kernel=bicubic-aa,jpeg=0,downsize=0$/);
      assert.ok(gen.protection.psnr > 25 && gen.protection.psnr < 60, `psnr ${gen.protection.psnr}`);
      for (const m of models) assert.ok(gen.models[m].l2 > 0, `${m}: the protected photo changes the output`);
      const bad = run('eval', '--protector', 'none', '--models', modelArg, '--data', join(dir, 'celeba'),
        '--json', join(dir, 'bad.json'), '--attack', 'shift=2');
      assert.notEqual(bad.status, 0);
      assert.match(bad.stderr, /attack|shift/);
    });

    await t.test('imported models: measured through --attack at their own side, next to the zoo; refused elsewhere', () => {
      const cartoon = join(dir, 'cartoon.dfw');
      const withCartoon = (protector, extra) => {
        const out = join(dir, `out-${++runs}.json`);
        const r = run('eval', '--protector', protector, '--models', `${modelArg},${cartoon}`, '--data', join(dir, 'celeba'),
          '--size', '32', '--n', '2', '--no-frechet', '--no-perceptual', '--json', out, ...extra);
        return { r, j: r.status === 0 ? JSON.parse(readFileSync(out, 'utf8')) : null };
      };
      const none = withCartoon('none', ['--attack', 'jitter', '--edits', '2']);
      assert.equal(none.r.status, 0, none.r.stderr);
      checkSchema(none.j, models, { groups: ['gender'], imported: ['cartoon'] });
      assert.equal(none.j.models.cartoon.size, 64);
      assert.equal(none.j.models.cartoon.l2, 0, 'the pipeline alone changes nothing for the imported model either');
      assert.ok(none.j.models.cartoon.empty_masks < 2, 'the imported model edits the photo (its mask is not empty)');
      const noise = withCartoon('noise', ['--attack', 'jitter', '--eps', '0.1']);
      assert.equal(noise.r.status, 0, noise.r.stderr);
      assert.ok(noise.j.models.cartoon.l2 > 0, 'noise reaches the imported model through its own crop');
      assert.match(noise.r.stderr, / cartoon \d+(\.\d)?%/, 'the summary names it');
      const lab = withCartoon('none', []);
      assert.equal(lab.r.status, 1);
      assert.match(lab.r.stderr, /cartoon is an imported model.*--attack/);
      const onlyCartoon = spawnSync(exe, ['eval', '--protector', 'pgd', '--models', cartoon, '--data', join(dir, 'celeba'),
        '--size', '32', '--n', '1', '--json', join(dir, 'p.json'), '--attack', 'jitter'], { encoding: 'utf8' });
      assert.equal(onlyCartoon.status, 1);
      assert.match(onlyCartoon.stderr, /attacks zoo models.*imported models only with eot-pgd/);
      // EOT-PGD attacks an imported model at its own side when --pgd-models names it: it moves that model's output
      // more than noise of the same budget, through the same seeded crops
      const eotArgs = ['--attack', 'jitter', '--eps', '0.05', '--edits', '1'];
      const eot = withCartoon('eot-pgd', [...eotArgs, '--pgd-models', cartoon, '--pgd-iters', '4', '--eot-samples', '2']);
      assert.equal(eot.r.status, 0, eot.r.stderr);
      checkSchema(eot.j, models, { groups: ['gender'], imported: ['cartoon'] });
      const noise5 = withCartoon('noise', eotArgs);
      assert.equal(noise5.r.status, 0, noise5.r.stderr);
      assert.ok(eot.j.models.cartoon.l2 > 1.5 * noise5.j.models.cartoon.l2,
        `EOT-PGD on the imported model: l2 ${eot.j.models.cartoon.l2} against noise ${noise5.j.models.cartoon.l2}`);
      const plain = withCartoon('pgd', [...eotArgs, '--pgd-models', cartoon]);
      assert.equal(plain.r.status, 1);
      assert.match(plain.r.stderr, /only eot-pgd attacks those/);
      const mixed = withCartoon('eot-pgd', [...eotArgs, '--pgd-models', `${modelArg},${cartoon}`]);
      assert.equal(mixed.r.status, 1);
      assert.match(mixed.r.stderr, /one side at a time/);
      const train = spawnSync(exe, ['train-universal', '--models', cartoon, '--out', join(dir, 'u.dfw')], { encoding: 'utf8' });
      assert.notEqual(train.status, 0);
      assert.match(train.stderr, /cartoon\.dfw is an imported model/);
    });

    await t.test('--photo-scale and --detector: whole photos enlarged, Gen placed by detection', async () => {
      const none = evalRun('none', ['--attack', 'jitter', '--photo-scale', '2']);
      for (const m of models) assert.equal(none.models[m].l2, 0, 'the enlarged photo alone disrupts nothing');
      const g1 = evalRun(`gen:${join(dir, 'gen.dfw')}`, ['--attack', 'jitter']);
      const g2 = evalRun(`gen:${join(dir, 'gen.dfw')}`, ['--attack', 'jitter', '--photo-scale', '2']);
      assert.ok(g2.protection.psnr > 25 && g2.protection.psnr < 60, `psnr ${g2.protection.psnr}`);
      assert.notEqual(g2.protection.psnr, g1.protection.psnr, 'the enlarged photo is another photo');
      const base = ['eval', '--models', modelArg, '--data', join(dir, 'celeba'), '--size', '32', '--json', join(dir, 'e.json')];
      assert.equal(run(...base, '--protector', 'none', '--photo-scale', '2').status, 2, '--photo-scale needs --attack');
      assert.equal(run(...base, '--protector', 'none', '--attacker-detector', 'x.dfw').status, 2, '... and so does --attacker-detector');
      assert.equal(run(...base, '--protector', 'none', '--attack', 'jitter', '--photo-scale', '9').status, 2);
      const noGen = run(...base, '--protector', 'none', '--attack', 'jitter', '--detector', 'x.dfw');
      assert.equal(noGen.status, 2);
      assert.match(noGen.stderr, /--detector .*needs --protector gen:FILE/);
      const missing = run(...base, '--protector', `gen:${join(dir, 'gen.dfw')}`, '--attack', 'jitter', '--detector', join(dir, 'nothere.dfw'));
      assert.equal(missing.status, 1);
      assert.match(missing.stderr, /nothere\.dfw/);
      const detJson = join(sharedDir, 'models', 'human-models', 'blazeface.json');
      if (existsSync(detJson)) { // the fixtures' faces are drawn, not photographed: the fallback is counted
        const { convertBlazeface } = await import('../../tools/convert_blazeface.mjs');
        writeFileSync(join(dir, 'det.dfw'), convertBlazeface(detJson));
        const out = join(dir, 'det.json');
        const r = run('eval', '--protector', `gen:${join(dir, 'gen.dfw')}`, '--models', modelArg, '--data', join(dir, 'celeba'),
          '--size', '32', '--n', '2', '--no-frechet', '--no-perceptual', '--attack', 'jitter', '--detector', join(dir, 'det.dfw'), '--json', out);
        assert.equal(r.status, 0, r.stderr);
        assert.match(r.stderr, /--detector: faces found in \d of 2 photos/);
        assert.ok(JSON.parse(readFileSync(out, 'utf8')).protection.psnr > 20);
        // the attacker's own detector on the photo it receives; the JSON says so
        const r2 = run('eval', '--protector', 'none', '--models', modelArg, '--data', join(dir, 'celeba'), '--size', '32',
          '--n', '2', '--no-frechet', '--no-perceptual', '--attack', 'jitter', '--attacker-detector', join(dir, 'det.dfw'),
          '--json', out);
        assert.equal(r2.status, 0, r2.stderr);
        assert.match(r2.stderr, /--attacker-detector: the attacker found a face in \d of 2 \(photo, attack\) pairs/);
        const j2 = JSON.parse(readFileSync(out, 'utf8'));
        assert.match(j2.condition.attack, /,square=detector$/);
        for (const m of models) assert.equal(j2.models[m].l2, 0, 'the clean photo takes the same crop');
      }
    });

    await t.test('perceptual distance: 0 for none, > 0 for noise, on crops and whole photos; --no-perceptual',
      { skip: skipMobilenet }, () => {
      const withMn = ['--mobilenet', mobilenet];
      for (const extra of [[], ['--attack', 'jitter']]) {
        const none = evalRun('none', [...withMn, ...extra]);
        checkSchema(none, models, { groups: ['gender'] });
        assert.equal(none.protection.perceptual, 0, `none ${extra}`);
        assert.equal(none.protection.frechet, null, '--no-frechet');
        const noise = evalRun('noise', [...withMn, '--eps', '0.05', ...extra]);
        const sign = evalRun('sign-noise', [...withMn, '--eps', '0.05', ...extra]);
        assert.ok(noise.protection.perceptual > 0 && noise.protection.perceptual < 1, `noise ${noise.protection.perceptual}`);
        assert.ok(sign.protection.perceptual > noise.protection.perceptual, 'larger noise, larger distance');
      }
      const out = join(dir, 'no-perceptual.json');
      const r = run('eval', '--protector', 'noise', '--models', modelArg, '--data', join(dir, 'celeba'), '--size', '32',
        '--n', '2', '--no-perceptual', '--mobilenet', mobilenet, '--json', out);
      assert.equal(r.status, 0, r.stderr);
      const j = JSON.parse(readFileSync(out, 'utf8'));
      assert.equal(j.protection.perceptual, null);
      assert.ok(num(j.protection.frechet), 'Frechet still measured');
    });

    await t.test('several JPEG qualities on the same protections', () => {
      const tmpl = join(dir, 'multi-{q}.json');
      const r = run('eval', '--protector', 'sign-noise', '--models', modelArg, '--data', join(dir, 'celeba'), '--size', '32',
        '--n', '2', '--no-frechet', '--jpeg', '0,90,75', '--json', tmpl);
      assert.equal(r.status, 0, r.stderr);
      const js = ['none', '90', '75'].map((q) => JSON.parse(readFileSync(join(dir, `multi-${q}.json`), 'utf8')));
      js.forEach((j) => checkSchema(j, models, { groups: ['gender'] }));
      assert.deepEqual(js.map((j) => j.condition.jpeg), [null, 90, 75]);
      for (const j of js.slice(1)) assert.deepEqual(j.protection.psnr, js[0].protection.psnr, 'one protection per image');
      assert.notDeepEqual(js[1].models.stargan.l2, js[2].models.stargan.l2);
    });

    await t.test('UTKFace layout: groups by gender and race, image grid', () => {
      const grid = join(dir, 'grid.png');
      const j = evalRun('sign-noise', ['--grid', grid, '--grid-rows', '2'], 'utk');
      checkSchema(j, models, { groups: ['gender', 'race'] });
      assert.deepEqual(Object.keys(j.groups.race), ['White', 'Black', 'Asian', 'Indian', 'Others']);
      assert.equal(j.groups.gender.male.pairs + j.groups.gender.female.pairs, 2);
      const png = decodePNG(readFileSync(grid));
      // 3 + 2 x 3 columns of 32x32 cells shown at scale 3 with 4-pixel gaps
      assert.equal(png.width, 4 + 9 * (96 + 4));
      assert.ok(png.height > 2 * 96);
    });

    await t.test('charts', () => {
      writeFileSync(join(dir, 'bars.tsv'), 'model\tnone\tgen\nstargan\t0\t0.9\nattgan\tnan\t0.7\n');
      const out = join(dir, 'bars.png');
      let r = run('eval', 'chart', '--bars', join(dir, 'bars.tsv'), '--out', out, '--title', 'Success', '--ymax', '1', '--fmt', '%.2f');
      assert.equal(r.status, 0, r.stderr);
      const png = decodePNG(readFileSync(out));
      assert.ok(png.width >= 480 && png.height === 420);
      writeFileSync(join(dir, 'lines.tsv'), 'gen\t40\t0.1\teps 0.02\ngen\t35\t0.8\teps 0.05\npgd\t33\t0.9\n');
      r = run('eval', 'chart', '--lines', join(dir, 'lines.tsv'), '--out', join(dir, 'lines.png'), '--xlabel', 'PSNR');
      assert.equal(r.status, 0, r.stderr);
      assert.equal(decodePNG(readFileSync(join(dir, 'lines.png'))).width, 640);
      writeFileSync(join(dir, 'bad.tsv'), 'model\tnone\nstargan\tabc\n');
      assert.equal(run('eval', 'chart', '--bars', join(dir, 'bad.tsv'), '--out', join(dir, 'b.png')).status, 1);
      assert.equal(run('eval', 'chart', '--bars', join(dir, 'bars.tsv'), '--out', out, '--fmt', '%s').status, 2);
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
