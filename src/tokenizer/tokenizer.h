// MaskTokenizer: the torch-free facade over HiMT for the CLI, eval and other programs (pimpl, so
// its users compile without libtorch headers). Masks in and probability maps out are plain bytes.
//
//   auto t = MaskTokenizer::load({.weights = "models/himtok-tiny.safetensors"});
//   auto ids = t.encode({mask});                  // 32 ids per mask
//   auto probs = t.decode_ids({{ids[0].begin(), ids[0].begin() + 8}});   // 8-token prefix
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/mask.h"
#include "tokenizer/options.h"

namespace himtok::tok {

enum class Geometry {
  kStretch,  // PIL bicubic stretch to S x S (the official training data / convert_mask2tokens.py)
  kPad,      // pad right/bottom to square, then bilinear (MaskDecoder.prepare_image)
};
Geometry parse_geometry(const std::string& s);  // "stretch" | "pad"; InputError otherwise

struct LoadOptions {
  std::string weights;          // .safetensors / index.json / folder / .pth
  std::string config;           // preset name or JSON file; empty: the config stored in the file
  std::string prefix = "auto";  // key prefix; "auto": "" or "mask_decoder.", whichever the file holds
  int threads = 0;              // 0: all cores
  std::string device = "cpu";   // "cpu" or "cuda" (when libtorch was built with CUDA)
  std::string dtype = "fp32";   // "fp32" or "bf16" (matmuls/convs in bf16, norms in fp32)
};

// Thread safety: encode, decode_ids, decode_probs and decode_logits are const in effect (they read
// the weights, grad mode is thread-local): one MaskTokenizer may serve several threads at once
// (tests/test_reliability_threads.cpp). load/random, moving, and destroying one must not overlap
// any call on it. set_threads (and LoadOptions::threads, applied by load) changes libtorch's
// process-wide intra-op thread count: call it before starting threads.
class MaskTokenizer {
 public:
  static MaskTokenizer load(const LoadOptions& opt);
  // Random weights (seeded), for benchmarks and tests of the plumbing.
  static MaskTokenizer random(const TokenizerConfig& cfg, uint64_t seed, const LoadOptions& opt = {});
  MaskTokenizer(MaskTokenizer&&) noexcept;
  MaskTokenizer& operator=(MaskTokenizer&&) noexcept;
  ~MaskTokenizer();

  const TokenizerConfig& config() const;
  int64_t n_params() const;
  std::string prefix() const;  // the key prefix the weights were read with

  // Masks: binary 0/1 or 8-bit gray (0..255), native size.  -> L ids each.
  std::vector<std::vector<int64_t>> encode(const std::vector<Mask>& masks, Geometry g = Geometry::kStretch);
  // ids: B rows of equal length T (1 <= T <= L), each id < K.  -> B probability maps (S x S).
  std::vector<FloatMap> decode_ids(const std::vector<std::vector<int64_t>>& ids);
  // probs: (B, T, K) row-major, rows summing to 1 (the LMM's soft path, raw codebook rows).
  std::vector<FloatMap> decode_probs(const std::vector<float>& probs, int64_t B, int64_t T);
  // logits: (B, T, V) row-major; the K mask-token columns start at mask_offset. Uses
  // softmax(2 * logits[..., mask_offset : mask_offset + K]). NaN/Inf logits are an InputError.
  std::vector<FloatMap> decode_logits(const std::vector<float>& logits, int64_t B, int64_t T, int64_t V,
                                      int64_t mask_offset);

  struct Impl;  // opaque (pimpl)

 private:
  explicit MaskTokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Metadata keys of our own model files: one safetensors file fully describes a model.
inline constexpr const char* kMetaConfig = "himtok.tokenizer_config";
inline constexpr const char* kMetaKind = "himtok.kind";

// Sets libtorch's intra-op thread count (0: all cores); returns the count in force.
int set_threads(int n);

}  // namespace himtok::tok
