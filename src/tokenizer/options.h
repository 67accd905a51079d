// Sizes of a HiMTok mask tokenizer. No libtorch. Field names are those of the golden
// config.json (../shared/golden/*/config.json), so official-style config files load as they are.
//
// Legend used in the tokenizer's shape comments:
//   B batch, L latent tokens (num_latent_tokens, 32), K codebook (1024), D token_size (12),
//   C width, G grid = image_size / patch_size (16), N = G*G patches (256), S image_size (256),
//   Z pixel_z_channels (the pixel decoder's input channels).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace himtok::tok {

struct TokenizerConfig {
  int64_t width = 1024;             // C, encoder and decoder alike
  int64_t depth = 24;               // transformer blocks, encoder and decoder alike
  int64_t heads = 16;
  int64_t mlp_ratio = 4;
  int64_t patch_size = 16;
  int64_t image_size = 256;         // S
  int64_t num_latent_tokens = 32;   // L
  int64_t codebook_size = 1024;     // K
  int64_t token_size = 12;          // D
  bool use_l2_norm = true;
  bool legacy_reshape = true;       // TiTok's flat reshape before conv_out (the official default)
  int64_t pixel_hidden_channels = 128;
  std::vector<int64_t> pixel_channel_mult{1, 1, 2, 2, 4};
  int64_t pixel_num_res_blocks = 2;
  int64_t pixel_z_channels = 1024;  // Z: decoder ffn output = pixel decoder input
  int64_t pixel_norm_groups = 32;   // GroupNorm groups in the pixel decoder
  double commitment_cost = 0.01;
  double layernorm_eps = 1e-5;
  double groupnorm_eps = 1e-6;
  std::string name = "custom";      // preset name, informational

  int64_t grid() const { return image_size / patch_size; }
  int64_t n_patches() const { return grid() * grid(); }
  // Throws InputError naming the field if the sizes are inconsistent.
  void validate() const;
  // Parameter count of HiMT with these sizes (computed from the shapes, no allocation).
  int64_t n_params() const;

  std::string to_json() const;                                  // pretty JSON object
  static TokenizerConfig from_json(const std::string& text, const std::string& context);
  static TokenizerConfig from_file(const std::string& path);
  static TokenizerConfig preset(const std::string& name);       // InputError if unknown
  static std::vector<std::string> preset_names();
  // A preset name or a JSON file path.
  static TokenizerConfig resolve(const std::string& name_or_path);
};

}  // namespace himtok::tok
