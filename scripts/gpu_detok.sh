#!/usr/bin/env bash
# Issue 10 on one GPU: the de-tokenizer benchmark, ours beside the official code, in one run
# (about 2-3 minutes on an H200). Ours: build-pip/bench_detok (scripts/build_pip_torch.sh), bf16,
# official-large sizes, random weights, decode / encode / mask preparation at BATCHES, once with
# NCHW and once with channels-last pixel-decoder activations (HIMTOK_CHANNELS_LAST=1,
# src/nn/memory_format.h), then bf16 against fp32 on the trained small tokenizer (--fidelity).
# The official side: ANCHOR/bench_official_gpu.py (the unmodified official code; needs torch and
# einops in python3), when ANCHOR is in the tree: the device tool sends only the working tree, so
# copy it in for the call (`cp -r ../shared/anchor anchor`, untracked; remove it afterwards).
#
# Usage: bash scripts/gpu_detok.sh [OUTDIR=runs/gpu-detok]
# Environment: BIN (build-pip/bench_detok), DEVICE (cuda), BATCHES (1,8,64,256), REPS (3),
#   THREADS (8), ANCHOR (anchor), COPY_TO (a folder for detok.tar.gz: the device tool's $OUT).
# CPU dry run (a few minutes): BIN=build/bench/bench_detok DEVICE=cpu BATCHES=1 REPS=1 \
#   FIDELITY_N=2 PROFILE_BATCH=1 bash scripts/gpu_detok.sh runs/detok-dry
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-runs/gpu-detok}
BIN=${BIN:-build-pip/bench_detok}
DEVICE=${DEVICE:-cuda}
BATCHES=${BATCHES:-1,8,64,256}
REPS=${REPS:-3}
THREADS=${THREADS:-8}
ANCHOR=${ANCHOR:-anchor}
coco=data/coco-fakesegm100/instances_val2014_fakesegm100_results.json
mkdir -p "$OUT"
start=$(date +%s)
{
  date -u +"date %Y-%m-%dT%H:%M:%SZ"
  echo "cpu $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs), $(nproc) cores"
  command -v nvidia-smi > /dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  echo "device $DEVICE batches $BATCHES reps $REPS threads $THREADS"
} 2>&1 | tee "$OUT/machine.txt"
[ -x "$BIN" ] || { echo "gpu_detok.sh: $BIN not built (scripts/build_pip_torch.sh)" >&2; exit 2; }

for cl in 0 1; do
  echo "== ours, HIMTOK_CHANNELS_LAST=$cl"
  HIMTOK_CHANNELS_LAST=$cl "$BIN" --device "$DEVICE" --dtypes bf16 --threads "$THREADS" --batches "$BATCHES" \
    --reps "$REPS" --ops decode,encode,prepare --benchmark_out="$OUT/ours-cl$cl.json" --benchmark_out_format=json \
    2>&1 | tee "$OUT/ours-cl$cl.txt" | grep -E "median|repeats:1/|error|bench_detok:"
done

echo "== ours, where a bf16 decode at batch 64 goes (--profile: stage times, device time by op)"
"$BIN" --device "$DEVICE" --dtypes bf16 --threads "$THREADS" --batches "${PROFILE_BATCH:-64}" --reps 1 --ops decode \
  --profile --benchmark_filter=NONE 2>&1 | tee "$OUT/profile.txt" | head -20

echo "== ours, bf16 against fp32 on trained weights (models/himtok-small.safetensors, COCO masks)"
"$BIN" --device "$DEVICE" --threads "$THREADS" --batches 1 --reps 1 --ops decode --benchmark_filter=NONE \
  --fidelity "models/himtok-small.safetensors,$coco,${FIDELITY_N:-64}" 2>&1 | grep -E "^fidelity|error" |
  tee "$OUT/fidelity.txt"

if [ "$DEVICE" = cuda ] && [ -f "$ANCHOR/bench_official_gpu.py" ]; then
  echo "== official ($ANCHOR/bench_official_gpu.py)"
  python3 "$ANCHOR/bench_official_gpu.py" "$OUT" 2>&1 | tee "$OUT/official.txt"
else
  echo "== official side skipped (device $DEVICE; $ANCHOR/bench_official_gpu.py $([ -f "$ANCHOR/bench_official_gpu.py" ] && echo present || echo absent))"
fi
echo "gpu_detok.sh: $(( $(date +%s) - start )) s"

if [ -n "${COPY_TO:-}" ]; then
  mkdir -p "$COPY_TO"
  tar czf "$COPY_TO/detok.tar.gz" -C "$OUT" .
fi
