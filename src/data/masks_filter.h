// Filters over a MaskSource (no libtorch).
#pragma once
#include <cstdint>
#include <memory>

#include "data/mask_source.h"

namespace himtok::data {

constexpr int64_t kDefaultMinArea = 16;  // px at native size

// A view of `src` without the masks whose area (pixels at native size) is below `min_area`.
// Areas come from the source when it knows them (palette PNGs, synthetic), else every mask is
// decoded once here (in parallel). Item ids and groups are unchanged; indices are renumbered.
std::unique_ptr<MaskSource> filter_min_area(std::unique_ptr<MaskSource> src, int64_t min_area = kDefaultMinArea);

}  // namespace himtok::data
