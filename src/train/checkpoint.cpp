#include "train/checkpoint.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/optim/adamw.h>

#include <filesystem>
#include <sstream>

#include "common/error.h"

namespace himtok::train {

void save_checkpoint(const std::string& path, const Checkpoint& ck) {
  io::save_tensors(path, ck.tensors, {{kMetaCheckpoint, ck.meta.dump()}, {"format", "pt"}});
}

bool load_checkpoint(const std::string& path, Checkpoint& ck) {
  if (!std::filesystem::exists(path)) return false;
  io::Weights w = io::Weights::open(path);
  auto it = w.metadata().find(kMetaCheckpoint);
  HIMTOK_CHECK_INPUT(it != w.metadata().end(), path, ": not a himtok training checkpoint");
  try {
    ck.meta = nlohmann::json::parse(it->second);
  } catch (const std::exception& e) {
    throw InputError(str_cat(path, ": corrupt checkpoint metadata (", e.what(), ")"));
  }
  ck.tensors.clear();
  for (const auto& k : w.names()) ck.tensors[k] = w.get(k);
  return true;
}

void put_optimizer(Checkpoint& ck, torch::optim::AdamW& opt, const std::vector<at::Tensor>& params) {
  auto& state = opt.state();
  for (size_t i = 0; i < params.size(); ++i) {
    auto it = state.find(c10::guts::to_string(params[i].unsafeGetTensorImpl()));
    if (it == state.end()) continue;
    auto& s = static_cast<torch::optim::AdamWParamState&>(*it->second);
    const std::string p = "optim." + std::to_string(i) + ".";
    ck.tensors[p + "exp_avg"] = s.exp_avg().clone();
    ck.tensors[p + "exp_avg_sq"] = s.exp_avg_sq().clone();
    ck.tensors[p + "step"] = at::full({1}, static_cast<double>(s.step()), at::kDouble);
  }
}

void get_optimizer(const Checkpoint& ck, torch::optim::AdamW& opt, const std::vector<at::Tensor>& params) {
  auto& state = opt.state();
  for (size_t i = 0; i < params.size(); ++i) {
    const std::string p = "optim." + std::to_string(i) + ".";
    auto a = ck.tensors.find(p + "exp_avg");
    if (a == ck.tensors.end()) continue;
    auto s = std::make_unique<torch::optim::AdamWParamState>();
    HIMTOK_CHECK_INPUT(a->second.sizes() == params[i].sizes(), "checkpoint: optimizer state ", i, " has shape ",
                       a->second.sizes(), ", parameter has ", params[i].sizes());
    s->exp_avg(a->second.clone().to(params[i].options()));
    s->exp_avg_sq(ck.tensors.at(p + "exp_avg_sq").clone().to(params[i].options()));
    s->step(static_cast<int64_t>(ck.tensors.at(p + "step").item<double>()));
    state[c10::guts::to_string(params[i].unsafeGetTensorImpl())] = std::move(s);
  }
}

void put_torch_rng(Checkpoint& ck) {
  auto gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  ck.tensors["rng.torch"] = gen.get_state();
}

void get_torch_rng(const Checkpoint& ck) {
  auto it = ck.tensors.find("rng.torch");
  if (it == ck.tensors.end()) return;
  auto gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(it->second);
}

std::string rng_to_string(const std::mt19937_64& rng) {
  std::ostringstream os;
  os << rng;
  return os.str();
}

void rng_from_string(std::mt19937_64& rng, const std::string& s) {
  std::istringstream is(s);
  is >> rng;
  HIMTOK_CHECK_INPUT(!is.fail(), "checkpoint: corrupt RNG state");
}

}  // namespace himtok::train
