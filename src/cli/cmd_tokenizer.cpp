// himtok encode / decode / inspect: the tokenizer from the command line.
#include <cstdio>
#include <cstring>
#include <optional>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "common/error.h"
#include "common/log.h"
#include "io/draw.h"
#include "io/image.h"
#include "io/resize.h"
#include "io/safetensors.h"
#include "lmm/response.h"
#include "tokenizer/token_string.h"
#include "tokenizer/tokenizer.h"

using nlohmann::json;

namespace himtok::cli {
namespace {

tok::LoadOptions load_options(const ModelArgs& m) {
  tok::LoadOptions o;
  o.weights = m.model;
  o.config = m.config;
  o.prefix = m.prefix;
  o.threads = m.threads;
  o.device = m.device;
  o.dtype = m.dtype;
  return o;
}

// ---- encode ---------------------------------------------------------------------------------

struct EncodeArgs {
  ModelArgs model;
  std::vector<std::string> masks;
  bool ids = false, as_json = false;
  std::string geometry = "stretch";
  int batch = 8;
};

int run_encode(const EncodeArgs& a) {
  tok::Geometry g = tok::parse_geometry(a.geometry);
  std::vector<Mask> masks;
  for (auto& p : a.masks) masks.push_back(io::load_mask(p, /*threshold=*/-1));  // gray values, as convert('L')
  auto t = tok::MaskTokenizer::load(load_options(a.model));
  for (size_t b0 = 0; b0 < masks.size(); b0 += static_cast<size_t>(a.batch)) {
    std::vector<Mask> chunk(masks.begin() + static_cast<long>(b0),
                            masks.begin() + static_cast<long>(std::min(masks.size(), b0 + static_cast<size_t>(a.batch))));
    auto ids = t.encode(chunk, g);
    for (size_t i = 0; i < ids.size(); ++i) {
      const std::string& path = a.masks[b0 + i];
      if (a.as_json)
        std::printf("%s\n", json{{"file", path}, {"ids", ids[i]}, {"tokens", tok::format_token_string(ids[i])},
                                 {"height", chunk[i].h}, {"width", chunk[i].w}}.dump().c_str());
      else if (a.ids)
        std::printf("%s\n", tok::format_id_list(ids[i]).c_str());
      else
        std::printf("%s\n", tok::format_token_string(ids[i]).c_str());
    }
  }
  return 0;
}

// ---- decode ---------------------------------------------------------------------------------

struct DecodeArgs {
  ModelArgs model;
  std::string tokens, ids, logits, logits_name, out, strip, probs_out, size;
  int64_t n = 0, mask_offset = 0;
};

// One decode request: ids, or a (T, V) logit matrix.
struct Source {
  std::vector<int64_t> ids;
  std::vector<float> logits;
  int64_t T = 0, V = 0;
  bool is_logits() const { return !logits.empty(); }
};

Source read_source(const DecodeArgs& a, int64_t K) {
  int given = !a.tokens.empty() + !a.ids.empty() + !a.logits.empty();
  HIMTOK_CHECK_INPUT(given == 1, "decode: give exactly one of --tokens, --ids, --logits");
  Source s;
  if (!a.tokens.empty()) {
    for (int id : lmm::parse_mask_tokens(a.tokens, 32)) {
      HIMTOK_CHECK_INPUT(id < K, "--tokens: mask token id ", id, " is out of range [0,", K, ")");
      s.ids.push_back(id);
    }
  }
  if (!a.ids.empty()) s.ids = tok::parse_id_list(a.ids, K, 32);
  if (!a.logits.empty()) {
    io::SafeTensors st = io::SafeTensors::open(a.logits);
    std::string name = a.logits_name;
    if (name.empty()) {
      auto names = st.names();
      HIMTOK_CHECK_INPUT(names.size() == 1 || st.has("logits"), a.logits,
                         ": holds several tensors; name one with --logits-name");
      name = st.has("logits") ? "logits" : names[0];
    }
    const io::TensorView& v = st.get(name);
    HIMTOK_CHECK_INPUT(v.dtype == io::DType::kF32, a.logits, ": '", name, "' is ", io::dtype_name(v.dtype), ", expected F32");
    HIMTOK_CHECK_INPUT(v.shape.size() == 2 && v.shape[0] >= 1 && v.shape[0] <= 32, a.logits, ": '", name, "' has shape ",
                       io::shape_str(v.shape), ", expected (T<=32, V)");
    s.T = v.shape[0];
    s.V = v.shape[1];
    s.logits.resize(static_cast<size_t>(s.T * s.V));
    std::memcpy(s.logits.data(), v.data, v.nbytes);
  }
  return s;
}

FloatMap decode_prefix(tok::MaskTokenizer& t, const Source& s, int64_t n, int64_t mask_offset) {
  if (!s.is_logits()) return t.decode_ids({std::vector<int64_t>(s.ids.begin(), s.ids.begin() + n)})[0];
  std::vector<float> l(s.logits.begin(), s.logits.begin() + n * s.V);
  return t.decode_logits(l, 1, n, s.V, mask_offset)[0];
}

Image strip_picture(const std::vector<std::pair<int64_t, FloatMap>>& panels, int64_t W, int64_t H) {
  const int64_t ph = 192, pw = std::max<int64_t>(96, ph * W / std::max<int64_t>(1, H)), gap = 8, top = 30;
  Image img = io::make_canvas(top + ph + gap, gap + static_cast<int64_t>(panels.size()) * (pw + gap), {250, 250, 250});
  for (size_t i = 0; i < panels.size(); ++i) {
    int64_t x = gap + static_cast<int64_t>(i) * (pw + gap);
    std::string label = std::to_string(panels[i].first) + (panels[i].first == 1 ? " token" : " tokens");
    io::draw_text(img, x + (pw - io::text_width(label, 2)) / 2, 8, label, {30, 30, 30}, 2);
    io::paste(img, io::gray_from_probs(panels[i].second), x, top, pw, ph);
  }
  return img;
}

int run_decode(const DecodeArgs& a) {
  HIMTOK_CHECK_INPUT(!a.out.empty() || !a.strip.empty() || !a.probs_out.empty(),
                     "decode: nothing to write; give -o OUT.png, --strip OUT.png or --probs-out FILE");
  auto t = tok::MaskTokenizer::load(load_options(a.model));
  const auto& cfg = t.config();
  Source s = read_source(a, cfg.codebook_size);
  const int64_t avail = s.is_logits() ? s.T : static_cast<int64_t>(s.ids.size());
  const int64_t n = a.n > 0 ? a.n : avail;
  HIMTOK_CHECK_INPUT(n >= 1 && n <= avail, "decode: --n ", n, " but only ", avail, " tokens given");
  int64_t W = cfg.image_size, H = cfg.image_size;
  if (!a.size.empty()) std::tie(W, H) = parse_size(a.size);
  if (!a.out.empty() || !a.probs_out.empty()) {
    FloatMap p = decode_prefix(t, s, n, a.mask_offset);
    if (!a.out.empty()) {
      Mask m = io::unstretch_probs_official(p, H, W, 0.5f);
      io::save_mask(a.out, m);
      log::info(str_cat("wrote ", a.out, " (", W, "x", H, ", ", n, " tokens, ", m.area(), " foreground pixels)"));
    }
    if (!a.probs_out.empty()) {
      io::TensorWrite w{"probs", io::DType::kF32, {p.h, p.w}, {}};
      w.bytes.resize(p.data.size() * sizeof(float));
      std::memcpy(w.bytes.data(), p.data.data(), w.bytes.size());
      io::save_safetensors(a.probs_out, {w}, {{"himtok.tokens", std::to_string(n)}});
    }
  }
  if (!a.strip.empty()) {
    std::vector<std::pair<int64_t, FloatMap>> panels;
    for (int64_t k : {1, 2, 4, 8, 16, 32})
      if (k <= avail) panels.emplace_back(k, decode_prefix(t, s, k, a.mask_offset));
    io::save_image(a.strip, strip_picture(panels, W, H));
    log::info("wrote " + a.strip);
  }
  return 0;
}

// ---- inspect --------------------------------------------------------------------------------

struct InspectArgs {
  std::string file, preset, config, prefix = "auto";
};

std::string with_commas(int64_t v) {
  std::string s = std::to_string(v), out;
  int n = 0;
  for (auto it = s.rbegin(); it != s.rend(); ++it) {
    if (n && n % 3 == 0 && *it != '-') out.insert(out.begin(), ',');
    out.insert(out.begin(), *it);
    ++n;
  }
  return out;
}

int run_inspect(const InspectArgs& a) {
  HIMTOK_CHECK_INPUT(!a.file.empty() || !a.preset.empty(), "inspect: give a weights file or --preset NAME");
  if (a.file.empty()) {
    auto cfg = tok::TokenizerConfig::preset(a.preset);
    std::printf("preset: %s\nconfig: %s\nparameters: %s\n", a.preset.c_str(), cfg.to_json().c_str(),
                with_commas(cfg.n_params()).c_str());
    return 0;
  }
  io::SafeTensors st = io::SafeTensors::open(a.file);
  std::string prefix = a.prefix;
  if (prefix == "auto") prefix = st.has("latent_tokens") ? "" : st.has("mask_decoder.latent_tokens") ? "mask_decoder." : "";
  std::map<std::string, std::pair<int64_t, int64_t>> groups;  // top-level group -> (keys, params)
  std::map<std::string, int64_t> dtypes;
  int64_t n_params = 0, n_keys = 0, bytes = 0, outside = 0;
  for (const auto& name : st.names()) {
    const auto& v = st.get(name);
    bytes += static_cast<int64_t>(v.nbytes);
    if (name.compare(0, prefix.size(), prefix) != 0) {
      ++outside;
      continue;
    }
    ++n_keys;
    dtypes[io::dtype_name(v.dtype)]++;
    std::string rest = name.substr(prefix.size());
    std::string group = rest.substr(0, rest.find('.'));
    groups[group].first++;
    if (v.dtype != io::DType::kBool) {
      groups[group].second += v.numel();
      n_params += v.numel();
    }
  }
  std::printf("file: %s\n", a.file.c_str());
  std::printf("tensors: %zu (%s bytes)%s\n", st.size(), with_commas(bytes).c_str(),
              outside ? str_cat(", ", outside, " outside prefix '", prefix, "'").c_str() : "");
  std::printf("prefix: '%s'\nkeys under prefix: %lld\n", prefix.c_str(), static_cast<long long>(n_keys));
  std::printf("dtypes:");
  for (auto& [d, c] : dtypes) std::printf(" %s x%lld", d.c_str(), static_cast<long long>(c));
  std::printf("\nparameters: %s\n", with_commas(n_params).c_str());
  for (auto& [g, kc] : groups)
    std::printf("  %-16s %5lld keys %16s params\n", g.c_str(), static_cast<long long>(kc.first), with_commas(kc.second).c_str());
  std::optional<tok::TokenizerConfig> cfg;
  if (!a.config.empty())
    cfg = tok::TokenizerConfig::resolve(a.config);
  else if (st.metadata().count(tok::kMetaConfig))
    cfg = tok::TokenizerConfig::from_json(st.metadata().at(tok::kMetaConfig), a.file + " metadata");
  for (auto& [k, v] : st.metadata())
    if (k != tok::kMetaConfig) std::printf("metadata %s: %s\n", k.c_str(), v.substr(0, 200).c_str());
  if (cfg) {
    std::printf("config (%s): %s\n", a.config.empty() ? "from file" : a.config.c_str(), cfg->to_json().c_str());
    std::printf("config parameters: %s (%s)\n", with_commas(cfg->n_params()).c_str(),
                cfg->n_params() == n_params ? "matches the file" : "DOES NOT match the file");
  } else {
    std::printf("config: none stored; pass --config PRESET|FILE.json to check the file against one\n");
  }
  return 0;
}

}  // namespace

HIMTOK_COMMAND(encode, 10) {
  auto a = std::make_shared<EncodeArgs>();
  auto* sub = app.add_subcommand("encode", "Encode mask images into mask tokens (one line per mask)");
  add_model_options(sub, a->model);
  sub->add_option("masks", a->masks, "Mask images (PNG/JPEG; gray values, nonzero = object)")->required();
  auto* ids = sub->add_flag("--ids", a->ids, "Print comma-separated ids instead of the token string");
  sub->add_flag("--json", a->as_json, "Print JSON lines {file, ids, tokens, height, width}")->excludes(ids);
  sub->add_option("--geometry", a->geometry,
                  "stretch: PIL-bicubic stretch to the model input (official data conversion); "
                  "pad: pad to square then bilinear (MaskDecoder.prepare_image)")
      ->capture_default_str();
  sub->add_option("--batch", a->batch, "Masks per forward pass")->capture_default_str();
  return [a] { return run_encode(*a); };
}

HIMTOK_COMMAND(decode, 11) {
  auto a = std::make_shared<DecodeArgs>();
  auto* sub = app.add_subcommand("decode", "Decode mask tokens (or LMM logits) into a mask");
  add_model_options(sub, a->model);
  sub->add_option("--tokens,-t", a->tokens, "Token string <|mt_start|><|mt_12|>...<|mt_end|>");
  sub->add_option("--ids", a->ids, "Comma-separated ids 3,17,...");
  sub->add_option("--logits", a->logits, "safetensors with an F32 (T,V) logit matrix at the mask positions");
  sub->add_option("--logits-name", a->logits_name, "Tensor name in --logits (default: 'logits' or the only one)");
  sub->add_option("--mask-offset", a->mask_offset, "Column of <|mt_0|> in the logits")->capture_default_str();
  sub->add_option("--n", a->n, "Decode only the first N tokens (coarse-to-fine prefix)");
  sub->add_option("--size", a->size, "Output size WxH (the source image's); default: the model input");
  sub->add_option("-o,--out", a->out, "Binary mask PNG (probability > 0.5, nearest-resized to --size)");
  sub->add_option("--strip", a->strip, "PNG strip of the decodes with 1, 2, 4, 8, 16, 32 tokens");
  sub->add_option("--probs-out", a->probs_out, "safetensors with the float probability map 'probs' (S,S)");
  return [a] { return run_decode(*a); };
}

HIMTOK_COMMAND(inspect, 12) {
  auto a = std::make_shared<InspectArgs>();
  auto* sub = app.add_subcommand("inspect", "Describe a weights file (config, parameter count, keys) or a preset");
  sub->add_option("file", a->file, "Weights file (.safetensors or HF index/folder)");
  sub->add_option("--preset", a->preset, "Describe a preset without weights (official-large, small, tiny, micro)");
  sub->add_option("--config", a->config, "Preset or JSON config to check the file against");
  sub->add_option("--prefix", a->prefix, "Key prefix (auto: '' or 'mask_decoder.')")->capture_default_str();
  return [a] { return run_inspect(*a); };
}

}  // namespace himtok::cli
