// HiMTok encoder: ViT over [cls, N patches, L latent tokens] with the causal latent mask
// (1d-tokenizer TiTokEncoder as used by himt/himt.py). Keys under "encoder.".
//   patch_embed  Conv2d(3 -> C, k=p, s=p)         (B,3,S,S) -> (B,C,G,G) -> (B,N,C)
//   tokens       [cls + pos0, patches + pos1..N, latents + latent_pos]   (B, 1+N+L, C)
//   attn_mask    bool (1+N+L, 1+N+L), true = blocked: image tokens see no latent; latent k sees
//                every image token and latents 0..k. A persistent buffer (it is in the weights).
//   ln_post on the L latents, then conv_out (1x1, C -> D) after the legacy flat reshape
//   (B, L, C) -> (B, C, L, 1), which mixes all latents into every output token.
#pragma once
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/normalization.h>

#include "nn/vit_block.h"
#include "tokenizer/options.h"

namespace himtok::tok {

// Sin-cos initial values (MAE-style) for freshly built models: (1+N, C) with row 0 (cls) zero and
// rows 1..N a 2-D sin-cos code of the G x G grid; and (L, C) 1-D codes of the latent positions.
// Trained weights overwrite them; they only give training a spatial starting point.
at::Tensor sincos_grid_embedding(int64_t grid, int64_t dim);
at::Tensor sincos_1d_embedding(int64_t n, int64_t dim);

// The (1+N+L)^2 causal latent mask of TiTokEncoder.__init__ (true = may not attend).
at::Tensor make_latent_causal_mask(int64_t n_image_tokens, int64_t n_latent);

class EncoderImpl : public torch::nn::Module {
 public:
  explicit EncoderImpl(const TokenizerConfig& cfg);
  // pixels: (B,3,S,S) in [0,1]; latent_tokens: (L,C)  ->  z: (B,D,1,L) before quantisation.
  // If ln_post_out is given it receives the (B,L,C) ln_post output.
  at::Tensor forward(const at::Tensor& pixels, const at::Tensor& latent_tokens, at::Tensor* ln_post_out = nullptr);

  TokenizerConfig cfg;
  at::Tensor class_embedding, positional_embedding, latent_token_positional_embedding, attn_mask;
  torch::nn::Conv2d patch_embed{nullptr}, conv_out{nullptr};
  torch::nn::LayerNorm ln_pre{nullptr}, ln_post{nullptr};
  torch::nn::ModuleList transformer{nullptr};
};
TORCH_MODULE(Encoder);

}  // namespace himtok::tok
