#!/usr/bin/env bash
# Quick start: install what is missing, build the native CLI and the WebAssembly module, and serve the
# protector page (web/) on http://127.0.0.1:8080/ (the example upload form is at /examples/upload.html).
#   tools/serve.sh [--port P] [--host H] [--no-build]
# Gen weights: weights/gen.dfw when present; otherwise untrained demonstration weights are generated into
# web/lib/gen-demo.dfw (the page works but says the photos are not really protected).  Zoo weights
# (weights/zoo/*.dfw) enable the page's deepfake preview.  The face detector (build/blazeface.dfw, converted from
# ../shared/models/human-models by tools/convert_blazeface.mjs when that folder exists) lets the page protect each
# face at the scale deepfake models see it; without it whole photos are protected and the page says so.
# Imported models: the two CartoonGAN generators (hosoda, paprika; real-world photo-to-anime models, third-party,
# never committed) are converted from ../shared/models/cartoongan-tfjs into build/NAME.dfw by
# tools/convert_tfjs_graph.mjs when that folder exists and build/NAME.dfw does not; they are copied as
# web/lib/imported-NAME.dfw and the page's preview runs them next to the zoo (seconds each).  Without them the
# preview runs the zoo alone.
# Unless --no-build, tools/setup.sh first installs what is missing: Debian packages through apt-get (as root, or
# with sudo) and the JavaScript test dependencies into tools/node_modules (npm).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
port=8080 host=127.0.0.1 build=1
while [ $# -gt 0 ]; do
  case "$1" in
    --port) port=${2:?--port needs a value}; shift 2 ;;
    --host) host=${2:?--host needs a value}; shift 2 ;;
    --no-build) build=0; shift ;;
    -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "serve.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
case "$port" in ''|*[!0-9]*) echo "serve.sh: --port must be a number" >&2; exit 2 ;; esac

if [ "$build" = 1 ]; then
  tools/setup.sh
  export NODE_PATH=/usr/share/nodejs   # Debian's emcc needs its acorn
  echo "serve.sh: building the native CLI (build/)"
  cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build build -j2 --target dadfi
  if [ ! -f weights/gen.dfw ] && [ ! -f web/lib/gen-demo.dfw ]; then
    echo "serve.sh: no trained weights/gen.dfw: writing untrained demonstration weights to web/lib/gen-demo.dfw"
    mkdir -p web/lib
    build/dadfi gen-init --seed 1 web/lib/gen-demo.dfw
  fi
  if [ ! -f build/blazeface.dfw ] && [ -f ../shared/models/human-models/blazeface.json ]; then
    echo "serve.sh: converting the face detector into build/blazeface.dfw"
    node tools/convert_blazeface.mjs || echo "serve.sh: the face detector could not be converted: whole photos only" >&2
  fi
  imported=()
  for n in hosoda paprika; do
    if [ ! -f "build/$n.dfw" ] && [ -f "../shared/models/cartoongan-tfjs/$n/model.json" ]; then
      echo "serve.sh: converting the imported model $n (CartoonGAN) into build/$n.dfw"
      node tools/convert_tfjs_graph.mjs "../shared/models/cartoongan-tfjs/$n" "build/$n.dfw" --order bgr --name "$n" ||
        echo "serve.sh: $n could not be converted: the preview runs without it" >&2
    fi
    imported+=("build/$n.dfw") # copy_web.cmake skips the missing ones
  done
  echo "serve.sh: building the WebAssembly module (build-wasm/)"
  if [ ! -f build-wasm/CMakeCache.txt ]; then
    emcmake cmake -S . -B build-wasm -DCMAKE_BUILD_TYPE=Release \
      "-DCMAKE_CROSSCOMPILING_EMULATOR=$(command -v node);--no-experimental-fetch" >/dev/null
  fi
  cmake --build build-wasm -j2 --target dadfi-wasm
  # copies the module and the weights into web/lib/ and writes web/lib/manifest.json (also when nothing relinked)
  cmake -DOUT_DIR=web/lib -DMODULE_DIR=build-wasm/wasm -DWEIGHTS_DIR=weights -DDETECTOR=build/blazeface.dfw \
    "-DIMPORTED=$(IFS=';'; echo "${imported[*]}")" -P wasm/copy_web.cmake
fi
[ -f web/lib/dadfi-wasm.wasm ] || { echo "serve.sh: web/lib/ is empty: run without --no-build" >&2; exit 1; }
exec node tests/js/server.mjs --root web --port "$port" --host "$host"
