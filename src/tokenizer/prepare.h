// Mask <-> tokenizer input geometry (tier 1).
//   prepare_pad:     HiMTok MaskDecoder.prepare_image: /255 for uint8, 3 channels, zero-pad right
//                    and bottom to a square, bilinear (align_corners=False, no antialias) to S.
//   prepare_stretch: what the training data and convert_mask2tokens.py do: PIL
//                    convert('L').resize((S,S)) with BICUBIC (stretch, no padding), then /255.
//   to_native:       the eval's inverse: PIL 'F' NEAREST resize of the (S,S) probability to (W,H),
//                    then > 0.5 (no un-padding, as the official eval).
#pragma once
#include <ATen/core/Tensor.h>

#include <vector>

#include "common/mask.h"

namespace himtok::tok {

// mask: (H,W) uint8 (0..255) or float in [0,1]  ->  (3,S,S) float32
at::Tensor prepare_pad(const at::Tensor& mask, int64_t S);
// mask: 8-bit gray values (0..255; a 0/1 binary Mask is scaled by 255 first) -> (3,S,S) float32
at::Tensor prepare_stretch(const Mask& mask, int64_t S);
// A batch for the stretch geometry, split at the 8-bit image so that what crosses to a GPU is
// 1 byte per pixel (12x less than the (3,S,S) float input):
//   stretch_batch_u8: masks -> (B,S,S) uint8, each mask's PIL stretch computed on
//                     at::parallel_for's threads straight into one buffer, page-locked when
//                     `pinned` (one asynchronous copy to the GPU). Empty masks: InputError.
//   u8_to_input:      (B,S,S) uint8 on any device -> (B,3,S,S) float32, u8 / 255 in double as
//                     the official numpy does; equal bit for bit to stacking prepare_stretch.
at::Tensor stretch_batch_u8(const std::vector<Mask>& masks, int64_t S, bool pinned = false);
at::Tensor u8_to_input(const at::Tensor& u8);
// prob: (S,S) float -> binary Mask (H,W)
Mask to_native(const at::Tensor& prob, int64_t H, int64_t W);
// prob: (S,S) float -> FloatMap
FloatMap to_float_map(const at::Tensor& prob);

}  // namespace himtok::tok
