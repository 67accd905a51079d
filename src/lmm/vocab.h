// The LMM's text tokenizer: a SentencePiece model whose user-defined symbols are the official
// HiMTok / InternVL special strings, each a single id (no libtorch). SentencePiece itself lives in the
// plugin libhimtok_spm.so (lmm/spm_plugin), which vocab.cpp loads on first use; see vocab.cpp.
//
//   <ref> </ref> <box> </box> <quad> </quad> <|mt_start|> <|mt_end|> <|mt_0|> ... <|mt_1023|>
//   <img> </img> <IMG_CONTEXT> <|im_start|> <|im_end|>
//
// Mask token k (0 <= k < 1024) is id mask_id(k) = id(<|mt_0|>) + k: the 1024 ids are contiguous,
// which load() verifies (as the official code assumes, official-himtok.md §4.2).
// Control ids: <unk> 0, <s> 1, </s> 2, <pad> 3. Generation stops at <|im_end|> (as InternVL 2.5).
//
// Training (Vocab::train) uses: identity normalisation, no extra-whitespace removal, no dummy prefix,
// byte fallback (any UTF-8 text encodes, and decode(encode(s)) == s for every valid UTF-8 s),
// split digits (box coordinates are digit sequences), character coverage 1.0.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace himtok::lmm {

constexpr int kCodebookSize = 1024;  // mask vocabulary (COODBOOK_SIZE)
constexpr int kNumMaskTokens = 32;   // tokens per mask (NUM_HIMT_TOKENS)

// The special strings, in the order they are given to SentencePiece.
extern const char* const kRefStart;    // "<ref>"
extern const char* const kRefEnd;      // "</ref>"
extern const char* const kBoxStart;    // "<box>"
extern const char* const kBoxEnd;      // "</box>"
extern const char* const kQuadStart;   // "<quad>"
extern const char* const kQuadEnd;     // "</quad>"
extern const char* const kMaskStart;   // "<|mt_start|>"
extern const char* const kMaskEnd;     // "<|mt_end|>"
extern const char* const kImgStart;    // "<img>"
extern const char* const kImgEnd;      // "</img>"
extern const char* const kImgContext;  // "<IMG_CONTEXT>"
extern const char* const kImStart;     // "<|im_start|>"
extern const char* const kImEnd;       // "<|im_end|>"
std::string mask_token_string(int k);  // "<|mt_k|>"; k in [0, 1024) (InputError otherwise)
// All user-defined symbols in training order (1037 strings: 8 + 1024 mask tokens + 5).
std::vector<std::string> special_strings();

struct SpecialIds {
  int unk = -1, bos = -1, eos = -1, pad = -1;
  int ref_start = -1, ref_end = -1, box_start = -1, box_end = -1, quad_start = -1, quad_end = -1;
  int mask_start = -1, mask_end = -1, mask0 = -1;  // mask0 = id of <|mt_0|>
  int img_start = -1, img_end = -1, img_context = -1, im_start = -1, im_end = -1;
};

struct VocabTrainOptions {
  int vocab_size = 2048;            // total, specials and 256 byte pieces included; a soft limit
  std::string model_type = "bpe";   // "bpe" | "unigram" (bpe segments this small corpus better)
  int n_threads = 2;
  bool verbose = false;             // SentencePiece's own log on stderr
};

class Vocab {
 public:
  Vocab();
  ~Vocab();
  Vocab(Vocab&&) noexcept;
  Vocab& operator=(Vocab&&) noexcept;

  // A SentencePiece model file / its serialised ModelProto bytes (so a model file can embed it).
  // InputError if unreadable, not a model, or lacking any special string as a single piece or the
  // contiguous mask ids. `origin` names the source in messages.
  static Vocab load(const std::string& path);
  static Vocab from_serialized(const std::string& proto_bytes, const std::string& origin = "vocab");
  // A released (Hugging Face, slow InternLM2Tokenizer) tokenizer: the SentencePiece model file and
  // the added-token table (id -> content, from tokenizer_config.json's added_tokens_decoder). Added
  // tokens are split out of the text first (leftmost, then longest), each becomes its id, and each
  // piece of text between them is encoded by SentencePiece on its own. pad_id: llm_config's.
  // InputError if a special string above is not an added token or the mask ids are not contiguous.
  static Vocab from_added_tokens(const std::string& sp_model_path, const std::vector<std::pair<int, std::string>>& added,
                                 bool add_bos, int pad_id, const std::string& origin);
  // Trains on `corpus` (one sentence per element; newlines inside are fine, they split sentences).
  // InputError on an empty corpus or a SentencePiece failure.
  static Vocab train(const std::vector<std::string>& corpus, const VocabTrainOptions& options = {});

  std::string serialized() const;        // ModelProto bytes
  void save(const std::string& path) const;  // atomic (temp file + rename)

  std::vector<int> encode(const std::string& text) const;  // no BOS/EOS added
  bool adds_bos() const;  // prompts start with BOS (released tokenizers: add_bos_token)
  // Keeps special strings (<|mt_5|>, <box>, ...); control ids (<s>, </s>, <pad>) decode to "".
  // InputError for an id outside [0, n_vocab).
  std::string decode(const std::vector<int>& ids) const;
  std::string piece(int id) const;  // SentencePiece piece ("▁the", "<0x0A>", "<|mt_3|>"); InputError if out of range
  int piece_id(const std::string& piece) const;  // -1 if not a piece

  int n_vocab() const;
  const SpecialIds& specials() const;
  int mask_id(int k) const;          // k in [0, 1024); InputError otherwise
  bool is_mask_token(int id) const;  // id in [mask0, mask0 + 1024)
  int mask_code(int id) const;       // k for a mask token id, -1 otherwise
  bool is_special(int id) const;     // a control id or one of the user-defined symbols
  const std::string& origin() const;
  bool empty() const;                // default-constructed

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace himtok::lmm
