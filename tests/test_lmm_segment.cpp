// lmm/segment (and the bundle file of lmm/himtok_lmm): from a generation to a mask, robust to
// malformed model output. A micro LMM with random weights and a random micro tokenizer; the
// generations are written by hand (ids + logits), so every case is exact:
//   no mask -> empty mask + warning; 5 tokens then <|mt_end|> -> the 5-token prefix (equal to
//   decoding 5 tokens by truncation, max-abs 1e-5 fp32); NaN logits at the mask positions -> empty
//   mask + warning (never an exception); NaN logits elsewhere -> ignored; bad options -> InputError.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/utils.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "io/weights.h"
#include "lmm/himtok_lmm.h"
#include "lmm/segment.h"
#include "lmm/templates.h"
#include "test_helpers.h"
#include "tokenizer/tokenizer.h"

namespace himtok::lmm {
namespace {

namespace fs = std::filesystem;

fs::path temp_dir() {
  fs::path p = fs::temp_directory_path() / ("himtok_test_lmm_segment_" + std::to_string(::getpid()));
  fs::create_directories(p);
  return p;
}

std::shared_ptr<LmmBundle> micro_bundle() {
  static std::shared_ptr<LmmBundle> b = [] {
    at::set_num_threads(1);
    torch::manual_seed(3);
    tok::HiMT md(tok::TokenizerConfig::preset("micro"));
    VocabTrainOptions vo;
    vo.vocab_size = 1500;
    Vocab v = Vocab::train(build_vocab_corpus(Templates::builtin(), 20, 4), vo);
    return std::make_shared<LmmBundle>(LmmBundle::from_modules(md, std::move(v), lmm_config_preset("micro"), 5));
  }();
  return b;
}

const Segmenter& segmenter() {
  static Segmenter s(micro_bundle());
  return s;
}

// A generation: text ids, then <|mt_start|>, `codes` mask ids, then `tail` ids; random logits
// whose argmax is not forced (decode_generation does not need it).
struct Gen {
  std::vector<int> ids;
  std::vector<float> logits;
  int64_t start = -1;
};

Gen make_gen(const std::string& text, const std::vector<int>& codes, const std::vector<int>& tail, bool with_start = true) {
  const LmmBundle& b = *micro_bundle();
  Gen g;
  g.ids = b.vocab.encode(text);
  if (with_start) {
    g.start = static_cast<int64_t>(g.ids.size());
    g.ids.push_back(b.vocab.specials().mask_start);
    for (int c : codes) g.ids.push_back(b.vocab.mask_id(c));
  }
  g.ids.insert(g.ids.end(), tail.begin(), tail.end());
  const int64_t V = b.config().llm.vocab_size;
  at::Tensor l = at::randn({static_cast<int64_t>(g.ids.size()), V}, at::TensorOptions().dtype(at::kFloat)) * 3.0;
  g.logits.assign(l.data_ptr<float>(), l.data_ptr<float>() + l.numel());
  return g;
}

int64_t V() { return micro_bundle()->config().llm.vocab_size; }

// The reference: decode the rows start+1 .. start+n directly by truncation (T = n).
at::Tensor reference_prob(const Gen& g, int n) {
  const LmmBundle& b = *micro_bundle();
  at::NoGradGuard ng;
  at::Tensor l = at::from_blob(const_cast<float*>(g.logits.data()), {static_cast<int64_t>(g.ids.size()), V()}, at::kFloat);
  const int64_t mt0 = b.vocab.specials().mask0;
  at::Tensor rows = l.slice(0, g.start + 1, g.start + 1 + n).slice(1, mt0, mt0 + kCodebookSize).unsqueeze(0);
  tok::HiMT md = b.mask_decoder;
  return md->decode_logits(rows)[0][0];
}

at::Tensor prob_tensor(const FloatMap& p) {
  return at::from_blob(const_cast<float*>(p.data.data()), {p.h, p.w}, at::kFloat).clone();
}

TEST(LmmSegment, NoMaskGivesEmptyMaskAndWarning) {
  const Gen g = make_gen("I cannot find it.", {}, {}, /*with_start=*/false);
  const SegmentResult r = segmenter().decode_generation(g.ids, g.logits, V(), 40, 50, {});
  EXPECT_FALSE(r.has_mask());
  EXPECT_EQ(r.span.status, MaskStatus::kNoMask);
  EXPECT_EQ(r.mask.h, 40);
  EXPECT_EQ(r.mask.w, 50);
  EXPECT_EQ(r.mask.area(), 0);
  ASSERT_FALSE(r.warnings.empty());
  EXPECT_NE(r.warnings[0].find("no mask"), std::string::npos) << r.warnings[0];
  EXPECT_EQ(r.response, "I cannot find it.");
}

TEST(LmmSegment, FiveTokensDecodeThePrefix) {
  const int end = micro_bundle()->vocab.specials().mask_end;
  const Gen g = make_gen("Sure, the mask is at ", {7, 1000, 3, 512, 9}, {end});
  const SegmentResult r = segmenter().decode_generation(g.ids, g.logits, V(), 33, 31, {});
  EXPECT_EQ(r.span.status, MaskStatus::kShort);
  ASSERT_EQ(r.n_decoded, 5);
  EXPECT_FALSE(r.warnings.empty());
  EXPECT_EQ(r.mask.h, 33);
  EXPECT_EQ(r.mask.w, 31);
  const at::Tensor want = reference_prob(g, 5);
  EXPECT_ALLCLOSE_ABS(prob_tensor(r.prob), want, 1e-5);
}

TEST(LmmSegment, FullMaskAndShorterPrefixes) {
  const int end = micro_bundle()->vocab.specials().mask_end;
  std::vector<int> codes;
  for (int k = 0; k < 32; ++k) codes.push_back((k * 37 + 11) % 1024);
  const Gen g = make_gen("The mask appears at ", codes, {end});
  SegmentOptions o;
  const SegmentResult r32 = segmenter().decode_generation(g.ids, g.logits, V(), 32, 32, o);
  EXPECT_EQ(r32.span.status, MaskStatus::kOk);
  EXPECT_TRUE(r32.warnings.empty());
  EXPECT_EQ(r32.n_decoded, 32);
  EXPECT_ALLCLOSE_ABS(prob_tensor(r32.prob), reference_prob(g, 32), 1e-5);
  o.n_tokens = 8;
  const SegmentResult r8 = segmenter().decode_generation(g.ids, g.logits, V(), 32, 32, o);
  EXPECT_EQ(r8.n_decoded, 8);
  EXPECT_ALLCLOSE_ABS(prob_tensor(r8.prob), reference_prob(g, 8), 1e-5);
  // redecode gives the same as decoding with n_tokens directly.
  SegmentResult again = r32;
  segmenter().redecode(again, 8, false, 32, 32);
  EXPECT_ALLCLOSE_ABS(prob_tensor(again.prob), prob_tensor(r8.prob), 0.0);
}

TEST(LmmSegment, FromIdsIsOneHotThroughTheRawCodebook) {
  const int end = micro_bundle()->vocab.specials().mask_end;
  const std::vector<int> codes = {5, 6, 7, 8};
  const Gen g = make_gen("OK ", codes, {end});
  SegmentOptions o;
  o.from_ids = true;
  const SegmentResult r = segmenter().decode_generation(g.ids, g.logits, V(), 32, 32, o);
  ASSERT_EQ(r.n_decoded, 4);
  at::NoGradGuard ng;
  at::Tensor p = at::zeros({1, 4, kCodebookSize}, at::kFloat);
  for (int k = 0; k < 4; ++k) p[0][k][codes[static_cast<size_t>(k)]] = 1.f;
  tok::HiMT md = micro_bundle()->mask_decoder;
  EXPECT_ALLCLOSE_ABS(prob_tensor(r.prob), md->decode_probs(p)[0][0], 1e-5);
}

TEST(LmmSegment, NanLogitsAtMaskPositionsGiveEmptyMaskNotACrash) {
  const int end = micro_bundle()->vocab.specials().mask_end;
  Gen g = make_gen("Sure ", {1, 2, 3, 4, 5, 6}, {end});
  const size_t row = static_cast<size_t>(g.start + 3);
  g.logits[row * static_cast<size_t>(V()) + static_cast<size_t>(micro_bundle()->vocab.mask_id(17))] =
      std::numeric_limits<float>::quiet_NaN();
  SegmentResult r;
  ASSERT_NO_THROW(r = segmenter().decode_generation(g.ids, g.logits, V(), 20, 20, {}));
  EXPECT_FALSE(r.has_mask());
  EXPECT_EQ(r.mask.area(), 0);
  bool warned = false;
  for (const auto& w : r.warnings) warned = warned || w.find("non-finite") != std::string::npos;
  EXPECT_TRUE(warned);
  // Only the first 2 positions decoded: the NaN row (3rd) is not used.
  SegmentOptions o;
  o.n_tokens = 2;
  EXPECT_TRUE(segmenter().decode_generation(g.ids, g.logits, V(), 20, 20, o).has_mask());
  // From ids, the logits do not matter.
  o.n_tokens = 32;
  o.from_ids = true;
  EXPECT_EQ(segmenter().decode_generation(g.ids, g.logits, V(), 20, 20, o).n_decoded, 6);
}

TEST(LmmSegment, NanLogitsOutsideTheMaskAreIgnored) {
  const int end = micro_bundle()->vocab.specials().mask_end;
  Gen g = make_gen("Sure ", {1, 2, 3}, {end});
  for (size_t k = 0; k < static_cast<size_t>(V()); ++k) g.logits[k] = std::numeric_limits<float>::quiet_NaN();  // row 0
  const SegmentResult r = segmenter().decode_generation(g.ids, g.logits, V(), 20, 20, {});
  EXPECT_EQ(r.n_decoded, 3);
}

TEST(LmmSegment, TruncatedAndGarbledSpans) {
  const auto& sp = micro_bundle()->vocab.specials();
  // Ended inside the mask after 3 codes.
  const Gen t = make_gen("Sure ", {10, 11, 12}, {});
  const SegmentResult rt = segmenter().decode_generation(t.ids, t.logits, V(), 16, 16, {});
  EXPECT_EQ(rt.span.status, MaskStatus::kTruncated);
  EXPECT_EQ(rt.n_decoded, 3);
  // Text right after <|mt_start|>: no code, empty mask with a warning.
  const Gen g = make_gen("Sure ", {}, micro_bundle()->vocab.encode(" oops"));
  const SegmentResult rg = segmenter().decode_generation(g.ids, g.logits, V(), 16, 16, {});
  EXPECT_EQ(rg.span.status, MaskStatus::kGarbage);
  EXPECT_FALSE(rg.has_mask());
  EXPECT_FALSE(rg.warnings.empty());
  // <|im_end|> cuts the response (and what follows is not parsed).
  const Gen e = make_gen("Yes.", {}, {sp.im_end, sp.mask_start, micro_bundle()->vocab.mask_id(1)}, false);
  const SegmentResult re = segmenter().decode_generation(e.ids, e.logits, V(), 16, 16, {});
  EXPECT_EQ(re.response, "Yes.");
  EXPECT_FALSE(re.has_mask());
}

TEST(LmmSegment, BadOptionsAreInputErrors) {
  const Gen g = make_gen("x", {1}, {});
  SegmentOptions o;
  o.n_tokens = 0;
  EXPECT_THROW(segmenter().decode_generation(g.ids, g.logits, V(), 8, 8, o), InputError);
  o.n_tokens = 33;
  EXPECT_THROW(segmenter().decode_generation(g.ids, g.logits, V(), 8, 8, o), InputError);
  EXPECT_THROW(segmenter().decode_generation(g.ids, std::vector<float>(3), V(), 8, 8, {}), InputError);
  Image empty;
  EXPECT_THROW(segmenter().run(empty, "Segment <ref>x</ref>.", {}), InputError);
}

TEST(LmmSegment, RunGivesAResponseAndAMaskOfTheImageSize) {
  Image img(45, 61, 3, 0);
  for (size_t i = 0; i < img.data.size(); ++i) img.data[i] = static_cast<uint8_t>(i * 7);
  SegmentOptions o;
  o.max_new_tokens = 40;
  const SegmentResult r = segmenter().run(img, segmenter().segment_question("the red circle"), o);
  EXPECT_EQ(r.mask.h, 45);
  EXPECT_EQ(r.mask.w, 61);
  EXPECT_LE(r.ids.size(), 40u);
  // Batched with left padding: the same answers as one by one (greedy, fp32).
  Image img2(30, 30, 3, 90);
  const auto both = segmenter().run({{&img, segmenter().segment_question("the red circle")},
                                     {&img2, "Is there <ref>a star</ref> in the image? Answer yes or no. Please."}},
                                    o);
  EXPECT_EQ(both[0].ids, r.ids);
  const auto single2 = segmenter().run(img2, "Is there <ref>a star</ref> in the image? Answer yes or no. Please.", o);
  EXPECT_EQ(both[1].ids, single2.ids);
}

TEST(LmmSegment, GresAndOpenVocabularyFlowsRun) {
  Image img(32, 32, 3, 128);
  SegmentOptions o;
  o.max_new_tokens = 12;
  const auto g = segmenter().gres({&img, &img}, {"the red circle", "all stars"}, o);
  ASSERT_EQ(g.size(), 2u);
  for (const auto& r : g) {
    EXPECT_EQ(r.mask.h, 32);
    EXPECT_EQ(r.segmented, r.exists != YesNo::kNo);
  }
  const auto ov = segmenter().open_vocab(img, {"circles", "stars"}, o);
  EXPECT_EQ(ov.labels.size(), 32u * 32u);
  EXPECT_EQ(ov.per_class.size(), 2u);
}

TEST(LmmSegment, SmallerAreaWinsOverlaps) {
  Mask big(2, 3, 0), small(2, 3, 0);
  big.data = {1, 1, 1, 1, 1, 0};
  small.data = {0, 1, 0, 0, 1, 1};
  EXPECT_EQ(compose_smaller_area(2, 3, {big, small}), (std::vector<int32_t>{0, 1, 0, 0, 1, 1}));
  Mask a(1, 2, 0), b(1, 2, 0);
  a.data = {1, 1};
  b.data = {1, 1};  // tie: the earlier class
  EXPECT_EQ(compose_smaller_area(1, 2, {a, b}), (std::vector<int32_t>{0, 0}));
  EXPECT_EQ(compose_smaller_area(1, 2, {}), (std::vector<int32_t>{-1, -1}));
  EXPECT_THROW(compose_smaller_area(2, 2, {a}), InputError);
}

// ---------------------------------------------------------------------------------------------
// The bundle file

TEST(LmmBundleFile, SaveLoadRoundTripAndStrictness) {
  const fs::path dir = temp_dir();
  const std::string path = (dir / "micro.safetensors").string();
  micro_bundle()->inference.use_system = false;
  micro_bundle()->inference.image_side = 16;
  micro_bundle()->save(path);
  const LmmBundle b = LmmBundle::load(path);
  EXPECT_EQ(b.vocab.serialized(), micro_bundle()->vocab.serialized());
  EXPECT_FALSE(b.inference.use_system);
  EXPECT_EQ(b.image_side(), 16);
  EXPECT_EQ(b.config().tokens.mt0_id, micro_bundle()->vocab.specials().mask0);
  const auto ta = micro_bundle()->tensors(), tb = b.tensors();
  ASSERT_EQ(ta.size(), tb.size());
  for (const auto& [k, t] : ta) EXPECT_TRUE(t.equal(tb.at(k))) << k;
  micro_bundle()->inference = InferenceSettings{};

  // The file is a tokenizer too ("mask_decoder." prefix), for `himtok encode/decode`.
  tok::LoadOptions lo;
  lo.weights = path;
  lo.threads = 1;
  EXPECT_EQ(tok::MaskTokenizer::load(lo).prefix(), "mask_decoder.");

  const io::Weights w = io::Weights::open(path);
  io::TensorMap all;
  for (const auto& k : w.names()) all[k] = w.get(k);
  auto meta = w.metadata();
  // An extra key.
  {
    io::TensorMap t = all;
    t["extra.weight"] = at::zeros({2});
    io::save_tensors((dir / "extra.safetensors").string(), t, meta);
    EXPECT_THROW(LmmBundle::load((dir / "extra.safetensors").string()), InputError);
  }
  // A missing key.
  {
    io::TensorMap t = all;
    t.erase("language_model.output.weight");
    io::save_tensors((dir / "missing.safetensors").string(), t, meta);
    EXPECT_THROW(LmmBundle::load((dir / "missing.safetensors").string()), InputError);
  }
  // Not an LMM (a tokenizer file).
  {
    auto m = meta;
    m[tok::kMetaKind] = "tokenizer";
    io::save_tensors((dir / "kind.safetensors").string(), all, m);
    EXPECT_THROW(LmmBundle::load((dir / "kind.safetensors").string()), InputError);
  }
  // Token ids that disagree with the vocabulary.
  {
    auto m = meta;
    auto j = nlohmann::json::parse(m[kMetaLmmConfig]);
    j["tokens"]["mt0_id"] = j["tokens"]["mt0_id"].get<int64_t>() - 1;
    m[kMetaLmmConfig] = j.dump();
    io::save_tensors((dir / "ids.safetensors").string(), all, m);
    EXPECT_THROW(LmmBundle::load((dir / "ids.safetensors").string()), InputError);
  }
  fs::remove_all(dir);
}

TEST(LmmBundleFile, CliRefusesABadModelWithExitCode2) {
  const fs::path dir = temp_dir();
  const std::string bad = (dir / "bad.safetensors").string();
  io::save_tensors(bad, {{"x", at::zeros({1})}}, {});
  const auto r = test::run_cli("segment --model " + bad + " --scene test:0 --expression 'the red circle'");
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(test::count_lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("not a himtok LMM file"), std::string::npos) << r.err;
  const auto t = test::run_cli("segment --model " + bad + " --scene test:0 --expression x --tokens 40");
  EXPECT_EQ(t.code, 2);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace himtok::lmm
