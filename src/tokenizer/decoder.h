// HiMTok decoder (1d-tokenizer blocks_multi_length.py TiTokDecoder): tokens -> 16x16 feature map.
// Keys under "decoder.".
//   decoder_embed  Linear(D -> C)                 z (B,D,1,T) -> (B,T,C), T <= L
//   T < L          append L-T ZERO vectors (after the embedding, not decoder_embed(0))
//   training       optional random tail truncation: keep 1..L tokens (uniform), zero the rest
//   queries        [cls, mask_token x N] + positional_embedding                 (B,1+N,C)
//   sequence       [queries, latents + latent_token_positional_embedding]       (B,1+N+L,C)
//   ln_pre, blocks (no mask), tokens 1..N, ln_post -> (B,C,G,G)
//   ffn (legacy)   Conv1x1(C -> 2C), tanh, Conv1x1(2C -> Z)                      (B,Z,G,G)
#pragma once
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>

#include "nn/vit_block.h"
#include "tokenizer/options.h"

namespace himtok::tok {

struct DecoderTrace {  // optional checkpoints for debugging and golden tests
  at::Tensor ln_post;  // (B,N,C)
};

class DecoderImpl : public torch::nn::Module {
 public:
  explicit DecoderImpl(const TokenizerConfig& cfg);
  // z: (B,D,1,T) with 1 <= T <= L. keep_lengths: optional (B,) int64 in [1,L]: tokens past each
  // sample's length are zeroed after the embedding (stage-1 random tail truncation).
  at::Tensor forward(const at::Tensor& z, const at::Tensor& keep_lengths = {}, DecoderTrace* trace = nullptr);

  TokenizerConfig cfg;
  at::Tensor class_embedding, positional_embedding, mask_token, latent_token_positional_embedding;
  torch::nn::Linear decoder_embed{nullptr};
  torch::nn::LayerNorm ln_pre{nullptr}, ln_post{nullptr};
  torch::nn::ModuleList transformer{nullptr};
  torch::nn::Sequential ffn{nullptr};
};
TORCH_MODULE(Decoder);

}  // namespace himtok::tok
