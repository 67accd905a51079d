// Errors of two kinds (see docs/ARCHITECTURE.md):
//   InputError   - bad input from the user: a missing or corrupt file, mis-shaped weights, a
//                  malformed token string, NaN logits, a bad flag. The CLI exits with 2.
//   logic_error  - our own bug (or TORCH_CHECK inside libtorch). The CLI exits with 1.
// Messages are one line, subject first, expected vs got: "x.safetensors: 'k' has shape [2], expected [3]".
#pragma once
#include <algorithm>
#include <sstream>
#include <stdexcept>
#include <string>

namespace himtok {

class InputError : public std::runtime_error {
 public:
  explicit InputError(const std::string& msg) : std::runtime_error(msg) {}
};

namespace detail {
inline void cat(std::ostringstream&) {}
template <typename T, typename... Rest>
void cat(std::ostringstream& os, const T& v, const Rest&... rest) {
  os << v;
  cat(os, rest...);
}
}  // namespace detail

// Concatenates its arguments with operator<< into one string.
template <typename... Args>
std::string str_cat(const Args&... args) {
  std::ostringstream os;
  detail::cat(os, args...);
  return os.str();
}

// Quotes untrusted input in a one-line error: the characters [pos, pos+len) of s, at most max
// of them, line breaks and tabs as spaces, "..." where cut (a megabyte of input must not make a
// megabyte of message).
inline std::string excerpt(const std::string& s, size_t pos = 0, size_t len = std::string::npos, size_t max = 40) {
  if (pos > s.size()) pos = s.size();
  const size_t avail = std::min(len, s.size() - pos);
  std::string out = s.substr(pos, std::min(avail, max));
  for (char& c : out)
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  if (avail > max) out += "... (" + std::to_string(avail) + " bytes)";
  return out;
}

}  // namespace himtok

// Throws himtok::InputError(message) unless cond holds. Usage:
//   HIMTOK_CHECK_INPUT(n <= 32, path, ": ", n, " mask tokens, at most 32 allowed");
#define HIMTOK_CHECK_INPUT(cond, ...)                                   \
  do {                                                                  \
    if (!(cond)) throw ::himtok::InputError(::himtok::str_cat(__VA_ARGS__)); \
  } while (0)
