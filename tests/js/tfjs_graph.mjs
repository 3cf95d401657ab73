// tfjs as the reference of imported graphs (tools/convert_tfjs_graph.mjs -> core/networks/graph.c), shared by
// graph_import.test.mjs (native engine) and wasm_graph.test.mjs (the wasm module's preview): the GraphDef loaded
// from memory, the engine's convention around it, NCHW <-> NHWC.

/** tf.loadGraphModel from a model.json object and its shard bytes (readTfjsGraph). */
export async function loadGraph(tf, model, shards) {
  const weightSpecs = model.weightsManifest.flatMap((g) => g.weights);
  const wd = Buffer.concat(shards);
  return tf.loadGraphModel({
    load: async () => ({
      modelTopology: model.modelTopology,
      weightSpecs,
      weightData: wd.buffer.slice(wd.byteOffset, wd.byteOffset + wd.byteLength),
    }),
  });
}

// The model as the engine sees it: x [B,C,H,W] RGB in [-1,1] -> y [B,C,OH,OW] RGB in [-1,1], through the model's
// channel order and ranges (what graph_forward does), as a tf function of an NHWC tensor.
export function engineFn(tf, net, { bgr, inRange = [-1, 1], outRange = [-1, 1] }) {
  return (x) => {
    let m = tf.add(tf.mul(x, (inRange[1] - inRange[0]) / 2), (inRange[1] + inRange[0]) / 2);
    if (bgr) m = tf.reverse(m, -1);
    let y = net.execute(m);
    if (bgr) y = tf.reverse(y, -1);
    return tf.sub(tf.mul(tf.sub(y, outRange[0]), 2 / (outRange[1] - outRange[0])), 1);
  };
}

export const nchwToNhwc = (x, B, C, H, W) => {
  const o = new Float32Array(x.length);
  for (let b = 0; b < B; b++)
    for (let c = 0; c < C; c++)
      for (let i = 0; i < H * W; i++) o[(b * H * W + i) * C + c] = x[(b * C + c) * H * W + i];
  return o;
};
export const nhwcToNchw = (x, B, C, H, W) => {
  const o = new Float32Array(x.length);
  for (let b = 0; b < B; b++)
    for (let c = 0; c < C; c++)
      for (let i = 0; i < H * W; i++) o[(b * C + c) * H * W + i] = x[(b * H * W + i) * C + c];
  return o;
};
