// LmmConfig: presets, parameter counts, validation and strict JSON.
#include "lmm/config.h"

#include <cmath>
#include <set>
#include <type_traits>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/json_int.h"

namespace himtok::lmm {

// ---------------------------------------------------------------------------------------------
// Derived sizes

int64_t LmmConfig::shuffle_factor() const { return static_cast<int64_t>(std::llround(1.0 / downsample_ratio)); }

int64_t LmmConfig::n_image_tokens(int64_t image_side) const {
  const int64_t g = image_side / vision.patch_size, r = shuffle_factor();
  return (g / r) * (g / r);
}

int64_t LmmConfig::n_image_tokens() const { return n_image_tokens(vision.image_size); }

int64_t LmmConfig::n_params_vision() const {
  const VisionConfig& v = vision;
  const int64_t c = v.width, m = v.mlp_hidden(), g = v.grid();
  const int64_t embeddings = c /*class_embedding*/ + (g * g + 1) * c /*position_embedding*/ +
                             3 * v.patch_size * v.patch_size * c + c /*patch_embedding*/;
  const int64_t layer = 2 * c /*norm1*/ + 3 * c * c + (v.qkv_bias ? 3 * c : 0) /*attn.qkv*/ +
                        c * c + c /*attn.proj*/ + 2 * c /*norm2*/ + c * m + m /*mlp.fc1*/ + m * c + c /*mlp.fc2*/ +
                        2 * c /*ls1, ls2*/;
  return embeddings + v.n_layers * layer;
}

int64_t LmmConfig::n_params_projector() const {
  const int64_t r = shuffle_factor(), in = vision.width * r * r, c = llm.hidden;
  return 2 * in /*mlp1.0*/ + in * c + c /*mlp1.1*/ + c * c + c /*mlp1.3*/;
}

int64_t LmmConfig::n_params_language() const {
  const LanguageConfig& l = llm;
  const int64_t c = l.hidden, d = l.head_dim(), f = l.ffn_hidden;
  const int64_t layer = c /*attention_norm*/ + c * (l.n_heads + 2 * l.n_kv_heads) * d /*attention.wqkv*/ +
                        l.n_heads * d * c /*attention.wo*/ + c /*ffn_norm*/ + 3 * c * f /*feed_forward.w1,w2,w3*/;
  return l.vocab_size * c /*tok_embeddings*/ + l.n_layers * layer + c /*norm*/ + l.vocab_size * c /*output*/;
}

int64_t LmmConfig::n_params() const { return n_params_vision() + n_params_projector() + n_params_language(); }

// ---------------------------------------------------------------------------------------------
// Validation

void LmmConfig::validate() const {
  auto positive = [](int64_t v, const char* field) {
    HIMTOK_CHECK_INPUT(v > 0, "lmm config: ", field, " must be positive, got ", v);
  };
  positive(vision.image_size, "vision.image_size");
  positive(vision.patch_size, "vision.patch_size");
  positive(vision.width, "vision.width");
  positive(vision.n_layers, "vision.n_layers");
  positive(vision.n_heads, "vision.n_heads");
  positive(vision.mlp_ratio, "vision.mlp_ratio");
  positive(llm.vocab_size, "llm.vocab_size");
  positive(llm.hidden, "llm.hidden");
  positive(llm.n_layers, "llm.n_layers");
  positive(llm.n_heads, "llm.n_heads");
  positive(llm.n_kv_heads, "llm.n_kv_heads");
  positive(llm.ffn_hidden, "llm.ffn_hidden");
  positive(llm.max_positions, "llm.max_positions");
  HIMTOK_CHECK_INPUT(vision.cls_token, "lmm config: vision.cls_token must be true (InternViT has a CLS token)");
  HIMTOK_CHECK_INPUT(vision.image_size % vision.patch_size == 0, "lmm config: vision.image_size (",
                     vision.image_size, ") must be a multiple of vision.patch_size (", vision.patch_size, ")");
  HIMTOK_CHECK_INPUT(vision.width % vision.n_heads == 0, "lmm config: vision.width (", vision.width,
                     ") must be a multiple of vision.n_heads (", vision.n_heads, ")");
  HIMTOK_CHECK_INPUT(vision.norm_eps > 0 && projector_norm_eps > 0 && llm.rms_eps > 0,
                     "lmm config: norm eps values must be positive");
  HIMTOK_CHECK_INPUT(ps_version == "v2", "lmm config: ps_version '", ps_version, "' is not supported, expected 'v2'");
  HIMTOK_CHECK_INPUT(downsample_ratio > 0 && downsample_ratio <= 1 &&
                         std::fabs(1.0 / downsample_ratio - static_cast<double>(shuffle_factor())) < 1e-9,
                     "lmm config: downsample_ratio (", downsample_ratio, ") must be 1/r for an integer r >= 1");
  HIMTOK_CHECK_INPUT(vision.grid() % shuffle_factor() == 0, "lmm config: patch grid ", vision.grid(),
                     " (vision.image_size / vision.patch_size) must be a multiple of 1/downsample_ratio (",
                     shuffle_factor(), ")");
  HIMTOK_CHECK_INPUT(llm.hidden % llm.n_heads == 0, "lmm config: llm.hidden (", llm.hidden,
                     ") must be a multiple of llm.n_heads (", llm.n_heads, ")");
  HIMTOK_CHECK_INPUT(llm.n_heads % llm.n_kv_heads == 0, "lmm config: llm.n_heads (", llm.n_heads,
                     ") must be a multiple of llm.n_kv_heads (", llm.n_kv_heads, ")");
  HIMTOK_CHECK_INPUT(llm.head_dim() % 2 == 0, "lmm config: llm head dim (", llm.head_dim(),
                     ") must be even for rotary embeddings");
  HIMTOK_CHECK_INPUT(llm.rope_theta > 0, "lmm config: llm.rope_theta must be positive, got ", llm.rope_theta);
  HIMTOK_CHECK_INPUT(init_std > 0, "lmm config: init_std must be positive, got ", init_std);
  positive(tokens.codebook_size, "tokens.codebook_size");
  positive(tokens.n_mask_tokens, "tokens.n_mask_tokens");
  const std::pair<int64_t, const char*> ids[] = {{tokens.img_context_id, "tokens.img_context_id"},
                                                 {tokens.mt_start_id, "tokens.mt_start_id"},
                                                 {tokens.mt_end_id, "tokens.mt_end_id"},
                                                 {tokens.im_end_id, "tokens.im_end_id"}};
  for (const auto& [id, field] : ids)
    HIMTOK_CHECK_INPUT(id >= -1 && id < llm.vocab_size, "lmm config: ", field, " (", id,
                       ") must be -1 (unset) or in [0, llm.vocab_size = ", llm.vocab_size, ")");
  HIMTOK_CHECK_INPUT(tokens.mt0_id == -1 || (tokens.mt0_id >= 0 && tokens.mt0_id + tokens.codebook_size <= llm.vocab_size),
                     "lmm config: mask ids [tokens.mt0_id = ", tokens.mt0_id, ", +", tokens.codebook_size,
                     ") must lie inside llm.vocab_size = ", llm.vocab_size);
}

// ---------------------------------------------------------------------------------------------
// Presets

LmmConfig lmm_config_preset(const std::string& name) {
  LmmConfig c;
  c.name = name;
  if (name == "micro") {
    // Unit tests: 4 image tokens (32/8 = 4 -> pixel shuffle -> 2x2), everything runs in milliseconds.
    c.vision.image_size = 32;
    c.vision.patch_size = 8;
    c.vision.width = 32;
    c.vision.n_layers = 2;
    c.vision.n_heads = 2;
    c.vision.mlp_ratio = 4;
    c.llm.vocab_size = 64;
    c.llm.hidden = 32;
    c.llm.n_layers = 2;
    c.llm.n_heads = 4;
    c.llm.n_kv_heads = 2;
    c.llm.ffn_hidden = 64;
    c.llm.rope_theta = 10000.0;
    c.llm.max_positions = 256;
    c.tokens.codebook_size = 16;  // small vocabularies; real runs use 1024
  } else if (name == "tiny") {
    // A 2-core CPU trains it in about an hour. 128/8 = 16x16 patches -> 8x8 = 64 image tokens.
    c.vision.image_size = 128;
    c.vision.patch_size = 8;
    c.vision.width = 192;
    c.vision.n_layers = 4;
    c.vision.n_heads = 3;  // head dim 64, as InternViT
    c.vision.mlp_ratio = 4;
    c.llm.vocab_size = 4096;  // placeholder; the trainer sets it from the SentencePiece vocabulary
    c.llm.hidden = 256;
    c.llm.n_layers = 6;
    c.llm.n_heads = 4;
    c.llm.n_kv_heads = 2;
    c.llm.ffn_hidden = 688;
    c.llm.rope_theta = 10000.0;
    c.llm.max_positions = 2048;
  } else if (name == "internvl2_5-8b") {
    // InternViT-300M-448px-V2_5 + InternLM2.5-7B-chat (spec §6.2); vocabulary 92553 + 1026 HiMTok
    // tokens. The token ids are left unset: read them from the release's tokenizer files (spec §4.2).
    c.llm.rope_dynamic_factor = 2.0;
  } else {
    std::string known;
    for (const auto& n : lmm_config_preset_names()) known += (known.empty() ? "" : ", ") + n;
    throw InputError(str_cat("lmm config: unknown preset '", name, "'; known presets: ", known));
  }
  c.validate();
  return c;
}

std::vector<std::string> lmm_config_preset_names() { return {"micro", "tiny", "internvl2_5-8b"}; }

// ---------------------------------------------------------------------------------------------
// JSON

void to_json(nlohmann::json& j, const LmmConfig& c) {
  const VisionConfig& v = c.vision;
  const LanguageConfig& l = c.llm;
  const SpecialTokens& t = c.tokens;
  j = nlohmann::json{
      {"name", c.name},
      {"vision",
       {{"image_size", v.image_size},
        {"patch_size", v.patch_size},
        {"width", v.width},
        {"n_layers", v.n_layers},
        {"n_heads", v.n_heads},
        {"mlp_ratio", v.mlp_ratio},
        {"layer_scale_init", v.layer_scale_init},
        {"qkv_bias", v.qkv_bias},
        {"norm_eps", v.norm_eps},
        {"cls_token", v.cls_token}}},
      {"downsample_ratio", c.downsample_ratio},
      {"ps_version", c.ps_version},
      {"projector_norm_eps", c.projector_norm_eps},
      {"llm",
       {{"vocab_size", l.vocab_size},
        {"hidden", l.hidden},
        {"n_layers", l.n_layers},
        {"n_heads", l.n_heads},
        {"n_kv_heads", l.n_kv_heads},
        {"ffn_hidden", l.ffn_hidden},
        {"rms_eps", l.rms_eps},
        {"rope_theta", l.rope_theta},
        {"max_positions", l.max_positions},
        {"rope_dynamic_factor", l.rope_dynamic_factor}}},
      {"tokens",
       {{"img_context_id", t.img_context_id},
        {"mt_start_id", t.mt_start_id},
        {"mt_end_id", t.mt_end_id},
        {"mt0_id", t.mt0_id},
        {"im_end_id", t.im_end_id},
        {"codebook_size", t.codebook_size},
        {"n_mask_tokens", t.n_mask_tokens}}},
      {"init_std", c.init_std},
  };
}

namespace {

// Reads the keys of one JSON object; finish() refuses keys nobody asked for.
class StrictObject {
 public:
  StrictObject(const nlohmann::json& j, std::string where) : j_(j), where_(std::move(where)) {
    HIMTOK_CHECK_INPUT(j_.is_object(), "lmm config: '", where_.empty() ? "(root)" : where_, "' must be an object");
  }
  template <typename T>
  void get(const char* key, T& out) {
    seen_.insert(key);
    const std::string path = where_.empty() ? std::string(key) : where_ + "." + key;
    auto it = j_.find(key);
    HIMTOK_CHECK_INPUT(it != j_.end(), "lmm config: missing key '", path, "'");
    if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>)  // no float -> int cast (UB past the range)
      HIMTOK_CHECK_INPUT(is_json_int(*it),
                         "lmm config: '", path, "' must be an integer, got ", excerpt(it->dump()));
    try {
      out = it->template get<T>();
    } catch (const nlohmann::json::exception& e) {
      throw InputError(str_cat("lmm config: '", path, "' has the wrong type (", it->type_name(), ")"));
    }
  }
  StrictObject child(const char* key) {
    seen_.insert(key);
    auto it = j_.find(key);
    HIMTOK_CHECK_INPUT(it != j_.end(), "lmm config: missing key '", where_.empty() ? "" : where_ + ".", key, "'");
    return StrictObject(*it, where_.empty() ? std::string(key) : where_ + "." + key);
  }
  void finish() const {
    for (auto it = j_.begin(); it != j_.end(); ++it)
      HIMTOK_CHECK_INPUT(seen_.count(it.key()), "lmm config: unknown key '", where_.empty() ? "" : where_ + ".",
                         it.key(), "'");
  }

 private:
  const nlohmann::json& j_;
  std::string where_;
  std::set<std::string> seen_;
};

}  // namespace

void from_json(const nlohmann::json& j, LmmConfig& c) {
  StrictObject root(j, "");
  root.get("name", c.name);
  {
    StrictObject v = root.child("vision");
    v.get("image_size", c.vision.image_size);
    v.get("patch_size", c.vision.patch_size);
    v.get("width", c.vision.width);
    v.get("n_layers", c.vision.n_layers);
    v.get("n_heads", c.vision.n_heads);
    v.get("mlp_ratio", c.vision.mlp_ratio);
    v.get("layer_scale_init", c.vision.layer_scale_init);
    v.get("qkv_bias", c.vision.qkv_bias);
    v.get("norm_eps", c.vision.norm_eps);
    v.get("cls_token", c.vision.cls_token);
    v.finish();
  }
  root.get("downsample_ratio", c.downsample_ratio);
  root.get("ps_version", c.ps_version);
  root.get("projector_norm_eps", c.projector_norm_eps);
  {
    StrictObject l = root.child("llm");
    l.get("vocab_size", c.llm.vocab_size);
    l.get("hidden", c.llm.hidden);
    l.get("n_layers", c.llm.n_layers);
    l.get("n_heads", c.llm.n_heads);
    l.get("n_kv_heads", c.llm.n_kv_heads);
    l.get("ffn_hidden", c.llm.ffn_hidden);
    l.get("rms_eps", c.llm.rms_eps);
    l.get("rope_theta", c.llm.rope_theta);
    l.get("max_positions", c.llm.max_positions);
    l.get("rope_dynamic_factor", c.llm.rope_dynamic_factor);
    l.finish();
  }
  {
    StrictObject t = root.child("tokens");
    t.get("img_context_id", c.tokens.img_context_id);
    t.get("mt_start_id", c.tokens.mt_start_id);
    t.get("mt_end_id", c.tokens.mt_end_id);
    t.get("mt0_id", c.tokens.mt0_id);
    t.get("im_end_id", c.tokens.im_end_id);
    t.get("codebook_size", c.tokens.codebook_size);
    t.get("n_mask_tokens", c.tokens.n_mask_tokens);
    t.finish();
  }
  root.get("init_std", c.init_std);
  root.finish();
  c.validate();
}

}  // namespace himtok::lmm
