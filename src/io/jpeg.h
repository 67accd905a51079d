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

// bytes: a whole JPEG file. channels: 0 = as stored (1 gray, 3 RGB), 1 = PIL's convert('L')
// (gray files as stored, colour ones by L = (19595 R + 38470 G + 7471 B + 32768) >> 16), 3 =
// convert('RGB') (YCbCr/RGB through libjpeg's colour conversion, gray replicated), 2 / 4 = the same
// with an opaque alpha. Returns false (out untouched, *why set) for corrupt data and for CMYK/YCCK
// files, which PIL converts in ways not reproduced here.
bool decode_jpeg(const uint8_t* bytes, size_t n, int channels, Image* out, std::string* why);

}  // namespace himtok::io
