// Object-centred crops of a COCO annotation file (no libtorch): for datasets whose objects are
// small in large photos (TACO: median 0.2-0.4% of a ~4000x3000 frame), where the full-frame mask
// stretched to the model's square input would be a few pixels.
//
// Each annotation is rasterised in its full image frame exactly as pycocotools annToRLE does
// (io/coco: frPoly per polygon + merge, clipped to the frame), then cropped to the mask's own
// pixel box (rleToBbox) grown by `margin` times the box side on each side, per axis, and clipped
// to the frame:
//   x0 = floor(bx - margin*bw), x1 = ceil(bx + bw + margin*bw), clipped to [0, W]; same for y.
// The object therefore spans at least bw / (x1 - x0) >= 1 / (1 + 2 margin) - 2 / (x1 - x0) of the
// crop's width (more where the frame clips the margin), and likewise in height.
//
// Spec (data/mask_source.h): `crop:FILE.json` (margin kDefaultCropMargin) or
// `crop:MARGIN:FILE.json`, e.g. `crop:0.25:data/taco/taco_official.json`. group = image id.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "common/mask.h"
#include "data/mask_source.h"
#include "io/rle.h"

namespace himtok::data {

constexpr double kDefaultCropMargin = 0.1;  // of the box side, each side: the object fills >= 1/1.2 of the crop

struct CropWindow {
  int64_t x0 = 0, y0 = 0, w = 0, h = 0;  // in the frame; w, h >= 1
};

// The window around a (non-empty) COCO box in an img_h x img_w frame; InputError for a negative
// margin or an empty box.
CropWindow crop_window(const io::Bbox& box, double margin, int64_t img_h, int64_t img_w);

// The window's pixels of a full-frame RLE, decoded without materialising the frame.
Mask rle_crop(const io::Rle& rle, const CropWindow& win);

std::unique_ptr<MaskSource> make_crop_source(const std::string& json_path, double margin = kDefaultCropMargin);

}  // namespace himtok::data
