#include "tokenizer/quantizer.h"

#include <ATen/ATen.h>
#include <torch/nn/init.h>

namespace himtok::tok {

static at::Tensor l2n(const at::Tensor& x) {
  // F.normalize(x, dim=-1): x / max(||x||, 1e-12)
  return x / x.norm(2, {-1}, true).clamp_min(1e-12);
}

QuantizerImpl::QuantizerImpl(const TokenizerConfig& c) : cfg(c) {
  embedding = register_module("embedding", torch::nn::Embedding(cfg.codebook_size, cfg.token_size));
  torch::nn::init::uniform_(embedding->weight, -1.0 / cfg.codebook_size, 1.0 / cfg.codebook_size);
  embedding_proj = register_module(
      "embedding_proj", torch::nn::Linear(torch::nn::LinearOptions(cfg.token_size, cfg.token_size).bias(false)));
}

at::Tensor QuantizerImpl::codebook() const { return at::matmul(embedding->weight, embedding_proj->weight.t()); }

at::Tensor QuantizerImpl::lookup(const at::Tensor& ids) const {
  at::Tensor e = at::embedding(codebook(), ids);  // (B,L,D)
  if (cfg.use_l2_norm) e = l2n(e);
  return e.permute({0, 2, 1}).unsqueeze(2);       // (B,D,1,L)
}

at::Tensor QuantizerImpl::lookup_probs(const at::Tensor& probs) const {
  at::Tensor z = at::matmul(probs.to(embedding->weight.scalar_type()), codebook());  // (B,T,D)
  return z.permute({0, 2, 1}).unsqueeze(2);                                         // (B,D,1,T)
}

QuantizerOutput QuantizerImpl::forward(const at::Tensor& z_in) {
  const int64_t B = z_in.size(0), D = z_in.size(1), L = z_in.size(3);
  at::Tensor z = z_in.permute({0, 2, 3, 1}).reshape({B * L, D});  // (B*L, D)
  at::Tensor e = codebook();
  if (cfg.use_l2_norm) {
    z = l2n(z);
    e = l2n(e);
  }
  // d = ||z||^2 + ||e||^2 - 2 z.e  (same expression and order as the official code)
  at::Tensor d = z.pow(2).sum(1, true) + e.pow(2).sum(1).unsqueeze(0) - 2 * at::matmul(z, e.t());
  at::Tensor ids = d.argmin(1);                                  // (B*L)
  at::Tensor zq = at::embedding(e, ids);                         // normalised rows (B*L, D)
  QuantizerOutput out;
  out.commitment_loss = cfg.commitment_cost * (zq.detach() - z).pow(2).mean();
  out.codebook_loss = (zq - z.detach()).pow(2).mean();
  out.quantizer_loss = out.commitment_loss + out.codebook_loss;
  zq = z + (zq - z).detach();
  out.z_quantized = zq.reshape({B, 1, L, D}).permute({0, 3, 1, 2}).contiguous();  // (B,D,1,L)
  out.ids = ids.reshape({B, L});
  return out;
}

}  // namespace himtok::tok
