// Image -> normalised (3, S, S) float tensor (InternVL build_transform, one tile).
#include "lmm/image_prep.h"

#include <ATen/ATen.h>

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

at::Tensor pixel_values_from_images(const std::vector<Image>& imgs, int64_t side) {
  HIMTOK_CHECK_INPUT(!imgs.empty(), "image: no images given");
  std::vector<at::Tensor> px;
  px.reserve(imgs.size());
  for (const Image& img : imgs) px.push_back(pixel_values_from_image(img, side));
  return at::stack(px, 0);
}

}  // namespace himtok::lmm
