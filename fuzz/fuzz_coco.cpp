// COCO instances files and results lists, then every annotation turned into an RLE (polygons
// rasterised, RLE checked) when its image is small enough to fuzz quickly.
#include "fuzz_common.h"
#include "io/coco.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace himtok;
  io::CocoDataset ds;
  if (!fuzz::expect_ok_or_input_error([&] { ds = io::parse_coco(fuzz::as_string(data, size), "fuzz.json"); })) return 0;
  constexpr int64_t kMaxFuzzPixels = 1 << 20;  // bigger images are correct but slow to fuzz
  for (const auto& a : ds.annotations) {
    const io::CocoImage* im = ds.find_image(a.image_id);
    const int64_t h = im ? im->h : a.segmentation.rle.h, w = im ? im->w : a.segmentation.rle.w;
    if (h < 0 || w < 0 || (h > 0 && w > kMaxFuzzPixels / h)) continue;  // h * w could overflow
    fuzz::expect_ok_or_input_error([&] {
      io::Rle r = io::annotation_to_rle(ds, a);
      io::rle_check(r, "annotation");
      (void)io::rle_area(r);
    });
  }
  return 0;
}
