#!/usr/bin/env bash
# The one-GPU stage-1 session that produced models/himtok-small.safetensors and
# models/himtok-tiny.safetensors (docs/TRAINING.md): builds the CLI against the machine's pip
# PyTorch (scripts/build_pip_torch.sh), trains the small (256x256) and tiny (128x128) presets
# side by side on one GPU so that both end within BUDGET seconds of this script's start,
# exports bf16 files, and checks CUDA encoding against the CPU.
# Usage: bash scripts/gpu_stage1.sh [BUDGET_S=520] [OUTDIR=runs/gpu] [INIT_DIR]
# With INIT_DIR (holding himtok-small/tiny.safetensors of a first session) it fine-tunes those
# with the *_ft.json configs instead, and skips the CUDA-vs-CPU check.
set -uo pipefail
cd "$(dirname "$0")/.."
BUDGET=${1:-520}
OUTD=${2:-runs/gpu}
INIT=${3:-}
start=$(date +%s)
mkdir -p "$OUTD"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
bash scripts/build_pip_torch.sh > "$OUTD/build.log" 2>&1 || { tail -c 20000 "$OUTD/build.log"; exit 1; }
tail -1 "$OUTD/build.log"
H=build-pip/himtok
# Time for the training loops: the budget less the build, data loading (~15 s), the final
# evaluation and the exports (~45 s).
left=$(( BUDGET - ($(date +%s) - start) - ${MARGIN_S:-60} ))
mins=$(python3 -c "print(round($left / 60.0, 2))")
echo "training budget: $mins min per run"
export OMP_WAIT_POLICY=PASSIVE
for run in small tiny; do
  cfg=configs/tokenizer_${run}; [ $run = tiny ] && cfg=configs/tokenizer_tiny_gpu
  extra=()
  [ -n "$INIT" ] && cfg=${cfg}_ft && extra=(--init "$INIT/himtok-$run.safetensors")
  $H train-tokenizer --config $cfg.json --out "$OUTD/$run" --device cuda --threads 8 --time-limit "$mins" "${extra[@]}" \
      > "$OUTD/$run.log" 2>&1 &
done
wait
for run in small tiny; do
  echo "== $run"; grep -E "time-limit|error|stopped" "$OUTD/$run.log"; grep '"eval"' "$OUTD/$run/metrics.jsonl" | tail -2
  $H export-tokenizer --checkpoint "$OUTD/$run/checkpoint.safetensors" --out "$OUTD/himtok-$run.safetensors" --bf16 --no-ema
done
# CUDA inference against the CPU on real masks: the same ids.
[ -n "$INIT" ] && { echo "total $(( $(date +%s) - start )) s"; exit 0; }
for dev in cpu cuda; do
  $H encode --model "$OUTD/himtok-tiny.safetensors" --device $dev --ids examples/himtok-examples/masks/*.png \
      > "$OUTD/ids_$dev.txt"
done
cmp "$OUTD/ids_cpu.txt" "$OUTD/ids_cuda.txt" && echo "CUDA ids == CPU ids" || { echo "CUDA ids differ:"; cat "$OUTD"/ids_*.txt; }
echo "total $(( $(date +%s) - start )) s"
