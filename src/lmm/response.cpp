// Response parsing: mask spans (ids or text), strict mask-token strings, boxes, yes/no, choices.
#include "lmm/response.h"

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "common/error.h"
#include "lmm/vocab.h"

namespace himtok::lmm {

const char* mask_status_name(MaskStatus s) {
  switch (s) {
    case MaskStatus::kOk: return "ok";
    case MaskStatus::kNoMask: return "no_mask";
    case MaskStatus::kShort: return "short";
    case MaskStatus::kTruncated: return "truncated";
    case MaskStatus::kGarbage: return "garbage";
    case MaskStatus::kMissingEnd: return "missing_end";
  }
  return "?";
}

namespace {

constexpr const char* kMtPrefix = "<|mt_";

bool starts_with_at(const std::string& s, size_t pos, const char* lit) { return s.compare(pos, std::char_traits<char>::length(lit), lit) == 0; }

bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

// A mask token "<|mt_K|>" at pos (not start/end). kValid: K canonical (no leading zero) and < 1024.
enum class MtParse { kNotToken, kValid, kBadNumber };
MtParse parse_mt_at(const std::string& s, size_t pos, int* code, size_t* len) {
  if (!starts_with_at(s, pos, kMtPrefix)) return MtParse::kNotToken;
  size_t p = pos + 5, q = p;
  while (q < s.size() && std::isdigit(static_cast<unsigned char>(s[q]))) ++q;
  if (q == p || !starts_with_at(s, q, "|>")) return MtParse::kNotToken;
  *len = q + 2 - pos;
  const size_t n_digits = q - p;
  if ((n_digits > 1 && s[p] == '0') || n_digits > 4) return MtParse::kBadNumber;
  const int k = std::atoi(s.substr(p, n_digits).c_str());
  if (k >= kCodebookSize) return MtParse::kBadNumber;
  *code = k;
  return MtParse::kValid;
}

void finish_warning(MaskSpan& m, int n_expected, const std::string& detail) {
  std::string w;
  const size_t n = m.codes.size();
  switch (m.status) {
    case MaskStatus::kOk: break;
    case MaskStatus::kNoMask: w = "no mask in the response (no <|mt_start|>)"; break;
    case MaskStatus::kShort:
      w = str_cat("mask has ", n, " of ", n_expected, " tokens before <|mt_end|>");
      break;
    case MaskStatus::kTruncated:
      w = str_cat("response ended inside the mask after ", n, " of ", n_expected, " tokens");
      break;
    case MaskStatus::kGarbage:
      w = str_cat("mask interrupted after ", n, " of ", n_expected, " tokens by ", detail);
      break;
    case MaskStatus::kMissingEnd:
      w = str_cat("mask of ", n, " tokens not followed by <|mt_end|> (", detail, ")");
      break;
  }
  if (m.status != MaskStatus::kOk && m.status != MaskStatus::kNoMask)
    w += n > 0 ? str_cat("; decoding the ", n, "-token prefix") : std::string("; empty mask");
  if (m.n_starts > 1) w += str_cat(w.empty() ? "" : "; ", m.n_starts, " masks in the response, only the first is used");
  m.warning = w;
}

// The end conditions that the text and the id parsers share; true (status set) when the span is over.
bool span_over(MaskSpan& m, int n_expected, bool at_end, bool at_close) {
  if (static_cast<int>(m.codes.size()) == n_expected) {
    m.status = at_close ? MaskStatus::kOk : MaskStatus::kMissingEnd;
    return true;
  }
  if (at_end) {
    m.status = MaskStatus::kTruncated;
    return true;
  }
  if (at_close) {
    m.status = MaskStatus::kShort;
    return true;
  }
  return false;
}

}  // namespace

MaskSpan parse_mask_text(const std::string& text, int n_expected) {
  MaskSpan m;
  const std::string start_tok = kMaskStart, end_tok = kMaskEnd;
  for (size_t p = text.find(start_tok); p != std::string::npos; p = text.find(start_tok, p + 1)) {
    if (m.start < 0) m.start = static_cast<int64_t>(p);
    ++m.n_starts;
  }
  if (m.start < 0) {
    finish_warning(m, n_expected, "");
    return m;
  }
  size_t pos = static_cast<size_t>(m.start) + start_tok.size();
  std::string detail;
  for (;;) {
    while (pos < text.size() && is_ws(text[pos])) ++pos;
    const bool at_end = pos >= text.size();
    const bool at_close = !at_end && starts_with_at(text, pos, kMaskEnd);
    if (span_over(m, n_expected, at_end, at_close)) {
      if (m.status == MaskStatus::kMissingEnd) detail = at_end ? "end of response" : str_cat("'", excerpt(text, pos, std::string::npos, 20), "'");
      break;
    }
    int code = 0;
    size_t len = 0;
    const MtParse r = starts_with_at(text, pos, kMaskStart) ? MtParse::kNotToken : parse_mt_at(text, pos, &code, &len);
    if (r == MtParse::kValid) {
      m.codes.push_back(code);
      pos += len;
      continue;
    }
    m.status = MaskStatus::kGarbage;
    if (r == MtParse::kBadNumber)
      detail = str_cat("invalid mask token '", excerpt(text, pos, len), "'");
    else if (starts_with_at(text, pos, kMaskStart))
      detail = "a second <|mt_start|>";
    else
      detail = str_cat("text '", excerpt(text, pos, std::string::npos, 20), "'");
    break;
  }
  finish_warning(m, n_expected, detail);
  return m;
}

MaskSpan parse_mask_ids(const std::vector<int>& ids, const Vocab& vocab, int n_expected) {
  MaskSpan m;
  const auto& sp = vocab.specials();
  for (size_t i = 0; i < ids.size(); ++i)
    if (ids[i] == sp.mask_start) {
      if (m.start < 0) m.start = static_cast<int64_t>(i);
      ++m.n_starts;
    }
  if (m.start < 0) {
    finish_warning(m, n_expected, "");
    return m;
  }
  m.official_valid = m.start + n_expected + 1 < static_cast<int64_t>(ids.size());
  size_t pos = static_cast<size_t>(m.start) + 1;
  auto describe = [&](size_t p) -> std::string {
    const int id = ids[p];
    if (id < 0 || id >= vocab.n_vocab()) return str_cat("out-of-vocabulary id ", id, " at position ", p);
    return str_cat("id ", id, " '", vocab.piece(id), "' at position ", p);
  };
  std::string detail;
  for (;;) {
    const bool at_end = pos >= ids.size();
    const bool at_close = !at_end && ids[pos] == sp.mask_end;
    if (span_over(m, n_expected, at_end, at_close)) {
      if (m.status == MaskStatus::kMissingEnd) detail = at_end ? "end of response" : describe(pos);
      break;
    }
    if (vocab.is_mask_token(ids[pos])) {
      m.codes.push_back(vocab.mask_code(ids[pos]));
      ++pos;
      continue;
    }
    m.status = MaskStatus::kGarbage;
    detail = ids[pos] == sp.mask_start ? std::string("a second <|mt_start|>") : describe(pos);
    break;
  }
  finish_warning(m, n_expected, detail);
  return m;
}

std::vector<int> parse_mask_tokens(const std::string& text, int max_tokens) {
  const std::string where = "mask tokens";
  size_t pos = 0, end = text.size();
  while (pos < end && is_ws(text[pos])) ++pos;
  while (end > pos && is_ws(text[end - 1])) --end;
  HIMTOK_CHECK_INPUT(pos < end, where, ": empty string, expected <|mt_start|><|mt_K|>...<|mt_end|>");
  const std::string body = text.substr(0, end);
  bool framed = false;
  if (starts_with_at(body, pos, kMaskStart)) {
    framed = true;
    pos += std::char_traits<char>::length(kMaskStart);
  }
  std::vector<int> codes;
  for (;;) {
    while (pos < body.size() && is_ws(body[pos])) ++pos;
    if (pos >= body.size()) {
      HIMTOK_CHECK_INPUT(!framed, where, ": missing <|mt_end|> after ", codes.size(), " tokens");
      break;
    }
    if (framed && starts_with_at(body, pos, kMaskEnd)) {
      pos += std::char_traits<char>::length(kMaskEnd);
      while (pos < body.size() && is_ws(body[pos])) ++pos;
      HIMTOK_CHECK_INPUT(pos >= body.size(), where, ": unexpected '", excerpt(body, pos, std::string::npos, 20), "' at offset ", pos,
                         " after <|mt_end|>");
      break;
    }
    int code = 0;
    size_t len = 0;
    const MtParse r = parse_mt_at(body, pos, &code, &len);
    HIMTOK_CHECK_INPUT(r != MtParse::kBadNumber, where, ": '", excerpt(body, pos, len), "' at offset ", pos,
                       " is not a mask token, expected <|mt_0|>..<|mt_", kCodebookSize - 1, "|>");
    HIMTOK_CHECK_INPUT(r == MtParse::kValid, where, ": unexpected '", excerpt(body, pos, std::string::npos, 20), "' at offset ", pos,
                       framed ? ", expected <|mt_K|> or <|mt_end|>" : ", expected <|mt_K|>");
    codes.push_back(code);
    HIMTOK_CHECK_INPUT(static_cast<int>(codes.size()) <= max_tokens, where, ": more than ", max_tokens, " tokens");
    pos += len;
  }
  HIMTOK_CHECK_INPUT(!codes.empty(), where, ": no mask tokens, expected 1..", max_tokens);
  return codes;
}

// ---------------------------------------------------------------------------------------------
// Boxes

namespace {

// Python float() on a string (decimal forms, '_' between digits), finite results only.
bool python_float(const std::string& raw, double* out) {
  size_t b = 0, e = raw.size();
  while (b < e && is_ws(raw[b])) ++b;
  while (e > b && is_ws(raw[e - 1])) --e;
  if (b == e) return false;
  // Underscores are allowed between digits only ("1_000"), and dropped.
  std::string s;
  for (size_t i = b; i < e; ++i) {
    if (raw[i] == '_') {
      const bool ok = i > b && i + 1 < e && std::isdigit(static_cast<unsigned char>(raw[i - 1])) &&
                      std::isdigit(static_cast<unsigned char>(raw[i + 1]));
      if (!ok) return false;
      continue;
    }
    s += raw[i];
  }
  // Grammar: [+-] (digits [. digits*] | . digits) [(e|E) [+-] digits]
  size_t i = 0;
  if (s[i] == '+' || s[i] == '-') ++i;
  size_t n_int = 0, n_frac = 0;
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i, ++n_int;
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i, ++n_frac;
  }
  if (n_int + n_frac == 0) return false;  // also rejects inf / nan: non-finite values are not boxes
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    size_t n_exp = 0;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i, ++n_exp;
    if (n_exp == 0) return false;
  }
  if (i != s.size()) return false;
  const double v = std::strtod(s.c_str(), nullptr);
  if (!std::isfinite(v)) return false;
  *out = v;
  return true;
}

}  // namespace

std::vector<BoxMatch> find_boxes(const std::string& text) {
  // For this pattern the first lazy attempt is the only one that can succeed (extending a group
  // only moves later groups right, and '[' runs hold no delimiter), so a direct scan reproduces
  // the backtracking engine: skip the '[' run, then ',' ',' ',' ']' without crossing '\n', then
  // the ']' run.
  std::vector<BoxMatch> out;
  size_t i = 0;
  while (i < text.size()) {
    if (text[i] != '[') {
      ++i;
      continue;
    }
    size_t p = i;
    while (p < text.size() && text[p] == '[') ++p;
    BoxMatch m;
    bool ok = true;
    const char delims[4] = {',', ',', ',', ']'};
    for (int g = 0; g < 4 && ok; ++g) {
      size_t q = p;
      while (q < text.size() && text[q] != delims[g] && text[q] != '\n') ++q;
      if (q >= text.size() || text[q] != delims[g]) {
        ok = false;
        break;
      }
      m.groups[g] = text.substr(p, q - p);
      p = q + 1;
    }
    if (!ok) {
      ++i;
      continue;
    }
    while (p < text.size() && text[p] == ']') ++p;
    m.begin = i;
    m.end = p;
    m.numeric = true;
    for (int g = 0; g < 4; ++g) m.numeric = m.numeric && python_float(m.groups[g], &m.values[g]);
    if (!m.numeric) m.values = {0, 0, 0, 0};
    out.push_back(m);
    i = p;
  }
  return out;
}

std::optional<std::array<double, 4>> first_box(const std::string& text) {
  const auto all = find_boxes(text);
  if (all.empty() || !all[0].numeric) return std::nullopt;
  return all[0].values;
}

std::array<double, 4> official_rec_box(const std::string& text, int64_t w, int64_t h) {
  std::array<double, 4> b = first_box(text).value_or(std::array<double, 4>{0, 0, 0, 0});
  if (b[0] + b[1] + b[2] + b[3] >= 4)
    for (double& v : b) v /= 999.0;
  b[0] *= static_cast<double>(w), b[2] *= static_cast<double>(w);
  b[1] *= static_cast<double>(h), b[3] *= static_cast<double>(h);
  return b;
}

// ---------------------------------------------------------------------------------------------
// Yes / no

YesNo parse_yes_no(const std::string& text) {
  std::vector<std::string> words;
  std::string cur;
  for (char c : text) {
    if (std::isalpha(static_cast<unsigned char>(c))) {
      cur += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    } else if (!cur.empty()) {
      words.push_back(cur);
      cur.clear();
    }
  }
  if (!cur.empty()) words.push_back(cur);
  if (words.empty()) return YesNo::kUnknown;
  if (words[0] == "yes") return YesNo::kYes;
  if (words[0] == "no") return YesNo::kNo;
  bool yes = false, no = false;
  for (const auto& w : words) yes |= w == "yes", no |= w == "no";
  if (yes != no) return yes ? YesNo::kYes : YesNo::kNo;
  return YesNo::kUnknown;
}

// ---------------------------------------------------------------------------------------------
// Multiple choice (official MaP scorer)

namespace {

std::string py_strip(const std::string& s, const std::string& chars = "") {
  auto strip_me = [&](char c) { return chars.empty() ? (is_ws(c) || (c >= 0x1c && c <= 0x1f)) : chars.find(c) != std::string::npos; };
  size_t b = 0, e = s.size();
  while (b < e && strip_me(s[b])) ++b;
  while (e > b && strip_me(s[e - 1])) --e;
  return s.substr(b, e - b);
}

void replace_all(std::string& s, const std::string& from, const std::string& to) {
  for (size_t p = s.find(from); p != std::string::npos; p = s.find(from, p + to.size())) s.replace(p, from.size(), to);
}

bool is_word(char c) {
  const auto u = static_cast<unsigned char>(c);
  return std::isalnum(u) || c == '_' || u >= 0x80;
}

std::string process_punctuation(const std::string& in) {
  static const char* kPunct[] = {";", "/", "[", "]", "\"", "{", "}", "(", ")", "=", "+", "\\", "_", "-", ">", "<", "@", "`", ",", "?", "!"};
  bool comma_digits = false;  // re.search(r"(\d)(\,)(\d)", in)
  for (size_t i = 1; i + 1 < in.size(); ++i)
    if (in[i] == ',' && std::isdigit(static_cast<unsigned char>(in[i - 1])) && std::isdigit(static_cast<unsigned char>(in[i + 1])))
      comma_digits = true;
  std::string out = in;
  for (const char* p : kPunct) {
    const std::string ps = p;
    const bool drop = in.find(ps + " ") != std::string::npos || in.find(" " + ps) != std::string::npos || comma_digits;
    replace_all(out, ps, drop ? "" : " ");
  }
  // periodStrip.sub("", out, re.UNICODE): re.UNICODE (32) lands in `count`, so at most 32 periods
  // not followed by a digit are removed.
  std::string res;
  int removed = 0;
  for (size_t i = 0; i < out.size(); ++i) {
    const bool digit_next = i + 1 < out.size() && std::isdigit(static_cast<unsigned char>(out[i + 1]));
    if (out[i] == '.' && !digit_next && removed < 32) {
      ++removed;
      continue;
    }
    res += out[i];
  }
  return res;
}

}  // namespace

std::string parse_choice_answer(const std::string& text) {
  const std::string s = py_strip(text);
  // ^([A-E])\.\s*(.+)$ on the stripped text (IGNORECASE).
  if (s.size() >= 3 && std::strchr("ABCDEabcde", s[0]) != nullptr && s[1] == '.') {
    const std::string rest = s.substr(2);
    const size_t last_nl = rest.rfind('\n');
    bool ok = true;
    if (last_nl != std::string::npos)
      for (size_t i = 0; i <= last_nl; ++i) ok = ok && is_ws(rest[i]);
    if (ok) return std::string(1, static_cast<char>(std::toupper(static_cast<unsigned char>(s[0]))));
  }
  std::string a = text;
  for (char& c : a)
    if (c == '\n' || c == '\t') c = ' ';
  a = py_strip(a);
  a = process_punctuation(a);
  a = py_strip(a, "'");
  a = py_strip(a, "\"");
  a = py_strip(a, ")");
  a = py_strip(a, "(");
  a = py_strip(a);
  for (char& c : a) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i] < 'a' || a[i] > 'e') continue;
    const bool left = i == 0 || !is_word(a[i - 1]);
    const bool right = i + 1 == a.size() || !is_word(a[i + 1]);
    if (left && right) return std::string(1, static_cast<char>(a[i] - 'a' + 'A'));
  }
  return a;
}

char parse_choice(const std::string& text) {
  const std::string a = parse_choice_answer(text);  // a letter A-E, or the processed (lowercase) text
  return a.size() == 1 && a[0] >= 'A' && a[0] <= 'E' ? a[0] : 0;
}

}  // namespace himtok::lmm
