// Leaf modules of the LMM (Linear, Embedding, LayerNorm) that separate the two things
// torch::nn's own leaves do together: allocating a weight of a shape, and filling it.
//
// Why not torch::nn::Linear: its constructor fills the weight (kaiming_uniform_), which touches
// every page. The released InternVL2.5-HiMTok-8B has 8.7 B parameters; filling fp32 weights that
// are about to be replaced by the 17.5 GB of bf16 weights of the file would need 35 GB. Here the
// constructor only allocates (at::empty: pages are not resident until written), the trainer's
// initialisation is a separate step (`init_*` below, skipped under SkipInit), and a loader can
// bind a file's tensors in place with `set_data` (lmm/hf_folder.cpp), as HF's `no_init_weights`
// and PyTorch's `torch.nn.utils.skip_init` do.
//
// Mixed precision: the weights may be stored in another dtype than the activations (bf16 weights
// memory-mapped from the file, fp32 activations on a CPU without fast bf16). Every forward here
// computes in the dtype of its input and converts the weight as it goes; `linear` has a fast path
// for bf16 weights with fp32 activations that never materialises an fp32 copy of the weight.
//
// Tier-2 header (libtorch modules): lmm/ and train/ .cpp files only.
#pragma once
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include <cstdint>

namespace himtok::lmm {

// While one is alive on this thread, LMM constructors allocate their weights without filling them.
class SkipInit {
 public:
  SkipInit();
  ~SkipInit();
  SkipInit(const SkipInit&) = delete;
  SkipInit& operator=(const SkipInit&) = delete;
  static bool active();

 private:
  bool prev_;
};

// Fill helpers that do nothing under SkipInit.
void init_normal(at::Tensor& t, double std);
void init_constant(at::Tensor& t, double value);

// y = x W^T (+ b) in x's dtype. x: (..., K); w: (N, K); b: undefined or (N).
// bf16 w with fp32 x on the CPU: converted block by block (GEMM) or read directly by a vectorised
// dot-product kernel (few rows, the decode step), never copied whole.
at::Tensor linear(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b);

class LinearImpl : public torch::nn::Module {
 public:
  // weight (out, in) ~ N(0, std^2), bias zeros (unless SkipInit).
  LinearImpl(int64_t in, int64_t out, bool bias, double std);
  at::Tensor forward(const at::Tensor& x) { return linear(x, weight, bias); }

  at::Tensor weight, bias;  // (out, in), (out) or undefined
};
TORCH_MODULE(Linear);

class EmbeddingImpl : public torch::nn::Module {
 public:
  EmbeddingImpl(int64_t n, int64_t dim, double std);  // weight ~ N(0, std^2)
  // ids (...) int64 -> (..., dim) in `dtype` (the weight's when undefined).
  at::Tensor forward(const at::Tensor& ids, c10::optional<at::ScalarType> dtype = c10::nullopt);

  at::Tensor weight;  // (n, dim)
};
TORCH_MODULE(Embedding);

// torch.nn.LayerNorm over the last dim, computed in the input's dtype.
class LayerNormImpl : public torch::nn::Module {
 public:
  LayerNormImpl(int64_t dim, double eps);  // weight ones, bias zeros
  at::Tensor forward(const at::Tensor& x);

  at::Tensor weight, bias;  // (dim)

 private:
  double eps_;
};
TORCH_MODULE(LayerNorm);

// `t` in `dtype` (a no-op when it already is).
at::Tensor as_dtype(const at::Tensor& t, at::ScalarType dtype);

}  // namespace himtok::lmm
