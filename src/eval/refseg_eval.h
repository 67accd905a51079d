// Evaluation on the real benchmarks in the official layouts, exactly as the official scripts score
// them (official-himtok.md §5):
//   RES / gRES (eval/evaluate_referseg.py): a PSALM-converted JSON list (one entry per referred
//     object: image_info, instruction [{sent}], anns); the question is
//     "Segment <ref>Meet all the descriptions: 1. s1. 2. s2. </ref>."; GT = OR of the anns; the
//     probability is NEAREST-resized to the image, > 0.5; cIoU = sum I / sum U, gIoU = mean IoU
//     with IoU 1 when U == 0. Entries without sentences are dropped (as the gRefCOCO loader does).
//   REC (eval/evaluate_grounding.py): a jsonl of {image, sent, bbox (xyxy pixels), width, height};
//     "First create the segmentation mask for <ref>Meet all the descriptions: 1. s. 2. s. </ref>,
//     then identify its bounding box."; max_new_tokens 100, min_new_tokens 1; the first box of the
//     answer (/999 when the values sum to >= 4, else fractions) x W, H; Acc@0.5/0.7/0.9 by
//     torchvision box_iou.
// The format is chosen by the file: .jsonl is REC, anything else RES. Torch-free (lmm/segment.h).
#pragma once
#include <cstdint>
#include <string>

namespace himtok::lmm {
class Segmenter;
}

namespace himtok::eval {

struct RefsegEvalOptions {
  std::string data;        // PSALM .json (RES/gRES) or REC .jsonl
  std::string images;      // folder of the images (file names from the data; REC: the basename)
  std::string split;       // RES: keep only entries of this split ("" = all)
  int64_t limit = 0;       // first N samples (0 = all)
  int max_tiles = 4;       // dynamic_preprocess max_num (--max-num of the official scripts)
  int n_tokens = 32;       // mask tokens decoded
  std::string out_jsonl;   // per-sample rows (answer, IoU, ...); "" = none
};

struct RefsegEvalReport {
  std::string task;                 // "res" or "rec"
  int64_t n = 0;                    // samples scored
  int64_t n_no_mask = 0;            // RES: answers without a (valid) mask
  double ciou = 0, giou = 0;        // RES
  double acc50 = 0, acc70 = 0, acc90 = 0;  // REC
  double seconds = 0;
  std::string to_json() const;
};

RefsegEvalReport evaluate_refseg(const lmm::Segmenter& seg, const RefsegEvalOptions& opt);

}  // namespace himtok::eval
