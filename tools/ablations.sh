#!/usr/bin/env bash
# Train the Gen variants of the paper's verification experiments (its Figs. 8-9) and the transfer study, each as a
# resumable `dadfi train-gen` run with checkpoints.  Run it again after an interruption (or with a larger --steps)
# and every run continues from its checkpoint; finished runs are skipped.
#
#   tools/ablations.sh [--runs LIST] [--steps N] [--time-limit MIN] [--out DIR] [--data DIR] [--weights DIR]
#                      [--build DIR] [--set NAME=VALUE ...] [--dry-run]
#   tools/ablations.sh --eval [--runs LIST] [--n N] [--extra NAME=FILE ...] [--out DIR] [--weights DIR] [--build DIR]
#
#   --runs LIST       comma-separated, from (default: all, in this order)
#                       only-M   Gen trained against zoo model M alone (one per model: "one model vs all")
#                       loo-M    Gen trained against every zoo model but M (leave one family out: transfer to M)
#                       noidey   the shipped recipe without Ide_y (the paper's second ablation)
#                       paper    the paper's recipe, faithfully (no direct term, no transforms)
#   --steps N         steps per run (default 3000, batch 4: about 40 min on two cores per run)
#   --time-limit MIN  stop each run after MIN minutes (checkpointed; run the script again to continue)
#   --out DIR         run directories DIR/RUN/ (default build/ablations); weights DIR/RUN/gen-RUN.dfw
#   --weights DIR     zoo models DIR/zoo/*.dfw (default weights)
#   --set NAME=VALUE  a training option added to every new run (repeatable; `dadfi train-gen --help`), e.g.
#                     --set direct_log=1 --set p_jpeg=0 to match a shipped Gen trained with them
#   --dry-run         print the commands only
#   --eval            train nothing: evaluate every run that has weights (DIR/RUN/gen-RUN.dfw) on N faces
#                     spread over the test split, against every zoo model (`dadfi eval`, success = L2_mask > 0.05),
#                     and print the trained-on x tested-on table in Markdown (JSON in DIR/RUN/eval.json)
#   --n N             test faces for --eval (default 100)
#   --extra NAME=FILE also evaluate the Gen weights FILE as row NAME (repeatable), e.g. --extra all=weights/gen.dfw
#
# Copy finished files to weights/ (e.g. weights/gen-loo-attgan.dfw) with their provenance in weights/README.md, and
# tools/report.sh compares them with the shipped Gen.  Environment: DF_THREADS as for dadfi.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

runs='' steps=3000 limit='' out=build/ablations data=../shared/data/celeba_subset weights=weights build=build dry=0
extra=() eval=0 nface=100 rows=()
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs=$2; shift ;;
    --steps) steps=$2; shift ;;
    --time-limit) limit=$2; shift ;;
    --out) out=$2; shift ;;
    --data) data=$2; shift ;;
    --weights) weights=$2; shift ;;
    --build) build=$2; shift ;;
    --set) case "${2:-}" in *=*) extra+=(--set "$2") ;; *) echo "ablations.sh: --set needs NAME=VALUE" >&2; exit 2 ;; esac
           shift ;;
    --dry-run) dry=1 ;;
    --eval) eval=1 ;;
    --n) nface=$2; shift ;;
    --extra) case "${2:-}" in *=*) rows+=("$2") ;; *) echo "ablations.sh: --extra needs NAME=FILE" >&2; exit 2 ;; esac
             shift ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "ablations.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done
case "$steps" in ''|*[!0-9]*|0) echo "ablations.sh: --steps needs a positive integer" >&2; exit 2 ;; esac
shopt -s nullglob
zoo=("$weights"/zoo/*.dfw)
[ ${#zoo[@]} -ge 2 ] || { echo "ablations.sh: needs at least two zoo models in $weights/zoo/" >&2; exit 1; }
names=()
for f in "${zoo[@]}"; do names+=("$(basename "$f" .dfw)"); done
if [ -z "$runs" ]; then
  all=()
  for m in "${names[@]}"; do all+=("only-$m"); done
  for m in "${names[@]}"; do all+=("loo-$m"); done
  all+=(noidey paper)
  runs=$(IFS=,; echo "${all[*]}")
fi
dadfi="$build/dadfi"
[ "$dry" = 1 ] || [ -x "$dadfi" ] || { echo "ablations.sh: $dadfi not built" >&2; exit 1; }
[ "$dry" = 1 ] || [ -f "$data/labels.csv" ] || { echo "ablations.sh: no CelebA subset at $data (--data DIR)" >&2; exit 1; }

# The shipped recipe (weights/README.md) and its options; each run changes one thing.
ours=(--recipe ours --batch 4 --set w_energy=10 --set direct_cap=0.1)
models_but() { local f l=(); for f in "${zoo[@]}"; do [ "$(basename "$f" .dfw)" = "$1" ] || l+=("$(realpath "$f")"); done; (IFS=,; echo "${l[*]}"); }
all_models() { local f l=(); for f in "${zoo[@]}"; do l+=("$(realpath "$f")"); done; (IFS=,; echo "${l[*]}"); }

IFS=, read -r -a list <<< "$runs"

if [ "$eval" = 1 ]; then
  case "$nface" in ''|*[!0-9]*|0) echo "ablations.sh: --n needs a positive integer" >&2; exit 2 ;; esac
  for run in "${list[@]}"; do [ -f "$out/$run/gen-$run.dfw" ] && rows+=("$run=$out/$run/gen-$run.dfw"); done
  [ ${#rows[@]} -gt 0 ] || { echo "ablations.sh: no trained run to evaluate in $out" >&2; exit 1; }
  models=$(IFS=,; echo "${zoo[*]}") jsons=()
  for r in "${rows[@]}"; do
    name=${r%%=*} f=${r#*=} j="$out/$name/eval.json"
    mkdir -p "$out/$name"
    echo "== $name: $dadfi eval -q --protector gen:$f --models $models --n $nface --no-frechet --json $j" >&2
    "$dadfi" eval -q --protector "gen:$f" --models "$models" --data "$data" --n "$nface" --no-frechet --json "$j" > /dev/null
    jsons+=("$name=$j")
  done
  node -e '
    const fs = require("fs");
    const rows = process.argv.slice(1).map((a) => [a.slice(0, a.indexOf("=")), JSON.parse(fs.readFileSync(a.slice(a.indexOf("=") + 1), "utf8"))]);
    const models = Object.keys(rows[0][1].models);
    console.log(`| Gen (trained on) | PSNR | SSIM | ${models.map((m) => `${m} success (L2_mask)`).join(" | ")} |`);
    console.log(`|---|---|---|${models.map(() => "---").join("|")}|`);
    for (const [name, j] of rows)
      console.log(`| ${name} | ${j.protection.psnr.toFixed(2)} dB | ${j.protection.ssim.toFixed(3)} | ` +
        models.map((m) => `${Math.round(100 * j.models[m].success_rate)} % (${j.models[m].l2_mask.toFixed(3)})`).join(" | ") + " |");
    console.log(`\n${rows[0][1].n} faces of the ${rows[0][1].data.split} split, eps ${rows[0][1].eps}.`);
  ' "${jsons[@]}"
  exit 0
fi

for run in "${list[@]}"; do
  case "$run" in
    only-*) m=${run#only-}; f="$weights/zoo/$m.dfw"; [ -f "$f" ] || { echo "ablations.sh: no zoo model $m" >&2; exit 2; }
            models=$(realpath "$f") args=("${ours[@]}") ;;
    loo-*)  m=${run#loo-}; [ -f "$weights/zoo/$m.dfw" ] || { echo "ablations.sh: no zoo model $m" >&2; exit 2; }
            models=$(models_but "$m") args=("${ours[@]}") ;;
    noidey) models=$(all_models) args=("${ours[@]}" --no-idey) ;;
    paper)  models=$(all_models) args=(--recipe paper --batch 4) ;;
    *) echo "ablations.sh: unknown run '$run' (only-M, loo-M, noidey, paper)" >&2; exit 2 ;;
  esac
  dir="$out/$run" w="gen-$run.dfw"
  mkdir -p "$dir"
  exe=$(realpath "$dadfi" 2>/dev/null || echo "$dadfi")
  if [ -f "$dir/$w.ckpt" ]; then
    done_steps=$("$dadfi" info "$dir/$w.ckpt" 2>/dev/null | awk '$1 == "step" { print $3; exit }')
    if [ -f "$dir/$w" ] && [ "${done_steps:-0}" -ge "$steps" ]; then
      echo "== $run: done ($done_steps steps): $dir/$w"
      continue
    fi
    cmd=("$exe" train-gen --resume "$w.ckpt" --models "$models" --out "$w" --steps "$steps" --data "$(realpath "$data")")
  else
    cmd=("$exe" train-gen "${args[@]}" ${extra[@]+"${extra[@]}"} --models "$models" --out "$w" --steps "$steps"
         --data "$(realpath "$data")" --val 32 --val-every 250 --samples samples --sample-every 500)
  fi
  [ -n "$limit" ] && cmd+=(--time-limit "$limit")
  echo "== $run: (cd $dir && ${cmd[*]})   # progress: tail -f $dir/train.log"
  [ "$dry" = 1 ] && continue
  (cd "$dir" && "${cmd[@]}" >> train.log 2>&1) || { echo "ablations.sh: $run failed (see $dir/train.log)" >&2; exit 1; }
  grep -a 'validation at' "$dir/train.log" | tail -n 1
done
