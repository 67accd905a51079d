// A COCO instances file or results list as a MaskSource: one item per annotation that has a
// segmentation (box-only results are skipped), decoded on demand by io/coco + io/rle.
#include "data/coco_source.h"

#include <filesystem>
#include <set>
#include <stdexcept>

#include "common/error.h"
#include "data/masks_sources.h"
#include "io/coco.h"

namespace himtok::data {

namespace {

class CocoMaskSource : public MaskSource, public detail::AreaInfo, public detail::GroupInfo {
 public:
  explicit CocoMaskSource(const std::string& path) : path_(path), ds_(io::load_coco(path)) {
    name_ = std::filesystem::path(path).filename().string();
    std::set<int64_t> images;
    for (size_t i = 0; i < ds_.annotations.size(); ++i) {
      const io::CocoAnnotation& a = ds_.annotations[i];
      if (a.segmentation.kind == io::CocoSegmentation::Kind::kNone) continue;
      // Check here what get() would refuse, so that workers never meet a bad item.
      const io::CocoImage* im = ds_.find_image(a.image_id);
      const std::string what = str_cat(path, ": annotation ", a.id, " (image ", a.image_id, ")");
      if (a.segmentation.kind == io::CocoSegmentation::Kind::kPolygons) {
        HIMTOK_CHECK_INPUT(im != nullptr, what, ": polygons need the image size, but the file has no image ",
                           a.image_id);
      } else if (im != nullptr) {
        HIMTOK_CHECK_INPUT(a.segmentation.rle.h == im->h && a.segmentation.rle.w == im->w, what, ": RLE size [",
                           a.segmentation.rle.h, ", ", a.segmentation.rle.w, "], expected the image size [", im->h,
                           ", ", im->w, "]");
      }
      items_.push_back(i);
      images.insert(a.image_id);
    }
    n_images_ = images.size();
  }

  size_t size() const override { return items_.size(); }

  MaskItem get(size_t i) const override {
    if (i >= items_.size()) throw std::out_of_range(str_cat("coco source: item ", i, " of ", items_.size()));
    const io::CocoAnnotation& a = ds_.annotations[items_[i]];
    MaskItem item;
    item.id = str_cat(name_, "#ann", a.id);
    item.group = std::to_string(a.image_id);
    item.mask = io::annotation_to_mask(ds_, a);
    return item;
  }

  std::string describe() const override {
    return str_cat("coco ", ds_.is_results ? "results" : "instances", ": ", path_, ", ", items_.size(),
                   " masks from ", n_images_, " images");
  }

  // RLE segmentations know their area without decoding; polygons would need rasterising.
  int64_t item_area(size_t i) const override {
    const io::CocoAnnotation& a = ds_.annotations.at(items_.at(i));
    if (a.segmentation.kind != io::CocoSegmentation::Kind::kRle) return -1;
    return static_cast<int64_t>(io::rle_area(a.segmentation.rle));
  }

  std::string item_group(size_t i) const override {
    return std::to_string(ds_.annotations.at(items_.at(i)).image_id);
  }

 private:
  std::string path_, name_;
  io::CocoDataset ds_;
  std::vector<size_t> items_;  // indices into ds_.annotations
  size_t n_images_ = 0;
};

}  // namespace

std::unique_ptr<MaskSource> make_coco_mask_source(const std::string& json_path) {
  return std::make_unique<CocoMaskSource>(json_path);
}

}  // namespace himtok::data
