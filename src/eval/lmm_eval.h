// Evaluation of a HiMTok LMM on generated scenes (data/scenes.h), one metric family per task:
//   res         "Segment <ref>expr</ref>." on single-target expressions: cIoU / gIoU (HiMTok
//               semantics) of the mask decoded from the first 32 tokens, and of the 4 / 8 / 16-token
//               prefixes of the same generation (the token-length ablation); also per expression
//               kind and on held-out (colour, shape) targets at 32 tokens
//   gres        existence question first, segmentation only on "yes" (paper §4.3), over single-,
//               multi- and no-target expressions: cIoU / gIoU / N-acc / T-acc (ReLA)
//   rec         "First create the segmentation mask for <ref>expr</ref>, then identify its bounding
//               box.": Acc@0.5/0.7/0.9 of the generated box (0..1000 coordinates, / 1000)
//   ov          one question per shape class ("circles"; existence, then segmentation), overlaps
//               to the smaller mask (paper §4.5): mIoU over the 6 shape classes; the GT
//               background is a 7th class that predictions claim when no class does
//   perception  mask tokens of a single-target object in the question, 4 options: accuracy
// Every scene, expression choice and option list is a function of (split, seed, index): two models
// evaluated with the same flags see the same questions. No libtorch (through lmm/segment.h).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "lmm/segment.h"

namespace himtok::eval {

struct LmmEvalOptions {
  std::string split = "test";
  uint64_t seed = 1;             // data::SceneOptions::seed (0: the fixed split, other: a fresh draw)
  int n_scenes = 100;
  int scene_size = 224;
  std::vector<std::string> tasks = {"res", "gres", "rec", "ov", "perception"};
  std::vector<int> token_counts = {4, 8, 16, 32};  // RES prefixes (32 must be among them)
  int res_per_scene = 2;         // single-target expressions per scene (RES and REC)
  int gres_per_scene = 3;        // expressions per scene for GRES (any kind)
  int ov_scenes = 30;            // scenes for the open-vocabulary flow (6 questions each and more)
  int perception_options = 4;
  lmm::SegmentOptions seg;       // batch size, from_ids, max_new_tokens
  std::string gallery;           // PNG path: the first gallery_n RES samples (green: truth, magenta: predicted)
  int gallery_n = 12;
};

struct LmmEvalReport {
  std::vector<std::string> json_lines;  // {"task": "res", "tokens": 32, "ciou": ..., "giou": ..., "n": ...}, ...
  std::string table;                    // the same as a Markdown table
};

// InputError for unknown tasks or bad counts.
LmmEvalReport evaluate_lmm(const lmm::Segmenter& seg, const LmmEvalOptions& opt);

}  // namespace himtok::eval
