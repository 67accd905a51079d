// data/: the real object masks shipped for stage-1 training (data/coco2017-excerpts, data/taco)
// and the crop source (data/crop_source.h) that makes TACO's small litter objects fill the frame.
// These tests read the shipped training files in data/ (they are what the trainer reads); the
// expected counts are parsed from the JSON here (nlohmann, independently of io/coco) and checked
// against the upstream counts in the files' SOURCE.txt; masks are checked against the full-frame
// decode of io/coco + io/rle, the codec that tests/test_io_rle.cpp and test_io_coco.cpp hold to
// the pycocotools oracle.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <set>

#include "common/error.h"
#include "data/crop_source.h"
#include "data/mask_source.h"
#include "io/coco.h"
#include "io/rle.h"

using himtok::InputError;
using himtok::Mask;
using namespace himtok::data;
namespace io = himtok::io;

namespace {

const std::string kRepo = HIMTOK_SOURCE_DIR;
const std::string kCoco = kRepo + "/data/coco2017-excerpts/instances_excerpts2017.json";
const std::string kTacoOfficial = kRepo + "/data/taco/taco_official.json";
const std::string kTacoUnofficial = kRepo + "/data/taco/taco_unofficial.json";

nlohmann::json read_json(const std::string& path) {
  std::ifstream f(path);
  return nlohmann::json::parse(f);
}

// Tight box of a mask's foreground by a plain scan: {x0, y0, x1, y1} (exclusive ends); x1 == 0 if empty.
std::array<int64_t, 4> scan_box(const Mask& m) {
  std::array<int64_t, 4> b = {m.w, m.h, 0, 0};
  for (int64_t y = 0; y < m.h; ++y)
    for (int64_t x = 0; x < m.w; ++x)
      if (m.at(y, x)) {
        b[0] = std::min(b[0], x), b[1] = std::min(b[1], y);
        b[2] = std::max(b[2], x + 1), b[3] = std::max(b[3], y + 1);
      }
  return b;
}

}  // namespace

// Every annotation of the shipped files is a mask: counts parsed from the JSON, and TACO's two
// files together hold the 13,103 non-empty objects the upstream SOURCE.txt counts, less the 8
// drawn wholly outside their photo (data/taco/SOURCE.txt).
TEST(DataRealMasks, ShippedSourcesLoadWithTheirCounts) {
  const size_t n_coco = read_json(kCoco).at("annotations").size();
  const size_t n_off = read_json(kTacoOfficial).at("annotations").size();
  const size_t n_unoff = read_json(kTacoUnofficial).at("annotations").size();
  EXPECT_EQ(n_off + n_unoff, 13103u - 8u);  // upstream: 4,784 + 8,319 non-empty
  EXPECT_EQ(n_off, 4784u);
  // SOURCE.txt: 2,827 non-crowd masks less the 22 objects of the two evaluation images.
  EXPECT_EQ(n_coco, 2827u - 22u);
  auto coco = open_mask_source(kCoco);
  auto off = open_mask_source("crop:" + kTacoOfficial);
  auto unoff = open_mask_source("crop:0.1:" + kTacoUnofficial);
  EXPECT_EQ(coco->size(), n_coco);
  EXPECT_EQ(off->size(), n_off);
  EXPECT_EQ(unoff->size(), n_unoff);
  // The evaluation set's images are not in the training file.
  std::set<int64_t> eval_images;
  for (auto& r : read_json(kRepo + "/data/coco-fakesegm100/instances_val2014_fakesegm100_results.json"))
    eval_images.insert(r.at("image_id").get<int64_t>());
  const auto coco_json = read_json(kCoco);  // not `read_json(..).at(..)` in the loop head: the temporary would die first
  for (auto& im : coco_json.at("images")) EXPECT_EQ(eval_images.count(im.at("id").get<int64_t>()), 0u);
}

// COCO masks in the image frame: every rasterised polygon lies inside the JSON "bbox" (the
// polygons' extent, written by the annotation tool) grown by a pixel, and nearly every one
// spans it to within a pixel on all four sides (thin spikes narrower than a pixel centre are
// not rasterised, so a few are shorter).
TEST(DataRealMasks, CocoMasksMatchTheirJsonBoxes) {
  auto src = open_mask_source(kCoco);
  const auto anns = read_json(kCoco).at("annotations");
  ASSERT_EQ(src->size(), anns.size());
  int64_t checked = 0, tight = 0;
  for (size_t i = 0; i < src->size(); i += 3) {
    const Mask m = src->get(i).mask;
    const auto b = scan_box(m);
    ASSERT_GT(b[2], 0) << i;
    const auto jb = anns[i].at("bbox");
    const double x = jb[0], y = jb[1], w = jb[2], h = jb[3];
    EXPECT_GE(static_cast<double>(b[0]), x - 1) << i;
    EXPECT_GE(static_cast<double>(b[1]), y - 1) << i;
    EXPECT_LE(static_cast<double>(b[2]), x + w + 1) << i;
    EXPECT_LE(static_cast<double>(b[3]), y + h + 1) << i;
    tight += std::abs(b[0] - x) <= 1 && std::abs(b[1] - y) <= 1 && std::abs(b[2] - (x + w)) <= 1 &&
             std::abs(b[3] - (y + h)) <= 1;
    ++checked;
  }
  EXPECT_GT(checked, 900);
  EXPECT_GE(static_cast<double>(tight), 0.9 * static_cast<double>(checked)) << tight << " of " << checked;
  std::printf("COCO raster boxes within 1 px of the JSON bbox: %lld of %lld\n", static_cast<long long>(tight),
              static_cast<long long>(checked));
}

// 10% of the images of each real source are held out: the split is a pure function of the
// image ids and the seed, and no image has objects on both sides.
TEST(DataRealMasks, SplitByImageIsDisjointAndDeterministic) {
  for (const std::string& spec : {kCoco, "crop:" + kTacoOfficial, "crop:" + kTacoUnofficial}) {
    auto src = open_mask_source(spec);
    const Split s = split_by_group(*src, 100, 1);
    EXPECT_EQ(s.train.size() + s.val.size(), src->size()) << spec;
    // Item i is the file's annotation i and its group that annotation's image id (sampled here);
    // the sides are then compared by the JSON image ids, without decoding every mask.
    const auto anns = read_json(spec.rfind("crop:", 0) == 0 ? spec.substr(5) : spec).at("annotations");
    ASSERT_EQ(anns.size(), src->size()) << spec;
    for (size_t i = 0; i < anns.size(); i += 97)
      EXPECT_EQ(src->get(i).group, std::to_string(anns[i].at("image_id").get<int64_t>())) << spec << " #" << i;
    std::set<int64_t> tr, va;
    for (size_t i : s.train) tr.insert(anns[i].at("image_id").get<int64_t>());
    for (size_t i : s.val) va.insert(anns[i].at("image_id").get<int64_t>());
    for (int64_t g : va) EXPECT_EQ(tr.count(g), 0u) << spec << " image " << g;
    const double n_images = static_cast<double>(va.size() + tr.size());
    const double share = static_cast<double>(va.size()) / n_images;
    // A hash split draws each image's side independently: 3 binomial standard deviations.
    EXPECT_NEAR(share, 0.10, 3 * std::sqrt(0.1 * 0.9 / n_images)) << spec << ": " << va.size() << " of " << n_images << " images";
    // Reopening gives the same split; another seed another one.
    auto again = open_mask_source(spec);
    EXPECT_EQ(split_by_group(*again, 100, 1).val, s.val) << spec;
    EXPECT_NE(split_by_group(*again, 100, 2).val, s.val) << spec;
  }
}

// rle_crop against the full decode on random masks and windows.
TEST(DataRealMasks, RleCropEqualsTheDecodedWindow) {
  std::mt19937_64 rng(11);
  for (int t = 0; t < 200; ++t) {
    const int64_t h = 1 + rng() % 40, w = 1 + rng() % 40;
    Mask m(h, w);
    const int density = static_cast<int>(rng() % 4);  // 0: empty .. 3: mostly full
    for (auto& v : m.data) v = static_cast<uint8_t>(rng() % 4 < static_cast<uint64_t>(density));
    const io::Rle rle = io::rle_encode(m);
    CropWindow win;
    win.x0 = static_cast<int64_t>(rng() % w), win.y0 = static_cast<int64_t>(rng() % h);
    win.w = 1 + static_cast<int64_t>(rng() % (w - win.x0)), win.h = 1 + static_cast<int64_t>(rng() % (h - win.y0));
    const Mask c = rle_crop(rle, win);
    ASSERT_EQ(c.h, win.h);
    ASSERT_EQ(c.w, win.w);
    for (int64_t y = 0; y < win.h; ++y)
      for (int64_t x = 0; x < win.w; ++x) ASSERT_EQ(c.at(y, x), m.at(win.y0 + y, win.x0 + x) ? 1 : 0) << t;
  }
  Mask m(4, 5, 1);
  EXPECT_THROW(rle_crop(io::rle_encode(m), CropWindow{3, 0, 3, 4}), InputError);
  EXPECT_THROW(crop_window({0, 0, 0, 3}, 0.1, 10, 10), InputError);
  EXPECT_THROW(crop_window({0, 0, 2, 3}, -0.1, 10, 10), InputError);
}

// Each TACO object cropped to its box with a 10% margin: the crop is the full-frame mask's
// window (nothing of the object is lost), its box fills the frame to 1/1.2 less rounding, and
// the box agrees with the JSON "bbox" of the polygon.
TEST(DataRealMasks, TacoCropsFillTheFrameAndKeepTheWholeObject) {
  const double margin = kDefaultCropMargin;
  for (const std::string& path : {kTacoOfficial, kTacoUnofficial}) {
    auto src = open_mask_source("crop:" + path);
    const io::CocoDataset ds = io::load_coco(path);
    ASSERT_EQ(ds.annotations.size(), src->size());
    int64_t n_empty = 0, n_full_checked = 0;
    double min_fill = 1;
    for (size_t i = 0; i < src->size(); i += 2) {  // every other object (a CI-sized 6,500 crops)
      const Mask c = src->get(i).mask;
      const auto b = scan_box(c);
      if (b[2] == 0) {
        ++n_empty;
        continue;
      }
      // Fill: the object's box spans >= 1/(1+2m) of each side of the crop, less 2 px of rounding.
      const double fx = static_cast<double>(b[2] - b[0]) / static_cast<double>(c.w);
      const double fy = static_cast<double>(b[3] - b[1]) / static_cast<double>(c.h);
      EXPECT_GE(fx, 1 / (1 + 2 * margin) - 2.0 / static_cast<double>(c.w)) << path << " #" << i;
      EXPECT_GE(fy, 1 / (1 + 2 * margin) - 2.0 / static_cast<double>(c.h)) << path << " #" << i;
      min_fill = std::min({min_fill, fx, fy});
      if (i % 174 != 0) continue;
      // Every 174th object against its full-frame decode (pycocotools annToRLE semantics).
      const io::CocoAnnotation& a = ds.annotations[i];
      const Mask full = io::annotation_to_mask(ds, a);
      const auto fb = scan_box(full);
      ASSERT_GT(fb[2], 0);
      // The crop holds all of the object's pixels ...
      EXPECT_EQ(c.area(), full.area()) << path << " #" << i;
      // ... at the offset that maps its box onto the full-frame box.
      const int64_t ox = fb[0] - b[0], oy = fb[1] - b[1];
      ASSERT_GE(ox, 0);
      ASSERT_GE(oy, 0);
      for (int64_t y = 0; y < c.h; ++y)
        for (int64_t x = 0; x < c.w; ++x) ASSERT_EQ(c.at(y, x), full.at(oy + y, ox + x)) << path << " #" << i;
      // The margin: where the frame does not clip it, at least margin * side on each side.
      const double bw = static_cast<double>(fb[2] - fb[0]), bh = static_cast<double>(fb[3] - fb[1]);
      if (ox > 0) { EXPECT_GE(static_cast<double>(b[0]), margin * bw - 1) << path << " #" << i; }
      if (ox + c.w < full.w) { EXPECT_GE(static_cast<double>(c.w - b[2]), margin * bw - 1) << path << " #" << i; }
      if (oy > 0) { EXPECT_GE(static_cast<double>(b[1]), margin * bh - 1) << path << " #" << i; }
      if (oy + c.h < full.h) { EXPECT_GE(static_cast<double>(c.h - b[3]), margin * bh - 1) << path << " #" << i; }
      // Inside the JSON bbox (the polygon's extent) grown by 2 px (the crowd-drawn file's boxes
      // are rounded differently from its polygons), and the object is where the JSON says.
      ASSERT_TRUE(a.has_bbox);
      EXPECT_GE(static_cast<double>(fb[0]), a.bbox[0] - 2) << path << " #" << i;
      EXPECT_GE(static_cast<double>(fb[1]), a.bbox[1] - 2) << path << " #" << i;
      EXPECT_LE(static_cast<double>(fb[2]), a.bbox[0] + a.bbox[2] + 2) << path << " #" << i;
      EXPECT_LE(static_cast<double>(fb[3]), a.bbox[1] + a.bbox[3] + 2) << path << " #" << i;
      EXPECT_GE(static_cast<double>((fb[2] - fb[0]) * (fb[3] - fb[1])), 0.5 * a.bbox[2] * a.bbox[3]) << path << " #" << i;
      ++n_full_checked;
    }
    EXPECT_EQ(n_empty, 0) << path;
    EXPECT_GE(n_full_checked, 25) << path;
    EXPECT_GT(min_fill, 0.5) << path;
  }
}

TEST(DataRealMasks, BadCropSpecsRaiseInputError) {
  EXPECT_THROW(open_mask_source("crop:-0.5:" + kTacoOfficial), InputError);
  EXPECT_THROW(open_mask_source("crop:11:" + kTacoOfficial), InputError);
  EXPECT_THROW(open_mask_source("crop:" + kRepo + "/data/taco/SOURCE.txt"), InputError);
  EXPECT_THROW(open_mask_source("crop:" + kRepo + "/data/taco/missing.json"), InputError);
}
