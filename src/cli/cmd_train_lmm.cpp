// himtok train-lmm: stages 2 and 3 of HiMTok (the LMM learns to write mask tokens);
// himtok make-scene: write a generated scene and its expressions (for `segment --image`).
//   himtok train-lmm --stage 2 --config configs/lmm_tiny.json --out runs/lmm-tiny/stage2
//   himtok train-lmm --stage 3 --config configs/lmm_tiny.json --init runs/lmm-tiny/stage2/model.safetensors
//     --out runs/lmm-tiny/stage3
#include <cstdio>
#include <filesystem>

#include "cli/commands.h"
#include "common/error.h"
#include "common/log.h"
#include "data/scenes.h"
#include "io/image.h"
#include "train/lmm_trainer.h"

namespace himtok::cli {
namespace {

struct TrainLmmArgs {
  int stage = 2;
  std::string config, out, init, tokenizer;
  bool resume = false, no_mask_loss = false;
  int64_t steps = -1;
  double max_minutes = -1;
  int threads = -1;
};

int run_train_lmm(const TrainLmmArgs& a) {
  train::LmmTrainConfig cfg = train::load_lmm_train_config(a.config, a.stage);
  if (!a.init.empty()) cfg.init = a.init;
  if (!a.tokenizer.empty()) cfg.tokenizer = a.tokenizer;
  if (a.steps > 0) cfg.steps = a.steps;
  if (a.max_minutes >= 0) cfg.max_minutes = a.max_minutes;
  if (a.threads >= 0) cfg.threads = a.threads;
  if (a.no_mask_loss) cfg.mask_loss = false;
  cfg.validate();
  const auto r = train::train_lmm(cfg, a.out, a.resume);
  std::printf("{\"stage\": %d, \"steps\": %lld, \"first_loss\": %.6f, \"last_loss\": %.6f, \"model\": \"%s\"}\n",
              cfg.stage, static_cast<long long>(r.steps_done), r.first_loss, r.last_loss, r.model_path.c_str());
  return 0;
}

struct MakeSceneArgs {
  std::string split = "test", out, masks;
  uint64_t index = 0, seed = 0;
  int size = 224;
};

int run_make_scene(const MakeSceneArgs& a) {
  data::SceneOptions so;
  so.seed = a.seed;
  so.size = a.size;
  const data::Scene sc = data::generate_scene(data::parse_split(a.split), a.index, so);
  if (!a.out.empty()) io::save_image(a.out, sc.image);
  if (!a.masks.empty()) std::filesystem::create_directories(a.masks);
  std::printf("# %s  (kind\ttargets\texpression)\n", sc.id.c_str());
  for (size_t i = 0; i < sc.expressions.size(); ++i) {
    const auto& e = sc.expressions[i];
    std::string t;
    for (int id : e.targets) t += (t.empty() ? "" : ",") + std::to_string(id);
    std::printf("%s\t%s\t%s\n", data::expr_kind_name(e.kind), t.empty() ? "-" : t.c_str(), e.text.c_str());
    if (!a.masks.empty())
      io::save_mask(a.masks + "/expr" + std::to_string(i) + ".png", data::expression_mask(sc, e));
  }
  for (const auto& q : sc.questions) std::printf("qa\t-\t%s\t%s\n", q.question.c_str(), q.answer.c_str());
  return 0;
}

}  // namespace

HIMTOK_COMMAND(train_lmm, 55) {
  auto a = std::make_shared<TrainLmmArgs>();
  auto* sub = app.add_subcommand("train-lmm", "Stages 2/3: train the LMM to segment by writing mask tokens");
  sub->add_option("--stage", a->stage, "2 (CE + mask loss through the de-tokenizer) or 3 (CE only, higher resolution)")
      ->required();
  sub->add_option("--config,-c", a->config, "Training config (configs/lmm_tiny.json)")->required();
  sub->add_option("--out,-o", a->out, "Run folder (checkpoint, metrics.jsonl, model.safetensors)")->required();
  sub->add_flag("--resume", a->resume, "Continue from OUT/checkpoint.safetensors");
  sub->add_option("--init", a->init, "Stage 3: the stage-2 model (overrides the config)");
  sub->add_option("--tokenizer", a->tokenizer, "Stage 2: the trained tokenizer (overrides the config)");
  sub->add_option("--steps", a->steps, "Override the number of steps");
  sub->add_option("--max-minutes", a->max_minutes, "Stop (checkpoint + model) after this many minutes");
  sub->add_option("--threads", a->threads, "CPU threads (0: all cores; default: the config's)");
  sub->add_flag("--no-mask-loss", a->no_mask_loss, "Stage 2 with cross-entropy only (ablation)");
  return [a] { return run_train_lmm(*a); };
}

HIMTOK_COMMAND(make_scene, 56) {
  auto a = std::make_shared<MakeSceneArgs>();
  auto* sub = app.add_subcommand("make-scene", "Write a generated scene image and print its expressions");
  sub->add_option("--split", a->split, "train, val or test")->capture_default_str();
  sub->add_option("--index", a->index, "Scene index")->capture_default_str();
  sub->add_option("--seed", a->seed, "Scene seed (0: the fixed splits)")->capture_default_str();
  sub->add_option("--size", a->size, "Image side")->capture_default_str();
  sub->add_option("-o,--out", a->out, "Scene PNG");
  sub->add_option("--masks", a->masks, "Folder for the ground-truth mask of each expression");
  return [a] { return run_make_scene(*a); };
}

}  // namespace himtok::cli
