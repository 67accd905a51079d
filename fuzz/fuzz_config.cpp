// Config JSON: the tokenizer's (TokenizerConfig::from_json) and the LMM's (lmm::from_json, strict).
// Accepted configs must validate and survive to_json -> from_json unchanged.
#include <nlohmann/json.hpp>

#include "fuzz_common.h"
#include "io/limits.h"
#include "lmm/config.h"
#include "tokenizer/options.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace himtok;
  const std::string s = fuzz::as_string(data, size);
  fuzz::expect_ok_or_input_error([&] {
    tok::TokenizerConfig c = tok::TokenizerConfig::from_json(s, "fuzz.json");
    c.validate();
    tok::TokenizerConfig d = tok::TokenizerConfig::from_json(c.to_json(), "round trip");
    if (d.to_json() != c.to_json()) fuzz::property_failed("tokenizer config round trip");
  });
  fuzz::expect_ok_or_input_error([&] {
    nlohmann::json j = io::parse_json(s, "fuzz.json");
    lmm::LmmConfig c;
    lmm::from_json(j, c);
    c.validate();
  });
  return 0;
}
