#include "tokenizer/decoder.h"

#include "tokenizer/encoder.h"

#include "nn/precision.h"

#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/conv.h>

#include <cmath>

namespace himtok::tok {

DecoderImpl::DecoderImpl(const TokenizerConfig& c) : cfg(c) {
  const int64_t C = cfg.width, N = cfg.n_patches(), L = cfg.num_latent_tokens;
  const double scale = std::pow(static_cast<double>(C), -0.5);
  class_embedding = register_parameter("class_embedding", torch::randn({1, C}) * scale);
  positional_embedding =
      register_parameter("positional_embedding", sincos_grid_embedding(cfg.grid(), C) * 0.5 + torch::randn({N + 1, C}) * scale * 0.1);
  mask_token = register_parameter("mask_token", torch::randn({1, 1, C}) * scale);
  latent_token_positional_embedding =
      register_parameter("latent_token_positional_embedding", sincos_1d_embedding(L, C) * 0.5 + torch::randn({L, C}) * scale * 0.1);
  decoder_embed = register_module("decoder_embed", torch::nn::Linear(cfg.token_size, C));
  ln_pre = register_module("ln_pre", torch::nn::LayerNorm(torch::nn::LayerNormOptions({C}).eps(cfg.layernorm_eps)));
  transformer = register_module("transformer", torch::nn::ModuleList());
  for (int64_t i = 0; i < cfg.depth; ++i)
    transformer->push_back(nn::ResidualAttentionBlock(C, cfg.heads, cfg.mlp_ratio, cfg.layernorm_eps));
  ln_post = register_module("ln_post", torch::nn::LayerNorm(torch::nn::LayerNormOptions({C}).eps(cfg.layernorm_eps)));
  ffn = register_module(
      "ffn", torch::nn::Sequential(torch::nn::Conv2d(torch::nn::Conv2dOptions(C, 2 * C, 1).bias(true)),
                                   torch::nn::Tanh(),
                                   torch::nn::Conv2d(torch::nn::Conv2dOptions(2 * C, cfg.pixel_z_channels, 1).bias(true))));
}

at::Tensor DecoderImpl::forward(const at::Tensor& z, const at::Tensor& keep_lengths, DecoderTrace* trace) {
  const int64_t B = z.size(0), C = cfg.width, N = cfg.n_patches(), L = cfg.num_latent_tokens, G = cfg.grid();
  TORCH_CHECK(z.dim() == 4 && z.size(1) == cfg.token_size && z.size(2) == 1 && z.size(3) >= 1 && z.size(3) <= L,
              "decoder: z must be (B,", cfg.token_size, ",1,T<=", L, "), got ", z.sizes());
  const int64_t T = z.size(3);
  const auto dt = decoder_embed->weight.scalar_type();
  at::Tensor x = nn::linear(z.reshape({B, cfg.token_size, T}).permute({0, 2, 1}).to(dt), decoder_embed->weight,
                            decoder_embed->bias);  // (B,T,C)
  if (keep_lengths.defined()) {
    at::Tensor pos = at::arange(T, keep_lengths.options()).unsqueeze(0);        // (1,T)
    at::Tensor keep = (pos < keep_lengths.unsqueeze(1)).to(x.scalar_type());   // (B,T)
    x = x * keep.unsqueeze(2);
  }
  if (T < L) x = at::cat({x, at::zeros({B, L - T, C}, x.options())}, 1);       // (B,L,C)
  at::Tensor q = mask_token.to(x.scalar_type()).expand({B, N, C});
  q = at::cat({class_embedding.to(x.scalar_type()).unsqueeze(0).expand({B, 1, C}), q}, 1);
  q = q + positional_embedding.to(x.scalar_type());                            // (B,1+N,C)
  x = x + latent_token_positional_embedding.to(x.scalar_type());
  x = at::cat({q, x}, 1);                                                      // (B,1+N+L,C)
  x = nn::layer_norm_fp32(x, ln_pre);
  for (const auto& blk : *transformer) x = blk->as<nn::ResidualAttentionBlock>()->forward(x, at::Tensor());
  x = x.slice(1, 1, 1 + N);
  x = nn::layer_norm_fp32(x, ln_post);                                         // (B,N,C)
  if (trace) trace->ln_post = x;
  const auto ffn_dt = ffn[0]->as<torch::nn::Conv2dImpl>()->weight.scalar_type();
  x = x.permute({0, 2, 1}).reshape({B, C, G, G}).to(ffn_dt).contiguous();
  x = at::tanh(nn::conv2d(*ffn[0]->as<torch::nn::Conv2dImpl>(), x));
  return nn::conv2d(*ffn[2]->as<torch::nn::Conv2dImpl>(), x);                    // (B,Z,G,G)
}

}  // namespace himtok::tok
