// Convert a TensorFlow.js graph model (model.json with a GraphDef + weight shards) into the .dfw graph that
// core/networks/graph.c runs (format in core/networks/graph.h).  Models imported this way are third-party: write
// the result into the build directory, never into the project.
//
//   node tools/convert_tfjs_graph.mjs MODEL_DIR OUT.dfw [--order rgb|bgr] [--in-range MIN,MAX]
//        [--out-range MIN,MAX] [--size N] [--size-multiple N] [--name TEXT]
//   e.g. node tools/convert_tfjs_graph.mjs ../shared/models/cartoongan-tfjs/hosoda build/hosoda.dfw --order bgr
//
// What is understood (anything else is refused with the op and node named):
//   Placeholder (NHWC float input), Const (weights; uint8/uint16-quantised ones dequantised with the manifest's
//   min/scale exactly as tfjs does), Identity, Conv2D (VALID, or SAME with stride 1; + BiasAdd), Pad / MirrorPad
//   (REFLECT, SYMMETRIC) on the spatial axes (folded into the next convolution when it can be), Conv2DBackpropInput
//   (transposed convolution, VALID or SAME; + an optional spatial crop by StridedSlice; + BiasAdd), instance
//   normalisation written out as Mean / SquaredDifference / Mean / Add(eps) / Rsqrt / Mul(gamma) / Mul / Mul / Sub /
//   Add, Relu, Tanh, Add/AddV2 of two activations.  Shape / StridedSlice / Pack / Mul / Add on integers are
//   evaluated symbolically (as a * H + b) when they only compute a transposed convolution's output shape.
// The channel order and pixel range of the model are not in the graph: pass them (--order, --in-range,
// --out-range; defaults rgb and [-1, 1]); the size multiple is derived from the strides unless given.
import { readFileSync, writeFileSync, renameSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve, basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeDfw } from './convert_mobilenet.mjs';

export const OP = { CONV: 1, CONVT: 2, PAD: 3, INSTNORM: 4, RELU: 5, TANH: 6, ADD: 7 };
export const ROW = 12;
const PAD_MODE = { zero: 0, reflect: 1, symmetric: 2 };

export class GraphImportError extends Error {}
const fail = (msg) => {
  throw new GraphImportError(msg);
};

// ---------------------------------------------------------------- weights
// {name: {dtype: 'float32'|'int32', shape, data: Float32Array|Int32Array}} from the manifest and the shard bytes.
export function decodeWeights(manifest, shardBytes) {
  if (!Array.isArray(manifest)) fail('weightsManifest missing or not a list');
  const out = {};
  manifest.forEach((group, gi) => {
    const bytes = shardBytes[gi];
    if (!Array.isArray(group.weights)) fail(`weightsManifest[${gi}]: no weights list`);
    let off = 0;
    for (const w of group.weights) {
      if (typeof w.name !== 'string' || !Array.isArray(w.shape)) fail(`weightsManifest[${gi}]: bad weight entry`);
      if (!w.shape.every((d) => Number.isInteger(d) && d >= 0 && d < 2 ** 31)) fail(`weight '${w.name}': bad shape`);
      const n = w.shape.reduce((a, b) => a * b, 1);
      if (w.dtype !== 'float32' && w.dtype !== 'int32') fail(`weight '${w.name}': dtype ${w.dtype} not supported`);
      const q = w.quantization;
      let size = 4;
      if (q) {
        if (q.dtype !== 'uint8' && q.dtype !== 'uint16') fail(`weight '${w.name}': ${q.dtype} quantisation not supported`);
        if (!Number.isFinite(q.min) || !Number.isFinite(q.scale)) fail(`weight '${w.name}': quantisation without min/scale`);
        size = q.dtype === 'uint8' ? 1 : 2;
      }
      if (off + n * size > bytes.length) fail(`weight '${w.name}': weight data too short`);
      const dv = new DataView(bytes.buffer, bytes.byteOffset + off, n * size);
      const data = w.dtype === 'int32' ? new Int32Array(n) : new Float32Array(n);
      for (let i = 0; i < n; i++) {
        if (q) {
          const v = q.dtype === 'uint8' ? dv.getUint8(i) : dv.getUint16(2 * i, true);
          data[i] = w.dtype === 'int32' ? Math.round(v * q.scale + q.min) : v * q.scale + q.min; // as tfjs io
        } else {
          data[i] = w.dtype === 'int32' ? dv.getInt32(4 * i, true) : dv.getFloat32(4 * i, true);
        }
      }
      if (out[w.name]) fail(`weight '${w.name}' appears twice`);
      out[w.name] = { dtype: w.dtype, shape: w.shape, data };
      off += n * size;
    }
    if (off !== bytes.length) fail(`weight group ${gi}: ${bytes.length - off} bytes left over`);
  });
  return out;
}

export function readTfjsGraph(dir) {
  const model = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8'));
  const shards = (model.weightsManifest || []).map((g) => Buffer.concat((g.paths || []).map((p) => readFileSync(join(dir, p)))));
  return { model, shards };
}

// ---------------------------------------------------------------- graph helpers
const attrStr = (node, k) => {
  const a = node.attr && node.attr[k];
  if (!a || a.s === undefined) return undefined;
  return typeof a.s === 'string' && !Array.isArray(a.s) ? Buffer.from(a.s, 'base64').toString() : Buffer.from(a.s).toString();
};
const attrInts = (node, k) => {
  const a = node.attr && node.attr[k];
  return a && a.list && a.list.i ? a.list.i.map(Number) : undefined;
};
const attrInt = (node, k, dflt) => {
  const a = node.attr && node.attr[k];
  return a && a.i !== undefined ? Number(a.i) : dflt;
};
const attrBool = (node, k) => !!(node.attr && node.attr[k] && node.attr[k].b);
// Conv2D / Conv2DBackpropInput: NHWC, equal spatial strides, no dilation -> {s, padding}
function convAttrs(n) {
  const fmt = attrStr(n, 'data_format');
  if (fmt && fmt !== 'NHWC') fail(`${n.op} '${n.name}': data_format ${fmt} not supported`);
  const st = attrInts(n, 'strides') || [1, 1, 1, 1];
  const dil = attrInts(n, 'dilations') || [1, 1, 1, 1];
  if (st[0] !== 1 || st[3] !== 1 || st[1] !== st[2]) fail(`${n.op} '${n.name}': strides ${st} not supported`);
  if (dil.some((v) => v !== 1)) fail(`${n.op} '${n.name}': dilations not supported`);
  return { s: st[1], padding: attrStr(n, 'padding') };
}

// Inline Const value (attr.value.tensor), for graphs that keep small constants in the GraphDef.
function inlineConst(node) {
  const t = node.attr && node.attr.value && node.attr.value.tensor;
  if (!t) return undefined;
  const shape = ((t.tensorShape && t.tensorShape.dim) || []).map((d) => Number(d.size));
  const n = shape.reduce((a, b) => a * b, 1);
  const ints = t.intVal && t.intVal.length ? t.intVal : t.int64Val && t.int64Val.length ? t.int64Val : null;
  const floats = t.floatVal && t.floatVal.length ? t.floatVal : null;
  const src = ints || floats;
  if (!src) return undefined;
  const Arr = ints ? Int32Array : Float32Array;
  const data = new Arr(n);
  for (let i = 0; i < n; i++) data[i] = Number(src[Math.min(i, src.length - 1)]); // TF repeats the last value
  return { dtype: ints ? 'int32' : 'float32', shape, data };
}

// ---------------------------------------------------------------- conversion
// opts: {order: 'rgb'|'bgr', inRange: [min, max], outRange: [min, max], size, sizeMultiple, name, source}
export function convertTfjsGraph(model, shards, opts = {}) {
  const topo = model && model.modelTopology;
  if (!topo || !Array.isArray(topo.node)) fail('model.json: no modelTopology.node (not a tfjs graph model)');
  const weights = decodeWeights(model.weightsManifest, shards);
  const byName = new Map();
  for (const n of topo.node) {
    if (typeof n.name !== 'string' || typeof n.op !== 'string') fail('model.json: node without name or op');
    if (byName.has(n.name)) fail(`node '${n.name}' appears twice`);
    byName.set(n.name, n);
  }
  const inputsOf = (n) =>
    (n.input || [])
      .filter((s) => !s.startsWith('^'))
      .map((s) => {
        const [name, idx] = s.split(':');
        if (idx !== undefined && idx !== '0') fail(`${n.op} '${n.name}': input '${s}' (output ${idx}) not supported`);
        if (!byName.has(name)) fail(`${n.op} '${n.name}': input '${name}' does not exist`);
        return name;
      });
  const consumers = new Map();
  for (const n of topo.node) for (const i of inputsOf(n)) consumers.set(i, (consumers.get(i) || 0) + 1);
  let output = opts.output;
  if (!output) {
    const ends = topo.node.filter((n) => !consumers.has(n.name) && n.op !== 'Const' && n.op !== 'NoOp');
    if (ends.length !== 1) fail(`graph has ${ends.length} outputs (${ends.map((n) => n.name).join(', ')}): expected one`);
    output = ends[0].name;
  }
  if (!byName.has(output)) fail(`output node '${output}' does not exist`);

  const nodes = []; // {op, in0, in1, f: [...fields 3..], tensors: {w, b, gamma, beta}, ...}
  const memo = new Map();
  const visiting = new Set();
  let input = null;
  let maxScale = 1;

  const emit = (op, ins, fields, extra = {}) => {
    nodes.push({ op, in0: ins[0], in1: ins.length > 1 ? ins[1] : -1, fields, tensors: {}, ...extra });
    return nodes.length; // value index
  };
  const act = (value, C, scale) => {
    maxScale = Math.max(maxScale, scale);
    return { kind: 'act', value, C, scale };
  };
  const need = (v, kind, n, what) => {
    if (!v || v.kind !== kind) fail(`${n.op} '${n.name}': ${what} is not ${kind === 'act' ? 'an activation' : kind === 'const' ? 'a constant' : kind}`);
    return v;
  };
  const single = (name) => (consumers.get(name) || 0) === 1;
  const intScalar = (v) => {
    if (v.kind === 'int') return v;
    if (v.kind === 'const' && v.data.length === 1 && v.shape.length === 0) return { kind: 'int', a: 0, b: v.data[0], sym: null };
    return null;
  };
  const ivec = (v) => {
    if (v.kind === 'ivec') return v.items;
    if (v.kind === 'const' && v.shape.length === 1 && v.dtype === 'int32')
      return Array.from(v.data, (b) => ({ kind: 'int', a: 0, b, sym: null }));
    return null;
  };
  const sameIn = (a, b) => a.x === b.x && a.eps === b.eps && a.gamma === b.gamma;

  function evaluate(name) {
    if (memo.has(name)) return memo.get(name);
    if (visiting.has(name)) fail(`graph has a cycle through '${name}'`);
    visiting.add(name);
    const n = byName.get(name);
    const r = evalNode(n);
    visiting.delete(name);
    memo.set(name, r);
    return r;
  }

  function evalNode(n) {
    const ins = inputsOf(n);
    const arg = (i) => {
      if (i >= ins.length) fail(`${n.op} '${n.name}': input ${i} missing`);
      return evaluate(ins[i]);
    };
    const argc = (k) => {
      if (ins.length !== k) fail(`${n.op} '${n.name}': expected ${k} inputs, got ${ins.length}`);
    };
    switch (n.op) {
      case 'Const': {
        const w = weights[n.name] || inlineConst(n);
        if (!w) fail(`Const '${n.name}': no value (not in the weights manifest)`);
        return { kind: 'const', ...w };
      }
      case 'Placeholder': {
        if (input) fail(`Placeholder '${n.name}': more than one input`);
        const dims = ((n.attr && n.attr.shape && n.attr.shape.shape && n.attr.shape.shape.dim) || []).map((d) => Number(d.size));
        if (dims.length !== 4 || !(dims[3] >= 1)) fail(`Placeholder '${n.name}': expected an NHWC input with known channels`);
        if (dims[0] > 1) fail(`Placeholder '${n.name}': fixed batch ${dims[0]} not supported`);
        input = { name: n.name, C: dims[3], H: dims[1], W: dims[2] };
        return act(0, dims[3], 1);
      }
      case 'Identity':
        argc(1);
        return arg(0);
      case 'Relu':
      case 'Tanh': {
        argc(1);
        const x = need(arg(0), 'act', n, 'input');
        return act(emit(n.op === 'Relu' ? OP.RELU : OP.TANH, [x.value], []), x.C, x.scale);
      }
      case 'Pad':
      case 'PadV2':
      case 'MirrorPad': {
        if (n.op === 'PadV2') {
          argc(3);
          const c = need(arg(2), 'const', n, 'constant_values');
          if (c.data.length !== 1 || c.data[0] !== 0) fail(`PadV2 '${n.name}': only zero padding is supported`);
        } else argc(2);
        const x = need(arg(0), 'act', n, 'input');
        const p = need(arg(1), 'const', n, 'paddings');
        if (p.shape.length !== 2 || p.shape[0] !== 4 || p.shape[1] !== 2) fail(`${n.op} '${n.name}': paddings must be [4, 2]`);
        const d = Array.from(p.data);
        if (d[0] || d[1] || d[6] || d[7]) fail(`${n.op} '${n.name}': padding of the batch or channel axis not supported`);
        if (d.some((v) => v < 0 || v > 1024)) fail(`${n.op} '${n.name}': paddings outside 0..1024`);
        let mode = 'zero';
        if (n.op === 'MirrorPad') {
          const m = (attrStr(n, 'mode') || '').toUpperCase();
          if (m !== 'REFLECT' && m !== 'SYMMETRIC') fail(`MirrorPad '${n.name}': mode '${m}' not supported`);
          mode = m.toLowerCase();
        }
        const pads = [d[2], d[3], d[4], d[5]]; // top, bottom, left, right
        return { ...act(emit(OP.PAD, [x.value], [...pads, PAD_MODE[mode]], { pads, mode, tfName: n.name }), x.C, x.scale), padNode: nodes.length - 1 };
      }
      case 'Conv2D': {
        argc(2);
        const { s, padding } = convAttrs(n);
        const w = need(arg(1), 'const', n, 'filter');
        if (w.shape.length !== 4) fail(`Conv2D '${n.name}': filter must be 4-D`);
        const [kh, kw, ci, co] = w.shape;
        let x = need(arg(0), 'act', n, 'input');
        if (x.C !== ci) fail(`Conv2D '${n.name}': filter expects ${ci} channels, input has ${x.C}`);
        let pad = 0, mode = 0;
        if (padding === 'SAME') {
          if (s !== 1 || kh % 2 === 0 || kw % 2 === 0) fail(`Conv2D '${n.name}': SAME padding needs stride 1 and an odd kernel`);
          if (kh === kw) pad = (kh - 1) / 2;
          else {
            const ph = (kh - 1) / 2, pw = (kw - 1) / 2;
            x = act(emit(OP.PAD, [x.value], [ph, ph, pw, pw, 0]), x.C, x.scale);
          }
        } else if (padding !== 'VALID') fail(`Conv2D '${n.name}': padding ${padding} not supported`);
        else if (x.padNode !== undefined && single(ins[0])) {
          // fold a symmetric zero or reflect Pad that only this convolution reads
          const pn = nodes[x.padNode];
          const [t, b, l, r] = pn.pads;
          if (x.padNode === nodes.length - 1 && t === b && l === r && t === l && t < kh && t < kw && pn.mode !== 'symmetric') {
            nodes.pop();
            pad = t;
            mode = pn.mode === 'reflect' ? 1 : 0;
            x = { kind: 'act', value: pn.in0, C: x.C, scale: x.scale };
          }
        }
        const v = emit(OP.CONV, [x.value], [ci, co, kh, kw, s, pad, mode, 0], { tfName: n.name });
        nodes[v - 1].tensors.w = { dims: [co, ci, kh, kw], data: hwioToOihw(w.data, kh, kw, ci, co) };
        return act(v, co, x.scale * s);
      }
      case 'Conv2DBackpropInput': {
        argc(3);
        const { s, padding } = convAttrs(n);
        if (padding !== 'VALID' && padding !== 'SAME') fail(`Conv2DBackpropInput '${n.name}': padding ${padding} not supported`);
        const w = need(arg(1), 'const', n, 'filter');
        if (w.shape.length !== 4 || w.shape[0] !== w.shape[1]) fail(`Conv2DBackpropInput '${n.name}': filter must be [k, k, cout, cin]`);
        const [k, , co, ci] = w.shape;
        const x = need(arg(2), 'act', n, 'input');
        if (x.C !== ci) fail(`Conv2DBackpropInput '${n.name}': filter expects ${ci} channels, input has ${x.C}`);
        const shape = ivec(arg(0));
        if (!shape || shape.length !== 4) fail(`Conv2DBackpropInput '${n.name}': output shape is not a 4-vector`);
        const dimOf = (it, sym) => {
          if (it.sym !== sym || it.act !== x.value || it.a !== s)
            fail(`Conv2DBackpropInput '${n.name}': output ${sym} must be ${s} * ${sym} + b of its own input`);
          return it.b;
        };
        const bh = dimOf(shape[1], 'H'), bw = dimOf(shape[2], 'W');
        if (bh !== bw) fail(`Conv2DBackpropInput '${n.name}': different output rules for H and W`);
        if (shape[3].sym !== null || shape[3].b !== co) fail(`Conv2DBackpropInput '${n.name}': output channels must be ${co}`);
        if (shape[0].sym !== 'N' && !(shape[0].sym === null && shape[0].b === 1)) fail(`Conv2DBackpropInput '${n.name}': output batch must be the input's`);
        let top;
        if (padding === 'VALID') {
          const e = bh + s - k; // L - F, rows of zeros at the end
          if (e < 0 || e >= s) fail(`Conv2DBackpropInput '${n.name}': output size ${s}*H${bh >= 0 ? '+' : ''}${bh} does not fit VALID`);
          top = 0;
        } else {
          if (bh > 0 || bh <= -s) fail(`Conv2DBackpropInput '${n.name}': output size ${s}*H${bh >= 0 ? '+' : ''}${bh} does not fit SAME`);
          top = Math.floor(Math.max(0, k - s - bh) / 2);
        }
        const v = emit(OP.CONVT, [x.value], null, { tfName: n.name, convT: { ci, co, k, s, b: bh, top, crop: [0, 0] } });
        nodes[v - 1].tensors.w = { dims: [ci, co, k, k], data: convTWeights(w.data, k, co, ci) };
        return act(v, co, x.scale / s);
      }
      case 'StridedSlice': {
        argc(4);
        const x = arg(0);
        const begin = need(arg(1), 'const', n, 'begin'), end = need(arg(2), 'const', n, 'end'), strides = need(arg(3), 'const', n, 'strides');
        const bm = attrInt(n, 'begin_mask', 0), em = attrInt(n, 'end_mask', 0), sm = attrInt(n, 'shrink_axis_mask', 0);
        if (attrInt(n, 'ellipsis_mask', 0) || attrInt(n, 'new_axis_mask', 0)) fail(`StridedSlice '${n.name}': ellipsis / new axis not supported`);
        const m = begin.data.length;
        if (end.data.length !== m || strides.data.length !== m) fail(`StridedSlice '${n.name}': begin/end/strides lengths differ`);
        if (Array.from(strides.data).some((v) => v !== 1)) fail(`StridedSlice '${n.name}': strides other than 1 not supported`);
        if (x.kind === 'act') {
          // a spatial crop of a transposed convolution's output, folded into it
          const pn = x.value > 0 ? nodes[x.value - 1] : null;
          if (!pn || pn.op !== OP.CONVT || x.value !== nodes.length || !single(ins[0]) || sm)
            fail(`StridedSlice '${n.name}': only a crop of a Conv2DBackpropInput output is supported`);
          if (m > 4) fail(`StridedSlice '${n.name}': more than 4 axes`);
          const crop = [0, 0, 0, 0]; // start/end for H, then W
          for (let d = 0; d < 4; d++) {
            const b = d < m && !(bm & (1 << d)) ? begin.data[d] : 0;
            const e = d < m && !(em & (1 << d)) ? end.data[d] : null; // null: to the end
            if (d === 0 || d === 3) {
              if (b !== 0 || (e !== null && !(d === 3 && e === pn.convT.co)))
                fail(`StridedSlice '${n.name}': slicing the batch or channel axis not supported`);
              continue;
            }
            if (b < 0) fail(`StridedSlice '${n.name}': negative begin not supported`);
            if (e !== null && e > 0) fail(`StridedSlice '${n.name}': a fixed end index depends on the image size: not supported`);
            crop[(d - 1) * 2] = b;
            crop[(d - 1) * 2 + 1] = e === null ? 0 : -e;
          }
          if (crop[0] !== crop[2] || crop[1] !== crop[3]) fail(`StridedSlice '${n.name}': different crops of H and W not supported`);
          if (pn.convT.crop[0] || pn.convT.crop[1]) fail(`StridedSlice '${n.name}': second crop not supported`);
          pn.convT.crop = [crop[0], crop[1]];
          return x;
        }
        // integer vector (a shape): entries begin..end, shrink to a scalar with shrink_axis_mask bit 0
        const items = ivec(x);
        if (!items || m !== 1) fail(`StridedSlice '${n.name}': only 1-D slices of shapes are supported`);
        const L = items.length;
        let b = bm & 1 ? 0 : begin.data[0], e = em & 1 ? L : end.data[0];
        if (b < 0) b += L;
        if (e < 0) e += L;
        if (sm & 1) {
          if (b < 0 || b >= L) fail(`StridedSlice '${n.name}': index out of range`);
          return items[b];
        }
        if (b < 0 || e > L || b > e) fail(`StridedSlice '${n.name}': range out of bounds`);
        return { kind: 'ivec', items: items.slice(b, e) };
      }
      case 'Shape': {
        argc(1);
        const x = need(arg(0), 'act', n, 'input');
        const v = x.value;
        return {
          kind: 'ivec',
          items: [
            { kind: 'int', a: 1, b: 0, sym: 'N', act: v },
            { kind: 'int', a: 1, b: 0, sym: 'H', act: v },
            { kind: 'int', a: 1, b: 0, sym: 'W', act: v },
            { kind: 'int', a: 0, b: x.C, sym: null },
          ],
        };
      }
      case 'Pack': {
        if (attrInt(n, 'axis', 0) !== 0) fail(`Pack '${n.name}': only axis 0 is supported`);
        const items = ins.map((_, i) => {
          const it = intScalar(arg(i));
          if (!it) fail(`Pack '${n.name}': only integer scalars (shape arithmetic) are supported`);
          return it;
        });
        return { kind: 'ivec', items };
      }
      case 'Mean': {
        argc(2);
        const x = arg(0);
        const ax = need(arg(1), 'const', n, 'reduction axes');
        const axes = Array.from(ax.data, (a) => (a < 0 ? a + 4 : a)).sort();
        if (axes.length !== 2 || axes[0] !== 1 || axes[1] !== 2 || !attrBool(n, 'keep_dims') || (x.kind !== 'act' && x.kind !== 'in_sqdiff'))
          fail(`Mean '${n.name}': only the spatial means of instance normalisation are supported`);
        // the mean of an activation, or of its squared difference from that mean (the variance)
        return x.kind === 'act' ? { kind: 'in_mean', x } : { kind: 'in_var', x: x.x };
      }
      case 'SquaredDifference': {
        argc(2);
        const a = arg(0), b = arg(1);
        if (a.kind === 'act' && b.kind === 'in_mean' && b.x === a) return { kind: 'in_sqdiff', x: a };
        if (b.kind === 'act' && a.kind === 'in_mean' && a.x === b) return { kind: 'in_sqdiff', x: b };
        return fail(`SquaredDifference '${n.name}': not part of an instance normalisation`);
      }
      case 'Rsqrt': {
        argc(1);
        const a = arg(0);
        if (a.kind !== 'in_vareps') fail(`Rsqrt '${n.name}': not part of an instance normalisation`);
        return { kind: 'in_scale', x: a.x, eps: a.eps, gamma: null };
      }
      case 'Mul': {
        argc(2);
        const a = arg(0), b = arg(1);
        const ia = intScalar(a), ib = intScalar(b);
        if (ia && ib && (ia.sym === null || ib.sym === null)) {
          const [s, c] = ia.sym === null ? [ib, ia.b] : [ia, ib.b];
          return { ...s, a: s.a * c, b: s.b * c };
        }
        for (const [p, q] of [[a, b], [b, a]]) {
          if (p.kind === 'in_scale' && p.gamma === null && q.kind === 'const' && q.dtype === 'float32' && q.data.length === p.x.C)
            return { ...p, gamma: q };
          if (p.kind === 'act' && q.kind === 'in_scale' && q.x === p) return { ...q, kind: 'in_xs' };
          if (p.kind === 'in_mean' && q.kind === 'in_scale' && q.x === p.x) return { ...q, kind: 'in_ms' };
        }
        return fail(`Mul '${n.name}': not part of an instance normalisation or a shape computation`);
      }
      case 'Sub': {
        argc(2);
        const a = arg(0), b = arg(1);
        const ia = intScalar(a), ib = intScalar(b);
        if (ia && ib && ib.sym === null) return { ...ia, b: ia.b - ib.b };
        if (a.kind === 'const' && a.dtype === 'float32' && b.kind === 'in_ms' && a.data.length === b.x.C) return { ...b, kind: 'in_shift', beta: a };
        return fail(`Sub '${n.name}': not part of an instance normalisation or a shape computation`);
      }
      case 'Add':
      case 'AddV2': {
        argc(2);
        const a = arg(0), b = arg(1);
        const ia = intScalar(a), ib = intScalar(b);
        if (ia && ib && (ia.sym === null || ib.sym === null)) {
          const [s, c] = ia.sym === null ? [ib, ia.b] : [ia, ib.b];
          return { ...s, b: s.b + c };
        }
        if (a.kind === 'act' && b.kind === 'act') {
          if (a.C !== b.C) fail(`${n.op} '${n.name}': adds ${a.C} and ${b.C} channels`);
          return act(emit(OP.ADD, [a.value, b.value], []), a.C, Math.max(a.scale, b.scale));
        }
        for (const [p, q] of [[a, b], [b, a]]) {
          if (p.kind === 'in_var' && q.kind === 'const' && q.data.length === 1 && q.dtype === 'float32')
            return { kind: 'in_vareps', x: p.x, eps: q.data[0] };
          if (p.kind === 'in_xs' && q.kind === 'in_shift' && sameIn(p, q)) {
            const x = p.x, C = x.C;
            if (!(q.eps > 0 && q.eps < 1)) fail(`${n.op} '${n.name}': instance normalisation eps ${q.eps} outside (0, 1)`);
            const v = emit(OP.INSTNORM, [x.value], [C, q.eps], { tfName: n.name });
            nodes[v - 1].tensors.gamma = { dims: [C], data: q.gamma ? Float32Array.from(q.gamma.data) : new Float32Array(C).fill(1) };
            nodes[v - 1].tensors.beta = { dims: [C], data: Float32Array.from(q.beta.data) };
            return act(v, C, x.scale);
          }
        }
        return fail(`${n.op} '${n.name}': not an add of two activations, part of an instance normalisation or a shape computation`);
      }
      case 'BiasAdd': {
        argc(2);
        const fmt = attrStr(n, 'data_format');
        if (fmt && fmt !== 'NHWC') fail(`BiasAdd '${n.name}': data_format ${fmt} not supported`);
        const x = need(arg(0), 'act', n, 'input');
        const b = need(arg(1), 'const', n, 'bias');
        const pn = x.value > 0 ? nodes[x.value - 1] : null;
        if (!pn || (pn.op !== OP.CONV && pn.op !== OP.CONVT) || pn.tensors.b || !single(ins[0]) || x.value !== nodes.length)
          fail(`BiasAdd '${n.name}': only a bias right after a convolution is supported`);
        if (b.data.length !== x.C) fail(`BiasAdd '${n.name}': bias has ${b.data.length} values for ${x.C} channels`);
        pn.tensors.b = { dims: [x.C], data: Float32Array.from(b.data) };
        return x;
      }
      default:
        return fail(`unsupported op '${n.op}' (node '${n.name}')`);
    }
  }

  const out = evaluate(output);
  if (!out || out.kind !== 'act') fail(`output '${output}' is not an activation`);
  if (!input) fail('graph has no Placeholder input');
  if (out.value === 0) fail('graph output is its input');
  if (out.value !== nodes.length) fail('internal: output is not the last node');

  // transposed convolutions: TF output rule (s*H + b, padding, crop) -> df_convT (pad, out_pad)
  for (const nd of nodes) {
    if (nd.op !== OP.CONVT) continue;
    const { ci, co, k, s, b, top, crop } = nd.convT;
    const p = top + crop[0];
    const q = b + s - k - crop[1] + crop[0] + 2 * top;
    if (p < 0 || p >= k || q < 0 || q >= s)
      fail(`Conv2DBackpropInput '${nd.tfName}': output rule ${s}*H+${b} cropped by ${crop} has no equivalent (pad ${p}, out_pad ${q})`);
    nd.fields = [ci, co, k, s, p, q, 0];
  }
  // conv / convT bias flags
  for (const nd of nodes) {
    if (nd.op === OP.CONV) nd.fields[7] = nd.tensors.b ? 1 : 0;
    if (nd.op === OP.CONVT) nd.fields[6] = nd.tensors.b ? 1 : 0;
  }

  const rows = new Float32Array(nodes.length * ROW);
  const tensors = [];
  nodes.forEach((nd, i) => {
    const r = [nd.op, nd.in0, nd.in1, ...nd.fields];
    if (r.length > ROW) fail('internal: node row too long');
    rows.set(r, i * ROW);
    for (const [suffix, t] of Object.entries(nd.tensors)) tensors.push({ name: `n${i}.${suffix}`, dims: t.dims, data: t.data });
  });
  tensors.unshift({ name: 'graph.nodes', dims: [nodes.length, ROW], data: rows });

  const order = opts.order || 'rgb';
  if (order !== 'rgb' && order !== 'bgr') fail(`channel order '${order}': expected rgb or bgr`);
  if (order === 'bgr' && (input.C !== 3 || out.C !== 3)) fail('channel order bgr needs 3 input and output channels');
  const inRange = opts.inRange || [-1, 1], outRange = opts.outRange || [-1, 1];
  const multiple = opts.sizeMultiple || Math.max(1, Math.round(maxScale));
  const size = opts.size || (input.H > 0 ? input.H : 256);
  if (size % multiple) fail(`size ${size} is not a multiple of ${multiple}`);
  const meta = {
    arch: 'dadfi-graph',
    graph_version: 1,
    in_channels: input.C,
    out_channels: out.C,
    channel_order: order,
    in_min: inRange[0],
    in_max: inRange[1],
    out_min: outRange[0],
    out_max: outRange[1],
    size_multiple: multiple,
    size,
    name: opts.name || '',
    source: opts.source || 'TensorFlow.js graph model, converted by tools/convert_tfjs_graph.mjs',
  };
  const params = tensors.slice(1).reduce((a, t) => a + t.data.length, 0);
  return { dfw: writeDfw(meta, tensors), nodes: nodes.length, ops: nodes.map((nd) => nd.op), params, sizeMultiple: multiple };
}

// [kh, kw, cin, cout] -> [cout, cin, kh, kw]
function hwioToOihw(data, kh, kw, ci, co) {
  const out = new Float32Array(data.length);
  for (let y = 0; y < kh; y++)
    for (let x = 0; x < kw; x++)
      for (let i = 0; i < ci; i++)
        for (let o = 0; o < co; o++) out[((o * ci + i) * kh + y) * kw + x] = data[((y * kw + x) * ci + i) * co + o];
  return out;
}

// TF conv2d_transpose filter [k, k, cout, cin] -> df_convT [cin, cout, k, k] (no flip: both scatter x[i] * w[t]
// to output i * s + t - pad)
function convTWeights(data, k, co, ci) {
  const out = new Float32Array(data.length);
  for (let y = 0; y < k; y++)
    for (let x = 0; x < k; x++)
      for (let o = 0; o < co; o++)
        for (let i = 0; i < ci; i++) out[((i * co + o) * k + y) * k + x] = data[((y * k + x) * co + o) * ci + i];
  return out;
}

export function convertTfjsGraphDir(dir, opts = {}) {
  const { model, shards } = readTfjsGraph(dir);
  return convertTfjsGraph(model, shards, { name: basename(resolve(dir)), ...opts });
}

// ---------------------------------------------------------------- command line
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const pos = [], opts = {};
  const range = (v) => {
    const r = v.split(',').map(Number);
    if (r.length !== 2 || !r.every(Number.isFinite) || !(r[1] > r[0])) throw new Error(`bad range '${v}' (expected MIN,MAX)`);
    return r;
  };
  try {
    for (let i = 0; i < args.length; i++) {
      const a = args[i];
      if (a === '--help' || a === '-h') {
        console.log(readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n').slice(0, 20).map((l) => l.replace(/^\/\/ ?/, '')).join('\n'));
        process.exit(0);
      }
      if (!a.startsWith('--')) {
        pos.push(a);
        continue;
      }
      const v = args[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      if (a === '--order') opts.order = v;
      else if (a === '--in-range') opts.inRange = range(v);
      else if (a === '--out-range') opts.outRange = range(v);
      else if (a === '--size') opts.size = Number(v);
      else if (a === '--size-multiple') opts.sizeMultiple = Number(v);
      else if (a === '--name') opts.name = v;
      else throw new Error(`unknown option ${a}`);
    }
    if (pos.length !== 2) throw new Error('usage: convert_tfjs_graph.mjs MODEL_DIR OUT.dfw [options] (--help)');
    const [dir, out] = pos;
    const r = convertTfjsGraphDir(dir, opts);
    mkdirSync(dirname(resolve(out)), { recursive: true });
    writeFileSync(out + '.tmp', r.dfw);
    renameSync(out + '.tmp', out);
    console.error(`convert_tfjs_graph: wrote ${out}: ${r.nodes} nodes, ${(r.params / 1e6).toFixed(2)} M parameters, ` +
      `size multiple ${r.sizeMultiple} (${r.dfw.length} bytes)`);
  } catch (e) {
    console.error(`convert_tfjs_graph: ${e.message}`);
    process.exit(1);
  }
}
