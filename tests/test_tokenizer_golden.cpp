// Parity with the official HiMTok implementation: every case of tests/data/golden (written by the
// official Python code with random weights, see tests/data/golden/README.md), with the README's
// fp32 tolerances.
#include <ATen/Parallel.h>

#include "loss/hml.h"
#include "test_helpers.h"
#include "tokenizer/himt.h"
#include "tokenizer/prepare.h"

using namespace himtok;
using himtok::test::data_path;
using himtok::test::load;

namespace {

struct Golden : ::testing::Test {
  static tok::HiMT model;
  static void SetUpTestSuite() {
    at::set_num_threads(2);
    auto cfg = tok::TokenizerConfig::from_file(data_path("golden/config.json"));
    model = tok::HiMT(cfg);
    io::load_state_dict_strict(*model, io::Weights::open(data_path("golden/weights.safetensors")), "");
    model->eval();
  }
  at::NoGradGuard ng;
};
tok::HiMT Golden::model{nullptr};

const char* kNames[] = {"real0", "real1", "real2", "real3", "ellipse", "soft"};

}  // namespace

TEST_F(Golden, PrepareImagePadBilinear) {
  at::Tensor want = load("golden/prepare.safetensors", "prepared");
  for (int i = 0; i < 6; ++i) {
    at::Tensor in = load("golden/prepare.safetensors", std::string("input.") + kNames[i]);
    EXPECT_ALLCLOSE_ABS(tok::prepare_pad(in, 256), want[i], 1e-6) << kNames[i];
  }
}

TEST_F(Golden, EncodeIdsLatentsAndLosses) {
  at::Tensor x = load("golden/prepare.safetensors", "prepared");
  auto out = model->encode(x);
  const std::string f = "golden/encode.safetensors";
  EXPECT_TRUE(out.q.ids.equal(load(f, "ids"))) << "token ids must match exactly";
  EXPECT_ALLCLOSE_ABS(out.ln_post, load(f, "encoder_ln_post"), 1e-4);
  EXPECT_ALLCLOSE_ABS(out.z, load(f, "z"), 1e-5);
  EXPECT_ALLCLOSE_ABS(out.q.z_quantized, load(f, "z_quantized"), 1e-5);
  EXPECT_ALLCLOSE_ABS(model->quantize->codebook(), load(f, "codebook"), 1e-5);
  test::expect_rel(out.q.commitment_loss.item<double>(), load(f, "commitment_loss").item<double>(), 1e-5, "commitment");
  test::expect_rel(out.q.codebook_loss.item<double>(), load(f, "codebook_loss").item<double>(), 1e-5, "codebook");
  test::expect_rel(out.q.quantizer_loss.item<double>(), load(f, "quantizer_loss").item<double>(), 1e-5, "quantizer");
  at::Tensor cps = load(f, "commitment_loss_per_sample"), bps = load(f, "codebook_loss_per_sample");
  for (int i = 0; i < 6; ++i) {
    auto qi = model->quantize->forward(out.z.slice(0, i, i + 1));
    test::expect_rel(qi.commitment_loss.item<double>(), cps[i].item<double>(), 1e-5, "commitment per sample");
    test::expect_rel(qi.codebook_loss.item<double>(), bps[i].item<double>(), 1e-5, "codebook per sample");
  }
}

TEST_F(Golden, DecodeTokensFullLength) {
  const std::string f = "golden/decode_tokens.safetensors";
  at::Tensor prob = model->decode_tokens(load(f, "ids"));
  EXPECT_ALLCLOSE_ABS(prob, load(f, "prob_n32"), 1e-4);
}

TEST_F(Golden, DecodeTokensPrefixes) {
  const std::string f = "golden/decode_tokens.safetensors";
  at::Tensor ids = load(f, "ids_prefix_samples");
  for (int n : {16, 8, 4, 1}) {
    at::Tensor prob = model->decode_tokens(ids.slice(1, 0, n));
    EXPECT_ALLCLOSE_ABS(prob, load(f, "prob_n" + std::to_string(n)), 1e-4) << "prefix " << n;
  }
}

TEST_F(Golden, DecodeProbSoftPath) {
  const std::string f = "golden/decode_prob.safetensors";
  at::Tensor logits = load(f, "logits");
  at::Tensor probs = at::softmax(logits * 2.0, -1);
  EXPECT_ALLCLOSE_ABS(probs, load(f, "probs"), 1e-5);
  EXPECT_ALLCLOSE_ABS(model->quantize->lookup_probs(load(f, "probs")), load(f, "z"), 1e-5);
  EXPECT_ALLCLOSE_ABS(model->decode_logits(logits), load(f, "out_n32"), 1e-4);
  for (int n : {16, 4})
    EXPECT_ALLCLOSE_ABS(model->decode_probs(load(f, "probs").slice(1, 0, n)), load(f, "out_n" + std::to_string(n)), 1e-4)
        << "prefix " << n;
}

TEST_F(Golden, DecoderIntermediates) {
  const std::string f = "golden/intermediates.safetensors";
  for (std::string c : {"dt_n32", "dt_n4", "dp_n32"}) {
    tok::DecoderTrace tr;
    at::Tensor ffn;
    model->decode_z(load(f, c + ".decoder_input"), {}, &tr, &ffn);
    EXPECT_ALLCLOSE_ABS(tr.ln_post, load(f, c + ".decoder_ln_post"), 1e-4) << c;
    EXPECT_ALLCLOSE_ABS(ffn, load(f, c + ".decoder_ffn"), 1e-4) << c;
  }
}

TEST_F(Golden, PrefixedWeightsLoadTheSameModel) {
  tok::HiMT other(model->cfg);
  io::load_state_dict_strict(*other, io::Weights::open(data_path("golden/weights_lmm_prefixed.safetensors")),
                             "mask_decoder.");
  auto a = io::state_dict(*model), b = io::state_dict(*other);
  ASSERT_EQ(a.size(), 165u);
  for (auto& [k, t] : a) EXPECT_TRUE(t.equal(b.at(k))) << k;
}

TEST_F(Golden, BlurLabelsCos2Fine) {
  at::Tensor target = load("golden/prepare.safetensors", "prepared").slice(0, 0, 1).select(1, 0);  // (1,256,256)
  for (int idx : {-1, 0, 1, 3, 7, 15, 30}) {
    at::Tensor want = load("golden/losses.safetensors", "cos2fine.idx_" + std::to_string(idx));
    EXPECT_ALLCLOSE_ABS(loss::blur_label(target, loss::sigma_official(idx)), want, 2e-5) << "idx " << idx;
  }
}

TEST_F(Golden, BceAndDice) {
  const std::string f = "golden/losses.safetensors";
  at::Tensor out = load("golden/decode_prob.safetensors", "out_n32");
  at::Tensor prepared = load("golden/prepare.safetensors", "prepared");
  struct Pair {
    std::string name;
    at::Tensor pred, target;
  };
  std::vector<Pair> pairs = {
      {"pair_a", out.select(1, 0), prepared.slice(0, 0, 2).select(1, 0)},
      {"pair_b", load(f, "pair_b.pred"), load(f, "pair_b.target")},
      {"pair_level", out.slice(0, 0, 1).select(1, 0), load(f, "cos2fine.idx_7")},
  };
  for (auto& p : pairs) {
    double bce = loss::bce_prob(p.pred, p.target).item<double>();
    double dice = loss::dice_prob(p.pred, p.target).item<double>();
    test::expect_rel(bce, load(f, p.name + ".bce").item<double>(), 1e-5, p.name + ".bce");
    test::expect_rel(dice, load(f, p.name + ".dice").item<double>(), 1e-5, p.name + ".dice");
    test::expect_rel(bce + 0.25 * dice, load(f, p.name + ".bce_plus_quarter_dice").item<double>(), 1e-5,
                     p.name + ".bce+0.25dice");
  }
}
