// COCO compressed RLE strings. Input: u16 h, u16 w (little-endian, each taken mod kSide + 1 to keep
// masks small and within the fuzz build's pixel budget), then the counts string. Properties:
//   - every accepted string decodes (its counts fit in h*w);
//   - rle_from_string(rle_to_string(r)) == r;
//   - x canonical (what pycocotools writes: no empty run but the first, runs cover h*w,
//     x == rle_to_string(rle_from_string(x))) => rle_to_string(rle_encode(rle_decode(x))) == x.
#include "fuzz_common.h"
#include "io/limits.h"
#include "io/rle.h"

// The fuzz build's pixel budget is 2^16 (fuzz/CMakeLists.txt): every mask of up to kSide x kSide
// is within it, so rle_decode of an accepted string must not throw.
constexpr int64_t kSide = 256;
static_assert(kSide * kSide <= himtok::io::kMaxImagePixels, "fuzz_rle masks must fit the pixel budget");

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace himtok;
  if (size < 4) return 0;
  const int64_t h = (data[0] | data[1] << 8) % (kSide + 1), w = (data[2] | data[3] << 8) % (kSide + 1);
  const std::string s = fuzz::as_string(data + 4, size - 4);
  io::Rle r;
  if (!fuzz::expect_ok_or_input_error([&] { r = io::rle_from_string(s, h, w); })) return 0;
  const Mask m = io::rle_decode(r);  // must not throw: from_string checked the counts
  const std::string s2 = io::rle_to_string(r);
  if (io::rle_from_string(s2, h, w).counts != r.counts) fuzz::property_failed("to_string/from_string round trip");
  uint64_t sum = 0;
  bool canonical = s2 == s;
  for (size_t i = 0; i < r.counts.size(); ++i) {
    sum += r.counts[i];
    if (i > 0 && r.counts[i] == 0) canonical = false;
  }
  canonical = canonical && sum == static_cast<uint64_t>(h * w) && h * w > 0;
  if (canonical && io::rle_to_string(io::rle_encode(m)) != s) fuzz::property_failed("encode(decode(x)) != x");
  if (io::rle_area(r) != static_cast<uint64_t>(m.area())) fuzz::property_failed("area");
  (void)io::rle_to_bbox(r);
  return 0;
}
