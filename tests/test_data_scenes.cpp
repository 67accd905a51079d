// data/scenes: determinism, exact masks, ground truth of every expression and question, held-out
// combinations, splits.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <sstream>

#include "common/error.h"
#include "data/scenes.h"

namespace {

using namespace himtok::data;
using himtok::InputError;
using himtok::Mask;

std::vector<std::string> words(const std::string& s) {
  std::istringstream in(s);
  std::vector<std::string> w;
  for (std::string x; in >> x;) w.push_back(x);
  return w;
}

// The colours a pixel of object o may show: base, stripe shade, dot tint (see scenes.cpp texel()).
bool is_object_colour(const SceneObject& o, const uint8_t* px) {
  const auto b = color_rgb(o.color);
  auto eq = [&](int r, int g, int bl) { return px[0] == r && px[1] == g && px[2] == bl; };
  if (eq(b[0], b[1], b[2])) return true;
  if (o.texture == Texture::kStriped && eq(b[0] * 55 / 100, b[1] * 55 / 100, b[2] * 55 / 100)) return true;
  if (o.texture == Texture::kDotted && eq((b[0] + 255) / 2, (b[1] + 255) / 2, (b[2] + 255) / 2)) return true;
  return false;
}

std::vector<int> matching(const Scene& sc, const Descriptor& d) {
  std::vector<int> ids;
  for (const auto& o : sc.objects)
    if (d.matches(o)) ids.push_back(o.id);
  return ids;
}

// Relation truth with the generator's margin (4% of S); +1 true, -1 false, 0 unclear.
int holds(const Scene& sc, int a, int b, Relation r) {
  const double m = 0.04 * static_cast<double>(sc.image.w);
  const auto &A = sc.objects[a], &B = sc.objects[b];
  double d = 0;
  switch (r) {
    case Relation::kLeftOf: d = B.mx - A.mx; break;
    case Relation::kRightOf: d = A.mx - B.mx; break;
    case Relation::kAbove: d = B.my - A.my; break;
    case Relation::kBelow: d = A.my - B.my; break;
  }
  return d > m ? 1 : d < -m ? -1 : 0;
}

// Every attribute word in `phrase_words` is true of every object in `ids`.
void expect_words_true(const Scene& sc, const std::vector<std::string>& phrase_words, const std::vector<int>& ids,
                       const std::string& text) {
  for (const auto& w : phrase_words)
    for (int id : ids) {
      const auto& o = sc.objects[id];
      for (int c = 0; c < kNumColors; ++c) {
        if (w == color_name(static_cast<Color>(c))) {
          EXPECT_EQ(o.color, static_cast<Color>(c)) << sc.id << ": " << text;
        }
      }
      for (int s = 0; s < kNumShapes; ++s) {
        if (w == shape_name(static_cast<Shape>(s)) || w == shape_plural(static_cast<Shape>(s))) {
          EXPECT_EQ(o.shape, static_cast<Shape>(s)) << sc.id << ": " << text;
        }
      }
      for (int s = 0; s < kNumSizes; ++s) {
        if (w == size_name(static_cast<SizeClass>(s))) {
          EXPECT_EQ(o.size, static_cast<SizeClass>(s)) << sc.id << ": " << text;
        }
      }
      for (int t = 0; t < kNumTextures; ++t) {
        if (w == texture_name(static_cast<Texture>(t))) {
          EXPECT_EQ(o.texture, static_cast<Texture>(t)) << sc.id << ": " << text;
        }
      }
    }
}

void check_scene(const Scene& sc) {
  const int64_t S = sc.image.w;
  ASSERT_EQ(sc.image.h, S);
  ASSERT_EQ(sc.image.c, 3);
  ASSERT_GE(sc.objects.size(), 2u);
  ASSERT_LE(sc.objects.size(), 6u);

  // Masks: non-empty, disjoint, equal to the pixels that show the object; background elsewhere.
  std::vector<int> owner(static_cast<size_t>(S * S), -1);
  for (const auto& o : sc.objects) {
    ASSERT_EQ(o.mask.h, S);
    ASSERT_EQ(o.mask.w, S);
    EXPECT_GT(o.mask.area(), 0) << sc.id;
    EXPECT_GE(o.mask.area(), 0.6 * o.full_area) << sc.id << " object " << o.id << " is occluded too much";
    EXPECT_LE(o.mask.area(), o.full_area);
    EXPECT_EQ(o.box, mask_box(o.mask));
    EXPECT_GE(o.mx, o.box.x0);
    EXPECT_LE(o.mx, o.box.x1);
    for (size_t i = 0; i < o.mask.data.size(); ++i) {
      ASSERT_LE(o.mask.data[i], 1);
      if (!o.mask.data[i]) continue;
      ASSERT_EQ(owner[i], -1) << sc.id << ": masks overlap";
      owner[i] = o.id;
    }
  }
  int64_t n_bad = 0;
  for (int64_t y = 0; y < S; ++y)
    for (int64_t x = 0; x < S; ++x) {
      const uint8_t* px = sc.image.px(y, x);
      const int id = owner[static_cast<size_t>(y * S + x)];
      if (id >= 0) {
        n_bad += !is_object_colour(sc.objects[id], px);
      } else {
        // Backgrounds are grey with a tint of at most +-18 per channel: spread <= 36 (+1 for the
        // gradient's integer rounding); object colours have a spread >= 45.
        const int spread = std::max({px[0], px[1], px[2]}) - std::min({px[0], px[1], px[2]});
        n_bad += spread > 37;
      }
    }
  EXPECT_EQ(n_bad, 0) << sc.id << ": pixels whose colour disagrees with the masks";

  // Expressions.
  for (const auto& e : sc.expressions) {
    SCOPED_TRACE(sc.id + ": " + e.text);
    EXPECT_TRUE(std::is_sorted(e.targets.begin(), e.targets.end()));
    const auto head = matching(sc, e.desc);
    const Mask m = expression_mask(sc, e);
    int64_t union_area = 0;
    for (int id : e.targets) union_area += sc.objects[id].mask.area();
    EXPECT_EQ(m.area(), union_area);
    switch (e.kind) {
      case ExprKind::kAttribute:
        EXPECT_EQ(head, e.targets);
        EXPECT_EQ(e.targets.size(), 1u);
        EXPECT_EQ(e.text, "the " + e.desc.phrase());
        expect_words_true(sc, words(e.text), e.targets, e.text);
        break;
      case ExprKind::kMulti:
        EXPECT_EQ(head, e.targets);
        EXPECT_GE(e.targets.size(), 2u);
        EXPECT_EQ(e.text, "all " + e.desc.phrase(true));
        expect_words_true(sc, words(e.text), e.targets, e.text);
        break;
      case ExprKind::kNone:
        EXPECT_TRUE(head.empty());
        EXPECT_TRUE(e.targets.empty());
        EXPECT_EQ(m.area(), 0);
        EXPECT_TRUE(expression_box(sc, e).empty());
        break;
      case ExprKind::kRelation: {
        ASSERT_EQ(e.targets.size(), 1u);
        EXPECT_EQ(matching(sc, e.anchor_desc), std::vector<int>{e.anchor});
        int n_true = 0;
        for (int id : head) {
          const int h = holds(sc, id, e.anchor, e.relation);
          EXPECT_NE(h, 0) << "unclear relation stated";
          if (h > 0) {
            ++n_true;
            EXPECT_EQ(id, e.targets[0]);
          }
        }
        EXPECT_EQ(n_true, 1);
        const std::string rel = relation_name(e.relation);
        const size_t p = e.text.find(" " + rel + " the ");
        ASSERT_NE(p, std::string::npos);
        expect_words_true(sc, words(e.text.substr(0, p)), e.targets, e.text);
        expect_words_true(sc, words(e.text.substr(p + rel.size() + 2)), {e.anchor}, e.text);
        break;
      }
      case ExprKind::kOrdinal: {
        ASSERT_EQ(e.targets.size(), 1u);
        ASSERT_GE(head.size(), 2u);
        ASSERT_GE(e.rank, 1);
        ASSERT_LE(e.rank, static_cast<int>(head.size()));
        const auto& t = sc.objects[e.targets[0]];
        auto key = [&](const SceneObject& o) {
          switch (e.axis) {
            case OrderAxis::kFromLeft: return o.mx;
            case OrderAxis::kFromRight: return -o.mx;
            case OrderAxis::kFromTop: return o.my;
            case OrderAxis::kFromBottom: return -o.my;
          }
          return 0.0;
        };
        int before = 0;
        for (int id : head) before += key(sc.objects[id]) < key(t);
        EXPECT_EQ(before, e.rank - 1);
        expect_words_true(sc, words(e.text), e.targets, e.text);
        break;
      }
    }
  }

  // Questions.
  for (const auto& q : sc.questions) {
    SCOPED_TRACE(sc.id + ": " + q.question + " -> " + q.answer);
    switch (q.kind) {
      case QaKind::kCount: {
        // "How many <plural phrase> are there?": recount from the words.
        Descriptor d;
        for (const auto& w : words(q.question)) {
          for (int c = 0; c < kNumColors; ++c)
            if (w == color_name(static_cast<Color>(c))) d.color = c;
          for (int s = 0; s < kNumShapes; ++s)
            if (w == shape_plural(static_cast<Shape>(s))) d.shape = s;
        }
        EXPECT_EQ(q.answer, std::to_string(matching(sc, d).size()));
        break;
      }
      case QaKind::kColor: EXPECT_EQ(q.answer, color_name(sc.objects[q.subjects[0]].color)); break;
      case QaKind::kShape: EXPECT_EQ(q.answer, shape_name(sc.objects[q.subjects[0]].shape)); break;
      case QaKind::kSize: EXPECT_EQ(q.answer, size_name(sc.objects[q.subjects[0]].size)); break;
      case QaKind::kRelation: {
        Relation rel = Relation::kLeftOf;
        for (int r = 0; r < 4; ++r)
          if (q.question.find(std::string(" ") + relation_name(static_cast<Relation>(r)) + " the ") != std::string::npos)
            rel = static_cast<Relation>(r);
        const int h = holds(sc, q.subjects[0], q.subjects[1], rel);
        ASSERT_NE(h, 0);
        EXPECT_EQ(q.answer, h > 0 ? "yes" : "no");
        break;
      }
      case QaKind::kPosition: {
        const auto& o = sc.objects[q.subjects[0]];
        const double third = static_cast<double>(S) / 3;
        const char* rows[3] = {"top", "middle", "bottom"};
        const char* cols[3] = {"left", "center", "right"};
        const int r = std::min(2, static_cast<int>(o.my / third)), c = std::min(2, static_cast<int>(o.mx / third));
        const std::string want = (r == 1 && c == 1) ? "center"
                                 : r == 1           ? cols[c]
                                 : c == 1           ? rows[r]
                                                    : std::string(rows[r]) + " " + cols[c];
        EXPECT_EQ(q.answer, want);
        break;
      }
    }
  }
}

std::vector<std::string> held_out_phrases(const SceneOptions& opt) {
  std::vector<std::string> v;
  for (const auto& h : opt.held_out) {
    const std::string c = color_name(h.color);
    for (const std::string s : {shape_name(h.shape), shape_plural(h.shape)}) {
      v.push_back(c + " " + s);
      for (int t = 0; t < kNumTextures; ++t) v.push_back(c + " " + texture_name(static_cast<Texture>(t)) + " " + s);
    }
  }
  return v;
}

// ---------------------------------------------------------------------------------------------

TEST(DataScenes, Deterministic) {
  for (auto split : {SceneSplit::kTrain, SceneSplit::kVal, SceneSplit::kTest}) {
    const Scene a = generate_scene(split, 17), b = generate_scene(split, 17);
    EXPECT_EQ(a.id, b.id);
    EXPECT_EQ(a.image.data, b.image.data);
    ASSERT_EQ(a.objects.size(), b.objects.size());
    for (size_t i = 0; i < a.objects.size(); ++i) EXPECT_EQ(a.objects[i].mask.data, b.objects[i].mask.data);
    ASSERT_EQ(a.expressions.size(), b.expressions.size());
    for (size_t i = 0; i < a.expressions.size(); ++i) {
      EXPECT_EQ(a.expressions[i].text, b.expressions[i].text);
      EXPECT_EQ(a.expressions[i].targets, b.expressions[i].targets);
    }
    ASSERT_EQ(a.questions.size(), b.questions.size());
    for (size_t i = 0; i < a.questions.size(); ++i) EXPECT_EQ(a.questions[i].answer, b.questions[i].answer);
  }
  // Different index, split or seed: a different scene.
  EXPECT_NE(generate_scene(SceneSplit::kTrain, 17).image.data, generate_scene(SceneSplit::kTrain, 18).image.data);
  EXPECT_NE(generate_scene(SceneSplit::kTrain, 17).image.data, generate_scene(SceneSplit::kTest, 17).image.data);
  SceneOptions o;
  o.seed = 99;
  const Scene s = generate_scene(SceneSplit::kTest, 17, o);
  EXPECT_NE(s.image.data, generate_scene(SceneSplit::kTest, 17).image.data);
  EXPECT_EQ(s.id, "test/000000017@s99");
  EXPECT_EQ(generate_scene(SceneSplit::kVal, 5).id, "val/000000005");
}

TEST(DataScenes, MasksAndGroundTruthAreConsistent) {
  for (uint64_t i = 0; i < 60; ++i) check_scene(generate_scene(SceneSplit::kTrain, i));
  for (uint64_t i = 0; i < 30; ++i) check_scene(generate_scene(SceneSplit::kVal, i));
  for (uint64_t i = 0; i < 30; ++i) check_scene(generate_scene(SceneSplit::kTest, i));
  SceneOptions small;
  small.size = 96;
  small.n_max = 4;
  for (uint64_t i = 0; i < 20; ++i) {
    const Scene sc = generate_scene(SceneSplit::kTest, i, small);
    EXPECT_LE(sc.objects.size(), 4u);
    check_scene(sc);
  }
}

TEST(DataScenes, EveryKindOfExpressionAndQuestionOccurs) {
  std::set<ExprKind> kinds;
  std::set<QaKind> qkinds;
  std::set<Background> bgs;
  std::set<Texture> textures;
  int n_occluded = 0;
  for (uint64_t i = 0; i < 60; ++i) {
    const Scene sc = generate_scene(SceneSplit::kTrain, i);
    for (const auto& e : sc.expressions) kinds.insert(e.kind);
    for (const auto& q : sc.questions) qkinds.insert(q.kind);
    bgs.insert(sc.background);
    for (const auto& o : sc.objects) {
      textures.insert(o.texture);
      n_occluded += o.mask.area() < o.full_area;
    }
  }
  EXPECT_EQ(kinds.size(), 5u);
  EXPECT_EQ(qkinds.size(), 6u);
  EXPECT_EQ(bgs.size(), 3u);
  EXPECT_EQ(textures.size(), 3u);
  EXPECT_GT(n_occluded, 5);
}

TEST(DataScenes, HeldOutCombinationsNeverInTrain) {
  const SceneOptions opt;
  const auto phrases = held_out_phrases(opt);
  for (uint64_t i = 0; i < 150; ++i) {
    const Scene sc = generate_scene(SceneSplit::kTrain, i);
    for (const auto& o : sc.objects) EXPECT_FALSE(is_held_out(opt, o.color, o.shape)) << sc.id;
    for (const auto& e : sc.expressions) {
      EXPECT_FALSE(names_held_out(opt, e.desc)) << sc.id << ": " << e.text;
      for (const auto& p : phrases) EXPECT_EQ(e.text.find(p), std::string::npos) << sc.id << ": " << e.text;
    }
    for (const auto& q : sc.questions)
      for (const auto& p : phrases) EXPECT_EQ(q.question.find(p), std::string::npos) << sc.id << ": " << q.question;
  }
  // ...but they are in val and test, and get referred to there.
  int n_objects = 0, n_referred = 0;
  for (auto split : {SceneSplit::kVal, SceneSplit::kTest})
    for (uint64_t i = 0; i < 60; ++i) {
      const Scene sc = generate_scene(split, i);
      for (const auto& o : sc.objects) n_objects += is_held_out(opt, o.color, o.shape);
      for (const auto& e : sc.expressions)
        for (int t : e.targets) n_referred += is_held_out(opt, sc.objects[t].color, sc.objects[t].shape);
    }
  EXPECT_GT(n_objects, 20);
  EXPECT_GT(n_referred, 10);
}

TEST(DataScenes, PerceptionOptions) {
  const SceneOptions opt;
  Pcg32 rng(4);
  int n_checked = 0;
  for (uint64_t i = 0; i < 30; ++i) {
    const Scene sc = generate_scene(SceneSplit::kTrain, i);
    for (size_t ei = 0; ei < sc.expressions.size(); ++ei) {
      const auto& e = sc.expressions[ei];
      if (e.targets.size() != 1) {
        EXPECT_THROW(perception_options(sc, static_cast<int>(ei), opt, 4, rng), std::logic_error);
        continue;
      }
      const auto po = perception_options(sc, static_cast<int>(ei), opt, 4, rng);
      ASSERT_EQ(po.options.size(), 4u) << sc.id;
      EXPECT_EQ(po.options[po.correct], e.text);
      const std::set<std::string> distinct(po.options.begin(), po.options.end());
      EXPECT_EQ(distinct.size(), 4u);
      // No wrong option is an expression of the scene that includes the target.
      for (int k = 0; k < 4; ++k) {
        if (k == po.correct) continue;
        for (const auto& f : sc.expressions) {
          if (f.text == po.options[k]) {
            EXPECT_EQ(std::count(f.targets.begin(), f.targets.end(), e.targets[0]), 0) << sc.id << ": " << f.text;
          }
        }
        for (const auto& p : held_out_phrases(opt)) EXPECT_EQ(po.options[k].find(p), std::string::npos);
      }
      ++n_checked;
    }
  }
  EXPECT_GT(n_checked, 50);
}

TEST(DataScenes, BadOptionsAndSplits) {
  EXPECT_EQ(parse_split("val"), SceneSplit::kVal);
  EXPECT_STREQ(split_name(SceneSplit::kTest), "test");
  EXPECT_THROW(parse_split("dev"), InputError);
  SceneOptions o;
  o.size = 32;
  EXPECT_THROW(generate_scene(SceneSplit::kTrain, 0, o), InputError);
  o = {};
  o.n_min = 1;
  EXPECT_THROW(generate_scene(SceneSplit::kTrain, 0, o), InputError);
  o = {};
  o.n_min = 5, o.n_max = 3;
  EXPECT_THROW(generate_scene(SceneSplit::kTrain, 0, o), InputError);
  EXPECT_THROW(generate_scene(SceneSplit::kTrain, 1000000000ull), InputError);
}

TEST(DataScenes, DescriptorPhrases) {
  Descriptor d;
  EXPECT_EQ(d.phrase(), "object");
  d.color = static_cast<int>(Color::kRed);
  EXPECT_EQ(d.phrase(true), "red objects");
  d.shape = static_cast<int>(Shape::kEllipse);
  d.size = static_cast<int>(SizeClass::kSmall);
  d.texture = static_cast<int>(Texture::kStriped);
  EXPECT_EQ(d.phrase(), "small red striped ellipse");
  EXPECT_EQ(d.phrase(true), "small red striped ellipses");
  EXPECT_EQ(d.n_attributes(), 4);
}

TEST(DataScenes, RngIsStable) {
  // PCG32 and splitmix64 are fixed algorithms: pin a few outputs (computed from their definitions).
  EXPECT_EQ(splitmix64(0), 0xE220A8397B1DCDAFull);
  Pcg32 a(1), b(1), c(2);
  const uint32_t x = a.next_u32();
  EXPECT_EQ(x, b.next_u32());
  EXPECT_NE(x, c.next_u32());
  for (int i = 0; i < 1000; ++i) {
    EXPECT_LT(a.below(7), 7u);
    const double u = a.uniform();
    EXPECT_GE(u, 0.0);
    EXPECT_LT(u, 1.0);
    const int r = a.range(-3, 3);
    EXPECT_GE(r, -3);
    EXPECT_LE(r, 3);
  }
}

}  // namespace
