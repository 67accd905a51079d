// Non-learned mask codecs (see codecs.h for each code's layout and bit count).
#include "eval/codecs.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <queue>
#include <tuple>

#include "common/error.h"
#include "io/resize.h"

namespace himtok::eval {

namespace {

// ---------------------------------------------------------------------------------------------
// Shared pieces

struct Sat {  // summed-area table of a binary mask
  int64_t h = 0, w = 0;
  std::vector<int64_t> s;  // (h+1) x (w+1)
  explicit Sat(const Mask& m) : h(m.h), w(m.w), s(static_cast<size_t>((m.h + 1) * (m.w + 1)), 0) {
    for (int64_t y = 0; y < h; ++y) {
      int64_t row = 0;
      for (int64_t x = 0; x < w; ++x) {
        row += m.at(y, x) != 0;
        s[(y + 1) * (w + 1) + x + 1] = s[y * (w + 1) + x + 1] + row;
      }
    }
  }
  int64_t sum(int64_t x0, int64_t y0, int64_t x1, int64_t y1) const {
    if (x1 <= x0 || y1 <= y0) return 0;
    return s[y1 * (w + 1) + x1] - s[y0 * (w + 1) + x1] - s[y1 * (w + 1) + x0] + s[y0 * (w + 1) + x0];
  }
  int64_t total() const { return s.back(); }
};

double iou_of(int64_t inter, int64_t uni) { return uni == 0 ? 1.0 : static_cast<double>(inter) / static_cast<double>(uni); }

// Cell index of every output pixel when n cells are NEAREST-upsampled to `size` (PIL's map).
std::vector<int> nearest_cells(int n, int64_t size) {
  FloatMap row(1, n);
  for (int i = 0; i < n; ++i) row.data[i] = static_cast<float>(i);
  FloatMap up = io::resize_float(row, 1, size, io::Resample::kNearest);
  std::vector<int> cells(static_cast<size_t>(size));
  for (int64_t x = 0; x < size; ++x) cells[x] = static_cast<int>(up.data[x]);
  return cells;
}

// The IoU-optimal subset of cells: with I = sum ones and U = outside + sum (total - ones), the
// best set is a prefix of the cells sorted by density ones / total (a ratio of sums).
// `outside`: object pixels that no selectable cell covers plus all object pixels (i.e. the
// object's area A); returns the chosen flags and the resulting (I, U).
std::vector<uint8_t> best_cells(const std::vector<int64_t>& ones, const std::vector<int64_t>& total, int64_t area,
                                int64_t* inter_out, int64_t* union_out) {
  std::vector<size_t> order;
  for (size_t c = 0; c < ones.size(); ++c)
    if (ones[c] > 0) order.push_back(c);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return ones[a] * total[b] > ones[b] * total[a];  // density, descending
  });
  int64_t inter = 0, uni = area, best_i = 0, best_u = area;
  size_t best_n = 0;
  for (size_t n = 0; n < order.size(); ++n) {
    inter += ones[order[n]];
    uni += total[order[n]] - ones[order[n]];
    if (iou_of(inter, uni) > iou_of(best_i, best_u)) best_i = inter, best_u = uni, best_n = n + 1;
  }
  std::vector<uint8_t> sel(ones.size(), 0);
  for (size_t n = 0; n < best_n; ++n) sel[order[n]] = 1;
  *inter_out = best_i;
  *union_out = best_u;
  return sel;
}

void check_mask(const Mask& m, int bits) {
  HIMTOK_CHECK_INPUT(m.h > 0 && m.w > 0 && static_cast<int64_t>(m.data.size()) == m.h * m.w, "codec: bad mask ",
                     m.h, "x", m.w, " with ", m.data.size(), " values");
  HIMTOK_CHECK_INPUT(bits >= 1, "codec: bit budget ", bits, " must be >= 1");
}

int ceil_log2(int64_t v) {
  int b = 0;
  while ((int64_t{1} << b) < v) ++b;
  return b;
}

// ---------------------------------------------------------------------------------------------
// Quantised boxes: 2^b levels per coordinate.

struct QBox {
  int64_t n = 1;  // levels
  int q[4] = {0, 0, 0, 0};  // x0, y0, x1, y1 level indices
};

int64_t edge_lo(int64_t q, int64_t n, int64_t size) { return q * size / n; }
int64_t edge_hi(int64_t q, int64_t n, int64_t size) { return ((q + 1) * size + n - 1) / n; }

struct PixBox {
  int64_t x0, y0, x1, y1;
};

PixBox to_pixels(const QBox& b, int64_t h, int64_t w) {
  return {edge_lo(b.q[0], b.n, w), edge_lo(b.q[1], b.n, h), edge_hi(b.q[2], b.n, w), edge_hi(b.q[3], b.n, h)};
}

int64_t box_area(const PixBox& p) { return p.x1 > p.x0 && p.y1 > p.y0 ? (p.x1 - p.x0) * (p.y1 - p.y0) : 0; }

// The outward-rounded box of the object (covers every object pixel); false for an empty mask.
bool outward_box(const Mask& m, int64_t n, QBox* out) {
  int64_t x0 = m.w, y0 = m.h, x1 = -1, y1 = -1;
  for (int64_t y = 0; y < m.h; ++y)
    for (int64_t x = 0; x < m.w; ++x)
      if (m.at(y, x)) x0 = std::min(x0, x), x1 = std::max(x1, x), y0 = std::min(y0, y), y1 = std::max(y1, y);
  if (x1 < 0) return false;
  out->n = n;
  auto lo = [&](int64_t v, int64_t size) {  // largest q with edge_lo(q) <= v
    int64_t q = n - 1;
    while (q > 0 && edge_lo(q, n, size) > v) --q;
    return static_cast<int>(q);
  };
  auto hi = [&](int64_t v, int64_t size) {  // smallest q with edge_hi(q) >= v + 1
    int64_t q = 0;
    while (q < n - 1 && edge_hi(q, n, size) < v + 1) ++q;
    return static_cast<int>(q);
  };
  out->q[0] = lo(x0, m.w), out->q[1] = lo(y0, m.h), out->q[2] = hi(x1, m.w), out->q[3] = hi(y1, m.h);
  return true;
}

Mask fill_box(int64_t h, int64_t w, const PixBox& p) {
  Mask d(h, w);
  for (int64_t y = std::max<int64_t>(p.y0, 0); y < std::min(p.y1, h); ++y)
    for (int64_t x = std::max<int64_t>(p.x0, 0); x < std::min(p.x1, w); ++x) d.at(y, x) = 1;
  return d;
}

// IoU-optimised quantised box (coordinate descent over all levels, from the outward box).
QBox best_box(const Mask& m, const Sat& sat, int b, double* iou_out) {
  QBox box;
  box.n = int64_t{1} << b;
  const int64_t area = sat.total();
  if (!outward_box(m, box.n, &box)) {
    *iou_out = 1.0;
    box.q[0] = box.q[1] = static_cast<int>(box.n - 1), box.q[2] = box.q[3] = 0;  // empty code
    return box;
  }
  auto iou = [&](const QBox& bx) {
    PixBox p = to_pixels(bx, m.h, m.w);
    int64_t a = box_area(p), inter = a ? sat.sum(p.x0, p.y0, p.x1, p.y1) : 0;
    return iou_of(inter, area + a - inter);
  };
  double cur = iou(box);
  if (box.n <= 16) {  // exhaustive (x0 <= x1, y0 <= y1): at most 136^2 boxes
    const int n = static_cast<int>(box.n);
    for (int y0 = 0; y0 < n; ++y0)
      for (int y1 = y0; y1 < n; ++y1)
        for (int x0 = 0; x0 < n; ++x0)
          for (int x1 = x0; x1 < n; ++x1) {
            QBox t = box;
            t.q[0] = x0, t.q[1] = y0, t.q[2] = x1, t.q[3] = y1;
            double v = iou(t);
            if (v > cur + 1e-12) cur = v, box = t;
          }
  } else {  // coordinate descent over all levels, from the outward box
    for (int round = 0; round < 32; ++round) {
      bool improved = false;
      for (int c = 0; c < 4; ++c) {
        int best_q = box.q[c];
        for (int q = 0; q < box.n; ++q) {
          if (q == box.q[c]) continue;
          QBox t = box;
          t.q[c] = q;
          double v = iou(t);
          if (v > cur + 1e-12) cur = v, best_q = q, improved = true;
        }
        box.q[c] = best_q;
      }
      if (!improved) break;
    }
  }
  *iou_out = cur;
  return box;
}

// ---------------------------------------------------------------------------------------------
// Polygons with 8-bit vertex coordinates

struct Polygon {
  std::vector<int> qx, qy;  // 0..255
};

double coord(int q, int64_t size) { return q * static_cast<double>(size) / 255.0; }

// Calls span(y, xa, xb) for each run of pixels [xa, xb) of row y (y in [y0, y1)) whose centre is
// inside the polygon (even-odd rule), clipped to [x0, x1).
template <typename F>
void raster_rows(const std::vector<double>& X, const std::vector<double>& Y, int64_t y0, int64_t y1, int64_t x0,
                 int64_t x1, F span) {
  std::vector<double> cr;
  const size_t n = X.size();
  for (int64_t y = y0; y < y1; ++y) {
    const double yc = y + 0.5;
    cr.clear();
    for (size_t i = 0, j = n - 1; i < n; j = i++)
      if ((Y[i] > yc) != (Y[j] > yc)) cr.push_back(X[i] + (yc - Y[i]) * (X[j] - X[i]) / (Y[j] - Y[i]));
    std::sort(cr.begin(), cr.end());
    for (size_t k = 0; k + 1 < cr.size(); k += 2) {
      int64_t xa = static_cast<int64_t>(std::ceil(cr[k] - 0.5)), xb = static_cast<int64_t>(std::ceil(cr[k + 1] - 0.5));
      xa = std::max(xa, x0), xb = std::min(xb, x1);
      if (xa < xb) span(y, xa, xb);
    }
  }
}

struct PolyState {
  const Mask* target;
  int64_t h, w;
  std::vector<double> X, Y;
  Mask raster;
  int64_t inter = 0, uni = 0;
};

void set_coords(PolyState& st, const Polygon& p) {
  st.X.resize(p.qx.size());
  st.Y.resize(p.qy.size());
  for (size_t i = 0; i < p.qx.size(); ++i) st.X[i] = coord(p.qx[i], st.w), st.Y[i] = coord(p.qy[i], st.h);
}

Mask rasterize(const Polygon& p, int64_t h, int64_t w) {
  PolyState st;
  st.h = h, st.w = w;
  set_coords(st, p);
  Mask m(h, w);
  if (p.qx.size() >= 3)
    raster_rows(st.X, st.Y, 0, h, 0, w, [&](int64_t y, int64_t xa, int64_t xb) {
      std::fill(m.data.begin() + y * w + xa, m.data.begin() + y * w + xb, 1);
    });
  return m;
}

// Change of (I, U) if vertex i moves to (nx, ny), evaluated on the rows/cols it can affect; with
// apply, the raster and counts are updated.
void move_delta(PolyState& st, size_t i, double nx, double ny, int64_t* d_inter, int64_t* d_union, bool apply) {
  const size_t n = st.X.size(), ip = (i + n - 1) % n, in = (i + 1) % n;
  double xs[4] = {st.X[ip], st.X[i], nx, st.X[in]}, ys[4] = {st.Y[ip], st.Y[i], ny, st.Y[in]};
  int64_t x0 = std::max<int64_t>(0, static_cast<int64_t>(std::floor(*std::min_element(xs, xs + 4))) - 1);
  int64_t x1 = std::min<int64_t>(st.w, static_cast<int64_t>(std::ceil(*std::max_element(xs, xs + 4))) + 1);
  int64_t y0 = std::max<int64_t>(0, static_cast<int64_t>(std::floor(*std::min_element(ys, ys + 4))) - 1);
  int64_t y1 = std::min<int64_t>(st.h, static_cast<int64_t>(std::ceil(*std::max_element(ys, ys + 4))) + 1);
  double ox = st.X[i], oy = st.Y[i];
  st.X[i] = nx, st.Y[i] = ny;
  int64_t di = 0, du = 0;
  if (x0 < x1 && y0 < y1) {
    std::vector<uint8_t> row(static_cast<size_t>(x1 - x0));
    int64_t cur_y = -1;
    auto flush = [&](int64_t y) {  // compare row y's new inside flags with the raster
      for (int64_t x = x0; x < x1; ++x) {
        uint8_t nv = row[x - x0], ov = st.raster.at(y, x);
        if (nv != ov) {
          int64_t t = st.target->at(y, x) != 0;
          di += nv ? t : -t;
          du += nv ? 1 - t : -(1 - t);
          if (apply) st.raster.at(y, x) = nv;
        }
      }
    };
    for (int64_t y = y0; y < y1; ++y) {
      std::fill(row.begin(), row.end(), 0);
      cur_y = y;
      raster_rows(st.X, st.Y, y, y + 1, x0, x1, [&](int64_t, int64_t xa, int64_t xb) {
        std::fill(row.begin() + (xa - x0), row.begin() + (xb - x0), 1);
      });
      flush(cur_y);
    }
  }
  if (!apply) st.X[i] = ox, st.Y[i] = oy;
  *d_inter = di;
  *d_union = du;
  if (apply) st.inter += di, st.uni += du;
}

// The up to `max_n` largest 4-connected regions of pixels equal to `value` (largest first); with
// skip_border, regions touching the frame border are left out (so value 0 gives the holes).
std::vector<Mask> regions_of(const Mask& m, uint8_t value, bool skip_border, size_t max_n) {
  std::vector<int32_t> label(m.data.size(), -1);
  std::vector<std::pair<int64_t, int32_t>> sizes;  // (area, label)
  std::vector<int64_t> stack;
  int32_t n_labels = 0;
  for (int64_t start = 0; start < static_cast<int64_t>(m.data.size()); ++start) {
    if ((m.data[start] != 0) != (value != 0) || label[start] >= 0) continue;
    const int32_t lab = n_labels++;
    int64_t count = 0;
    bool border = false;
    stack.push_back(start);
    label[start] = lab;
    while (!stack.empty()) {
      int64_t p = stack.back();
      stack.pop_back();
      ++count;
      int64_t y = p / m.w, x = p % m.w;
      border = border || y == 0 || x == 0 || y == m.h - 1 || x == m.w - 1;
      const int64_t nb[4][2] = {{y - 1, x}, {y + 1, x}, {y, x - 1}, {y, x + 1}};
      for (const auto& q : nb) {
        if (q[0] < 0 || q[1] < 0 || q[0] >= m.h || q[1] >= m.w) continue;
        int64_t qi = q[0] * m.w + q[1];
        if ((m.data[qi] != 0) == (value != 0) && label[qi] < 0) label[qi] = lab, stack.push_back(qi);
      }
    }
    if (!(skip_border && border)) sizes.emplace_back(count, lab);
  }
  std::stable_sort(sizes.begin(), sizes.end(), [](auto& a, auto& b) { return a.first > b.first; });
  if (sizes.size() > max_n) sizes.resize(max_n);
  std::vector<Mask> out;
  for (auto& [count, lab] : sizes) {
    Mask r(m.h, m.w);
    for (size_t i = 0; i < r.data.size(); ++i) r.data[i] = label[i] == lab;
    out.push_back(std::move(r));
  }
  return out;
}

// Outer crack contour of a 4-connected component, as corner points (pixel edges), clockwise on
// screen (interior on the right). Consecutive collinear points are merged.
std::vector<std::pair<int64_t, int64_t>> outer_contour(const Mask& c) {
  auto in = [&](int64_t y, int64_t x) { return y >= 0 && x >= 0 && y < c.h && x < c.w && c.at(y, x); };
  int64_t sy = -1, sx = -1;
  for (int64_t i = 0; i < static_cast<int64_t>(c.data.size()) && sy < 0; ++i)
    if (c.data[i]) sy = i / c.w, sx = i % c.w;
  std::vector<std::pair<int64_t, int64_t>> pts;
  if (sy < 0) return pts;
  // directions: 0 east, 1 south, 2 west, 3 north (screen coordinates, y down)
  const int64_t DX[4] = {1, 0, -1, 0}, DY[4] = {0, 1, 0, -1};
  // Is there a boundary edge leaving corner (x, y) in direction d (interior on its right)?
  auto edge = [&](int64_t x, int64_t y, int d) {
    switch (d) {
      case 0: return in(y, x) && !in(y - 1, x);          // top side of pixel (x, y)
      case 1: return in(y, x - 1) && !in(y, x);          // right side of pixel (x-1, y)
      case 2: return in(y - 1, x - 1) && !in(y, x - 1);  // bottom side of pixel (x-1, y-1)
      default: return in(y - 1, x) && !in(y - 1, x - 1); // left side of pixel (x, y-1)
    }
  };
  int64_t x = sx, y = sy;
  int d = 0;  // the top edge of the top-left pixel, going east
  const int64_t x_start = x, y_start = y;
  const size_t limit = 4 * c.data.size() + 8;
  for (size_t steps = 0; steps < limit; ++steps) {
    pts.emplace_back(x, y);
    x += DX[d], y += DY[d];
    if (x == x_start && y == y_start) break;
    for (int turn : {1, 0, 3}) {  // right, straight, left: hug the interior (4-connectivity)
      int nd = (d + turn) % 4;
      if (edge(x, y, nd)) {
        d = nd;
        break;
      }
    }
  }
  // merge collinear runs
  std::vector<std::pair<int64_t, int64_t>> corners;
  const size_t n = pts.size();
  for (size_t i = 0; i < n; ++i) {
    auto a = pts[(i + n - 1) % n], b = pts[i], cc = pts[(i + 1) % n];
    int64_t cross = (b.first - a.first) * (cc.second - b.second) - (b.second - a.second) * (cc.first - b.first);
    if (cross != 0) corners.push_back(b);
  }
  return corners;
}

using Pt = std::pair<double, double>;

// Visvalingam-Whyatt over several closed contours at once: drop the point whose triangle with
// its neighbours is smallest (keeping >= 3 points per contour) until `total` points remain.
std::vector<std::vector<Pt>> simplify_all(const std::vector<std::vector<std::pair<int64_t, int64_t>>>& contours,
                                          size_t total) {
  std::vector<Pt> pts;
  std::vector<size_t> owner, prev, next;
  std::vector<size_t> alive_in(contours.size(), 0);
  for (size_t c = 0; c < contours.size(); ++c) {
    const size_t base = pts.size(), n = contours[c].size();
    for (size_t i = 0; i < n; ++i) {
      pts.emplace_back(static_cast<double>(contours[c][i].first), static_cast<double>(contours[c][i].second));
      owner.push_back(c);
      prev.push_back(base + (i + n - 1) % n);
      next.push_back(base + (i + 1) % n);
    }
    alive_in[c] = n;
  }
  std::vector<int> version(pts.size(), 0);
  std::vector<uint8_t> alive(pts.size(), 1);
  auto area = [&](size_t i) {
    const Pt &a = pts[prev[i]], &b = pts[i], &c = pts[next[i]];
    return std::fabs((b.first - a.first) * (c.second - a.second) - (b.second - a.second) * (c.first - a.first));
  };
  using Item = std::tuple<double, size_t, int>;  // area, index, version
  std::priority_queue<Item, std::vector<Item>, std::greater<Item>> heap;
  for (size_t i = 0; i < pts.size(); ++i) heap.emplace(area(i), i, 0);
  size_t remaining = pts.size();
  while (remaining > total && !heap.empty()) {
    auto [a, i, ver] = heap.top();
    heap.pop();
    if (!alive[i] || ver != version[i] || alive_in[owner[i]] <= 3) continue;
    alive[i] = 0;
    --remaining;
    --alive_in[owner[i]];
    const size_t p = prev[i], q = next[i];
    next[p] = q, prev[q] = p;
    heap.emplace(area(p), p, ++version[p]);
    heap.emplace(area(q), q, ++version[q]);
  }
  std::vector<std::vector<Pt>> out(contours.size());
  for (size_t i = 0; i < pts.size(); ++i)
    if (alive[i]) out[owner[i]].push_back(pts[i]);
  return out;
}

// One closed polygon from several: each further ring is spliced in at its nearest vertex pair
// through a zero-width bridge (A_i, B_j, ..., B_j, A_i), which the even-odd fill never shows; a
// ring inside another (a hole) is subtracted by the same rule. Costs 2 vertices per ring.
std::vector<Pt> bridge_rings(const std::vector<std::vector<Pt>>& rings) {
  std::vector<Pt> out = rings[0];
  for (size_t r = 1; r < rings.size(); ++r) {
    const auto& ring = rings[r];
    size_t bi = 0, bj = 0;
    double best = 1e300;
    for (size_t i = 0; i < out.size(); ++i)
      for (size_t j = 0; j < ring.size(); ++j) {
        double d = std::hypot(out[i].first - ring[j].first, out[i].second - ring[j].second);
        if (d < best) best = d, bi = i, bj = j;
      }
    std::vector<Pt> splice;
    for (size_t k = 0; k <= ring.size(); ++k) splice.push_back(ring[(bj + k) % ring.size()]);
    splice.push_back(out[bi]);
    out.insert(out.begin() + bi + 1, splice.begin(), splice.end());
  }
  return out;
}

// Splits the longest edges until the polygon has v vertices.
void pad_vertices(std::vector<Pt>& pts, size_t v) {
  while (!pts.empty() && pts.size() < v) {
    size_t best = 0;
    double best_len = -1;
    for (size_t i = 0; i < pts.size(); ++i) {
      const Pt &a = pts[i], &b = pts[(i + 1) % pts.size()];
      double len = std::hypot(b.first - a.first, b.second - a.second);
      if (len > best_len) best_len = len, best = i;
    }
    const Pt a = pts[best], b = pts[(best + 1) % pts.size()];
    pts.insert(pts.begin() + best + 1, {(a.first + b.first) / 2, (a.second + b.second) / 2});
  }
}

Polygon quantize(const std::vector<Pt>& pts, int64_t h, int64_t w) {
  Polygon poly;
  for (const Pt& p : pts) {
    poly.qx.push_back(static_cast<int>(std::clamp<long>(std::lround(p.first * 255.0 / w), 0, 255)));
    poly.qy.push_back(static_cast<int>(std::clamp<long>(std::lround(p.second * 255.0 / h), 0, 255)));
  }
  return poly;
}

int64_t count_inter(const Mask& a, const Mask& b) {
  int64_t n = 0;
  for (size_t i = 0; i < a.data.size(); ++i) n += a.data[i] && b.data[i];
  return n;
}

// Moves single vertices by 8, 4, 2, 1 grid steps (8 directions, first improvement) while IoU
// improves. Returns the final IoU.
double local_search(Polygon& poly, const Mask& mask) {
  PolyState st;
  st.target = &mask;
  st.h = mask.h, st.w = mask.w;
  set_coords(st, poly);
  st.raster = rasterize(poly, mask.h, mask.w);
  st.inter = count_inter(st.raster, mask);
  st.uni = mask.area() + st.raster.area() - st.inter;
  const int dirs[8][2] = {{1, 0}, {-1, 0}, {0, 1}, {0, -1}, {1, 1}, {1, -1}, {-1, 1}, {-1, -1}};
  const size_t v = poly.qx.size();
  // Moves vertex i to (nx, ny) on the 256 grid if that raises the IoU.
  auto try_move = [&](size_t i, int nx, int ny) {
    if (nx < 0 || ny < 0 || nx > 255 || ny > 255) return false;
    int64_t di = 0, du = 0;
    move_delta(st, i, coord(nx, mask.w), coord(ny, mask.h), &di, &du, /*apply=*/false);
    if (!(iou_of(st.inter + di, st.uni + du) > iou_of(st.inter, st.uni) + 1e-12)) return false;
    move_delta(st, i, coord(nx, mask.w), coord(ny, mask.h), &di, &du, /*apply=*/true);
    poly.qx[i] = nx, poly.qy[i] = ny;
    return true;
  };
  for (int step : {8, 4, 2, 1}) {
    for (int pass = 0; pass < 12; ++pass) {
      bool improved = false;
      for (size_t i = 0; i < v; ++i) {
        for (const auto& d : dirs) improved |= try_move(i, poly.qx[i] + d[0] * step, poly.qy[i] + d[1] * step);
      }
      if (!improved) break;
    }
  }
  // then every move within a 5 x 5 neighbourhood (reaches knight moves the steps above skip)
  for (int pass = 0; pass < 6; ++pass) {
    bool improved = false;
    for (size_t i = 0; i < v; ++i)
      for (int dy = -2; dy <= 2; ++dy)
        for (int dx = -2; dx <= 2; ++dx)
          if (dx != 0 || dy != 0) improved |= try_move(i, poly.qx[i] + dx, poly.qy[i] + dy);
    if (!improved) break;
  }
  return iou_of(st.inter, st.uni);
}

}  // namespace

// ---------------------------------------------------------------------------------------------

CodecResult encode_decode_bitmap(const Mask& mask, int bits) {
  check_mask(mask, bits);
  int k = static_cast<int>(std::sqrt(static_cast<double>(bits)));
  while ((k + 1) * (k + 1) <= bits) ++k;
  while (k * k > bits) --k;
  std::vector<int> cx = nearest_cells(k, mask.w), cy = nearest_cells(k, mask.h);
  std::vector<int64_t> ones(static_cast<size_t>(k * k), 0), total(static_cast<size_t>(k * k), 0);
  for (int64_t y = 0; y < mask.h; ++y)
    for (int64_t x = 0; x < mask.w; ++x) {
      size_t c = static_cast<size_t>(cy[y] * k + cx[x]);
      ++total[c];
      ones[c] += mask.at(y, x) != 0;
    }
  int64_t area = std::accumulate(ones.begin(), ones.end(), int64_t{0}), inter = 0, uni = 0;
  std::vector<uint8_t> sel = best_cells(ones, total, area, &inter, &uni);
  Mask grid(k, k);
  grid.data = sel;
  return {io::resize_u8(grid, mask.h, mask.w, io::Resample::kNearest), k * k};
}

CodecResult encode_decode_box(const Mask& mask, int bits) {
  check_mask(mask, bits);
  int b = std::min(bits / 4, ceil_log2(std::max(mask.h, mask.w)));
  if (b < 1) return {Mask(mask.h, mask.w), 0};  // nothing fits: the empty mask, for free
  Sat sat(mask);
  double iou = 0;
  QBox box = best_box(mask, sat, b, &iou);
  return {fill_box(mask.h, mask.w, to_pixels(box, mask.h, mask.w)), 4 * b};
}

CodecResult encode_decode_boxgrid(const Mask& mask, int bits) {
  check_mask(mask, bits);
  Sat sat(mask);
  const int64_t area = sat.total();
  const int b_max = std::min(8, ceil_log2(std::max(mask.h, mask.w)));
  // Header: which b (1..n) and which box (outward-rounded: covers the object; or IoU-optimised:
  // tighter, loses what sticks out): the smallest h with 2 n(h) <= 2^h, n(h) = min(b_max,
  // (bits - h) / 4).
  int h = 0, n_opt = 0;
  for (;; ++h) {
    n_opt = std::min(b_max, (bits - h) / 4);
    if (n_opt <= 0 || 2 * n_opt <= (1 << h)) break;
  }
  if (n_opt <= 0 || area == 0) return encode_decode_box(mask, bits);
  CodecResult best;
  double best_iou = -1;
  for (int b = 1; b <= n_opt; ++b) {
    const int rest = bits - h - 4 * b;
    int g = static_cast<int>(std::sqrt(static_cast<double>(rest)));
    while ((g + 1) * (g + 1) <= rest) ++g;
    while (g * g > rest) --g;
    double opt_iou = 0;
    const QBox opt_box = best_box(mask, sat, b, &opt_iou);
    if (g <= 1) {  // no room for a grid: the IoU-optimised box
      if (opt_iou > best_iou + 1e-12) {
        best_iou = opt_iou;
        best = {fill_box(mask.h, mask.w, to_pixels(opt_box, mask.h, mask.w)), h + 4 * b};
      }
      continue;
    }
    for (int variant = 0; variant < 2; ++variant) {
      QBox box = opt_box;
      if (variant == 0) outward_box(mask, int64_t{1} << b, &box);
      PixBox p = to_pixels(box, mask.h, mask.w);
      const int64_t bw = p.x1 - p.x0, bh = p.y1 - p.y0;
      if (bw <= 0 || bh <= 0) continue;
      std::vector<int> cx = nearest_cells(g, bw), cy = nearest_cells(g, bh);
      std::vector<int64_t> ones(static_cast<size_t>(g * g), 0), total(static_cast<size_t>(g * g), 0);
      for (int64_t y = 0; y < bh; ++y)
        for (int64_t x = 0; x < bw; ++x) {
          size_t c = static_cast<size_t>(cy[y] * g + cx[x]);
          ++total[c];
          ones[c] += mask.at(p.y0 + y, p.x0 + x) != 0;
        }
      int64_t inter = 0, uni = 0;
      std::vector<uint8_t> sel = best_cells(ones, total, area, &inter, &uni);
      const double iou = iou_of(inter, uni);
      if (iou <= best_iou + 1e-12) continue;
      Mask grid(g, g);
      grid.data = sel;
      Mask up = io::resize_u8(grid, bh, bw, io::Resample::kNearest);
      best = {Mask(mask.h, mask.w), h + 4 * b + g * g};
      best_iou = iou;
      for (int64_t y = 0; y < bh; ++y)
        std::copy(up.data.begin() + y * bw, up.data.begin() + (y + 1) * bw,
                  best.decoded.data.begin() + (p.y0 + y) * mask.w + p.x0);
    }
  }
  return best;
}

CodecResult encode_decode_polygon(const Mask& mask, int bits) {
  check_mask(mask, bits);
  const size_t v = static_cast<size_t>(bits / 16);
  if (v < 3) return encode_decode_box(mask, bits);
  const int bits_used = static_cast<int>(16 * v);
  std::vector<Mask> comps = regions_of(mask, 1, false, 4);
  if (comps.empty()) return {Mask(mask.h, mask.w), bits_used};  // all vertices at one point
  std::vector<Mask> holes = regions_of(comps[0], 0, true, 2);   // holes of the largest part
  std::vector<std::vector<std::pair<int64_t, int64_t>>> comp_rings, hole_rings;
  for (const Mask& c : comps) comp_rings.push_back(outer_contour(c));
  for (const Mask& h : holes) hole_rings.push_back(outer_contour(h));
  const int64_t area = mask.area();

  // Candidates: the n_c largest parts and the n_h largest holes of the largest part, each ring
  // with >= 3 vertices plus 2 per bridge; ranked by IoU before the search, best two searched.
  struct Candidate {
    Polygon poly;
    double iou;
  };
  std::vector<Candidate> cands;
  for (size_t nc = 1; nc <= comp_rings.size(); ++nc) {
    for (size_t nh = 0; nh <= hole_rings.size(); ++nh) {
      const size_t rings = nc + nh;
      if (5 * rings - 2 > v) continue;
      std::vector<std::vector<std::pair<int64_t, int64_t>>> sel(comp_rings.begin(), comp_rings.begin() + nc);
      sel.insert(sel.end(), hole_rings.begin(), hole_rings.begin() + nh);
      std::vector<Pt> pts = bridge_rings(simplify_all(sel, v - 2 * (rings - 1)));
      pad_vertices(pts, v);
      Candidate c{quantize(pts, mask.h, mask.w), 0};
      Mask r = rasterize(c.poly, mask.h, mask.w);
      int64_t inter = count_inter(r, mask);
      c.iou = iou_of(inter, area + r.area() - inter);
      cands.push_back(std::move(c));
    }
  }
  std::stable_sort(cands.begin(), cands.end(), [](const Candidate& a, const Candidate& b) { return a.iou > b.iou; });
  if (cands.size() > 2) cands.resize(2);
  {  // and the IoU-optimal 8-bit box as a 4-vertex polygon (padded), so that V >= 4 never does
     // much worse than the box codec (scattered parts, shapes where the contour start is poor)
    Sat sat(mask);
    double unused = 0;
    PixBox p = to_pixels(best_box(mask, sat, 8, &unused), mask.h, mask.w);
    std::vector<Pt> pts = {{static_cast<double>(p.x0), static_cast<double>(p.y0)},
                           {static_cast<double>(p.x1), static_cast<double>(p.y0)},
                           {static_cast<double>(p.x1), static_cast<double>(p.y1)},
                           {static_cast<double>(p.x0), static_cast<double>(p.y1)}};
    if (v >= 4) {
      pad_vertices(pts, v);
      cands.push_back({quantize(pts, mask.h, mask.w), 0});
    }
  }
  for (Candidate& c : cands) c.iou = local_search(c.poly, mask);
  size_t best_i = 0;
  for (size_t i = 1; i < cands.size(); ++i)
    if (cands[i].iou > cands[best_i].iou + 1e-12) best_i = i;
  const Candidate& best = cands[best_i];
  // The decoder's view: rasterise from the 8-bit code alone.
  return {rasterize(best.poly, mask.h, mask.w), bits_used};
}

std::vector<std::string> codec_names() { return {"bitmap", "box", "boxgrid", "polygon"}; }

CodecResult run_codec(const std::string& name, const Mask& mask, int bits) {
  if (name == "bitmap") return encode_decode_bitmap(mask, bits);
  if (name == "box") return encode_decode_box(mask, bits);
  if (name == "boxgrid") return encode_decode_boxgrid(mask, bits);
  if (name == "polygon") return encode_decode_polygon(mask, bits);
  throw InputError(str_cat("codec '", name, "': unknown; expected bitmap, box, boxgrid or polygon"));
}

}  // namespace himtok::eval
