// PIL and PyTorch resizing, reproduced step by step (see resize.h).
//
// PIL (Resample.c): a separable convolution, horizontal pass first (only over the source rows
// that the vertical pass will read), then vertical. For each output index xx the filter centre
// is (xx + 0.5) * scale with scale = in / out; when downscaling the filter is stretched by
// `scale` (support * scale), which is PIL's antialiasing. Coefficients are normalised to sum 1.
// The 8-bit path converts them to fixed point with 22 fractional bits, rounds half away from
// zero, accumulates in int starting at 1 << 21, and clips (sum >> 22) to 0..255; each pass
// writes uint8. The float path keeps double coefficients and sums and stores float32.
// NEAREST goes through Geometry.c's ImagingScaleAffine: source x = (int)xo with
// xo = 0.5 * a, xo += a per column (a = in / out), the same for rows.
#include "io/resize.h"

// Bit-exactness needs the same roundings as the references: no implicit FMA contraction even
// under -march=native (the explicit std::fma below is the one contraction torch makes).
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#include <algorithm>
#include <cmath>
#include <vector>

#include "common/error.h"

namespace himtok::io {

// ---------------------------------------------------------------------------------------------
// PIL filters and coefficients

namespace {

constexpr int kPrecisionBits = 32 - 8 - 2;

double bilinear_filter(double x) {
  if (x < 0.0) x = -x;
  if (x < 1.0) return 1.0 - x;
  return 0.0;
}

double bicubic_filter(double x) {
  constexpr double a = -0.5;
  if (x < 0.0) x = -x;
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

struct Coeffs {
  int ksize = 0;
  std::vector<int> xmin, xcount;  // per output index: first source index, number of taps
  std::vector<double> k;          // out_size x ksize, normalised
};

// Resample.c precompute_coeffs with box = (0, in_size).
Coeffs precompute_coeffs(int64_t in_size, int64_t out_size, Resample filter) {
  double (*fn)(double) = filter == Resample::kBilinear ? bilinear_filter : bicubic_filter;
  const double base_support = filter == Resample::kBilinear ? 1.0 : 2.0;
  const float in0 = 0.f, in1 = static_cast<float>(in_size);
  double scale = static_cast<double>(in1 - in0) / static_cast<double>(out_size);
  double filterscale = scale < 1.0 ? 1.0 : scale;
  double support = base_support * filterscale;
  Coeffs c;
  c.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
  c.xmin.resize(out_size);
  c.xcount.resize(out_size);
  c.k.assign(static_cast<size_t>(out_size * c.ksize), 0.0);
  for (int64_t xx = 0; xx < out_size; ++xx) {
    double center = in0 + (xx + 0.5) * scale;
    double ww = 0.0, ss = 1.0 / filterscale;
    int xmin = static_cast<int>(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int xmax = static_cast<int>(center + support + 0.5);
    if (xmax > in_size) xmax = static_cast<int>(in_size);
    xmax -= xmin;
    double* k = &c.k[static_cast<size_t>(xx * c.ksize)];
    for (int x = 0; x < xmax; ++x) {
      double w = fn((x + xmin - center + 0.5) * ss);
      k[x] = w;
      ww += w;
    }
    for (int x = 0; x < xmax; ++x)
      if (ww != 0.0) k[x] /= ww;
    c.xmin[xx] = xmin;
    c.xcount[xx] = xmax;
  }
  return c;
}

// normalize_coeffs_8bpc: round half away from zero to 22-bit fixed point.
std::vector<int32_t> fixed_coeffs(const Coeffs& c) {
  std::vector<int32_t> kk(c.k.size());
  for (size_t i = 0; i < c.k.size(); ++i) {
    double v = c.k[i] * (1 << kPrecisionBits);
    kk[i] = static_cast<int32_t>(c.k[i] < 0 ? -0.5 + v : 0.5 + v);
  }
  return kk;
}

inline uint8_t clip8(int32_t ss) {
  int32_t v = ss >> kPrecisionBits;  // arithmetic shift: floor
  return static_cast<uint8_t>(v < 0 ? 0 : v > 255 ? 255 : v);
}

// ImagingScaleAffine's source indices for one axis (accumulated like PIL, not recomputed).
std::vector<int> nearest_indices(int64_t in_size, int64_t out_size) {
  double a = static_cast<double>(static_cast<float>(in_size) - 0.f) / static_cast<double>(out_size);
  double xo = 0.0 + a * 0.5;
  std::vector<int> idx(out_size);
  for (int64_t x = 0; x < out_size; ++x) {
    int xin = xo < 0.0 ? -1 : static_cast<int>(xo);
    idx[x] = (xin >= 0 && xin < in_size) ? xin : -1;  // -1: PIL fills 0
    xo += a;
  }
  return idx;
}

void check_sizes(const char* what, int64_t h, int64_t w, size_t n, int64_t out_h, int64_t out_w) {
  HIMTOK_CHECK_INPUT(h > 0 && w > 0 && static_cast<size_t>(h * w) == n, what, ": bad input plane ", h, "x", w,
                     " with ", n, " values");
  HIMTOK_CHECK_INPUT(out_h > 0 && out_w > 0 && out_h < (1 << 24) && out_w < (1 << 24), what,
                     ": bad output size ", out_h, "x", out_w);
}

// The two-pass driver of ImagingResampleInner, for 8-bit (T = uint8_t) or float planes.
template <typename T, typename Pass>
std::vector<T> resample_two_pass(const std::vector<T>& in, int64_t h, int64_t w, int64_t out_h, int64_t out_w,
                                 Resample filter, Pass pass) {
  bool need_h = out_w != w, need_v = out_h != h;
  Coeffs cv = precompute_coeffs(h, out_h, filter);
  int ybox_first = cv.xmin[0];
  int ybox_last = cv.xmin[out_h - 1] + cv.xcount[out_h - 1];
  std::vector<T> cur = in;
  int64_t cur_h = h, cur_w = w;
  if (need_h) {
    Coeffs ch = precompute_coeffs(w, out_w, filter);
    for (auto& v : cv.xmin) v -= ybox_first;
    int64_t th = ybox_last - ybox_first;
    std::vector<T> tmp(static_cast<size_t>(th * out_w));
    // horizontal: tmp[y][xx] = sum_x in[y + ybox_first][xmin + x] * k[x]
    pass(tmp, in, th, out_w, ch, /*horizontal=*/true, ybox_first, w);
    cur.swap(tmp);
    cur_h = th;
    cur_w = out_w;
  }
  if (need_v) {
    std::vector<T> out(static_cast<size_t>(out_h * cur_w));
    pass(out, cur, out_h, cur_w, cv, /*horizontal=*/false, 0, cur_w);
    return out;
  }
  (void)cur_h;
  return cur;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// PIL mode 'L'

Mask resize_u8(const Mask& gray, int64_t out_h, int64_t out_w, Resample filter) {
  check_sizes("resize_u8", gray.h, gray.w, gray.data.size(), out_h, out_w);
  if (out_h == gray.h && out_w == gray.w) return gray;  // Image.resize returns a copy
  Mask out(out_h, out_w);
  if (filter == Resample::kNearest) {
    std::vector<int> xi = nearest_indices(gray.w, out_w), yi = nearest_indices(gray.h, out_h);
    for (int64_t y = 0; y < out_h; ++y) {
      if (yi[y] < 0) continue;
      for (int64_t x = 0; x < out_w; ++x)
        if (xi[x] >= 0) out.at(y, x) = gray.at(yi[y], xi[x]);
    }
    return out;
  }
  auto pass = [](std::vector<uint8_t>& dst, const std::vector<uint8_t>& src, int64_t dh, int64_t dw,
                 const Coeffs& c, bool horizontal, int offset, int64_t src_w) {
    std::vector<int32_t> kk = fixed_coeffs(c);
    for (int64_t yy = 0; yy < dh; ++yy) {
      for (int64_t xx = 0; xx < dw; ++xx) {
        int32_t ss = 1 << (kPrecisionBits - 1);
        if (horizontal) {
          const int32_t* k = &kk[static_cast<size_t>(xx * c.ksize)];
          const uint8_t* row = &src[static_cast<size_t>((yy + offset) * src_w + c.xmin[xx])];
          for (int x = 0; x < c.xcount[xx]; ++x) ss += static_cast<int32_t>(row[x]) * k[x];
        } else {
          const int32_t* k = &kk[static_cast<size_t>(yy * c.ksize)];
          for (int y = 0; y < c.xcount[yy]; ++y)
            ss += static_cast<int32_t>(src[static_cast<size_t>((y + c.xmin[yy]) * src_w + xx)]) * k[y];
        }
        dst[static_cast<size_t>(yy * dw + xx)] = clip8(ss);
      }
    }
  };
  out.data = resample_two_pass<uint8_t>(gray.data, gray.h, gray.w, out_h, out_w, filter, pass);
  return out;
}

// ---------------------------------------------------------------------------------------------
// PIL mode 'F'

FloatMap resize_float(const FloatMap& src, int64_t out_h, int64_t out_w, Resample filter) {
  check_sizes("resize_float", src.h, src.w, src.data.size(), out_h, out_w);
  if (out_h == src.h && out_w == src.w) return src;
  FloatMap out(out_h, out_w);
  if (filter == Resample::kNearest) {
    std::vector<int> xi = nearest_indices(src.w, out_w), yi = nearest_indices(src.h, out_h);
    for (int64_t y = 0; y < out_h; ++y) {
      if (yi[y] < 0) continue;
      for (int64_t x = 0; x < out_w; ++x)
        if (xi[x] >= 0) out.data[static_cast<size_t>(y * out_w + x)] = src.data[static_cast<size_t>(yi[y] * src.w + xi[x])];
    }
    return out;
  }
  auto pass = [](std::vector<float>& dst, const std::vector<float>& in, int64_t dh, int64_t dw, const Coeffs& c,
                 bool horizontal, int offset, int64_t src_w) {
    for (int64_t yy = 0; yy < dh; ++yy) {
      for (int64_t xx = 0; xx < dw; ++xx) {
        double ss = 0.0;
        if (horizontal) {
          const double* k = &c.k[static_cast<size_t>(xx * c.ksize)];
          const float* row = &in[static_cast<size_t>((yy + offset) * src_w + c.xmin[xx])];
          for (int x = 0; x < c.xcount[xx]; ++x) ss += row[x] * k[x];
        } else {
          const double* k = &c.k[static_cast<size_t>(yy * c.ksize)];
          for (int y = 0; y < c.xcount[yy]; ++y) ss += in[static_cast<size_t>((y + c.xmin[yy]) * src_w + xx)] * k[y];
        }
        dst[static_cast<size_t>(yy * dw + xx)] = static_cast<float>(ss);
      }
    }
  };
  out.data = resample_two_pass<float>(src.data, src.h, src.w, out_h, out_w, filter, pass);
  return out;
}

// ---------------------------------------------------------------------------------------------
// PyTorch bilinear, align_corners=False (upsample_bilinear2d CPU kernel: per output pixel
// h0 * (w0 * x00 + w1 * x01) + h1 * (w0 * x10 + w1 * x11), weights in fp32)

FloatMap interpolate_bilinear(const FloatMap& src, int64_t out_h, int64_t out_w) {
  check_sizes("interpolate_bilinear", src.h, src.w, src.data.size(), out_h, out_w);
  struct Tap {
    int64_t i0, i1;
    float l0, l1;
  };
  auto taps = [](int64_t in_size, int64_t out_size) {
    float scale = static_cast<float>(in_size) / static_cast<float>(out_size);
    std::vector<Tap> t(out_size);
    for (int64_t i = 0; i < out_size; ++i) {
      float real = scale * (static_cast<float>(i) + 0.5f) - 0.5f;
      if (real < 0.f) real = 0.f;
      int64_t i0 = std::min(static_cast<int64_t>(std::floor(real)), in_size - 1);
      float l1 = std::min(std::max(real - static_cast<float>(i0), 0.f), 1.f);
      t[i] = {i0, i0 + (i0 < in_size - 1 ? 1 : 0), 1.f - l1, l1};
    }
    return t;
  };
  std::vector<Tap> tx = taps(src.w, out_w), ty = taps(src.h, out_h);
  FloatMap out(out_h, out_w);
  for (int64_t y = 0; y < out_h; ++y) {
    const float* r0 = &src.data[static_cast<size_t>(ty[y].i0 * src.w)];
    const float* r1 = &src.data[static_cast<size_t>(ty[y].i1 * src.w)];
    for (int64_t x = 0; x < out_w; ++x) {
      const Tap& t = tx[x];
      // t0 * w0 + t1 * w1, contracted to fma(t0, w0, t1 * w1) as in PyTorch's x86 (AVX2+FMA)
      // build: bit-exact against the official prepare_image golden (tests/test_io_resize.cpp).
      float a = std::fma(r0[t.i0], t.l0, r0[t.i1] * t.l1);
      float b = std::fma(r1[t.i0], t.l0, r1[t.i1] * t.l1);
      out.data[static_cast<size_t>(y * out_w + x)] = std::fma(a, ty[y].l0, b * ty[y].l1);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The official geometry

Mask stretch_mask_u8(const Mask& mask, int64_t side) {
  HIMTOK_CHECK_INPUT(mask.h > 0 && mask.w > 0, "stretch_mask_official: empty mask");
  bool binary = std::all_of(mask.data.begin(), mask.data.end(), [](uint8_t v) { return v <= 1; });
  if (!binary) return resize_u8(mask, side, side, Resample::kBicubic);
  Mask gray = mask;
  for (auto& v : gray.data) v = static_cast<uint8_t>(v * 255);
  return resize_u8(gray, side, side, Resample::kBicubic);
}

FloatMap stretch_mask_official(const Mask& mask, int64_t side) {
  Mask r = stretch_mask_u8(mask, side);
  FloatMap out(side, side);
  for (size_t i = 0; i < r.data.size(); ++i) out.data[i] = static_cast<float>(r.data[i] / 255.0);
  return out;
}

Mask unstretch_probs_official(const FloatMap& probs, int64_t out_h, int64_t out_w, float threshold) {
  FloatMap r = resize_float(probs, out_h, out_w, Resample::kNearest);
  Mask m(out_h, out_w);
  for (size_t i = 0; i < r.data.size(); ++i) m.data[i] = r.data[i] > threshold ? 1 : 0;
  return m;
}

}  // namespace himtok::io
