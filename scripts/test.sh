#!/usr/bin/env bash
# Installs the dependencies, builds, and runs the whole test suite (what CI runs).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" = 0 ]; then bash scripts/install_deps.sh; fi
bash scripts/build.sh
cd build && ctest -j1 --output-on-failure
