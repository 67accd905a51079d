#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ with clang into build-fuzz and runs each of them.
#   scripts/fuzz.sh [SECONDS]         each target for SECONDS (default 60) of wall time
#   FUZZ_RUNS=1000000 scripts/fuzz.sh  each target for that many executions (no time limit
#                                      unless SECONDS is given too)
#   FUZZ_TARGETS="fuzz_rle fuzz_coco" scripts/fuzz.sh 30   a subset
# FUZZ_BUILD_DIR overrides build-fuzz. Corpora live in build-fuzz/corpus/<target> (seeded from tests/data and configs/ on first use,
# kept between runs); crashes land in build-fuzz/artifacts/<target>/; logs in build-fuzz/logs/.
# Prints one line per target: executions, coverage (edges), corpus size, crash files written by this run.
# Exit status 1 if any target crashed. Needs clang++ with libFuzzer (Debian: clang-14).
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${1:-}
RUNS=${FUZZ_RUNS:-}
[ -z "$SECONDS_EACH" ] && [ -z "$RUNS" ] && SECONDS_EACH=60
B=${FUZZ_BUILD_DIR:-build-fuzz}
# No clang with libFuzzer: exit 77, which CTest reports as skipped (the fuzz_smoke test).
command -v clang++ >/dev/null || { echo "fuzz.sh: clang++ not found (apt-get install clang); skipped" >&2; exit 77; }
mkdir -p "$B"
echo 'extern "C" int LLVMFuzzerTestOneInput(const char*, unsigned long) { return 0; }' > "$B/probe.cpp"
clang++ -fsanitize=fuzzer "$B/probe.cpp" -o "$B/probe" 2>/dev/null ||
  { echo "fuzz.sh: clang++ has no libFuzzer runtime; skipped" >&2; exit 77; }
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
CXX=clang++ cmake -S fuzz -B "$B" "${launcher[@]}" >/dev/null
cmake --build "$B" -j"${FUZZ_JOBS:-2}" >/dev/null
TARGETS=${FUZZ_TARGETS:-$(cd "$B" && find . -maxdepth 1 -name 'fuzz_*' -type f -executable -printf '%f\n' | sort)}
python3 fuzz/make_seeds.py "$B/corpus"

declare -A DICT=([fuzz_token_strings]=tokens [fuzz_response]=tokens)
declare -A MAXLEN=([fuzz_image]=65536 [fuzz_coco]=16384 [fuzz_safetensors]=8192)
failed=0
mkdir -p "$B/logs"
for t in $TARGETS; do
  mkdir -p "$B/corpus/$t" "$B/artifacts/$t"
  args=(-max_len="${MAXLEN[$t]:-4096}" -artifact_prefix="$B/artifacts/$t/" -print_final_stats=1 -rss_limit_mb=4096
        -timeout=20 -dict="fuzz/dicts/${DICT[$t]:-json}.dict")
  [ -n "$SECONDS_EACH" ] && args+=(-max_total_time="$SECONDS_EACH")
  [ -n "$RUNS" ] && args+=(-runs="$RUNS")
  touch "$B/artifacts/$t/.start"  # findings are the files this run writes, not older ones
  set +e
  ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 "$B/$t" "${args[@]}" "$B/corpus/$t" >"$B/logs/$t.log" 2>&1
  rc=$?
  set -e
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$B/logs/$t.log" | grep -o '[0-9]*$' || echo "?")
  cov=$(grep -o 'cov: [0-9]*' "$B/logs/$t.log" | tail -1 | grep -o '[0-9]*' || echo "?")
  # crash-, leak-, timeout- and oom- files are findings; slow-unit- files are only notes.
  crashes=$(find "$B/artifacts/$t" -type f -newer "$B/artifacts/$t/.start" \
    \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | wc -l)
  printf '%-24s rc=%-3s execs=%-10s cov=%-6s corpus=%-6s findings=%s\n' "$t" "$rc" "$execs" "$cov" \
    "$(ls "$B/corpus/$t" | wc -l)" "$crashes"
  [ "$rc" = 0 ] || failed=1
done
exit $failed
