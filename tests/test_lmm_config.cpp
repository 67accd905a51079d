// Tests of src/lmm/config.h: presets, derived sizes, strict JSON, validation. No libtorch.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "lmm/config.h"

namespace himtok::lmm {
namespace {

TEST(LmmConfig, PresetsValidateAndGiveTheirImageTokenCounts) {
  EXPECT_EQ(lmm_config_preset("micro").n_image_tokens(), 4);
  EXPECT_EQ(lmm_config_preset("tiny").n_image_tokens(), 64);
  // (448 / 14)^2 * 0.5^2 = 256 per tile (spec §6.2).
  const LmmConfig big = lmm_config_preset("internvl2_5-8b");
  EXPECT_EQ(big.n_image_tokens(), 256);
  EXPECT_EQ(big.n_image_tokens(896), 1024);
  EXPECT_EQ(big.llm.head_dim(), 128);
  EXPECT_THROW(lmm_config_preset("huge"), InputError);
}

TEST(LmmConfig, ReleasedSizesGiveTheReleasedParameterCount) {
  const LmmConfig c = lmm_config_preset("internvl2_5-8b");
  // Hand sums, term by term. InternViT-300M: embeddings 1,653,760 + 24 layers of 12,598,272 =
  // 304,012,288 ("304M").
  const int64_t cv = 1024, m = 4096;
  const int64_t vit_layer = 3 * cv * cv + 3 * cv + cv * cv + cv + cv * m + m + m * cv + cv + 4 * cv + 2 * cv;
  const int64_t vit = cv + 1025 * cv + 3 * 14 * 14 * cv + cv + 24 * vit_layer;
  EXPECT_EQ(c.n_params_vision(), vit);
  EXPECT_EQ(c.n_params_projector(), 2 * 4096 + 4096 * 4096 + 4096 + 4096 * 4096 + 4096);
  // InternLM2.5-7B with 93579 rows: per layer wqkv 4096*(32+16)*128, wo 4096*4096, FFN 3*4096*14336, 2 norms.
  const int64_t llm_layer = 4096LL * 48 * 128 + 4096LL * 4096 + 3LL * 4096 * 14336 + 2 * 4096;
  EXPECT_EQ(c.n_params_language(), 2LL * 93579 * 4096 + 32 * llm_layer + 4096);
  // 8,083,770,368; with HiMT's 0.644B this is the HF card's "8.73B params".
  EXPECT_EQ(c.n_params(), 8'083'770'368LL);
}

TEST(LmmConfig, JsonRoundTrip) {
  LmmConfig c = lmm_config_preset("tiny");
  c.tokens.img_context_id = 3;
  c.tokens.mt0_id = 100;
  nlohmann::json j = c;
  const LmmConfig back = j.get<LmmConfig>();
  EXPECT_EQ(nlohmann::json(back), j);
  EXPECT_EQ(back.tokens.mt0_id, 100);
  EXPECT_EQ(back.vision.patch_size, 8);
}

TEST(LmmConfig, JsonIsStrict) {
  const nlohmann::json good = lmm_config_preset("micro");
  nlohmann::json unknown = good;
  unknown["llm"]["n_experts"] = 8;
  EXPECT_THROW(unknown.get<LmmConfig>(), InputError);
  nlohmann::json missing = good;
  missing["vision"].erase("width");
  try {
    (void)missing.get<LmmConfig>();
    FAIL() << "no error for a missing key";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("vision.width"), std::string::npos) << e.what();
  }
  nlohmann::json wrong_type = good;
  wrong_type["llm"]["hidden"] = "big";
  EXPECT_THROW(wrong_type.get<LmmConfig>(), InputError);
  nlohmann::json bad_heads = good;
  bad_heads["llm"]["n_kv_heads"] = 3;  // 4 query heads are not a multiple of 3
  EXPECT_THROW(bad_heads.get<LmmConfig>(), InputError);
}

TEST(LmmConfig, ValidateNamesTheField) {
  LmmConfig c = lmm_config_preset("micro");
  c.vision.image_size = 36;  // not a multiple of the 8-pixel patch
  try {
    c.validate();
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("vision.image_size"), std::string::npos) << e.what();
  }
  c = lmm_config_preset("micro");
  c.vision.image_size = 24;  // 3x3 patches cannot be pixel-shuffled by 2
  EXPECT_THROW(c.validate(), InputError);
  c = lmm_config_preset("micro");
  c.tokens.mt0_id = 60;  // 60 + 16 mask ids > 64
  EXPECT_THROW(c.validate(), InputError);
}

}  // namespace
}  // namespace himtok::lmm
