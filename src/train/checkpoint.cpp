#include "train/checkpoint.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/optim/adamw.h>

#include <filesystem>
#include <sstream>
#include <type_traits>
#include <utility>

#include "common/error.h"

namespace himtok::train {

namespace {
// The optimizer's state map is keyed by the parameter's TensorImpl: as a string in libtorch
// 1.13 (c10::guts::to_string of the pointer), as the pointer itself in libtorch >= 2.1.
using StateMap = std::decay_t<decltype(std::declval<torch::optim::AdamW&>().state())>;
template <class K>
K state_key_as(at::TensorImpl* p) {
  if constexpr (std::is_same_v<K, std::string>) {
    std::ostringstream os;
    os << static_cast<void*>(p);
    return os.str();
  } else {
    return p;
  }
}
typename StateMap::key_type state_key(const at::Tensor& t) {
  return state_key_as<typename StateMap::key_type>(t.unsafeGetTensorImpl());
}
}  // namespace

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
    auto it = state.find(state_key(params[i]));
    if (it == state.end()) continue;
    auto& s = static_cast<torch::optim::AdamWParamState&>(*it->second);
    const std::string p = "optim." + std::to_string(i) + ".";
    // A CPU copy (one copy from any device: .cpu().clone() would copy twice off the CPU).
    ck.tensors[p + "exp_avg"] = s.exp_avg().to(at::kCPU, /*non_blocking=*/false, /*copy=*/true);
    ck.tensors[p + "exp_avg_sq"] = s.exp_avg_sq().to(at::kCPU, /*non_blocking=*/false, /*copy=*/true);
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
    state[state_key(params[i])] = std::move(s);
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
