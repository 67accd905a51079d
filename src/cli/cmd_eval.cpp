// himtok eval: RES / GRES / REC / open-vocabulary / mask-perception metrics of an LMM on generated scenes.
//   himtok eval --model M --seed 1 --scenes 100 --json eval.jsonl
#include <cstdio>
#include <fstream>
#include <sstream>

#include "cli/commands.h"
#include "common/error.h"
#include "eval/lmm_eval.h"
#include "tokenizer/tokenizer.h"

namespace himtok::cli {
namespace {

struct EvalArgs {
  std::string model, json, tasks = "res,gres,rec,ov,perception", split = "test", gallery;
  eval::LmmEvalOptions opt;
  int threads = 0;
};

int run_eval(EvalArgs a) {
  a.opt.tasks.clear();
  std::stringstream ss(a.tasks);
  std::string t;
  while (std::getline(ss, t, ','))
    if (!t.empty()) a.opt.tasks.push_back(t);
  a.opt.split = a.split;
  a.opt.gallery = a.gallery;
  tok::set_threads(a.threads);
  const lmm::Segmenter seg = lmm::Segmenter::load(a.model);
  const eval::LmmEvalReport rep = eval::evaluate_lmm(seg, a.opt);
  std::printf("%s", rep.table.c_str());
  if (!a.json.empty()) {
    std::ofstream f(a.json);
    HIMTOK_CHECK_INPUT(f.good(), a.json, ": cannot write");
    for (const auto& l : rep.json_lines) f << l << "\n";
  }
  return 0;
}

}  // namespace

HIMTOK_COMMAND(eval, 60) {
  auto a = std::make_shared<EvalArgs>();
  auto* sub = app.add_subcommand("eval", "Evaluate an LMM on generated scenes (RES, GRES, REC, open vocabulary, mask perception)");
  sub->add_option("--model,-m", a->model, "LMM file")->required();
  sub->add_option("--split", a->split, "train, val or test")->capture_default_str();
  sub->add_option("--seed", a->opt.seed, "Scene seed (0: the fixed split; other: a fresh draw)")->capture_default_str();
  sub->add_option("--scenes", a->opt.n_scenes, "Number of scenes")->capture_default_str();
  sub->add_option("--tasks", a->tasks, "Comma-separated: res,gres,rec,ov,perception")->capture_default_str();
  sub->add_option("--res-per-scene", a->opt.res_per_scene, "Single-target expressions per scene (RES, REC)")->capture_default_str();
  sub->add_option("--gres-per-scene", a->opt.gres_per_scene, "Expressions per scene (GRES)")->capture_default_str();
  sub->add_option("--ov-scenes", a->opt.ov_scenes, "Scenes for the open-vocabulary flow")->capture_default_str();
  sub->add_option("--batch", a->opt.seg.batch_size, "Questions generated together")->capture_default_str();
  sub->add_option("--max-new-tokens", a->opt.seg.max_new_tokens, "Generation budget")->capture_default_str();
  sub->add_flag("--from-ids", a->opt.seg.from_ids, "Decode masks from the generated ids instead of the logits");
  sub->add_option("--json", a->json, "Write the metrics as JSON lines");
  sub->add_option("--gallery", a->gallery, "Write a PNG gallery of RES predictions");
  sub->add_option("--gallery-n", a->opt.gallery_n, "Tiles in the gallery")->capture_default_str();
  sub->add_option("--threads", a->threads, "CPU threads (0: all cores)")->capture_default_str();
  return [a] { return run_eval(*a); };
}

}  // namespace himtok::cli
