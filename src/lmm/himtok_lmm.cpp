// The LMM bundle file: LmmModel + Vocab + HiMT in one safetensors file.
#include "lmm/himtok_lmm.h"

#include <torch/utils.h>

#include <nlohmann/json.hpp>
#include <cstring>

#include "common/error.h"
#include "tokenizer/tokenizer.h"

namespace himtok::lmm {

// ---------------------------------------------------------------------------------------------
// Settings and ids

std::string InferenceSettings::to_json() const {
  return nlohmann::json{{"use_system", use_system}, {"image_side", image_side}}.dump();
}

InferenceSettings InferenceSettings::from_json(const std::string& text, const std::string& origin) {
  InferenceSettings s;
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const std::exception& e) {
    throw InputError(str_cat(origin, ": '", kMetaLmmInference, "' is not JSON (", e.what(), ")"));
  }
  HIMTOK_CHECK_INPUT(j.is_object(), origin, ": '", kMetaLmmInference, "' is not a JSON object");
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.key() == "use_system") {
      HIMTOK_CHECK_INPUT(it->is_boolean(), origin, ": ", kMetaLmmInference, ".use_system must be a boolean");
      s.use_system = it->get<bool>();
    } else if (it.key() == "image_side") {
      HIMTOK_CHECK_INPUT(it->is_number_integer() && it->get<int64_t>() >= 0, origin, ": ", kMetaLmmInference,
                         ".image_side must be an integer >= 0");
      s.image_side = it->get<int64_t>();
    } else {
      throw InputError(str_cat(origin, ": unknown key '", it.key(), "' in ", kMetaLmmInference));
    }
  }
  return s;
}

void apply_vocab(LmmConfig& cfg, const Vocab& vocab) {
  const SpecialIds& s = vocab.specials();
  cfg.llm.vocab_size = vocab.n_vocab();
  cfg.tokens.img_context_id = s.img_context;
  cfg.tokens.mt_start_id = s.mask_start;
  cfg.tokens.mt_end_id = s.mask_end;
  cfg.tokens.mt0_id = s.mask0;
  cfg.tokens.im_end_id = s.im_end;
  cfg.tokens.codebook_size = kCodebookSize;
  cfg.tokens.n_mask_tokens = kNumMaskTokens;
  cfg.validate();
}

int64_t LmmBundle::image_side() const {
  return inference.image_side > 0 ? inference.image_side : config().vision.image_size;
}

// ---------------------------------------------------------------------------------------------
// Construction

namespace {

void check_tokenizer_fits(const tok::TokenizerConfig& t, const std::string& origin) {
  HIMTOK_CHECK_INPUT(t.codebook_size == kCodebookSize, origin, ": tokenizer codebook_size is ", t.codebook_size,
                     ", expected ", kCodebookSize, " (one vocabulary id per code)");
  HIMTOK_CHECK_INPUT(t.num_latent_tokens == kNumMaskTokens, origin, ": tokenizer num_latent_tokens is ",
                     t.num_latent_tokens, ", expected ", kNumMaskTokens);
}

// The token ids stored in the config must be the vocabulary's.
void check_ids_match(const LmmConfig& cfg, const Vocab& vocab, const std::string& origin) {
  LmmConfig want = cfg;
  apply_vocab(want, vocab);
  const auto& a = cfg.tokens;
  const auto& b = want.tokens;
  HIMTOK_CHECK_INPUT(cfg.llm.vocab_size == want.llm.vocab_size, origin, ": llm.vocab_size is ", cfg.llm.vocab_size,
                     " but the embedded vocabulary has ", want.llm.vocab_size, " pieces");
  HIMTOK_CHECK_INPUT(a.img_context_id == b.img_context_id && a.mt_start_id == b.mt_start_id &&
                         a.mt_end_id == b.mt_end_id && a.mt0_id == b.mt0_id && a.im_end_id == b.im_end_id &&
                         a.codebook_size == b.codebook_size && a.n_mask_tokens == b.n_mask_tokens,
                     origin, ": the special token ids in '", kMetaLmmConfig,
                     "' differ from the embedded vocabulary's (mt0 ", a.mt0_id, " vs ", b.mt0_id, ")");
}

// The encoder half of the tokenizer is never trained inside the LMM (spec §3.2).
void freeze_encoder(tok::HiMT& m) {
  m->latent_tokens.set_requires_grad(false);
  for (auto& p : m->encoder->parameters()) p.set_requires_grad(false);
  for (auto& p : m->quantize->parameters()) p.set_requires_grad(false);
}

}  // namespace

LmmBundle LmmBundle::from_modules(tok::HiMT mask_decoder, Vocab vocab, LmmConfig cfg, uint64_t seed) {
  check_tokenizer_fits(mask_decoder->cfg, "tokenizer");
  apply_vocab(cfg, vocab);
  LmmBundle b;
  torch::manual_seed(seed);
  b.model = LmmModel(cfg);
  b.mask_decoder = std::move(mask_decoder);
  freeze_encoder(b.mask_decoder);
  b.vocab = std::move(vocab);
  return b;
}

LmmBundle LmmBundle::from_parts(const std::string& tokenizer_path, Vocab vocab, LmmConfig cfg, uint64_t seed) {
  io::Weights w = io::Weights::open(tokenizer_path);
  auto it = w.metadata().find(tok::kMetaConfig);
  HIMTOK_CHECK_INPUT(it != w.metadata().end(), tokenizer_path, ": no '", tok::kMetaConfig,
                     "' metadata; expected a himtok tokenizer file");
  const tok::TokenizerConfig tcfg = tok::TokenizerConfig::from_json(it->second, tokenizer_path + " metadata");
  check_tokenizer_fits(tcfg, tokenizer_path);
  std::string prefix;
  if (w.has("latent_tokens"))
    prefix = "";
  else if (w.has(std::string(kMaskDecoderPrefix) + "latent_tokens"))
    prefix = kMaskDecoderPrefix;
  else
    throw InputError(str_cat(tokenizer_path, ": holds neither 'latent_tokens' nor 'mask_decoder.latent_tokens'"));
  tok::HiMT m(tcfg);
  io::load_state_dict_strict(*m, w, prefix);  // "mask_decoder.": an LMM bundle given as the tokenizer
  return from_modules(std::move(m), std::move(vocab), std::move(cfg), seed);
}

// ---------------------------------------------------------------------------------------------
// File

io::TensorMap LmmBundle::tensors() const {
  io::TensorMap t = io::state_dict(*model, "");
  io::TensorMap d = io::state_dict(*mask_decoder, kMaskDecoderPrefix);
  t.insert(d.begin(), d.end());
  return t;
}

void LmmBundle::assign(const io::TensorMap& t, const std::string& prefix, const std::string& origin) {
  at::NoGradGuard ng;
  for (auto& [k, dst] : tensors()) {
    auto it = t.find(prefix + k);
    HIMTOK_CHECK_INPUT(it != t.end(), origin, ": missing '", prefix + k, "'");
    HIMTOK_CHECK_INPUT(it->second.sizes() == dst.sizes(), origin, ": '", prefix + k, "' has shape ",
                       it->second.sizes(), ", expected ", dst.sizes());
    dst.copy_(it->second.to(dst.scalar_type()));
  }
}

void LmmBundle::save(const std::string& path, bool as_bf16) const {
  io::TensorMap t = tensors();
  // With as_bf16 only floating tensors change; the bool buffer and the vocabulary bytes stay.
  const std::string proto = vocab.serialized();
  at::Tensor bytes = at::empty({static_cast<int64_t>(proto.size())}, at::kByte);
  std::memcpy(bytes.data_ptr<uint8_t>(), proto.data(), proto.size());
  t[kVocabTensor] = bytes;
  std::map<std::string, std::string> meta = {
      {tok::kMetaKind, kKindLmm},
      {kMetaLmmConfig, nlohmann::json(config()).dump()},
      {tok::kMetaConfig, tokenizer_config().to_json()},
      {kMetaLmmInference, inference.to_json()},
  };
  io::save_tensors(path, t, meta, as_bf16);
}

LmmBundle LmmBundle::load(const std::string& path) {
  io::Weights w = io::Weights::open(path);
  const auto& md = w.metadata();
  auto kind = md.find(tok::kMetaKind);
  HIMTOK_CHECK_INPUT(kind != md.end() && kind->second == kKindLmm, path, ": not a himtok LMM file (",
                     tok::kMetaKind, " is '", kind == md.end() ? std::string("missing") : kind->second,
                     "', expected 'lmm'); train one with `himtok train-lmm`");
  auto lc = md.find(kMetaLmmConfig);
  auto tc = md.find(tok::kMetaConfig);
  HIMTOK_CHECK_INPUT(lc != md.end(), path, ": no '", kMetaLmmConfig, "' metadata");
  HIMTOK_CHECK_INPUT(tc != md.end(), path, ": no '", tok::kMetaConfig, "' metadata");
  LmmConfig cfg;
  try {
    cfg = nlohmann::json::parse(lc->second).get<LmmConfig>();
  } catch (const nlohmann::json::exception& e) {
    throw InputError(str_cat(path, ": '", kMetaLmmConfig, "' is not valid JSON (", e.what(), ")"));
  }
  const tok::TokenizerConfig tcfg = tok::TokenizerConfig::from_json(tc->second, path + " metadata");
  check_tokenizer_fits(tcfg, path);
  HIMTOK_CHECK_INPUT(w.has(kVocabTensor), path, ": no '", kVocabTensor, "' tensor (the SentencePiece model)");
  at::Tensor vb = w.get(kVocabTensor);
  HIMTOK_CHECK_INPUT(vb.scalar_type() == at::kByte && vb.dim() == 1, path, ": '", kVocabTensor,
                     "' must be a 1-D U8 tensor");
  vb = vb.contiguous();
  std::string proto(reinterpret_cast<const char*>(vb.data_ptr<uint8_t>()), static_cast<size_t>(vb.numel()));

  LmmBundle b;
  b.vocab = Vocab::from_serialized(proto, path + ":" + kVocabTensor);
  check_ids_match(cfg, b.vocab, path);
  auto inf = md.find(kMetaLmmInference);
  if (inf != md.end()) b.inference = InferenceSettings::from_json(inf->second, path);
  b.model = LmmModel(cfg);
  b.mask_decoder = tok::HiMT(tcfg);
  // Strict over the whole file: each part strict under its prefix, and no key outside them.
  for (const char* p : {"vision_model.", "mlp1.", "language_model."}) {
    auto child = b.model->named_children();
    const std::string name = std::string(p).substr(0, std::string(p).size() - 1);
    io::load_state_dict_strict(*child[name], w, p);
  }
  io::load_state_dict_strict(*b.mask_decoder, w, kMaskDecoderPrefix);
  std::vector<std::string> extra;
  for (const auto& k : w.names()) {
    if (k == kVocabTensor) continue;
    bool known = false;
    for (const char* p : {"vision_model.", "mlp1.", "language_model.", kMaskDecoderPrefix})
      known = known || k.rfind(p, 0) == 0;
    if (!known) extra.push_back(k);
  }
  HIMTOK_CHECK_INPUT(extra.empty(), path, ": ", extra.size(), " unexpected key(s), e.g. '",
                     extra.empty() ? "" : extra.front(), "'; wrong file?");
  freeze_encoder(b.mask_decoder);
  return b;
}

}  // namespace himtok::lmm
