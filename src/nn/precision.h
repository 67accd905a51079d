// bf16 / fp16 products with fp32 accumulation on every device.
//
// A bf16 model's GEMMs and convolutions should accumulate in fp32 and round once (cuBLAS/cuDNN do;
// so does oneDNN, which libtorch 1.13 uses on CPUs with AVX512BW/VL/DQ). On other CPUs libtorch
// 1.13 falls back to kernels that accumulate in bf16: measured on this project's AVX2 machine
// (Debian python3-torch 1.13.1), a 128-channel 3x3 convolution comes out 3.9% off in relative L2
// and a K = 4096 matmul 7.3% off, against 0.17% with fp32 accumulation and one rounding, and the
// fallback is ~9x slower than fp32. There the functions below compute in fp32 and round the result
// to the input dtype: the numbers of a GPU, at about fp32 speed. Elsewhere they are the plain ops.
#pragma once
#include <ATen/core/Tensor.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/normalization.h>

namespace himtok::nn {

// True where the CPU has libtorch 1.13's oneDNN bf16 path (AVX512BW/VL/DQ).
bool cpu_has_fast_bf16();

// True where t's dtype is fp32/fp64, t is on a GPU, or the CPU has the oneDNN bf16 path.
bool accumulates_in_fp32(const at::Tensor& t);

at::Tensor linear(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b);  // at::linear
at::Tensor conv2d(torch::nn::Conv2dImpl& conv, const at::Tensor& x);              // conv.forward(x)
at::Tensor mm(const at::Tensor& a, const at::Tensor& b);                           // at::mm
at::Tensor matmul(const at::Tensor& a, const at::Tensor& b);                       // at::matmul

// Norms computed in fp32 whatever the input and parameter dtypes, the result in `out` (the next
// layer's weight dtype under mixed-precision inference). The two-argument forms in vit_block.h
// return x's dtype.
at::Tensor layer_norm_fp32(const at::Tensor& x, const torch::nn::LayerNorm& ln, at::ScalarType out);
at::Tensor group_norm_fp32(const at::Tensor& x, const torch::nn::GroupNorm& gn, at::ScalarType out);

}  // namespace himtok::nn
