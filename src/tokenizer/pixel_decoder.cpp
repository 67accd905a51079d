#include "tokenizer/pixel_decoder.h"

#include <ATen/ATen.h>

#include "nn/memory_format.h"
#include "nn/precision.h"
#include "nn/vit_block.h"

namespace himtok::tok {

static torch::nn::Conv2d conv3(int64_t in, int64_t out, bool bias) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 3).padding(1).bias(bias));  // "same", stride 1
}

ResnetBlockImpl::ResnetBlockImpl(int64_t in_, int64_t out_, int64_t groups, double eps) : in(in_), out(out_) {
  norm1 = register_module("norm1", torch::nn::GroupNorm(torch::nn::GroupNormOptions(groups, in).eps(eps)));
  conv1 = register_module("conv1", conv3(in, out, false));
  norm2 = register_module("norm2", torch::nn::GroupNorm(torch::nn::GroupNormOptions(groups, out).eps(eps)));
  conv2 = register_module("conv2", conv3(out, out, false));
  if (in != out)
    nin_shortcut = register_module("nin_shortcut",
                                   torch::nn::Conv2d(torch::nn::Conv2dOptions(out, out, 1).bias(false)));
}

// SiLU of a fresh tensor, in place when no gradient is recorded (inference): one activation-sized
// allocation less per call, which at 128 x 256 x 256 (32 MiB a mask) is mostly page faults.
static at::Tensor silu_fresh(at::Tensor t) { return at::GradMode::is_enabled() ? at::silu(t) : at::silu_(t); }

// x is the block's stream (fp32, or bf16 when the stream itself is bf16); the convolutions run in
// their weight dtype; the sum comes back in the stream's dtype.
at::Tensor ResnetBlockImpl::forward(const at::Tensor& x) {
  const at::ScalarType wt = conv1->weight.scalar_type();
  at::Tensor h = nn::conv2d(*conv1, silu_fresh(nn::group_norm_fp32(x, norm1, wt)));
  h = nn::conv2d(*conv2, silu_fresh(nn::group_norm_fp32(h, norm2)));
  at::Tensor residual = in != out ? nn::conv2d(*nin_shortcut, h) : x;  // MaskGIT quirk: shortcut of h
  if (h.scalar_type() != x.scalar_type()) return (h + residual).to(x.scalar_type());  // fp32 stream over bf16 convs
  return at::GradMode::is_enabled() ? h + residual : h.add_(residual);  // h: the fresh conv2 output
}

UpBlockImpl::UpBlockImpl(int64_t in, int64_t out, int64_t n_blocks, bool upsample, int64_t groups, double eps) {
  block = register_module("block", torch::nn::ModuleList());
  for (int64_t b = 0; b < n_blocks; ++b) block->push_back(ResnetBlock(b == 0 ? in : out, out, groups, eps));
  if (upsample) upsample_conv = register_module("upsample_conv", conv3(out, out, true));
}

at::Tensor UpBlockImpl::forward(const at::Tensor& x_in) {
  at::Tensor x = x_in;
  for (const auto& b : *block) x = b->as<ResnetBlock>()->forward(x);
  if (upsample_conv) {
    x = at::upsample_nearest2d(x, {x.size(2) * 2, x.size(3) * 2});
    x = nn::conv2d(*upsample_conv, x.to(upsample_conv->weight.scalar_type())).to(x.scalar_type());
  }
  return x;
}

PixelDecoderImpl::PixelDecoderImpl(const TokenizerConfig& c) : cfg(c) {
  const auto& mult = cfg.pixel_channel_mult;
  const int64_t n = static_cast<int64_t>(mult.size()), hid = cfg.pixel_hidden_channels, g = cfg.pixel_norm_groups;
  const double eps = cfg.groupnorm_eps;
  int64_t block_in = hid * mult.back();
  conv_in = register_module("conv_in", conv3(cfg.pixel_z_channels, block_in, true));
  mid = register_module("mid", torch::nn::ModuleList());
  mid->push_back(ResnetBlock(block_in, block_in, g, eps));
  mid->push_back(ResnetBlock(block_in, block_in, g, eps));
  // up[level] is built for levels n-1..0 but stored by level index, as the official ModuleList.
  std::vector<UpBlock> levels(n, nullptr);
  for (int64_t lvl = n - 1; lvl >= 0; --lvl) {
    int64_t out = hid * mult[lvl];
    levels[lvl] = UpBlock(block_in, out, cfg.pixel_num_res_blocks, lvl > 0, g, eps);
    block_in = out;
  }
  up = register_module("up", torch::nn::ModuleList());
  for (auto& l : levels) up->push_back(l);
  norm_out = register_module("norm_out", torch::nn::GroupNorm(torch::nn::GroupNormOptions(g, block_in).eps(eps)));
  conv_out = register_module("conv_out", conv3(block_in, 3, true));
  // Start the head at p = sigmoid(5 (0.5 - 0.5)) = 0.5 rather than near the sigmoid's flat tail.
  torch::NoGradGuard ng;
  conv_out->bias.fill_(0.5);
}

at::Tensor PixelDecoderImpl::forward(const at::Tensor& x_in) {
  // CPU inference decodes one mask at a time: at 256x256 one mask's 128-channel activation (32 MiB)
  // stays near a 32 MiB last-level cache; a batch's is B times larger. Measured (official-large, batch 8, 2 cores):
  // 1.39 s per mask chunked against 1.65 s batched, and 1.44 s at batch 1 (docs/BENCHMARKS.md).
  if (x_in.size(0) > 1 && x_in.device().is_cpu() && !at::GradMode::is_enabled()) {
    std::vector<at::Tensor> outs;
    for (const at::Tensor& xi : x_in.split(1, 0)) outs.push_back(forward(xi));
    return at::cat(outs, 0);
  }
  // (B,Cz,h,w); NHWC under HIMTOK_CHANNELS_LAST=1 (nn/memory_format.h): every op below keeps the layout.
  at::Tensor x = nn::conv2d(*conv_in, nn::maybe_channels_last(x_in.to(conv_in->weight.scalar_type())));
  for (const auto& b : *mid) x = b->as<ResnetBlock>()->forward(x);
  for (int64_t lvl = static_cast<int64_t>(up->size()) - 1; lvl >= 0; --lvl) x = up[lvl]->as<UpBlock>()->forward(x);
  x = silu_fresh(nn::group_norm_fp32(x, norm_out, conv_out->weight.scalar_type()));
  return nn::conv2d(*conv_out, x).contiguous();  // (B,3,H,W), NCHW for the callers
}

}  // namespace himtok::tok
