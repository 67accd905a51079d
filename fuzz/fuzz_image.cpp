// The mask and image reader (stb_image behind a format whitelist and a pixel budget checked on the
// header before decoding). The decoded image must have the size stb reported and hold h*w*c bytes.
#include <vector>

#include "common/mask.h"
#include "fuzz_common.h"
#include "io/image.h"
#include "io/limits.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace himtok;
  std::vector<uint8_t> buf(data, data + size);
  for (int channels : {0, 1, 3}) {  // 3: photos, through libjpeg-turbo (io/jpeg.h)
    fuzz::expect_ok_or_input_error([&] {
      Image img = io::decode_image(buf.data(), buf.size(), channels, "fuzz.png");
      if (img.h <= 0 || img.w <= 0 || img.h * img.w > io::kMaxImagePixels) fuzz::property_failed("image size");
      if (img.data.size() != static_cast<size_t>(img.h * img.w * img.c)) fuzz::property_failed("image bytes");
      if (channels && img.c != channels) fuzz::property_failed("channels");
    });
  }
  return 0;
}
