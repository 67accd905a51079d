// The LMM's mask-token strings (no libtorch):
//   <|mt_start|><|mt_12|><|mt_1000|>...<|mt_end|>     (1..32 ids, each < codebook size)
// The strict parser for user-given token strings is lmm::parse_mask_tokens (lmm/response.h),
// which also has the lenient parser for model output.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace himtok::tok {

std::string format_token_string(const std::vector<int64_t>& ids);
// "3,17,1000" -> ids (InputError for an id >= codebook size, more than max_tokens ids, other text).
std::vector<int64_t> parse_id_list(const std::string& s, int64_t codebook_size = 1024, int64_t max_tokens = 32);
std::string format_id_list(const std::vector<int64_t>& ids);

}  // namespace himtok::tok
