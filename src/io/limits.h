// Documented limits on outside input (docs/RELIABILITY.md lists them with their errors). Input
// past a limit raises InputError naming the file and the limit, before anything large is allocated.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include <nlohmann/json_fwd.hpp>

namespace himtok::io {

// Pixels of one decoded image or mask (2^28 = 268 M: 16384 x 16384; a gray mask that size is
// 256 MiB, RGB 768 MiB). Image headers are checked before decoding, RLE sizes before decoding.
// The fuzz build lowers it (fuzz/CMakeLists.txt) so that mutated headers cost parsing, not
// gigabyte allocations; the check itself is the same code.
#ifndef HIMTOK_MAX_IMAGE_PIXELS
#define HIMTOK_MAX_IMAGE_PIXELS (int64_t{1} << 28)
#endif
constexpr int64_t kMaxImagePixels = HIMTOK_MAX_IMAGE_PIXELS;

// Nesting depth of any JSON document we read (COCO needs 5, configs 3, safetensors headers 3).
constexpr int kMaxJsonDepth = 64;

// Safetensors header bytes (the JSON part; the largest official headers are ~100 KB).
constexpr uint64_t kMaxSafetensorsHeader = uint64_t{100} << 20;

// nlohmann::json::parse with the depth limit: InputError "<what>: invalid JSON (...)" or
// "<what>: JSON nested deeper than 64 levels".
nlohmann::json parse_json(const char* begin, const char* end, const std::string& what);
nlohmann::json parse_json(const std::string& text, const std::string& what);

// InputError unless h, w >= 0 and h * w <= kMaxImagePixels (`what` names the source).
void check_pixel_budget(int64_t h, int64_t w, const std::string& what);

}  // namespace himtok::io
