// A released InternVL2.5-HiMTok Hugging Face folder -> LmmBundle, read as the official code reads
// it (spec official-internvl-himtok.md and golden/internvl-tiny/README.md "What the official code
// reads"):
//   config.json            InternVLChatConfig: vision_config, llm_config and the top-level fields
//                          below, with the class defaults where a key is missing (several are NOT
//                          the InternVL2.5 values: qkv_bias false, qk_normalization true, norm_type
//                          rms_norm, ps_version v1, rms_norm_eps 1e-6, bias true, rope_theta 1e4);
//   tokenizer.model        the InternLM2 SentencePiece model;
//   tokenizer_config.json  added_tokens_decoder (id -> content), add_bos_token;
//   model.safetensors, or model.safetensors.index.json + shards: the state dict, official keys;
//   mask_decoder_config.json (optional, ours): the mask decoder's sizes, as `--config` files; the
//                          release does not say them (the official code reads its own yaml), so
//                          the default is official-large.
// Loading is strict (every key used, none missing, none mis-shaped) and zero-copy: each weight is
// a view of the memory-mapped file, bound in place with set_data; the model computes in fp32 on the
// CPU over bf16 weights without copying them (lmm/layers.h).
#include <ATen/ATen.h>
#include <torch/utils.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "common/error.h"
#include "common/log.h"
#include "common/progress.h"
#include "lmm/himtok_lmm.h"
#include "lmm/layers.h"
#include "tokenizer/options.h"

namespace himtok::lmm {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

json read_json(const fs::path& p) {
  HIMTOK_CHECK_INPUT(fs::is_regular_file(p), p.string(), ": no such file");
  std::ifstream in(p);
  HIMTOK_CHECK_INPUT(in.good(), p.string(), ": cannot open");
  try {
    return json::parse(in);
  } catch (const json::exception& e) {
    throw InputError(str_cat(p.string(), ": not valid JSON (", e.what(), ")"));
  }
}

// j[key] as T, or `def` when absent or null; InputError naming the key when it has another type.
template <typename T>
T get_or(const json& j, const std::string& key, T def, const std::string& where) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return def;
  try {
    if constexpr (std::is_same_v<T, bool>) {
      if (it->is_number_integer()) return it->get<int64_t>() != 0;
    }
    if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
      HIMTOK_CHECK_INPUT(it->is_number_integer(), where, ": '", key, "' must be an integer, got ", it->dump());
    }
    return it->get<T>();
  } catch (const json::exception&) {
    throw InputError(str_cat(where, ": '", key, "' has the wrong type (", it->dump(), ")"));
  }
}

template <typename T>
T require(const json& j, const std::string& key, const std::string& where) {
  HIMTOK_CHECK_INPUT(j.contains(key) && !j.at(key).is_null(), where, ": missing '", key, "'");
  return get_or<T>(j, key, T{}, where);
}

// config.json -> LmmConfig (+ the chat settings of the release).
LmmConfig config_from_hf(const json& j, const std::string& origin, InferenceSettings* inf) {
  HIMTOK_CHECK_INPUT(j.is_object() && j.contains("vision_config") && j.contains("llm_config"), origin,
                     ": not an InternVL chat config (no vision_config / llm_config); model_type is '",
                     get_or<std::string>(j, "model_type", "missing", origin), "'");
  const json& vj = j.at("vision_config");
  const json& lj = j.at("llm_config");
  const std::string vo = origin + " vision_config", lo = origin + " llm_config";
  HIMTOK_CHECK_INPUT(vj.is_object() && lj.is_object(), origin, ": vision_config and llm_config must be objects");

  std::string arch;
  if (lj.contains("architectures") && lj["architectures"].is_array() && !lj["architectures"].empty() &&
      lj["architectures"][0].is_string())
    arch = lj["architectures"][0].get<std::string>();
  HIMTOK_CHECK_INPUT(arch == "InternLM2ForCausalLM", lo, ": architectures[0] is '", arch,
                     "'; only InternLM2ForCausalLM (InternVL2.5-8B, HiMTok) is supported");

  LmmConfig c;
  c.name = "hf";
  VisionConfig& v = c.vision;
  v.width = require<int64_t>(vj, "hidden_size", vo);
  v.n_heads = require<int64_t>(vj, "num_attention_heads", vo);
  v.n_layers = require<int64_t>(vj, "num_hidden_layers", vo);
  v.patch_size = require<int64_t>(vj, "patch_size", vo);
  v.image_size = get_or<int64_t>(j, "force_image_size", require<int64_t>(vj, "image_size", vo), origin);
  const int64_t inter = require<int64_t>(vj, "intermediate_size", vo);
  HIMTOK_CHECK_INPUT(v.width > 0 && inter % v.width == 0, vo, ": intermediate_size ", inter,
                     " must be a multiple of hidden_size ", v.width);
  v.mlp_ratio = inter / v.width;
  v.norm_eps = get_or<double>(vj, "layer_norm_eps", 1e-6, vo);
  v.qkv_bias = get_or<bool>(vj, "qkv_bias", false, vo);
  HIMTOK_CHECK_INPUT(!get_or<bool>(vj, "qk_normalization", true, vo), vo,
                     ": qk_normalization is true (InternViT-6B); only InternViT-300M (false) is supported");
  const std::string norm_type = get_or<std::string>(vj, "norm_type", "rms_norm", vo);
  HIMTOK_CHECK_INPUT(norm_type == "layer_norm", vo, ": norm_type '", norm_type, "'; only layer_norm is supported");
  const std::string vact = get_or<std::string>(vj, "hidden_act", "gelu", vo);
  HIMTOK_CHECK_INPUT(vact == "gelu", vo, ": hidden_act '", vact, "'; only gelu is supported");

  c.downsample_ratio = get_or<double>(j, "downsample_ratio", 0.5, origin);
  c.ps_version = get_or<std::string>(j, "ps_version", "v1", origin);
  HIMTOK_CHECK_INPUT(c.ps_version == "v2", origin, ": ps_version '", c.ps_version, "'; only v2 is supported");
  const int64_t select_layer = get_or<int64_t>(j, "select_layer", -1, origin);
  HIMTOK_CHECK_INPUT(select_layer == -1, origin, ": select_layer ", select_layer, "; only -1 is supported");
  HIMTOK_CHECK_INPUT(get_or<int64_t>(j, "use_backbone_lora", 0, origin) == 0 &&
                         get_or<int64_t>(j, "use_llm_lora", 0, origin) == 0,
                     origin, ": LoRA adapters (use_backbone_lora / use_llm_lora) are not supported; merge them first");
  const std::string tmpl = get_or<std::string>(j, "template", "internvl2_5", origin);
  HIMTOK_CHECK_INPUT(tmpl == "internvl2_5", origin, ": template '", tmpl, "'; only internvl2_5 is supported");
  c.projector_norm_eps = 1e-5;  // nn.LayerNorm's default in mlp1 (spec §5)

  LanguageConfig& l = c.llm;
  l.vocab_size = require<int64_t>(lj, "vocab_size", lo);
  l.hidden = require<int64_t>(lj, "hidden_size", lo);
  l.n_layers = require<int64_t>(lj, "num_hidden_layers", lo);
  l.n_heads = require<int64_t>(lj, "num_attention_heads", lo);
  l.n_kv_heads = get_or<int64_t>(lj, "num_key_value_heads", l.n_heads, lo);
  l.ffn_hidden = require<int64_t>(lj, "intermediate_size", lo);
  l.rms_eps = get_or<double>(lj, "rms_norm_eps", 1e-6, lo);
  l.rope_theta = get_or<double>(lj, "rope_theta", 10000.0, lo);
  l.max_positions = get_or<int64_t>(lj, "max_position_embeddings", 2048, lo);
  HIMTOK_CHECK_INPUT(!get_or<bool>(lj, "bias", true, lo), lo, ": bias is true; only bias-free InternLM2 is supported");
  const std::string lact = get_or<std::string>(lj, "hidden_act", "silu", lo);
  HIMTOK_CHECK_INPUT(lact == "silu", lo, ": hidden_act '", lact, "'; only silu is supported");
  if (lj.contains("rope_scaling") && lj["rope_scaling"].is_object()) {
    const json& rs = lj["rope_scaling"];
    const std::string type = get_or<std::string>(rs, "type", "", lo + " rope_scaling");
    HIMTOK_CHECK_INPUT(type == "dynamic", lo, ": rope_scaling type '", type, "'; only dynamic is supported");
    // Dynamic NTK acts only past max_position_embeddings, which generation refuses (spec §7.4).
    l.rope_dynamic_factor = get_or<double>(rs, "factor", 1.0, lo + " rope_scaling");
  }
  inf->pad_id = get_or<int64_t>(lj, "pad_token_id", 0, lo);
  inf->system_message = get_or<std::string>(j, "system_message", "", origin);
  return c;
}

// tokenizer.model + tokenizer_config.json's added_tokens_decoder.
Vocab vocab_from_hf(const fs::path& dir, int pad_id) {
  const fs::path tc = dir / "tokenizer_config.json";
  const json j = read_json(tc);
  HIMTOK_CHECK_INPUT(j.contains("added_tokens_decoder") && j["added_tokens_decoder"].is_object(), tc.string(),
                     ": no added_tokens_decoder (the chat and mask tokens are defined there)");
  std::vector<std::pair<int, std::string>> added;
  for (auto it = j["added_tokens_decoder"].begin(); it != j["added_tokens_decoder"].end(); ++it) {
    int id = -1;
    try {
      size_t used = 0;
      id = std::stoi(it.key(), &used);
      HIMTOK_CHECK_INPUT(used == it.key().size(), "");
    } catch (const std::exception&) {
      throw InputError(str_cat(tc.string(), ": added_tokens_decoder key '", it.key(), "' is not an id"));
    }
    HIMTOK_CHECK_INPUT(it->is_object() && it->contains("content") && (*it)["content"].is_string(), tc.string(),
                       ": added token ", id, " has no content");
    added.emplace_back(id, (*it)["content"].get<std::string>());
  }
  const bool add_bos = get_or<bool>(j, "add_bos_token", true, tc.string());
  return Vocab::from_added_tokens((dir / "tokenizer.model").string(), added, add_bos, pad_id, tc.string());
}

at::ScalarType scalar_type_of(io::DType t) {
  switch (t) {
    case io::DType::kF64: return at::kDouble;
    case io::DType::kF32: return at::kFloat;
    case io::DType::kF16: return at::kHalf;
    case io::DType::kBF16: return at::kBFloat16;
    case io::DType::kI64: return at::kLong;
    case io::DType::kI32: return at::kInt;
    case io::DType::kI16: return at::kShort;
    case io::DType::kI8: return at::kChar;
    case io::DType::kU8: return at::kByte;
    case io::DType::kBool: return at::kBool;
  }
  return at::kFloat;
}

// A tensor over the mapped bytes (no copy); the mapping lives as long as any such tensor.
// Read-only pages: nothing may write into it (inference only).
at::Tensor view_of(const io::TensorView& v, const std::shared_ptr<io::SafeTensors>& keep) {
  const at::ScalarType st = scalar_type_of(v.dtype);
  const size_t align = io::dtype_size(v.dtype);
  if (v.numel() == 0 || reinterpret_cast<uintptr_t>(v.data) % align != 0) return io::to_tensor(v);  // copy
  return at::from_blob(const_cast<uint8_t*>(v.data), v.shape, [keep](void*) {}, at::TensorOptions().dtype(st));
}

// Binds every parameter and buffer of `m` to the file's `prefix + name`, strictly; adds the keys to
// `used`. Float tensors may come in any float dtype (the module then holds the file's dtype).
void bind_strict(torch::nn::Module& m, const std::string& prefix, const std::shared_ptr<io::SafeTensors>& st,
                 std::set<std::string>* used) {
  torch::NoGradGuard ng;
  std::vector<std::string> missing, misshaped;
  auto bind = [&](const std::string& name, at::Tensor& t) {
    const std::string key = prefix + name;
    if (!st->has(key)) {
      missing.push_back(key);
      return;
    }
    const io::TensorView& v = st->get(key);
    if (v.shape != t.sizes().vec()) {
      misshaped.push_back(str_cat(key, " ", io::shape_str(v.shape), " (expected ", io::shape_str(t.sizes().vec()), ")"));
      return;
    }
    const at::ScalarType ft = scalar_type_of(v.dtype);
    HIMTOK_CHECK_INPUT(at::isFloatingType(t.scalar_type()) ? at::isFloatingType(ft) : ft == t.scalar_type(),
                       st->path(), ": '", key, "' is ", io::dtype_name(v.dtype), ", expected a ",
                       at::isFloatingType(t.scalar_type()) ? "float type" : c10::toString(t.scalar_type()));
    t.set_data(view_of(v, st));
    used->insert(key);
  };
  for (auto& p : m.named_parameters(true)) {
    p.value().set_requires_grad(false);
    bind(p.key(), p.value());
  }
  for (auto& b : m.named_buffers(true)) bind(b.key(), b.value());
  auto list = [](const std::vector<std::string>& v) {
    std::string s;
    for (size_t i = 0; i < v.size() && i < 5; ++i) s += (i ? ", " : "") + v[i];
    return s + (v.size() > 5 ? ", ..." : "");
  };
  HIMTOK_CHECK_INPUT(missing.empty(), st->path(), ": ", missing.size(), " missing key(s): ", list(missing),
                     prefix == kMaskDecoderPrefix ? " (a mask decoder of other sizes? put them in mask_decoder_config.json)"
                                                   : " (a shard missing, or not an InternVL2.5-HiMTok checkpoint)");
  HIMTOK_CHECK_INPUT(misshaped.empty(), st->path(), ": ", misshaped.size(), " mis-shaped tensor(s): ", list(misshaped),
                     " (config.json or mask_decoder_config.json does not match the weights)");
}

// Reads every page of the weights once, with a progress bar (the first answer would otherwise pay
// for the disk reads; also shows a slow disk at once).
void prefetch(const io::SafeTensors& st, const std::set<std::string>& keys) {
  size_t total = 0;
  for (const auto& k : keys) total += st.get(k).nbytes;
  if (total < (size_t(1) << 30)) return;
  constexpr size_t kMiB = size_t(1) << 20;
  Progress bar(static_cast<int64_t>(total / kMiB), "reading weights (MiB)");
  size_t done = 0;
  volatile uint8_t sink = 0;
  for (const auto& k : keys) {
    const io::TensorView& v = st.get(k);
    for (size_t off = 0; off < v.nbytes; off += 4096) sink = sink + v.data[off];
    done += v.nbytes;
    bar.update(static_cast<int64_t>(done / kMiB));
  }
  bar.finish();
}

}  // namespace

bool LmmBundle::is_hf_folder(const std::string& path) {
  std::error_code ec;
  return fs::is_directory(path, ec) && fs::is_regular_file(fs::path(path) / "config.json", ec);
}

LmmBundle LmmBundle::load_hf(const std::string& path) {
  const fs::path dir(path);
  HIMTOK_CHECK_INPUT(is_hf_folder(path), path, ": not a Hugging Face model folder (no config.json)");
  LmmBundle b;
  b.inference.released = true;
  b.inference.use_system = true;
  b.inference.max_tiles = 4;  // the released eval scripts and demo (batch_chat's caller picks max_num)
  LmmConfig cfg = config_from_hf(read_json(dir / "config.json"), (dir / "config.json").string(), &b.inference);
  b.vocab = vocab_from_hf(dir, static_cast<int>(b.inference.pad_id));
  HIMTOK_CHECK_INPUT(b.vocab.n_vocab() <= cfg.llm.vocab_size, path, ": the tokenizer has ", b.vocab.n_vocab(),
                     " ids but llm_config.vocab_size is ", cfg.llm.vocab_size);
  const int64_t vocab_size = cfg.llm.vocab_size;
  apply_vocab(cfg, b.vocab);
  cfg.llm.vocab_size = vocab_size;  // the embedding rows (may exceed the tokenizer's ids)

  tok::TokenizerConfig tcfg = tok::TokenizerConfig::preset("official-large");
  const fs::path mdc = dir / "mask_decoder_config.json";
  if (fs::is_regular_file(mdc)) tcfg = tok::TokenizerConfig::from_file(mdc.string());
  HIMTOK_CHECK_INPUT(tcfg.codebook_size == kCodebookSize && tcfg.num_latent_tokens == kNumMaskTokens, mdc.string(),
                     ": the mask decoder must have 1024 codes and 32 tokens");

  auto st = std::make_shared<io::SafeTensors>(io::SafeTensors::open(path));
  {
    SkipInit skip;  // shapes only: the file's tensors are bound below
    b.model = LmmModel(cfg);
  }
  b.mask_decoder = tok::HiMT(tcfg);
  std::set<std::string> used;
  bind_strict(*b.model, "", st, &used);
  bind_strict(*b.mask_decoder, kMaskDecoderPrefix, st, &used);
  std::vector<std::string> extra;
  for (const auto& k : st->names())
    if (!used.count(k)) extra.push_back(k);
  HIMTOK_CHECK_INPUT(extra.empty(), path, ": ", extra.size(), " unexpected key(s), e.g. '",
                     extra.empty() ? "" : extra.front(), "' (not an InternVL2.5-HiMTok checkpoint?)");
  prefetch(*st, used);
  b.to_device("cpu", "fp32");
  return b;
}

void LmmBundle::to_device(const std::string& device, const std::string& dtype) {
  HIMTOK_CHECK_INPUT(dtype == "fp32" || dtype == "bf16", "--dtype: '", dtype, "', expected fp32 or bf16");
  const at::ScalarType cd = dtype == "bf16" ? at::kBFloat16 : at::kFloat;
  at::Device dev(at::kCPU);
  try {
    dev = at::Device(device);
  } catch (const std::exception&) {
    throw InputError(str_cat("--device: '", device, "', expected cpu or cuda[:N]"));
  }
  HIMTOK_CHECK_INPUT(dev.is_cpu() || dev.is_cuda(), "--device: '", device, "', expected cpu or cuda[:N]");
  HIMTOK_CHECK_INPUT(!dev.is_cuda() || at::hasCUDA(), "--device ", device,
                     ": this build of libtorch has no CUDA (build against a CUDA libtorch: see README)");
  torch::NoGradGuard ng;
  if (dev.is_cuda()) model->to(dev);
  model->set_compute_dtype(cd);
  // The de-tokenizer's modules compute in their weights' dtype: fp32 copies (the norms always fp32),
  // then bf16 matmuls and convolutions when asked (the official decode_prob runs under bf16 autocast).
  // (Module::to(dtype) would convert the bool attention-mask buffer too, hence the loop.)
  for (auto& t : mask_decoder->parameters())
    if (at::isFloatingType(t.scalar_type()) && t.scalar_type() != at::kFloat) t.set_data(t.to(at::kFloat));
  for (auto& t : mask_decoder->buffers())
    if (at::isFloatingType(t.scalar_type()) && t.scalar_type() != at::kFloat) t.set_data(t.to(at::kFloat));
  if (dev.is_cuda()) mask_decoder->to(dev);
  if (cd == at::kBFloat16) mask_decoder->to_inference_dtype(at::kBFloat16);
}

}  // namespace himtok::lmm
