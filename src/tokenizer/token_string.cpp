#include "tokenizer/token_string.h"

#include <cctype>

#include "common/error.h"

namespace himtok::tok {

std::string format_token_string(const std::vector<int64_t>& ids) {
  std::string s = "<|mt_start|>";
  for (int64_t id : ids) s += "<|mt_" + std::to_string(id) + "|>";
  return s + "<|mt_end|>";
}

std::string format_id_list(const std::vector<int64_t>& ids) {
  std::string s;
  for (size_t i = 0; i < ids.size(); ++i) s += (i ? "," : "") + std::to_string(ids[i]);
  return s;
}

std::vector<int64_t> parse_id_list(const std::string& s, int64_t codebook_size, int64_t max_tokens) {
  std::vector<int64_t> ids;
  size_t pos = 0;
  while (pos <= s.size()) {
    size_t comma = s.find(',', pos);
    std::string part = s.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    size_t a = part.find_first_not_of(" \t"), b = part.find_last_not_of(" \t");
    HIMTOK_CHECK_INPUT(a != std::string::npos, "id list: empty entry at offset ", pos, " of '", excerpt(s), "'");
    part = part.substr(a, b - a + 1);
    for (char c : part) HIMTOK_CHECK_INPUT(std::isdigit(static_cast<unsigned char>(c)), "id list: '", excerpt(part), "' is not a token id");
    HIMTOK_CHECK_INPUT(part.size() < 10, "id list: '", excerpt(part), "' is out of range");
    int64_t id = std::stoll(part);
    HIMTOK_CHECK_INPUT(id < codebook_size, "id list: token id ", id, " is out of range [0,", codebook_size, ")");
    ids.push_back(id);
    HIMTOK_CHECK_INPUT(static_cast<int64_t>(ids.size()) <= max_tokens, "id list: more than ", max_tokens, " ids");
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return ids;
}

}  // namespace himtok::tok
