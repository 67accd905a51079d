#include "io/draw.h"

#include <stb/stb_easy_font.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace himtok::io {

Image make_canvas(int64_t h, int64_t w, Rgb bg) {
  Image img(h, w, 3);
  for (int64_t i = 0; i < h * w; ++i) std::copy(bg.begin(), bg.end(), &img.data[static_cast<size_t>(i * 3)]);
  return img;
}

void fill_rect(Image& img, int64_t x0, int64_t y0, int64_t x1, int64_t y1, Rgb c) {
  x0 = std::max<int64_t>(0, x0), y0 = std::max<int64_t>(0, y0);
  x1 = std::min(img.w, x1), y1 = std::min(img.h, y1);
  for (int64_t y = y0; y < y1; ++y)
    for (int64_t x = x0; x < x1; ++x) {
      uint8_t* p = img.px(y, x);
      for (int64_t k = 0; k < std::min<int64_t>(img.c, 3); ++k) p[k] = c[k];
    }
}

void draw_text(Image& img, int64_t x, int64_t y, const std::string& text, Rgb c, int scale) {
  static float buf[4 * 4 * 2000];  // 4 vertices x (x,y,z,color) per quad; single-threaded use
  std::string t = text;
  int quads = stb_easy_font_print(0, 0, t.data(), nullptr, buf, sizeof(buf));
  for (int q = 0; q < quads; ++q) {
    float* v = &buf[q * 16];  // vertex = x, y, z, packed color
    float qx0 = v[0], qy0 = v[1], qx1 = v[8], qy1 = v[9];
    fill_rect(img, x + static_cast<int64_t>(qx0 * scale), y + static_cast<int64_t>(qy0 * scale),
              x + static_cast<int64_t>(qx1 * scale), y + static_cast<int64_t>(qy1 * scale), c);
  }
}

int64_t text_width(const std::string& text, int scale) {
  std::string t = text;
  return static_cast<int64_t>(stb_easy_font_width(t.data())) * scale;
}

void draw_line(Image& img, double x0, double y0, double x1, double y1, Rgb c, int th) {
  const double len = std::max(std::abs(x1 - x0), std::abs(y1 - y0));
  const int n = std::max(1, static_cast<int>(std::ceil(len)));
  for (int i = 0; i <= n; ++i) {
    double t = static_cast<double>(i) / n;
    int64_t x = static_cast<int64_t>(std::lround(x0 + t * (x1 - x0))), y = static_cast<int64_t>(std::lround(y0 + t * (y1 - y0)));
    fill_rect(img, x - th / 2, y - th / 2, x - th / 2 + th, y - th / 2 + th, c);
  }
}

void paste(Image& dst, const Image& src, int64_t x, int64_t y, int64_t w, int64_t h) {
  for (int64_t yy = 0; yy < h; ++yy)
    for (int64_t xx = 0; xx < w; ++xx) {
      int64_t X = x + xx, Y = y + yy;
      if (X < 0 || Y < 0 || X >= dst.w || Y >= dst.h) continue;
      const uint8_t* s = src.px(yy * src.h / h, xx * src.w / w);
      uint8_t* d = dst.px(Y, X);
      for (int64_t k = 0; k < 3 && k < dst.c; ++k) d[k] = src.c >= 3 ? s[k] : s[0];
    }
}

Image gray_from_probs(const FloatMap& p) {
  Image img(p.h, p.w, 1);
  for (size_t i = 0; i < p.data.size(); ++i)
    img.data[i] = static_cast<uint8_t>(std::lround(std::clamp(p.data[i], 0.f, 1.f) * 255.f));
  return img;
}

Image gray_from_mask(const Mask& m) {
  Image img(m.h, m.w, 1);
  for (size_t i = 0; i < m.data.size(); ++i) img.data[i] = m.data[i] ? 255 : 0;
  return img;
}

Image overlay_mask(const Image& rgb, const Mask& mask, Rgb color, double alpha) {
  Image out(rgb.h, rgb.w, 3);
  for (int64_t y = 0; y < rgb.h; ++y)
    for (int64_t x = 0; x < rgb.w; ++x) {
      const uint8_t* s = rgb.px(y, x);
      uint8_t* d = out.px(y, x);
      for (int k = 0; k < 3; ++k) d[k] = rgb.c >= 3 ? s[k] : s[0];
      if (y >= mask.h || x >= mask.w || !mask.at(y, x)) continue;
      bool edge = false;
      for (int dy = -1; dy <= 1 && !edge; ++dy)
        for (int dx = -1; dx <= 1; ++dx) {
          int64_t yy = y + dy, xx = x + dx;
          if (yy < 0 || xx < 0 || yy >= mask.h || xx >= mask.w || !mask.at(yy, xx)) {
            edge = true;
            break;
          }
        }
      for (int k = 0; k < 3; ++k)
        d[k] = edge ? color[k] : static_cast<uint8_t>(std::lround((1 - alpha) * d[k] + alpha * color[k]));
    }
  return out;
}

Image line_chart(const std::vector<Series>& series, const std::string& title, const std::string& xlabel, int64_t h,
                 int64_t w, bool log_y) {
  Image img = make_canvas(h, w);
  const int64_t L = 70, R = 20, T = 40, B = 50;
  double xmin = 1e300, xmax = -1e300, ymin = 1e300, ymax = -1e300;
  auto fy = [&](double y) { return log_y ? std::log10(std::max(y, 1e-12)) : y; };
  for (auto& s : series)
    for (size_t i = 0; i < s.x.size(); ++i) {
      if (!std::isfinite(s.y[i])) continue;
      xmin = std::min(xmin, s.x[i]), xmax = std::max(xmax, s.x[i]);
      ymin = std::min(ymin, fy(s.y[i])), ymax = std::max(ymax, fy(s.y[i]));
    }
  if (xmin > xmax) xmin = 0, xmax = 1, ymin = 0, ymax = 1;
  if (xmax == xmin) xmax = xmin + 1;
  if (ymax == ymin) ymax = ymin + 1;
  double pad = 0.05 * (ymax - ymin);
  ymin -= pad, ymax += pad;
  auto px = [&](double x) { return L + (x - xmin) / (xmax - xmin) * static_cast<double>(w - L - R); };
  auto py = [&](double y) { return static_cast<double>(h - B) - (fy(y) - ymin) / (ymax - ymin) * static_cast<double>(h - T - B); };
  const Rgb grid{225, 225, 225}, ink{40, 40, 40};
  char buf[64];
  for (int i = 0; i <= 5; ++i) {
    double yv = ymin + (ymax - ymin) * i / 5.0;
    double yy = static_cast<double>(h - B) - static_cast<double>(h - T - B) * i / 5.0;
    draw_line(img, L, yy, static_cast<double>(w - R), yy, grid);
    std::snprintf(buf, sizeof buf, "%.3g", log_y ? std::pow(10.0, yv) : yv);
    draw_text(img, 4, static_cast<int64_t>(yy) - 6, buf, ink, 1);
    double xv = xmin + (xmax - xmin) * i / 5.0, xx = px(xv);
    draw_line(img, xx, T, xx, static_cast<double>(h - B), grid);
    std::snprintf(buf, sizeof buf, "%.4g", xv);
    draw_text(img, static_cast<int64_t>(xx) - 10, h - B + 6, buf, ink, 1);
  }
  draw_line(img, L, static_cast<double>(h - B), static_cast<double>(w - R), static_cast<double>(h - B), ink);
  draw_line(img, L, T, L, static_cast<double>(h - B), ink);
  for (auto& s : series)
    for (size_t i = 1; i < s.x.size(); ++i)
      if (std::isfinite(s.y[i]) && std::isfinite(s.y[i - 1]))
        draw_line(img, px(s.x[i - 1]), py(s.y[i - 1]), px(s.x[i]), py(s.y[i]), s.color, 2);
  draw_text(img, L, 10, title, ink, 2);
  draw_text(img, w / 2 - text_width(xlabel, 1) / 2, h - 20, xlabel, ink, 1);
  int64_t ly = T + 6;
  for (auto& s : series) {
    fill_rect(img, w - R - 150, ly + 2, w - R - 136, ly + 8, s.color);
    draw_text(img, w - R - 130, ly, s.name, ink, 1);
    ly += 14;
  }
  return img;
}

}  // namespace himtok::io
