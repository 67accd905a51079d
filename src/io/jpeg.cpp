// libjpeg-turbo decoding (see jpeg.h). Errors come back through longjmp from libjpeg's error
// manager (its default handler would exit the process).
#include "io/jpeg.h"

#include <jpeglib.h>

#include <csetjmp>
#include <cstdio>
#include <vector>

namespace himtok::io {

namespace {

struct ErrorManager {
  jpeg_error_mgr pub;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

void on_error(j_common_ptr c) {
  auto* e = reinterpret_cast<ErrorManager*>(c->err);
  (*c->err->format_message)(c, e->message);
  std::longjmp(e->jump, 1);
}

void on_message(j_common_ptr, int) {}  // warnings (e.g. premature end of data): PIL ignores them too

}  // namespace

bool decode_jpeg(const uint8_t* bytes, size_t n, int channels, Image* out, std::string* why) {
  jpeg_decompress_struct cinfo;
  ErrorManager err;
  cinfo.err = jpeg_std_error(&err.pub);
  err.pub.error_exit = on_error;
  err.pub.emit_message = on_message;
  err.message[0] = '\0';
  // Declared before setjmp: a longjmp must not skip a C++ constructor or destructor.
  Image img;
  std::vector<uint8_t> row;
  if (setjmp(err.jump)) {
    jpeg_destroy_decompress(&cinfo);
    *why = err.message;
    return false;
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, bytes, static_cast<unsigned long>(n));
  jpeg_read_header(&cinfo, TRUE);
  const bool gray = cinfo.jpeg_color_space == JCS_GRAYSCALE;
  if (!gray && cinfo.num_components != 3) {
    jpeg_destroy_decompress(&cinfo);
    *why = "a " + std::to_string(cinfo.num_components) + "-component (CMYK/YCCK) JPEG";
    return false;
  }
  cinfo.out_color_space = gray ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_start_decompress(&cinfo);
  const int64_t w = cinfo.output_width, h = cinfo.output_height, c = cinfo.output_components;
  const int64_t oc = channels == 0 ? c : channels;
  img = Image(h, w, oc);
  row.resize(static_cast<size_t>(w * c));
  while (cinfo.output_scanline < cinfo.output_height) {
    const int64_t y = cinfo.output_scanline;
    JSAMPROW rows[1] = {row.data()};
    jpeg_read_scanlines(&cinfo, rows, 1);
    uint8_t* dst = img.data.data() + y * w * oc;
    for (int64_t x = 0; x < w; ++x) {
      const uint8_t* px = row.data() + x * c;
      // gray value: stored, or PIL's ITU-R 601-2 luma in fixed point (Convert.c, L24)
      const uint8_t gray =
          c == 1 ? px[0] : static_cast<uint8_t>((19595 * px[0] + 38470 * px[1] + 7471 * px[2] + 0x8000) >> 16);
      uint8_t* d = dst + x * oc;
      if (oc <= 2) {
        d[0] = gray;
        if (oc == 2) d[1] = 255;
      } else {
        for (int64_t k = 0; k < 3; ++k) d[k] = c == 3 ? px[k] : px[0];
        if (oc == 4) d[3] = 255;
      }
    }
  }
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  *out = std::move(img);
  return true;
}

}  // namespace himtok::io
