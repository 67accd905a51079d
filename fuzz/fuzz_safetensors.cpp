// A whole safetensors file (size prefix, JSON header, data). Every accepted view must lie inside
// the input: ASan checks the first and last byte of each one.
#include <cstdint>
#include <vector>

#include "fuzz_common.h"
#include "io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace himtok;
  // A copy of exactly `size` bytes, so that ASan sees any read past the end.
  std::vector<uint8_t> buf(data, data + size);
  fuzz::expect_ok_or_input_error([&] {
    io::SafeTensorsContents c = io::parse_safetensors(buf.data(), buf.size(), "fuzz.safetensors");
    volatile uint8_t sink = 0;
    for (const auto& [name, v] : c.tensors) {
      if (v.nbytes == 0) continue;
      if (v.data < buf.data() || v.data + v.nbytes > buf.data() + buf.size()) fuzz::property_failed("view outside input");
      sink = sink + v.data[0] + v.data[v.nbytes - 1];
      if (static_cast<uint64_t>(v.numel()) * io::dtype_size(v.dtype) != v.nbytes) fuzz::property_failed("numel*size != nbytes");
    }
  });
  return 0;
}
