// eval/recon: reconstruction rows per codec and token count, and the same split by object size
// (COCO's area ranges of the native mask's foreground). Fixtures: rectangles drawn here, the
// first COCO evaluation masks with the shipped small tokenizer.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "eval/recon.h"
#include "shipped_models.h"
#include "tokenizer/tokenizer.h"

using himtok::Mask;
using himtok::eval::ReconOptions;
using himtok::eval::ReconResult;
using himtok::eval::ReconRow;
using himtok::eval::run_recon;
using himtok::eval::size_range;

namespace {

// An h x w image with a filled rectangle of rh x rw at (y0, x0).
Mask object(int64_t h, int64_t w, int64_t y0, int64_t x0, int64_t rh, int64_t rw) {
  Mask m(h, w);
  for (int64_t y = y0; y < y0 + rh; ++y)
    for (int64_t x = x0; x < x0 + rw; ++x) m.at(y, x) = 1;
  return m;
}

const ReconRow& row(const ReconResult& r, const std::string& codec, int64_t tokens) {
  for (const auto& x : r.rows)
    if (x.codec == codec && x.tokens == tokens) return x;
  throw std::runtime_error("no row " + codec + " " + std::to_string(tokens));
}

// The size bins hold every mask once, and their means weighted by count give the overall mean.
void expect_bins_add_up(const ReconRow& x) {
  EXPECT_EQ(x.n_by_size[0] + x.n_by_size[1] + x.n_by_size[2], x.n) << x.codec << " " << x.tokens;
  double sum = 0;
  for (size_t k = 0; k < 3; ++k) sum += static_cast<double>(x.n_by_size[k]) * x.miou_256_by_size[k];
  EXPECT_NEAR(sum / static_cast<double>(x.n), x.miou_256, 1e-9) << x.codec << " " << x.tokens;
}

}  // namespace

TEST(EvalRecon, SizeRangesPartitionCocoAreas) {
  // pycocotools: small [0, 32^2], medium [32^2, 96^2], large [96^2, inf); the shared end points
  // go to the larger range here, so that each mask counts once.
  EXPECT_EQ(size_range(0), himtok::eval::kSmall);
  EXPECT_EQ(size_range(1023), himtok::eval::kSmall);
  EXPECT_EQ(size_range(1024), himtok::eval::kMedium);
  EXPECT_EQ(size_range(9215), himtok::eval::kMedium);
  EXPECT_EQ(size_range(9216), himtok::eval::kLarge);
  EXPECT_STREQ(himtok::eval::size_range_name(himtok::eval::kMedium), "medium");
}

TEST(EvalRecon, CodecsSplitBySizeAndSmallObjectsLoseMost) {
  // Two small objects (20x20 = 400 and 10x30 = 300 pixels), one medium (50x50), one large (120x120).
  std::vector<Mask> masks{object(200, 200, 30, 40, 20, 20), object(300, 300, 100, 200, 10, 30),
                          object(200, 200, 70, 60, 50, 50), object(200, 200, 40, 50, 120, 120)};
  ReconOptions opt;
  opt.tokens = {1, 8};
  opt.codecs = {"bitmap"};
  ReconResult r = run_recon(nullptr, masks, opt);
  for (int64_t T : opt.tokens) {
    const ReconRow& x = row(r, "bitmap", T);
    EXPECT_EQ(x.n_by_size, (std::array<int64_t, 3>{2, 1, 1}));
    expect_bins_add_up(x);
  }
  // A 10-bit bitmap is a coarse grid: small objects vanish, a large one keeps much of its area.
  const ReconRow& one = row(r, "bitmap", 1);
  EXPECT_LT(one.miou_256_by_size[0], 0.2);
  EXPECT_GT(one.miou_256_by_size[2], 0.4);
  // The 256 stretch itself is lossless at 256 in every size range.
  const ReconRow& lossless = row(r, "lossless256", 0);
  EXPECT_EQ(lossless.n_by_size, (std::array<int64_t, 3>{2, 1, 1}));
  for (double v : lossless.miou_256_by_size) EXPECT_DOUBLE_EQ(v, 1.0);
  const std::string table = himtok::eval::format_recon_table(r);
  EXPECT_NE(table.find("by object size"), std::string::npos) << table;
  EXPECT_NE(table.find("n = 2 / 1 / 1"), std::string::npos) << table;
}

TEST(EvalRecon, JsonNamesEachSizeAndNullsEmptyOnes) {
  ReconOptions opt;
  opt.tokens = {4};
  opt.codecs = {"box"};
  ReconResult r = run_recon(nullptr, {object(100, 100, 10, 10, 20, 20), object(100, 100, 50, 40, 12, 30)}, opt);
  const nlohmann::json j = nlohmann::json::parse(row(r, "box", 4).to_json());
  EXPECT_EQ(j.at("n_small"), 2);
  EXPECT_EQ(j.at("n_medium"), 0);
  EXPECT_EQ(j.at("n_large"), 0);
  EXPECT_TRUE(j.at("miou_256_medium").is_null());
  EXPECT_TRUE(j.at("miou_256_large").is_null());
  EXPECT_NEAR(j.at("miou_256_small").get<double>(), j.at("miou_256").get<double>(), 1e-12);
}

TEST(EvalRecon, ShippedSmallTokenizerOnCocoMasksBySize) {
  auto tk = himtok::tok::MaskTokenizer::load(himtok::test::shipped_small_tokenizer());
  const auto masks = himtok::test::first_coco_eval_masks(16);
  ReconOptions opt;
  opt.tokens = {1, 32};
  opt.codecs = {};
  ReconResult r = run_recon(&tk, masks, opt);
  int64_t small = 0;
  for (const auto& m : masks) small += m.area() < 32 * 32;
  for (int64_t T : opt.tokens) {
    const ReconRow& x = row(r, "himtok", T);
    EXPECT_EQ(x.n, 16);
    EXPECT_EQ(x.n_by_size[0], small);
    expect_bins_add_up(x);
  }
  EXPECT_GT(r.codes_used, 0);
  // A 256 input is the 256 target itself: no input-ceiling row beside lossless256.
  int lossless_rows = 0;
  for (const auto& x : r.rows) lossless_rows += x.tokens == 0;
  EXPECT_EQ(lossless_rows, 1);
}

TEST(EvalRecon, A128InputModelReportsTheCeilingOfItsInput) {
  // models/himtok-tiny.safetensors takes 128x128 masks: a 10x10 object of a 600x600 image keeps
  // about 2x2 pixels there, a 300x300 one keeps its shape.
  auto tk = himtok::tok::MaskTokenizer::load(himtok::test::shipped_tiny_tokenizer());
  ASSERT_EQ(tk.config().image_size, 128);
  ReconOptions opt;
  opt.tokens = {32};
  opt.codecs = {};
  ReconResult r = run_recon(&tk, {object(600, 600, 200, 300, 10, 10), object(600, 600, 100, 150, 300, 300)}, opt);
  const ReconRow& ceiling = row(r, "lossless128", 0);
  EXPECT_EQ(ceiling.n_by_size, (std::array<int64_t, 3>{1, 0, 1}));
  EXPECT_LT(ceiling.miou_256_by_size[0], 0.9);
  EXPECT_GT(ceiling.miou_256_by_size[2], 0.95);
  expect_bins_add_up(ceiling);
  EXPECT_DOUBLE_EQ(row(r, "lossless256", 0).miou_256, 1.0);
  const std::string table = himtok::eval::format_recon_table(r);
  EXPECT_NE(table.find("lossless 128 input"), std::string::npos) << table;
}
