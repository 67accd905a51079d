#include "nn/attention.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include "nn/precision.h"

#include <cmath>
#include <limits>

namespace himtok::nn {

namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

bool low_precision(at::ScalarType t) { return t != at::kFloat && t != at::kDouble; }

// Plain softmax(QK^T / sqrt(D)) V over all heads at once. The scores are computed in the input
// dtype; the softmax runs in fp32 for bf16/fp16 inputs (as autocast does), then goes back to the
// input dtype. Differentiable; the path for training and for devices other than the CPU.
at::Tensor attention_batched(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& blocked,
                             bool causal, double scale) {
  const int64_t lq = q.size(2), lk = k.size(2);
  at::Tensor scores = nn::matmul(q, k.transpose(-2, -1)) * scale;  // (B,H,Lq,Lk)
  const bool low = low_precision(scores.scalar_type());
  if (low) scores = scores.to(at::kFloat);
  if (blocked.defined()) scores = scores.masked_fill(blocked, kNegInf);
  if (causal) {
    at::Tensor cm = at::ones({lq, lk}, scores.options().dtype(at::kBool)).triu(lk - lq + 1);
    scores = scores.masked_fill(cm, kNegInf);
  }
  at::Tensor p = at::softmax(scores, -1);
  if (low) p = p.to(q.scalar_type());
  return nn::matmul(p, v);
}

// The same maths, one (batch, head) pair per task inside ONE parallel region, each task's GEMMs
// single-threaded (BLAS sees it is inside a parallel region). Libtorch 1.13 without MKL runs a CPU
// bmm as one multi-threaded GEMM per head: B*H thread-team start/joins per product, which cost
// more than the products themselves at ViT sizes (289 x 289 x 64), and far more when the cores
// are shared. Inference only (writes into slices of a preallocated output).
at::Tensor attention_per_head(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& blocked,
                              bool causal, double scale) {
  const int64_t B = q.size(0), H = q.size(1), lq = q.size(2), lk = k.size(2), dv = v.size(3);
  at::Tensor out = at::empty({B, H, lq, dv}, q.options());                      // (B,H,Lq,Dv)
  const at::Tensor mask = blocked.defined() ? blocked.expand({B, H, lq, lk}) : at::Tensor();
  const at::Tensor cm =
      causal ? at::ones({lq, lk}, q.options().dtype(at::kBool)).triu(lk - lq + 1) : at::Tensor();  // (Lq,Lk)
  const bool low = low_precision(q.scalar_type());
  at::parallel_for(0, B * H, 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const int64_t b = i / H, h = i % H;
      at::Tensor s = nn::mm(q[b][h], k[b][h].t()).mul_(scale);  // (Lq,Lk), input dtype
      if (low) s = s.to(at::kFloat);
      if (mask.defined()) s.masked_fill_(mask[b][h], kNegInf);
      if (causal) s.masked_fill_(cm, kNegInf);
      at::Tensor p = at::softmax(s, -1);
      if (low) p = p.to(q.scalar_type());
      at::Tensor o = out[b][h];
      if (accumulates_in_fp32(v))
        at::mm_out(o, p, v[b][h]);                              // (Lq,Dv)
      else
        o.copy_(nn::mm(p, v[b][h]));
    }
  });
  return out;
}

}  // namespace

at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& blocked,
                     bool causal) {
  TORCH_CHECK(q.dim() == 4 && k.dim() == 4 && v.dim() == 4, "attention: q, k, v must be (B,H,L,D)");
  const double scale = 1.0 / std::sqrt(static_cast<double>(q.size(3)));
  const bool needs_grad =
      at::GradMode::is_enabled() && (q.requires_grad() || k.requires_grad() || v.requires_grad());
  // Per-head tasks pay off once there is at least one task per thread.
  if (q.device().is_cpu() && !needs_grad && q.size(0) * q.size(1) >= at::get_num_threads())
    return attention_per_head(q, k, v, blocked, causal, scale);
  return attention_batched(q, k, v, blocked, causal, scale);
}

}  // namespace himtok::nn
