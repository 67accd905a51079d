#!/usr/bin/env bash
# Gathers what scripts/build_pip_torch.sh needs from this Debian machine into .devdeps/ (git
# ignores it): header-only libraries, stb's and libjpeg-turbo's headers and shared libraries (JPEGs
# decode with libjpeg-turbo, src/io/jpeg.cpp), Google Benchmark's headers
# and shared library (for build-pip/bench_detok), and the generated templates header (run
# scripts/build.sh first).
set -euo pipefail
cd "$(dirname "$0")/.."
D=.devdeps
rm -rf "$D" && mkdir -p "$D/include" "$D/lib" "$D/generated/lmm"
cp -r /usr/include/nlohmann /usr/include/CLI /usr/include/spdlog /usr/include/fmt /usr/include/stb "$D/include/"
cp /usr/lib/x86_64-linux-gnu/libstb.so.0 "$D/lib/libstb.so.0"
cp /usr/include/jpeglib.h /usr/include/jerror.h /usr/include/jmorecfg.h /usr/include/x86_64-linux-gnu/jconfig.h "$D/include/"
cp -L /usr/lib/x86_64-linux-gnu/libjpeg.so.62 "$D/lib/libjpeg.so.62"
cp -r /usr/include/benchmark "$D/include/"
cp -L /usr/lib/x86_64-linux-gnu/libbenchmark.so.1debian "$D/lib/libbenchmark.so.1debian"
cp build/generated/lmm/templates_json.h "$D/generated/lmm/"
du -sh "$D"
