// eval/metrics on hand-counted cases: every expected number below is derived in the comment
// next to it from the masks / boxes / labels written out in the test, not from the code.
// Tolerance: exact (EXPECT_EQ / EXPECT_DOUBLE_EQ, 4 ulp) unless a division by 999 is involved
// (max-abs 1e-9 there).
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "common/error.h"
#include "eval/metrics.h"

using himtok::InputError;
using himtok::Mask;
using namespace himtok::eval;

namespace {

// One row of '#' (foreground) and '.' per string.
Mask mask_of(const std::vector<std::string>& rows) {
  Mask m(static_cast<int64_t>(rows.size()), static_cast<int64_t>(rows[0].size()));
  for (int64_t y = 0; y < m.h; ++y)
    for (int64_t x = 0; x < m.w; ++x) m.at(y, x) = rows[y][x] == '#';
  return m;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// RES

TEST(EvalMetrics, MaskIouCounts) {
  // pred ##.   gt .#.   I = {(0,1)} = 1; U = {(0,0), (0,1), (1,1)} = 3
  //      ...      .#.
  IouCounts c = mask_iou_counts(mask_of({"##.", "..."}), mask_of({".#.", ".#."}));
  EXPECT_EQ(c.i, 1);
  EXPECT_EQ(c.u, 3);
  EXPECT_DOUBLE_EQ(mask_iou(mask_of({"##.", "..."}), mask_of({".#.", ".#."})), 1.0 / 3.0);
  // Empty vs empty: U = 0 -> IoU 1 (HiMTok compute_iou).
  EXPECT_EQ(mask_iou(mask_of({"..."}), mask_of({"..."})), 1.0);
  // Empty GT, non-empty prediction: I = 0, U = 2 -> 0.
  EXPECT_EQ(mask_iou(mask_of({"##."}), mask_of({"..."})), 0.0);
  EXPECT_THROW(mask_iou(mask_of({"##."}), mask_of({"##"})), InputError);
}

TEST(EvalMetrics, ResCumulativeAndMeanIou) {
  // Samples (I, U): (1, 3) from the masks above, (0, 0) -> IoU 1, (4, 5) -> 0.8, (0, 2) -> 0.
  ResMetrics m;
  m.add(mask_of({"##.", "..."}), mask_of({".#.", ".#."}));
  m.add(IouCounts{0, 0});
  m.add(IouCounts{4, 5});
  m.add(IouCounts{0, 2});
  EXPECT_EQ(m.n(), 4);
  // cIoU = (1 + 0 + 4 + 0) / (3 + 0 + 5 + 2) = 5 / 10
  EXPECT_DOUBLE_EQ(m.ciou(), 0.5);
  // gIoU = (1/3 + 1 + 0.8 + 0) / 4
  EXPECT_DOUBLE_EQ(m.giou(), (1.0 / 3.0 + 1.0 + 0.8 + 0.0) / 4.0);
  // Pr@t: IoUs {0.333, 1, 0.8, 0}: >= 0.5 -> 2, >= 0.8 -> 2, >= 0.9 -> 1
  EXPECT_DOUBLE_EQ(m.precision_at(0.5), 0.5);
  EXPECT_DOUBLE_EQ(m.precision_at(0.8), 0.5);
  EXPECT_DOUBLE_EQ(m.precision_at(0.9), 0.25);
  EXPECT_EQ(kPrThresholds.front(), 0.5);
  EXPECT_EQ(kPrThresholds.back(), 0.9);
  // Nothing added, or only empty pairs: cIoU 0 (the official sum I / (sum U + 1e-10)).
  ResMetrics e;
  EXPECT_EQ(e.ciou(), 0.0);
  EXPECT_EQ(e.giou(), 0.0);
  e.add(IouCounts{0, 0});
  EXPECT_EQ(e.ciou(), 0.0);
  EXPECT_EQ(e.giou(), 1.0);
  EXPECT_THROW(e.add(mask_of({"#"}), mask_of({"##"})), InputError);
}

// ---------------------------------------------------------------------------------------------
// GRES

TEST(EvalMetrics, GresCountsAndIou) {
  GresMetrics m;
  // 1. target:     gt ####....  pred .####...  I = 3 (x 1..3), U = 5 (x 0..4) -> tp, IoU 0.6
  m.add(mask_of({".####..."}), mask_of({"####...."}));
  // 2. target:     gt ......##  pred ........  I = 0, U = 2 -> fn, IoU 0
  m.add(mask_of({"........"}), mask_of({"......##"}));
  // 3. no target:  gt ........  pred ........  -> tn, IoU 1, adds nothing to I, U
  m.add(mask_of({"........"}), mask_of({"........"}));
  // 4. no target:  gt ........  pred ###.....  -> fp, IoU 0, U += 3
  m.add(mask_of({"###....."}), mask_of({"........"}));
  // 5. no target, empty prediction -> tn, IoU 1
  m.add(mask_of({"........"}), mask_of({"........"}));
  EXPECT_EQ(m.n(), 5);
  EXPECT_EQ(m.tp(), 1);
  EXPECT_EQ(m.fn(), 1);
  EXPECT_EQ(m.tn(), 2);
  EXPECT_EQ(m.fp(), 1);
  EXPECT_DOUBLE_EQ(m.nacc(), 2.0 / 3.0);  // tn / (tn + fp)
  EXPECT_DOUBLE_EQ(m.tacc(), 1.0 / 2.0);  // tp / (tp + fn)
  // cIoU = (3 + 0) / (5 + 2 + 0 + 3 + 0) = 3 / 10
  EXPECT_DOUBLE_EQ(m.ciou(), 0.3);
  // gIoU = (0.6 + 0 + 1 + 0 + 1) / 5
  EXPECT_DOUBLE_EQ(m.giou(), (0.6 + 0.0 + 1.0 + 0.0 + 1.0) / 5.0);
  // Pr@0.5 over the two target samples {0.6, 0}: 1 / 2
  EXPECT_DOUBLE_EQ(m.precision_at(0.5), 0.5);
  EXPECT_DOUBLE_EQ(m.precision_at(0.7), 0.0);
}

TEST(EvalMetrics, GresEmptyPixelThreshold) {
  // The same five samples with "empty" = at most 3 foreground pixels: sample 4's 3-pixel
  // prediction becomes empty (tn, IoU 1, adds nothing); sample 1's 4 pixels stay non-empty.
  GresMetrics m(/*empty_max_pixels=*/3);
  m.add(mask_of({".####..."}), mask_of({"####...."}));
  m.add(mask_of({"........"}), mask_of({"......##"}));
  m.add(mask_of({"........"}), mask_of({"........"}));
  m.add(mask_of({"###....."}), mask_of({"........"}));
  m.add(mask_of({"........"}), mask_of({"........"}));
  EXPECT_EQ(m.tn(), 3);
  EXPECT_EQ(m.fp(), 0);
  EXPECT_DOUBLE_EQ(m.nacc(), 1.0);
  EXPECT_DOUBLE_EQ(m.ciou(), 3.0 / 7.0);  // (3 + 0) / (5 + 2)
  EXPECT_DOUBLE_EQ(m.giou(), (0.6 + 0.0 + 1.0 + 1.0 + 1.0) / 5.0);
  // A target sample whose small prediction counts as empty: gt ##...., pred #.....
  // I would be 1, but an empty decision forces I = 0 (ReLA); U = 2 -> IoU 0, fn.
  GresMetrics t(3), t0;
  t.add(mask_of({"#....."}), mask_of({"##...."}));
  t0.add(mask_of({"#....."}), mask_of({"##...."}));
  EXPECT_EQ(t.fn(), 1);
  EXPECT_EQ(t.giou(), 0.0);
  EXPECT_EQ(t0.tp(), 1);
  EXPECT_DOUBLE_EQ(t0.giou(), 0.5);  // I = 1, U = 2
  // The caller's own decision (existence answer "no"), from counts.
  GresMetrics c;
  c.add(/*gt_empty=*/false, /*pred_empty=*/true, IouCounts{5, 8});
  EXPECT_EQ(c.fn(), 1);
  EXPECT_EQ(c.ciou(), 0.0);  // I forced to 0, U = 8
  EXPECT_THROW(GresMetrics(-1), InputError);
  // No no-target samples: N-acc is reported as 0 (ReLA), T-acc defined.
  EXPECT_EQ(t0.nacc(), 0.0);
  EXPECT_EQ(t0.tacc(), 1.0);
}

// ---------------------------------------------------------------------------------------------
// REC

TEST(EvalMetrics, BoxIouNoPlusOne) {
  // [0,0,10,10] vs [5,5,15,15]: I = 5*5 = 25, U = 100 + 100 - 25 = 175
  EXPECT_DOUBLE_EQ(box_iou({0, 0, 10, 10}, {5, 5, 15, 15}), 25.0 / 175.0);
  // [0,0,4,4] vs [0,0,4,3]: I = 12, U = 16 + 12 - 12 = 16
  EXPECT_DOUBLE_EQ(box_iou({0, 0, 4, 4}, {0, 0, 4, 3}), 0.75);
  EXPECT_EQ(box_iou({0, 0, 10, 10}, {10, 0, 20, 10}), 0.0);  // touching: no +1, no overlap
  EXPECT_EQ(box_iou({0, 0, 0, 0}, {0, 0, 0, 0}), 0.0);       // empty union
  EXPECT_EQ(box_iou({0, 0, NAN, 1}, {0, 0, 1, 1}), 0.0);
}

TEST(EvalMetrics, ParseBoxLikeTheOfficialRegex) {
  using V = std::array<double, 4>;
  EXPECT_EQ(parse_box_numbers("Sure, <box>[[12, 30, 500, 999]]</box>"), (V{12, 30, 500, 999}));
  EXPECT_EQ(parse_box_numbers("[1,2,3,4]"), (V{1, 2, 3, 4}));
  EXPECT_EQ(parse_box_numbers("box [ 0.1 , 0.2,0.3 , 0.4 ] ok"), (V{0.1, 0.2, 0.3, 0.4}));
  EXPECT_EQ(parse_box_numbers("[[[7, 8, 9, 10]]]"), (V{7, 8, 9, 10}));
  EXPECT_EQ(parse_box_numbers("[1, 2, 3, 4] [5, 6, 7, 8]"), (V{1, 2, 3, 4}));  // the first match
  EXPECT_EQ(parse_box_numbers("[x]\n[[5,6,7,8]]"), (V{5, 6, 7, 8}));          // '.' stops at '\n'
  // Python float(): sign, exponent, trailing '.', '_' between digits.
  EXPECT_EQ(parse_box_numbers("[[1_0, +2, 3e1, 4.]]"), (V{10, 2, 30, 4}));
  EXPECT_EQ(parse_box_numbers("no box here"), std::nullopt);
  EXPECT_EQ(parse_box_numbers("[1, 2, 3]"), std::nullopt);
  EXPECT_EQ(parse_box_numbers("[[1, 2, 3, 4"), std::nullopt);           // no closing ']'
  EXPECT_EQ(parse_box_numbers("[[1, 2,\n 3, 4]]"), std::nullopt);       // split by a newline
  EXPECT_EQ(parse_box_numbers("[1, 2, 3, 4, 5]"), std::nullopt);        // group 4 = "4, 5"
  EXPECT_EQ(parse_box_numbers("[a, 2, 3, 4]"), std::nullopt);
  EXPECT_EQ(parse_box_numbers("[1, [2, 3, 4]]"), std::nullopt);         // group 2 = " [2"
  EXPECT_EQ(parse_box_numbers("[1__0, 2, 3, 4]"), std::nullopt);
  EXPECT_EQ(parse_box_numbers("[0x10, 2, 3, 4]"), std::nullopt);
}

TEST(EvalMetrics, BoxDenormalisation) {
  // Sum 0 + 0 + 999 + 999 >= 4: divide by 999, then x * W (640), y * H (480).
  Box b = denormalize_box({0, 0, 999, 999}, 640, 480);
  EXPECT_NEAR(b.x2, 640, 1e-9);
  EXPECT_NEAR(b.y2, 480, 1e-9);
  // 333/999 = 1/3 of W = 300 -> 100; 111/999 = 1/9 of H = 900 -> 100
  b = denormalize_box({333, 111, 666, 222}, 300, 900);
  EXPECT_NEAR(b.x1, 100, 1e-9);
  EXPECT_NEAR(b.y1, 100, 1e-9);
  EXPECT_NEAR(b.x2, 200, 1e-9);
  EXPECT_NEAR(b.y2, 200, 1e-9);
  // Sum 1.4 < 4: read as fractions, not divided: 0.1 * 100 = 10 etc.
  b = denormalize_box({0.1, 0.2, 0.5, 0.6}, 100, 50);
  EXPECT_NEAR(b.x1, 10, 1e-9);
  EXPECT_NEAR(b.y1, 10, 1e-9);
  EXPECT_NEAR(b.x2, 50, 1e-9);
  EXPECT_NEAR(b.y2, 30, 1e-9);
  // The /1000 convention: 500 / 1000 * 640 = 320.
  b = denormalize_box({0, 0, 500, 1000}, 640, 480, kBoxDivisorInternVL);
  EXPECT_NEAR(b.x2, 320, 1e-9);
  EXPECT_NEAR(b.y2, 480, 1e-9);
  auto p = parse_box("<box>[[0, 0, 999, 999]]</box>", 10, 20);
  ASSERT_TRUE(p.has_value());
  EXPECT_NEAR(p->x2, 10, 1e-9);
  EXPECT_NEAR(p->y2, 20, 1e-9);
  EXPECT_EQ(parse_box("nothing", 10, 20), std::nullopt);
}

TEST(EvalMetrics, RecAccuracyAtThresholds) {
  // IoUs: 1 (same box), 25/175 = 0.143, 0 (no parsable box), 0.75.
  RecMetrics m;
  m.add(Box{0, 0, 10, 10}, Box{0, 0, 10, 10});
  m.add(Box{0, 0, 10, 10}, Box{5, 5, 15, 15});
  m.add(std::nullopt, Box{0, 0, 10, 10});
  m.add(Box{0, 0, 4, 4}, Box{0, 0, 4, 3});
  EXPECT_EQ(m.n(), 4);
  EXPECT_DOUBLE_EQ(m.acc_at(0.5), 2.0 / 4.0);  // {1, 0.75}
  EXPECT_DOUBLE_EQ(m.acc_at(0.7), 2.0 / 4.0);  // {1, 0.75}
  EXPECT_DOUBLE_EQ(m.acc_at(0.9), 1.0 / 4.0);  // {1}
  EXPECT_EQ(RecMetrics().acc_at(0.5), 0.0);
}

// ---------------------------------------------------------------------------------------------
// Open-vocabulary mIoU

TEST(EvalMetrics, SemSegMiou) {
  // GT    0   0   1      pred  0   1   1      (255 = ignore, -1 = no class)
  //      255  2   1            0  -1   2
  // Counted pixels (the ignore pixel and its prediction are skipped):
  //   (0,0) g0 p0, (0,1) g0 p1, (0,2) g1 p1, (1,1) g2 p-, (1,2) g1 p2
  // class 0: I 1, GT 2, pred 1 -> U 2 -> 1/2
  // class 1: I 1, GT 2, pred 2 -> U 3 -> 1/3
  // class 2: I 0, GT 1, pred 1 -> U 2 -> 0
  LabelMap gt{2, 3, {0, 0, 1, 255, 2, 1}};
  LabelMap pred{2, 3, {0, 1, 1, 0, kNoClass, 2}};
  SemSegMetrics m(/*n_classes=*/4);
  m.add(pred, gt);
  std::vector<double> iou = m.class_iou();
  EXPECT_DOUBLE_EQ(iou[0], 0.5);
  EXPECT_DOUBLE_EQ(iou[1], 1.0 / 3.0);
  EXPECT_DOUBLE_EQ(iou[2], 0.0);
  EXPECT_TRUE(std::isnan(iou[3]));  // class 3 in neither: not averaged
  EXPECT_DOUBLE_EQ(m.miou(), (0.5 + 1.0 / 3.0 + 0.0) / 3.0);
  EXPECT_EQ(m.intersections(), (std::vector<int64_t>{1, 1, 0, 0}));
  EXPECT_EQ(m.unions(), (std::vector<int64_t>{2, 3, 2, 0}));
  // Sums over images, not means of per-image IoUs: a second image with class 2 right
  // (1 pixel, I 1, U 1) makes class 2: I 1, U 3.
  m.add(LabelMap{1, 1, {2}}, LabelMap{1, 1, {2}});
  EXPECT_DOUBLE_EQ(m.class_iou()[2], 1.0 / 3.0);
  EXPECT_THROW(m.add(LabelMap{1, 1, {0}}, LabelMap{1, 1, {7}}), InputError);
  EXPECT_THROW(m.add(LabelMap{1, 1, {9}}, LabelMap{1, 1, {0}}), InputError);
  EXPECT_THROW(m.add(LabelMap{1, 2, {0, 0}}, LabelMap{1, 1, {0}}), InputError);
  EXPECT_THROW(SemSegMetrics(4, 2), InputError);
  EXPECT_EQ(SemSegMetrics(3).miou(), 0.0);
}

TEST(EvalMetrics, ComposeLabelMapSmallerAreaWins) {
  // class 5 ###. (area 3), class 2 .##. (area 2), class 9 .#.. (area 1), class 4 .... (empty)
  // pixel 0: only 5; pixel 1: 5, 2, 9 -> 9 (smallest); pixel 2: 5, 2 -> 2; pixel 3: none.
  LabelMap l = compose_label_map(1, 4, {{5, mask_of({"###."})}, {2, mask_of({".##."})}, {9, mask_of({".#.."})},
                                        {4, mask_of({"...."})}});
  EXPECT_EQ(l.data, (std::vector<int32_t>{5, 9, 2, kNoClass}));
  // Equal areas: the earlier entry wins.
  LabelMap t = compose_label_map(1, 2, {{1, mask_of({"#."})}, {3, mask_of({"#."})}});
  EXPECT_EQ(t.data, (std::vector<int32_t>{1, kNoClass}));
  EXPECT_THROW(compose_label_map(1, 3, {{1, mask_of({"#."})}}), InputError);
}

// ---------------------------------------------------------------------------------------------
// Mask perception

TEST(EvalMetrics, ChoiceParsing) {
  EXPECT_EQ(parse_choice("B. the red car on the left"), "B");      // ^([A-E])\.\s*(.+)$
  EXPECT_EQ(parse_choice("  c.   the dog  "), "C");                // ignore case, stripped
  EXPECT_EQ(parse_choice("A."), "A");  // too short for the option regex; '.' stripped -> "a" alone
  EXPECT_EQ(parse_choice("The answer is C"), "C");                  // first standalone letter a-e
  EXPECT_EQ(parse_choice("(D)"), "D");                              // brackets -> spaces, stripped
  EXPECT_EQ(parse_choice("Option b, the dog"), "B");                // ", " -> ',' removed
  EXPECT_EQ(parse_choice("a dog"), "A");                            // the article counts (official quirk)
  EXPECT_EQ(parse_choice("I think so."), "i think so");             // no letter a-e alone: the text
  EXPECT_EQ(parse_choice("E. none of them"), "E");
}

TEST(EvalMetrics, ChoiceAccuracy) {
  EXPECT_TRUE(choice_correct("B. the red car", "B"));
  EXPECT_FALSE(choice_correct("B. the red car", "C"));
  EXPECT_TRUE(choice_correct("E. none", "A"));   // not A-D -> "A" (official)
  EXPECT_FALSE(choice_correct("E. none", "E"));
  EXPECT_TRUE(choice_correct("I think so", "A"));
  ChoiceMetrics m;
  m.add("B. the red car", "B");  // right
  m.add("C", "B");               // wrong
  m.add("The answer is D.", "D.");  // right: both parse to D
  m.add("nothing", "C");         // "nothing" -> "A": wrong
  EXPECT_EQ(m.n(), 4);
  EXPECT_DOUBLE_EQ(m.accuracy(), 0.5);
  EXPECT_EQ(ChoiceMetrics().accuracy(), 0.0);
}
