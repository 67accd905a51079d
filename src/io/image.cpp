#include "io/image.h"

#include <stb/stb_image.h>
#include <stb/stb_image_write.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <vector>
#include <filesystem>
#include <memory>

#include "common/error.h"
#include "io/jpeg.h"
#include "io/limits.h"

namespace himtok::io {

// PNG, JPEG (SOI marker) and BMP signatures.
static bool known_format(const uint8_t* b, size_t n) {
  static const uint8_t kPng[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (n >= 8 && std::memcmp(b, kPng, 8) == 0) return true;
  if (n >= 3 && b[0] == 0xff && b[1] == 0xd8 && b[2] == 0xff) return true;
  return n >= 2 && b[0] == 'B' && b[1] == 'M';
}

// stb_image 2.27 (Debian 12's libstb) writes past its 257-entry Huffman size table when a DHT
// segment declares more than 256 codes (found by fuzz/fuzz_image; upstream checks n > 256 since
// 2.28). Walk the JPEG's markers as stb does and refuse such tables before stb sees any byte
// (stbi_info parses the tables too). Between markers, entropy-coded data is skipped: 0xFF00 is a
// stuffed byte, RSTn and TEM have no length, 0xFF fill bytes repeat.
static void check_jpeg_huffman_tables(const uint8_t* b, size_t n, const std::string& what) {
  auto at = [&](size_t i) -> size_t { return i < n ? b[i] : 0; };  // stb reads 0 past the end
  size_t i = 2;  // after SOI
  while (i + 1 < n) {
    if (b[i] != 0xff || b[i + 1] == 0xff) {
      ++i;
      continue;
    }
    const uint8_t m = b[i + 1];
    if (m == 0x00 || m == 0x01 || (m >= 0xd0 && m <= 0xd7)) {
      i += 2;
      continue;
    }
    if (m == 0xd9) return;  // EOI
    const size_t len = at(i + 2) << 8 | at(i + 3);  // counts its own 2 bytes
    if (m != 0xc4) {
      i += 2 + len;
      continue;
    }
    // DHT: tables of [class/id byte, 16 code counts, the codes] until the length is used up.
    int64_t left = static_cast<int64_t>(len) - 2;
    size_t p = i + 4;
    while (left > 0) {
      size_t codes = 0;
      for (size_t k = 1; k <= 16; ++k) codes += at(p + k);
      HIMTOK_CHECK_INPUT(codes <= 256, what, ": cannot read image (corrupt JPEG: a Huffman table of ", codes,
                         " codes, at most 256)");
      p += 17 + codes;
      left -= static_cast<int64_t>(17 + codes);
    }
    i = p;
  }
}

// stb_image 2.27 copies a zero-length IDAT chunk that comes before any image data into its
// not-yet-allocated data buffer: memcpy(NULL, p, 0), undefined behaviour (UBSan at
// stb_image.h:1663; found by fuzz/fuzz_image). A zero-length IDAT adds nothing to the zlib stream,
// so such chunks are dropped from a copy before stb sees the file; the image is unchanged.
// Returns false (and leaves *out alone) when the file has none. A truncated chunk ends the walk:
// its bytes are kept as they are, and stb reports the truncation.
static bool drop_empty_idat_chunks(const uint8_t* b, size_t n, std::vector<uint8_t>* out) {
  auto be32 = [&](size_t i) { return uint32_t{b[i]} << 24 | uint32_t{b[i + 1]} << 16 | uint32_t{b[i + 2]} << 8 | b[i + 3]; };
  auto empty_idat = [&](size_t i) { return be32(i) == 0 && std::memcmp(b + i + 4, "IDAT", 4) == 0; };
  auto chunk_end = [&](size_t i) -> size_t {  // length, type, data, CRC; n if truncated
    const uint32_t len = be32(i);
    return n - i < 12 || len > n - i - 12 ? n : i + 12 + len;
  };
  bool any = false;
  for (size_t i = 8; i + 8 <= n && !any; i = chunk_end(i)) any = empty_idat(i);
  if (!any) return false;
  out->assign(b, b + 8);
  size_t i = 8;
  for (; i + 8 <= n; i = chunk_end(i))
    if (!empty_idat(i)) out->insert(out->end(), b + i, b + chunk_end(i));
  out->insert(out->end(), b + i, b + n);  // a tail shorter than a chunk header
  return true;
}

// stb's failure reason, printable: for an unknown critical PNG chunk stb puts the chunk's four
// type bytes, whatever they are (a newline included), into the message.
static std::string stb_reason() {
  const char* r = stbi_failure_reason();
  std::string s = r ? r : "unknown error";
  for (char& ch : s)
    if (ch < 0x20 || ch > 0x7e) ch = '?';
  return s;
}

Image decode_image(const uint8_t* bytes, size_t n, int channels, const std::string& what) {
  HIMTOK_CHECK_INPUT(channels >= 0 && channels <= 4, what, ": cannot load with ", channels, " channels");
  HIMTOK_CHECK_INPUT(n > 0, what, ": empty file");
  HIMTOK_CHECK_INPUT(n <= static_cast<size_t>(INT32_MAX), what, ": ", n, " bytes, larger than stb can read (2 GiB)");
  HIMTOK_CHECK_INPUT(known_format(bytes, n), what, ": cannot read image (not a PNG, JPEG or BMP file)");
  if (bytes[0] == 0xff) check_jpeg_huffman_tables(bytes, n, what);
  // PNG: IHDR is the first chunk (bytes 16..23: width, height, big-endian). Checked here too, as
  // stbi_info reports sizes over its own 2^30-byte limit only as "unknown image type".
  if (bytes[0] == 0x89 && n >= 24 && std::memcmp(bytes + 12, "IHDR", 4) == 0) {
    auto be32 = [&](size_t i) { return int64_t{bytes[i]} << 24 | bytes[i + 1] << 16 | bytes[i + 2] << 8 | bytes[i + 3]; };
    check_pixel_budget(be32(20), be32(16), str_cat(what, ": image"));
  }
  std::vector<uint8_t> cleaned;
  if (bytes[0] == 0x89 && drop_empty_idat_chunks(bytes, n, &cleaned)) {
    bytes = cleaned.data();
    n = cleaned.size();
  }
  const int len = static_cast<int>(n);
  int w = 0, h = 0, c = 0;
  // The header alone: refuse decompression bombs before stb allocates for them.
  HIMTOK_CHECK_INPUT(stbi_info_from_memory(bytes, len, &w, &h, &c) != 0, what, ": cannot read image (",
                     stb_reason(), ")");
  check_pixel_budget(h, w, str_cat(what, ": image"));
  if (bytes[0] == 0xff) {  // JPEG: libjpeg-turbo, as PIL decodes it (io/jpeg.h); stb never sees one
    Image img;
    std::string why;
    HIMTOK_CHECK_INPUT(decode_jpeg(bytes, n, channels, &img, &why), what, ": cannot read image (JPEG: ", why, ")");
    check_pixel_budget(img.h, img.w, str_cat(what, ": image"));
    return img;
  }
  int n_stored = 0;
  std::unique_ptr<stbi_uc, void (*)(void*)> px(stbi_load_from_memory(bytes, len, &w, &h, &n_stored, channels),
                                               stbi_image_free);
  HIMTOK_CHECK_INPUT(px != nullptr, what, ": cannot read image (", stb_reason(), ")");
  HIMTOK_CHECK_INPUT(w > 0 && h > 0, what, ": empty image");
  check_pixel_budget(h, w, str_cat(what, ": image"));  // the decoder's own idea of the size
  Image img(h, w, channels ? channels : n_stored);
  std::copy(px.get(), px.get() + img.data.size(), img.data.begin());
  return img;
}

Image load_image(const std::string& path, int channels) {
  HIMTOK_CHECK_INPUT(channels >= 0 && channels <= 4, path, ": cannot load with ", channels, " channels");
  HIMTOK_CHECK_INPUT(std::filesystem::exists(path), path, ": no such file");
  std::ifstream f(path, std::ios::binary);
  HIMTOK_CHECK_INPUT(f.good(), path, ": cannot open");
  const std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  HIMTOK_CHECK_INPUT(!f.bad(), path, ": read error");
  return decode_image(bytes.data(), bytes.size(), channels, path);
}

Mask load_mask(const std::string& path, int threshold) {
  Image img = load_image(path, 1);
  Mask m(img.h, img.w);
  for (size_t i = 0; i < m.data.size(); ++i) {
    uint8_t v = img.data[i];
    m.data[i] = threshold >= 0 ? static_cast<uint8_t>(v > threshold) : v;
  }
  return m;
}

static bool ends_with(const std::string& s, const std::string& suf) {
  if (s.size() < suf.size()) return false;
  std::string tail = s.substr(s.size() - suf.size());
  for (auto& c : tail) c = static_cast<char>(std::tolower(c));
  return tail == suf;
}

void save_image(const std::string& path, const Image& img) {
  HIMTOK_CHECK_INPUT(img.h > 0 && img.w > 0 && img.c >= 1 && img.c <= 4, path, ": cannot write an empty image");
  std::string tmp = path + ".tmp.png";
  int ok = 0;
  if (ends_with(path, ".jpg") || ends_with(path, ".jpeg")) {
    tmp = path + ".tmp.jpg";
    ok = stbi_write_jpg(tmp.c_str(), static_cast<int>(img.w), static_cast<int>(img.h), static_cast<int>(img.c),
                        img.data.data(), 95);
  } else {
    HIMTOK_CHECK_INPUT(ends_with(path, ".png"), path, ": unknown image extension; use .png or .jpg");
    ok = stbi_write_png(tmp.c_str(), static_cast<int>(img.w), static_cast<int>(img.h), static_cast<int>(img.c),
                        img.data.data(), static_cast<int>(img.w * img.c));
  }
  HIMTOK_CHECK_INPUT(ok != 0, path, ": cannot write image");
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  HIMTOK_CHECK_INPUT(!ec, path, ": cannot write image (", ec.message(), ")");
}

void save_mask(const std::string& path, const Mask& mask) {
  Image img(mask.h, mask.w, 1);
  bool binary = true;
  for (uint8_t v : mask.data) binary = binary && v <= 1;
  for (size_t i = 0; i < mask.data.size(); ++i) img.data[i] = binary ? static_cast<uint8_t>(mask.data[i] * 255) : mask.data[i];
  save_image(path, img);
}

}  // namespace himtok::io
