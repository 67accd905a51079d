#!/usr/bin/env bash
# Builds himtok with AddressSanitizer + UndefinedBehaviorSanitizer (cmake -DHIMTOK_SANITIZE=ON)
# into ./build-asan and runs the test suite under them (docs/RELIABILITY.md).
#   scripts/sanitize.sh                  the whole suite
#   scripts/sanitize.sh -R 'Reliability|Io'   extra arguments go to ctest (a subset)
# The first sanitizer report fails its test (UBSan does not recover; ASan aborts). libtorch is
# not instrumented: leaks inside it (its static registries) are suppressed, ours are reported.
# JOBS=N sets the build parallelism (default: all cores).
set -euo pipefail
cd "$(dirname "$0")/.."
B=build-asan
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
cmake -S . -B "$B" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS=-g1 -DHIMTOK_SANITIZE=ON -DHIMTOK_BUILD_BENCH=OFF \
  "${launcher[@]}" >/dev/null
cmake --build "$B" -j"${JOBS:-$(nproc)}"
cat > "$B/lsan.supp" <<'SUPP'
# Allocations owned by uninstrumented libraries that live until exit.
leak:libtorch
leak:libc10
leak:libgomp
leak:libprotobuf
leak:libsentencepiece
SUPP
export ASAN_OPTIONS="abort_on_error=1:detect_leaks=1:detect_stack_use_after_return=0:strict_string_checks=1"
export LSAN_OPTIONS="suppressions=$PWD/$B/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
cd "$B"
ctest -j1 --output-on-failure "$@"
