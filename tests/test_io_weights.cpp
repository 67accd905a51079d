// Weights: safetensors (single, sharded), PyTorch .pth archives, and the strict state-dict load.
#include <torch/csrc/jit/serialization/pickle.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "test_helpers.h"
#include "tokenizer/himt.h"

using namespace himtok;
namespace fs = std::filesystem;

namespace {

std::string dir(const std::string& name) {
  auto d = fs::temp_directory_path() / ("himtok_weights_" + name);
  fs::remove_all(d);
  fs::create_directories(d);
  return d.string();
}

tok::TokenizerConfig golden_cfg() { return tok::TokenizerConfig::from_file(test::data_path("golden/config.json")); }

io::TensorMap golden_map() {
  io::TensorMap m;
  auto w = io::Weights::open(test::data_path("golden/weights.safetensors"));
  for (auto& k : w.names()) m[k] = w.get(k);
  return m;
}

std::string expect_load_error(const io::TensorMap& m, const std::string& prefix = "") {
  const std::string p = dir("err") + "/w.safetensors";
  io::save_tensors(p, m, {});
  tok::HiMT model(golden_cfg());
  try {
    io::load_state_dict_strict(*model, io::Weights::open(p), prefix);
  } catch (const InputError& e) {
    return e.what();
  }
  ADD_FAILURE() << "no error";
  return "";
}

}  // namespace

TEST(Weights, SafetensorsRoundTripIsByteExact) {
  auto m = golden_map();
  const std::string p = dir("rt") + "/w.safetensors";
  io::save_tensors(p, m, {{"k", "v"}});
  auto w = io::Weights::open(p);
  EXPECT_EQ(w.metadata().at("k"), "v");
  ASSERT_EQ(w.names().size(), m.size());
  for (auto& [k, t] : m) EXPECT_TRUE(w.get(k).equal(t)) << k;
}

TEST(Weights, ShardedIndexOpensAsOneSet) {
  auto m = golden_map();
  const std::string d = dir("sharded");
  io::TensorMap a, b;
  nlohmann::json idx = {{"metadata", {{"total_size", 0}}}, {"weight_map", nlohmann::json::object()}};
  int i = 0;
  for (auto& [k, t] : m) {
    const bool first = (i++ % 2) == 0;
    (first ? a : b)[k] = t;
    idx["weight_map"][k] = first ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors";
  }
  io::save_tensors(d + "/model-00001-of-00002.safetensors", a, {});
  io::save_tensors(d + "/model-00002-of-00002.safetensors", b, {});
  std::ofstream(d + "/model.safetensors.index.json") << idx.dump();
  for (const std::string& path : {d, d + "/model.safetensors.index.json"}) {
    auto w = io::Weights::open(path);
    ASSERT_EQ(w.names().size(), m.size());
    for (auto& [k, t] : m) EXPECT_TRUE(w.get(k).equal(t)) << k;
  }
  // A weight_map entry pointing at a shard that lacks the tensor is an error.
  const std::string k0 = a.begin()->first;  // held by shard 1 only
  idx["weight_map"][k0] = "model-00002-of-00002.safetensors";
  std::ofstream(d + "/model.safetensors.index.json") << idx.dump();
  EXPECT_THROW(io::Weights::open(d), InputError);
}

TEST(Weights, StrictLoadNamesMissingUnexpectedMisshapedAndMistyped) {
  auto m = golden_map();
  auto missing = m;
  missing.erase("decoder.ln_post.weight");
  EXPECT_NE(expect_load_error(missing).find("missing key(s): 'decoder.ln_post.weight'"), std::string::npos);
  auto extra = m;
  extra["decoder.extra_head.weight"] = at::zeros({2});
  EXPECT_NE(expect_load_error(extra).find("unexpected key(s): 'decoder.extra_head.weight'"), std::string::npos);
  auto shaped = m;
  shaped["quantize.embedding_proj.weight"] = at::zeros({12, 13});
  EXPECT_NE(expect_load_error(shaped).find("'quantize.embedding_proj.weight' has shape [12,13], expected [12,12]"),
            std::string::npos);
  auto typed = m;
  typed["latent_tokens"] = at::zeros({32, 128}, at::kLong);
  EXPECT_NE(expect_load_error(typed).find("'latent_tokens' is I64, expected a float type"), std::string::npos);
  auto mask = m;
  mask["encoder.attn_mask"] = at::zeros({289, 289}, at::kFloat);
  EXPECT_NE(expect_load_error(mask).find("expected BOOL"), std::string::npos);
  auto nan = m;
  nan["decoder.ln_pre.bias"] = at::full({128}, std::numeric_limits<float>::quiet_NaN());
  EXPECT_NE(expect_load_error(nan).find("NaN"), std::string::npos);
  // Under a prefix, keys outside it are ignored but unknown keys inside it are not.
  io::TensorMap pre;
  for (auto& [k, t] : m) pre["mask_decoder." + k] = t;
  pre["language_model.w"] = at::zeros({1});
  pre["mask_decoder.bogus"] = at::zeros({1});
  EXPECT_NE(expect_load_error(pre, "mask_decoder.").find("'mask_decoder.bogus'"), std::string::npos);
}

TEST(Weights, CorruptHeadersAreInputErrors) {
  const std::string d = dir("corrupt");
  std::ofstream(d + "/short.safetensors") << "abc";
  EXPECT_THROW(io::SafeTensors::open(d + "/short.safetensors"), InputError);
  {
    std::ofstream f(d + "/badjson.safetensors", std::ios::binary);
    uint64_t n = 8;
    f.write(reinterpret_cast<const char*>(&n), 8);
    f << "{not js}";
  }
  EXPECT_THROW(io::SafeTensors::open(d + "/badjson.safetensors"), InputError);
  {
    std::string h = R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,12]}})";
    std::ofstream f(d + "/badsize.safetensors", std::ios::binary);
    uint64_t n = h.size();
    f.write(reinterpret_cast<const char*>(&n), 8);
    f << h << std::string(12, '\0');
  }
  EXPECT_THROW(io::SafeTensors::open(d + "/badsize.safetensors"), InputError);
  {
    std::string h = R"({"a":{"dtype":"Q7","shape":[1],"data_offsets":[0,1]}})";
    std::ofstream f(d + "/baddtype.safetensors", std::ios::binary);
    uint64_t n = h.size();
    f.write(reinterpret_cast<const char*>(&n), 8);
    f << h << "x";
  }
  EXPECT_THROW(io::SafeTensors::open(d + "/baddtype.safetensors"), InputError);
}

// himtok.pth as the official release ships it: a torch.save zip archive, optionally {"model": sd}
// with "module." prefixes. Loaded without Python, then strictly into the model: same ids as golden.
TEST(Weights, PthArchiveLoadsStrictlyAndEncodesLikeGolden) {
  auto m = golden_map();
  c10::Dict<std::string, at::Tensor> sd;
  for (auto& [k, t] : m) sd.insert("module." + k, t);
  c10::impl::GenericDict top(c10::StringType::get(), c10::AnyType::get());
  top.insert("model", c10::IValue(sd));
  top.insert("epoch", c10::IValue(int64_t{7}));
  std::vector<char> bytes = torch::jit::pickle_save(c10::IValue(top));
  const std::string p = dir("pth") + "/himtok.pth";
  std::ofstream(p, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  tok::HiMT model(golden_cfg());
  io::load_state_dict_strict(*model, io::Weights::open(p), "");
  model->eval();
  at::NoGradGuard ng;
  at::Tensor ids = model->encode(test::load("golden/prepare.safetensors", "prepared")).q.ids;
  EXPECT_TRUE(ids.equal(test::load("golden/encode.safetensors", "ids")));
  const std::string bad = dir("pth2") + "/bad.pth";
  std::ofstream(bad) << "PK not really a zip";
  EXPECT_THROW(io::load_pth(bad), InputError);
}
