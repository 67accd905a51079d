// Evaluation metrics (see metrics.h for whose definition each follows). No libtorch.
#include "eval/metrics.h"

#include "lmm/response.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <numeric>

#include "common/error.h"
#include "lmm/response.h"

namespace himtok::eval {

namespace {

void check_same_size(const Mask& pred, const Mask& gt, const char* what) {
  HIMTOK_CHECK_INPUT(pred.h == gt.h && pred.w == gt.w, what, ": prediction is ", pred.h, "x", pred.w,
                     ", expected the GT size ", gt.h, "x", gt.w);
  HIMTOK_CHECK_INPUT(pred.data.size() == static_cast<size_t>(pred.h * pred.w) &&
                         gt.data.size() == static_cast<size_t>(gt.h * gt.w),
                     what, ": mask data does not match its size");
}

int64_t count_fg(const Mask& m) {
  int64_t a = 0;
  for (uint8_t v : m.data) a += v != 0;
  return a;
}

double share_at_least(const std::vector<double>& v, double t) {
  if (v.empty()) return 0.0;
  int64_t k = 0;
  for (double x : v) k += x >= t;
  return static_cast<double>(k) / static_cast<double>(v.size());
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Masks (RES)

IouCounts mask_iou_counts(const Mask& pred, const Mask& gt) {
  check_same_size(pred, gt, "mask IoU");
  IouCounts c;
  for (size_t p = 0; p < gt.data.size(); ++p) {
    const bool a = pred.data[p] != 0, b = gt.data[p] != 0;
    c.i += a && b;
    c.u += a || b;
  }
  return c;
}

double iou_of(const IouCounts& c) {
  if (c.u == 0) return 1.0;
  return static_cast<double>(c.i) / static_cast<double>(c.u);
}

double mask_iou(const Mask& pred, const Mask& gt) { return iou_of(mask_iou_counts(pred, gt)); }

void ResMetrics::add(const Mask& pred, const Mask& gt) { add(mask_iou_counts(pred, gt)); }

void ResMetrics::add(const IouCounts& c) {
  sum_i_ += c.i;
  sum_u_ += c.u;
  ious_.push_back(iou_of(c));
}

double ResMetrics::ciou() const {
  return sum_u_ == 0 ? 0.0 : static_cast<double>(sum_i_) / static_cast<double>(sum_u_);
}

double ResMetrics::giou() const {
  if (ious_.empty()) return 0.0;
  return std::accumulate(ious_.begin(), ious_.end(), 0.0) / static_cast<double>(ious_.size());
}

double ResMetrics::precision_at(double t) const { return share_at_least(ious_, t); }

// ---------------------------------------------------------------------------------------------
// GRES

GresMetrics::GresMetrics(int64_t empty_max_pixels) : empty_max_pixels_(empty_max_pixels) {
  HIMTOK_CHECK_INPUT(empty_max_pixels >= 0, "GRES: empty_max_pixels is ", empty_max_pixels, ", expected >= 0");
}

void GresMetrics::add(const Mask& pred, const Mask& gt) {
  IouCounts c = mask_iou_counts(pred, gt);
  add(count_fg(gt) == 0, count_fg(pred) <= empty_max_pixels_, c);
}

void GresMetrics::add(bool gt_empty, bool pred_empty, const IouCounts& c) {
  ++n_;
  if (gt_empty) {
    if (pred_empty) {
      ++tn_;
      sum_iou_ += 1.0;
    } else {
      ++fp_;
      sum_u_ += c.u;  // = |pred|, the GT being empty
    }
    return;
  }
  int64_t i = c.i;
  if (pred_empty) {
    ++fn_;
    i = 0;
  } else {
    ++tp_;
  }
  const double iou = c.u == 0 ? 0.0 : static_cast<double>(i) / static_cast<double>(c.u);
  sum_iou_ += iou;
  sum_i_ += i;
  sum_u_ += c.u;
  target_ious_.push_back(iou);
}

double GresMetrics::ciou() const {
  return sum_u_ == 0 ? 0.0 : static_cast<double>(sum_i_) / static_cast<double>(sum_u_);
}

double GresMetrics::giou() const { return n_ == 0 ? 0.0 : sum_iou_ / static_cast<double>(n_); }

double GresMetrics::nacc() const {
  return tn_ + fp_ == 0 ? 0.0 : static_cast<double>(tn_) / static_cast<double>(tn_ + fp_);
}

double GresMetrics::tacc() const {
  return tp_ + fn_ == 0 ? 0.0 : static_cast<double>(tp_) / static_cast<double>(tp_ + fn_);
}

double GresMetrics::precision_at(double t) const { return share_at_least(target_ious_, t); }

// ---------------------------------------------------------------------------------------------
// REC

double box_iou(const Box& a, const Box& b) {
  const double area_a = (a.x2 - a.x1) * (a.y2 - a.y1);
  const double area_b = (b.x2 - b.x1) * (b.y2 - b.y1);
  const double w = std::max(std::min(a.x2, b.x2) - std::max(a.x1, b.x1), 0.0);
  const double h = std::max(std::min(a.y2, b.y2) - std::max(a.y1, b.y1), 0.0);
  const double inter = w * h;
  const double uni = area_a + area_b - inter;
  if (!(uni > 0)) return 0.0;
  const double iou = inter / uni;
  return std::isfinite(iou) ? iou : 0.0;
}

namespace {

bool is_py_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v' || (c >= 0x1c && c <= 0x1f);
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

std::string strip_py(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && is_py_space(s[b])) ++b;
  while (e > b && is_py_space(s[e - 1])) --e;
  return s.substr(b, e - b);
}

[[maybe_unused]] std::string strip_char(const std::string& s, char c) {
  size_t b = 0, e = s.size();
  while (b < e && s[b] == c) ++b;
  while (e > b && s[e - 1] == c) --e;
  return s.substr(b, e - b);
}

std::string ascii_lower(std::string s) {
  for (char& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return s;
}

// Digits with single '_' between them (Python's digitpart), appended to `out` without the '_'.
// Returns the number of digits read.
size_t read_digitpart(const std::string& s, size_t& i, std::string& out) {
  size_t n = 0;
  if (i >= s.size() || !is_digit(s[i])) return 0;
  out += s[i++];
  ++n;
  while (i < s.size()) {
    if (is_digit(s[i])) {
      out += s[i++];
      ++n;
    } else if (s[i] == '_' && i + 1 < s.size() && is_digit(s[i + 1])) {
      out += s[i + 1];
      i += 2;
      ++n;
    } else {
      break;
    }
  }
  return n;
}

// Python float(str) for ASCII input; nullopt where Python raises ValueError.
std::optional<double> parse_py_float(const std::string& raw) {
  const std::string s = strip_py(raw);
  size_t i = 0;
  bool neg = false;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) neg = s[i++] == '-';
  const std::string rest = ascii_lower(s.substr(i));
  if (rest == "inf" || rest == "infinity") return neg ? -HUGE_VAL : HUGE_VAL;
  if (rest == "nan") return std::numeric_limits<double>::quiet_NaN();
  std::string num, int_digits, frac_digits, exp_digits;
  size_t n_int = read_digitpart(s, i, int_digits), n_frac = 0;
  num += int_digits;
  if (i < s.size() && s[i] == '.') {
    ++i;
    n_frac = read_digitpart(s, i, frac_digits);
    num += "." + frac_digits;
  }
  if (n_int + n_frac == 0) return std::nullopt;
  int64_t exp_value = 0;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    std::string sign;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) sign = s[i++];
    if (read_digitpart(s, i, exp_digits) == 0) return std::nullopt;
    num += "e" + sign + exp_digits;
    exp_value = exp_digits.size() > 6 ? 9999999 : std::stoll(exp_digits);
    if (sign == "-") exp_value = -exp_value;
  }
  if (i != s.size()) return std::nullopt;
  double v = 0;
  auto [ptr, ec] = std::from_chars(num.data(), num.data() + num.size(), v, std::chars_format::general);
  if (ec == std::errc::result_out_of_range) {
    // Overflow to inf or underflow to 0, as Python: decide by the decimal magnitude.
    const std::string digits = int_digits + frac_digits;
    const size_t first = digits.find_first_not_of('0');
    const int64_t mag = static_cast<int64_t>(int_digits.size()) - static_cast<int64_t>(first) - 1 + exp_value;
    v = mag > 0 ? HUGE_VAL : 0.0;
  } else if (ec != std::errc() || ptr != num.data() + num.size()) {
    return std::nullopt;
  }
  return neg ? -v : v;
}

}  // namespace

std::optional<std::array<double, 4>> parse_box_numbers(const std::string& t) {
  // \[*\[(.*?),(.*?),(.*?),(.*?)\]\]* : '.' is any char but '\n'. For a run of '[' ending at p,
  // the lazy groups end at the first three ',' after p and the first ']' after them, all before
  // the next '\n'; if that fails, no later start on the same line can succeed.
  const size_t n = t.size();
  size_t i = 0;
  while (i < n) {
    if (t[i] != '[') {
      ++i;
      continue;
    }
    size_t p = i;
    while (p < n && t[p] == '[') ++p;
    size_t line_end = t.find('\n', p);
    if (line_end == std::string::npos) line_end = n;
    size_t ends[4];
    size_t from = p;
    bool ok = true;
    for (int g = 0; g < 4 && ok; ++g) {
      size_t e = t.find(g < 3 ? ',' : ']', from);
      if (e == std::string::npos || e >= line_end) {
        ok = false;
      } else {
        ends[g] = e;
        from = e + 1;
      }
    }
    if (ok) {
      std::array<double, 4> v{};
      size_t begin = p;
      for (int g = 0; g < 4; ++g) {
        std::optional<double> x = parse_py_float(t.substr(begin, ends[g] - begin));
        if (!x) return std::nullopt;  // the official float() fails -> box (0, 0, 0, 0)
        v[g] = *x;
        begin = ends[g] + 1;
      }
      return v;
    }
    i = line_end;
  }
  return std::nullopt;
}

Box denormalize_box(const std::array<double, 4>& v, int64_t width, int64_t height, double divisor) {
  HIMTOK_CHECK_INPUT(divisor > 0, "box: divisor ", divisor, ", expected > 0");
  std::array<double, 4> x = v;
  if (v[0] + v[1] + v[2] + v[3] >= 4)
    for (double& c : x) c /= divisor;
  return Box{x[0] * static_cast<double>(width), x[1] * static_cast<double>(height), x[2] * static_cast<double>(width),
             x[3] * static_cast<double>(height)};
}

std::optional<Box> parse_box(const std::string& text, int64_t width, int64_t height, double divisor) {
  auto v = parse_box_numbers(text);
  if (!v) return std::nullopt;
  return denormalize_box(*v, width, height, divisor);
}

void RecMetrics::add(const std::optional<Box>& pred, const Box& gt) {
  ious_.push_back(pred ? box_iou(*pred, gt) : 0.0);
}

double RecMetrics::acc_at(double t) const { return share_at_least(ious_, t); }

// ---------------------------------------------------------------------------------------------
// Open-vocabulary semantic segmentation

LabelMap compose_label_map(int64_t h, int64_t w, const std::vector<std::pair<int32_t, Mask>>& class_masks) {
  HIMTOK_CHECK_INPUT(h >= 0 && w >= 0, "label map: size ", h, "x", w, ", expected non-negative");
  LabelMap out{h, w, std::vector<int32_t>(static_cast<size_t>(h * w), kNoClass)};
  std::vector<int64_t> area(class_masks.size());
  for (size_t k = 0; k < class_masks.size(); ++k) {
    const Mask& m = class_masks[k].second;
    HIMTOK_CHECK_INPUT(m.h == h && m.w == w && m.data.size() == static_cast<size_t>(h * w), "label map: mask ", k,
                       " (class ", class_masks[k].first, ") is ", m.h, "x", m.w, ", expected ", h, "x", w);
    HIMTOK_CHECK_INPUT(class_masks[k].first >= 0, "label map: mask ", k, " has class ", class_masks[k].first,
                       ", expected >= 0");
    area[k] = count_fg(m);
  }
  // Paint the largest first so that smaller masks win overlaps; among equal areas the earlier
  // entry is painted last and wins.
  std::vector<size_t> order(class_masks.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (area[a] != area[b]) return area[a] > area[b];
    return a > b;
  });
  for (size_t k : order) {
    const Mask& m = class_masks[k].second;
    for (size_t p = 0; p < m.data.size(); ++p)
      if (m.data[p]) out.data[p] = class_masks[k].first;
  }
  return out;
}

SemSegMetrics::SemSegMetrics(int32_t n_classes, int32_t ignore_label)
    : n_classes_(n_classes), ignore_label_(ignore_label) {
  HIMTOK_CHECK_INPUT(n_classes > 0, "mIoU: ", n_classes, " classes, expected > 0");
  HIMTOK_CHECK_INPUT(ignore_label < 0 || ignore_label >= n_classes, "mIoU: ignore label ", ignore_label,
                     " is a class id (0..", n_classes - 1, ")");
  inter_.assign(static_cast<size_t>(n_classes), 0);
  union_.assign(static_cast<size_t>(n_classes), 0);
}

void SemSegMetrics::add(const LabelMap& pred, const LabelMap& gt) {
  HIMTOK_CHECK_INPUT(pred.h == gt.h && pred.w == gt.w, "mIoU: prediction is ", pred.h, "x", pred.w,
                     ", expected the GT size ", gt.h, "x", gt.w);
  HIMTOK_CHECK_INPUT(pred.data.size() == static_cast<size_t>(pred.h * pred.w) &&
                         gt.data.size() == static_cast<size_t>(gt.h * gt.w),
                     "mIoU: label data does not match its size");
  std::vector<int64_t> n_gt(inter_.size(), 0), n_pred(inter_.size(), 0), n_inter(inter_.size(), 0);
  for (size_t p = 0; p < gt.data.size(); ++p) {
    const int32_t g = gt.data[p], q = pred.data[p];
    if (g == ignore_label_) continue;
    HIMTOK_CHECK_INPUT(g >= 0 && g < n_classes_, "mIoU: GT label ", g, " at pixel ", p, ", expected 0..",
                       n_classes_ - 1, " or the ignore label ", ignore_label_);
    HIMTOK_CHECK_INPUT(q == kNoClass || (q >= 0 && q < n_classes_), "mIoU: predicted label ", q, " at pixel ", p,
                       ", expected 0..", n_classes_ - 1, " or ", kNoClass, " (no class)");
    ++n_gt[static_cast<size_t>(g)];
    if (q == kNoClass) continue;
    ++n_pred[static_cast<size_t>(q)];
    if (q == g) ++n_inter[static_cast<size_t>(g)];
  }
  for (size_t c = 0; c < inter_.size(); ++c) {
    inter_[c] += n_inter[c];
    union_[c] += n_gt[c] + n_pred[c] - n_inter[c];
  }
}

std::vector<double> SemSegMetrics::class_iou() const {
  std::vector<double> out(inter_.size(), std::numeric_limits<double>::quiet_NaN());
  for (size_t c = 0; c < inter_.size(); ++c)
    if (union_[c] > 0) out[c] = static_cast<double>(inter_[c]) / static_cast<double>(union_[c]);
  return out;
}

double SemSegMetrics::miou() const {
  double sum = 0;
  int64_t k = 0;
  for (double v : class_iou())
    if (!std::isnan(v)) {
      sum += v;
      ++k;
    }
  return k == 0 ? 0.0 : sum / static_cast<double>(k);
}

// ---------------------------------------------------------------------------------------------
// Mask perception

// One implementation of the official scorer's answer processing, shared with the LMM's parsers.
std::string parse_choice(const std::string& answer) { return lmm::parse_choice_answer(answer); }

bool choice_correct(const std::string& pred, const std::string& gt) {
  std::string p = parse_choice(pred);
  if (p != "A" && p != "B" && p != "C" && p != "D") p = "A";
  return p == parse_choice(gt);
}

void ChoiceMetrics::add(const std::string& pred, const std::string& gt) {
  ++n_;
  correct_ += choice_correct(pred, gt);
}

double ChoiceMetrics::accuracy() const { return n_ == 0 ? 0.0 : static_cast<double>(correct_) / static_cast<double>(n_); }

}  // namespace himtok::eval
