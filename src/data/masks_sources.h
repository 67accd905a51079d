// Private to src/data: the concrete mask sources behind open_mask_source (mask_source.cpp).
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "data/mask_source.h"

namespace himtok::data::detail {

// Implemented by sources that know their masks' areas without decoding them (palette sources
// count pixels while indexing) or a lower bound on all of them (synthetic sources).
class AreaInfo {
 public:
  virtual ~AreaInfo() = default;
  virtual int64_t item_area(size_t i) const = 0;  // -1: unknown
  virtual int64_t min_area_bound() const { return 0; }
};

// Implemented by sources that know an item's group without decoding its mask (all of ours), so
// that split_by_group does not decode every mask.
class GroupInfo {
 public:
  virtual ~GroupInfo() = default;
  virtual std::string item_group(size_t i) const = 0;
};

std::unique_ptr<MaskSource> make_png_dir_source(const std::string& dir);       // masks_png.cpp
std::unique_ptr<MaskSource> make_palette_source(const std::string& dir);       // masks_png.cpp
std::unique_ptr<MaskSource> make_jsonl_source(const std::string& path);        // masks_jsonl.cpp
std::unique_ptr<MaskSource> make_synthetic_source(uint64_t n, uint64_t seed);  // mask_source.cpp

// Runs fn(i) for i in [0, n) on up to hardware_concurrency threads; rethrows the first exception.
void parallel_for(size_t n, const std::function<void(size_t)>& fn);

}  // namespace himtok::data::detail
