// open_mask_source: spec string -> source (see mask_source.h); the synthetic source; group
// splits; the minimum-area filter.
#include "data/mask_source.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>

#include "common/error.h"
#include "data/coco_source.h"
#include "data/crop_source.h"
#include "data/masks_filter.h"
#include "data/masks_rng.h"
#include "data/masks_sources.h"
#include "data/synthetic.h"

namespace fs = std::filesystem;

namespace himtok::data {

namespace {

bool ends_with_ci(const std::string& s, const std::string& suffix) {
  if (s.size() < suffix.size()) return false;
  for (size_t i = 0; i < suffix.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(s[s.size() - suffix.size() + i])) != suffix[i]) return false;
  return true;
}

bool parse_u64(const std::string& s, uint64_t* out) {
  if (s.empty() || s.size() > 19 || s.find_first_not_of("0123456789") != std::string::npos) return false;
  *out = std::stoull(s);
  return true;
}

// ---------------------------------------------------------------------------------------------
// synthetic:N[:SEED]. Frame sizes vary per item like real images (long side 256..640, aspect
// 1:2..2:1) so that the stretch to the model's square input distorts shapes as it does for
// real data; the shape itself is make_synthetic_mask(seed, index).

class SyntheticSource : public MaskSource, public detail::AreaInfo, public detail::GroupInfo {
 public:
  SyntheticSource(uint64_t n, uint64_t seed) : n_(n), seed_(seed) {}
  size_t size() const override { return static_cast<size_t>(n_); }
  MaskItem get(size_t i) const override {
    HIMTOK_CHECK_INPUT(i < n_, "synthetic: index ", i, " out of range (", n_, " masks)");
    SyntheticOptions opt = options(i);
    SyntheticMask s = make_synthetic_mask(seed_, i, opt);
    MaskItem it;
    it.id = str_cat("synthetic:", seed_, "/", i, "/", synthetic_kind_name(s.kind));
    it.group = str_cat("synthetic/", i);
    it.mask = std::move(s.mask);
    return it;
  }
  std::string describe() const override { return str_cat("synthetic: ", n_, " masks, seed ", seed_); }
  int64_t item_area(size_t) const override { return -1; }
  std::string item_group(size_t i) const override { return str_cat("synthetic/", i); }
  int64_t min_area_bound() const override {
    // smallest frame 128 x 256 (long side 256, aspect 2) times the smallest area fraction
    return static_cast<int64_t>(SyntheticOptions{}.min_area_frac * 128 * 256);
  }

 private:
  SyntheticOptions options(size_t i) const {
    Rng r(seed_, i, /*salt=*/0x53495a45);
    double long_side = r.uniform(256, 640), aspect = r.log_uniform(0.5, 2.0);
    SyntheticOptions opt;
    int64_t a = static_cast<int64_t>(long_side), b = std::max<int64_t>(128, static_cast<int64_t>(long_side / std::max(aspect, 1 / aspect)));
    opt.h = aspect >= 1 ? b : a;
    opt.w = aspect >= 1 ? a : b;
    return opt;
  }
  uint64_t n_, seed_;
};

// ---------------------------------------------------------------------------------------------

std::string group_of(const MaskSource& src, size_t i) {
  if (const auto* g = dynamic_cast<const detail::GroupInfo*>(&src)) return g->item_group(i);
  return src.get(i).group;
}

class FilteredSource : public MaskSource, public detail::GroupInfo {
 public:
  FilteredSource(std::unique_ptr<MaskSource> src, std::vector<size_t> keep, int64_t min_area)
      : src_(std::move(src)), keep_(std::move(keep)), min_area_(min_area) {}
  size_t size() const override { return keep_.size(); }
  MaskItem get(size_t i) const override {
    HIMTOK_CHECK_INPUT(i < keep_.size(), "filtered source: index ", i, " out of range (", keep_.size(), " masks)");
    return src_->get(keep_[i]);
  }
  std::string item_group(size_t i) const override { return group_of(*src_, keep_.at(i)); }
  std::string describe() const override {
    return str_cat(src_->describe(), "; area >= ", min_area_, " px: ", keep_.size(), " kept");
  }

 private:
  std::unique_ptr<MaskSource> src_;
  std::vector<size_t> keep_;
  int64_t min_area_;
};

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

}  // namespace

namespace detail {
std::unique_ptr<MaskSource> make_synthetic_source(uint64_t n, uint64_t seed) {
  return std::make_unique<SyntheticSource>(n, seed);
}
}  // namespace detail

std::unique_ptr<MaskSource> open_mask_source(const std::string& spec) {
  const std::string usage =
      "; expected DIR, palette:DIR, FILE.json, crop:[MARGIN:]FILE.json, FILE.jsonl or synthetic:N[:SEED]";
  HIMTOK_CHECK_INPUT(!spec.empty(), "mask source: empty spec", usage);
  if (spec.rfind("synthetic:", 0) == 0) {
    std::string rest = spec.substr(10);
    std::string n_str = rest.substr(0, rest.find(':'));
    std::string seed_str = rest.find(':') == std::string::npos ? "0" : rest.substr(rest.find(':') + 1);
    uint64_t n = 0, seed = 0;
    HIMTOK_CHECK_INPUT(parse_u64(n_str, &n) && n > 0 && n <= (1ull << 40), spec, ": bad count '", n_str,
                       "'; expected synthetic:N[:SEED] with 0 < N <= 2^40");
    HIMTOK_CHECK_INPUT(parse_u64(seed_str, &seed), spec, ": bad seed '", seed_str,
                       "'; expected synthetic:N[:SEED] with a non-negative integer seed");
    return detail::make_synthetic_source(n, seed);
  }
  if (spec.rfind("palette:", 0) == 0) {
    std::string dir = spec.substr(8);
    HIMTOK_CHECK_INPUT(fs::is_directory(dir), spec, ": no such directory");
    return detail::make_palette_source(dir);
  }
  if (spec.rfind("crop:", 0) == 0) {
    // crop:FILE.json or crop:MARGIN:FILE.json (a leading number followed by ':' is the margin)
    std::string rest = spec.substr(5);
    double margin = kDefaultCropMargin;
    const size_t colon = rest.find(':');
    if (colon != std::string::npos) {
      const std::string m = rest.substr(0, colon);
      char* end = nullptr;
      const double v = std::strtod(m.c_str(), &end);
      if (!m.empty() && end == m.c_str() + m.size()) {
        HIMTOK_CHECK_INPUT(std::isfinite(v) && v >= 0 && v <= 10, spec, ": crop margin ", m, " out of range 0..10");
        margin = v;
        rest = rest.substr(colon + 1);
      }
    }
    HIMTOK_CHECK_INPUT(ends_with_ci(rest, ".json"), spec, ": crop: expects a COCO .json file", usage);
    HIMTOK_CHECK_INPUT(fs::is_regular_file(rest), spec, ": no such file");
    return make_crop_source(rest, margin);
  }
  if (ends_with_ci(spec, ".jsonl")) {
    HIMTOK_CHECK_INPUT(fs::is_regular_file(spec), spec, ": no such file");
    return detail::make_jsonl_source(spec);
  }
  if (ends_with_ci(spec, ".json")) {
    HIMTOK_CHECK_INPUT(fs::is_regular_file(spec), spec, ": no such file");
    return make_coco_mask_source(spec);
  }
  if (fs::is_directory(spec)) return detail::make_png_dir_source(spec);
  HIMTOK_CHECK_INPUT(fs::exists(spec), spec, ": no such file or directory", usage);
  throw InputError(str_cat(spec, ": unknown mask source", usage));
}

Split split_by_group(const MaskSource& src, int val_permille, uint64_t seed) {
  HIMTOK_CHECK_INPUT(val_permille >= 0 && val_permille <= 1000, "split: val_permille ", val_permille,
                     " out of range 0..1000");
  std::vector<std::string> groups(src.size());
  detail::parallel_for(groups.size(), [&](size_t i) { groups[i] = group_of(src, i); });
  Split split;
  for (size_t i = 0; i < groups.size(); ++i) {
    bool val = hash_words(fnv1a(groups[i]), seed) % 1000 < static_cast<uint64_t>(val_permille);
    (val ? split.val : split.train).push_back(i);
  }
  return split;
}

std::unique_ptr<MaskSource> filter_min_area(std::unique_ptr<MaskSource> src, int64_t min_area) {
  HIMTOK_CHECK_INPUT(src != nullptr, "filter_min_area: no source");
  HIMTOK_CHECK_INPUT(min_area >= 0, "filter_min_area: min_area ", min_area, " is negative");
  const auto* info = dynamic_cast<const detail::AreaInfo*>(src.get());
  std::vector<size_t> keep;
  if (info && info->min_area_bound() >= min_area) {
    keep.resize(src->size());
    for (size_t i = 0; i < keep.size(); ++i) keep[i] = i;
  } else {
    std::vector<int64_t> area(src->size(), -1);
    if (info)
      for (size_t i = 0; i < area.size(); ++i) area[i] = info->item_area(i);
    detail::parallel_for(area.size(), [&](size_t i) {
      if (area[i] < 0) area[i] = src->get(i).mask.area();
    });
    for (size_t i = 0; i < area.size(); ++i)
      if (area[i] >= min_area) keep.push_back(i);
  }
  return std::make_unique<FilteredSource>(std::move(src), std::move(keep), min_area);
}

}  // namespace himtok::data
