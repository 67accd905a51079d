// Hierarchical mask loss (paper Sec. 3.2 and Appendix A; official internvl_chat/himt.py
// label_cos2fine / compute_bce_loss_prob / compute_dice_loss_prob). Tier 1.
//   level l (1 <= l < L tokens) is supervised with the full mask blurred by a Gaussian of
//   sigma(l) = 100/(l+1) - 2 (zero padding, kernel side 2*ceil(3 sigma)+1), divided by its max;
//   the full level (all L tokens) with the sharp mask. Per level: BCE + dice_weight * Dice.
// Shapes: pred, target (B,H,W) probabilities in [0,1].
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace himtok::loss {

// The blurred label: Gaussian blur (separable, exactly the normalised 2-D kernel of the official
// code factorised; offsets past the image only meet zero padding and are cropped) then / max(.,1e-6).
// sigma <= 0 returns the target unchanged.  target: (B,H,W) -> (B,H,W)
at::Tensor blur_label(const at::Tensor& target, double sigma);

// sigma of the paper for a prefix of l tokens, and of the official code for its draw idx.
double sigma_paper(int64_t l);
double sigma_official(int64_t idx);

// Mean BCE with p clamped to [1e-6, 1-1e-6] in fp32; Dice = 1 - (2 sum(pt) + 1e-6)/(sum p + sum t + 1e-6)
// over the whole tensor (batch included), p clamped the same way.
at::Tensor bce_prob(const at::Tensor& pred, const at::Tensor& target);
at::Tensor dice_prob(const at::Tensor& pred, const at::Tensor& target);

struct HmlConfig {
  int64_t n_levels = 3;          // sampled levels besides the full one
  double level_bias = 8.0;       // p_l proportional to 1/(l + level_bias)
  double sigma_scale = 1.0;      // ablation: sigma(l) * sigma_scale (1 = paper; < 1 sharper labels)
  double dice_weight = 1.0;      // per level: BCE + dice_weight * Dice (paper: BCE + Dice)
  double full_weight = 1.0;      // weight of the full level's loss
  double level_weight = 1.0;     // weight of each sampled level's loss (averaged over levels)
  bool official_variant = false; // the released code's stage-2 sampling (see official_levels)
  std::string to_json() const;
  static HmlConfig from_json(const std::string& text);
};

struct Level {
  int64_t tokens;  // prefix length decoded (0..L)
  double sigma;    // label blur (0 = sharp)
};

// Paper: 3 distinct l in [1, L) with p_l ~ 1/(l + 8).
std::vector<Level> sample_levels_paper(const HmlConfig& cfg, int64_t L, std::mt19937_64& rng);
// Official code: x ~ p(x) ~ 1/(x+9) on [0, L), idx = x - 1; tokens kept = idx (idx = -1 keeps
// L-1 through Python slicing), sigma = 100/(idx+2) - 2. Documented off-by-one (spec 3.2).
std::vector<Level> sample_levels_official(const HmlConfig& cfg, int64_t L, std::mt19937_64& rng);

}  // namespace himtok::loss
