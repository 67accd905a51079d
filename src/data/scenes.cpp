// Scene generator: sampling and placement, rasterisation, then expressions and questions.
// See scenes.h for the conventions. Geometry uses only + - * / sqrt and literal constants (no
// sin/cos): rotations come from a rational parametrisation t -> ((1-t^2)/(1+t^2), 2t/(1+t^2)).
#include "data/scenes.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>

#include "common/error.h"

namespace himtok::data {

// ---------------------------------------------------------------------------------------------
// Names

namespace {
constexpr const char* kShapeNames[kNumShapes] = {"circle", "square", "triangle", "star", "ellipse", "diamond"};
constexpr const char* kShapePlurals[kNumShapes] = {"circles", "squares", "triangles", "stars", "ellipses", "diamonds"};
constexpr const char* kColorNames[kNumColors] = {"red", "green", "blue", "yellow", "purple", "orange", "cyan", "brown"};
constexpr uint8_t kColorRgb[kNumColors][3] = {{215, 40, 40},  {40, 165, 60},  {45, 85, 225},  {235, 210, 45},
                                              {135, 65, 195}, {245, 135, 30}, {40, 195, 215}, {135, 85, 45}};
constexpr const char* kSizeNames[kNumSizes] = {"small", "large"};
constexpr const char* kTextureNames[kNumTextures] = {"solid", "striped", "dotted"};
constexpr uint64_t kSplitBase[3] = {0ull, 1000000000ull, 2000000000ull};
constexpr uint64_t kMaxIndex = 1000000000ull;
}  // namespace

const char* split_name(SceneSplit s) {
  switch (s) {
    case SceneSplit::kTrain: return "train";
    case SceneSplit::kVal: return "val";
    case SceneSplit::kTest: return "test";
  }
  throw std::logic_error("split_name: bad split");
}

SceneSplit parse_split(const std::string& name) {
  if (name == "train") return SceneSplit::kTrain;
  if (name == "val") return SceneSplit::kVal;
  if (name == "test") return SceneSplit::kTest;
  throw InputError(str_cat("scene split '", name, "' is unknown, expected train, val or test"));
}

const char* shape_name(Shape s) { return kShapeNames[static_cast<int>(s)]; }
const char* shape_plural(Shape s) { return kShapePlurals[static_cast<int>(s)]; }
const char* color_name(Color c) { return kColorNames[static_cast<int>(c)]; }
const char* size_name(SizeClass s) { return kSizeNames[static_cast<int>(s)]; }
const char* texture_name(Texture t) { return kTextureNames[static_cast<int>(t)]; }
const char* background_name(Background b) {
  switch (b) {
    case Background::kSolid: return "solid";
    case Background::kGradient: return "gradient";
    case Background::kNoise: return "noise";
  }
  throw std::logic_error("background_name: bad background");
}
std::array<uint8_t, 3> color_rgb(Color c) {
  const uint8_t* p = kColorRgb[static_cast<int>(c)];
  return {p[0], p[1], p[2]};
}

const char* expr_kind_name(ExprKind k) {
  switch (k) {
    case ExprKind::kAttribute: return "attribute";
    case ExprKind::kRelation: return "relation";
    case ExprKind::kOrdinal: return "ordinal";
    case ExprKind::kMulti: return "multi";
    case ExprKind::kNone: return "none";
  }
  throw std::logic_error("expr_kind_name: bad kind");
}

const char* relation_name(Relation r) {
  switch (r) {
    case Relation::kLeftOf: return "left of";
    case Relation::kRightOf: return "right of";
    case Relation::kAbove: return "above";
    case Relation::kBelow: return "below";
  }
  throw std::logic_error("relation_name: bad relation");
}

const char* qa_kind_name(QaKind k) {
  switch (k) {
    case QaKind::kCount: return "count";
    case QaKind::kColor: return "color";
    case QaKind::kShape: return "shape";
    case QaKind::kSize: return "size";
    case QaKind::kRelation: return "relation";
    case QaKind::kPosition: return "position";
  }
  throw std::logic_error("qa_kind_name: bad kind");
}

std::vector<HeldOutCombo> default_held_out() {
  return {{Color::kGreen, Shape::kTriangle}, {Color::kPurple, Shape::kStar}, {Color::kCyan, Shape::kSquare}};
}

bool is_held_out(const SceneOptions& options, Color c, Shape s) {
  for (const auto& h : options.held_out)
    if (h.color == c && h.shape == s) return true;
  return false;
}

bool names_held_out(const SceneOptions& options, const Descriptor& d) {
  return d.color >= 0 && d.shape >= 0 && is_held_out(options, static_cast<Color>(d.color), static_cast<Shape>(d.shape));
}

// ---------------------------------------------------------------------------------------------
// Descriptors

bool Descriptor::matches(const SceneObject& o) const {
  return (size < 0 || size == static_cast<int>(o.size)) && (color < 0 || color == static_cast<int>(o.color)) &&
         (texture < 0 || texture == static_cast<int>(o.texture)) && (shape < 0 || shape == static_cast<int>(o.shape));
}

int Descriptor::n_attributes() const { return (size >= 0) + (color >= 0) + (texture >= 0) + (shape >= 0); }

std::string Descriptor::phrase(bool plural) const {
  std::string s;
  auto add = [&](const char* w) {
    if (!s.empty()) s += ' ';
    s += w;
  };
  if (size >= 0) add(kSizeNames[size]);
  if (color >= 0) add(kColorNames[color]);
  if (texture >= 0) add(kTextureNames[texture]);
  if (shape >= 0)
    add(plural ? kShapePlurals[shape] : kShapeNames[shape]);
  else
    add(plural ? "objects" : "object");
  return s;
}

PixelBox mask_box(const Mask& m) {
  PixelBox b;
  int64_t x0 = m.w, y0 = m.h, x1 = -1, y1 = -1;
  for (int64_t y = 0; y < m.h; ++y)
    for (int64_t x = 0; x < m.w; ++x)
      if (m.at(y, x)) {
        x0 = std::min(x0, x), x1 = std::max(x1, x);
        y0 = std::min(y0, y), y1 = std::max(y1, y);
      }
  if (x1 < 0) return b;
  b.x0 = static_cast<int>(x0), b.y0 = static_cast<int>(y0);
  b.x1 = static_cast<int>(x1 + 1), b.y1 = static_cast<int>(y1 + 1);
  return b;
}

// ---------------------------------------------------------------------------------------------
// Geometry: shapes in a local frame (x right, y down), radius r = half extent.

namespace {

struct Geom {
  Shape shape;
  double cx, cy, r;
  double c, s;                 // rotation cos/sin
  std::vector<double> vx, vy;  // polygon vertices, local frame
  int bx0, by0, bx1, by1;      // pixel range to scan, clipped to the image, [bx0, bx1)
};

constexpr double kSqrt3Half = 0.8660254037844386;
// cos/sin of -90 + 36k degrees, k = 0..9 (star vertices, starting at the top).
constexpr double kStarCos[10] = {0.0, 0.5877852522924731, 0.9510565162951535, 0.9510565162951535, 0.5877852522924731,
                                 0.0, -0.5877852522924731, -0.9510565162951535, -0.9510565162951535, -0.5877852522924731};
constexpr double kStarSin[10] = {-1.0, -0.8090169943749475, -0.30901699437494745, 0.30901699437494745, 0.8090169943749475,
                                 1.0,  0.8090169943749475,  0.30901699437494745,  -0.30901699437494745, -0.8090169943749475};

Geom make_geom(Shape shape, double cx, double cy, double r, double t, int S) {
  Geom g{shape, cx, cy, r, (1 - t * t) / (1 + t * t), 2 * t / (1 + t * t), {}, {}, 0, 0, 0, 0};
  switch (shape) {
    case Shape::kSquare: {
      const double h = 0.85 * r;
      g.vx = {-h, h, h, -h};
      g.vy = {-h, -h, h, h};
      break;
    }
    case Shape::kTriangle: {
      const double R = 1.1 * r;
      g.vx = {0.0, R * kSqrt3Half, -R * kSqrt3Half};
      g.vy = {-R, 0.5 * R, 0.5 * R};
      break;
    }
    case Shape::kStar: {
      const double R = 1.15 * r, ri = 0.45 * R;
      for (int k = 0; k < 10; ++k) {
        const double rr = (k % 2 == 0) ? R : ri;
        g.vx.push_back(rr * kStarCos[k]);
        g.vy.push_back(rr * kStarSin[k]);
      }
      break;
    }
    case Shape::kDiamond: {
      const double a = 0.7 * r, b = 1.15 * r;
      g.vx = {0.0, a, 0.0, -a};
      g.vy = {-b, 0.0, b, 0.0};
      break;
    }
    default: break;
  }
  // Every shape lies within 1.2 r of its centre (star: 1.15 r).
  const double ext = 1.2 * r + 1.0;
  auto clampi = [S](double v) { return static_cast<int>(std::max(0.0, std::min(static_cast<double>(S), v))); };
  g.bx0 = clampi(std::floor(cx - ext));
  g.by0 = clampi(std::floor(cy - ext));
  g.bx1 = clampi(std::ceil(cx + ext) + 1);
  g.by1 = clampi(std::ceil(cy + ext) + 1);
  return g;
}

// Local coordinates of a point: rotate (p - centre) by -angle.
inline void to_local(const Geom& g, double px, double py, double* lx, double* ly) {
  const double dx = px - g.cx, dy = py - g.cy;
  *lx = dx * g.c + dy * g.s;
  *ly = -dx * g.s + dy * g.c;
}

// Even-odd point in polygon.
bool in_polygon(const std::vector<double>& vx, const std::vector<double>& vy, double x, double y) {
  bool in = false;
  const size_t n = vx.size();
  for (size_t i = 0, j = n - 1; i < n; j = i++) {
    if ((vy[i] > y) != (vy[j] > y)) {
      const double xi = vx[i] + (y - vy[i]) * (vx[j] - vx[i]) / (vy[j] - vy[i]);
      if (x < xi) in = !in;
    }
  }
  return in;
}

bool inside(const Geom& g, double lx, double ly) {
  switch (g.shape) {
    case Shape::kCircle: return lx * lx + ly * ly <= g.r * g.r;
    case Shape::kEllipse: {
      const double a = 1.15 * g.r, b = 0.6 * g.r;
      return (lx * lx) / (a * a) + (ly * ly) / (b * b) <= 1.0;
    }
    default: return in_polygon(g.vx, g.vy, lx, ly);
  }
}

// Pixel indices (y * S + x) covered by the shape, row-major ascending.
std::vector<int32_t> raster(const Geom& g, int S) {
  std::vector<int32_t> px;
  for (int y = g.by0; y < g.by1; ++y)
    for (int x = g.bx0; x < g.bx1; ++x) {
      double lx, ly;
      to_local(g, x + 0.5, y + 0.5, &lx, &ly);
      if (inside(g, lx, ly)) px.push_back(y * S + x);
    }
  return px;
}

// Rotation ranges (t = tan(angle/2)) per shape: small tilts for shapes that must keep their identity
// (a square at 45 degrees would read as a diamond), a full symmetry period otherwise.
double max_tilt(Shape s) {
  switch (s) {
    case Shape::kCircle: return 0.0;
    case Shape::kSquare: return 0.1317;    // +-15 deg
    case Shape::kTriangle: return 0.1763;  // +-20 deg
    case Shape::kStar: return 0.3249;      // +-36 deg (period 72)
    case Shape::kEllipse: return 1.0;      // +-90 deg (period 180)
    case Shape::kDiamond: return 0.0875;   // +-10 deg
  }
  return 0.0;
}

uint8_t clamp8(int v) { return static_cast<uint8_t>(std::max(0, std::min(255, v))); }

struct Placed {
  SceneObject obj;
  Geom geom;
  double t;
};

// Texture colour of an object at pixel (x, y).
std::array<uint8_t, 3> texel(const Placed& p, int x, int y, int S) {
  auto base = color_rgb(p.obj.color);
  switch (p.obj.texture) {
    case Texture::kSolid: return base;
    case Texture::kStriped: {
      const int period = std::max(3, (6 * S + 112) / 224);
      double lx, ly;
      to_local(p.geom, x + 0.5, y + 0.5, &lx, &ly);
      const long band = static_cast<long>(std::floor((lx + 4.0 * p.obj.radius) / period));
      if (band % 2 == 0) return base;
      return {static_cast<uint8_t>(base[0] * 55 / 100), static_cast<uint8_t>(base[1] * 55 / 100),
              static_cast<uint8_t>(base[2] * 55 / 100)};
    }
    case Texture::kDotted: {
      const int cell = std::max(4, (7 * S + 112) / 224);
      const int dx = 2 * (x % cell) + 1 - cell, dy = 2 * (y % cell) + 1 - cell;  // doubled offsets
      const int rad2 = cell * cell * 4 * 8 / 100;                                  // (0.28 cell)^2, doubled
      if (dx * dx + dy * dy > rad2) return base;
      return {static_cast<uint8_t>((base[0] + 255) / 2), static_cast<uint8_t>((base[1] + 255) / 2),
              static_cast<uint8_t>((base[2] + 255) / 2)};
    }
  }
  return base;
}

std::array<int, 3> background_tone(Pcg32& rng) {
  const int g = rng.range(70, 200);
  return {g + rng.range(-18, 18), g + rng.range(-18, 18), g + rng.range(-18, 18)};
}

Background paint_background(Image& img, Pcg32& rng) {
  const int S = static_cast<int>(img.w);
  const auto kind = static_cast<Background>(rng.below(3));
  if (kind == Background::kSolid) {
    auto c = background_tone(rng);
    for (int y = 0; y < S; ++y)
      for (int x = 0; x < S; ++x)
        for (int k = 0; k < 3; ++k) img.px(y, x)[k] = clamp8(c[k]);
  } else if (kind == Background::kGradient) {
    auto c0 = background_tone(rng), c1 = background_tone(rng);
    const int dir = static_cast<int>(rng.below(4));  // 0: left->right, 1: top->bottom, 2/3: diagonals
    const int span = (dir < 2) ? S - 1 : 2 * (S - 1);
    for (int y = 0; y < S; ++y)
      for (int x = 0; x < S; ++x) {
        const int u = dir == 0 ? x : dir == 1 ? y : dir == 2 ? x + y : (S - 1 - x) + y;
        for (int k = 0; k < 3; ++k) img.px(y, x)[k] = clamp8(c0[k] + (c1[k] - c0[k]) * u / span);
      }
  } else {
    auto c = background_tone(rng);
    const int block = std::max(1, S / 56);  // 4 px at 224
    const int nb = (S + block - 1) / block;
    std::vector<int> noise(static_cast<size_t>(nb * nb));
    for (auto& v : noise) v = rng.range(-30, 30);
    for (int y = 0; y < S; ++y)
      for (int x = 0; x < S; ++x) {
        const int n = noise[static_cast<size_t>((y / block) * nb + x / block)];
        for (int k = 0; k < 3; ++k) img.px(y, x)[k] = clamp8(c[k] + n);
      }
  }
  return kind;
}

// ---------------------------------------------------------------------------------------------
// Expressions and questions

// All descriptors but the empty one, in a fixed order.
const std::vector<Descriptor>& all_descriptors() {
  static const std::vector<Descriptor> all = [] {
    std::vector<Descriptor> v;
    for (int sh = -1; sh < kNumShapes; ++sh)
      for (int co = -1; co < kNumColors; ++co)
        for (int sz = -1; sz < kNumSizes; ++sz)
          for (int tx = -1; tx < kNumTextures; ++tx) {
            Descriptor d{sz, co, tx, sh};
            if (d.n_attributes() > 0) v.push_back(d);
          }
    return v;
  }();
  return all;
}

using Bits = uint32_t;  // set of object ids

Bits match_bits(const std::vector<SceneObject>& objs, const Descriptor& d) {
  Bits b = 0;
  for (const auto& o : objs)
    if (d.matches(o)) b |= Bits(1) << o.id;
  return b;
}

int popcount(Bits b) {
  int n = 0;
  for (; b; b &= b - 1) ++n;
  return n;
}

std::vector<int> bits_to_ids(Bits b) {
  std::vector<int> v;
  for (int i = 0; i < 32; ++i)
    if (b & (Bits(1) << i)) v.push_back(i);
  return v;
}

template <typename T>
const T& pick(const std::vector<T>& v, Pcg32& rng) {
  return v[rng.below(static_cast<uint32_t>(v.size()))];
}

template <typename T>
void shuffle(std::vector<T>& v, Pcg32& rng) {
  for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[rng.below(static_cast<uint32_t>(i))]);
}

// Tri-state comparison with a margin: +1 clearly true, -1 clearly false, 0 unclear.
int relation_holds(const SceneObject& a, const SceneObject& b, Relation r, double margin) {
  double d = 0;
  switch (r) {
    case Relation::kLeftOf: d = b.mx - a.mx; break;
    case Relation::kRightOf: d = a.mx - b.mx; break;
    case Relation::kAbove: d = b.my - a.my; break;
    case Relation::kBelow: d = a.my - b.my; break;
  }
  return d > margin ? 1 : d < -margin ? -1 : 0;
}

// A unique descriptor of object o for use in text: prefer ones naming the shape, and with
// probability 0.6 a shortest one. `require_open` (-1 or an attribute index 0..3 = size, color,
// texture, shape) asks for that attribute to be left open. Returns false if none exists.
bool unique_descriptor(const std::vector<SceneObject>& objs, int o, Pcg32& rng, Descriptor* out, int require_open = -1) {
  std::vector<Descriptor> with_shape, any;
  for (const auto& d : all_descriptors()) {
    const int attr[4] = {d.size, d.color, d.texture, d.shape};
    if (require_open >= 0 && attr[require_open] >= 0) continue;
    if (match_bits(objs, d) != (Bits(1) << o)) continue;
    any.push_back(d);
    if (d.shape >= 0) with_shape.push_back(d);
  }
  const auto& cands = with_shape.empty() ? any : with_shape;
  if (cands.empty()) return false;
  if (rng.chance(0.6)) {
    int best = 5;
    for (const auto& d : cands) best = std::min(best, d.n_attributes());
    std::vector<Descriptor> shortest;
    for (const auto& d : cands)
      if (d.n_attributes() == best) shortest.push_back(d);
    *out = pick(shortest, rng);
  } else {
    *out = pick(cands, rng);
  }
  return true;
}

void add_attribute_expressions(Scene& sc, Pcg32& rng) {
  for (const auto& o : sc.objects) {
    Descriptor d;
    if (!unique_descriptor(sc.objects, o.id, rng, &d)) continue;
    Expression e;
    e.kind = ExprKind::kAttribute;
    e.desc = d;
    e.targets.push_back(o.id);  // not `= {o.id}`: GCC 12 -Wnonnull false positive
    e.text = "the " + d.phrase();
    sc.expressions.push_back(e);
  }
}

void add_relation_expressions(Scene& sc, double margin, Pcg32& rng) {
  const auto& objs = sc.objects;
  std::vector<Expression> ambiguous_head, unique_head;
  for (const auto& b : objs) {
    Descriptor db;
    if (!unique_descriptor(objs, b.id, rng, &db)) continue;
    for (int ri = 0; ri < 4; ++ri) {
      const auto rel = static_cast<Relation>(ri);
      for (const auto& da : all_descriptors()) {
        // Short heads: "circle", "red circle", "red object".
        if (da.n_attributes() > 2 || (da.shape < 0 && da.n_attributes() > 1)) continue;
        const Bits m = match_bits(objs, da);
        if (m & (Bits(1) << b.id)) continue;
        int n_true = 0, target = -1;
        bool clear = true;
        for (int id : bits_to_ids(m)) {
          const int h = relation_holds(objs[id], b, rel, margin);
          if (h == 0) clear = false;
          if (h > 0) ++n_true, target = id;
        }
        if (!clear || n_true != 1) continue;
        Expression e;
        e.kind = ExprKind::kRelation;
        e.desc = da;
        e.targets.push_back(target);
        e.anchor = b.id;
        e.anchor_desc = db;
        e.relation = rel;
        e.text = "the " + da.phrase() + " " + relation_name(rel) + " the " + db.phrase();
        (popcount(m) >= 2 ? ambiguous_head : unique_head).push_back(e);
      }
    }
  }
  // Up to two, on different targets; heads that need the relation first.
  shuffle(ambiguous_head, rng);
  shuffle(unique_head, rng);
  std::vector<Expression> all = ambiguous_head;
  all.insert(all.end(), unique_head.begin(), unique_head.end());
  Bits used = 0;
  int added = 0;
  for (const auto& e : all) {
    if (added == 2) break;
    if (used & (Bits(1) << e.targets[0])) continue;
    used |= Bits(1) << e.targets[0];
    sc.expressions.push_back(e);
    ++added;
  }
}

void add_ordinal_expressions(Scene& sc, double margin, Pcg32& rng) {
  static const char* kRank[3] = {"first", "second", "third"};
  static const char* kExtreme[4] = {"leftmost", "rightmost", "topmost", "bottommost"};
  static const char* kFrom[4] = {"from the left", "from the right", "from the top", "from the bottom"};
  const auto& objs = sc.objects;
  std::vector<Expression> cands;
  std::vector<Descriptor> heads = {Descriptor{}};  // "object"
  for (const auto& d : all_descriptors())
    if (d.n_attributes() == 1 || (d.n_attributes() == 2 && d.shape >= 0)) heads.push_back(d);
  for (const auto& d : heads) {
    const auto ids = bits_to_ids(match_bits(objs, d));
    if (ids.size() < 2) continue;
    for (int ai = 0; ai < 4; ++ai) {
      const auto axis = static_cast<OrderAxis>(ai);
      auto key = [&](int id) {
        const auto& o = objs[id];
        switch (axis) {
          case OrderAxis::kFromLeft: return o.mx;
          case OrderAxis::kFromRight: return -o.mx;
          case OrderAxis::kFromTop: return o.my;
          case OrderAxis::kFromBottom: return -o.my;
        }
        return 0.0;
      };
      auto sorted = ids;
      std::sort(sorted.begin(), sorted.end(), [&](int a, int b) { return key(a) < key(b) || (key(a) == key(b) && a < b); });
      bool clear = true;
      for (size_t i = 1; i < sorted.size(); ++i)
        if (key(sorted[i]) - key(sorted[i - 1]) <= margin) clear = false;
      if (!clear) continue;
      const int max_rank = std::min<int>(3, static_cast<int>(sorted.size()));
      const int rank = 1 + static_cast<int>(rng.below(static_cast<uint32_t>(max_rank)));
      Expression e;
      e.kind = ExprKind::kOrdinal;
      e.desc = d;
      e.axis = axis;
      e.rank = rank;
      e.targets = {sorted[rank - 1]};
      if (rank == 1 && rng.chance(0.5))
        e.text = std::string("the ") + kExtreme[ai] + " " + d.phrase();
      else
        e.text = std::string("the ") + kRank[rank - 1] + " " + d.phrase() + " " + kFrom[ai];
      cands.push_back(e);
    }
  }
  shuffle(cands, rng);
  Bits used = 0;
  int added = 0;
  for (const auto& e : cands) {
    if (added == 2) break;
    if (used & (Bits(1) << e.targets[0])) continue;
    used |= Bits(1) << e.targets[0];
    sc.expressions.push_back(e);
    ++added;
  }
}

void add_multi_expressions(Scene& sc, Pcg32& rng) {
  std::vector<Descriptor> cands;
  for (const auto& d : all_descriptors())
    if (d.n_attributes() <= 2 && popcount(match_bits(sc.objects, d)) >= 2) cands.push_back(d);
  shuffle(cands, rng);
  std::vector<Bits> seen;
  for (const auto& d : cands) {
    if (seen.size() == 2) break;
    const Bits m = match_bits(sc.objects, d);
    if (std::find(seen.begin(), seen.end(), m) != seen.end()) continue;
    seen.push_back(m);
    Expression e;
    e.kind = ExprKind::kMulti;
    e.desc = d;
    e.targets = bits_to_ids(m);
    e.text = "all " + d.phrase(true);
    sc.expressions.push_back(e);
  }
}

// A descriptor that matches no object: color + shape, sometimes with a size. Never a held-out
// pair in train.
bool absent_descriptor(const Scene& sc, const SceneOptions& opt, Pcg32& rng, Descriptor* out) {
  for (int tries = 0; tries < 100; ++tries) {
    Descriptor d;
    d.color = static_cast<int>(rng.below(kNumColors));
    d.shape = static_cast<int>(rng.below(kNumShapes));
    if (rng.chance(0.3)) d.size = static_cast<int>(rng.below(kNumSizes));
    if (sc.split == SceneSplit::kTrain && names_held_out(opt, d)) continue;
    if (match_bits(sc.objects, d) != 0) continue;
    *out = d;
    return true;
  }
  return false;
}

void add_none_expressions(Scene& sc, const SceneOptions& opt, Pcg32& rng) {
  const int n = 1 + static_cast<int>(rng.below(2));
  for (int k = 0; k < n; ++k) {
    Descriptor d;
    if (!absent_descriptor(sc, opt, rng, &d)) break;
    bool dup = false;
    for (const auto& e : sc.expressions)
      if (e.kind == ExprKind::kNone && e.desc == d) dup = true;
    if (dup) continue;
    Expression e;
    e.kind = ExprKind::kNone;
    e.desc = d;
    e.text = "the " + d.phrase();
    sc.expressions.push_back(e);
  }
}

void add_questions(Scene& sc, const SceneOptions& opt, double margin, Pcg32& rng) {
  const auto& objs = sc.objects;
  const int S = static_cast<int>(sc.image.w);
  // Counts: a shape, a colour, or both (zero allowed; never a held-out pair in train).
  for (int k = 0; k < 2; ++k) {
    Descriptor d;
    const int form = static_cast<int>(rng.below(3));
    if (form != 1) d.shape = static_cast<int>(rng.below(kNumShapes));
    if (form != 0) d.color = static_cast<int>(rng.below(kNumColors));
    if (sc.split == SceneSplit::kTrain && names_held_out(opt, d)) continue;
    SceneQA q;
    q.kind = QaKind::kCount;
    q.question = "How many " + d.phrase(true) + " are there?";
    q.answer = std::to_string(popcount(match_bits(objs, d)));
    sc.questions.push_back(q);
  }
  // Attribute questions about one object, named by a descriptor that leaves that attribute open.
  const struct {
    QaKind kind;
    int open;  // attribute index left open: 0 size, 1 color, 3 shape
  } attr_qs[3] = {{QaKind::kColor, 1}, {QaKind::kShape, 3}, {QaKind::kSize, 0}};
  for (const auto& aq : attr_qs) {
    const auto& o = objs[rng.below(static_cast<uint32_t>(objs.size()))];
    Descriptor d;
    if (!unique_descriptor(objs, o.id, rng, &d, aq.open)) continue;
    SceneQA q;
    q.kind = aq.kind;
    q.subjects = {o.id};
    if (aq.kind == QaKind::kColor) {
      q.question = "What color is the " + d.phrase() + "?";
      q.answer = color_name(o.color);
    } else if (aq.kind == QaKind::kShape) {
      q.question = "What shape is the " + d.phrase() + "?";
      q.answer = shape_name(o.shape);
    } else {
      q.question = "Is the " + d.phrase() + " small or large?";
      q.answer = size_name(o.size);
    }
    sc.questions.push_back(q);
  }
  // Relation yes/no between two uniquely named objects.
  for (int tries = 0; tries < 10; ++tries) {
    const int a = static_cast<int>(rng.below(static_cast<uint32_t>(objs.size())));
    const int b = static_cast<int>(rng.below(static_cast<uint32_t>(objs.size())));
    const auto rel = static_cast<Relation>(rng.below(4));
    if (a == b) continue;
    const int h = relation_holds(objs[a], objs[b], rel, margin);
    Descriptor da, db;
    if (h == 0 || !unique_descriptor(objs, a, rng, &da) || !unique_descriptor(objs, b, rng, &db)) continue;
    SceneQA q;
    q.kind = QaKind::kRelation;
    q.subjects = {a, b};
    q.question = "Is the " + da.phrase() + " " + relation_name(rel) + " the " + db.phrase() + "?";
    q.answer = h > 0 ? "yes" : "no";
    sc.questions.push_back(q);
    break;
  }
  // Position on a 3x3 grid, skipped when the centroid is near a cell border.
  {
    static const char* kRow[3] = {"top", "middle", "bottom"};
    static const char* kCol[3] = {"left", "center", "right"};
    const auto& o = objs[rng.below(static_cast<uint32_t>(objs.size()))];
    Descriptor d;
    auto cell = [&](double v, int* idx) {
      const double third = S / 3.0;
      *idx = std::min(2, static_cast<int>(v / third));
      const double lo = *idx * third, hi = lo + third;
      return (*idx == 0 || v - lo > 0.75 * margin) && (*idx == 2 || hi - v > 0.75 * margin);
    };
    int row = 0, col = 0;
    if (cell(o.my, &row) && cell(o.mx, &col) && unique_descriptor(objs, o.id, rng, &d)) {
      SceneQA q;
      q.kind = QaKind::kPosition;
      q.subjects = {o.id};
      q.question = "Where is the " + d.phrase() + "?";
      if (row == 1 && col == 1)
        q.answer = "center";
      else if (row == 1)
        q.answer = kCol[col];
      else if (col == 1)
        q.answer = kRow[row];
      else
        q.answer = std::string(kRow[row]) + " " + kCol[col];
      sc.questions.push_back(q);
    }
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Generation

Scene generate_scene(SceneSplit split, uint64_t index, const SceneOptions& opt) {
  HIMTOK_CHECK_INPUT(opt.size >= 64 && opt.size <= 1024, "scene size ", opt.size, " is out of range, expected 64..1024");
  HIMTOK_CHECK_INPUT(opt.n_min >= 2 && opt.n_min <= opt.n_max && opt.n_max <= 8, "scene object count ", opt.n_min, "..",
                     opt.n_max, " is invalid, expected 2 <= n_min <= n_max <= 8");
  HIMTOK_CHECK_INPUT(index < kMaxIndex, "scene index ", index, " is out of range, expected < ", kMaxIndex);
  HIMTOK_CHECK_INPUT(opt.held_out_rate >= 0 && opt.held_out_rate <= 1, "held_out_rate ", opt.held_out_rate,
                     " is out of range, expected 0..1");
  const int S = opt.size;
  const uint64_t scene_seed = kSplitBase[static_cast<int>(split)] + index;
  Pcg32 rng(opt.seed == 0 ? scene_seed : seed_mix(opt.seed, scene_seed), /*stream=*/0x5C3E);

  Scene sc;
  sc.split = split;
  sc.index = index;
  {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%s/%09llu", split_name(split), static_cast<unsigned long long>(index));
    sc.id = buf;
    if (opt.seed != 0) sc.id += "@s" + std::to_string(opt.seed);
  }
  sc.image = Image(S, S, 3);
  sc.background = paint_background(sc.image, rng);

  // --- sample and place objects; owner[p] = top-most object id at pixel p, -1 for background
  const int n_target = opt.n_min + static_cast<int>(rng.below(static_cast<uint32_t>(opt.n_max - opt.n_min + 1)));
  const bool force_held_out = split != SceneSplit::kTrain && !opt.held_out.empty() && rng.chance(opt.held_out_rate);
  const int held_out_slot = static_cast<int>(rng.below(static_cast<uint32_t>(n_target)));
  const double min_px = 30.0 * (S / 224.0) * (S / 224.0);
  std::vector<int8_t> owner(static_cast<size_t>(S) * S, -1);
  std::vector<Placed> placed;
  std::vector<int64_t> visible;  // per placed object

  for (int slot = 0; slot < n_target || static_cast<int>(placed.size()) < 2; ++slot) {
    if (slot >= n_target + 20) break;  // cannot happen at S >= 64 with small objects; guards the loop
    SceneObject o;
    if (force_held_out && slot == held_out_slot) {
      const auto& h = opt.held_out[rng.below(static_cast<uint32_t>(opt.held_out.size()))];
      o.color = h.color, o.shape = h.shape;
    } else {
      do {
        o.shape = static_cast<Shape>(rng.below(kNumShapes));
        o.color = static_cast<Color>(rng.below(kNumColors));
      } while (split == SceneSplit::kTrain && is_held_out(opt, o.color, o.shape));
    }
    o.size = static_cast<SizeClass>(rng.below(kNumSizes));
    const uint32_t tex = rng.below(4);
    o.texture = tex < 2 ? Texture::kSolid : tex == 2 ? Texture::kStriped : Texture::kDotted;
    o.radius = (o.size == SizeClass::kSmall ? rng.uniform(0.055, 0.07) : rng.uniform(0.10, 0.13)) * S;

    bool ok = false;
    for (int trial = 0; trial < 60 && !ok; ++trial) {
      const double margin = 1.2 * o.radius + 2.0;
      const double cx = rng.uniform(margin, S - margin), cy = rng.uniform(margin, S - margin);
      const double tilt = max_tilt(o.shape);
      const double t = tilt > 0 ? rng.uniform(-tilt, tilt) : 0.0;
      Geom g = make_geom(o.shape, cx, cy, o.radius, t, S);
      auto px = raster(g, S);
      if (static_cast<double>(px.size()) < min_px) continue;
      std::vector<int64_t> lost(placed.size(), 0);
      for (int32_t p : px)
        if (owner[p] >= 0) ++lost[owner[p]];
      // Objects of one colour must not overlap or touch, or they would read as one shape.
      bool touches_same_color = false;
      for (int32_t p : px) {
        const int x = p % S, y = p / S;
        const int nb[5][2] = {{x, y}, {x - 1, y}, {x + 1, y}, {x, y - 1}, {x, y + 1}};
        for (const auto& q : nb) {
          if (q[0] < 0 || q[0] >= S || q[1] < 0 || q[1] >= S) continue;
          const int j = owner[static_cast<size_t>(q[1]) * S + q[0]];
          if (j >= 0 && placed[static_cast<size_t>(j)].obj.color == o.color) touches_same_color = true;
        }
      }
      if (touches_same_color) continue;
      ok = true;
      for (size_t j = 0; j < placed.size() && ok; ++j) {
        const int64_t left = visible[j] - lost[j];
        if (left < 0.6 * placed[j].obj.full_area || left < min_px) ok = false;
      }
      if (!ok) continue;
      o.id = static_cast<int>(placed.size());
      o.cx = cx, o.cy = cy;
      o.angle = 2.0 * std::atan(t);  // informational only; geometry uses t
      o.full_area = static_cast<int64_t>(px.size());
      for (size_t j = 0; j < placed.size(); ++j) visible[j] -= lost[j];
      for (int32_t p : px) owner[p] = static_cast<int8_t>(o.id);
      visible.push_back(o.full_area);
      placed.push_back(Placed{o, g, t});
    }
  }
  HIMTOK_CHECK_INPUT(placed.size() >= 2, "scene ", sc.id, ": could not place 2 objects at size ", S);

  // --- masks, boxes, centroids, and paint
  for (auto& p : placed) p.obj.mask = Mask(S, S);
  std::vector<double> sx(placed.size(), 0.0), sy(placed.size(), 0.0);
  for (int y = 0; y < S; ++y)
    for (int x = 0; x < S; ++x) {
      const int id = owner[static_cast<size_t>(y) * S + x];
      if (id < 0) continue;
      auto& p = placed[static_cast<size_t>(id)];
      p.obj.mask.at(y, x) = 1;
      sx[id] += x + 0.5, sy[id] += y + 0.5;
      auto c = texel(p, x, y, S);
      std::copy(c.begin(), c.end(), sc.image.px(y, x));
    }
  for (auto& p : placed) {
    const double n = static_cast<double>(visible[p.obj.id]);
    p.obj.mx = sx[p.obj.id] / n, p.obj.my = sy[p.obj.id] / n;
    p.obj.box = mask_box(p.obj.mask);
    sc.objects.push_back(std::move(p.obj));
  }

  // --- language
  const double margin = 0.04 * S;
  add_attribute_expressions(sc, rng);
  add_relation_expressions(sc, margin, rng);
  add_ordinal_expressions(sc, margin, rng);
  add_multi_expressions(sc, rng);
  add_none_expressions(sc, opt, rng);
  add_questions(sc, opt, margin, rng);
  return sc;
}

Mask expression_mask(const Scene& scene, const Expression& expr) {
  const int64_t S = scene.image.h;
  Mask m(S, S);
  for (int id : expr.targets) {
    HIMTOK_CHECK_INPUT(id >= 0 && id < static_cast<int>(scene.objects.size()), scene.id, ": expression '", expr.text,
                       "' names object ", id, ", scene has ", scene.objects.size());
    const auto& om = scene.objects[static_cast<size_t>(id)].mask;
    for (size_t i = 0; i < m.data.size(); ++i) m.data[i] |= om.data[i];
  }
  return m;
}

PixelBox expression_box(const Scene& scene, const Expression& expr) { return mask_box(expression_mask(scene, expr)); }

PerceptionOptions perception_options(const Scene& scene, int expr_index, const SceneOptions& opt, int n, Pcg32& rng) {
  if (expr_index < 0 || expr_index >= static_cast<int>(scene.expressions.size()))
    throw std::logic_error("perception_options: expression index out of range");
  const auto& target_expr = scene.expressions[static_cast<size_t>(expr_index)];
  if (target_expr.targets.size() != 1) throw std::logic_error("perception_options: expression needs exactly one target");
  if (n < 2) throw std::logic_error("perception_options: need at least 2 options");
  const int t = target_expr.targets[0];
  std::vector<std::string> wrong;
  for (const auto& e : scene.expressions) {
    if (std::find(e.targets.begin(), e.targets.end(), t) != e.targets.end()) continue;
    if (e.text == target_expr.text) continue;
    if (std::find(wrong.begin(), wrong.end(), e.text) == wrong.end()) wrong.push_back(e.text);
  }
  shuffle(wrong, rng);
  if (static_cast<int>(wrong.size()) > n - 1) wrong.resize(static_cast<size_t>(n - 1));
  for (int tries = 0; static_cast<int>(wrong.size()) < n - 1 && tries < 200; ++tries) {
    Descriptor d;
    if (!absent_descriptor(scene, opt, rng, &d)) continue;
    const std::string text = "the " + d.phrase();
    if (text != target_expr.text && std::find(wrong.begin(), wrong.end(), text) == wrong.end()) wrong.push_back(text);
  }
  PerceptionOptions out;
  out.correct = static_cast<int>(rng.below(static_cast<uint32_t>(wrong.size() + 1)));
  out.options = wrong;
  out.options.insert(out.options.begin() + out.correct, target_expr.text);
  return out;
}

}  // namespace himtok::data
