// SimVQ-style quantizer (himt/quantizer/quantizer.py VectorQuantizer): ids <-> codes.
//   codebook C = embedding.weight (K,D) @ embedding_proj.weight (D,D)^T      (K, D), NOT normalised
//   ids      = argmin_k || n(z) - n(C_k) ||^2  with n = l2-normalise (eps 1e-12), first index on ties
//   z_q      = n(C[ids]);   straight-through: z + sg(z_q - z)
//   losses   = commitment_cost * mean((sg(z_q) - z)^2) + mean((z_q - sg(z))^2)
// Keys under "quantize.": embedding.weight (K,D), embedding_proj.weight (D,D).
#pragma once
#include <torch/nn/module.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>

#include "tokenizer/options.h"

namespace himtok::tok {

struct QuantizerOutput {
  at::Tensor z_quantized;      // (B,D,1,L), straight-through
  at::Tensor ids;              // (B,L) int64
  at::Tensor commitment_loss;  // scalar
  at::Tensor codebook_loss;    // scalar
  at::Tensor quantizer_loss;   // scalar: the sum
};

class QuantizerImpl : public torch::nn::Module {
 public:
  explicit QuantizerImpl(const TokenizerConfig& cfg);
  QuantizerOutput forward(const at::Tensor& z);  // z: (B,D,1,L)
  at::Tensor codebook() const;                   // (K,D), raw (decode_prob's convention)
  at::Tensor lookup(const at::Tensor& ids) const;  // (B,L) -> (B,D,1,L), normalised rows if use_l2_norm
  at::Tensor lookup_probs(const at::Tensor& probs) const;  // (B,T,K) -> (B,D,1,T) raw rows

  TokenizerConfig cfg;
  torch::nn::Embedding embedding{nullptr};
  torch::nn::Linear embedding_proj{nullptr};
};
TORCH_MODULE(Quantizer);

}  // namespace himtok::tok
