#!/usr/bin/env bash
# Issue 9, item 4 on a CPU: the HML blur schedule (hml.sigma_scale), short runs of equal masks
# seen, each fine-tuning the same start file on the same fresh batches (bf16 autocast: needs an
# AVX512-BF16 CPU; set BF16=false elsewhere), then `himtok recon` on the COCO set.
#   bash scripts/ablate_sigma_cpu.sh OUTDIR [START_FILE]
# Env: SCALES (default "1 0.5 0"), STEPS (320, of batch 32), DATA_SEED (7), THREADS (2).
set -euo pipefail
out=${1:?usage: ablate_sigma_cpu.sh OUTDIR [START_FILE]}
start=${2:-models/himtok-tiny.safetensors}
SCALES=${SCALES:-"1 0.5 0"}
STEPS=${STEPS:-320}
DATA_SEED=${DATA_SEED:-7}
THREADS=${THREADS:-2}
BF16=${BF16:-true}
HIMTOK=${HIMTOK:-build/himtok}
coco=data/coco-fakesegm100/instances_val2014_fakesegm100_results.json
mkdir -p "$out"
for s in $SCALES; do
  run="$out/sigma-$s"
  mkdir -p "$run"
  sed -e "s/\"data_seed\": [0-9]*/\"data_seed\": $DATA_SEED/" \
      -e "s/\"bf16\": true/\"bf16\": $BF16, \"hml\": {\"sigma_scale\": $s}/" \
      configs/tokenizer_tiny_real_cpu_bf16.json > "$run.json"
  echo "== sigma_scale $s: $STEPS steps from $start"
  "$HIMTOK" train-tokenizer --config "$run.json" --init "$start" --out "$run" \
    --threads "$THREADS" --steps "$STEPS" > "$run.log" 2>&1
  "$HIMTOK" export-tokenizer --checkpoint "$run/checkpoint.safetensors" --out "$run/tokenizer.safetensors" --bf16 --no-ema
  "$HIMTOK" --quiet recon --model "$run/tokenizer.safetensors" --masks "$coco" --threads "$THREADS" \
    --json "$run/recon.jsonl" | tee "$run/recon.txt"
done
