// Small raster drawing for the pictures the CLI writes (coarse-to-fine strips, overlays,
// galleries, training curves): panels, text (stb_easy_font's 8-pixel font, scaled), lines.
// No libtorch. Everything clips to the image.
#pragma once
#include <array>
#include <string>
#include <vector>

#include "common/mask.h"

namespace himtok::io {

using Rgb = std::array<uint8_t, 3>;

Image make_canvas(int64_t h, int64_t w, Rgb bg = {255, 255, 255});
void fill_rect(Image& img, int64_t x0, int64_t y0, int64_t x1, int64_t y1, Rgb c);  // [x0,x1) x [y0,y1)
// Text with its top-left at (x, y); `scale` multiplies the ~7-pixel glyph height.
void draw_text(Image& img, int64_t x, int64_t y, const std::string& text, Rgb c, int scale = 2);
int64_t text_width(const std::string& text, int scale = 2);
void draw_line(Image& img, double x0, double y0, double x1, double y1, Rgb c, int thickness = 1);
// Pastes `src` (gray or RGB) at (x, y), resized (nearest) to (w, h).
void paste(Image& dst, const Image& src, int64_t x, int64_t y, int64_t w, int64_t h);
// A probability map as a gray image (0 -> black, 1 -> white).
Image gray_from_probs(const FloatMap& p);
Image gray_from_mask(const Mask& m);  // 0/1 -> 0/255
// Blends `color` over the image where mask is set (alpha in [0,1]) and outlines the mask.
Image overlay_mask(const Image& rgb, const Mask& mask, Rgb color, double alpha = 0.5);

// A line chart (e.g. loss curves): several named series over x.
struct Series {
  std::string name;
  std::vector<double> x, y;
  Rgb color;
};
Image line_chart(const std::vector<Series>& series, const std::string& title, const std::string& xlabel,
                 int64_t h = 480, int64_t w = 800, bool log_y = false);

}  // namespace himtok::io
