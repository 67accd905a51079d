// Synthetic masks: a shape is a union of primitives minus a union of "hole" primitives, built in
// object coordinates (radius ~1), then scaled, rotated and placed in the frame. The scale is
// solved for a target area (a few render-and-rescale rounds), then checked against the range.
#include "data/synthetic.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "common/error.h"
#include "data/masks_rng.h"

namespace himtok::data {

const char* synthetic_kind_name(SyntheticKind kind) {
  switch (kind) {
    case SyntheticKind::kEllipse: return "ellipse";
    case SyntheticKind::kPolygon: return "polygon";
    case SyntheticKind::kBlob: return "blob";
    case SyntheticKind::kMultiPart: return "multipart";
    case SyntheticKind::kHoles: return "holes";
    case SyntheticKind::kThin: return "thin";
    case SyntheticKind::kBorder: return "border";
  }
  return "?";
}

namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr int kBlobBins = 720;

// ---------------------------------------------------------------------------------------------
// Primitives in object coordinates

struct Prim {
  enum Type { kEllipse, kPolygon, kBlob, kCurve } type = kEllipse;
  bool subtract = false;
  double cx = 0, cy = 0;            // centre (ellipse, blob)
  double rx = 1, ry = 1, theta = 0; // ellipse
  std::vector<double> xs, ys;       // polygon vertices / curve points
  std::vector<double> radius;       // blob: R(angle), kBlobBins bins over [0, 2 pi)
  double hw = 0.05;                 // curve half width
  double bx0 = -1e300, by0 = -1e300, bx1 = 1e300, by1 = 1e300;  // polygon/curve point box (see finish)
};

struct Box {
  double x0 = 1e300, y0 = 1e300, x1 = -1e300, y1 = -1e300;
  void add(double x, double y) {
    x0 = std::min(x0, x), y0 = std::min(y0, y), x1 = std::max(x1, x), y1 = std::max(y1, y);
  }
};

double blob_radius(const Prim& p, double angle) {
  double t = angle / (2 * kPi) * kBlobBins;
  if (t < 0) t += kBlobBins;
  int i0 = static_cast<int>(t) % kBlobBins;
  int i1 = (i0 + 1) % kBlobBins;
  double f = t - std::floor(t);
  return p.radius[i0] * (1 - f) + p.radius[i1] * f;
}

double seg_dist2(double px, double py, double ax, double ay, double bx, double by) {
  double dx = bx - ax, dy = by - ay;
  double l2 = dx * dx + dy * dy;
  double t = l2 > 0 ? ((px - ax) * dx + (py - ay) * dy) / l2 : 0;
  t = std::clamp(t, 0.0, 1.0);
  double ex = ax + t * dx - px, ey = ay + t * dy - py;
  return ex * ex + ey * ey;
}

// `min_half` is the smallest half-thickness allowed (object units at the current scale).
bool prim_inside(const Prim& p, double x, double y, double min_half) {
  const double margin = p.type == Prim::kCurve ? std::max(p.hw, min_half) : p.type == Prim::kEllipse ? min_half : 0.0;
  if (x < p.bx0 - margin || x > p.bx1 + margin || y < p.by0 - margin || y > p.by1 + margin) return false;
  switch (p.type) {
    case Prim::kEllipse: {
      double c = std::cos(p.theta), s = std::sin(p.theta);
      double u = c * (x - p.cx) + s * (y - p.cy), v = -s * (x - p.cx) + c * (y - p.cy);
      double rx = std::max(p.rx, min_half), ry = std::max(p.ry, min_half);
      return (u * u) / (rx * rx) + (v * v) / (ry * ry) <= 1.0;
    }
    case Prim::kPolygon: {
      bool in = false;
      size_t n = p.xs.size();
      for (size_t i = 0, j = n - 1; i < n; j = i++) {
        if ((p.ys[i] > y) != (p.ys[j] > y) &&
            x < (p.xs[j] - p.xs[i]) * (y - p.ys[i]) / (p.ys[j] - p.ys[i]) + p.xs[i])
          in = !in;
      }
      return in;
    }
    case Prim::kBlob: {
      double dx = x - p.cx, dy = y - p.cy;
      double r = std::sqrt(dx * dx + dy * dy);
      return r <= blob_radius(p, std::atan2(dy, dx));
    }
    case Prim::kCurve: {
      double hw = std::max(p.hw, min_half);
      for (size_t i = 0; i + 1 < p.xs.size(); ++i) {
        const double ax = p.xs[i], ay = p.ys[i], bx = p.xs[i + 1], by = p.ys[i + 1];
        if (x < std::min(ax, bx) - hw || x > std::max(ax, bx) + hw || y < std::min(ay, by) - hw ||
            y > std::max(ay, by) + hw)
          continue;
        if (seg_dist2(x, y, ax, ay, bx, by) <= hw * hw) return true;
      }
      return false;
    }
  }
  return false;
}

Box prim_box(const Prim& p) {
  Box b;
  switch (p.type) {
    case Prim::kEllipse: {
      double c = std::cos(p.theta), s = std::sin(p.theta);
      double ex = std::sqrt(p.rx * p.rx * c * c + p.ry * p.ry * s * s);
      double ey = std::sqrt(p.rx * p.rx * s * s + p.ry * p.ry * c * c);
      b.add(p.cx - ex, p.cy - ey);
      b.add(p.cx + ex, p.cy + ey);
      break;
    }
    case Prim::kPolygon:
    case Prim::kCurve:
      for (size_t i = 0; i < p.xs.size(); ++i) {
        double m = p.type == Prim::kCurve ? p.hw : 0;
        b.add(p.xs[i] - m, p.ys[i] - m);
        b.add(p.xs[i] + m, p.ys[i] + m);
      }
      break;
    case Prim::kBlob: {
      double rmax = *std::max_element(p.radius.begin(), p.radius.end());
      b.add(p.cx - rmax, p.cy - rmax);
      b.add(p.cx + rmax, p.cy + rmax);
      break;
    }
  }
  return b;
}

// Caches each primitive's box (curves: of the points, without the half width) for a quick
// rejection in prim_inside.
void finish(Prim& p) {
  Box b;
  if (p.type == Prim::kCurve) {
    for (size_t i = 0; i < p.xs.size(); ++i) b.add(p.xs[i], p.ys[i]);
  } else {
    b = prim_box(p);
  }
  p.bx0 = b.x0, p.by0 = b.y0, p.bx1 = b.x1, p.by1 = b.y1;
}

// Scales a primitive by k about the origin, then shifts it by (dx, dy).
Prim transformed(Prim p, double k, double dx, double dy) {
  p.cx = p.cx * k + dx, p.cy = p.cy * k + dy;
  p.rx *= k, p.ry *= k, p.hw *= k;
  for (auto& v : p.xs) v = v * k + dx;
  for (auto& v : p.ys) v = v * k + dy;
  for (auto& v : p.radius) v *= k;
  return p;
}

// ---------------------------------------------------------------------------------------------
// Random primitives

Prim random_ellipse(Rng& r, double min_ratio = 0.25) {
  Prim p;
  p.type = Prim::kEllipse;
  p.rx = 1.0;
  p.ry = r.uniform(min_ratio, 1.0);
  p.theta = r.uniform(0, kPi);
  return p;
}

Prim random_polygon(Rng& r) {
  Prim p;
  p.type = Prim::kPolygon;
  int n = static_cast<int>(r.range(3, 10));
  bool star = n >= 5 && r.bernoulli(0.4);
  double a0 = r.uniform(0, 2 * kPi);
  for (int i = 0; i < n; ++i) {
    double a = a0 + 2 * kPi * (i + r.uniform(-0.3, 0.3)) / n;
    double rad = star ? (i % 2 ? r.uniform(0.35, 0.6) : r.uniform(0.8, 1.0)) : r.uniform(0.6, 1.0);
    p.xs.push_back(rad * std::cos(a));
    p.ys.push_back(rad * std::sin(a));
  }
  return p;
}

Prim random_blob(Rng& r) {
  Prim p;
  p.type = Prim::kBlob;
  int n_harm = static_cast<int>(r.range(2, 6));
  std::vector<double> amp(n_harm + 1, 0.0), phase(n_harm + 1, 0.0);
  double total = 0;
  for (int k = 2; k <= n_harm; ++k) {
    amp[k] = r.uniform(0.0, 1.0) / std::pow(k, 0.8);
    phase[k] = r.uniform(0, 2 * kPi);
    total += amp[k];
  }
  double budget = r.uniform(0.2, 0.6);  // sum of amplitudes: how wavy
  for (auto& a : amp) a = total > 0 ? a * budget / total : 0;
  double stretch = r.uniform(0.6, 1.0), rot = r.uniform(0, kPi);  // mild anisotropy
  p.radius.resize(kBlobBins);
  for (int i = 0; i < kBlobBins; ++i) {
    double t = 2 * kPi * i / kBlobBins;
    double v = 1.0;
    for (int k = 2; k <= n_harm; ++k) v += amp[k] * std::cos(k * t + phase[k]);
    double c = std::cos(t - rot), s = std::sin(t - rot);
    double e = 1.0 / std::sqrt(c * c + (s * s) / (stretch * stretch));  // ellipse radius, axes 1 x stretch
    p.radius[i] = v * e;
  }
  return p;
}

Prim random_part(Rng& r) {
  switch (r.range(0, 2)) {
    case 0: return random_ellipse(r, 0.35);
    case 1: return random_polygon(r);
    default: return random_blob(r);
  }
}

// A smooth open curve through 3..5 control points (Catmull-Rom), sampled into segments.
Prim random_curve(Rng& r, double x0, double y0, double length, double hw) {
  int n_ctrl = static_cast<int>(r.range(3, 5));
  double a = r.uniform(0, 2 * kPi), step = length / (n_ctrl - 1);
  std::vector<double> cx{x0}, cy{y0};
  for (int i = 1; i < n_ctrl; ++i) {
    a += r.uniform(-0.9, 0.9);
    cx.push_back(cx.back() + step * std::cos(a));
    cy.push_back(cy.back() + step * std::sin(a));
  }
  Prim p;
  p.type = Prim::kCurve;
  p.hw = hw;
  for (int i = 0; i + 1 < n_ctrl; ++i) {
    double px0 = cx[std::max(i - 1, 0)], py0 = cy[std::max(i - 1, 0)];
    double px3 = cx[std::min(i + 2, n_ctrl - 1)], py3 = cy[std::min(i + 2, n_ctrl - 1)];
    for (int k = 0; k < 8; ++k) {
      double t = k / 8.0, t2 = t * t, t3 = t2 * t;
      auto cr = [&](double p0, double p1, double p2, double p3) {
        return 0.5 * (2 * p1 + (-p0 + p2) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t2 + (-p0 + 3 * p1 - 3 * p2 + p3) * t3);
      };
      p.xs.push_back(cr(px0, cx[i], cx[i + 1], px3));
      p.ys.push_back(cr(py0, cy[i], cy[i + 1], py3));
    }
  }
  p.xs.push_back(cx.back());
  p.ys.push_back(cy.back());
  return p;
}

double min_radius(const Prim& p) {
  if (p.type == Prim::kBlob) return *std::min_element(p.radius.begin(), p.radius.end());
  if (p.type == Prim::kEllipse) return std::min(p.rx, p.ry);
  return 0.5;
}

std::vector<Prim> build_shape(SyntheticKind kind, Rng& r) {
  std::vector<Prim> prims;
  switch (kind) {
    case SyntheticKind::kEllipse: prims.push_back(random_ellipse(r)); break;
    case SyntheticKind::kPolygon: prims.push_back(random_polygon(r)); break;
    case SyntheticKind::kBlob: prims.push_back(random_blob(r)); break;
    case SyntheticKind::kMultiPart: {
      int n = static_cast<int>(r.range(2, 4));
      double a0 = r.uniform(0, 2 * kPi);
      for (int i = 0; i < n; ++i) {
        double a = a0 + 2 * kPi * (i + r.uniform(-0.2, 0.2)) / n, d = r.uniform(0.9, 1.5);
        prims.push_back(transformed(random_part(r), r.uniform(0.35, 0.65), d * std::cos(a), d * std::sin(a)));
      }
      break;
    }
    case SyntheticKind::kHoles: {
      Prim base = r.bernoulli(0.5) ? random_blob(r) : random_ellipse(r, 0.6);
      double rmin = min_radius(base);
      prims.push_back(base);
      int n = static_cast<int>(r.range(1, 3));
      for (int i = 0; i < n; ++i) {
        Prim h = random_ellipse(r, 0.5);
        double rad = rmin * r.uniform(0.15, 0.3);
        double reach = std::max(0.0, 0.7 * rmin - rad), a = r.uniform(0, 2 * kPi), d = reach * std::sqrt(r.uniform());
        h = transformed(h, rad, d * std::cos(a), d * std::sin(a));
        h.subtract = true;
        prims.push_back(h);
      }
      break;
    }
    case SyntheticKind::kThin: {
      if (r.bernoulli(0.5)) {
        prims.push_back(random_curve(r, 0, 0, r.uniform(1.5, 3.0), r.uniform(0.02, 0.08)));
      } else {  // a body with thin limbs
        Prim body = transformed(random_ellipse(r, 0.4), r.uniform(0.35, 0.6), 0, 0);
        prims.push_back(body);
        int n = static_cast<int>(r.range(2, 5));
        for (int i = 0; i < n; ++i) prims.push_back(random_curve(r, 0, 0, r.uniform(0.8, 1.6), r.uniform(0.03, 0.07)));
      }
      break;
    }
    case SyntheticKind::kBorder: {
      switch (r.range(0, 3)) {
        case 0: return build_shape(SyntheticKind::kEllipse, r);
        case 1: return build_shape(SyntheticKind::kPolygon, r);
        case 2: return build_shape(SyntheticKind::kBlob, r);
        default: return build_shape(SyntheticKind::kHoles, r);
      }
    }
  }
  return prims;
}

// ---------------------------------------------------------------------------------------------
// Rendering

struct Pose {
  double s = 1, phi = 0, cx = 0, cy = 0;  // pixel = c + s * R(phi) * object
};

// Pixel-space box of the shape, relative to the centre, at scale s.
Box pixel_box(const std::vector<Prim>& prims, double s, double phi, double min_half) {
  Box ob;
  for (const auto& p : prims) {
    if (p.subtract) continue;
    Box b = prim_box(p);
    double m = p.type == Prim::kCurve || p.type == Prim::kEllipse ? min_half : 0;
    ob.add(b.x0 - m, b.y0 - m);
    ob.add(b.x1 + m, b.y1 + m);
  }
  Box pb;
  double c = std::cos(phi), sn = std::sin(phi);
  for (double x : {ob.x0, ob.x1})
    for (double y : {ob.y0, ob.y1}) pb.add(s * (c * x - sn * y), s * (sn * x + c * y));
  return pb;
}

// Renders into an H x W frame (or, with frame == nullptr, counts pixels without clipping).
// `tight`, if given, receives the box of the inside pixels (edges), relative to the centre.
int64_t render(const std::vector<Prim>& prims, const Pose& pose, double min_thickness, int64_t H, int64_t W,
               Mask* frame, Box* tight = nullptr) {
  double min_half = min_thickness / (2 * pose.s);
  Box pb = pixel_box(prims, pose.s, pose.phi, min_half);
  int64_t x0 = static_cast<int64_t>(std::floor(pose.cx + pb.x0)) - 1, x1 = static_cast<int64_t>(std::ceil(pose.cx + pb.x1)) + 1;
  int64_t y0 = static_cast<int64_t>(std::floor(pose.cy + pb.y0)) - 1, y1 = static_cast<int64_t>(std::ceil(pose.cy + pb.y1)) + 1;
  if (frame) {
    x0 = std::max<int64_t>(x0, 0), y0 = std::max<int64_t>(y0, 0);
    x1 = std::min<int64_t>(x1, W), y1 = std::min<int64_t>(y1, H);
  }
  double c = std::cos(pose.phi), sn = std::sin(pose.phi), inv = 1.0 / pose.s;
  int64_t area = 0;
  for (int64_t y = y0; y < y1; ++y) {
    for (int64_t x = x0; x < x1; ++x) {
      double dx = x + 0.5 - pose.cx, dy = y + 0.5 - pose.cy;
      double u = (c * dx + sn * dy) * inv, v = (-sn * dx + c * dy) * inv;
      bool in = false;
      for (const auto& p : prims)
        if (!p.subtract && prim_inside(p, u, v, min_half)) {
          in = true;
          break;
        }
      if (in)
        for (const auto& p : prims)
          if (p.subtract && prim_inside(p, u, v, 0)) {
            in = false;
            break;
          }
      if (in) {
        ++area;
        if (frame) frame->at(y, x) = 1;
        if (tight) tight->add(x - pose.cx, y - pose.cy), tight->add(x + 1 - pose.cx, y + 1 - pose.cy);
      }
    }
  }
  return area;
}

}  // namespace

// ---------------------------------------------------------------------------------------------

SyntheticMask make_synthetic_mask(uint64_t seed, uint64_t index, const SyntheticOptions& opt) {
  HIMTOK_CHECK_INPUT(opt.h >= 8 && opt.w >= 8 && opt.h <= 16384 && opt.w <= 16384, "synthetic: frame ", opt.h, "x",
                     opt.w, " out of range 8..16384");
  HIMTOK_CHECK_INPUT(opt.min_area_frac > 0 && opt.min_area_frac < opt.max_area_frac && opt.max_area_frac <= 0.9,
                     "synthetic: area range [", opt.min_area_frac, ", ", opt.max_area_frac,
                     "] invalid; expected 0 < min < max <= 0.9");
  const int64_t H = opt.h, W = opt.w;
  const double frame_area = static_cast<double>(H * W);
  const double a_lo = opt.min_area_frac * frame_area, a_hi = opt.max_area_frac * frame_area;
  HIMTOK_CHECK_INPUT(a_lo >= 4 * opt.min_thickness * opt.min_thickness, "synthetic: min area ", a_lo,
                     " px too small for min thickness ", opt.min_thickness);

  Rng r(seed, index, /*salt=*/0x53594e);
  SyntheticMask out;
  out.kind = static_cast<SyntheticKind>(r.range(0, kNumSyntheticKinds - 1));
  out.target_area_frac = opt.area_balanced ? r.log_uniform(opt.min_area_frac, opt.max_area_frac)
                                           : r.uniform(opt.min_area_frac, opt.max_area_frac);
  std::vector<Prim> prims = build_shape(out.kind, r);
  for (auto& p : prims) finish(p);

  // Placement parameters, drawn once so that rescaling keeps the same relative placement.
  Pose pose;
  pose.phi = r.uniform(0, 2 * kPi);
  double ux = r.uniform(), uy = r.uniform();
  int side = static_cast<int>(r.range(0, 3));
  double cut = r.uniform(0.1, 0.5);  // border kind: share of the extent outside the frame
  bool border = out.kind == SyntheticKind::kBorder;

  // Unit area and tight box: an unclipped render at a reference scale (extent ~160 px).
  // Thin structures are naturally small: their target is capped at 20% of the frame.
  double target = out.target_area_frac * frame_area;
  if (out.kind == SyntheticKind::kThin) target = std::max(a_lo, std::min(target, 0.2 * frame_area));
  Box tight_ref;
  double s_ref = 1;
  auto calibrate = [&]() {  // returns the shape's area per unit scale squared
    Box ob = pixel_box(prims, 1.0, pose.phi, 0);
    double ext = std::max(ob.x1 - ob.x0, ob.y1 - ob.y0);
    Pose ref = pose;
    ref.s = s_ref = 160.0 / std::max(ext, 1e-6);
    ref.cx = ref.cy = 0;
    tight_ref = Box{};
    double unit = static_cast<double>(render(prims, ref, 0, 0, 0, nullptr, &tight_ref)) / (ref.s * ref.s);
    if (tight_ref.x1 < tight_ref.x0) tight_ref = pixel_box(prims, s_ref, pose.phi, 0);
    return unit;
  };
  pose.s = std::sqrt(target / std::max(calibrate(), 1e-9) / (border ? 1.0 - cut : 1.0));
  // No object wider than 4 frames (a target that clipping keeps out of reach stops there).
  const double s_max =
      4.0 * std::max(H, W) * s_ref / std::max(tight_ref.x1 - tight_ref.x0, tight_ref.y1 - tight_ref.y0);
  pose.s = std::min(pose.s, s_max);

  auto place = [&](Pose& p) {
    // The tight box of the shape, scaled from the reference render (the rotated box of the
    // primitive boxes is loose, and a border cut measured on it might miss the shape).
    const double k = p.s / s_ref;
    Box b;
    b.add(tight_ref.x0 * k, tight_ref.y0 * k);
    b.add(tight_ref.x1 * k, tight_ref.y1 * k);
    auto axis = [](double lo, double hi, double n, double u) {  // centre so that [c+lo, c+hi] fits in [0, n]
      double ext = hi - lo;
      if (ext <= n) return -lo + u * (n - ext);
      return -lo - u * (ext - n);
    };
    p.cx = axis(b.x0, b.x1, static_cast<double>(W), ux);
    p.cy = axis(b.y0, b.y1, static_cast<double>(H), uy);
    if (border) {
      double ex = b.x1 - b.x0, ey = b.y1 - b.y0;
      if (side == 0) p.cx = -cut * ex - b.x0;                 // cut at the left
      if (side == 1) p.cx = static_cast<double>(W) + cut * ex - b.x1;  // right
      if (side == 2) p.cy = -cut * ey - b.y0;                 // top
      if (side == 3) p.cy = static_cast<double>(H) + cut * ey - b.y1;  // bottom
    }
  };

  Mask best;
  int64_t best_area = -1;
  for (int it = 0; it < 6; ++it) {
    place(pose);
    Mask m(H, W);
    int64_t area = render(prims, pose, opt.min_thickness, H, W, &m);
    bool in_range = area >= a_lo && area <= a_hi;
    if (in_range && (best_area < 0 || std::fabs(area - target) < std::fabs(best_area - target))) {
      best = std::move(m);
      best_area = area;
    }
    if (in_range && area >= 0.87 * target && area <= 1.15 * target) break;
    double ratio = area > 0 ? target / static_cast<double>(area) : 4.0;
    pose.s = std::min(s_max, pose.s * std::sqrt(std::clamp(ratio, 0.25, 4.0)));
  }
  if (best_area < 0) {
    // Fallback (rare: clipping or min thickness kept the area out of range): a plain ellipse of
    // the target area, centred, grown or shrunk until in range.
    prims = {random_ellipse(r, 0.5)};
    finish(prims[0]);
    border = false;
    pose.s = std::sqrt(target / std::max(calibrate(), 1e-9));
    for (int it = 0; it < 20 && best_area < 0; ++it) {
      place(pose);
      Mask m(H, W);
      int64_t area = render(prims, pose, opt.min_thickness, H, W, &m);
      if (area >= a_lo && area <= a_hi) {
        best = std::move(m);
        best_area = area;
      } else {
        pose.s *= area < a_lo ? 1.05 : 0.95;
      }
    }
    HIMTOK_CHECK_INPUT(best_area >= 0, "synthetic: cannot fit an object of ", target, " px in ", H, "x", W);
  }
  out.mask = std::move(best);
  return out;
}

}  // namespace himtok::data
