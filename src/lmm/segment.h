// Inference with the HiMTok LMM: question -> chat prompt -> greedy generation -> response text,
// and the mask decoded from the generation (torch-free facade over lmm/himtok_lmm.h; pimpl).
//
//   auto seg = Segmenter::load("models/himtok-lmm-tiny.safetensors");
//   SegmentResult r = seg.run(image, "Segment <ref>the small red circle</ref>.", {});
//   // r.response: "Sure, the mask is at <|mt_start|><|mt_7|>...<|mt_end|>."; r.mask: image size, 0/1
//
// Mask decoding (official §4.4, made robust). The first <|mt_start|> of the generated ids opens
// the mask; the mask tokens that follow it (lmm/response.h :: parse_mask_ids) are its codes.
//   - logits (default, as the official batch_chat): the generation logits of the steps that produced
//     those codes, restricted to the 1024 mask ids, softmax(2 * logits), decoded by the
//     de-tokenizer (decode_probs: expected raw codebook row);
//   - ids (from_ids): the codes as one-hot probabilities through the same decode_probs path (the
//     path the stage-2 de-tokenizer was fine-tuned on).
//   Only the first n = min(n_tokens, #codes) positions are decoded (coarse-to-fine prefix: the missing
//   tail is truncated, spec §2.2). Fewer than 32 codes (a short, truncated or garbled span) decodes
//   the prefix with a warning; no <|mt_start|>, or no code after it, gives an all-zero mask and a
//   warning; non-finite logits at the mask positions give an all-zero mask and a warning. Model
//   output never raises; bad user input (empty image, n_tokens outside 1..32) raises InputError.
//   The official rule decodes positions start+1..start+32 whenever start+33 < T, whatever was
//   generated there; ours decodes only positions that produced mask tokens. Released models
//   (Hugging Face folders) use the official rule, so that their masks equal the official ones;
//   fewer than 32 mask tokens after <|mt_start|> is then reported as a warning (the CLI stops).
// The S x S probability goes to the image size as the official eval: nearest resize, then > 0.5
// (tokenizer/prepare.h :: to_native).
//
// Prompts: the model's own chat settings (InferenceSettings in the file), the first template of a
// group (deterministic): "Segment <ref>{}</ref>.", "Is there <ref>{}</ref> in the image? Answer
// yes or no.", ...
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/mask.h"
#include "lmm/response.h"

namespace at {
class Tensor;
}

namespace himtok::lmm {

struct LmmBundle;
class Vocab;
struct Templates;

struct SegmentOptions {
  int n_tokens = 32;          // mask tokens decoded (1..32): the first n of the generated span
  bool from_ids = false;      // decode the generated ids instead of the logits
  int max_new_tokens = 128;   // the official eval's budget
  int min_new_tokens = 0;     // eos forbidden before this many tokens (the official REC eval: 1)
  int batch_size = 8;         // queries generated together (left padding)
  int max_tiles = 0;          // dynamic tiling max_num; 0 = the model's default (released: 4, ours: 1)
  // Optional logits processor (lmm/model.h GenerateOptions::processor): scores (B, V) of step k.
  std::function<void(int64_t step, at::Tensor& scores)> processor;
};

struct SegmentTimings {
  double preprocess_s = 0, embed_s = 0, prefill_s = 0, decode_s = 0, mask_s = 0;  // per batch
  int64_t prompt_tokens = 0, new_tokens = 0;
};

struct SegmentResult {
  std::string response;            // generated text before <|im_end|>, special strings kept, stripped
  std::vector<int> ids;            // generated ids before <|im_end|>
  std::vector<int> prompt_ids;     // the ids fed to the LLM (image context included), no padding
  std::vector<int> sequence;       // the official `sequences` row: every generated id, eos and pads included
  int n_tiles = 0;                 // image tiles seen by the ViT
  bool official_rule = false;      // the mask logits follow the official validity rule (released models)
  SegmentTimings timings;
  MaskSpan span;                   // parse_mask_ids(ids)
  int n_decoded = 0;               // mask tokens decoded (0: no mask, `mask` is all zero)
  bool from_ids = false;           // how `prob` was decoded
  FloatMap prob;                   // S x S de-tokenizer probability; empty when n_decoded == 0
  Mask mask;                       // image size, 0/1
  std::vector<std::string> warnings;
  // Logits at the steps that produced span.codes, mask columns only: (span.codes.size(), 1024)
  // row-major, kept so that another prefix length can be decoded without generating again.
  std::vector<float> mask_logits;
  bool has_mask() const { return n_decoded > 0; }
};

struct Query {
  const Image* image = nullptr;  // H x W x 3 (or 1/2/4 channels, as image_prep.h)
  std::string question;          // "<image>\n" is prepended when absent
};

// GRES flow (paper §4.3): ask whether the expression exists; segment only on "yes". An answer that
// is neither yes nor no counts as yes (the segmentation answer decides).
struct GresResult {
  YesNo exists = YesNo::kUnknown;
  std::string exist_response;
  bool segmented = false;
  SegmentResult seg;  // valid when segmented
  Mask mask;          // image size; all zero unless segmented with a mask
};

// Open-vocabulary flow (paper §4.5): one class per question (existence, then segmentation); a
// pixel claimed by several classes goes to the class whose mask has the smaller area (ties: the
// earlier class).
struct OpenVocabResult {
  int64_t h = 0, w = 0;
  std::vector<int32_t> labels;      // h*w class indices into `classes`, -1 = none
  std::vector<GresResult> per_class;
};

class Segmenter {
 public:
  // InputError if the file is not an LMM bundle (lmm/himtok_lmm.h).
  static Segmenter load(const std::string& path);
  // `path`: a himtok LMM file, or a released Hugging Face folder (LmmBundle::load_hf), placed on
  // `device` with compute `dtype` ("fp32" | "bf16").
  static Segmenter load(const std::string& path, const std::string& device, const std::string& dtype);
  // Shares a bundle (the trainer's, a test's); it is put in eval mode while used.
  explicit Segmenter(std::shared_ptr<LmmBundle> bundle);
  Segmenter(Segmenter&&) noexcept;
  Segmenter& operator=(Segmenter&&) noexcept;
  ~Segmenter();

  const Vocab& vocab() const;
  const Templates& templates() const;
  int64_t image_side() const;
  int64_t mask_side() const;  // S of the de-tokenizer

  // "Segment <ref>expr</ref>." and the other first-template prompts.
  std::string segment_question(const std::string& expression) const;
  std::string exist_question(const std::string& expression) const;
  std::string seg_box_question(const std::string& expression) const;
  std::string ground_question(const std::string& expression) const;

  // The 32 codes of a mask by the bundle's (frozen) tokenizer encoder, stretch geometry (for mask-
  // perception questions).
  std::vector<int> encode_mask(const Mask& mask) const;

  // True for a released (Hugging Face) model: official batch_chat semantics.
  bool released() const;
  // The question as the official batch_chat takes it: "<image>\n" is prepended when absent;
  // InputError when it holds more than one "<image>" (one image per question).
  static std::string with_image_placeholder(const std::string& question);

  // Any question; the mask is decoded when the response holds one.
  SegmentResult run(const Image& image, const std::string& question, const SegmentOptions& opt) const;
  std::vector<SegmentResult> run(const std::vector<Query>& queries, const SegmentOptions& opt) const;

  // Decodes r's mask again with another prefix length / mode (r from run(); h x w the image size).
  void redecode(SegmentResult& r, int n_tokens, bool from_ids, int64_t h, int64_t w) const;

  // The decoding step alone, from a raw generation: ids (eos excluded or not) and their per-step
  // logits (ids.size() x V, row-major). Public for tests of malformed output.
  SegmentResult decode_generation(const std::vector<int>& ids, const std::vector<float>& logits, int64_t V,
                                  int64_t h, int64_t w, const SegmentOptions& opt) const;

  std::vector<GresResult> gres(const std::vector<const Image*>& images, const std::vector<std::string>& expressions,
                               const SegmentOptions& opt) const;
  OpenVocabResult open_vocab(const Image& image, const std::vector<std::string>& classes,
                             const SegmentOptions& opt) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The smaller-area rule alone: masks (all h x w) -> labels (-1 none).
std::vector<int32_t> compose_smaller_area(int64_t h, int64_t w, const std::vector<Mask>& masks);

}  // namespace himtok::lmm
