// Image -> pixel_values for the vision encoder, as InternVL's `build_transform` for one tile:
// T.Resize((S, S), BICUBIC) (PIL, no aspect preservation), ToTensor (/255), Normalize(ImageNet).
// One tile only: InternVL's `dynamic_preprocess` (1..max_num tiles chosen by aspect ratio plus a
// thumbnail, spec §6.2) is future work; the tiny model sees one S x S tile.
// Tier 1: at::Tensor only.
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

#include "common/mask.h"

namespace himtok::lmm {

// ImageNet statistics (internvl/train/constants.py).
constexpr float kImagenetMean[3] = {0.485f, 0.456f, 0.406f};
constexpr float kImagenetStd[3] = {0.229f, 0.224f, 0.225f};

// img: H x W x c, 8-bit (c = 3 RGB; 4 RGBA drops alpha; 1 gray and 2 gray+alpha are replicated to
// RGB, as PIL's convert('RGB')). Each channel is resized with PIL's BICUBIC (io/resize.h) to
// side x side, then x/255, (x - mean) / std -> (3, side, side) float32. InputError for an empty
// image or an unsupported channel count.
at::Tensor pixel_values_from_image(const Image& img, int64_t side);

// The same for several images -> (N, 3, side, side).
at::Tensor pixel_values_from_images(const std::vector<Image>& imgs, int64_t side);

}  // namespace himtok::lmm
