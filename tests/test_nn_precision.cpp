// bf16 products accumulate in fp32 (nn/precision.h), and the tokenizer's bf16 inference
// (HiMTImpl::to_inference_dtype) stays close to fp32 on trained weights.
//
// The products are checked against a float64 evaluation of the same bf16-rounded inputs: fp32
// accumulation with one rounding of the result is off by about 2^-9 (0.2%) in relative L2;
// libtorch 1.13's bf16 fallback kernels (CPUs without AVX512BW/VL/DQ) accumulate in bf16 and are
// off by 4-7% at these sizes, which is what the 0.5% bound catches.
#include <ATen/ATen.h>
#include <ATen/autocast_mode.h>
#include <gtest/gtest.h>
#include <torch/nn/modules/conv.h>

#include <algorithm>
#include <string>
#include <vector>

#include "shipped_models.h"
#include "loss/hml.h"
#include "nn/attention.h"
#include "nn/autocast.h"
#include "nn/precision.h"
#include "tokenizer/tokenizer.h"

namespace {

using namespace himtok;

double rel_l2(const at::Tensor& got, const at::Tensor& want) {
  return ((got.to(at::kDouble) - want).norm() / want.norm()).item<double>();
}

TEST(NnPrecision, Bf16LinearAccumulatesInFp32) {
  at::manual_seed(3);
  at::NoGradGuard ng;
  at::Tensor x = at::randn({64, 4096}).to(at::kBFloat16), w = at::randn({96, 4096}).to(at::kBFloat16),
             b = at::randn({96}).to(at::kBFloat16);
  const at::Tensor want = at::linear(x.to(at::kDouble), w.to(at::kDouble), b.to(at::kDouble));
  const at::Tensor got = nn::linear(x, w, b);
  EXPECT_EQ(got.scalar_type(), at::kBFloat16);
  EXPECT_LT(rel_l2(got, want), 0.005);
  EXPECT_LT(rel_l2(nn::mm(x, w.t()), want - b.to(at::kDouble)), 0.005);
}

TEST(NnPrecision, Bf16ConvolutionAccumulatesInFp32) {
  at::manual_seed(4);
  at::NoGradGuard ng;
  torch::nn::Conv2d conv(torch::nn::Conv2dOptions(128, 32, 3).padding(1).bias(true));
  conv->to(at::kBFloat16);
  at::Tensor x = at::randn({2, 128, 12, 12}).to(at::kBFloat16);
  const at::Tensor want = at::conv2d(x.to(at::kDouble), conv->weight.to(at::kDouble), conv->bias.to(at::kDouble),
                                     {1, 1}, {1, 1});
  const at::Tensor got = nn::conv2d(*conv, x);
  EXPECT_EQ(got.scalar_type(), at::kBFloat16);
  EXPECT_LT(rel_l2(got, want), 0.005);
}

TEST(NnPrecision, Fp32IsThePlainOp) {
  at::manual_seed(5);
  at::NoGradGuard ng;
  at::Tensor x = at::randn({8, 40}), w = at::randn({16, 40}), b = at::randn({16});
  EXPECT_TRUE(at::equal(nn::linear(x, w, b), at::linear(x, w, b)));
  torch::nn::Conv2d conv(torch::nn::Conv2dOptions(4, 6, 3).padding(1));
  at::Tensor img = at::randn({1, 4, 9, 9});
  EXPECT_TRUE(at::equal(nn::conv2d(*conv, img), conv->forward(img)));
  EXPECT_TRUE(nn::accumulates_in_fp32(x));
}

// The shipped small tokenizer on the first 16 masks of the COCO evaluation set: fp32-encoded ids
// decoded in bf16 against fp32 (thresholded maps), and bf16 encoding against fp32 ids.
TEST(NnPrecision, Bf16TokenizerMatchesFp32OnTrainedWeights) {
  const std::vector<Mask> masks = test::first_coco_eval_masks(16);
  tok::LoadOptions lo = test::shipped_small_tokenizer();
  tok::MaskTokenizer fp32 = tok::MaskTokenizer::load(lo);
  lo.dtype = "bf16";
  tok::MaskTokenizer bf16 = tok::MaskTokenizer::load(lo);
  const auto ids = fp32.encode(masks), ids_bf16 = bf16.encode(masks);
  int64_t same = 0, total = 0;
  for (size_t b = 0; b < ids.size(); ++b)
    for (size_t t = 0; t < ids[b].size(); ++t) same += ids[b][t] == ids_bf16[b][t], ++total;
  EXPECT_GE(same, total * 98 / 100) << same << " of " << total << " ids equal";
  const auto a = fp32.decode_ids(ids), c = bf16.decode_ids(ids);
  double sum = 0, worst = 1;
  for (size_t b = 0; b < a.size(); ++b) {
    int64_t inter = 0, uni = 0;
    for (size_t i = 0; i < a[b].data.size(); ++i) {
      const bool x = a[b].data[i] > 0.5f, y = c[b].data[i] > 0.5f;
      inter += x && y;
      uni += x || y;
    }
    const double iou = uni ? static_cast<double>(inter) / static_cast<double>(uni) : 1.0;
    sum += iou;
    worst = std::min(worst, iou);
  }
  EXPECT_GE(sum / static_cast<double>(a.size()), 0.99);
  EXPECT_GE(worst, 0.95);
}

// nn::AutocastScope turns bf16 autocast on for its lifetime and restores the previous state;
// nn::NoAutocast inside it (loss::blur_label) keeps the HML labels in fp32.
TEST(NnAutocast, ScopeTurnsBf16OnAndLabelsStayFp32) {
  at::manual_seed(5);
  const at::Tensor target = (at::rand({2, 64, 64}) > 0.5).to(at::kFloat);  // (B,H,W)
  const at::Tensor want = loss::blur_label(target, 6.0);
  ASSERT_FALSE(at::autocast::is_cpu_enabled());
  {
    nn::AutocastScope autocast(at::kCPU, at::kBFloat16);
    EXPECT_TRUE(at::autocast::is_cpu_enabled());
    EXPECT_EQ(at::conv2d(target.unsqueeze(1), at::ones({1, 1, 3, 3})).scalar_type(), at::kBFloat16);
    const at::Tensor got = loss::blur_label(target, 6.0);
    EXPECT_TRUE(at::autocast::is_cpu_enabled());  // NoAutocast restored the region
    EXPECT_EQ(got.scalar_type(), at::kFloat);
    EXPECT_LT((got - want).abs().max().item<double>(), 1e-6);
  }
  EXPECT_FALSE(at::autocast::is_cpu_enabled());
  EXPECT_EQ(at::conv2d(target.unsqueeze(1), at::ones({1, 1, 3, 3})).scalar_type(), at::kFloat);
}

}  // namespace
