// eval/codecs: the non-learned baselines at a bit budget (bitmap, box, boxgrid, polygon).
// Fixtures: a DAVIS object (tests/data/davis) and a HiMTok example mask, stretched to 256x256 with
// the official geometry and thresholded at 0.5; synthetic rectangles, polygons, parts and rings.
#include <gtest/gtest.h>

#include <algorithm>

#include "common/error.h"
#include "data/mask_source.h"
#include "eval/codecs.h"
#include "eval/metrics.h"
#include "io/image.h"
#include "io/resize.h"

using himtok::InputError;
using himtok::Mask;
using himtok::eval::CodecResult;
using himtok::eval::mask_iou;
using himtok::eval::run_codec;

namespace {

const std::string kData = HIMTOK_TEST_DATA;
const int kTokenBits[] = {10, 20, 40, 80, 160, 320};  // 1, 2, 4, 8, 16, 32 tokens

Mask to256(const Mask& native) {
  himtok::FloatMap f = himtok::io::stretch_mask_official(native, 256);
  Mask m(256, 256);
  for (size_t i = 0; i < f.data.size(); ++i) m.data[i] = f.data[i] > 0.5f;
  return m;
}

Mask rect(int x0, int y0, int x1, int y1) {
  Mask m(256, 256);
  for (int y = y0; y < y1; ++y)
    for (int x = x0; x < x1; ++x) m.at(y, x) = 1;
  return m;
}

std::vector<Mask> fixtures() {
  auto davis = himtok::data::open_mask_source("palette:" + kData + "/davis");
  return {to256(davis->get(0).mask),  // bike-packing/00000.png#1 (the rider)
          to256(davis->get(8).mask),  // dogs-jump/00000.png#3
          to256(himtok::io::load_mask(kData + "/himtok-examples/masks/2.png", 127))};
}

}  // namespace

TEST(EvalCodecs, Names) {
  EXPECT_EQ(himtok::eval::codec_names(), (std::vector<std::string>{"bitmap", "box", "boxgrid", "polygon"}));
}

TEST(EvalCodecs, ReportedBitsFitTheBudgetAndAreExact) {
  Mask m = fixtures()[0];
  for (int bits : kTokenBits) {
    for (const auto& name : himtok::eval::codec_names()) {
      CodecResult r = run_codec(name, m, bits);
      EXPECT_LE(r.bits, bits) << name;
      EXPECT_GT(r.bits, 0) << name;
      ASSERT_EQ(r.decoded.h, 256);
      ASSERT_EQ(r.decoded.w, 256);
      for (uint8_t v : r.decoded.data) ASSERT_LE(v, 1);
    }
    int k = 1;
    while ((k + 1) * (k + 1) <= bits) ++k;
    EXPECT_EQ(run_codec("bitmap", m, bits).bits, k * k);
    EXPECT_EQ(run_codec("box", m, bits).bits, 4 * std::min(bits / 4, 8));  // 8 bits per coordinate suffice at 256
    if (bits >= 48) {
      EXPECT_EQ(run_codec("polygon", m, bits).bits, 16 * (bits / 16));
    }
  }
}

TEST(EvalCodecs, BoxDecodesRectanglesExactly) {
  // 8 bits per coordinate address every pixel edge of a 256 side
  for (auto [x0, y0, x1, y1] : std::vector<std::array<int, 4>>{{0, 0, 256, 256}, {3, 17, 200, 90}, {100, 5, 101, 255}}) {
    Mask m = rect(x0, y0, x1, y1);
    CodecResult r = run_codec("box", m, 32);
    EXPECT_EQ(r.decoded.data, m.data) << x0 << "," << y0 << "," << x1 << "," << y1;
    EXPECT_EQ(r.bits, 32);
    EXPECT_EQ(run_codec("boxgrid", m, 80).decoded.data, m.data);
  }
  // 2 bits per coordinate: edges at multiples of 64
  Mask coarse = rect(64, 0, 192, 128);
  EXPECT_EQ(run_codec("box", coarse, 10).decoded.data, coarse.data);
  EXPECT_EQ(run_codec("box", coarse, 10).bits, 8);
}

TEST(EvalCodecs, BitmapDecodesItsOwnGridExactly) {
  Mask grid(6, 6);
  for (int y = 0; y < 6; ++y)
    for (int x = 0; x < 6; ++x) grid.at(y, x) = (x * 7 + y * 3) % 4 == 0;
  Mask m = himtok::io::resize_u8(grid, 256, 256, himtok::io::Resample::kNearest);
  CodecResult r = run_codec("bitmap", m, 40);  // k = 6
  EXPECT_EQ(r.bits, 36);
  EXPECT_EQ(r.decoded.data, m.data);
}

TEST(EvalCodecs, PolygonRecoversPolygonsPartsAndHoles) {
  // a triangle with vertices on the 8-bit grid (x = q * 256 / 255): 3 vertices, 48 bits
  Mask tri(256, 256);
  for (int y = 0; y < 256; ++y)
    for (int x = 0; x < 256; ++x) tri.at(y, x) = y >= 40 && y < 220 && x >= 30 + (y - 40) / 2 && x < 230 - (y - 40) / 2;
  EXPECT_GE(mask_iou(run_codec("polygon", tri, 48).decoded, tri), 0.98);
  // two separate squares: one polygon with a zero-width bridge covers both
  Mask two = rect(20, 20, 100, 100);
  for (int y = 150; y < 230; ++y)
    for (int x = 140; x < 220; ++x) two.at(y, x) = 1;
  EXPECT_GE(mask_iou(run_codec("polygon", two, 160).decoded, two), 0.97);
  // a square ring: the hole is spliced in and removed by the even-odd fill
  Mask ring = rect(40, 40, 216, 216);
  for (int y = 90; y < 166; ++y)
    for (int x = 90; x < 166; ++x) ring.at(y, x) = 0;
  EXPECT_GE(mask_iou(run_codec("polygon", ring, 160).decoded, ring), 0.97);
  EXPECT_LT(mask_iou(run_codec("polygon", ring, 48).decoded, ring), 0.9);  // 3 vertices cannot
}

// More bits never hurt on real shapes: IoU over 1..32 tokens is non-decreasing (tolerance 0)
// for box, boxgrid and polygon, and the finest codes are close to lossless. (bitmap grids of
// different k are not nested, so its IoU can dip between budgets; only the ends are compared.)
TEST(EvalCodecs, IouIncreasesWithBitsOnFixtures) {
  for (const Mask& m : fixtures()) {
    EXPECT_GT(mask_iou(run_codec("bitmap", m, 320).decoded, m), mask_iou(run_codec("bitmap", m, 10).decoded, m));
    for (const std::string name : {"box", "boxgrid", "polygon"}) {
      double prev = -1;
      for (int bits : kTokenBits) {
        double iou = mask_iou(run_codec(name, m, bits).decoded, m);
        EXPECT_GE(iou, prev) << name << " at " << bits << " bits";
        prev = iou;
      }
    }
    EXPECT_GE(mask_iou(run_codec("polygon", m, 320).decoded, m), 0.9);
    EXPECT_GE(mask_iou(run_codec("boxgrid", m, 320).decoded, m), 0.85);
  }
}

TEST(EvalCodecs, DeterministicAndEmptyMasks) {
  Mask m = fixtures()[1];
  for (const auto& name : himtok::eval::codec_names()) {
    EXPECT_EQ(run_codec(name, m, 160).decoded.data, run_codec(name, m, 160).decoded.data) << name;
    CodecResult e = run_codec(name, Mask(256, 256), 160);
    EXPECT_EQ(e.decoded.area(), 0) << name;
  }
}

TEST(EvalCodecs, BadInputRaisesInputError) {
  Mask m = rect(10, 10, 20, 20);
  EXPECT_THROW(run_codec("jpeg", m, 80), InputError);
  EXPECT_THROW(run_codec("box", m, 0), InputError);
  EXPECT_THROW(run_codec("polygon", Mask(), 80), InputError);
  Mask bad(4, 4);
  bad.data.resize(3);
  EXPECT_THROW(run_codec("bitmap", bad, 80), InputError);
}
