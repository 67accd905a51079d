#!/usr/bin/env bash
# One-GPU stage-1 session (docs/TRAINING.md, "Plan for the next GPU slot"): builds the CLI against
# the machine's pip PyTorch (scripts/build_pip_torch.sh), optionally benchmarks the trainer
# (--bench), trains the small (256x256) and tiny (128x128) presets side by side on the one GPU so
# that both end within BUDGET seconds of this script's start, exports bf16 files, prints the
# `himtok recon` table on data/coco-fakesegm100 next to the shipped model's, and copies what must
# come back into COPY_TO.
#
# Usage: bash scripts/gpu_stage1.sh [BUDGET_S=520] [OUTDIR=runs/gpu] [INIT_DIR]
#   INIT_DIR  fine-tune INIT_DIR/himtok-{small,tiny}.safetensors (e.g. `models`, the shipped files)
#             with configs/tokenizer_{small,tiny}_$CFG.json; without it, train from scratch with
#             configs/tokenizer_small.json and tokenizer_tiny_gpu.json (the first session).
# Environment:
#   CFG=real          configs used with INIT_DIR: real (real object masks) or ft (the 2nd session's)
#   RUNS="small tiny" presets to train (one preset alone gets the whole GPU: about twice the steps)
#   BENCH_STEPS=0     > 0: before training, `train-tokenizer --bench BENCH_STEPS` of the small
#                     config for each item of BENCH_BATCHES="256 256:bf16" (a batch size, ":bf16" for
#                     bf16 autocast instead of TF32; about 30-45 s each with data loading)
#   TRAIN_BF16=auto   train with bf16 autocast: 1 yes, 0 no (TF32), auto: yes when the bench of
#                     N:bf16 ran and was at least 1.15x the masks/s of N (TF32), N the first such item
#   MARGIN_S=120      seconds kept for data loading, exports and the recon tables
#   THREADS=16        CPU threads (shared by the runs)
#   TRAIN_ARGS, RECON_LIMIT  more train-tokenizer options; recon on the first N masks only
#   HIMTOK, DEVICE, DRY  a built binary (skips the build), the device, and DRY=1 for batches of 2:
#                     a CPU dry run of the whole script (2 minutes; --time-limit acts after 30
#                     steps, hence --max-steps):
#                     HIMTOK=build/himtok DEVICE=cpu DRY=1 RUNS=tiny THREADS=2 BENCH_STEPS=1 BENCH_BATCHES="2 2:bf16" \
#                     MARGIN_S=0 TRAIN_ARGS="--max-steps 2" RECON_LIMIT=4 COPY_TO=runs/dry/out \
#                     bash scripts/gpu_stage1.sh 60 runs/dry models
#   COPY_TO=          folder for the results (the device tool's $OUT): the exports (the small one
#                     split into 15 MiB parts: the tool returns files of at most 16 MiB), one
#                     tar.gz of logs, metrics, bench and recon files. At most 5 files.
#
# The working tree the device tool sends must stay under 64 MiB: move the test data and the LMM
# out of the checkout for the call (about 65 MB), and carry .devdeps (scripts/make_devdeps.sh):
#   mkdir -p /tmp/aside && mv tests/data models/himtok-lmm-tiny.safetensors /tmp/aside/
#   run: BENCH_STEPS=20 COPY_TO=$OUT bash scripts/gpu_stage1.sh 540 runs/gpu3 models   (carry .devdeps)
#   mv /tmp/aside/data tests/ && mv /tmp/aside/himtok-lmm-tiny.safetensors models/
set -uo pipefail
cd "$(dirname "$0")/.."
BUDGET=${1:-520}
OUTD=${2:-runs/gpu}
INIT=${3:-}
CFG=${CFG:-real}
RUNS=${RUNS:-small tiny}
start=$(date +%s)
mkdir -p "$OUTD"
DEV=${DEVICE:-cuda}
if [ -n "${HIMTOK:-}" ]; then
  H=$HIMTOK  # a built binary: skip the build (a CPU dry run: HIMTOK=build/himtok DEVICE=cpu)
else
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
  bash scripts/build_pip_torch.sh > "$OUTD/build.log" 2>&1 || { tail -c 20000 "$OUTD/build.log"; exit 1; }
  tail -1 "$OUTD/build.log"
  H=build-pip/himtok
fi
export OMP_WAIT_POLICY=PASSIVE

config_of() {  # preset -> config file (DRY=1: a copy with batch 2 and 4 validation masks)
  local run=$1 f
  if [ -n "$INIT" ]; then f="configs/tokenizer_${run}_${CFG}.json"
  elif [ "$run" = tiny ]; then f=configs/tokenizer_tiny_gpu.json
  else f="configs/tokenizer_${run}.json"; fi
  if [ -n "${DRY:-}" ]; then
    sed 's/"batch_size": *[0-9]*/"batch_size": 2/; s/"val_masks": *[0-9]*/"val_masks": 4/' "$f" > "$OUTD/dry_$run.json"
    f="$OUTD/dry_$run.json"
  fi
  echo "$f"
}

# Throughput of the trainer alone on the GPU (item 1 of issue 9): masks/s and the step split.
with_bf16() { sed 's/^{/{"bf16": true,/' "$1"; }  # a config with bf16 autocast on
if [ "${BENCH_STEPS:-0}" -gt 0 ]; then
  for item in ${BENCH_BATCHES:-256 256:bf16}; do
    bs=${item%%:*}; tag=b$bs
    sed "s/\"batch_size\": *[0-9]*/\"batch_size\": $bs/" "$(config_of small)" > "$OUTD/bench_$tag.json"
    if [ "$item" != "$bs" ]; then
      tag=${tag}_bf16; with_bf16 "$OUTD/bench_b$bs.json" > "$OUTD/bench_$tag.json"
    fi
    echo -n "$tag: " >> "$OUTD/bench.txt"
    # --profile: the last warm-up step under libtorch's profiler (self CUDA time by op: what bounds
    # the step), in bench_$tag.log and bench_$tag/bench.json; its top rows are printed here.
    $H --quiet train-tokenizer --config "$OUTD/bench_$tag.json" --out "$OUTD/bench_$tag" --device $DEV --threads ${THREADS:-16} \
        --bench "$BENCH_STEPS" --profile > "$OUTD/bench_$tag.log" 2>&1
    grep -E "^bench|error" "$OUTD/bench_$tag.log" | tee -a "$OUTD/bench.txt"
    grep -A 11 "^profile of" "$OUTD/bench_$tag.log"
  done
fi
rate_of() { grep "^$1: bench:" "$OUTD/bench.txt" 2>/dev/null | grep -o '[0-9.]* masks/s' | cut -d' ' -f1; }
TRAIN_BF16=${TRAIN_BF16:-auto}
if [ "$TRAIN_BF16" = auto ]; then
  ref=$(for item in ${BENCH_BATCHES:-256 256:bf16}; do [ "${item#*:}" = bf16 ] && echo "${item%%:*}"; done | head -1)
  r32=$(rate_of "b$ref"); r16=$(rate_of "b${ref}_bf16")
  TRAIN_BF16=$(python3 -c "print(1 if '$r32' and '$r16' and float('$r16') >= 1.15 * float('$r32') else 0)")
  echo "bf16 autocast for training: $TRAIN_BF16 (bench masks/s: TF32 ${r32:-none}, bf16 ${r16:-none})"
fi

# Time for the training loops: the budget less what was spent and the margin.
left=$(( BUDGET - ($(date +%s) - start) - ${MARGIN_S:-120} ))
mins=$(python3 -c "print(round($left / 60.0, 2))")
echo "training budget: $mins min per run"
threads=$(( ${THREADS:-16} / $(echo $RUNS | wc -w) ))
for run in $RUNS; do
  extra=()
  [ -n "$INIT" ] && extra=(--init "$INIT/himtok-$run.safetensors")
  cfg=$(config_of $run)
  if [ "$TRAIN_BF16" = 1 ]; then with_bf16 "$cfg" > "$OUTD/train_$run.json"; cfg="$OUTD/train_$run.json"; fi
  $H train-tokenizer --config "$cfg" --out "$OUTD/$run" --device $DEV --threads $threads \
      --time-limit "$mins" "${extra[@]}" ${TRAIN_ARGS:-} > "$OUTD/$run.log" 2>&1 &
done
wait
for run in $RUNS; do
  echo "== $run ($(config_of $run))"
  grep -E "time-limit|error|stopped|data:" "$OUTD/$run.log"
  grep '"eval"' "$OUTD/$run/metrics.jsonl" | tail -2
  $H export-tokenizer --checkpoint "$OUTD/$run/checkpoint.safetensors" --out "$OUTD/himtok-$run.safetensors" --bf16 --no-ema
done
echo "trained in $(( $(date +%s) - start )) s"

# The issue's measure: himtok recon on the 734 COCO shapes, new model and (with INIT) the start.
masks=data/coco-fakesegm100/instances_val2014_fakesegm100_results.json
for run in $RUNS; do
  echo "== recon $run: new"
  $H --quiet recon --model "$OUTD/himtok-$run.safetensors" --masks $masks --device $DEV --codecs box ${RECON_LIMIT:+--limit $RECON_LIMIT} \
      --json "$OUTD/recon-$run.jsonl" 2>&1 | head -12
  if [ -n "$INIT" ]; then
    echo "== recon $run: start ($INIT/himtok-$run.safetensors)"
    $H --quiet recon --model "$INIT/himtok-$run.safetensors" --masks $masks --device $DEV --codecs box ${RECON_LIMIT:+--limit $RECON_LIMIT} \
        --json "$OUTD/recon-$run-start.jsonl" 2>&1 | head -12
  fi
done

# CUDA inference against the CPU on real masks: the same ids (first session only).
if [ -z "$INIT" ]; then
  for dev in cpu cuda; do
    $H encode --model "$OUTD/himtok-tiny.safetensors" --device $dev --ids examples/himtok-examples/masks/*.png \
        > "$OUTD/ids_$dev.txt"
  done
  cmp "$OUTD/ids_cpu.txt" "$OUTD/ids_cuda.txt" && echo "CUDA ids == CPU ids" || { echo "CUDA ids differ:"; cat "$OUTD"/ids_*.txt; }
fi

if [ -n "${COPY_TO:-}" ]; then
  mkdir -p "$COPY_TO"
  for run in $RUNS; do
    split -b 15M -d "$OUTD/himtok-$run.safetensors" "$COPY_TO/himtok-$run.safetensors.part"
  done
  tar czf "$COPY_TO/logs.tar.gz" -C "$OUTD" $(cd "$OUTD" && ls -d *.log *.txt *.jsonl *.json bench_b*/bench.json \
      $(for r in $RUNS; do echo $r/metrics.jsonl $r/config.json; done) 2>/dev/null)
  ls -l "$COPY_TO"
  echo "reassemble: cat himtok-small.safetensors.part* > himtok-small.safetensors"
fi
echo "total $(( $(date +%s) - start )) s"
