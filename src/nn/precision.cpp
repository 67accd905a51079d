#include "nn/precision.h"

#include <ATen/ATen.h>

namespace himtok::nn {

bool cpu_has_fast_bf16() {
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
  static const bool yes = __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
                          __builtin_cpu_supports("avx512dq");
  return yes;
#else
  return false;
#endif
}

namespace {

at::Tensor f32(const at::Tensor& t) { return t.defined() ? t.to(at::kFloat) : t; }

}  // namespace

bool accumulates_in_fp32(const at::Tensor& t) {
  const at::ScalarType s = t.scalar_type();
  if (s == at::kFloat || s == at::kDouble || !t.device().is_cpu()) return true;
  return s == at::kBFloat16 && cpu_has_fast_bf16();
}

at::Tensor linear(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) {
  if (accumulates_in_fp32(w)) return at::linear(x, w, b);
  return at::linear(f32(x), f32(w), f32(b)).to(w.scalar_type());
}

at::Tensor conv2d(torch::nn::Conv2dImpl& conv, const at::Tensor& x) {
  if (accumulates_in_fp32(conv.weight)) return conv.forward(x);
  const auto& o = conv.options;
  const auto* pad = c10::get_if<torch::ExpandingArray<2>>(&o.padding());
  TORCH_CHECK(pad && c10::get_if<torch::enumtype::kZeros>(&o.padding_mode()),
              "nn::conv2d: only zero padding given as numbers is implemented");
  return at::conv2d(f32(x), f32(conv.weight), f32(conv.bias), *o.stride(), **pad, *o.dilation(), o.groups())
      .to(conv.weight.scalar_type());
}

at::Tensor mm(const at::Tensor& a, const at::Tensor& b) {
  if (accumulates_in_fp32(a)) return at::mm(a, b);
  return at::mm(f32(a), f32(b)).to(a.scalar_type());
}

at::Tensor matmul(const at::Tensor& a, const at::Tensor& b) {
  if (accumulates_in_fp32(a)) return at::matmul(a, b);
  return at::matmul(f32(a), f32(b)).to(a.scalar_type());
}

at::Tensor layer_norm_fp32(const at::Tensor& x, const torch::nn::LayerNorm& ln, at::ScalarType out_dt) {
  const auto& o = ln->options;
  if (x.scalar_type() == at::kFloat && ln->weight.scalar_type() == at::kFloat) return ln.ptr()->forward(x).to(out_dt);
  at::Tensor y = at::layer_norm(x.to(at::kFloat), o.normalized_shape(), ln->weight.to(at::kFloat),
                                ln->bias.to(at::kFloat), o.eps());
  return y.to(out_dt);
}

at::Tensor group_norm_fp32(const at::Tensor& x, const torch::nn::GroupNorm& gn, at::ScalarType out_dt) {
  const auto& o = gn->options;
  if (x.scalar_type() == at::kFloat && gn->weight.scalar_type() == at::kFloat) return gn.ptr()->forward(x).to(out_dt);
  at::Tensor y = at::group_norm(x.to(at::kFloat), o.num_groups(), gn->weight.to(at::kFloat), gn->bias.to(at::kFloat),
                                o.eps());
  return y.to(out_dt);
}

}  // namespace himtok::nn
