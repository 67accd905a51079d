#include "nn/vit_block.h"

#include <torch/nn/functional/activation.h>
#include <torch/nn/functional/normalization.h>
#include <torch/nn/init.h>

#include "nn/attention.h"

namespace F = torch::nn::functional;

namespace himtok::nn {

at::Tensor layer_norm_fp32(const at::Tensor& x, const torch::nn::LayerNorm& ln) {
  const auto& o = ln->options;
  if (x.scalar_type() == at::kFloat && ln->weight.scalar_type() == at::kFloat) return ln.ptr()->forward(x);
  at::Tensor y = at::layer_norm(x.to(at::kFloat), o.normalized_shape(), ln->weight.to(at::kFloat),
                                ln->bias.to(at::kFloat), o.eps());
  return y.to(x.scalar_type());
}

at::Tensor group_norm_fp32(const at::Tensor& x, const torch::nn::GroupNorm& gn) {
  const auto& o = gn->options;
  if (x.scalar_type() == at::kFloat && gn->weight.scalar_type() == at::kFloat) return gn.ptr()->forward(x);
  at::Tensor y = at::group_norm(x.to(at::kFloat), o.num_groups(), gn->weight.to(at::kFloat), gn->bias.to(at::kFloat),
                                o.eps());
  return y.to(x.scalar_type());
}

MultiheadAttentionImpl::MultiheadAttentionImpl(int64_t dim_, int64_t heads_) : dim(dim_), heads(heads_) {
  in_proj_weight = register_parameter("in_proj_weight", torch::empty({3 * dim, dim}));
  in_proj_bias = register_parameter("in_proj_bias", torch::zeros({3 * dim}));
  torch::nn::init::xavier_uniform_(in_proj_weight);
  out_proj = register_module("out_proj", torch::nn::Linear(dim, dim));
  torch::nn::init::zeros_(out_proj->bias);
}

at::Tensor MultiheadAttentionImpl::forward(const at::Tensor& x, const at::Tensor& blocked) {
  const int64_t B = x.size(0), T = x.size(1), hd = dim / heads;
  at::Tensor qkv = at::linear(x, in_proj_weight, in_proj_bias);                 // (B, T, 3C)
  qkv = qkv.view({B, T, 3, heads, hd}).permute({2, 0, 3, 1, 4});              // (3, B, H, T, hd)
  at::Tensor o = attention(qkv[0], qkv[1], qkv[2], blocked);                  // (B, H, T, hd)
  o = o.transpose(1, 2).reshape({B, T, dim});
  return at::linear(o, out_proj->weight, out_proj->bias);
}

// at::linear, not torch::nn::Linear::forward: libtorch 1.13's C++ functional linear runs a 3-D
// input as matmul + a separate bias pass; at::linear folds (B,T,C) into one GEMM with the bias (addmm).
static at::Tensor linear(const at::Tensor& x, const torch::nn::Linear& l) {
  return at::linear(x, l->weight, l->bias);
}

MlpImpl::MlpImpl(int64_t dim, int64_t hidden) {
  c_fc = register_module("c_fc", torch::nn::Linear(dim, hidden));
  c_proj = register_module("c_proj", torch::nn::Linear(hidden, dim));
}

at::Tensor MlpImpl::forward(const at::Tensor& x) { return linear(at::gelu(linear(x, c_fc)), c_proj); }

ResidualAttentionBlockImpl::ResidualAttentionBlockImpl(int64_t dim, int64_t heads, int64_t mlp_ratio, double ln_eps) {
  ln_1 = register_module("ln_1", torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim}).eps(ln_eps)));
  attn = register_module("attn", MultiheadAttention(dim, heads));
  ln_2 = register_module("ln_2", torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim}).eps(ln_eps)));
  mlp = register_module("mlp", Mlp(dim, dim * mlp_ratio));
}

at::Tensor ResidualAttentionBlockImpl::forward(const at::Tensor& x_in, const at::Tensor& blocked) {
  at::Tensor x = x_in + attn->forward(layer_norm_fp32(x_in, ln_1), blocked);
  return x + mlp->forward(layer_norm_fp32(x, ln_2));
}

}  // namespace himtok::nn
