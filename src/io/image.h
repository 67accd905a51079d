// Image files <-> bytes, through stb_image / stb_image_write (Debian's libstb). No libtorch.
// Errors (missing, unreadable, corrupt, zero-sized) raise InputError naming the path.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "common/mask.h"

namespace himtok::io {

// Loads any stb-readable file (PNG, JPEG, BMP, ...) with `channels` = 1 (gray, ITU-R 601 luma as
// stb computes it), 3 (RGB) or 0 (as stored: 1..4; gray+alpha and RGBA are kept as 2/4).
Image load_image(const std::string& path, int channels = 0);

// The same from bytes in memory (`what` names them in errors). Accepted formats: PNG, JPEG and
// BMP, recognised by their first bytes; other stb formats (GIF, PSD, HDR, PIC, PNM, TGA) are refused
// to keep the decoder surface small. The header's size is checked against kMaxImagePixels
// (io/limits.h) before anything is decoded.
Image decode_image(const uint8_t* bytes, size_t n, int channels, const std::string& what);

// Loads a mask: gray values (RGB files are converted to gray first); with `threshold` >= 0 the
// result is binary (v > threshold -> 1), with threshold < 0 the raw 0..255 values are kept.
Mask load_mask(const std::string& path, int threshold = 127);

// Writes PNG (by extension .png) or JPEG (.jpg/.jpeg, quality 95). Atomic: temp file + rename.
void save_image(const std::string& path, const Image& img);
// Writes a binary (0/1) or 8-bit mask as a gray PNG; 0/1 masks are scaled to 0/255.
void save_mask(const std::string& path, const Mask& mask);

}  // namespace himtok::io
