#include "tokenizer/options.h"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/json_int.h"

using nlohmann::json;

namespace himtok::tok {

void TokenizerConfig::validate() const {
  auto pos = [&](int64_t v, const char* field) { HIMTOK_CHECK_INPUT(v > 0, "config: ", field, " must be > 0, got ", v); };
  pos(width, "width");
  pos(depth, "depth");
  pos(heads, "heads");
  pos(mlp_ratio, "mlp_ratio");
  pos(patch_size, "patch_size");
  pos(image_size, "image_size");
  pos(num_latent_tokens, "num_latent_tokens");
  pos(codebook_size, "codebook_size");
  pos(token_size, "token_size");
  pos(pixel_hidden_channels, "pixel_hidden_channels");
  pos(pixel_num_res_blocks, "pixel_num_res_blocks");
  pos(pixel_z_channels, "pixel_z_channels");
  pos(pixel_norm_groups, "pixel_norm_groups");
  HIMTOK_CHECK_INPUT(width % heads == 0, "config: width ", width, " is not divisible by heads ", heads);
  HIMTOK_CHECK_INPUT(image_size % patch_size == 0, "config: image_size ", image_size, " is not a multiple of patch_size ",
                     patch_size);
  HIMTOK_CHECK_INPUT(!pixel_channel_mult.empty(), "config: pixel_channel_mult is empty");
  const int64_t up = int64_t{1} << (pixel_channel_mult.size() - 1);
  HIMTOK_CHECK_INPUT(grid() * up == image_size, "config: the pixel decoder upsamples the ", grid(), "x", grid(),
                     " grid by ", up, " to ", grid() * up, ", but image_size is ", image_size,
                     "; need patch_size = 2^(len(pixel_channel_mult)-1)");
  for (int64_t m : pixel_channel_mult) {
    HIMTOK_CHECK_INPUT(m > 0, "config: pixel_channel_mult entries must be > 0");
    HIMTOK_CHECK_INPUT((pixel_hidden_channels * m) % pixel_norm_groups == 0, "config: pixel channels ",
                       pixel_hidden_channels * m, " are not divisible by pixel_norm_groups ", pixel_norm_groups);
  }
  HIMTOK_CHECK_INPUT(pixel_hidden_channels % pixel_norm_groups == 0, "config: pixel_hidden_channels not divisible by groups");
  HIMTOK_CHECK_INPUT(!legacy_reshape || (width * num_latent_tokens) % num_latent_tokens == 0, "config: legacy reshape");
}

int64_t TokenizerConfig::n_params() const {
  const int64_t C = width, N1 = n_patches() + 1, L = num_latent_tokens, D = token_size, H = C * mlp_ratio;
  const int64_t block = 2 * C /*ln1*/ + 3 * C * C + 3 * C /*in_proj*/ + C * C + C /*out_proj*/ + 2 * C /*ln2*/ +
                        C * H + H /*c_fc*/ + H * C + C /*c_proj*/;
  const int64_t p = patch_size;
  int64_t enc = C /*cls*/ + N1 * C + L * C + (3 * p * p * C + C) + 4 * C + depth * block + (D * C + D);
  int64_t latent = L * C;
  int64_t quant = codebook_size * D + D * D;
  int64_t dec = C + N1 * C + C /*mask_token*/ + L * C + (C * D + C) + 4 * C + depth * block +
                (2 * C * C + 2 * C) + (pixel_z_channels * 2 * C + pixel_z_channels);
  // Pixel decoder.
  const int64_t nres = static_cast<int64_t>(pixel_channel_mult.size());
  auto resblock = [](int64_t in, int64_t out) {
    int64_t n = 2 * in + in * out * 9 + 2 * out + out * out * 9;
    if (in != out) n += out * out;
    return n;
  };
  int64_t block_in = pixel_hidden_channels * pixel_channel_mult.back();
  int64_t pix = pixel_z_channels * block_in * 9 + block_in;  // conv_in
  pix += 2 * resblock(block_in, block_in);                     // mid
  for (int64_t lvl = nres - 1; lvl >= 0; --lvl) {
    int64_t out = pixel_hidden_channels * pixel_channel_mult[lvl];
    for (int64_t b = 0; b < pixel_num_res_blocks; ++b) {
      pix += resblock(block_in, out);
      block_in = out;
    }
    if (lvl > 0) pix += block_in * block_in * 9 + block_in;
  }
  pix += 2 * block_in + block_in * 3 * 9 + 3;  // norm_out, conv_out
  return enc + latent + quant + dec + pix;
}

std::string TokenizerConfig::to_json() const {
  json j = {{"name", name},
            {"width", width},
            {"depth", depth},
            {"heads", heads},
            {"mlp_ratio", mlp_ratio},
            {"patch_size", patch_size},
            {"image_size", image_size},
            {"num_latent_tokens", num_latent_tokens},
            {"codebook_size", codebook_size},
            {"token_size", token_size},
            {"use_l2_norm", use_l2_norm},
            {"legacy_reshape", legacy_reshape},
            {"pixel_hidden_channels", pixel_hidden_channels},
            {"pixel_channel_mult", pixel_channel_mult},
            {"pixel_num_res_blocks", pixel_num_res_blocks},
            {"pixel_z_channels", pixel_z_channels},
            {"pixel_norm_groups", pixel_norm_groups},
            {"commitment_cost", commitment_cost},
            {"layernorm_eps", layernorm_eps},
            {"groupnorm_eps", groupnorm_eps}};
  return j.dump(2);
}

TokenizerConfig TokenizerConfig::from_json(const std::string& text, const std::string& context) {
  json j;
  try {
    j = json::parse(text);
  } catch (const std::exception& e) {
    throw InputError(str_cat(context, ": cannot parse config JSON (", e.what(), ")"));
  }
  HIMTOK_CHECK_INPUT(j.is_object(), context, ": config is not a JSON object");
  TokenizerConfig c = j.contains("preset") ? preset(j["preset"].get<std::string>()) : TokenizerConfig{};
  static const char* known[] = {"name", "preset", "width", "depth", "heads", "mlp_ratio", "patch_size", "image_size",
                                "num_latent_tokens", "codebook_size", "token_size", "use_l2_norm", "legacy_reshape",
                                "pixel_hidden_channels", "pixel_channel_mult", "pixel_num_res_blocks",
                                "pixel_z_channels", "pixel_norm_groups", "commitment_cost", "layernorm_eps",
                                "groupnorm_eps"};
  for (auto it = j.begin(); it != j.end(); ++it) {
    bool ok = false;
    for (const char* k : known) ok = ok || it.key() == k;
    HIMTOK_CHECK_INPUT(ok, context, ": unknown config field '", it.key(), "'");
  }
  try {
    auto as_i = [&](const json& x, const char* k) -> int64_t {  // integers only (common/json_int.h)
      HIMTOK_CHECK_INPUT(is_json_int(x),
                         context, ": config field '", k, "' must be an integer, got ", excerpt(x.dump()));
      return x.get<int64_t>();
    };
    auto get_i = [&](const char* k, int64_t& v) {
      if (j.contains(k)) v = as_i(j[k], k);
    };
    if (j.contains("name")) c.name = j["name"].get<std::string>();
    get_i("width", c.width);
    get_i("depth", c.depth);
    get_i("heads", c.heads);
    get_i("mlp_ratio", c.mlp_ratio);
    get_i("patch_size", c.patch_size);
    get_i("image_size", c.image_size);
    get_i("num_latent_tokens", c.num_latent_tokens);
    get_i("codebook_size", c.codebook_size);
    get_i("token_size", c.token_size);
    get_i("pixel_hidden_channels", c.pixel_hidden_channels);
    get_i("pixel_num_res_blocks", c.pixel_num_res_blocks);
    get_i("pixel_z_channels", c.pixel_z_channels);
    get_i("pixel_norm_groups", c.pixel_norm_groups);
    if (j.contains("use_l2_norm")) c.use_l2_norm = j["use_l2_norm"].get<bool>();
    if (j.contains("legacy_reshape")) c.legacy_reshape = j["legacy_reshape"].get<bool>();
    if (j.contains("pixel_channel_mult")) {
      const json& m = j["pixel_channel_mult"];
      HIMTOK_CHECK_INPUT(m.is_array(), context, ": config field 'pixel_channel_mult' must be a list of integers");
      c.pixel_channel_mult.clear();
      for (const json& x : m) c.pixel_channel_mult.push_back(as_i(x, "pixel_channel_mult"));
    }
    if (j.contains("commitment_cost")) c.commitment_cost = j["commitment_cost"].get<double>();
    if (j.contains("layernorm_eps")) c.layernorm_eps = j["layernorm_eps"].get<double>();
    if (j.contains("groupnorm_eps")) c.groupnorm_eps = j["groupnorm_eps"].get<double>();
  } catch (const nlohmann::json::exception& e) {
    throw InputError(str_cat(context, ": bad config field type (", e.what(), ")"));
  }
  c.validate();
  return c;
}

TokenizerConfig TokenizerConfig::from_file(const std::string& path) {
  HIMTOK_CHECK_INPUT(std::filesystem::exists(path), path, ": no such file");
  std::ifstream f(path);
  std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  return from_json(text, path);
}

std::vector<std::string> TokenizerConfig::preset_names() { return {"official-large", "small", "tiny", "micro"}; }

TokenizerConfig TokenizerConfig::preset(const std::string& name) {
  TokenizerConfig c;  // defaults = official-large
  c.name = name;
  if (name == "official-large") {
    // The released HiMTok (config/himt.yaml: ViT-L encoder/decoder, 644,294,815 parameters).
  } else if (name == "small") {
    // The official geometry (256x256 input, 16x16 patches, 4 upsamplings) at a width trainable
    // in minutes on one GPU (configs/tokenizer_small.json); about 9M parameters, 18 MB in bf16.
    c.width = 256;
    c.depth = 4;
    c.heads = 4;
    c.pixel_hidden_channels = 16;
    c.pixel_channel_mult = {1, 1, 2, 4, 8};
    c.pixel_num_res_blocks = 1;
    c.pixel_z_channels = 256;
    c.pixel_norm_groups = 8;
  } else if (name == "tiny") {
    // Trainable on a 2-core CPU (issue 3). The same 256 patches and 32 tokens as the official
    // model, at a 128x128 input (patch 8) with a narrow ViT and a light pixel decoder: the
    // full-resolution convolutions dominate the cost, and 256x256 ones were 4x too slow to train
    // here. Outputs are mapped to 256x256 (bilinear on the probabilities) for evaluation.
    c.width = 192;
    c.depth = 3;
    c.heads = 3;
    c.patch_size = 8;
    c.image_size = 128;
    c.pixel_hidden_channels = 16;
    c.pixel_channel_mult = {1, 2, 4, 8};
    c.pixel_num_res_blocks = 1;
    c.pixel_z_channels = 128;
    c.pixel_norm_groups = 8;
  } else if (name == "micro") {
    // For tests: seconds on CPU. 32x32 input, 4x4 patches, 2 upsamplings.
    c.width = 32;
    c.depth = 1;
    c.heads = 2;
    c.patch_size = 4;
    c.image_size = 32;
    c.pixel_hidden_channels = 8;
    c.pixel_channel_mult = {1, 1, 2};
    c.pixel_num_res_blocks = 1;
    c.pixel_z_channels = 16;
    c.pixel_norm_groups = 4;
  } else {
    std::string names;
    for (auto& n : preset_names()) names += (names.empty() ? "" : ", ") + n;
    throw InputError(str_cat("unknown preset '", name, "'; known: ", names));
  }
  c.validate();
  return c;
}

TokenizerConfig TokenizerConfig::resolve(const std::string& s) {
  for (auto& n : preset_names())
    if (n == s) return preset(s);
  if (std::filesystem::exists(s)) return from_file(s);
  std::string names;
  for (auto& n : preset_names()) names += (names.empty() ? "" : ", ") + n;
  throw InputError(str_cat("config '", s, "' is neither a preset (", names, ") nor an existing JSON file"));
}

}  // namespace himtok::tok
