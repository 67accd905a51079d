// Stage-1 mask augmentation (paper §4.1: random crops of the binary masks; plus flips, scale and
// the official `random_morphology_augment`), ending in the official geometry: the window is
// stretched to the model's square input with PIL BICUBIC on the 0/255 image and divided by 255.
// Steps, each drawn from the item's own random stream (seed, index):
//   1. window: none | crop (zoom in; keeps >= min_kept of the object's area; no window side below
//      crop_min_side of the frame, so no sliver crops) | zoom out (pad: the frame sits inside a
//      window up to scale_max times larger, so the object gets smaller);
//   2. horizontal / vertical flip;
//   3. with p_morph, dilation or erosion with a k x k square, k uniform in [morph_min, morph_max]
//      pixels at the model's resolution (applied at native resolution with the kernel scaled by
//      window/side per axis); an erosion that would remove more than 75% of the area is skipped;
//   4. stretch to side x side (io::stretch_mask_official).
#pragma once
#include <cstddef>
#include <cstdint>

#include "common/mask.h"

namespace himtok::data {

struct AugmentOptions {
  int64_t side = 256;          // model input S
  double p_crop = 0.4;         // zoom in
  double crop_min_side = 0.5;  // crop window side >= this share of the frame side (per axis)
  double min_kept = 0.8;       // a crop keeps >= this share of the object's pixels
  double p_zoom_out = 0.2;     // zoom out (exclusive with crop)
  double scale_max = 2.0;      // zoom-out window side <= scale_max x frame side
  double p_hflip = 0.5;
  double p_vflip = 0.2;
  double p_morph = 0.7;        // official random_morphology_augment: p = 0.7
  int morph_min = 3, morph_max = 7;
  double p_dilate = 0.5;       // else erode
};

// What was applied (for tests and debugging). Window in native pixel coordinates, may extend
// past the frame (padding) for zoom-out.
struct AugmentRecord {
  int64_t x0 = 0, y0 = 0, x1 = 0, y1 = 0;
  bool cropped = false, zoomed_out = false, hflip = false, vflip = false;
  int morph_kernel = 0;  // 0: none
  bool dilate = false;
};

// mask: binary 0/1 at native size. Returns side x side soft values in [0, 1].
// Throws InputError for an empty mask plane or bad options.
FloatMap augment_mask(const Mask& mask, uint64_t seed, uint64_t index, const AugmentOptions& opt = {},
                      AugmentRecord* record = nullptr);

// Morphology on a binary mask with a kx x ky rectangle anchored at (kx/2, ky/2) as OpenCV's
// default; pixels outside the image do not take part (cv2's default border for both ops).
Mask dilate_rect(const Mask& m, int kx, int ky);
Mask erode_rect(const Mask& m, int kx, int ky);

}  // namespace himtok::data
