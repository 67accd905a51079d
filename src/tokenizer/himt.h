// The HiMTok mask tokenizer as one torch module (himt/himt.py HiMT; MaskDecoder adds no weights).
// State-dict keys are the official ones: latent_tokens, encoder.*, quantize.*, decoder.*,
// pixel_decoder.* (693 entries for official-large; "mask_decoder." prefix inside the LMM).
//   encode:        pixels (B,3,S,S) in [0,1] -> z (B,D,1,L), ids (B,L), VQ losses
//   decode_z:      z (B,D,1,T), T<=L -> probability (B,1,S,S) = sigmoid(5 (mean_c(pix(dec(z))) - 0.5))
//   decode_tokens: ids (B,T)   -> l2-normalised codebook rows -> decode_z       (HiMT.decode_tokens)
//   decode_probs:  p (B,T,K)   -> p @ raw codebook -> decode_z                   (MaskDecoder.decode_prob)
//   decode_logits: l (B,T,K)   -> softmax(2 l) -> decode_probs                   (LMM inference)
#pragma once
#include <torch/nn/module.h>

#include "tokenizer/decoder.h"
#include "tokenizer/encoder.h"
#include "tokenizer/options.h"
#include "tokenizer/pixel_decoder.h"
#include "tokenizer/quantizer.h"

namespace himtok::tok {

struct EncodeOutput {
  at::Tensor z;        // (B,D,1,L) before quantisation
  at::Tensor ln_post;  // (B,L,C)
  QuantizerOutput q;   // ids, z_quantized, losses
};

class HiMTImpl : public torch::nn::Module {
 public:
  explicit HiMTImpl(const TokenizerConfig& cfg);

  EncodeOutput encode(const at::Tensor& pixels);
  at::Tensor decode_z(const at::Tensor& z, const at::Tensor& keep_lengths = {}, DecoderTrace* trace = nullptr,
                      at::Tensor* ffn_out = nullptr);
  // The same decode before the final sigmoid: s = 5 (mean_c(pix) - 0.5), so that training can use
  // BCE with logits (a clamped-probability BCE has zero gradient once p < 1e-6).
  at::Tensor decode_z_logits(const at::Tensor& z, const at::Tensor& keep_lengths = {}, DecoderTrace* trace = nullptr,
                             at::Tensor* ffn_out = nullptr);
  at::Tensor decode_tokens(const at::Tensor& ids);
  at::Tensor decode_probs(const at::Tensor& probs);
  at::Tensor decode_logits(const at::Tensor& logits);

  // Converts every weight except the norms' to `dtype` (bf16 inference: matmuls and convolutions
  // in bf16, LayerNorm/GroupNorm in fp32).
  void to_inference_dtype(at::ScalarType dtype);

  TokenizerConfig cfg;
  at::Tensor latent_tokens;
  Encoder encoder{nullptr};
  Quantizer quantize{nullptr};
  Decoder decoder{nullptr};
  PixelDecoder pixel_decoder{nullptr};
};
TORCH_MODULE(HiMT);

// Number of elements over all parameters (buffers excluded).
int64_t count_parameters(const torch::nn::Module& m);

}  // namespace himtok::tok
