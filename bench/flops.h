// Analytic FLOPs (2 x multiply-adds) of one HiMTok decode (decoder ViT + ffn + pixel decoder) and
// one encode (patch embedding + encoder ViT), shared by the tokenizer benchmarks.
#pragma once
#include <cstdint>

#include "tokenizer/options.h"

namespace himtok::bench {

inline double vit_flops(const tok::TokenizerConfig& c) {
  const double C = static_cast<double>(c.width), T = static_cast<double>(1 + c.n_patches() + c.num_latent_tokens);
  const double per_layer = T * (4 * C * C + 2 * C * C * static_cast<double>(c.mlp_ratio)) + 2 * T * T * C;
  return 2 * per_layer * static_cast<double>(c.depth);
}

inline double pixel_flops(const tok::TokenizerConfig& c) {
  double f = 0;
  int64_t res = c.grid();
  auto conv = [&](int64_t cin, int64_t cout, double k, int64_t r) {
    f += 2 * static_cast<double>(cin) * static_cast<double>(cout) * k * k * static_cast<double>(r * r);
  };
  int64_t block_in = c.pixel_hidden_channels * c.pixel_channel_mult.back();
  conv(c.pixel_z_channels, block_in, 3, res);
  for (int i = 0; i < 2; ++i) conv(block_in, block_in, 3, res), conv(block_in, block_in, 3, res);
  for (int64_t lvl = static_cast<int64_t>(c.pixel_channel_mult.size()) - 1; lvl >= 0; --lvl) {
    int64_t out = c.pixel_hidden_channels * c.pixel_channel_mult[static_cast<size_t>(lvl)];
    for (int64_t b = 0; b < c.pixel_num_res_blocks; ++b) {
      conv(block_in, out, 3, res);
      conv(out, out, 3, res);
      if (block_in != out) conv(out, out, 1, res);
      block_in = out;
    }
    if (lvl > 0) {
      res *= 2;
      conv(block_in, block_in, 3, res);
    }
  }
  conv(block_in, 3, 3, res);
  return f;
}

inline double decode_flops(const tok::TokenizerConfig& c) {
  const double C = static_cast<double>(c.width), N = static_cast<double>(c.n_patches());
  const double ffn = 2.0 * N * (C * 2 * C + 2 * C * static_cast<double>(c.pixel_z_channels));
  return vit_flops(c) + ffn + pixel_flops(c);
}

inline double encode_flops(const tok::TokenizerConfig& c) {
  const double patch = 2.0 * 3 * static_cast<double>(c.patch_size * c.patch_size) *
                       static_cast<double>(c.width * c.n_patches());
  return vit_flops(c) + patch;
}

}  // namespace himtok::bench
