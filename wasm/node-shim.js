// Prepended outside the Emscripten factory (--extern-pre-js).  Emscripten 3.1.6's ES6 output uses CommonJS
// `require` and `__dirname` when it runs under Node; an ES module has neither, so define them there only.
// Browsers skip this block.  (Callers in Node should still pass `wasmBinary`: Node 20's fetch cannot load
// file: URLs, see the toolchain notes.)
var require, __dirname, __filename;
if (typeof process === 'object' && process.versions && process.versions.node) {
  const [{ createRequire }, { fileURLToPath }, { dirname }] =
    await Promise.all([import('node:module'), import('node:url'), import('node:path')]);
  require = createRequire(import.meta.url);
  __filename = fileURLToPath(import.meta.url);
  __dirname = dirname(__filename);
}
