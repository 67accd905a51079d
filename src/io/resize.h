// Resizing that reproduces the reference pipelines bit for bit (no libtorch):
//   - PIL `Image.resize` (Pillow's libImaging/Resample.c and Geometry.c) for mode 'L' (8-bit,
//     fixed-point convolution, PRECISION_BITS = 22) and mode 'F' (float32 planes, double sums);
//   - PyTorch `F.interpolate(mode='bilinear', align_corners=False)` without antialias (fp32).
// The official HiMTok pipelines stretch masks to 256x256 with PIL's default BICUBIC on the 'L'
// image and divide by 255 (`stretch_mask_official`); eval maps 256x256 probabilities back with
// PIL NEAREST on a mode 'F' image.
//
// Conventions: planes are H x W row-major. A `Mask` here is an 8-bit gray plane (0..255); binary
// 0/1 masks are scaled to 0/255 only by `stretch_mask_official`, as `convert('L')` of a PNG saved
// with 0/255 would give.
#pragma once
#include <cstddef>  // size_t, used by common/mask.h
#include <cstdint>

#include "common/mask.h"

namespace himtok::io {

enum class Resample { kNearest, kBilinear, kBicubic };

// PIL `Image.fromarray(gray, 'L').resize((out_w, out_h), filter)`. Same size: a copy.
// Downscaling widens the filter support by the scale factor (antialiasing), as PIL does.
Mask resize_u8(const Mask& gray, int64_t out_h, int64_t out_w, Resample filter);

// PIL mode 'F' `Image.resize`: the same filters on float32 values (sums in double, the
// horizontal pass stored as float32, no clipping).
FloatMap resize_float(const FloatMap& src, int64_t out_h, int64_t out_w, Resample filter);

// torch.nn.functional.interpolate(x[None,None], (out_h, out_w), mode='bilinear',
// align_corners=False) in fp32, as the CPU kernel computes it (scale = in/out, source index
// (dst + 0.5) * scale - 0.5 clamped at 0, edge replication at the far end; the weighted sums
// contracted to FMA as the x86 torch build does, which makes it bit-exact there).
FloatMap interpolate_bilinear(const FloatMap& src, int64_t out_h, int64_t out_w);

// The official target geometry: a binary (0/1) or 8-bit (0..255) mask becomes an 'L' image
// (binary scaled to 0/255), PIL BICUBIC-resized to side x side with no aspect preservation,
// then /255 -> soft values in [0,1].
FloatMap stretch_mask_official(const Mask& mask, int64_t side = 256);
// The same stretch stopped before the division: the 8-bit side x side 'L' image (0..255).
// stretch_mask_official(m)[i] == float(stretch_mask_u8(m)[i] / 255.0) (double division).
Mask stretch_mask_u8(const Mask& mask, int64_t side = 256);

// The official eval's way back: a float map (e.g. 256x256 probabilities) PIL NEAREST-resized
// (mode 'F') to (out_h, out_w), thresholded with `> threshold` into a 0/1 mask.
Mask unstretch_probs_official(const FloatMap& probs, int64_t out_h, int64_t out_w, float threshold = 0.5f);

}  // namespace himtok::io
