// Masks and images as plain bytes, for the torch-free tiers (io, data, eval).
//   Mask:  H x W, row-major, one byte per pixel; binary masks hold 0/1 (not 0/255).
//   Image: H x W x C, row-major, interleaved channels (C = 1 or 3), 8 bits.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace himtok {

struct Mask {
  int64_t h = 0, w = 0;
  std::vector<uint8_t> data;  // size h*w
  Mask() = default;
  Mask(int64_t h_, int64_t w_, uint8_t fill = 0) : h(h_), w(w_), data(static_cast<size_t>(h_ * w_), fill) {}
  uint8_t& at(int64_t y, int64_t x) { return data[static_cast<size_t>(y * w + x)]; }
  uint8_t at(int64_t y, int64_t x) const { return data[static_cast<size_t>(y * w + x)]; }
  int64_t area() const {
    int64_t a = 0;
    for (uint8_t v : data) a += v != 0;
    return a;
  }
};

struct Image {
  int64_t h = 0, w = 0, c = 0;
  std::vector<uint8_t> data;  // size h*w*c
  Image() = default;
  Image(int64_t h_, int64_t w_, int64_t c_, uint8_t fill = 0)
      : h(h_), w(w_), c(c_), data(static_cast<size_t>(h_ * w_ * c_), fill) {}
  uint8_t* px(int64_t y, int64_t x) { return &data[static_cast<size_t>((y * w + x) * c)]; }
  const uint8_t* px(int64_t y, int64_t x) const { return &data[static_cast<size_t>((y * w + x) * c)]; }
};

// A float map in [0,1] (probabilities, soft masks): H x W row-major.
struct FloatMap {
  int64_t h = 0, w = 0;
  std::vector<float> data;
  FloatMap() = default;
  FloatMap(int64_t h_, int64_t w_, float fill = 0.f) : h(h_), w(w_), data(static_cast<size_t>(h_ * w_), fill) {}
};

}  // namespace himtok
