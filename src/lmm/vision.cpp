// InternViT vision encoder (modeling_intern_vit.py) and the pixel shuffle of InternVLChatModel.
// Legend: N images, S image side, P patch, G = S/P grid, L = 1 + G^2 tokens, Cv width, Hv heads.
#include <ATen/ATen.h>
#include <torch/utils.h>

#include "lmm/model.h"
#include "nn/attention.h"

namespace himtok::lmm {

// ---------------------------------------------------------------------------------------------
// Pixel shuffle (ps_version v2), a line-by-line port of InternVLChatModel.pixel_shuffle

at::Tensor pixel_shuffle(const at::Tensor& x, double scale) {
  TORCH_CHECK(x.dim() == 4, "pixel_shuffle: expected (N, W, H, C), got ", x.sizes());
  const int64_t n = x.size(0), w = x.size(1), h = x.size(2), c = x.size(3);
  const auto hs = static_cast<int64_t>(h * scale), ws = static_cast<int64_t>(w * scale);
  const auto c1 = static_cast<int64_t>(c / scale), c2 = static_cast<int64_t>(c / (scale * scale));
  // N, W, H, C --> N, W, H * scale, C // scale
  at::Tensor y = x.reshape({n, w, hs, c1});
  // N, W, H * scale, C // scale --> N, H * scale, W, C // scale
  y = y.permute({0, 2, 1, 3}).contiguous();
  // N, H * scale, W, C // scale --> N, H * scale, W * scale, C // (scale ** 2)
  y = y.view({n, hs, ws, c2});
  // v2: swap back so that dim 1 is again the first spatial axis
  return y.permute({0, 2, 1, 3}).contiguous();
}

// ---------------------------------------------------------------------------------------------
// Embeddings: patch conv + CLS + learned positions

VisionEmbeddingsImpl::VisionEmbeddingsImpl(const LmmConfig& cfg) : grid_(cfg.vision.grid()) {
  const VisionConfig& v = cfg.vision;
  class_embedding = register_parameter("class_embedding", at::empty({1, 1, v.width}));
  position_embedding = register_parameter("position_embedding", at::empty({1, grid_ * grid_ + 1, v.width}));
  init_normal(class_embedding, cfg.init_std);
  init_normal(position_embedding, cfg.init_std);
  patch_embedding = register_module(
      "patch_embedding",
      torch::nn::Conv2d(torch::nn::Conv2dOptions(3, v.width, v.patch_size).stride(v.patch_size).bias(true)));
  init_normal(patch_embedding->weight, cfg.init_std);
  init_constant(patch_embedding->bias, 0.0);
}

at::Tensor VisionEmbeddingsImpl::forward(const at::Tensor& pixel_values) {
  // In the dtype of pixel_values (the model's compute dtype); the weights are converted to it.
  const at::ScalarType dt = pixel_values.scalar_type();
  const int64_t p = patch_embedding->weight.size(2);
  const at::Tensor patches =
      at::conv2d(pixel_values, as_dtype(patch_embedding->weight, dt), as_dtype(patch_embedding->bias, dt), {p, p});
  const int64_t n = patches.size(0), gh = patches.size(2), gw = patches.size(3);
  const at::Tensor tokens = patches.flatten(2).transpose(1, 2);  // (N, G'^2, Cv)
  at::Tensor pos = position_embedding.narrow(1, 1, grid_ * grid_);  // (1, G^2, Cv)
  if (gh != grid_ || gw != grid_) {
    const int64_t cv = pos.size(2);
    const at::Tensor grid = pos.to(at::kFloat).reshape({1, grid_, grid_, cv}).permute({0, 3, 1, 2});
    pos = at::upsample_bicubic2d(grid, {gh, gw}, /*align_corners=*/false)
              .reshape({1, cv, gh * gw})
              .permute({0, 2, 1})
              .to(position_embedding.scalar_type());
  }
  const at::Tensor cls = as_dtype(class_embedding, dt).expand({n, 1, class_embedding.size(2)});
  const at::Tensor pos_all = as_dtype(at::cat({position_embedding.narrow(1, 0, 1), pos}, 1), dt);  // (1, L, Cv)
  return at::cat({cls, tokens}, 1) + pos_all;
}

// ---------------------------------------------------------------------------------------------
// Blocks

VisionAttentionImpl::VisionAttentionImpl(const LmmConfig& cfg) : n_heads_(cfg.vision.n_heads) {
  const int64_t c = cfg.vision.width;
  qkv = register_module("qkv", Linear(c, 3 * c, cfg.vision.qkv_bias, cfg.init_std));
  proj = register_module("proj", Linear(c, c, true, cfg.init_std));
}

at::Tensor VisionAttentionImpl::forward(const at::Tensor& x) {
  const int64_t n = x.size(0), l = x.size(1), c = x.size(2), d = c / n_heads_;
  // qkv: (N, L, 3, Hv, D) -> (3, N, Hv, L, D), as InternAttention._naive_attn
  const at::Tensor qkv_ = qkv->forward(x).reshape({n, l, 3, n_heads_, d}).permute({2, 0, 3, 1, 4});
  const at::Tensor o = himtok::nn::attention(qkv_[0], qkv_[1], qkv_[2], at::Tensor(), /*causal=*/false);
  return proj->forward(o.transpose(1, 2).reshape({n, l, c}));
}

VisionMlpImpl::VisionMlpImpl(const LmmConfig& cfg) {
  fc1 = register_module("fc1", Linear(cfg.vision.width, cfg.vision.mlp_hidden(), true, cfg.init_std));
  fc2 = register_module("fc2", Linear(cfg.vision.mlp_hidden(), cfg.vision.width, true, cfg.init_std));
}

at::Tensor VisionMlpImpl::forward(const at::Tensor& x) { return fc2->forward(at::gelu(fc1->forward(x))); }

VisionLayerImpl::VisionLayerImpl(const LmmConfig& cfg) {
  const VisionConfig& v = cfg.vision;
  attn = register_module("attn", VisionAttention(cfg));
  mlp = register_module("mlp", VisionMlp(cfg));
  norm1 = register_module("norm1", LayerNorm(v.width, v.norm_eps));
  norm2 = register_module("norm2", LayerNorm(v.width, v.norm_eps));
  ls1 = register_parameter("ls1", torch::full({v.width}, v.layer_scale_init));
  ls2 = register_parameter("ls2", torch::full({v.width}, v.layer_scale_init));
}

at::Tensor VisionLayerImpl::forward(const at::Tensor& x) {
  const at::ScalarType dt = x.scalar_type();
  at::Tensor h = x + attn->forward(norm1->forward(x)) * as_dtype(ls1, dt);
  return h + mlp->forward(norm2->forward(h)) * as_dtype(ls2, dt);
}

VisionEncoderImpl::VisionEncoderImpl(const LmmConfig& cfg) {
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < cfg.vision.n_layers; ++i) layers->push_back(VisionLayer(cfg));
}

at::Tensor VisionEncoderImpl::forward(const at::Tensor& x) {
  at::Tensor h = x;
  for (const auto& layer : *layers) h = layer->as<VisionLayer>()->forward(h);
  return h;
}

VisionModelImpl::VisionModelImpl(const LmmConfig& cfg) {
  embeddings = register_module("embeddings", VisionEmbeddings(cfg));
  encoder = register_module("encoder", VisionEncoder(cfg));
}

at::Tensor VisionModelImpl::forward(const at::Tensor& pixel_values) {
  return encoder->forward(embeddings->forward(pixel_values));
}

}  // namespace himtok::lmm
