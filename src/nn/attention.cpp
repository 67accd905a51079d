#include "nn/attention.h"

#include <ATen/ATen.h>

#include <cmath>

namespace himtok::nn {

// Plain softmax(QK^T / sqrt(D)) V. The scores are computed in the input dtype; the softmax runs in
// fp32 for bf16/fp16 inputs (as autocast does), then goes back to the input dtype.
at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& blocked,
                     bool causal) {
  TORCH_CHECK(q.dim() == 4 && k.dim() == 4 && v.dim() == 4, "attention: q, k, v must be (B,H,L,D)");
  const int64_t lq = q.size(2), lk = k.size(2), d = q.size(3);
  const double scale = 1.0 / std::sqrt(static_cast<double>(d));
  at::Tensor scores = at::matmul(q, k.transpose(-2, -1)) * scale;  // (B,H,Lq,Lk)
  const bool low = scores.scalar_type() != at::kFloat && scores.scalar_type() != at::kDouble;
  if (low) scores = scores.to(at::kFloat);
  if (blocked.defined()) scores = scores.masked_fill(blocked, -std::numeric_limits<float>::infinity());
  if (causal) {
    at::Tensor cm = at::ones({lq, lk}, scores.options().dtype(at::kBool)).triu(lk - lq + 1);
    scores = scores.masked_fill(cm, -std::numeric_limits<float>::infinity());
  }
  at::Tensor p = at::softmax(scores, -1);
  if (low) p = p.to(q.scalar_type());
  return at::matmul(p, v);
}

}  // namespace himtok::nn
