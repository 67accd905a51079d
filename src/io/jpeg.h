// JPEG decoding with libjpeg-turbo, the decoder PIL uses (Debian's python3-pil and the Pillow
// wheels link libjpeg-turbo; default settings: islow IDCT, fancy upsampling). stb_image's own
// decoder differs from it by up to 3 levels in about 5% of the values of a photo, which changes
// the tiles the LMM sees; with libjpeg the decoded pixels equal PIL's `Image.open(p).convert('RGB')`
// (tested on the golden set's photos). No libtorch.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "common/mask.h"

namespace himtok::io {

// bytes: a whole JPEG file. Decodes to 3 channels (RGB) as PIL's convert('RGB'): YCbCr/RGB files
// through libjpeg's colour conversion, grayscale files replicated. Returns false (out untouched,
// *why set) for what it does not decode like PIL (CMYK/YCCK files) and for corrupt data; the
// caller then falls back or reports *why.
bool decode_jpeg_rgb(const uint8_t* bytes, size_t n, Image* out, std::string* why);

}  // namespace himtok::io
