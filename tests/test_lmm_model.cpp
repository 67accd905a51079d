// Tests of src/lmm/model.h (vision.cpp, language.cpp, model.cpp) and src/lmm/image_prep.h, on the
// `micro` preset with fixed seeds. Hand-computed cases for RMSNorm, RoPE and pixel shuffle; the
// others are self-consistency checks (GQA vs MHA, KV cache vs full forward, padding vs none).
// Tolerances: max-abs on fp32.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/optim/adam.h>
#include <torch/utils.h>

#include <cmath>
#include <set>
#include <string>

#include "common/error.h"
#include "lmm/image_prep.h"
#include "lmm/model.h"

namespace himtok::lmm {
namespace {

// micro: V = 64, C = 32, 4 image tokens per 32x32 image.
constexpr int64_t kImgCtx = 5;

LmmConfig micro_config() {
  LmmConfig c = lmm_config_preset("micro");
  c.tokens.img_context_id = kImgCtx;
  return c;
}

class LmmModelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    at::set_num_threads(2);
    torch::manual_seed(0);
  }
};

float max_abs(const at::Tensor& a, const at::Tensor& b) { return (a - b).abs().max().item<float>(); }

// A prompt with one image: 2 text tokens, 4 <IMG_CONTEXT>, then `tail`.
at::Tensor prompt_with_image(std::vector<int64_t> tail) {
  std::vector<int64_t> ids = {1, 9, kImgCtx, kImgCtx, kImgCtx, kImgCtx};
  ids.insert(ids.end(), tail.begin(), tail.end());
  return at::tensor(ids, at::kLong).unsqueeze(0);
}

// ---------------------------------------------------------------------------------------------
// Layout and shapes

TEST_F(LmmModelTest, StateDictKeysFollowInternVL) {
  const LmmConfig cfg = micro_config();
  LmmModel model(cfg);
  std::set<std::string> got;
  for (const auto& p : model->named_parameters()) got.insert(p.key());
  std::set<std::string> want = {"vision_model.embeddings.class_embedding",
                                "vision_model.embeddings.position_embedding",
                                "vision_model.embeddings.patch_embedding.weight",
                                "vision_model.embeddings.patch_embedding.bias",
                                "mlp1.0.weight", "mlp1.0.bias", "mlp1.1.weight", "mlp1.1.bias",
                                "mlp1.3.weight", "mlp1.3.bias",
                                "language_model.model.tok_embeddings.weight",
                                "language_model.model.norm.weight",
                                "language_model.output.weight"};
  for (int i = 0; i < cfg.vision.n_layers; ++i) {
    const std::string p = "vision_model.encoder.layers." + std::to_string(i) + ".";
    for (const char* s : {"norm1.weight", "norm1.bias", "norm2.weight", "norm2.bias", "attn.qkv.weight",
                          "attn.qkv.bias", "attn.proj.weight", "attn.proj.bias", "mlp.fc1.weight", "mlp.fc1.bias",
                          "mlp.fc2.weight", "mlp.fc2.bias", "ls1", "ls2"})
      want.insert(p + s);
  }
  for (int i = 0; i < cfg.llm.n_layers; ++i) {
    const std::string p = "language_model.model.layers." + std::to_string(i) + ".";
    for (const char* s : {"attention.wqkv.weight", "attention.wo.weight", "feed_forward.w1.weight",
                          "feed_forward.w2.weight", "feed_forward.w3.weight", "attention_norm.weight",
                          "ffn_norm.weight"})
      want.insert(p + s);
  }
  EXPECT_EQ(got, want);
  EXPECT_TRUE(model->named_buffers().is_empty());

  // Shapes of the fused / grouped weights: wqkv is (Hq + 2 Hkv) * D = (4 + 4) * 8 rows.
  const auto params = model->named_parameters();
  EXPECT_EQ(params["language_model.model.layers.0.attention.wqkv.weight"].sizes(), at::IntArrayRef({64, 32}));
  EXPECT_EQ(params["vision_model.embeddings.position_embedding"].sizes(), at::IntArrayRef({1, 17, 32}));
  EXPECT_EQ(params["mlp1.1.weight"].sizes(), at::IntArrayRef({32, 128}));
}

TEST_F(LmmModelTest, ParameterCountMatchesConfig) {
  for (const char* name : {"micro", "tiny"}) {
    const LmmConfig cfg = lmm_config_preset(name);
    LmmModel model(cfg);
    int64_t n = 0;
    for (const auto& p : model->parameters()) n += p.numel();
    EXPECT_EQ(n, cfg.n_params()) << name;
  }
}

TEST_F(LmmModelTest, Shapes) {
  const LmmConfig cfg = micro_config();
  LmmModel model(cfg);
  const at::Tensor px = at::randn({2, 3, 32, 32});
  EXPECT_EQ(model->extract_feature(px).sizes(), at::IntArrayRef({2, 4, 32}));
  // A 64x64 input resizes the position embedding: 8x8 patches -> 16 image tokens.
  EXPECT_EQ(model->extract_feature(at::randn({1, 3, 64, 64})).sizes(), at::IntArrayRef({1, 16, 32}));
  // Two rows, one image each.
  const at::Tensor ids = at::cat({prompt_with_image({7, 8}), prompt_with_image({10, 11})}, 0);
  EXPECT_EQ(model->forward(ids, px).sizes(), at::IntArrayRef({2, 8, 64}));
  // Text only.
  EXPECT_EQ(model->forward(at::tensor({1, 2, 3}, at::kLong).unsqueeze(0), at::Tensor()).sizes(),
            at::IntArrayRef({1, 3, 64}));
}

TEST_F(LmmModelTest, BadInputsRaiseInputError) {
  LmmModel model(micro_config());
  const at::Tensor px = at::randn({1, 3, 32, 32});
  // 5 <IMG_CONTEXT> for one 4-token image.
  EXPECT_THROW(model->forward(prompt_with_image({kImgCtx}), px), InputError);
  // Image tokens without pixels.
  EXPECT_THROW(model->forward(prompt_with_image({}), at::Tensor()), InputError);
  // Token id outside the vocabulary.
  EXPECT_THROW(model->forward(prompt_with_image({64}), px), InputError);
  // Image side not a multiple of patch / downsample_ratio = 16.
  EXPECT_THROW(model->extract_feature(at::randn({1, 3, 40, 40})), InputError);
  // Right padding in generate.
  EXPECT_THROW(model->generate(prompt_with_image({7}), px, 2, -1, at::tensor({1, 1, 1, 1, 1, 1, 0}, at::kLong).unsqueeze(0)),
               InputError);
}

// ---------------------------------------------------------------------------------------------
// Hand-computed maths

TEST_F(LmmModelTest, PixelShuffleMatchesInternVLLayout) {
  // 2x2 grid, 1 channel: x[row][col] = 10*row + col -> one cell [x00, x01, x10, x11] (row-pair, col-pair).
  const at::Tensor x = at::tensor({0.f, 1.f, 10.f, 11.f}).view({1, 2, 2, 1});
  const at::Tensor y = pixel_shuffle(x, 0.5);
  ASSERT_EQ(y.sizes(), at::IntArrayRef({1, 1, 1, 4}));
  EXPECT_EQ(max_abs(y.flatten(), at::tensor({0.f, 1.f, 10.f, 11.f})), 0.f);
  // 4x4 grid, 2 channels: out[a][b][(i*2 + j)*2 + c] = x[2a+i][2b+j][c].
  const at::Tensor x4 = at::arange(32, at::kFloat).view({1, 4, 4, 2});
  const at::Tensor y4 = pixel_shuffle(x4, 0.5);
  ASSERT_EQ(y4.sizes(), at::IntArrayRef({1, 2, 2, 8}));
  for (int a = 0; a < 2; ++a)
    for (int b = 0; b < 2; ++b)
      for (int i = 0; i < 2; ++i)
        for (int j = 0; j < 2; ++j)
          for (int c = 0; c < 2; ++c)
            EXPECT_EQ(y4[0][a][b][(i * 2 + j) * 2 + c].item<float>(), x4[0][2 * a + i][2 * b + j][c].item<float>());
}

TEST_F(LmmModelTest, RmsNormHandCase) {
  RmsNorm norm(2, 1e-5);
  const at::Tensor y = norm->forward(at::tensor({3.f, 4.f}).view({1, 2}));
  const float s = 1.f / std::sqrt(12.5f + 1e-5f);  // mean(9, 16) = 12.5
  EXPECT_LT(max_abs(y, at::tensor({3.f * s, 4.f * s}).view({1, 2})), 1e-6f);
}

TEST_F(LmmModelTest, RopeHandCases) {
  const at::Tensor x = at::tensor({0.3f, -1.2f, 0.7f, 2.0f}).view({1, 1, 1, 4});  // (B, H, L, D = 4)
  // Position 0 is the identity.
  const RotaryTables r0 = rotary_tables(at::zeros({1, 1}, at::kLong), 4, 100.0);
  EXPECT_LT(max_abs(apply_rotary(x, r0), x), 1e-7f);
  // Position 3, theta 100: pairs (x0, x2) turn by 3 * 100^0 = 3 rad, (x1, x3) by 3 * 100^(-1/2) = 0.3 rad.
  const RotaryTables r3 = rotary_tables(at::full({1, 1}, 3, at::kLong), 4, 100.0);
  const double a = 3.0, b = 0.3;
  const float want[4] = {static_cast<float>(0.3 * std::cos(a) - 0.7 * std::sin(a)),
                         static_cast<float>(-1.2 * std::cos(b) - 2.0 * std::sin(b)),
                         static_cast<float>(0.7 * std::cos(a) + 0.3 * std::sin(a)),
                         static_cast<float>(2.0 * std::cos(b) + -1.2 * std::sin(b))};
  EXPECT_LT(max_abs(apply_rotary(x, r3).flatten(), at::tensor(at::ArrayRef<float>(want, 4))), 1e-6f);
}

// ---------------------------------------------------------------------------------------------
// Attention

TEST_F(LmmModelTest, GqaEqualsMhaWithRepeatedKvHeads) {
  LmmConfig cfg = micro_config();  // Hq = 4, Hkv = 2, D = 8
  DecoderAttention gqa(cfg);
  LmmConfig cfg_mha = cfg;
  cfg_mha.llm.n_kv_heads = cfg.llm.n_heads;
  DecoderAttention mha(cfg_mha);
  const int64_t g = cfg.llm.n_heads / cfg.llm.n_kv_heads, d = cfg.llm.head_dim(), c = cfg.llm.hidden;
  {
    torch::NoGradGuard ng;
    // GQA rows per kv head h: [q_{h,0} .. q_{h,g-1}, k_h, v_h]; MHA per head h*g+j: [q_{h,j}, k_h, v_h].
    const at::Tensor wg = gqa->wqkv->weight.view({cfg.llm.n_kv_heads, g + 2, d, c});
    at::Tensor wm = mha->wqkv->weight.view({cfg.llm.n_heads, 3, d, c});
    for (int64_t h = 0; h < cfg.llm.n_kv_heads; ++h)
      for (int64_t j = 0; j < g; ++j) {
        wm[h * g + j][0].copy_(wg[h][j]);
        wm[h * g + j][1].copy_(wg[h][g]);
        wm[h * g + j][2].copy_(wg[h][g + 1]);
      }
    mha->wo->weight.copy_(gqa->wo->weight);
  }
  const at::Tensor x = at::randn({2, 6, c});
  const RotaryTables rot = rotary_tables(at::arange(6, at::kLong).unsqueeze(0).expand({2, 6}), d, 10000.0);
  const at::Tensor a = gqa->forward(x, rot, at::Tensor(), nullptr, 0);
  const at::Tensor b = mha->forward(x, rot, at::Tensor(), nullptr, 0);
  EXPECT_LT(max_abs(a, b), 1e-6f);
}

// ---------------------------------------------------------------------------------------------
// Images, padding, generation

TEST_F(LmmModelTest, ImageTokensChangeTheLogits) {
  LmmModel model(micro_config());
  torch::NoGradGuard ng;
  const at::Tensor ids = prompt_with_image({7, 8});
  const at::Tensor l1 = model->forward(ids, at::randn({1, 3, 32, 32}));
  const at::Tensor l2 = model->forward(ids, at::randn({1, 3, 32, 32}));
  // Before the image (positions 0, 1) nothing changes (causal); after it the logits move.
  EXPECT_EQ(max_abs(l1.narrow(1, 0, 2), l2.narrow(1, 0, 2)), 0.f);
  EXPECT_GT(max_abs(l1.narrow(1, 2, 6), l2.narrow(1, 2, 6)), 1e-3f);
}

TEST_F(LmmModelTest, PaddedBatchMatchesSingleSequences) {
  LmmModel model(micro_config());
  torch::NoGradGuard ng;
  const at::Tensor a = prompt_with_image({7, 8, 20, 21}), b = prompt_with_image({30});  // T = 10 and 7
  const at::Tensor pa = at::randn({1, 3, 32, 32}), pb = at::randn({1, 3, 32, 32});
  const at::Tensor px = at::cat({pa, pb}, 0);
  const at::Tensor la = model->forward(a, pa), lb = model->forward(b, pb);
  const at::Tensor pad = at::zeros({1, 3}, at::kLong);
  const at::Tensor ones7 = at::ones({1, 7}, at::kLong);
  // Right padding (training).
  {
    const at::Tensor ids = at::cat({a, at::cat({b, pad}, 1)}, 0);
    const at::Tensor mask = at::cat({at::ones({1, 10}, at::kLong), at::cat({ones7, pad}, 1)}, 0);
    const at::Tensor l = model->forward(ids, px, mask);
    EXPECT_LT(max_abs(l[0], la[0]), 1e-5f);
    EXPECT_LT(max_abs(l[1].narrow(0, 0, 7), lb[0]), 1e-5f);
    EXPECT_FALSE(l.isnan().any().item<bool>());
  }
  // Left padding (batched generation).
  {
    const at::Tensor ids = at::cat({a, at::cat({pad, b}, 1)}, 0);
    const at::Tensor mask = at::cat({at::ones({1, 10}, at::kLong), at::cat({pad, ones7}, 1)}, 0);
    const at::Tensor l = model->forward(ids, px, mask);
    EXPECT_LT(max_abs(l[0], la[0]), 1e-5f);
    EXPECT_LT(max_abs(l[1].narrow(0, 3, 7), lb[0]), 1e-5f);
    EXPECT_FALSE(l.isnan().any().item<bool>());
  }
}

TEST_F(LmmModelTest, KvCacheGenerationMatchesFullForward) {
  LmmModel model(micro_config());
  torch::NoGradGuard ng;
  const at::Tensor prompt = prompt_with_image({7, 8});  // T0 = 8
  const at::Tensor px = at::randn({1, 3, 32, 32});
  const int64_t k = 6, t0 = prompt.size(1);
  const GenerateResult res = model->generate(prompt, px, k, /*eos_id=*/-1);
  ASSERT_EQ(res.ids.sizes(), at::IntArrayRef({1, k}));
  ASSERT_EQ(res.logits.sizes(), at::IntArrayRef({1, k, 64}));
  EXPECT_EQ(res.logits.scalar_type(), at::kFloat);
  EXPECT_EQ(res.lengths, std::vector<int64_t>{k});
  EXPECT_TRUE(res.ids.equal(res.logits.argmax(-1)));
  // Full forward over prompt + generated[:-1]: logits at T0-1 .. T0+k-2 produced the k tokens.
  // Generated ids are embedded as text even when one equals <IMG_CONTEXT> (generation runs on
  // embeddings, as InternVL's), so the full pass is built from embeddings too.
  const at::Tensor embeds = at::cat(
      {model->embed(prompt, px), model->language_model->model->tok_embeddings->forward(res.ids.narrow(1, 0, k - 1))}, 1);
  const int64_t t = t0 + k - 1;
  const at::Tensor full = model->language_model->output->forward(
      model->language_model->model->forward(embeds, at::arange(t, at::kLong).unsqueeze(0), at::Tensor()));
  EXPECT_LT(max_abs(full.narrow(1, t0 - 1, k), res.logits), 1e-4f);
}

TEST_F(LmmModelTest, BatchedLeftPaddedGenerationMatchesSingle) {
  LmmModel model(micro_config());
  torch::NoGradGuard ng;
  const at::Tensor a = prompt_with_image({7, 8, 20}), b = prompt_with_image({30});  // T = 9 and 7
  const at::Tensor pa = at::randn({1, 3, 32, 32}), pb = at::randn({1, 3, 32, 32});
  const GenerateResult ra = model->generate(a, pa, 5, -1), rb = model->generate(b, pb, 5, -1);
  const at::Tensor pad = at::zeros({1, 2}, at::kLong);
  const at::Tensor ids = at::cat({a, at::cat({pad, b}, 1)}, 0);
  const at::Tensor mask = at::cat({at::ones({1, 9}, at::kLong), at::cat({pad, at::ones({1, 7}, at::kLong)}, 1)}, 0);
  const GenerateResult r = model->generate(ids, at::cat({pa, pb}, 0), 5, -1, mask);
  EXPECT_LT(max_abs(r.logits[0], ra.logits[0]), 1e-4f);
  EXPECT_LT(max_abs(r.logits[1], rb.logits[0]), 1e-4f);
  EXPECT_TRUE(r.ids[0].equal(ra.ids[0]));
  EXPECT_TRUE(r.ids[1].equal(rb.ids[0]));
}

TEST_F(LmmModelTest, GenerationStopsAtEos) {
  LmmModel model(micro_config());
  const at::Tensor prompt = prompt_with_image({7, 8});
  const at::Tensor px = at::randn({1, 3, 32, 32});
  const GenerateResult free_run = model->generate(prompt, px, 6, -1);
  // Use the third generated token as eos: generation stops at its first occurrence.
  const int64_t eos = free_run.ids[0][2].item<int64_t>();
  int64_t first = 0;
  while (free_run.ids[0][first].item<int64_t>() != eos) ++first;
  const GenerateResult r = model->generate(prompt, px, 6, eos);
  EXPECT_EQ(r.ids.size(1), first + 1);
  EXPECT_EQ(r.lengths, std::vector<int64_t>{first + 1});
  EXPECT_TRUE(r.ids[0].equal(free_run.ids[0].narrow(0, 0, first + 1)));
}

TEST_F(LmmModelTest, OverfitsOneSequence) {
  LmmModel model(micro_config());
  model->train();
  const at::Tensor ids = prompt_with_image({7, 8, 20, 21, 33, 40, 41, 12, 63, 2});  // T = 16
  const at::Tensor px = at::randn({1, 3, 32, 32});
  torch::optim::Adam opt(model->parameters(), torch::optim::AdamOptions(1e-2));
  auto loss_fn = [&] {
    const at::Tensor logits = model->forward(ids, px);  // (1, T, V)
    const int64_t t = ids.size(1);
    return at::cross_entropy_loss(logits.narrow(1, 0, t - 1).reshape({t - 1, -1}), ids.narrow(1, 1, t - 1).reshape({t - 1}));
  };
  const float initial = loss_fn().item<float>();
  for (int step = 0; step < 24; ++step) {  // CE 4.18 -> ~0.05 at lr 1e-2 (seed 0)
    opt.zero_grad();
    const at::Tensor loss = loss_fn();
    loss.backward();
    if (step == 0) {  // the gradient reaches the vision tower through the substituted embeddings
      EXPECT_GT(model->vision_model->embeddings->patch_embedding->weight.grad().abs().max().item<float>(), 0.f);
      EXPECT_GT(model->mlp1->named_parameters()["0.weight"].grad().abs().max().item<float>(), 0.f);
    }
    opt.step();
  }
  const float final_loss = loss_fn().item<float>();
  EXPECT_LT(final_loss, 0.5f * initial) << "initial " << initial << ", final " << final_loss;
}

TEST_F(LmmModelTest, Bfloat16RunsCloseToFloat32) {
  LmmModel model(micro_config());
  torch::NoGradGuard ng;
  const at::Tensor ids = prompt_with_image({7, 8});
  const at::Tensor px = at::randn({1, 3, 32, 32});
  const at::Tensor ref = model->forward(ids, px);
  model->to(at::kBFloat16);
  // bf16 weights, fp32 activations (the released files on a CPU): weights converted as used.
  const at::Tensor mixed = model->forward(ids, px);
  EXPECT_EQ(mixed.scalar_type(), at::kFloat);
  EXPECT_LT(((mixed - ref).pow(2).sum() / ref.pow(2).sum()).item<float>(), 1e-2f);
  model->set_compute_dtype(at::kBFloat16);
  const at::Tensor low = model->forward(ids, px);
  EXPECT_EQ(low.scalar_type(), at::kBFloat16);
  // NMSE = |low - ref|^2 / |ref|^2 (bf16 keeps ~3 significant digits; measured ~1e-4 here).
  const float nmse = ((low.to(at::kFloat) - ref).pow(2).sum() / ref.pow(2).sum()).item<float>();
  EXPECT_LT(nmse, 1e-2f);
  const GenerateResult r = model->generate(ids, px, 3, -1);
  EXPECT_EQ(r.logits.scalar_type(), at::kFloat);
}

// ---------------------------------------------------------------------------------------------
// Image preprocessing

TEST_F(LmmModelTest, ImagePrepNormalisesWithImagenetStatistics) {
  Image img(20, 30, 3);
  for (int64_t y = 0; y < img.h; ++y)
    for (int64_t x = 0; x < img.w; ++x) {
      uint8_t* p = img.px(y, x);
      p[0] = 255, p[1] = 0, p[2] = 128;
    }
  const at::Tensor px = pixel_values_from_image(img, 16);
  ASSERT_EQ(px.sizes(), at::IntArrayRef({3, 16, 16}));
  // A constant image stays constant under bicubic resizing.
  EXPECT_LT(max_abs(px[0], at::full({16, 16}, (1.0f - 0.485f) / 0.229f)), 1e-5f);
  EXPECT_LT(max_abs(px[1], at::full({16, 16}, (0.0f - 0.456f) / 0.224f)), 1e-5f);
  EXPECT_LT(max_abs(px[2], at::full({16, 16}, (128.0f / 255.0f - 0.406f) / 0.225f)), 1e-5f);
  // Gray is replicated to RGB (then each channel has its own statistics).
  Image gray(8, 8, 1, 200);
  const at::Tensor pg = pixel_values_from_image(gray, 8);
  for (int c = 0; c < 3; ++c)
    EXPECT_LT(max_abs(pg[c] * kImagenetStd[c] + kImagenetMean[c], at::full({8, 8}, 200.0f / 255.0f)), 1e-6f);
  EXPECT_EQ(pixel_values_from_images({img, img}, 16).sizes(), at::IntArrayRef({2, 3, 16, 16}));
  EXPECT_THROW(pixel_values_from_image(Image(), 16), InputError);
}

}  // namespace
}  // namespace himtok::lmm

// The bf16-weight linear (lmm/layers.h) against libtorch's own fp32 linear on the widened weights:
// the dot-product kernel (1..4 rows), the blocked GEMM path (more rows), odd sizes and a bias.
TEST(LmmLayers, Bf16WeightLinearMatchesTorch) {
  torch::NoGradGuard ng;
  at::manual_seed(3);
  for (int64_t m : {1, 3, 4, 5, 37}) {
    for (int64_t k : {7, 64, 1000}) {
      const at::Tensor w = at::randn({300, k}).to(at::kBFloat16);
      const at::Tensor b = at::randn({300});
      const at::Tensor x = at::randn({m, k});
      const at::Tensor want = at::linear(x, w.to(at::kFloat), b);
      const at::Tensor got = himtok::lmm::linear(x, w, b);
      EXPECT_EQ(got.scalar_type(), at::kFloat);
      EXPECT_LE((got - want).abs().max().item<float>(), 1e-4f * std::sqrt(static_cast<float>(k))) << m << "x" << k;
    }
  }
  // (B, L, K) inputs keep their leading shape.
  const at::Tensor w = at::randn({16, 8}).to(at::kBFloat16);
  EXPECT_EQ(himtok::lmm::linear(at::randn({2, 3, 8}), w, at::Tensor()).sizes(), (std::vector<int64_t>{2, 3, 16}));
}
