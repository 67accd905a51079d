#!/usr/bin/env bash
# Builds the himtok CLI against the libtorch inside a pip-installed PyTorch (for example a CUDA
# wheel on a GPU machine) without CMake's package configs: plain g++ over src/, in parallel.
# The header-only dependencies (nlohmann/json, CLI11, spdlog, fmt, stb and libjpeg headers), libstb.so
# and libjpeg.so come from $DEPS (default .devdeps, made on a Debian machine by scripts/make_devdeps.sh).
# Data parallelism (Gloo) and the SentencePiece plugin are left out: train-tokenizer, recon,
# encode/decode and the evaluations work; the LMM's text tokenizer needs the Debian build.
# Also build-pip/bench_detok (the de-tokenizer benchmark of issue 10) where $DEPS holds Google
# Benchmark (Debian's, built with the C++11 ABI: only for a libtorch with that ABI, as pip
# PyTorch >= 2.7 is; BENCH=0 skips it).
# Usage: bash scripts/build_pip_torch.sh   (binaries: build-pip/himtok, build-pip/bench_detok)
set -euo pipefail
cd "$(dirname "$0")/.."
DEPS=${DEPS:-.devdeps}
B=${BUILD_DIR:-build-pip}
PY=${PYTHON:-python3}
T=${TORCH_DIR:-$($PY -c 'import torch, os; print(os.path.dirname(torch.__file__))')}
ABI=${TORCH_ABI:-$($PY -c 'import torch; print(int(torch._C._GLIBCXX_USE_CXX11_ABI))')}
TINC=${TORCH_INCLUDE:-$T/include}
TLIB=${TORCH_LIB:-$T/lib}
echo "libtorch: $TINC, $TLIB (CXX11 ABI $ABI); $(g++ --version | head -1)"
mkdir -p "$B/obj"
FLAGS=(-std=c++17 -O2 -fPIC -w -D_GLIBCXX_USE_CXX11_ABI="$ABI" -DFMT_HEADER_ONLY -DSPDLOG_FMT_EXTERNAL
       -DHIMTOK_WITH_GLOO=0 "-DHIMTOK_SPM_PLUGIN_PATH=\"libhimtok_spm.so\""
       -Isrc -I"$DEPS/generated" -I"$DEPS/include" -I"$DEPS/include/stb"
       -isystem "$TINC/torch/csrc/api/include")
[ "$TINC" = /usr/include ] || FLAGS+=(-isystem "$TINC")  # never -isystem the system folder
SRCS=$(ls src/{common,io,data,nn,tokenizer,loss,eval,lmm,train,cli}/*.cpp)
export B
printf '%s\n' $SRCS | xargs -P "$(nproc)" -I{} bash -c '
  o="$B/obj/$(echo {} | tr / _).o"
  extra=""; [ {} = src/data/scenes.cpp ] && extra=-ffp-contract=off
  g++ "$@" $extra -c {} -o "$o" || { echo "FAILED: {}"; exit 1; }' _ "${FLAGS[@]}" \
  || { echo "compilation failed (every failing file is listed above)"; exit 1; }
LIBS=(-Wl,--no-as-needed -L"$TLIB" -ltorch -ltorch_cpu -lc10
      $(ls "$TLIB"/libtorch_cuda.so >/dev/null 2>&1 && echo -ltorch_cuda -lc10_cuda) -Wl,--as-needed
      "$DEPS/lib/libstb.so.0" "$DEPS/lib/libjpeg.so.62" -ldl -lpthread -Wl,-rpath,"$TLIB:$(cd "$DEPS/lib" && pwd)")
g++ -o "$B/himtok" "$B"/obj/*.o "${LIBS[@]}"
echo "built $B/himtok"
if [ "${BENCH:-1}" = 1 ] && [ -f "$DEPS/include/benchmark/benchmark.h" ] && [ "$ABI" = 1 ]; then
  g++ "${FLAGS[@]}" -Ibench -c bench/bench_detok.cpp -o "$B/bench_detok.o"
  g++ -o "$B/bench_detok" "$B/bench_detok.o" $(ls "$B"/obj/*.o | grep -v '/src_cli_') "${LIBS[@]}" \
      "$DEPS/lib/libbenchmark.so.1debian"
  echo "built $B/bench_detok"
else
  echo "bench_detok not built (BENCH=${BENCH:-1}, Google Benchmark in $DEPS: $([ -f "$DEPS/include/benchmark/benchmark.h" ] && echo yes || echo no), CXX11 ABI $ABI)"
fi
