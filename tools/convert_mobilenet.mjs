// Convert the Keras MobileNet v1 tfjs layers model (model.json + groupN-shardMofK files) into the .dfw container
// that core/networks/mobilenet.c reads (layout and tensor names in core/networks/mobilenet.h).  The result is derived from a
// third-party model: write it into the build directory, never into the project.
//
//   node tools/convert_mobilenet.mjs [MODEL_DIR] [OUT.dfw]
//     MODEL_DIR defaults to ../shared/models/mobilenet-v1-0.75-224 (next to the project), OUT to build/mobilenet.dfw.
//
// Kernels are transposed from Keras' HWIO ([kh, kw, cin, cout]; depthwise [kh, kw, C, 1]) to OIHW
// ([cout, cin, kh, kw]; depthwise [C, 1, kh, kw]); batch-norm tensors are copied as they are (the loader folds
// them); the classifier (conv_preds) is dropped: only the 768-d features are used.
import { readFileSync, writeFileSync, renameSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

// ---------------------------------------------------------------- .dfw writer (format in core/io/dfw.h)
const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

export function crc32(bytes) {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

const align64 = (x) => Math.ceil(x / 64) * 64;

// meta: {key: string value}; tensors: [{name, dims: [..], data: Float32Array}]
export function writeDfw(meta, tensors) {
  const enc = new TextEncoder();
  const metaE = Object.entries(meta).map(([k, v]) => [enc.encode(k), enc.encode(String(v))]);
  const names = tensors.map((t) => enc.encode(t.name));
  let tables = 32;
  for (const [k, v] of metaE) tables += 6 + k.length + v.length;
  tensors.forEach((t, i) => (tables += 20 + names[i].length + 4 * t.dims.length));
  const offsets = [];
  let data = 0;
  tensors.forEach((t, i) => {
    if (i > 0) data = align64(data);
    offsets.push(data);
    if (t.data.length !== t.dims.reduce((a, b) => a * b, 1)) throw new Error(`tensor ${t.name}: size mismatch`);
    data += 4 * t.data.length;
  });
  const start = align64(tables);
  const buf = new Uint8Array(start + data);
  const dv = new DataView(buf.buffer);
  buf.set(enc.encode('DFW1'), 0);
  dv.setUint32(4, 1, true);
  dv.setUint32(8, metaE.length, true);
  dv.setUint32(12, tensors.length, true);
  dv.setBigUint64(16, BigInt(data), true);
  let pos = 32;
  for (const [k, v] of metaE) {
    dv.setUint16(pos, k.length, true);
    buf.set(k, pos + 2);
    dv.setUint32(pos + 2 + k.length, v.length, true);
    buf.set(v, pos + 6 + k.length);
    pos += 6 + k.length + v.length;
  }
  tensors.forEach((t, i) => {
    dv.setUint16(pos, names[i].length, true);
    buf.set(names[i], pos + 2);
    pos += 2 + names[i].length;
    buf[pos++] = 0; // float32
    buf[pos++] = t.dims.length;
    for (const d of t.dims) {
      dv.setUint32(pos, d, true);
      pos += 4;
    }
    dv.setBigUint64(pos, BigInt(offsets[i]), true);
    dv.setBigUint64(pos + 8, BigInt(4 * t.data.length), true);
    pos += 16;
    for (let j = 0; j < t.data.length; j++) dv.setFloat32(start + offsets[i] + 4 * j, t.data[j], true);
  });
  dv.setUint32(24, crc32(buf.subarray(32)), true);
  dv.setUint32(28, crc32(buf.subarray(0, 28)), true);
  return buf;
}

// Write buf to out atomically (a temporary file renamed), creating out's folder.
export function writeFileAtomic(out, buf) {
  mkdirSync(dirname(resolve(out)), { recursive: true });
  writeFileSync(out + '.tmp', buf);
  renameSync(out + '.tmp', out);
}

// ---------------------------------------------------------------- tfjs layers model
// The model's topology and its weights as {name: {shape, data: Float32Array}} in Keras layout.
export function readTfjsModel(dir) {
  const model = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8'));
  const weights = {};
  for (const group of model.weightsManifest) {
    const bytes = Buffer.concat(group.paths.map((p) => readFileSync(join(dir, p))));
    let off = 0;
    for (const w of group.weights) {
      if (w.dtype !== 'float32' || w.quantization) throw new Error(`${w.name}: only plain float32 weights are supported`);
      const n = w.shape.reduce((a, b) => a * b, 1);
      if (off + 4 * n > bytes.length) throw new Error(`${w.name}: shard too short`);
      const data = new Float32Array(n);
      const dv = new DataView(bytes.buffer, bytes.byteOffset + off, 4 * n);
      for (let i = 0; i < n; i++) data[i] = dv.getFloat32(4 * i, true);
      weights[w.name] = { shape: w.shape, data };
      off += 4 * n;
    }
    if (off !== bytes.length) throw new Error(`group ${group.paths}: ${bytes.length - off} unused bytes`);
  }
  return { model, weights };
}

// [kh, kw, cin, cout] -> [cout, cin, kh, kw]
export function hwioToOihw({ shape: [kh, kw, ci, co], data }) {
  const out = new Float32Array(data.length);
  for (let y = 0; y < kh; y++)
    for (let x = 0; x < kw; x++)
      for (let i = 0; i < ci; i++)
        for (let o = 0; o < co; o++) out[((o * ci + i) * kh + y) * kw + x] = data[((y * kw + x) * ci + i) * co + o];
  return { dims: [co, ci, kh, kw], data: out };
}

// Depthwise [kh, kw, C, 1] -> [C, 1, kh, kw]
function depthwiseToOihw({ shape: [kh, kw, c, m], data }) {
  if (m !== 1) throw new Error('depth_multiplier must be 1');
  const t = hwioToOihw({ shape: [kh, kw, 1, c], data });
  return { dims: [c, 1, kh, kw], data: t.data };
}

export function convertMobilenet(dir) {
  const { model, weights } = readTfjsModel(dir);
  const layers = model.modelTopology.model_config.config.layers;
  const byName = Object.fromEntries(layers.map((l) => [l.name, l]));
  const conv1 = byName.conv1;
  if (!conv1 || !byName.conv_pw_13) throw new Error('not a Keras MobileNet v1 model (conv1 / conv_pw_13 missing)');
  const alpha = conv1.config.filters / 32;
  const bnEps = byName.conv1_bn.config.epsilon;
  const need = (n) => {
    if (!weights[n]) throw new Error(`missing weight ${n}`);
    return weights[n];
  };
  const tensors = [];
  const addBn = (layer) => {
    for (const p of ['gamma', 'beta', 'moving_mean', 'moving_variance']) {
      const w = need(`${layer}_bn/${p}`);
      tensors.push({ name: `${layer}_bn/${p}`, dims: w.shape, data: w.data });
    }
    if (byName[`${layer}_bn`].config.epsilon !== bnEps) throw new Error('batch-norm eps differs between layers');
  };
  tensors.push({ name: 'conv1/kernel', ...hwioToOihw(need('conv1/kernel')) });
  addBn('conv1');
  for (let k = 1; k <= 13; k++) {
    tensors.push({ name: `conv_dw_${k}/depthwise_kernel`, ...depthwiseToOihw(need(`conv_dw_${k}/depthwise_kernel`)) });
    addBn(`conv_dw_${k}`);
    tensors.push({ name: `conv_pw_${k}/kernel`, ...hwioToOihw(need(`conv_pw_${k}/kernel`)) });
    addBn(`conv_pw_${k}`);
  }
  const meta = {
    arch: 'mobilenet-v1',
    alpha: String(alpha),
    bn_eps: String(bnEps),
    size: '224',
    source: `Keras ${model.modelTopology.keras_version || '?'} MobileNet v1 (ImageNet), tfjs layers model; converted by tools/convert_mobilenet.mjs`,
  };
  return writeDfw(meta, tensors);
}

// ---------------------------------------------------------------- command line
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
  const dir = process.argv[2] || join(root, '..', 'shared', 'models', 'mobilenet-v1-0.75-224');
  const out = process.argv[3] || join(root, 'build', 'mobilenet.dfw');
  try {
    const buf = convertMobilenet(dir);
    mkdirSync(dirname(resolve(out)), { recursive: true });
    writeFileSync(out + '.tmp', buf);
    renameSync(out + '.tmp', out);
    console.error(`convert_mobilenet: wrote ${out} (${buf.length} bytes)`);
  } catch (e) {
    console.error(`convert_mobilenet: ${dir}: ${e.message}`);
    process.exit(1);
  }
}
