// Synthetic referring-segmentation scenes in the spirit of CLEVR-Ref+ (no libtorch).
//
// A scene is an RGB image (S x S, default 224) with 2-6 flat objects on a desaturated background,
// each object a (shape, color, size, texture) drawn in z-order, so later objects occlude earlier ones.
// For every object the scene keeps its visible mask (after occlusion) and its box; with these come
// referring expressions (attributes, spatial relations, ordinals, several targets, no target) and
// questions that need no mask (count, color, shape, size, relation, position).
//
// Conventions (exact, tested):
//   - A pixel (x, y) belongs to a shape iff its centre (x + 0.5, y + 0.5) is inside the shape's
//     geometry (closed test); no anti-aliasing. The painted colour and the masks use the same test,
//     so an object's mask is exactly the set of pixels showing that object.
//   - Masks are S x S, 0/1. Boxes are in pixel edges: [x0, x1) x [y0, y1), i.e. x1 = last column + 1.
//   - Relations and ordinals use the centroid of the visible mask, with a margin of 4% of S: a
//     relation or an order that a margin makes unclear is never stated.
//   - Splits by seed range: scene (split, index) uses seed  base(split) + index, with base 0 for
//     train, 1e9 for val and 2e9 for test, mixed with SceneOptions::seed (0 = the fixed splits; any
//     other value draws a fresh set from the same distributions). index must be < 1e9.
//   - Held-out (color, shape) pairs (default green triangle, purple star, cyan square) never occur
//     in train scenes, neither as objects nor in any expression or question; in val/test a share of
//     scenes (held_out_rate) is given one held-out object.
//   - Deterministic: the same (split, index, options) gives the same scene, byte for byte: own PRNG
//     (scene_rng.h), no std:: distributions, geometry in + - * / and sqrt only (no libm sin/cos).
//     Build scenes.cpp with -ffp-contract=off so that FMA contraction (-march=native, ARM64)
//     cannot move boundary pixels between builds.
//   - Objects of the same colour never overlap or touch (they would read as one shape); any other
//     pair may overlap, keeping >= 60% of each object visible.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "common/mask.h"
#include "data/scene_rng.h"

namespace himtok::data {

enum class SceneSplit { kTrain, kVal, kTest };
const char* split_name(SceneSplit split);
SceneSplit parse_split(const std::string& name);  // "train" | "val" | "test"; InputError otherwise

enum class Shape : int { kCircle, kSquare, kTriangle, kStar, kEllipse, kDiamond };
enum class Color : int { kRed, kGreen, kBlue, kYellow, kPurple, kOrange, kCyan, kBrown };
enum class SizeClass : int { kSmall, kLarge };
enum class Texture : int { kSolid, kStriped, kDotted };
enum class Background : int { kSolid, kGradient, kNoise };
constexpr int kNumShapes = 6, kNumColors = 8, kNumSizes = 2, kNumTextures = 3;

const char* shape_name(Shape s);         // "circle"
const char* shape_plural(Shape s);       // "circles"
const char* color_name(Color c);         // "red"
const char* size_name(SizeClass s);      // "small"
const char* texture_name(Texture t);     // "solid" | "striped" | "dotted"
const char* background_name(Background b);
std::array<uint8_t, 3> color_rgb(Color c);  // base RGB of a named colour

// Pixel-edge box: [x0, x1) x [y0, y1). Empty when x1 <= x0.
struct PixelBox {
  int x0 = 0, y0 = 0, x1 = 0, y1 = 0;
  bool empty() const { return x1 <= x0 || y1 <= y0; }
  bool operator==(const PixelBox& o) const { return x0 == o.x0 && y0 == o.y0 && x1 == o.x1 && y1 == o.y1; }
};
PixelBox mask_box(const Mask& m);  // tight box of the non-zero pixels; {} when empty

struct SceneObject {
  int id = 0;  // index in Scene::objects == z-order (0 = bottom)
  Shape shape = Shape::kCircle;
  Color color = Color::kRed;
  SizeClass size = SizeClass::kSmall;
  Texture texture = Texture::kSolid;
  double cx = 0, cy = 0;    // geometric centre, pixels
  double radius = 0;        // half extent of the shape, pixels
  double angle = 0;         // rotation, radians
  int64_t full_area = 0;    // pixels of the unoccluded shape
  Mask mask;                // visible pixels (0/1), S x S
  PixelBox box;             // of `mask`
  double mx = 0, my = 0;    // centroid of `mask` (pixel centres)
};

// A noun phrase over attributes; -1 leaves an attribute open. phrase(): "small red striped circle",
// "red object"; plural: "small red striped circles", "red objects".
struct Descriptor {
  int size = -1, color = -1, texture = -1, shape = -1;
  bool matches(const SceneObject& o) const;
  int n_attributes() const;
  std::string phrase(bool plural = false) const;
  bool operator==(const Descriptor& o) const {
    return size == o.size && color == o.color && texture == o.texture && shape == o.shape;
  }
};

enum class ExprKind : int { kAttribute, kRelation, kOrdinal, kMulti, kNone };
enum class Relation : int { kLeftOf, kRightOf, kAbove, kBelow };
enum class OrderAxis : int { kFromLeft, kFromRight, kFromTop, kFromBottom };
const char* expr_kind_name(ExprKind k);  // "attribute" | "relation" | "ordinal" | "multi" | "none"
const char* relation_name(Relation r);   // "left of" | "right of" | "above" | "below"

// A referring expression and its meaning. The text never has a final period; it is an NP such as
//   kAttribute  "the small red circle"                     targets = the one object matching `desc`
//   kRelation   "the blue square left of the green star"   one object matching `desc` in `relation` to `anchor`
//   kOrdinal    "the second circle from the left"          the `rank`-th (1-based) of those matching `desc` along `axis`
//   kMulti      "all red objects"                          every object matching `desc` (>= 2)
//   kNone       "the purple circle"                        nothing matches `desc`; targets empty
struct Expression {
  std::string text;
  ExprKind kind = ExprKind::kAttribute;
  std::vector<int> targets;  // object ids, ascending
  Descriptor desc;
  int anchor = -1;           // kRelation: anchor object id (unique by `anchor_desc`)
  Descriptor anchor_desc;
  Relation relation = Relation::kLeftOf;
  OrderAxis axis = OrderAxis::kFromLeft;
  int rank = 0;
};

enum class QaKind : int { kCount, kColor, kShape, kSize, kRelation, kPosition };
const char* qa_kind_name(QaKind k);

// A question that needs no mask; `answer` is short and lower case: "3", "red", "circle", "large",
// "yes"/"no", "top left" (3x3 grid of the image: top/middle/bottom x left/center/right, "center").
struct SceneQA {
  std::string question, answer;
  QaKind kind = QaKind::kCount;
  std::vector<int> subjects;  // object ids the question is about (empty for counts)
};

struct HeldOutCombo {
  Color color;
  Shape shape;
};
std::vector<HeldOutCombo> default_held_out();  // green triangle, purple star, cyan square

struct SceneOptions {
  int size = 224;               // S; 64..1024
  int n_min = 2, n_max = 6;     // objects per scene (fewer only if placement fails; always >= 2)
  uint64_t seed = 0;            // 0 = the fixed splits
  std::vector<HeldOutCombo> held_out = default_held_out();
  double held_out_rate = 0.3;   // val/test: share of scenes given one held-out object
};

struct Scene {
  std::string id;  // "train/000000123" (seed != 0: "train/000000123@s<seed>")
  SceneSplit split = SceneSplit::kTrain;
  uint64_t index = 0;
  Background background = Background::kSolid;
  Image image;                       // S x S x 3
  std::vector<SceneObject> objects;  // z-order
  std::vector<Expression> expressions;
  std::vector<SceneQA> questions;
};

// The scene (split, index). Throws InputError for options out of range.
Scene generate_scene(SceneSplit split, uint64_t index, const SceneOptions& options = {});

bool is_held_out(const SceneOptions& options, Color c, Shape s);
// True if the descriptor names a held-out pair (both its color and its shape are set and held out).
bool names_held_out(const SceneOptions& options, const Descriptor& d);

// Ground truth of an expression: union of the targets' visible masks (all zero for kNone), and the
// tight box of that union ({} for kNone).
Mask expression_mask(const Scene& scene, const Expression& expr);
PixelBox expression_box(const Scene& scene, const Expression& expr);

// Mask perception (paper, Appendix D): `n` options for the single-target expression
// scene.expressions[expr_index]; exactly one (options[correct]) is true of that object. The others
// are expressions of other objects of the scene that do not describe the target, then, if too few,
// descriptors that match no object of the scene. Options are distinct. Throws std::logic_error if
// the expression has not exactly one target.
struct PerceptionOptions {
  std::vector<std::string> options;
  int correct = 0;
};
PerceptionOptions perception_options(const Scene& scene, int expr_index, const SceneOptions& options, int n,
                                     Pcg32& rng);

}  // namespace himtok::data
