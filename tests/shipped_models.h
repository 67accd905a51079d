// Shared fixtures of the tests that run trained weights on real masks: the shipped small tokenizer
// (and the tiny one) and the first masks of the COCO evaluation set (data/coco-fakesegm100).
#pragma once
#include <string>
#include <vector>

#include "common/mask.h"
#include "data/mask_source.h"
#include "tokenizer/tokenizer.h"

namespace himtok::test {

// The first n masks of data/coco-fakesegm100 (734 COCO object shapes, evaluation only).
inline std::vector<Mask> first_coco_eval_masks(size_t n) {
  auto src = data::open_mask_source(std::string(HIMTOK_SOURCE_DIR) +
                                    "/data/coco-fakesegm100/instances_val2014_fakesegm100_results.json");
  std::vector<Mask> masks;
  for (size_t i = 0; i < n; ++i) masks.push_back(src->get(i).mask);
  return masks;
}

// models/himtok-small.safetensors, fp32 on the CPU with 2 threads.
inline tok::LoadOptions shipped_small_tokenizer() {
  tok::LoadOptions lo;
  lo.weights = std::string(HIMTOK_SOURCE_DIR) + "/models/himtok-small.safetensors";
  lo.threads = 2;
  return lo;
}

// models/himtok-tiny.safetensors (128x128 input), fp32 on the CPU with 2 threads.
inline tok::LoadOptions shipped_tiny_tokenizer() {
  tok::LoadOptions lo = shipped_small_tokenizer();
  lo.weights = std::string(HIMTOK_SOURCE_DIR) + "/models/himtok-tiny.safetensors";
  return lo;
}

}  // namespace himtok::test
