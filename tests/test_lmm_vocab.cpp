// lmm/vocab: SentencePiece training with the HiMTok specials, ids, round trips, strict loading.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "common/error.h"
#include "lmm/templates.h"
#include "lmm/vocab.h"

namespace {

using namespace himtok::lmm;
namespace fs = std::filesystem;

// One small vocab for the whole file (a BPE model over 60 train scenes: ~0.2 s).
const Vocab& small_vocab() {
  static const Vocab v = Vocab::train(build_vocab_corpus(Templates::builtin(), 60, 7));
  return v;
}

fs::path temp_dir() {
  fs::path p = fs::temp_directory_path() / ("himtok_test_vocab_" + std::to_string(::getpid()));
  fs::create_directories(p);
  return p;
}

TEST(LmmVocab, SpecialsAreSingleIds) {
  const Vocab& v = small_vocab();
  for (const auto& s : special_strings()) {
    const auto ids = v.encode(s);
    ASSERT_EQ(ids.size(), 1u) << s;
    EXPECT_TRUE(v.is_special(ids[0])) << s;
    EXPECT_EQ(v.piece(ids[0]), s);
  }
  const auto& sp = v.specials();
  EXPECT_EQ(v.encode("<|im_end|>")[0], sp.im_end);
  EXPECT_EQ(v.encode("<IMG_CONTEXT>")[0], sp.img_context);
  EXPECT_EQ(sp.unk, 0);
  EXPECT_EQ(sp.bos, 1);
  EXPECT_EQ(sp.eos, 2);
  EXPECT_EQ(sp.pad, 3);
  EXPECT_FALSE(v.is_special(v.encode("circle")[0]));
}

TEST(LmmVocab, MaskIdsAreContiguous) {
  const Vocab& v = small_vocab();
  const int m0 = v.specials().mask0;
  for (int k = 0; k < kCodebookSize; ++k) {
    EXPECT_EQ(v.mask_id(k), m0 + k);
    EXPECT_EQ(v.encode(mask_token_string(k)), std::vector<int>{m0 + k});
    EXPECT_EQ(v.mask_code(m0 + k), k);
  }
  EXPECT_FALSE(v.is_mask_token(m0 - 1));
  EXPECT_FALSE(v.is_mask_token(m0 + kCodebookSize));
  EXPECT_FALSE(v.is_mask_token(v.specials().mask_start));
  EXPECT_EQ(v.mask_code(v.specials().mask_end), -1);
  EXPECT_THROW(v.mask_id(kCodebookSize), himtok::InputError);
  EXPECT_THROW(v.mask_id(-1), himtok::InputError);
  EXPECT_THROW(mask_token_string(1024), himtok::InputError);
}

TEST(LmmVocab, RoundTripOfResponseWithMaskAndBox) {
  const Vocab& v = small_vocab();
  std::vector<int> codes;
  for (int k = 0; k < 32; ++k) codes.push_back((k * 97 + 5) % 1024);
  const std::string response = "Sure, the mask appears at " + format_mask_tokens(codes) +
                               ", and here\u2019s the box: <box>[[12, 345, 678, 1000]]</box>.";
  const auto ids = v.encode(response);
  EXPECT_EQ(v.decode(ids), response);
  // The 32 mask tokens are 32 consecutive ids after <|mt_start|>, then <|mt_end|>.
  const auto& sp = v.specials();
  auto it = std::find(ids.begin(), ids.end(), sp.mask_start);
  ASSERT_NE(it, ids.end());
  const size_t s = static_cast<size_t>(it - ids.begin());
  ASSERT_GT(ids.size(), s + 33);
  for (int k = 0; k < 32; ++k) EXPECT_EQ(ids[s + 1 + k], v.mask_id(codes[k]));
  EXPECT_EQ(ids[s + 33], sp.mask_end);
}

TEST(LmmVocab, RoundTripOfChatTextWithNewlinesSpacesAndUnseenCharacters) {
  const Vocab& v = small_vocab();
  const std::string text = "<|im_start|>system\n  double  spaces\tand tab<|im_end|>\n<|im_start|>user\n"
                           "<img><IMG_CONTEXT><IMG_CONTEXT></img>\nWas ist das? \u00e9\u00e8 \U0001F600 \u6f22\u5b57<|im_end|>\n";
  EXPECT_EQ(v.decode(v.encode(text)), text);
  EXPECT_EQ(v.decode(v.encode(" leading space")), " leading space");
  EXPECT_EQ(v.decode({}), "");
}

TEST(LmmVocab, SerializedAndFileRoundTrip) {
  const Vocab& v = small_vocab();
  const Vocab w = Vocab::from_serialized(v.serialized(), "copy");
  EXPECT_EQ(w.n_vocab(), v.n_vocab());
  EXPECT_EQ(w.specials().mask0, v.specials().mask0);
  const std::string s = "Segment <ref>the second circle from the left</ref>.";
  EXPECT_EQ(w.encode(s), v.encode(s));

  const fs::path dir = temp_dir();
  const std::string path = (dir / "vocab.model").string();
  v.save(path);
  const Vocab u = Vocab::load(path);
  EXPECT_EQ(u.encode(s), v.encode(s));
  EXPECT_EQ(u.origin(), path);
  fs::remove_all(dir);
}

TEST(LmmVocab, DecodeRejectsOutOfRangeIds) {
  const Vocab& v = small_vocab();
  EXPECT_THROW(v.decode({5, v.n_vocab()}), himtok::InputError);
  EXPECT_THROW(v.decode({-1}), himtok::InputError);
  EXPECT_THROW(v.piece(v.n_vocab()), himtok::InputError);
  try {
    v.decode({v.n_vocab() + 7});
    FAIL();
  } catch (const himtok::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("out of range"), std::string::npos) << e.what();
  }
}

TEST(LmmVocab, LoadRejectsMissingAndCorruptFiles) {
  EXPECT_THROW(Vocab::load("/nonexistent/vocab.model"), himtok::InputError);
  const fs::path dir = temp_dir();
  const std::string path = (dir / "garbage.model").string();
  {
    std::ofstream out(path, std::ios::binary);
    out << "this is not a protobuf";
  }
  EXPECT_THROW(Vocab::load(path), himtok::InputError);
  EXPECT_THROW(Vocab::from_serialized("", "empty"), himtok::InputError);
  fs::remove_all(dir);
}

TEST(LmmVocab, LoadRejectsAModelWithoutTheSpecials) {
  // Cut the mask tokens out by damaging the serialized proto: replace "<|mt_7|>" by "<|mt_x|>"
  // (same length), so the model loads but lacks one mask token.
  std::string bytes = small_vocab().serialized();
  const size_t p = bytes.find("<|mt_7|>");
  ASSERT_NE(p, std::string::npos);
  bytes[p + 5] = 'x';
  try {
    Vocab::from_serialized(bytes, "damaged.model");
    FAIL() << "expected InputError";
  } catch (const himtok::InputError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("damaged.model"), std::string::npos) << msg;
    EXPECT_NE(msg.find("<|mt_7|>"), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
}

TEST(LmmVocab, TrainRejectsBadOptions) {
  EXPECT_THROW(Vocab::train({}), himtok::InputError);
  VocabTrainOptions o;
  o.vocab_size = 1000;  // fewer than the specials
  EXPECT_THROW(Vocab::train({"a b c"}, o), himtok::InputError);
  o = {};
  o.model_type = "word";
  EXPECT_THROW(Vocab::train({"a b c"}, o), himtok::InputError);
}

TEST(LmmVocab, TrainingIsDeterministic) {
  const auto corpus = build_vocab_corpus(Templates::builtin(), 20, 3);
  VocabTrainOptions o;
  o.vocab_size = 1600;
  const Vocab a = Vocab::train(corpus, o), b = Vocab::train(corpus, o);
  EXPECT_EQ(a.serialized(), b.serialized());
}

}  // namespace
