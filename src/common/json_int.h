// One check for integer fields of JSON we read (configs): nlohmann's get<int64_t>() converts a
// float such as 1e58 by a cast, undefined behaviour past the range (found by fuzz_config).
#pragma once
#include <cstdint>

#include <nlohmann/json.hpp>

namespace himtok {

// True when j is a JSON integer (not a float) of at most 2^62 in magnitude.
inline bool is_json_int(const nlohmann::json& j) {
  return j.is_number_integer() && !(j.is_number_unsigned() && j.get<uint64_t>() > uint64_t{1} << 62);
}

}  // namespace himtok
