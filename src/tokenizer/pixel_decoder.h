// MaskGIT-VQGAN conv decoder (himt/modules/maskgit_vqgan.py Decoder), keys under "pixel_decoder.".
//   conv_in 3x3 (Z -> hidden*mult[-1], bias); mid.0, mid.1 ResnetBlocks; up.{n-1..0}: each
//   pixel_num_res_blocks ResnetBlocks then (level > 0) nearest x2 + upsample_conv 3x3 (bias);
//   norm_out GroupNorm, SiLU, conv_out 3x3 (-> 3, bias).         (B,Z,G,G) -> (B,3,S,S)
// ResnetBlock quirks kept on purpose: conv1/conv2 have no bias, and when in != out the
// nin_shortcut (1x1 out->out, no bias) is applied to the block's own h, not to its input.
#pragma once
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/normalization.h>

#include "tokenizer/options.h"

namespace himtok::tok {

class ResnetBlockImpl : public torch::nn::Module {
 public:
  ResnetBlockImpl(int64_t in, int64_t out, int64_t groups, double eps);
  at::Tensor forward(const at::Tensor& x);
  int64_t in, out;
  torch::nn::GroupNorm norm1{nullptr}, norm2{nullptr};
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, nin_shortcut{nullptr};
};
TORCH_MODULE(ResnetBlock);

class UpBlockImpl : public torch::nn::Module {
 public:
  UpBlockImpl(int64_t in, int64_t out, int64_t n_blocks, bool upsample, int64_t groups, double eps);
  at::Tensor forward(const at::Tensor& x);
  torch::nn::ModuleList block{nullptr};
  torch::nn::Conv2d upsample_conv{nullptr};
};
TORCH_MODULE(UpBlock);

class PixelDecoderImpl : public torch::nn::Module {
 public:
  explicit PixelDecoderImpl(const TokenizerConfig& cfg);
  at::Tensor forward(const at::Tensor& x);  // (B,Z,G,G) -> (B,3,S,S)

  TokenizerConfig cfg;
  torch::nn::Conv2d conv_in{nullptr}, conv_out{nullptr};
  torch::nn::ModuleList mid{nullptr}, up{nullptr};
  torch::nn::GroupNorm norm_out{nullptr};
};
TORCH_MODULE(PixelDecoder);

}  // namespace himtok::tok
