// Training samples for the LMM (stages 2 and 3) from the synthetic scenes (data/scenes.h), one
// builder of lmm/templates.h per task of the paper:
//   seg         "Segment <ref>expr</ref>." -> mask (single- and multi-target expressions);
//               no-target expressions are answered without mask tokens (seg_none_response)
//   seg_box     mask, then box (Tables 13/14; the REC prompt)
//   box         box-prompted segmentation (box -> mask)
//   point       point-prompted segmentation (1-3 points inside the object; Table 16)
//   n_tokens    segmentation with a requested token count (Table 18), answered with the first n codes + box
//   ground      box only (Table 19)
//   perception  mask in the question, choose the matching expression (Appendix D)
//   exist       "Is there <ref>expr</ref> ...?" yes/no (single-, multi- and no-target expressions)
//   class       one shape class per question ("circles"): segmentation of all its objects or the
//               no-target answer, or the existence question (the open-vocabulary flow)
//   qa          scene questions without masks (count, colour, shape, size, relation, position)
// Target masks are tokenized by the frozen tokenizer encoder (stretch geometry, as the official
// convert_mask2tokens.py) and cached per (scene, targets): the encoder never changes in stages 2-3.
//
// Determinism: sample b of step s is drawn from Pcg32(seed_mix(seed, s), b) alone, so a resumed run
// sees exactly the batches it would have seen (nothing else to save). Tier 1 (tensors only).
#pragma once
#include <ATen/core/Tensor.h>

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "common/mask.h"

namespace himtok::lmm {
struct LmmBundle;
struct Templates;
}  // namespace himtok::lmm

namespace himtok::train {

// Relative task weights (normalised when drawing; 0 disables a task).
struct TaskMix {
  double seg = 0.30, seg_box = 0.12, box = 0.05, point = 0.05, n_tokens = 0.03, ground = 0.08, perception = 0.05,
         exist = 0.10, cls = 0.07, qa = 0.15;
  // Task names in drawing order and their weights.
  std::vector<std::pair<std::string, double>> items() const;
  double segmentation_share() const;  // share of tasks whose answer holds a mask (seg, seg_box, box, point, n_tokens, cls/2)
};

struct LmmDataConfig {
  TaskMix mix;
  int64_t n_scenes = 100000;  // train scene indices drawn from [0, n_scenes)
  int scene_size = 224;       // data::SceneOptions::size
  uint64_t scene_seed = 0;    // data::SceneOptions::seed (0: the fixed train split)
  uint64_t seed = 1;          // sample drawing
  std::vector<int> n_token_choices = {4, 8, 16, 32};  // requested lengths of the n_tokens task
  int perception_options = 4;  // 2..5
  bool use_system = false;    // chat system turn (official: true; costs ~tokens per sample)
  int64_t image_side = 128;   // ViT input side for this stage
};
void to_json(nlohmann::json& j, const LmmDataConfig& c);
void from_json(const nlohmann::json& j, LmmDataConfig& c);  // strict: unknown keys raise InputError

struct LmmSample {
  std::string task;
  std::string scene_id;
  std::vector<int> ids, labels;  // encode_chat: labels -100 outside the assistant turns
  int64_t mask_start = -1;       // index in ids of the answer's <|mt_start|> when it carries 32 codes
  Mask target;                   // that mask (scene size, 0/1); empty otherwise
  std::string text;              // the formatted chat (debugging, examples)
  Image image;                   // the scene image (scene size)
};

struct LmmBatch {
  at::Tensor input_ids;     // (B, T) int64, right-padded with <pad>
  at::Tensor labels;        // (B, T) int64, -100 at padding and outside the answers
  at::Tensor pixel_values;  // (B, 3, side, side) float32
  // Samples whose answer holds a full 32-token mask (stage-2 mask loss):
  std::vector<int64_t> mask_rows;    // batch rows
  std::vector<int64_t> mask_starts;  // index of <|mt_start|> in that row
  at::Tensor mask_targets;           // (M, S, S) float32 in [0, 1], S = tokenizer side (stretched)
  std::vector<std::string> tasks;
  int64_t n_tokens = 0;              // non-padding tokens
};

class LmmDataset {
 public:
  // `bundle` provides the vocabulary, the image-token count and the frozen tokenizer encoder; it
  // must outlive the dataset.
  LmmDataset(const LmmDataConfig& cfg, const lmm::LmmBundle& bundle, const lmm::Templates& templates);
  ~LmmDataset();
  LmmDataset(const LmmDataset&) = delete;
  LmmDataset& operator=(const LmmDataset&) = delete;

  LmmSample sample(int64_t step, int64_t b);
  LmmBatch batch(int64_t step, int64_t batch_size);
  int64_t n_cached_codes() const;
  const LmmDataConfig& config() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace himtok::train
