// himtok eval-refseg: RES/gRES cIoU-gIoU or REC Acc@0.5 on the official benchmark files.
//   himtok eval-refseg --model DIR --data refcocog/refcocog_val.json --images coco/train2014
//   himtok eval-refseg --model DIR --data rec/refcoco_val.jsonl --images coco/train2014
#include <cstdio>

#include "cli/commands.h"
#include "common/error.h"
#include "common/log.h"
#include "eval/refseg_eval.h"
#include "lmm/segment.h"
#include "tokenizer/tokenizer.h"

namespace himtok::cli {
namespace {

struct EvalRefsegArgs {
  std::string model, device = "cpu", dtype = "fp32";
  eval::RefsegEvalOptions opt;
  int threads = 0;
};

int run_eval_refseg(const EvalRefsegArgs& a) {
  tok::set_threads(a.threads);
  const lmm::Segmenter seg = lmm::Segmenter::load(a.model, a.device, a.dtype);
  const eval::RefsegEvalReport r = eval::evaluate_refseg(seg, a.opt);
  if (r.task == "res")
    log::info(str_cat("RES on ", r.n, " objects: cIoU ", r.ciou, ", gIoU ", r.giou, " (", r.n_no_mask,
                      " answers without a mask), ", r.seconds, " s"));
  else
    log::info(str_cat("REC on ", r.n, " expressions: Acc@0.5 ", r.acc50, ", Acc@0.7 ", r.acc70, ", Acc@0.9 ", r.acc90,
                      ", ", r.seconds, " s"));
  std::printf("%s\n", r.to_json().c_str());
  return 0;
}

}  // namespace

HIMTOK_COMMAND(eval_refseg, 61) {
  auto a = std::make_shared<EvalRefsegArgs>();
  auto* sub = app.add_subcommand(
      "eval-refseg", "RES/gRES (cIoU, gIoU) or REC (Acc@0.5) on the official eval files, scored as the official scripts");
  sub->add_option("--model,-m", a->model, "A released InternVL2.5-HiMTok folder or a himtok LMM file")->required();
  sub->add_option("--data", a->opt.data,
                  "PSALM-format RES/gRES .json (evaluate_referseg.py) or REC .jsonl (evaluate_grounding.py)")
      ->required();
  sub->add_option("--images", a->opt.images, "Folder of the images (e.g. coco/train2014)")->required();
  sub->add_option("--split", a->opt.split, "RES: only entries of this split")->capture_default_str();
  sub->add_option("--limit", a->opt.limit, "Only the first N samples (0: all)")->capture_default_str();
  sub->add_option("--max-tiles", a->opt.max_tiles, "dynamic_preprocess max_num (--max-num)")->capture_default_str();
  sub->add_option("--tokens", a->opt.n_tokens, "Mask tokens decoded (1..32)")->capture_default_str();
  sub->add_option("--rows", a->opt.out_jsonl, "Write one JSON row per sample (answer, IoU)");
  sub->add_option("--device", a->device, "cpu or cuda[:N]")->capture_default_str();
  sub->add_option("--dtype", a->dtype, "fp32 or bf16")->capture_default_str();
  sub->add_option("--threads", a->threads, "CPU threads (0: all cores)")->capture_default_str();
  return [a] { return run_eval_refseg(*a); };
}

}  // namespace himtok::cli
