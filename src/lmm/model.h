// The multimodal model, InternVL 2.5 layout (spec §6.2): InternViT vision encoder -> drop CLS ->
// pixel shuffle (v2, 0.5) -> projector `mlp1` -> image embeddings replace the <IMG_CONTEXT>
// positions -> InternLM2-style decoder -> logits. Greedy generation with a KV cache returns the
// per-step logits too, since the mask is decoded from the logits at the 32 positions after
// <|mt_start|> (spec §4.4).
//
// Tier-2 header (libtorch modules): include it from lmm/ and train/ .cpp files only; cli/ and eval/
// should reach it through a torch-free facade (pimpl), not written yet. Module names are the checkpoint's keys (InternVLChatModel):
//   vision_model.embeddings.{class_embedding, position_embedding, patch_embedding.{weight,bias}}
//   vision_model.encoder.layers.N.{norm1,norm2}.{weight,bias}, .attn.qkv.{weight,bias},
//     .attn.proj.{weight,bias}, .mlp.fc1.{weight,bias}, .mlp.fc2.{weight,bias}, .ls1, .ls2
//   mlp1.0.{weight,bias} (LayerNorm), mlp1.1.{weight,bias} (Linear), mlp1.3.{weight,bias} (Linear)
//   language_model.model.tok_embeddings.weight
//   language_model.model.layers.N.attention.wqkv.weight, .attention.wo.weight,
//     .feed_forward.{w1,w2,w3}.weight, .attention_norm.weight, .ffn_norm.weight
//   language_model.model.norm.weight, language_model.output.weight
//
// Legend: B batch, T tokens, N images (tiles) in the batch, S image side, G = S/P patch grid,
// Cv ViT width, I image tokens per image, C LLM hidden, V vocabulary, Hq/Hkv query/key-value heads,
// D head dim, Lk keys (cache + new), K new tokens in a generation run.
#pragma once
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/pimpl.h>

#include <functional>
#include <vector>

#include "lmm/config.h"
#include "lmm/layers.h"

namespace himtok::lmm {

// ---------------------------------------------------------------------------------------------
// Maths (stateless)

// InternVLChatModel.pixel_shuffle with ps_version v2: (N, G, G, Cv) -> (N, G*s, G*s, Cv/s^2).
// Output cell (a, b) holds input cells (r*a + i, r*b + j) for i, j in [0, r), channels ordered
// (i, j, c) with c fastest, where r = 1/s and dim 1 is the patch row.
at::Tensor pixel_shuffle(const at::Tensor& x, double scale);

// Rotary tables, HF rotate-half convention: inv_freq[i] = theta^(-2i/D), angle = pos * inv_freq,
// cos/sin = cos/sin(cat(angle, angle)). position_ids: (B, L) int64 -> cos, sin: (B, 1, L, D) fp32.
struct RotaryTables {
  at::Tensor cos, sin;
};
RotaryTables rotary_tables(const at::Tensor& position_ids, int64_t head_dim, double theta);
// x * cos + rotate_half(x) * sin, rotate_half(x) = cat(-x[..., D/2:], x[..., :D/2]). x: (B, H, L, D).
at::Tensor apply_rotary(const at::Tensor& x, const RotaryTables& rot);
// (B, Hkv, L, D) -> (B, Hkv*n_rep, L, D); key head h serves query heads h*n_rep .. h*n_rep+n_rep-1.
at::Tensor repeat_kv(const at::Tensor& x, int64_t n_rep);

// ---------------------------------------------------------------------------------------------
// Vision encoder (InternViT)

class VisionEmbeddingsImpl : public torch::nn::Module {
 public:
  explicit VisionEmbeddingsImpl(const LmmConfig& cfg);
  // pixel_values: (N, 3, S', S') -> (N, 1 + G'^2, Cv). For S' != S the position embedding is
  // resized with bicubic interpolation (align_corners=false), as InternVisionEmbeddings._get_pos_embed.
  at::Tensor forward(const at::Tensor& pixel_values);

  at::Tensor class_embedding;     // (1, 1, Cv)
  at::Tensor position_embedding;  // (1, 1 + G^2, Cv)
  torch::nn::Conv2d patch_embedding{nullptr};  // (Cv, 3, P, P) + (Cv), stride P (small: filled at construction)

 private:
  int64_t grid_;
};
TORCH_MODULE(VisionEmbeddings);

class VisionAttentionImpl : public torch::nn::Module {
 public:
  explicit VisionAttentionImpl(const LmmConfig& cfg);
  at::Tensor forward(const at::Tensor& x);  // (N, L, Cv) -> (N, L, Cv)

  Linear qkv{nullptr}, proj{nullptr};

 private:
  int64_t n_heads_;
};
TORCH_MODULE(VisionAttention);

class VisionMlpImpl : public torch::nn::Module {
 public:
  explicit VisionMlpImpl(const LmmConfig& cfg);
  at::Tensor forward(const at::Tensor& x);  // fc2(gelu(fc1(x))), exact GELU

  Linear fc1{nullptr}, fc2{nullptr};
};
TORCH_MODULE(VisionMlp);

class VisionLayerImpl : public torch::nn::Module {
 public:
  explicit VisionLayerImpl(const LmmConfig& cfg);
  at::Tensor forward(const at::Tensor& x);  // x + ls1*attn(norm1(x)); x + ls2*mlp(norm2(x))

  VisionAttention attn{nullptr};
  VisionMlp mlp{nullptr};
  LayerNorm norm1{nullptr}, norm2{nullptr};
  at::Tensor ls1, ls2;  // (Cv)
};
TORCH_MODULE(VisionLayer);

class VisionEncoderImpl : public torch::nn::Module {
 public:
  explicit VisionEncoderImpl(const LmmConfig& cfg);
  at::Tensor forward(const at::Tensor& x);

  torch::nn::ModuleList layers{nullptr};
};
TORCH_MODULE(VisionEncoder);

class VisionModelImpl : public torch::nn::Module {
 public:
  explicit VisionModelImpl(const LmmConfig& cfg);
  // pixel_values: (N, 3, S', S') -> last hidden state (N, 1 + G'^2, Cv); no final norm.
  at::Tensor forward(const at::Tensor& pixel_values);

  VisionEmbeddings embeddings{nullptr};
  VisionEncoder encoder{nullptr};
};
TORCH_MODULE(VisionModel);

// ---------------------------------------------------------------------------------------------
// Language model (InternLM2)

// Keys and values of every layer, after rotary, before repeat_kv.
struct KvCache {
  std::vector<at::Tensor> k, v;  // per layer: (B, Hkv, Lk, D)
  at::Tensor key_pad;            // (B, Lk) bool, true = padding; undefined when nothing is padded
  int64_t length() const;        // Lk (0 when empty)
};

class RmsNormImpl : public torch::nn::Module {
 public:
  RmsNormImpl(int64_t dim, double eps);
  // weight * (x / sqrt(mean(x^2) + eps)), the statistics in fp32, as InternLM2RMSNorm.
  at::Tensor forward(const at::Tensor& x);

  at::Tensor weight;  // (dim)

 private:
  double eps_;
};
TORCH_MODULE(RmsNorm);

class DecoderAttentionImpl : public torch::nn::Module {
 public:
  explicit DecoderAttentionImpl(const LmmConfig& cfg);
  // x: (B, L, C); blocked: undefined or bool (B, 1, L, Lk), true = may not attend; causal always.
  // With `cache`, k/v of the new tokens are appended to cache->k/v[layer] first.
  at::Tensor forward(const at::Tensor& x, const RotaryTables& rot, const at::Tensor& blocked, KvCache* cache,
                     int64_t layer);

  Linear wqkv{nullptr}, wo{nullptr};

 private:
  int64_t n_heads_, n_kv_heads_, head_dim_;
};
TORCH_MODULE(DecoderAttention);

class FeedForwardImpl : public torch::nn::Module {
 public:
  explicit FeedForwardImpl(const LmmConfig& cfg);
  at::Tensor forward(const at::Tensor& x);  // w2(silu(w1 x) * w3 x)

  Linear w1{nullptr}, w2{nullptr}, w3{nullptr};
};
TORCH_MODULE(FeedForward);

class DecoderLayerImpl : public torch::nn::Module {
 public:
  explicit DecoderLayerImpl(const LmmConfig& cfg);
  at::Tensor forward(const at::Tensor& x, const RotaryTables& rot, const at::Tensor& blocked, KvCache* cache,
                     int64_t layer);

  DecoderAttention attention{nullptr};
  FeedForward feed_forward{nullptr};
  RmsNorm attention_norm{nullptr}, ffn_norm{nullptr};
};
TORCH_MODULE(DecoderLayer);

// InternLM2Model: embeddings, layers, final norm.
class DecoderModelImpl : public torch::nn::Module {
 public:
  explicit DecoderModelImpl(const LmmConfig& cfg);
  // inputs_embeds: (B, L, C); position_ids: (B, L) int64; key_pad: undefined or (B, L) bool with
  // true = padding (never attended; a padded query attends to itself only, so nothing is NaN).
  // With `cache`, the new keys follow the cached ones. Returns the normed hidden states (B, L, C).
  at::Tensor forward(const at::Tensor& inputs_embeds, const at::Tensor& position_ids, const at::Tensor& key_pad,
                     KvCache* cache = nullptr);

  Embedding tok_embeddings{nullptr};
  torch::nn::ModuleList layers{nullptr};
  RmsNorm norm{nullptr};

 private:
  LanguageConfig cfg_;
};
TORCH_MODULE(DecoderModel);

// InternLM2ForCausalLM: `model` + untied `output` head.
class CausalLmImpl : public torch::nn::Module {
 public:
  explicit CausalLmImpl(const LmmConfig& cfg);

  DecoderModel model{nullptr};
  Linear output{nullptr};  // (V, C), no bias
};
TORCH_MODULE(CausalLm);

// ---------------------------------------------------------------------------------------------
// The whole model

// mlp1 (InternVLChatModel): LayerNorm(Cv*r^2) "0", Linear(Cv*r^2, C) "1", GELU, Linear(C, C) "3";
// the children keep the indices of the official nn.Sequential, so the keys are mlp1.0.*, mlp1.1.*, mlp1.3.*.
class ProjectorImpl : public torch::nn::Module {
 public:
  ProjectorImpl(int64_t in, int64_t hidden, double norm_eps, double init_std);
  at::Tensor forward(const at::Tensor& x);  // (..., Cv*r^2) -> (..., C)

  LayerNorm norm{nullptr};
  Linear fc1{nullptr}, fc2{nullptr};
};
TORCH_MODULE(Projector);

// Generation settings of the official batch_chat -> transformers greedy loop.
struct GenerateOptions {
  int64_t max_new_tokens = 128;
  int64_t eos_id = -1;          // stop token (<|im_end|> for the chat template); < 0: never stop
  int64_t pad_id = 2;           // written after a row has finished (llm_config.pad_token_id)
  int64_t min_new_tokens = 0;   // eos is forbidden at steps < min_new_tokens (the REC eval uses 1)
  // A transformers LogitsProcessor: may change scores (B, V) fp32 of step k before the argmax
  // (constrained decoding, tests that force a response). The recorded logits stay the raw ones.
  std::function<void(int64_t step, at::Tensor& scores)> processor;
};

struct GenerateResult {
  at::Tensor ids;     // (B, K) int64, generated tokens only; after a row's eos it holds pad_id
  at::Tensor logits;  // (B, K, V) fp32; logits[:, k] produced ids[:, k] (argmax)
  std::vector<int64_t> lengths;  // per row: tokens up to and including the first eos (K if none)
  double embed_s = 0, prefill_s = 0, decode_s = 0;  // wall time: vision + embeddings, prompt, new tokens
};

class LmmModelImpl : public torch::nn::Module {
 public:
  // Validates cfg; weights initialised for training from scratch (normal(0, init_std), norms 1,
  // ls1/ls2 = layer_scale_init, attention.wo and feed_forward.w2 scaled by 1/sqrt(2 * llm.n_layers)).
  // Under SkipInit (lmm/layers.h) the large weights are allocated but not filled (a loader binds them).
  explicit LmmModelImpl(const LmmConfig& cfg);

  // pixel_values: (N, 3, S', S') normalised (image_prep.h) -> image embeddings (N, I', C).
  // S' must be a multiple of patch_size / downsample_ratio (InputError otherwise).
  at::Tensor extract_feature(const at::Tensor& pixel_values);

  // Token embeddings with the image embeddings written, in order, over the <IMG_CONTEXT> positions
  // (row-major over (B, T)). input_ids: (B, T) int64; pixel_values: undefined (text only) or
  // (N, 3, S', S') with exactly N*I' <IMG_CONTEXT> ids in input_ids (InputError otherwise).
  at::Tensor embed(const at::Tensor& input_ids, const at::Tensor& pixel_values);

  // Training / scoring forward. attention_mask: undefined or (B, T) with 1 = token, 0 = padding
  // (left or right padding; positions count real tokens only, as HF's generate does).
  // Returns logits (B, T, V) in the model's dtype.
  at::Tensor forward(const at::Tensor& input_ids, const at::Tensor& pixel_values,
                     const at::Tensor& attention_mask = {});

  // Greedy decoding with a KV cache, run under NoGradGuard. input_ids: (B, T) prompt, left-padded
  // when attention_mask (B, T) is given (its last column must be all 1). Stops after max_new_tokens
  // or when every row has produced eos_id (eos_id < 0: never).
  GenerateResult generate(const at::Tensor& input_ids, const at::Tensor& pixel_values, int64_t max_new_tokens,
                          int64_t eos_id, const at::Tensor& attention_mask = {});
  GenerateResult generate(const at::Tensor& input_ids, const at::Tensor& pixel_values, const GenerateOptions& opt,
                          const at::Tensor& attention_mask = {});

  // The dtype activations are computed in (fp32 by default; weights stored in another dtype, e.g.
  // bf16 from the released files, are converted as they are used, see lmm/layers.h).
  at::ScalarType compute_dtype() const { return compute_dtype_; }
  void set_compute_dtype(at::ScalarType dtype) { compute_dtype_ = dtype; }

  const LmmConfig& config() const { return cfg_; }

  VisionModel vision_model{nullptr};
  Projector mlp1{nullptr};
  CausalLm language_model{nullptr};

 private:
  // InputError unless input_ids is (B, T) int64 with ids in [0, V) and T <= llm.max_positions.
  void check_ids(const at::Tensor& input_ids) const;
  LmmConfig cfg_;
  at::ScalarType compute_dtype_ = at::kFloat;
};
TORCH_MODULE(LmmModel);

}  // namespace himtok::lmm
