// COCO run-length masks, following common/maskApi.c (pycocotools 2.0.11) function by function.
// Each function names its maskApi counterpart; integer widths follow maskApi (uint = uint32,
// int for polygon coordinates) so that rounding and wrap-around are the same.
#include "io/rle.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>

#include "common/error.h"
#include "io/limits.h"

namespace himtok::io {

namespace {

constexpr uint64_t kMaxPixels = std::numeric_limits<uint32_t>::max();

uint64_t n_pixels(const Rle& r) { return static_cast<uint64_t>(r.h) * static_cast<uint64_t>(r.w); }

uint64_t counts_sum(const std::vector<uint32_t>& counts) {
  uint64_t s = 0;
  for (uint32_t c : counts) s += c;
  return s;
}

void check_size(int64_t h, int64_t w, const std::string& what) {
  HIMTOK_CHECK_INPUT(h >= 0 && w >= 0, what, ": size [", h, ", ", w, "], expected non-negative height and width");
  HIMTOK_CHECK_INPUT(static_cast<uint64_t>(h) * static_cast<uint64_t>(w) <= kMaxPixels, what, ": size [", h, ", ", w,
                     "] has more than 2^32-1 pixels");
}

// The runs with a short tail completed by background, and at least one run, so that the
// merge / IoU walks of maskApi terminate (see rle.h).
std::vector<uint32_t> padded_counts(const Rle& r) {
  std::vector<uint32_t> c = r.counts;
  uint64_t sum = counts_sum(c), total = n_pixels(r);
  if (sum < total) {
    uint32_t rest = static_cast<uint32_t>(total - sum);
    if (c.size() % 2 == 1)
      c.back() += rest;  // the last run is background
    else
      c.push_back(rest);
  }
  if (c.empty()) c.push_back(0);
  return c;
}

}  // namespace

void rle_check(const Rle& rle, const std::string& what) {
  check_size(rle.h, rle.w, what);
  uint64_t sum = counts_sum(rle.counts), total = n_pixels(rle);
  HIMTOK_CHECK_INPUT(sum <= total, what, ": counts sum to ", sum, ", expected at most h*w = ", total, " (size [", rle.h,
                     ", ", rle.w, "])");
}

// ---------------------------------------------------------------------------------------------
// rleEncode / rleDecode

Rle rle_encode(const Mask& mask) {
  check_size(mask.h, mask.w, "mask");
  HIMTOK_CHECK_INPUT(mask.data.size() == static_cast<size_t>(mask.h * mask.w), "mask: ", mask.data.size(),
                     " bytes, expected h*w = ", mask.h * mask.w);
  Rle r;
  r.h = mask.h;
  r.w = mask.w;
  uint8_t p = 0;
  uint32_t c = 0;
  for (int64_t x = 0; x < mask.w; ++x) {
    for (int64_t y = 0; y < mask.h; ++y) {
      uint8_t v = mask.data[static_cast<size_t>(y * mask.w + x)] != 0;
      if (v != p) {
        r.counts.push_back(c);
        c = 0;
        p = v;
      }
      ++c;
    }
  }
  r.counts.push_back(c);
  return r;
}

Mask rle_decode(const Rle& rle) {
  rle_check(rle, "RLE");
  check_pixel_budget(rle.h, rle.w, "RLE");  // maskApi's 2^32 pixels would be a 4 GiB mask
  Mask m(rle.h, rle.w, 0);
  uint64_t pos = 0;  // column-major pixel index
  const uint64_t h = static_cast<uint64_t>(rle.h);
  for (size_t j = 0; j < rle.counts.size(); ++j) {
    uint64_t n = rle.counts[j];
    if (j % 2 == 1 && n > 0) {
      uint64_t y = pos % h, x = pos / h;
      for (uint64_t k = 0; k < n; ++k) {
        m.data[static_cast<size_t>(y * static_cast<uint64_t>(rle.w) + x)] = 1;
        if (++y == h) {
          y = 0;
          ++x;
        }
      }
    }
    pos += n;
  }
  return m;
}

// ---------------------------------------------------------------------------------------------
// rleToString / rleFrString

std::string rle_to_string(const Rle& rle) {
  std::string s;
  s.reserve(rle.counts.size() * 2);
  for (size_t i = 0; i < rle.counts.size(); ++i) {
    int64_t x = static_cast<int64_t>(rle.counts[i]);
    if (i > 2) x -= static_cast<int64_t>(rle.counts[i - 2]);
    bool more = true;
    while (more) {
      int c = static_cast<int>(x & 0x1f);
      x >>= 5;  // arithmetic shift, as maskApi's `long`
      more = (c & 0x10) ? x != -1 : x != 0;
      if (more) c |= 0x20;
      s.push_back(static_cast<char>(c + 48));
    }
  }
  return s;
}

Rle rle_from_string(const std::string& s, int64_t h, int64_t w) {
  check_size(h, w, "RLE string");
  HIMTOK_CHECK_INPUT(!s.empty(), "RLE string: empty counts, expected at least one run");
  Rle r;
  r.h = h;
  r.w = w;
  const uint64_t total = static_cast<uint64_t>(h) * static_cast<uint64_t>(w);
  uint64_t sum = 0;
  size_t p = 0;
  while (p < s.size()) {
    const size_t start = p;
    int64_t x = 0;
    int k = 0;
    bool more = true;
    while (more) {
      HIMTOK_CHECK_INPUT(p < s.size(), "RLE string: ends inside run ", r.counts.size(), " (at char ", p,
                         "), expected a char without the continuation bit 0x20");
      int c = static_cast<unsigned char>(s[p]) - 48;
      HIMTOK_CHECK_INPUT(c >= 0 && c < 64, "RLE string: char ", p, " is byte ",
                         static_cast<int>(static_cast<unsigned char>(s[p])), ", expected '0'..'o' (48..111)");
      HIMTOK_CHECK_INPUT(k < 7, "RLE string: run ", r.counts.size(), " (from char ", start,
                         ") is longer than 7 chars, expected a 32-bit count");
      x |= static_cast<int64_t>(c & 0x1f) << (5 * k);
      more = (c & 0x20) != 0;
      ++p;
      ++k;
      if (!more && (c & 0x10)) x |= static_cast<int64_t>(-1) * (int64_t{1} << (5 * k));  // sign-extend
    }
    const size_t m = r.counts.size();
    if (m > 2) x += static_cast<int64_t>(r.counts[m - 2]);
    HIMTOK_CHECK_INPUT(x >= 0 && x <= static_cast<int64_t>(kMaxPixels), "RLE string: run ", m, " (from char ", start,
                       ") decodes to ", x, ", expected 0..2^32-1");
    sum += static_cast<uint64_t>(x);
    HIMTOK_CHECK_INPUT(sum <= total, "RLE string: counts sum to more than h*w = ", total, " at run ", m,
                       " (size [", h, ", ", w, "])");
    r.counts.push_back(static_cast<uint32_t>(x));
  }
  return r;
}

// ---------------------------------------------------------------------------------------------
// rleArea / rleToBbox

uint64_t rle_area(const Rle& rle) {
  uint64_t a = 0;
  for (size_t j = 1; j < rle.counts.size(); j += 2) a += rle.counts[j];
  return a;
}

Bbox rle_to_bbox(const Rle& rle) {
  if (rle.h <= 0 || rle.w <= 0) return {0, 0, 0, 0};
  const uint32_t h = static_cast<uint32_t>(rle.h), w = static_cast<uint32_t>(rle.w);
  const size_t m = rle.counts.size() / 2 * 2;
  uint32_t xs = w, ys = h, xe = 0, ye = 0, cc = 0;
  bool any = false;
  if (m == 0) return {0, 0, 0, 0};
  for (size_t j = 0; j < m; ++j) {
    uint32_t start = cc;  // start of the current run
    cc += rle.counts[j];  // start of the next run
    if (j % 2 == 0) continue;              // background run
    if (rle.counts[j] == 0) continue;      // zero-length foreground run
    any = true;
    uint32_t y_start = start % h, x_start = (start - y_start) / h;
    uint32_t y_end = (cc - 1) % h, x_end = (cc - 1 - y_end) / h;
    xs = std::min(xs, x_start);
    xe = std::max(xe, x_end);
    if (x_start < x_end) {
      ys = 0;  // the run crosses a column: every row is covered
      ye = h - 1;
    } else {
      ys = std::min(ys, y_start);
      ye = std::max(ye, y_end);
    }
  }
  if (!any) return {0, 0, 0, 0};  // maskApi wraps around here (see rle.h)
  return {static_cast<double>(xs), static_cast<double>(ys), static_cast<double>(xe - xs + 1),
          static_cast<double>(ye - ys + 1)};
}

// ---------------------------------------------------------------------------------------------
// rleFrPoly / rleFrBbox

Rle rle_from_poly(const std::vector<double>& xy, int64_t h, int64_t w) {
  check_size(h, w, "polygon");
  HIMTOK_CHECK_INPUT(xy.size() >= 2 && xy.size() % 2 == 0, "polygon: ", xy.size(),
                     " coordinates, expected an even number >= 2 (x0, y0, x1, y1, ...)");
  for (size_t i = 0; i < xy.size(); ++i)
    HIMTOK_CHECK_INPUT(std::isfinite(xy[i]) && std::fabs(xy[i]) <= 1e6, "polygon: coordinate ", i, " is ", xy[i],
                       ", expected a finite value within +-1e6");
  const size_t k = xy.size() / 2;
  const double scale = 5;
  // Upsample and get discrete points densely along the entire boundary.
  std::vector<int> x(k + 1), y(k + 1);
  for (size_t j = 0; j < k; ++j) x[j] = static_cast<int>(scale * xy[j * 2 + 0] + .5);
  x[k] = x[0];
  for (size_t j = 0; j < k; ++j) y[j] = static_cast<int>(scale * xy[j * 2 + 1] + .5);
  y[k] = y[0];
  size_t m = 0;
  for (size_t j = 0; j < k; ++j)
    m += static_cast<size_t>(std::max(std::abs(x[j] - x[j + 1]), std::abs(y[j] - y[j + 1]))) + 1;
  std::vector<int> u(m), v(m);
  m = 0;
  for (size_t j = 0; j < k; ++j) {
    int xs = x[j], xe = x[j + 1], ys = y[j], ye = y[j + 1];
    const int dx = std::abs(xe - xs), dy = std::abs(ys - ye);
    const bool flip = (dx >= dy && xs > xe) || (dx < dy && ys > ye);
    if (flip) {
      std::swap(xs, xe);
      std::swap(ys, ye);
    }
    if (dx == 0 && dy == 0) {
      // maskApi computes (int)(ys + NaN*0 + .5) here, which is INT_MIN on x86-64. That value is
      // only read when the previous point has another x; we store it without the undefined cast.
      u[m] = xs;
      v[m] = std::numeric_limits<int>::min();
      ++m;
      continue;
    }
    const double s = dx >= dy ? static_cast<double>(ye - ys) / dx : static_cast<double>(xe - xs) / dy;
    if (dx >= dy) {
      for (int d = 0; d <= dx; ++d) {
        int t = flip ? dx - d : d;
        u[m] = t + xs;
        v[m] = static_cast<int>(ys + s * t + .5);
        ++m;
      }
    } else {
      for (int d = 0; d <= dy; ++d) {
        int t = flip ? dy - d : d;
        v[m] = t + ys;
        u[m] = static_cast<int>(xs + s * t + .5);
        ++m;
      }
    }
  }
  // Get points along the y-boundary and downsample.
  const size_t n_up = m;
  std::vector<int> bx, by;
  bx.reserve(n_up);
  by.reserve(n_up);
  const double w_minus_1 = static_cast<double>(static_cast<uint64_t>(w) - 1);  // maskApi: siz arithmetic
  for (size_t j = 1; j < n_up; ++j) {
    if (u[j] == u[j - 1]) continue;
    double xd = static_cast<double>(u[j] < u[j - 1] ? u[j] : u[j] - 1);
    xd = (xd + .5) / scale - .5;
    if (std::floor(xd) != xd || xd < 0 || xd > w_minus_1) continue;
    double yd = static_cast<double>(v[j] < v[j - 1] ? v[j] : v[j - 1]);
    yd = (yd + .5) / scale - .5;
    if (yd < 0)
      yd = 0;
    else if (yd > static_cast<double>(h))
      yd = static_cast<double>(h);
    yd = std::ceil(yd);
    bx.push_back(static_cast<int>(xd));
    by.push_back(static_cast<int>(yd));
  }
  // Compute the RLE from the y-boundary points.
  std::vector<uint32_t> a(bx.size() + 1);
  for (size_t j = 0; j < bx.size(); ++j)
    a[j] = static_cast<uint32_t>(static_cast<int64_t>(bx[j]) * h + by[j]);
  a[bx.size()] = static_cast<uint32_t>(h * w);
  std::sort(a.begin(), a.end());
  uint32_t p = 0;
  for (uint32_t& t : a) {
    uint32_t cur = t;
    t -= p;
    p = cur;
  }
  Rle r;
  r.h = h;
  r.w = w;
  size_t j = 0;
  r.counts.push_back(a[j++]);
  while (j < a.size()) {
    if (a[j] > 0) {
      r.counts.push_back(a[j++]);
    } else {
      ++j;
      if (j < a.size()) r.counts.back() += a[j++];
    }
  }
  return r;
}

Rle rle_from_bbox(const Bbox& bb, int64_t h, int64_t w) {
  const double xs = bb[0], xe = xs + bb[2];
  const double ys = bb[1], ye = ys + bb[3];
  return rle_from_poly({xs, ys, xs, ye, xe, ye, xe, ys}, h, w);
}

// ---------------------------------------------------------------------------------------------
// rleMerge

namespace {

// The walk that pycocotools' rleMerge and rleIou share: two run-length encodings of the same area
// (counts starting with a 0-run), consumed run by run; va/vb are the values of the current runs.
struct RunWalk {
  const std::vector<uint32_t>& A;
  const std::vector<uint32_t>& B;
  uint32_t ca, cb;
  bool va = false, vb = false;
  size_t a = 1, b = 1;
  RunWalk(const std::vector<uint32_t>& a_, const std::vector<uint32_t>& b_) : A(a_), B(b_), ca(a_[0]), cb(b_[0]) {}
  uint32_t run() const { return std::min(ca, cb); }  // the length both current runs share
  // Consumes c pixels of both; returns what remains of the current runs (0 at the end).
  uint64_t advance(uint32_t c) {
    ca -= c;
    if (!ca && a < A.size()) {
      ca = A[a++];
      va = !va;
    }
    cb -= c;
    if (!cb && b < B.size()) {
      cb = B[b++];
      vb = !vb;
    }
    return uint64_t{ca} + cb;
  }
};

}  // namespace

Rle rle_merge(const std::vector<Rle>& rles, bool intersect) {
  if (rles.empty()) return Rle{};
  for (size_t i = 0; i < rles.size(); ++i) {
    rle_check(rles[i], str_cat("merge: mask ", i));
    HIMTOK_CHECK_INPUT(rles[i].h == rles[0].h && rles[i].w == rles[0].w, "merge: mask ", i, " has size [", rles[i].h,
                       ", ", rles[i].w, "], expected [", rles[0].h, ", ", rles[0].w, "] as mask 0");
  }
  if (rles.size() == 1) return rles[0];
  std::vector<uint32_t> cnts = padded_counts(rles[0]);
  std::vector<uint32_t> out;
  for (size_t i = 1; i < rles.size(); ++i) {
    const std::vector<uint32_t> A = cnts;
    const std::vector<uint32_t> B = padded_counts(rles[i]);
    RunWalk w(A, B);
    uint32_t cc = 0;
    bool v = false;
    out.clear();
    for (uint64_t ct = 1; ct > 0;) {
      const uint32_t c = w.run();
      cc += c;
      ct = w.advance(c);
      const bool vp = v;
      v = intersect ? (w.va && w.vb) : (w.va || w.vb);
      if (v != vp || ct == 0) {
        out.push_back(cc);
        cc = 0;
      }
    }
    cnts = out;
  }
  Rle r;
  r.h = rles[0].h;
  r.w = rles[0].w;
  r.counts = std::move(cnts);
  return r;
}

// ---------------------------------------------------------------------------------------------
// bbIou / rleIou

std::vector<double> bbox_iou(const std::vector<Bbox>& dt, const std::vector<Bbox>& gt,
                             const std::vector<uint8_t>& iscrowd) {
  const size_t m = dt.size(), n = gt.size();
  HIMTOK_CHECK_INPUT(iscrowd.empty() || iscrowd.size() == n, "box IoU: ", iscrowd.size(),
                     " iscrowd flags, expected one per ground truth (", n, ")");
  std::vector<double> o(m * n, 0.0);
  for (size_t g = 0; g < n; ++g) {
    const Bbox& G = gt[g];
    const double ga = G[2] * G[3];
    const bool crowd = !iscrowd.empty() && iscrowd[g];
    for (size_t d = 0; d < m; ++d) {
      const Bbox& D = dt[d];
      const double da = D[2] * D[3];
      const double w = std::fmin(D[2] + D[0], G[2] + G[0]) - std::fmax(D[0], G[0]);
      if (w <= 0) continue;
      const double h = std::fmin(D[3] + D[1], G[3] + G[1]) - std::fmax(D[1], G[1]);
      if (h <= 0) continue;
      const double i = w * h, u = crowd ? da : da + ga - i;
      o[d * n + g] = i / u;
    }
  }
  return o;
}

namespace {

// The exact walk of rleIou for one pair whose boxes overlap.
double rle_iou_pair(const std::vector<uint32_t>& A, const std::vector<uint32_t>& B, bool crowd, uint64_t area_dt) {
  RunWalk w(A, B);
  uint64_t i = 0, u = 0;
  for (uint64_t ct = 1; ct > 0;) {
    const uint32_t c = w.run();
    if (w.va || w.vb) {
      u += c;
      if (w.va && w.vb) i += c;
    }
    ct = w.advance(c);
  }
  if (i == 0)
    u = 1;
  else if (crowd)
    u = area_dt;
  return static_cast<double>(i) / static_cast<double>(u);
}

}  // namespace

std::vector<double> rle_iou(const std::vector<Rle>& dt, const std::vector<Rle>& gt,
                            const std::vector<uint8_t>& iscrowd) {
  const size_t m = dt.size(), n = gt.size();
  HIMTOK_CHECK_INPUT(iscrowd.empty() || iscrowd.size() == n, "mask IoU: ", iscrowd.size(),
                     " iscrowd flags, expected one per ground truth (", n, ")");
  std::vector<Bbox> db(m), gb(n);
  std::vector<std::vector<uint32_t>> dc(m), gc(n);
  for (size_t d = 0; d < m; ++d) {
    rle_check(dt[d], str_cat("mask IoU: detection ", d));
    db[d] = rle_to_bbox(dt[d]);
    dc[d] = padded_counts(dt[d]);
  }
  for (size_t g = 0; g < n; ++g) {
    rle_check(gt[g], str_cat("mask IoU: ground truth ", g));
    gb[g] = rle_to_bbox(gt[g]);
    gc[g] = padded_counts(gt[g]);
  }
  for (size_t g = 0; g < n; ++g)
    for (size_t d = 0; d < m; ++d)
      HIMTOK_CHECK_INPUT(dt[d].h == gt[g].h && dt[d].w == gt[g].w, "mask IoU: detection ", d, " has size [", dt[d].h,
                         ", ", dt[d].w, "], ground truth ", g, " has [", gt[g].h, ", ", gt[g].w, "]");
  std::vector<double> o = bbox_iou(db, gb, iscrowd);
  for (size_t g = 0; g < n; ++g) {
    for (size_t d = 0; d < m; ++d) {
      if (!(o[d * n + g] > 0)) continue;  // disjoint boxes: IoU 0, as maskApi
      const bool crowd = !iscrowd.empty() && iscrowd[g];
      o[d * n + g] = rle_iou_pair(dc[d], gc[g], crowd, rle_area(dt[d]));
    }
  }
  return o;
}

double rle_iou(const Rle& dt, const Rle& gt, bool iscrowd) {
  return rle_iou(std::vector<Rle>{dt}, std::vector<Rle>{gt}, std::vector<uint8_t>{static_cast<uint8_t>(iscrowd)})[0];
}

}  // namespace himtok::io
