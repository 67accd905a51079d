// The memory format of the pixel decoder's activations: NCHW (the default) or channels-last
// (NHWC), a switch kept for measuring on a GPU.
//
// cuDNN's fastest bf16 convolutions on tensor cores are NHWC ones, so the issue of de-tokenizer
// speed (10) asks for channels-last convolutions on the GPU; not yet measured there. On the CPU it
// was measured and gives nothing under our caching allocator: official-large decode at batch 1
// on an AVX512-BF16 EPYC (2 threads, Debian libtorch 1.13.1, 2026-12-07), pixel decoder stage
// 540 / 625 ms NCHW against 677 / 529 ms NHWC in fp32 and 363 / 421 against 395 / 422 ms in bf16
// (two alternating runs each). (In Python, without our allocator, one NHWC 3x3 convolution was 3-5x
// faster than NCHW: the NCHW path's reorders pay page faults there, nn/cpu_allocator.h.)
// GroupNorm, SiLU, nearest upsampling and the residual sums keep the NHWC layout in libtorch 1.13,
// so the pixel decoder converts once on entry and once on exit.
//
// HIMTOK_CHANNELS_LAST=1 runs the pixel decoder in NHWC on every device (inference and training);
// unset or 0: NCHW.
#pragma once

#include <ATen/core/Tensor.h>

namespace himtok::nn {

// x in channels-last layout when HIMTOK_CHANNELS_LAST=1 and x is 4-D, else x unchanged.
at::Tensor maybe_channels_last(const at::Tensor& x);

}  // namespace himtok::nn
