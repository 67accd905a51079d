#!/usr/bin/env bash
# Configures and builds himtok (the CLI, the tests and the benchmarks) into ./build.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release > /dev/null
cmake --build build -j"$(nproc)"
