// Image -> pixel_values for the vision encoder, as InternVL's `build_transform` for one tile:
// T.Resize((S, S), BICUBIC) (PIL, no aspect preservation), ToTensor (/255), Normalize(ImageNet).
// Dynamic tiling (InternVL's `dynamic_preprocess`, official-internvl-himtok.md §3): the image is
// stretched to a grid of cols x rows tiles of S x S chosen by aspect ratio (1 <= cols*rows <=
// max_num), cut row-major, plus a thumbnail (the whole image at S x S) when there is more than one
// tile. Our own small LMMs use one S x S tile (max_num 1).
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

// img as PIL's convert('RGB'): 1/2 channels replicate the gray, 4 drops alpha.
Image to_rgb(const Image& img);

// PIL `Image.resize((w, h))` (BICUBIC, fixed point, channel by channel) of an RGB image.
Image resize_rgb(const Image& rgb, int64_t out_h, int64_t out_w);

struct TileGrid {
  int cols = 1, rows = 1;
};
// The largest max_num with the official candidate order (src/lmm/tile_candidates.inc).
int max_tiles_supported();
// find_closest_aspect_ratio over the official candidates of max_num (InputError outside
// 1..max_tiles_supported()); exact ties go to the later candidate when w*h > 0.5*S*S*cols*rows.
TileGrid closest_tile_grid(int64_t w, int64_t h, int max_num, int64_t side);

// dynamic_preprocess(min_num 1, max_num, image_size side, use_thumbnail): the tiles (S x S x 3 u8),
// crops row-major then the thumbnail. `grid` (optional) receives the chosen grid.
std::vector<Image> dynamic_preprocess(const Image& img, int max_num, int64_t side, bool use_thumbnail,
                                      TileGrid* grid = nullptr);

// build_transform on tiles that are already S x S RGB: (N, 3, S, S), (u8/255 - mean) / std in fp32.
at::Tensor normalize_tiles(const std::vector<Image>& tiles);

}  // namespace himtok::lmm
