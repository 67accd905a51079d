// The one attention function of the project. Every module calls this, so a faster kernel
// (torch::scaled_dot_product_attention in libtorch >= 2.0, flash attention on CUDA) drops in here.
//   q: (B, H, Lq, D)   k, v: (B, H, Lk, D)   ->  (B, H, Lq, D)
//   blocked: undefined, or bool broadcastable to (B, H, Lq, Lk) with true = may NOT attend
//            (the convention of torch.nn.MultiheadAttention's bool attn_mask).
//   causal:  additionally block key j > query i + (Lk - Lq) (for KV-cached decoding).
#pragma once
#include <ATen/core/Tensor.h>

namespace himtok::nn {

at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& blocked,
                     bool causal = false);

}  // namespace himtok::nn
