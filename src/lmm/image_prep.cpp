// Image -> normalised (3, S, S) float tensor (InternVL build_transform, one tile).
#include "lmm/image_prep.h"

#include <ATen/ATen.h>

#include <cmath>
#include <limits>

#include "common/error.h"
#include "io/resize.h"

namespace himtok::lmm {

at::Tensor pixel_values_from_image(const Image& img, int64_t side) {
  HIMTOK_CHECK_INPUT(img.h > 0 && img.w > 0 && img.data.size() == static_cast<size_t>(img.h * img.w * img.c),
                     "image: empty or inconsistent image (", img.h, "x", img.w, "x", img.c, ")");
  HIMTOK_CHECK_INPUT(img.c >= 1 && img.c <= 4, "image: ", img.c, " channels, expected 1 to 4");
  HIMTOK_CHECK_INPUT(side > 0, "image: target side must be positive, got ", side);
  at::Tensor out = at::empty({3, side, side}, at::kFloat);
  float* dst = out.data_ptr<float>();
  const int64_t n_px = img.h * img.w;
  for (int64_t ch = 0; ch < 3; ++ch) {
    // PIL convert('RGB'): gray (and gray+alpha) replicate the luma; RGBA drops alpha.
    const int64_t src_ch = img.c >= 3 ? ch : 0;
    Mask plane(img.h, img.w);
    for (int64_t i = 0; i < n_px; ++i) plane.data[static_cast<size_t>(i)] = img.data[static_cast<size_t>(i * img.c + src_ch)];
    // PIL resizes RGB images channel by channel with the same fixed-point filter as mode 'L'.
    const Mask resized = io::resize_u8(plane, side, side, io::Resample::kBicubic);
    const float mean = kImagenetMean[ch], std = kImagenetStd[ch];
    float* p = dst + ch * side * side;
    for (int64_t i = 0; i < side * side; ++i)
      p[i] = (static_cast<float>(resized.data[static_cast<size_t>(i)]) / 255.0f - mean) / std;  // ToTensor, Normalize
  }
  return out;
}

Image to_rgb(const Image& img) {
  HIMTOK_CHECK_INPUT(img.h > 0 && img.w > 0 && img.data.size() == static_cast<size_t>(img.h * img.w * img.c),
                     "image: empty or inconsistent image (", img.h, "x", img.w, "x", img.c, ")");
  HIMTOK_CHECK_INPUT(img.c >= 1 && img.c <= 4, "image: ", img.c, " channels, expected 1 to 4");
  if (img.c == 3) return img;
  Image out(img.h, img.w, 3);
  const int64_t n_px = img.h * img.w;
  for (int64_t i = 0; i < n_px; ++i)
    for (int64_t ch = 0; ch < 3; ++ch)
      out.data[static_cast<size_t>(i * 3 + ch)] = img.data[static_cast<size_t>(i * img.c + (img.c >= 3 ? ch : 0))];
  return out;
}

Image resize_rgb(const Image& rgb, int64_t out_h, int64_t out_w) {
  HIMTOK_CHECK_INPUT(rgb.c == 3, "resize_rgb: expected 3 channels, got ", rgb.c);
  if (rgb.h == out_h && rgb.w == out_w) return rgb;  // PIL returns a copy
  Image out(out_h, out_w, 3);
  const int64_t n_in = rgb.h * rgb.w, n_out = out_h * out_w;
  for (int64_t ch = 0; ch < 3; ++ch) {
    Mask plane(rgb.h, rgb.w);
    for (int64_t i = 0; i < n_in; ++i) plane.data[static_cast<size_t>(i)] = rgb.data[static_cast<size_t>(i * 3 + ch)];
    // PIL resizes RGB with the same fixed-point filter, channel by channel, as mode 'L'.
    const Mask r = io::resize_u8(plane, out_h, out_w, io::Resample::kBicubic);
    for (int64_t i = 0; i < n_out; ++i) out.data[static_cast<size_t>(i * 3 + ch)] = r.data[static_cast<size_t>(i)];
  }
  return out;
}

namespace {
#include "lmm/tile_candidates.inc"
}  // namespace

int max_tiles_supported() { return kMaxTileCandidatesNum; }

TileGrid closest_tile_grid(int64_t w, int64_t h, int max_num, int64_t side) {
  HIMTOK_CHECK_INPUT(max_num >= 1 && max_num <= kMaxTileCandidatesNum, "--max-tiles: ", max_num, " is outside 1..",
                     kMaxTileCandidatesNum);
  HIMTOK_CHECK_INPUT(w > 0 && h > 0, "image: empty image (", w, "x", h, ")");
  const double aspect = static_cast<double>(w) / static_cast<double>(h);
  const double area = static_cast<double>(w) * static_cast<double>(h);
  double best_diff = std::numeric_limits<double>::infinity();
  TileGrid best;
  for (int c = kTileCandidateStart[max_num - 1]; c < kTileCandidateStart[max_num]; ++c) {
    const int i = kTileCandidateData[2 * c], j = kTileCandidateData[2 * c + 1];
    const double diff = std::abs(aspect - static_cast<double>(i) / static_cast<double>(j));
    if (diff < best_diff) {
      best_diff = diff;
      best = {i, j};
    } else if (diff == best_diff && area > 0.5 * static_cast<double>(side * side) * i * j) {
      best = {i, j};
    }
  }
  return best;
}

std::vector<Image> dynamic_preprocess(const Image& img, int max_num, int64_t side, bool use_thumbnail,
                                      TileGrid* grid) {
  const Image rgb = to_rgb(img);
  const TileGrid g = closest_tile_grid(rgb.w, rgb.h, max_num, side);
  if (grid) *grid = g;
  const Image big = resize_rgb(rgb, side * g.rows, side * g.cols);
  std::vector<Image> tiles;
  for (int t = 0; t < g.cols * g.rows; ++t) {
    const int64_t x0 = side * (t % g.cols), y0 = side * (t / g.cols);
    Image tile(side, side, 3);
    for (int64_t y = 0; y < side; ++y) {
      const uint8_t* src = big.data.data() + ((y0 + y) * big.w + x0) * 3;
      std::copy(src, src + side * 3, tile.data.begin() + y * side * 3);
    }
    tiles.push_back(std::move(tile));
  }
  if (use_thumbnail && tiles.size() != 1) tiles.push_back(resize_rgb(rgb, side, side));
  return tiles;
}

at::Tensor normalize_tiles(const std::vector<Image>& tiles) {
  HIMTOK_CHECK_INPUT(!tiles.empty(), "image: no tiles");
  const int64_t side = tiles[0].h;
  at::Tensor out = at::empty({static_cast<int64_t>(tiles.size()), 3, side, side}, at::kFloat);
  float* dst = out.data_ptr<float>();
  for (const Image& t : tiles) {
    HIMTOK_CHECK_INPUT(t.h == side && t.w == side && t.c == 3, "image: tiles must be ", side, "x", side, "x3");
    for (int64_t ch = 0; ch < 3; ++ch, dst += side * side) {
      const float mean = kImagenetMean[ch], std = kImagenetStd[ch];
      for (int64_t i = 0; i < side * side; ++i)
        dst[i] = (static_cast<float>(t.data[static_cast<size_t>(i * 3 + ch)]) / 255.0f - mean) / std;
    }
  }
  return out;
}

at::Tensor pixel_values_from_images(const std::vector<Image>& imgs, int64_t side) {
  HIMTOK_CHECK_INPUT(!imgs.empty(), "image: no images given");
  std::vector<at::Tensor> px;
  px.reserve(imgs.size());
  for (const Image& img : imgs) px.push_back(pixel_values_from_image(img, side));
  return at::stack(px, 0);
}

}  // namespace himtok::lmm
