# Copies the built module and the available weight files into web/lib/ and writes web/lib/manifest.json,
# which tells the page what it can load:
#   {"gen": "gen.dfw" | null, "detector": "blazeface.dfw" | null, "zoo": ["zoo-....dfw", ...],
#    "imported": ["imported-....dfw", ...]}.
#   cmake -DOUT_DIR=web/lib [-DMODULE_DIR=build-wasm/wasm] [-DWEIGHTS_DIR=weights] [-DDETECTOR=build/blazeface.dfw]
#         [-DIMPORTED="build/hosoda.dfw;build/paprika.dfw"] -P wasm/copy_web.cmake
# Face detector (BlazeFace, converted from ../shared by tools/convert_blazeface.mjs, never committed): DETECTOR if
# it exists (copied as blazeface.dfw), else an existing web/lib/blazeface.dfw; without one the page protects whole
# photos and says so.
# Gen weights: weights/gen.dfw if present, else an existing web/lib/gen-demo.dfw (untrained, see tools/serve.sh).
# Zoo weights (deepfake models for the page's preview): weights/zoo/NAME.dfw (copied as zoo-NAME.dfw) and weights/zoo*.dfw.
# Imported models (real-world image-to-image models converted by tools/convert_tfjs_graph.mjs, e.g. CartoonGAN from
# ../shared/models/cartoongan-tfjs; third-party, never committed): IMPORTED is a list of .dfw files (separated by ';'
# or ','); those that exist are copied as imported-NAME.dfw (NAME: the file name without .dfw), missing ones are
# skipped.  The manifest lists every web/lib/imported-*.dfw (also ones copied earlier); an empty list: no imported
# models, and the page's preview runs the zoo alone.
file(MAKE_DIRECTORY ${OUT_DIR})
if(MODULE_DIR)
  foreach(f dadfi-wasm.mjs dadfi-wasm.wasm)
    file(COPY_FILE ${MODULE_DIR}/${f} ${OUT_DIR}/${f} ONLY_IF_DIFFERENT)
  endforeach()
endif()
set(gen "null")
set(zoo "")
if(WEIGHTS_DIR AND EXISTS ${WEIGHTS_DIR}/gen.dfw)
  file(COPY_FILE ${WEIGHTS_DIR}/gen.dfw ${OUT_DIR}/gen.dfw ONLY_IF_DIFFERENT)
endif()
if(EXISTS ${OUT_DIR}/gen.dfw)
  set(gen "\"gen.dfw\"")
elseif(EXISTS ${OUT_DIR}/gen-demo.dfw)
  set(gen "\"gen-demo.dfw\"")
endif()
set(detector "null")
if(DETECTOR AND EXISTS ${DETECTOR})
  file(COPY_FILE ${DETECTOR} ${OUT_DIR}/blazeface.dfw ONLY_IF_DIFFERENT)
endif()
if(EXISTS ${OUT_DIR}/blazeface.dfw)
  set(detector "\"blazeface.dfw\"")
endif()
if(WEIGHTS_DIR)
  file(GLOB zfiles ${WEIGHTS_DIR}/zoo*.dfw)
  list(SORT zfiles)
  foreach(z ${zfiles})
    get_filename_component(n ${z} NAME)
    file(COPY_FILE ${z} ${OUT_DIR}/${n} ONLY_IF_DIFFERENT)
  endforeach()
  file(GLOB zfiles ${WEIGHTS_DIR}/zoo/*.dfw)
  foreach(z ${zfiles})
    get_filename_component(n ${z} NAME)
    file(COPY_FILE ${z} ${OUT_DIR}/zoo-${n} ONLY_IF_DIFFERENT)
  endforeach()
endif()
file(GLOB zfiles ${OUT_DIR}/zoo*.dfw)
list(SORT zfiles)
foreach(z ${zfiles})
  get_filename_component(n ${z} NAME)
  if(zoo)
    string(APPEND zoo ", ")
  endif()
  string(APPEND zoo "\"${n}\"")
endforeach()
string(REPLACE "," ";" imported_in "${IMPORTED}")
foreach(m ${imported_in})
  get_filename_component(m "${m}" ABSOLUTE) # relative paths: from the working directory
  get_filename_component(n "${m}" NAME_WLE)
  if(NOT n MATCHES "^[A-Za-z0-9_.-]+$")
    message(WARNING "copy_web: imported model ${m}: the name must be letters, digits, '.', '_' or '-'; skipped")
  elseif(EXISTS "${m}" AND NOT IS_DIRECTORY "${m}")
    file(COPY_FILE "${m}" ${OUT_DIR}/imported-${n}.dfw ONLY_IF_DIFFERENT)
  endif()
endforeach()
set(imported "")
file(GLOB ifiles ${OUT_DIR}/imported-*.dfw)
list(SORT ifiles)
foreach(m ${ifiles})
  get_filename_component(n ${m} NAME)
  if(NOT n MATCHES "^imported-[A-Za-z0-9_.-]+\\.dfw$")
    continue()
  endif()
  if(imported)
    string(APPEND imported ", ")
  endif()
  string(APPEND imported "\"${n}\"")
endforeach()
file(WRITE ${OUT_DIR}/manifest.json.tmp "{\"module\": \"dadfi-wasm.mjs\", \"gen\": ${gen}, \"detector\": ${detector}, \"zoo\": [${zoo}], \"imported\": [${imported}]}\n")
file(COPY_FILE ${OUT_DIR}/manifest.json.tmp ${OUT_DIR}/manifest.json ONLY_IF_DIFFERENT)
file(REMOVE ${OUT_DIR}/manifest.json.tmp)
