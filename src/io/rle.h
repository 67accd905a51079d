// COCO run-length masks: encode, decode, compressed strings, area, toBbox, polygons, boxes,
// merge and IoU, matching pycocotools 2.0.11 (common/maskApi.c of ppwwyyxx/cocoapi @ac87f50)
// bit for bit. No libtorch.
//
// Hand-written, following maskApi.c function by function, because Debian ships no C or C++
// package of it (only the Python module python3-pycocotools, whose C core is not a library).
//
// Conventions (the same as maskApi.h):
//   - A Mask (common/mask.h) is H x W, ROW-major, one byte per pixel; any non-zero byte is
//     foreground. An Rle walks the pixels in COLUMN-major order (x outer, y inner), i.e. the
//     pixel (y, x) is number x*H + y, as Fortran/Matlab arrays and pycocotools do.
//   - counts alternate background and foreground runs, starting with background: a mask whose
//     first pixel is foreground starts with a 0 run. [0 0 1 1 1 0 1] -> [2 3 1 1].
//   - The compressed string is LEB128-like with 6 bits per char (chars 48..111): 5 data bits,
//     bit 0x20 = "more chars follow", the last char's bit 0x10 is the sign. counts[i] for i > 2
//     is stored as the difference counts[i] - counts[i-2] (note: i > 2, not i >= 2).
//   - Boxes are COCO [x, y, width, height] in pixels, as doubles.
//   - H * W must be < 2^32 (counts are uint32, as in maskApi).
//
// Where we deliberately differ from maskApi (all on inputs maskApi does not define):
//   - rle_from_string checks its input (characters, truncation, overflow, counts <= H*W) and
//     raises InputError; maskApi trusts it.
//   - counts summing to less than H*W are accepted, and the missing tail is background: maskApi
//     leaves those pixels uninitialised (the "zero-leading runs" case of ppwwyyxx/cocoapi's
//     tests has such a tail). counts summing to more than H*W raise InputError (pycocotools
//     raises ValueError in decode).
//   - rle_merge / rle_iou raise InputError for masks of different sizes (maskApi returns an
//     empty RLE / IoU -1) and treat a short tail as background (maskApi loops forever).
//   - rle_to_bbox returns [0,0,0,0] for an RLE with no foreground pixel but with runs
//     (e.g. [0, 0, 35]); maskApi returns a wrapped-around width there.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "common/mask.h"

namespace himtok::io {

struct Rle {
  int64_t h = 0, w = 0;
  std::vector<uint32_t> counts;  // column-major runs, background first
};

using Bbox = std::array<double, 4>;  // COCO box: x, y, width, height

// Raises InputError (naming `what`) unless h, w >= 0, h*w < 2^32 and the counts sum to at most h*w.
void rle_check(const Rle& rle, const std::string& what = "RLE");

// rleEncode: a row-major mask (non-zero = foreground) -> runs.
Rle rle_encode(const Mask& mask);
// rleDecode: runs -> a row-major 0/1 mask; InputError if the counts overflow h*w.
Mask rle_decode(const Rle& rle);

// rleToString / rleFrString: runs <-> the compressed "counts" string of COCO JSON.
std::string rle_to_string(const Rle& rle);
Rle rle_from_string(const std::string& s, int64_t h, int64_t w);

// rleArea: number of foreground pixels.
uint64_t rle_area(const Rle& rle);
// rleToBbox (with the 2.0.11 fixes: boxes of non-full masks, zero-length foreground runs).
Bbox rle_to_bbox(const Rle& rle);
// rleFrBbox: the box as a 4-point polygon, rasterised by rle_from_poly.
Rle rle_from_bbox(const Bbox& box, int64_t h, int64_t w);
// rleFrPoly: polygon [x0, y0, x1, y1, ...] (at least one point) rasterised exactly as maskApi:
// vertices upsampled by 5 and rounded, edges walked densely, y-boundaries downsampled.
// Coordinates must be finite and within +-1e6 (InputError otherwise).
Rle rle_from_poly(const std::vector<double>& xy, int64_t h, int64_t w);

// rleMerge: union (intersect = false) or intersection of same-size masks. An empty list gives
// an empty 0x0 RLE; one mask is returned unchanged.
Rle rle_merge(const std::vector<Rle>& rles, bool intersect = false);

// rleIou: IoU of every detection with every ground truth; for a crowd ground truth the
// denominator is area(dt) instead of the union. Result is m x n, row-major: [d * n + g]
// (the shape pycocotools.mask.iou returns). iscrowd is empty (no crowd) or has n entries.
std::vector<double> rle_iou(const std::vector<Rle>& dt, const std::vector<Rle>& gt,
                            const std::vector<uint8_t>& iscrowd = {});
double rle_iou(const Rle& dt, const Rle& gt, bool iscrowd = false);
// bbIou: the same for COCO boxes (no +1), m x n row-major.
std::vector<double> bbox_iou(const std::vector<Bbox>& dt, const std::vector<Bbox>& gt,
                             const std::vector<uint8_t>& iscrowd = {});

}  // namespace himtok::io
