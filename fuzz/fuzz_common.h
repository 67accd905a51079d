// Shared by the fuzz targets: the contract under test is "bad input raises InputError, never
// anything else". Any other exception escapes LLVMFuzzerTestOneInput and libFuzzer reports it
// as a crash (uncaught exception -> abort), as it does for ASan/UBSan findings.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "common/error.h"

namespace himtok::fuzz {

inline std::string as_string(const uint8_t* data, size_t size) {
  return std::string(reinterpret_cast<const char*>(data), size);
}

// Runs fn(); InputError is the expected answer to bad input and is swallowed.
template <typename F>
bool expect_ok_or_input_error(F&& fn) {
  try {
    fn();
    return true;
  } catch (const InputError&) {
    return false;
  }
}

// A failed property (a round trip that does not round-trip): abort so libFuzzer saves the input.
[[noreturn]] inline void property_failed(const char* what) {
  __builtin_printf("property failed: %s\n", what);
  __builtin_trap();
}

}  // namespace himtok::fuzz
