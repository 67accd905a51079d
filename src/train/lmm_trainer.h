// Stages 2 and 3 of HiMTok (paper §3.3, spec §3.2-3.3) on the synthetic scenes.
//   stage 2: cross-entropy on the answers + the mask loss through the de-tokenizer: at the 32
//            positions that predict the answer's mask tokens, softmax(2 * logits) over the 1024
//            mask ids -> expected raw codebook vector -> decoder -> p (S x S); BCE + dice_weight *
//            Dice against the stretched target (full level), plus n_levels hierarchical levels
//            (l tokens, p_l ~ 1/(l + level_bias), l in [1, 32)) against labels blurred with
//            sigma = 100/(l+1) - 2 (loss/hml.h). The tokenizer encoder is frozen, the de-tokenizer
//            (decoder + pixel decoder) trainable; low image resolution.
//            mask_loss = false runs stage 2 with cross-entropy only (the ablation).
//   stage 3: cross-entropy only, higher resolution, de-tokenizer frozen, smaller segmentation share.
// Levels are decoded by truncation (decode_z keep_lengths: dropped tokens are zero after the
// embedding, as inference decodes a prefix), where the official stage-2 code zeroes the dropped
// probabilities instead (spec §2.2); the level term is the sum over the sampled levels (the official
// code weights one sampled level by 3, spec §3.2).
//
// Run folder (--out): checkpoint.safetensors (exact resume: weights, AdamW, RNG, step, vocabulary),
// metrics.jsonl (one JSON object per logged step), model.safetensors (the final bundle,
// lmm/himtok_lmm.h), config.json (the effective config), loss.png (curves).
#pragma once
#include <cstdint>
#include <functional>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "train/lmm_data.h"

namespace himtok::train {

struct LmmTrainConfig {
  int stage = 2;
  // Stage 2 start: a fresh LMM of `lmm_config` (preset name or inline LmmConfig JSON object)
  // around the trained tokenizer file `tokenizer`, with a SentencePiece vocabulary trained on the
  // templates and vocab_corpus_scenes scenes. Stage 3 start: the bundle `init`.
  std::string lmm_config = "tiny";  // a preset name, or the JSON text of an LmmConfig (starts with '{')
  std::string tokenizer;
  std::string init;
  int vocab_size = 2048;
  int vocab_corpus_scenes = 300;

  int64_t steps = 1000;
  int64_t batch_size = 8;
  double lr = 1e-3;
  double min_lr_ratio = 0.1;   // cosine decays to lr * min_lr_ratio
  int64_t warmup = 50;
  double weight_decay = 0.05;  // on matrices only (dim >= 2)
  double beta1 = 0.9, beta2 = 0.95;
  double grad_clip = 1.0;

  bool mask_loss = true;        // stage 2 only; false: cross-entropy only
  double mask_loss_weight = 1.0;
  double dice_weight = 0.25;    // official stage 2
  int n_levels = 3;
  double level_bias = 8.0;
  int64_t mask_loss_max = 4;    // mask-loss samples per batch at most (the first ones; CPU cost)
  int64_t mask_loss_every = 1;  // the mask loss on every k-th step only (CPU cost: the 256 px pixel decoder)
  bool train_decoder = true;    // stage 2 fine-tunes the de-tokenizer (forced false in stage 3)
  double decoder_lr_scale = 0.1;  // de-tokenizer lr = lr * scale (it is already trained)

  LmmDataConfig data;
  int64_t log_every = 10;
  int64_t ckpt_every = 100;
  uint64_t seed = 0;
  int threads = 1;
  bool save_bf16 = false;  // also write model-bf16.safetensors
  double max_minutes = 0;  // > 0: stop (checkpoint + model) after this wall time
  int64_t stop_at = 0;     // > 0: stop (checkpoint + model) once this many steps are done (tests)

  void validate() const;  // InputError naming the field
};
void to_json(nlohmann::json& j, const LmmTrainConfig& c);

// A training config file: {"format": "himtok-lmm-train", "version": 1, "common": {...},
// "stage2": {...}, "stage3": {...}}; the stage's object overrides "common" key by key ("data" is
// merged one level deeper). Strict: unknown keys raise InputError.
LmmTrainConfig load_lmm_train_config(const std::string& path, int stage);
LmmTrainConfig lmm_train_config_from_json(const nlohmann::json& j, int stage, const std::string& origin);

struct LmmTrainResult {
  int64_t steps_done = 0;
  double first_loss = 0, last_loss = 0;   // mean of the first / last log window
  std::string model_path;
};

struct LmmStepLog {
  int64_t step = 0;
  double loss = 0, ce = 0, ce_text = 0, ce_mask = 0, mask = 0, mask_full = 0, mask_levels = 0, lr = 0, grad_norm = 0;
  int64_t n_mask = 0;
  double seconds = 0;
};

// Trains into `out_dir`; resume=true continues from out_dir/checkpoint.safetensors (InputError if
// the checkpoint's config differs in a field that matters). `on_step` (optional) sees every step.
LmmTrainResult train_lmm(const LmmTrainConfig& cfg, const std::string& out_dir, bool resume,
                         const std::function<void(const LmmStepLog&)>& on_step = {});

}  // namespace himtok::train
