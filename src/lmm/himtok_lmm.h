// The HiMTok LMM bundle: the multimodal model (LmmModel), its text tokenizer (Vocab) and the mask
// de-tokenizer (HiMT) in ONE safetensors file, as the official LMM checkpoint keeps the tokenizer
// under `mask_decoder.*` (spec §6.1). Layout of the file:
//   vision_model.*  mlp1.*  language_model.*    LmmModel (strict)
//   mask_decoder.*                              HiMT: encoder (frozen), quantize, decoder, pixel_decoder
//   vocab.spm                                   U8 (n): the serialised SentencePiece ModelProto
//   __metadata__: himtok.kind = "lmm", himtok.lmm_config (LmmConfig JSON, token ids included),
//                 himtok.tokenizer_config (TokenizerConfig JSON), himtok.lmm_inference (JSON:
//                 the chat settings the model was trained with, InferenceSettings).
// Loading is strict: every key above must be there with its shape, and nothing else.
//
// Tier-2 header (libtorch modules): lmm/ and train/ .cpp files only. cli/ and eval/ use the
// torch-free facade lmm/segment.h.
#pragma once
#include <cstdint>
#include <string>

#include "io/weights.h"
#include "lmm/model.h"
#include "lmm/vocab.h"
#include "tokenizer/himt.h"

namespace himtok::lmm {

inline constexpr const char* kMetaLmmConfig = "himtok.lmm_config";
inline constexpr const char* kMetaLmmInference = "himtok.lmm_inference";
inline constexpr const char* kKindLmm = "lmm";
inline constexpr const char* kVocabTensor = "vocab.spm";
inline constexpr const char* kMaskDecoderPrefix = "mask_decoder.";

// How prompts are formatted for this model (what it was trained with).
struct InferenceSettings {
  bool use_system = true;   // the internvl2_5 system turn (official); tiny runs may drop it
  int64_t image_side = 0;   // pixel side fed to the ViT; 0 = config.vision.image_size
  // Set for released (Hugging Face) models, never stored in our files: the official batch_chat
  // (dynamic tiles, BOS, pad id, the official mask-validity rule, config.json's system message).
  bool released = false;
  int max_tiles = 1;             // dynamic_preprocess max_num; 1 = one stretched tile (our models)
  std::string system_message;    // "" = the template's
  int64_t pad_id = -1;           // llm_config.pad_token_id (-1: the vocabulary's)
  std::string to_json() const;
  static InferenceSettings from_json(const std::string& text, const std::string& origin);
};

// Sets cfg.llm.vocab_size and cfg.tokens (ids of <IMG_CONTEXT>, <|mt_start|>, <|mt_end|>, <|mt_0|>,
// <|im_end|>; K = 1024, 32 mask tokens) from the vocabulary. InputError if the tokenizer's K or
// L differ from the vocabulary's 1024 / 32.
void apply_vocab(LmmConfig& cfg, const Vocab& vocab);

struct LmmBundle {
  LmmModel model{nullptr};
  tok::HiMT mask_decoder{nullptr};
  Vocab vocab;
  InferenceSettings inference;

  const LmmConfig& config() const { return model->config(); }
  const tok::TokenizerConfig& tokenizer_config() const { return mask_decoder->cfg; }
  int64_t image_side() const;  // inference.image_side or the config's

  // InputError naming the file for: not a bundle (kind), missing metadata, a missing / extra /
  // mis-shaped tensor, a vocabulary that disagrees with the stored token ids.
  static LmmBundle load(const std::string& path);
  // A released InternVL2.5-HiMTok Hugging Face folder, read as the official code reads it, with the
  // weights memory-mapped and used in place (lmm/hf_folder.cpp). `path` is the folder.
  static LmmBundle load_hf(const std::string& path);
  // True when `path` is a folder holding config.json (a Hugging Face model folder).
  static bool is_hf_folder(const std::string& path);
  // Moves the model to `device` ("cpu" | "cuda" | "cuda:N") and sets the compute dtype ("fp32" |
  // "bf16"); weights stored in another dtype stay as they are on the CPU (converted as used).
  void to_device(const std::string& device, const std::string& dtype);
  // Atomic write. as_bf16: float tensors stored as bf16 (shipping); training keeps fp32.
  void save(const std::string& path, bool as_bf16 = false) const;

  // A fresh LMM (random init from `seed`) around a trained tokenizer file (ours: safetensors with
  // __metadata__[himtok.tokenizer_config]; keys "" or "mask_decoder.") and a vocabulary.
  // cfg's vocab size and token ids are set from `vocab` (apply_vocab).
  static LmmBundle from_parts(const std::string& tokenizer_path, Vocab vocab, LmmConfig cfg, uint64_t seed);
  // The same with an in-memory tokenizer (tests: a random micro tokenizer).
  static LmmBundle from_modules(tok::HiMT mask_decoder, Vocab vocab, LmmConfig cfg, uint64_t seed);

  // Every tensor of the file except vocab.spm, keys as in the file.
  io::TensorMap tensors() const;
  // Copies `t` (same keys, e.g. from a checkpoint with `prefix` prepended) into the modules; strict
  // (InputError on a missing or mis-shaped key; keys outside the bundle are ignored).
  void assign(const io::TensorMap& t, const std::string& prefix, const std::string& origin);
};

}  // namespace himtok::lmm
