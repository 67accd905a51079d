#!/usr/bin/env bash
# The main job on the shipped models: a real mask -> 32 tokens -> the coarse-to-fine strip, and
# (when the shipped LMM is present) segmentation of a generated test scene by writing mask tokens.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p out
TOK=models/himtok-tiny.safetensors
MASK=examples/himtok-examples/masks/0.png
echo "== encode $MASK with $TOK"
build/himtok encode --model "$TOK" "$MASK" | tee out/tokens.txt
echo "== decode: coarse-to-fine strip (1, 2, 4, 8, 16, 32 tokens) and the 32-token mask at native size"
size=$(build/himtok encode --model "$TOK" --json "$MASK" | sed -E 's/.*"height":([0-9]+).*"width":([0-9]+).*/\2x\1/')
build/himtok decode --model "$TOK" --tokens "$(head -1 out/tokens.txt)" --size "$size" -o out/mask_32.png --strip out/strip.png
if [ -f models/himtok-lmm-tiny.safetensors ]; then
  echo "== segment a generated test scene by writing mask tokens"
  echo "   (the shipped tiny LMM is undertrained: its masks are mostly a blob near the centre; docs/LMM.md)"
  build/himtok segment --model models/himtok-lmm-tiny.safetensors --scene test:1 \
    --save-image out/scene.png -o out/scene_mask.png --overlay out/scene_overlay.png
fi
echo "== outputs in out/: tokens.txt, strip.png, mask_32.png$( [ -f out/scene_overlay.png ] && echo ', scene_overlay.png, scene_mask.png')"
