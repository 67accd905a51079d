// lmm/vocab next to libtorch: the regression test for Debian's libsentencepiece (own protobuf 3.14)
// meeting libtorch's libprotobuf 3.21 in one process (a crash at start-up or an abort in
// SentencePieceTrainer::Train before SentencePiece moved into the dlopen'ed libhimtok_spm.so).
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "lmm/templates.h"
#include "lmm/vocab.h"

namespace {

using namespace himtok::lmm;

TEST(LmmVocab, SentencePieceCoexistsWithLibtorch) {
  // libtorch first (libprotobuf 3.21 is loaded and initialised), then train, encode and decode.
  const at::Tensor before = at::ones({2, 3});
  VocabTrainOptions o;
  o.vocab_size = 1600;
  const Vocab v = Vocab::train(build_vocab_corpus(Templates::builtin(), 20, 5), o);
  const std::string s = "Segment <ref>the red circle</ref>: <|mt_start|><|mt_7|><|mt_end|>";
  const auto ids = v.encode(s);
  EXPECT_EQ(v.decode(ids), s);
  EXPECT_EQ(v.encode("<|mt_7|>"), std::vector<int>{v.mask_id(7)});
  // A round trip through the serialised proto (protobuf parsing inside the plugin).
  EXPECT_EQ(Vocab::from_serialized(v.serialized(), "copy").encode(s), ids);
  // libtorch still works afterwards, in the same process.
  const at::Tensor t = at::tensor(std::vector<int64_t>(ids.begin(), ids.end()));
  EXPECT_EQ(t.numel(), static_cast<int64_t>(ids.size()));
  EXPECT_EQ((before * 2).sum().item<double>(), 12.0);
}

}  // namespace
