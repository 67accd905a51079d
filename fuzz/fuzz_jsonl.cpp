// HiMTok training jsonl (one JSON object per line with "image", "mask", "conversations"), read
// through the mask source from a temporary file. Mask paths point nowhere, so most accepted lines
// end in the "not found" InputError; what is fuzzed is the line and field handling.
#include <unistd.h>

#include <cstdio>
#include <string>

#include "data/masks_sources.h"
#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace himtok;
  static const std::string path = "/tmp/himtok_fuzz_jsonl_" + std::to_string(::getpid()) + ".jsonl";
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return 0;
  std::fwrite(data, 1, size, f);
  std::fclose(f);
  fuzz::expect_ok_or_input_error([&] {
    auto src = data::detail::make_jsonl_source(path);
    (void)src->size();
    (void)src->describe();
  });
  return 0;
}
