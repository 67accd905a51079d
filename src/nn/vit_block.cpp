#include "nn/vit_block.h"

#include <torch/nn/functional/activation.h>
#include <torch/nn/functional/normalization.h>
#include <torch/nn/init.h>

#include "nn/attention.h"
#include "nn/precision.h"

namespace F = torch::nn::functional;

namespace himtok::nn {

at::Tensor layer_norm_fp32(const at::Tensor& x, const torch::nn::LayerNorm& ln) {
  return layer_norm_fp32(x, ln, x.scalar_type());
}

at::Tensor group_norm_fp32(const at::Tensor& x, const torch::nn::GroupNorm& gn) {
  return group_norm_fp32(x, gn, x.scalar_type());
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
  at::Tensor qkv = nn::linear(x, in_proj_weight, in_proj_bias);                 // (B, T, 3C)
  qkv = qkv.view({B, T, 3, heads, hd}).permute({2, 0, 3, 1, 4});              // (3, B, H, T, hd)
  at::Tensor o = attention(qkv[0], qkv[1], qkv[2], blocked);                  // (B, H, T, hd)
  o = o.transpose(1, 2).reshape({B, T, dim});
  return nn::linear(o, out_proj->weight, out_proj->bias);
}

// at::linear, not torch::nn::Linear::forward: libtorch 1.13's C++ functional linear runs a 3-D
// input as matmul + a separate bias pass; at::linear folds (B,T,C) into one GEMM with the bias (addmm).
// (nn::linear: at::linear with fp32 accumulation for bf16, nn/precision.h.)
static at::Tensor linear(const at::Tensor& x, const torch::nn::Linear& l) {
  return nn::linear(x, l->weight, l->bias);
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

// The residual stream keeps x_in's dtype: with fp32 x_in and bf16 weights (mixed-precision
// inference) the GEMMs run in bf16 and their outputs are added to the fp32 stream (type promotion),
// as under autocast; with one dtype throughout this is the plain pre-LN block.
at::Tensor ResidualAttentionBlockImpl::forward(const at::Tensor& x_in, const at::Tensor& blocked) {
  const at::ScalarType wt = attn->in_proj_weight.scalar_type();
  at::Tensor x = x_in + attn->forward(layer_norm_fp32(x_in, ln_1, wt), blocked);
  return x + mlp->forward(layer_norm_fp32(x, ln_2, wt));
}

}  // namespace himtok::nn
