#!/usr/bin/env bash
# Installs everything himtok needs on Debian 12 (run as root). Nothing is downloaded at run time.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
  build-essential cmake pkg-config git \
  libtorch-dev libopenblas0-openmp libgloo-dev \
  nlohmann-json3-dev libstb-dev libjpeg62-turbo-dev libcli11-dev libspdlog-dev libfmt-dev \
  libgtest-dev libgmock-dev libbenchmark-dev libsentencepiece-dev \
  pybind11-dev python3-dev python3-numpy python3-pytest \
  clang libclang-rt-14-dev > /dev/null  # clang + libFuzzer: the fuzz smoke test (fuzz/, docs/RELIABILITY.md)
echo "himtok: dependencies installed"
