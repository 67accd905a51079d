// model.safetensors.index.json: the weight map (tensor -> shard file name).
#include "fuzz_common.h"
#include "io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace himtok;
  fuzz::expect_ok_or_input_error([&] {
    auto map = io::parse_weight_map(fuzz::as_string(data, size), "fuzz.index.json");
    for (const auto& [name, shard] : map)
      if (shard.empty() || shard.find('/') != std::string::npos || shard == "..") fuzz::property_failed("shard path");
  });
  return 0;
}
