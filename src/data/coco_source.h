// COCO annotation files as a MaskSource (implemented on top of io/rle and io/coco).
#pragma once
#include <memory>
#include <string>

#include "data/mask_source.h"

namespace himtok::data {

// A COCO instances file ({"images", "annotations"}) or a results list ([{"image_id",
// "segmentation", ...}]); segmentation as polygons, uncompressed RLE or compressed RLE strings.
// Heights/widths come from "images" or from the RLE's "size". group = image id.
std::unique_ptr<MaskSource> make_coco_mask_source(const std::string& json_path);

}  // namespace himtok::data
