// Stage-2 / stage-3 LMM training loop (see lmm_trainer.h).
#include "train/lmm_trainer.h"

#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <sstream>

#include "common/error.h"
#include "common/log.h"
#include "common/progress.h"
#include "io/draw.h"
#include "io/image.h"
#include "lmm/himtok_lmm.h"
#include "lmm/templates.h"
#include "loss/hml.h"
#include "train/checkpoint.h"

namespace fs = std::filesystem;

namespace himtok::train {

// ---------------------------------------------------------------------------------------------
// Config

void LmmTrainConfig::validate() const {
  HIMTOK_CHECK_INPUT(stage == 2 || stage == 3, "lmm train config: stage must be 2 or 3, got ", stage);
  if (stage == 2) HIMTOK_CHECK_INPUT(!tokenizer.empty(), "lmm train config: stage 2 needs 'tokenizer' (a trained tokenizer file)");
  if (stage == 3) HIMTOK_CHECK_INPUT(!init.empty(), "lmm train config: stage 3 needs 'init' (the stage-2 model; --init)");
  HIMTOK_CHECK_INPUT(steps >= 1, "lmm train config: steps must be >= 1");
  HIMTOK_CHECK_INPUT(batch_size >= 1, "lmm train config: batch_size must be >= 1");
  HIMTOK_CHECK_INPUT(lr > 0 && std::isfinite(lr), "lmm train config: lr must be positive");
  HIMTOK_CHECK_INPUT(min_lr_ratio >= 0 && min_lr_ratio <= 1, "lmm train config: min_lr_ratio outside [0, 1]");
  HIMTOK_CHECK_INPUT(warmup >= 0, "lmm train config: warmup must be >= 0");
  HIMTOK_CHECK_INPUT(grad_clip >= 0, "lmm train config: grad_clip must be >= 0");
  HIMTOK_CHECK_INPUT(n_levels >= 0 && n_levels < 32, "lmm train config: n_levels outside 0..31");
  HIMTOK_CHECK_INPUT(mask_loss_max >= 1, "lmm train config: mask_loss_max must be >= 1");
  HIMTOK_CHECK_INPUT(mask_loss_every >= 1, "lmm train config: mask_loss_every must be >= 1");
  HIMTOK_CHECK_INPUT(log_every >= 1 && ckpt_every >= 1, "lmm train config: log_every and ckpt_every must be >= 1");
  HIMTOK_CHECK_INPUT(threads >= 0, "lmm train config: threads must be >= 0");
  HIMTOK_CHECK_INPUT(vocab_size >= 1400, "lmm train config: vocab_size ", vocab_size,
                     " is too small (1037 special pieces + 256 bytes + merges)");
}

void to_json(nlohmann::json& j, const LmmTrainConfig& c) {
  nlohmann::json lc;
  if (!c.lmm_config.empty() && c.lmm_config[0] == '{')
    lc = nlohmann::json::parse(c.lmm_config);
  else
    lc = c.lmm_config;
  j = nlohmann::json{{"stage", c.stage},
                     {"lmm_config", lc},
                     {"tokenizer", c.tokenizer},
                     {"init", c.init},
                     {"vocab_size", c.vocab_size},
                     {"vocab_corpus_scenes", c.vocab_corpus_scenes},
                     {"steps", c.steps},
                     {"batch_size", c.batch_size},
                     {"lr", c.lr},
                     {"min_lr_ratio", c.min_lr_ratio},
                     {"warmup", c.warmup},
                     {"weight_decay", c.weight_decay},
                     {"beta1", c.beta1},
                     {"beta2", c.beta2},
                     {"grad_clip", c.grad_clip},
                     {"mask_loss", c.mask_loss},
                     {"mask_loss_weight", c.mask_loss_weight},
                     {"dice_weight", c.dice_weight},
                     {"n_levels", c.n_levels},
                     {"level_bias", c.level_bias},
                     {"mask_loss_max", c.mask_loss_max},
                     {"mask_loss_every", c.mask_loss_every},
                     {"train_decoder", c.train_decoder},
                     {"decoder_lr_scale", c.decoder_lr_scale},
                     {"data", c.data},
                     {"log_every", c.log_every},
                     {"ckpt_every", c.ckpt_every},
                     {"seed", c.seed},
                     {"threads", c.threads},
                     {"save_bf16", c.save_bf16},
                     {"max_minutes", c.max_minutes},
                     {"stop_at", c.stop_at}};
}

namespace {

template <typename T>
void read(const nlohmann::json& v, const std::string& key, T& out, const std::string& origin) {
  try {
    out = v.get<T>();
  } catch (const nlohmann::json::exception&) {
    throw InputError(str_cat(origin, ": '", key, "' has the wrong type (", v.dump(), ")"));
  }
}

void apply_fields(const nlohmann::json& j, LmmTrainConfig& c, nlohmann::json& data, const std::string& origin) {
  HIMTOK_CHECK_INPUT(j.is_object(), origin, ": expected a JSON object");
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& k = it.key();
    const auto& v = *it;
    if (k == "lmm_config") {
      HIMTOK_CHECK_INPUT(v.is_string() || v.is_object(), origin, ": 'lmm_config' must be a preset name or an object");
      c.lmm_config = v.is_string() ? v.get<std::string>() : v.dump();
    } else if (k == "data") {
      HIMTOK_CHECK_INPUT(v.is_object(), origin, ": 'data' must be an object");
      for (auto d = v.begin(); d != v.end(); ++d) {
        if (d.key() == "mix" && data.contains("mix")) {
          HIMTOK_CHECK_INPUT(d->is_object(), origin, ": 'data.mix' must be an object");
          data["mix"] = *d;  // a stage's mix replaces the common one as a whole
        } else {
          data[d.key()] = *d;
        }
      }
    } else if (k == "stage") read(v, k, c.stage, origin);
    else if (k == "tokenizer") read(v, k, c.tokenizer, origin);
    else if (k == "init") read(v, k, c.init, origin);
    else if (k == "vocab_size") read(v, k, c.vocab_size, origin);
    else if (k == "vocab_corpus_scenes") read(v, k, c.vocab_corpus_scenes, origin);
    else if (k == "steps") read(v, k, c.steps, origin);
    else if (k == "batch_size") read(v, k, c.batch_size, origin);
    else if (k == "lr") read(v, k, c.lr, origin);
    else if (k == "min_lr_ratio") read(v, k, c.min_lr_ratio, origin);
    else if (k == "warmup") read(v, k, c.warmup, origin);
    else if (k == "weight_decay") read(v, k, c.weight_decay, origin);
    else if (k == "beta1") read(v, k, c.beta1, origin);
    else if (k == "beta2") read(v, k, c.beta2, origin);
    else if (k == "grad_clip") read(v, k, c.grad_clip, origin);
    else if (k == "mask_loss") read(v, k, c.mask_loss, origin);
    else if (k == "mask_loss_weight") read(v, k, c.mask_loss_weight, origin);
    else if (k == "dice_weight") read(v, k, c.dice_weight, origin);
    else if (k == "n_levels") read(v, k, c.n_levels, origin);
    else if (k == "level_bias") read(v, k, c.level_bias, origin);
    else if (k == "mask_loss_max") read(v, k, c.mask_loss_max, origin);
    else if (k == "mask_loss_every") read(v, k, c.mask_loss_every, origin);
    else if (k == "train_decoder") read(v, k, c.train_decoder, origin);
    else if (k == "decoder_lr_scale") read(v, k, c.decoder_lr_scale, origin);
    else if (k == "log_every") read(v, k, c.log_every, origin);
    else if (k == "ckpt_every") read(v, k, c.ckpt_every, origin);
    else if (k == "seed") read(v, k, c.seed, origin);
    else if (k == "threads") read(v, k, c.threads, origin);
    else if (k == "save_bf16") read(v, k, c.save_bf16, origin);
    else if (k == "max_minutes") read(v, k, c.max_minutes, origin);
    else if (k == "stop_at") read(v, k, c.stop_at, origin);
    else if (k == "about") continue;
    else throw InputError(str_cat(origin, ": unknown key '", k, "'"));
  }
}

}  // namespace

LmmTrainConfig lmm_train_config_from_json(const nlohmann::json& j, int stage, const std::string& origin) {
  HIMTOK_CHECK_INPUT(j.is_object(), origin, ": expected a JSON object");
  HIMTOK_CHECK_INPUT(j.value("format", "") == "himtok-lmm-train", origin,
                     ": 'format' must be \"himtok-lmm-train\"");
  HIMTOK_CHECK_INPUT(j.value("version", 0) == 1, origin, ": unsupported 'version' (expected 1)");
  for (auto it = j.begin(); it != j.end(); ++it)
    HIMTOK_CHECK_INPUT(it.key() == "format" || it.key() == "version" || it.key() == "about" || it.key() == "common" ||
                           it.key() == "stage2" || it.key() == "stage3",
                       origin, ": unknown top-level key '", it.key(), "'");
  HIMTOK_CHECK_INPUT(stage == 2 || stage == 3, "--stage must be 2 or 3, got ", stage);
  LmmTrainConfig c;
  nlohmann::json data = nlohmann::json::object();
  if (j.contains("common")) apply_fields(j["common"], c, data, origin + " common");
  const std::string key = "stage" + std::to_string(stage);
  if (j.contains(key)) apply_fields(j[key], c, data, origin + " " + key);
  c.stage = stage;
  from_json(data, c.data);
  c.validate();
  return c;
}

LmmTrainConfig load_lmm_train_config(const std::string& path, int stage) {
  std::ifstream f(path);
  HIMTOK_CHECK_INPUT(f.good(), path, ": cannot open the training config");
  nlohmann::json j;
  try {
    f >> j;
  } catch (const std::exception& e) {
    throw InputError(str_cat(path, ": invalid JSON (", e.what(), ")"));
  }
  return lmm_train_config_from_json(j, stage, path);
}

// ---------------------------------------------------------------------------------------------
// Helpers

namespace {

lmm::LmmConfig resolve_lmm_config(const std::string& s) {
  if (!s.empty() && s[0] == '{') {
    try {
      return nlohmann::json::parse(s).get<lmm::LmmConfig>();
    } catch (const nlohmann::json::exception& e) {
      throw InputError(str_cat("lmm_config: invalid JSON (", e.what(), ")"));
    }
  }
  return lmm::lmm_config_preset(s);
}

double lr_factor(const LmmTrainConfig& c, int64_t step) {
  if (step < c.warmup) return static_cast<double>(step + 1) / static_cast<double>(c.warmup);
  const double p = c.steps > c.warmup ? static_cast<double>(step - c.warmup) / static_cast<double>(c.steps - c.warmup) : 1.0;
  const double cosv = 0.5 * (1.0 + std::cos(M_PI * std::min(1.0, p)));
  return c.min_lr_ratio + (1.0 - c.min_lr_ratio) * cosv;
}

at::Tensor vocab_tensor(const lmm::Vocab& v) {
  const std::string proto = v.serialized();
  at::Tensor t = at::empty({static_cast<int64_t>(proto.size())}, at::kByte);
  std::memcpy(t.data_ptr<uint8_t>(), proto.data(), proto.size());
  return t;
}

std::string vocab_bytes(const at::Tensor& t) {
  at::Tensor c = t.contiguous();
  return std::string(reinterpret_cast<const char*>(c.data_ptr<uint8_t>()), static_cast<size_t>(c.numel()));
}

// Fields that may differ between a checkpoint and the resumed run.
const std::set<std::string> kResumeFree = {"max_minutes", "stop_at", "threads", "log_every", "ckpt_every",
                                           "save_bf16", "steps"};

void check_resume_config(const nlohmann::json& saved, const nlohmann::json& now, const std::string& path) {
  for (auto it = now.begin(); it != now.end(); ++it) {
    if (kResumeFree.count(it.key())) continue;
    HIMTOK_CHECK_INPUT(saved.contains(it.key()) && saved[it.key()] == *it, path, ": config field '", it.key(),
                       "' differs from the checkpoint's (", saved.contains(it.key()) ? saved[it.key()].dump() : "missing",
                       " vs ", it->dump(), "); use another --out or the same config");
  }
}

// Reads metrics.jsonl, keeping the lines with step <= last_step (a resumed run rewrites the rest).
std::vector<nlohmann::json> read_metrics(const std::string& path, int64_t last_step) {
  std::vector<nlohmann::json> out;
  std::ifstream f(path);
  std::string line;
  while (std::getline(f, line)) {
    if (line.empty()) continue;
    try {
      auto j = nlohmann::json::parse(line);
      if (j.value("step", int64_t{0}) <= last_step) out.push_back(j);
    } catch (const std::exception&) {
      break;  // a torn last line
    }
  }
  return out;
}

void write_curves(const std::vector<nlohmann::json>& rows, const std::string& path, int stage) {
  if (rows.size() < 2) return;
  io::Series loss{"loss", {}, {}, {200, 40, 40}}, ce{"ce", {}, {}, {40, 90, 200}}, ce_mask{"ce mask tokens", {}, {}, {230, 150, 20}},
      mask{"mask loss", {}, {}, {40, 160, 60}};
  for (const auto& r : rows) {
    const double s = r.value("step", 0.0);
    loss.x.push_back(s), loss.y.push_back(r.value("loss", 0.0));
    ce.x.push_back(s), ce.y.push_back(r.value("ce", 0.0));
    ce_mask.x.push_back(s), ce_mask.y.push_back(r.value("ce_mask", 0.0));
    if (r.value("mask", 0.0) > 0) mask.x.push_back(s), mask.y.push_back(r.value("mask", 0.0));
  }
  std::vector<io::Series> series = {loss, ce, ce_mask};
  if (!mask.x.empty()) series.push_back(mask);
  io::save_image(path, io::line_chart(series, "HiMTok LMM stage " + std::to_string(stage), "step", 480, 800, true));
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Training

LmmTrainResult train_lmm(const LmmTrainConfig& cfg, const std::string& out_dir, bool resume,
                         const std::function<void(const LmmStepLog&)>& on_step) {
  cfg.validate();
  if (cfg.threads > 0) at::set_num_threads(cfg.threads);
  fs::create_directories(out_dir);
  const std::string ck_path = out_dir + "/checkpoint.safetensors";
  const std::string metrics_path = out_dir + "/metrics.jsonl";
  const nlohmann::json cfg_json = cfg;

  Checkpoint ck;
  const bool have_ck = resume && load_checkpoint(ck_path, ck);
  if (resume && !have_ck) log::warn(str_cat(ck_path, " does not exist; starting a fresh run"));
  if (have_ck) check_resume_config(ck.meta.value("config", nlohmann::json::object()), cfg_json, ck_path);

  // The bundle.
  const lmm::Templates tpl = lmm::Templates::resolve();
  auto b = std::make_shared<lmm::LmmBundle>();
  if (cfg.stage == 2) {
    lmm::Vocab vocab;
    if (have_ck) {
      HIMTOK_CHECK_INPUT(ck.tensors.count(lmm::kVocabTensor), ck_path, ": no vocabulary");
      vocab = lmm::Vocab::from_serialized(vocab_bytes(ck.tensors.at(lmm::kVocabTensor)), ck_path);
    } else {
      lmm::VocabTrainOptions vo;
      vo.vocab_size = cfg.vocab_size;
      vocab = lmm::Vocab::train(lmm::build_vocab_corpus(tpl, cfg.vocab_corpus_scenes, cfg.seed + 1), vo);
    }
    *b = lmm::LmmBundle::from_parts(cfg.tokenizer, std::move(vocab), resolve_lmm_config(cfg.lmm_config), cfg.seed);
  } else {
    *b = lmm::LmmBundle::load(cfg.init);
  }
  b->inference.use_system = cfg.data.use_system;
  b->inference.image_side = cfg.data.image_side;
  if (have_ck) b->assign(ck.tensors, "model.", ck_path);

  // Parameters and the optimiser: LMM (decay on matrices) and, in stage 2 with the mask loss, the
  // de-tokenizer (decoder + pixel decoder) at a lower lr. The encoder is always frozen.
  const bool train_dec = cfg.stage == 2 && cfg.mask_loss && cfg.train_decoder;
  for (auto& p : b->mask_decoder->decoder->parameters()) p.set_requires_grad(train_dec);
  for (auto& p : b->mask_decoder->pixel_decoder->parameters()) p.set_requires_grad(train_dec);
  std::vector<std::vector<at::Tensor>> groups(4);
  for (auto& p : b->model->parameters()) groups[p.dim() >= 2 ? 0 : 1].push_back(p);
  if (train_dec) {
    const std::vector<torch::nn::Module*> dec = {b->mask_decoder->decoder.ptr().get(),
                                                 b->mask_decoder->pixel_decoder.ptr().get()};
    for (auto* m : dec)
      for (auto& p : m->parameters()) groups[p.dim() >= 2 ? 2 : 3].push_back(p);
  }
  const double group_lr[4] = {cfg.lr, cfg.lr, cfg.lr * cfg.decoder_lr_scale, cfg.lr * cfg.decoder_lr_scale};
  const double group_wd[4] = {cfg.weight_decay, 0.0, cfg.weight_decay, 0.0};
  std::vector<torch::optim::OptimizerParamGroup> pg;
  std::vector<double> pg_lr;
  std::vector<at::Tensor> all_params;
  for (int g = 0; g < 4; ++g) {
    if (groups[g].empty()) continue;
    auto o = std::make_unique<torch::optim::AdamWOptions>(group_lr[g]);
    o->betas({cfg.beta1, cfg.beta2}).weight_decay(group_wd[g]);
    pg.emplace_back(groups[g], std::move(o));
    pg_lr.push_back(group_lr[g]);
    all_params.insert(all_params.end(), groups[g].begin(), groups[g].end());
  }
  torch::optim::AdamW opt(pg, torch::optim::AdamWOptions(cfg.lr));

  std::mt19937_64 hml_rng(cfg.seed * 7919 + 17);
  int64_t start = 0;
  double elapsed_before = 0;
  if (have_ck) {
    get_optimizer(ck, opt, all_params);
    get_torch_rng(ck);
    rng_from_string(hml_rng, ck.meta.at("hml_rng").get<std::string>());
    start = ck.meta.at("step").get<int64_t>();
    elapsed_before = ck.meta.value("elapsed_s", 0.0);
    log::info(str_cat("resuming stage ", cfg.stage, " from step ", start, " (", ck_path, ")"));
  } else {
    torch::manual_seed(cfg.seed);
  }
  std::vector<nlohmann::json> metrics = have_ck ? read_metrics(metrics_path, start) : std::vector<nlohmann::json>{};
  {
    std::ofstream mf(metrics_path, std::ios::trunc);
    for (const auto& m : metrics) mf << m.dump() << "\n";
  }
  {
    std::ofstream cf(out_dir + "/config.json");
    cf << cfg_json.dump(2) << "\n";
  }

  LmmDataset data(cfg.data, *b, tpl);
  loss::HmlConfig hcfg;
  hcfg.n_levels = cfg.n_levels;
  hcfg.level_bias = cfg.level_bias;
  const lmm::LmmConfig& lc = b->config();
  const int64_t V = lc.llm.vocab_size, mt0 = lc.tokens.mt0_id, K = lmm::kCodebookSize, L = lmm::kNumMaskTokens;
  log::info(str_cat("stage ", cfg.stage, ": LMM ", lc.name, " ", lc.n_params(), " params, vocab ", V, ", image ",
                    cfg.data.image_side, "px (", lc.n_image_tokens(cfg.data.image_side), " tokens), batch ",
                    cfg.batch_size, ", steps ", cfg.steps, cfg.stage == 2 ? (cfg.mask_loss ? ", CE + mask loss" : ", CE only")
                                                                        : ", CE only (de-tokenizer frozen)"));

  auto save_ck = [&](int64_t step, double elapsed) {
    Checkpoint c;
    for (auto& [k, t] : b->tensors()) c.tensors["model." + k] = t.detach().clone();
    c.tensors[lmm::kVocabTensor] = vocab_tensor(b->vocab);
    put_optimizer(c, opt, all_params);
    put_torch_rng(c);
    c.meta["step"] = step;
    c.meta["config"] = cfg_json;
    c.meta["hml_rng"] = rng_to_string(hml_rng);
    c.meta["elapsed_s"] = elapsed;
    c.meta["lmm_config"] = nlohmann::json(lc);
    save_checkpoint(ck_path, c);
  };

  b->model->train();
  b->mask_decoder->train();
  Progress bar(cfg.steps, str_cat("stage ", cfg.stage));
  const auto t0 = std::chrono::steady_clock::now();
  auto elapsed_s = [&] {
    return elapsed_before + std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  LmmTrainResult res;
  std::vector<LmmStepLog> window;
  std::ofstream mf(metrics_path, std::ios::app);
  int64_t step = start;
  bool first_window_done = !metrics.empty();
  if (first_window_done) res.first_loss = metrics.front().value("loss", 0.0);
  while (step < cfg.steps) {
    const auto ts = std::chrono::steady_clock::now();
    const double f = lr_factor(cfg, step);
    for (size_t g = 0; g < opt.param_groups().size(); ++g)
      static_cast<torch::optim::AdamWOptions&>(opt.param_groups()[g].options()).lr(pg_lr[g] * f);

    LmmBatch batch = data.batch(step, cfg.batch_size);
    const int64_t T = batch.input_ids.size(1);
    at::Tensor logits = b->model->forward(batch.input_ids, batch.pixel_values);  // (B,T,V)
    at::Tensor lab = batch.labels.slice(1, 1, T).reshape({-1});
    at::Tensor ce_tok = at::cross_entropy_loss(logits.slice(1, 0, T - 1).reshape({-1, V}), lab, {}, at::Reduction::None,
                                               lmm::kIgnoreLabel);
    at::Tensor valid = lab != lmm::kIgnoreLabel;
    at::Tensor is_mask = valid & (lab >= mt0) & (lab < mt0 + K);
    const double n_valid = std::max<double>(1.0, valid.sum().item<double>());
    at::Tensor ce = ce_tok.sum() / n_valid;
    at::Tensor loss = ce;
    LmmStepLog lg;
    lg.step = step + 1;
    {
      at::NoGradGuard ng;
      const double nm = is_mask.sum().item<double>(), nt = n_valid - nm;
      lg.ce_mask = nm > 0 ? (ce_tok * is_mask).sum().item<double>() / nm : 0.0;
      lg.ce_text = nt > 0 ? (ce_tok * (valid & ~is_mask)).sum().item<double>() / nt : 0.0;
    }
    if (cfg.stage == 2 && cfg.mask_loss && !batch.mask_rows.empty() && step % cfg.mask_loss_every == 0) {
      const int64_t M = std::min<int64_t>(cfg.mask_loss_max, static_cast<int64_t>(batch.mask_rows.size()));
      std::vector<int64_t> rows(batch.mask_rows.begin(), batch.mask_rows.begin() + M);
      std::vector<int64_t> starts(batch.mask_starts.begin(), batch.mask_starts.begin() + M);
      at::Tensor r = at::tensor(rows, at::kLong).unsqueeze(1);                           // (M,1)
      at::Tensor pos = at::tensor(starts, at::kLong).unsqueeze(1) + at::arange(L, at::kLong);  // (M,L)
      at::Tensor sel = logits.index({r, pos}).slice(2, mt0, mt0 + K);                     // (M,L,K)
      at::Tensor probs = at::softmax(sel.to(at::kFloat) * 2.0, -1);
      const auto levels = loss::sample_levels_paper(hcfg, L, hml_rng);
      const int64_t R = 1 + static_cast<int64_t>(levels.size());
      std::vector<int64_t> keep(static_cast<size_t>(M), L);
      for (const auto& lv : levels) keep.insert(keep.end(), static_cast<size_t>(M), lv.tokens);
      auto& md = b->mask_decoder;
      at::Tensor pred = md->decode_z(md->quantize->lookup_probs(probs.repeat({R, 1, 1})), at::tensor(keep, at::kLong))
                            .select(1, 0);  // (R*M,S,S)
      at::Tensor tgt = batch.mask_targets.slice(0, 0, M);
      at::Tensor p0 = pred.slice(0, 0, M);
      at::Tensor full = loss::bce_prob(p0, tgt) + cfg.dice_weight * loss::dice_prob(p0, tgt);
      at::Tensor lev = at::zeros({}, at::kFloat);
      for (size_t i = 0; i < levels.size(); ++i) {
        at::Tensor pi = pred.slice(0, static_cast<int64_t>(i + 1) * M, static_cast<int64_t>(i + 2) * M);
        at::Tensor ti = loss::blur_label(tgt, levels[i].sigma);
        lev = lev + loss::bce_prob(pi, ti) + cfg.dice_weight * loss::dice_prob(pi, ti);
      }
      at::Tensor mask_loss = full + lev;
      loss = loss + cfg.mask_loss_weight * mask_loss;
      lg.mask = mask_loss.item<double>();
      lg.mask_full = full.item<double>();
      lg.mask_levels = lev.item<double>();
      lg.n_mask = M;
    }
    opt.zero_grad();
    loss.backward();
    lg.grad_norm = cfg.grad_clip > 0 ? torch::nn::utils::clip_grad_norm_(all_params, cfg.grad_clip) : 0.0;
    opt.step();
    ++step;

    lg.loss = loss.item<double>();
    lg.ce = ce.item<double>();
    lg.lr = cfg.lr * f;
    lg.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - ts).count();
    if (on_step) on_step(lg);
    window.push_back(lg);
    char extra[96];
    std::snprintf(extra, sizeof extra, "loss %.3f ce %.3f mask %.3f", lg.loss, lg.ce, lg.mask);
    bar.update(step, extra);
    const bool out_of_time = cfg.max_minutes > 0 && elapsed_s() - elapsed_before > cfg.max_minutes * 60.0;
    const bool stop = out_of_time || (cfg.stop_at > 0 && step >= cfg.stop_at);
    if (static_cast<int64_t>(window.size()) >= cfg.log_every || step == cfg.steps || stop) {
      LmmStepLog m;
      for (const auto& w : window) {
        m.loss += w.loss, m.ce += w.ce, m.ce_text += w.ce_text, m.ce_mask += w.ce_mask, m.mask += w.mask;
        m.mask_full += w.mask_full, m.mask_levels += w.mask_levels, m.grad_norm += w.grad_norm, m.seconds += w.seconds;
        m.n_mask += w.n_mask;
      }
      const double n = static_cast<double>(window.size());
      nlohmann::json j = {{"step", step},
                          {"stage", cfg.stage},
                          {"loss", m.loss / n},
                          {"ce", m.ce / n},
                          {"ce_text", m.ce_text / n},
                          {"ce_mask", m.ce_mask / n},
                          {"mask", m.mask / n},
                          {"mask_full", m.mask_full / n},
                          {"mask_levels", m.mask_levels / n},
                          {"grad_norm", m.grad_norm / n},
                          {"lr", lg.lr},
                          {"n_mask", m.n_mask},
                          {"sec_per_step", m.seconds / n},
                          {"elapsed_s", elapsed_s()},
                          {"cached_codes", data.n_cached_codes()}};
      mf << j.dump() << "\n";
      mf.flush();
      metrics.push_back(j);
      if (!first_window_done) {
        res.first_loss = m.loss / n;
        first_window_done = true;
      }
      res.last_loss = m.loss / n;
      window.clear();
    }
    if (step % cfg.ckpt_every == 0 || step == cfg.steps || stop) {
      save_ck(step, elapsed_s());
      write_curves(metrics, out_dir + "/loss.png", cfg.stage);
    }
    if (stop) {
      if (out_of_time) log::warn(str_cat("stage ", cfg.stage, ": max_minutes reached at step ", step));
      break;
    }
  }
  bar.finish();
  res.steps_done = step;
  res.model_path = out_dir + "/model.safetensors";
  b->save(res.model_path);
  if (cfg.save_bf16) b->save(out_dir + "/model-bf16.safetensors", /*as_bf16=*/true);
  log::info(str_cat("stage ", cfg.stage, ": ", step, " steps, loss ", res.first_loss, " -> ", res.last_loss, "; wrote ",
                    res.model_path));
  return res;
}

}  // namespace himtok::train
