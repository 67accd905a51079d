// Reconstruction evaluation of a mask tokenizer against non-learned codecs at the same bit budget
// (10 bits per token). No libtorch in this header.
//   For each mask (native H x W, binary): target256 = PIL-bicubic stretch to 256 (> 0.5);
//   himtok: encode (official stretch to the model input), decode every prefix in `tokens`, map the
//   S x S probabilities to 256 x 256 (bilinear, when S != 256) and threshold at 0.5 -> IoU@256;
//   and back to H x W (PIL NEAREST of the probabilities, > 0.5, as the official eval) -> IoU native.
//   codecs: encode target256 with `bits = 10 * tokens`, decode at 256 -> IoU@256; NEAREST back to
//   H x W -> IoU native. "lossless256" is target256 itself: the ceiling the 256 stretch imposes.
//   For a model whose input S is not 256, "losslessS" is the mask stretched to S (the soft map the
//   model is trained to reproduce) and mapped to 256 as the decodes are (bilinear, > 0.5): what a
//   perfect decode scores, the ceiling its input size sets (small objects lose most).
//   By object size: mIoU@256 again over the masks of each COCO area range of the native mask's
//   foreground (small < 32^2 <= medium < 96^2 <= large pixels; pycocotools' ranges share their
//   end points, here each mask falls in exactly one), since a stretch to the model's input keeps
//   few pixels of a small object in a large image.
#pragma once
#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/mask.h"

namespace himtok::tok {
class MaskTokenizer;
}

namespace himtok::eval {

struct ReconRow {
  std::string codec;  // "himtok", "bitmap", "box", "boxgrid", "polygon", "lossless256", "losslessS"
  int64_t tokens = 0, bits = 0, n = 0;
  double miou_256 = 0, ciou_256 = 0, frac_iou90_256 = 0, miou_native = 0, ciou_native = 0;
  std::array<int64_t, 3> n_by_size{};     // masks per size: small, medium, large
  std::array<double, 3> miou_256_by_size{};  // mIoU@256 per size (0 where a size has no mask)
  std::string to_json() const;  // the size fields as miou_256_{small,medium,large} (null when empty), n_*
};

enum SizeRange { kSmall = 0, kMedium = 1, kLarge = 2 };
SizeRange size_range(int64_t area);  // COCO's ranges by foreground pixels: < 32^2, < 96^2, the rest
const char* size_range_name(int r);  // "small", "medium", "large"

struct ReconOptions {
  std::vector<int64_t> tokens{1, 2, 4, 8, 16, 32};
  std::vector<std::string> codecs{"bitmap", "box", "boxgrid", "polygon"};
  int64_t batch = 16;
  int64_t grid_masks = 8;  // masks drawn in the picture
};

struct ReconResult {
  std::vector<ReconRow> rows;
  double codebook_usage = 0;  // share of the K codes used on the set (32 tokens per mask)
  int64_t codes_used = 0;
  // For the picture: a few masks' target256 and their himtok decodes per token count.
  std::vector<Mask> grid_targets;
  std::vector<std::vector<Mask>> grid_decodes;  // [mask][token index]
};

ReconResult run_recon(tok::MaskTokenizer* tokenizer, const std::vector<Mask>& masks, const ReconOptions& opt,
                      const std::function<void(int64_t, int64_t)>& progress = {});

// A table for the terminal (one row per token count, one column per codec), then the same by
// object size (each cell small / medium / large).
std::string format_recon_table(const ReconResult& r);

}  // namespace himtok::eval
