#include "io/image.h"

#include <stb/stb_image.h>
#include <stb/stb_image_write.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <vector>
#include <filesystem>
#include <memory>

#include "common/error.h"
#include "io/jpeg.h"

namespace himtok::io {

Image load_image(const std::string& path, int channels) {
  HIMTOK_CHECK_INPUT(channels >= 0 && channels <= 4, path, ": cannot load with ", channels, " channels");
  HIMTOK_CHECK_INPUT(std::filesystem::exists(path), path, ": no such file");
  if (channels == 3) {  // photos: libjpeg-turbo, as PIL decodes them (io/jpeg.h)
    std::ifstream f(path, std::ios::binary);
    const std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    Image img;
    std::string why;
    if (bytes.size() > 3 && bytes[0] == 0xff && bytes[1] == 0xd8 && bytes[2] == 0xff &&
        decode_jpeg_rgb(bytes.data(), bytes.size(), &img, &why))
      return img;
  }
  int w = 0, h = 0, n = 0;
  std::unique_ptr<stbi_uc, void (*)(void*)> px(stbi_load(path.c_str(), &w, &h, &n, channels), stbi_image_free);
  HIMTOK_CHECK_INPUT(px != nullptr, path, ": cannot read image (", stbi_failure_reason(), ")");
  HIMTOK_CHECK_INPUT(w > 0 && h > 0, path, ": empty image");
  Image img(h, w, channels ? channels : n);
  std::copy(px.get(), px.get() + img.data.size(), img.data.begin());
  return img;
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
