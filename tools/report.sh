#!/usr/bin/env bash
# Regenerate the evaluation report: builds the CLI, runs the paper's experiments on our zoo with `dadfi eval`, and
# writes build/report/report.md with its PNG charts and image grids (tools/report.mjs draws them with
# `dadfi eval chart`).  Everything comes from the committed weights and the data in ../shared.
#
#   tools/report.sh [--n N] [--quick] [--out DIR] [--build DIR] [--celeba DIR] [--utk DIR] [--no-build] [--no-wasm]
#
#   --n N       faces per experiment on the CelebA test split (default 100); robustness, trade-off, attacker-
#               pipeline and PGD runs use N/2, the EOT-PGD bound N/4, UTKFace N
#   --quick     N = 8: a smoke run in a few minutes
#   --out DIR   report directory (default build/report)
#   --build DIR build directory with the dadfi CLI (default build; configured and built unless --no-build)
#   --celeba DIR, --utk DIR   data sets (default ../shared/data/celeba_subset, ../shared/data/utkface_subset)
#   --no-wasm   skip the wasm timing (tools/bench/wasm_gen.mjs; only run when build-wasm/wasm exists)
#   --weights DIR  weights to evaluate (default weights): zoo models DIR/zoo/*.dfw; Gen variants DIR/gen*.dfw
#               (DIR/gen.dfw is the shipped one; every other file, e.g. the paper recipe or an ablation, is evaluated
#               too); universal perturbations DIR/universal*.dfw; the attribute classifier DIR/attrcls.dfw
#               (zoo quality bar, on 2N faces)
# Environment: DF_THREADS as for dadfi.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

N=100 weights=weights out=build/report build=build celeba=../shared/data/celeba_subset utk=../shared/data/utkface_subset
do_build=1 wasm=1
while [ $# -gt 0 ]; do
  case "$1" in
    --n) N=$2; shift ;;
    --quick) N=8 ;;
    --out) out=$2; shift ;;
    --weights) weights=$2; shift ;;
    --build) build=$2; shift ;;
    --celeba) celeba=$2; shift ;;
    --utk) utk=$2; shift ;;
    --no-build) do_build=0 ;;
    --no-wasm) wasm=0 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "report.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done
case "$N" in ''|*[!0-9]*) echo "report.sh: --n needs a positive integer" >&2; exit 2 ;; esac
[ "$N" -ge 2 ] || { echo "report.sh: --n must be at least 2" >&2; exit 2; }
half=$(( N / 2 > 2 ? N / 2 : 2 ))
quarter=$(( N / 4 > 2 ? N / 4 : 2 ))

if [ "$do_build" = 1 ]; then
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$build" -j2 --target dadfi >/dev/null
fi
dadfi="$build/dadfi"
[ -x "$dadfi" ] || { echo "report.sh: $dadfi not built" >&2; exit 1; }
[ -f "$celeba/labels.csv" ] || { echo "report.sh: CelebA subset not found at $celeba (--celeba DIR)" >&2; exit 1; }

shopt -s nullglob
zoo=("$weights"/zoo/*.dfw)
[ ${#zoo[@]} -gt 0 ] || { echo "report.sh: no zoo models in $weights/zoo/ (train them with dadfi zoo-train)" >&2; exit 1; }
models=$(IFS=,; echo "${zoo[*]}")
gens=()
[ -f "$weights/gen.dfw" ] && gens=("$weights/gen.dfw") # the shipped Gen first, then the variants
for f in "$weights"/gen?*.dfw; do gens+=("$f"); done
universals=("$weights"/universal*.dfw)

mkdir -p "$out/json" "$out/grids"
: > "$out/commands.tsv"
log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# MobileNet for the Frechet and perceptual distances: converted from the shared tfjs model (never committed).
# The perceptual distance (2 MobileNet runs per photo) is measured in the main and attacker-pipeline runs only.
mobilenet="$build/mobilenet.dfw"
frechet=(--no-frechet --no-perceptual)
if [ -f "$mobilenet" ]; then
  frechet=(--mobilenet "$mobilenet")
elif [ -f ../shared/models/mobilenet-v1-0.75-224/model.json ] && command -v node >/dev/null; then
  node tools/convert_mobilenet.mjs ../shared/models/mobilenet-v1-0.75-224 "$mobilenet" && frechet=(--mobilenet "$mobilenet")
else
  log "MobileNet model not found: Frechet and perceptual distances skipped"
fi
perceptual=(--no-frechet --no-perceptual)
[ "${frechet[0]}" = --mobilenet ] && perceptual=(--no-frechet "${frechet[@]}")

# UTKFace has no hair-colour labels: the attribute classifier estimates the source attributes (if committed)
classifier=()
[ -f "$weights/attrcls.dfw" ] && classifier=(--classifier "$weights/attrcls.dfw")

# No committed universal perturbation: compute one for the ensemble (CMUA-style), with a budget that grows with N.
if [ ${#universals[@]} -eq 0 ]; then
  batches=$(( N / 4 > 3 ? N / 4 : 3 ))
  printf 'universal\tdadfi train-universal --models %s --batches %d --val 0 --out %s\n' "$models" "$batches" "$out/universal.dfw" >> "$out/commands.tsv"
  log "universal perturbation ($batches batches)"
  "$dadfi" train-universal -q --models "$models" --data "$celeba" --batches "$batches" --val 0 --out "$out/universal.dfw"
  universals=("$out/universal.dfw")
fi

# Protectors: label and --protector value.
labels=(none noise sign-noise pgd) protectors=(none noise sign-noise pgd)
for f in "${universals[@]}"; do s=$(basename "$f" .dfw); labels+=("$s"); protectors+=("universal:$f"); done
for f in "${gens[@]}"; do s=$(basename "$f" .dfw); labels+=("$s"); protectors+=("gen:$f"); done

# run LABEL ARGS...: one dadfi eval, its command recorded for the report.
run() {
  local label=$1; shift
  printf '%s\tdadfi eval %s\n' "$label" "$*" >> "$out/commands.tsv"
  log "$label"
  "$dadfi" eval -q "$@"
}
n_for() { [ "$1" = pgd ] && echo "$half" || echo "$2"; } # PGD costs seconds per face: fewer faces

t_start=$(date +%s)
# the zoo's own quality bar, judged by the separately trained attribute classifier
if [ -f "$weights/attrcls.dfw" ]; then
  printf 'zoo-quality\tdadfi zoo-quality --classifier %s --models %s --n %d\n' "$weights/attrcls.dfw" "$models" "$((2 * N))" >> "$out/commands.tsv"
  log "zoo quality"
  "$dadfi" zoo-quality --classifier "$weights/attrcls.dfw" --models "$models" --data "$celeba" --n "$((2 * N))" \
    --json "$out/json/zoo-quality.json" > /dev/null
fi
for i in "${!labels[@]}"; do
  L=${labels[$i]} P=${protectors[$i]}
  # main comparison (validity, baselines, invisibility, time at 128x128) with image grids
  run "main-$L" --protector "$P" --models "$models" --data "$celeba" --n "$(n_for "$L" "$N")" "${frechet[@]}" \
    --json "$out/json/main-$L.json" --grid "$out/grids/$L.png"
  # the attacker's pipeline (core/evaluation/attack.h): whole photos, real codec and resamplers, seeded
  run "atk-$L" --protector "$P" --models "$models" --data "$celeba" --n "$(n_for "$L" "$half")" "${perceptual[@]}" \
    --attack lab --attack jitter --attack jpeg90 --attack full --json "$out/json/atk-$L-{a}.json"
  [ "$L" = none ] && continue
  # robustness: JPEG re-encoding (one protection per face, every quality) and downsizing
  run "rob-$L-jpeg" --protector "$P" --models "$models" --data "$celeba" --n "$half" --no-frechet --no-perceptual \
    --jpeg 0,100,95,92,90,85,80,75 --json "$out/json/rob-$L-jpeg{q}.json"
  for r in 0.75 0.5; do
    run "rob-$L-resize$r" --protector "$P" --models "$models" --data "$celeba" --n "$half" --no-frechet --no-perceptual \
      --resize "$r" --json "$out/json/rob-$L-resize$r.json"
  done
  # cross-dataset with fairness groups
  if [ -f "$utk/labels.csv" ]; then
    run "utk-$L" --protector "$P" --models "$models" --data "$utk" --n "$(n_for "$L" "$N")" --no-frechet --no-perceptual \
      --json "$out/json/utk-$L.json" --grid "$out/grids/utk-$L.png" --grid-rows 3 "${classifier[@]}"
  fi
done
# the bound: per-image EOT-PGD through the same pipeline (20 iterations, 4 draws of the jitter distribution each)
run "atk-eot-pgd" --protector eot-pgd --pgd-iters 20 --eot-samples 4 --eot-spec jitter --models "$models" \
  --data "$celeba" --n "$quarter" "${perceptual[@]}" --attack lab --attack jitter --attack jpeg90 --attack full \
  --json "$out/json/atk-eot-pgd-{a}.json"
# success against invisibility: eps sweep for the shipped Gen, PGD and random signs
for L in gen pgd sign-noise; do
  case $L in gen) [ -f "$weights/gen.dfw" ] || continue; P=gen:$weights/gen.dfw ;; *) P=$L ;; esac
  for e in 0.02 0.03 0.05 0.08; do
    run "eps-$L-$e" --protector "$P" --eps "$e" --models "$models" --data "$celeba" --n "$half" --no-frechet --no-perceptual \
      --json "$out/json/eps-$L-$e.json"
  done
done
# wasm timing of Gen in Node (native reference included), when the wasm module is built
if [ "$wasm" = 1 ] && [ -f build-wasm/wasm/dadfi-wasm.mjs ] && [ -f "$weights/gen.dfw" ]; then
  log "wasm timing"
  printf 'wasm\tnode tools/bench/wasm_gen.mjs --weights %s --sizes 128,256 --json %s\n' "$weights/gen.dfw" "$out/json/wasm.json" >> "$out/commands.tsv"
  DF_BUILD_DIR="$build" node tools/bench/wasm_gen.mjs --weights "$weights/gen.dfw" --sizes 128,256 --runs 5 \
    --json "$out/json/wasm.json" >&2 || log "wasm timing failed (skipped)"
fi
elapsed=$(( $(date +%s) - t_start ))

node tools/report.mjs --dir "$out" --dadfi "$dadfi" --n "$N" --half "$half" --quarter "$quarter" --seconds "$elapsed" \
  --models "$models" --celeba "$celeba" --utk "$utk"
log "report: $out/report.md ($elapsed s of experiments)"
