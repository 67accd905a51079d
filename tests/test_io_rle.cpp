// io/rle against pycocotools 2.0.11: every row of tests/data/oracle/{synthetic_edge_cases,
// coco_fakesegm100_decode, coco_fakesegm100_iou, coco_panoptic_rle_vs_png,
// refcocog_umd_fixture_poly2rle}.jsonl (see tests/data/oracle/SOURCE.txt), plus hand-counted
// cases and malformed input. Masks are hashed row-major, as the oracle files are.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "common/error.h"
#include "io/image.h"
#include "io/rle.h"
#include "oracle_helpers.h"

using himtok::InputError;
using himtok::Mask;
using namespace himtok::io;
using json = nlohmann::json;
using himtok::test::bbox_of;
using himtok::test::mask_sha;
using himtok::test::read_jsonl;

namespace {

std::string data_path(const std::string& rel) { return std::string(HIMTOK_TEST_DATA) + "/" + rel; }

json read_json(const std::string& rel) {
  std::ifstream f(data_path(rel));
  EXPECT_TRUE(f.good()) << rel;
  return json::parse(f);
}

Mask mask_from_rows(const json& rows, int64_t h, int64_t w) {
  Mask m(h, w);
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x) m.at(y, x) = rows[y][x].get<uint8_t>();
  return m;
}

Mask mask_from_ascii(const std::vector<std::string>& rows) {
  Mask m(static_cast<int64_t>(rows.size()), static_cast<int64_t>(rows[0].size()));
  for (int64_t y = 0; y < m.h; ++y)
    for (int64_t x = 0; x < m.w; ++x) m.at(y, x) = rows[y][x] == '#';
  return m;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Hand-counted cases

TEST(IoRle, EncodeIsColumnMajorAndStartsWithBackground) {
  // Row-major 2x3:  # . .      column-major walk: (0,0)=1 (1,0)=1 | (0,1)=0 (1,1)=1 | (0,2)=0 (1,2)=0
  //                 # # .      runs: 0 bg, 2 fg, 1 bg, 1 fg, 2 bg
  Mask m = mask_from_ascii({"#..", "##."});
  Rle r = rle_encode(m);
  EXPECT_EQ(r.h, 2);
  EXPECT_EQ(r.w, 3);
  EXPECT_EQ(r.counts, (std::vector<uint32_t>{0, 2, 1, 1, 2}));
  EXPECT_EQ(rle_area(r), 3u);
  EXPECT_EQ(rle_to_bbox(r), (Bbox{0, 0, 2, 2}));
  Mask back = rle_decode(r);
  EXPECT_EQ(back.data, m.data);
}

TEST(IoRle, EncodeTreatsAnyNonZeroByteAsForeground) {
  Mask m(1, 4);
  m.data = {0, 255, 7, 0};
  EXPECT_EQ(rle_encode(m).counts, (std::vector<uint32_t>{1, 2, 1}));
  EXPECT_EQ(rle_decode(rle_encode(m)).data, (std::vector<uint8_t>{0, 1, 1, 0}));
}

TEST(IoRle, StringDeltaStartsAtIndexThree) {
  // counts [3, 40, 3, 45]: chars 0..2 are stored as values, char 3 as 45 - 40 = 5.
  // 3 -> '3'; 40 = 0b101000 -> low 5 bits 8 with "more" (8|0x20=40 -> 'X'), then 1 -> '1';
  // 3 -> '3'; 5 -> '5'.
  Rle r{1, 91, {3, 40, 3, 45}};
  EXPECT_EQ(rle_to_string(r), "3X135");
  EXPECT_EQ(rle_from_string("3X135", 1, 91).counts, r.counts);
  // A negative delta: [0, 10, 0, 4] stores 4 - 10 = -6 in one char: -6 & 0x1f = 26 (bit 0x10 set
  // = sign, x >> 5 = -1, so no more chars) -> 26 + 48 = 'J'.
  Rle n{1, 14, {0, 10, 0, 4}};
  EXPECT_EQ(rle_to_string(n), "0:0J");
  EXPECT_EQ(rle_from_string("0:0J", 1, 14).counts, n.counts);
}

TEST(IoRle, FromBboxCoversExactlyTheIntegerBox) {
  // [x=1, y=1, w=2, h=2] in a 4x4 image: pixels x in {1,2}, y in {1,2}. Column-major indices
  // 5,6 (column 1) and 9,10 (column 2): runs 5 bg, 2 fg, 2 bg, 2 fg, 5 bg.
  Rle r = rle_from_bbox({1, 1, 2, 2}, 4, 4);
  EXPECT_EQ(r.counts, (std::vector<uint32_t>{5, 2, 2, 2, 5}));
  EXPECT_EQ(rle_to_bbox(r), (Bbox{1, 1, 2, 2}));
}

TEST(IoRle, MergeUnionAndIntersection) {
  // A = . # #     B = . . #     A|B = . # #    A&B = . . #
  //     . . .         . . #           . . #          . . .
  Mask a = mask_from_ascii({".##", "..."});
  Mask b = mask_from_ascii({"..#", "..#"});
  Rle u = rle_merge({rle_encode(a), rle_encode(b)}, false);
  Rle i = rle_merge({rle_encode(a), rle_encode(b)}, true);
  // Column-major A|B: (0,0)=0 (1,0)=0 (0,1)=1 (1,1)=0 (0,2)=1 (1,2)=1 -> [2,1,1,2]
  EXPECT_EQ(u.counts, (std::vector<uint32_t>{2, 1, 1, 2}));
  // A&B: only (0,2) -> index 4 -> [4,1,1]
  EXPECT_EQ(i.counts, (std::vector<uint32_t>{4, 1, 1}));
  EXPECT_EQ(rle_area(u), 3u);
  EXPECT_EQ(rle_area(i), 1u);
}

TEST(IoRle, MergeMatchesPixelwiseOrAndOnRandomMasks) {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 50; ++trial) {
    int64_t h = 1 + rng() % 13, w = 1 + rng() % 11;
    std::vector<Mask> ms;
    std::vector<Rle> rs;
    for (int k = 0; k < 3; ++k) {
      Mask m(h, w);
      for (auto& v : m.data) v = (rng() % 3) == 0;
      rs.push_back(rle_encode(m));
      ms.push_back(m);
    }
    Mask want_or(h, w), want_and(h, w, 1);
    for (const Mask& m : ms)
      for (size_t p = 0; p < m.data.size(); ++p) {
        want_or.data[p] |= m.data[p];
        want_and.data[p] &= m.data[p];
      }
    Rle u = rle_merge(rs, false), i = rle_merge(rs, true);
    EXPECT_EQ(rle_decode(u).data, want_or.data) << "trial " << trial;
    EXPECT_EQ(rle_decode(i).data, want_and.data) << "trial " << trial;
    // The merge output is canonical: the same runs as encoding the pixels.
    EXPECT_EQ(u.counts, rle_encode(want_or).counts) << "trial " << trial;
    EXPECT_EQ(i.counts, rle_encode(want_and).counts) << "trial " << trial;
  }
}

TEST(IoRle, IouPlainAndCrowd) {
  // dt = # # # .   gt = . # # #   I = 2, U = 4, area(dt) = 3
  Mask dt = mask_from_ascii({"###."});
  Mask gt = mask_from_ascii({".###"});
  EXPECT_DOUBLE_EQ(rle_iou(rle_encode(dt), rle_encode(gt), false), 2.0 / 4.0);
  EXPECT_DOUBLE_EQ(rle_iou(rle_encode(dt), rle_encode(gt), true), 2.0 / 3.0);
  // Disjoint masks, and an empty one: IoU 0.
  Mask e = mask_from_ascii({"...."});
  Mask d2 = mask_from_ascii({"#..."});
  Mask g2 = mask_from_ascii({"...#"});
  EXPECT_EQ(rle_iou(rle_encode(d2), rle_encode(g2), false), 0.0);
  EXPECT_EQ(rle_iou(rle_encode(e), rle_encode(e), false), 0.0);
  // Matrix layout [d * n + g]: dt = {dt, d2}, gt = {gt, g2}
  std::vector<double> o = rle_iou({rle_encode(dt), rle_encode(d2)}, {rle_encode(gt), rle_encode(g2)}, {0, 1});
  ASSERT_EQ(o.size(), 4u);
  EXPECT_DOUBLE_EQ(o[0], 0.5);  // dt vs gt
  EXPECT_DOUBLE_EQ(o[1], 0.0);  // dt vs g2 (crowd): "###." & "...#" = 0
  EXPECT_DOUBLE_EQ(o[2], 0.0);  // d2 vs gt
  EXPECT_DOUBLE_EQ(o[3], 0.0);  // d2 vs g2
}

TEST(IoRle, BboxIouNoPlusOne) {
  // [0,0,2,2] vs [1,1,2,2]: I = 1*1, U = 4 + 4 - 1 = 7; crowd: I / area(dt) = 1/4
  std::vector<double> o = bbox_iou({{0, 0, 2, 2}}, {{1, 1, 2, 2}});
  EXPECT_DOUBLE_EQ(o[0], 1.0 / 7.0);
  EXPECT_DOUBLE_EQ(bbox_iou({{0, 0, 2, 2}}, {{1, 1, 2, 2}}, {1})[0], 0.25);
  EXPECT_DOUBLE_EQ(bbox_iou({{0, 0, 2, 2}}, {{2, 0, 2, 2}})[0], 0.0);  // touching edges
}

// ppwwyyxx/cocoapi tests/test_cases.py, the two toBbox fixes.
TEST(IoRle, ToBboxFullImage) {
  EXPECT_EQ(rle_to_bbox(rle_encode(mask_from_ascii({".#", "##"}))), (Bbox{0, 0, 2, 2}));
}

TEST(IoRle, ToBboxNonFullImage) {
  Mask m(10, 10);
  for (int y = 2; y < 4; ++y)
    for (int x = 3; x < 6; ++x) m.at(y, x) = 1;
  EXPECT_EQ(rle_to_bbox(rle_encode(m)), (Bbox{3, 2, 3, 2}));
}

TEST(IoRle, ToBboxIgnoresZeroLengthForegroundRuns) {
  // [0, 0, 2, 1, 3] in 3x2: the first foreground run is empty; the pixel is index 2 = (y 2, x 0).
  EXPECT_EQ(rle_to_bbox(Rle{3, 2, {0, 0, 2, 1, 3}}), (Bbox{0, 2, 1, 1}));
  EXPECT_EQ(rle_to_bbox(Rle{7, 5, {0, 0, 35}}), (Bbox{0, 0, 0, 0}));
}

// ---------------------------------------------------------------------------------------------
// Short and malformed input

TEST(IoRle, ShortCountsDecodeWithBackgroundTail) {
  // [1, 1] in 2x2: pixel 0 bg, pixel 1 = (y 1, x 0) fg, pixels 2..3 missing -> background.
  Mask m = rle_decode(Rle{2, 2, {1, 1}});
  EXPECT_EQ(m.data, (std::vector<uint8_t>{0, 0, 1, 0}));
  // merge / IoU complete the tail instead of running past it.
  Rle full = rle_encode(mask_from_ascii({"..", "#."}));
  EXPECT_EQ(rle_merge({Rle{2, 2, {1, 1}}, full}).counts, full.counts);
  EXPECT_DOUBLE_EQ(rle_iou(Rle{2, 2, {1, 1}}, full), 1.0);
}

TEST(IoRle, CountsOverflowingTheImageAreRejected) {
  EXPECT_THROW(rle_decode(Rle{2, 2, {1, 4}}), InputError);
  EXPECT_THROW(rle_check(Rle{2, 2, {5}}), InputError);
  // "S1" is 35 (the 7x5 empty mask); in a 5x5 image that overflows.
  EXPECT_THROW(rle_from_string("S1", 5, 5), InputError);
  EXPECT_THROW(rle_merge({Rle{2, 2, {4}}, Rle{2, 2, {0, 9}}}), InputError);
}

TEST(IoRle, GarbageStringsAreRejected) {
  EXPECT_THROW(rle_from_string("", 2, 2), InputError);          // no runs at all
  EXPECT_THROW(rle_from_string("1 3", 2, 2), InputError);       // ' ' is below '0'
  EXPECT_THROW(rle_from_string("1p", 2, 2), InputError);        // 'p' is above 'o'
  EXPECT_THROW(rle_from_string("1\x7f", 2, 2), InputError);
  EXPECT_THROW(rle_from_string("P", 100, 100), InputError);     // 'P' = 32: continuation, then the end
  EXPECT_THROW(rle_from_string("@", 100, 100), InputError);     // '@' = 16: sign bit -> -16
  EXPECT_THROW(rle_from_string("PPPPPPPP1", 100, 100), InputError);  // 9 chars for one run
  EXPECT_THROW(rle_from_string("1", -1, 2), InputError);
  try {
    rle_from_string("12x", 4, 4);
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("RLE string"), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
}

TEST(IoRle, SizeMismatchIsRejected) {
  Rle a = rle_encode(Mask(2, 3, 1)), b = rle_encode(Mask(3, 2, 1));
  EXPECT_THROW(rle_merge({a, b}), InputError);
  EXPECT_THROW(rle_iou(a, b), InputError);
  EXPECT_THROW(rle_from_poly({1, 2, 3}, 4, 4), InputError);
  EXPECT_THROW(rle_from_poly({}, 4, 4), InputError);
  EXPECT_THROW(rle_from_poly({0, 0, NAN, 1, 2, 2}, 4, 4), InputError);
}

TEST(IoRle, RoundTripOnRandomMasks) {
  // mask -> runs -> string -> runs -> mask is the identity (a property, not a golden value).
  std::mt19937 rng(11);
  for (int trial = 0; trial < 200; ++trial) {
    int64_t h = rng() % 40, w = rng() % 40;
    Mask m(h, w);
    const unsigned p = 1 + rng() % 9;
    for (auto& v : m.data) v = (rng() % 10) < p;
    Rle r = rle_encode(m);
    Rle back = rle_from_string(rle_to_string(r), h, w);
    EXPECT_EQ(back.counts, r.counts) << "trial " << trial;
    EXPECT_EQ(rle_decode(back).data, m.data) << "trial " << trial;
    EXPECT_EQ(rle_area(r), static_cast<uint64_t>(m.area()));
  }
}

TEST(IoRle, RandomGarbageStringsNeverCrash) {
  // Any byte string either parses into runs that fit h*w, or raises InputError.
  std::mt19937 rng(3);
  int n_ok = 0;
  for (int trial = 0; trial < 2000; ++trial) {
    std::string s(1 + rng() % 12, ' ');
    for (char& c : s) c = static_cast<char>(trial % 2 ? 40 + rng() % 80 : rng() % 256);
    try {
      Rle r = rle_from_string(s, 9, 7);
      Mask m = rle_decode(r);
      EXPECT_EQ(m.data.size(), 63u);
      ++n_ok;
    } catch (const InputError&) {
    }
  }
  EXPECT_GT(n_ok, 0);
}

TEST(IoRle, RepeatedVertexHasNoUndefinedCast) {
  // A repeated vertex makes a zero-length edge, where maskApi evaluates (int)(NaN); the point is
  // never used when the neighbours share its x, so the mask equals the one without the repeat.
  const std::vector<double> tri = {2.2, 1.1, 9.7, 3.4, 4.1, 8.8};
  const std::vector<double> tri_rep = {2.2, 1.1, 9.7, 3.4, 9.7, 3.4, 4.1, 8.8};
  EXPECT_EQ(rle_from_poly(tri_rep, 12, 11).counts, rle_from_poly(tri, 12, 11).counts);
}

// ---------------------------------------------------------------------------------------------
// Oracle rows

TEST(IoRleOracle, SyntheticEdgeCases) {
  auto rows = read_jsonl("oracle/synthetic_edge_cases.jsonl");
  ASSERT_EQ(rows.size(), 15u);
  for (const json& r : rows) {
    SCOPED_TRACE(r["name"].get<std::string>());
    const int64_t h = r["h"], w = r["w"];
    const std::string s = r["string"];
    Rle from_s = rle_from_string(s, h, w);
    Mask decoded = rle_decode(from_s);
    EXPECT_EQ(mask_sha(decoded), r["mask_sha256_rowmajor"].get<std::string>());
    EXPECT_EQ(rle_area(from_s), r["area"].get<uint64_t>());
    EXPECT_EQ(rle_to_bbox(from_s), bbox_of(r["bbox"]));
    if (r.contains("counts")) {
      // Runs given: string <-> runs both ways, and runs -> pixels -> runs.
      auto counts = r["counts"].get<std::vector<uint32_t>>();
      EXPECT_EQ(from_s.counts, counts);
      EXPECT_EQ(rle_to_string(Rle{h, w, counts}), s);
      EXPECT_EQ(rle_encode(decoded).counts, counts);
      if (!r["mask_rowmajor"].is_null()) {  // small masks also list their pixels
        Mask m = mask_from_rows(r["mask_rowmajor"], h, w);
        EXPECT_EQ(rle_encode(m).counts, counts);
        EXPECT_EQ(decoded.data, m.data);
      }
    } else {
      // The zero-leading-runs string: 3 leading zero runs, counts short of h*w.
      auto head = r["decoded_counts_head"].get<std::vector<uint32_t>>();
      ASSERT_GE(from_s.counts.size(), head.size());
      EXPECT_EQ(std::vector<uint32_t>(from_s.counts.begin(), from_s.counts.begin() + head.size()), head);
      uint64_t sum = 0;
      for (uint32_t c : from_s.counts) sum += c;
      EXPECT_EQ(sum, r["counts_sum"].get<uint64_t>());
      Rle re = rle_encode(decoded);
      EXPECT_EQ(rle_to_string(re), r["reencoded_string"].get<std::string>());
      EXPECT_EQ(rle_to_bbox(re), rle_to_bbox(from_s));  // testZeroLeadingRLE
      EXPECT_EQ(rle_area(re), rle_area(from_s));
    }
  }
}

TEST(IoRleOracle, FakeSegm100Decode) {
  json results = read_json("coco/fakesegm100/instances_val2014_fakesegm100_results.json");
  auto rows = read_jsonl("oracle/coco_fakesegm100_decode.jsonl");
  ASSERT_EQ(rows.size(), 734u);
  ASSERT_EQ(results.size(), 734u);
  for (const json& r : rows) {
    const size_t idx = r["index"];
    SCOPED_TRACE("index " + std::to_string(idx));
    const json& seg = results.at(idx)["segmentation"];
    EXPECT_EQ(results[idx]["image_id"], r["image_id"]);
    const int64_t h = r["h"], w = r["w"];
    EXPECT_EQ(seg["size"][0].get<int64_t>(), h);
    EXPECT_EQ(seg["size"][1].get<int64_t>(), w);
    const std::string s = seg["counts"];
    Rle rle = rle_from_string(s, h, w);
    EXPECT_EQ(rle.counts.size(), r["n_runs"].get<size_t>());
    EXPECT_EQ(rle_area(rle), r["area"].get<uint64_t>());
    EXPECT_EQ(rle_to_bbox(rle), bbox_of(r["bbox"]));
    Mask m = rle_decode(rle);
    EXPECT_EQ(mask_sha(m), r["mask_sha256_rowmajor"].get<std::string>());
    EXPECT_EQ(rle_to_string(rle_encode(m)) == s, r["reencode_string_equal"].get<bool>());
  }
}

TEST(IoRleOracle, FakeSegm100Iou) {
  json results = read_json("coco/fakesegm100/instances_val2014_fakesegm100_results.json");
  auto rows = read_jsonl("oracle/coco_fakesegm100_iou.jsonl");
  ASSERT_EQ(rows.size(), 99u);
  const double tol = 1e-11;  // max-abs; the oracle is rounded to 12 decimals
  for (const json& r : rows) {
    SCOPED_TRACE("image " + std::to_string(r["image_id"].get<int64_t>()));
    std::vector<Rle> rles;
    for (size_t idx : r["indices"].get<std::vector<size_t>>()) {
      const json& seg = results.at(idx)["segmentation"];
      rles.push_back(rle_from_string(seg["counts"], seg["size"][0], seg["size"][1]));
    }
    const size_t n = rles.size();
    std::vector<double> plain = rle_iou(rles, rles, std::vector<uint8_t>(n, 0));
    std::vector<double> crowd = rle_iou(rles, rles, std::vector<uint8_t>(n, 1));
    for (size_t d = 0; d < n; ++d)
      for (size_t g = 0; g < n; ++g) {
        EXPECT_NEAR(plain[d * n + g], r["iou_iscrowd0"][d][g].get<double>(), tol) << d << "," << g;
        EXPECT_NEAR(crowd[d * n + g], r["iou_gt_iscrowd1"][d][g].get<double>(), tol) << d << "," << g;
      }
  }
}

TEST(IoRleOracle, PanopticRleMatchesPng) {
  json det = read_json("coco/panoptic/panoptic_coco_detection_format.json");
  std::map<int64_t, std::string> png_of;
  for (const json& im : det["images"]) {
    std::string f = im["file_name"];
    png_of[im["id"]] = "coco/panoptic/panoptic_examples/" + f.substr(0, f.rfind('.')) + ".png";
  }
  std::map<int64_t, himtok::Image> pngs;
  auto rows = read_jsonl("oracle/coco_panoptic_rle_vs_png.jsonl");
  ASSERT_EQ(rows.size(), 50u);
  for (const json& r : rows) {
    const int64_t seg_id = r["panoptic_segment_id"], image_id = r["image_id"];
    SCOPED_TRACE("segment " + std::to_string(seg_id));
    const int64_t h = r["h"], w = r["w"];
    Rle rle = rle_from_string(r["counts"], h, w);
    EXPECT_EQ(rle_area(rle), r["rle_area"].get<uint64_t>());
    EXPECT_EQ(rle_to_bbox(rle), bbox_of(r["rle_bbox"]));
    Mask m = rle_decode(rle);
    EXPECT_EQ(mask_sha(m), r["mask_sha256_rowmajor"].get<std::string>());
    // The same string sits in the detection-format file at det_ann_id.
    const json& ann = det["annotations"].at(r["det_ann_id"].get<size_t>());
    EXPECT_EQ(ann["segmentation"]["counts"].get<std::string>(), r["counts"].get<std::string>());
    if (!pngs.count(image_id)) pngs[image_id] = load_image(data_path(png_of.at(image_id)), 3);
    const himtok::Image& png = pngs[image_id];
    ASSERT_EQ(png.h, h);
    ASSERT_EQ(png.w, w);
    int64_t mismatches = 0, png_area = 0;
    for (int64_t y = 0; y < h; ++y)
      for (int64_t x = 0; x < w; ++x) {
        const uint8_t* p = png.px(y, x);
        const int64_t id = p[0] + 256 * p[1] + 256 * 256 * p[2];
        const uint8_t in_seg = id == seg_id;
        png_area += in_seg;
        mismatches += in_seg != m.at(y, x);
      }
    EXPECT_EQ(mismatches, r["pixel_mismatches"].get<int64_t>());
    EXPECT_EQ(png_area, r["png_area"].get<int64_t>());
  }
}

TEST(IoRleOracle, RefcocogPolygonsToRle) {
  // frPoly per polygon + merge(union), read straight from instances.json (the coco reader has its
  // own test of the same rows in test_io_coco.cpp).
  json inst = read_json("refcocog/instances.json");
  std::map<int64_t, const json*> anns;
  for (const json& a : inst["annotations"]) anns[a["id"]] = &a;
  auto rows = read_jsonl("oracle/refcocog_umd_fixture_poly2rle.jsonl");
  ASSERT_EQ(rows.size(), 15u);
  for (const json& r : rows) {
    SCOPED_TRACE("ann " + std::to_string(r["ann_id"].get<int64_t>()));
    const json& ann = *anns.at(r["ann_id"]);
    const int64_t h = r["h"], w = r["w"];
    std::vector<Rle> parts;
    for (const json& poly : ann["segmentation"]) parts.push_back(rle_from_poly(poly.get<std::vector<double>>(), h, w));
    Rle rle = rle_merge(parts);
    EXPECT_EQ(rle_to_string(rle), r["counts"].get<std::string>());
    EXPECT_EQ(rle_area(rle), r["rle_area"].get<uint64_t>());
    EXPECT_EQ(rle_to_bbox(rle), bbox_of(r["rle_bbox"]));
    EXPECT_EQ(mask_sha(rle_decode(rle)), r["mask_sha256_rowmajor"].get<std::string>());
  }
}
