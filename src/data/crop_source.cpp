// The crop source (crop_source.h): COCO polygons rasterised in the full frame by io/coco (the
// pycocotools-exact codec), then cropped to the object's box plus a margin, run by run.
#include "data/crop_source.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <set>

#include "common/error.h"
#include "data/masks_sources.h"
#include "io/coco.h"

namespace himtok::data {

CropWindow crop_window(const io::Bbox& box, double margin, int64_t img_h, int64_t img_w) {
  HIMTOK_CHECK_INPUT(std::isfinite(margin) && margin >= 0, "crop: margin ", margin, " must be >= 0");
  HIMTOK_CHECK_INPUT(box[2] > 0 && box[3] > 0, "crop: empty box [", box[0], ", ", box[1], ", ", box[2], ", ", box[3], "]");
  auto span = [&](double lo, double len, int64_t limit, int64_t* a, int64_t* n) {
    int64_t s = static_cast<int64_t>(std::floor(lo - margin * len));
    int64_t e = static_cast<int64_t>(std::ceil(lo + len + margin * len));
    s = std::clamp<int64_t>(s, 0, limit - 1);
    e = std::clamp<int64_t>(e, s + 1, limit);
    *a = s;
    *n = e - s;
  };
  CropWindow w;
  span(box[0], box[2], img_w, &w.x0, &w.w);
  span(box[1], box[3], img_h, &w.y0, &w.h);
  return w;
}

Mask rle_crop(const io::Rle& rle, const CropWindow& win) {
  HIMTOK_CHECK_INPUT(win.x0 >= 0 && win.y0 >= 0 && win.w >= 1 && win.h >= 1 && win.x0 + win.w <= rle.w &&
                         win.y0 + win.h <= rle.h,
                     "crop: window [", win.x0, ", ", win.y0, ", ", win.w, ", ", win.h, "] outside the ", rle.h, "x",
                     rle.w, " frame");
  Mask m(win.h, win.w, 0);
  // Pixel (y, x) is number x*H + y in the column-major run order; walk the foreground runs and
  // write the part of each column they cover that lies in the window.
  const uint64_t H = static_cast<uint64_t>(rle.h);
  const uint64_t first = static_cast<uint64_t>(win.x0) * H, last = static_cast<uint64_t>(win.x0 + win.w) * H;
  uint64_t pos = 0;
  for (size_t k = 0; k < rle.counts.size() && pos < last; ++k) {
    const uint64_t end = pos + rle.counts[k];
    if (k % 2 == 1 && end > first) {  // odd runs are foreground
      for (uint64_t p = std::max(pos, first); p < std::min(end, last);) {
        const uint64_t x = p / H, y = p % H;
        const uint64_t col_end = std::min({end, last, (x + 1) * H});
        const int64_t ya = std::max<int64_t>(static_cast<int64_t>(y), win.y0);
        const int64_t yb = std::min<int64_t>(static_cast<int64_t>(y + (col_end - p)), win.y0 + win.h);
        for (int64_t yy = ya; yy < yb; ++yy) m.at(yy - win.y0, static_cast<int64_t>(x) - win.x0) = 1;
        p = col_end;
      }
    }
    pos = end;
  }
  return m;
}

namespace {

class CropSource : public MaskSource, public detail::AreaInfo, public detail::GroupInfo {
 public:
  CropSource(const std::string& path, double margin) : path_(path), margin_(margin), ds_(io::load_coco(path)) {
    HIMTOK_CHECK_INPUT(std::isfinite(margin) && margin >= 0 && margin <= 10, path, ": crop margin ", margin,
                       " out of range 0..10");
    name_ = std::filesystem::path(path).filename().string();
    std::set<int64_t> images;
    for (size_t i = 0; i < ds_.annotations.size(); ++i) {
      const io::CocoAnnotation& a = ds_.annotations[i];
      if (a.segmentation.kind == io::CocoSegmentation::Kind::kNone) continue;
      HIMTOK_CHECK_INPUT(ds_.find_image(a.image_id) != nullptr, path, ": annotation ", a.id, " refers to image ",
                         a.image_id, ", which the file does not list");
      items_.push_back(i);
      images.insert(a.image_id);
    }
    n_images_ = images.size();
  }

  size_t size() const override { return items_.size(); }

  MaskItem get(size_t i) const override {
    HIMTOK_CHECK_INPUT(i < items_.size(), "crop source: item ", i, " out of range (", items_.size(), " masks)");
    const io::CocoAnnotation& a = ds_.annotations[items_[i]];
    const io::Rle rle = io::annotation_to_rle(ds_, a);  // full frame, pycocotools annToRLE
    MaskItem item;
    // Annotation ids are not unique in every file (TACO's reviewed file repeats two): add the index.
    item.id = str_cat(name_, "#", i, "/ann", a.id, "/crop");
    item.group = std::to_string(a.image_id);
    const io::Bbox box = io::rle_to_bbox(rle);
    if (box[2] <= 0 || box[3] <= 0) {
      item.mask = Mask(1, 1, 0);  // nothing inside the frame: an empty mask, which the trainer skips
      return item;
    }
    item.mask = rle_crop(rle, crop_window(box, margin_, rle.h, rle.w));
    return item;
  }

  std::string describe() const override {
    return str_cat("coco box crops (margin ", margin_, "): ", path_, ", ", items_.size(), " masks from ", n_images_,
                   " images");
  }

  int64_t item_area(size_t) const override { return -1; }
  std::string item_group(size_t i) const override {
    return std::to_string(ds_.annotations.at(items_.at(i)).image_id);
  }

 private:
  std::string path_, name_;
  double margin_;
  io::CocoDataset ds_;
  std::vector<size_t> items_;  // indices into ds_.annotations
  size_t n_images_ = 0;
};

}  // namespace

std::unique_ptr<MaskSource> make_crop_source(const std::string& json_path, double margin) {
  return std::make_unique<CropSource>(json_path, margin);
}

}  // namespace himtok::data
