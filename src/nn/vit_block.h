// The pre-norm transformer block of TiTok / HiMTok (1d-tokenizer blocks_multi_length.py
// ResidualAttentionBlock), with torch.nn.MultiheadAttention's parameter names:
//   x = x + attn(ln_1(x));  x = x + mlp(ln_2(x))     mlp = c_proj(GELU_erf(c_fc(x)))
// Keys: ln_1.{weight,bias}, attn.in_proj_weight (3C,C), attn.in_proj_bias (3C),
//       attn.out_proj.{weight,bias}, ln_2.*, mlp.c_fc.*, mlp.c_proj.*
// Shapes: x (B, T, C), batch-first (the official code runs (T, B, C); the maths is the same).
#pragma once
#include <torch/nn/module.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>

namespace himtok::nn {

// LayerNorm / GroupNorm computed in fp32 whatever the activation dtype (bf16 inference and
// autocast keep normalisation statistics in fp32), result cast back to the input dtype.
at::Tensor layer_norm_fp32(const at::Tensor& x, const torch::nn::LayerNorm& ln);
at::Tensor group_norm_fp32(const at::Tensor& x, const torch::nn::GroupNorm& gn);

class MultiheadAttentionImpl : public torch::nn::Module {
 public:
  MultiheadAttentionImpl(int64_t dim, int64_t heads);
  // x: (B, T, C); blocked: undefined or bool (T, T), true = may not attend.
  at::Tensor forward(const at::Tensor& x, const at::Tensor& blocked);

  int64_t dim, heads;
  at::Tensor in_proj_weight, in_proj_bias;
  torch::nn::Linear out_proj{nullptr};
};
TORCH_MODULE(MultiheadAttention);

class MlpImpl : public torch::nn::Module {
 public:
  MlpImpl(int64_t dim, int64_t hidden);
  at::Tensor forward(const at::Tensor& x);
  torch::nn::Linear c_fc{nullptr}, c_proj{nullptr};
};
TORCH_MODULE(Mlp);

class ResidualAttentionBlockImpl : public torch::nn::Module {
 public:
  ResidualAttentionBlockImpl(int64_t dim, int64_t heads, int64_t mlp_ratio, double ln_eps);
  at::Tensor forward(const at::Tensor& x, const at::Tensor& blocked);

  torch::nn::LayerNorm ln_1{nullptr}, ln_2{nullptr};
  MultiheadAttention attn{nullptr};
  Mlp mlp{nullptr};
};
TORCH_MODULE(ResidualAttentionBlock);

}  // namespace himtok::nn
