// Stage 1: train the HiMTok tokenizer alone with the hierarchical mask loss (paper Sec. 3.2,
// Appendix A). Tier 0 header: the trainer's options and entry points; the torch code lives in
// stage1.cpp. Configs are JSON files in configs/ (tokenizer_micro.json, tokenizer_tiny.json, ...).
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "data/augment.h"
#include "loss/hml.h"
#include "tokenizer/options.h"

namespace himtok::train {

struct DataSpec {
  std::string source;  // a mask-source spec (data/mask_source.h), e.g. "palette:DIR", "synthetic:100000:7"
  double weight = 1.0; // sampling weight among sources
};

struct Stage1Config {
  tok::TokenizerConfig tokenizer = tok::TokenizerConfig::preset("tiny");
  std::vector<DataSpec> data;
  int val_permille = 50;           // share of groups (sequences/images) held out for validation
  int64_t min_area = 64;           // skip masks smaller than this at native size
  data::AugmentOptions augment;
  loss::HmlConfig hml;
  bool dice_per_sample = true;     // Dice averaged over samples (exact under data parallelism)
  bool random_tail = false;        // also truncate the full level at a uniform length 1..L
  int64_t batch_size = 8;          // global batch (split over processes)
  int64_t steps = 10000;
  double lr = 3e-4, min_lr_ratio = 0.1, weight_decay = 0.05, beta1 = 0.9, beta2 = 0.99, grad_clip = 1.0;
  int64_t warmup_steps = 300;
  int64_t vq_warmup_steps = 300;   // decoder sees l2-normalised z (no quantizer) before this step
  int64_t dead_code_every = 100;   // re-initialise codes unused during the last window (0: off)
  double ema_decay = 0.0;          // 0: no EMA weights
  bool bf16 = false;               // bf16 autocast on the device (CPU or CUDA): matmuls/convs in bf16, norms and losses in fp32
  int64_t log_every = 10, eval_every = 500, ckpt_every = 100;
  int64_t val_masks = 128;
  uint64_t seed = 1;               // model init, train/val split, validation set, batches
  uint64_t data_seed = 0;          // if set, the training batches' seed instead (fine-tuning on fresh draws)

  std::string to_json() const;
  static Stage1Config from_json(const std::string& text, const std::string& context);
  static Stage1Config from_file(const std::string& path);
};

struct Stage1Run {
  std::string out_dir;   // checkpoint.safetensors, metrics.jsonl, config.json, model.safetensors
  bool resume = true;    // continue from out_dir/checkpoint.safetensors if present
  int threads = 0;
  int64_t max_steps = -1;  // stop early at this step (still writes a checkpoint); -1: cfg.steps
  int rank = 0, world_size = 1;   // data parallel (Gloo through a FileStore)
  std::string store_path;         // shared file for the process-group rendezvous
  std::string device = "cpu";     // "cpu" or "cuda" (batches are made on the CPU either way)
  std::string init_from;          // a tokenizer file to start from (fine-tuning; ignored on resume)
  double time_limit_s = 0;        // > 0: after 20 steps, shorten the schedule to end within this time
  // > 0: benchmark mode: kBenchWarmupSteps untimed steps, then this many timed ones, from a fresh
  // model (or --init); no resume, evaluation, checkpoint, metrics or export. Prints masks/s and
  // the step time split into data / forward / backward / optimizer (CUDA: with a device sync
  // after each phase, and the peak device memory in use) and writes out_dir/bench.json.
  int64_t bench_steps = 0;
  // With bench_steps: the last warm-up step runs under libtorch's profiler (nn/op_profile.h); the
  // self time by op is printed and written to bench.json ("profile"). Not in the timed steps.
  bool profile = false;
};

constexpr int64_t kBenchWarmupSteps = 5;  // allocator growth, cuDNN autotuning, first-touch pages

// Trains, writing checkpoints and metrics; returns the last step reached.
int64_t train_stage1(const Stage1Config& cfg, const Stage1Run& run);

// Writes a self-describing tokenizer file (config in the metadata), bf16 or fp32, from a
// checkpoint or model file (EMA weights if present and `use_ema`).
void export_tokenizer(const std::string& checkpoint, const std::string& out_path, bool bf16, bool use_ema);

}  // namespace himtok::train
