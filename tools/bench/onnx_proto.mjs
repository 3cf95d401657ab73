// A minimal ONNX writer: the protobuf messages the benchmark peers need (ModelProto, GraphProto, NodeProto,
// TensorProto, ValueInfoProto, AttributeProto), encoded by hand, so that models built from .dfw weights run in
// onnxruntime-node / onnxruntime-web without a Python exporter.  Browser- and Node-safe (no imports).
// Field numbers from onnx.proto.  Used by ort_conv.mjs, gen_graph.mjs and graph_ort.mjs.

// ---------------------------------------------------------------- protobuf wire format
const te = new TextEncoder();

/** Varint bytes of an integer (number or BigInt); negative values as 64-bit two's complement (protobuf int64). */
export function varint(n) {
  let v = BigInt(n);
  if (v < 0n) v += 1n << 64n;
  const out = [];
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v) b |= 0x80;
    out.push(b);
  } while (v);
  return out;
}
export const cat = (parts) => {
  const len = parts.reduce((s, p) => s + p.length, 0), out = new Uint8Array(len);
  let o = 0;
  for (const p of parts) out.set(p, o), (o += p.length);
  return out;
};
const key = (field, wire) => varint(field * 8 + wire);
export const fInt = (field, n) => Uint8Array.from([...key(field, 0), ...varint(n)]);
export const fBytes = (field, bytes) => cat([Uint8Array.from([...key(field, 2), ...varint(bytes.length)]), bytes]);
export const fStr = (field, s) => fBytes(field, te.encode(s));
export const fMsg = (field, ...parts) => fBytes(field, cat(parts));
export const fFloat = (field, x) => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setFloat32(0, x, true);
  return cat([Uint8Array.from(key(field, 5)), b]);
};

// ---------------------------------------------------------------- ONNX messages (unwrapped: the bodies)
export const DT = { FLOAT: 1, INT64: 7 }; // TensorProto.DataType
const ATTR = { FLOAT: 1, INT: 2, STRING: 3, INTS: 7 }; // AttributeProto.AttributeType

/** TensorProto{dims=1, data_type=2, name=8, raw_data=9}: Float32Array -> FLOAT, BigInt64Array -> INT64. */
export function tensor(name, dims, data) {
  const dt = data instanceof BigInt64Array ? DT.INT64 : DT.FLOAT;
  if (!(data instanceof BigInt64Array) && !(data instanceof Float32Array)) throw new Error(`tensor ${name}: Float32Array or BigInt64Array`);
  if (data.length !== dims.reduce((a, b) => a * b, 1)) throw new Error(`tensor ${name}: ${data.length} values for [${dims}]`);
  // raw_data is little endian, as are the typed arrays on every platform this runs on
  return cat([...dims.map((d) => fInt(1, d)), fInt(2, dt), fStr(8, name),
    fBytes(9, new Uint8Array(data.buffer, data.byteOffset, data.byteLength))]);
}

/** ValueInfoProto{name=1, type=2{tensor_type=1{elem_type=1, shape=2{dim=1{dim_value=1 | dim_param=2}}}}};
 * a string dim is symbolic. */
export const valueInfo = (name, dims, elemType = DT.FLOAT) =>
  cat([fStr(1, name), fMsg(2, fMsg(1, fInt(1, elemType),
    fMsg(2, ...dims.map((d) => fMsg(1, typeof d === 'string' ? fStr(2, d) : fInt(1, d))))))]);

// AttributeProto{name=1, f=2, i=3, s=4, ints=8, type=20}
export const attrInt = (name, v) => cat([fStr(1, name), fInt(20, ATTR.INT), fInt(3, v)]);
export const attrInts = (name, v) => cat([fStr(1, name), fInt(20, ATTR.INTS), ...v.map((x) => fInt(8, x))]);
export const attrFloat = (name, v) => cat([fStr(1, name), fInt(20, ATTR.FLOAT), fFloat(2, v)]);
export const attrStr = (name, s) => cat([fStr(1, name), fInt(20, ATTR.STRING), fStr(4, s)]);

/** NodeProto{input=1, output=2, name=3, op_type=4, attribute=5}; name defaults to the first output. */
export const node = (op, inputs, outputs, attrs = [], name = outputs[0]) =>
  cat([...inputs.map((i) => fStr(1, i)), ...outputs.map((o) => fStr(2, o)), fStr(3, name), fStr(4, op),
    ...attrs.map((a) => fBytes(5, a))]);

/** ModelProto bytes: {ir_version=1, producer_name=2, graph=7{node=1, name=2, initializer=5, input=11, output=12},
 * opset_import=8{domain=1, version=2}}.  nodes / initializers / inputs / outputs are bodies from the helpers above. */
export function onnxModel({ nodes, initializers = [], inputs, outputs, name = 'g', opset = 17, irVersion = 8,
  producer = 'dadfi' }) {
  const graph = cat([...nodes.map((n) => fBytes(1, n)), fStr(2, name), ...initializers.map((t) => fBytes(5, t)),
    ...inputs.map((v) => fBytes(11, v)), ...outputs.map((v) => fBytes(12, v))]);
  return cat([fInt(1, irVersion), fStr(2, producer), fBytes(7, graph), fMsg(8, fStr(1, ''), fInt(2, opset))]);
}
