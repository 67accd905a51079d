// Training checkpoints that resume exactly (tier 1). One safetensors file holds:
//   model.<key>           every parameter and buffer (fp32)
//   ema.<key>             EMA weights, if any
//   optim.<i>.{exp_avg, exp_avg_sq, step}   AdamW state per parameter index
//   rng.torch             libtorch's CPU generator state
// and in __metadata__ "himtok.checkpoint": a JSON object (step, config, std RNG state, anything
// the trainer needs), and "himtok.checkpoint_digest": FNV-1a 64 of every tensor's name, dtype,
// shape and bytes, checked on load (a flipped byte is refused, not trained on).
// Written atomically (temp file + rename), so a run killed at any moment, or a write that fails
// half-way (full disk, `ulimit -f`), leaves the old checkpoint loadable, never half of a new one.
// Faults (docs/RELIABILITY.md): a failed write and a checkpoint holding NaN/Inf are InputErrors
// saying the previous checkpoint is intact; a corrupt file is refused on load.
#pragma once
#include <ATen/core/Tensor.h>

#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "io/weights.h"

namespace torch::optim {
class AdamW;
}

namespace himtok::train {

struct Checkpoint {
  io::TensorMap tensors;
  nlohmann::json meta = nlohmann::json::object();
};

void save_checkpoint(const std::string& path, const Checkpoint& ck);
// Returns false if `path` does not exist; InputError if it exists but is not a checkpoint.
bool load_checkpoint(const std::string& path, Checkpoint& ck);

// AdamW state <-> tensors "optim.<i>.*" in parameter order.
void put_optimizer(Checkpoint& ck, torch::optim::AdamW& opt, const std::vector<at::Tensor>& params);
void get_optimizer(const Checkpoint& ck, torch::optim::AdamW& opt, const std::vector<at::Tensor>& params);

// libtorch's default CPU generator <-> "rng.torch".
void put_torch_rng(Checkpoint& ck);
void get_torch_rng(const Checkpoint& ck);

// std::mt19937_64 <-> a string (its stream form).
std::string rng_to_string(const std::mt19937_64& rng);
void rng_from_string(std::mt19937_64& rng, const std::string& s);

// The metadata key of the JSON object.
inline constexpr const char* kMetaCheckpoint = "himtok.checkpoint";
inline constexpr const char* kMetaDigest = "himtok.checkpoint_digest";

// FNV-1a 64 over the tensors in name order (name, dtype, shape, contiguous CPU bytes), as hex.
std::string tensors_digest(const io::TensorMap& tensors);

// Non-finite steps: a trainer applies no update for a step whose loss or gradient norm is NaN or
// Inf, and stops (InputError naming the steps and the checkpoint left intact) after
// `max_in_a_row` such steps in a row. One good step resets the count.
class NonFiniteGuard {
 public:
  explicit NonFiniteGuard(int max_in_a_row = 3) : max_in_a_row_(max_in_a_row) {}
  // true: apply the step. false: skip it. Throws on the max_in_a_row-th bad step in a row.
  bool accept(double loss, double grad_norm, int64_t step, const std::string& checkpoint_path);
  int in_a_row() const { return in_a_row_; }

 private:
  int max_in_a_row_;
  int in_a_row_ = 0;
  int64_t first_bad_ = -1;
};

}  // namespace himtok::train
