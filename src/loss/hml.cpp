#include "loss/hml.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "nn/autocast.h"

namespace himtok::loss {

double sigma_paper(int64_t l) { return 100.0 / static_cast<double>(l + 1) - 2.0; }
double sigma_official(int64_t idx) { return 100.0 / static_cast<double>(idx + 2) - 2.0; }

at::Tensor blur_label(const at::Tensor& target, double sigma) {
  if (!(sigma > 0)) return target;
  TORCH_CHECK(target.dim() == 3, "blur_label: target must be (B,H,W)");
  // Labels are computed in fp32 even inside a bf16 autocast region (CPU or CUDA).
  const nn::NoAutocast no_autocast;
  const int64_t H = target.size(1), W = target.size(2);
  const int64_t r = static_cast<int64_t>(std::ceil(3.0 * sigma));
  // 1-D factor g(x) = exp(-x^2/(2 s^2)) / sum; the official 2-D kernel is g(x) g(y) exactly.
  std::vector<double> g(2 * r + 1);
  double sum = 0;
  for (int64_t i = -r; i <= r; ++i) sum += g[i + r] = std::exp(-static_cast<double>(i * i) / (2 * sigma * sigma));
  for (auto& v : g) v /= sum;
  auto conv1d = [&](const at::Tensor& x, int64_t n, bool along_h) {
    const int64_t rr = std::min(r, n - 1);  // farther taps only ever meet the zero padding
    // Taps g[r-rr .. r+rr], built in one op (this runs for every level of every training step).
    at::Tensor k = at::tensor(at::ArrayRef<double>(g.data() + (r - rr), static_cast<size_t>(2 * rr + 1)), at::kDouble)
                       .to(x.device(), x.scalar_type());
    const at::Tensor no_bias;
    if (along_h) return at::conv2d(x, k.view({1, 1, 2 * rr + 1, 1}), no_bias, at::IntArrayRef{1, 1}, at::IntArrayRef{rr, 0});
    return at::conv2d(x, k.view({1, 1, 1, 2 * rr + 1}), no_bias, at::IntArrayRef{1, 1}, at::IntArrayRef{0, rr});
  };
  at::Tensor x = target.to(at::kFloat).unsqueeze(1);  // (B,1,H,W)
  x = conv1d(conv1d(x, H, true), W, false).squeeze(1);
  at::Tensor mx = std::get<0>(x.flatten(1).max(1)).clamp_min(1e-6).view({-1, 1, 1});
  return x / mx;
}

at::Tensor bce_prob(const at::Tensor& pred, const at::Tensor& target) {
  at::Tensor p = pred.to(at::kFloat).clamp(1e-6f, 1.0f - 1e-6f);  // fp32 clamp, as the official code
  at::Tensor t = target.to(at::kFloat);
  return -(t * at::log(p) + (1 - t) * at::log(1 - p)).mean();
}

at::Tensor dice_prob(const at::Tensor& pred, const at::Tensor& target) {
  at::Tensor p = pred.to(at::kFloat).clamp(1e-6f, 1.0f - 1e-6f);
  at::Tensor t = target.to(at::kFloat);
  return 1 - (2 * (p * t).sum() + 1e-6) / (p.sum() + t.sum() + 1e-6);
}

// Draws k distinct values from weights w (numpy.random.choice(replace=False) semantics: sequential
// draws renormalised over the remaining values).
static std::vector<int64_t> choice_without_replacement(std::vector<double> w, int64_t k, std::mt19937_64& rng) {
  std::vector<int64_t> out;
  std::uniform_real_distribution<double> u(0.0, 1.0);
  for (int64_t n = 0; n < k; ++n) {
    double total = 0;
    for (double v : w) total += v;
    if (total <= 0) break;
    double x = u(rng) * total, acc = 0;
    size_t pick = w.size() - 1;
    for (size_t i = 0; i < w.size(); ++i) {
      acc += w[i];
      if (w[i] > 0 && x < acc) {
        pick = i;
        break;
      }
    }
    while (w[pick] <= 0 && pick > 0) --pick;
    out.push_back(static_cast<int64_t>(pick));
    w[pick] = 0;
  }
  return out;
}

std::vector<Level> sample_levels_paper(const HmlConfig& cfg, int64_t L, std::mt19937_64& rng) {
  std::vector<double> w(static_cast<size_t>(L), 0.0);
  for (int64_t l = 1; l < L; ++l) w[l] = 1.0 / (static_cast<double>(l) + cfg.level_bias);
  std::vector<Level> levels;
  for (int64_t l : choice_without_replacement(w, std::min<int64_t>(cfg.n_levels, L - 1), rng))
    levels.push_back({l, std::max(0.0, sigma_paper(l) * cfg.sigma_scale)});
  return levels;
}

std::vector<Level> sample_levels_official(const HmlConfig& cfg, int64_t L, std::mt19937_64& rng) {
  std::vector<double> w(static_cast<size_t>(L));
  for (int64_t x = 0; x < L; ++x) w[x] = 1.0 / (static_cast<double>(x) + 9.0);
  std::vector<Level> levels;
  for (int64_t x : choice_without_replacement(w, std::min<int64_t>(cfg.n_levels, L), rng)) {
    int64_t idx = x - 1;
    int64_t kept = idx >= 0 ? idx : L - 1;  // probs[:, :-1] keeps L-1 tokens
    levels.push_back({kept, std::max(0.0, sigma_official(idx) * cfg.sigma_scale)});
  }
  return levels;
}

std::string HmlConfig::to_json() const {
  nlohmann::json j = {{"n_levels", n_levels},         {"level_bias", level_bias},     {"sigma_scale", sigma_scale},
                      {"dice_weight", dice_weight},   {"full_weight", full_weight},   {"level_weight", level_weight},
                      {"official_variant", official_variant}};
  return j.dump();
}

HmlConfig HmlConfig::from_json(const std::string& text) {
  HmlConfig c;
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
    if (j.contains("n_levels")) c.n_levels = j["n_levels"].get<int64_t>();
    if (j.contains("level_bias")) c.level_bias = j["level_bias"].get<double>();
    if (j.contains("sigma_scale")) c.sigma_scale = j["sigma_scale"].get<double>();
    if (j.contains("dice_weight")) c.dice_weight = j["dice_weight"].get<double>();
    if (j.contains("full_weight")) c.full_weight = j["full_weight"].get<double>();
    if (j.contains("level_weight")) c.level_weight = j["level_weight"].get<double>();
    if (j.contains("official_variant")) c.official_variant = j["official_variant"].get<bool>();
  } catch (const std::exception& e) {
    throw InputError(str_cat("hml config: ", e.what()));
  }
  return c;
}

}  // namespace himtok::loss
