// Training checkpoints that resume exactly (tier 1). One safetensors file holds:
//   model.<key>           every parameter and buffer (fp32)
//   ema.<key>             EMA weights, if any
//   optim.<i>.{exp_avg, exp_avg_sq, step}   AdamW state per parameter index
//   rng.torch             libtorch's CPU generator state
// and in __metadata__ "himtok.checkpoint": a JSON object (step, config, std RNG state, anything
// the trainer needs). Written atomically (temp file + rename), so a run killed at any moment
// leaves either the old or the new checkpoint, never half of one.
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

}  // namespace himtok::train
