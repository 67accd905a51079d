// Evaluation metrics, no libtorch. Each one names the code whose definition it follows:
//   - RES (HiMTok eval/predict.py::compute_iou): I = |pred & gt|, U = |pred | gt|, IoU = I/U and
//     IoU = 1 when U == 0; cIoU = sum I / sum U over the split, gIoU = mean per-sample IoU.
//   - GRES (ReLA / gRefCOCO evaluation): no-target samples (empty GT) score IoU 1 with an empty
//     prediction and 0 otherwise; N-acc / T-acc from the empty-vs-non-empty decisions.
//   - REC (HiMTok eval/evaluate_grounding.py): the first box matched by the regex
//     \[*\[(.*?),(.*?),(.*?),(.*?)\]\]* , divided by 999 when its numbers sum to >= 4, scaled by
//     the image width/height; IoU as torchvision box_iou (no +1); Acc@t = share with IoU >= t.
//   - Open-vocabulary mIoU (detectron2 SemSegEvaluator): per class sum I / sum U over the split,
//     mean over the classes present in the GT or the prediction; GT ignore pixels do not count.
//   - Mask perception (HiMTok eval/evaluate_mask_perception.py::Scorer.mcq_acc).
// Masks: common/mask.h, row-major, any non-zero byte is foreground. Sizes must match (InputError).
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/mask.h"

namespace himtok::eval {

// The thresholds of Pr@t (precision at IoU t) tables: 0.5, 0.6, 0.7, 0.8, 0.9.
inline constexpr std::array<double, 5> kPrThresholds = {0.5, 0.6, 0.7, 0.8, 0.9};

// ---------------------------------------------------------------------------------------------
// Masks (RES)

struct IouCounts {
  int64_t i = 0;  // |pred & gt|
  int64_t u = 0;  // |pred | gt|
};

IouCounts mask_iou_counts(const Mask& pred, const Mask& gt);
double iou_of(const IouCounts& c);  // I / U, 1.0 when U == 0
double mask_iou(const Mask& pred, const Mask& gt);

// RES over a split with HiMTok's semantics.
class ResMetrics {
 public:
  void add(const Mask& pred, const Mask& gt);
  void add(const IouCounts& c);
  int64_t n() const { return static_cast<int64_t>(ious_.size()); }
  double ciou() const;  // sum I / sum U; 0 when sum U == 0 (the official sum I / (sum U + 1e-10))
  double giou() const;  // mean IoU; 0 when empty
  double precision_at(double t) const;  // share of samples with IoU >= t; 0 when empty
  const std::vector<double>& ious() const { return ious_; }

 private:
  int64_t sum_i_ = 0, sum_u_ = 0;
  std::vector<double> ious_;
};

// ---------------------------------------------------------------------------------------------
// GRES (gRefCOCO, ReLA's definitions)
//
// A sample is "no-target" when its GT has no foreground pixel. A prediction is "empty" when it
// has at most `empty_max_pixels` foreground pixels (default 0: no foreground at all), or when the
// caller says so (the existence question was answered "no").
// Counts, with "has a target" as the positive class:
//   tp: target sample, non-empty prediction     fn: target sample, empty prediction
//   tn: no-target sample, empty prediction      fp: no-target sample, non-empty prediction
// (ReLA's code names them the other way round: its nt["TP"] is our tn.)
//   N-acc = tn / (tn + fp) over no-target samples;  T-acc = tp / (tp + fn) over target samples.
// cIoU / gIoU over all samples: a no-target sample adds I = 0 and U = 0 with IoU 1 when predicted
// empty, and I = 0, U = |pred| with IoU 0 otherwise; a target sample predicted empty counts
// I = 0 (and its union as computed); other target samples count I / U as in RES.
// Pr@t counts target samples only, as ReLA.
class GresMetrics {
 public:
  explicit GresMetrics(int64_t empty_max_pixels = 0);
  void add(const Mask& pred, const Mask& gt);
  // The same from counts: c = I, U of the predicted pixels against the GT pixels.
  void add(bool gt_empty, bool pred_empty, const IouCounts& c);

  int64_t n() const { return n_; }
  int64_t tp() const { return tp_; }
  int64_t fn() const { return fn_; }
  int64_t tn() const { return tn_; }
  int64_t fp() const { return fp_; }
  double ciou() const;   // sum I / sum U; 0 when sum U == 0
  double giou() const;   // mean IoU over all samples; 0 when empty
  double nacc() const;   // 0 when there is no no-target sample
  double tacc() const;   // 0 when there is no target sample
  double precision_at(double t) const;  // over target samples; 0 when none

 private:
  int64_t empty_max_pixels_;
  int64_t n_ = 0, tp_ = 0, fn_ = 0, tn_ = 0, fp_ = 0;
  int64_t sum_i_ = 0, sum_u_ = 0;
  double sum_iou_ = 0;
  std::vector<double> target_ious_;
};

// ---------------------------------------------------------------------------------------------
// REC (boxes)

struct Box {
  double x1 = 0, y1 = 0, x2 = 0, y2 = 0;  // pixels, corners (x2, y2 exclusive as in torchvision)
};

// torchvision box_iou: areas (x2-x1)*(y2-y1), intersection clamped at 0, no +1.
// 0 when the union is not positive or the result is not finite.
double box_iou(const Box& a, const Box& b);

inline constexpr double kBoxDivisorOfficial = 999.0;   // HiMTok evaluate_grounding.py
inline constexpr double kBoxDivisorInternVL = 1000.0;  // InternVL's own grounding eval

// The four numbers of the first match of \[*\[(.*?),(.*?),(.*?),(.*?)\]\]* in `text`, each read
// as Python float() reads it (surrounding whitespace, sign, exponent, inf/nan, '_' separators);
// nullopt when nothing matches or a group is not a number. Example: "<box>[[12, 30, 500, 999]]</box>".
std::optional<std::array<double, 4>> parse_box_numbers(const std::string& text);
// The official de-normalisation: numbers summing to >= 4 are divided by `divisor` (then read as
// fractions); x values are multiplied by `width`, y values by `height`.
Box denormalize_box(const std::array<double, 4>& v, int64_t width, int64_t height,
                    double divisor = kBoxDivisorOfficial);
// parse_box_numbers + denormalize_box.
std::optional<Box> parse_box(const std::string& text, int64_t width, int64_t height,
                             double divisor = kBoxDivisorOfficial);

class RecMetrics {
 public:
  // A missing prediction (nullopt: no parsable box) scores IoU 0, like the official (0,0,0,0).
  void add(const std::optional<Box>& pred, const Box& gt);
  int64_t n() const { return static_cast<int64_t>(ious_.size()); }
  double acc_at(double t) const;  // share with IoU >= t (Acc@0.5 / 0.7 / 0.9); 0 when empty
  const std::vector<double>& ious() const { return ious_; }

 private:
  std::vector<double> ious_;
};

// ---------------------------------------------------------------------------------------------
// Open-vocabulary semantic segmentation

struct LabelMap {
  int64_t h = 0, w = 0;
  std::vector<int32_t> data;  // row-major class ids; see SemSegMetrics for the special values
};

inline constexpr int32_t kNoClass = -1;

// The paper's §4.5 rule for one class per question: pixels claimed by several predicted class
// masks go to the class whose mask has the smaller area (ties: the earlier entry); pixels of no
// mask are kNoClass. All masks must be h x w.
LabelMap compose_label_map(int64_t h, int64_t w, const std::vector<std::pair<int32_t, Mask>>& class_masks);

class SemSegMetrics {
 public:
  // GT labels are in [0, n_classes) or ignore_label (not counted); predicted labels are in
  // [0, n_classes) or kNoClass (a pixel no class claimed: a miss for its GT class, no false
  // positive). Anything else raises InputError.
  explicit SemSegMetrics(int32_t n_classes, int32_t ignore_label = 255);
  void add(const LabelMap& pred, const LabelMap& gt);
  double miou() const;                       // mean over classes with GT or predicted pixels; 0 if none
  std::vector<double> class_iou() const;     // NaN for classes absent from GT and prediction
  const std::vector<int64_t>& intersections() const { return inter_; }
  const std::vector<int64_t>& unions() const { return union_; }

 private:
  int32_t n_classes_, ignore_label_;
  std::vector<int64_t> inter_, union_;
};

// ---------------------------------------------------------------------------------------------
// Mask perception (multiple choice)

// The official answer normaliser: "B. the red car" -> "B"; otherwise newlines/tabs to spaces,
// punctuation handling as the VQA normaliser, quotes and brackets stripped, lower case, and the
// first standalone letter a-e (upper-cased) if any, else the normalised text.
std::string parse_choice(const std::string& answer);
// Scorer.mcq_acc: parse both; a prediction that is not A-D counts as "A"; exact match.
bool choice_correct(const std::string& pred, const std::string& gt);

class ChoiceMetrics {
 public:
  void add(const std::string& pred, const std::string& gt);
  int64_t n() const { return n_; }
  double accuracy() const;  // 0 when empty (the official prints -1)

 private:
  int64_t n_ = 0, correct_ = 0;
};

}  // namespace himtok::eval
