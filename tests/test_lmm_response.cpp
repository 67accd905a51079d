// lmm/response: malformed model output never throws; strict token strings do; official box regex,
// yes/no and multiple-choice parsing.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "lmm/response.h"
#include "lmm/templates.h"
#include "lmm/vocab.h"

#ifndef HIMTOK_TEST_DATA
#error "HIMTOK_TEST_DATA must name tests/data"
#endif

namespace {

using namespace himtok::lmm;
using himtok::InputError;

const Vocab& vocab() {
  static const Vocab v = Vocab::train(build_vocab_corpus(Templates::builtin(), 30, 5));
  return v;
}

std::string mt(int k) { return mask_token_string(k); }
std::string tokens(int n, int first = 0) {
  std::string s;
  for (int k = 0; k < n; ++k) s += mt((first + k) % 1024);
  return s;
}
std::vector<int> seq(int n, int first = 0) {
  std::vector<int> v;
  for (int k = 0; k < n; ++k) v.push_back((first + k) % 1024);
  return v;
}

// Parses the text both ways (as text, and as ids after encoding) and checks they agree.
MaskSpan both(const std::string& text, int n_expected = 32) {
  const MaskSpan a = parse_mask_text(text, n_expected);
  const MaskSpan b = parse_mask_ids(vocab().encode(text), vocab(), n_expected);
  EXPECT_EQ(a.status, b.status) << text;
  EXPECT_EQ(a.codes, b.codes) << text;
  EXPECT_EQ(a.n_starts, b.n_starts) << text;
  EXPECT_EQ(a.warning.empty(), a.ok() && a.n_starts <= 1) << a.warning;
  EXPECT_EQ(a.warning.find('\n'), std::string::npos);
  return a;
}

// ---------------------------------------------------------------------------------------------
// Mask spans

TEST(LmmResponse, WellFormedMask) {
  const MaskSpan m = both("Sure, the mask is at <|mt_start|>" + tokens(32, 100) + "<|mt_end|>.");
  EXPECT_EQ(m.status, MaskStatus::kOk);
  EXPECT_EQ(m.codes, seq(32, 100));
  EXPECT_EQ(m.start, 21);
  EXPECT_EQ(m.n_starts, 1);
  EXPECT_TRUE(m.warning.empty());
  // Fewer expected tokens (token-length ablation).
  EXPECT_TRUE(both("<|mt_start|>" + tokens(8) + "<|mt_end|>", 8).ok());
}

TEST(LmmResponse, NoStart) {
  for (const std::string& s : std::vector<std::string>{"I cannot find it.", "", "<|mt_end|>", tokens(32)}) {
    const MaskSpan m = both(s);
    EXPECT_EQ(m.status, MaskStatus::kNoMask);
    EXPECT_TRUE(m.codes.empty());
    EXPECT_EQ(m.start, -1);
    EXPECT_FALSE(m.warning.empty());
  }
}

TEST(LmmResponse, FiveTokensThenEnd) {
  const MaskSpan m = both("The mask is at <|mt_start|>" + tokens(5, 7) + "<|mt_end|>.");
  EXPECT_EQ(m.status, MaskStatus::kShort);
  EXPECT_EQ(m.codes, seq(5, 7));
  EXPECT_NE(m.warning.find("5 of 32"), std::string::npos) << m.warning;
  EXPECT_NE(m.warning.find("5-token prefix"), std::string::npos) << m.warning;
}

TEST(LmmResponse, EmptyMask) {
  const MaskSpan m = both("<|mt_start|><|mt_end|>");
  EXPECT_EQ(m.status, MaskStatus::kShort);
  EXPECT_TRUE(m.codes.empty());
  EXPECT_NE(m.warning.find("empty mask"), std::string::npos) << m.warning;
  const MaskSpan t = both("at <|mt_start|>");
  EXPECT_EQ(t.status, MaskStatus::kTruncated);
  EXPECT_TRUE(t.codes.empty());
}

TEST(LmmResponse, TextBetweenTokens) {
  const MaskSpan m = both("<|mt_start|>" + tokens(3) + " hello " + tokens(29, 3) + "<|mt_end|>");
  EXPECT_EQ(m.status, MaskStatus::kGarbage);
  EXPECT_EQ(m.codes, seq(3));  // the prefix before the interruption
  EXPECT_NE(m.warning.find("after 3 of 32"), std::string::npos) << m.warning;
  // Whitespace between tokens is fine in text mode.
  const MaskSpan w = parse_mask_text("<|mt_start|> " + tokens(16) + "\n" + tokens(16, 16) + " <|mt_end|>");
  EXPECT_TRUE(w.ok()) << w.warning;
  EXPECT_EQ(w.codes, seq(32));
}

TEST(LmmResponse, OutOfRange) {
  // Text: <|mt_1024|> and non-canonical numbers are not mask tokens.
  MaskSpan m = parse_mask_text("<|mt_start|>" + tokens(4) + "<|mt_1024|>" + tokens(27) + "<|mt_end|>");
  EXPECT_EQ(m.status, MaskStatus::kGarbage);
  EXPECT_EQ(m.codes, seq(4));
  EXPECT_NE(m.warning.find("<|mt_1024|>"), std::string::npos) << m.warning;
  m = parse_mask_text("<|mt_start|><|mt_007|><|mt_end|>");
  EXPECT_EQ(m.status, MaskStatus::kGarbage);
  EXPECT_TRUE(m.codes.empty());
  m = parse_mask_text("<|mt_start|><|mt_99999999999999999999|><|mt_end|>");
  EXPECT_EQ(m.status, MaskStatus::kGarbage);
  // Ids: outside the vocabulary, negative, or a non-mask special.
  const Vocab& v = vocab();
  const auto& sp = v.specials();
  std::vector<int> ids = {sp.mask_start, v.mask_id(1), v.mask_id(2), v.n_vocab() + 5, v.mask_id(3), sp.mask_end};
  m = parse_mask_ids(ids, v);
  EXPECT_EQ(m.status, MaskStatus::kGarbage);
  EXPECT_EQ(m.codes, (std::vector<int>{1, 2}));
  EXPECT_NE(m.warning.find("out-of-vocabulary"), std::string::npos) << m.warning;
  ids[3] = -7;
  EXPECT_EQ(parse_mask_ids(ids, v).status, MaskStatus::kGarbage);
  ids[3] = sp.box_start;
  EXPECT_EQ(parse_mask_ids(ids, v).status, MaskStatus::kGarbage);
}

TEST(LmmResponse, TwoMasks) {
  const MaskSpan m =
      both("<|mt_start|>" + tokens(32, 1) + "<|mt_end|> and <|mt_start|>" + tokens(32, 500) + "<|mt_end|>");
  EXPECT_EQ(m.status, MaskStatus::kOk);
  EXPECT_EQ(m.codes, seq(32, 1));  // the first one
  EXPECT_EQ(m.n_starts, 2);
  EXPECT_NE(m.warning.find("2 masks"), std::string::npos) << m.warning;
  // A second start inside the first mask interrupts it.
  const MaskSpan n = both("<|mt_start|>" + tokens(3) + "<|mt_start|>" + tokens(32) + "<|mt_end|>");
  EXPECT_EQ(n.status, MaskStatus::kGarbage);
  EXPECT_EQ(n.codes, seq(3));
  EXPECT_NE(n.warning.find("second <|mt_start|>"), std::string::npos) << n.warning;
}

TEST(LmmResponse, MissingEnd) {
  MaskSpan m = both("<|mt_start|>" + tokens(32) + ".");
  EXPECT_EQ(m.status, MaskStatus::kMissingEnd);
  EXPECT_EQ(m.codes, seq(32));
  m = both("<|mt_start|>" + tokens(32));
  EXPECT_EQ(m.status, MaskStatus::kMissingEnd);
  EXPECT_NE(m.warning.find("end of response"), std::string::npos) << m.warning;
  m = both("<|mt_start|>" + tokens(40) + "<|mt_end|>");  // too many tokens
  EXPECT_EQ(m.status, MaskStatus::kMissingEnd);
  EXPECT_EQ(m.codes, seq(32));
  m = both("<|mt_start|>" + tokens(10));  // output cut inside the mask
  EXPECT_EQ(m.status, MaskStatus::kTruncated);
  EXPECT_EQ(m.codes, seq(10));
}

TEST(LmmResponse, OfficialValidityRule) {
  // Official: valid iff start + 33 < T (the token after the 32 mask positions was generated).
  const Vocab& v = vocab();
  std::vector<int> ids = v.encode("at <|mt_start|>" + tokens(32));
  MaskSpan m = parse_mask_ids(ids, v);
  EXPECT_FALSE(m.official_valid);
  ids.push_back(v.specials().mask_end);
  m = parse_mask_ids(ids, v);
  EXPECT_TRUE(m.official_valid);
  EXPECT_TRUE(m.ok());
  EXPECT_EQ(ids[static_cast<size_t>(m.start)], v.specials().mask_start);
  // Valid by the official rule even with text in the mask positions.
  ids = v.encode("<|mt_start|>" + tokens(3) + " some words here " + tokens(40));
  EXPECT_TRUE(parse_mask_ids(ids, v).official_valid);
  EXPECT_EQ(parse_mask_ids(ids, v).status, MaskStatus::kGarbage);
}

TEST(LmmResponse, StrictTokenStrings) {
  EXPECT_EQ(parse_mask_tokens("<|mt_start|>" + tokens(32) + "<|mt_end|>"), seq(32));
  EXPECT_EQ(parse_mask_tokens("  " + tokens(4, 1020) + "\n"), seq(4, 1020));
  EXPECT_EQ(parse_mask_tokens("<|mt_start|> <|mt_5|> <|mt_6|> <|mt_end|>"), (std::vector<int>{5, 6}));
  EXPECT_EQ(parse_mask_tokens(tokens(4), 4), seq(4));
  auto expect_error = [](const std::string& s, const std::string& needle, int max_tokens = 32) {
    try {
      parse_mask_tokens(s, max_tokens);
      ADD_FAILURE() << "expected InputError for '" << s << "'";
    } catch (const InputError& e) {
      const std::string m = e.what();
      EXPECT_NE(m.find(needle), std::string::npos) << m;
      EXPECT_EQ(m.find('\n'), std::string::npos) << m;
    }
  };
  expect_error("", "empty");
  expect_error("<|mt_start|><|mt_end|>", "no mask tokens");
  expect_error("<|mt_start|>" + tokens(3), "missing <|mt_end|>");
  expect_error(tokens(3) + "<|mt_end|>", "offset 24");
  expect_error("<|mt_start|><|mt_1024|><|mt_end|>", "'<|mt_1024|>' at offset 12");
  expect_error("<|mt_start|><|mt_01|><|mt_end|>", "not a mask token");
  expect_error("<|mt_start|><|mt_1|>x<|mt_end|>", "unexpected 'x");
  expect_error("<|mt_start|><|mt_1|><|mt_end|> trailing", "after <|mt_end|>");
  expect_error(tokens(33), "more than 32");
  expect_error(tokens(5), "more than 4", 4);
  expect_error("12 34 56", "unexpected");
}

TEST(LmmResponse, NeverThrowsOnArbitraryOutput) {
  // Random ids (including out-of-range ones) and random byte strings.
  const Vocab& v = vocab();
  himtok::data::Pcg32 rng(123);
  for (int trial = 0; trial < 300; ++trial) {
    std::vector<int> ids;
    const int n = static_cast<int>(rng.below(80));
    for (int i = 0; i < n; ++i) {
      const uint32_t r = rng.below(10);
      ids.push_back(r == 0 ? v.specials().mask_start
                    : r < 6 ? v.mask_id(static_cast<int>(rng.below(1024)))
                    : r == 6 ? v.specials().mask_end
                             : static_cast<int>(rng.below(static_cast<uint32_t>(v.n_vocab() + 100))) - 50);
    }
    const MaskSpan m = parse_mask_ids(ids, v, 1 + static_cast<int>(rng.below(32)));
    EXPECT_LE(m.codes.size(), 32u);
    std::string s;
    for (int i = 0; i < n; ++i) {
      const uint32_t r = rng.below(6);
      s += r == 0 ? "<|mt_start|>" : r == 1 ? "<|mt_end|>" : r == 2 ? "<|mt_" + std::to_string(rng.below(1100)) + "|>" : std::string(1, static_cast<char>(rng.below(256)));
    }
    EXPECT_NO_THROW(parse_mask_text(s));
    EXPECT_NO_THROW(find_boxes(s));
    EXPECT_NO_THROW(parse_choice(s));
    EXPECT_NO_THROW(parse_yes_no(s));
  }
}

// ---------------------------------------------------------------------------------------------
// Boxes

TEST(LmmResponse, BoxRegexMatchesPython) {
  std::ifstream in(std::string(HIMTOK_TEST_DATA) + "/lmm/box_regex_golden.json");
  ASSERT_TRUE(in.good());
  const auto golden = nlohmann::json::parse(in);
  int n_cases = 0;
  for (const auto& c : golden["cases"]) {
    const std::string text = c["text"];
    const auto got = find_boxes(text);
    ASSERT_EQ(got.size(), c["matches"].size()) << text;
    for (size_t i = 0; i < got.size(); ++i) {
      const auto& want = c["matches"][i];
      bool all_numeric = true;
      for (int g = 0; g < 4; ++g) {
        EXPECT_EQ(got[i].groups[g], want["groups"][g].get<std::string>()) << text;
        all_numeric = all_numeric && !want["values"][g].is_null();
      }
      EXPECT_EQ(got[i].numeric, all_numeric) << text;
      if (all_numeric) {
        for (int g = 0; g < 4; ++g) EXPECT_EQ(got[i].values[g], want["values"][g].get<double>()) << text;
      }
    }
    ++n_cases;
  }
  EXPECT_GE(n_cases, 18);
}

TEST(LmmResponse, FirstBoxAndOfficialRecBox) {
  EXPECT_EQ(first_box("box <box>[[10, 20, 30, 40]]</box> and [[1, 2, 3, 4]]").value(), (std::array<double, 4>{10, 20, 30, 40}));
  // The first match decides, even when it is not numeric.
  EXPECT_FALSE(first_box("[[a, b, c, d]] then [[1, 2, 3, 4]]").has_value());
  EXPECT_FALSE(first_box("no box").has_value());
  // /999 when the sum is >= 4, then scaled by W and H.
  auto b = official_rec_box("<box>[[999, 0, 999, 999]]</box>", 640, 480);
  EXPECT_DOUBLE_EQ(b[0], 640);
  EXPECT_DOUBLE_EQ(b[1], 0);
  EXPECT_DOUBLE_EQ(b[3], 480);
  b = official_rec_box("[[0.1, 0.2, 0.5, 0.6]]", 100, 200);  // sum < 4: taken as fractions
  EXPECT_DOUBLE_EQ(b[0], 10);
  EXPECT_DOUBLE_EQ(b[1], 40);
  b = official_rec_box("garbage", 100, 100);
  EXPECT_EQ(b, (std::array<double, 4>{0, 0, 0, 0}));
}

// ---------------------------------------------------------------------------------------------
// Yes / no and choices

TEST(LmmResponse, YesNo) {
  EXPECT_EQ(parse_yes_no("Yes."), YesNo::kYes);
  EXPECT_EQ(parse_yes_no("  no"), YesNo::kNo);
  EXPECT_EQ(parse_yes_no("NO, there is none."), YesNo::kNo);
  EXPECT_EQ(parse_yes_no("I think yes"), YesNo::kYes);
  EXPECT_EQ(parse_yes_no("Yesterday"), YesNo::kUnknown);
  EXPECT_EQ(parse_yes_no("nobody knows"), YesNo::kUnknown);
  EXPECT_EQ(parse_yes_no("maybe yes maybe no"), YesNo::kUnknown);
  EXPECT_EQ(parse_yes_no(""), YesNo::kUnknown);
  EXPECT_EQ(parse_yes_no("<|mt_start|>"), YesNo::kUnknown);
}

TEST(LmmResponse, ChoiceAsOfficialScorer) {
  EXPECT_EQ(parse_choice("B. the red circle"), 'B');
  EXPECT_EQ(parse_choice("  c.the red circle  "), 'C');
  EXPECT_EQ(parse_choice("D.\n the red circle"), 'D');    // \s* spans the newline
  EXPECT_EQ(parse_choice("E. first line\nsecond"), 'E');  // regex fails (. stops at \n), fallback finds "e"
  EXPECT_EQ(parse_choice("B"), 'B');
  EXPECT_EQ(parse_choice("(C)"), 'C');
  EXPECT_EQ(parse_choice("The answer is D."), 'D');
  EXPECT_EQ(parse_choice("I choose a circle"), 'A');  // upstream quirk: the article "a" is a letter
  EXPECT_EQ(parse_choice("Option_B"), 'B');           // '_' becomes a space in the punctuation pass
  EXPECT_EQ(parse_choice("the red circle"), 0);
  EXPECT_EQ(parse_choice("F."), 0);
  EXPECT_EQ(parse_choice(""), 0);
}

}  // namespace
