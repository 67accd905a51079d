#include "tokenizer/encoder.h"

#include <torch/nn/init.h>

#include "nn/precision.h"

#include <cmath>

namespace himtok::tok {

at::Tensor make_latent_causal_mask(int64_t n_image, int64_t n_latent) {
  const int64_t T = n_image + n_latent;
  at::Tensor m = at::zeros({T, T}, at::TensorOptions().dtype(at::kBool));
  auto a = m.accessor<bool, 2>();
  for (int64_t i = 0; i < T; ++i)
    for (int64_t j = std::max(n_image, i + 1); j < T; ++j) a[i][j] = true;
  return m;
}

static at::Tensor sincos(const at::Tensor& pos, int64_t dim) {  // pos (n) -> (n, dim)
  const int64_t half = dim / 2;
  at::Tensor omega = at::arange(half, at::kDouble) / static_cast<double>(std::max<int64_t>(1, half));
  omega = 1.0 / at::pow(10000.0, omega);
  at::Tensor out = pos.to(at::kDouble).unsqueeze(1) * omega.unsqueeze(0);  // (n, half)
  at::Tensor e = at::cat({at::sin(out), at::cos(out)}, 1);
  if (e.size(1) < dim) e = at::cat({e, at::zeros({e.size(0), dim - e.size(1)}, at::kDouble)}, 1);
  return e.to(at::kFloat);
}

at::Tensor sincos_grid_embedding(int64_t grid, int64_t dim) {
  at::Tensor ys = at::arange(grid, at::kLong).repeat_interleave(grid), xs = at::arange(grid, at::kLong).repeat({grid});
  at::Tensor e = at::cat({sincos(ys, dim / 2), sincos(xs, dim - dim / 2)}, 1);  // (N, dim)
  return at::cat({at::zeros({1, dim}), e}, 0);
}

at::Tensor sincos_1d_embedding(int64_t n, int64_t dim) { return sincos(at::arange(n, at::kLong), dim); }

EncoderImpl::EncoderImpl(const TokenizerConfig& c) : cfg(c) {
  const int64_t C = cfg.width, N = cfg.n_patches(), L = cfg.num_latent_tokens;
  const double scale = std::pow(static_cast<double>(C), -0.5);
  class_embedding = register_parameter("class_embedding", torch::randn({1, C}) * scale);
  positional_embedding =
      register_parameter("positional_embedding", sincos_grid_embedding(cfg.grid(), C) * 0.5 + torch::randn({N + 1, C}) * scale * 0.1);
  latent_token_positional_embedding =
      register_parameter("latent_token_positional_embedding", sincos_1d_embedding(L, C) * 0.5 + torch::randn({L, C}) * scale * 0.1);
  attn_mask = register_buffer("attn_mask", make_latent_causal_mask(N + 1, L));
  patch_embed = register_module(
      "patch_embed",
      torch::nn::Conv2d(torch::nn::Conv2dOptions(3, C, cfg.patch_size).stride(cfg.patch_size).bias(true)));
  ln_pre = register_module("ln_pre", torch::nn::LayerNorm(torch::nn::LayerNormOptions({C}).eps(cfg.layernorm_eps)));
  transformer = register_module("transformer", torch::nn::ModuleList());
  for (int64_t i = 0; i < cfg.depth; ++i)
    transformer->push_back(nn::ResidualAttentionBlock(C, cfg.heads, cfg.mlp_ratio, cfg.layernorm_eps));
  ln_post = register_module("ln_post", torch::nn::LayerNorm(torch::nn::LayerNormOptions({C}).eps(cfg.layernorm_eps)));
  conv_out = register_module("conv_out", torch::nn::Conv2d(torch::nn::Conv2dOptions(C, cfg.token_size, 1).bias(true)));
}

at::Tensor EncoderImpl::forward(const at::Tensor& pixels, const at::Tensor& latent_tokens, at::Tensor* ln_post_out) {
  const int64_t B = pixels.size(0), C = cfg.width, N = cfg.n_patches(), L = cfg.num_latent_tokens;
  TORCH_CHECK(pixels.dim() == 4 && pixels.size(1) == 3 && pixels.size(2) == cfg.image_size &&
                  pixels.size(3) == cfg.image_size,
              "encoder: pixels must be (B,3,", cfg.image_size, ",", cfg.image_size, "), got ", pixels.sizes());
  const auto dt = patch_embed->weight.scalar_type();
  at::Tensor x = nn::conv2d(*patch_embed, pixels.to(dt));        // (B,C,G,G)
  x = x.reshape({B, C, N}).permute({0, 2, 1});               // (B,N,C)
  x = at::cat({class_embedding.to(x.scalar_type()).unsqueeze(0).expand({B, 1, C}), x}, 1);  // (B,1+N,C)
  x = x + positional_embedding.to(x.scalar_type());
  at::Tensor lat = (latent_tokens + latent_token_positional_embedding).to(x.scalar_type());
  x = at::cat({x, lat.unsqueeze(0).expand({B, L, C})}, 1);   // (B,1+N+L,C)
  x = nn::layer_norm_fp32(x, ln_pre);
  for (const auto& blk : *transformer) x = blk->as<nn::ResidualAttentionBlock>()->forward(x, attn_mask);
  x = x.slice(1, 1 + N, 1 + N + L);                          // (B,L,C)
  x = nn::layer_norm_fp32(x, ln_post);
  if (ln_post_out) *ln_post_out = x;
  if (cfg.legacy_reshape)
    x = x.reshape({B, C, L, 1});                             // flat reinterpretation (TiTok legacy)
  else
    x = x.reshape({B, L, C, 1}).permute({0, 2, 1, 3});
  x = nn::conv2d(*conv_out, x.to(conv_out->weight.scalar_type()).contiguous());  // (B,D,L,1)
  return x.reshape({B, cfg.token_size, 1, L});
}

}  // namespace himtok::tok
