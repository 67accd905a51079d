// The LMM half end to end on the micro presets (train/lmm_trainer, train/lmm_data, lmm/segment):
// a random micro tokenizer file -> stage 2 (CE + mask loss through the de-tokenizer) on a handful
// of 64 px scenes -> stage 3 (CE only, higher resolution, de-tokenizer frozen) -> save -> reload ->
// segment a scene: a response and a mask of the image size. Also: the loss decreases, the CE-only
// switch leaves the de-tokenizer untouched, every task builds a well-formed sample, and a resumed
// run reproduces the uninterrupted run's next losses exactly (1 thread, fp32: max-abs 0).
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/utils.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "data/scenes.h"
#include "io/weights.h"
#include "lmm/himtok_lmm.h"
#include "lmm/segment.h"
#include "lmm/templates.h"
#include "tokenizer/tokenizer.h"
#include "train/lmm_data.h"
#include "train/lmm_trainer.h"

namespace himtok::train {
namespace {

namespace fs = std::filesystem;

fs::path temp_dir() {
  static fs::path p = [] {
    fs::path d = fs::temp_directory_path() / ("himtok_test_train_lmm_" + std::to_string(::getpid()));
    fs::create_directories(d);
    return d;
  }();
  return p;
}

// A random micro tokenizer written as a himtok tokenizer file.
std::string micro_tokenizer() {
  static std::string path = [] {
    torch::manual_seed(11);
    const tok::TokenizerConfig cfg = tok::TokenizerConfig::preset("micro");
    tok::HiMT m(cfg);
    const std::string p = (temp_dir() / "tok-micro.safetensors").string();
    io::save_tensors(p, io::state_dict(*m), {{tok::kMetaConfig, cfg.to_json()}, {tok::kMetaKind, "tokenizer"}});
    return p;
  }();
  return path;
}

LmmTrainConfig micro_config(int stage) {
  LmmTrainConfig c;
  c.stage = stage;
  c.lmm_config = "micro";
  c.tokenizer = micro_tokenizer();
  c.vocab_size = 1500;
  c.vocab_corpus_scenes = 10;
  c.steps = 40;
  c.batch_size = 4;
  c.lr = 3e-3;
  c.warmup = 4;
  c.mask_loss_max = 2;
  c.log_every = 5;
  c.ckpt_every = 20;
  c.threads = 1;
  c.seed = 3;
  c.data.n_scenes = 6;  // a handful of scenes
  c.data.scene_size = 64;
  c.data.image_side = stage == 2 ? 16 : 32;  // 1 then 4 image tokens
  return c;
}

struct TrainLmmMicro : ::testing::Test {
  static void SetUpTestSuite() { at::set_num_threads(1); }
  static void TearDownTestSuite() { fs::remove_all(temp_dir()); }
};

TEST_F(TrainLmmMicro, EveryTaskBuildsAWellFormedSample) {
  LmmTrainConfig c = micro_config(2);
  auto b = lmm::LmmBundle::from_parts(micro_tokenizer(),
                                      lmm::Vocab::train(lmm::build_vocab_corpus(lmm::Templates::builtin(), 10, 1), {1500}),
                                      lmm::lmm_config_preset("micro"), 1);
  const lmm::Templates tpl = lmm::Templates::builtin();
  std::map<std::string, int> seen;
  for (auto& [task, w] : TaskMix{}.items()) {
    LmmDataConfig dc = c.data;
    TaskMix only;
    for (auto* f : {&only.seg, &only.seg_box, &only.box, &only.point, &only.n_tokens, &only.ground, &only.perception,
                    &only.exist, &only.cls, &only.qa})
      *f = 0;
    if (task == "seg") only.seg = 1;
    if (task == "seg_box") only.seg_box = 1;
    if (task == "box") only.box = 1;
    if (task == "point") only.point = 1;
    if (task == "n_tokens") only.n_tokens = 1;
    if (task == "ground") only.ground = 1;
    if (task == "perception") only.perception = 1;
    if (task == "exist") only.exist = 1;
    if (task == "class") only.cls = 1;
    if (task == "qa") only.qa = 1;
    dc.mix = only;
    LmmDataset ds(dc, b, tpl);
    for (int s = 0; s < 6; ++s) {
      const LmmSample smp = ds.sample(s, 0);
      ++seen[smp.task];
      ASSERT_EQ(smp.ids.size(), smp.labels.size());
      int n_img = 0, n_target = 0;
      for (size_t i = 0; i < smp.ids.size(); ++i) {
        n_img += smp.ids[i] == b.vocab.specials().img_context;
        n_target += smp.labels[i] != lmm::kIgnoreLabel;
      }
      EXPECT_EQ(n_img, b.config().n_image_tokens(16)) << smp.text;
      EXPECT_GT(n_target, 0) << smp.text;
      EXPECT_EQ(smp.labels.back(), b.vocab.encode("\n").back()) << "answers end with <|im_end|>\\n";
      if (smp.mask_start >= 0) {
        EXPECT_EQ(smp.ids[static_cast<size_t>(smp.mask_start) + 33], b.vocab.specials().mask_end);
        EXPECT_EQ(smp.target.h, 64);
        EXPECT_GT(smp.target.area(), 0);
      }
      // The same (step, row) gives the same sample.
      EXPECT_EQ(ds.sample(s, 0).ids, smp.ids);
    }
    LmmBatch batch = ds.batch(0, 3);
    EXPECT_EQ(batch.input_ids.size(0), 3);
    EXPECT_EQ(batch.pixel_values.size(2), 16);
    EXPECT_EQ(batch.mask_targets.size(0), static_cast<int64_t>(batch.mask_rows.size()));
  }
  for (const char* t : {"seg", "seg_box", "box", "point", "n_tokens", "ground", "perception", "exist", "class", "qa"})
    EXPECT_GT(seen[t], 0) << t;
}

TEST_F(TrainLmmMicro, Stage2ThenStage3ThenSegment) {
  const fs::path d2 = temp_dir() / "s2", d3 = temp_dir() / "s3";
  LmmTrainConfig c2 = micro_config(2);
  int64_t n_mask_steps = 0;
  const LmmTrainResult r2 = train_lmm(c2, d2.string(), false, [&](const LmmStepLog& l) {
    n_mask_steps += l.n_mask > 0;
    EXPECT_TRUE(std::isfinite(l.loss));
  });
  EXPECT_EQ(r2.steps_done, 40);
  EXPECT_LT(r2.last_loss, r2.first_loss * 0.8) << "stage-2 loss should fall";
  EXPECT_GT(n_mask_steps, 10) << "the mask loss should be active in most steps";
  EXPECT_TRUE(fs::exists(d2 / "model.safetensors"));
  EXPECT_TRUE(fs::exists(d2 / "loss.png"));
  EXPECT_TRUE(fs::exists(d2 / "config.json"));
  {
    std::ifstream f(d2 / "metrics.jsonl");
    std::string line;
    int n = 0;
    while (std::getline(f, line)) {
      auto j = nlohmann::json::parse(line);
      EXPECT_TRUE(j.contains("ce_mask") && j.contains("mask"));
      ++n;
    }
    EXPECT_EQ(n, 8);
  }

  LmmTrainConfig c3 = micro_config(3);
  c3.init = (d2 / "model.safetensors").string();
  c3.steps = 15;
  c3.data.mix.qa = 0.4;
  // The de-tokenizer must stay frozen in stage 3.
  const auto before = lmm::LmmBundle::load(c3.init).tensors();
  const LmmTrainResult r3 = train_lmm(c3, d3.string(), false);
  EXPECT_EQ(r3.steps_done, 15);
  const lmm::LmmBundle b3 = lmm::LmmBundle::load(r3.model_path);
  for (const auto& [k, t] : b3.tensors())
    if (k.rfind("mask_decoder.", 0) == 0) {
      EXPECT_TRUE(t.equal(before.at(k))) << k;
    }
  EXPECT_EQ(b3.image_side(), 32);

  const lmm::Segmenter seg = lmm::Segmenter::load(r3.model_path);
  data::SceneOptions so;
  so.size = 64;
  const data::Scene sc = data::generate_scene(data::SceneSplit::kTest, 0, so);
  lmm::SegmentOptions o;
  o.max_new_tokens = 48;
  const lmm::SegmentResult r = seg.run(sc.image, seg.segment_question(sc.expressions[0].text), o);
  EXPECT_FALSE(r.response.empty());
  EXPECT_EQ(r.mask.h, 64);
  EXPECT_EQ(r.mask.w, 64);
}

TEST_F(TrainLmmMicro, CrossEntropyOnlySwitchLeavesTheDeTokenizerAlone) {
  const fs::path d = temp_dir() / "ce";
  LmmTrainConfig c = micro_config(2);
  c.mask_loss = false;
  c.steps = 3;
  const LmmTrainResult r = train_lmm(c, d.string(), false, [](const LmmStepLog& l) { EXPECT_EQ(l.mask, 0.0); });
  const auto tok_w = io::Weights::open(micro_tokenizer());
  const lmm::LmmBundle b = lmm::LmmBundle::load(r.model_path);
  for (const auto& [k, t] : b.tensors())
    if (k.rfind("mask_decoder.", 0) == 0) {
      EXPECT_TRUE(t.equal(tok_w.get(k.substr(13)).to(t.scalar_type()))) << k;
    }
}

TEST_F(TrainLmmMicro, ResumeReproducesTheNextLosses) {
  LmmTrainConfig c = micro_config(2);
  c.steps = 6;
  c.ckpt_every = 100;
  std::vector<double> full, resumed;
  train_lmm(c, (temp_dir() / "full").string(), false, [&](const LmmStepLog& l) { full.push_back(l.loss); });
  ASSERT_EQ(full.size(), 6u);

  const std::string dir = (temp_dir() / "resumed").string();
  LmmTrainConfig first = c;
  first.stop_at = 3;
  train_lmm(first, dir, false, [&](const LmmStepLog& l) { resumed.push_back(l.loss); });
  ASSERT_EQ(resumed.size(), 3u);
  train_lmm(c, dir, true, [&](const LmmStepLog& l) { resumed.push_back(l.loss); });
  ASSERT_EQ(resumed.size(), 6u);
  for (size_t i = 0; i < 6; ++i) EXPECT_EQ(resumed[i], full[i]) << "step " << i + 1 << " (max-abs 0, 1 thread)";

  // A changed field that matters is refused.
  LmmTrainConfig other = c;
  other.lr = 1e-2;
  EXPECT_THROW(train_lmm(other, dir, true), InputError);
}

TEST_F(TrainLmmMicro, ConfigFilesLoadStrictly) {
  for (const char* name : {"lmm_micro.json", "lmm_tiny.json"}) {
    const std::string p = std::string(HIMTOK_SOURCE_DIR) + "/configs/" + name;
    for (int stage : {2, 3}) {
      LmmTrainConfig c;
      if (stage == 3) {
        nlohmann::json j;
        std::ifstream(p) >> j;
        j["stage3"]["init"] = "x.safetensors";
        c = lmm_train_config_from_json(j, 3, p);
      } else {
        c = load_lmm_train_config(p, 2);
      }
      EXPECT_EQ(c.stage, stage) << name;
      if (stage == 3) {
        EXPECT_GT(c.data.image_side, load_lmm_train_config(p, 2).data.image_side) << name;
      }
    }
  }
  nlohmann::json bad = {{"format", "himtok-lmm-train"}, {"version", 1}, {"stage2", {{"tokenizer", "t"}, {"lrr", 1}}}};
  EXPECT_THROW(lmm_train_config_from_json(bad, 2, "bad"), InputError);
  bad = {{"format", "himtok-lmm-train"}, {"version", 1}, {"common", {{"tokenizer", "t"}, {"data", {{"mix", {{"segg", 1}}}}}}}};
  EXPECT_THROW(lmm_train_config_from_json(bad, 2, "bad"), InputError);
}

}  // namespace
}  // namespace himtok::train
