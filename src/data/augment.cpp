// Stage-1 augmentation (see augment.h for the steps and their probabilities).
#include "data/augment.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "common/error.h"
#include "data/masks_rng.h"
#include "io/resize.h"

namespace himtok::data {

namespace {

// Summed-area table: sat[(y) * (w+1) + x] = ones in [0, y) x [0, x).
std::vector<int64_t> summed_area(const Mask& m) {
  std::vector<int64_t> sat(static_cast<size_t>((m.h + 1) * (m.w + 1)), 0);
  for (int64_t y = 0; y < m.h; ++y) {
    int64_t row = 0;
    for (int64_t x = 0; x < m.w; ++x) {
      row += m.at(y, x) != 0;
      sat[(y + 1) * (m.w + 1) + x + 1] = sat[y * (m.w + 1) + x + 1] + row;
    }
  }
  return sat;
}

int64_t box_sum(const std::vector<int64_t>& sat, int64_t w, int64_t x0, int64_t y0, int64_t x1, int64_t y1) {
  const int64_t W = w + 1;
  return sat[y1 * W + x1] - sat[y0 * W + x1] - sat[y1 * W + x0] + sat[y0 * W + x0];
}

// Separable running "any" (dilate) or "all in-image" (erode) along one axis.
Mask morph_1d(const Mask& m, int k, bool horizontal, bool dilate) {
  if (k <= 1) return m;
  const int lo = k / 2, hi = k - 1 - k / 2;  // window [i - lo, i + hi]
  Mask out(m.h, m.w);
  const int64_t n_lines = horizontal ? m.h : m.w, len = horizontal ? m.w : m.h;
  std::vector<int64_t> pre(static_cast<size_t>(len + 1));
  for (int64_t l = 0; l < n_lines; ++l) {
    auto px = [&](int64_t i) -> uint8_t { return horizontal ? m.at(l, i) : m.at(i, l); };
    pre[0] = 0;
    for (int64_t i = 0; i < len; ++i) pre[i + 1] = pre[i] + (px(i) != 0);
    for (int64_t i = 0; i < len; ++i) {
      int64_t a = std::max<int64_t>(0, i - lo), b = std::min<int64_t>(len, i + hi + 1);
      int64_t ones = pre[b] - pre[a];
      uint8_t v = dilate ? ones > 0 : ones == b - a;
      if (horizontal)
        out.at(l, i) = v;
      else
        out.at(i, l) = v;
    }
  }
  return out;
}

}  // namespace

Mask dilate_rect(const Mask& m, int kx, int ky) { return morph_1d(morph_1d(m, kx, true, true), ky, false, true); }
Mask erode_rect(const Mask& m, int kx, int ky) { return morph_1d(morph_1d(m, kx, true, false), ky, false, false); }

FloatMap augment_mask(const Mask& mask, uint64_t seed, uint64_t index, const AugmentOptions& opt,
                      AugmentRecord* record) {
  HIMTOK_CHECK_INPUT(mask.h > 0 && mask.w > 0 && static_cast<int64_t>(mask.data.size()) == mask.h * mask.w,
                     "augment: empty or mis-sized mask ", mask.h, "x", mask.w);
  HIMTOK_CHECK_INPUT(opt.side >= 8 && opt.crop_min_side > 0 && opt.crop_min_side <= 1 && opt.scale_max >= 1 &&
                         opt.morph_min >= 1 && opt.morph_min <= opt.morph_max && opt.min_kept >= 0 && opt.min_kept <= 1,
                     "augment: invalid options");
  Rng r(seed, index, /*salt=*/0x415547);
  const int64_t H = mask.h, W = mask.w;
  AugmentRecord rec;
  rec.x1 = W, rec.y1 = H;

  // 1. window
  double u = r.uniform();
  if (u < opt.p_crop) {
    std::vector<int64_t> sat = summed_area(mask);
    const int64_t total = sat.back();
    for (int attempt = 0; attempt < 20; ++attempt) {
      int64_t ww = std::max<int64_t>(std::min<int64_t>(16, W), std::llround(W * r.uniform(opt.crop_min_side, 1.0)));
      int64_t wh = std::max<int64_t>(std::min<int64_t>(16, H), std::llround(H * r.uniform(opt.crop_min_side, 1.0)));
      int64_t x0 = r.range(0, W - ww), y0 = r.range(0, H - wh);
      int64_t kept = box_sum(sat, W, x0, y0, x0 + ww, y0 + wh);
      if (total == 0 || kept >= opt.min_kept * static_cast<double>(total)) {
        rec.x0 = x0, rec.y0 = y0, rec.x1 = x0 + ww, rec.y1 = y0 + wh;
        rec.cropped = true;
        break;
      }
    }
  } else if (u < opt.p_crop + opt.p_zoom_out) {
    int64_t ww = std::llround(W * r.uniform(1.0, opt.scale_max)), wh = std::llround(H * r.uniform(1.0, opt.scale_max));
    int64_t ox = r.range(0, ww - W), oy = r.range(0, wh - H);  // frame offset inside the window
    rec.x0 = -ox, rec.y0 = -oy, rec.x1 = ww - ox, rec.y1 = wh - oy;
    rec.zoomed_out = true;
  }
  rec.hflip = r.bernoulli(opt.p_hflip);
  rec.vflip = r.bernoulli(opt.p_vflip);
  bool morph = r.bernoulli(opt.p_morph);
  int k = static_cast<int>(r.range(opt.morph_min, opt.morph_max));
  bool dilate = r.bernoulli(opt.p_dilate);

  // window (with zero padding) and flips
  const int64_t ww = rec.x1 - rec.x0, wh = rec.y1 - rec.y0;
  Mask win(wh, ww);
  for (int64_t y = 0; y < wh; ++y) {
    int64_t sy = rec.y0 + (rec.vflip ? wh - 1 - y : y);
    if (sy < 0 || sy >= H) continue;
    for (int64_t x = 0; x < ww; ++x) {
      int64_t sx = rec.x0 + (rec.hflip ? ww - 1 - x : x);
      if (sx >= 0 && sx < W) win.at(y, x) = mask.at(sy, sx) != 0;
    }
  }

  // 3. morphology, kernel k at the model's resolution
  if (morph) {
    int kx = std::max(1, static_cast<int>(std::lround(k * static_cast<double>(ww) / opt.side)));
    int ky = std::max(1, static_cast<int>(std::lround(k * static_cast<double>(wh) / opt.side)));
    Mask m2 = dilate ? dilate_rect(win, kx, ky) : erode_rect(win, kx, ky);
    int64_t a0 = win.area(), a1 = m2.area();
    if (dilate || a1 * 4 >= a0) {
      win = std::move(m2);
      rec.morph_kernel = k;
      rec.dilate = dilate;
    }
  }
  if (record) *record = rec;
  // 4. the official stretch
  return io::stretch_mask_official(win, opt.side);
}

}  // namespace himtok::data
