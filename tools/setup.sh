#!/usr/bin/env bash
# Install what building and testing dadfi needs on a fresh Debian 12 machine (idempotent, skips what is there):
# Emscripten (wasm build), Chromium (browser tests), clang + its runtime (fuzzer), and the JavaScript test
# dependencies in tools/node_modules.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

need=()
command -v cmake >/dev/null || need+=(cmake)
command -v gcc >/dev/null || need+=(gcc)
command -v node >/dev/null || need+=(nodejs npm)
command -v emcc >/dev/null || need+=(emscripten)
command -v chromium >/dev/null || need+=(chromium)
command -v clang >/dev/null || need+=(clang)
[ -e /usr/lib/llvm-14/lib/clang/14.0.6/lib/linux/libclang_rt.fuzzer-x86_64.a ] || \
  ls /usr/lib/llvm-14/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1 || need+=(libclang-rt-14-dev)
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

if [ ! -d "$here/node_modules/@tensorflow/tfjs" ] || [ ! -d "$here/node_modules/playwright-core" ] || \
   [ "$here/package.json" -nt "$here/node_modules/.package-lock.json" ]; then
  echo "setup: installing JavaScript test dependencies into tools/node_modules"
  (cd "$here" && ONNXRUNTIME_NODE_INSTALL=skip npm install --no-audit --no-fund --loglevel=error)
fi
echo "setup: ok"
