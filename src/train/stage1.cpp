// Stage-1 trainer. Reading order: config <-> JSON, data (deterministic batches), loss, the
// training loop (checkpoint, eval, dead codes, data parallel), export.
// Legend: B batch (this process), S input side, L latent tokens, K codebook, D token size.
#include "train/stage1.h"

#include <torch/torch.h>

#include <dlfcn.h>
#include <sys/resource.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <future>
#include <optional>
#include <thread>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/log.h"
#include "common/progress.h"
#include "data/mask_source.h"
#include "io/weights.h"
#include "nn/autocast.h"
#include "nn/cpu_allocator.h"
#include "nn/op_profile.h"
#include "nn/precision.h"
#include "tokenizer/himt.h"
#include "tokenizer/tokenizer.h"
#include "train/checkpoint.h"
#include "train/data_parallel.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace himtok::train {

// ---------------------------------------------------------------------------------------------
// Config

std::string Stage1Config::to_json() const {
  json j;
  j["tokenizer"] = json::parse(tokenizer.to_json());
  j["data"] = json::array();
  for (auto& d : data) j["data"].push_back({{"source", d.source}, {"weight", d.weight}});
  j["val_permille"] = val_permille;
  j["min_area"] = min_area;
  const auto& a = augment;
  j["augment"] = {{"p_crop", a.p_crop},   {"crop_min_side", a.crop_min_side}, {"min_kept", a.min_kept},
                  {"p_zoom_out", a.p_zoom_out}, {"scale_max", a.scale_max}, {"p_hflip", a.p_hflip},
                  {"p_vflip", a.p_vflip}, {"p_morph", a.p_morph},         {"morph_min", a.morph_min},
                  {"morph_max", a.morph_max}, {"p_dilate", a.p_dilate}};
  j["hml"] = json::parse(hml.to_json());
  j["dice_per_sample"] = dice_per_sample;
  j["random_tail"] = random_tail;
  j["batch_size"] = batch_size;
  j["steps"] = steps;
  j["lr"] = lr;
  j["min_lr_ratio"] = min_lr_ratio;
  j["weight_decay"] = weight_decay;
  j["beta1"] = beta1;
  j["beta2"] = beta2;
  j["grad_clip"] = grad_clip;
  j["warmup_steps"] = warmup_steps;
  j["vq_warmup_steps"] = vq_warmup_steps;
  j["dead_code_every"] = dead_code_every;
  j["ema_decay"] = ema_decay;
  j["bf16"] = bf16;
  j["log_every"] = log_every;
  j["eval_every"] = eval_every;
  j["ckpt_every"] = ckpt_every;
  j["val_masks"] = val_masks;
  j["seed"] = seed;
  if (data_seed != 0) j["data_seed"] = data_seed;
  return j.dump(2);
}

Stage1Config Stage1Config::from_json(const std::string& text, const std::string& ctx) {
  Stage1Config c;
  json j;
  try {
    j = json::parse(text);
  } catch (const std::exception& e) {
    throw InputError(str_cat(ctx, ": cannot parse JSON (", e.what(), ")"));
  }
  HIMTOK_CHECK_INPUT(j.is_object(), ctx, ": not a JSON object");
  try {
    for (auto it = j.begin(); it != j.end(); ++it) {
      const std::string& k = it.key();
      const json& v = it.value();
      if (k == "tokenizer")
        c.tokenizer = v.is_string() ? tok::TokenizerConfig::resolve(v.get<std::string>())
                                    : tok::TokenizerConfig::from_json(v.dump(), ctx + ".tokenizer");
      else if (k == "data") {
        c.data.clear();
        for (auto& d : v) c.data.push_back({d.at("source").get<std::string>(), d.value("weight", 1.0)});
      } else if (k == "val_permille") c.val_permille = v.get<int>();
      else if (k == "min_area") c.min_area = v.get<int64_t>();
      else if (k == "augment") {
        auto& a = c.augment;
        a.p_crop = v.value("p_crop", a.p_crop);
        a.crop_min_side = v.value("crop_min_side", a.crop_min_side);
        a.min_kept = v.value("min_kept", a.min_kept);
        a.p_zoom_out = v.value("p_zoom_out", a.p_zoom_out);
        a.scale_max = v.value("scale_max", a.scale_max);
        a.p_hflip = v.value("p_hflip", a.p_hflip);
        a.p_vflip = v.value("p_vflip", a.p_vflip);
        a.p_morph = v.value("p_morph", a.p_morph);
        a.morph_min = v.value("morph_min", a.morph_min);
        a.morph_max = v.value("morph_max", a.morph_max);
        a.p_dilate = v.value("p_dilate", a.p_dilate);
      } else if (k == "hml") c.hml = loss::HmlConfig::from_json(v.dump());
      else if (k == "dice_per_sample") c.dice_per_sample = v.get<bool>();
      else if (k == "random_tail") c.random_tail = v.get<bool>();
      else if (k == "batch_size") c.batch_size = v.get<int64_t>();
      else if (k == "steps") c.steps = v.get<int64_t>();
      else if (k == "lr") c.lr = v.get<double>();
      else if (k == "min_lr_ratio") c.min_lr_ratio = v.get<double>();
      else if (k == "weight_decay") c.weight_decay = v.get<double>();
      else if (k == "beta1") c.beta1 = v.get<double>();
      else if (k == "beta2") c.beta2 = v.get<double>();
      else if (k == "grad_clip") c.grad_clip = v.get<double>();
      else if (k == "warmup_steps") c.warmup_steps = v.get<int64_t>();
      else if (k == "vq_warmup_steps") c.vq_warmup_steps = v.get<int64_t>();
      else if (k == "dead_code_every") c.dead_code_every = v.get<int64_t>();
      else if (k == "ema_decay") c.ema_decay = v.get<double>();
      else if (k == "bf16") c.bf16 = v.get<bool>();
      else if (k == "log_every") c.log_every = v.get<int64_t>();
      else if (k == "eval_every") c.eval_every = v.get<int64_t>();
      else if (k == "ckpt_every") c.ckpt_every = v.get<int64_t>();
      else if (k == "val_masks") c.val_masks = v.get<int64_t>();
      else if (k == "seed") c.seed = v.get<uint64_t>();
      else if (k == "data_seed") c.data_seed = v.get<uint64_t>();
      else if (k == "comment" || k == "_comment") continue;
      else throw InputError(str_cat(ctx, ": unknown field '", k, "'"));
    }
  } catch (const json::exception& e) {
    throw InputError(str_cat(ctx, ": bad field (", e.what(), ")"));
  }
  HIMTOK_CHECK_INPUT(!c.data.empty(), ctx, ": no data sources");
  HIMTOK_CHECK_INPUT(c.batch_size >= 1 && c.steps >= 1, ctx, ": batch_size and steps must be >= 1");
  c.augment.side = c.tokenizer.image_size;
  return c;
}

Stage1Config Stage1Config::from_file(const std::string& path) {
  HIMTOK_CHECK_INPUT(fs::exists(path), path, ": no such file");
  std::ifstream f(path);
  std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  return from_json(text, path);
}

// ---------------------------------------------------------------------------------------------
// Data: batch item i of step s is a pure function of (seed, s, i), so training resumes exactly
// and every process of a data-parallel run draws the same global batch.

namespace {

uint64_t mix(uint64_t a, uint64_t b) {
  uint64_t z = a * 0x9E3779B97F4A7C15ull + b + 0x632BE59BD9B4E019ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

struct Dataset {
  std::vector<std::unique_ptr<data::MaskSource>> sources;
  std::vector<data::Split> splits;
  std::vector<double> cum_weights;
  int64_t min_area = 64;

  // A (binary, native-size) mask for `key`; `val` picks from the held-out groups.
  Mask draw(uint64_t key, bool val) const {
    for (int attempt = 0; attempt < 64; ++attempt) {
      uint64_t r = mix(key, static_cast<uint64_t>(attempt));
      double u = static_cast<double>(r >> 11) / 9007199254740992.0 * cum_weights.back();
      size_t s = 0;
      while (s + 1 < cum_weights.size() && u >= cum_weights[s]) ++s;
      const auto& idx = val ? splits[s].val : splits[s].train;
      if (idx.empty()) continue;
      size_t i = idx[mix(r, 7) % idx.size()];
      Mask m = sources[s]->get(i).mask;
      if (m.area() >= min_area && m.area() < m.h * m.w) return m;
    }
    throw InputError("training data: no usable mask found in 64 draws (all too small or empty?)");
  }
};

Dataset open_data(const Stage1Config& cfg) {
  Dataset d;
  d.min_area = cfg.min_area;
  double acc = 0;
  for (auto& spec : cfg.data) {
    d.sources.push_back(data::open_mask_source(spec.source));
    d.splits.push_back(data::split_by_group(*d.sources.back(), cfg.val_permille, cfg.seed));
    acc += spec.weight;
    d.cum_weights.push_back(acc);
    log::info(str_cat("data: ", d.sources.back()->describe(), "; train ", d.splits.back().train.size(), ", val ",
                      d.splits.back().val.size()));
  }
  return d;
}

// (n, 3, S, S) inputs for items [begin, end) of `key`'s batch.
at::Tensor make_batch(const Dataset& d, const data::AugmentOptions& aug, uint64_t seed, uint64_t key, int64_t begin,
                      int64_t end, bool val, bool augment, int threads) {
  const int64_t S = aug.side, n = end - begin;
  at::Tensor x = at::empty({n, S, S}, at::kFloat);
  float* out = x.data_ptr<float>();
  std::vector<std::string> errors(static_cast<size_t>(n));
  // Plain threads, not at::parallel_for: this runs on the prefetch thread, where an OpenMP
  // parallel region would get one thread. Item b is a pure function of (key, begin + b).
  auto work = [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      try {
        uint64_t item = mix(key, static_cast<uint64_t>(begin + b));
        Mask m = d.draw(item, val);
        data::AugmentOptions o = aug;
        if (!augment) {
          o.p_crop = o.p_zoom_out = o.p_hflip = o.p_vflip = o.p_morph = 0;
        }
        FloatMap f = data::augment_mask(m, seed, item, o);
        std::memcpy(out + b * S * S, f.data.data(), f.data.size() * sizeof(float));
      } catch (const std::exception& e) {
        errors[static_cast<size_t>(b)] = e.what();
      }
    }
  };
  const int64_t nt = std::max<int64_t>(1, std::min<int64_t>(threads, n));
  std::vector<std::thread> pool;
  for (int64_t t = 1; t < nt; ++t) pool.emplace_back(work, n * t / nt, n * (t + 1) / nt);
  work(0, n / nt);
  for (auto& th : pool) th.join();
  for (auto& e : errors) HIMTOK_CHECK_INPUT(e.empty(), e);
  return x.unsqueeze(1).expand({n, 3, S, S}).contiguous();
}

// ---------------------------------------------------------------------------------------------
// Loss

// BCE from the logits s = 5 (m - 0.5) (the same loss as the official clamped-probability BCE
// while 1e-6 < p < 1-1e-6, but its gradient never vanishes: with the clamped form a model that
// drives every pixel below 1e-6 stops learning), plus Dice on p = sigmoid(s).
at::Tensor level_loss(const at::Tensor& logits, const at::Tensor& target, const Stage1Config& cfg) {
  at::Tensor s = logits.to(at::kFloat), t = target.to(at::kFloat);
  at::Tensor bce = at::binary_cross_entropy_with_logits(s, t);
  at::Tensor p = at::sigmoid(s);
  at::Tensor dice;
  if (cfg.dice_per_sample) {
    at::Tensor pf = p.flatten(1), tf = t.flatten(1);
    dice = (1 - (2 * (pf * tf).sum(1) + 1e-6) / (pf.sum(1) + tf.sum(1) + 1e-6)).mean();
  } else {
    dice = 1 - (2 * (p * t).sum() + 1e-6) / (p.sum() + t.sum() + 1e-6);
  }
  return bce + cfg.hml.dice_weight * dice;
}

struct StepLosses {
  at::Tensor total;
  double full = 0, levels = 0, vq = 0;
  at::Tensor ids;  // (B,L)
  at::Tensor z;    // (B*L, D) normalised encoder outputs (for dead-code restarts)
};

StepLosses compute_loss(tok::HiMT& model, const at::Tensor& x, int64_t step, const Stage1Config& cfg,
                        std::mt19937_64& rng) {
  const int64_t B = x.size(0), L = cfg.tokenizer.num_latent_tokens;
  at::Tensor target = x.select(1, 0);  // (B,S,S) soft stretched mask
  auto enc = model->encode(x);
  StepLosses out;
  at::Tensor zin;
  at::Tensor zn = enc.z / enc.z.norm(2, {1}, true).clamp_min(1e-12);  // (B,D,1,L)
  if (step < cfg.vq_warmup_steps) {
    zin = cfg.tokenizer.use_l2_norm ? zn : enc.z;
  } else {
    zin = enc.q.z_quantized;
  }
  out.ids = enc.q.ids;
  out.z = zn.detach().permute({0, 2, 3, 1}).reshape({B * L, cfg.tokenizer.token_size}).to(at::kFloat);
  // Levels: the full prefix, plus sampled prefixes with blurred labels; decoded in one batch.
  std::vector<loss::Level> levels = cfg.hml.official_variant ? loss::sample_levels_official(cfg.hml, L, rng)
                                                             : loss::sample_levels_paper(cfg.hml, L, rng);
  std::vector<int64_t> keep;
  std::vector<at::Tensor> targets;
  if (cfg.random_tail) {
    std::uniform_int_distribution<int64_t> u(1, L);
    at::Tensor tt = at::empty_like(target);
    for (int64_t b = 0; b < B; ++b) {
      int64_t l = u(rng);
      keep.push_back(l);
      tt[b] = l == L ? target[b] : loss::blur_label(target.slice(0, b, b + 1), loss::sigma_paper(l) * cfg.hml.sigma_scale)[0];
    }
    targets.push_back(tt);
  } else {
    keep.insert(keep.end(), static_cast<size_t>(B), L);
    targets.push_back(target);
  }
  for (auto& lv : levels) {
    keep.insert(keep.end(), static_cast<size_t>(B), std::max<int64_t>(lv.tokens, 0));
    targets.push_back(loss::blur_label(target, lv.sigma));
  }
  const int64_t n_lv = static_cast<int64_t>(levels.size());
  at::Tensor z_all = zin.repeat({1 + n_lv, 1, 1, 1});
  at::Tensor prob = model->decode_z_logits(z_all, at::tensor(keep, at::kLong).to(x.device())).select(1, 0).to(at::kFloat);  // (B',S,S) logits
  at::Tensor l_full = level_loss(prob.slice(0, 0, B), targets[0], cfg);
  at::Tensor total = cfg.hml.full_weight * l_full;
  out.full = l_full.item<double>();
  if (n_lv > 0) {
    at::Tensor l_lv = at::zeros({}, at::kFloat);
    for (int64_t k = 0; k < n_lv; ++k) l_lv = l_lv + level_loss(prob.slice(0, (k + 1) * B, (k + 2) * B), targets[k + 1], cfg);
    l_lv = l_lv / static_cast<double>(n_lv);
    total = total + cfg.hml.level_weight * l_lv;
    out.levels = l_lv.item<double>();
  }
  if (step >= cfg.vq_warmup_steps) {
    total = total + enc.q.quantizer_loss.to(at::kFloat);
    out.vq = enc.q.quantizer_loss.item<double>();
  }
  out.total = total;
  return out;
}

at::Device pick_device(const std::string& name) {
  if (name == "cuda") {
    HIMTOK_CHECK_INPUT(torch::cuda::is_available(), "--device cuda: this libtorch has no CUDA device available");
    return at::Device(at::kCUDA);
  }
  HIMTOK_CHECK_INPUT(name == "cpu", "--device: '", name, "' is not one of cpu, cuda");
  return at::Device(at::kCPU);
}

double lr_at(const Stage1Config& c, int64_t step) {
  if (step < c.warmup_steps) return c.lr * static_cast<double>(step + 1) / static_cast<double>(c.warmup_steps);
  double t = static_cast<double>(step - c.warmup_steps) / std::max<double>(1.0, static_cast<double>(c.steps - c.warmup_steps));
  t = std::min(1.0, t);
  return c.lr * (c.min_lr_ratio + (1 - c.min_lr_ratio) * 0.5 * (1 + std::cos(M_PI * t)));
}

bool no_decay(const std::string& k, const at::Tensor& p) {
  return p.dim() < 2 || k.find("embedding") != std::string::npos || k.find("latent_tokens") != std::string::npos ||
         k.find("mask_token") != std::string::npos || k.rfind("quantize.", 0) == 0;
}

// Mean IoU at S x S (threshold 0.5) of prefixes {1,2,4,8,16,32} on fixed validation masks.
json evaluate(tok::HiMT& model, const at::Tensor& val_x) {
  at::NoGradGuard ng;
  model->eval();
  json j;
  const int64_t L = model->cfg.num_latent_tokens, n = val_x.size(0);
  std::vector<int64_t> counts;
  at::Tensor all_ids;
  std::vector<double> miou;
  for (int64_t b0 = 0; b0 < n; b0 += 16) {
    at::Tensor x = val_x.slice(0, b0, std::min(n, b0 + 16));
    at::Tensor ids = model->encode(x).q.ids;
    all_ids = all_ids.defined() ? at::cat({all_ids, ids}) : ids;
  }
  for (int64_t t : {1, 2, 4, 8, 16, 32}) {
    if (t > L) break;
    double sum = 0;
    for (int64_t b0 = 0; b0 < n; b0 += 16) {
      at::Tensor x = val_x.slice(0, b0, std::min(n, b0 + 16));
      at::Tensor prob = model->decode_tokens(all_ids.slice(0, b0, b0 + x.size(0)).slice(1, 0, t)).select(1, 0);
      at::Tensor p = prob > 0.5, g = x.select(1, 0) > 0.5;
      at::Tensor I = (p & g).flatten(1).sum(1).to(at::kDouble), U = (p | g).flatten(1).sum(1).to(at::kDouble);
      at::Tensor iou = at::where(U > 0, I / U.clamp_min(1), at::ones_like(U));
      sum += iou.sum().item<double>();
    }
    j["miou_" + std::to_string(t)] = sum / static_cast<double>(n);
  }
  at::Tensor hist = at::bincount(all_ids.flatten(), {}, model->cfg.codebook_size).to(at::kDouble);
  at::Tensor p = hist / hist.sum();
  j["val_usage"] = (hist > 0).sum().item<int64_t>();
  j["val_perplexity"] = std::exp(-(p * at::log(p.clamp_min(1e-12))).sum().item<double>());
  model->train();
  return j;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Bench mode (Stage1Run::bench_steps): wall time per phase of a step

namespace {

long minor_page_faults() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_minflt;
}

// Wall-clock time per phase, summed over the timed steps. On CUDA each lap first waits for the
// device, so that the time lands in the phase that queued the work; this removes the overlap of
// host and device between phases, so bench step times are an upper bound for a normal run.
struct PhaseClock {
  enum Phase { kData, kForward, kBackward, kOptimizer, kCount };
  static constexpr const char* kNames[kCount] = {"data", "forward", "backward", "optimizer"};
  bool on = false, cuda = false;
  std::array<double, kCount> sum{};
  std::chrono::steady_clock::time_point t;
  void sync() const {
    if (cuda) torch::cuda::synchronize();
  }
  void start() {
    if (!on) return;
    sync();
    t = std::chrono::steady_clock::now();
  }
  void lap(Phase p) {
    if (!on) return;
    sync();
    const auto now = std::chrono::steady_clock::now();
    sum[p] += std::chrono::duration<double>(now - t).count();
    t = now;
  }
};

// Device memory in use (bytes) as the CUDA runtime reports it (total - free: the caching
// allocator's reserve plus the context), or -1 where it cannot be read. Looked up at run time so
// that CPU-only builds (Debian's libtorch) need no CUDA library.
int64_t cuda_memory_in_use() {
  using MemGetInfo = int (*)(size_t*, size_t*);
  static MemGetInfo fn = reinterpret_cast<MemGetInfo>(dlsym(RTLD_DEFAULT, "cudaMemGetInfo"));
  size_t free_b = 0, total_b = 0;
  if (fn == nullptr || fn(&free_b, &total_b) != 0) return -1;
  return static_cast<int64_t>(total_b - free_b);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// The loop

int64_t train_stage1(const Stage1Config& cfg, const Stage1Run& run) {
  const int n_threads = tok::set_threads(run.threads);
  fs::create_directories(run.out_dir);
  const bool main_rank = run.rank == 0;
  const std::string ckpt_path = (fs::path(run.out_dir) / "checkpoint.safetensors").string();
  const std::string metrics_path = (fs::path(run.out_dir) / "metrics.jsonl").string();
  if (main_rank) {
    std::ofstream(fs::path(run.out_dir) / "config.json") << cfg.to_json() << "\n";
  }
  HIMTOK_CHECK_INPUT(cfg.batch_size % run.world_size == 0, "batch_size ", cfg.batch_size,
                     " is not divisible by the number of processes ", run.world_size);

  DataParallel dp(run.store_path, run.rank, run.world_size);
  const at::Device device = pick_device(run.device);
  if (device.is_cuda()) {
    // TF32 tensor cores for fp32 matmuls and convolutions; cuDNN picks the fastest algorithms.
    at::globalContext().setAllowTF32CuBLAS(true);
    at::globalContext().setAllowTF32CuDNN(true);
    at::globalContext().setBenchmarkCuDNN(true);
    HIMTOK_CHECK_INPUT(!dp.active(), "data parallel on CUDA (NCCL) is not implemented; use one process per GPU run");
    // "bf16": CUDA autocast (matmuls and convolutions in bf16; norms, softmax and the losses in fp32);
    // without it, fp32 on TF32 tensor cores.
  }
  if (!device.is_cuda() && cfg.bf16 && !nn::cpu_has_fast_bf16())
    log::warn("bf16 on a CPU without AVX512BW/VL/DQ: libtorch 1.13 runs bf16 there on slow kernels that also "
              "accumulate in bf16 (measured 21x slower than fp32, docs/BENCHMARKS.md); fp32 is the better choice");

  torch::manual_seed(cfg.seed);
  tok::HiMT model(cfg.tokenizer);  // initialised on the CPU generator: the same weights on any device
  if (!run.init_from.empty() && !(run.resume && fs::exists(ckpt_path))) {
    // Fine-tuning: start from a tokenizer file (strict: every key, every shape).
    io::Weights w = io::Weights::open(run.init_from);
    io::load_state_dict_strict(*model, w, "");
    if (main_rank) log::info(str_cat("initialised from ", run.init_from));
  }
  model->to(device);
  model->train();
  Dataset data = open_data(cfg);

  std::vector<at::Tensor> decay, plain, params;
  std::vector<std::string> names;
  for (auto& p : model->named_parameters(true)) {
    (no_decay(p.key(), p.value()) ? plain : decay).push_back(p.value());
    params.push_back(p.value());
    names.push_back(p.key());
  }
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(decay, std::make_unique<torch::optim::AdamWOptions>(
                                 torch::optim::AdamWOptions(cfg.lr).betas({cfg.beta1, cfg.beta2}).weight_decay(cfg.weight_decay)));
  groups.emplace_back(plain, std::make_unique<torch::optim::AdamWOptions>(
                                 torch::optim::AdamWOptions(cfg.lr).betas({cfg.beta1, cfg.beta2}).weight_decay(0.0)));
  torch::optim::AdamW opt(groups);
  io::TensorMap ema;
  at::Tensor usage = at::zeros({cfg.tokenizer.codebook_size}, at::kLong);

  int64_t step = 0;
  Checkpoint ck;
  const bool bench = run.bench_steps > 0;
  if (!bench && run.resume && load_checkpoint(ckpt_path, ck)) {
    // The run must continue with the same config; only the total step count (the schedule's
    // length, --steps) may change on resume.
    json was = ck.meta.value("config", json()), now = json::parse(cfg.to_json());
    was.erase("steps");
    now.erase("steps");
    HIMTOK_CHECK_INPUT(was.dump() == now.dump(), ckpt_path,
                       ": was written with another config; use a new --out folder or the same config");
    io::TensorMap own = io::state_dict(*model);
    at::NoGradGuard ng;
    for (auto& [k, t] : own) t.copy_(ck.tensors.at("model." + k));
    get_optimizer(ck, opt, params);
    get_torch_rng(ck);
    for (auto& [k, t] : ck.tensors)
      if (k.rfind("ema.", 0) == 0) ema[k.substr(4)] = t.clone();
    if (ck.tensors.count("usage.counts")) usage = ck.tensors.at("usage.counts").clone();
    for (auto& [k, t] : ema) t = t.to(device);
    step = ck.meta.at("step").get<int64_t>();
    if (main_rank) log::info(str_cat("resumed from ", ckpt_path, " at step ", step));
    // Drop metric lines written after that checkpoint (a killed run may have logged more).
    if (main_rank && fs::exists(metrics_path)) {
      std::ifstream in(metrics_path);
      std::string line, kept;
      while (std::getline(in, line)) {
        try {
          if (json::parse(line).value("step", int64_t{0}) <= step) kept += line + "\n";
        } catch (...) {
        }
      }
      io::write_file_atomic(metrics_path, kept.data(), kept.size());
    }
  } else if (!bench && main_rank && fs::exists(metrics_path)) {
    fs::remove(metrics_path);
  }
  if (cfg.ema_decay > 0 && ema.empty())
    for (auto& [k, t] : io::state_dict(*model)) ema[k] = t.detach().clone();

  // Fixed validation inputs (no augmentation).
  at::Tensor val_x;
  if (main_rank && cfg.val_masks > 0 && !bench)
    val_x = make_batch(data, cfg.augment, cfg.seed, mix(cfg.seed, 0xFA11), 0, cfg.val_masks, true, false, n_threads).to(device);

  Stage1Config sched = cfg;  // the schedule's length may shrink to fit --time-limit (see below)
  int64_t last = run.max_steps >= 0 ? std::min(run.max_steps, cfg.steps) : cfg.steps;
  if (bench) last = step + kBenchWarmupSteps + run.bench_steps;
  const int64_t b_local = cfg.batch_size / run.world_size;
  Progress bar(last, "train");
  std::ofstream metrics;
  if (main_rank && !bench) metrics.open(metrics_path, std::ios::app);
  auto t0 = std::chrono::steady_clock::now();
  int64_t steps_timed = 0;
  auto save = [&](int64_t s) {
    if (!main_rank) return;
    Checkpoint c;
    for (auto& [k, t] : io::state_dict(*model)) c.tensors["model." + k] = t.detach().cpu();
    for (auto& [k, t] : ema) c.tensors["ema." + k] = t.cpu();
    put_optimizer(c, opt, params);
    put_torch_rng(c);
    c.tensors["usage.counts"] = usage;
    c.meta["step"] = s;
    c.meta["config"] = json::parse(sched.to_json());
    save_checkpoint(ckpt_path, c);
  };
  // Batches are made on the CPU one step ahead, while the device works on the current one.
  std::atomic<int64_t> make_ns{0}, made{0};  // time spent making batches (on the prefetch thread)
  auto batch_for = [&](int64_t s) {
    const auto tm = std::chrono::steady_clock::now();
    const uint64_t key = mix(cfg.data_seed != 0 ? cfg.data_seed : cfg.seed, static_cast<uint64_t>(s) + 1);
    at::Tensor b = make_batch(data, cfg.augment, cfg.seed, key, run.rank * b_local, (run.rank + 1) * b_local, false, true, n_threads);
    make_ns += std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - tm).count();
    ++made;
    return b;
  };
  std::future<at::Tensor> next_batch;
  if (step < last) next_batch = std::async(std::launch::async, batch_for, step);
  const int64_t first_step = step;
  auto t10 = std::chrono::steady_clock::now();
  double data_wait_s = 0;  // time the loop waited for batches (the CPU data pipeline is too slow if large)
  NonFiniteGuard non_finite;
  PhaseClock clock;
  clock.cuda = device.is_cuda();
  int64_t peak_mem = -1;
  std::chrono::steady_clock::time_point bench_t0;
  long bench_faults0 = 0;  // minor page faults of the process before the timed steps
  std::chrono::steady_clock::time_point profile_t0;  // --profile: the profiled warm-up step
  double profile_ms = 0;
  std::vector<nn::OpTime> profile_ops;

  while (step < last) {
    if (bench && step == first_step + kBenchWarmupSteps) {  // start timing after the warm-up steps
      clock.on = true;
      clock.sync();
      bench_t0 = std::chrono::steady_clock::now();
      bench_faults0 = minor_page_faults();
      make_ns = 0;
      made = 0;
    }
    bool profiling = bench && run.profile && step == first_step + kBenchWarmupSteps - 1;
    if (profiling) {
      clock.sync();
      try {
        nn::start_op_profile(device.is_cuda());
      } catch (const c10::Error& e) {  // a libtorch built without the profiler's CUDA support
        const std::string why = e.what_without_backtrace();
        log::warn(str_cat("--profile: libtorch's profiler did not start; the bench goes on without it (",
                          why.substr(0, why.find('\n')), ")"));
        profiling = false;
      }
      profile_t0 = std::chrono::steady_clock::now();
    }
    auto end_profile = [&] {
      if (!profiling) return;
      clock.sync();
      profile_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - profile_t0).count();
      profile_ops = nn::stop_op_profile();
    };
    clock.start();
    const uint64_t key = mix(cfg.seed, static_cast<uint64_t>(step) + 1);
    std::mt19937_64 rng(mix(key, 0x1e7e15));
    const auto tw = std::chrono::steady_clock::now();
    at::Tensor x = next_batch.get().to(device);
    data_wait_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - tw).count();
    if (step + 1 < last) next_batch = std::async(std::launch::async, batch_for, step + 1);
    const double lr = lr_at(sched, step);
    for (auto& g : opt.param_groups()) static_cast<torch::optim::AdamWOptions&>(g.options()).lr(lr);

    StepLosses sl;
    {
      std::optional<nn::AutocastScope> autocast;  // bf16 autocast on the step's device ("bf16": true)
      if (cfg.bf16) autocast.emplace(device, at::kBFloat16);
      clock.lap(PhaseClock::kData);
      sl = compute_loss(model, x, step, cfg, rng);
    }
    clock.lap(PhaseClock::kForward);
    opt.zero_grad();
    sl.total.backward();
    if (dp.active()) {
      std::vector<at::Tensor> grads;
      for (auto& p : params)
        if (p.grad().defined()) grads.push_back(p.grad());
      at::Tensor flat = at::cat([&] {
        std::vector<at::Tensor> v;
        for (auto& g : grads) v.push_back(g.flatten());
        return v;
      }());
      dp.allreduce_mean(flat);
      int64_t off = 0;
      for (auto& g : grads) {
        g.copy_(flat.slice(0, off, off + g.numel()).view_as(g));
        off += g.numel();
      }
    }
    double loss_value = sl.total.item<double>();
    if (dp.active()) {  // log the global batch's loss: the mean of the processes' losses
      at::Tensor l = at::tensor({loss_value, sl.full, sl.levels, sl.vq}, at::kDouble);
      dp.allreduce_mean(l);
      loss_value = l[0].item<double>(), sl.full = l[1].item<double>(), sl.levels = l[2].item<double>(), sl.vq = l[3].item<double>();
    }
    clock.lap(PhaseClock::kBackward);
    double gnorm = cfg.grad_clip > 0 ? torch::nn::utils::clip_grad_norm_(params, cfg.grad_clip) : 0.0;
    // NaN/Inf loss or gradient: no update (the values are global, so every process agrees); the
    // guard stops the run after 3 in a row (train/checkpoint.h), leaving the last checkpoint.
    if (!non_finite.accept(loss_value, gnorm, step, ckpt_path)) {
      opt.zero_grad();
      log::warn(str_cat("step ", step, ": loss ", loss_value, ", gradient norm ", gnorm, ": step skipped"));
      if (main_rank) metrics << json{{"step", step}, {"skipped", "non-finite loss or gradient"}}.dump() << "\n";
      end_profile();
      ++step;
      continue;
    }
    opt.step();
    // Codebook usage; gather ids of all processes so that dead-code decisions agree.
    at::Tensor ids = dp.allgather(sl.ids.flatten().cpu());
    at::Tensor zs = sl.z;
    usage += at::bincount(ids, {}, cfg.tokenizer.codebook_size);
    ++step;
    if (cfg.dead_code_every > 0 && step >= cfg.vq_warmup_steps && step % cfg.dead_code_every == 0) {
      at::Tensor dead = (usage == 0).nonzero().flatten();
      const int64_t n_dead = dead.numel();
      if (n_dead > 0) {
        // Re-initialise dead codes at encoder outputs of this step: C = E P^T, so E_k = z P^{-T}.
        at::NoGradGuard ng;
        std::mt19937_64 drng(mix(key, 0xdead));
        at::Tensor pick = at::empty({n_dead}, at::kLong);
        for (int64_t i = 0; i < n_dead; ++i) pick[i] = static_cast<int64_t>(drng() % static_cast<uint64_t>(zs.size(0)));
        at::Tensor znew = zs.index_select(0, pick.to(zs.device())).cpu();
        dp.broadcast(znew);
        znew = znew.to(device);
        at::Tensor P = model->quantize->embedding_proj->weight;  // (D,D)
        at::Tensor E = at::matmul(znew, at::linalg_pinv(P.t()));
        model->quantize->embedding->weight.index_copy_(0, dead.to(device), E.to(model->quantize->embedding->weight.scalar_type()));
      }
      if (main_rank) metrics << json{{"step", step}, {"dead_codes_reset", n_dead}}.dump() << "\n";
      usage.zero_();
    }
    if (!ema.empty()) {
      at::NoGradGuard ng;
      for (auto& [k, t] : io::state_dict(*model)) {
        if (at::isFloatingType(t.scalar_type())) ema[k].mul_(cfg.ema_decay).add_(t.detach(), 1 - cfg.ema_decay);
        else ema[k].copy_(t);  // integer/bool buffers are copied, not averaged
      }
    }
    clock.lap(PhaseClock::kOptimizer);
    end_profile();
    if (clock.on && clock.cuda) peak_mem = std::max(peak_mem, cuda_memory_in_use());
    ++steps_timed;
    if (run.time_limit_s > 0 && step == first_step + 10) t10 = std::chrono::steady_clock::now();
    if (run.time_limit_s > 0 && step == first_step + 30 && step < last) {
      // Fit the rest of the cosine schedule into the time left, at the speed of steps 10..30
      // (the first steps are slower: allocator and cuDNN autotuning warm-up).
      const auto now = std::chrono::steady_clock::now();
      const double spent = std::chrono::duration<double>(now - t0).count();
      const double per_step = std::chrono::duration<double>(now - t10).count() / 20.0;
      const int64_t fit = step + static_cast<int64_t>(std::max(0.0, run.time_limit_s - spent) / per_step);
      if (fit < last) {
        last = std::max<int64_t>(step + 1, fit);
        sched.steps = last;
        bar.set_total(last);
        if (main_rank)
          log::info(str_cat("--time-limit: ", per_step, " s/step, schedule shortened to ", last, " steps"));
      }
    }
    const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double sps = static_cast<double>(steps_timed * cfg.batch_size) / el;
    char extra[160];
    std::snprintf(extra, sizeof extra, "loss %.4f  full %.4f  lv %.4f  vq %.4f  %.2f samples/s", loss_value,
                  sl.full, sl.levels, sl.vq, sps);
    if (main_rank) bar.update(step, extra);
    if (main_rank && (step % cfg.log_every == 0 || step == last)) {
      json j = {{"step", step},     {"lr", lr},          {"loss", loss_value}, {"loss_full", sl.full},
                {"loss_levels", sl.levels}, {"loss_vq", sl.vq}, {"grad_norm", gnorm},     {"samples_per_s", sps},
                {"elapsed_s", el}, {"data_wait_s", data_wait_s}};
      metrics << j.dump() << "\n";
      metrics.flush();
    }
    if (main_rank && cfg.eval_every > 0 && (step % cfg.eval_every == 0 || step == last) && val_x.defined()) {
      json j = evaluate(model, val_x);
      j["step"] = step;
      j["eval"] = true;
      metrics << j.dump() << "\n";
      metrics.flush();
      log::info(str_cat("step ", step, " eval ", j.dump()));
    }
    if (!bench && (step % cfg.ckpt_every == 0 || step == last)) save(step);
  }
  bar.finish();
  if (bench) {
    const double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - bench_t0).count();
    const double n = static_cast<double>(run.bench_steps);
    json j = {{"preset_image_size", cfg.tokenizer.image_size}, {"batch_size", cfg.batch_size},
              {"hml_levels", cfg.hml.n_levels}, {"device", run.device}, {"threads", n_threads},
              {"world_size", run.world_size}, {"bf16", cfg.bf16}, {"warmup_steps", kBenchWarmupSteps},
              {"steps", run.bench_steps}, {"seconds", total},
              {"masks_per_s", n * static_cast<double>(cfg.batch_size) / total}, {"step_ms", 1e3 * total / n},
              {"batch_make_ms", made > 0 ? 1e-6 * static_cast<double>(make_ns.load()) / static_cast<double>(made.load()) : 0.0}};
    std::string split;
    for (int p = 0; p < PhaseClock::kCount; ++p) {
      j[std::string(PhaseClock::kNames[p]) + "_ms"] = 1e3 * clock.sum[p] / n;
      char part[64];
      std::snprintf(part, sizeof part, "  %s %.1f ms", PhaseClock::kNames[p], 1e3 * clock.sum[p] / n);
      split += part;
    }
    if (peak_mem >= 0) j["peak_device_memory_mib"] = static_cast<double>(peak_mem) / (1 << 20);
    // The cost the CPU caching allocator exists to remove (nn/cpu_allocator.h): page faults in the
    // timed steps, and the cache's own counters.
    j["page_faults_per_step"] = static_cast<double>(minor_page_faults() - bench_faults0) / n;
    std::string cache;
    if (nn::cpu_cache_stats().limit_bytes > 0) {
      const nn::CpuCacheStats cs = nn::cpu_cache_stats();
      j["cpu_cache"] = {{"hits", cs.hits}, {"misses", cs.misses}, {"evictions", cs.evictions},
                        {"peak_live_mib", cs.peak_live_bytes >> 20}, {"limit_mib", cs.limit_bytes >> 20}};
      cache = str_cat("; CPU cache: ", cs.hits, " hits, ", cs.misses, " misses, ", cs.evictions, " evictions, peak live ",
                      cs.peak_live_bytes >> 20, " MiB");
    }
    if (!profile_ops.empty()) {
      json rows = json::array();
      for (size_t i = 0; i < std::min<size_t>(profile_ops.size(), 40); ++i)
        rows.push_back({{"op", profile_ops[i].name}, {"self_cpu_ms", profile_ops[i].self_cpu_ms},
                        {"self_cuda_ms", profile_ops[i].self_cuda_ms}, {"calls", profile_ops[i].calls}});
      j["profile"] = {{"step_ms", profile_ms}, {"ops", rows}};
    }
    if (main_rank) {
      std::ofstream(fs::path(run.out_dir) / "bench.json") << j.dump(2) << "\n";
      if (!profile_ops.empty())
        std::printf("profile of warm-up step %lld (%.1f ms under the profiler), self time by op:\n%s",
                    static_cast<long long>(first_step + kBenchWarmupSteps), profile_ms,
                    nn::format_op_profile(profile_ops, profile_ms, 25).c_str());
      const std::string mem = peak_mem >= 0 ? str_cat("; peak device memory in use ", peak_mem >> 20, " MiB") : "";
      std::printf("bench: %lld steps of batch %lld on %s: %.2f masks/s, %.1f ms/step (%s; batch making %.1f ms on "
                  "the prefetch thread)%s; %.0f page faults per step%s\n",
                  static_cast<long long>(run.bench_steps), static_cast<long long>(cfg.batch_size), run.device.c_str(),
                  j["masks_per_s"].get<double>(), j["step_ms"].get<double>(), split.c_str() + 2,
                  j["batch_make_ms"].get<double>(), mem.c_str(), j["page_faults_per_step"].get<double>(), cache.c_str());
      std::fflush(stdout);
    }
    return step;
  }
  if (main_rank) export_tokenizer(ckpt_path, (fs::path(run.out_dir) / "model.safetensors").string(), false, cfg.ema_decay > 0);
  return step;
}

void export_tokenizer(const std::string& checkpoint, const std::string& out_path, bool bf16, bool use_ema) {
  Checkpoint ck;
  HIMTOK_CHECK_INPUT(load_checkpoint(checkpoint, ck), checkpoint, ": no such checkpoint");
  tok::TokenizerConfig cfg = tok::TokenizerConfig::from_json(ck.meta.at("config").at("tokenizer").dump(), checkpoint);
  const std::string prefix = use_ema && ck.tensors.count("ema.latent_tokens") ? "ema." : "model.";
  io::TensorMap out;
  for (auto& [k, t] : ck.tensors)
    if (k.rfind(prefix, 0) == 0) out[k.substr(prefix.size())] = t;
  // Check completeness against the architecture before writing.
  tok::HiMT probe(cfg);
  for (auto& [k, t] : io::state_dict(*probe)) HIMTOK_CHECK_INPUT(out.count(k), checkpoint, ": lacks '", k, "'");
  json meta_train = {{"step", ck.meta.at("step")}};
  io::save_tensors(out_path, out,
                   {{tok::kMetaConfig, cfg.to_json()}, {tok::kMetaKind, "tokenizer"}, {"format", "pt"},
                    {"himtok.training", meta_train.dump()}},
                   bf16);
}

}  // namespace himtok::train
