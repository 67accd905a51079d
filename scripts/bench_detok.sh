#!/usr/bin/env bash
# De-tokenizer speed, ours beside the official code in one run (issue 10). Prints the machine, then
#   1. build/bench/bench_detok   (ours, through the MaskTokenizer facade; Google Benchmark medians)
#   2. bench/official_cpu.py     (the official code on Debian's python3-torch, CPU only)
# and writes everything to OUTDIR (default runs/bench-detok/, git-ignored): machine.txt, ours.txt, ours.json,
# official.jsonl.
#
#   scripts/bench_detok.sh [OUTDIR]
#   DEVICE=cuda DTYPES=bf16 BATCHES=1,8,64,256 scripts/bench_detok.sh     (GPU: ours only; the official
#       GPU side is ../shared/anchor/bench_official_gpu.py, which needs pip torch + einops there)
#   THREADS=2 BATCHES=1,8 REPS=3 OPS=decode,encode PROFILE=1 ANCHOR=../shared/anchor  (the defaults,
#       PROFILE=0) ; FIDELITY=models/himtok-small.safetensors,data/coco-fakesegm100/instances_val2014_fakesegm100_results.json,64
#   OFFICIAL=0 skips the official side (e.g. where python3-torch is missing).
#   ALLOCATORS=caching,default also runs ours with libtorch's own CPU allocator (HIMTOK_CPU_CACHE_MB=0;
#       the default is ALLOCATORS=caching, as the CLI runs: src/nn/cpu_allocator.h); files ours-default.*
#   OFFICIAL_TUNED=1 also runs the official side with glibc's malloc told to keep freed memory
#       (MALLOC_MMAP_THRESHOLD_/MALLOC_TRIM_THRESHOLD_/MALLOC_TOP_PAD_): official-tuned.jsonl
#
# The official side needs Debian's python3-torch and python3-omegaconf (apt-get install -y
# python3-torch python3-omegaconf; not in install_deps.sh: only this benchmark uses them) and the
# unmodified official excerpt in ANCHOR (../shared/anchor/LMM-HiMTok + official_loader.py). It is
# run with /usr/bin/python3 so that Debian's torch is the one imported.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-runs/bench-detok}
DEVICE=${DEVICE:-cpu}
DTYPES=${DTYPES:-fp32,bf16}
THREADS=${THREADS:-2}
BATCHES=${BATCHES:-1,8}
REPS=${REPS:-3}
OPS=${OPS:-decode,encode}
PROFILE=${PROFILE:-0}
ANCHOR=${ANCHOR:-../shared/anchor}
OFFICIAL=${OFFICIAL:-1}
FIDELITY=${FIDELITY:-}
BIN=${BIN:-build/bench/bench_detok}
mkdir -p "$OUT"

{
  date -u +"date %Y-%m-%dT%H:%M:%SZ"
  echo "cpu $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs)"
  echo "cores $(nproc)"
  echo "flags $(grep -o -w -E 'avx2|fma|avx512[a-z_0-9]*|amx[a-z_0-9]*' /proc/cpuinfo | sort -u | xargs)"
  echo "loadavg $(cut -d' ' -f1-3 /proc/loadavg)"
  if command -v nvidia-smi > /dev/null; then nvidia-smi --query-gpu=name,memory.total --format=csv,noheader; fi
  echo "device $DEVICE threads $THREADS batches $BATCHES reps $REPS"
} | tee "$OUT/machine.txt"

[[ -x $BIN ]] || { echo "bench_detok.sh: $BIN not built (cmake --build build --target bench_detok)" >&2; exit 2; }

args=(--device "$DEVICE" --dtypes "$DTYPES" --threads "$THREADS" --batches "$BATCHES" --reps "$REPS" --ops "$OPS")
[[ $PROFILE == 1 ]] && args+=(--profile)
[[ -n $FIDELITY ]] && args+=(--fidelity "$FIDELITY")
ALLOCATORS=${ALLOCATORS:-caching}
for alloc in ${ALLOCATORS//,/ }; do
  case $alloc in
    caching) tag=ours; cache_mb=${HIMTOK_CPU_CACHE_MB:-2048} ;;
    default) tag=ours-default; cache_mb=0 ;;
    *) echo "bench_detok.sh: ALLOCATORS: '$alloc' is not caching or default" >&2; exit 2 ;;
  esac
  echo "== ours ($alloc CPU allocator): HIMTOK_CPU_CACHE_MB=$cache_mb $BIN ${args[*]}"
  HIMTOK_CPU_CACHE_MB=$cache_mb "$BIN" "${args[@]}" --benchmark_out="$OUT/$tag.json" --benchmark_out_format=json 2>&1 |
    tee "$OUT/$tag.txt"
done

if [[ $OFFICIAL == 1 && $DEVICE == cpu ]]; then
  if ! /usr/bin/python3 -c 'import torch, omegaconf' 2> /dev/null; then
    echo "bench_detok.sh: official side skipped: /usr/bin/python3 lacks torch/omegaconf" \
      "(apt-get install -y python3-torch python3-omegaconf)" >&2
    exit 0
  fi
  pargs=(--anchor "$ANCHOR" --threads "$THREADS" --batches "$BATCHES" --reps "$REPS" --ops "$OPS" --profile "$PROFILE")
  echo "== official: /usr/bin/python3 bench/official_cpu.py ${pargs[*]}"
  /usr/bin/python3 bench/official_cpu.py "${pargs[@]}" 2>&1 | tee "$OUT/official.jsonl"
  if [[ ${OFFICIAL_TUNED:-0} == 1 ]]; then
    echo "== official, glibc malloc keeping freed memory (MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=4294967296 MALLOC_TOP_PAD_=268435456)"
    MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=4294967296 MALLOC_TOP_PAD_=268435456 \
      /usr/bin/python3 bench/official_cpu.py "${pargs[@]}" 2>&1 | tee "$OUT/official-tuned.jsonl"
  fi
fi
echo "== loadavg after: $(cut -d' ' -f1-3 /proc/loadavg)"
