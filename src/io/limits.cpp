#include "io/limits.h"

#include <nlohmann/json.hpp>

#include "common/error.h"

namespace himtok::io {

nlohmann::json parse_json(const char* begin, const char* end, const std::string& what) {
  // The callback sees every value with its depth; throwing there stops the parse before the
  // deep part is built (nlohmann's own parser has no depth limit).
  struct TooDeep {};
  auto depth_guard = [](int depth, nlohmann::json::parse_event_t, nlohmann::json&) {
    if (depth > kMaxJsonDepth) throw TooDeep{};
    return true;
  };
  try {
    return nlohmann::json::parse(begin, end, depth_guard);
  } catch (const TooDeep&) {
    throw InputError(str_cat(what, ": JSON nested deeper than ", kMaxJsonDepth, " levels"));
  } catch (const nlohmann::json::exception& e) {
    const std::string msg = e.what();
    throw InputError(str_cat(what, ": invalid JSON (", msg.substr(0, msg.find('\n')), ")"));
  }
}

nlohmann::json parse_json(const std::string& text, const std::string& what) {
  return parse_json(text.data(), text.data() + text.size(), what);
}

void check_pixel_budget(int64_t h, int64_t w, const std::string& what) {
  HIMTOK_CHECK_INPUT(h >= 0 && w >= 0, what, ": negative size ", h, "x", w);
  // h * w computed in 128 bits: both factors may be near 2^63.
  const __int128 n = static_cast<__int128>(h) * w;
  HIMTOK_CHECK_INPUT(n <= kMaxImagePixels, what, ": ", h, "x", w, " pixels exceed the limit of ", kMaxImagePixels,
                     " (", kMaxImagePixels >> 20, " M) pixels");
}

}  // namespace himtok::io
