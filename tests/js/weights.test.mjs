// Provenance: every file in weights/ is a build product whose sha256 is recorded in weights/README.md, so a file
// that is retrained, replaced or added without its record fails here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, statSync, existsSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = process.env.DF_SOURCE_DIR || new URL('../../', import.meta.url).pathname;
const dir = join(root, 'weights');

function files(d) {
  return readdirSync(d).flatMap((n) => {
    const p = join(d, n);
    return statSync(p).isDirectory() ? files(p) : [p];
  });
}

test('every weight file has its sha256 in weights/README.md', { skip: !existsSync(dir) && 'no weights/' }, () => {
  const readme = readFileSync(join(dir, 'README.md'), 'utf8');
  const all = files(dir).filter((p) => !p.endsWith('README.md'));
  assert.ok(all.length > 0, 'weights/ holds no files');
  const missing = all.filter((p) => !readme.includes(createHash('sha256').update(readFileSync(p)).digest('hex')));
  assert.deepEqual(missing.map((p) => relative(root, p)), [], 'files whose sha256 weights/README.md does not record');
});
