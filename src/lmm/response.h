// Parsing model responses (never throws on malformed model output: a status and a warning line
// come back instead) and user-given mask-token strings (strict: InputError). No libtorch.
//
// Mask spans. The first <|mt_start|> opens the span; the mask tokens that follow it, up to
// n_expected (32), are its codes. The run stops early at anything else, and the status says why:
//   kOk          n_expected codes, then <|mt_end|>
//   kNoMask      no <|mt_start|> (empty codes)
//   kShort       fewer codes, then <|mt_end|>           (the prefix is a valid coarse mask)
//   kTruncated   fewer codes, then the output ended      (prefix kept)
//   kGarbage     fewer codes, then something else: text, another <|mt_start|>, an out-of-range
//                <|mt_K|> (text), an id outside the vocabulary (ids)   (prefix kept)
//   kMissingEnd  n_expected codes, then not <|mt_end|> (more mask tokens, text, or the end)
// codes may be empty with a status other than kNoMask (e.g. "<|mt_start|><|mt_end|>"): callers
// decode the codes when non-empty and use an empty mask otherwise (issue 4: never a crash).
// Text mode skips ASCII whitespace between tokens silently; ids mode has no whitespace ids to skip.
//
// The official inference (official-himtok.md §4.4) ignores all of this and decodes the logits at
// positions start+1 .. start+32 whenever start + 33 < T; MaskSpan::official_valid reports that rule.
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace himtok::lmm {

class Vocab;

enum class MaskStatus { kOk, kNoMask, kShort, kTruncated, kGarbage, kMissingEnd };
const char* mask_status_name(MaskStatus s);  // "ok", "no_mask", "short", "truncated", "garbage", "missing_end"

struct MaskSpan {
  MaskStatus status = MaskStatus::kNoMask;
  std::vector<int> codes;      // in [0, 1024), at most n_expected
  int64_t start = -1;          // index of the first <|mt_start|>: token index (ids) or byte offset (text)
  int n_starts = 0;            // <|mt_start|> count in the whole response (only the first is used)
  bool official_valid = false; // ids mode: start >= 0 && start + n_expected + 1 < ids.size()
  std::string warning;         // one line; empty iff status == kOk and n_starts <= 1
  bool ok() const { return status == MaskStatus::kOk; }
};

// Generated ids (without the prompt). Out-of-range ids are garbage, never an error.
MaskSpan parse_mask_ids(const std::vector<int>& ids, const Vocab& vocab, int n_expected = 32);
// Decoded text.
MaskSpan parse_mask_text(const std::string& text, int n_expected = 32);

// Strict parser for user-given token strings: "<|mt_start|><|mt_5|>...<|mt_end|>" or the bare
// tokens "<|mt_5|><|mt_7|>..." (whitespace between tokens allowed), 1..max_tokens codes.
// InputError naming the offending offset otherwise ("<|mt_0012|>", "<|mt_1024|>", text, a start
// without an end, ...).
std::vector<int> parse_mask_tokens(const std::string& text, int max_tokens = 32);

// ---------------------------------------------------------------------------------------------
// Boxes: the official REC regex  \[*\[(.*?),(.*?),(.*?),(.*?)\]\]*  (Python re.findall semantics,
// '.' not matching '\n'), so both "[[1, 2, 3, 4]]" and "[1, 2, 3, 4]" match, inside <box> or not.

struct BoxMatch {
  std::array<std::string, 4> groups;  // the captured texts
  std::array<double, 4> values{};     // valid iff `numeric`
  bool numeric = false;               // all four parse as Python float() would, and are finite
  size_t begin = 0, end = 0;          // byte range of the match
};
std::vector<BoxMatch> find_boxes(const std::string& text);
// The official choice: the first match, if numeric (the official code does not try later ones).
std::optional<std::array<double, 4>> first_box(const std::string& text);
// evaluate_grounding.py end to end: first_box, or (0,0,0,0) on failure; if the values sum to >= 4
// they are divided by 999; then x * W, y * H. Pixel xyxy.
std::array<double, 4> official_rec_box(const std::string& text, int64_t w, int64_t h);

// ---------------------------------------------------------------------------------------------
// Yes / no: the first word (letters only, case-insensitive) if it is yes or no; otherwise the only
// one of the whole words "yes" / "no" present; otherwise kUnknown.
enum class YesNo { kYes, kNo, kUnknown };
YesNo parse_yes_no(const std::string& text);

// Multiple choice, as the official MaP scorer (eval/evaluate_mask_perception.py :: mcq_acc.process):
// "^([A-E])\.\s*(.+)$" (case-insensitive) on the stripped text, else punctuation processing and the
// first standalone letter a-e (\b[A-E]\b, case-insensitive; note "a" as an article counts, as
// upstream). Returns 'A'..'E', or 0 if none; the official scorer then maps anything not in A-D to
// 'A'. Non-ASCII bytes count as word characters.
char parse_choice(const std::string& text);
// The same, returning the letter as a string, or (no letter) the processed answer text, as the
// official scorer's process() does; eval::parse_choice is this function.
std::string parse_choice_answer(const std::string& text);

}  // namespace himtok::lmm
