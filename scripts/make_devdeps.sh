#!/usr/bin/env bash
# Gathers what scripts/build_pip_torch.sh needs from this Debian machine into .devdeps/ (git
# ignores it): header-only libraries, stb's headers and shared library, and the generated
# templates header (run scripts/build.sh first).
set -euo pipefail
cd "$(dirname "$0")/.."
D=.devdeps
rm -rf "$D" && mkdir -p "$D/include" "$D/lib" "$D/generated/lmm"
cp -r /usr/include/nlohmann /usr/include/CLI /usr/include/spdlog /usr/include/fmt /usr/include/stb "$D/include/"
cp /usr/lib/x86_64-linux-gnu/libstb.so.0 "$D/lib/libstb.so.0"
cp build/generated/lmm/templates_json.h "$D/generated/lmm/"
du -sh "$D"
