// nn::attention against its definition, softmax(q k^T / sqrt(D) + mask) v, evaluated element by
// element in double precision here. Both code paths are covered: the CPU inference path (one
// (batch, head) task per thread, taken when no gradient is recorded and B*H >= threads) and the
// batched differentiable path (taken when q requires grad), with a bool `blocked` mask broadcast
// from (Lq, Lk) and a causal offset (Lq < Lk, as with a KV cache).
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "nn/attention.h"

namespace {

// out[b][h][i] = sum_j softmax_j(s_ij) v[b][h][j], s_ij = q_i . k_j / sqrt(D), -inf where blocked
// or (causal) j > i + (Lk - Lq).
at::Tensor reference(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& blocked,
                     bool causal) {
  const int64_t B = q.size(0), H = q.size(1), lq = q.size(2), lk = k.size(2), D = q.size(3), Dv = v.size(3);
  auto qa = q.to(at::kDouble).contiguous(), ka = k.to(at::kDouble).contiguous(), va = v.to(at::kDouble).contiguous();
  at::Tensor out = at::zeros({B, H, lq, Dv}, at::kDouble);
  at::Tensor m = blocked.defined() ? blocked.expand({B, H, lq, lk}).contiguous() : at::Tensor();
  auto Q = qa.accessor<double, 4>(), K = ka.accessor<double, 4>(), V = va.accessor<double, 4>();
  auto O = out.accessor<double, 4>();
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t i = 0; i < lq; ++i) {
        std::vector<double> s(static_cast<size_t>(lk));
        double mx = -std::numeric_limits<double>::infinity();
        for (int64_t j = 0; j < lk; ++j) {
          double dot = 0;
          for (int64_t d = 0; d < D; ++d) dot += Q[b][h][i][d] * K[b][h][j][d];
          bool off = (m.defined() && m[b][h][i][j].item<bool>()) || (causal && j > i + (lk - lq));
          s[static_cast<size_t>(j)] = off ? -std::numeric_limits<double>::infinity() : dot / std::sqrt(double(D));
          mx = std::max(mx, s[static_cast<size_t>(j)]);
        }
        double z = 0;
        for (double& x : s) z += (x = std::exp(x - mx));
        for (int64_t j = 0; j < lk; ++j)
          for (int64_t d = 0; d < Dv; ++d) O[b][h][i][d] += s[static_cast<size_t>(j)] / z * V[b][h][j][d];
      }
  return out;
}

struct Case {
  int64_t B, H, lq, lk;
  bool mask, causal;
};

class NnAttention : public ::testing::TestWithParam<Case> {};

TEST_P(NnAttention, MatchesDefinitionOnBothPaths) {
  const Case c = GetParam();
  at::set_num_threads(2);
  at::manual_seed(7);
  const int64_t D = 16;
  // q, k, v as strided views of one projection, the way the transformer blocks pass them
  at::Tensor qkv = at::randn({c.B, c.lk, 3, c.H, D}).permute({2, 0, 3, 1, 4});  // (3,B,H,Lk,D)
  at::Tensor q = qkv[0].slice(2, c.lk - c.lq), k = qkv[1], v = qkv[2];
  at::Tensor blocked;
  if (c.mask) {
    blocked = at::rand({c.lq, c.lk}) > 0.6;
    blocked.select(1, 0).fill_(false);  // keep one key visible to every query (no all -inf rows)
  }
  const at::Tensor want = reference(q, k, v, blocked, c.causal).to(at::kFloat);
  {
    at::NoGradGuard ng;  // the CPU inference path
    at::Tensor got = himtok::nn::attention(q, k, v, blocked, c.causal);
    ASSERT_EQ(got.sizes(), want.sizes());
    EXPECT_TRUE(at::allclose(got, want, 1e-5, 1e-5)) << (got - want).abs().max().item<float>();
  }
  {
    at::Tensor qg = q.clone().requires_grad_(true);  // the differentiable path
    at::Tensor got = himtok::nn::attention(qg, k, v, blocked, c.causal);
    EXPECT_TRUE(at::allclose(got.detach(), want, 1e-5, 1e-5)) << (got.detach() - want).abs().max().item<float>();
    got.sum().backward();
    EXPECT_TRUE(qg.grad().defined());
  }
  {
    at::NoGradGuard ng;  // bf16 inputs: scores and products in bf16, softmax in fp32
    at::Tensor got = himtok::nn::attention(q.to(at::kBFloat16), k.to(at::kBFloat16), v.to(at::kBFloat16), blocked,
                                           c.causal);
    EXPECT_EQ(got.scalar_type(), at::kBFloat16);
    EXPECT_LT((got.to(at::kFloat) - want).abs().max().item<float>(), 0.05f);
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, NnAttention,
                         ::testing::Values(Case{1, 4, 9, 9, false, false},    // ViT block, B*H >= threads
                                           Case{2, 3, 5, 7, true, true},      // mask + KV-cache causal offset
                                           Case{1, 1, 6, 6, true, false},     // B*H < threads: batched path
                                           Case{3, 2, 1, 8, false, true}));   // one query (decode step)

}  // namespace
