// Parity with the official InternVL2.5-HiMTok inference: every case of tests/data/internvl-tiny
// (written by the official Python code at a tiny size with random weights; see its README.md and
// manifest.json), through a folder in the released Hugging Face layout, with the README's fp32
// tolerances.
#include <ATen/Parallel.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "eval/metrics.h"
#include "io/coco.h"
#include "io/image.h"
#include "io/resize.h"
#include "lmm/himtok_lmm.h"
#include "lmm/image_prep.h"
#include "lmm/response.h"
#include "lmm/segment.h"
#include "lmm/templates.h"
#include "test_helpers.h"
#include "tokenizer/prepare.h"

using namespace himtok;
using himtok::test::data_path;
using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

const std::string kSet = "internvl-tiny/";

at::Tensor g(const std::string& file, const std::string& name) { return test::load(kSet + file, name); }

const json& manifest() {
  static const json m = [] {
    std::ifstream in(data_path(kSet + "manifest.json"));
    return json::parse(in);
  }();
  return m;
}

// The released layout (golden README "Using the set as a Hugging Face model folder"), sharded:
// model.safetensors.index.json -> model-00001-of-00002 (LMM) + model-00002-of-00002 (mask_decoder.*).
std::string make_hf_folder(const std::string& name, bool sharded = true) {
  const fs::path dir = fs::temp_directory_path() / ("himtok_hf_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  for (const auto& e : fs::directory_iterator(data_path(kSet + "hf"))) fs::copy_file(e.path(), dir / e.path().filename());
  fs::create_symlink(data_path(kSet + "tokenizer/tokenizer_internlm2.model"), dir / "tokenizer.model");
  // The mask decoder's sizes (the release's are official-large, the default): the `tiny` set's.
  fs::copy_file(data_path("golden/config.json"), dir / "mask_decoder_config.json");
  // The mask decoder: the golden `tiny` tokenizer under "mask_decoder." (as the released checkpoint).
  io::Weights tiny = io::Weights::open(data_path("golden/weights.safetensors"));
  std::vector<io::TensorWrite> md;
  for (const auto& k : tiny.names()) md.push_back(io::from_tensor("mask_decoder." + k, tiny.get(k)));
  if (sharded) {
    fs::create_symlink(data_path(kSet + "weights_lmm.safetensors"), dir / "model-00001-of-00002.safetensors");
    io::save_safetensors((dir / "model-00002-of-00002.safetensors").string(), md, {{"format", "pt"}});
    json wm = json::object();
    for (const auto& k : io::Weights::open(data_path(kSet + "weights_lmm.safetensors")).names())
      wm[k] = "model-00001-of-00002.safetensors";
    for (const auto& t : md) wm[t.name] = "model-00002-of-00002.safetensors";
    std::ofstream(dir / "model.safetensors.index.json") << json{{"metadata", {{"total_size", 0}}}, {"weight_map", wm}}.dump();
  } else {
    io::Weights lmm = io::Weights::open(data_path(kSet + "weights_lmm.safetensors"));
    for (const auto& k : lmm.names()) md.push_back(io::from_tensor(k, lmm.get(k)));
    io::save_safetensors((dir / "model.safetensors").string(), md, {{"format", "pt"}});
  }
  return dir.string();
}

struct InternVL : ::testing::Test {
  static std::string dir;
  static std::shared_ptr<lmm::LmmBundle> bundle;
  static void SetUpTestSuite() {
    at::set_num_threads(2);
    dir = make_hf_folder("golden");
    bundle = std::make_shared<lmm::LmmBundle>(lmm::LmmBundle::load_hf(dir));
    bundle->model->eval();
    bundle->mask_decoder->eval();
  }
  static void TearDownTestSuite() {
    bundle.reset();
    fs::remove_all(dir);
  }
  lmm::LmmModel& model() { return bundle->model; }
  at::NoGradGuard ng;
};
std::string InternVL::dir;
std::shared_ptr<lmm::LmmBundle> InternVL::bundle;

Image image_of(const at::Tensor& hwc) {
  at::Tensor t = hwc.contiguous();
  Image img(t.size(0), t.size(1), t.size(2));
  std::memcpy(img.data.data(), t.data_ptr<uint8_t>(), img.data.size());
  return img;
}

at::Tensor tiles_tensor(const std::vector<Image>& tiles) {
  std::vector<at::Tensor> ts;
  for (const auto& t : tiles)
    ts.push_back(at::from_blob(const_cast<uint8_t*>(t.data.data()), {t.h, t.w, t.c}, at::kByte).clone());
  return at::stack(ts);
}

std::vector<int> ids_of(const json& a) { return a.get<std::vector<int>>(); }
std::vector<int> ids_of(const at::Tensor& t) {
  at::Tensor c = t.to(at::kLong).contiguous();
  return std::vector<int>(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
}

// The golden run's LogitsProcessor (manifest "forcing"): the prefix ids one by one, then 32 steps
// restricted to the 1024 mask tokens (the model's own best), then the suffix ids.
std::function<void(int64_t, at::Tensor&)> forcing(std::vector<int> prefix, std::vector<int> suffix) {
  return [prefix, suffix](int64_t k, at::Tensor& scores) {
    const int64_t p = static_cast<int64_t>(prefix.size());
    auto force = [&](int id) {
      scores.fill_(-std::numeric_limits<float>::infinity());
      scores.select(1, id).fill_(0.f);
    };
    if (k < p) {
      force(prefix[static_cast<size_t>(k)]);
    } else if (k < p + 32) {
      at::Tensor keep = scores.slice(1, 92555, 92555 + 1024).clone();
      scores.fill_(-std::numeric_limits<float>::infinity());
      scores.slice(1, 92555, 92555 + 1024).copy_(keep);
    } else if (k - p - 32 < static_cast<int64_t>(suffix.size())) {
      force(suffix[static_cast<size_t>(k - p - 32)]);
    }
  };
}

lmm::GenerateOptions res_generation() {
  lmm::GenerateOptions o;
  o.max_new_tokens = 128;
  o.eos_id = 92542;
  o.pad_id = 2;
  const json& f = manifest()["forcing"];
  o.processor = forcing(ids_of(f["res_prefix_ids"]), ids_of(f["res_suffix_ids"]));
  return o;
}

at::Tensor wide_pixels() {
  return lmm::normalize_tiles(
      lmm::dynamic_preprocess(image_of(g("preprocess.safetensors", "input.wide")), 4, 448, true));
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// §3 preprocessing

TEST(InternVLPreprocess, CandidateOrderAndGrids) {
  const json& info = manifest()["preprocess_info"];
  for (const char* key : {"wide.max4", "wide.max12", "landscape.max4", "landscape.max12", "portrait.max4",
                          "portrait.max12"}) {
    const json& c = info[key];
    const int max_num = c["max_num"].get<int>();
    const lmm::TileGrid grid = lmm::closest_tile_grid(c["W"].get<int64_t>(), c["H"].get<int64_t>(), max_num, 448);
    EXPECT_EQ(grid.cols, c["grid_cols_rows"][0].get<int>()) << key;
    EXPECT_EQ(grid.rows, c["grid_cols_rows"][1].get<int>()) << key;
    const std::string which = std::string(key).substr(0, std::string(key).find('.'));
    const auto tiles =
        lmm::dynamic_preprocess(image_of(g("preprocess.safetensors", "input." + which)), max_num, 448, true);
    EXPECT_EQ(static_cast<int>(tiles.size()), c["n_tiles"].get<int>()) << key;
  }
  EXPECT_THROW(lmm::closest_tile_grid(640, 480, 0, 448), himtok::InputError);
  EXPECT_THROW(lmm::closest_tile_grid(640, 480, lmm::max_tiles_supported() + 1, 448), himtok::InputError);
}

// The golden inputs are PIL 9.4 + libjpeg decodes of the example photos: ours must be the same bytes.
TEST(InternVLPreprocess, JpegDecodesAsPil) {
  const std::vector<std::pair<std::string, std::string>> photos = {{"0", "wide"}, {"1", "landscape"}, {"3", "portrait"}};
  for (const auto& [file, name] : photos) {
    const Image img = io::load_image(data_path("himtok-examples/images/" + file + ".jpg"), 3);
    const at::Tensor got = at::from_blob(const_cast<uint8_t*>(img.data.data()), {img.h, img.w, 3}, at::kByte);
    EXPECT_TRUE(got.equal(g("preprocess.safetensors", "input." + name))) << file << ".jpg";
  }
}

TEST(InternVLPreprocess, TilesArePilExact) {
  for (const auto& [name, max_num] : std::vector<std::pair<std::string, int>>{
           {"wide", 4}, {"landscape", 4}, {"portrait", 4}}) {
    const auto tiles = lmm::dynamic_preprocess(image_of(g("preprocess.safetensors", "input." + name)), max_num, 448, true);
    EXPECT_TRUE(tiles_tensor(tiles).equal(g("preprocess.safetensors", "tiles." + name + ".max4"))) << name;
  }
  const auto p12 = lmm::dynamic_preprocess(image_of(g("preprocess.safetensors", "input.portrait")), 12, 448, true);
  ASSERT_EQ(p12.size(), 13u);
  EXPECT_TRUE(tiles_tensor({p12.front(), p12.back()}).equal(g("preprocess.safetensors", "tiles.portrait.max12.first_and_last")));
  const at::Tensor px = wide_pixels();
  EXPECT_ALLCLOSE_ABS(px[0], g("preprocess.safetensors", "pixel_values.wide.max4.tile0"), 1e-6);
}

// ---------------------------------------------------------------------------------------------
// §6 tokenizer and prompts

TEST_F(InternVL, TokenizerCases) {
  const lmm::Vocab& v = bundle->vocab;
  ASSERT_TRUE(v.adds_bos());
  for (const auto& c : manifest()["tokenizer_cases"]) {
    std::vector<int> ids = v.encode(c["text"].get<std::string>());
    ids.insert(ids.begin(), v.specials().bos);
    EXPECT_EQ(ids, ids_of(c["ids"])) << c["text"];
    const auto pieces = c["pieces"].get<std::vector<std::string>>();
    for (size_t i = 1; i < pieces.size() && i < ids.size(); ++i) EXPECT_EQ(v.piece(ids[i]), pieces[i]) << c["text"];
  }
  const json& ids = manifest()["ids"];
  for (auto it = ids.begin(); it != ids.end(); ++it) EXPECT_EQ(v.piece_id(it.key()), it->get<int>()) << it.key();
}

TEST_F(InternVL, PromptIds) {
  const lmm::Templates tpl = lmm::Templates::resolve();
  lmm::ChatOptions chat;
  chat.n_image_tokens = 5 * 256;
  for (const char* which : {"res", "rec", "reasonseg", "demo"}) {
    const std::string q = manifest()["prompts"][which]["question"].get<std::string>();
    const std::string text = lmm::format_prompt(tpl, lmm::Segmenter::with_image_placeholder(q), chat);
    EXPECT_EQ(text, manifest()["prompts"][which]["query"].get<std::string>()) << which;
    std::vector<int> ids = bundle->vocab.encode(text);
    ids.insert(ids.begin(), 1);
    EXPECT_EQ(ids, ids_of(g("prompt.safetensors", std::string("input_ids.") + which))) << which;
  }
  EXPECT_THROW(lmm::Segmenter::with_image_placeholder("<image>\n<image>\nSegment it."), himtok::InputError);
}

// ---------------------------------------------------------------------------------------------
// §4-5 vision

TEST_F(InternVL, VisionTowerAndProjector) {
  const at::Tensor px = wide_pixels();
  auto& vm = model()->vision_model;
  const at::Tensor emb = vm->embeddings->forward(px);
  EXPECT_ALLCLOSE_ABS(emb[0], g("vision.safetensors", "embeddings.tile0"), 2e-5);
  const at::Tensor l0 = vm->encoder->layers[0]->as<lmm::VisionLayer>()->forward(emb);
  EXPECT_ALLCLOSE_ABS(l0[0], g("vision.safetensors", "layer0.tile0"), 2e-5);
  const at::Tensor last = vm->forward(px);
  EXPECT_ALLCLOSE_ABS(last, g("vision.safetensors", "last_hidden_state"), 2e-5);
  const at::Tensor grid = last.narrow(1, 1, 1024).reshape({5, 32, 32, 64});
  const at::Tensor ps = lmm::pixel_shuffle(grid, 0.5).reshape({5, 256, 256});
  EXPECT_ALLCLOSE_ABS(ps[0], g("vision.safetensors", "pixel_shuffle.tile0"), 2e-5);
  EXPECT_ALLCLOSE_ABS(model()->extract_feature(px), g("vision.safetensors", "vit_embeds"), 2e-5);
}

// ---------------------------------------------------------------------------------------------
// §7-8 LLM, generation with the KV cache

TEST_F(InternVL, EmbeddingsPrefillCacheAndForcedSteps) {
  const at::Tensor ids = g("llm.safetensors", "input_ids").unsqueeze(0);
  const at::Tensor px = wide_pixels();
  const at::Tensor embeds = model()->embed(ids, px);
  EXPECT_ALLCLOSE_ABS(embeds[0], g("llm.safetensors", "inputs_embeds"), 2e-5);

  // The prefill cache, through the decoder with a cache (keys after RoPE, KV heads not repeated).
  lmm::KvCache cache;
  const at::Tensor pos = at::arange(ids.size(1), at::kLong).unsqueeze(0);
  EXPECT_TRUE(pos[0].equal(g("llm.safetensors", "prefill.position_ids")));
  model()->language_model->model->forward(embeds, pos, at::Tensor(), &cache);
  for (int l = 0; l < 2; ++l) {
    EXPECT_ALLCLOSE_ABS(cache.k[l][0], g("llm.safetensors", "prefill.past_key.layer" + std::to_string(l)), 2e-5);
    EXPECT_ALLCLOSE_ABS(cache.v[l][0], g("llm.safetensors", "prefill.past_value.layer" + std::to_string(l)), 2e-5);
  }

  const lmm::GenerateResult r = model()->generate(ids, px, res_generation());
  EXPECT_TRUE(r.ids[0].equal(g("llm.safetensors", "generated_ids"))) << r.ids;
  const at::Tensor steps = r.logits[0];  // (T, V) raw logits
  EXPECT_TRUE(steps.argmax(-1).equal(g("llm.safetensors", "step.argmax")));
  EXPECT_ALLCLOSE_ABS(std::get<0>(steps.max(-1)), g("llm.safetensors", "step.max"), 2e-5);
  EXPECT_ALLCLOSE_ABS(steps.logsumexp(-1), g("llm.safetensors", "step.logsumexp"), 2e-5);
  const json& gen = manifest()["generated"];
  const int64_t s = gen["s"].get<int64_t>(), T = gen["T"].get<int64_t>();
  const at::Tensor rows = at::stack({steps[0], steps[s], steps[s + 1], steps[T - 1]});
  EXPECT_ALLCLOSE_ABS(rows, g("llm.safetensors", "step.logits_rows"), 2e-5);
}

TEST_F(InternVL, TeacherForcedFullForward) {
  const at::Tensor ids = g("llm.safetensors", "full.input_ids").unsqueeze(0);
  const at::Tensor px = wide_pixels();
  auto& dm = model()->language_model->model;
  const at::Tensor h0 = model()->embed(ids, px);
  const int64_t L = ids.size(1);
  const lmm::RotaryTables rot =
      lmm::rotary_tables(at::arange(L, at::kLong).unsqueeze(0), bundle->config().llm.head_dim(), 1e6);
  const at::Tensor h1 = dm->layers[0]->as<lmm::DecoderLayer>()->forward(h0, rot, at::Tensor(), nullptr, 0);
  const at::Tensor h2 = dm->norm->forward(dm->layers[1]->as<lmm::DecoderLayer>()->forward(h1, rot, at::Tensor(), nullptr, 1));
  EXPECT_ALLCLOSE_ABS(h0[0], g("llm.safetensors", "full.hidden_states.0"), 2e-5);
  EXPECT_ALLCLOSE_ABS(h1[0], g("llm.safetensors", "full.hidden_states.1"), 2e-5);
  EXPECT_ALLCLOSE_ABS(h2[0], g("llm.safetensors", "full.hidden_states.2"), 2e-5);
  const at::Tensor logits = model()->forward(ids, px)[0].to(at::kFloat);
  EXPECT_TRUE(logits.argmax(-1).equal(g("llm.safetensors", "full.argmax")));
  EXPECT_ALLCLOSE_ABS(std::get<0>(logits.max(-1)), g("llm.safetensors", "full.max"), 2e-5);
  EXPECT_ALLCLOSE_ABS(logits.logsumexp(-1), g("llm.safetensors", "full.logsumexp"), 2e-5);
  const int64_t N = 1346;
  const json& gen = manifest()["generated"];
  const int64_t s = gen["s"].get<int64_t>(), T = gen["T"].get<int64_t>();
  const at::Tensor rows = at::stack({logits[0], logits[N - 1], logits[N + s], logits[N + T - 1]});
  EXPECT_ALLCLOSE_ABS(rows, g("llm.safetensors", "full.logits_rows"), 2e-5);
}

TEST_F(InternVL, UnforcedGreedyRun) {
  lmm::GenerateOptions o;
  o.max_new_tokens = 8;
  o.eos_id = 92542;
  o.pad_id = 2;
  const lmm::GenerateResult r = model()->generate(g("llm.safetensors", "input_ids").unsqueeze(0), wide_pixels(), o);
  EXPECT_TRUE(r.ids[0].equal(g("llm.safetensors", "greedy.generated_ids"))) << r.ids;
  EXPECT_ALLCLOSE_ABS(std::get<0>(r.logits[0].max(-1)), g("llm.safetensors", "greedy.step.max"), 2e-5);
  EXPECT_ALLCLOSE_ABS(r.logits[0].logsumexp(-1), g("llm.safetensors", "greedy.step.logsumexp"), 2e-5);
}

// ---------------------------------------------------------------------------------------------
// §9 mask tokens to mask, end to end through the Segmenter (tiles, prompt, generation, decode)

TEST_F(InternVL, SegmenterEndToEndMaskAndPostProcessing) {
  lmm::Segmenter seg(bundle);
  ASSERT_TRUE(seg.released());
  const Image wide = image_of(g("preprocess.safetensors", "input.wide"));
  lmm::SegmentOptions opt;
  opt.processor = res_generation().processor;
  const std::string q = manifest()["prompts"]["res"]["question"].get<std::string>();
  lmm::SegmentResult r = seg.run(wide, q, opt);
  EXPECT_EQ(r.prompt_ids, ids_of(g("prompt.safetensors", "input_ids.res")));
  EXPECT_EQ(r.sequence, ids_of(g("llm.safetensors", "generated_ids")));
  EXPECT_EQ(r.n_tiles, 5);
  ASSERT_EQ(r.n_decoded, 32);
  // mask_logits -> tt_probs -> raw-codebook z -> mask, and the eval post-processing.
  const at::Tensor ml = at::from_blob(r.mask_logits.data(), {32, 1024}, at::kFloat);
  EXPECT_ALLCLOSE_ABS(ml, g("mask.safetensors", "mask_logits"), 2e-5);
  const at::Tensor probs = at::softmax(ml * 2.0, -1);
  EXPECT_ALLCLOSE_ABS(probs, g("mask.safetensors", "tt_probs")[0], 5e-6);
  auto& md = bundle->mask_decoder;
  EXPECT_ALLCLOSE_ABS(md->quantize->lookup_probs(probs.unsqueeze(0)), g("mask.safetensors", "decoder_input_z.n32"), 2e-5);
  const at::Tensor prob = at::from_blob(r.prob.data.data(), {256, 256}, at::kFloat);
  EXPECT_ALLCLOSE_ABS(prob, g("mask.safetensors", "mask.n32")[0], 1e-4);
  const at::Tensor pred = at::from_blob(r.mask.data.data(), {148, 640}, at::kByte);
  EXPECT_TRUE(pred.equal(g("mask.safetensors", "eval.pred_binary")));
  EXPECT_ALLCLOSE_ABS(at::from_blob(io::resize_float(r.prob, 148, 640, io::Resample::kNearest).data.data(), {148, 640},
                                    at::kFloat),
                      g("mask.safetensors", "eval.pred_resized"), 1e-4);
  // Prefixes n = 16, 8, 4 (truncation = zero rows after decoder_embed).
  for (int n : {16, 8, 4}) {
    seg.redecode(r, n, false, 148, 640);
    EXPECT_ALLCLOSE_ABS(at::from_blob(r.prob.data.data(), {256, 256}, at::kFloat),
                        g("mask.safetensors", "mask.n" + std::to_string(n))[0], 1e-4) << n;
  }
  EXPECT_ALLCLOSE_ABS(md->quantize->lookup_probs(probs.slice(0, 0, 4).unsqueeze(0)),
                      g("mask.safetensors", "decoder_input_z.n4"), 2e-5);
}

TEST_F(InternVL, EvalIouAndDemoMask) {
  const at::Tensor n32 = g("mask.safetensors", "mask.n32")[0];
  const Mask pred = tok::to_native(n32, 148, 640);
  auto to_mask = [](const at::Tensor& t) {
    Mask m(t.size(0), t.size(1));
    std::memcpy(m.data.data(), t.contiguous().data_ptr<uint8_t>(), m.data.size());
    return m;
  };
  const Mask gt = to_mask(g("mask.safetensors", "eval.gt"));
  const json& me = manifest()["mask_eval"];
  const eval::IouCounts c = eval::mask_iou_counts(pred, gt);
  EXPECT_EQ(c.i, me["gt"]["intersection"].get<int64_t>());
  EXPECT_EQ(c.u, me["gt"]["union"].get<int64_t>());
  // The ignore label: pred[gt == 255] = 1, then gt > 0.5 (Predictor.update_metrics).
  const Mask gti = to_mask(g("mask.safetensors", "eval.gt_ignore"));
  Mask pi = pred, gb = gti;
  for (size_t i = 0; i < pi.data.size(); ++i) {
    if (gti.data[i] == 255) pi.data[i] = 1;
    gb.data[i] = gti.data[i] > 0 ? 1 : 0;
  }
  const eval::IouCounts ci = eval::mask_iou_counts(pi, gb);
  EXPECT_EQ(ci.i, me["gt_ignore"]["intersection"].get<int64_t>());
  EXPECT_EQ(ci.u, me["gt_ignore"]["union"].get<int64_t>());
  // Demo: ((mask > 0.5) * 255) -> PIL BICUBIC to the image size (not binary).
  Mask u8(256, 256);
  const at::Tensor n32c = n32.contiguous();
  for (int64_t i = 0; i < 256 * 256; ++i) u8.data[static_cast<size_t>(i)] = n32c.data_ptr<float>()[i] > 0.5f ? 255 : 0;
  const Mask demo = io::resize_u8(u8, 148, 640, io::Resample::kBicubic);
  EXPECT_TRUE(at::from_blob(const_cast<uint8_t*>(demo.data.data()), {148, 640}, at::kByte)
                  .equal(g("mask.safetensors", "demo.mask_u8")));
}

TEST_F(InternVL, MaskValidityBoundary) {
  // The official rule: valid iff s + 33 < T (the token after the 32 mask positions was generated).
  lmm::Segmenter seg(bundle);
  const lmm::GenerateResult r =
      model()->generate(g("llm.safetensors", "input_ids").unsqueeze(0), wide_pixels(), res_generation());
  const std::vector<int> ids = ids_of(r.ids[0]);
  const at::Tensor l = r.logits[0].contiguous();
  const json& chk = manifest()["checks_at_generation"];
  for (const char* key : {"valid_cut_at_s+33", "valid_cut_at_s+34"}) {
    const int64_t T = chk[key]["T"].get<int64_t>();
    const std::vector<int> cut(ids.begin(), ids.begin() + T);
    const std::vector<float> lv(l.data_ptr<float>(), l.data_ptr<float>() + T * l.size(1));
    lmm::SegmentOptions opt;
    const lmm::SegmentResult sr = seg.decode_generation(cut, lv, l.size(1), 148, 640, opt);
    EXPECT_EQ(sr.has_mask(), chk[key]["valid"].get<bool>()) << key;
    const double sum = sr.has_mask() ? at::from_blob(const_cast<float*>(sr.prob.data.data()), {256 * 256}, at::kFloat)
                                           .sum()
                                           .item<double>()
                                     : 0.0;
    EXPECT_NEAR(sum, chk[key]["mask_abs_sum"].get<double>(), 0.05) << key;
    // A cut answer is reported (the CLI stops on it with exit 2).
    bool reported = false;
    for (const auto& w : sr.warnings) reported = reported || w.find("cut short") != std::string::npos;
    EXPECT_EQ(reported, !sr.has_mask()) << key;
  }
}

TEST_F(InternVL, LeftPaddedBatchOfTwo) {
  lmm::Segmenter seg(bundle);
  const Image wide = image_of(g("preprocess.safetensors", "input.wide"));
  const Image portrait = image_of(g("preprocess.safetensors", "input.portrait"));
  const std::string q = manifest()["prompts"]["res"]["question"].get<std::string>();
  lmm::SegmentOptions opt;
  opt.processor = res_generation().processor;
  const auto rs = seg.run(std::vector<lmm::Query>{{&wide, q}, {&portrait, q}}, opt);
  const at::Tensor in_ids = g("mask.safetensors", "batch2.input_ids"), am = g("mask.safetensors", "batch2.attention_mask");
  const at::Tensor gen = g("mask.safetensors", "batch2.generated_ids"), masks = g("mask.safetensors", "batch2.mask");
  for (int r = 0; r < 2; ++r) {
    const int64_t pad = (am[r] == 0).sum().item<int64_t>();
    EXPECT_EQ(rs[r].prompt_ids, ids_of(in_ids[r].slice(0, pad))) << r;
    EXPECT_EQ(rs[r].sequence, ids_of(gen[r])) << r;
    ASSERT_EQ(rs[r].n_decoded, 32);
    EXPECT_ALLCLOSE_ABS(at::from_blob(const_cast<float*>(rs[r].prob.data.data()), {256, 256}, at::kFloat), masks[r], 1e-4);
  }
  EXPECT_ALLCLOSE_ABS(masks[1], g("mask.safetensors", "portrait.mask")[0], 1e-4);
  // Position ids of the padded prefill: cumsum(mask) - 1, pads 1.
  const at::Tensor pos = (am.cumsum(1) - 1).masked_fill(am == 0, 1);
  EXPECT_TRUE(pos.equal(g("mask.safetensors", "batch2.prefill.position_ids")));
  // The padded row's step logits (the padded batch runs the generation itself).
  lmm::GenerateOptions o = res_generation();
  const lmm::GenerateResult b2 = model()->generate(in_ids, at::cat({wide_pixels(), lmm::normalize_tiles(lmm::dynamic_preprocess(portrait, 4, 448, true))}), o, am);
  EXPECT_ALLCLOSE_ABS(b2.logits[1].logsumexp(-1), g("mask.safetensors", "batch2.step.logsumexp.row1"), 2e-5);
}

// ---------------------------------------------------------------------------------------------
// §10 boxes

TEST_F(InternVL, ForcedRecRunAndBoxCases) {
  const json& f = manifest()["forcing"];
  lmm::GenerateOptions o = res_generation();
  o.processor = forcing(bundle->vocab.encode(f["rec_prefix_text"].get<std::string>()),
                        [&] {
                          auto v = bundle->vocab.encode(f["rec_suffix_text"].get<std::string>());
                          v.push_back(92542);
                          return v;
                        }());
  const lmm::GenerateResult r = model()->generate(g("prompt.safetensors", "input_ids.rec").unsqueeze(0), wide_pixels(), o);
  EXPECT_TRUE(r.ids[0].equal(g("box.safetensors", "rec.generated_ids"))) << r.ids;
  for (const auto& c : manifest()["box_cases"]) {
    const auto box = lmm::official_rec_box(c["answer"].get<std::string>(), c["W"].get<int64_t>(), c["H"].get<int64_t>());
    const auto want = c["box_pixels"].get<std::vector<double>>();
    for (int i = 0; i < 4; ++i) EXPECT_NEAR(box[i], want[i], 1e-4) << c["answer"];
    const auto gt = c["gt_box_xyxy"].get<std::vector<double>>();
    const double iou = eval::box_iou({box[0], box[1], box[2], box[3]}, {gt[0], gt[1], gt[2], gt[3]});
    EXPECT_NEAR(iou, c["iou"].get<double>(), 1e-5) << c["answer"];
  }
}

// ---------------------------------------------------------------------------------------------
// Loading: layouts and strictness

TEST(InternVLLoad, SingleFileLayoutLoadsTheSameModel) {
  const std::string dir = make_hf_folder("single", /*sharded=*/false);
  lmm::LmmBundle b = lmm::LmmBundle::load_hf(dir);
  at::NoGradGuard ng;
  b.model->eval();
  EXPECT_ALLCLOSE_ABS(b.model->extract_feature(wide_pixels()), g("vision.safetensors", "vit_embeds"), 2e-5);
  fs::remove_all(dir);
}

TEST(InternVLLoad, BadFoldersGiveOneLineErrors) {
  auto expect_error = [](const std::string& dir, const std::string& needle) {
    try {
      lmm::LmmBundle::load_hf(dir);
      ADD_FAILURE() << "no error for " << needle;
    } catch (const himtok::InputError& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
      EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
    }
  };
  {  // a missing shard
    const std::string dir = make_hf_folder("noshard");
    fs::remove(fs::path(dir) / "model-00002-of-00002.safetensors");
    expect_error(dir, "model-00002-of-00002");
    fs::remove_all(dir);
  }
  {  // a truncated shard
    const std::string dir = make_hf_folder("trunc");
    const fs::path p = fs::path(dir) / "model-00002-of-00002.safetensors";
    fs::resize_file(p, fs::file_size(p) / 2);
    expect_error(dir, "model-00002-of-00002");
    fs::remove_all(dir);
  }
  {  // the config of another model
    const std::string dir = make_hf_folder("llama");
    std::ofstream(fs::path(dir) / "config.json") << R"({"model_type": "llama", "hidden_size": 4096})";
    expect_error(dir, "not an InternVL chat config");
    fs::remove_all(dir);
  }
  {  // mis-sized config: the weights do not fit
    const std::string dir = make_hf_folder("badsize");
    json c;
    std::ifstream(fs::path(dir) / "config.json") >> c;
    c["llm_config"]["intermediate_size"] = 96;
    std::ofstream(fs::path(dir) / "config.json") << c.dump();
    expect_error(dir, "mis-shaped");
    fs::remove_all(dir);
  }
  {  // a tokenizer without the mask tokens
    const std::string dir = make_hf_folder("nomask");
    json t;
    std::ifstream(fs::path(dir) / "tokenizer_config.json") >> t;
    json dec = json::object();
    for (auto it = t["added_tokens_decoder"].begin(); it != t["added_tokens_decoder"].end(); ++it)
      if (std::stoi(it.key()) < 92553) dec[it.key()] = *it;
    t["added_tokens_decoder"] = dec;
    std::ofstream(fs::path(dir) / "tokenizer_config.json") << t.dump();
    expect_error(dir, "<|mt_start|>");
    fs::remove_all(dir);
  }
  {  // an unexpected key
    const std::string dir = make_hf_folder("extra", /*sharded=*/false);
    io::Weights w = io::Weights::open((fs::path(dir) / "model.safetensors").string());
    std::vector<io::TensorWrite> ts;
    for (const auto& k : w.names()) ts.push_back(io::from_tensor(k, w.get(k)));
    ts.push_back(io::from_tensor("language_model.model.extra", at::zeros({2})));
    io::save_safetensors((fs::path(dir) / "model.safetensors").string(), ts, {});
    expect_error(dir, "unexpected key");
    fs::remove_all(dir);
  }
}

// ---------------------------------------------------------------------------------------------
// CLI: segment --json, bad input, eval-refseg plumbing (the fixture has no pixels: gray images of
// the annotated sizes stand in; the GT side is checked against pycocotools' areas)

TEST_F(InternVL, CliSegmentJsonAndBadInput) {
  const fs::path tmp = fs::temp_directory_path() / ("himtok_cli_" + std::to_string(::getpid()));
  fs::create_directories(tmp);
  const Image wide = image_of(g("preprocess.safetensors", "input.wide"));
  io::save_image((tmp / "wide.png").string(), wide);
  // The golden RES question, unforced, 8 steps: the official prompt ids and generated ids.
  const std::string q = manifest()["prompts"]["res"]["question"].get<std::string>();
  // From the JPEG file itself (decoded as PIL decodes it): photo in, official ids out.
  auto r = test::run_cli("segment --threads 2 --model " + dir + " --image " + data_path("himtok-examples/images/0.jpg") +
                         " --prompt '" + q + "' --max-new-tokens 8 --json -o " + (tmp / "m.png").string());
  ASSERT_EQ(r.code, 0) << r.err;
  const json j = json::parse(r.out);
  EXPECT_EQ(ids_of(j["prompt_ids"]), ids_of(g("prompt.safetensors", "input_ids.res")));
  EXPECT_EQ(ids_of(j["ids"]), ids_of(g("llm.safetensors", "greedy.generated_ids")));
  EXPECT_TRUE(j["mask"].is_null());  // no <|mt_start|>: no mask, as the official code
  EXPECT_TRUE(j.contains("timings") && j.contains("boxes") && j.contains("text"));
  // Two <image> placeholders for one image; an unreadable image; a missing folder.
  r = test::run_cli("chat --model " + dir + " --image " + (tmp / "wide.png").string() + " --prompt '<image><image>hi'");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("<image>"), std::string::npos) << r.err;
  std::ofstream(tmp / "bad.jpg") << "not a jpeg";
  r = test::run_cli("segment --model " + dir + " --image " + (tmp / "bad.jpg").string() + " --ref road");
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(test::count_lines(r.err), 1) << r.err;
  r = test::run_cli("segment --model /nonexistent/folder --image " + (tmp / "wide.png").string() + " --ref road");
  EXPECT_EQ(r.code, 2);
  fs::remove_all(tmp);
}

TEST_F(InternVL, EvalRefsegPlumbingOnTheRefcocogFixture) {
  const fs::path tmp = fs::temp_directory_path() / ("himtok_refseg_" + std::to_string(::getpid()));
  fs::create_directories(tmp / "images");
  const auto refs = io::load_psalm_refs(data_path("refcocog/derived_himtok_psalm_format.json"));
  for (const auto& r : refs) io::save_image((tmp / "images" / r.image_file).string(), Image(r.mask.h, r.mask.w, 3, 128));
  const auto res = test::run_cli("eval-refseg --threads 2 --model " + dir + " --data " +
                                 data_path("refcocog/derived_himtok_psalm_format.json") + " --images " +
                                 (tmp / "images").string() + " --rows " + (tmp / "rows.jsonl").string());
  ASSERT_EQ(res.code, 0) << res.err;
  const json rep = json::parse(res.out);
  EXPECT_EQ(rep["task"], "res");
  EXPECT_EQ(rep["n"].get<int>(), 15);
  // Random weights never open a mask: every prediction is empty, so U = |GT| per object.
  std::map<int64_t, int64_t> area;
  std::ifstream orc(data_path("oracle/refcocog_umd_fixture_poly2rle.jsonl"));
  for (std::string line; std::getline(orc, line);) {
    const json o = json::parse(line);
    area[o["ref_id"].get<int64_t>()] = o["rle_area"].get<int64_t>();
  }
  std::ifstream rows(tmp / "rows.jsonl");
  int n = 0;
  for (std::string line; std::getline(rows, line); ++n) {
    const json row = json::parse(line);
    EXPECT_EQ(row["u"].get<int64_t>(), area.at(row["ref_id"].get<int64_t>())) << row["ref_id"];
    EXPECT_TRUE(row["question"].get<std::string>().rfind("Segment <ref>Meet all the descriptions: 1. ", 0) == 0);
  }
  EXPECT_EQ(n, 15);
  EXPECT_EQ(rep["ciou"].get<double>(), 0.0);
  // REC rows (evaluate_grounding.py layout): random weights give no parsable box, which the
  // official rule scores as (0, 0, 0, 0).
  {
    std::ofstream rec(tmp / "rec.jsonl");
    rec << R"({"image": "coco/)" << refs[0].image_file << R"(", "sent": "a woman", "bbox": [10, 20, 200, 300], "width": )"
        << refs[0].mask.w << R"(, "height": )" << refs[0].mask.h << "}\n";
  }
  const auto rr = test::run_cli("eval-refseg --threads 2 --max-tiles 1 --model " + dir + " --data " +
                                (tmp / "rec.jsonl").string() + " --images " + (tmp / "images").string() + " --rows " +
                                (tmp / "rec_rows.jsonl").string());
  ASSERT_EQ(rr.code, 0) << rr.err;
  const json rj = json::parse(rr.out);
  EXPECT_EQ(rj["task"], "rec");
  EXPECT_EQ(rj["n"].get<int>(), 1);
  std::ifstream rrows(tmp / "rec_rows.jsonl");
  std::string rl;
  ASSERT_TRUE(static_cast<bool>(std::getline(rrows, rl)));
  const json row = json::parse(rl);
  EXPECT_TRUE(row["question"].get<std::string>().find("<ref>Meet all the descriptions: 1. a woman. 2. a woman. </ref>") !=
              std::string::npos);
  const auto want = lmm::official_rec_box(row["answer"].get<std::string>(), refs[0].mask.w, refs[0].mask.h);
  EXPECT_EQ(row["box"].get<std::vector<double>>(), std::vector<double>(want.begin(), want.end()));
  fs::remove_all(tmp);
}
