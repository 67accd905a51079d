#include "tokenizer/prepare.h"

#include <ATen/ATen.h>

#include <cstring>

#include "io/resize.h"

namespace himtok::tok {

at::Tensor prepare_pad(const at::Tensor& mask_in, int64_t S) {
  TORCH_CHECK(mask_in.dim() == 2, "prepare_pad: mask must be (H,W)");
  at::Tensor m = mask_in.scalar_type() == at::kByte ? mask_in.to(at::kFloat) / 255.0 : mask_in.to(at::kFloat);
  const int64_t H = m.size(0), W = m.size(1), side = std::max(H, W);
  at::Tensor x = m.unsqueeze(0).unsqueeze(0).expand({1, 3, H, W});
  x = at::constant_pad_nd(x, {0, side - W, 0, side - H}, 0.0);  // right and bottom
  if (side != S) x = at::upsample_bilinear2d(x, {S, S}, /*align_corners=*/false);
  return x.squeeze(0).contiguous();
}

at::Tensor prepare_stretch(const Mask& mask, int64_t S) {
  FloatMap f = io::stretch_mask_official(mask, S);
  at::Tensor t = at::from_blob(f.data.data(), {1, S, S}, at::kFloat).clone();
  return t.expand({3, S, S}).contiguous();
}

FloatMap to_float_map(const at::Tensor& prob) {
  at::Tensor p = prob.detach().to(at::kCPU).to(at::kFloat).contiguous();
  TORCH_CHECK(p.dim() == 2, "to_float_map: expected (S,S)");
  FloatMap f(p.size(0), p.size(1));
  std::memcpy(f.data.data(), p.data_ptr<float>(), f.data.size() * sizeof(float));
  return f;
}

Mask to_native(const at::Tensor& prob, int64_t H, int64_t W) {
  return io::unstretch_probs_official(to_float_map(prob), H, W, 0.5f);
}

}  // namespace himtok::tok
