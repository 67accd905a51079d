// Mask sources for training and reconstruction evaluation (no libtorch).
// A source is an indexable list of binary masks at their native size, each with a `group`
// (video sequence or image id) so that train/val splits never put frames of one sequence or
// objects of one image on both sides.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/mask.h"

namespace himtok::data {

struct MaskItem {
  std::string id;     // stable, human-readable (e.g. "davis/bike-packing/00012.png#2")
  std::string group;  // split unit: sequence name or image id
  Mask mask;          // binary 0/1, native size
};

class MaskSource {
 public:
  virtual ~MaskSource() = default;
  virtual size_t size() const = 0;
  virtual MaskItem get(size_t i) const = 0;  // thread-safe
  virtual std::string describe() const = 0;  // one line: kind, path, count
};

// Opens a source from a spec string:
//   DIR of binary PNGs           (every *.png, thresholded at 127; group = file stem's parent dir)
//   DIR of palette/instance PNGs (`palette:DIR`, recursive; one mask per non-background colour/id;
//                                 group = the PNG's parent folder, i.e. the video sequence)
//   FILE.json                    (COCO annotations or results: polygons, uncompressed or compressed RLE)
//   crop:[MARGIN:]FILE.json      (COCO annotations, each object cropped to its box + margin; crop_source.h)
//   FILE.jsonl                   (HiMTok layout: {"image", "mask", "conversations"}; mask paths relative to the file)
//   synthetic:N[:SEED]           (N seeded synthetic masks, see synthetic.h)
// Throws InputError for a missing path or an unknown format.
std::unique_ptr<MaskSource> open_mask_source(const std::string& spec);

// Deterministic split by group: a group is in val iff hash(group, seed) % 1000 < val_permille.
struct Split {
  std::vector<size_t> train, val;
};
Split split_by_group(const MaskSource& src, int val_permille, uint64_t seed);

}  // namespace himtok::data
