// SentencePiece model with the HiMTok special symbols: train, load, verify, encode/decode.
#include "lmm/vocab.h"

#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "common/error.h"

// Exported by libsentencepiece but not declared in its public headers (0.1.97); quiets the
// trainer's INFO log.
namespace sentencepiece::logging {
int GetMinLogLevel();
void SetMinLogLevel(int v);
}  // namespace sentencepiece::logging

namespace himtok::lmm {

const char* const kRefStart = "<ref>";
const char* const kRefEnd = "</ref>";
const char* const kBoxStart = "<box>";
const char* const kBoxEnd = "</box>";
const char* const kQuadStart = "<quad>";
const char* const kQuadEnd = "</quad>";
const char* const kMaskStart = "<|mt_start|>";
const char* const kMaskEnd = "<|mt_end|>";
const char* const kImgStart = "<img>";
const char* const kImgEnd = "</img>";
const char* const kImgContext = "<IMG_CONTEXT>";
const char* const kImStart = "<|im_start|>";
const char* const kImEnd = "<|im_end|>";

std::string mask_token_string(int k) {
  HIMTOK_CHECK_INPUT(k >= 0 && k < kCodebookSize, "mask token ", k, " is out of range, expected 0..", kCodebookSize - 1);
  return "<|mt_" + std::to_string(k) + "|>";
}

std::vector<std::string> special_strings() {
  std::vector<std::string> v = {kRefStart, kRefEnd, kBoxStart, kBoxEnd, kQuadStart, kQuadEnd, kMaskStart, kMaskEnd};
  for (int k = 0; k < kCodebookSize; ++k) v.push_back(mask_token_string(k));
  for (const char* s : {kImgStart, kImgEnd, kImgContext, kImStart, kImEnd}) v.push_back(s);
  return v;
}

// ---------------------------------------------------------------------------------------------

struct Vocab::Impl {
  sentencepiece::SentencePieceProcessor sp;
  SpecialIds ids;
  std::string origin;
  int n = 0;
};

Vocab::Vocab() = default;
Vocab::~Vocab() = default;
Vocab::Vocab(Vocab&&) noexcept = default;
Vocab& Vocab::operator=(Vocab&&) noexcept = default;

namespace {

// Looks up the special ids and checks that each special string is one piece that encodes to
// itself alone, and that the mask ids are contiguous.
SpecialIds verify_specials(const sentencepiece::SentencePieceProcessor& sp, const std::string& origin) {
  auto single_id = [&](const std::string& s) {
    const int id = sp.PieceToId(s);
    std::vector<int> enc;
    const auto st = sp.Encode(s, &enc);
    HIMTOK_CHECK_INPUT(st.ok() && id != sp.unk_id() && enc.size() == 1 && enc[0] == id, origin, ": special string '", s,
                       "' is not a single piece (encodes to ", enc.size(),
                       " ids); train the vocabulary with himtok (Vocab::train)");
    return id;
  };
  SpecialIds r;
  r.unk = sp.unk_id(), r.bos = sp.bos_id(), r.eos = sp.eos_id(), r.pad = sp.pad_id();
  r.ref_start = single_id(kRefStart), r.ref_end = single_id(kRefEnd);
  r.box_start = single_id(kBoxStart), r.box_end = single_id(kBoxEnd);
  r.quad_start = single_id(kQuadStart), r.quad_end = single_id(kQuadEnd);
  r.mask_start = single_id(kMaskStart), r.mask_end = single_id(kMaskEnd);
  r.img_start = single_id(kImgStart), r.img_end = single_id(kImgEnd), r.img_context = single_id(kImgContext);
  r.im_start = single_id(kImStart), r.im_end = single_id(kImEnd);
  r.mask0 = single_id(mask_token_string(0));
  for (int k = 1; k < kCodebookSize; ++k) {
    const int id = single_id(mask_token_string(k));
    HIMTOK_CHECK_INPUT(id == r.mask0 + k, origin, ": mask token ids are not contiguous: id('", mask_token_string(k),
                       "') is ", id, ", expected ", r.mask0 + k);
  }
  return r;
}

class CorpusIterator : public sentencepiece::SentenceIterator {
 public:
  explicit CorpusIterator(const std::vector<std::string>& corpus) {
    for (const auto& s : corpus) {
      std::stringstream ss(s);
      std::string line;
      while (std::getline(ss, line))
        if (!line.empty()) lines_.push_back(line);
    }
  }
  bool done() const override { return i_ >= lines_.size(); }
  void Next() override { ++i_; }
  const std::string& value() const override { return lines_[i_]; }
  sentencepiece::util::Status status() const override { return {}; }
  size_t size() const { return lines_.size(); }

 private:
  std::vector<std::string> lines_;
  size_t i_ = 0;
};

}  // namespace

Vocab Vocab::from_serialized(const std::string& proto_bytes, const std::string& origin) {
  Vocab v;
  v.impl_ = std::make_unique<Impl>();
  const auto st = v.impl_->sp.LoadFromSerializedProto(proto_bytes);
  HIMTOK_CHECK_INPUT(st.ok(), origin, ": not a SentencePiece model (", st.ToString(), ")");
  v.impl_->origin = origin;
  v.impl_->n = v.impl_->sp.GetPieceSize();
  v.impl_->ids = verify_specials(v.impl_->sp, origin);
  return v;
}

Vocab Vocab::load(const std::string& path) {
  HIMTOK_CHECK_INPUT(std::filesystem::is_regular_file(path), path, ": no such file");
  std::ifstream in(path, std::ios::binary);
  HIMTOK_CHECK_INPUT(in.good(), path, ": cannot open");
  std::ostringstream ss;
  ss << in.rdbuf();
  return from_serialized(ss.str(), path);
}

Vocab Vocab::train(const std::vector<std::string>& corpus, const VocabTrainOptions& opt) {
  HIMTOK_CHECK_INPUT(opt.model_type == "unigram" || opt.model_type == "bpe", "vocab model type '", opt.model_type,
                     "' is unknown, expected unigram or bpe");
  const int n_specials = static_cast<int>(special_strings().size()) + 4 + 256;
  HIMTOK_CHECK_INPUT(opt.vocab_size > n_specials, "vocab size ", opt.vocab_size, " is too small, expected > ", n_specials,
                     " (specials, control and byte pieces)");
  CorpusIterator it(corpus);
  HIMTOK_CHECK_INPUT(it.size() > 0, "vocab corpus is empty");
  std::string symbols;
  for (const auto& s : special_strings()) symbols += (symbols.empty() ? "" : ",") + s;
  std::ostringstream args;
  args << "--model_type=" << opt.model_type << " --vocab_size=" << opt.vocab_size << " --hard_vocab_limit=false"
       << " --user_defined_symbols=" << symbols << " --normalization_rule_name=identity"
       << " --remove_extra_whitespaces=false --add_dummy_prefix=false --byte_fallback=true --split_digits=true"
       << " --character_coverage=1.0 --unk_id=0 --bos_id=1 --eos_id=2 --pad_id=3"
       << " --num_threads=" << std::max(1, opt.n_threads) << " --model_prefix=";
  const int old_level = sentencepiece::logging::GetMinLogLevel();
  if (!opt.verbose) sentencepiece::logging::SetMinLogLevel(2);
  std::string proto;
  const auto st = sentencepiece::SentencePieceTrainer::Train(args.str(), &it, &proto);
  sentencepiece::logging::SetMinLogLevel(old_level);
  HIMTOK_CHECK_INPUT(st.ok(), "vocab training failed: ", st.ToString());
  return from_serialized(proto, "trained vocab");
}

std::string Vocab::serialized() const {
  if (!impl_) throw std::logic_error("Vocab::serialized on an empty vocab");
  return impl_->sp.serialized_model_proto();
}

void Vocab::save(const std::string& path) const {
  const std::string bytes = serialized();
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    HIMTOK_CHECK_INPUT(out.good(), path, ": cannot write");
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    HIMTOK_CHECK_INPUT(out.good(), path, ": write failed");
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  HIMTOK_CHECK_INPUT(!ec, path, ": cannot rename from ", tmp, " (", ec.message(), ")");
}

std::vector<int> Vocab::encode(const std::string& text) const {
  if (!impl_) throw std::logic_error("Vocab::encode on an empty vocab");
  std::vector<int> ids;
  const auto st = impl_->sp.Encode(text, &ids);
  HIMTOK_CHECK_INPUT(st.ok(), impl_->origin, ": cannot encode text (", st.ToString(), ")");
  return ids;
}

std::string Vocab::decode(const std::vector<int>& ids) const {
  if (!impl_) throw std::logic_error("Vocab::decode on an empty vocab");
  for (size_t i = 0; i < ids.size(); ++i)
    HIMTOK_CHECK_INPUT(ids[i] >= 0 && ids[i] < impl_->n, impl_->origin, ": token id ", ids[i], " at position ", i,
                       " is out of range, expected 0..", impl_->n - 1);
  std::string text;
  const auto st = impl_->sp.Decode(ids, &text);
  HIMTOK_CHECK_INPUT(st.ok(), impl_->origin, ": cannot decode ids (", st.ToString(), ")");
  return text;
}

std::string Vocab::piece(int id) const {
  if (!impl_) throw std::logic_error("Vocab::piece on an empty vocab");
  HIMTOK_CHECK_INPUT(id >= 0 && id < impl_->n, impl_->origin, ": token id ", id, " is out of range, expected 0..",
                     impl_->n - 1);
  return impl_->sp.IdToPiece(id);
}

int Vocab::piece_id(const std::string& p) const {
  if (!impl_) throw std::logic_error("Vocab::piece_id on an empty vocab");
  const int id = impl_->sp.PieceToId(p);
  if (id == impl_->sp.unk_id() && p != impl_->sp.IdToPiece(id)) return -1;
  return id;
}

int Vocab::n_vocab() const { return impl_ ? impl_->n : 0; }

const SpecialIds& Vocab::specials() const {
  if (!impl_) throw std::logic_error("Vocab::specials on an empty vocab");
  return impl_->ids;
}

int Vocab::mask_id(int k) const {
  HIMTOK_CHECK_INPUT(k >= 0 && k < kCodebookSize, "mask token ", k, " is out of range, expected 0..", kCodebookSize - 1);
  return specials().mask0 + k;
}

bool Vocab::is_mask_token(int id) const {
  const int m0 = specials().mask0;
  return id >= m0 && id < m0 + kCodebookSize;
}

int Vocab::mask_code(int id) const { return is_mask_token(id) ? id - specials().mask0 : -1; }

bool Vocab::is_special(int id) const {
  if (!impl_ || id < 0 || id >= impl_->n) return false;
  if (impl_->sp.IsControl(id) || impl_->sp.IsUnknown(id)) return true;
  const auto& s = impl_->ids;
  if (is_mask_token(id)) return true;
  for (int x : {s.ref_start, s.ref_end, s.box_start, s.box_end, s.quad_start, s.quad_end, s.mask_start, s.mask_end,
                s.img_start, s.img_end, s.img_context, s.im_start, s.im_end})
    if (id == x) return true;
  return false;
}

const std::string& Vocab::origin() const {
  static const std::string kEmpty = "(empty vocab)";
  return impl_ ? impl_->origin : kEmpty;
}

bool Vocab::empty() const { return !impl_; }

}  // namespace himtok::lmm
