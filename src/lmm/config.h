// Sizes of the multimodal model (InternVL 2.5 layout): InternViT vision encoder -> pixel shuffle ->
// projector `mlp1` -> InternLM2-style decoder. Every size is a field; a model size is a preset, not
// a fork. No libtorch: the CLI `inspect`, the trainer's JSON and the checkpoint card all read it.
//
// Legend used by the model code (src/lmm/model.h):
//   S image side (one tile), P patch, G = S/P patch grid, Cv ViT width, r = 1/downsample_ratio,
//   I = (G/r)^2 image tokens per tile, C LLM hidden, V vocabulary, F FFN hidden,
//   Hq query heads, Hkv key/value heads (GQA), D = C/Hq head dim.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace himtok::lmm {

// InternViT (modeling_intern_vit.py): patch conv, CLS token, learned position embedding, pre-LN
// blocks `x + ls1 * attn(norm1(x))`, `x + ls2 * mlp(norm2(x))`, fused qkv, exact GELU, no final norm.
struct VisionConfig {
  int64_t image_size = 448;  // S; other sizes run with the position embedding resized (bicubic)
  int64_t patch_size = 14;   // P
  int64_t width = 1024;      // Cv (hidden_size)
  int64_t n_layers = 24;     // num_hidden_layers
  int64_t n_heads = 16;      // num_attention_heads
  int64_t mlp_ratio = 4;     // intermediate_size = mlp_ratio * width
  double layer_scale_init = 0.1;  // initial value of ls1/ls2 (initializer_factor)
  bool qkv_bias = true;
  double norm_eps = 1e-6;    // LayerNorm eps
  bool cls_token = true;     // InternViT always has one; extract_feature drops it

  int64_t grid() const { return image_size / patch_size; }          // G
  int64_t mlp_hidden() const { return mlp_ratio * width; }
};

// InternLM2 (modeling_internlm2.py): RMSNorm, rotary (rotate-half), fused GQA `wqkv` grouped per
// key/value head as [q_0 .. q_{g-1}, k, v], SwiGLU `w2(silu(w1 x) * w3 x)`, untied `output`.
struct LanguageConfig {
  int64_t vocab_size = 93579;  // V; the trainer sets it from the tokenizer
  int64_t hidden = 4096;       // C
  int64_t n_layers = 32;
  int64_t n_heads = 32;        // Hq
  int64_t n_kv_heads = 8;      // Hkv; Hq % Hkv == 0
  int64_t ffn_hidden = 14336;  // F
  double rms_eps = 1e-5;
  double rope_theta = 1e6;
  int64_t max_positions = 32768;  // longer sequences are refused (HF would switch to dynamic NTK)
  // InternVL 2.5 configs carry rope_scaling {type: dynamic, factor: 2.0}. Dynamic NTK only acts past
  // max_positions, which we refuse, so this is recorded for documentation and not used.
  double rope_dynamic_factor = 0.0;

  int64_t head_dim() const { return hidden / n_heads; }  // D
};

// Token ids the model and the generation code need. They come from the text tokenizer at run time
// (src/lmm/vocab.*); -1 means "not set". Mask id k <-> vocab id mt0_id + k (contiguous).
struct SpecialTokens {
  int64_t img_context_id = -1;  // <IMG_CONTEXT>: replaced by image embeddings, in order
  int64_t mt_start_id = -1;     // <|mt_start|>
  int64_t mt_end_id = -1;       // <|mt_end|>
  int64_t mt0_id = -1;          // <|mt_0|>
  int64_t im_end_id = -1;       // <|im_end|>: eos of the chat template
  int64_t codebook_size = 1024; // K: number of mask token ids
  int64_t n_mask_tokens = 32;   // mask tokens after <|mt_start|>
};

struct LmmConfig {
  std::string name = "custom";
  VisionConfig vision;
  double downsample_ratio = 0.5;   // pixel shuffle scale; 1/ratio must be an integer
  std::string ps_version = "v2";   // only v2 (InternVL 2.5) is implemented
  double projector_norm_eps = 1e-5;  // mlp1.0 is a torch.nn.LayerNorm with the default eps
  LanguageConfig llm;
  SpecialTokens tokens;
  double init_std = 0.02;          // normal init of Linear/Conv/Embedding weights (training from scratch)

  // r = 1/downsample_ratio (2 for 0.5).
  int64_t shuffle_factor() const;
  // I: image tokens per tile for the configured image size, (G/r)^2 (256 for 448/14 and 0.5).
  int64_t n_image_tokens() const;
  // Same for another input side (the vision tower resizes its position embedding).
  int64_t n_image_tokens(int64_t image_side) const;
  // Exact number of parameters of LmmModel built from this config (no tensors are allocated).
  int64_t n_params() const;
  int64_t n_params_vision() const;     // vision_model.*
  int64_t n_params_projector() const;  // mlp1.*
  int64_t n_params_language() const;   // language_model.*

  // Throws InputError naming the first inconsistent field ("lmm config: llm.n_heads (6) must be a
  // multiple of llm.n_kv_heads (4)").
  void validate() const;
};

// Presets: "micro" (unit tests, seconds), "tiny" (trains on a 2-core CPU), "internvl2_5-8b"
// (the released sizes with HiMTok's 93579-token vocabulary; documentation and `inspect` only).
LmmConfig lmm_config_preset(const std::string& name);  // InputError for an unknown name
std::vector<std::string> lmm_config_preset_names();

// JSON (nlohmann ADL). from_json is strict: a missing or unknown key raises InputError naming it,
// and the result is validated.
void to_json(nlohmann::json& j, const LmmConfig& c);
void from_json(const nlohmann::json& j, LmmConfig& c);

}  // namespace himtok::lmm
