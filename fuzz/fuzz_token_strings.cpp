// User-given mask-token strings ("<|mt_start|><|mt_5|>...<|mt_end|>"), id lists ("3,17,1000")
// and the lenient model-output parser. Accepted strings must round-trip through the formatter.
#include <vector>

#include "fuzz_common.h"
#include "lmm/response.h"
#include "tokenizer/token_string.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace himtok;
  const std::string s = fuzz::as_string(data, size);
  fuzz::expect_ok_or_input_error([&] {
    std::vector<int> codes = lmm::parse_mask_tokens(s);
    if (codes.empty() || codes.size() > 32) fuzz::property_failed("parse_mask_tokens count");
    std::vector<int64_t> ids(codes.begin(), codes.end());
    for (int64_t id : ids)
      if (id < 0 || id >= 1024) fuzz::property_failed("parse_mask_tokens range");
    if (lmm::parse_mask_tokens(tok::format_token_string(ids)) != codes) fuzz::property_failed("token string round trip");
  });
  fuzz::expect_ok_or_input_error([&] {
    std::vector<int64_t> ids = tok::parse_id_list(s);
    for (int64_t id : ids)
      if (id < 0 || id >= 1024) fuzz::property_failed("parse_id_list range");
    if (tok::parse_id_list(tok::format_id_list(ids)) != ids) fuzz::property_failed("id list round trip");
  });
  // Model output never throws.
  lmm::MaskSpan span = lmm::parse_mask_text(s);
  if (span.codes.size() > 32) fuzz::property_failed("parse_mask_text count");
  if (span.ok() != span.warning.empty() && span.n_starts <= 1) fuzz::property_failed("warning iff not ok");
  return 0;
}
