#include "train/checkpoint.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/optim/adamw.h>

#include <cmath>
#include <cstdio>
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

std::string tensors_digest(const io::TensorMap& tensors) {
  constexpr uint64_t kOffset = 14695981039346656037ull, kPrime = 1099511628211ull;  // FNV-1a 64
  uint64_t h = kOffset;
  auto mix = [&](const void* p, size_t n) {
    const auto* b = static_cast<const uint8_t*>(p);
    for (size_t i = 0; i < n; ++i) h = (h ^ b[i]) * kPrime;
  };
  for (const auto& [name, t_in] : tensors) {  // std::map: name order
    const at::Tensor t = t_in.detach().to(at::kCPU).contiguous();
    const std::string head = str_cat(name, "|", io::dtype_name(io::dtype_of(t)), "|", io::shape_str(t.sizes().vec()), "|");
    mix(head.data(), head.size());
    if (t.nbytes()) mix(t.data_ptr(), t.nbytes());
  }
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
  return hex;
}

void save_checkpoint(const std::string& path, const Checkpoint& ck) {
  const std::string step = ck.meta.contains("step") ? str_cat(" at step ", ck.meta["step"].dump()) : "";
  // A checkpoint that holds NaN/Inf would replace the last good one with garbage.
  for (const auto& [k, t] : ck.tensors)
    if (t.is_floating_point())
      HIMTOK_CHECK_INPUT(at::isfinite(t).all().item<bool>(), path, ": checkpoint", step, " not written: '", k,
                         "' holds NaN or Inf; the previous checkpoint is unchanged");
  try {
    io::save_tensors(path, ck.tensors,
                     {{kMetaCheckpoint, ck.meta.dump()}, {kMetaDigest, tensors_digest(ck.tensors)}, {"format", "pt"}});
  } catch (const InputError& e) {
    throw InputError(str_cat("checkpoint", step, " not written: ", e.what()));
  }
}

bool load_checkpoint(const std::string& path, Checkpoint& ck) {
  if (!std::filesystem::exists(path)) return false;
  io::Weights w = io::Weights::open(path);  // refuses truncated / malformed files
  auto it = w.metadata().find(kMetaCheckpoint);
  HIMTOK_CHECK_INPUT(it != w.metadata().end(), path, ": not a himtok training checkpoint");
  try {
    ck.meta = nlohmann::json::parse(it->second);
  } catch (const std::exception& e) {
    throw InputError(str_cat(path, ": corrupt checkpoint metadata (", e.what(), ")"));
  }
  HIMTOK_CHECK_INPUT(ck.meta.is_object(), path, ": corrupt checkpoint metadata (not a JSON object)");
  ck.tensors.clear();
  for (const auto& k : w.names()) ck.tensors[k] = w.get(k);
  // Checkpoints written before the digest existed load unchecked.
  auto d = w.metadata().find(kMetaDigest);
  if (d != w.metadata().end()) {
    const std::string got = tensors_digest(ck.tensors);
    HIMTOK_CHECK_INPUT(got == d->second, path, ": corrupt checkpoint (tensor digest ", got, ", the file says ",
                       d->second, "); refusing to resume from it");
  }
  return true;
}

bool NonFiniteGuard::accept(double loss, double grad_norm, int64_t step, const std::string& checkpoint_path) {
  if (std::isfinite(loss) && std::isfinite(grad_norm)) {
    in_a_row_ = 0;
    return true;
  }
  if (in_a_row_++ == 0) first_bad_ = step;
  HIMTOK_CHECK_INPUT(in_a_row_ < max_in_a_row_, "training stopped at step ", step, ": loss ", loss, ", gradient norm ",
                     grad_norm, " - NaN or Inf in ", in_a_row_, " steps in a row (steps ", first_bad_, "..", step,
                     " not applied); the last good checkpoint ", checkpoint_path,
                     " is intact: lower the learning rate or check the data, then resume");
  return false;
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
