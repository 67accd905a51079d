#include "tokenizer/prepare.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <cstring>

#include "common/error.h"
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

at::Tensor stretch_batch_u8(const std::vector<Mask>& masks, int64_t S, bool pinned) {
  const int64_t B = static_cast<int64_t>(masks.size());
  for (int64_t b = 0; b < B; ++b)  // checked here, so that no error is thrown on a worker thread
    HIMTOK_CHECK_INPUT(masks[b].h > 0 && masks[b].w > 0 &&
                           masks[b].data.size() == static_cast<size_t>(masks[b].h * masks[b].w),
                       "encode: mask ", b, " is empty or has a bad size");
  at::Tensor out = at::empty({B, S, S}, at::TensorOptions().dtype(at::kByte).pinned_memory(pinned));
  uint8_t* dst = out.data_ptr<uint8_t>();
  // The stretch is plain C++ (io/resize.cpp, no ATen calls): one mask per task.
  at::parallel_for(0, B, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      Mask r = io::stretch_mask_u8(masks[b], S);
      std::memcpy(dst + b * S * S, r.data.data(), static_cast<size_t>(S * S));
    }
  });
  return out;
}

at::Tensor u8_to_input(const at::Tensor& u8) {
  TORCH_CHECK(u8.dim() == 3 && u8.scalar_type() == at::kByte, "u8_to_input: expected (B,S,S) uint8");
  at::Tensor x = u8.to(at::kDouble).div_(255.0).to(at::kFloat);  // (B,S,S)
  return x.unsqueeze(1).expand({u8.size(0), 3, u8.size(1), u8.size(2)}).contiguous();
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
