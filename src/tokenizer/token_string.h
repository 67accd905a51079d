// The LMM's mask-token strings (no libtorch):
//   <|mt_start|><|mt_12|><|mt_1000|>...<|mt_end|>     (1..32 ids, each < codebook size)
// parse_token_string is strict: it is for user input (CLI --tokens), and raises InputError for a
// missing start/end, an id >= codebook size, more than max_tokens tokens, or any other text.
// Whitespace between tokens is allowed. lmm/response.h has the lenient parser for model output.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace himtok::tok {

std::string format_token_string(const std::vector<int64_t>& ids);
std::vector<int64_t> parse_token_string(const std::string& s, int64_t codebook_size = 1024, int64_t max_tokens = 32);
// "3,17,1000" -> ids, with the same checks.
std::vector<int64_t> parse_id_list(const std::string& s, int64_t codebook_size = 1024, int64_t max_tokens = 32);
std::string format_id_list(const std::vector<int64_t>& ids);

}  // namespace himtok::tok
